//! The refresh port on Redis: accounts, each account/region's maps replaced atomically, and
//! the reverse-DNS cache.

use std::collections::{HashMap, HashSet};

use super::RedisStore;
use crate::model::{pair_key, Account, RefreshFailure, RegionInventory};
use crate::store::{keys, RefreshStore, StoreError};

/// Replaces what one account/region owns in the shared inventory maps, atomically: readers see
/// the old entries or the new ones, never a mix. For each map (interfaces, addresses, formats,
/// ingress rules, private interfaces): KEYS[i] is the map, KEYS[i+5] the set of fields this
/// account/region owns. ARGV: refreshed field, time, then per map a count and field/value
/// pairs. KEYS[11] is the refreshed hash, KEYS[12] the failures (its field is cleared: this
/// refresh succeeded).
const REPLACE_REGION_SCRIPT: &str = include_str!("../scripts/replace_region.lua");

/// Caches reverse-DNS answers and keeps the list `/addresses` shows, in one slot (`{dns}`).
const PUT_NAMES_SCRIPT: &str = include_str!("../scripts/put_names.lua");

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
            .arg(12)
            .arg(keys::INTERFACES)
            .arg(keys::ADDRESSES)
            .arg(keys::FORMATS)
            .arg(keys::INGRESS)
            .arg(keys::PRIVATE_INTERFACES)
            .arg(keys::region_members("interfaces", account, region))
            .arg(keys::region_members("addresses", account, region))
            .arg(keys::region_members("formats", account, region))
            .arg(keys::region_members("ingress", account, region))
            .arg(keys::region_members("private-interfaces", account, region))
            .arg(keys::REFRESHED)
            .arg(keys::REFRESH_FAILED)
            .arg(pair_key(account, region))
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
        cmd.arg(inventory.ingress.len());
        for (group, rules) in &inventory.ingress {
            let json =
                serde_json::to_string(rules).map_err(|e| StoreError::Reply(e.to_string()))?;
            cmd.arg(group).arg(json);
        }
        cmd.arg(inventory.private_interfaces.len());
        let pair = pair_key(account, region);
        for id in &inventory.private_interfaces {
            cmd.arg(id).arg(&pair);
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
            .arg(pair_key(account, region))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn put_refresh_failures(
        &self,
        failed: &[(String, RefreshFailure)],
    ) -> Result<(), StoreError> {
        if failed.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (field, failure) in failed {
            let json =
                serde_json::to_string(failure).map_err(|e| StoreError::Reply(e.to_string()))?;
            pipe.hset(keys::REFRESH_FAILED, field, json).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
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

    async fn waiting(&self) -> Result<HashSet<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("SMEMBERS")
            .arg(keys::PARKED_PAIRS)
            .query_async(&mut conn)
            .await?)
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

    /// Caches reverse-DNS answers (`""` for none) for `ttl_secs`, and lists the names for
    /// `/addresses` for as long; entries past their time leave the list.
    async fn put_names(&self, names: &[(String, String, u64)]) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        for chunk in names.chunks(1_000) {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(PUT_NAMES_SCRIPT)
                .arg(chunk.len() + 2)
                .arg(keys::RESOLVED_NAMES)
                .arg(keys::RESOLVED_UNTIL);
            for (ip, _, _) in chunk {
                cmd.arg(keys::reverse_dns(ip));
            }
            for (ip, name, ttl) in chunk {
                cmd.arg(ip).arg(name).arg((*ttl).max(1));
            }
            cmd.query_async::<i64>(&mut conn).await?;
        }
        Ok(())
    }

    /// Public sources counted without a name on a day (input of the refresh's reverse DNS):
    /// the day's index, then every listed account/region's work list, all at once.
    async fn day_unnamed(&self, day: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys::day_index(day))
            .query_async(&mut conn)
            .await?;
        let cmds = members
            .iter()
            .filter_map(|m| super::read::index_pair(m))
            .map(|pair| {
                redis::cmd("SMEMBERS")
                    .arg(keys::unnamed(day, pair.account(), pair.region()))
                    .clone()
            })
            .collect();
        let mut ips: Vec<String> = Vec::new();
        for reply in self.run_all(cmds).await? {
            let part: Vec<String> =
                redis::from_redis_value(reply).map_err(redis::RedisError::from)?;
            ips.extend(part);
        }
        ips.sort();
        ips.dedup();
        Ok(ips)
    }

    async fn put_s3_ranges(&self, blocks: &[String], fetched_at: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("HSET")
            .arg(keys::S3_RANGES)
            .arg("blocks")
            .arg(blocks.join("\n"))
            .arg("fetched_at")
            .arg(fetched_at)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn s3_ranges_fetched_at(&self) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HGET")
            .arg(keys::S3_RANGES)
            .arg("fetched_at")
            .query_async(&mut conn)
            .await?)
    }
}
