//! The refresh function's settings: accounts, regions, roles, DNS, AWS's ranges, the archive.

use std::time::Duration;

use super::defaults::*;
use super::env::BUCKET_NAME;
use super::{ConfigError, Env, RedisConfig};
use crate::model::{is_bucket_name, is_organization_unit, is_region, is_role_arn};
use crate::rules::classify::Networks;

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
    /// `{account_name}.example.org`: names NAT and jump hosts (`docs/rules.md`, "Names").
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
    /// Named networks (`NETWORKS`), as ingest and the API know them: the day's exposure review
    /// tells a rule used only from them (`narrow`).
    pub networks: Networks,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
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
                60 * self.number(
                    "AWS_IP_RANGES_MAX_AGE_MINUTES",
                    DEFAULT_AWS_IP_RANGES_MAX_AGE_MINUTES,
                    0,
                    7 * 24 * 60,
                )?,
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
            .unwrap_or_else(|| DEFAULT_ARCHIVE_PREFIX.into())
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
            after_hours: self.number(
                "ARCHIVE_AFTER_HOURS",
                DEFAULT_ARCHIVE_AFTER_HOURS,
                1,
                24 * 30,
            )?,
            max_days_per_run: self.number(
                "ARCHIVE_MAX_DAYS_PER_RUN",
                DEFAULT_ARCHIVE_MAX_DAYS_PER_RUN,
                1,
                400,
            )?,
            retention_days: self.retention_days()?,
            networks: self.networks()?,
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
                .unwrap_or_else(|| DEFAULT_ROLE_NAME.into()),
            external_id,
            domain,
            concurrency: self.number("REFRESH_CONCURRENCY", DEFAULT_REFRESH_CONCURRENCY, 1, 64)?,
            region_timeout: Duration::from_secs(self.number(
                "REGION_TIMEOUT_SECONDS",
                DEFAULT_REGION_TIMEOUT_SECONDS,
                1,
                900,
            )?),
            page_size: (page_size > 0).then_some(page_size.max(5)),
            dns_max_lookups: self.number("DNS_MAX_LOOKUPS", DEFAULT_DNS_MAX_LOOKUPS, 0, 100_000)?,
            dns_budget: Duration::from_secs(self.number(
                "DNS_BUDGET_SECONDS",
                DEFAULT_DNS_BUDGET_SECONDS,
                1,
                600,
            )?),
            dns_ttl: Duration::from_secs(self.number(
                "DNS_TTL_SECONDS",
                DEFAULT_DNS_TTL_SECONDS,
                60,
                2_592_000,
            )?),
            dns_negative_ttl: Duration::from_secs(self.number(
                "DNS_NEGATIVE_TTL_SECONDS",
                DEFAULT_DNS_NEGATIVE_TTL_SECONDS,
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
}
