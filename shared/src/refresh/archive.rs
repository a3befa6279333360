//! The evidence archive: each closed day's counters, written once to S3 as gzip JSON lines
//! (`ARCHIVE_BUCKET`), so that what was seen stays provable after Redis expires it
//! (`RETENTION_DAYS`). `ctrack connections s3://…` reads a past day back with the same rows as
//! the API gave.
//!
//! - A day is closed `ARCHIVE_AFTER_HOURS` (48) after it ends: later than any retry path may
//!   still bring its records. Records that arrive later still (a redrive with `--force`) are
//!   counted in Redis but not in the archive.
//! - Objects are `PREFIX/day=YYYY-MM-DD/connections.jsonl.gz` (Hive-style: Athena or DuckDB
//!   read the prefix as a table), written with `If-None-Match: *`: never overwritten, two
//!   runs never write a day twice. Which days are done is kept in Redis (`ct:{inv}:archived`);
//!   an object already there (the mark lost) is marked, not written again.
//! - Rows are the day's counters as stored — sources as counted, reverse-DNS names not applied
//!   — with the account's name at archive time; account/region by account/region, each one's
//!   rows score descending. A day is read [`PAGE_ROWS`] rows at a time and compressed as it is
//!   read: a run holds one page and one compressed object, whatever the day's size.
//! - Beside it, `PREFIX/day=YYYY-MM-DD/exposure.jsonl.gz`: the day's exposure review
//!   (`docs/rules.md`, "Exposure"), one endpoint per line, as `/exposure?date=DAY` answers it
//!   from the same counters (sources as counted) against the inventory at archive time, for
//!   every account/region the day counted or the inventory lists. Written first, so a day is
//!   marked only when both are there.
//! - The archive runs on its own schedule (`{"archive": …}` events to the refresh function)
//!   with the invocation's deadline: a day not finished in time is read again next run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Read, Write};

use serde::Serialize;
use time::{Date, Duration, OffsetDateTime};
use tokio::time::Instant;

use crate::config::ArchiveConfig;
use crate::day::day_string;
use crate::model::{AccountRegion, Connection, ConnectionRow, ExposedEndpoint, InterfaceFacts};
use crate::rules::exposure::{DayCounters, Estate};
use crate::store::{
    keys, ArchiveMarks, ClosedDayRows, EvidenceSink, ReadRequest, ReadResult, ReadStore, Rows,
    StoreError,
};

/// The mark of a closed day that had no rows: nothing is written for it.
pub const EMPTY: &str = "empty";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("archive object is not gzip JSON lines: {0}")]
    Decode(String),
    #[error("could not encode a day's archive object: {0}")]
    Encode(#[from] std::io::Error),
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
    /// Rows, endpoints reviewed and compressed bytes written now.
    pub rows: usize,
    pub reviewed: usize,
    pub bytes: usize,
    /// Closed days still to archive after this run (`ARCHIVE_MAX_DAYS_PER_RUN`, the deadline,
    /// or the bucket refusing).
    pub pending: usize,
    /// Why the run stopped before the days it could write; the next run goes on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<ArchiveStop>,
}

impl ArchiveReport {
    /// The run's figures as CloudWatch Embedded Metric Format (`ArchiveFailed` is the one to
    /// alarm on: the bucket refused a day).
    pub fn to_emf(&self, timestamp_ms: i64) -> serde_json::Value {
        use crate::metrics::Unit::Count;
        let refused = matches!(self.stopped, Some(ArchiveStop::BucketRefused(_)));
        let metrics = [
            ("DaysArchived", Count, self.archived.len() as u64),
            ("ArchivePending", Count, self.pending as u64),
            ("ArchiveFailed", Count, u64::from(refused)),
            ("ArchivedRows", Count, self.rows as u64),
        ];
        crate::metrics::document("refresh", timestamp_ms, &metrics)
    }
}

/// The object of one day under `prefix`.
pub fn key(prefix: &str, day: &str) -> String {
    format!("{prefix}day={day}/connections.jsonl.gz")
}

