//! Configuration from the environment: the names are part of the contract (README, section
//! "Configuration").
//! Read once at start; a bad setting is an error naming the variable and what was expected.

#[cfg(feature = "ssm")]
pub mod secret;

use std::time::Duration;

use ipnetwork::IpNetwork;

use crate::model::{is_account_id, is_region};
use crate::rules::classify::Networks;
use crate::rules::flowlog::FlowLogFormat;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is not set; expected {expected}")]
    Missing {
        var: &'static str,
        expected: &'static str,
    },
    #[error("{var}={value:?} is invalid; expected {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: String,
    },
}

/// How to reach Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` (TLS).
    pub url: String,
    /// `None`: ask the server (`INFO cluster`) whether it runs in cluster mode.
    pub cluster: Option<bool>,
    pub timeout: Duration,
}

/// Settings of the ingest path (the Lambda function and `ctrack replay`).
/// The bounds on what one day keeps per endpoint, whatever the internet sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceLimits {
    /// Bare-IP sources kept exactly per (day, account/region, destination, port)
    /// (`MAX_SOURCES_PER_ENDPOINT`); later ones fold into their /24 or /48.
    pub max_sources_per_endpoint: u32,
    /// Prefixes kept per endpoint (`MAX_PREFIXES_PER_ENDPOINT`); later ones count as `other`.
    pub max_prefixes_per_endpoint: u32,
    /// Addresses listed per account/region and day for reverse DNS (`MAX_UNNAMED_PER_DAY`).
    pub max_unnamed_per_day: u32,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_sources_per_endpoint: 2000,
            max_prefixes_per_endpoint: 1000,
            max_unnamed_per_day: 100_000,
        }
    }
}

#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub redis: RedisConfig,
    pub retention_days: u32,
    /// How long a payload's id is remembered to refuse counting it twice (`DEDUP_WINDOW_HOURS`).
    pub dedup_window: Duration,
    /// Accounts whose flow logs may report other accounts' interfaces: the owners of shared
    /// VPCs (`SHARED_VPC_OWNERS`). Any other log owner counts only its own interfaces.
    pub shared_vpc_owners: Vec<String>,
    pub limits: SourceLimits,
    /// Where payloads that can never be counted are kept (`DEAD_LETTER_BUCKET`).
    pub dead_letter: Option<DeadLetterConfig>,
    /// Decompressed bytes of one Kinesis batch, summed over its records
    /// (`MAX_BATCH_DECOMPRESSED_BYTES`); records past it are handed back for the next call.
    pub max_batch_decompressed_bytes: usize,
    pub flow_log_format: Option<FlowLogFormat>,
    pub networks: Networks,
    pub max_decompressed_bytes: usize,
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

pub const DEFAULT_DEAD_LETTER_PREFIX: &str = "dead-letter/";

/// What a bucket setting must hold, in the error that refuses one.
const BUCKET_NAME: &str = "an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)";

/// S3's bucket naming rules (general purpose buckets): 3–63 characters, lowercase letters,
/// digits, dots and hyphens, starting and ending with a letter or digit.
/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
pub fn is_role_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    partition.starts_with("aws")
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("role/").is_some_and(|name| {
            !name.is_empty()
                && name.len() <= 512
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
        })
}

/// An organizational unit id (`ou-` root part `-` 8–32 characters) or a root id (`r-…`).
pub fn is_organization_unit(id: &str) -> bool {
    let lower_alnum = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(root) = id.strip_prefix("r-") {
        return (4..=32).contains(&root.len()) && lower_alnum(root);
    }
    let Some((root, unit)) = id.strip_prefix("ou-").and_then(|r| r.split_once('-')) else {
        return false;
    };
    (4..=32).contains(&root.len())
        && (8..=32).contains(&unit.len())
        && lower_alnum(root)
        && lower_alnum(unit)
}

pub fn is_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

