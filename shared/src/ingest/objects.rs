//! VPC Flow Logs delivered to S3: objects named by AWS's layouts, plain-text gzip files whose
//! first line names the fields, or Parquet files whose columns do. Read as a stream, counted in chunks of [`CHUNK_LINES`] lines;
//! each chunk is one payload of the usual atomic, idempotent write, named from the object and
//! the chunk's number — so the same object read again (a redelivered notification, a retry after
//! a crash half-way, a replay) counts nothing twice, and a retry resumes where the last stopped.
//!
//! Parquet objects (`.log.parquet`) are spooled to a temporary file and read row group by row
//! group, each row as the text line of the same record.
//!
//! Memory: one chunk of lines (at most `CHUNK_LINES` × [`MAX_LINE_BYTES`]; ~1.5 MiB for
//! ordinary lines) and the decoder's buffers, whatever the object's size (for Parquet also the
//! row group being read).

use std::borrow::Cow;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::payload::{LogEvent, LogsMessage};
use super::{Ingestor, Summary};
use crate::rules::reason::Reject;
use crate::model::PayloadId;
use crate::rules::flowlog::FlowLogFormat;
use crate::store::{CounterStore, DeadLetters, StoreError};

/// Lines per chunk (one write each). Part of every chunk's id: changing it changes the ids.
pub const CHUNK_LINES: usize = 10_000;
/// A longer line is not a flow-log record: rejected (`line_too_long`) without being kept.
pub const MAX_LINE_BYTES: usize = 4096;

/// What an object's key says: whose flow logs, where, which file format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectKey {
    pub account: String,
    pub region: String,
    /// `YYYY-MM-DD` of the delivery folder.
    pub day: String,
    pub kind: ObjectKind,
    /// The key from `AWSLogs/` on: the object's identity.
    pub from_awslogs: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// `.log.gz`: gzip text, a header line, then records.
    Text,
    /// `.log.parquet`.
    Parquet,
}