/// The day's exposure review beside its rows.
pub fn review_key(prefix: &str, day: &str) -> String {
    format!("{prefix}day={day}/exposure.jsonl.gz")
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

/// Gzip JSON lines as they are written: only the compressed bytes stay in memory.
struct JsonLines {
    gz: flate2::write::GzEncoder<Vec<u8>>,
    lines: usize,
}

impl JsonLines {
    fn new() -> Self {
        JsonLines {
            gz: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()),
            lines: 0,
        }
    }

    fn push(&mut self, line: &impl Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.gz, line)?;
        self.gz.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }
}

/// A day's object as it is built: gzip JSON lines, an account/region at a time, a page of rows
/// at a time; only the compressed bytes stay in memory.
pub struct DayObject {
    day: String,
    lines: JsonLines,
}

impl DayObject {
    pub fn new(day: &str) -> Self {
        DayObject {
            day: day.to_string(),
            lines: JsonLines::new(),
        }
    }

    /// Appends `rows` of `pair`, in the order given, as lines carrying the account's name.
    pub fn push(
        &mut self,
        pair: &AccountRegion,
        account_name: &str,
        rows: &[Connection],
    ) -> std::io::Result<()> {
        for c in rows {
            self.lines.push(&ConnectionRow {
                date: Some(self.day.clone()),
                account_id: pair.account().to_string(),
                account_name: account_name.to_string(),
                region: pair.region().to_string(),
                dest: c.dest.clone(),
                dest_port: c.dest_port,
                source: c.source.clone(),
                score: c.score,
            })?;
        }
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.lines.lines
    }

    /// The compressed object.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        self.lines.gz.finish()
    }
}

/// One line of a day's exposure review: an endpoint and its reviewed rules, with the day and
/// the account's name.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ReviewLine {
    pub date: String,
    pub account_name: String,
    #[serde(flatten)]
    pub endpoint: ExposedEndpoint,
}

/// How one account/region's day is reviewed for exposure (`docs/rules.md`, "Exposure"): the
/// API's review, `api::review_day`, handed in by the caller, so that the use cases stay side by
/// side (`docs/ARCHITECTURE.md`).
pub type ReviewDay = fn(&Estate<'_>, &str, &AccountRegion, DayCounters) -> Vec<ExposedEndpoint>;

/// Rows of one account/region a day's review holds at most; beyond, the review of that
/// account/region is judged from the day's sums alone (narrower rules as on days whose rows
/// are not read) and its top sources left empty.
pub const REVIEW_ROWS: usize = 100_000;

/// The rows of one archived day; at most `limit` bytes of JSON lines are decompressed.
pub fn decode_day(object: &[u8], limit: u64) -> Result<Vec<ConnectionRow>, ArchiveError> {
    decode_lines(object, limit)
}

/// The endpoints of one archived day's review; at most `limit` bytes are decompressed.
pub fn decode_review(object: &[u8], limit: u64) -> Result<Vec<ReviewLine>, ArchiveError> {
    decode_lines(object, limit)
}

fn decode_lines<T: serde::de::DeserializeOwned>(
    object: &[u8],
    limit: u64,
) -> Result<Vec<T>, ArchiveError> {
    let decoder = flate2::read::GzDecoder::new(object);
    let mut bounded = std::io::BufReader::new(decoder.take(limit + 1));
    let mut lines = Vec::new();
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
        let parsed: T = serde_json::from_str(&line)
            .map_err(|e| ArchiveError::Decode(format!("line {}: {e}", lines.len() + 1)))?;
        lines.push(parsed);
    }
    Ok(lines)
}

/// Rows read from Redis per round trip. A page and the compressed object are what a day
/// costs in memory, whatever its size.
pub const PAGE_ROWS: usize = 10_000;

/// Why a run stopped before every closed day was archived; the next run goes on from there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveStop {
    /// The invocation's deadline came; the day being read is read again next run.
    Deadline,
    /// The bucket refused the write (its words).
    BucketRefused(String),
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// What a run reads once for every day's review: the inventory, the accounts' names and each
/// account/region's last counted batch.
struct RunFacts<'a> {
    /// Its `interfaces` are every account/region's; each pair is reviewed against its own
    /// ([`RunFacts::estate_of`]).
    estate: Estate<'a>,
    /// The interfaces grouped by account/region once per run, not once per day and pair.
    interfaces: BTreeMap<AccountRegion, Vec<InterfaceFacts>>,
    names: HashMap<String, String>,
    review: ReviewDay,
}

