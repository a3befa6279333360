//! The ingest port on Redis: the inventory snapshot in one round trip, and a batch written
//! with one script per (day, account/region) — one cluster slot each — and one index update per
//! day, all sent at once.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use foldhash::HashMap as FastMap;
use redis::Cmd;

use super::RedisStore;
use crate::model::{pair_key, DestPort, InventorySnapshot, OTHER};
use crate::rules::classify;
use crate::store::{
    keys, CounterStore, DayWrite, Increment, MemoryUse, RowLimits, StoreError, WriteBatch,
    WriteOutcome,
};

/// One account/region's day of a batch. KEYS: seen, unnamed, connections, kept, own sources,
/// used (the exposure review's sums), then per endpoint its distinct-source HyperLogLog, then per destination the HyperLogLog of
/// its folded ports, then that of the folded endpoints. ARGV: expire_at (counters), seen TTL,
/// unnamed TTL (seconds), the five [`RowLimits`], the destination count and per destination
/// its name and folded ports' key number, the folded endpoints' key number, the group count,
/// then per group: payload count and ids, increment count, then per increment: HyperLogLog key
/// number, member, count, source, and the member of the source's prefix (empty for a named
/// source). Returns one flag per payload: 1 counted now, 0 counted before, 2 not written.
const WRITE_DAY_SCRIPT: &str = include_str!("../scripts/write_day.lua");

/// Adds account/regions to a day's index and sets its expiry. KEYS: the index; ARGV:
/// expire_at, then the `ACCOUNT:REGION` members.
const INDEX_DAY_SCRIPT: &str = include_str!("../scripts/index_day.lua");

impl CounterStore for RedisStore {
    async fn load_inventory(&self) -> Result<InventorySnapshot, StoreError> {
        let mut conn = self.conn.clone();
        type Map = HashMap<String, String>;
        let (interfaces, addresses, formats, private_interfaces): (Map, Map, Map, Map) =
            redis::pipe()
                .hgetall(keys::INTERFACES)
                .hgetall(keys::ADDRESSES)
                .hgetall(keys::FORMATS)
                .hgetall(keys::PRIVATE_INTERFACES)
                .query_async(&mut conn)
                .await?;
        Ok(InventorySnapshot {
            interfaces,
            addresses,
            formats,
            private_interfaces,
        })
    }

    async fn memory(&self) -> Result<Vec<MemoryUse>, StoreError> {
        self.memory_use().await
    }

    async fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(WriteOutcome::default());
        }
        // One script per (day, account/region): one slot each. Then per day its index.
        let mut cmds: Vec<Cmd> = Vec::new();
        // Per command sent: for a script, its day, account/region and the numbers (in that
        // day) of the payloads it carries; `None` for the index updates and the last-update.
        let mut sent: Vec<Option<Sent>> = Vec::new();
        // (payload, day) parts: applied now (`Some(true)`), counted before (`Some(false)`).
        let mut fresh: Vec<Vec<Option<bool>>> = batch
            .days
            .iter()
            .map(|d| vec![None; d.payloads.len()])
            .collect();
        let mut pairs_of_day = Vec::with_capacity(batch.days.len());
        for (d, day) in batch.days.iter().enumerate() {
            let pairs = split_by_pair(day);
            if pairs.is_empty() {
                pairs_of_day.push(pairs);
                continue;
            }
            let mut index = redis::cmd("EVAL");
            index
                .arg(INDEX_DAY_SCRIPT)
                .arg(1)
                .arg(keys::day_index(&day.day))
                .arg(day.expire_at);
            for (&(account, region), units) in &pairs {
                index.arg(pair_key(account, region));
                // A payload that comes twice in one batch (the same id) is one payload: the
                // copy is counted before, and stays out of the merged rows.
                let mut ids = HashSet::new();
                let (units, copies): (Vec<_>, Vec<_>) = units
                    .iter()
                    .partition(|(u, _)| ids.insert(day.payloads[*u].id));
                for (u, _) in copies {
                    merge_flag(&mut fresh[d][*u], false);
                }
                let groups = vec![Group::merged(&units)];
                cmds.push(pair_script(day, account, region, &groups, &batch.limits));
                sent.push(Some(Sent::new(d, account, region, &groups)));
            }
            cmds.push(index);
            sent.push(None);
            pairs_of_day.push(pairs);
        }
        if let Some(cmd) = last_update(batch) {
            cmds.push(cmd);
            sent.push(None);
        }
        let replies = self.run_all(cmds).await?;
        // Groups of several payloads some of which were counted before wrote nothing: their
        // payloads go again, one group each, in a second round (a redelivery of a batch that
        // was partly counted; never on a first delivery).
        let mut again: Vec<Cmd> = Vec::new();
        let mut again_sent: Vec<Sent> = Vec::new();
        for (d, account, region, units) in read_flags(replies, sent, &mut fresh)? {
            let day = &batch.days[d];
            let units: HashSet<usize> = units.into_iter().collect();
            let groups: Vec<Group> = pairs_of_day[d][&(account, region)]
                .iter()
                .filter(|(u, _)| units.contains(u))
                .map(|unit| Group::merged(std::slice::from_ref(&unit)))
                .collect();
            again.push(pair_script(day, account, region, &groups, &batch.limits));
            again_sent.push(Sent::new(d, account, region, &groups));
        }
        if !again.is_empty() {
            let replies = self.run_all(again).await?;
            let left = read_flags(
                replies,
                again_sent.into_iter().map(Some).collect(),
                &mut fresh,
            )?;
            if !left.is_empty() {
                return Err(StoreError::Reply(
                    "a payload written alone was reported as part of a mixed group".into(),
                ));
            }
        }
        Ok(outcome_of(fresh))
    }
}

