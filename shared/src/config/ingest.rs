//! The ingest path's settings (the function and `ctrack replay`): bounds, dedup window, dead
//! letters, decode caps.

use std::time::Duration;

use super::defaults::*;
use super::env::BUCKET_NAME;
use super::{ConfigError, Env, RedisConfig};
use crate::model::{is_account_id, is_bucket_name};
use crate::rules::classify::Networks;
use crate::rules::flowlog::FlowLogFormat;

/// The bounds on the rows one day keeps per endpoint, destination and account/region, whatever
/// the internet sends (`docs/rules.md`, "Bounds").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowLimits {
    /// Bare-IP sources kept exactly per (day, account/region, destination, port)
    /// (`MAX_SOURCES_PER_ENDPOINT`); later ones fold into their /24 or /48.
    pub max_sources_per_endpoint: u32,
    /// Prefixes kept per endpoint (`MAX_PREFIXES_PER_ENDPOINT`); later ones count as `other`.
    pub max_prefixes_per_endpoint: u32,
    /// Addresses listed per account/region and day for reverse DNS (`MAX_UNNAMED_PER_DAY`).
    pub max_unnamed_per_day: u32,
    /// Destination ports kept per (day, account/region, destination)
    /// (`MAX_PORTS_PER_ENDPOINT`); later ports fold into the destination's `other` port.
    pub max_ports_per_endpoint: u32,
    /// Destination/port rows kept per (day, account/region)
    /// (`MAX_ENDPOINTS_PER_ACCOUNT_REGION`); later ones fold into `other`/`other`.
    pub max_endpoints_per_account_region: u32,
}

impl RowLimits {
    /// The defaults (`config::defaults`), as a constant.
    pub const DEFAULT: RowLimits = RowLimits {
        max_sources_per_endpoint: DEFAULT_MAX_SOURCES_PER_ENDPOINT,
        max_prefixes_per_endpoint: DEFAULT_MAX_PREFIXES_PER_ENDPOINT,
        max_unnamed_per_day: DEFAULT_MAX_UNNAMED_PER_DAY,
        max_ports_per_endpoint: DEFAULT_MAX_PORTS_PER_ENDPOINT,
        max_endpoints_per_account_region: DEFAULT_MAX_ENDPOINTS_PER_ACCOUNT_REGION,
    };
}

impl Default for RowLimits {
    fn default() -> Self {
        RowLimits::DEFAULT
    }
}

/// Where ingest refuses to write (`docs/rules.md`, "Bounds"): a cache at its limit evicts keys
/// with a TTL — every counter and `seen` set has one — so a batch is refused (and retried)
/// before it gets there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimit {
    /// The cache's size where the server reports none (`CACHE_LIMIT_BYTES`; the template fills
    /// it from `CacheUsageLimits`); a server's own `maxmemory` wins.
    pub limit_bytes: Option<u64>,
    /// The fill, in percent of the limit, from which a batch is refused
    /// (`CACHE_REFUSE_AT_PERCENT`).
    pub refuse_at_percent: u8,
}

impl Default for CacheLimit {
    fn default() -> Self {
        CacheLimit {
            limit_bytes: None,
            refuse_at_percent: DEFAULT_CACHE_REFUSE_AT_PERCENT,
        }
    }
}

/// Lines of interfaces the refresh has not seen yet (a new load-balancer node, an instance just
/// launched): parked, bounded, and counted once the refresh has found the interface
/// (`docs/rules.md`, "New interfaces").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parking {
    /// Lines parked per account/region at most (`MAX_PARKED_LINES_PER_ACCOUNT_REGION`; 0: off);
    /// later ones stay skipped as `unknown_interface`.
    pub max_lines_per_account_region: u32,
    /// How long a parked line waits (`PARKED_LINES_TTL_SECONDS`); then it is dropped, counted
    /// as `parked_expired`.
    pub ttl: Duration,
}

impl Default for Parking {
    fn default() -> Self {
        Parking {
            max_lines_per_account_region: DEFAULT_MAX_PARKED_LINES_PER_ACCOUNT_REGION,
            ttl: Duration::from_secs(DEFAULT_PARKED_LINES_TTL_SECONDS),
        }
    }
}

/// Settings of the ingest path (the Lambda function and `ctrack replay`).
#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub redis: RedisConfig,
    pub retention_days: u32,
    /// How long a payload's id is remembered to refuse counting it twice (`DEDUP_WINDOW_HOURS`).
    pub dedup_window: Duration,
    /// Accounts whose flow logs may report other accounts' interfaces: the owners of shared
    /// VPCs (`SHARED_VPC_OWNERS`). Any other log owner counts only its own interfaces.
    pub shared_vpc_owners: Vec<String>,
    pub limits: RowLimits,
    pub cache: CacheLimit,
    pub parking: Parking,
    /// Where payloads that can never be counted are kept (`DEAD_LETTER_BUCKET`).
    pub dead_letter: Option<DeadLetterConfig>,
    /// Decompressed bytes of one Kinesis batch, summed over its records
    /// (`MAX_BATCH_DECOMPRESSED_BYTES`); records past it are handed back for the next call.
    pub max_batch_decompressed_bytes: usize,
    pub flow_log_format: Option<FlowLogFormat>,
    pub networks: Networks,
    pub max_decompressed_bytes: usize,
    /// `MAX_OBJECT_DECOMPRESSED_BYTES`: what one S3 text object may decompress to; past it the
    /// rest is kept by reason (`object_too_large`), not read.
    pub max_object_decompressed_bytes: u64,
    pub inventory_ttl: Duration,
    /// The function's own region, the last resort for a record's region.
    pub default_region: String,
}