impl RunFacts<'_> {
    /// The estate as one account/region's review sees it: only its interfaces.
    fn estate_of(&self, pair: &AccountRegion) -> Estate<'_> {
        Estate {
            interfaces: self.interfaces.get(pair).map_or(&[][..], Vec::as_slice),
            ..self.estate
        }
    }
}

/// The interfaces by their account/region (one whose owner does not parse has none).
fn by_pair(interfaces: &[InterfaceFacts]) -> BTreeMap<AccountRegion, Vec<InterfaceFacts>> {
    let mut out: BTreeMap<AccountRegion, Vec<InterfaceFacts>> = BTreeMap::new();
    for f in interfaces {
        if let Some(pair) = AccountRegion::new(&f.account_id, &f.region) {
            out.entry(pair).or_default().push(f.clone());
        }
    }
    out
}

/// A closed day as built: its rows and its review.
struct DayObjects {
    rows: DayObject,
    review: JsonLines,
}

/// Reads `day` a page at a time into its object, account/region by account/region (sorted),
/// each one's rows score descending, and reviews each account/region the day counted or the
/// inventory lists; `None` when the deadline came first.
async fn read_day<S: ReadStore + ClosedDayRows>(
    store: &S,
    day: &str,
    facts: &RunFacts<'_>,
    deadline: Option<Instant>,
) -> Result<Option<DayObjects>, ArchiveError> {
    if past(deadline) {
        return Ok(None);
    }
    let mut sums = store
        .read(&ReadRequest {
            days: vec![day.to_string()],
            rows: Rows::Usage,
            ..ReadRequest::default()
        })
        .await?
        .usage
        .pop()
        .unwrap_or_default();
    let counted: BTreeSet<AccountRegion> = store.day_pairs(day).await?.into_iter().collect();
    let pairs: BTreeSet<&AccountRegion> = facts.interfaces.keys().chain(&counted).collect();
    let mut objects = DayObjects {
        rows: DayObject::new(day),
        review: JsonLines::new(),
    };
    for pair in pairs {
        let name = facts.names.get(pair.account()).map_or("", String::as_str);
        let mut counters = DayCounters {
            sums: sums.remove(&pair.to_string()).unwrap_or_default(),
            rows: Some(Vec::new()),
            distinct: HashMap::new(),
        };
        if counted.contains(pair) {
            let read = read_pair(store, day, (pair, name), &mut objects.rows, deadline).await?;
            let Some(read) = read else {
                return Ok(None);
            };
            let endpoints = read.endpoints.into_iter().collect();
            counters.distinct = store.distinct_sources(day, pair, endpoints).await?;
            counters.rows = read.rows;
        }
        for endpoint in (facts.review)(&facts.estate_of(pair), day, pair, counters) {
            objects.review.push(&ReviewLine {
                date: day.to_string(),
                account_name: name.to_string(),
                endpoint,
            })?;
        }
    }
    Ok(Some(objects))
}

/// What reading one (day, account/region) left for its review: its rows, when at most
/// [`REVIEW_ROWS`], and the endpoints they count on (bounded as the day's endpoints are).
struct PairRead {
    rows: Option<Vec<Connection>>,
    endpoints: BTreeSet<String>,
}

/// One (day, account/region)'s rows, score descending, a page at a time into `object`; `None`
/// when the deadline came first.
async fn read_pair<S: ClosedDayRows>(
    store: &S,
    day: &str,
    (pair, name): (&AccountRegion, &str),
    object: &mut DayObject,
    deadline: Option<Instant>,
) -> Result<Option<PairRead>, ArchiveError> {
    let mut read_so_far = PairRead {
        rows: Some(Vec::new()),
        endpoints: BTreeSet::new(),
    };
    let mut start = 0;
    loop {
        if past(deadline) {
            return Ok(None);
        }
        let (rows, read) = store.rows_page(day, pair, start, PAGE_ROWS).await?;
        object.push(pair, name, &rows)?;
        let endpoints = rows.iter().map(|c| keys::endpoint(&c.dest, c.dest_port));
        read_so_far.endpoints.extend(endpoints);
        read_so_far.rows = read_so_far
            .rows
            .filter(|k| k.len() + rows.len() <= REVIEW_ROWS)
            .map(|mut k| {
                k.extend(rows);
                k
            });
        if read < PAGE_ROWS {
            return Ok(Some(read_so_far));
        }
        start += PAGE_ROWS as u64;
    }
}

