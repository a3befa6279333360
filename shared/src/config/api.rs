//! The API function's settings.

use super::defaults::DEFAULT_API_MAX_RANGE_DAYS;
use super::{ConfigError, Env, RedisConfig};
use crate::rules::classify::Networks;

/// Settings of the API function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    pub redis: RedisConfig,
    /// Longest `from`/`to` range one request may ask for, in days.
    pub max_range_days: u32,
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
            networks: self.networks()?,
        })
    }
}
