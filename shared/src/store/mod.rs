//! The store: one port (trait) per use case, each in a file of its own — [`CounterStore`]
//! (`counters.rs`) for ingest, [`RefreshStore`] (`refresh.rs`) for the refresh, [`ReadStore`]
//! (`reads.rs`) for the API, [`ArchiveMarks`], [`ClosedDayRows`] and [`EvidenceSink`]
//! (`archive.rs`) for the evidence archive, [`ObjectSource`], [`ObjectProgress`] and
//! [`FailureRecords`] (`objects.rs`) for flow logs in S3 and Lambda's failure records,
//! [`DeadLetters`] ([`dead_letter`]) for payloads that can never be counted, [`ParkedLines`]
//! ([`parking`]) for lines of interfaces not found yet — and the adapters behind them: Redis
//! (`redis_adapter/`, [`RedisStore`]) and S3 ([`s3`], feature `s3`). Key names come from
//! [`keys`] only; the Lua scripts live in `scripts/`.
//!
//! A batch is written with one Lua script per (day, account/region) it touches — one cluster
//! slot each — all sent at once: one round trip on a single node, one concurrent round in a
//! cluster. Each script first adds the payload ids to that account/region's `seen` set and
//! applies only the increments of payloads not seen there before, so a batch delivered twice,
//! or retried after a lost reply or a partial failure, counts once.

mod archive;
mod counters;
pub mod dead_letter;
pub mod keys;
mod objects;
pub mod parking;
mod reads;
mod redis_adapter;
mod refresh;
#[cfg(feature = "s3")]
pub mod s3;

pub use archive::{ArchiveMarks, ClosedDayRows, EvidenceSink};
pub use counters::{
    CounterStore, DayWrite, Increment, MemoryUse, PayloadWrite, WriteBatch, WriteOutcome,
};
pub use dead_letter::{DeadLetter, DeadLetterError, DeadLetters, NoDeadLetters};
pub use objects::{FailureRecords, ObjectMark, ObjectProgress, ObjectSource};
pub use parking::{ParkOutcome, ParkedBlob, ParkedLines, ParkedPage};
pub use reads::{ReadRequest, ReadResult, ReadStore, Rows, Top};
pub use refresh::RefreshStore;

pub use redis_adapter::{CountingConn, LazyRedisStore, RedisStore};

pub use crate::config::RowLimits;

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
