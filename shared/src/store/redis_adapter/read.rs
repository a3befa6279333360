//! The API port on Redis. Plain read commands only — no script, so every key a request
//! touches is named in its command (ElastiCache and cluster rules) and the API can run as a
//! read-only cache user:
//!
//! 1. the days' indexes (`SMEMBERS`, skipped for one account/region) and the asked-for hashes;
//! 2. the counters of each (day, account/region) the indexes list, all at once: `ZRANGE`; or,
//!    with a row filter Redis can apply (port, dest, an exact or prefix source), `ZSCAN …
//!    MATCH` so Redis sends only the matching rows; for one page of one day, the best rows
//!    only (`ZRANGE … BYSCORE REV LIMIT`); for `/account-connections`, the sums ingest keeps
//!    (`HGETALL` of the `own` hashes) instead of rows;
//! 3. with `names`, the reverse-DNS names the refresh cached for those addresses (`MGET`);
//! 4. with `distinct_sources`, each endpoint's HyperLogLog (`PFCOUNT`), all at once.
//!
//! Each step is one round trip (one per node in a cluster, sent at once).

use std::collections::HashMap;

use redis::{Cmd, Value};

use super::RedisStore;
use crate::model::{page_order, pair_text, Account, AccountRegion, Connection, InterfaceFacts};
use crate::store::{keys, ReadRequest, ReadResult, ReadStore, StoreError, Top};

/// Work per `ZSCAN` call: a day's counter (bounded per endpoint) is scanned in one call.
const ZSCAN_COUNT: usize = 100_000;

fn zrange(key: String) -> Cmd {
    let mut cmd = redis::cmd("ZRANGE");
    cmd.arg(key).arg(0).arg(-1).arg("WITHSCORES");
    cmd
}

/// The rows of a counter key with `min` ≤ score ≤ `max` (no bound: `None`), best first, at
/// most `count` of them.
fn zrange_best(key: String, min: u64, max: Option<u64>, count: Option<usize>) -> Cmd {
    let mut cmd = redis::cmd("ZRANGE");
    match max {
        Some(max) => cmd.arg(key).arg(max),
        None => cmd.arg(key).arg("+inf"),
    };
    cmd.arg(min).arg("BYSCORE").arg("REV");
    if let Some(count) = count {
        cmd.arg("LIMIT").arg(0).arg(count);
    }
    cmd.arg("WITHSCORES");
    cmd
}

fn decode<T: redis::FromRedisValue>(reply: Option<Value>, what: &str) -> Result<T, StoreError> {
    let reply = reply.ok_or_else(|| StoreError::Reply(format!("missing reply for {what}")))?;
    Ok(redis::from_redis_value(reply).map_err(redis::RedisError::from)?)
}

/// A reverse-DNS answer fit to show: a host name, not whatever a PTR record may hold.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// An index member (`ACCOUNT:REGION`) as a checked (account, region): a key is never built
/// from anything else.
pub(super) fn index_pair(member: &str) -> Option<AccountRegion> {
    AccountRegion::from_key(member)
}

