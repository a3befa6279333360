//! The three event shapes ingest is invoked with and the one reply each gets: a CloudWatch
//! Logs subscription event (the figures; any failure is the event's, so Lambda retries it), a
//! Kinesis batch and an SQS batch of S3 notifications (partial batch responses naming the items
//! that come again). Also the dead letters each shape keeps of a payload that can never be read.

use aws_lambda_events::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use serde::Serialize;

use super::payload::{DecodeError, KinesisItem};
use super::{IngestError, Summary};
use crate::model::PayloadId;
use crate::store::DeadLetter;

/// The result of handling one event: the figures, and what the function answers Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub summary: Summary,
    pub response: Reply,
}

/// The function's answer: the summary for CloudWatch Logs events, the partial batch response
/// (`batchItemFailures`) for Kinesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Summary(Summary),
    Kinesis(KinesisEventResponse),
    /// The S3 notification queue's partial batch response.
    Sqs(aws_lambda_events::sqs::SqsBatchResponse),
}

impl Outcome {
    /// Kinesis records reported as failed.
    pub fn item_failures(&self) -> Vec<&str> {
        match &self.response {
            Reply::Summary(_) => Vec::new(),
            Reply::Kinesis(r) => r
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .collect(),
            Reply::Sqs(r) => r
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect(),
        }
    }
}

/// What [`Ingestor::handle_logs_events`] made of a batch of CloudWatch Logs events.
#[derive(Debug)]
pub struct LogsBatch {
    pub summary: Summary,
    /// Each event's end, in the order given.
    pub events: Vec<LogsEventEnd>,
}

/// How one CloudWatch Logs event of a batch ended.
#[derive(Debug)]
pub enum LogsEventEnd {
    /// Counted with the batch (or, undecodable, kept as a dead letter and acknowledged).
    Counted,
    /// Undecodable and not kept: the event's error.
    Failed(IngestError),
    /// Its newest record is older than the batch allowed; not counted.
    TooOld { newest_ms: u64 },
}

/// The partial batch response of a Kinesis batch: the records that come again.
pub(super) fn kinesis_reply(failures: Vec<String>) -> Reply {
    let mut response = KinesisEventResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|seq| {
            let mut f = KinesisBatchItemFailure::default();
            f.item_identifier = Some(seq);
            f
        })
        .collect();
    Reply::Kinesis(response)
}

/// A CloudWatch Logs payload as a dead letter: the event it came in.
pub(super) fn logs_letter(data: &str, error: &DecodeError) -> DeadLetter {
    DeadLetter {
        reason: error.kind(),
        id: PayloadId::of(data.as_bytes()).to_string(),
        error: error.to_string(),
        event: serde_json::to_vec(&serde_json::json!({ "awslogs": { "data": data } }))
            .unwrap_or_default(),
    }
}

/// A Kinesis record as a dead letter: a Kinesis event of that one record.
pub(super) fn kinesis_letter(record: &KinesisItem, error: &DecodeError) -> DeadLetter {
    let event = serde_json::json!({ "Records": [{
        "eventSource": "aws:kinesis",
        "kinesis": { "data": record.data, "sequenceNumber": record.sequence_number },
    }] });
    DeadLetter {
        reason: error.kind(),
        id: PayloadId::of(record.data.as_bytes()).to_string(),
        error: error.to_string(),
        event: serde_json::to_vec(&event).unwrap_or_default(),
    }
}

pub(super) fn log_summary(summary: &Summary) {
    tracing::info!(
        payloads = summary.payloads,
        records = summary.records,
        accepted = summary.accepted,
        counted = summary.counted,
        rejected = summary.rejected_total(),
        rejected_by_reason = ?summary.rejected,
        skipped_by_reason = ?summary.skipped,
        flagged_by_reason = ?summary.flagged,
        connections = summary.connections,
        duplicates = summary.duplicates,
        failed_payloads = ?summary.failed_payloads,
        dead_lettered = summary.dead_lettered,
        duration_ms = summary.duration_ms,
        "batch summary"
    );
}
