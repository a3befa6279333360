//! Query strings and path parameters, checked: unknown or repeated parameters, dates, ranges,
//! account ids and regions each get a 400 that names the parameter.

use std::collections::BTreeSet;
use std::net::IpAddr;

use base64::Engine;
use ipnetwork::IpNetwork;
use time::Date;

use super::error::ApiError;
use crate::day;
use crate::model::{is_account_id, AccountRegion, Connection, DestPort, Verdict};
use crate::store::keys;

/// The most rows one page may ask for.
pub(super) const MAX_LIMIT: usize = 100_000;

/// How a `source=` value matches a row's source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SourceMatch {
    Exact(String),
    /// `value*`: sources starting with `value`.
    Prefix(String),
    /// An address block: bare addresses inside it, and folded prefixes (`a.b.c.0/24`) within it.
    Cidr(IpNetwork),
}

impl SourceMatch {
    fn parse(value: &str) -> Result<SourceMatch, ApiError> {
        if value.is_empty() || value.len() > 512 {
            return Err(ApiError::bad(
                "source",
                "source must be 1 to 512 characters: a name or address, prefix*, or a CIDR block",
            ));
        }
        if let Some(prefix) = value.strip_suffix('*') {
            return Ok(SourceMatch::Prefix(prefix.to_string()));
        }
        if value.contains('/') {
            if let Ok(net) = value.parse::<IpNetwork>() {
                return Ok(SourceMatch::Cidr(net));
            }
        }
        Ok(SourceMatch::Exact(value.to_string()))
    }

    pub(super) fn matches(&self, source: &str) -> bool {
        match self {
            SourceMatch::Exact(v) => source == v,
            SourceMatch::Prefix(p) => source.starts_with(p.as_str()),
            SourceMatch::Cidr(block) => {
                if let Ok(ip) = source.parse::<IpAddr>() {
                    block.contains(ip)
                } else if let Ok(net) = source.parse::<IpNetwork>() {
                    net.prefix() >= block.prefix() && block.contains(net.network())
                } else {
                    false
                }
            }
        }
    }
}

/// The row filters of the connection routes; all given ones must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct RowFilter {
    pub dest: Option<String>,
    pub port: Option<DestPort>,
    pub source: Option<SourceMatch>,
    /// Applied to the score summed over the range.
    pub min_score: u64,
}

impl RowFilter {
    /// Whether a row's identity (dest, port, source) matches; the score is checked after the
    /// days are summed.
    pub(super) fn keeps(&self, c: &Connection) -> bool {
        self.dest.as_deref().is_none_or(|d| c.dest == d)
            && self.port.is_none_or(|p| c.dest_port == p)
            && self.source.as_ref().is_none_or(|s| s.matches(&c.source))
    }

    /// The Redis glob for what Redis can filter by itself: the port, the dest, an exact or
    /// prefix source (a CIDR block is checked here only).
    pub(super) fn member_pattern(&self) -> Option<String> {
        let (exact, prefix) = match &self.source {
            Some(SourceMatch::Exact(s)) => (Some(s.as_str()), None),
            Some(SourceMatch::Prefix(p)) => (None, Some(p.as_str())),
            _ => (None, None),
        };
        keys::member_pattern(exact, prefix, self.dest.as_deref(), self.port)
    }

    /// Only `min_score`: a filter Redis can apply (`BYSCORE`).
    pub(super) fn is_score_only(&self) -> bool {
        self.dest.is_none() && self.port.is_none() && self.source.is_none()
    }
}

/// A page: the rows at `offset..offset + limit` in [`crate::model::page_order`]; equally, the
/// `limit` rows after `after` (the last row of the page before), which is how a one-day page is
/// read from Redis without reading the pages before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Page {
    pub limit: usize,
    pub offset: usize,
    /// The last row of the page before: `account/region` and the row.
    pub after: Option<(String, Connection)>,
    /// Ties the cursor to the query it came from.
    pub fingerprint: u64,
}

/// What a cursor holds (base64url of this JSON): version 2, the next offset, the query's
/// fingerprint, and the last row of the page it follows.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor(u8, u64, String, Option<(String, Connection)>);

impl Page {
    /// The cursor of the page after this one, whose last row is `last`.
    pub(super) fn next_cursor(&self, last: Option<(String, Connection)>) -> String {
        let cursor = Cursor(
            2,
            (self.offset + self.limit) as u64,
            format!("{:016x}", self.fingerprint),
            last,
        );
        let raw = serde_json::to_vec(&cursor).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }
}

