//! The ingest path, independent of Lambda: event → payloads → records → counts → one write.
//!
//! - `event`: the event shapes' replies and dead letters; `batch`: the one decode → count →
//!   write loop CloudWatch Logs events and Kinesis records stream through;
//! - [`aggregate`]: pure (no I/O), borrows everything; [`inventory`]: the refresh's maps as the
//!   hot path reads them; [`payload`]: decoding, size-capped; [`s3`]: flow logs delivered to S3;
//!   [`redrive`]: failure records back into events;
//! - `held` and `parking`: lines of interfaces the refresh has not found yet, held while a
//!   batch is counted, parked once it is written, counted by the scheduled run.
//!
//! [`Ingestor`] adds the store, the inventory cache and the failure semantics of each shape.

mod aggregate;
mod batch;
mod event;
mod headroom;
mod held;
pub mod inventory;
mod parking;
pub mod payload;
pub mod redrive;
pub mod s3;
pub mod scheduled_redrive;
mod summary;
mod write_plan;

pub use aggregate::{aggregate, Aggregate, Context};
pub use event::{LogsBatch, LogsEventEnd, Outcome, Reply};
pub use headroom::failure_emf;
pub use parking::UnparkReport;
pub use summary::Summary;
pub use write_plan::WritePolicy;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::config::IngestConfig;
use crate::model::PayloadId;
use crate::rules::flowlog::FlowLogFormat;
use crate::store::{CounterStore, DeadLetter, DeadLetters, NoDeadLetters, StoreError};
use batch::{Arrival, Bounds, End};
use event::{kinesis_reply, log_summary};
use headroom::Headroom;
use inventory::Inventory;
use payload::{DecodeError, FlowEvent, KinesisItem, LogsMessage};

/// `FailedPayloads.deferred_batch_budget`: Kinesis records past the batch's decompression
/// budget, reported back to come again.
const DEFERRED_BATCH_BUDGET: &str = "deferred_batch_budget";

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

