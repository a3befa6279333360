//! The API port on Redis. Plain read commands only — no script, so every key a request
//! touches is named in its command (ElastiCache and cluster rules) and the API can run as a
//! read-only cache user:
//!
//! 1. the days' indexes (`SMEMBERS`, skipped for one account/region) and the asked-for hashes;
//! 2. the counters of each (day, account/region) the indexes list, all at once: `ZRANGE`; or,
//!    with a row filter Redis can apply (port, dest, an exact or prefix source), `ZSCAN …
//!    MATCH` so Redis sends only the matching rows; for one page of one day, the best rows
//!    only (`ZRANGE … BYSCORE REV LIMIT`); for `/account-connections` and the exposure review,
//!    the sums ingest keeps (`HGETALL` of the `own` or `used` hashes) instead of rows;
//! 3. with `names`, the reverse-DNS names the refresh cached for those addresses (`MGET`);
//! 4. with `distinct_sources`, each endpoint's HyperLogLog (`PFCOUNT`), all at once.
//!
//! Each step is one round trip (one per node in a cluster, sent at once).

use std::collections::{BTreeMap, HashMap};

use redis::Value;

use super::rows::{to_connections, zrange, Counter};
use super::RedisStore;
use crate::model::{Account, AccountRegion, IngressRule, InterfaceFacts};
use crate::store::{keys, ReadRequest, ReadResult, ReadStore, Rows, StoreError};

/// Whether the counters' rows come with the first round trip (one account/region, plain rows;
/// with `max_rows`, one day only, its `ZRANGE` cut one row past the bound).
fn rows_up_front(request: &ReadRequest) -> bool {
    request.scope.is_some()
        && top_of(request).is_none()
        && matches!(request.rows, Rows::All | Rows::Top(_))
        && (request.max_rows.is_none() || request.days.len() == 1)
}

/// Fails when `rows` found are more than the request may fetch.
fn within(request: &ReadRequest, rows: u64) -> Result<(), StoreError> {
    match request.max_rows {
        Some(limit) if rows > limit as u64 => Err(StoreError::TooManyRows { rows, limit }),
        _ => Ok(()),
    }
}

/// A top-k read applies to one day only.
fn top_of(request: &ReadRequest) -> Option<&crate::store::Top> {
    match &request.rows {
        Rows::Top(top) if request.days.len() == 1 => Some(top),
        _ => None,
    }
}

/// A Redis-side filter.
fn pattern_of(request: &ReadRequest) -> Option<&str> {
    match &request.rows {
        Rows::Matching(pattern) => Some(pattern),
        _ => None,
    }
}

/// The hashes a request asks for, in the order their replies come.
fn hashes_of(request: &ReadRequest) -> Vec<&'static str> {
    [
        (request.accounts, keys::ACCOUNTS),
        (request.accounts || request.ingress, keys::LAST_UPDATE),
        (request.refreshed || request.accounts, keys::REFRESHED),
        (request.accounts, keys::REFRESH_FAILED),
        (request.addresses, keys::ADDRESSES),
        (request.resolved_names, keys::RESOLVED_NAMES),
        (request.interfaces, keys::INTERFACES),
        (request.ingress, keys::INGRESS),
    ]
    .into_iter()
    .filter_map(|(wanted, key)| wanted.then_some(key))
    .collect()
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
        // 1. Indexes and hashes (and, for one account/region, its counters too).
        let hashes = hashes_of(request);
        let mut counters: Vec<Counter> = match &request.scope {
            Some(pair) => (0..request.days.len())
                .map(|day| Counter {
                    day,
                    pair: pair.clone(),
                })
                .collect(),
            None => Vec::new(),
        };
        let mut cmds = Vec::new();
        if request.scope.is_none() {
            for day in &request.days {
                cmds.push(redis::cmd("SMEMBERS").arg(keys::day_index(day)).clone());
            }
        }
        for key in &hashes {
            cmds.push(redis::cmd("HGETALL").arg(*key).clone());
        }
        if request.s3_ranges {
            cmds.push(
                redis::cmd("HGET")
                    .arg(keys::S3_RANGES)
                    .arg("blocks")
                    .clone(),
            );
        }
        if rows_up_front(request) {
            cmds.extend(
                counters
                    .iter()
                    .map(|c| zrange(c.key(request), request.max_rows)),
            );
        }
        let mut replies = self.run_all(cmds).await?.into_iter();
        if request.scope.is_none() {
            counters = indexed_counters(request, &mut replies)?;
        }
        let mut result = ReadResult {
            days: vec![Default::default(); request.days.len()],
            ..ReadResult::default()
        };
        take_hashes(request, &hashes, &mut replies, &mut result)?;
        // 2. The counters (or, for our own sources and row counts, what ingest keeps of them).
        if matches!(
            request.rows,
            Rows::OwnSources | Rows::RowCounts | Rows::Usage
        ) {
            self.sums(request, &counters, &mut result).await?;
            return Ok(result);
        }
        let rows = self.counter_rows(request, &counters, replies).await?;
        for (c, members) in counters.iter().zip(rows) {
            result.days[c.day].insert(c.pair.to_string(), to_connections(members));
        }
        // 3. Reverse-DNS names the refresh cached, for the addresses asked for.
        if !request.names.is_empty() {
            result.names = self.names(&request.names).await?;
        }
        // 4. Distinct sources per endpoint: the busiest day's estimate.
        if request.distinct_sources {
            self.distinct_sources(request, &counters, &mut result)
                .await?;
        }
        Ok(result)
    }
}

