//! The Redis adapter behind the store ports: one connection type for a single node and a
//! cluster, round trips counted, the Lua scripts of `scripts/` sent with each call.
//!
//! A batch is written with one Lua script per day it touches, all in one pipeline: one round
//! trip on a single node (one per node in a cluster). Each script first adds the payload ids to
//! the day's `seen` set and applies only the increments of payloads not seen before, so a batch
//! delivered twice, or retried after a lost reply, counts once.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::keys;
use super::{
    CounterStore, DayWrite, ReadRequest, ReadResult, ReadStore, RefreshStore, StoreError,
    WriteBatch, WriteOutcome,
};
use crate::config::RedisConfig;
use crate::model::{
    sort_connections, Account, Connection, InterfaceFacts, InventoryFile, InventorySnapshot,
    RegionInventory,
};

/// One connection type for single-node and cluster Redis.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A connection that counts its round trips (each command or pipeline sent and answered).
#[derive(Clone)]
pub struct CountingConn {
    inner: Conn,
    trips: Arc<AtomicU64>,
}

impl ConnectionLike for CountingConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match &mut self.inner {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match &mut self.inner {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The per-day write. KEYS: seen, index, unnamed, then the connection sorted sets.
/// ARGV: expire_at, unit count, then per unit: id, increment count, then per increment:
/// key number (into KEYS), member, count; then the unnamed count and addresses.
/// Returns {applied, duplicates}.
const WRITE_DAY_SCRIPT: &str = include_str!("scripts/write_day.lua");

/// Replaces what one account/region owns in the shared inventory maps, atomically: readers see
/// the old entries or the new ones, never a mix. For each map: KEYS[i] is the map, KEYS[i+3]
/// the set of fields this account/region owns. ARGV: refreshed field, time, then per map a count
/// and field/value pairs. KEYS[7] is the refreshed hash.
const REPLACE_REGION_SCRIPT: &str = include_str!("scripts/replace_region.lua");

/// Reads a whole day in one call. KEYS[1]: the day's index; ARGV[1]: the day's counter-key
/// prefix (the keys share the index's hash tag, so they live in its slot).
/// Returns {pair, {member, score, ...}, pair, ...}.
const READ_DAY_SCRIPT: &str = include_str!("scripts/read_day.lua");

/// Redis behind the store traits.
#[derive(Clone)]
pub struct RedisStore {
    conn: CountingConn,
    cluster: bool,
}

impl RedisStore {
    /// Connects, deciding single node or cluster from the config or, when unset, from the
    /// server's own `INFO cluster`.
    pub async fn connect(config: &RedisConfig) -> Result<RedisStore, StoreError> {
        let connect_err = |source| StoreError::Connect {
            url: redact(&config.url),
            source,
        };
        let client = redis::Client::open(config.url.as_str()).map_err(connect_err)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(2);
        let mut single = client
            .get_connection_manager_with_config(manager_config)
            .await
            .map_err(connect_err)?;
        let cluster = match config.cluster {
            Some(c) => c,
            None => {
                let info: Result<String, _> = redis::cmd("INFO")
                    .arg("cluster")
                    .query_async(&mut single)
                    .await;
                // A server that refuses INFO (some managed caches) is treated as a single node
                // unless REDIS_CLUSTER says otherwise.
                info.map(|i| i.contains("cluster_enabled:1"))
                    .unwrap_or(false)
            }
        };
        let inner = if cluster {
            let conn = redis::cluster::ClusterClient::builder(vec![config.url.as_str()])
                .connection_timeout(config.timeout)
                .response_timeout(config.timeout)
                .retries(2)
                .build()
                .map_err(connect_err)?
                .get_async_connection()
                .await
                .map_err(connect_err)?;
            Conn::Cluster(conn)
        } else {
            Conn::Single(single)
        };
        Ok(RedisStore {
            conn: CountingConn {
                inner,
                trips: Arc::new(AtomicU64::new(0)),
            },
            cluster,
        })
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Round trips made so far by this store and its clones.
    pub fn round_trips(&self) -> u64 {
        self.conn.trips.load(Ordering::Relaxed)
    }

    /// A connection for ad-hoc commands (tests, tools).
    pub fn connection(&self) -> CountingConn {
        self.conn.clone()
    }

    /// Sends independent commands together: one pipeline on a single node; in a cluster, where
    /// a pipeline must stay within one slot, each command on its own but all at once. Either
    /// way the wall time is one round trip. Replies come back in the order of `cmds`.
    async fn run_all(&self, cmds: Vec<Cmd>) -> Result<Vec<Value>, StoreError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        if self.cluster {
            let sends = cmds.iter().map(|cmd| {
                let mut conn = self.conn.clone();
                async move { cmd.query_async::<Value>(&mut conn).await }
            });
            Ok(futures::future::try_join_all(sends).await?)
        } else {
            let mut pipe = redis::pipe();
            for cmd in cmds {
                pipe.add_command(cmd);
            }
            let mut conn = self.conn.clone();
            Ok(pipe.query_async(&mut conn).await?)
        }
    }

    /// Writes a whole inventory file in one pipeline (replays and demos).
    pub async fn put_inventory(&self, file: &InventoryFile) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for facts in &file.interfaces {
            let json =
                serde_json::to_string(facts).map_err(|e| StoreError::Reply(e.to_string()))?;
            pipe.hset(keys::INTERFACES, &facts.interface_id, json)
                .ignore();
        }
        for (ip, name) in &file.addresses {
            pipe.hset(keys::ADDRESSES, ip, name).ignore();
        }
        for (group, format) in &file.formats {
            pipe.hset(keys::FORMATS, group, format).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(parse_accounts(self.hash(keys::ACCOUNTS).await?))
    }

