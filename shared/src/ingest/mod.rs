//! The ingest path, independent of Lambda: event → payloads → records → counts → one write.
//!
//! [`aggregate`] is pure (no I/O) and borrows everything; [`Ingestor`] adds the store, the
//! inventory cache and the failure semantics of each event shape.

mod aggregate;
pub mod inventory;
pub mod payload;
pub mod redrive;
pub mod s3;

pub use aggregate::{aggregate, Aggregate, Context, Summary, WritePolicy};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::config::IngestConfig;
use crate::model::PayloadId;
use crate::rules::flowlog::FlowLogFormat;
use crate::store::{CounterStore, DeadLetter, DeadLetters, NoDeadLetters, StoreError};
use inventory::Inventory;
use payload::{DecodeError, FlowEvent, KinesisItem, LogsMessage};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot decode event: {0}")]
    Decode(#[from] DecodeError),
    #[error("cannot count batch: {0}")]
    Store(#[from] StoreError),
}

/// One decoded payload: a CloudWatch Logs subscription message's bytes.
#[derive(Debug)]
pub struct DecodedPayload {
    /// Hash of the encoded payload: the same delivery twice has the same id.
    pub id: PayloadId,
    pub bytes: Vec<u8>,
}

impl DecodedPayload {
    pub fn decode(data: &str, limit: usize) -> Result<DecodedPayload, DecodeError> {
        let bytes = payload::decode_data(data, limit)?;
        Ok(DecodedPayload {
            id: PayloadId::of(data.as_bytes()),
            bytes,
        })
    }
}

/// The result of handling one event: the figures, and what the function answers Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub summary: Summary,
    pub response: Reply,
}

/// The function's answer: the summary for CloudWatch Logs events, the partial batch response
/// (`batchItemFailures`) for Kinesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Summary(Summary),
    Kinesis(KinesisEventResponse),
    /// The S3 notification queue's partial batch response.
    Sqs(aws_lambda_events::sqs::SqsBatchResponse),
}

impl Outcome {
    /// Kinesis records reported as failed.
    pub fn item_failures(&self) -> Vec<&str> {
        match &self.response {
            Reply::Summary(_) => Vec::new(),
            Reply::Kinesis(r) => r
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .collect(),
            Reply::Sqs(r) => r
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect(),
        }
    }
}

/// What [`Ingestor::handle_logs_events`] made of a batch of CloudWatch Logs events.
#[derive(Debug)]
pub struct LogsBatch {
    pub summary: Summary,
    /// Each event's end, in the order given.
    pub events: Vec<LogsEventEnd>,
}

/// How one CloudWatch Logs event of a batch ended.
#[derive(Debug)]
pub enum LogsEventEnd {
    /// Counted with the batch (or, undecodable, kept as a dead letter and acknowledged).
    Counted,
    /// Undecodable and not kept: the event's error.
    Failed(IngestError),
    /// Its newest record is older than the batch allowed; not counted.
    TooOld { newest_ms: u64 },
}

/// The ingest service: a store, the settings, a cached inventory, and where payloads that can
/// never be counted are kept.
pub struct Ingestor<S, D = NoDeadLetters> {
    store: S,
    dead_letters: D,
    config: IngestConfig,
    fallback_format: FlowLogFormat,
    cache: Mutex<Option<(Instant, Arc<Inventory>)>>,
}

impl<S: CounterStore> Ingestor<S> {
    /// An ingestor without a dead-letter store: undecodable payloads fail (and are retried).
    pub fn new(store: S, config: IngestConfig) -> Self {
        Ingestor::with_dead_letters(store, NoDeadLetters, config)
    }
}

