//! The ingest path, independent of Lambda: event → payloads → records → counts → one write.
//!
//! [`aggregate`] is pure (no I/O) and borrows everything; [`Ingestor`] adds the store, the
//! inventory cache and the failure semantics of each event shape.

pub mod inventory;
pub mod payload;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use foldhash::{HashMap as FastMap, HashSet as FastSet};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use xxhash_rust::xxh3::xxh3_128;

use crate::config::IngestConfig;
use crate::day;
use crate::rules::classify::{self, Destination, Name};
use crate::rules::flowlog::{Action, FlowLogFormat, LogStatus};
use crate::store::keys;
use crate::store::{CounterStore, DayWrite, Increment, StoreError, UnitWrite, WriteBatch};
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
pub struct Unit {
    /// Hash of the encoded payload: the same delivery twice has the same id.
    pub id: String,
    pub bytes: Vec<u8>,
}

impl Unit {
    pub fn decode(data: &str, limit: usize) -> Result<Unit, DecodeError> {
        let bytes = payload::decode_data(data, limit)?;
        Ok(Unit {
            id: format!("{:032x}", xxh3_128(data.as_bytes())),
            bytes,
        })
    }
}

/// Counts of one batch, for the summary log line and the metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Payloads decoded (CloudWatch Logs events or Kinesis records).
    pub payloads: u64,
    pub control_messages: u64,
    /// Flow-log lines read.
    pub records: u64,
    /// Lines with ACCEPT and OK.
    pub accepted: u64,
    /// Lines that incremented a counter.
    pub counted: u64,
    /// Lines that could not be parsed, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Parsed lines that do not count, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Distinct connections written.
    pub connections: u64,
    /// (payload, day) parts that had been counted before.
    pub duplicates: u64,
    /// Payloads that could not be decoded, by reason (Kinesis; reported as item failures).
    pub failed_payloads: BTreeMap<&'static str, u64>,
    /// UTC days (`YYYY-MM-DD`) that got counts.
    pub days: BTreeSet<String>,
    pub duration_ms: u64,
}

impl Summary {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Adds another batch's figures (durations add up too).
    pub fn merge(&mut self, other: &Summary) {
        self.payloads += other.payloads;
        self.control_messages += other.control_messages;
        self.records += other.records;
        self.accepted += other.accepted;
        self.counted += other.counted;
        self.connections += other.connections;
        self.duplicates += other.duplicates;
        self.duration_ms += other.duration_ms;
        self.days.extend(other.days.iter().cloned());
        for (map, from) in [
            (&mut self.rejected, &other.rejected),
            (&mut self.skipped, &other.skipped),
            (&mut self.failed_payloads, &other.failed_payloads),
        ] {
            for (k, v) in from {
                *map.entry(k).or_default() += v;
            }
        }
    }

    /// The same figures as CloudWatch Embedded Metric Format, one JSON object to print.
    pub fn to_emf(&self, timestamp_ms: i64) -> serde_json::Value {
        use crate::metrics::Unit::{Count, Milliseconds};
        crate::metrics::document(
            "ingest",
            timestamp_ms,
            &[
                ("Payloads", Count, self.payloads),
                ("Records", Count, self.records),
                ("Accepted", Count, self.accepted),
                ("Counted", Count, self.counted),
                ("Rejected", Count, self.rejected_total()),
                ("Connections", Count, self.connections),
                ("Duplicates", Count, self.duplicates),
                ("FailedPayloads", Count, self.failed_payloads.values().sum()),
                ("DurationMs", Milliseconds, self.duration_ms),
            ],
        )
    }
}

/// A connection as counted in memory; everything borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ConnKey<'a> {
    unit: u32,
    day: i64,
    account: &'a str,
    region: &'a str,
    source: Name<'a>,
    dest: Name<'a>,
    port: u16,
}

/// The in-memory counts of a batch.
#[derive(Debug, Default)]
pub struct Aggregate<'a> {
    // Every accepted record hashes a key, partly chosen by outsiders (source addresses):
    // foldhash is fast and seeded per process, so crafted addresses cannot force collisions.
    counts: FastMap<ConnKey<'a>, u64>,
    unnamed: FastSet<(i64, IpAddr)>,
    pub summary: Summary,
}

