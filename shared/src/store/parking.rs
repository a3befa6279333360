//! The port of parked lines: lines of interfaces the refresh has not found yet, kept per
//! account/region until it has (`docs/rules.md`, "New interfaces").

use std::future::Future;

use super::StoreError;
use crate::config::Parking;
use crate::model::AccountRegion;

/// One parked entry as the store holds it: the payload it came in (its field) and the encoded
/// entry, with the number of lines it holds (which the bound counts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedBlob {
    pub payload: String,
    pub lines: u32,
    pub blob: String,
}

/// What a park did: lines parked now (or found parked before), lines refused because the
/// account/region's bound was reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParkOutcome {
    pub parked: u64,
    pub refused: u64,
}

/// One page of an account/region's parked entries, and where the next page starts (`None`:
/// this was the last).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParkedPage {
    pub entries: Vec<ParkedBlob>,
    pub next: Option<u64>,
}

/// Where ingest parks lines of interfaces not found yet, and the scheduled run takes them back.
pub trait ParkedLines: Send + Sync {
    /// Parks `entries` for `pair`, each once (by payload), within `bound`'s lines, for `bound`'s
    /// TTL from now; the account/region is listed among those with parked lines.
    fn park(
        &self,
        pair: &AccountRegion,
        entries: &[ParkedBlob],
        bound: Parking,
    ) -> impl Future<Output = Result<ParkOutcome, StoreError>> + Send;
    /// The account/regions with parked lines.
    fn parked_pairs(&self) -> impl Future<Output = Result<Vec<AccountRegion>, StoreError>> + Send;
    /// A page of `pair`'s entries from `cursor` (0: the first page).
    fn parked_page(
        &self,
        pair: &AccountRegion,
        cursor: u64,
    ) -> impl Future<Output = Result<ParkedPage, StoreError>> + Send;
    /// Removes entries by payload, their lines off the bound; an account/region left with none
    /// leaves the list.
    fn unpark(
        &self,
        pair: &AccountRegion,
        payloads: &[&str],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
