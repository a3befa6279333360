//! A connection's destination port: a real port (0 is ICMP's), or the row that ports past
//! `MAX_PORTS_PER_ENDPOINT` fold into (`docs/rules.md`, "Bounds"). On the wire a real port is
//! the integer it always was and the folded row is the word `other`, as folded sources are.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The word folded ports (and destinations) are shown and stored under.
pub const OTHER: &str = "other";

/// A destination port, or the fold of the ports a destination had past its bound. Real ports
/// sort first, by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DestPort {
    Port(u16),
    /// Ports past the destination's bound, summed in one row.
    Other,
}

impl DestPort {
    /// The real port, if this is one.
    pub fn number(self) -> Option<u16> {
        match self {
            DestPort::Port(port) => Some(port),
            DestPort::Other => None,
        }
    }
}

impl From<u16> for DestPort {
    fn from(port: u16) -> Self {
        DestPort::Port(port)
    }
}

impl fmt::Display for DestPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestPort::Port(port) => write!(f, "{port}"),
            DestPort::Other => f.write_str(OTHER),
        }
    }
}

/// Why a text is no destination port.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a port (0-65535) nor `other`")]
pub struct NotAPort;

impl FromStr for DestPort {
    type Err = NotAPort;

    /// A port number in decimal digits only (no sign, no spaces), or `other`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == OTHER {
            return Ok(DestPort::Other);
        }
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NotAPort);
        }
        text.parse().map(DestPort::Port).map_err(|_| NotAPort)
    }
}

impl Serialize for DestPort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DestPort::Port(port) => serializer.serialize_u16(*port),
            DestPort::Other => serializer.serialize_str(OTHER),
        }
    }
}

impl<'de> Deserialize<'de> for DestPort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl Visitor<'_> for PortVisitor {
            type Value = DestPort;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number (0-65535) or \"other\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DestPort, E> {
                u16::try_from(v)
                    .map(DestPort::Port)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DestPort, E> {
                u16::try_from(v)
                    .map(DestPort::Port)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DestPort, E> {
                if v == OTHER {
                    Ok(DestPort::Other)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        deserializer.deserialize_any(PortVisitor)
    }
}

impl JsonSchema for DestPort {
    fn schema_name() -> Cow<'static, str> {
        "DestPort".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A destination port (0 is ICMP's), or \"other\": the ports a destination had past MAX_PORTS_PER_ENDPOINT, summed in one row.",
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": 65535},
                {"const": "other"}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_forms() {
        for (text, want) in [
            ("0", Some(DestPort::Port(0))),
            ("22", Some(DestPort::Port(22))),
            ("65535", Some(DestPort::Port(65535))),
            ("other", Some(DestPort::Other)),
            ("65536", None),
            ("-1", None),
            ("+22", None),
            (" 22", None),
            ("", None),
            ("Other", None),
            ("*", None),
        ] {
            assert_eq!(text.parse::<DestPort>().ok(), want, "{text:?}");
            if let Some(port) = want {
                assert_eq!(port.to_string(), text);
            }
        }
        for (json, want) in [
            ("22", Some(DestPort::Port(22))),
            ("\"other\"", Some(DestPort::Other)),
            ("65536", None),
            ("-1", None),
            ("\"22\"", None),
            ("null", None),
            ("22.5", None),
        ] {
            assert_eq!(serde_json::from_str::<DestPort>(json).ok(), want, "{json}");
            if let Some(port) = want {
                assert_eq!(serde_json::to_string(&port).unwrap(), json);
            }
        }
        assert!(DestPort::Port(65535) < DestPort::Other);
        assert!(DestPort::Port(22) < DestPort::Port(443));
    }
}
