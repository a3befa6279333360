//! What the exposure review reads of a day instead of its rows (`docs/rules.md`, "Exposure"):
//! the sums ingest keeps per endpoint and kind of source ([`keys::used`]), and the same sums
//! made from a day's rows when the day was written before they were kept.
//!
//! [`keys::used`]: crate::store::keys::used

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::model::{Connection, DestPort, OTHER};

/// The address family of unnamed internet sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Family {
    V4,
    V6,
    /// Either: the `other` rows of a day written before the sums were kept.
    Any,
}

impl Family {
    /// Whether a source of this family may come from inside `block`.
    pub fn may_be_in(self, block: &IpNetwork) -> bool {
        match self {
            Family::V4 => block.is_ipv4(),
            Family::V6 => block.is_ipv6(),
            Family::Any => true,
        }
    }
}

/// Who used an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum UsedBy {
    /// Unnamed internet sources of one family: bare addresses, whatever prefix or `other` the
    /// bounds folded them into.
    Internet(Family),
    /// A named source: one of our networks or own addresses.
    Named(String),
}

/// One endpoint's use by one kind of source on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Use {
    pub dest: String,
    pub port: DestPort,
    pub by: UsedBy,
    pub score: u64,
}

impl Use {
    /// A field of the `used` hash (`dest⇥port⇥4`, `⇥6`, `⇥=NAME`) and its sum; `None` for a
    /// field this layout did not write.
    pub fn parse(field: &str, score: u64) -> Option<Use> {
        let mut parts = field.splitn(3, '\t');
        let (dest, port, class) = (parts.next()?, parts.next()?, parts.next()?);
        let by = match class {
            "4" => UsedBy::Internet(Family::V4),
            "6" => UsedBy::Internet(Family::V6),
            _ => UsedBy::Named(class.strip_prefix('=')?.to_string()),
        };
        Some(Use {
            dest: dest.to_string(),
            port: port.parse().ok()?,
            by,
            score,
        })
    }

    /// What the write script would have summed a counted row as: a bare address or a prefix
    /// by its family, `other` as either, anything else as a named source.
    pub fn of_row(row: &Connection) -> Use {
        let family = |v6: bool| UsedBy::Internet(if v6 { Family::V6 } else { Family::V4 });
        let by = if let Ok(ip) = row.source.parse::<IpAddr>() {
            family(ip.is_ipv6())
        } else if let Ok(block) = row.source.parse::<IpNetwork>() {
            family(block.is_ipv6())
        } else if row.source == OTHER {
            UsedBy::Internet(Family::Any)
        } else {
            UsedBy::Named(row.source.clone())
        };
        Use {
            dest: row.dest.clone(),
            port: row.dest_port,
            by,
            score: row.score,
        }
    }
}

/// One day's sums of an account/region as the store holds them; unreadable fields are logged
/// and left out.
pub(crate) fn parse(sums: HashMap<String, u64>) -> Vec<Use> {
    let mut uses: Vec<Use> = sums
        .into_iter()
        .filter_map(|(field, score)| {
            let parsed = Use::parse(&field, score);
            if parsed.is_none() {
                tracing::warn!(%field, "skipping an unreadable exposure sum");
            }
            parsed
        })
        .collect();
    uses.sort_by(|a, b| (&a.dest, a.port, &a.by).cmp(&(&b.dest, b.port, &b.by)));
    uses
}

/// The sums a day's rows make, for a day written before ingest kept them.
pub(crate) fn of_rows(rows: &[Connection]) -> Vec<Use> {
    let mut sums: BTreeMap<(String, DestPort, UsedBy), u64> = BTreeMap::new();
    for row in rows {
        let u = Use::of_row(row);
        *sums.entry((u.dest, u.port, u.by)).or_default() += u.score;
    }
    sums.into_iter()
        .map(|((dest, port, by), score)| Use {
            dest,
            port,
            by,
            score,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_as_the_write_script_writes_them() {
        let cases = [
            (
                "web/52.0.0.5\t22\t4",
                Some(("web/52.0.0.5", 22, UsedBy::Internet(Family::V4))),
            ),
            (
                "web/52.0.0.5\t443\t6",
                Some(("web/52.0.0.5", 443, UsedBy::Internet(Family::V6))),
            ),
            (
                "db\tother\t=office",
                Some(("db", u16::MAX, UsedBy::Named("office".into()))),
            ),
            (
                "db\t5432\t=111111111111/eu-west-1/nat a",
                Some((
                    "db",
                    5432,
                    UsedBy::Named("111111111111/eu-west-1/nat a".into()),
                )),
            ),
            ("db\t5432\tx", None),
            ("db\t5432", None),
            ("db\tnotaport\t4", None),
        ];
        for (field, want) in cases {
            let got = Use::parse(field, 3);
            let want = want.map(|(dest, port, by)| Use {
                dest: dest.into(),
                port: if port == u16::MAX {
                    DestPort::Other
                } else {
                    DestPort::Port(port)
                },
                by,
                score: 3,
            });
            assert_eq!(got, want, "{field}");
        }
    }

    #[test]
    fn rows_sum_by_endpoint_and_kind_of_source() {
        let rows = [
            Connection::new("8.8.8.8", "web", 22, 2),
            Connection::new("45.33.1.0/24", "web", 22, 3),
            Connection::new("2001:db8::1", "web", 22, 1),
            Connection::new("other", "web", 22, 4),
            Connection::new("office", "web", 22, 5),
            Connection::new("office", "web", 443, 6),
        ];
        let got: Vec<(u16, UsedBy, u64)> = of_rows(&rows)
            .into_iter()
            .map(|u| (u.port.number().unwrap(), u.by, u.score))
            .collect();
        assert_eq!(
            got,
            [
                (22, UsedBy::Internet(Family::V4), 5),
                (22, UsedBy::Internet(Family::V6), 1),
                (22, UsedBy::Internet(Family::Any), 4),
                (22, UsedBy::Named("office".into()), 5),
                (443, UsedBy::Named("office".into()), 6),
            ]
        );
    }
}
