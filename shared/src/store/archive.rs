//! The evidence archive's ports: which closed days are archived, a closed day's rows page by
//! page, and where the days are kept.

use std::collections::HashMap;
use std::future::Future;

use super::StoreError;
use crate::model::{AccountRegion, Connection};

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
    /// The distinct-source estimate of each of `endpoints` (`dest⇥port`) of the (day,
    /// account/region), by endpoint.
    fn distinct_sources(
        &self,
        day: &str,
        pair: &AccountRegion,
        endpoints: Vec<String>,
    ) -> impl Future<Output = Result<HashMap<String, u64>, StoreError>> + Send;
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
