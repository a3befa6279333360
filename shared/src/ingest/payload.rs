//! The two event shapes that carry CloudWatch Logs subscription payloads to the function
//! (a subscription event, a Kinesis batch; S3 notifications are `s3/notice.rs`), and the
//! payload inside them: base64 → size-capped gunzip → JSON.
//!
//! The outer shapes are read leniently on purpose (raw strings, not `aws_lambda_events`' decoded
//! types): one corrupt Kinesis record must fail alone, not the whole batch's deserialisation.

use std::borrow::Cow;

use base64::Engine;
use flate2::{Decompress, FlushDecompress, Status};
use serde::Deserialize;

mod scan;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event is not JSON: {0}")]
    EventJson(String),
    #[error(
        "event is neither a CloudWatch Logs subscription event ({{\"awslogs\":{{\"data\":…}}}}) \
         nor a Kinesis event ({{\"Records\":[{{\"kinesis\":{{\"data\":…}}}}]}})"
    )]
    UnknownEvent,
    #[error("payload is not valid base64: {0}")]
    Base64(String),
    #[error("payload is not valid gzip: {0}")]
    Gzip(String),
    #[error("payload decompresses to more than {limit} bytes (MAX_DECOMPRESSED_BYTES); refusing a possible gzip bomb")]
    TooLarge { limit: usize },
    #[error("payload is not a CloudWatch Logs subscription message: {0}")]
    MessageJson(String),
    #[error("unknown CloudWatch Logs messageType `{0}`; expected DATA_MESSAGE or CONTROL_MESSAGE")]
    MessageType(String),
}

impl DecodeError {
    /// A short stable name for metrics and summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::EventJson(_) => "event_json",
            DecodeError::UnknownEvent => "unknown_event",
            DecodeError::Base64(_) => "base64",
            DecodeError::Gzip(_) => "gzip",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::MessageJson(_) => "message_json",
            DecodeError::MessageType(_) => "message_type",
        }
    }
}

/// A Lambda event that carries flow logs.
#[derive(Debug)]
pub enum FlowEvent {
    /// CloudWatch Logs subscription (same account): one compressed payload.
    Logs { data: String },
    /// Kinesis Data Streams (cross-account): one compressed payload per record.
    Kinesis { records: Vec<KinesisItem> },
}

/// One Kinesis record, still encoded.
#[derive(Debug, Clone)]
pub struct KinesisItem {
    /// The sequence number, reported back in `batchItemFailures`.
    pub sequence_number: String,
    pub data: String,
}

#[derive(Deserialize)]
struct RawEvent {
    awslogs: Option<RawAwsLogs>,
    #[serde(rename = "Records")]
    records: Option<Vec<RawKinesisRecord>>,
}

#[derive(Deserialize)]
struct RawAwsLogs {
    data: String,
}

#[derive(Deserialize)]
struct RawKinesisRecord {
    kinesis: RawKinesis,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKinesis {
    data: String,
    #[serde(default)]
    sequence_number: String,
}

impl FlowEvent {
    pub fn from_slice(bytes: &[u8]) -> Result<FlowEvent, DecodeError> {
        let raw: RawEvent =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::EventJson(e.to_string()))?;
        Self::from_raw(raw)
    }

    pub fn from_value(value: &serde_json::Value) -> Result<FlowEvent, DecodeError> {
        if !value.is_object() {
            return Err(DecodeError::UnknownEvent);
        }
        let raw = RawEvent::deserialize(value).map_err(|e| {
            // A known shape with the wrong field types.
            DecodeError::EventJson(e.to_string())
        })?;
        Self::from_raw(raw)
    }

    /// The time (ms) of the newest log event the event carries, over the payloads that decode;
    /// `None` when there is none (control messages, undecodable payloads). A redrive uses it
    /// to tell whether the payloads' redelivery records may have expired.
    pub fn newest_log_event_ms(&self, limit: usize) -> Option<u64> {
        let datas: Vec<&str> = match self {
            FlowEvent::Logs { data } => vec![data.as_str()],
            FlowEvent::Kinesis { records } => records.iter().map(|r| r.data.as_str()).collect(),
        };
        datas
            .into_iter()
            .filter_map(|data| decode_data(data, limit).ok())
            .filter_map(|bytes| {
                let message = LogsMessage::parse(&bytes).ok()?;
                message.log_events.iter().map(|e| e.timestamp).max()
            })
            .max()
    }

