//! The ingest port on Redis: the inventory snapshot in one round trip, and a batch written
//! with one script per (day, account/region) — one cluster slot each — and one index update per
//! day, all sent at once.

use std::collections::{BTreeMap, HashMap};

use redis::Cmd;

use super::RedisStore;
use crate::model::InventorySnapshot;
use crate::rules::classify;
use crate::store::{
    keys, CounterStore, DayWrite, Increment, SourceLimits, StoreError, WriteBatch, WriteOutcome,
};

/// One account/region's day of a batch. KEYS: seen, unnamed, connections, kept, own sources,
/// then per endpoint its distinct-source HyperLogLog. ARGV: expire_at (counters), seen TTL,
/// unnamed TTL (seconds), the three [`SourceLimits`], the payload count, then per payload: id,
/// increment count, then per increment: HyperLogLog key number, member, count, source, and the
/// member of the source's prefix (empty for a named source). Returns one flag per payload: 1
/// counted now, 0 counted before.
const WRITE_DAY_SCRIPT: &str = include_str!("../scripts/write_day.lua");

/// Adds account/regions to a day's index and sets its expiry. KEYS: the index; ARGV:
/// expire_at, then the `ACCOUNT:REGION` members.
const INDEX_DAY_SCRIPT: &str = include_str!("../scripts/index_day.lua");

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
        // One script per (day, account/region): one slot each. Then per day its index.
        let mut cmds: Vec<Cmd> = Vec::new();
        // Per command sent: for a script, its day and the numbers (in that day) of the payloads
        // it carries; `None` for the index updates and the last-update write.
        let mut sent: Vec<Option<(usize, Vec<usize>)>> = Vec::new();
        for (d, day) in batch.days.iter().enumerate() {
            let pairs = split_by_pair(day);
            if pairs.is_empty() {
                continue;
            }
            let mut index = redis::cmd("EVAL");
            index
                .arg(INDEX_DAY_SCRIPT)
                .arg(1)
                .arg(keys::day_index(&day.day))
                .arg(day.expire_at);
            for ((account, region), units) in &pairs {
                index.arg(keys::account_region(account, region));
                cmds.push(pair_script(day, account, region, units, &batch.limits));
                sent.push(Some((d, units.iter().map(|(u, _)| *u).collect())));
            }
            cmds.push(index);
            sent.push(None);
        }
        let mut touched: Vec<String> = batch
            .touched
            .iter()
            .map(|(a, r)| keys::account_region(a, r))
            .collect();
        touched.sort();
        touched.dedup();
        if !touched.is_empty() {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(keys::LAST_UPDATE);
            for field in &touched {
                cmd.arg(field).arg(&batch.now_rfc3339);
            }
            cmds.push(cmd);
            sent.push(None);
        }
        let replies = self.run_all(cmds).await?;
        if replies.len() != sent.len() {
            return Err(StoreError::Reply(format!(
                "expected {} replies, got {}",
                sent.len(),
                replies.len()
            )));
        }
        // A (payload, day) part is applied when any of its account/regions counted it now, a
        // duplicate when all had counted it before (a retry after a partial failure applies
        // exactly the missing account/regions and reports the part as applied).
        let mut fresh: Vec<Vec<Option<bool>>> = batch
            .days
            .iter()
            .map(|d| vec![None; d.payloads.len()])
            .collect();
        for (reply, sent) in replies.into_iter().zip(sent) {
            let Some((d, units)) = sent else { continue };
            let flags: Vec<u8> = redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
            if flags.len() != units.len() {
                return Err(StoreError::Reply(format!(
                    "expected {} payload flags, got {}",
                    units.len(),
                    flags.len()
                )));
            }
            for (u, flag) in units.into_iter().zip(flags) {
                let entry = &mut fresh[d][u];
                *entry = Some(entry.unwrap_or(false) || flag == 1);
            }
        }
        let mut outcome = WriteOutcome::default();
        for part in fresh.into_iter().flatten().flatten() {
            if part {
                outcome.applied += 1;
            } else {
                outcome.duplicates += 1;
            }
        }
        Ok(outcome)
    }
}

type PairUnits<'b, 'a> = Vec<(usize, Vec<&'b Increment<'a>>)>;

/// A day's increments by account/region, each with the payloads (by number) that touch it.
fn split_by_pair<'b, 'a>(day: &'b DayWrite<'a>) -> BTreeMap<(&'a str, &'a str), PairUnits<'b, 'a>> {
    let mut pairs: BTreeMap<(&str, &str), PairUnits> = BTreeMap::new();
    for (u, unit) in day.payloads.iter().enumerate() {
        for inc in &unit.increments {
            let units = pairs.entry((inc.account, inc.region)).or_default();
            match units.last_mut() {
                Some((last, incs)) if *last == u => incs.push(inc),
                _ => units.push((u, vec![inc])),
            }
        }
    }
    pairs
}

/// Builds the `EVAL` of one account/region's day. The script text travels with each call (a
/// few hundred bytes): no `NOSCRIPT` dance after a failover or on a fresh serverless node.
fn pair_script(
    day: &DayWrite<'_>,
    account: &str,
    region: &str,
    units: &PairUnits<'_, '_>,
    limits: &SourceLimits,
) -> Cmd {
    // KEYS is 1-based: seen, unnamed, connections, kept, own sources, then the HyperLogLogs.
    let mut keys_list: Vec<String> = vec![
        keys::seen(&day.day, account, region),
        keys::unnamed(&day.day, account, region),
        keys::connections(&day.day, account, region),
        keys::kept(&day.day, account, region),
        keys::own_sources(&day.day, account, region),
    ];
    let mut endpoint_keys: HashMap<&str, usize> = HashMap::new();
    let mut hll_of = Vec::new();
    for (_, incs) in units {
        for inc in incs {
            let (_, endpoint) = keys::split_source(&inc.member);
            let hll = *endpoint_keys.entry(endpoint).or_insert_with(|| {
                keys_list.push(keys::endpoint_sources(&day.day, account, region, endpoint));
                keys_list.len()
            });
            hll_of.push(hll);
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
        .arg(units.len());
    let mut hll_of = hll_of.into_iter();
    for (u, incs) in units {
        cmd.arg(day.payloads[*u].id).arg(incs.len());
        for (inc, hll) in incs.iter().zip(&mut hll_of) {
            let (source, endpoint) = keys::split_source(&inc.member);
            let prefix = match inc.bare_ip {
                Some(ip) => format!("{}\t{endpoint}", classify::source_prefix(ip)),
                None => String::new(),
            };
            cmd.arg(hll)
                .arg(&inc.member)
                .arg(inc.count)
                .arg(source)
                .arg(prefix);
        }
    }
    cmd
}