/// Where payloads that can never be counted are kept (an S3 bucket and a key prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterConfig {
    pub bucket: String,
    /// Ends with `/` unless empty.
    pub prefix: String,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn row_limits(&self) -> Result<RowLimits, ConfigError> {
        let d = RowLimits::default();
        Ok(RowLimits {
            max_sources_per_endpoint: self.number(
                "MAX_SOURCES_PER_ENDPOINT",
                d.max_sources_per_endpoint,
                1,
                1_000_000,
            )?,
            max_prefixes_per_endpoint: self.number(
                "MAX_PREFIXES_PER_ENDPOINT",
                d.max_prefixes_per_endpoint,
                1,
                1_000_000,
            )?,
            max_unnamed_per_day: self.number(
                "MAX_UNNAMED_PER_DAY",
                d.max_unnamed_per_day,
                0,
                10_000_000,
            )?,
            max_ports_per_endpoint: self.number(
                "MAX_PORTS_PER_ENDPOINT",
                d.max_ports_per_endpoint,
                1,
                65_536,
            )?,
            max_endpoints_per_account_region: self.number(
                "MAX_ENDPOINTS_PER_ACCOUNT_REGION",
                d.max_endpoints_per_account_region,
                1,
                10_000_000,
            )?,
        })
    }

    /// `CACHE_LIMIT_BYTES` (unset: only a server's own `maxmemory` is a limit) and
    /// `CACHE_REFUSE_AT_PERCENT`.
    pub fn cache_limit(&self) -> Result<CacheLimit, ConfigError> {
        let limit_bytes = match self.get("CACHE_LIMIT_BYTES") {
            None => None,
            Some(_) => Some(self.number("CACHE_LIMIT_BYTES", 0u64, 1 << 20, 1 << 50)?),
        };
        Ok(CacheLimit {
            limit_bytes,
            refuse_at_percent: self.number(
                "CACHE_REFUSE_AT_PERCENT",
                DEFAULT_CACHE_REFUSE_AT_PERCENT,
                50,
                99,
            )?,
        })
    }

    /// `DEAD_LETTER_BUCKET` (and `DEAD_LETTER_PREFIX`, default `dead-letter/`): where payloads
    /// that can never be counted are kept; unset, they fail and are retried as before.
    pub fn dead_letter(&self) -> Result<Option<DeadLetterConfig>, ConfigError> {
        let Some(bucket) = self.checked("DEAD_LETTER_BUCKET", is_bucket_name, BUCKET_NAME)? else {
            return Ok(None);
        };
        let prefix = self
            .get("DEAD_LETTER_PREFIX")
            .unwrap_or_else(|| DEFAULT_DEAD_LETTER_PREFIX.into());
        let prefix = prefix.trim().trim_start_matches('/').to_string();
        let prefix_ok = prefix.len() <= 256
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if !prefix_ok {
            return Err(ConfigError::Invalid {
                var: "DEAD_LETTER_PREFIX",
                value: prefix,
                expected: "an S3 key prefix of letters, digits and -_./ (at most 256)".into(),
            });
        }
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix
        } else {
            format!("{prefix}/")
        };
        Ok(Some(DeadLetterConfig { bucket, prefix }))
    }

    /// `SHARED_VPC_OWNERS`: comma-separated account ids.
    pub fn shared_vpc_owners(&self) -> Result<Vec<String>, ConfigError> {
        Self::list(
            "SHARED_VPC_OWNERS",
            self.get("SHARED_VPC_OWNERS"),
            is_account_id,
            "comma-separated AWS account ids (12 digits)",
        )
    }

    pub fn ingest(&self) -> Result<IngestConfig, ConfigError> {
        Ok(IngestConfig {
            redis: self.redis()?,
            retention_days: self.retention_days()?,
            dedup_window: Duration::from_secs(
                3600 * self.number("DEDUP_WINDOW_HOURS", DEFAULT_DEDUP_WINDOW_HOURS, 1, 24 * 30)?,
            ),
            shared_vpc_owners: self.shared_vpc_owners()?,
            limits: self.row_limits()?,
            cache: self.cache_limit()?,
            parking: Parking {
                max_lines_per_account_region: self.number(
                    "MAX_PARKED_LINES_PER_ACCOUNT_REGION",
                    DEFAULT_MAX_PARKED_LINES_PER_ACCOUNT_REGION,
                    0,
                    10_000_000,
                )?,
                ttl: Duration::from_secs(self.number(
                    "PARKED_LINES_TTL_SECONDS",
                    DEFAULT_PARKED_LINES_TTL_SECONDS,
                    60,
                    86_400,
                )?),
            },
            dead_letter: self.dead_letter()?,
            max_batch_decompressed_bytes: self.number(
                "MAX_BATCH_DECOMPRESSED_BYTES",
                DEFAULT_MAX_BATCH_DECOMPRESSED_BYTES,
                64 * 1024,
                4 * 1024 * 1024 * 1024,
            )?,
            flow_log_format: self.flow_log_format()?,
            networks: self.networks()?,
            max_decompressed_bytes: self.number(
                "MAX_DECOMPRESSED_BYTES",
                DEFAULT_MAX_DECOMPRESSED_BYTES,
                64 * 1024,
                1024 * 1024 * 1024,
            )?,
            max_object_decompressed_bytes: self.number(
                "MAX_OBJECT_DECOMPRESSED_BYTES",
                DEFAULT_MAX_OBJECT_DECOMPRESSED_BYTES,
                1 << 20,
                16 << 30,
            )?,
            inventory_ttl: Duration::from_secs(self.number(
                "INVENTORY_TTL_SECONDS",
                DEFAULT_INVENTORY_TTL_SECONDS,
                0,
                3600,
            )?),
            default_region: self
                .get("AWS_REGION")
                .or_else(|| self.get("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "unknown".into()),
        })
    }
}
