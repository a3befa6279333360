//! VPC flow-log records: a format (`${field} ${field} …`, as AWS writes `LogFormat`) and a
//! borrowing parser that turns one line into a [`Record`] view over the line's `&str`.
//!
//! Parsing allocates nothing per field: tokens are slices of the input line kept in an inline
//! buffer, and the fields the product needs are decoded once, up front, so a bad address or number
//! rejects the line instead of surfacing later.

use std::fmt;
use std::net::IpAddr;

use super::text;

/// The default (version 2) format, used when nothing else is known.
pub const DEFAULT_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} \
${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

/// Every field AWS documents for VPC flow logs, versions 2 to 8, plus the transit-gateway fields.
/// Fields outside this list are still accepted in a format and carried as text.
pub const KNOWN_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
    "resource-type",
    "tgw-id",
    "tgw-attachment-id",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id",
    "tgw-dst-vpc-id",
    "tgw-src-subnet-id",
    "tgw-dst-subnet-id",
    "tgw-src-eni",
    "tgw-dst-eni",
    "tgw-src-az-id",
    "tgw-dst-az-id",
    "tgw-pair-attachment-id",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
];

/// How a field's text is checked and decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Version,
    AccountId,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    TcpFlags,
    PktSrcAddr,
    PktDstAddr,
    Region,
    TrafficPath,
    PktSrcAwsService,
    /// Known or unknown field carried as text.
    Text,
}

impl Slot {
    fn of(name: &str) -> Slot {
        match name {
            "version" => Slot::Version,
            "account-id" => Slot::AccountId,
            "interface-id" => Slot::InterfaceId,
            "srcaddr" => Slot::SrcAddr,
            "dstaddr" => Slot::DstAddr,
            "srcport" => Slot::SrcPort,
            "dstport" => Slot::DstPort,
            "protocol" => Slot::Protocol,
            "packets" => Slot::Packets,
            "bytes" => Slot::Bytes,
            "start" => Slot::Start,
            "end" => Slot::End,
            "action" => Slot::Action,
            "log-status" => Slot::LogStatus,
            "tcp-flags" => Slot::TcpFlags,
            "pkt-srcaddr" => Slot::PktSrcAddr,
            "pkt-dstaddr" => Slot::PktDstAddr,
            "region" => Slot::Region,
            "traffic-path" => Slot::TrafficPath,
            "pkt-src-aws-service" => Slot::PktSrcAwsService,
            _ => Slot::Text,
        }
    }
}

/// Why a format string was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("flow-log format is empty; expected fields like `${{version}} ${{account-id}} …`")]
    Empty,
    #[error("flow-log format token `{0}` is not a field; expected `${{field-name}}`")]
    BadToken(String),
    #[error("flow-log format names the field `{0}` twice")]
    Duplicate(String),
}

/// A parsed flow-log format: the fields of a line, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLogFormat {
    names: Vec<String>,
    slots: Vec<Slot>,
    // Asked for every record: worked out once.
    has_action: bool,
    has_log_status: bool,
}

impl FlowLogFormat {
    /// Parses `${a} ${b} …` (AWS `LogFormat`); bare names separated by spaces are accepted too.
    pub fn parse(spec: &str) -> Result<Self, FormatError> {
        let mut names: Vec<String> = Vec::new();
        for token in spec.split_ascii_whitespace() {
            let name = match token.strip_prefix("${") {
                Some(rest) => rest
                    .strip_suffix('}')
                    .ok_or_else(|| FormatError::BadToken(token.to_string()))?,
                None => token,
            };
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(FormatError::BadToken(token.to_string()));
            }
            // vector and Athena write fields with underscores; AWS itself uses hyphens.
            let name = name.replace('_', "-");
            if names.contains(&name) {
                return Err(FormatError::Duplicate(name));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(FormatError::Empty);
        }
        let slots: Vec<Slot> = names.iter().map(|n| Slot::of(n)).collect();
        Ok(FlowLogFormat {
            has_action: slots.contains(&Slot::Action),
            has_log_status: slots.contains(&Slot::LogStatus),
            names,
            slots,
        })
    }

