//! Refuse before the cache evicts (`docs/rules.md`, "Bounds"): at its limit a cache evicts keys
//! with a TTL — every counter and `seen` set has one — losing counts and turning the next
//! redelivery into a double count. The store reports each node's fill; the decision is pure
//! ([`refusal`], [`rows_allowed`]); [`Headroom`] keeps the last reading while it stands.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::config::CacheLimit;
use crate::store::{CounterStore, MemoryUse, StoreError};

/// `FailedPayloads.cache_full`: payloads not counted because the cache is past the line (they
/// come again). One name on every path: a CloudWatch Logs event, Kinesis records, S3 objects.
pub const CACHE_FULL: &str = "cache_full";

/// How long a reading stands at most before a batch reads the fill again.
pub(super) const READING_STANDS: Duration = Duration::from_secs(1);

/// A generous bound on the bytes one written row costs: a row that opens a new endpoint (its
/// member, score, bounds fields and its own estimate key) measured about 1,400 (the port scan
/// of BENCHMARKS.md), a new source on a known endpoint far less.
const ROW_BYTES: u64 = 2048;

/// The share of the room under the line one function instance may spend on a reading: ten
/// instances writing at once stay under the line.
const INSTANCES: u64 = 10;

/// One ingest instance's last reading of the cache's fill, while it stands.
#[derive(Default)]
pub(super) struct Headroom {
    reading: Mutex<Option<Reading>>,
}

/// A reading of the cache's fill: when, and how many more rows may be written on it.
struct Reading {
    at: Instant,
    rows_left: u64,
}

impl Headroom {
    /// Fails a batch of `rows` (it is retried) when the cache is past the line, before a write
    /// could make it evict. A reading stands for [`READING_STANDS`] and for the rows the room
    /// under the line allows ([`rows_allowed`]); then a batch reads again. A server that will
    /// not say how full it is (`INFO` refused) is not judged: the template's alarm on
    /// `BytesUsedForCache` still watches it.
    pub(super) async fn check<S: CounterStore>(
        &self,
        store: &S,
        cache: CacheLimit,
        rows: u64,
    ) -> Result<(), StoreError> {
        let mut standing = self.reading.lock().await;
        if let Some(reading) = standing.as_mut() {
            if reading.at.elapsed() < READING_STANDS && reading.rows_left >= rows {
                reading.rows_left -= rows;
                return Ok(());
            }
        }
        let nodes = match store.memory().await {
            Ok(nodes) => nodes,
            Err(error) => {
                tracing::warn!(%error, "cannot read the cache's memory use; writing unjudged");
                return Ok(());
            }
        };
        *standing = Some(Reading {
            at: Instant::now(),
            rows_left: rows_allowed(&nodes, cache),
        });
        match refusal(&nodes, cache) {
            Some(full) => {
                tracing::error!(error = %full, "batch refused: the cache is full");
                Err(full)
            }
            None => Ok(()),
        }
    }
}

/// The metric of a failed invocation that the template alarms on, as an EMF document: a
/// CloudWatch Logs event refused because the cache is full (`FailedPayloads.cache_full`, as
/// Kinesis records and S3 objects count it in their summaries). `None` for any other failure.
pub fn failure_emf(
    error: &(dyn std::error::Error + 'static),
    timestamp_ms: i64,
) -> Option<serde_json::Value> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_full)
        {
            let full = format!("FailedPayloads.{CACHE_FULL}");
            let metrics = [
                ("FailedPayloads".to_string(), crate::metrics::Unit::Count, 1),
                (full, crate::metrics::Unit::Count, 1),
            ];
            return Some(crate::metrics::document("ingest", timestamp_ms, &metrics));
        }
        cause = e.source();
    }
    None
}

/// The (used, limit) of each node that has a limit: its own `maxmemory`, else the setting's.
fn judged(nodes: &[MemoryUse], cache: CacheLimit) -> impl Iterator<Item = (u64, u64)> + '_ {
    nodes
        .iter()
        .filter_map(move |node| Some((node.used, node.limit.or(cache.limit_bytes)?)))
}

/// How many rows later batches of this instance may write on this reading before reading the
/// fill again: a tenth of the room under the line of the fullest node, at [`ROW_BYTES`] a row
/// (`u64::MAX` where no node has a limit).
pub(super) fn rows_allowed(nodes: &[MemoryUse], cache: CacheLimit) -> u64 {
    judged(nodes, cache)
        .map(|(used, limit)| {
            let line = u128::from(limit) * u128::from(cache.refuse_at_percent) / 100;
            let room = line.saturating_sub(u128::from(used));
            u64::try_from(room / u128::from(ROW_BYTES * INSTANCES)).unwrap_or(u64::MAX)
        })
        .min()
        .unwrap_or(u64::MAX)
}

