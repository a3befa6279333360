//! S3 event notifications as SQS delivers them: which objects a message announces, and the
//! SQS handler that counts them with a partial batch response.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};

use super::count::ObjectCount;
use super::key::parse_key;
use super::{ObjectError, ObjectSkip};
use crate::ingest::headroom::CACHE_FULL;
use crate::ingest::{Ingestor, Outcome, Reply, Summary};
use crate::store::{CounterStore, DeadLetters};

/// `FailedPayloads.object_not_read`: an object that could not be read now (S3 or Redis
/// failing); its message comes again.
const OBJECT_NOT_READ: &str = "object_not_read";

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
) -> Outcome
where
    S: CounterStore,
    D: DeadLetters,
    O: crate::store::ObjectSource,
{
    let started = std::time::Instant::now();
    let mut total = Summary::default();
    let mut failures: Vec<String> = Vec::new();
    let skip = |total: &mut Summary, why: ObjectSkip| {
        *total.skipped.entry(why.name()).or_default() += 1;
    };
    for message in messages {
        let notices = match message.notices {
            Ok(notices) => notices,
            Err(why) => {
                tracing::warn!(message_id = %message.message_id, why = why.name(), "S3 notification skipped");
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
                    let why = match e {
                        ObjectError::Store(e) if e.is_full() => CACHE_FULL,
                        _ => OBJECT_NOT_READ,
                    };
                    *total.failed_payloads.entry(why).or_default() += 1;
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