    /// The version 2 default format.
    pub fn default_v2() -> Self {
        Self::parse(DEFAULT_FORMAT).expect("the default format parses")
    }

    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn has_field(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Whether lines carry `action` (without it no record can be known to be accepted).
    pub fn has_action(&self) -> bool {
        self.has_action
    }

    /// Whether lines carry `log-status` (without it every record counts as `OK`).
    pub fn has_log_status(&self) -> bool {
        self.has_log_status
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Parses one line. Fields are separated by single spaces as AWS writes them; runs of
    /// whitespace are tolerated. `-` means absent.
    pub fn parse_line<'a>(&self, line: &'a str) -> Result<Record<'a, '_>, LineError> {
        self.decode_line(line).map_err(|e| {
            // A shifted line fails on some field first; the count is the better diagnosis.
            // Counted only on this error path, so good lines are read once.
            let found = tokens(line).count();
            if found == self.slots.len() {
                e
            } else {
                LineError::FieldCount {
                    expected: self.slots.len(),
                    found,
                }
            }
        })
    }

    fn decode_line<'a>(&self, line: &'a str) -> Result<Record<'a, '_>, LineError> {
        let mut record = Record {
            format: self,
            line,
            version: None,
            account_id: None,
            interface_id: None,
            srcaddr: None,
            dstaddr: None,
            srcport: None,
            dstport: None,
            protocol: None,
            packets: None,
            bytes: None,
            start: None,
            end: None,
            action: None,
            log_status: None,
            tcp_flags: None,
            pkt_srcaddr: None,
            pkt_dstaddr: None,
            region: None,
            traffic_path: None,
            pkt_src_aws_service: None,
        };
        // One pass over the line, no token buffer: fields are decoded as they are met.
        let mut tokens = tokens(line);
        for (i, &slot) in self.slots.iter().enumerate() {
            let Some(text) = tokens.next() else {
                return Err(LineError::FieldCount {
                    expected: self.slots.len(),
                    found: i,
                });
            };
            if text == "-" || slot == Slot::Text {
                continue;
            }
            let field = || self.names[i].clone();
            match slot {
                Slot::Version => record.version = Some(number(text, field)?),
                Slot::AccountId => record.account_id = Some(text),
                Slot::InterfaceId => record.interface_id = Some(text),
                Slot::SrcAddr => record.srcaddr = Some(address(text, field)?),
                Slot::DstAddr => record.dstaddr = Some(address(text, field)?),
                Slot::SrcPort => record.srcport = Some(number(text, field)?),
                Slot::DstPort => record.dstport = Some(number(text, field)?),
                Slot::Protocol => record.protocol = Some(number(text, field)?),
                Slot::Packets => record.packets = Some(number(text, field)?),
                Slot::Bytes => record.bytes = Some(number(text, field)?),
                Slot::Start => record.start = Some(epoch_seconds(number(text, field)?)),
                Slot::End => record.end = Some(epoch_seconds(number(text, field)?)),
                Slot::Action => {
                    record.action = Some(match text {
                        "ACCEPT" => Action::Accept,
                        "REJECT" => Action::Reject,
                        _ => return Err(bad_value(field(), text, "ACCEPT or REJECT")),
                    })
                }
                Slot::LogStatus => {
                    record.log_status = Some(match text {
                        "OK" => LogStatus::Ok,
                        "NODATA" => LogStatus::NoData,
                        "SKIPDATA" => LogStatus::SkipData,
                        _ => return Err(bad_value(field(), text, "OK, NODATA or SKIPDATA")),
                    })
                }
                Slot::TcpFlags => record.tcp_flags = Some(number(text, field)?),
                Slot::PktSrcAddr => record.pkt_srcaddr = Some(address(text, field)?),
                Slot::PktDstAddr => record.pkt_dstaddr = Some(address(text, field)?),
                Slot::Region => record.region = Some(text),
                Slot::TrafficPath => record.traffic_path = Some(number(text, field)?),
                Slot::PktSrcAwsService => record.pkt_src_aws_service = Some(text),
                Slot::Text => {}
            }
        }
        let extra = tokens.count();
        if extra > 0 {
            return Err(LineError::FieldCount {
                expected: self.slots.len(),
                found: self.slots.len() + extra,
            });
        }
        Ok(record)
    }
}

