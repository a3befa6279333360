//! The store: one port (trait) per use case — [`CounterStore`] for ingest, [`RefreshStore`] for
//! the refresh, [`ReadStore`] for the API, [`ArchiveMarks`], [`ClosedDayRows`] and [`EvidenceSink`]
//! for the evidence archive, [`ObjectSource`] for flow logs in S3, [`DeadLetters`] ([`dead_letter`]) for
//! payloads that can never be counted, [`ParkedLines`] ([`parking`]) for lines of interfaces not
//! found yet — and the adapters behind them: Redis
//! (`redis_adapter/`, [`RedisStore`]) and S3 ([`s3`], feature `s3`). Key names come from
//! [`keys`] only; the Lua scripts live in `scripts/`.
//!
//! A batch is written with one Lua script per (day, account/region) it touches — one cluster
//! slot each — all sent at once: one round trip on a single node, one concurrent round in a
//! cluster. Each script first adds the payload ids to that account/region's `seen` set and
//! applies only the increments of payloads not seen there before, so a batch delivered twice,
//! or retried after a lost reply or a partial failure, counts once.

pub mod dead_letter;
pub mod keys;
pub mod parking;
mod redis_adapter;
#[cfg(feature = "s3")]
pub mod s3;

pub use dead_letter::{DeadLetter, DeadLetterError, DeadLetters, NoDeadLetters};
pub use parking::{ParkOutcome, ParkedBlob, ParkedLines, ParkedPage};

pub use redis_adapter::{CountingConn, LazyRedisStore, RedisStore};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

pub use crate::config::RowLimits;
use crate::model::{
    Account, AccountRegion, Connection, InterfaceFacts, InventorySnapshot, RefreshFailure,
    RegionInventory,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to Redis at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("Redis request failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis returned an unexpected reply: {0}")]
    Reply(String),
    /// The cache is past the fill ingest refuses at: writing on would make it evict counters
    /// and `seen` sets (`docs/rules.md`, "Bounds").
    #[error(
        "the cache is {}% full ({used} of {limit} bytes), past CACHE_REFUSE_AT_PERCENT={refuse_at_percent}: \
         the batch is refused before the cache evicts counters and will be retried; raise the \
         cache's limit (CacheMaxDataStorageGB) or lower RETENTION_DAYS",
        used * 100 / (*limit).max(1)
    )]
    Full {
        used: u64,
        limit: u64,
        refuse_at_percent: u8,
    },
    /// The read would fetch more rows than it may ([`ReadRequest::max_rows`]); `rows` is how
    /// many it found before it stopped (at least that many are there).
    #[error("the read would fetch at least {rows} rows, more than {limit} (API_MAX_ROWS)")]
    TooManyRows { rows: u64, limit: usize },
}

impl StoreError {
    /// Whether this is the refusal of a write because the cache is past the line.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Full { .. })
    }
}

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

/// What one API request needs from Redis, read with plain commands: one round trip for one
/// account/region, two for every account/region (the days' indexes, then their counters), one
/// more for distinct sources. In a cluster each step's commands go to their nodes at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadRequest {
    /// Days (`YYYY-MM-DD`) whose counters to read.
    pub days: Vec<String>,
    /// Only this (account, region); `None`: every account/region counted on those days.
    pub scope: Option<AccountRegion>,
    /// Without `scope`: only this account's account/regions.
    pub account: Option<String>,
    /// The accounts list and each account/region's last counted batch, last refresh and
    /// refresh failure.
    pub accounts: bool,
    /// Account/regions the refresh knows, with the time of their last refresh.
    pub refreshed: bool,
    /// Our public addresses and their names.
    pub addresses: bool,
    /// Every reverse-DNS name the refresh resolved and still keeps.
    pub resolved_names: bool,
    /// The public interfaces the refresh found.
    pub interfaces: bool,
    /// Each endpoint's distinct-source estimate (a third round trip).
    pub distinct_sources: bool,
    /// Addresses whose reverse-DNS names (cached by the refresh) to read.
    pub names: Vec<String>,
    /// AWS's published address blocks, as the refresh last stored them.
    pub s3_ranges: bool,
    /// What of the days' counters to read: one of the modes, which exclude each other.
    pub rows: Rows,
    /// Rows this read may fetch at most ([`Rows::All`], [`Rows::Matching`]): a read that
    /// would fetch more fails with [`StoreError::TooManyRows`] before it holds them.
    pub max_rows: Option<usize>,
}