impl ReadStore for RedisStore {
    async fn read(&self, request: &ReadRequest) -> Result<ReadResult, StoreError> {
        // 1. Indexes and hashes.
        let mut cmds = Vec::new();
        if request.scope.is_none() {
            for day in &request.days {
                cmds.push(redis::cmd("SMEMBERS").arg(keys::day_index(day)).clone());
            }
        }
        let hashes: Vec<&str> = [
            (request.accounts, keys::ACCOUNTS),
            (request.accounts, keys::LAST_UPDATE),
            (request.refreshed || request.accounts, keys::REFRESHED),
            (request.accounts, keys::REFRESH_FAILED),
            (request.addresses, keys::ADDRESSES),
            (request.resolved_names, keys::RESOLVED_NAMES),
            (request.interfaces, keys::INTERFACES),
        ]
        .into_iter()
        .filter_map(|(wanted, key)| wanted.then_some(key))
        .collect();
        for key in &hashes {
            cmds.push(redis::cmd("HGETALL").arg(*key).clone());
        }
        if request.aws_ranges {
            cmds.push(
                redis::cmd("HGET")
                    .arg(keys::AWS_RANGES)
                    .arg("blocks")
                    .clone(),
            );
        }
        let top = request.top.as_ref().filter(|_| request.days.len() == 1);
        let pattern = request.matching.as_deref().filter(|_| top.is_none());
        // With one account/region the counters are known up front: one round trip in all.
        let mut counters: Vec<(usize, String, String)> = Vec::new();
        if let Some(pair) = &request.scope {
            let (account, region) = (pair.account(), pair.region());
            for (d, day) in request.days.iter().enumerate() {
                counters.push((d, account.to_string(), region.to_string()));
                if top.is_none() && pattern.is_none() && !request.own_sources && !request.row_counts
                {
                    cmds.push(zrange(keys::connections(day, account, region)));
                }
            }
        }
        let mut replies = self.run_all(cmds).await?.into_iter();
        if request.scope.is_none() {
            for (d, day) in request.days.iter().enumerate() {
                let mut members: Vec<String> = decode(replies.next(), &keys::day_index(day))?;
                members.sort();
                for member in &members {
                    match index_pair(member) {
                        Some(pair)
                            if request
                                .account
                                .as_deref()
                                .is_some_and(|a| a != pair.account()) => {}
                        Some(pair) => counters.push((
                            d,
                            pair.account().to_string(),
                            pair.region().to_string(),
                        )),
                        None => tracing::warn!(%member, day, "unreadable index member skipped"),
                    }
                }
            }
        }
        let mut result = ReadResult {
            days: vec![Default::default(); request.days.len()],
            ..ReadResult::default()
        };
        let mut hash_replies: Vec<Value> = replies.by_ref().take(hashes.len()).collect();
        if request.aws_ranges {
            let blocks: Option<String> = decode(replies.next(), keys::AWS_RANGES)?;
            result.aws_ranges = blocks
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect();
        }
        let mut hash_replies = hash_replies.drain(..);
        for key in hashes {
            let map: HashMap<String, String> = decode(hash_replies.next(), key)?;
            match key {
                keys::ACCOUNTS => result.accounts = parse_accounts(map),
                keys::LAST_UPDATE => result.last_updates = map,
                keys::REFRESHED => result.refreshed = map,
                keys::REFRESH_FAILED => result.refresh_failures = map
                    .into_iter()
                    .filter_map(|(pair, json)| match serde_json::from_str(&json) {
                        Ok(failure) => Some((pair, failure)),
                        Err(e) => {
                            tracing::warn!(%pair, error = %e, "unreadable refresh failure skipped");
                            None
                        }
                    })
                    .collect(),
                keys::ADDRESSES => result.addresses = map,
                keys::RESOLVED_NAMES => {
                    result.resolved_names =
                        map.into_iter().filter(|(_, n)| is_host_name(n)).collect()
                }
                _ => result.interfaces = parse_interfaces(map),
            }
        }
        // 2. The counters (or, for our own sources, what ingest summed of them).
        if request.own_sources {
            let cmds = counters
                .iter()
                .map(|(d, account, region)| {
                    redis::cmd("HGETALL")
                        .arg(keys::own_sources(&request.days[*d], account, region))
                        .clone()
                })
                .collect();
            result.own_sources = vec![Default::default(); request.days.len()];
            for ((d, account, region), reply) in counters.iter().zip(self.run_all(cmds).await?) {
                let sums: HashMap<String, u64> =
                    redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
                result.own_sources[*d].insert(pair_text(account, region), sums);
            }
            return Ok(result);
        }
        if request.row_counts {
            let cmds = counters
                .iter()
                .map(|(d, account, region)| {
                    redis::cmd("ZCARD")
                        .arg(keys::connections(&request.days[*d], account, region))
                        .clone()
                })
                .collect();
            result.row_counts = vec![Default::default(); request.days.len()];
            for ((d, account, region), reply) in counters.iter().zip(self.run_all(cmds).await?) {
                let rows: u64 = redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
                result.row_counts[*d].insert(pair_text(account, region), rows);
            }
            return Ok(result);
        }
        let counter_rows: Vec<Vec<(String, u64)>> = if let Some(top) = top {
            self.top_rows(&request.days[0], &counters, top).await?
        } else if let Some(pattern) = pattern {
            let keys = counters
                .iter()
                .map(|(d, account, region)| keys::connections(&request.days[*d], account, region))
                .collect();
            self.matching_rows(keys, pattern).await?
        } else {
            let replies: Vec<Value> = if request.scope.is_some() {
                replies.collect()
            } else {
                let cmds = counters
                    .iter()
                    .map(|(d, account, region)| {
                        zrange(keys::connections(&request.days[*d], account, region))
                    })
                    .collect();
                self.run_all(cmds).await?
            };
            let mut replies = replies.into_iter();
            counters
                .iter()
                .map(|_| decode(replies.next(), "a counter"))
                .collect::<Result<_, _>>()?
        };
        for ((d, account, region), members) in counters.iter().zip(counter_rows) {
            result.days[*d].insert(pair_text(account, region), to_connections(members));
        }
        // 3. Reverse-DNS names the refresh cached, for the addresses asked for.
        if !request.names.is_empty() {
            let cmds = request
                .names
                .chunks(10_000)
                .map(|chunk| {
                    let mut cmd = redis::cmd("MGET");
                    for ip in chunk {
                        cmd.arg(keys::reverse_dns(ip));
                    }
                    cmd
                })
                .collect();
            let replies = self.run_all(cmds).await?;
            for (chunk, reply) in request.names.chunks(10_000).zip(replies) {
                let found: Vec<Option<String>> =
                    redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
                for (ip, name) in chunk.iter().zip(found) {
                    if let Some(name) = name.filter(|n| is_host_name(n)) {
                        result.names.insert(ip.clone(), name);
                    }
                }
            }
        }
        // 4. Distinct sources per endpoint: the busiest day's estimate.
        if request.distinct_sources {
            let mut asked: Vec<(String, String, Cmd)> = Vec::new();
            for (d, account, region) in &counters {
                let pair = pair_text(account, region);
                let day = &request.days[*d];
                let rows = &result.days[*d][&pair];
                let mut seen = std::collections::HashSet::new();
                for row in rows {
                    let endpoint = keys::endpoint(&row.dest, row.dest_port);
                    if seen.insert(endpoint.clone()) {
                        let key = keys::endpoint_sources(day, account, region, &endpoint);
                        asked.push((
                            pair.clone(),
                            endpoint,
                            redis::cmd("PFCOUNT").arg(key).clone(),
                        ));
                    }
                }
            }
            let cmds = asked.iter().map(|(_, _, cmd)| cmd.clone()).collect();
            let mut replies = self.run_all(cmds).await?.into_iter();
            for (pair, endpoint, _) in asked {
                let n: u64 = decode(replies.next(), "PFCOUNT")?;
                let best = result
                    .distinct_sources
                    .entry(pair)
                    .or_default()
                    .entry(endpoint)
                    .or_default();
                *best = (*best).max(n);
            }
        }
        Ok(result)
    }
}

