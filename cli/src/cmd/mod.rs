//! Each subcommand that does more than hand its arguments to the library: its own file.

pub mod connections;
pub mod exposure;
pub mod graph;
pub mod scan_endpoints;
pub mod ui;