/// What a [`ReadRequest`] reads of each (day, account/region) counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Rows {
    /// Every row.
    #[default]
    All,
    /// Only rows whose member matches this Redis glob ([`keys::member_pattern`]): Redis filters
    /// (`ZSCAN … MATCH`) and sends only those.
    Matching(String),
    /// Only what the `k` best rows (score ≥ `min_score`) of the one day asked need: every row
    /// of every account/region that could be among them, ties included; nothing less. With
    /// several days, every row.
    Top(Top),
    /// Instead of the rows: per (day, account/region) the sums ingest keeps of our own
    /// `account/region/name` sources by `account/region` (for `/account-connections`).
    OwnSources,
    /// Instead of the rows: per day, how many rows each account/region has (`ZCARD`).
    RowCounts,
}

/// A top-k read of one day: see [`Rows::Top`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Top {
    pub k: usize,
    pub min_score: u64,
    /// Only rows after this one (`account/region`, row) in [`crate::model::page_order`]: the
    /// last row of the page before. Each page then reads what it shows, however deep it is.
    pub after: Option<(String, Connection)>,
}

/// The answer to a [`ReadRequest`]; parts not asked for are empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadResult {
    /// Per requested day, in order: `account/region` → that day's connections (any order).
    pub days: Vec<BTreeMap<String, Vec<Connection>>>,
    pub accounts: Vec<Account>,
    /// `ACCOUNT:REGION` → time of the last counted batch.
    pub last_updates: HashMap<String, String>,
    /// `ACCOUNT:REGION` → time of the last successful refresh (with `refreshed` or `accounts`).
    pub refreshed: HashMap<String, String>,
    /// With `accounts`: `ACCOUNT:REGION` → its last refresh failure, while it fails.
    pub refresh_failures: HashMap<String, RefreshFailure>,
    /// public address → `account/region/name`
    pub addresses: HashMap<String, String>,
    /// Sorted by interface id; unreadable entries are logged and left out.
    pub interfaces: Vec<InterfaceFacts>,
    /// `account/region` → `dest\tport` → distinct sources on the busiest requested day
    /// (HyperLogLog estimate, ±0.81 %); filled when asked for.
    pub distinct_sources: HashMap<String, HashMap<String, u64>>,
    /// Address → its reverse-DNS name, for the addresses asked for that have one. Only names
    /// that are host names (letters, digits, `-`, `_`, `.`) are kept.
    pub names: HashMap<String, String>,
    /// With `resolved_names`: address → name, host names only (as `names`).
    pub resolved_names: HashMap<String, String>,
    /// CIDR blocks, one per entry; empty when never fetched or not asked for.
    pub s3_ranges: Vec<String>,
    /// With `row_counts`, per requested day: `account/region` → rows.
    pub row_counts: Vec<BTreeMap<String, u64>>,
    /// With `own_sources`, per requested day: `account/region` → the source's `account/region`
    /// → score (in place of `days`).
    pub own_sources: Vec<BTreeMap<String, HashMap<String, u64>>>,
}