impl ObjectKind {
    /// The kind a file or key name ends in, if it is a flow-log file at all.
    pub fn of(name: &str) -> Option<ObjectKind> {
        if name.ends_with(".log.gz") {
            Some(ObjectKind::Text)
        } else if name.ends_with(".parquet") {
            Some(ObjectKind::Parquet)
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Not a flow-log object (a reason, counted; never retried).
    #[error("not a flow-log object: {0}")]
    Skipped(&'static str),
    #[error("cannot read the object: {0}")]
    Read(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The parts of `[prefix/]AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/[<hh>/]<file>`
/// or of the Hive-compatible `[prefix/]AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/
/// aws-region=<region>/year=…/month=…/day=…/[hour=…/]<file>`; anything else is skipped with a
/// reason.
pub fn parse_key(key: &str) -> Result<ObjectKey, &'static str> {
    let kind = ObjectKind::of(key).ok_or("not_a_flow_log_file")?;
    let start = key
        .match_indices("AWSLogs/")
        .map(|(i, _)| i)
        .find(|&i| i == 0 || key.as_bytes()[i - 1] == b'/')
        .ok_or("no_awslogs_folder")?;
    let from_awslogs = &key[start..];
    let parts: Vec<&str> = from_awslogs.split('/').collect();
    let value = |part: &str, name: &str| -> Option<String> {
        part.strip_prefix(name)
            .and_then(|v| v.strip_prefix('='))
            .map(String::from)
    };
    let (account, service, region, date) = match parts.get(1) {
        Some(p) if p.starts_with("aws-account-id=") => (
            value(p, "aws-account-id"),
            parts.get(2).and_then(|p| value(p, "aws-service")),
            parts.get(3).and_then(|p| value(p, "aws-region")),
            [4, 5, 6].map(|i| {
                parts
                    .get(i)
                    .and_then(|p| p.split_once('=').map(|(_, v)| v.to_string()))
            }),
        ),
        Some(p) => (
            Some(p.to_string()),
            parts.get(2).map(|s| s.to_string()),
            parts.get(3).map(|s| s.to_string()),
            [4, 5, 6].map(|i| parts.get(i).map(|s| s.to_string())),
        ),
        None => return Err("no_account"),
    };
    if service.as_deref() != Some("vpcflowlogs") {
        return Err("not_vpc_flow_logs");
    }
    let account = account
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .ok_or("bad_account")?;
    let region = region
        .filter(|r| {
            (4..=32).contains(&r.len())
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .ok_or("bad_region")?;
    let [Some(y), Some(m), Some(d)] = date else {
        return Err("bad_date");
    };
    let day = format!("{y}-{m}-{d}");
    crate::day::parse(&day).ok_or("bad_date")?;
    Ok(ObjectKey {
        account,
        region,
        day,
        kind,
        from_awslogs: from_awslogs.to_string(),
    })
}

/// The format a text object's first line names (`version account-id interface-id …`).
pub fn header_format(line: &str) -> Result<FlowLogFormat, &'static str> {
    let format = FlowLogFormat::parse(line.trim()).map_err(|_| "bad_header")?;
    // A header names fields; a record line in its place would parse as odd field names.
    if !format
        .field_names()
        .any(|n| n == "srcaddr" || n == "interface-id")
    {
        return Err("bad_header");
    }
    Ok(format)
}

/// The largest Parquet object read: it is spooled to a temporary file first (Parquet is read
/// from its end), and Lambda's `/tmp` holds 512 MiB unless configured larger.
pub const MAX_PARQUET_BYTES: u64 = 400 << 20;

/// One object being counted: where its counts go, what it is, and the clock.
pub struct ObjectCount<'a, S, D> {
    pub ingestor: &'a Ingestor<S, D>,
    pub key: &'a ObjectKey,
    /// What names the object (its key from `AWSLogs/` on): the chunks' ids come from it, so
    /// the same object read again — from S3, a copy, a replay — counts nothing twice.
    pub identity: &'a str,
    pub now: time::OffsetDateTime,
}

impl<S: CounterStore, D: DeadLetters> ObjectCount<'_, S, D> {
    /// The object's bytes as they come (gzip text or Parquet, by its key).
    pub async fn object<R>(&self, reader: R) -> Result<Summary, ObjectError>
    where
        R: AsyncBufRead + Unpin,
    {
        match self.key.kind {
            ObjectKind::Text => self.gzip_text(reader).await,
            ObjectKind::Parquet => self.parquet_stream(reader).await,
        }
    }

    /// A gzip text object (`.log.gz`, one or more gzip members), decompressed as it comes.
    pub async fn gzip_text<R>(&self, compressed: R) -> Result<Summary, ObjectError>
    where
        R: AsyncBufRead + Unpin,
    {
        let mut decoder = async_compression::tokio::bufread::GzipDecoder::new(compressed);
        decoder.multiple_members(true);
        self.text(tokio::io::BufReader::with_capacity(64 * 1024, decoder))
            .await
    }

    /// A text object already decompressed: its header line names the fields.
    pub async fn text<R>(&self, reader: R) -> Result<Summary, ObjectError>
    where
        R: AsyncBufRead + Unpin,
    {
        let mut lines = BoundedLines::new(reader);
        let header = lines
            .next()
            .await
            .map_err(|e| ObjectError::Read(e.to_string()))?
            .ok_or(ObjectError::Skipped("empty"))?
            .map_err(|_| ObjectError::Skipped("bad_header"))?;
        let format = header_format(&header).map_err(ObjectError::Skipped)?;
        self.lines(&format, &mut Lines::Text(lines)).await
    }

    /// A Parquet object as it comes: spooled into an anonymous temporary file (gone when
    /// closed; Parquet is read from its end), then read. Memory stays bounded; disk holds it.
    pub async fn parquet_stream<R>(&self, reader: R) -> Result<Summary, ObjectError>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let read = |e: std::io::Error| ObjectError::Read(e.to_string());
        let file = tempfile::tempfile().map_err(read)?;
        let mut spool = tokio::fs::File::from_std(file.try_clone().map_err(read)?);
        let copied = tokio::io::copy(&mut reader.take(MAX_PARQUET_BYTES + 1), &mut spool)
            .await
            .map_err(read)?;
        spool.flush().await.map_err(read)?;
        if copied > MAX_PARQUET_BYTES {
            return Err(ObjectError::Skipped("parquet_too_large"));
        }
        self.parquet(file).await
    }

    /// A Parquet object (`.log.parquet`, as VPC Flow Logs writes it: one column per field,
    /// named with underscores, typed, null for a missing value), row group after row group:
    /// each row becomes the line AWS would have written in text, read by the same parser.
    /// Memory: the row group being read (AWS writes them small) and one chunk of lines.
    pub async fn parquet<F>(&self, file: F) -> Result<Summary, ObjectError>
    where
        F: parquet::file::reader::ChunkReader + 'static,
    {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader =
            SerializedFileReader::new(file).map_err(|_| ObjectError::Skipped("bad_parquet"))?;
        let names: Vec<String> = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let format = header_format(&names.join(" ")).map_err(ObjectError::Skipped)?;
        let rows = parquet::record::reader::RowIter::from_file_into(Box::new(reader));
        let mut source: Lines<&[u8]> = Lines::Rows(Box::new(rows));
        self.lines(&format, &mut source).await
    }

    /// Counts records chunk by chunk: each chunk of [`CHUNK_LINES`] one payload, its id from
    /// the object's identity and the chunk's number.
    async fn lines<R>(
        &self,
        format: &FlowLogFormat,
        lines: &mut Lines<R>,
    ) -> Result<Summary, ObjectError>
    where
        R: AsyncBufRead + Unpin,
    {
        let mut total = Summary::default();
        let mut chunk: Vec<String> = Vec::with_capacity(CHUNK_LINES);
        let mut too_long = 0u64;
        let mut number = 0usize;
        loop {
            let line = lines.next().await?;
            let done = line.is_none();
            match line {
                Some(Ok(line)) => chunk.push(line),
                Some(Err(())) => too_long += 1,
                None => {}
            }
            if chunk.len() == CHUNK_LINES || (done && !chunk.is_empty()) {
                let name = format!("s3\n{}\n{CHUNK_LINES}\n{number}", self.identity);
                let id = PayloadId::of(name.as_bytes());
                let message = LogsMessage {
                    message_type: Cow::Borrowed("DATA_MESSAGE"),
                    owner: Cow::Borrowed(&self.key.account),
                    log_group: Cow::Borrowed(self.identity),
                    log_stream: Cow::Borrowed(""),
                    log_events: chunk
                        .iter()
                        .map(|line| LogEvent {
                            id: Cow::Borrowed(""),
                            timestamp: 0,
                            message: Cow::Borrowed(line),
                        })
                        .collect(),
                    format: Some(format.clone()),
                };
                let summary = self
                    .ingestor
                    .count_messages(&[id.as_str()], std::slice::from_ref(&message), self.now)
                    .await?;
                total.merge(&summary);
                chunk.clear();
                number += 1;
            }
            if done {
                break;
            }
        }
        if too_long > 0 {
            total.records += too_long;
            *total.rejected.entry(Reject::LineTooLong.name()).or_default() += too_long;
        }
        Ok(total)
    }
}

/// Where an object's records come from: text lines, or Parquet rows.
enum Lines<R> {
    Text(BoundedLines<R>),
    Rows(Box<parquet::record::reader::RowIter<'static>>),
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    /// The next record as a text line; `Err(())` for a line too long to be one. A Parquet file
    /// that turns out broken half-way is an error (counted as far as it could be read).
    async fn next(&mut self) -> Result<Option<Result<String, ()>>, ObjectError> {
        match self {
            Lines::Text(lines) => lines
                .next()
                .await
                .map_err(|e| ObjectError::Read(e.to_string())),
            Lines::Rows(rows) => match rows.next() {
                None => Ok(None),
                Some(Ok(row)) => Ok(Some(Ok(row_line(&row)))),
                Some(Err(_)) => Err(ObjectError::Skipped("bad_parquet")),
            },
        }
    }
}

/// A Parquet row as the text line of the same record: values in column order, `-` for null.
fn row_line(row: &parquet::record::Row) -> String {
    use parquet::record::Field;
    let mut line = String::with_capacity(128);
    for (i, (_, field)) in row.get_column_iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        match field {
            Field::Null => line.push('-'),
            Field::Str(text) => line.push_str(text),
            other => line.push_str(&other.to_string()),
        }
    }
    line
}

/// One object an S3 notification names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub bucket: String,
    /// Decoded (notifications carry keys URL-encoded, `+` for a space).
    pub key: String,
}

/// One SQS message of an S3-notification queue: its id (what a partial batch failure names)
/// and the objects it announces, or why it announces none that can be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedNotices {
    pub message_id: String,
    pub notices: Result<Vec<Notice>, &'static str>,
}

