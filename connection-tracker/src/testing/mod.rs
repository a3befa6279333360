//! Test support, compiled only with the `test-support` feature: real servers started on free
//! ports and stopped when dropped (`redis-server`, moto), the API served over HTTP, and events
//! and records built the way AWS builds them.

pub mod estate;
mod events;
mod http;
mod moto_server;
mod redis_server;

pub use events::{encode_payload, interface, kinesis_event, logs_event, logs_message};
pub use http::{read_http_head, serve_api, Headers, ServedApi};
pub use moto_server::MotoServer;
pub use redis_server::{RedisCluster, RedisServer};

use std::net::TcpListener;
use std::path::PathBuf;

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
