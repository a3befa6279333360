//! Lines of interfaces the refresh has not found yet (`docs/rules.md`, "New interfaces"): held
//! while a batch is counted, parked once its write has succeeded (parked before, a failed write
//! retried after the refresh would count them twice), and counted by the scheduled run once the
//! refresh has found their interface — or dropped, counted, when they wait past their TTL.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Instant;

use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::aggregate::{Aggregate, Skip};
use super::held::{CountedPair, Held, HeldLine, Room};
use super::inventory::Inventory;
use super::payload::{self, DecodeError, LogEvent, LogsMessage};
use super::Ingestor;
use crate::metrics::Unit;
use crate::model::{AccountRegion, PayloadId};
use crate::store::{CounterStore, DeadLetters, ParkOutcome, ParkedBlob, StoreError};

/// A parked entry as stored (JSON, gzip, base64): the message's lines of interfaces not found
/// yet, and where its payload counted lines before.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry<'a> {
    /// When it was parked (Unix seconds).
    parked_at: i64,
    #[serde(borrow)]
    owner: Cow<'a, str>,
    #[serde(borrow)]
    log_group: Cow<'a, str>,
    #[serde(borrow)]
    log_stream: Cow<'a, str>,
    counted: Vec<CountedPair>,
    lines: Vec<HeldLine>,
}

impl<'a> Entry<'a> {
    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("an entry serializes");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&json)
            .and_then(|()| gz.finish())
            .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
            .expect("gzip into memory does not fail")
    }

    fn decode(bytes: &'a [u8]) -> Result<Entry<'a>, DecodeError> {
        serde_json::from_slice(bytes).map_err(|e| DecodeError::MessageJson(e.to_string()))
    }

    /// The lines as the message they came in.
    fn message(&self) -> LogsMessage<'_> {
        LogsMessage {
            message_type: Cow::Borrowed("DATA_MESSAGE"),
            owner: Cow::Borrowed(&self.owner),
            log_group: Cow::Borrowed(&self.log_group),
            log_stream: Cow::Borrowed(&self.log_stream),
            log_events: self
                .lines
                .iter()
                .map(|l| LogEvent {
                    id: Cow::Borrowed(""),
                    timestamp: l.timestamp,
                    message: Cow::Borrowed(&l.message),
                })
                .collect(),
            format: None,
        }
    }
}

/// The id a parked entry's lines count under where its payload counted lines before.
fn entry_id(payload: &str) -> PayloadId {
    PayloadId::of(format!("parked\t{payload}").as_bytes())
}

/// What one scheduled run did with the parked lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UnparkReport {
    /// Lines whose interface the refresh has found: counted (or found counted before).
    pub counted: u64,
    /// Lines still waiting for their interface.
    pub waiting: u64,
    /// Lines dropped after waiting their TTL (`PARKED_LINES_TTL_SECONDS`) for an interface the
    /// refresh never found.
    pub expired: u64,
    /// Entries that could not be read back: dropped.
    pub unreadable: u64,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
}

impl UnparkReport {
    /// The metrics of the run: `ParkedCounted`, `ParkedWaiting`, `ParkedExpired`,
    /// `ParkedUnreadable`.
    pub fn metrics(&self) -> [(&'static str, Unit, u64); 4] {
        [
            ("ParkedCounted", Unit::Count, self.counted),
            ("ParkedWaiting", Unit::Count, self.waiting),
            ("ParkedExpired", Unit::Count, self.expired),
            ("ParkedUnreadable", Unit::Count, self.unreadable),
        ]
    }
}

impl<S: CounterStore, D: DeadLetters> Ingestor<S, D> {
    /// The room a batch holds lines in (`None`: parking is off).
    pub(super) fn room(&self) -> Option<Room> {
        let lines = self.config.parking.max_lines_per_account_region;
        (lines > 0).then(|| Room::new(lines))
    }

    /// Parks what a written batch held (payload `n` is `ids[n]`), by the log's owner and this
    /// function's region; a store failure refuses them (they stay skipped, and are said).
    pub(super) async fn park_held(
        &self,
        agg: &mut Aggregate<'_>,
        ids: &[&str],
        now: OffsetDateTime,
    ) -> ParkOutcome {
        let Some(room) = agg.room.take() else {
            return ParkOutcome::default();
        };
        let counted = counted_before(agg, &room.held);
        let mut by_pair: BTreeMap<AccountRegion, Vec<ParkedBlob>> = BTreeMap::new();
        let mut outcome = ParkOutcome {
            parked: 0,
            refused: room.refused,
        };
        for held in room.held {
            let lines = held.lines.len() as u32;
            let Some(pair) = AccountRegion::new(&held.owner, &self.config.default_region) else {
                outcome.refused += u64::from(lines);
                continue;
            };
            let entry = Entry {
                parked_at: now.unix_timestamp(),
                owner: Cow::Owned(held.owner),
                log_group: Cow::Owned(held.log_group),
                log_stream: Cow::Owned(held.log_stream),
                counted: counted.get(&held.unit).cloned().unwrap_or_default(),
                lines: held.lines,
            };
            by_pair.entry(pair).or_default().push(ParkedBlob {
                payload: ids[held.unit as usize].to_string(),
                lines,
                blob: entry.encode(),
            });
        }
        for (pair, blobs) in by_pair {
            match self.store.park(&pair, &blobs, self.config.parking).await {
                Ok(one) => {
                    outcome.parked += one.parked;
                    outcome.refused += one.refused;
                }
                Err(error) => {
                    let lines: u64 = blobs.iter().map(|b| u64::from(b.lines)).sum();
                    tracing::error!(%pair, lines, %error, "lines of interfaces not found yet could not be parked");
                    outcome.refused += lines;
                }
            }
        }
        if outcome.refused > 0 {
            tracing::warn!(
                refused = outcome.refused,
                "lines of interfaces not found yet not parked (MAX_PARKED_LINES_PER_ACCOUNT_REGION, or the store)"
            );
        }
        outcome
    }

