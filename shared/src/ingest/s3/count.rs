//! Counting one object: its records read in chunks of [`CHUNK_LINES`] lines, each chunk one
//! payload of the usual idempotent write, named from the object and the chunk's number. How far
//! an object was counted is marked in the store after each chunk: a delivery that stopped at
//! its deadline resumes after the last counted chunk, one that finished is not read again.

use std::borrow::Cow;
use std::time::Instant;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::key::{ObjectKey, ObjectKind};
use super::read::{header_format, BoundedLines, Lines};
use super::{ObjectError, ObjectSkip, CHUNK_LINES};
use crate::ingest::payload::{LogEvent, LogsMessage};
use crate::ingest::{Ingestor, Summary};
use crate::model::PayloadId;
use crate::rules::flowlog::FlowLogFormat;
use crate::rules::reason::Reject;
use crate::store::{CounterStore, DeadLetters, ObjectMark, ObjectProgress};

/// The largest Parquet object read: it is spooled to a temporary file first (Parquet is read
/// from its end), and Lambda's `/tmp` holds 512 MiB unless configured larger.
pub const MAX_PARQUET_BYTES: u64 = 400 << 20;

/// The largest column chunk of a row group read, uncompressed: AWS writes row groups of a few
/// MiB; a footer that claims more is refused before anything is allocated for it.
pub const MAX_PARQUET_COLUMN_CHUNK_BYTES: i64 = 128 << 20;

/// What a Parquet footer claims, checked before a page is read: every column chunk inside the
/// file and of a sane size, row counts not negative (`bad_parquet`, or `parquet_too_large`).
fn check_parquet(
    metadata: &parquet::file::metadata::ParquetMetaData,
    length: u64,
) -> Result<(), ObjectSkip> {
    for group in metadata.row_groups() {
        if group.num_rows() < 0 || group.total_byte_size() < 0 {
            return Err(ObjectSkip::BadParquet);
        }
        for column in group.columns() {
            // The reader's own `byte_range` panics on negative values: checked here first.
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            let (Ok(start), Ok(size)) = (
                u64::try_from(start),
                u64::try_from(column.compressed_size()),
            ) else {
                return Err(ObjectSkip::BadParquet);
            };
            if start.checked_add(size).is_none_or(|end| end > length)
                || column.uncompressed_size() < 0
            {
                return Err(ObjectSkip::BadParquet);
            }
            if column.uncompressed_size() > MAX_PARQUET_COLUMN_CHUNK_BYTES {
                return Err(ObjectSkip::ParquetTooLarge);
            }
        }
    }
    Ok(())
}

/// One object being counted: where its counts go, what it is, the clock and when to stop.
pub struct ObjectCount<'a, S, D> {
    pub ingestor: &'a Ingestor<S, D>,
    pub key: &'a ObjectKey,
    /// What names the object (its key from `AWSLogs/` on): the chunks' ids come from it, so
    /// the same object read again — from S3, a copy, a replay — counts nothing twice.
    pub identity: &'a str,
    pub now: time::OffsetDateTime,
    /// Stop between two chunks once this has passed: what was counted stays counted, the rest
    /// resumes from the object's mark when the message comes again. `None`: read to the end.
    pub deadline: Option<Instant>,
    /// The object's mark when the caller has just read it (the SQS path looks before it opens
    /// the object); `None`: read here.
    pub mark: Option<ObjectMark>,
}

/// How far one object's count came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectEnd {
    /// Every record was read, now or by an earlier delivery.
    Complete,
    /// The deadline came first: `chunks` are counted, the rest waits for the next delivery.
    Unfinished { chunks: u64 },
    /// The text decompressed past `MAX_OBJECT_DECOMPRESSED_BYTES`: what came before the cap is
    /// counted (`chunks`), the rest is never read.
    TooLarge { chunks: u64 },
}

/// An object's figures and how far it came.
#[derive(Debug)]
pub struct Counted {
    pub summary: Summary,
    pub end: ObjectEnd,
    /// Chunks of the object counted so far, by every delivery.
    pub chunks: u64,
}

