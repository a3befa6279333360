//! Parked lines on Redis: one hash per account/region (`keys::parked_lines`), bounded by a
//! script, and a set listing the account/regions that have some (`keys::PARKED_PAIRS`).

use redis::Value;

use super::RedisStore;
use crate::config::Parking;
use crate::model::AccountRegion;
use crate::store::{keys, ParkOutcome, ParkedBlob, ParkedLines, ParkedPage, StoreError};

/// Parks entries within the bound. KEYS: the account/region's parked lines; ARGV: bound, TTL,
/// then per entry its payload id, lines and entry. Returns {lines parked, lines refused}.
const PARK_SCRIPT: &str = include_str!("../scripts/park.lua");

/// Removes entries. KEYS: the account/region's parked lines; ARGV: payload ids. Returns 1 when
/// none are left.
const UNPARK_SCRIPT: &str = include_str!("../scripts/unpark.lua");

/// Entries read per page (`HSCAN … COUNT`).
const PAGE: usize = 100;

/// The field that holds an account/region's parked line count.
const LINES_FIELD: &str = "#";

/// A stored value, `LINES:ENTRY`; anything else is no entry.
fn parse_value(payload: String, value: &str) -> Option<ParkedBlob> {
    let (lines, blob) = value.split_once(':')?;
    Some(ParkedBlob {
        payload,
        lines: lines.parse().ok()?,
        blob: blob.to_string(),
    })
}

impl ParkedLines for RedisStore {
    async fn park(
        &self,
        pair: &AccountRegion,
        entries: &[ParkedBlob],
        bound: Parking,
    ) -> Result<ParkOutcome, StoreError> {
        if entries.is_empty() {
            return Ok(ParkOutcome::default());
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PARK_SCRIPT)
            .arg(1)
            .arg(keys::parked_lines(pair))
            .arg(bound.max_lines_per_account_region)
            .arg(bound.ttl.as_secs().max(1));
        for entry in entries {
            cmd.arg(&entry.payload).arg(entry.lines).arg(&entry.blob);
        }
        let mut conn = self.conn.clone();
        let (parked, refused): (u64, u64) = cmd.query_async(&mut conn).await?;
        if parked > 0 {
            redis::cmd("SADD")
                .arg(keys::PARKED_PAIRS)
                .arg(pair.key())
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(ParkOutcome { parked, refused })
    }

    async fn parked_pairs(&self) -> Result<Vec<AccountRegion>, StoreError> {
        let mut conn = self.conn.clone();
        let mut members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys::PARKED_PAIRS)
            .query_async(&mut conn)
            .await?;
        members.sort();
        Ok(members
            .iter()
            .filter_map(|m| {
                let pair = AccountRegion::from_key(m);
                if pair.is_none() {
                    tracing::warn!(member = %m, "skipping a parked-lines index member that is no account/region");
                }
                pair
            })
            .collect())
    }

    async fn parked_page(
        &self,
        pair: &AccountRegion,
        cursor: u64,
    ) -> Result<ParkedPage, StoreError> {
        let mut conn = self.conn.clone();
        let (next, fields): (u64, Vec<(String, Value)>) = redis::cmd("HSCAN")
            .arg(keys::parked_lines(pair))
            .arg(cursor)
            .arg("COUNT")
            .arg(PAGE)
            .query_async(&mut conn)
            .await?;
        let entries = fields
            .into_iter()
            .filter(|(field, _)| field != LINES_FIELD)
            .filter_map(|(field, value)| {
                let text = redis::from_redis_value::<String>(value).ok();
                let entry = text.and_then(|t| parse_value(field.clone(), &t));
                if entry.is_none() {
                    tracing::warn!(payload = %field, %pair, "skipping a parked entry of no known form");
                }
                entry
            })
            .collect();
        Ok(ParkedPage {
            entries,
            next: (next != 0).then_some(next),
        })
    }

    async fn unpark(&self, pair: &AccountRegion, payloads: &[&str]) -> Result<(), StoreError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let emptied: u8 = redis::cmd("EVAL")
            .arg(UNPARK_SCRIPT)
            .arg(1)
            .arg(keys::parked_lines(pair))
            .arg(payloads)
            .query_async(&mut conn)
            .await?;
        if emptied == 1 {
            redis::cmd("SREM")
                .arg(keys::PARKED_PAIRS)
                .arg(pair.key())
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_read_back_and_anything_else_is_no_entry() {
        let entry = |lines, blob: &str| ParkedBlob {
            payload: "p".into(),
            lines,
            blob: blob.into(),
        };
        let cases = [
            ("3:H4sI", Some(entry(3, "H4sI"))),
            ("12:a:b", Some(entry(12, "a:b"))),
            ("0:", Some(entry(0, ""))),
            ("x:H4sI", None),
            ("-1:H4sI", None),
            ("H4sI", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_value("p".into(), value), want, "{value:?}");
        }
    }
}
