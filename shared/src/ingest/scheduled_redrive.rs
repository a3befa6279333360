//! The scheduled redrive: what Lambda kept of invocations whose retries ran out (the failure
//! bucket's `aws/lambda/`: asynchronous CloudWatch Logs events, Kinesis batches) counted
//! through the ingest path, each once, and removed once everything in it is counted — so an
//! outage longer than Lambda's retries needs no person. A record older than the dedup window
//! is left (it could count twice) and counted as `left_too_old`; one that is no flow-log event
//! is left as `unreadable`; the alarm watches both. A store failure ends the run: the next one
//! takes it up. The same run then counts the parked lines whose interface the refresh has
//! found since (`Ingestor::unpark`).

use std::time::Instant;

use super::payload::FlowEvent;
use super::redrive::unwrap_event;
use super::{Ingestor, LogsEventEnd, UnparkReport};
use crate::metrics::{self, Unit};
use crate::store::{CounterStore, DeadLetters, FailureRecords};

/// Where Lambda writes failure records in the failure bucket.
pub const FAILURE_RECORDS_PREFIX: &str = "aws/lambda/";
/// Records looked at per run; the rest wait for the next run.
pub const MAX_RECORDS_PER_RUN: usize = 500;

/// What one run did, record by record.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RedriveReport {
    /// Records counted whole (or found counted before) and removed.
    pub redriven: u64,
    /// Records whose newest line is older than the dedup window: left for a person
    /// (`ctrack replay --force`).
    pub left_too_old: u64,
    /// Records that hold no flow-log event (a metadata-only Kinesis record, bad JSON): left.
    pub unreadable: u64,
    /// Records left because part of them could not be counted now (the store failing, a
    /// Kinesis record handed back): the next run counts the rest once.
    pub retried_later: u64,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    /// What the same run did with the parked lines.
    pub parked: UnparkReport,
}

impl RedriveReport {
    /// The run's figures as an EMF document: `Redriven`, `RedriveLeftTooOld`,
    /// `RedriveUnreadable`, `RedriveRetriedLater`, and the parked lines' (`ParkedCounted`, …).
    pub fn to_emf(&self, timestamp_ms: i64) -> serde_json::Value {
        let mut figures = vec![
            ("Redriven", Unit::Count, self.redriven),
            ("RedriveLeftTooOld", Unit::Count, self.left_too_old),
            ("RedriveUnreadable", Unit::Count, self.unreadable),
            ("RedriveRetriedLater", Unit::Count, self.retried_later),
        ];
        figures.extend(self.parked.metrics());
        metrics::document("ingest", timestamp_ms, &figures)
    }
}

/// The scheduled run: the failure records redriven (where there is a failure bucket), then the
/// parked lines taken back, both until `deadline`.
pub async fn scheduled<S, D, F>(
    ingestor: &Ingestor<S, D>,
    records: Option<&F>,
    now: time::OffsetDateTime,
    deadline: Option<Instant>,
) -> RedriveReport
where
    S: CounterStore,
    D: DeadLetters,
    F: FailureRecords,
{
    let mut report = match records {
        Some(records) => redrive(ingestor, records, now, deadline).await,
        None => RedriveReport {
            stopped: Some("no failure bucket (DEAD_LETTER_BUCKET)".into()),
            ..RedriveReport::default()
        },
    };
    report.parked = ingestor.unpark(now, deadline).await;
    report
}

/// How one record ended.
enum Redriven {
    Counted,
    TooOld,
    Unreadable(String),
    Later,
    /// The store failed: stop the run.
    Stop(String),
}

/// Counts the failure records under [`FAILURE_RECORDS_PREFIX`], oldest key first, until
/// `deadline`, at most [`MAX_RECORDS_PER_RUN`]. Never fails: what it could not do waits for the
/// next run, and says why.
pub async fn redrive<S, D, F>(
    ingestor: &Ingestor<S, D>,
    records: &F,
    now: time::OffsetDateTime,
    deadline: Option<Instant>,
) -> RedriveReport
where
    S: CounterStore,
    D: DeadLetters,
    F: FailureRecords,
{
    let mut report = RedriveReport::default();
    let keys = match records
        .list(FAILURE_RECORDS_PREFIX, MAX_RECORDS_PER_RUN)
        .await
    {
        Ok(keys) => keys,
        Err(e) => {
            report.stopped = Some(e);
            return report;
        }
    };
    for (i, key) in keys.iter().enumerate() {
        // At least one record per run, whatever the time left.
        if i > 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            report.stopped = Some("the invocation's deadline".into());
            break;
        }
        match one(ingestor, records, key, now).await {
            Redriven::Counted => match records.delete(key).await {
                Ok(()) => report.redriven += 1,
                Err(e) => {
                    report.retried_later += 1;
                    report.stopped = Some(e);
                    break;
                }
            },
            Redriven::TooOld => report.left_too_old += 1,
            Redriven::Unreadable(why) => {
                tracing::error!(%key, %why, "failure record left: it holds no flow-log event");
                report.unreadable += 1;
            }
            Redriven::Later => report.retried_later += 1,
            Redriven::Stop(why) => {
                report.retried_later += 1;
                report.stopped = Some(why);
                break;
            }
        }
    }
    report
}

/// One failure record through the ingest path.
async fn one<S, D, F>(
    ingestor: &Ingestor<S, D>,
    records: &F,
    key: &str,
    now: time::OffsetDateTime,
) -> Redriven
where
    S: CounterStore,
    D: DeadLetters,
    F: FailureRecords,
{
    // A record holds one invocation's event: at most the batch's decompressed cap as base64.
    let limit = ingestor.config.max_batch_decompressed_bytes as u64;
    let bytes = match records.get(key, limit).await {
        Ok(bytes) => bytes,
        Err(e) => return Redriven::Stop(e),
    };
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => return Redriven::Unreadable(e.to_string()),
    };
    // A redrive trigger whose invocation failed (a timeout): nothing to count, gone.
    if value["requestPayload"].get("redrive").is_some() {
        return Redriven::Counted;
    }
    let event = unwrap_event(value)
        .map_err(|e| e.to_string())
        .and_then(|(event, _)| FlowEvent::from_value(&event).map_err(|e| e.to_string()));
    let event = match event {
        Ok(event) => event,
        Err(why) => return Redriven::Unreadable(why),
    };
    let oldest_ms = (now.unix_timestamp() - ingestor.config.dedup_window.as_secs() as i64) * 1000;
    let newest = event.newest_log_event_ms(ingestor.config.max_decompressed_bytes);
    if newest.is_some_and(|ms| (ms as i64) < oldest_ms) {
        return Redriven::TooOld;
    }
    match event {
        FlowEvent::Logs { data } => {
            match ingestor
                .handle_logs_events(&[&data], now, Some(oldest_ms))
                .await
            {
                Err(e) => Redriven::Stop(e.to_string()),
                Ok(batch) => match batch.events.into_iter().next() {
                    Some(LogsEventEnd::Counted) => Redriven::Counted,
                    Some(LogsEventEnd::TooOld { .. }) => Redriven::TooOld,
                    Some(LogsEventEnd::Failed(e)) => Redriven::Unreadable(e.to_string()),
                    None => Redriven::Later,
                },
            }
        }
        kinesis @ FlowEvent::Kinesis { .. } => match ingestor.handle(kinesis, now).await {
            Ok(outcome) if outcome.item_failures().is_empty() => Redriven::Counted,
            Ok(_) => Redriven::Later,
            Err(super::IngestError::Store(e)) => Redriven::Stop(e.to_string()),
            Err(e) => Redriven::Unreadable(e.to_string()),
        },
    }
}
