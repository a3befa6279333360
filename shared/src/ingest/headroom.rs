//! Refuse before the cache evicts (`docs/rules.md`, "Bounds"): at its limit a cache evicts keys
//! with a TTL — every counter and `seen` set has one — losing counts and turning the next
//! redelivery into a double count. Pure: the store reports each node's fill, this decides.

use std::time::Duration;

use crate::config::CacheLimit;
use crate::store::{MemoryUse, StoreError};

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

/// How many rows later batches of this instance may write on this reading before reading the
/// fill again: a tenth of the room under the line of the fullest node, at [`ROW_BYTES`] a row
/// (`u64::MAX` where no node has a limit).
pub(super) fn rows_allowed(nodes: &[MemoryUse], cache: CacheLimit) -> u64 {
    nodes
        .iter()
        .filter_map(|node| Some((node.used, node.limit.or(cache.limit_bytes)?)))
        .map(|(used, limit)| {
            let line = u128::from(limit) * u128::from(cache.refuse_at_percent) / 100;
            let room = line.saturating_sub(u128::from(used));
            u64::try_from(room / u128::from(ROW_BYTES * INSTANCES)).unwrap_or(u64::MAX)
        })
        .min()
        .unwrap_or(u64::MAX)
}

/// Why a batch may not be written now: the fullest node past the line, if any. A node's own
/// `maxmemory` is its limit, else the setting's; a node with neither is not judged.
pub(super) fn refusal(nodes: &[MemoryUse], cache: CacheLimit) -> Option<StoreError> {
    nodes
        .iter()
        .filter_map(|node| Some((node.used, node.limit.or(cache.limit_bytes)?)))
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
