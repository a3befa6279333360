//! S3 event notifications as SQS delivers them: which objects a message announces, and the
//! SQS handler that counts them with a partial batch response.

use std::time::Instant;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};

use super::count::{ObjectCount, ObjectEnd};
use super::key::{parse_key, ObjectKey};
use super::{ObjectError, ObjectSkip};
use crate::ingest::headroom::CACHE_FULL;
use crate::ingest::{Ingestor, Outcome, Reply, Summary};
use crate::model::PayloadId;
use crate::rules::reason::reasons;
use crate::store::{CounterStore, DeadLetter, DeadLetters, ObjectProgress};

reasons! {
    /// Why a message of the batch comes again or is kept (`FailedPayloads.<name>`).
    pub enum Unread {
        /// An object that could not be read now (S3 or Redis failing); its message comes again.
        ObjectNotRead => "object_not_read",
        /// The invocation's deadline came first; the message comes again and resumes after the
        /// object's last counted chunk.
        Deadline => "deadline",
        /// A text object past `MAX_OBJECT_DECOMPRESSED_BYTES`: counted up to the cap, kept in
        /// the failure bucket by this reason.
        ObjectTooLarge => "object_too_large",
        /// A notification older than the dedup window (a redrive from the DLQ): its chunks'
        /// ids have expired, so it could count twice; kept in the failure bucket by this reason
        /// (`ctrack replay --force` of the object counts it anyway).
        OlderThanDedupWindow => "older_than_dedup_window",
    }
}

/// One object an S3 notification names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub bucket: String,
    /// Decoded (notifications carry keys URL-encoded, `+` for a space).
    pub key: String,
    /// When S3 created the object (`eventTime`), in Unix seconds, if the notification says.
    pub created: Option<i64>,
}

/// One SQS message of an S3-notification queue: its id (what a partial batch failure names)
/// and the objects it announces, or why it announces none that can be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedNotices {
    pub message_id: String,
    pub notices: Result<Vec<Notice>, ObjectSkip>,
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
                    .ok_or(ObjectSkip::BadNotification)
                    .and_then(s3_notices),
            })
            .collect(),
    )
}

/// The objects of one S3 event notification (the body of an SQS message).
fn s3_notices(body: &str) -> Result<Vec<Notice>, ObjectSkip> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|_| ObjectSkip::BadNotification)?;
    if value["Event"] == "s3:TestEvent" {
        return Ok(Vec::new());
    }
    let records = value["Records"]
        .as_array()
        .ok_or(ObjectSkip::BadNotification)?;
    let mut notices = Vec::new();
    for record in records {
        if record["eventSource"] != "aws:s3" {
            return Err(ObjectSkip::BadNotification);
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
            return Err(ObjectSkip::BadNotification);
        };
        let plus_decoded = key.replace('+', " ");
        let key = percent_encoding::percent_decode_str(&plus_decoded)
            .decode_utf8()
            .map_err(|_| ObjectSkip::BadNotification)?;
        let created = record["eventTime"].as_str().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        });
        notices.push(Notice {
            bucket: bucket.to_string(),
            key: key.into_owned(),
            created: created.map(|t| t.unix_timestamp()),
        });
    }
    Ok(notices)
}

/// Counts the objects an SQS batch of S3 notifications announces, until `deadline`. A message
/// whose object cannot be read now (S3 or Redis failing), or was not finished before the
/// deadline, is reported back, so SQS delivers it again: its counted chunks are skipped then.
/// A message that can never be counted (not a flow-log object, a bad notification) is
/// acknowledged and counted by reason; one older than the dedup window, or an object past the
/// decompressed cap, is kept in the failure bucket by reason and acknowledged.
pub async fn handle_sqs<S, D, O>(
    ingestor: &Ingestor<S, D>,
    source: &O,
    messages: Vec<QueuedNotices>,
    now: time::OffsetDateTime,
    deadline: Option<Instant>,
) -> Outcome
where
    S: CounterStore + ObjectProgress,
    D: DeadLetters,
    O: crate::store::ObjectSource,
{
    let started = Instant::now();
    let mut total = Summary::default();
    let mut failures: Vec<String> = Vec::new();
    let objects = Objects {
        ingestor,
        source,
        now,
        deadline,
    };
    for message in messages {
        // Every invocation counts something before it gives up on time (the object count stops
        // after a chunk at the earliest): a timeout shorter than the margin still progresses.
        let late = deadline.is_some_and(|d| Instant::now() >= d);
        if late && total.payloads > 0 {
            total.fail(Unread::Deadline.name());
            failures.push(message.message_id);
            continue;
        }
        let notices = match message.notices {
            Ok(notices) => notices,
            Err(why) => {
                tracing::warn!(message_id = %message.message_id, why = why.name(), "S3 notification skipped");
                total.skip(why.name());
                continue;
            }
        };
        for notice in notices {
            match objects.one(&notice, &mut total).await {
                Ok(()) => {}
                Err(why) => {
                    tracing::warn!(message_id = %message.message_id, bucket = %notice.bucket, key = %notice.key, why, "S3 object not finished; it comes again");
                    total.fail(why);
                    failures.push(message.message_id.clone());
                    break;
                }
            }
        }
    }
    total.duration_ms = started.elapsed().as_millis() as u64;
    let mut response = SqsBatchResponse::default();
    failures.dedup();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Outcome {
        summary: total,
        response: Reply::Sqs(response),
    }
}