/// The last-update stamp of every account/region the batch read (`HSET`), if any.
fn last_update(batch: &WriteBatch<'_>) -> Option<Cmd> {
    let mut touched: Vec<String> = batch.touched.iter().map(|(a, r)| pair_key(a, r)).collect();
    touched.sort();
    touched.dedup();
    if touched.is_empty() {
        return None;
    }
    let mut cmd = redis::cmd("HSET");
    cmd.arg(keys::LAST_UPDATE);
    for field in &touched {
        cmd.arg(field).arg(&batch.now_rfc3339);
    }
    Some(cmd)
}

/// (payload, day) parts applied now and counted before.
fn outcome_of(fresh: Vec<Vec<Option<bool>>>) -> WriteOutcome {
    let mut outcome = WriteOutcome::default();
    for part in fresh.into_iter().flatten().flatten() {
        if part {
            outcome.applied += 1;
        } else {
            outcome.duplicates += 1;
        }
    }
    outcome
}

/// What one script was sent for: its day (by number), account/region and payloads (by number
/// in the day), in the order of its flags.
struct Sent<'a> {
    day: usize,
    account: &'a str,
    region: &'a str,
    units: Vec<usize>,
}

impl<'a> Sent<'a> {
    fn new(day: usize, account: &'a str, region: &'a str, groups: &[Group<'_, '_>]) -> Self {
        Sent {
            day,
            account,
            region,
            units: groups
                .iter()
                .flat_map(|g| g.units.iter().copied())
                .collect(),
        }
    }
}

/// A part is applied when any of its account/regions counted it now, a duplicate when all had
/// counted it before (a retry after a partial failure applies exactly the missing
/// account/regions and reports the part as applied).
fn merge_flag(entry: &mut Option<bool>, now: bool) {
    *entry = Some(entry.unwrap_or(false) || now);
}

/// A script's mixed groups: its day, account/region, and their payloads (by number in the day).
type Mixed<'a> = (usize, &'a str, &'a str, Vec<usize>);

/// Reads the scripts' flags into `fresh`; returns the scripts whose mixed groups wrote
/// nothing, with those groups' payloads.
fn read_flags<'a>(
    replies: Vec<redis::Value>,
    sent: Vec<Option<Sent<'a>>>,
    fresh: &mut [Vec<Option<bool>>],
) -> Result<Vec<Mixed<'a>>, StoreError> {
    if replies.len() != sent.len() {
        return Err(StoreError::Reply(format!(
            "expected {} replies, got {}",
            sent.len(),
            replies.len()
        )));
    }
    let mut mixed = Vec::new();
    for (reply, sent) in replies.into_iter().zip(sent) {
        let Some(sent) = sent else { continue };
        let flags: Vec<u8> = redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
        if flags.len() != sent.units.len() {
            return Err(StoreError::Reply(format!(
                "expected {} payload flags, got {}",
                sent.units.len(),
                flags.len()
            )));
        }
        let mut left = Vec::new();
        for (&u, flag) in sent.units.iter().zip(flags) {
            match flag {
                0 | 1 => merge_flag(&mut fresh[sent.day][u], flag == 1),
                2 => left.push(u),
                other => {
                    return Err(StoreError::Reply(format!(
                        "unexpected payload flag {other}"
                    )))
                }
            }
        }
        if !left.is_empty() {
            mixed.push((sent.day, sent.account, sent.region, left));
        }
    }
    Ok(mixed)
}