/// What ingest needs besides the inventory: format fallback, region fallback, retention, clock.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub fallback_format: &'a FlowLogFormat,
    pub default_region: &'a str,
    pub retention_days: u32,
    /// Days since the epoch, today (UTC).
    pub today: i64,
}

/// Decodes, parses, classifies and counts the messages of a batch. Pure: no I/O, no clock.
pub fn aggregate<'a>(
    inventory: &'a Inventory,
    ctx: &Context<'a>,
    messages: &'a [LogsMessage<'a>],
) -> Aggregate<'a> {
    let mut agg = Aggregate::default();
    let oldest_day = ctx.today - i64::from(ctx.retention_days);
    for (unit, message) in messages.iter().enumerate() {
        if message.is_control() {
            agg.summary.control_messages += 1;
            continue;
        }
        // Formats are keyed `account:log-group`: log group names repeat across accounts.
        let format = inventory
            .formats
            .get(&format!("{}:{}", message.owner, message.log_group))
            .unwrap_or(ctx.fallback_format);
        for event in &message.log_events {
            let line = event.message.as_ref();
            // One event carries one record; tolerate several lines per event.
            for line in line.lines().filter(|l| !l.trim().is_empty()) {
                agg.summary.records += 1;
                let record = match format.parse_line(line) {
                    Ok(r) => r,
                    Err(e) => {
                        *agg.summary.rejected.entry(e.kind()).or_default() += 1;
                        continue;
                    }
                };
                let skip = |agg: &mut Aggregate<'a>, why: &'static str| {
                    *agg.summary.skipped.entry(why).or_default() += 1;
                };
                let ok_status = match record.log_status {
                    Some(status) => status == LogStatus::Ok,
                    None => !format.has_log_status(),
                };
                if record.action != Some(Action::Accept) || !ok_status {
                    if !format.has_action() {
                        skip(&mut agg, "format_lacks_action");
                    } else {
                        skip(&mut agg, "not_accepted");
                    }
                    continue;
                }
                agg.summary.accepted += 1;
                let (Some(interface_id), Some(src), Some(dst), Some(port)) = (
                    record.interface_id,
                    record.srcaddr,
                    record.dstaddr,
                    record.dstport,
                ) else {
                    skip(&mut agg, "missing_fields");
                    continue;
                };
                let Some(interface) = inventory.interfaces.get(interface_id) else {
                    skip(&mut agg, "unknown_interface");
                    continue;
                };
                if classify::is_private(src) {
                    skip(&mut agg, "private_source");
                    continue;
                }
                let dest = match interface.destination(dst) {
                    Destination::Dropped(_) => {
                        skip(&mut agg, "dropped_destination");
                        continue;
                    }
                    Destination::Named(name) => Name::Named(name.as_str()),
                    Destination::DstAddr => Name::Ip(dst),
                };
                let seconds = record.start.unwrap_or(event.timestamp / 1000);
                let day = day::epoch_day(seconds);
                if day < oldest_day {
                    skip(&mut agg, "older_than_retention");
                    continue;
                }
                let source =
                    classify::source_name(src, &inventory.networks, &inventory.own_addresses);
                if let Name::Ip(ip) = source {
                    agg.unnamed.insert((day, ip));
                }
                let account = match record.account_id {
                    Some(a) if a != "unknown" => a,
                    _ => interface.account_id.as_str(),
                };
                let region = [
                    Some(interface.region.as_str()),
                    record.region,
                    Some(ctx.default_region),
                ]
                .into_iter()
                .flatten()
                .find(|r| !r.is_empty())
                .unwrap_or("unknown");
                let key = ConnKey {
                    unit: unit as u32,
                    day,
                    account,
                    region,
                    source,
                    dest,
                    port,
                };
                *agg.counts.entry(key).or_default() += 1;
                agg.summary.counted += 1;
            }
        }
    }
    agg
}