/// Archives the closed days not archived yet, oldest first, at most `max_days_per_run`, none
/// begun or finished after `deadline`. A refused write stops the run (reported, retried by the
/// next); a store error fails it.
pub async fn archive_closed_days<S, E>(
    store: &S,
    sink: &E,
    (config, review): (&ArchiveConfig, ReviewDay),
    now: OffsetDateTime,
    deadline: Option<Instant>,
) -> Result<ArchiveReport, ArchiveError>
where
    S: ReadStore + ArchiveMarks + ClosedDayRows,
    E: EvidenceSink,
{
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
    if todo.is_empty() {
        return Ok(report);
    }
    let facts = store
        .read(&ReadRequest {
            accounts: true,
            interfaces: true,
            ingress: true,
            ..ReadRequest::default()
        })
        .await?;
    let ReadResult {
        accounts,
        interfaces,
        ingress,
        last_updates,
        ..
    } = facts;
    let facts = RunFacts {
        estate: Estate {
            interfaces: &interfaces,
            ingress: &ingress,
            networks: &config.networks,
            last_updates: &last_updates,
        },
        interfaces: by_pair(&interfaces),
        names: accounts.into_iter().map(|a| (a.id, a.name)).collect(),
        review,
    };
    let mut written = 0;
    for day in todo {
        // Days without rows cost one read and no write: only days with rows count.
        if written == config.max_days_per_run {
            break;
        }
        let Some(objects) = read_day(store, day, &facts, deadline).await? else {
            report.stopped = Some(ArchiveStop::Deadline);
            break;
        };
        if objects.rows.rows() == 0 {
            store.mark_archived(day, EMPTY, &forget).await?;
            report.empty += 1;
            report.pending -= 1;
            continue;
        }
        let (count, reviewed) = (objects.rows.rows(), objects.review.lines);
        written += 1;
        match put_day(sink, &config.prefix, day, objects).await {
            Ok((location, written, size)) => {
                store.mark_archived(day, &location, &forget).await?;
                report.pending -= 1;
                if written {
                    report.archived.push(day.clone());
                    report.rows += count;
                    report.reviewed += reviewed;
                    report.bytes += size;
                } else {
                    report.already_there += 1;
                }
            }
            Err(error) => {
                tracing::warn!(day, %error, "closed day not archived; the next run tries again");
                report.stopped = Some(ArchiveStop::BucketRefused(error));
                break;
            }
        }
    }
    Ok(report)
}

/// Writes a day's review, then its rows (the mark's location): where the rows are, whether
/// they were written now, and the bytes written now.
async fn put_day<E: EvidenceSink>(
    sink: &E,
    prefix: &str,
    day: &str,
    objects: DayObjects,
) -> Result<(String, bool, usize), String> {
    let review = objects.review.gz.finish().map_err(|e| e.to_string())?;
    let rows = objects.rows.finish().map_err(|e| e.to_string())?;
    let size = review.len() + rows.len();
    let (_, review_now) = sink.put_once(&review_key(prefix, day), review).await?;
    let (location, rows_now) = sink.put_once(&key(prefix, day), rows).await?;
    Ok((location, review_now || rows_now, size))
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
        let a = AccountRegion::parse("111111111111/eu-west-1").unwrap();
        let mut day = DayObject::new("2026-11-25");
        day.push(
            &a,
            "team-a",
            &[
                Connection::new("\"quoted\"\n", "web/52.0.0.5", 22, 9),
                Connection::new("8.8.8.8", "web/52.0.0.5", 443, 3),
            ],
        )
        .unwrap();
        day.push(&a, "team-a", &[]).unwrap();
        assert_eq!(day.rows(), 2);
        let object = day.finish().unwrap();
        let back = decode_day(&object, 1 << 20).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].score, 9, "in the order pushed");
        assert_eq!(back[0].source, "\"quoted\"\n");
        assert_eq!(back[1].account_name, "team-a");
        assert_eq!(back[1].region, "eu-west-1");
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