    fn from_raw(raw: RawEvent) -> Result<FlowEvent, DecodeError> {
        match (raw.awslogs, raw.records) {
            (Some(logs), _) => Ok(FlowEvent::Logs { data: logs.data }),
            (None, Some(records)) => Ok(FlowEvent::Kinesis {
                records: records
                    .into_iter()
                    .map(|r| KinesisItem {
                        sequence_number: r.kinesis.sequence_number,
                        data: r.kinesis.data,
                    })
                    .collect(),
            }),
            (None, None) => Err(DecodeError::UnknownEvent),
        }
    }
}

/// base64 → gunzip, refusing to produce more than `limit` bytes.
pub fn decode_data(data: &str, limit: usize) -> Result<Vec<u8>, DecodeError> {
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| DecodeError::Base64(e.to_string()))?;
    gunzip_capped(&compressed, limit)
}

/// Decompresses gzip (all members) into at most `limit` bytes. Inflates straight into the
/// output's spare capacity (a `Read` into a `Vec` zero-fills it first), one zlib stream per
/// gzip member; zlib checks each member's header, CRC-32 and length.
pub fn gunzip_capped(compressed: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let gzip = |e: &dyn std::fmt::Display| DecodeError::Gzip(e.to_string());
    // Flow-log payloads compress about 10:1; start there, never above the limit.
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(10).min(limit));
    let mut input = compressed;
    loop {
        let mut inflate = Decompress::new_gzip(15);
        loop {
            if out.len() == out.capacity() {
                // Double, but never past one byte over the limit: that byte tells.
                let room = (limit + 1 - out.len()).min(out.capacity().max(4096));
                out.reserve_exact(room);
            }
            let before = inflate.total_in();
            let status = inflate.decompress_vec(input, &mut out, FlushDecompress::None);
            // Past the limit first: the byte over it may come in the same call that finds the
            // member's check wrong, and a reader stops at the limit, never reading that far.
            if out.len() > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            let status = status.map_err(|e| gzip(&e))?;
            input = &input[(inflate.total_in() - before) as usize..];
            match status {
                Status::StreamEnd => break,
                Status::Ok => {}
                // No progress with room to write: the input ended inside the member.
                Status::BufError if out.len() < out.capacity() => {
                    return Err(gzip(&"unexpected end of the gzip stream"));
                }
                Status::BufError => {}
            }
        }
        if input.is_empty() {
            return Ok(out);
        }
    }
}

/// A CloudWatch Logs subscription message, borrowing from its decompressed bytes.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsMessage<'a> {
    #[serde(borrow)]
    pub message_type: Cow<'a, str>,
    #[serde(borrow, default)]
    pub owner: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_group: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_stream: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_events: Vec<LogEvent<'a>>,
    /// The lines' format when the source names it (an S3 object's header line); else the
    /// log group's format from the inventory, else the fallback.
    #[serde(skip)]
    pub format: Option<crate::rules::flowlog::FlowLogFormat>,
}

#[derive(Debug, PartialEq, Deserialize)]
pub struct LogEvent<'a> {
    #[serde(borrow, default)]
    pub id: Cow<'a, str>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub timestamp: u64,
    #[serde(borrow)]
    pub message: Cow<'a, str>,
}

