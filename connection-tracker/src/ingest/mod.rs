//! The ingest path, independent of Lambda: event → payloads → records → counts → one write.
//!
//! [`aggregate`] is pure (no I/O) and borrows everything; [`Ingestor`] adds the store, the
//! inventory cache and the failure semantics of each event shape.

mod aggregate;
pub mod inventory;
pub mod payload;

pub use aggregate::{aggregate, Aggregate, Context, Summary, WritePolicy};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use xxhash_rust::xxh3::xxh3_128;

use crate::config::IngestConfig;
use crate::rules::flowlog::FlowLogFormat;
use crate::store::{CounterStore, StoreError};
use inventory::Inventory;
use payload::{DecodeError, FlowEvent, LogsMessage};

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
    pub id: String,
    pub bytes: Vec<u8>,
}

impl DecodedPayload {
    pub fn decode(data: &str, limit: usize) -> Result<DecodedPayload, DecodeError> {
        let bytes = payload::decode_data(data, limit)?;
        Ok(DecodedPayload {
            id: format!("{:032x}", xxh3_128(data.as_bytes())),
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
        }
    }
}

/// The ingest service: a store, the settings, and a cached inventory.
pub struct Ingestor<S> {
    store: S,
    config: IngestConfig,
    fallback_format: FlowLogFormat,
    cache: Mutex<Option<(Instant, Arc<Inventory>)>>,
}

impl<S: CounterStore> Ingestor<S> {
    pub fn new(store: S, config: IngestConfig) -> Self {
        let fallback_format = config.flow_log_format.clone().unwrap_or_default();
        Ingestor {
            store,
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

    /// Handles a Lambda event (CloudWatch Logs or Kinesis).
    pub async fn handle_value(&self, event: serde_json::Value) -> Result<Outcome, IngestError> {
        let event = FlowEvent::from_value(event)?;
        self.handle(event, OffsetDateTime::now_utc()).await
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
                let unit = DecodedPayload::decode(&data, self.config.max_decompressed_bytes)?;
                let message = LogsMessage::parse(&unit.bytes)?;
                let mut summary = self
                    .count(&[unit.id.as_str()], std::slice::from_ref(&message), now)
                    .await?;
                summary.duration_ms = started.elapsed().as_millis() as u64;
                log_summary(&summary);
                Ok(Outcome {
                    response: Reply::Summary(summary.clone()),
                    summary,
                })
            }
            FlowEvent::Kinesis { records } => {
                let mut failures: Vec<String> = Vec::new();
                let mut failed: BTreeMap<&'static str, u64> = BTreeMap::new();
                let mut reject = |seq: &str, e: DecodeError| {
                    tracing::error!(sequence_number = %seq, error = %e, "undecodable Kinesis record");
                    *failed.entry(e.kind()).or_default() += 1;
                    failures.push(seq.to_string());
                };
                let mut units: Vec<(&str, DecodedPayload)> = Vec::with_capacity(records.len());
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
                            units.push((&record.sequence_number, unit));
                        }
                        Err(e) => reject(&record.sequence_number, e),
                    }
                }
                let mut messages = Vec::with_capacity(units.len());
                let mut ids = Vec::with_capacity(units.len());
                let mut kept_sequence_numbers = Vec::with_capacity(units.len());
                for (seq, unit) in &units {
                    match LogsMessage::parse(&unit.bytes) {
                        Ok(m) => {
                            messages.push(m);
                            ids.push(unit.id.as_str());
                            kept_sequence_numbers.push(seq.to_string());
                        }
                        Err(e) => reject(seq, e),
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

    async fn count(
        &self,
        ids: &[&str],
        messages: &[LogsMessage<'_>],
        now: OffsetDateTime,
    ) -> Result<Summary, StoreError> {
        let inventory = self.inventory().await?;
        let ctx = Context {
            fallback_format: &self.fallback_format,
            default_region: &self.config.default_region,
            retention_days: self.config.retention_days,
            shared_vpc_owners: &self.config.shared_vpc_owners,
            now: now.unix_timestamp(),
        };
        let agg = aggregate(&inventory, &ctx, messages);
        let batch = agg.to_write(ids, &WritePolicy::from(&self.config), now);
        let outcome = self.store.write(&batch).await?;
        let mut summary = agg.summary.clone();
        summary.payloads = messages.len() as u64;
        summary.connections = agg.connections();
        summary.duplicates = outcome.duplicates;
        summary.days = batch.days.iter().map(|d| d.day.clone()).collect();
        Ok(summary)
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
        duration_ms = summary.duration_ms,
        "batch summary"
    );
}