impl<S: CounterStore + ObjectProgress, D: DeadLetters> ObjectCount<'_, S, D> {
    /// The object's bytes as they come (gzip text or Parquet, by its key).
    pub async fn object<R>(&self, reader: R) -> Result<Counted, ObjectError>
    where
        R: AsyncBufRead + Unpin,
    {
        match self.key.kind {
            ObjectKind::Text => self.gzip_text(reader).await,
            ObjectKind::Parquet => self.parquet_stream(reader).await,
        }
    }

    /// A gzip text object (`.log.gz`, one or more gzip members), decompressed as it comes, up
    /// to `MAX_OBJECT_DECOMPRESSED_BYTES`.
    pub async fn gzip_text<R>(&self, compressed: R) -> Result<Counted, ObjectError>
    where
        R: AsyncBufRead + Unpin,
    {
        use tokio::io::AsyncReadExt;
        let mut decoder = async_compression::tokio::bufread::GzipDecoder::new(compressed);
        decoder.multiple_members(true);
        let cap = self.ingestor.config.max_object_decompressed_bytes;
        let mut text = tokio::io::BufReader::with_capacity(64 * 1024, decoder.take(cap));
        let mut counted = self.text(&mut text).await?;
        if counted.end == ObjectEnd::Complete && text.get_ref().limit() == 0 {
            // At the cap: one byte more says whether the object went on.
            text.get_mut().set_limit(1);
            let more = !text
                .fill_buf()
                .await
                .map_err(|e| ObjectError::Read(e.to_string()))?
                .is_empty();
            if more {
                counted.end = ObjectEnd::TooLarge {
                    chunks: counted.chunks,
                };
            }
        }
        Ok(counted)
    }

    /// A text object already decompressed: its header line names the fields.
    pub async fn text<R>(&self, reader: R) -> Result<Counted, ObjectError>
    where
        R: AsyncBufRead + Unpin,
    {
        let mut lines = BoundedLines::new(reader);
        let header = lines
            .next()
            .await
            .map_err(|e| ObjectError::Read(e.to_string()))?
            .ok_or(ObjectError::Skipped(ObjectSkip::Empty))?
            .map_err(|_| ObjectError::Skipped(ObjectSkip::BadHeader))?;
        let format = header_format(&header).map_err(ObjectError::Skipped)?;
        self.lines(&format, &mut Lines::Text(lines)).await
    }

    /// A Parquet object as it comes: spooled into an anonymous temporary file (gone when
    /// closed; Parquet is read from its end), then read. Memory stays bounded; disk holds it.
    pub async fn parquet_stream<R>(&self, reader: R) -> Result<Counted, ObjectError>
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
            return Err(ObjectError::Skipped(ObjectSkip::ParquetTooLarge));
        }
        self.parquet(file).await
    }

    /// A Parquet object (`.log.parquet`, as VPC Flow Logs writes it: one column per field,
    /// named with underscores, typed, null for a missing value), row group after row group:
    /// each row becomes the line AWS would have written in text, read by the same parser.
    /// Memory: the row group being read (AWS writes them small) and one chunk of lines.
    pub async fn parquet<F>(&self, file: F) -> Result<Counted, ObjectError>
    where
        F: parquet::file::reader::ChunkReader + 'static,
    {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let length = file.len();
        let reader = SerializedFileReader::new(file)
            .map_err(|_| ObjectError::Skipped(ObjectSkip::BadParquet))?;
        check_parquet(reader.metadata(), length).map_err(ObjectError::Skipped)?;
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
    /// the object's identity and the chunk's number. Starts after the chunks the object's mark
    /// says are counted, marks each chunk once written, stops at the deadline.
    async fn lines<R>(
        &self,
        format: &FlowLogFormat,
        lines: &mut Lines<R>,
    ) -> Result<Counted, ObjectError>
    where
        R: AsyncBufRead + Unpin,
    {
        let store = &self.ingestor.store;
        let ttl = self.ingestor.config.dedup_window;
        let mut total = Summary::default();
        let mark = match self.mark {
            Some(mark) => mark,
            None => store.object_mark(self.identity).await?,
        };
        if mark.complete {
            total.skip(ObjectSkip::AlreadyCounted.name());
            return Ok(Counted {
                summary: total,
                end: ObjectEnd::Complete,
                chunks: mark.chunks,
            });
        }
        // The counted chunks' lines again, read past (a chunk holds only lines that fit).
        let mut behind = mark.chunks.saturating_mul(CHUNK_LINES as u64);
        while behind > 0 {
            match lines.next().await? {
                Some(Ok(_)) => behind -= 1,
                Some(Err(())) => {}
                None => break,
            }
        }
        let mut chunk: Vec<String> = Vec::with_capacity(CHUNK_LINES);
        let mut too_long = 0u64;
        let mut number = mark.chunks;
        let end = loop {
            let line = lines.next().await?;
            let done = line.is_none();
            match line {
                Some(Ok(line)) => chunk.push(line),
                Some(Err(())) => too_long += 1,
                None => {}
            }
            if chunk.len() == CHUNK_LINES || (done && !chunk.is_empty()) {
                total.merge(&self.chunk(format, number, &chunk).await?);
                chunk.clear();
                number += 1;
                let mark = ObjectMark {
                    chunks: number,
                    complete: done,
                };
                store.mark_object(self.identity, mark, ttl).await?;
                let late = self.deadline.is_some_and(|d| Instant::now() >= d);
                if late && !done {
                    break ObjectEnd::Unfinished { chunks: number };
                }
            } else if done {
                let mark = ObjectMark {
                    chunks: number,
                    complete: true,
                };
                store.mark_object(self.identity, mark, ttl).await?;
            }
            if done {
                break ObjectEnd::Complete;
            }
        };
        if too_long > 0 {
            total.records += too_long;
            *total
                .rejected
                .entry(Reject::LineTooLong.name())
                .or_default() += too_long;
        }
        Ok(Counted {
            summary: total,
            end,
            chunks: number,
        })
    }

    /// One chunk counted as one payload: `s3`, the object's identity, the chunk size and its
    /// number name it.
    async fn chunk(
        &self,
        format: &FlowLogFormat,
        number: u64,
        chunk: &[String],
    ) -> Result<Summary, ObjectError> {
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
        Ok(self
            .ingestor
            .count_messages(&[id.as_str()], std::slice::from_ref(&message), self.now)
            .await?)
    }
}