pub(super) fn scope(account: &str, region: &str) -> Result<AccountRegion, ApiError> {
    if !is_account_id(account) {
        return Err(ApiError::bad(
            "account_id",
            format!("account_id {account:?} is not an AWS account id (12 digits)"),
        ));
    }
    // The account is checked: only the region can still be refused.
    AccountRegion::new(account, region).ok_or_else(|| {
        ApiError::bad(
            "region",
            format!("region {region:?} is not an AWS region (e.g. eu-west-1)"),
        )
    })
}

/// Query parameters, checked against what the route takes.
pub(super) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(super) fn parse(raw: &str, allowed: &[&'static str]) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (i, (name, _)) in pairs.iter().enumerate() {
            let Some(&known) = allowed.iter().find(|a| **a == name) else {
                let takes = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                };
                return Err(ApiError::bad(
                    "query",
                    format!("unknown query parameter {name:?}; this route takes: {takes}"),
                ));
            };
            if known != "include" && pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::bad(known, format!("{known} is given twice")));
            }
        }
        Ok(Query { pairs })
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A list given as `a,b` or repeated, blanks dropped.
    pub(super) fn list(&self, name: &str) -> BTreeSet<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// `dest`, `port`, `source`, `min_score`.
    /// `account`: only this account's account/regions (12 digits).
    pub(super) fn account(&self) -> Result<Option<String>, ApiError> {
        match self.get("account") {
            None => Ok(None),
            Some(a) if crate::model::is_account_id(a) => Ok(Some(a.to_string())),
            Some(a) => Err(ApiError::bad(
                "account",
                format!("account {a:?} is not an AWS account id (12 digits)"),
            )),
        }
    }

    pub(super) fn filter(&self) -> Result<RowFilter, ApiError> {
        let port = self.port()?;
        let min_score = match self.get("min_score") {
            None => 0,
            Some(v) => v.parse::<u64>().map_err(|_| {
                ApiError::bad(
                    "min_score",
                    format!("min_score {v:?} is not a whole number"),
                )
            })?,
        };
        let dest = match self.get("dest") {
            Some(d) if d.is_empty() || d.len() > 512 => {
                return Err(ApiError::bad("dest", "dest must be 1 to 512 characters"))
            }
            d => d.map(String::from),
        };
        Ok(RowFilter {
            dest,
            port,
            source: self.get("source").map(SourceMatch::parse).transpose()?,
            min_score,
        })
    }

    /// `limit` and `cursor`: `None` without `limit` (the complete answer). A cursor only fits
    /// the query it came from (`path` and every other parameter the same).
    pub(super) fn page(&self, path: &str) -> Result<Option<Page>, ApiError> {
        let Some(limit) = self.get("limit") else {
            if self.get("cursor").is_some() {
                return Err(ApiError::bad(
                    "cursor",
                    "cursor needs the limit it came with",
                ));
            }
            return Ok(None);
        };
        let limit = match limit.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad(
                    "limit",
                    format!("limit {limit:?} is not a whole number from 1 to {MAX_LIMIT}"),
                ))
            }
        };
        let mut rest: Vec<(&str, &str)> = self
            .pairs
            .iter()
            .filter(|(n, _)| n != "cursor")
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        rest.sort();
        let mut text = path.to_string();
        for (n, v) in rest {
            text.push_str(&format!("\n{n}={v}"));
        }
        let fingerprint = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        let (offset, after) = match self.get("cursor") {
            None => (0, None),
            Some(cursor) => {
                let bad = || {
                    ApiError::bad(
                        "cursor",
                        "cursor is not one this API gave for this query (same path and \
                         parameters, cursor aside)",
                    )
                };
                let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(cursor)
                    .map_err(|_| bad())?;
                let Cursor(version, offset, fp, after) =
                    serde_json::from_slice(&raw).map_err(|_| bad())?;
                if version != 2
                    || u64::from_str_radix(&fp, 16).ok() != Some(fingerprint)
                    || offset > 1 << 40
                    || after.as_ref().is_some_and(|(pair, c)| {
                        pair.len() > 64 || c.source.len() + c.dest.len() > 4096
                    })
                {
                    return Err(bad());
                }
                (offset as usize, after)
            }
        };
        Ok(Some(Page {
            limit,
            offset,
            after,
            fingerprint,
        }))
    }

    /// `/changes`: the day (`date`, default today) and the `baseline_days` before it (default
    /// 7, 1 to `max_days`), oldest first.
    pub(super) fn day_and_baseline(
        &self,
        today: Date,
        max_days: u32,
    ) -> Result<(String, Vec<String>), ApiError> {
        let date = match self.get("date") {
            Some(v) => parse_date("date", v)?,
            None => today,
        };
        let n = match self.get("baseline_days") {
            None => 7,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max_days).contains(n))
                .ok_or_else(|| {
                    ApiError::bad(
                        "baseline_days",
                        format!("baseline_days {v:?} is not a whole number from 1 to {max_days}"),
                    )
                })?,
        };
        let first = date
            .checked_sub(time::Duration::days(i64::from(n)))
            .ok_or_else(|| ApiError::bad("date", format!("{date} has no {n} days before it")))?;
        let last = date
            .previous_day()
            .ok_or_else(|| ApiError::bad("date", format!("{date} has no day before it")))?;
        Ok((
            day::day_string(date),
            day::range(first, last).map(day::day_string).collect(),
        ))
    }

    /// `date`, or `from`..=`to` (`to` defaults to today, `from` to `to`), or today.
    pub(super) fn days(&self, today: Date, max_days: u32) -> Result<Vec<String>, ApiError> {
        let date = |name: &'static str| -> Result<Option<Date>, ApiError> {
            self.get(name).map(|v| parse_date(name, v)).transpose()
        };
        let (from, to) = match (date("date")?, date("from")?, date("to")?) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ApiError::bad(
                    "date",
                    "give either date or a from/to range, not both",
                ))
            }
            (Some(d), None, None) => (d, d),
            (None, from, to) => {
                let to = to.unwrap_or(today);
                (from.unwrap_or(to), to)
            }
        };
        if to < from {
            return Err(ApiError::bad(
                "to",
                format!("to ({to}) is before from ({from})"),
            ));
        }
        let n = (to - from).whole_days() + 1;
        if n > i64::from(max_days) {
            return Err(ApiError::bad(
                "from",
                format!(
                    "the range {from}..{to} is {n} days; at most {max_days} (API_MAX_RANGE_DAYS)"
                ),
            ));
        }
        Ok(day::range(from, to).map(day::day_string).collect())
    }

    /// Whether `date`, `from` or `to` is given.
    pub(super) fn names_days(&self) -> bool {
        ["date", "from", "to"].iter().any(|n| self.get(n).is_some())
    }

    /// The days asked for, or, when neither `date` nor `from`/`to` is given, the last
    /// `max_days` days up to `today` (the exposure review's default).
    pub(super) fn days_or_recent(
        &self,
        today: Date,
        max_days: u32,
    ) -> Result<Vec<String>, ApiError> {
        if self.names_days() {
            return self.days(today, max_days);
        }
        let from = today - time::Duration::days(i64::from(max_days.max(1)) - 1);
        Ok(day::range(from, today).map(day::day_string).collect())
    }

    /// `verdict`: the verdicts to keep (`unused,narrow`); empty keeps all.
    pub(super) fn verdicts(&self) -> Result<BTreeSet<Verdict>, ApiError> {
        self.list("verdict")
            .into_iter()
            .map(|v| {
                serde_json::from_value(serde_json::Value::String(v.clone())).map_err(|_| {
                    ApiError::bad(
                        "verdict",
                        format!("verdict {v:?} is not one of {}", Verdict::NAMES.join(", ")),
                    )
                })
            })
            .collect()
    }

    /// `port`: the one port asked for, if any.
    pub(super) fn port(&self) -> Result<Option<DestPort>, ApiError> {
        self.get("port")
            .map(|v| {
                v.parse::<DestPort>().map_err(|_| {
                    ApiError::bad(
                        "port",
                        format!("port {v:?} is not a port number (0-65535) nor `other`"),
                    )
                })
            })
            .transpose()
    }
}

