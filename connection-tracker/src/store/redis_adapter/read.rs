//! The API port on Redis: everything one request needs in one round trip.

use std::collections::HashMap;

use super::RedisStore;
use crate::model::{Account, Connection, InterfaceFacts};
use crate::store::{keys, ReadRequest, ReadResult, ReadStore, StoreError};

/// Reads a whole day in one call. KEYS[1]: the day's index; ARGV[1]: the day's counter-key
/// prefix (the keys share the index's hash tag, so they live in its slot).
/// Returns {pair, {member, score, ...}, pair, ...}.
const READ_DAY_SCRIPT: &str = include_str!("../scripts/read_day.lua");

impl ReadStore for RedisStore {
    async fn read(&self, request: &ReadRequest) -> Result<ReadResult, StoreError> {
        let mut cmds = Vec::new();
        for day in &request.days {
            cmds.push(match &request.scope {
                Some((account, region)) => {
                    let mut cmd = redis::cmd("ZRANGE");
                    cmd.arg(keys::connections(day, account, region))
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES");
                    cmd
                }
                None => {
                    let mut cmd = redis::cmd("EVAL");
                    cmd.arg(READ_DAY_SCRIPT)
                        .arg(1)
                        .arg(keys::day_index(day))
                        .arg(keys::connections_prefix(day));
                    cmd
                }
            });
        }
        let hashes: Vec<&str> = [
            (request.accounts, keys::ACCOUNTS),
            (request.accounts, keys::LAST_UPDATE),
            (request.refreshed, keys::REFRESHED),
            (request.addresses, keys::ADDRESSES),
            (request.interfaces, keys::INTERFACES),
        ]
        .into_iter()
        .filter_map(|(wanted, key)| wanted.then_some(key))
        .collect();
        for key in &hashes {
            cmds.push(redis::cmd("HGETALL").arg(*key).clone());
        }
        let mut replies = self.run_all(cmds).await?.into_iter();
        let mut result = ReadResult::default();
        for _ in &request.days {
            let reply = replies
                .next()
                .ok_or_else(|| StoreError::Reply("missing reply for a day".into()))?;
            let pairs: Vec<(String, Vec<(String, u64)>)> = match &request.scope {
                Some((account, region)) => vec![(
                    keys::account_region(account, region),
                    redis::from_redis_value(reply).map_err(redis::RedisError::from)?,
                )],
                None => redis::from_redis_value(reply).map_err(redis::RedisError::from)?,
            };
            result.days.push(
                pairs
                    .into_iter()
                    .map(|(pair, members)| (pair.replacen(':', "/", 1), to_connections(members)))
                    .collect(),
            );
        }
        for key in hashes {
            let reply = replies
                .next()
                .ok_or_else(|| StoreError::Reply(format!("missing reply for {key}")))?;
            let map: HashMap<String, String> =
                redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
            match key {
                keys::ACCOUNTS => result.accounts = parse_accounts(map),
                keys::LAST_UPDATE => result.last_updates = map,
                keys::REFRESHED => result.refreshed = map,
                keys::ADDRESSES => result.addresses = map,
                _ => result.interfaces = parse_interfaces(map),
            }
        }
        Ok(result)
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
