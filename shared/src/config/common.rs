//! Settings every function reads: Redis, the named networks, the flow-log format, the retention.

use std::time::Duration;

use ipnetwork::IpNetwork;

use super::defaults::{DEFAULT_REDIS_TIMEOUT_MS, DEFAULT_RETENTION_DAYS};
use super::{ConfigError, Env};
use crate::rules::classify::Networks;
use crate::rules::flowlog::FlowLogFormat;

/// How to reach Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` (TLS).
    pub url: String,
    /// `None`: ask the server (`INFO cluster`) whether it runs in cluster mode.
    pub cluster: Option<bool>,
    pub timeout: Duration,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn redis(&self) -> Result<RedisConfig, ConfigError> {
        const EXPECTED: &str = "a redis:// or rediss:// URL, e.g. redis://localhost:6379";
        let url = self.get("REDIS_URL").ok_or(ConfigError::Missing {
            var: "REDIS_URL",
            expected: EXPECTED,
        })?;
        let scheme_ok = url.starts_with("redis://") || url.starts_with("rediss://");
        if !scheme_ok || redis::parse_redis_url(&url).is_none() {
            // A URL may carry a password: never print it, only its scheme.
            let shown = match url.split_once("://") {
                Some((scheme, _)) if scheme.len() <= 16 => format!("{scheme}://… (not shown)"),
                _ => "(not shown)".into(),
            };
            return Err(ConfigError::Invalid {
                var: "REDIS_URL",
                value: shown,
                expected: EXPECTED.into(),
            });
        }
        let cluster = match self.get("REDIS_CLUSTER").as_deref().map(str::trim) {
            None | Some("auto") => None,
            Some("true" | "1" | "yes") => Some(true),
            Some("false" | "0" | "no") => Some(false),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "REDIS_CLUSTER",
                    value: other.into(),
                    expected: "auto, true or false".into(),
                })
            }
        };
        let timeout = Duration::from_millis(self.number(
            "REDIS_TIMEOUT_MS",
            DEFAULT_REDIS_TIMEOUT_MS,
            10,
            600_000,
        )?);
        Ok(RedisConfig {
            url,
            cluster,
            timeout,
        })
    }

    pub fn networks(&self) -> Result<Networks, ConfigError> {
        let Some(raw) = self.get("NETWORKS") else {
            return Ok(Networks::default());
        };
        let invalid = |value: &str| ConfigError::Invalid {
            var: "NETWORKS",
            value: value.to_string(),
            expected:
                "comma-separated name=cidr pairs, e.g. office=198.51.100.0/24,vpn=2001:db8::/32"
                    .into(),
        };
        let mut entries = Vec::new();
        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, cidr) = pair.split_once('=').ok_or_else(|| invalid(pair))?;
            let net: IpNetwork = cidr.trim().parse().map_err(|_| invalid(pair))?;
            if name.trim().is_empty() {
                return Err(invalid(pair));
            }
            entries.push((name.trim().to_string(), net));
        }
        Ok(Networks::new(entries))
    }

    pub fn flow_log_format(&self) -> Result<Option<FlowLogFormat>, ConfigError> {
        self.get("FLOW_LOG_FORMAT")
            .map(|spec| {
                FlowLogFormat::parse(&spec).map_err(|e| ConfigError::Invalid {
                    var: "FLOW_LOG_FORMAT",
                    value: spec.clone(),
                    expected: format!(
                        "a flow-log format like `${{version}} ${{account-id}} …` ({e})"
                    ),
                })
            })
            .transpose()
    }

    pub fn retention_days(&self) -> Result<u32, ConfigError> {
        self.number("RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1, 3650)
    }
}