    /// Counts the parked lines whose interface the refresh has found, drops those past their
    /// TTL, leaves the rest; until `deadline`. Never fails: what it could not do waits for the
    /// next run, and says why.
    pub async fn unpark(&self, now: OffsetDateTime, deadline: Option<Instant>) -> UnparkReport {
        let mut report = UnparkReport::default();
        if let Err(e) = self.unpark_all(now, deadline, &mut report).await {
            report.stopped = Some(e.to_string());
        }
        report
    }

    async fn unpark_all(
        &self,
        now: OffsetDateTime,
        deadline: Option<Instant>,
        report: &mut UnparkReport,
    ) -> Result<(), StoreError> {
        let pairs = self.store.parked_pairs().await?;
        let inventory = self.inventory().await?;
        for pair in pairs {
            let mut cursor = 0;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    report.stopped = Some("the invocation's deadline".into());
                    return Ok(());
                }
                let page = self.store.parked_page(&pair, cursor).await?;
                self.unpark_page(&pair, &page.entries, &inventory, now, report)
                    .await?;
                match page.next {
                    Some(next) => cursor = next,
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// One page of an account/region's entries: those ready counted in one write, then they
    /// and the unreadable ones removed.
    async fn unpark_page(
        &self,
        pair: &AccountRegion,
        entries: &[ParkedBlob],
        inventory: &Inventory,
        now: OffsetDateTime,
        report: &mut UnparkReport,
    ) -> Result<(), StoreError> {
        let ctx = self.context(now);
        let ttl = self.config.parking.ttl.as_secs() as i64;
        let mut agg = Aggregate::default();
        let (mut ids, mut done) = (Vec::new(), Vec::new());
        for blob in entries {
            let bytes = payload::decode_data(&blob.blob, self.max_decompressed());
            let entry = match bytes.as_deref() {
                Ok(bytes) => Entry::decode(bytes).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    tracing::warn!(%pair, payload = %blob.payload, %error, "dropping a parked entry that cannot be read");
                    report.unreadable += 1;
                    done.push(blob.payload.as_str());
                    continue;
                }
            };
            let message = entry.message();
            // A dry count first: an entry is counted whole, once every line's interface is
            // known (or its time is up), so each of its (day, account/region) parts is written
            // once under its id.
            let mut dry = Aggregate::default();
            dry.add_parked(inventory, &ctx, 0, &message, &entry.counted);
            let unknown = dry.summary.skipped.get(Skip::UnknownInterface.name());
            let unknown = unknown.copied().unwrap_or(0);
            if unknown > 0 && now.unix_timestamp() - entry.parked_at < ttl {
                report.waiting += unknown;
                continue;
            }
            report.expired += unknown;
            agg.add_parked(inventory, &ctx, ids.len() as u32, &message, &entry.counted);
            ids.push(blob.payload.clone());
            ids.push(entry_id(&blob.payload).to_string());
            done.push(blob.payload.as_str());
        }
        if !ids.is_empty() {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            report.counted += self.write_counts(&ids, &agg, now).await?.counted;
        }
        self.store.unpark(pair, &done).await
    }
}

/// Where each held message's payload counted lines in this batch, by day and account/region.
fn counted_before(agg: &Aggregate<'_>, held: &[Held]) -> BTreeMap<u32, Vec<CountedPair>> {
    let units: BTreeSet<u32> = held.iter().map(|h| h.unit).collect();
    let mut counted: BTreeMap<u32, BTreeSet<CountedPair>> = BTreeMap::new();
    for key in agg.counts.keys().filter(|k| units.contains(&k.unit)) {
        counted.entry(key.unit).or_default().insert(CountedPair {
            day: key.day,
            account: key.account.to_string(),
            region: agg.region(key.region).to_string(),
        });
    }
    counted
        .into_iter()
        .map(|(unit, pairs)| (unit, pairs.into_iter().collect()))
        .collect()
}
