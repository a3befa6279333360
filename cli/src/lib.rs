//! The `ctrack` command's library: an API client (bearer or SigV4), the connections report
//! (from the API or the evidence archive), the endpoint probe, the account graph, replays
//! through the ingest path, the accounts table and the dashboard's local server. Tested
//! directly; `main.rs` parses the arguments and hands each command to its module.
// A function fits on a screen (clippy.toml): denied outside the tests, in the one clippy run.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

pub mod accounts;
pub mod archive;
pub mod client;
pub mod exposure;
pub mod graph;
pub mod replay;
pub mod report;
pub mod scan;
pub mod ui;