/// The (day, account/region) counters the days' indexes list, in order, checked.
fn indexed_counters(
    request: &ReadRequest,
    replies: &mut impl Iterator<Item = Value>,
) -> Result<Vec<Counter>, StoreError> {
    let mut counters = Vec::new();
    for (d, day) in request.days.iter().enumerate() {
        let members: Vec<String> = decode(replies.next(), &keys::day_index(day))?;
        for pair in index_pairs(members, day) {
            if request
                .account
                .as_deref()
                .is_none_or(|a| a == pair.account())
            {
                counters.push(Counter { day: d, pair });
            }
        }
    }
    Ok(counters)
}

/// A day index's members as checked account/regions, sorted; unreadable ones skipped (logged).
pub(super) fn index_pairs(mut members: Vec<String>, day: &str) -> Vec<AccountRegion> {
    members.sort();
    members
        .iter()
        .filter_map(|member| {
            let pair = index_pair(member);
            if pair.is_none() {
                tracing::warn!(%member, day, "unreadable index member skipped");
            }
            pair
        })
        .collect()
}

/// The asked-for hashes (and AWS's ranges) into the result.
fn take_hashes(
    request: &ReadRequest,
    hashes: &[&'static str],
    replies: &mut impl Iterator<Item = Value>,
    result: &mut ReadResult,
) -> Result<(), StoreError> {
    for &key in hashes {
        let map: HashMap<String, String> = decode(replies.next(), key)?;
        match key {
            keys::ACCOUNTS => result.accounts = parse_accounts(map),
            keys::LAST_UPDATE => result.last_updates = map,
            keys::REFRESHED => result.refreshed = map,
            keys::REFRESH_FAILED => result.refresh_failures = parse_failures(map),
            keys::ADDRESSES => result.addresses = map,
            keys::RESOLVED_NAMES => {
                result.resolved_names = map.into_iter().filter(|(_, n)| is_host_name(n)).collect()
            }
            keys::INGRESS => result.ingress = parse_ingress(map),
            _ => result.interfaces = parse_interfaces(map),
        }
    }
    if request.s3_ranges {
        let blocks: Option<String> = decode(replies.next(), keys::S3_RANGES)?;
        result.s3_ranges = blocks
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
    }
    Ok(())
}

impl RedisStore {
    /// Instead of rows: the sums ingest keeps of our own sources (`own`) or for the exposure
    /// review (`used`), or each counter's row count (`ZCARD`).
    async fn sums(
        &self,
        request: &ReadRequest,
        counters: &[Counter],
        result: &mut ReadResult,
    ) -> Result<(), StoreError> {
        let hash = |c: &Counter| {
            let (day, account, region) = (&request.days[c.day], c.pair.account(), c.pair.region());
            match request.rows {
                Rows::Usage => keys::used(day, account, region),
                _ => keys::own_sources(day, account, region),
            }
        };
        let cmds = counters
            .iter()
            .map(|c| match request.rows {
                Rows::RowCounts => redis::cmd("ZCARD").arg(c.key(request)).clone(),
                _ => redis::cmd("HGETALL").arg(hash(c)).clone(),
            })
            .collect();
        let replies = self.run_all(cmds).await?;
        let n = request.days.len();
        match request.rows {
            Rows::RowCounts => result.row_counts = vec![Default::default(); n],
            Rows::Usage => result.usage = vec![Default::default(); n],
            _ => result.own_sources = vec![Default::default(); n],
        }
        for (c, reply) in counters.iter().zip(replies) {
            let pair = c.pair.to_string();
            if request.rows == Rows::RowCounts {
                let rows: u64 = redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
                result.row_counts[c.day].insert(pair, rows);
                continue;
            }
            let sums: HashMap<String, u64> =
                redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
            match request.rows {
                Rows::Usage => result.usage[c.day].insert(pair, sums),
                _ => result.own_sources[c.day].insert(pair, sums),
            };
        }
        Ok(())
    }

    /// Each counter's rows: the best a page needs, those Redis filters, or all (already in
    /// `replies` for one account/region).
    async fn counter_rows(
        &self,
        request: &ReadRequest,
        counters: &[Counter],
        replies: impl Iterator<Item = Value>,
    ) -> Result<Vec<Vec<(String, u64)>>, StoreError> {
        if let Some(top) = top_of(request) {
            return self.top_rows(&request.days[0], counters, top).await;
        }
        if let Some(pattern) = pattern_of(request) {
            let keys = counters.iter().map(|c| c.key(request)).collect();
            return self.matching_rows(keys, pattern, request.max_rows).await;
        }
        let up_front = rows_up_front(request);
        let replies: Vec<Value> = if up_front {
            replies.collect()
        } else {
            if request.max_rows.is_some() {
                // The rows are counted (`ZCARD`, one trip) before they are fetched.
                let cmds = counters
                    .iter()
                    .map(|c| redis::cmd("ZCARD").arg(c.key(request)).clone())
                    .collect();
                let mut total = 0;
                for reply in self.run_all(cmds).await? {
                    total += decode::<u64>(Some(reply), "ZCARD")?;
                }
                within(request, total)?;
            }
            let cmds = counters
                .iter()
                .map(|c| zrange(c.key(request), None))
                .collect();
            self.run_all(cmds).await?
        };
        let mut replies = replies.into_iter();
        let rows: Vec<Vec<(String, u64)>> = counters
            .iter()
            .map(|_| decode(replies.next(), "a counter"))
            .collect::<Result<_, _>>()?;
        // The rows fetched up front were cut at the bound plus one: past it is the refusal.
        // (Counted by `ZCARD` before they were fetched, the others were judged already: a row
        // written in between does not turn an allowed read into a refused one.)
        if up_front {
            within(request, rows.iter().map(|r| r.len() as u64).sum())?;
        }
        Ok(rows)
    }

    /// The reverse-DNS names the refresh cached for `ips` (host names only).
    async fn names(&self, ips: &[String]) -> Result<HashMap<String, String>, StoreError> {
        let cmds = ips
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
        let mut names = HashMap::new();
        for (chunk, reply) in ips.chunks(10_000).zip(replies) {
            let found: Vec<Option<String>> =
                redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
            for (ip, name) in chunk.iter().zip(found) {
                if let Some(name) = name.filter(|n| is_host_name(n)) {
                    names.insert(ip.clone(), name);
                }
            }
        }
        Ok(names)
    }

    /// Each HyperLogLog's estimate (`PFCOUNT`), all sent at once, in the order given.
    pub(super) async fn estimates(&self, keys: Vec<String>) -> Result<Vec<u64>, StoreError> {
        let cmds = keys
            .into_iter()
            .map(|key| redis::cmd("PFCOUNT").arg(key).clone())
            .collect();
        let replies = self.run_all(cmds).await?;
        replies
            .into_iter()
            .map(|reply| decode(Some(reply), "PFCOUNT"))
            .collect()
    }

    /// Each endpoint's distinct-source estimate on the busiest day read (`PFCOUNT`).
    async fn distinct_sources(
        &self,
        request: &ReadRequest,
        counters: &[Counter],
        result: &mut ReadResult,
    ) -> Result<(), StoreError> {
        let mut asked: Vec<(String, String, String)> = Vec::new();
        for c in counters {
            let pair = c.pair.to_string();
            let day = &request.days[c.day];
            let mut seen = std::collections::HashSet::new();
            for row in &result.days[c.day][&pair] {
                let endpoint = keys::endpoint(&row.dest, row.dest_port);
                if seen.insert(endpoint.clone()) {
                    let key =
                        keys::endpoint_sources(day, c.pair.account(), c.pair.region(), &endpoint);
                    asked.push((pair.clone(), endpoint, key));
                }
            }
        }
        let keys = asked.iter().map(|(_, _, key)| key.clone()).collect();
        let estimates = self.estimates(keys).await?;
        for ((pair, endpoint, _), n) in asked.into_iter().zip(estimates) {
            let best = result
                .distinct_sources
                .entry(pair)
                .or_default()
                .entry(endpoint)
                .or_default();
            *best = (*best).max(n);
        }
        Ok(())
    }
}

pub(super) fn parse_accounts(map: HashMap<String, String>) -> Vec<Account> {
    let mut accounts: Vec<Account> = map
        .values()
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect();
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    accounts
}

/// A hash's JSON values that parse, by field; an entry that does not is logged (as `what`)
/// and left out.
fn parse_values<T: serde::de::DeserializeOwned>(
    map: HashMap<String, String>,
    what: &'static str,
) -> impl Iterator<Item = (String, T)> {
    map.into_iter()
        .filter_map(move |(field, json)| match serde_json::from_str(&json) {
            Ok(value) => Some((field, value)),
            Err(e) => {
                tracing::warn!(%field, error = %e, "skipping unreadable {what}");
                None
            }
        })
}

/// The stored ingress rules by group.
fn parse_ingress(map: HashMap<String, String>) -> BTreeMap<String, Vec<IngressRule>> {
    parse_values(map, "ingress rules").collect()
}

fn parse_interfaces(map: HashMap<String, String>) -> Vec<InterfaceFacts> {
    let mut interfaces: Vec<InterfaceFacts> = parse_values(map, "interface facts")
        .map(|(_, facts)| facts)
        .collect();
    interfaces.sort_by(|a, b| a.interface_id.cmp(&b.interface_id));
    interfaces
}

fn parse_failures(map: HashMap<String, String>) -> HashMap<String, crate::model::RefreshFailure> {
    parse_values(map, "refresh failure").collect()
}
