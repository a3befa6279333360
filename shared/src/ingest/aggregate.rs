//! The pure middle of ingest: a batch's messages → parsed, classified, counted in memory →
//! the one write. Borrows everything, no I/O, no clock (the day and "now" are handed in).

use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use foldhash::{HashMap as FastMap, HashSet as FastSet};
use serde::Serialize;
use time::OffsetDateTime;

use super::inventory::{Interface, Inventory};
use super::payload::LogsMessage;
use crate::config::{IngestConfig, SourceLimits};
use crate::day;
use crate::model::is_region;
use crate::rules::classify::{self, Destination, Name};
use crate::rules::flowlog::{Action, FlowLogFormat, LogStatus};
use crate::rules::reason::{reasons, Flag, Reject};
use crate::store::keys;
use crate::store::{DayWrite, Increment, PayloadWrite, WriteBatch};

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
    /// Counted lines with something to look at, by reason (`account_mismatch`: the record's
    /// `account-id` is not the interface's owner; it is counted under the owner).
    pub flagged: BTreeMap<&'static str, u64>,
    /// Distinct connections written.
    pub connections: u64,
    /// (payload, day) parts that had been counted before.
    pub duplicates: u64,
    /// Payloads that could not be decoded, by reason.
    pub failed_payloads: BTreeMap<&'static str, u64>,
    /// Of those, the payloads kept whole in the dead-letter store (acknowledged, not retried);
    /// the others failed the event or were reported as Kinesis item failures.
    pub dead_lettered: u64,
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
        self.dead_lettered += other.dead_lettered;
        self.duration_ms += other.duration_ms;
        self.days.extend(other.days.iter().cloned());
        for (map, from) in [
            (&mut self.rejected, &other.rejected),
            (&mut self.skipped, &other.skipped),
            (&mut self.flagged, &other.flagged),
            (&mut self.failed_payloads, &other.failed_payloads),
        ] {
            for (k, v) in from {
                *map.entry(k).or_default() += v;
            }
        }
    }

    /// The same figures as CloudWatch Embedded Metric Format, one JSON object to print.
    /// Every reason a line was rejected, skipped or flagged, or a payload failed, is a metric of
    /// its own (`Rejected.start_out_of_range`, `Skipped.unknown_interface`,
    /// `Flagged.account_mismatch`, …) so that data loss can be alarmed on.
    pub fn to_emf(&self, timestamp_ms: i64) -> serde_json::Value {
        use crate::metrics::Unit::{Count, Milliseconds};
        let mut metrics: Vec<(String, crate::metrics::Unit, u64)> = [
            ("Payloads", self.payloads),
            ("Records", self.records),
            ("Accepted", self.accepted),
            ("Counted", self.counted),
            ("Rejected", self.rejected_total()),
            ("Connections", self.connections),
            ("Duplicates", self.duplicates),
            ("FailedPayloads", self.failed_payloads.values().sum()),
            ("DeadLettered", self.dead_lettered),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), Count, value))
        .collect();
        for (prefix, reasons) in [
            ("Rejected", &self.rejected),
            ("Skipped", &self.skipped),
            ("Flagged", &self.flagged),
            ("FailedPayloads", &self.failed_payloads),
        ] {
            for (reason, n) in reasons {
                metrics.push((format!("{prefix}.{reason}"), Count, *n));
            }
        }
        metrics.push(("DurationMs".into(), Milliseconds, self.duration_ms));
        crate::metrics::document("ingest", timestamp_ms, &metrics)
    }
}

/// How long what a batch writes lives, and how much an endpoint keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WritePolicy {
    pub retention_days: u32,
    pub dedup_window: Duration,
    pub limits: SourceLimits,
}

impl From<&IngestConfig> for WritePolicy {
    fn from(config: &IngestConfig) -> Self {
        WritePolicy {
            retention_days: config.retention_days,
            dedup_window: config.dedup_window,
            limits: config.limits,
        }
    }
}

/// How long a day's set of sources counted without a name lives after a write: the refresh
/// resolves today's and yesterday's; the names it finds live as long as the counters.
pub const UNNAMED_TTL: Duration = Duration::from_secs(2 * 86_400);

