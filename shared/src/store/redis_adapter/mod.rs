//! The Redis adapter behind the store ports: one connection type for a single node and a
//! cluster, round trips counted, the Lua scripts of `scripts/` sent with each call.
//!
//! A batch is written with one Lua script per (day, account/region) it touches — one cluster
//! slot each — all sent at once: one round trip on a single node, one concurrent round in a
//! cluster. Each script first adds the payload ids to that account/region's `seen` set and
//! applies only the increments of payloads not seen there before, so a batch delivered twice,
//! or retried after a lost reply or a partial failure, counts once.

mod archive;
mod memory;
mod parking;
mod progress;
mod read;
mod refresh;
mod rows;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::{keys, ReadRequest, ReadResult, ReadStore, StoreError};
use crate::config::RedisConfig;
use crate::model::{sort_connections, Account, Connection, InventoryFile};
use read::parse_accounts;

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