/// Settings of the API function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    pub redis: RedisConfig,
    /// Longest `from`/`to` range one request may ask for, in days.
    pub max_range_days: u32,
    /// The named networks (`NETWORKS`), listed by `/addresses`.
    pub networks: Networks,
}

/// Settings of the refresh function.
#[derive(Clone, Debug)]
pub struct RefreshConfig {
    pub redis: RedisConfig,
    pub accounts_table: String,
    /// Default regions of accounts whose item names none.
    pub regions: Vec<String>,
    pub role_name: String,
    /// Sent with every `AssumeRole` (`EXTERNAL_ID`); member reader roles may require it.
    pub external_id: Option<String>,
    /// `{account_name}.example.org`: names NAT and jump hosts as the original did.
    pub domain: Option<String>,
    /// Account/regions described at once.
    pub concurrency: usize,
    pub region_timeout: Duration,
    /// `MaxResults` of paginated EC2 describes (`None`: the service's default).
    pub page_size: Option<i32>,
    pub dns_max_lookups: usize,
    pub dns_budget: Duration,
    pub dns_ttl: Duration,
    pub dns_negative_ttl: Duration,
    /// AWS Organizations as a source of accounts (`ORGANIZATION_ROLE_ARN`); off without it.
    pub organization: Option<OrganizationConfig>,
}

/// Where the refresh lists the organization's accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationConfig {
    /// A role of the management (or delegated administrator) account that may list accounts.
    pub role_arn: String,
    /// OU or root ids (`ORGANIZATION_UNITS`) to list under, recursively; empty: every account.
    pub units: Vec<String>,
}

/// Where the refresh reads AWS's published address blocks, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpRangesConfig {
    /// `https://…`, `http://…` or `file://…` (`AWS_IP_RANGES_URL`).
    pub url: String,
    /// A stored copy younger than this is not fetched again.
    pub max_age: Duration,
}

/// The evidence archive of closed days (`ARCHIVE_BUCKET`; off without it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveConfig {
    pub bucket: String,
    /// Key prefix, empty or ending in `/` (`ARCHIVE_PREFIX`, default `connections/`).
    pub prefix: String,
    /// A day is closed this long after it ends (`ARCHIVE_AFTER_HOURS`, default 48): longer
    /// than the retry paths that may still bring its records (Kinesis: a day; async: 6 h).
    pub after_hours: u64,
    /// Days archived per run at most (`ARCHIVE_MAX_DAYS_PER_RUN`, default 7): a first run with
    /// a long retention catches up over several runs instead of one long one.
    pub max_days_per_run: usize,
    /// Days older than this are gone from Redis: not archived any more.
    pub retention_days: u32,
}

pub const DEFAULT_AWS_IP_RANGES_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";

pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// Longer than any automatic retry path (Lambda async retries: 6 h; Kinesis: the record age).
pub const DEFAULT_DEDUP_WINDOW_HOURS: u64 = 72;
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 32 * 1024 * 1024;
pub const DEFAULT_MAX_BATCH_DECOMPRESSED_BYTES: usize = 128 * 1024 * 1024;
pub const DEFAULT_INVENTORY_TTL_SECONDS: u64 = 60;

