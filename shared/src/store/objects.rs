//! The S3 paths' ports: how far an object was counted, where Lambda's failure records are,
//! and where flow-log objects are read from.

use std::future::Future;

use super::StoreError;

/// How far an S3 object has been counted: its first `chunks` chunks (each counted once, by its
/// payload id), and whether that was all of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectMark {
    pub chunks: u64,
    pub complete: bool,
}

/// Where the S3 path remembers how far each object was counted, so that an invocation that
/// stops at its deadline resumes there and a redelivered notification of a counted object
/// costs one lookup. A hint only: each chunk's payload id still decides whether it counts.
pub trait ObjectProgress: Send + Sync {
    /// The object named `identity` (its key from `AWSLogs/` on): how far it was counted.
    fn object_mark(
        &self,
        identity: &str,
    ) -> impl Future<Output = Result<ObjectMark, StoreError>> + Send;
    /// Records how far `identity` was counted, kept `ttl` (as long as the chunks' ids).
    fn mark_object(
        &self,
        identity: &str,
        mark: ObjectMark,
        ttl: std::time::Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where Lambda keeps the records of invocations whose retries ran out (the failure bucket's
/// `aws/lambda/`), as the scheduled redrive reads and removes them. Errors say why, for a person.
pub trait FailureRecords: Send + Sync {
    /// The first `max` keys under `prefix`, in key order.
    fn list(
        &self,
        prefix: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<String>, String>> + Send;
    /// One record's bytes, refused over `limit`.
    fn get(&self, key: &str, limit: u64) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
    /// Removes a record once everything in it is counted.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), String>> + Send;
}

/// Where flow-log objects are read from (S3): a stream of an object's bytes.
pub trait ObjectSource: Send + Sync {
    type Reader: tokio::io::AsyncBufRead + Unpin + Send;
    /// Opens `bucket`/`key`; the error says why, for a person.
    fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Self::Reader, String>> + Send;
}
