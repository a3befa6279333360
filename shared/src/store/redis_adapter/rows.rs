//! Reading a counter's rows: whole (`ZRANGE`), filtered by Redis (`ZSCAN … MATCH`), or the
//! best rows one page needs (`ZRANGE … BYSCORE REV LIMIT`, two sized round trips).

use redis::Cmd;

use super::RedisStore;
use crate::model::{page_order, AccountRegion, Connection};
use crate::store::{keys, ReadRequest, StoreError, Top};

/// One (day, account/region) whose counter a request reads: the day's index in the request.
pub(super) struct Counter {
    pub day: usize,
    pub pair: AccountRegion,
}

impl Counter {
    pub(super) fn key(&self, request: &ReadRequest) -> String {
        keys::connections(
            &request.days[self.day],
            self.pair.account(),
            self.pair.region(),
        )
    }
}

/// Work per `ZSCAN` call: a day's counter (bounded per endpoint) is scanned in one call.
const ZSCAN_COUNT: usize = 100_000;

/// Every row of a counter; with `at_most`, one more than that at most (which says the
/// counter holds more).
pub(super) fn zrange(key: String, at_most: Option<usize>) -> Cmd {
    let last = at_most.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut cmd = redis::cmd("ZRANGE");
    cmd.arg(key).arg(0).arg(last).arg("WITHSCORES");
    cmd
}

/// The rows of a counter key with `min` ≤ score ≤ `max` (no bound: `None`), best first, at
/// most `count` of them.
pub(super) fn zrange_best(key: String, min: u64, max: Option<u64>, count: Option<usize>) -> Cmd {
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

impl RedisStore {
    /// The rows of each counter whose member matches `pattern`, filtered by Redis (`ZSCAN …
    /// MATCH`, all counters at once; a counter Redis has not finished in one call — a large
    /// one, or one being rehashed — is continued in the next round). More than `max_rows`
    /// found after a round fails the read.
    pub(super) async fn matching_rows(
        &self,
        keys: Vec<String>,
        pattern: &str,
        max_rows: Option<usize>,
    ) -> Result<Vec<Vec<(String, u64)>>, StoreError> {
        let mut found_rows: u64 = 0;
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
                found_rows += found.len() as u64;
                rows[i].extend(found);
                if cursor != "0" {
                    next.push((i, cursor));
                }
            }
            if let Some(limit) = max_rows.filter(|l| found_rows > *l as u64) {
                return Err(StoreError::TooManyRows {
                    rows: found_rows,
                    limit,
                });
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
    pub(super) async fn top_rows(
        &self,
        day: &str,
        counters: &[Counter],
        top: &Top,
    ) -> Result<Vec<Vec<(String, u64)>>, StoreError> {
        if counters.is_empty() || top.k == 0 {
            return Ok(vec![Vec::new(); counters.len()]);
        }
        let m = (2 * top.k).div_ceil(counters.len()).clamp(8, top.k.max(8));
        let max = top.after.as_ref().map(|(_, c)| c.score);
        let key = |c: &Counter| keys::connections(day, c.pair.account(), c.pair.region());
        // Rows at the cursor's score that its page already showed are dropped here (they are
        // read again only while ties at that score remain).
        let fresh = |c: &Counter, rows: &mut Vec<(String, u64)>| {
            if let Some((after_pair, after)) = &top.after {
                let pair = c.pair.to_string();
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

pub(super) fn to_connections(members: Vec<(String, u64)>) -> Vec<Connection> {
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
