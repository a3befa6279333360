//! The refresh's port: the accounts list, each account/region's maps, the reverse-DNS cache.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use super::StoreError;
use crate::model::{Account, RefreshFailure, RegionInventory};

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
