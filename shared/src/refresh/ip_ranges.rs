//! The S3 service's prefixes of AWS's published ranges (`ip-ranges.json`) for the S3 rule: fetched by the refresh
//! at most once per `AWS_IP_RANGES_MAX_AGE_MINUTES`, stored whole (S3's entries); when the fetch fails or the
//! file is not AWS's, the last good copy stays.

use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::IpRangesConfig;
use crate::day::rfc3339_micros;
use crate::rules::s3_rule::S3Ranges;
use crate::store::{RefreshStore, StoreError};

/// Where `ip-ranges.json` comes from.
pub trait IpRangesSource: Send + Sync {
    /// The file's bytes, or why there are none.
    fn fetch(&self) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
}

/// What this run did with the ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RangesReport {
    /// Fetched and stored now.
    pub updated: bool,
    /// Blocks stored now (0 when the stored copy was kept).
    pub blocks: usize,
    /// Entries of the file that were no CIDR block, skipped.
    pub skipped: usize,
    /// Why the stored copy was kept although it was due (fetch failed, not AWS's file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Fetches and stores the ranges when the stored copy is older than `max_age` (or missing).
pub async fn refresh_s3_ranges<I: IpRangesSource, S: RefreshStore>(
    source: &I,
    store: &S,
    config: &IpRangesConfig,
    now: OffsetDateTime,
) -> Result<RangesReport, StoreError> {
    let fresh = store
        .s3_ranges_fetched_at()
        .await?
        .and_then(|at| {
            OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).ok()
        })
        .is_some_and(|at| now - at < config.max_age);
    if fresh {
        return Ok(RangesReport::default());
    }
    let parsed = source
        .fetch()
        .await
        .and_then(|bytes| S3Ranges::from_ip_ranges_json(&bytes).map_err(|e| e.to_string()));
    match parsed {
        Ok((ranges, skipped)) => {
            store
                .put_s3_ranges(&ranges.to_lines(), &rfc3339_micros(now))
                .await?;
            Ok(RangesReport {
                updated: true,
                blocks: ranges.len(),
                skipped,
                error: None,
            })
        }
        Err(error) => {
            tracing::warn!(url = %config.url, %error, "AWS ip-ranges not updated; the stored copy stays");
            Ok(RangesReport {
                error: Some(error),
                ..RangesReport::default()
            })
        }
    }
}

/// `ip-ranges.json` from a URL: `http(s)://` through reqwest (30 s, at most 32 MiB), or
/// `file://` from disk (tests, air-gapped installs).
#[cfg(feature = "aws")]
pub struct UrlSource {
    url: String,
    client: reqwest::Client,
}

#[cfg(feature = "aws")]
impl UrlSource {
    pub fn new(url: impl Into<String>) -> UrlSource {
        UrlSource {
            url: url.into(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }
}

#[cfg(feature = "aws")]
impl IpRangesSource for UrlSource {
    async fn fetch(&self) -> Result<Vec<u8>, String> {
        const LIMIT: usize = 32 * 1024 * 1024;
        if let Some(path) = self.url.strip_prefix("file://") {
            return tokio::fs::read(path)
                .await
                .map_err(|e| format!("cannot read {path}: {e}"));
        }
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("cannot fetch {}: {e}", self.url))?;
        if !response.status().is_success() {
            return Err(format!("{} answered {}", self.url, response.status()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("cannot read {}: {e}", self.url))?;
        if bytes.len() > LIMIT {
            return Err(format!("{} is larger than {LIMIT} bytes", self.url));
        }
        Ok(bytes.to_vec())
    }
}
