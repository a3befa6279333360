//! The ingest port on Redis: the inventory snapshot in one round trip, and a batch written
//! with one script per day, all pipelined.

use std::collections::HashMap;

use redis::Cmd;

use super::RedisStore;
use crate::model::InventorySnapshot;
use crate::rules::classify;
use crate::store::{
    keys, CounterStore, DayWrite, SourceLimits, StoreError, WriteBatch, WriteOutcome,
};

/// The per-day write. KEYS: seen, index, unnamed, then per account/region its connections
/// sorted set and its `kept` hash, then per endpoint its distinct-source HyperLogLog.
/// ARGV: expire_at (counters, index), seen TTL, unnamed TTL (seconds), the three
/// [`SourceLimits`], the payload count, then per payload: id, increment count, then per
/// increment: connections key number, kept key number, HyperLogLog key number, member, count,
/// source, and the member of the source's prefix (empty for a named source).
/// Returns {applied, duplicates}.
const WRITE_DAY_SCRIPT: &str = include_str!("../scripts/write_day.lua");

impl CounterStore for RedisStore {
    async fn load_inventory(&self) -> Result<InventorySnapshot, StoreError> {
        let mut conn = self.conn.clone();
        let (interfaces, addresses, formats): (
            HashMap<String, String>,
            HashMap<String, String>,
            HashMap<String, String>,
        ) = redis::pipe()
            .hgetall(keys::INTERFACES)
            .hgetall(keys::ADDRESSES)
            .hgetall(keys::FORMATS)
            .query_async(&mut conn)
            .await?;
        Ok(InventorySnapshot {
            interfaces,
            addresses,
            formats,
        })
    }

    async fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let scripts: Vec<Cmd> = batch
            .days
            .iter()
            .map(|day| day_script(day, &batch.limits))
            .collect();
        let mut touched: Vec<String> = batch
            .touched
            .iter()
            .map(|(a, r)| keys::account_region(a, r))
            .collect();
        touched.sort();
        touched.dedup();
        let last_update = (!touched.is_empty()).then(|| {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(keys::LAST_UPDATE);
            for field in &touched {
                cmd.arg(field).arg(&batch.now_rfc3339);
            }
            cmd
        });
        let n_days = scripts.len();
        let mut cmds = scripts;
        cmds.extend(last_update);
        let replies = self.run_all(cmds).await?;
        let replies: Vec<(u64, u64)> = replies
            .into_iter()
            .take(n_days)
            .map(redis::from_redis_value)
            .collect::<Result<_, _>>()
            .map_err(redis::RedisError::from)?;
        if replies.len() != batch.days.len() {
            return Err(StoreError::Reply(format!(
                "expected {} script replies, got {}",
                batch.days.len(),
                replies.len()
            )));
        }
        let mut outcome = WriteOutcome::default();
        for (applied, duplicates) in replies {
            outcome.applied += applied;
            outcome.duplicates += duplicates;
        }
        Ok(outcome)
    }
}

/// Builds the `EVAL` of one day. The script text travels with each call (a few hundred bytes):
/// no `NOSCRIPT` dance after a failover or on a fresh serverless node.
fn day_script(day: &DayWrite<'_>, limits: &SourceLimits) -> Cmd {
    // KEYS is 1-based and starts with seen, index, unnamed.
    let mut keys_list: Vec<String> = vec![
        keys::day_seen(&day.day),
        keys::day_index(&day.day),
        keys::day_unnamed(&day.day),
    ];
    let mut pair_keys: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
    let mut endpoint_keys: HashMap<(&str, &str, &str), usize> = HashMap::new();
    // Per increment, in order: (connections, kept, HyperLogLog) key numbers, source, endpoint.
    let mut placed = Vec::new();
    for unit in &day.payloads {
        for inc in &unit.increments {
            let (conn, kept) = *pair_keys
                .entry((inc.account, inc.region))
                .or_insert_with(|| {
                    keys_list.push(keys::connections(&day.day, inc.account, inc.region));
                    keys_list.push(keys::day_kept(&day.day, inc.account, inc.region));
                    (keys_list.len() - 1, keys_list.len())
                });
            let (source, endpoint) = keys::split_source(&inc.member);
            let hll = *endpoint_keys
                .entry((inc.account, inc.region, endpoint))
                .or_insert_with(|| {
                    keys_list.push(keys::endpoint_sources(
                        &day.day,
                        inc.account,
                        inc.region,
                        endpoint,
                    ));
                    keys_list.len()
                });
            placed.push(((conn, kept, hll), source, endpoint));
        }
    }
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(WRITE_DAY_SCRIPT).arg(keys_list.len());
    for key in &keys_list {
        cmd.arg(key);
    }
    cmd.arg(day.expire_at)
        .arg(day.seen_ttl_secs.max(1))
        .arg(day.unnamed_ttl_secs.max(1))
        .arg(limits.max_sources_per_endpoint)
        .arg(limits.max_prefixes_per_endpoint)
        .arg(limits.max_unnamed_per_day)
        .arg(day.payloads.len());
    let mut placed = placed.into_iter();
    for unit in &day.payloads {
        cmd.arg(unit.id).arg(unit.increments.len());
        for (inc, ((conn, kept, hll), source, endpoint)) in unit.increments.iter().zip(&mut placed)
        {
            let prefix = match inc.bare_ip {
                Some(ip) => format!("{}\t{endpoint}", classify::source_prefix(ip)),
                None => String::new(),
            };
            cmd.arg(conn)
                .arg(kept)
                .arg(hll)
                .arg(&inc.member)
                .arg(inc.count)
                .arg(source)
                .arg(prefix);
        }
    }
    cmd
}
