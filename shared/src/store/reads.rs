//! The API's port: what one request reads, and what it gets back.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use super::StoreError;
use crate::model::{
    Account, AccountRegion, Connection, IngressRule, InterfaceFacts, RefreshFailure,
};

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
    /// The ingress rules that open their groups to the internet, and each account/region's
    /// last counted batch (the exposure review).
    pub ingress: bool,
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
    /// Instead of the rows: per (day, account/region) the exposure review's sums ingest keeps
    /// ([`keys::used`](crate::store::keys::used)).
    Usage,
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
    /// With `ingress`: security group id → its rules that open to the internet; unreadable
    /// entries are logged and left out.
    pub ingress: BTreeMap<String, Vec<IngressRule>>,
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
    /// With [`Rows::Usage`], per requested day: `account/region` → the review's sums by field
    /// (`dest\tport\tCLASS`); an account/region listed with none was written before they were
    /// kept.
    pub usage: Vec<BTreeMap<String, HashMap<String, u64>>>,
}

/// The reads the API makes.
pub trait ReadStore: Send + Sync {
    fn read(
        &self,
        request: &ReadRequest,
    ) -> impl Future<Output = Result<ReadResult, StoreError>> + Send;
}
