//! The API function's settings.

use super::defaults::{DEFAULT_API_MAX_RANGE_DAYS, DEFAULT_API_MAX_ROWS};
use super::{ConfigError, Env, RedisConfig};
use crate::rules::classify::Networks;

/// Settings of the API function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    pub redis: RedisConfig,
    /// Longest `from`/`to` range one request may ask for, in days.
    pub max_range_days: u32,
    /// `RETENTION_DAYS`: the exposure review's default range (the summaries it reads are
    /// small; its rows are read for the last day only).
    pub retention_days: u32,
    /// Rows one request may read from the store (`API_MAX_ROWS`): a larger read is refused
    /// with a 400 naming `limit` before its rows are fetched, so the function's memory holds.
    pub max_rows: usize,
    /// The named networks (`NETWORKS`), listed by `/addresses`.
    pub networks: Networks,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn api(&self) -> Result<ApiConfig, ConfigError> {
        Ok(ApiConfig {
            redis: self.redis()?,
            max_range_days: self.number(
                "API_MAX_RANGE_DAYS",
                DEFAULT_API_MAX_RANGE_DAYS,
                1,
                3650,
            )?,
            retention_days: self.retention_days()?,
            max_rows: self.number("API_MAX_ROWS", DEFAULT_API_MAX_ROWS, 1_000, 100_000_000)?,
            networks: self.networks()?,
        })
    }
}