impl Default for FlowLogFormat {
    fn default() -> Self {
        Self::default_v2()
    }
}

impl fmt::Display for FlowLogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "${{{name}}}")?;
        }
        Ok(())
    }
}

/// The fields of a line. AWS separates them with one space; runs of spaces and a trailing
/// line break are tolerated. A plain byte loop: fields are short, so it beats both
/// `split_ascii_whitespace` and a memchr per field (a word-at-a-time search was measured too:
/// the same instructions per line).
fn tokens(line: &str) -> Tokens<'_> {
    Tokens {
        line: line.trim_end_matches(['\r', '\n']),
        pos: 0,
    }
}

struct Tokens<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.line.as_bytes();
        while self.pos < bytes.len() && bytes[self.pos] == b' ' {
            self.pos += 1;
        }
        if self.pos == bytes.len() {
            return None;
        }
        let start = self.pos;
        while self.pos < bytes.len() && bytes[self.pos] != b' ' {
            self.pos += 1;
        }
        // Cut at ASCII spaces only, so always on char boundaries.
        Some(&self.line[start..self.pos])
    }
}

/// Timestamps are seconds since the epoch; some exporters write milliseconds. Anything past
/// the year 5138 in seconds is taken to be milliseconds.
fn epoch_seconds(value: u64) -> u64 {
    if value >= 100_000_000_000 {
        value / 1000
    } else {
        value
    }
}

/// The unsigned integer types of the fields; read as `str::parse` would read them.
trait Unsigned: Sized {
    const MAX: u64;
    fn narrow(value: u64) -> Self;
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Unsigned for $t {
            const MAX: u64 = <$t>::MAX as u64;
            fn narrow(value: u64) -> Self {
                value as $t
            }
        }
    )*};
}
unsigned!(u8, u16, u64);

fn number<T: Unsigned>(text: &str, field: impl FnOnce() -> String) -> Result<T, LineError> {
    text::unsigned(text.as_bytes(), T::MAX)
        .map(T::narrow)
        .ok_or_else(|| bad_value(field(), text, "a non-negative integer in range"))
}

fn address(text: &str, field: impl FnOnce() -> String) -> Result<IpAddr, LineError> {
    text::ip(text).ok_or_else(|| bad_value(field(), text, "an IPv4 or IPv6 address"))
}

fn bad_value(field: String, text: &str, expected: &'static str) -> LineError {
    // Keep error messages short even for garbage input.
    let value: String = text.chars().take(64).collect();
    LineError::BadValue {
        field,
        value,
        expected,
    }
}

/// Why a line was rejected. Each variant is also a counter in the batch summary.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("expected {expected} fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("field `{field}` is `{value}`, expected {expected}")]
    BadValue {
        field: String,
        value: String,
        expected: &'static str,
    },
}