/// What every object of a batch is counted with.
struct Objects<'a, S, D, O> {
    ingestor: &'a Ingestor<S, D>,
    source: &'a O,
    now: time::OffsetDateTime,
    deadline: Option<Instant>,
}

impl<S, D, O> Objects<'_, S, D, O>
where
    S: CounterStore + ObjectProgress,
    D: DeadLetters,
    O: crate::store::ObjectSource,
{
    /// One notified object into `total`; `Err(reason)` when its message must come again.
    async fn one(&self, notice: &Notice, total: &mut Summary) -> Result<(), &'static str> {
        let key = match parse_key(&notice.key) {
            Ok(key) => key,
            Err(why) => {
                total.skip(why.name());
                return Ok(());
            }
        };
        if self.too_old(notice, &key) {
            return self.keep(notice, Unread::OlderThanDedupWindow, total).await;
        }
        // The identity: the key from AWSLogs/ on (AWS never rewrites a delivered object; its
        // name holds the flow log's id, the time and a hash), the same for `ctrack replay` of a
        // copy, so no copy counts twice. A redelivery of a counted object is one lookup.
        let identity = key.from_awslogs.as_str();
        let store = self.ingestor.store();
        let mark = match store.object_mark(identity).await {
            Ok(mark) if mark.complete => {
                total.skip(ObjectSkip::AlreadyCounted.name());
                return Ok(());
            }
            Ok(mark) => mark,
            Err(e) => return Err(unread(&ObjectError::Store(e))),
        };
        let count = ObjectCount {
            ingestor: self.ingestor,
            key: &key,
            identity,
            now: self.now,
            deadline: self.deadline,
            mark: Some(mark),
        };
        let outcome = match self.source.open(&notice.bucket, &notice.key).await {
            Ok(reader) => count.object(reader).await,
            Err(e) => Err(ObjectError::Read(e)),
        };
        match outcome {
            Ok(counted) => {
                total.merge(&counted.summary);
                match counted.end {
                    ObjectEnd::Complete => Ok(()),
                    ObjectEnd::Unfinished { .. } => Err(Unread::Deadline.name()),
                    ObjectEnd::TooLarge { .. } => {
                        self.keep(notice, Unread::ObjectTooLarge, total).await
                    }
                }
            }
            Err(ObjectError::Skipped(why)) => {
                total.skip(why.name());
                Ok(())
            }
            Err(e) => {
                tracing::error!(bucket = %notice.bucket, key = %notice.key, error = %e, "S3 object not counted");
                Err(unread(&e))
            }
        }
    }

    /// Whether the notification is older than the dedup window: S3 created the object before
    /// it, or the object's records are of a day that ended before it.
    fn too_old(&self, notice: &Notice, key: &ObjectKey) -> bool {
        let oldest = self.now.unix_timestamp() - self.ingestor.config.dedup_window.as_secs() as i64;
        notice.created.is_some_and(|t| t < oldest) || key.ends_before(oldest)
    }

    /// Keeps the notification in the failure bucket by `why` (the SQS message as the function
    /// got it, one object) and acknowledges it; without a store the message comes again.
    async fn keep(
        &self,
        notice: &Notice,
        why: Unread,
        total: &mut Summary,
    ) -> Result<(), &'static str> {
        let letter = letter(notice, why);
        match self.ingestor.dead_letters.keep(&letter).await {
            Ok(at) => {
                tracing::error!(bucket = %notice.bucket, key = %notice.key, why = why.name(), kept_at = %at, "S3 object kept, not counted further; ctrack replay --force s3://BUCKET/KEY counts it");
                total.fail(why.name());
                total.dead_lettered += 1;
                Ok(())
            }
            Err(e) => {
                tracing::error!(bucket = %notice.bucket, key = %notice.key, why = why.name(), error = %e, "S3 object could not be kept; it comes again");
                Err(why.name())
            }
        }
    }
}

/// Why an object's message comes again: the cache full, or anything else that failed now.
fn unread(e: &ObjectError) -> &'static str {
    match e {
        ObjectError::Store(e) if e.is_full() => CACHE_FULL,
        _ => Unread::ObjectNotRead.name(),
    }
}

/// The dead letter of one notified object: an SQS event of one message announcing it, as S3
/// would have written it, named by the object (the same object kept twice is one letter).
fn letter(notice: &Notice, why: Unread) -> DeadLetter {
    let encoded: String = notice
        .key
        .split('/')
        .map(|part| percent_encoding::utf8_percent_encode(part, KEY_PART).to_string())
        .collect::<Vec<_>>()
        .join("/");
    let created = notice
        .created
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    let body = serde_json::json!({"Records": [{
        "eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "eventTime": created,
        "s3": {"bucket": {"name": notice.bucket}, "object": {"key": encoded}}}]});
    let id = PayloadId::of(format!("s3://{}/{}", notice.bucket, notice.key).as_bytes());
    let event = serde_json::json!({"Records": [{
        "eventSource": "aws:sqs", "messageId": id.as_str(), "body": body.to_string()}]});
    DeadLetter {
        reason: why.name(),
        id: id.to_string(),
        error: format!(
            "s3://{}/{}: {}; ctrack replay --force s3://{}/{} counts it",
            notice.bucket,
            notice.key,
            why.name(),
            notice.bucket,
            notice.key
        ),
        event: serde_json::to_vec(&event).unwrap_or_default(),
    }
}

/// What S3 leaves unencoded in a key part of a notification.
const KEY_PART: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');
