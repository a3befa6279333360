//! The ingest path's port: a batch's write (per day, per payload, its increments), what it
//! did, how full the cache is.

use std::future::Future;

use super::{ParkedLines, RowLimits, StoreError};
use crate::model::InventorySnapshot;

/// Increments of one payload (a CloudWatch Logs event or one Kinesis record) for one day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayloadWrite<'a> {
    /// Stable id of the payload (hash of its bytes): the idempotency key.
    pub id: &'a str,
    pub increments: Vec<Increment<'a>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Increment<'a> {
    pub account: &'a str,
    pub region: &'a str,
    /// `source\tdest\tport`, see [`keys::connection_member`].
    pub member: String,
    pub count: u64,
    /// A source known only by its address: kept exactly while its endpoint has room
    /// ([`RowLimits`]), else folded into its prefix, else into `other`; and listed for
    /// reverse DNS. `None`: a named source, never folded.
    pub bare_ip: Option<std::net::IpAddr>,
}

/// Everything one batch writes for one UTC day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayWrite<'a> {
    /// `YYYY-MM-DD`
    pub day: String,
    /// Unix time at which the day's counters and index expire (the retention).
    pub expire_at: i64,
    /// Seconds the day's redelivery bookkeeping (`seen`) lives after this write: the dedup
    /// window, on Redis's own clock.
    pub seen_ttl_secs: u64,
    /// Seconds the day's `unnamed` set lives after this write (the refresh reads it for two days).
    pub unnamed_ttl_secs: u64,
    pub payloads: Vec<PayloadWrite<'a>>,
}

/// A batch's write, borrowing the names it counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch<'a> {
    pub days: Vec<DayWrite<'a>>,
    /// (account, region) pairs that got counts: their last update is now.
    pub touched: Vec<(&'a str, &'a str)>,
    pub now_rfc3339: String,
    pub limits: RowLimits,
}

impl WriteBatch<'_> {
    /// Nothing to count and no account/region read: no write at all.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty() && self.touched.is_empty()
    }

    /// The rows (increments) the batch writes, over every day and payload.
    pub fn rows(&self) -> u64 {
        self.days
            .iter()
            .flat_map(|d| &d.payloads)
            .map(|p| p.increments.len() as u64)
            .sum()
    }

    /// The records the batch adds, over every day, payload and connection.
    pub fn records(&self) -> u64 {
        self.days
            .iter()
            .flat_map(|d| &d.payloads)
            .flat_map(|p| &p.increments)
            .map(|i| i.count)
            .sum()
    }
}

/// What a write did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// (payload, day) parts applied now.
    pub applied: u64,
    /// (payload, day) parts already counted before: skipped.
    pub duplicates: u64,
}

/// How full one cache node is: bytes used, and the node's own limit where it reports one
/// (`maxmemory`; a serverless cache may not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryUse {
    pub used: u64,
    pub limit: Option<u64>,
}

/// The ingest path's view of the store: load the inventory, see how full it is, write a batch,
/// park the lines of interfaces not found yet.
pub trait CounterStore: ParkedLines + Send + Sync {
    fn load_inventory(&self) -> impl Future<Output = Result<InventorySnapshot, StoreError>> + Send;
    /// Each node's memory use (a cluster's primaries evict on their own).
    fn memory(&self) -> impl Future<Output = Result<Vec<MemoryUse>, StoreError>> + Send;
    fn write(
        &self,
        batch: &WriteBatch,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;
}
