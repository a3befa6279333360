//! The `ctrack` command's library: an API client (bearer or SigV4), the connections report,
//! the endpoint probe and the account graph. Tested directly;
//! `main.rs` parses the arguments and hands each command to its module.

pub mod accounts;
pub mod client;
pub mod graph;
pub mod replay;
pub mod report;
pub mod scan;