    async fn hash(&self, key: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut conn)
            .await?)
    }

    /// A day's connections by `account/region`, score descending.
    pub async fn day_connections(
        &self,
        day: &str,
    ) -> Result<BTreeMap<String, Vec<Connection>>, StoreError> {
        let request = ReadRequest {
            days: vec![day.to_string()],
            ..ReadRequest::default()
        };
        let mut day = self.read(&request).await?.days.pop().unwrap_or_default();
        for rows in day.values_mut() {
            sort_connections(rows);
        }
        Ok(day)
    }

    /// `ACCOUNT:REGION` → last update time.
    pub async fn last_updates(&self) -> Result<HashMap<String, String>, StoreError> {
        self.hash(keys::LAST_UPDATE).await
    }
}

impl RefreshStore for RedisStore {
    /// Replaces one account/region's interfaces, addresses and formats, and records the time.
    async fn replace_region(
        &self,
        account: &str,
        region: &str,
        inventory: &RegionInventory,
        now_rfc3339: &str,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(REPLACE_REGION_SCRIPT)
            .arg(7)
            .arg(keys::INTERFACES)
            .arg(keys::ADDRESSES)
            .arg(keys::FORMATS)
            .arg(keys::region_members("interfaces", account, region))
            .arg(keys::region_members("addresses", account, region))
            .arg(keys::region_members("formats", account, region))
            .arg(keys::REFRESHED)
            .arg(keys::account_region(account, region))
            .arg(now_rfc3339);
        cmd.arg(inventory.interfaces.len());
        for facts in &inventory.interfaces {
            let json =
                serde_json::to_string(facts).map_err(|e| StoreError::Reply(e.to_string()))?;
            cmd.arg(&facts.interface_id).arg(json);
        }
        cmd.arg(inventory.addresses.len());
        for (ip, name) in &inventory.addresses {
            cmd.arg(ip).arg(name);
        }
        cmd.arg(inventory.formats.len());
        for (group, format) in &inventory.formats {
            cmd.arg(group).arg(format);
        }
        let mut conn = self.conn.clone();
        cmd.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Forgets an account/region that is no longer monitored: its entries leave the maps.
    async fn drop_region(&self, account: &str, region: &str) -> Result<(), StoreError> {
        self.replace_region(account, region, &RegionInventory::default(), "")
            .await?;
        let mut conn = self.conn.clone();
        redis::cmd("HDEL")
            .arg(keys::REFRESHED)
            .arg(keys::account_region(account, region))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Replaces the account list the API shows.
    async fn put_accounts(&self, accounts: &[Account]) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic().del(keys::ACCOUNTS).ignore();
        for a in accounts {
            let json = serde_json::to_string(a).map_err(|e| StoreError::Reply(e.to_string()))?;
            pipe.hset(keys::ACCOUNTS, &a.id, json).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// `ACCOUNT:REGION` → time of the last successful refresh.
    async fn refreshed(&self) -> Result<HashMap<String, String>, StoreError> {
        self.hash(keys::REFRESHED).await
    }

    /// Cached reverse-DNS answers: `None` not cached, `Some("")` cached as nameless.
    async fn cached_names(&self, ips: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        if ips.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for ip in ips {
            cmd.arg(keys::reverse_dns(ip));
        }
        let mut conn = self.conn.clone();
        Ok(cmd.query_async(&mut conn).await?)
    }

    /// Caches reverse-DNS answers (`""` for none) for `ttl_secs`.
    async fn put_names(&self, names: &[(String, String, u64)]) -> Result<(), StoreError> {
        if names.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (ip, name, ttl) in names {
            pipe.set_ex(keys::reverse_dns(ip), name, *ttl).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Public sources counted without a name on a day (input of the refresh's reverse DNS).
    async fn day_unnamed(&self, day: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let mut ips: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys::day_unnamed(day))
            .query_async(&mut conn)
            .await?;
        ips.sort();
        Ok(ips)
    }
}

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

/// Connects on first use, so a function whose Redis is down at start still starts and answers
/// (with an error) instead of failing its init; after that the connection manager reconnects.
pub struct LazyRedisStore {
    config: RedisConfig,
    store: tokio::sync::OnceCell<RedisStore>,
}

impl LazyRedisStore {
    pub fn new(config: RedisConfig) -> Self {
        LazyRedisStore {
            config,
            store: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn get(&self) -> Result<&RedisStore, StoreError> {
        self.store
            .get_or_try_init(|| RedisStore::connect(&self.config))
            .await
    }
}

impl ReadStore for LazyRedisStore {
    async fn read(&self, request: &ReadRequest) -> Result<ReadResult, StoreError> {
        self.get().await?.read(request).await
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

fn parse_accounts(map: HashMap<String, String>) -> Vec<Account> {
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

/// Builds the `EVAL` of one day. The script text travels with each call (a few hundred bytes):
/// no `NOSCRIPT` dance after a failover or on a fresh serverless node.
fn day_script(day: &DayWrite<'_>) -> Cmd {
    let mut key_numbers: HashMap<(&str, &str), usize> = HashMap::new();
    let mut conn_keys: Vec<String> = Vec::new();
    for unit in &day.units {
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
    cmd.arg(day.expire_at).arg(day.units.len());
    for unit in &day.units {
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

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match redis::parse_redis_url(url) {
        Some(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("rediss://user:s3cret@cache.example.org:6379"),
            "rediss://user:***@cache.example.org:6379"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
