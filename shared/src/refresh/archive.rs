//! The evidence archive: each closed day's counters, written once to S3 as gzip JSON lines
//! (`ARCHIVE_BUCKET`), so that what was seen stays provable after Redis expires it
//! (`RETENTION_DAYS`). The refresh archives after each run; `ctrack connections s3://…` reads
//! a past day back with the same rows as the API gave.
//!
//! - A day is closed `ARCHIVE_AFTER_HOURS` (48) after it ends: later than any retry path may
//!   still bring its records. Records that arrive later still (a redrive with `--force`) are
//!   counted in Redis but not in the archive.
//! - Objects are `PREFIX/day=YYYY-MM-DD/connections.jsonl.gz` (Hive-style: Athena or DuckDB
//!   read the prefix as a table), written with `If-None-Match: *`: never overwritten, two
//!   runs never write a day twice. Which days are done is kept in Redis (`ct:{inv}:archived`);
//!   an object already there (the mark lost) is marked, not written again.
//! - Rows are the day's counters as stored — sources as counted, reverse-DNS names not applied
//!   — with the account's name at archive time. One day in memory at a time: its rows as read
//!   and the compressed object.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read, Write};

use serde::Serialize;
use time::{Date, Duration, OffsetDateTime};

use crate::config::ArchiveConfig;
use crate::day::day_string;
use crate::model::{AccountRegion, Connection, ConnectionRow};
use crate::store::{ArchiveMarks, EvidenceSink, ReadRequest, ReadStore, StoreError};

/// The mark of a closed day that had no rows: nothing is written for it.
pub const EMPTY: &str = "empty";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("archive object is not gzip JSON lines: {0}")]
    Decode(String),
    #[error(
        "archive object holds more than {limit} bytes of JSON lines; raise the limit to read it"
    )]
    TooLarge { limit: u64 },
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveReport {
    /// Days written now, oldest first.
    pub archived: Vec<String>,
    /// Days whose object was there already (marked now, not written again).
    pub already_there: usize,
    /// Closed days without rows (marked, nothing written).
    pub empty: usize,
    /// Rows and compressed bytes written now.
    pub rows: usize,
    pub bytes: usize,
    /// Closed days still to archive after this run (`ARCHIVE_MAX_DAYS_PER_RUN`, or an error).
    pub pending: usize,
    /// Why the run stopped early (the bucket refused); the next run tries again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The object of one day under `prefix`.
pub fn key(prefix: &str, day: &str) -> String {
    format!("{prefix}day={day}/connections.jsonl.gz")
}

/// The days Redis still holds that are closed at `now`, oldest first: from today −
/// `retention_days` through the last day that ended `after_hours` ago.
pub fn closed_days(now: OffsetDateTime, retention_days: u32, after_hours: u64) -> Vec<Date> {
    let today = now.date();
    let Some(first) = today.checked_sub(Duration::days(i64::from(retention_days))) else {
        return Vec::new();
    };
    let Some(last) = now
        .checked_sub(Duration::hours(after_hours as i64))
        .and_then(|cutoff| cutoff.date().previous_day())
    else {
        return Vec::new();
    };
    crate::day::range(first, last).collect()
}

/// A day's rows as gzip JSON lines, in `account/region` order then the API's order; answers
/// the object and its row count.
pub fn encode_day(
    day: &str,
    account_names: &HashMap<&str, &str>,
    rows: &BTreeMap<String, Vec<Connection>>,
) -> std::io::Result<(Vec<u8>, usize)> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut count = 0;
    for (pair, connections) in rows {
        let Some(pair) = AccountRegion::parse(pair) else {
            continue;
        };
        let (account, region) = (pair.account(), pair.region());
        let mut sorted: Vec<&Connection> = connections.iter().collect();
        sorted.sort_by(|a, b| crate::model::page_order("", a, "", b));
        for c in sorted {
            let line = ConnectionRow {
                date: Some(day.to_string()),
                account_id: account.to_string(),
                account_name: account_names
                    .get(account)
                    .copied()
                    .unwrap_or("")
                    .to_string(),
                region: region.to_string(),
                dest: c.dest.clone(),
                dest_port: c.dest_port,
                source: c.source.clone(),
                score: c.score,
            };
            serde_json::to_writer(&mut gz, &line)?;
            gz.write_all(b"\n")?;
            count += 1;
        }
    }
    Ok((gz.finish()?, count))
}

/// The rows of one archived day; at most `limit` bytes of JSON lines are decompressed.
pub fn decode_day(object: &[u8], limit: u64) -> Result<Vec<ConnectionRow>, ArchiveError> {
    let decoder = flate2::read::GzDecoder::new(object);
    let mut bounded = std::io::BufReader::new(decoder.take(limit + 1));
    let mut rows = Vec::new();
    let mut line = String::new();
    let mut read: u64 = 0;
    loop {
        line.clear();
        let n = bounded
            .read_line(&mut line)
            .map_err(|e| ArchiveError::Decode(e.to_string()))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > limit {
            return Err(ArchiveError::TooLarge { limit });
        }
        if line.trim().is_empty() {
            continue;
        }
        let row: ConnectionRow = serde_json::from_str(&line)
            .map_err(|e| ArchiveError::Decode(format!("line {}: {e}", rows.len() + 1)))?;
        rows.push(row);
    }
    Ok(rows)
}

