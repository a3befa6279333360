//! The archive's ports on Redis: which closed days are archived (`ct:{inv}:archived`), and a
//! closed day's rows read a page at a time (`ZRANGE … REV LIMIT` by rank: a closed day no
//! longer changes, so pages neither repeat nor skip rows).

use std::collections::HashMap;

use super::read::index_pairs;
use super::rows::to_connections;
use super::RedisStore;
use crate::model::{AccountRegion, Connection};
use crate::store::{keys, ArchiveMarks, ClosedDayRows, StoreError};

impl ArchiveMarks for RedisStore {
    async fn archived_days(&self) -> Result<HashMap<String, String>, StoreError> {
        self.hash(keys::ARCHIVED).await
    }

    async fn mark_archived(
        &self,
        day: &str,
        location: &str,
        forget: &[String],
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic().hset(keys::ARCHIVED, day, location).ignore();
        if !forget.is_empty() {
            pipe.hdel(keys::ARCHIVED, forget).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }
}

impl ClosedDayRows for RedisStore {
    async fn day_pairs(&self, day: &str) -> Result<Vec<AccountRegion>, StoreError> {
        let mut conn = self.conn.clone();
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys::day_index(day))
            .query_async(&mut conn)
            .await?;
        Ok(index_pairs(members, day))
    }

    async fn rows_page(
        &self,
        day: &str,
        pair: &AccountRegion,
        start: u64,
        count: usize,
    ) -> Result<(Vec<Connection>, usize), StoreError> {
        if count == 0 {
            return Ok((Vec::new(), 0));
        }
        let mut conn = self.conn.clone();
        let members: Vec<(String, u64)> = redis::cmd("ZRANGE")
            .arg(keys::connections(day, pair.account(), pair.region()))
            .arg(start)
            .arg(start + count as u64 - 1)
            .arg("REV")
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        let read = members.len();
        Ok((to_connections(members), read))
    }

    async fn distinct_sources(
        &self,
        day: &str,
        pair: &AccountRegion,
        endpoints: Vec<String>,
    ) -> Result<HashMap<String, u64>, StoreError> {
        let keys = endpoints
            .iter()
            .map(|e| keys::endpoint_sources(day, pair.account(), pair.region(), e))
            .collect();
        let estimates = self.estimates(keys).await?;
        Ok(endpoints.into_iter().zip(estimates).collect())
    }
}