impl RedisStore {
    /// The rows of each counter whose member matches `pattern`, filtered by Redis (`ZSCAN …
    /// MATCH`, all counters at once; a counter Redis has not finished in one call — a large
    /// one, or one being rehashed — is continued in the next round).
    async fn matching_rows(
        &self,
        keys: Vec<String>,
        pattern: &str,
    ) -> Result<Vec<Vec<(String, u64)>>, StoreError> {
        let mut rows: Vec<Vec<(String, u64)>> = vec![Vec::new(); keys.len()];
        let mut pending: Vec<(usize, String)> =
            (0..keys.len()).map(|i| (i, "0".to_string())).collect();
        while !pending.is_empty() {
            let cmds = pending
                .iter()
                .map(|(i, cursor)| {
                    redis::cmd("ZSCAN")
                        .arg(&keys[*i])
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(ZSCAN_COUNT)
                        .clone()
                })
                .collect();
            let replies = self.run_all(cmds).await?;
            let mut next = Vec::new();
            for ((i, _), reply) in pending.into_iter().zip(replies) {
                let (cursor, found): (String, Vec<(String, u64)>) =
                    redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
                rows[i].extend(found);
                if cursor != "0" {
                    next.push((i, cursor));
                }
            }
            pending = next;
        }
        Ok(rows)
    }

