//! The `ctrack` command's library: an API client (bearer or SigV4), the connections report,
//! the endpoint probe and the account graph. Tested directly; `main.rs` only parses arguments.

pub mod client;
pub mod graph;
pub mod report;
pub mod scan;