impl<S: CounterStore, D: DeadLetters> Ingestor<S, D> {
    /// Undecodable payloads are kept whole in `dead_letters`, counted and acknowledged: a
    /// payload that cannot be read now cannot be read on a retry either.
    pub fn with_dead_letters(store: S, dead_letters: D, config: IngestConfig) -> Self {
        let fallback_format = config.flow_log_format.clone().unwrap_or_default();
        Ingestor {
            store,
            dead_letters,
            config,
            fallback_format,
            cache: Mutex::new(None),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The inventory, reloaded when older than `INVENTORY_TTL_SECONDS`: most batches cost one
    /// round trip (the write), a batch that reloads costs two.
    async fn inventory(&self) -> Result<Arc<Inventory>, StoreError> {
        let mut cache = self.cache.lock().await;
        if let Some((loaded, inv)) = cache.as_ref() {
            if loaded.elapsed() < self.config.inventory_ttl {
                return Ok(inv.clone());
            }
        }
        let snapshot = self.store.load_inventory().await?;
        let (inventory, problems) =
            Inventory::from_snapshot(&snapshot, self.config.networks.clone());
        for problem in &problems {
            tracing::warn!(%problem, "skipping inventory entry");
        }
        let inventory = Arc::new(inventory);
        *cache = Some((Instant::now(), inventory.clone()));
        Ok(inventory)
    }

    /// Handles a Lambda event (CloudWatch Logs or Kinesis). An event of neither shape is a
    /// dead letter too (kept whole, acknowledged) when a store is configured.
    pub async fn handle_value(&self, event: serde_json::Value) -> Result<Outcome, IngestError> {
        let started = Instant::now();
        let flow_event = match FlowEvent::from_value(&event) {
            Ok(e) => e,
            Err(e) => {
                let letter = DeadLetter {
                    reason: e.kind(),
                    id: PayloadId::of(event.to_string().as_bytes()).to_string(),
                    error: e.to_string(),
                    event: serde_json::to_vec(&event).unwrap_or_default(),
                };
                return self.bury(letter, e, started).await;
            }
        };
        self.handle(flow_event, OffsetDateTime::now_utc()).await
    }

    /// Keeps an undecodable payload in the dead-letter store and answers the figures that say
    /// so; without a store (or when it fails) the payload's error, so that it is retried.
    async fn bury(
        &self,
        letter: DeadLetter,
        error: DecodeError,
        started: Instant,
    ) -> Result<Outcome, IngestError> {
        let mut summary = self.keep(letter, error).await?;
        summary.duration_ms = started.elapsed().as_millis() as u64;
        log_summary(&summary);
        Ok(Outcome {
            response: Reply::Summary(summary.clone()),
            summary,
        })
    }

    /// [`Ingestor::bury`] without the summary line: the figures of one kept payload, or its
    /// error.
    async fn keep(&self, letter: DeadLetter, error: DecodeError) -> Result<Summary, IngestError> {
        match self.dead_letters.keep(&letter).await {
            Ok(at) => {
                tracing::error!(error = %error, kept_at = %at, "undecodable payload kept as a dead letter");
                let mut summary = Summary::default();
                summary.failed_payloads.insert(letter.reason, 1);
                summary.dead_lettered = 1;
                Ok(summary)
            }
            Err(kept) => {
                tracing::error!(error = %error, dead_letter = %kept, "undecodable payload not kept; failing it");
                Err(error.into())
            }
        }
    }

    /// Handles a decoded event at a given time. CloudWatch Logs: any failure is the event's
    /// (returned as an error, so Lambda retries it). Kinesis: undecodable records and, when the
    /// write fails, every record are reported in `batchItemFailures`.
    pub async fn handle(
        &self,
        event: FlowEvent,
        now: OffsetDateTime,
    ) -> Result<Outcome, IngestError> {
        let started = Instant::now();
        match event {
            FlowEvent::Logs { data } => {
                // One event is a batch of one: any failure is the event's.
                let batch = self.handle_logs_events(&[&data], now, None).await?;
                if let Some(LogsEventEnd::Failed(e)) = batch.events.into_iter().next() {
                    return Err(e);
                }
                Ok(Outcome {
                    response: Reply::Summary(batch.summary.clone()),
                    summary: batch.summary,
                })
            }
            FlowEvent::Kinesis { records } => {
                let mut failures: Vec<String> = Vec::new();
                let mut failed: BTreeMap<&'static str, u64> = BTreeMap::new();
                let mut undecodable: Vec<(&KinesisItem, DecodeError)> = Vec::new();
                let mut units: Vec<(&KinesisItem, DecodedPayload)> =
                    Vec::with_capacity(records.len());
                // The batch's decompressed bytes are bounded too: once they pass the budget, the
                // remaining records are reported back and come again in the next invocation
                // (Kinesis resumes from the first one reported). Peak: budget + one record.
                let mut decompressed = 0usize;
                let mut deferred: Vec<String> = Vec::new();
                for record in &records {
                    if decompressed > self.config.max_batch_decompressed_bytes {
                        deferred.push(record.sequence_number.clone());
                        continue;
                    }
                    match DecodedPayload::decode(&record.data, self.config.max_decompressed_bytes) {
                        Ok(unit) => {
                            decompressed += unit.bytes.len();
                            units.push((record, unit));
                        }
                        Err(e) => undecodable.push((record, e)),
                    }
                }
                let mut messages = Vec::with_capacity(units.len());
                let mut ids = Vec::with_capacity(units.len());
                let mut kept_sequence_numbers = Vec::with_capacity(units.len());
                for (record, unit) in &units {
                    match LogsMessage::parse(&unit.bytes) {
                        Ok(m) => {
                            messages.push(m);
                            ids.push(unit.id.as_str());
                            kept_sequence_numbers.push(record.sequence_number.clone());
                        }
                        Err(e) => undecodable.push((record, e)),
                    }
                }
                // Undecodable records are kept whole and acknowledged; one the store cannot
                // keep is reported back (retried) instead.
                let mut dead_lettered = 0u64;
                let kept = futures::future::join_all(undecodable.iter().map(|(record, e)| {
                    let letter = kinesis_letter(record, e);
                    async move { self.dead_letters.keep(&letter).await }
                }))
                .await;
                for ((record, e), kept) in undecodable.iter().zip(kept) {
                    *failed.entry(e.kind()).or_default() += 1;
                    match kept {
                        Ok(at) => {
                            dead_lettered += 1;
                            tracing::error!(sequence_number = %record.sequence_number, error = %e, kept_at = %at, "undecodable Kinesis record kept as a dead letter");
                        }
                        Err(not_kept) => {
                            tracing::error!(sequence_number = %record.sequence_number, error = %e, dead_letter = %not_kept, "undecodable Kinesis record");
                            failures.push(record.sequence_number.clone());
                        }
                    }
                }
                if !deferred.is_empty() {
                    tracing::warn!(
                        deferred = deferred.len(),
                        decompressed,
                        "batch decompression budget reached; the rest comes again"
                    );
                    failed.insert("deferred_batch_budget", deferred.len() as u64);
                    failures.extend(deferred);
                }
                let mut summary = match self.count(&ids, &messages, now).await {
                    Ok(s) => s,
                    Err(e) => {
                        // Nothing of this batch is known to be counted: report every record;
                        // the ids make the redelivery count each payload once.
                        tracing::error!(error = %e, records = messages.len(), "batch not counted");
                        failures.extend(kept_sequence_numbers);
                        Summary::default()
                    }
                };
                summary.failed_payloads = failed;
                summary.dead_lettered = dead_lettered;
                summary.duration_ms = started.elapsed().as_millis() as u64;
                log_summary(&summary);
                let mut response = KinesisEventResponse::default();
                response.batch_item_failures = failures
                    .into_iter()
                    .map(|seq| {
                        let mut f = KinesisBatchItemFailure::default();
                        f.item_identifier = Some(seq);
                        f
                    })
                    .collect();
                Ok(Outcome {
                    summary,
                    response: Reply::Kinesis(response),
                })
            }
        }
    }

    /// Counts messages that are already decoded (the chunks of an S3 object), each under its
    /// id: idempotent like every batch.
    pub async fn count_messages(
        &self,
        ids: &[&str],
        messages: &[LogsMessage<'_>],
        now: OffsetDateTime,
    ) -> Result<Summary, StoreError> {
        self.count(ids, messages, now).await
    }

    /// Counts several CloudWatch Logs events as one batch (a backfill: `ctrack replay`). Each
    /// event is decoded on its own — one that cannot be is that event's failure alone (kept as
    /// a dead letter where a store is configured, as [`Ingestor::handle`] keeps it) — and one
    /// whose newest record is older than `refuse_before_ms` is not counted (its redelivery
    /// record may have expired); the others are counted in one write, each still its own
    /// payload, counted exactly once. Only a store failure fails the whole.
    pub async fn handle_logs_events(
        &self,
        datas: &[&str],
        now: OffsetDateTime,
        refuse_before_ms: Option<i64>,
    ) -> Result<LogsBatch, StoreError> {
        let started = Instant::now();
        let mut events: Vec<LogsEventEnd> = datas.iter().map(|_| LogsEventEnd::Counted).collect();
        let mut buried = Summary::default();
        // Each event is decoded, read and counted before the next is decoded: the batch holds
        // one decoded payload at a time, however many events it has. The inventory is loaded
        // for the first event there is to count.
        let inventory = tokio::sync::OnceCell::new();
        let ctx = self.context(now);
        let mut agg = Aggregate::default();
        let mut ids: Vec<PayloadId> = Vec::with_capacity(datas.len());
        for (at, data) in datas.iter().enumerate() {
            let unit = match DecodedPayload::decode(data, self.config.max_decompressed_bytes) {
                Ok(unit) => unit,
                Err(e) => {
                    match self.keep(logs_letter(data, &e), e).await {
                        Ok(kept) => buried.merge(&kept),
                        Err(e) => events[at] = LogsEventEnd::Failed(e),
                    }
                    continue;
                }
            };
            let message = match LogsMessage::parse(&unit.bytes) {
                Ok(message) => message,
                Err(e) => {
                    events[at] = match self.keep(logs_letter(data, &e), e).await {
                        Ok(kept) => {
                            buried.merge(&kept);
                            LogsEventEnd::Counted
                        }
                        Err(e) => LogsEventEnd::Failed(e),
                    };
                    continue;
                }
            };
            let newest_ms = message.log_events.iter().map(|e| e.timestamp).max();
            if let (Some(newest_ms), Some(before)) = (newest_ms, refuse_before_ms) {
                if (newest_ms as i64) < before {
                    events[at] = LogsEventEnd::TooOld { newest_ms };
                    continue;
                }
            }
            let inventory = inventory.get_or_try_init(|| self.inventory()).await?;
            agg.add(inventory, &ctx, ids.len() as u32, &message);
            ids.push(unit.id);
        }
        // Nothing to count (every event failed, was kept or refused): no inventory, no write.
        let mut summary = if ids.is_empty() {
            Summary::default()
        } else {
            let ids: Vec<&str> = ids.iter().map(PayloadId::as_str).collect();
            self.write_counts(&ids, &agg, now).await?
        };
        summary.merge(&buried);
        summary.duration_ms = started.elapsed().as_millis() as u64;
        if !ids.is_empty() || buried.dead_lettered > 0 {
            log_summary(&summary);
        }
        Ok(LogsBatch { summary, events })
    }

    async fn count(
        &self,
        ids: &[&str],
        messages: &[LogsMessage<'_>],
        now: OffsetDateTime,
    ) -> Result<Summary, StoreError> {
        let inventory = self.inventory().await?;
        let agg = aggregate(&inventory, &self.context(now), messages);
        self.write_counts(ids, &agg, now).await
    }

    /// What the rules need besides the inventory, at `now`.
    fn context(&self, now: OffsetDateTime) -> Context<'_> {
        Context {
            fallback_format: &self.fallback_format,
            default_region: &self.config.default_region,
            retention_days: self.config.retention_days,
            shared_vpc_owners: &self.config.shared_vpc_owners,
            now: now.unix_timestamp(),
        }
    }

    /// Writes a batch's counts (payload `n` is `ids[n]`) in one round trip; its figures.
    async fn write_counts(
        &self,
        ids: &[&str],
        agg: &Aggregate<'_>,
        now: OffsetDateTime,
    ) -> Result<Summary, StoreError> {
        let batch = agg.to_write(ids, &WritePolicy::from(&self.config), now);
        let outcome = self.store.write(&batch).await?;
        let mut summary = agg.summary.clone();
        summary.payloads = ids.len() as u64;
        summary.connections = agg.connections();
        summary.duplicates = outcome.duplicates;
        summary.days = batch.days.iter().map(|d| d.day.clone()).collect();
        Ok(summary)
    }
}

/// A CloudWatch Logs payload as a dead letter: the event it came in.
fn logs_letter(data: &str, error: &DecodeError) -> DeadLetter {
    DeadLetter {
        reason: error.kind(),
        id: PayloadId::of(data.as_bytes()).to_string(),
        error: error.to_string(),
        event: serde_json::to_vec(&serde_json::json!({ "awslogs": { "data": data } }))
            .unwrap_or_default(),
    }
}

/// A Kinesis record as a dead letter: a Kinesis event of that one record.
fn kinesis_letter(record: &KinesisItem, error: &DecodeError) -> DeadLetter {
    let event = serde_json::json!({ "Records": [{
        "eventSource": "aws:kinesis",
        "kinesis": { "data": record.data, "sequenceNumber": record.sequence_number },
    }] });
    DeadLetter {
        reason: error.kind(),
        id: PayloadId::of(record.data.as_bytes()).to_string(),
        error: error.to_string(),
        event: serde_json::to_vec(&event).unwrap_or_default(),
    }
}

fn log_summary(summary: &Summary) {
    tracing::info!(
        payloads = summary.payloads,
        records = summary.records,
        accepted = summary.accepted,
        counted = summary.counted,
        rejected = summary.rejected_total(),
        rejected_by_reason = ?summary.rejected,
        skipped_by_reason = ?summary.skipped,
        flagged_by_reason = ?summary.flagged,
        connections = summary.connections,
        duplicates = summary.duplicates,
        failed_payloads = ?summary.failed_payloads,
        dead_lettered = summary.dead_lettered,
        duration_ms = summary.duration_ms,
        "batch summary"
    );
}