    /// The rows of one day that the `k` best (score ≥ `min_score`, after `top.after`) over all
    /// `counters` can be among, exactly: first the best `m` of each counter (m ≈ 2k /
    /// counters); the k-th best score among those is a threshold T every answer row reaches;
    /// then every row ≥ T of each counter that was cut off at or above T. Ties at T are all
    /// read, so any order of ties gives the same answer. Two round trips, each sized by the
    /// answer, not by the day — on the first page as on the hundredth.
    async fn top_rows(
        &self,
        day: &str,
        counters: &[(usize, String, String)],
        top: &Top,
    ) -> Result<Vec<Vec<(String, u64)>>, StoreError> {
        if counters.is_empty() || top.k == 0 {
            return Ok(vec![Vec::new(); counters.len()]);
        }
        let m = (2 * top.k).div_ceil(counters.len()).clamp(8, top.k.max(8));
        let max = top.after.as_ref().map(|(_, c)| c.score);
        let key = |(_, account, region): &(usize, String, String)| {
            keys::connections(day, account, region)
        };
        // Rows at the cursor's score that its page already showed are dropped here (they are
        // read again only while ties at that score remain).
        let fresh = |(_, account, region): &(usize, String, String),
                     rows: &mut Vec<(String, u64)>| {
            if let Some((after_pair, after)) = &top.after {
                let pair = pair_text(account, region);
                rows.retain(|(member, score)| {
                    *score < after.score
                        || keys::parse_connection_member(member).is_some_and(|(s, d, p)| {
                            let row = Connection::new(s, d, p, *score);
                            page_order(&pair, &row, after_pair, after).is_gt()
                        })
                });
            }
        };
        let cmds = counters
            .iter()
            .map(|c| zrange_best(key(c), top.min_score, max, Some(m)))
            .collect();
        let mut rows: Vec<Vec<(String, u64)>> = Vec::with_capacity(counters.len());
        let mut cut: Vec<Option<u64>> = Vec::with_capacity(counters.len());
        for (c, reply) in counters.iter().zip(self.run_all(cmds).await?) {
            let mut got: Vec<(String, u64)> =
                redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
            // Cut off: Redis had more than m; the last score read bounds what was left.
            cut.push((got.len() == m).then(|| got.last().map_or(0, |(_, s)| *s)));
            fresh(c, &mut got);
            rows.push(got);
        }
        let mut scores: Vec<u64> = rows.iter().flatten().map(|(_, s)| *s).collect();
        let threshold = if scores.len() >= top.k {
            let (_, kth, _) = scores.select_nth_unstable_by(top.k - 1, |a, b| b.cmp(a));
            *kth
        } else {
            top.min_score
        };
        let again: Vec<usize> = (0..counters.len())
            .filter(|&i| cut[i].is_some_and(|last| last >= threshold))
            .collect();
        let cmds = again
            .iter()
            .map(|&i| zrange_best(key(&counters[i]), threshold, max, None))
            .collect();
        for (i, reply) in again.into_iter().zip(self.run_all(cmds).await?) {
            let mut got: Vec<(String, u64)> =
                redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
            fresh(&counters[i], &mut got);
            rows[i] = got;
        }
        Ok(rows)
    }
}

fn to_connections(members: Vec<(String, u64)>) -> Vec<Connection> {
    members
        .into_iter()
        .filter_map(|(m, score)| {
            let (source, dest, dest_port) = keys::parse_connection_member(&m)?;
            Some(Connection {
                source: source.to_string(),
                dest: dest.to_string(),
                dest_port,
                score,
            })
        })
        .collect()
}

pub(super) fn parse_accounts(map: HashMap<String, String>) -> Vec<Account> {
    let mut accounts: Vec<Account> = map
        .values()
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect();
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    accounts
}

fn parse_interfaces(map: HashMap<String, String>) -> Vec<InterfaceFacts> {
    let mut interfaces: Vec<InterfaceFacts> = map
        .into_iter()
        .filter_map(|(id, json)| match serde_json::from_str(&json) {
            Ok(facts) => Some(facts),
            Err(e) => {
                tracing::warn!(interface = %id, error = %e, "unreadable interface facts skipped");
                None
            }
        })
        .collect();
    interfaces.sort_by(|a, b| a.interface_id.cmp(&b.interface_id));
    interfaces
}
