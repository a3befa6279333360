//! connection-tracker's domain logic: who from outside our private networks connects to which
//! public endpoint, on which port, how often. Nothing here knows about Lambda: the three
//! functions (`functions/*`) and ctrack (`cli/`) are thin shells around it.
//!
//! # Floors
//!
//! Each module imports only from the floors below it, never from its own floor or above
//! (`docs/ARCHITECTURE.md` draws what flows through them):
//!
//! | floor | modules | holds |
//! | --- | --- | --- |
//! | 0 | [`model`], [`day`] | records that cross functions and the API's wire types; UTC days |
//! | 1 | [`rules`] | the flow-log parser and the classification rules, pure |
//! | 2 | [`config`], [`metrics`] | settings read once at start; the one EMF builder |
//! | 3 | [`store`] | the ports each use case needs, the Redis adapter, the key layout, Lua scripts |
//! | 4 | [`ingest`], [`refresh`], [`api`] | the three use cases, side by side, none importing another |
//!
//! [`testing`] (feature `test-support`) starts real servers for tests and may import anything.
// A function fits on a screen (clippy.toml): denied outside the tests, in the one clippy run.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

pub mod api;
pub mod config;
pub mod day;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod refresh;
pub mod rules;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;