/// Archives the closed days not archived yet, oldest first, at most `max_days_per_run`.
/// A refused write stops the run (reported, retried by the next); a store error fails it.
pub async fn archive_closed_days<S: ReadStore + ArchiveMarks, E: EvidenceSink>(
    store: &S,
    sink: &E,
    config: &ArchiveConfig,
    now: OffsetDateTime,
) -> Result<ArchiveReport, ArchiveError> {
    let closed: Vec<String> = closed_days(now, config.retention_days, config.after_hours)
        .into_iter()
        .map(day_string)
        .collect();
    let marks = store.archived_days().await?;
    // Marks of days Redis no longer holds are forgotten as the run goes: the hash stays as
    // small as the retention.
    let oldest = now
        .date()
        .checked_sub(Duration::days(i64::from(config.retention_days)))
        .map(day_string)
        .unwrap_or_default();
    let forget: Vec<String> = marks.keys().filter(|d| **d < oldest).cloned().collect();
    let todo: Vec<&String> = closed.iter().filter(|d| !marks.contains_key(*d)).collect();
    let mut report = ArchiveReport {
        pending: todo.len(),
        ..ArchiveReport::default()
    };
    let mut written = 0;
    for day in todo {
        // Days without rows cost one read and no write: only days with rows count.
        if written == config.max_days_per_run {
            break;
        }
        let read = store
            .read(&ReadRequest {
                days: vec![day.clone()],
                accounts: true,
                ..ReadRequest::default()
            })
            .await?;
        let rows = read.days.into_iter().next().unwrap_or_default();
        if rows.values().all(Vec::is_empty) {
            store.mark_archived(day, EMPTY, &forget).await?;
            report.empty += 1;
            report.pending -= 1;
            continue;
        }
        let names: HashMap<&str, &str> = read
            .accounts
            .iter()
            .map(|a| (a.id.as_str(), a.name.as_str()))
            .collect();
        let (object, count) =
            encode_day(day, &names, &rows).map_err(|e| ArchiveError::Decode(e.to_string()))?;
        let size = object.len();
        written += 1;
        match sink.put_once(&key(&config.prefix, day), object).await {
            Ok((location, written)) => {
                store.mark_archived(day, &location, &forget).await?;
                report.pending -= 1;
                if written {
                    report.archived.push(day.clone());
                    report.rows += count;
                    report.bytes += size;
                } else {
                    report.already_there += 1;
                }
            }
            Err(error) => {
                tracing::warn!(day, %error, "closed day not archived; the next run tries again");
                report.error = Some(error);
                break;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn closed_days_end_after_hours_before_now_and_start_at_the_retention() {
        let table = [
            // now, retention, after hours → first, last
            (
                datetime!(2026-11-28 10:00 UTC),
                3,
                48,
                Some(("2026-11-25", "2026-11-25")),
            ),
            (
                datetime!(2026-11-28 00:00 UTC),
                5,
                24,
                Some(("2026-11-23", "2026-11-26")),
            ),
            (
                datetime!(2026-11-27 23:59 UTC),
                5,
                24,
                Some(("2026-11-22", "2026-11-25")),
            ),
            (
                datetime!(2024-03-02 12:00 UTC),
                2,
                1,
                Some(("2024-02-29", "2024-03-01")),
            ),
            // Nothing closed yet within the retention.
            (datetime!(2026-11-28 10:00 UTC), 1, 48, None),
        ];
        for (now, retention, hours, expected) in table {
            let days: Vec<String> = closed_days(now, retention, hours)
                .into_iter()
                .map(day_string)
                .collect();
            let got = days.first().zip(days.last());
            assert_eq!(
                got.map(|(a, b)| (a.as_str(), b.as_str())),
                expected,
                "{now} {retention} {hours}"
            );
        }
    }

    #[test]
    fn a_day_round_trips_through_its_object_and_the_limit_holds() {
        let rows = BTreeMap::from([
            (
                "111111111111/eu-west-1".to_string(),
                vec![
                    Connection::new("8.8.8.8", "web/52.0.0.5", 443, 3),
                    Connection::new("\"quoted\"\n", "web/52.0.0.5", 22, 9),
                ],
            ),
            ("222222222222/us-east-1".to_string(), vec![]),
        ]);
        let names = HashMap::from([("111111111111", "team-a")]);
        let (object, count) = encode_day("2026-11-25", &names, &rows).unwrap();
        assert_eq!(count, 2);
        let back = decode_day(&object, 1 << 20).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].score, 9, "score descending, as the API");
        assert_eq!(back[0].source, "\"quoted\"\n");
        assert_eq!(back[1].account_name, "team-a");
        assert_eq!(back[1].date.as_deref(), Some("2026-11-25"));
        assert!(matches!(
            decode_day(&object, 100),
            Err(ArchiveError::TooLarge { limit: 100 })
        ));
        assert!(matches!(
            decode_day(b"not gzip", 100),
            Err(ArchiveError::Decode(_))
        ));
    }
}