/// The ingest service: a store, the settings, a cached inventory, and where payloads that can
/// never be counted are kept.
pub struct Ingestor<S, D = NoDeadLetters> {
    store: S,
    dead_letters: D,
    config: IngestConfig,
    fallback_format: FlowLogFormat,
    cache: Mutex<Option<(Instant, Arc<Inventory>)>>,
    /// The cache's fill, as last read.
    headroom: Headroom,
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
            headroom: Headroom::default(),
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
        self.keep(&letter, error, "").await?;
        let mut summary = Summary::default();
        summary.failed_payloads.insert(letter.reason, 1);
        summary.dead_lettered = 1;
        summary.duration_ms = started.elapsed().as_millis() as u64;
        log_summary(&summary);
        Ok(Outcome {
            response: Reply::Summary(summary.clone()),
            summary,
        })
    }

    /// Keeps an undecodable payload (`item`: a Kinesis sequence number, else empty) as a dead
    /// letter; its error back when the store cannot keep it, so that it is retried.
    async fn keep(
        &self,
        letter: &DeadLetter,
        error: DecodeError,
        item: &str,
    ) -> Result<(), DecodeError> {
        match self.dead_letters.keep(letter).await {
            Ok(at) => {
                tracing::error!(item, error = %error, kept_at = %at, "undecodable payload kept as a dead letter");
                Ok(())
            }
            Err(kept) => {
                tracing::error!(item, error = %error, dead_letter = %kept, "undecodable payload not kept; failing it");
                Err(error)
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
            FlowEvent::Kinesis { records } => Ok(self.handle_kinesis(&records, now).await),
        }
    }

    /// A Kinesis batch: records streamed through the batch loop within the decompression budget
    /// (the rest come again: Kinesis resumes from the first one reported); undecodable records
    /// kept and acknowledged, or reported when they cannot be kept; every counted record
    /// reported when the write fails (the ids make the redelivery count each once).
    async fn handle_kinesis(&self, records: &[KinesisItem], now: OffsetDateTime) -> Outcome {
        let started = Instant::now();
        let arrivals: Vec<Arrival> = records.iter().map(Arrival::Kinesis).collect();
        let bounds = Bounds {
            budget: Some(self.config.max_batch_decompressed_bytes),
            refuse_before_ms: None,
        };
        let batch = self.run_batch(&arrivals, now, bounds).await;
        let mut failures: Vec<String> = Vec::new();
        let mut failed: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut dead_lettered = 0u64;
        let (mut deferred, mut counted) = (Vec::new(), Vec::new());
        for (record, end) in records.iter().zip(&batch.ends) {
            let seq = record.sequence_number.clone();
            match end {
                End::Kept { reason } => {
                    *failed.entry(reason).or_default() += 1;
                    dead_lettered += 1;
                }
                End::Lost(e) => {
                    *failed.entry(e.kind()).or_default() += 1;
                    failures.push(seq);
                }
                End::Deferred => deferred.push(seq),
                End::Counted | End::NotReached | End::TooOld { .. } => counted.push(seq),
            }
        }
        if !deferred.is_empty() {
            tracing::warn!(
                deferred = deferred.len(),
                decompressed = batch.decompressed,
                "batch decompression budget reached; the rest comes again"
            );
            failed.insert(DEFERRED_BATCH_BUDGET, deferred.len() as u64);
            failures.extend(deferred);
        }
        let mut summary = batch.written.unwrap_or_else(|e| {
            // Nothing of this batch is known to be counted: report every record.
            tracing::error!(error = %e, records = counted.len(), "batch not counted");
            if e.is_full() {
                failed.insert(headroom::CACHE_FULL, counted.len() as u64);
            }
            failures.extend(counted);
            Summary::default()
        });
        summary.failed_payloads = failed;
        summary.dead_lettered = dead_lettered;
        summary.duration_ms = started.elapsed().as_millis() as u64;
        log_summary(&summary);
        Outcome {
            summary,
            response: kinesis_reply(failures),
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
        let arrivals: Vec<Arrival> = datas.iter().map(|data| Arrival::Logs(data)).collect();
        let bounds = Bounds {
            budget: None,
            refuse_before_ms,
        };
        let batch = self.run_batch(&arrivals, now, bounds).await;
        let mut buried = Summary::default();
        let mut any_counted = false;
        let events = batch
            .ends
            .into_iter()
            .map(|end| match end {
                End::Kept { reason } => {
                    *buried.failed_payloads.entry(reason).or_default() += 1;
                    buried.dead_lettered += 1;
                    LogsEventEnd::Counted
                }
                End::Lost(e) => LogsEventEnd::Failed(e.into()),
                End::TooOld { newest_ms } => LogsEventEnd::TooOld { newest_ms },
                // Without a budget nothing is deferred; not reached only when the inventory
                // failed, and then the whole batch fails below.
                End::Counted | End::Deferred | End::NotReached => {
                    any_counted = true;
                    LogsEventEnd::Counted
                }
            })
            .collect();
        let mut summary = batch.written?;
        summary.merge(&buried);
        summary.duration_ms = started.elapsed().as_millis() as u64;
        if any_counted || buried.dead_lettered > 0 {
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

    /// What one payload may decompress to (`MAX_DECOMPRESSED_BYTES`).
    fn max_decompressed(&self) -> usize {
        self.config.max_decompressed_bytes
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
        if !batch.days.is_empty() {
            let (store, cache) = (&self.store, self.config.cache);
            self.headroom.check(store, cache, batch.rows()).await?;
        }
        let outcome = self.store.write(&batch).await?;
        let mut summary = agg.summary.clone();
        summary.payloads = ids.len() as u64;
        summary.connections = agg.connections();
        summary.duplicates = outcome.duplicates;
        summary.days = batch.days.iter().map(|d| d.day.clone()).collect();
        Ok(summary)
    }
}