/// The S3 `ObjectCreated` notifications of an SQS event (S3 → SQS → this function), or `None`
/// when `event` is not an SQS event. `s3:TestEvent` messages announce nothing.
pub fn sqs_notices(event: &serde_json::Value) -> Option<Vec<QueuedNotices>> {
    let records = event.get("Records")?.as_array()?;
    if records.is_empty() || records.iter().any(|r| r["eventSource"] != "aws:sqs") {
        return None;
    }
    Some(
        records
            .iter()
            .map(|record| QueuedNotices {
                message_id: record["messageId"].as_str().unwrap_or_default().to_string(),
                notices: record["body"]
                    .as_str()
                    .ok_or("bad_notification")
                    .and_then(s3_notices),
            })
            .collect(),
    )
}

/// The objects of one S3 event notification (the body of an SQS message).
fn s3_notices(body: &str) -> Result<Vec<Notice>, &'static str> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|_| "bad_notification")?;
    if value["Event"] == "s3:TestEvent" {
        return Ok(Vec::new());
    }
    let records = value["Records"].as_array().ok_or("bad_notification")?;
    let mut notices = Vec::new();
    for record in records {
        if record["eventSource"] != "aws:s3" {
            return Err("bad_notification");
        }
        if !record["eventName"]
            .as_str()
            .is_some_and(|n| n.starts_with("ObjectCreated:"))
        {
            continue;
        }
        let bucket = record["s3"]["bucket"]["name"].as_str();
        let key = record["s3"]["object"]["key"].as_str();
        let (Some(bucket), Some(key)) = (bucket, key) else {
            return Err("bad_notification");
        };
        let plus_decoded = key.replace('+', " ");
        let key = percent_encoding::percent_decode_str(&plus_decoded)
            .decode_utf8()
            .map_err(|_| "bad_notification")?;
        notices.push(Notice {
            bucket: bucket.to_string(),
            key: key.into_owned(),
        });
    }
    Ok(notices)
}

