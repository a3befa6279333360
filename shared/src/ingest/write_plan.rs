//! An aggregate's counts as the store's write: grouped by day, then payload, each increment
//! with its member and whether its source is a bare address (kept exactly while its endpoint
//! has room, `docs/rules.md` "Bounds").

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use time::OffsetDateTime;

use super::aggregate::{Aggregate, ConnKey};
use crate::config::{IngestConfig, RowLimits};
use crate::day;
use crate::rules::classify::Name;
use crate::store::keys;
use crate::store::{DayWrite, Increment, PayloadWrite, WriteBatch};

/// How long what a batch writes lives, and how much an endpoint keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WritePolicy {
    pub retention_days: u32,
    pub dedup_window: Duration,
    pub limits: RowLimits,
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

impl<'a> Aggregate<'a> {
    /// The counts in the order the bounds see them (`docs/rules.md`, "Bounds"): within a
    /// payload, busier rows first, then by destination, port and source — so when a scan and
    /// real traffic share a batch, the real traffic keeps its rows, and the same batch always
    /// folds the same rows (a hash map's order is seeded per process).
    fn in_write_order(&self) -> Vec<(&ConnKey<'a>, u64)> {
        let mut rows: Vec<(&ConnKey<'a>, u64)> = self.counts.iter().map(|(k, &n)| (k, n)).collect();
        rows.sort_unstable_by_key(|&(k, n)| {
            (
                k.day,
                k.unit,
                std::cmp::Reverse(n),
                k.dest,
                k.port,
                k.source,
            )
        });
        rows
    }
}

/// How long a day's set of sources counted without a name lives after a write: the refresh
/// resolves today's and yesterday's; the names it finds live as long as the counters.
const UNNAMED_TTL: Duration = Duration::from_secs(2 * 86_400);

impl<'a> Aggregate<'a> {
    /// Turns the counts into the store's write, grouped by day, then payload.
    pub fn to_write<'w>(
        &'w self,
        unit_ids: &[&'w str],
        policy: &WritePolicy,
        now: OffsetDateTime,
    ) -> WriteBatch<'w> {
        let mut days: BTreeMap<i64, BTreeMap<u32, Vec<Increment<'w>>>> = BTreeMap::new();
        let mut touched: BTreeSet<(&str, &str)> = self.read.clone();
        for (key, count) in self.in_write_order() {
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
}
