//! Query strings and path parameters, checked: unknown or repeated parameters, dates, ranges,
//! account ids and regions each get a 400 that names the parameter.

use std::collections::BTreeSet;

use time::Date;

use super::error::ApiError;
use crate::day;
use crate::model::{is_account_id, is_region};

pub(super) fn scope(account: &str, region: &str) -> Result<(String, String), ApiError> {
    if !is_account_id(account) {
        return Err(ApiError::bad(
            "account_id",
            format!("account_id {account:?} is not an AWS account id (12 digits)"),
        ));
    }
    if !is_region(region) {
        return Err(ApiError::bad(
            "region",
            format!("region {region:?} is not an AWS region (e.g. eu-west-1)"),
        ));
    }
    Ok((account.to_string(), region.to_string()))
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
}
