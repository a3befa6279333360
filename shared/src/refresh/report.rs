//! What a refresh run did: each account/region's outcome, the run's figures and its metrics.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use super::discovery::DiscoveryError;
use super::ip_ranges;
use crate::day::rfc3339_micros;
use crate::model::{pair_key, pair_text, RefreshFailure};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegionFailure {
    pub account_id: String,
    pub region: String,
    pub kind: &'static str,
    pub error: String,
}

/// The function's result: what was refreshed, what failed and why, and the figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    pub accounts: usize,
    pub disabled_accounts: usize,
    /// `account/region` refreshed.
    pub refreshed: Vec<String>,
    pub failed: Vec<RegionFailure>,
    pub public_interfaces: usize,
    pub own_addresses: usize,
    pub formats: usize,
    /// Sum over account/regions of the time each took: with `wall_ms`, shows the concurrency.
    pub sum_region_ms: u64,
    pub wall_ms: u64,
    pub dns_resolved: usize,
    pub dns_without_name: usize,
    pub dns_pending: usize,
    /// `account/region` not started because the run's deadline came first: the stalest go
    /// first next run, so every one is refreshed within a bounded number of runs.
    pub deferred: Vec<String>,
    /// Account/regions whose describe timed out and were tried once more in the same run.
    pub retried: usize,
    /// `account/region` no longer monitored (account removed or disabled, region dropped):
    /// their entries were removed from the maps.
    pub dropped: Vec<String>,
    /// The S3 service's prefixes of AWS's ranges (the S3 rule): filled by [`ip_ranges::refresh_s3_ranges`].
    pub s3_ranges: ip_ranges::RangesReport,
}

impl RefreshReport {
    /// The run's figures as CloudWatch Embedded Metric Format (`RegionsFailed` is the one to
    /// alarm on); `aws_calls` is what the discovery made during the run.
    pub fn to_emf(&self, aws_calls: u64, timestamp_ms: i64) -> serde_json::Value {
        use crate::metrics::Unit::{Count, Milliseconds};
        let metrics = [
            ("RegionsRefreshed", Count, self.refreshed.len() as u64),
            ("RegionsFailed", Count, self.failed.len() as u64),
            ("PublicInterfaces", Count, self.public_interfaces as u64),
            ("AwsCalls", Count, aws_calls),
            ("RefreshMs", Milliseconds, self.wall_ms),
        ];
        crate::metrics::document("refresh", timestamp_ms, &metrics)
    }
}

/// One account/region's outcome.
pub(super) struct RegionRun {
    pub(super) account: String,
    pub(super) region: String,
    pub(super) elapsed: Duration,
    /// `None`: not started, the deadline was too near.
    pub(super) result: Option<Result<RegionCounts, RegionError>>,
}

/// What one account/region's refresh wrote.
pub(super) struct RegionCounts {
    pub(super) interfaces: usize,
    pub(super) addresses: usize,
    pub(super) formats: usize,
}

/// Why one account/region's refresh failed: the kind `/accounts` shows, and AWS's or Redis's
/// words.
pub(super) struct RegionError {
    pub(super) kind: &'static str,
    pub(super) error: String,
}

impl From<DiscoveryError> for RegionError {
    fn from(e: DiscoveryError) -> Self {
        RegionError {
            kind: e.kind(),
            error: e.to_string(),
        }
    }
}

impl RefreshReport {
    /// One account/region's outcome into the figures.
    pub(super) fn add(&mut self, run: RegionRun) {
        self.sum_region_ms += run.elapsed.as_millis() as u64;
        let Some(result) = run.result else {
            self.deferred.push(pair_text(&run.account, &run.region));
            return;
        };
        match result {
            Ok(counts) => {
                self.refreshed.push(pair_text(&run.account, &run.region));
                self.public_interfaces += counts.interfaces;
                self.own_addresses += counts.addresses;
                self.formats += counts.formats;
            }
            Err(RegionError { kind, error }) => {
                tracing::error!(account = %run.account, region = %run.region, kind, %error, "refresh failed; previous maps kept");
                self.failed.push(RegionFailure {
                    account_id: run.account,
                    region: run.region,
                    kind,
                    error,
                });
            }
        }
    }

    /// The second try of the account/regions that timed out: each replaces its failure.
    pub(super) fn retry(&mut self, runs: Vec<RegionRun>) {
        for run in runs {
            if run.result.is_none() {
                continue; // no time left: its first failure stands
            }
            self.retried += 1;
            self.failed.retain(|f| {
                (f.account_id.as_str(), f.region.as_str()) != (&run.account, &run.region)
            });
            self.add(run);
        }
    }

    /// What `/accounts` shows of the run: failures, until the account/region refreshes again
    /// (`replace_region` clears its failure with its new maps).
    pub(super) fn failures_to_show(&self) -> Vec<(String, RefreshFailure)> {
        let at = rfc3339_micros(OffsetDateTime::now_utc());
        self.failed
            .iter()
            .map(|f| {
                (
                    pair_key(&f.account_id, &f.region),
                    RefreshFailure {
                        at: at.clone(),
                        kind: f.kind.to_string(),
                        error: f.error.chars().take(300).collect(),
                    },
                )
            })
            .collect()
    }
}
