//! connection-tracker's domain logic: who from outside our private networks connects to which
//! public endpoint, on which port, how often. Nothing here knows about Lambda.

pub mod api;
#[cfg(feature = "aws")]
pub mod aws;
pub mod classify;
pub mod config;
pub mod discovery;
pub mod flowlog;
pub mod ingest;
pub mod inventory;
pub mod keys;
pub mod payload;
pub mod refresh;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;
