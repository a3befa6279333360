//! The product's rules, pure: the flow-log format and line parser, and the classification
//! (private sources, source and destination names, what is dropped). Table-tested; no I/O.

pub mod classify;
pub mod exposure;
pub mod flowlog;
pub mod reason;
pub mod s3_rule;
pub mod text;
