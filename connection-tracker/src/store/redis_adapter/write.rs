//! The ingest port on Redis: the inventory snapshot in one round trip, and a batch written
//! with one script per day, all pipelined.

use std::collections::HashMap;

use redis::Cmd;

use super::RedisStore;
use crate::model::InventorySnapshot;
use crate::store::{keys, CounterStore, DayWrite, StoreError, WriteBatch, WriteOutcome};

/// The per-day write. KEYS: seen, index, unnamed, then the connection sorted sets.
/// ARGV: expire_at (counters, index), seen TTL, unnamed TTL (seconds), unit count, then per
/// unit: id, increment count, then per increment:
/// key number (into KEYS), member, count; then the unnamed count and addresses.
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
        let scripts: Vec<Cmd> = batch.days.iter().map(day_script).collect();
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
fn day_script(day: &DayWrite<'_>) -> Cmd {
    let mut key_numbers: HashMap<(&str, &str), usize> = HashMap::new();
    let mut conn_keys: Vec<String> = Vec::new();
    for unit in &day.payloads {
        for inc in &unit.increments {
            key_numbers
                .entry((inc.account, inc.region))
                .or_insert_with(|| {
                    conn_keys.push(keys::connections(&day.day, inc.account, inc.region));
                    conn_keys.len() + 3 // KEYS is 1-based and starts with seen, index, unnamed
                });
        }
    }
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(WRITE_DAY_SCRIPT)
        .arg(3 + conn_keys.len())
        .arg(keys::day_seen(&day.day))
        .arg(keys::day_index(&day.day))
        .arg(keys::day_unnamed(&day.day));
    for key in &conn_keys {
        cmd.arg(key);
    }
    cmd.arg(day.expire_at)
        .arg(day.seen_ttl_secs.max(1))
        .arg(day.unnamed_ttl_secs.max(1))
        .arg(day.payloads.len());
    for unit in &day.payloads {
        cmd.arg(unit.id).arg(unit.increments.len());
        for inc in &unit.increments {
            cmd.arg(key_numbers[&(inc.account, inc.region)])
                .arg(&inc.member)
                .arg(inc.count);
        }
    }
    cmd.arg(day.unnamed.len());
    for ip in &day.unnamed {
        cmd.arg(ip);
    }
    cmd
}
