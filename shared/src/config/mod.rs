//! Configuration from the environment: the names are part of the contract (README, section
//! "Configuration"). Read once at start; a bad setting is an error naming the variable and what
//! was expected.
//!
//! - [`env`]: the reader (numbers, lists, checked values);
//! - [`defaults`]: every default, named once;
//! - [`common`]: what every function reads (Redis, networks, format, retention);
//! - [`ingest`], [`refresh`], [`api`]: each function's settings.

mod api;
mod common;
pub mod defaults;
mod env;
mod ingest;
mod refresh;
#[cfg(feature = "ssm")]
pub mod secret;

pub use api::ApiConfig;
pub use common::RedisConfig;
pub use defaults::*;
pub use env::Env;
pub use ingest::{CacheLimit, DeadLetterConfig, IngestConfig, Parking, RowLimits};
pub use refresh::{ArchiveConfig, IpRangesConfig, OrganizationConfig, RefreshConfig};

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

#[cfg(test)]
mod tests;
