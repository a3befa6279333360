//! A batch's figures: what the summary log line and the EMF metrics say.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

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
    /// Lines of interfaces the refresh has not found yet, parked to be counted once it has
    /// (`docs/rules.md`, "New interfaces"); they are among `skipped.unknown_interface`.
    pub parked: u64,
    /// Such lines not parked: the account/region's bound was reached, or the store failed.
    pub park_refused: u64,
    /// UTC days (`YYYY-MM-DD`) that got counts.
    pub days: BTreeSet<String>,
    pub duration_ms: u64,
}

impl Summary {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// One more thing not counted, by reason (`skipped`).
    pub fn skip(&mut self, why: &'static str) {
        *self.skipped.entry(why).or_default() += 1;
    }

    /// One more payload that could not be counted now or ever, by reason (`failed_payloads`).
    pub fn fail(&mut self, why: &'static str) {
        *self.failed_payloads.entry(why).or_default() += 1;
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
        self.parked += other.parked;
        self.park_refused += other.park_refused;
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
            ("Parked", self.parked),
            ("ParkRefused", self.park_refused),
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
        assert_eq!(metrics.len(), 15);
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