fn parse_date(name: &'static str, value: &str) -> Result<Date, ApiError> {
    day::parse(value).ok_or_else(|| {
        ApiError::bad(
            name,
            format!("{name} {value:?} is not a date in the form YYYY-MM-DD"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_to_days() {
        let today = time::macros::date!(2026 - 11 - 27);
        let days = |q: &str| {
            Query::parse(q, &["date", "from", "to"])
                .and_then(|q| q.days(today, 31))
                .map_err(|e| match e {
                    ApiError::BadRequest { parameter, .. } => parameter,
                    other => panic!("{other}"),
                })
        };
        let ok = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(days(""), ok(&["2026-11-27"]));
        assert_eq!(days("date=2026-02-28"), ok(&["2026-02-28"]));
        assert_eq!(
            days("from=2026-11-25"),
            ok(&["2026-11-25", "2026-11-26", "2026-11-27"])
        );
        assert_eq!(
            days("from=2024-02-28&to=2024-03-01"),
            ok(&["2024-02-28", "2024-02-29", "2024-03-01"])
        );
        assert_eq!(days("to=2026-01-01"), ok(&["2026-01-01"]));
        assert_eq!(days("date=2026-13-01"), Err("date"));
        assert_eq!(days("date=27.11.2026"), Err("date"));
        assert_eq!(days("from=2026-11-27&to=2026-11-26"), Err("to"));
        assert_eq!(days("from=2026-10-01&to=2026-11-27"), Err("from"));
        assert_eq!(days("date=2026-11-27&from=2026-11-20"), Err("date"));
        assert_eq!(days("date=2026-11-27&date=2026-11-26"), Err("date"));
        assert_eq!(days("form=2026-11-27"), Err("query"));
    }

    fn parameter(e: ApiError) -> &'static str {
        match e {
            ApiError::BadRequest { parameter, .. } => parameter,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn filters_are_checked_and_match_as_documented() {
        let all = ["dest", "port", "source", "min_score"];
        let filter = |q: &str| {
            Query::parse(q, &all)
                .and_then(|q| q.filter())
                .map_err(parameter)
        };
        assert_eq!(filter("").unwrap(), RowFilter::default());
        assert_eq!(filter("port=70000"), Err("port"));
        assert_eq!(filter("port=-1"), Err("port"));
        assert_eq!(filter("min_score=1e3"), Err("min_score"));
        assert_eq!(filter("dest="), Err("dest"));
        assert_eq!(filter("source="), Err("source"));
        let row = |source: &str| Connection {
            source: source.into(),
            dest: "shop-1.eu-west-1.elb.amazonaws.com".into(),
            dest_port: 443.into(),
            score: 5,
        };
        let cases: &[(&str, &str, bool)] = &[
            ("source=8.8.8.8", "8.8.8.8", true),
            ("source=8.8.8.8", "8.8.8.9", false),
            ("source=8.8.8.0/24", "8.8.8.200", true),
            ("source=8.8.8.0/24", "8.8.9.1", false),
            ("source=8.8.0.0/16", "8.8.8.0/24", true),
            ("source=8.8.8.0/25", "8.8.8.0/24", false),
            ("source=2001:db8::/32", "2001:db8:1::/48", true),
            ("source=2001:db8::/32", "2001:db8::1", true),
            ("source=8.8.8.0/24", "other", false),
            ("source=111111111111/*", "111111111111/eu-west-1/web", true),
            (
                "source=111111111111/eu-west-1/web",
                "111111111111/eu-west-1/web",
                true,
            ),
            (
                "source=111111111111/eu-west-1/web",
                "111111111111/eu-west-1/web2",
                false,
            ),
            ("source=office", "office", true),
            ("port=443", "8.8.8.8", true),
            ("port=22", "8.8.8.8", false),
            (
                "dest=shop-1.eu-west-1.elb.amazonaws.com&port=443",
                "1.1.1.1",
                true,
            ),
            ("dest=shop-2", "1.1.1.1", false),
        ];
        for (q, source, want) in cases {
            assert_eq!(
                filter(q).unwrap().keeps(&row(source)),
                *want,
                "{q} on {source}"
            );
        }
    }

    #[test]
    fn cursors_fit_only_their_query() {
        let all = ["date", "limit", "cursor", "port"];
        let page = |q: &str| {
            Query::parse(q, &all)
                .and_then(|q| q.page("/connections"))
                .map_err(parameter)
        };
        assert_eq!(page("").unwrap(), None);
        assert_eq!(page("cursor=abc"), Err("cursor"));
        assert_eq!(page("limit=0"), Err("limit"));
        assert_eq!(page("limit=100001"), Err("limit"));
        let first = page("limit=10&port=22").unwrap().unwrap();
        assert_eq!((first.limit, first.offset), (10, 0));
        let last = (
            "111111111111/eu-west-1".to_string(),
            Connection::new("8.8.8.8", "lb", 22, 7),
        );
        let next = first.next_cursor(Some(last.clone()));
        // The same query (parameters in any order) takes it; another query refuses it.
        let second = page(&format!("port=22&cursor={next}&limit=10"))
            .unwrap()
            .unwrap();
        assert_eq!((second.offset, second.after), (10, Some(last)));
        assert_eq!(
            page(&format!("limit=10&port=23&cursor={next}")),
            Err("cursor")
        );
        assert_eq!(
            page(&format!("limit=20&port=22&cursor={next}")),
            Err("cursor")
        );
        for forged in ["djE6MTA", "!!", "djE6eDow", &"A".repeat(5000)] {
            assert_eq!(
                page(&format!("limit=10&port=22&cursor={forged}")),
                Err("cursor")
            );
        }
    }
}