impl LineError {
    /// A short stable name for metrics and summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            LineError::FieldCount { .. } => "field_count",
            LineError::BadValue { expected, .. } => match *expected {
                "an IPv4 or IPv6 address" => "bad_address",
                "a non-negative integer in range" => "bad_number",
                _ => "bad_value",
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStatus {
    Ok,
    NoData,
    SkipData,
}

/// One flow-log line, borrowed from its text. Typed fields are `None` when the format lacks
/// them or the line has `-`.
#[derive(Debug, Clone)]
pub struct Record<'a, 'f> {
    format: &'f FlowLogFormat,
    line: &'a str,
    pub version: Option<u8>,
    pub account_id: Option<&'a str>,
    pub interface_id: Option<&'a str>,
    pub srcaddr: Option<IpAddr>,
    pub dstaddr: Option<IpAddr>,
    pub srcport: Option<u16>,
    pub dstport: Option<u16>,
    pub protocol: Option<u8>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// Seconds since the epoch (milliseconds are converted).
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub action: Option<Action>,
    pub log_status: Option<LogStatus>,
    pub tcp_flags: Option<u16>,
    pub pkt_srcaddr: Option<IpAddr>,
    pub pkt_dstaddr: Option<IpAddr>,
    pub region: Option<&'a str>,
    pub traffic_path: Option<u8>,
    /// The AWS service a packet came from (`S3`, `AMAZON`, …), set by AWS.
    pub pkt_src_aws_service: Option<&'a str>,
}

impl<'a> Record<'a, '_> {
    /// Any field by its AWS name, as text; `None` when the format lacks it or the line has `-`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        let i = self.format.position(name)?;
        // Text fields are found again on demand; the hot path never asks for them.
        let text = tokens(self.line).nth(i)?;
        (text != "-").then_some(text)
    }

    /// Whether the record's format carries a field at all (even if this line has `-`).
    pub fn has_field(&self, name: &str) -> bool {
        self.format.has_field(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parsing_table() {
        let cases: &[(&str, Result<usize, FormatError>)] = &[
            (DEFAULT_FORMAT, Ok(14)),
            ("${version} ${vpc-id}", Ok(2)),
            ("version vpc_id subnet_id", Ok(3)),
            ("${version} ${custom-thing}", Ok(2)),
            ("", Err(FormatError::Empty)),
            ("   ", Err(FormatError::Empty)),
            ("${version", Err(FormatError::BadToken("${version".into()))),
            ("${ver sion}", Err(FormatError::BadToken("${ver".into()))),
            ("${a} ${a}", Err(FormatError::Duplicate("a".into()))),
            ("${}", Err(FormatError::BadToken("${}".into()))),
        ];
        for (spec, want) in cases {
            let got = FlowLogFormat::parse(spec).map(|f| f.len());
            assert_eq!(&got, want, "format {spec:?}");
        }
    }

    #[test]
    fn format_round_trips_through_display() {
        let f = FlowLogFormat::parse("version vpc_id srcaddr").unwrap();
        assert_eq!(f.to_string(), "${version} ${vpc-id} ${srcaddr}");
        assert_eq!(FlowLogFormat::parse(&f.to_string()).unwrap(), f);
        assert_eq!(FlowLogFormat::default_v2().to_string(), DEFAULT_FORMAT);
    }

    #[test]
    fn every_known_field_is_accepted_in_a_format() {
        let spec: Vec<String> = KNOWN_FIELDS.iter().map(|f| format!("${{{f}}}")).collect();
        let format = FlowLogFormat::parse(&spec.join(" ")).unwrap();
        assert_eq!(format.len(), KNOWN_FIELDS.len());
        let line = vec!["-"; KNOWN_FIELDS.len()].join(" ");
        let record = format.parse_line(&line).unwrap();
        assert!(KNOWN_FIELDS.iter().all(|f| record.get(f).is_none()));
    }

    #[test]
    fn timestamps_in_milliseconds_become_seconds() {
        let f = FlowLogFormat::parse("${start} ${end}").unwrap();
        let r = f.parse_line("1418530010000 1418530070").unwrap();
        assert_eq!((r.start, r.end), (Some(1418530010), Some(1418530070)));
    }

    proptest::proptest! {
        /// The tokenizer cuts exactly where splitting at spaces does, on any text (runs of
        /// spaces, multi-byte characters, line breaks).
        #[test]
        fn tokens_are_the_space_separated_fields(line in "[ a-c\u{e9}\u{2003}\u{1f600}\r\n!~0-9\x1f\x21\u{a0}]{0,64}") {
            let want: Vec<&str> = line
                .trim_end_matches(['\r', '\n'])
                .split(' ')
                .filter(|t| !t.is_empty())
                .collect();
            let got: Vec<&str> = tokens(&line).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