impl<'a> LogsMessage<'a> {
    /// Parses a decompressed payload; `CONTROL_MESSAGE`s parse too and carry no flow records.
    pub fn parse(bytes: &'a [u8]) -> Result<LogsMessage<'a>, DecodeError> {
        // The usual payload is read by a scan over its known shape (a tenth of a general
        // parser's instructions); whatever it declines, the general parser reads.
        let message = match scan::logs_message(bytes) {
            Some(message) => message,
            None => Self::parse_general(bytes)?,
        };
        match message.message_type.as_ref() {
            "DATA_MESSAGE" | "CONTROL_MESSAGE" => Ok(message),
            other => Err(DecodeError::MessageType(other.chars().take(64).collect())),
        }
    }

    /// Any JSON of the message's shape, by a general parser, whatever `messageType` says.
    /// [`parse`](Self::parse) comes here when its scan declines; public so that the
    /// `logs_message` fuzz target can hold the two to the same answers.
    pub fn parse_general(bytes: &'a [u8]) -> Result<LogsMessage<'a>, DecodeError> {
        // sonic-rs (SIMD) reads the payload about twice as fast as serde_json; it borrows the
        // same way, so the messages stay slices of the decompressed bytes.
        sonic_rs::from_slice(bytes).map_err(|e| DecodeError::MessageJson(e.to_string()))
    }

    /// The scan alone: `None` where it declines (see [`parse`](Self::parse)).
    pub fn scan(bytes: &'a [u8]) -> Option<LogsMessage<'a>> {
        scan::logs_message(bytes)
    }

    pub fn is_control(&self) -> bool {
        self.message_type == "CONTROL_MESSAGE"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gunzip_respects_the_cap() {
        let data = vec![b'a'; 10_000];
        let gz = gzip(&data);
        assert_eq!(gunzip_capped(&gz, 10_000).unwrap(), data);
        assert!(matches!(
            gunzip_capped(&gz, 9_999),
            Err(DecodeError::TooLarge { limit: 9_999 })
        ));
    }

    #[test]
    fn event_shapes_are_recognised() {
        let cases: &[(&str, &str)] = &[
            (r#"{"awslogs":{"data":"x"}}"#, "logs"),
            (
                r#"{"Records":[{"kinesis":{"data":"eA==","sequenceNumber":"1"},"eventSource":"aws:kinesis"}]}"#,
                "kinesis",
            ),
            (r#"{"Records":[]}"#, "kinesis"),
            (r#"{"hello":"world"}"#, "unknown_event"),
            (r#"[1,2,3]"#, "event_json"),
            (r#"{"awslogs":{"data":42}}"#, "event_json"),
            (r#"{"awslogs""#, "event_json"),
        ];
        for (json, want) in cases {
            let got = match FlowEvent::from_slice(json.as_bytes()) {
                Ok(FlowEvent::Logs { .. }) => "logs",
                Ok(FlowEvent::Kinesis { .. }) => "kinesis",
                Err(e) => e.kind(),
            };
            assert_eq!(got, *want, "{json}");
        }
    }

    /// What `gunzip_capped` did before it inflated into spare capacity: flate2's reader.
    fn reference(compressed: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(compressed)
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| DecodeError::Gzip(e.to_string()))?;
        if out.len() > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        Ok(out)
    }

    fn same(compressed: &[u8], limit: usize) -> Result<(), String> {
        let (got, want) = (
            gunzip_capped(compressed, limit),
            reference(compressed, limit),
        );
        match (&got, &want) {
            (Ok(a), Ok(b)) if a == b => Ok(()),
            (Err(a), Err(b)) if a.kind() == b.kind() => Ok(()),
            _ => Err(format!(
                "{compressed:?} (limit {limit}): {:?} against {:?}",
                got.map(|v| v.len()),
                want.map(|v| v.len())
            )),
        }
    }

    #[test]
    fn gunzip_answers_as_flate2s_reader_on_the_edges() {
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("{i} ").into_bytes())
            .collect();
        let one = gzip(&text);
        let two = [gzip(b"first member, "), gzip(b"second member")].concat();
        let mut cases: Vec<(Vec<u8>, usize)> = vec![
            (Vec::new(), 100),
            (one.clone(), text.len()),
            (one.clone(), text.len() - 1),
            (one.clone(), 0),
            (gzip(b""), 0),
            (two.clone(), 1000),
            (two.clone(), 20),
            ([one.clone(), b"garbage".to_vec()].concat(), text.len()),
            ([one.clone(), vec![0; 10]].concat(), text.len()),
            (b"not gzip at all".to_vec(), 100),
        ];
        // Found by the property below: a damaged member whose byte over the limit comes in the
        // same inflate call that finds its check wrong — the limit decides, as for a reader.
        let line = b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n";
        let mut damaged = [gzip(line), gzip(&[b'x'; 3000])].concat();
        let at = 3788 % damaged.len();
        damaged[at] = 101;
        cases.extend((100..=116).map(|limit| (damaged.clone(), limit)));
        // Every cut of a small stream, and cuts through the large one.
        cases.extend((0..two.len()).map(|n| (two[..n].to_vec(), 1000)));
        cases.extend(
            (0..one.len())
                .step_by(97)
                .map(|n| (one[..n].to_vec(), text.len())),
        );
        for (compressed, limit) in cases {
            same(&compressed, limit).unwrap();
        }
    }

    proptest::proptest! {
        /// A damaged stream (a byte changed anywhere: header, data, CRC, length) is refused or
        /// read exactly as flate2's reader reads it.
        #[test]
        fn gunzip_answers_as_flate2s_reader_on_damaged_streams(
            at in 0usize..10_000,
            byte in proptest::prelude::any::<u8>(),
            cut in 0usize..10_000,
            limit in 0usize..4_000,
        ) {
            let mut stream = [gzip(b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n"), gzip(&[b'x'; 3000])].concat();
            let at = at % stream.len();
            stream[at] = byte;
            stream.truncate(stream.len() - cut % 8);
            same(&stream, limit).map_err(proptest::test_runner::TestCaseError::fail)?;
        }
    }
}