/// Counts the objects an SQS batch of S3 notifications announces. A message whose object
/// cannot be read now (S3 or Redis failing) is reported back, so SQS delivers it again and the
/// counted chunks are skipped then; a message that can never be counted (not a flow-log object,
/// a bad notification) is acknowledged and counted by reason.
pub async fn handle_sqs<S, D, O>(
    ingestor: &Ingestor<S, D>,
    source: &O,
    messages: Vec<QueuedNotices>,
    now: time::OffsetDateTime,
) -> super::Outcome
where
    S: CounterStore,
    D: DeadLetters,
    O: crate::store::ObjectSource,
{
    let started = std::time::Instant::now();
    let mut total = Summary::default();
    let mut failures: Vec<String> = Vec::new();
    let skip = |total: &mut Summary, why: &'static str| {
        *total.skipped.entry(why).or_default() += 1;
    };
    for message in messages {
        let notices = match message.notices {
            Ok(notices) => notices,
            Err(why) => {
                tracing::warn!(message_id = %message.message_id, why, "S3 notification skipped");
                skip(&mut total, why);
                continue;
            }
        };
        for notice in notices {
            let key = match parse_key(&notice.key) {
                Ok(key) => key,
                Err(why) => {
                    skip(&mut total, why);
                    continue;
                }
            };
            let outcome = match source.open(&notice.bucket, &notice.key).await {
                Ok(reader) => {
                    // The identity: the key from AWSLogs/ on (AWS never rewrites a delivered
                    // object; its name holds the flow log's id, the time and a hash), the
                    // same for `ctrack replay` of a copy, so no copy counts twice.
                    let count = ObjectCount {
                        ingestor,
                        key: &key,
                        identity: &key.from_awslogs,
                        now,
                    };
                    count.object(reader).await
                }
                Err(e) => Err(ObjectError::Read(e)),
            };
            match outcome {
                Ok(summary) => total.merge(&summary),
                Err(ObjectError::Skipped(why)) => skip(&mut total, why),
                Err(e) => {
                    tracing::error!(message_id = %message.message_id, bucket = %notice.bucket, key = %notice.key, error = %e, "S3 object not counted; it comes again");
                    *total.failed_payloads.entry("object_not_read").or_default() += 1;
                    failures.push(message.message_id.clone());
                    break;
                }
            }
        }
    }
    total.duration_ms = started.elapsed().as_millis() as u64;
    let mut response = aws_lambda_events::streams::KinesisEventResponse::default();
    failures.dedup();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = aws_lambda_events::streams::KinesisBatchItemFailure::default();
            f.item_identifier = Some(id);
            f
        })
        .collect();
    super::Outcome {
        summary: total,
        response: super::Reply::Kinesis(response),
    }
}