/// Reads variables through `get`, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env(|name| std::env::var(name).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
        &self,
        var: &'static str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<T>() {
                Ok(n) if n >= min && n <= max => Ok(n),
                _ => Err(ConfigError::Invalid {
                    var,
                    value: v,
                    expected: format!("a whole number from {min} to {max}"),
                }),
            },
        }
    }

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
        let timeout =
            Duration::from_millis(self.number("REDIS_TIMEOUT_MS", 5_000u64, 10, 600_000)?);
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

    pub fn source_limits(&self) -> Result<SourceLimits, ConfigError> {
        let d = SourceLimits::default();
        Ok(SourceLimits {
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

    /// A comma-separated list, blanks dropped, every entry checked.
    /// An optional setting, trimmed and checked by `valid`: `None` when unset.
    fn checked(
        &self,
        var: &'static str,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(value) = self.get(var) else {
            return Ok(None);
        };
        let value = value.trim().to_string();
        if valid(&value) {
            Ok(Some(value))
        } else {
            Err(ConfigError::Invalid {
                var,
                value,
                expected: expected.into(),
            })
        }
    }

    fn list(
        var: &'static str,
        raw: Option<String>,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let items: Vec<String> = raw
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        match items.iter().find(|s| !valid(s)) {
            Some(bad) => Err(ConfigError::Invalid {
                var,
                value: bad.clone(),
                expected: expected.into(),
            }),
            None => Ok(items),
        }
    }

    /// `AWS_IP_RANGES_URL` (default AWS's `ip-ranges.json`), `AWS_IP_RANGES_MAX_AGE_MINUTES`
    /// (default 60).
    pub fn ip_ranges(&self) -> Result<IpRangesConfig, ConfigError> {
        let url = self
            .get("AWS_IP_RANGES_URL")
            .unwrap_or_else(|| DEFAULT_AWS_IP_RANGES_URL.into());
        let url = url.trim().to_string();
        if !["https://", "http://", "file://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            return Err(ConfigError::Invalid {
                var: "AWS_IP_RANGES_URL",
                value: url,
                expected: "an https://, http:// or file:// URL of AWS's ip-ranges.json".into(),
            });
        }
        Ok(IpRangesConfig {
            url,
            max_age: Duration::from_secs(
                60 * self.number("AWS_IP_RANGES_MAX_AGE_MINUTES", 60u64, 0, 7 * 24 * 60)?,
            ),
        })
    }

    /// The evidence archive, when `ARCHIVE_BUCKET` names a bucket.
    pub fn archive(&self) -> Result<Option<ArchiveConfig>, ConfigError> {
        let Some(bucket) = self.checked("ARCHIVE_BUCKET", is_bucket_name, BUCKET_NAME)? else {
            return Ok(None);
        };
        let mut prefix = self
            .get("ARCHIVE_PREFIX")
            .unwrap_or_else(|| "connections/".into())
            .trim()
            .trim_start_matches('/')
            .to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        if prefix.len() > 512 || prefix.chars().any(|c| c.is_control()) {
            return Err(ConfigError::Invalid {
                var: "ARCHIVE_PREFIX",
                value: prefix,
                expected: "a key prefix of at most 512 printable characters".into(),
            });
        }
        Ok(Some(ArchiveConfig {
            bucket,
            prefix,
            after_hours: self.number("ARCHIVE_AFTER_HOURS", 48u64, 1, 24 * 30)?,
            max_days_per_run: self.number("ARCHIVE_MAX_DAYS_PER_RUN", 7usize, 1, 400)?,
            retention_days: self.retention_days()?,
        }))
    }

    pub fn refresh(&self) -> Result<RefreshConfig, ConfigError> {
        let accounts_table = self.get("ACCOUNTS_TABLE").ok_or(ConfigError::Missing {
            var: "ACCOUNTS_TABLE",
            expected: "the name of the DynamoDB accounts table",
        })?;
        let regions = Self::list(
            "REGIONS",
            self.get("REGIONS").or_else(|| self.get("AWS_REGION")),
            is_region,
            "comma-separated AWS regions, e.g. eu-west-1,us-east-1",
        )?;
        if regions.is_empty() {
            return Err(ConfigError::Missing {
                var: "REGIONS",
                expected: "comma-separated AWS regions, e.g. eu-west-1,us-east-1",
            });
        }
        let domain = self.get("DOMAIN");
        if let Some(d) = &domain {
            if d.contains(char::is_whitespace) || d.starts_with('.') {
                return Err(ConfigError::Invalid {
                    var: "DOMAIN",
                    value: d.clone(),
                    expected: "a DNS domain template such as {account_name}.example.org".into(),
                });
            }
        }
        let page_size: i32 = self.number("DESCRIBE_PAGE_SIZE", 0, 0, 1000)?;
        let external_id = self.get("EXTERNAL_ID").filter(|v| !v.is_empty());
        if let Some(id) = &external_id {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c);
            if !(2..=1224).contains(&id.len()) || !id.chars().all(allowed) {
                return Err(ConfigError::Invalid {
                    var: "EXTERNAL_ID",
                    value: "(not shown)".into(),
                    expected: "2 to 1224 characters of A-Z a-z 0-9 + = , . @ : / _ -".into(),
                });
            }
        }
        Ok(RefreshConfig {
            redis: self.redis()?,
            accounts_table,
            regions,
            role_name: self
                .get("ROLE_NAME")
                .unwrap_or_else(|| "connection-tracker-reader".into()),
            external_id,
            domain,
            concurrency: self.number("REFRESH_CONCURRENCY", 8usize, 1, 64)?,
            region_timeout: Duration::from_secs(self.number(
                "REGION_TIMEOUT_SECONDS",
                60u64,
                1,
                900,
            )?),
            page_size: (page_size > 0).then_some(page_size.max(5)),
            dns_max_lookups: self.number("DNS_MAX_LOOKUPS", 200usize, 0, 100_000)?,
            dns_budget: Duration::from_secs(self.number("DNS_BUDGET_SECONDS", 10u64, 1, 600)?),
            dns_ttl: Duration::from_secs(self.number(
                "DNS_TTL_SECONDS",
                86_400u64,
                60,
                2_592_000,
            )?),
            dns_negative_ttl: Duration::from_secs(self.number(
                "DNS_NEGATIVE_TTL_SECONDS",
                3_600u64,
                60,
                2_592_000,
            )?),
            organization: self.organization()?,
        })
    }

    /// `ORGANIZATION_ROLE_ARN` (and `ORGANIZATION_UNITS`), when the organization is a source.
    fn organization(&self) -> Result<Option<OrganizationConfig>, ConfigError> {
        let units_raw = self.get("ORGANIZATION_UNITS");
        let Some(role_arn) = self.checked(
            "ORGANIZATION_ROLE_ARN",
            is_role_arn,
            "an IAM role ARN, arn:aws:iam::123456789012:role/NAME",
        )?
        else {
            if units_raw.is_some() {
                return Err(ConfigError::Missing {
                    var: "ORGANIZATION_ROLE_ARN",
                    expected: "the management account's role that lists accounts (ORGANIZATION_UNITS needs it)",
                });
            }
            return Ok(None);
        };
        let units = Self::list(
            "ORGANIZATION_UNITS",
            units_raw,
            is_organization_unit,
            "OU or root ids, e.g. ou-ab12-cd34ef56,r-ab12",
        )?;
        Ok(Some(OrganizationConfig { role_arn, units }))
    }

    pub fn api(&self) -> Result<ApiConfig, ConfigError> {
        Ok(ApiConfig {
            redis: self.redis()?,
            max_range_days: self.number("API_MAX_RANGE_DAYS", 31u32, 1, 3650)?,
            networks: self.networks()?,
        })
    }

    pub fn ingest(&self) -> Result<IngestConfig, ConfigError> {
        Ok(IngestConfig {
            redis: self.redis()?,
            retention_days: self.retention_days()?,
            dedup_window: Duration::from_secs(
                3600 * self.number("DEDUP_WINDOW_HOURS", DEFAULT_DEDUP_WINDOW_HOURS, 1, 24 * 30)?,
            ),
            shared_vpc_owners: self.shared_vpc_owners()?,
            limits: self.source_limits()?,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env(move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn the_organization_is_a_source_only_with_a_role() {
        let base = [
            ("REDIS_URL", "redis://h"),
            ("ACCOUNTS_TABLE", "t"),
            ("REGIONS", "eu-west-1"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = extra.to_vec();
            vars.extend_from_slice(&base);
            env(&vars).refresh()
        };
        assert_eq!(with(&[]).unwrap().organization, None);
        let on = with(&[
            (
                "ORGANIZATION_ROLE_ARN",
                "arn:aws:iam::123456789012:role/org/reader",
            ),
            ("ORGANIZATION_UNITS", "ou-ab12-cd34ef56, r-ab12"),
        ])
        .unwrap()
        .organization
        .unwrap();
        assert_eq!(on.units, ["ou-ab12-cd34ef56", "r-ab12"]);
        for (vars, var) in [
            (
                &[("ORGANIZATION_UNITS", "ou-ab12-cd34ef56")][..],
                "ORGANIZATION_ROLE_ARN",
            ),
            (
                &[("ORGANIZATION_ROLE_ARN", "arn:aws:iam::12:role/x")][..],
                "ORGANIZATION_ROLE_ARN",
            ),
            (
                &[("ORGANIZATION_ROLE_ARN", "arn:aws:s3:::bucket")][..],
                "ORGANIZATION_ROLE_ARN",
            ),
            (
                &[
                    ("ORGANIZATION_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
                    ("ORGANIZATION_UNITS", "ou-AB12-cd34ef56"),
                ][..],
                "ORGANIZATION_UNITS",
            ),
        ] {
            let error = with(vars).unwrap_err().to_string();
            assert!(error.contains(var), "{vars:?}: {error}");
        }
    }

    #[test]
    fn the_archive_is_off_without_a_bucket_and_its_settings_are_checked() {
        assert_eq!(env(&[]).archive().unwrap(), None);
        let on = env(&[("ARCHIVE_BUCKET", "evidence"), ("RETENTION_DAYS", "30")])
            .archive()
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                on.prefix.as_str(),
                on.after_hours,
                on.max_days_per_run,
                on.retention_days
            ),
            ("connections/", 48, 7, 30)
        );
        let table = [
            (
                &[("ARCHIVE_PREFIX", "/evidence/days")][..],
                Ok("evidence/days/"),
            ),
            (&[("ARCHIVE_PREFIX", "")][..], Ok("connections/")),
            (&[("ARCHIVE_PREFIX", "a\u{7}b")][..], Err("ARCHIVE_PREFIX")),
            (
                &[("ARCHIVE_BUCKET", "Not_A_Bucket")][..],
                Err("ARCHIVE_BUCKET"),
            ),
            (
                &[("ARCHIVE_AFTER_HOURS", "0")][..],
                Err("ARCHIVE_AFTER_HOURS"),
            ),
            (
                &[("ARCHIVE_MAX_DAYS_PER_RUN", "many")][..],
                Err("ARCHIVE_MAX_DAYS_PER_RUN"),
            ),
        ];
        for (vars, expected) in table {
            // The first of a name wins: the row's variables before the default bucket.
            let mut all = vars.to_vec();
            all.push(("ARCHIVE_BUCKET", "evidence"));
            let got = env(&all).archive();
            match expected {
                Ok(prefix) => assert_eq!(got.unwrap().unwrap().prefix, prefix, "{vars:?}"),
                Err(var) => assert!(got.unwrap_err().to_string().contains(var), "{vars:?}"),
            }
        }
    }

    #[test]
    fn minimal_ingest_config_uses_defaults() {
        let c = env(&[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .ingest()
        .unwrap();
        assert_eq!(c.retention_days, DEFAULT_RETENTION_DAYS);
        assert_eq!(c.dedup_window, Duration::from_secs(72 * 3600));
        assert_eq!(c.max_decompressed_bytes, DEFAULT_MAX_DECOMPRESSED_BYTES);
        assert_eq!(c.default_region, "eu-west-1");
        assert_eq!(c.redis.cluster, None);
        assert!(c.flow_log_format.is_none());
        assert!(c.networks.is_empty());
    }

    #[test]
    fn bad_settings_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "REDIS_URL is not set"),
            (
                &[("REDIS_URL", "http://x")],
                "REDIS_URL=\"http://… (not shown)\" is invalid",
            ),
            (
                &[("REDIS_URL", "redis://h"), ("RETENTION_DAYS", "0")],
                "RETENTION_DAYS=\"0\" is invalid; expected a whole number from 1 to 3650",
            ),
            (
                &[("REDIS_URL", "redis://h"), ("RETENTION_DAYS", "ten")],
                "RETENTION_DAYS=\"ten\" is invalid",
            ),
            (
                &[("REDIS_URL", "redis://h"), ("SHARED_VPC_OWNERS", "111111111111,12345")],
                "SHARED_VPC_OWNERS=\"12345\" is invalid; expected comma-separated AWS account ids (12 digits)",
            ),
            (
                &[("REDIS_URL", "redis://h"), ("DEDUP_WINDOW_HOURS", "0")],
                "DEDUP_WINDOW_HOURS=\"0\" is invalid; expected a whole number from 1 to 720",
            ),
            (
                &[
                    ("REDIS_URL", "redis://h"),
                    ("NETWORKS", "office=1.2.3.0/33"),
                ],
                "NETWORKS=\"office=1.2.3.0/33\" is invalid",
            ),
            (
                &[("REDIS_URL", "redis://h"), ("NETWORKS", "1.2.3.0/24")],
                "NETWORKS=\"1.2.3.0/24\" is invalid",
            ),
            (
                &[("REDIS_URL", "redis://h"), ("FLOW_LOG_FORMAT", "${version")],
                "FLOW_LOG_FORMAT=\"${version\" is invalid",
            ),
            (
                &[("REDIS_URL", "redis://h"), ("REDIS_CLUSTER", "maybe")],
                "REDIS_CLUSTER=\"maybe\" is invalid; expected auto, true or false",
            ),
            (
                &[("REDIS_URL", "redis://h"), ("MAX_DECOMPRESSED_BYTES", "10")],
                "MAX_DECOMPRESSED_BYTES=\"10\" is invalid",
            ),
        ];
        for (vars, want) in cases {
            let err = env(vars).ingest().unwrap_err().to_string();
            assert!(err.starts_with(want), "{vars:?}: {err}");
        }
        // A malformed URL is never printed: it may hold a password.
        for url in [
            "rediss://admin:s3cr3t@cache.example.org:notaport",
            "redis://:s3cr3t@[::1:6379",
            "s3cr3t",
        ] {
            let err = env(&[("REDIS_URL", url)]).ingest().unwrap_err().to_string();
            assert!(err.starts_with("REDIS_URL="), "{err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }

    #[test]
    fn refresh_settings() {
        let c = env(&[
            ("REDIS_URL", "redis://h"),
            ("ACCOUNTS_TABLE", "accounts"),
            ("REGIONS", "eu-west-1, us-east-1"),
        ])
        .refresh()
        .unwrap();
        assert_eq!(c.regions, ["eu-west-1", "us-east-1"]);
        assert_eq!(c.role_name, "connection-tracker-reader");
        assert_eq!((c.concurrency, c.page_size), (8, None));
        assert_eq!(c.external_id, None);
        let with_id = |id: &str| {
            env(&[
                ("REDIS_URL", "redis://h"),
                ("ACCOUNTS_TABLE", "accounts"),
                ("REGIONS", "eu-west-1"),
                ("EXTERNAL_ID", id),
            ])
            .refresh()
        };
        assert_eq!(
            with_id("ct-7f3a:org/sec@example.org")
                .unwrap()
                .external_id
                .as_deref(),
            Some("ct-7f3a:org/sec@example.org")
        );
        assert_eq!(with_id("").unwrap().external_id, None);
        for bad in ["7", "has space", "semi;colon"] {
            let err = with_id(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("EXTERNAL_ID=\"(not shown)\" is invalid"),
                "{err}"
            );
            assert!(!err.contains(bad), "the value is never printed: {err}");
        }
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("REDIS_URL", "redis://h"), ("REGIONS", "eu-west-1")],
                "ACCOUNTS_TABLE is not set",
            ),
            (
                &[
                    ("REDIS_URL", "redis://h"),
                    ("ACCOUNTS_TABLE", "t"),
                    ("REGIONS", "eu-west-1,Europe"),
                ],
                "REGIONS=\"Europe\" is invalid",
            ),
            (
                &[
                    ("REDIS_URL", "redis://h"),
                    ("ACCOUNTS_TABLE", "t"),
                    ("REGIONS", "eu-west-1"),
                    ("REFRESH_CONCURRENCY", "0"),
                ],
                "REFRESH_CONCURRENCY=\"0\" is invalid",
            ),
        ];
        for (vars, want) in cases {
            let err = env(vars).refresh().unwrap_err().to_string();
            assert!(err.starts_with(want), "{vars:?}: {err}");
        }
        for (r, ok) in [
            ("eu-west-1", true),
            ("us-gov-west-1", true),
            ("eu-west", false),
            ("EU-west-1", false),
            ("", false),
        ] {
            assert_eq!(is_region(r), ok, "{r}");
        }
    }

    #[test]
    fn networks_and_format_parse() {
        let c = env(&[
            ("REDIS_URL", "rediss://cache.example.org:6379"),
            (
                "NETWORKS",
                "my_office=123.123.123.0/24, some_nat=85.1.1.1/32",
            ),
            ("FLOW_LOG_FORMAT", "${version} ${interface-id} ${srcaddr}"),
            ("REDIS_CLUSTER", "true"),
        ])
        .ingest()
        .unwrap();
        assert_eq!(
            c.networks.lookup("85.1.1.1".parse().unwrap()),
            Some("some_nat")
        );
        assert_eq!(
            c.networks.lookup("123.123.123.7".parse().unwrap()),
            Some("my_office")
        );
        assert_eq!(c.flow_log_format.unwrap().len(), 3);
        assert_eq!(c.redis.cluster, Some(true));
    }

    #[test]
    fn dead_letter_settings() {
        let base = [("REDIS_URL", "redis://127.0.0.1:6379")];
        let read = |extra: &[(&str, &str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            env(&vars).dead_letter()
        };
        assert_eq!(read(&[]).unwrap(), None);
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Vars, Option<(&str, &str)>)] = &[
            (
                &[("DEAD_LETTER_BUCKET", "ct-failures")],
                Some(("ct-failures", "dead-letter/")),
            ),
            (
                &[
                    ("DEAD_LETTER_BUCKET", "ct.failures-1"),
                    ("DEAD_LETTER_PREFIX", "/dl"),
                ],
                Some(("ct.failures-1", "dl/")),
            ),
            (
                &[("DEAD_LETTER_BUCKET", "ct"), ("DEAD_LETTER_PREFIX", "x/")],
                None,
            ),
            (&[("DEAD_LETTER_BUCKET", "CT-Failures")], None),
            (&[("DEAD_LETTER_BUCKET", "ct..failures")], None),
            (&[("DEAD_LETTER_BUCKET", "ct-failures-")], None),
            (
                &[
                    ("DEAD_LETTER_BUCKET", "ct-failures"),
                    ("DEAD_LETTER_PREFIX", "a b"),
                ],
                None,
            ),
            (
                &[
                    ("DEAD_LETTER_BUCKET", "ct-failures"),
                    ("DEAD_LETTER_PREFIX", "../{x}"),
                ],
                None,
            ),
        ];
        for (vars, want) in cases {
            let got = read(vars)
                .ok()
                .flatten()
                .map(|c| (c.bucket.clone(), c.prefix.clone()));
            let want = want.map(|(b, p)| (b.to_string(), p.to_string()));
            assert_eq!(got, want, "{vars:?}");
        }
    }
}