/// What the evidence archive remembers in Redis: which closed days are archived, and where.
pub trait ArchiveMarks: Send + Sync {
    /// Day (`YYYY-MM-DD`) → where it was archived (`s3://…`, or `empty` for a day without rows).
    fn archived_days(
        &self,
    ) -> impl Future<Output = Result<HashMap<String, String>, StoreError>> + Send;
    /// Records that `day` is archived at `location`, and forgets the marks of `forget` (days
    /// past the retention, which no run looks at again).
    fn mark_archived(
        &self,
        day: &str,
        location: &str,
        forget: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The archive's read of a closed day: the account/regions it counted, then each one's rows a
/// page at a time, so that a day of any size is archived in bounded memory.
pub trait ClosedDayRows: Send + Sync {
    /// The account/regions the day's index lists (checked; unreadable members skipped).
    fn day_pairs(
        &self,
        day: &str,
    ) -> impl Future<Output = Result<Vec<AccountRegion>, StoreError>> + Send;
    /// Rows `start..start + count` of the (day, account/region) counter, score descending
    /// (ties: Redis's order), and how many members were read (fewer than `count`: the counter
    /// ended; an unreadable member is read but not answered).
    fn rows_page(
        &self,
        day: &str,
        pair: &AccountRegion,
        start: u64,
        count: usize,
    ) -> impl Future<Output = Result<(Vec<Connection>, usize), StoreError>> + Send;
}

/// How far an S3 object has been counted: its first `chunks` chunks (each counted once, by its
/// payload id), and whether that was all of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectMark {
    pub chunks: u64,
    pub complete: bool,
}

/// Where the S3 path remembers how far each object was counted, so that an invocation that
/// stops at its deadline resumes there and a redelivered notification of a counted object
/// costs one lookup. A hint only: each chunk's payload id still decides whether it counts.
pub trait ObjectProgress: Send + Sync {
    /// The object named `identity` (its key from `AWSLogs/` on): how far it was counted.
    fn object_mark(
        &self,
        identity: &str,
    ) -> impl Future<Output = Result<ObjectMark, StoreError>> + Send;
    /// Records how far `identity` was counted, kept `ttl` (as long as the chunks' ids).
    fn mark_object(
        &self,
        identity: &str,
        mark: ObjectMark,
        ttl: std::time::Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where Lambda keeps the records of invocations whose retries ran out (the failure bucket's
/// `aws/lambda/`), as the scheduled redrive reads and removes them. Errors say why, for a person.
pub trait FailureRecords: Send + Sync {
    /// The first `max` keys under `prefix`, in key order.
    fn list(
        &self,
        prefix: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<String>, String>> + Send;
    /// One record's bytes, refused over `limit`.
    fn get(&self, key: &str, limit: u64) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
    /// Removes a record once everything in it is counted.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), String>> + Send;
}

/// Where flow-log objects are read from (S3): a stream of an object's bytes.
pub trait ObjectSource: Send + Sync {
    type Reader: tokio::io::AsyncBufRead + Unpin + Send;
    /// Opens `bucket`/`key`; the error says why, for a person.
    fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Self::Reader, String>> + Send;
}

/// Where closed days are kept as evidence (an S3 bucket).
pub trait EvidenceSink: Send + Sync {
    /// Writes `body` at `key` unless something is there already: answers where it is
    /// (`s3://bucket/key`) and whether it was written now. The error says why, for a person.
    fn put_once(
        &self,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(String, bool), String>> + Send;
}

/// The reads the API makes.
pub trait ReadStore: Send + Sync {
    fn read(
        &self,
        request: &ReadRequest,
    ) -> impl Future<Output = Result<ReadResult, StoreError>> + Send;
}

/// What the refresh reads and writes: the accounts list, each account/region's maps, and the
/// reverse-DNS cache of sources ingest counted without a name.
pub trait RefreshStore: Send + Sync {
    /// Replaces the monitored accounts list.
    fn put_accounts(
        &self,
        accounts: &[Account],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `ACCOUNT:REGION` → time of its last successful refresh.
    fn refreshed(&self)
        -> impl Future<Output = Result<HashMap<String, String>, StoreError>> + Send;
    /// The account/regions (`ACCOUNT:REGION`) with lines parked for interfaces not found yet:
    /// the refresh takes them first (`docs/rules.md`, "New interfaces").
    fn waiting(&self) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send;
    /// Replaces one account/region's entries in the maps, atomically, and stamps its refresh.
    fn replace_region(
        &self,
        account: &str,
        region: &str,
        inventory: &RegionInventory,
        now_rfc3339: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records the run's failures per account/region (`ACCOUNT:REGION`): each is kept until
    /// [`RefreshStore::replace_region`] of that account/region succeeds (or it is dropped).
    fn put_refresh_failures(
        &self,
        failed: &[(String, RefreshFailure)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes an account/region that is no longer monitored.
    fn drop_region(
        &self,
        account: &str,
        region: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Sources of a day (`YYYY-MM-DD`) counted under their bare address.
    fn day_unnamed(
        &self,
        day: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// Cached reverse names, in the order asked: `Some("")` is a cached "no name".
    fn cached_names(
        &self,
        ips: &[String],
    ) -> impl Future<Output = Result<Vec<Option<String>>, StoreError>> + Send;
    /// Replaces the stored AWS address blocks (CIDRs) and stamps when they were fetched.
    fn put_s3_ranges(
        &self,
        blocks: &[String],
        fetched_at: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// When the stored AWS address blocks were fetched (RFC 3339), if ever.
    fn s3_ranges_fetched_at(
        &self,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Caches (address, name, ttl seconds); an empty name caches "no name".
    fn put_names(
        &self,
        names: &[(String, String, u64)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