reasons! {
    /// Why a parsed line does not count: a counter of the summary's `skipped`, by its name.
    enum Skip {
        FormatLacksAction => "format_lacks_action",
        NotAccepted => "not_accepted",
        MissingFields => "missing_fields",
        UnknownInterface => "unknown_interface",
        ForeignInterface => "foreign_interface",
        PrivateSource => "private_source",
        S3ToInstance => "s3_to_instance",
        DroppedDestination => "dropped_destination",
        OlderThanRetention => "older_than_retention",
    }
}

/// A connection as counted in memory; everything borrowed from the inventory and the settings,
/// nothing from the messages (a message's bytes may go as soon as it is counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ConnKey<'a> {
    unit: u32,
    day: i64,
    account: &'a str,
    region: Region<'a>,
    source: Name<'a>,
    dest: Name<'a>,
    port: u16,
}

/// A counted connection's region: the interface's or the setting's, or one a record named
/// (a checked region name, kept by the aggregate: the record's bytes do not outlive it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Region<'a> {
    Borrowed(&'a str),
    Named(u32),
}

/// The in-memory counts of a batch.
#[derive(Debug, Default)]
pub struct Aggregate<'a> {
    /// Regions named by records (rare: only for an interface whose region is not known).
    record_regions: Vec<Box<str>>,
    // Every accepted record hashes a key, partly chosen by outsiders (source addresses):
    // foldhash is fast and seeded per process, so crafted addresses cannot force collisions.
    counts: FastMap<ConnKey<'a>, u64>,
    /// Account/regions whose interfaces' records were read, counted or not: their
    /// `last_update` moves (a quiet account with healthy flow logs is not stale).
    read: BTreeSet<(&'a str, &'a str)>,
    pub summary: Summary,
}

/// What ingest needs besides the inventory: format fallback, region fallback, retention, clock.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub fallback_format: &'a FlowLogFormat,
    pub default_region: &'a str,
    pub retention_days: u32,
    /// Log owners that may report other accounts' interfaces (shared VPCs).
    pub shared_vpc_owners: &'a [String],
    /// Now, in seconds since the epoch: a line's `start` must lie within
    /// [now − retention − 1 day, now + 1 day], and days older than the retention are not kept.
    pub now: i64,
}

/// Parses, classifies and counts the messages of a batch (payload `unit` = its position).
/// Pure: no I/O, no clock.
pub fn aggregate<'a>(
    inventory: &'a Inventory,
    ctx: &Context<'a>,
    messages: &[LogsMessage<'_>],
) -> Aggregate<'a> {
    let mut agg = Aggregate::default();
    for (unit, message) in messages.iter().enumerate() {
        agg.add(inventory, ctx, unit as u32, message);
    }
    agg
}