impl Aggregate<'_> {
    /// Turns the counts into the store's write, grouped by day, then payload.
    pub fn to_write<'w>(
        &'w self,
        unit_ids: &[&'w str],
        retention_days: u32,
        now: OffsetDateTime,
    ) -> WriteBatch<'w> {
        let mut days: BTreeMap<i64, BTreeMap<u32, Vec<Increment<'w>>>> = BTreeMap::new();
        let mut touched: HashSet<(&str, &str)> = HashSet::new();
        for (key, &count) in &self.counts {
            touched.insert((key.account, key.region));
            days.entry(key.day)
                .or_default()
                .entry(key.unit)
                .or_default()
                .push(Increment {
                    account: key.account,
                    region: key.region,
                    member: keys::connection_member(key.source, key.dest, key.port),
                    count,
                });
        }
        let mut unnamed_by_day: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (day, ip) in &self.unnamed {
            unnamed_by_day.entry(*day).or_default().push(ip.to_string());
        }
        let days = days
            .into_iter()
            .map(|(day, units)| DayWrite {
                day: day::day_string(day::from_epoch_day(day)),
                expire_at: (day + 1 + i64::from(retention_days)) * 86_400,
                units: units
                    .into_iter()
                    .map(|(unit, increments)| UnitWrite {
                        id: unit_ids[unit as usize],
                        increments,
                    })
                    .collect(),
                unnamed: unnamed_by_day.remove(&day).unwrap_or_default(),
            })
            .collect();
        let mut touched: Vec<(&str, &str)> = touched.into_iter().collect();
        touched.sort();
        WriteBatch {
            days,
            touched,
            now_rfc3339: day::rfc3339_micros(now),
        }
    }

    /// Distinct (account, region, day, source, dest, port) in the batch.
    pub fn connections(&self) -> u64 {
        if self.counts.keys().all(|k| k.unit == 0) {
            // One payload (every CloudWatch Logs event): each key is already distinct.
            return self.counts.len() as u64;
        }
        let distinct: HashSet<_> = self
            .counts
            .keys()
            .map(|k| (k.day, k.account, k.region, k.source, k.dest, k.port))
            .collect();
        distinct.len() as u64
    }
}

/// The result of handling one event: the figures, and what the function answers Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub summary: Summary,
    pub response: Response,
}

/// The function's answer: the summary for CloudWatch Logs events, the partial batch response
/// (`batchItemFailures`) for Kinesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Summary(Summary),
    Kinesis(KinesisEventResponse),
}

impl Outcome {
    /// Kinesis records reported as failed.
    pub fn item_failures(&self) -> Vec<&str> {
        match &self.response {
            Response::Summary(_) => Vec::new(),
            Response::Kinesis(r) => r
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
                let unit = Unit::decode(&data, self.config.max_decompressed_bytes)?;
                let message = LogsMessage::parse(&unit.bytes)?;
                let mut summary = self
                    .count(&[unit.id.as_str()], std::slice::from_ref(&message), now)
                    .await?;
                summary.duration_ms = started.elapsed().as_millis() as u64;
                log_summary(&summary);
                Ok(Outcome {
                    response: Response::Summary(summary.clone()),
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
                let mut units: Vec<(&str, Unit)> = Vec::with_capacity(records.len());
                for record in &records {
                    match Unit::decode(&record.data, self.config.max_decompressed_bytes) {
                        Ok(unit) => units.push((&record.sequence_number, unit)),
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
                    response: Response::Kinesis(response),
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
            today: now.unix_timestamp().div_euclid(86_400),
        };
        let agg = aggregate(&inventory, &ctx, messages);
        let batch = agg.to_write(ids, self.config.retention_days, now);
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
        connections = summary.connections,
        duplicates = summary.duplicates,
        failed_payloads = ?summary.failed_payloads,
        duration_ms = summary.duration_ms,
        "batch summary"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_declares_every_metric_it_carries() {
        let mut summary = Summary {
            records: 10,
            counted: 4,
            ..Summary::default()
        };
        summary.rejected.insert("field_count", 2);
        let doc = summary.to_emf(1_795_780_800_000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ConnectionTracker");
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_780_800_000i64);
        // Every dimension and every declared metric must be a top-level member (EMF spec).
        for dim in directive["Dimensions"][0].as_array().unwrap() {
            assert!(doc[dim.as_str().unwrap()].is_string());
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 9);
        for m in metrics {
            assert!(doc[m["Name"].as_str().unwrap()].is_u64(), "{m}");
        }
        assert_eq!(
            (
                doc["Records"].as_u64(),
                doc["Counted"].as_u64(),
                doc["Rejected"].as_u64()
            ),
            (Some(10), Some(4), Some(2))
        );
    }
}
