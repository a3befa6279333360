//! VPC Flow Logs delivered to S3: objects named by AWS's layouts ([`key`]), plain-text gzip
//! files whose first line names the fields, or Parquet files whose columns do ([`read`]). Read
//! as a stream, counted in chunks of [`CHUNK_LINES`] lines ([`count`]); each chunk is one payload
//! of the usual atomic, idempotent write, named from the object and the chunk's number — so the
//! same object read again (a redelivered notification, a retry after a crash half-way, a replay)
//! counts nothing twice, and a retry resumes where the last stopped. [`notice`] reads SQS
//! batches of S3 notifications and answers with a partial batch response.
//!
//! Parquet objects (`.log.parquet`) are spooled to a temporary file and read row group by row
//! group, each row as the text line of the same record.
//!
//! Memory: one chunk of lines (at most `CHUNK_LINES` × [`MAX_LINE_BYTES`]; ~1.5 MiB for
//! ordinary lines) and the decoder's buffers, whatever the object's size (for Parquet also the
//! row group being read).

mod count;
mod key;
mod notice;
mod read;

pub use count::{Counted, ObjectCount, ObjectEnd, MAX_PARQUET_BYTES};
pub use key::{parse_key, ObjectKey, ObjectKind};
pub use notice::{handle_sqs, sqs_notices, Notice, QueuedNotices, Unread};
pub use read::header_format;

use crate::rules::reason::reasons;
use crate::store::StoreError;

/// Lines per chunk (one write each). Part of every chunk's id: changing it changes the ids.
pub const CHUNK_LINES: usize = 10_000;
/// How long before the invocation's deadline the S3 path stops taking chunks: a chunk's
/// read and write, the partial batch response and the summary fit in it.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// When to stop, from Lambda's deadline (milliseconds since the epoch): [`DEADLINE_MARGIN`]
/// before it (at once if that has passed).
pub fn deadline(deadline_ms: u64) -> std::time::Instant {
    let now_ms = u64::try_from(crate::metrics::now_ms()).unwrap_or(0);
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    std::time::Instant::now() + left.saturating_sub(DEADLINE_MARGIN)
}

/// A longer line is not a flow-log record: rejected (`line_too_long`) without being kept.
pub const MAX_LINE_BYTES: usize = 4096;

reasons! {
    /// Why an object (or a notification) is not counted: `Skipped.<name>`, acknowledged, never
    /// retried.
    pub enum ObjectSkip {
        NotAFlowLogFile => "not_a_flow_log_file",
        NoAwslogsFolder => "no_awslogs_folder",
        NoAccount => "no_account",
        NotVpcFlowLogs => "not_vpc_flow_logs",
        BadAccount => "bad_account",
        BadRegion => "bad_region",
        BadDate => "bad_date",
        BadHeader => "bad_header",
        Empty => "empty",
        ParquetTooLarge => "parquet_too_large",
        BadParquet => "bad_parquet",
        BadNotification => "bad_notification",
        AlreadyCounted => "already_counted",
        OlderThanDedupWindow => "older_than_dedup_window",
    }
}

impl std::fmt::Display for ObjectSkip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Not a flow-log object (a reason, counted; never retried).
    #[error("not a flow-log object: {0}")]
    Skipped(ObjectSkip),
    #[error("cannot read the object: {0}")]
    Read(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}