/// Lines of at most [`MAX_LINE_BYTES`]: a longer one is skipped to its end and answered as
/// `Err(())`, so no input can make a line buffer grow without bound.
struct BoundedLines<R> {
    reader: R,
    buffer: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> BoundedLines<R> {
    fn new(reader: R) -> Self {
        BoundedLines {
            reader,
            buffer: Vec::with_capacity(256),
        }
    }

    async fn next(&mut self) -> std::io::Result<Option<Result<String, ()>>> {
        self.buffer.clear();
        let mut overlong = false;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if self.buffer.is_empty() && !overlong {
                    return Ok(None);
                }
                break;
            }
            let (part, found) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            if !overlong {
                if self.buffer.len() + part.len() > MAX_LINE_BYTES {
                    overlong = true;
                    self.buffer.clear();
                } else {
                    self.buffer.extend_from_slice(part);
                }
            }
            let used = found.unwrap_or(available.len());
            self.reader.consume(used);
            if found.is_some() {
                break;
            }
        }
        if overlong {
            return Ok(Some(Err(())));
        }
        // Lines that are not UTF-8 are rejected by the parser like any other bad line.
        let text = String::from_utf8_lossy(&self.buffer).into_owned();
        Ok(Some(Ok(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_both_of_aws_layouts_and_what_is_skipped() {
        let ok = [
            (
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/27/123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20261127T1200Z_fe123456.log.gz",
                ("123456789012", "us-east-1", "2026-11-27", ObjectKind::Text),
            ),
            (
                "my-prefix/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/27/09/123456789012_vpcflowlogs_eu-west-1_fl-1_20261127T0905Z_ab.log.parquet",
                ("123456789012", "eu-west-1", "2026-11-27", ObjectKind::Parquet),
            ),
            (
                "central/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-central-1/year=2026/month=11/day=28/hour=23/f.log.gz",
                ("123456789012", "eu-central-1", "2026-11-28", ObjectKind::Text),
            ),
        ];
        for (key, (account, region, day, kind)) in ok {
            let parsed = parse_key(key).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(
                (
                    parsed.account.as_str(),
                    parsed.region.as_str(),
                    parsed.day.as_str(),
                    parsed.kind
                ),
                (account, region, day, kind),
                "{key}"
            );
            assert!(parsed.from_awslogs.starts_with("AWSLogs/"));
        }
        let skipped = [
            (
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/27/x.txt",
                "not_a_flow_log_file",
            ),
            (
                "logs/123456789012/vpcflowlogs/us-east-1/2026/11/27/x.log.gz",
                "no_awslogs_folder",
            ),
            (
                "xAWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/27/x.log.gz",
                "no_awslogs_folder",
            ),
            (
                "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/11/27/x.log.gz",
                "not_vpc_flow_logs",
            ),
            (
                "AWSLogs/12345/vpcflowlogs/us-east-1/2026/11/27/x.log.gz",
                "bad_account",
            ),
            (
                "AWSLogs/123456789012/vpcflowlogs/US_EAST/2026/11/27/x.log.gz",
                "bad_region",
            ),
            (
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/13/27/x.log.gz",
                "bad_date",
            ),
            (
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/x.log.gz",
                "bad_date",
            ),
        ];
        for (key, reason) in skipped {
            assert_eq!(parse_key(key), Err(reason), "{key}");
        }
    }

    #[test]
    fn a_header_names_the_fields_and_a_record_is_no_header() {
        let v2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
        assert_eq!(header_format(v2).unwrap().len(), 14);
        assert!(
            header_format("2 123456789012 eni-1 1.2.3.4 10.0.0.1 1 2 6 1 1 1 1 ACCEPT OK").is_err()
        );
        assert!(header_format("").is_err());
    }

    #[tokio::test]
    async fn lines_are_bounded() {
        let long = "x".repeat(MAX_LINE_BYTES + 10);
        let text = format!("a\n{long}\nb\r\nc");
        let mut lines = BoundedLines::new(text.as_bytes());
        let mut got = Vec::new();
        while let Some(line) = lines.next().await.unwrap() {
            got.push(line.map(|l| l.trim_end().to_string()));
        }
        assert_eq!(
            got,
            [Ok("a".to_string()), Err(()), Ok("b".into()), Ok("c".into())]
        );
    }
}