/// One group of an account/region's script: payloads (by number in the day) applied together
/// or not at all, and their rows summed by member in the order each member first comes.
struct Group<'b, 'a> {
    units: Vec<usize>,
    rows: Vec<(&'b Increment<'a>, u64)>,
}

impl<'b, 'a> Group<'b, 'a> {
    fn merged(units: &[&(usize, Vec<&'b Increment<'a>>)]) -> Self {
        let mut rows: Vec<(&Increment, u64)> = Vec::new();
        if let [(_, incs)] = units {
            rows.extend(incs.iter().map(|inc| (*inc, inc.count)));
        } else {
            let mut at: FastMap<&str, usize> = FastMap::default();
            at.reserve(units.iter().map(|(_, incs)| incs.len()).sum());
            for (_, incs) in units {
                for inc in incs {
                    match at.entry(inc.member.as_str()) {
                        Entry::Occupied(e) => rows[*e.get()].1 += inc.count,
                        Entry::Vacant(e) => {
                            e.insert(rows.len());
                            rows.push((*inc, inc.count));
                        }
                    }
                }
            }
        }
        Group {
            units: units.iter().map(|(u, _)| *u).collect(),
            rows,
        }
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
/// few kilobytes): no `NOSCRIPT` dance after a failover or on a fresh serverless node.
fn pair_script(
    day: &DayWrite<'_>,
    account: &str,
    region: &str,
    groups: &[Group<'_, '_>],
    limits: &RowLimits,
) -> Cmd {
    // KEYS is 1-based: seen, unnamed, connections, kept, own sources, used, then the
    // HyperLogLogs.
    let mut keys_list: Vec<String> = vec![
        keys::seen(&day.day, account, region),
        keys::unnamed(&day.day, account, region),
        keys::connections(&day.day, account, region),
        keys::kept(&day.day, account, region),
        keys::own_sources(&day.day, account, region),
        keys::used(&day.day, account, region),
    ];
    let mut endpoint_keys: FastMap<&str, usize> = FastMap::default();
    let mut hll_of = Vec::new();
    for group in groups {
        for (inc, _) in &group.rows {
            let (_, endpoint) = keys::split_source(&inc.member);
            let hll = *endpoint_keys.entry(endpoint).or_insert_with(|| {
                keys_list.push(keys::endpoint_sources(&day.day, account, region, endpoint));
                keys_list.len()
            });
            hll_of.push(hll);
        }
    }
    // Where an endpoint past the bounds goes (`docs/rules.md`, "Bounds"): its destination's
    // folded ports, or the account/region's folded endpoints; declared, as every key is.
    let mut dests: Vec<&str> = endpoint_keys
        .keys()
        .map(|endpoint| {
            endpoint
                .rsplit_once('\t')
                .map_or(*endpoint, |(dest, _)| dest)
        })
        .collect();
    dests.sort_unstable();
    dests.dedup();
    let mut folds: Vec<(&str, usize)> = Vec::with_capacity(dests.len());
    for dest in dests {
        let folded = keys::endpoint(dest, DestPort::Other);
        keys_list.push(keys::endpoint_sources(&day.day, account, region, &folded));
        folds.push((dest, keys_list.len()));
    }
    let everything = keys::endpoint(OTHER, DestPort::Other);
    keys_list.push(keys::endpoint_sources(
        &day.day,
        account,
        region,
        &everything,
    ));
    let everything_hll = keys_list.len();
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
        .arg(limits.max_ports_per_endpoint)
        .arg(limits.max_endpoints_per_account_region)
        .arg(folds.len());
    for (dest, hll) in &folds {
        cmd.arg(*dest).arg(*hll);
    }
    cmd.arg(everything_hll).arg(groups.len());
    let mut hll_of = hll_of.into_iter();
    for group in groups {
        cmd.arg(group.units.len());
        for &u in &group.units {
            cmd.arg(day.payloads[u].id);
        }
        cmd.arg(group.rows.len());
        for ((inc, count), hll) in group.rows.iter().zip(&mut hll_of) {
            let (source, _) = keys::split_source(&inc.member);
            cmd.arg(hll).arg(&inc.member).arg(*count).arg(source);
            match inc.bare_ip {
                Some(ip) => cmd.arg(classify::source_prefix(ip)),
                None => cmd.arg(""),
            };
        }
    }
    cmd
}
