//! Test support, compiled only with the `test-support` feature: real servers started on free
//! ports and stopped when dropped (`redis-server`, moto), the API served over HTTP, and events
//! and records built the way AWS builds them.

pub mod alloc;
pub mod estate;
mod events;
pub mod exposure;
pub mod flow_mix;
mod http;
mod moto_server;
mod redis_server;

pub use events::{encode_payload, interface, kinesis_event, logs_event, logs_message};
pub use http::{read_http_head, serve_api, Headers, ServedApi};
pub use moto_server::{venv_tool, MotoServer};
pub use redis_server::{RedisCluster, RedisServer};

use std::net::TcpListener;
use std::path::PathBuf;

/// A row of a test's day: source, destination, port, count.
pub type TestRow<'r> = (&'r str, &'r str, u16, u64);

/// Named rows as one account/region's increments (no bare address: never folded).
pub fn increments<'a>(
    account: &'a str,
    region: &'a str,
    rows: &[TestRow<'_>],
) -> Vec<crate::store::Increment<'a>> {
    rows.iter()
        .map(|&(source, dest, port, count)| crate::store::Increment {
            account,
            region,
            member: crate::store::keys::connection_member(source, dest, port),
            count,
            bare_ip: None,
        })
        .collect()
}

/// A batch of one payload on one day, as tests and benchmarks write rows straight into the
/// store: counters kept far beyond any test's clock, bookkeeping for a day, no account/region
/// stamped (set `touched`, `now_rfc3339` or `limits` with `..one_payload(…)`).
pub fn one_payload<'a>(
    day: &str,
    id: &'a str,
    increments: Vec<crate::store::Increment<'a>>,
) -> crate::store::WriteBatch<'a> {
    crate::store::WriteBatch {
        days: vec![crate::store::DayWrite {
            day: day.to_string(),
            expire_at: 4_000_000_000,
            seen_ttl_secs: 86_400,
            unnamed_ttl_secs: 86_400,
            payloads: vec![crate::store::PayloadWrite { id, increments }],
        }],
        ..Default::default()
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A small xorshift generator for benchmarks: the same data on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