impl<'a> Aggregate<'a> {
    /// Parses, classifies and counts one more message of the batch as payload `unit`. Borrows
    /// nothing of the message: its bytes may go once this returns, so a batch of many payloads
    /// holds one decoded payload at a time.
    pub fn add(
        &mut self,
        inventory: &'a Inventory,
        ctx: &Context<'a>,
        unit: u32,
        message: &LogsMessage<'_>,
    ) {
        let agg = self;
        let oldest_day = ctx.now.div_euclid(86_400) - i64::from(ctx.retention_days);
        let earliest = ctx.now - (i64::from(ctx.retention_days) + 1) * 86_400;
        let latest = ctx.now + 86_400;
        let mut last_read: Option<(&str, &str)> = None;
        if message.is_control() {
            agg.summary.control_messages += 1;
            return;
        }
        // Formats are keyed `account:log-group`: log group names repeat across accounts.
        let format = match &message.format {
            Some(format) => format,
            None => inventory
                .formats
                .get(&format!("{}:{}", message.owner, message.log_group))
                .unwrap_or(ctx.fallback_format),
        };
        let mut skips = [0u64; Skip::ALL.len()];
        for event in &message.log_events {
            let line = event.message.as_ref();
            // One event carries one record; tolerate several lines per event.
            for line in line.lines().filter(|l| !l.trim().is_empty()) {
                agg.summary.records += 1;
                let record = match format.parse_line(line) {
                    Ok(r) => r,
                    Err(e) => {
                        *agg.summary.rejected.entry(e.kind().name()).or_default() += 1;
                        continue;
                    }
                };
                // The record's time, checked before any date is worked out from it: a crafted
                // `start` far in the past or future is rejected, never counted on a bogus day.
                let seconds = record.start.unwrap_or(event.timestamp / 1000);
                let seconds = match i64::try_from(seconds) {
                    Ok(s) if (earliest..=latest).contains(&s) => s,
                    _ => {
                        *agg.summary
                            .rejected
                            .entry(Reject::StartOutOfRange.name())
                            .or_default() += 1;
                        continue;
                    }
                };
                // Counted in an array (about half the lines of a busy estate are skipped);
                // the summary's map gets the totals once the message is done.
                let mut skip = |why: Skip| skips[why as usize] += 1;
                // The interface, as the refresh found it; its account/region was read, whatever
                // becomes of the record (unless the log may not speak for it).
                let interface = record
                    .interface_id
                    .and_then(|id| inventory.interfaces.get(id));
                let legitimate = |i: &Interface| {
                    i.account_id == message.owner.as_ref()
                        || ctx
                            .shared_vpc_owners
                            .iter()
                            .any(|o| o == message.owner.as_ref())
                };
                if let Some(i) = interface.filter(|i| legitimate(i)) {
                    if last_read != Some((i.account_id.as_str(), i.region.as_str())) {
                        let pair = (i.account_id.as_str(), i.region.as_str());
                        agg.read.insert(pair);
                        last_read = Some(pair);
                    }
                }
                let ok_status = match record.log_status {
                    Some(status) => status == LogStatus::Ok,
                    None => !format.has_log_status(),
                };
                if record.action != Some(Action::Accept) || !ok_status {
                    if !format.has_action() {
                        skip(Skip::FormatLacksAction);
                    } else {
                        skip(Skip::NotAccepted);
                    }
                    continue;
                }
                agg.summary.accepted += 1;
                let (Some(_), Some(src), Some(dst), Some(port)) = (
                    record.interface_id,
                    record.srcaddr,
                    record.dstaddr,
                    record.dstport,
                ) else {
                    skip(Skip::MissingFields);
                    continue;
                };
                let Some(interface) = interface else {
                    skip(Skip::UnknownInterface);
                    continue;
                };
                // The message's owner is set by CloudWatch Logs, not by whoever wrote the line:
                // a log group may speak only for its own account's interfaces, or for any
                // account's when its owner runs a shared VPC.
                if !legitimate(interface) {
                    skip(Skip::ForeignInterface);
                    continue;
                }
                if classify::is_private(src) {
                    skip(Skip::PrivateSource);
                    continue;
                }
                // The S3 rule, where AWS says so itself: S3 answering an instance on a high
                // port is not a connection (the address-and-name half applies at read time).
                if interface.instance && record.pkt_src_aws_service == Some("S3") {
                    skip(Skip::S3ToInstance);
                    continue;
                }
                let dest = match interface.destination(dst) {
                    Destination::Dropped(_) => {
                        skip(Skip::DroppedDestination);
                        continue;
                    }
                    Destination::Named(name) => Name::Named(name.as_str()),
                    Destination::DstAddr => Name::Ip(dst),
                };
                let day = seconds.div_euclid(86_400);
                if day < oldest_day {
                    skip(Skip::OlderThanRetention);
                    continue;
                }
                let source =
                    classify::source_name(src, &inventory.networks, &inventory.own_addresses);
                // The interface's owner, as the refresh found it: a record cannot name the
                // account it is counted under. AWS writes `unknown` for NLB and VPC endpoint
                // interfaces; anything else that disagrees is counted and flagged.
                let account = interface.account_id.as_str();
                if record
                    .account_id
                    .is_some_and(|a| a != "unknown" && a != account)
                {
                    *agg.summary
                        .flagged
                        .entry(Flag::AccountMismatch.name())
                        .or_default() += 1;
                }
                // The interface's region, else the record's if it is a region's name (it names
                // keys), else the setting's.
                let region = if !interface.region.is_empty() {
                    Region::Borrowed(interface.region.as_str())
                } else if let Some(named) = record.region.filter(|r| is_region(r)) {
                    agg.record_region(named)
                } else if !ctx.default_region.is_empty() {
                    Region::Borrowed(ctx.default_region)
                } else {
                    Region::Borrowed("unknown")
                };
                let key = ConnKey {
                    unit,
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
        for (why, n) in Skip::ALL.into_iter().zip(skips) {
            if n > 0 {
                *agg.summary.skipped.entry(why.name()).or_default() += n;
            }
        }
    }

    /// A region a record named, kept by the aggregate.
    fn record_region(&mut self, name: &str) -> Region<'a> {
        let at = match self.record_regions.iter().position(|r| **r == *name) {
            Some(at) => at,
            None => {
                self.record_regions.push(name.into());
                self.record_regions.len() - 1
            }
        };
        Region::Named(at as u32)
    }

    fn region(&self, region: Region<'a>) -> &str {
        match region {
            Region::Borrowed(name) => name,
            Region::Named(at) => &self.record_regions[at as usize],
        }
    }

    /// Turns the counts into the store's write, grouped by day, then payload.
    pub fn to_write<'w>(
        &'w self,
        unit_ids: &[&'w str],
        policy: &WritePolicy,
        now: OffsetDateTime,
    ) -> WriteBatch<'w> {
        let mut days: BTreeMap<i64, BTreeMap<u32, Vec<Increment<'w>>>> = BTreeMap::new();
        let mut touched: BTreeSet<(&str, &str)> = self.read.clone();
        for (key, &count) in &self.counts {
            let region = self.region(key.region);
            touched.insert((key.account, region));
            days.entry(key.day)
                .or_default()
                .entry(key.unit)
                .or_default()
                .push(Increment {
                    account: key.account,
                    region,
                    member: keys::connection_member(key.source, key.dest, key.port),
                    count,
                    bare_ip: match key.source {
                        Name::Ip(ip) => Some(ip),
                        Name::Named(_) => None,
                    },
                });
        }
        // `aggregate` admits only days near now, which are always dates.
        let days = days
            .into_iter()
            .filter_map(|(day, units)| Some((day::from_epoch_day(day)?, day, units)))
            .map(|(date, day, units)| DayWrite {
                day: day::day_string(date),
                expire_at: (day + 1 + i64::from(policy.retention_days)) * 86_400,
                seen_ttl_secs: policy.dedup_window.as_secs(),
                unnamed_ttl_secs: UNNAMED_TTL.as_secs(),
                payloads: units
                    .into_iter()
                    .map(|(unit, increments)| PayloadWrite {
                        id: unit_ids[unit as usize],
                        increments,
                    })
                    .collect(),
            })
            .collect();
        let touched: Vec<(&str, &str)> = touched.into_iter().collect();
        WriteBatch {
            days,
            touched,
            now_rfc3339: day::rfc3339_micros(now),
            limits: policy.limits,
        }
    }

    /// Distinct (account, region, day, source, dest, port) in the batch.
    pub fn connections(&self) -> u64 {
        if self.counts.keys().all(|k| k.unit == 0) {
            // One payload (every CloudWatch Logs event): each key is already distinct.
            return self.counts.len() as u64;
        }
        let mut distinct: FastSet<_> = FastSet::default();
        distinct.reserve(self.counts.len());
        distinct.extend(
            self.counts
                .keys()
                .map(|k| (k.day, k.account, k.region, k.source, k.dest, k.port)),
        );
        distinct.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The skip counters are an array indexed by the reason: `ALL` must list every reason once,
    /// in its index's place, each with its own name.
    #[test]
    fn skip_reasons_are_listed_in_index_order_with_distinct_names() {
        for (i, why) in Skip::ALL.into_iter().enumerate() {
            assert_eq!(*why as usize, i, "{why:?}");
        }
        let names: BTreeSet<&str> = Skip::ALL.iter().map(|w| w.name()).collect();
        assert_eq!(names.len(), Skip::ALL.len());
    }

    #[test]
    fn emf_declares_every_metric_it_carries() {
        let mut summary = Summary {
            records: 10,
            counted: 4,
            ..Summary::default()
        };
        summary.rejected.insert("field_count", 2);
        summary.skipped.insert("unknown_interface", 3);
        summary.flagged.insert("account_mismatch", 1);
        let doc = summary.to_emf(1_795_780_800_000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ConnectionTracker");
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_780_800_000i64);
        // Every dimension and every declared metric must be a top-level member (EMF spec).
        for dim in directive["Dimensions"][0].as_array().unwrap() {
            assert!(doc[dim.as_str().unwrap()].is_string());
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 13);
        assert_eq!(doc["Skipped.unknown_interface"], 3);
        assert_eq!(doc["Flagged.account_mismatch"], 1);
        assert_eq!(doc["Rejected.field_count"], 2);
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