/// Why a batch may not be written now: the fullest node past the line, if any; a node without
/// a limit is not judged.
pub(super) fn refusal(nodes: &[MemoryUse], cache: CacheLimit) -> Option<StoreError> {
    judged(nodes, cache)
        .filter(|&(used, limit)| {
            u128::from(used) * 100 >= u128::from(limit) * u128::from(cache.refuse_at_percent)
        })
        .max_by_key(|&(used, limit)| u128::from(used) * 1_000_000 / u128::from(limit.max(1)))
        .map(|(used, limit)| StoreError::Full {
            used,
            limit,
            refuse_at_percent: cache.refuse_at_percent,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fullest_node_past_the_line_refuses() {
        const MIB: u64 = 1 << 20;
        let node = |used, limit| MemoryUse { used, limit };
        let set = |limit_bytes| CacheLimit {
            limit_bytes,
            refuse_at_percent: 90,
        };
        let full = |used, limit| {
            Some(StoreError::Full {
                used,
                limit,
                refuse_at_percent: 90,
            })
        };
        for (nodes, cache, want) in [
            // No limit anywhere: nothing to judge.
            (vec![node(900 * MIB, None)], set(None), None),
            // The server's own maxmemory, below and at the line.
            (vec![node(89 * MIB, Some(100 * MIB))], set(None), None),
            (
                vec![node(90 * MIB, Some(100 * MIB))],
                set(None),
                full(90 * MIB, 100 * MIB),
            ),
            // The server's maxmemory wins over the setting.
            (
                vec![node(95 * MIB, Some(100 * MIB))],
                set(Some(1000 * MIB)),
                full(95 * MIB, 100 * MIB),
            ),
            // No maxmemory (a serverless cache): the setting's limit.
            (
                vec![node(950 * MIB, None)],
                set(Some(1000 * MIB)),
                full(950 * MIB, 1000 * MIB),
            ),
            (vec![node(850 * MIB, None)], set(Some(1000 * MIB)), None),
            // A cluster: one full primary is enough, the fullest is named.
            (
                vec![
                    node(10 * MIB, Some(100 * MIB)),
                    node(93 * MIB, Some(100 * MIB)),
                    node(99 * MIB, Some(200 * MIB)),
                ],
                set(None),
                full(93 * MIB, 100 * MIB),
            ),
            // Past the limit (the server's own eviction lags): refused too.
            (
                vec![node(120 * MIB, Some(100 * MIB))],
                set(None),
                full(120 * MIB, 100 * MIB),
            ),
            (vec![], set(Some(MIB)), None),
        ] {
            let got = refusal(&nodes, cache);
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{nodes:?}");
        }
        // What a reading allows before the next: a tenth of the room under the line, at 2,048
        // bytes a row; nothing near or past the line; no bound without a limit.
        assert_eq!(
            rows_allowed(&[node(40 * MIB, Some(100 * MIB))], set(None)),
            2_560
        );
        assert_eq!(
            rows_allowed(&[node(90 * MIB, Some(100 * MIB))], set(None)),
            0
        );
        assert_eq!(
            rows_allowed(&[node(95 * MIB, Some(100 * MIB))], set(None)),
            0
        );
        assert_eq!(rows_allowed(&[node(MIB, None)], set(None)), u64::MAX);
        let two = [
            node(10 * MIB, Some(100 * MIB)),
            node(85 * MIB, Some(100 * MIB)),
        ];
        assert_eq!(rows_allowed(&two, set(None)), 256);
        let message = refusal(&[node(95, Some(100))], set(None))
            .unwrap()
            .to_string();
        assert!(
            message.starts_with("the cache is 95% full (95 of 100 bytes)"),
            "{message}"
        );
    }
}

#[cfg(test)]
mod metric_tests {
    use super::failure_emf;
    use crate::ingest::IngestError;
    use crate::store::StoreError;

    #[test]
    fn a_refused_batch_is_a_cache_full_metric_and_nothing_else_is() {
        let full = IngestError::Store(StoreError::Full {
            used: 95,
            limit: 100,
            refuse_at_percent: 90,
        });
        let doc = failure_emf(&full, 1_795_780_800_000).unwrap();
        assert_eq!(doc["FailedPayloads.cache_full"], 1);
        assert_eq!(doc["FailedPayloads"], 1);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Name"],
            "FailedPayloads.cache_full"
        );
        let other = IngestError::Store(StoreError::Reply("odd".into()));
        assert_eq!(failure_emf(&other, 0), None);
    }
}
