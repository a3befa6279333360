//! How full the cache is, from `INFO memory`: one reply per node (a cluster answers per
//! primary, each of which evicts on its own), read into [`MemoryUse`].

use redis::Value;

use super::RedisStore;
use crate::store::{MemoryUse, StoreError};

impl RedisStore {
    /// Every node's `used_memory` and `maxmemory` (0: none set).
    pub(super) async fn memory_use(&self) -> Result<Vec<MemoryUse>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut conn)
            .await?;
        let texts: Vec<String> = match reply {
            // A cluster: node address → its reply.
            Value::Map(nodes) => nodes
                .into_iter()
                .map(|(_, text)| redis::from_redis_value(text))
                .collect::<Result<_, _>>()
                .map_err(redis::RedisError::from)?,
            single => vec![redis::from_redis_value(single).map_err(redis::RedisError::from)?],
        };
        texts
            .iter()
            .map(|text| {
                parse_info_memory(text)
                    .ok_or_else(|| StoreError::Reply("INFO memory without used_memory".into()))
            })
            .collect()
    }
}

/// `used_memory` and `maxmemory` of one node's `INFO memory` text; `None` without
/// `used_memory`.
pub(crate) fn parse_info_memory(text: &str) -> Option<MemoryUse> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(MemoryUse {
        used: field("used_memory")?,
        limit: field("maxmemory").filter(|&m| m > 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_memory_as_redis_server_and_valkey_write_it() {
        let info = "# Memory\r\nused_memory:1027568\r\nused_memory_human:1003.48K\r\n\
                    used_memory_rss:9011200\r\nmaxmemory:8388608\r\nmaxmemory_human:8.00M\r\n\
                    maxmemory_policy:volatile-lru\r\n";
        assert_eq!(
            parse_info_memory(info),
            Some(MemoryUse {
                used: 1_027_568,
                limit: Some(8_388_608)
            })
        );
        // No limit set: the setting's limit applies (see `Headroom`).
        let unlimited = "used_memory:5000\r\nmaxmemory:0\r\n";
        assert_eq!(
            parse_info_memory(unlimited),
            Some(MemoryUse {
                used: 5000,
                limit: None
            })
        );
        // `used_memory_rss` or `used_memory_human` is no `used_memory`.
        assert_eq!(parse_info_memory("used_memory_rss:9011200\r\n"), None);
        assert_eq!(parse_info_memory("used_memory:lots\r\n"), None);
        assert_eq!(parse_info_memory(""), None);
    }
}
