//! What a failure destination or the dead-letter store holds, back to the Lambda event it
//! kept, for `ctrack replay`. Pure: JSON in, the event (or why there is none) out.
//!
//! | what | shape | the event |
//! | --- | --- | --- |
//! | a saved event, a dead letter | `{"awslogs":…}` or `{"Records":[…]}` | itself |
//! | an asynchronous invocation's failure record (S3, SQS) | `{"requestContext":…, "requestPayload":{…}}` | `requestPayload` |
//! | a stream's failure record in S3 | `{"requestContext":…, "KinesisBatchInfo":…, "payload":…}` | `payload` (an object, or JSON in a string) |
//! | a stream's failure record in SQS or SNS | `{"KinesisBatchInfo":…}` without `payload` | none: metadata only, the records are in the stream |

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedriveError {
    #[error(
        "a Kinesis failure record without the records (an SQS or SNS destination keeps only \
         metadata): read shard {shard} from sequence number {first} to {last} of {stream} \
         while the stream retains them"
    )]
    MetadataOnly {
        stream: String,
        shard: String,
        first: String,
        last: String,
    },
    #[error("`{field}` of a failure record is not a flow-log event: {problem}")]
    BadPayload {
        field: &'static str,
        problem: String,
    },
    #[error(
        "neither a flow-log event nor a Lambda failure record (requestPayload, or payload with \
         KinesisBatchInfo)"
    )]
    Unknown,
}

/// Where a redriven event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrapping {
    /// A Lambda event as it is (a saved event, a dead letter).
    Event,
    /// An asynchronous invocation's failure record (`requestPayload`).
    AsyncFailure,
    /// A stream event source's failure record with its payload (`payload`).
    StreamFailure,
}

fn is_event(value: &Value) -> bool {
    value.get("awslogs").is_some() || value.get("Records").is_some()
}

/// The Lambda event inside what a failure destination holds.
pub fn unwrap_event(value: Value) -> Result<(Value, Wrapping), RedriveError> {
    if is_event(&value) {
        return Ok((value, Wrapping::Event));
    }
    let Value::Object(mut record) = value else {
        return Err(RedriveError::Unknown);
    };
    if let Some(payload) = record.remove("requestPayload") {
        return inner("requestPayload", payload).map(|v| (v, Wrapping::AsyncFailure));
    }
    if let Some(payload) = record.remove("payload") {
        return inner("payload", payload).map(|v| (v, Wrapping::StreamFailure));
    }
    if let Some(info) = record.get("KinesisBatchInfo") {
        let text = |name: &str| {
            info.get(name)
                .map(|v| match v {
                    Value::String(s) => s.chars().take(200).collect(),
                    other => other.to_string().chars().take(200).collect(),
                })
                .unwrap_or_else(|| "?".into())
        };
        return Err(RedriveError::MetadataOnly {
            stream: text("streamArn"),
            shard: text("shardId"),
            first: text("startSequenceNumber"),
            last: text("endSequenceNumber"),
        });
    }
    Err(RedriveError::Unknown)
}

/// The event of a failure record's field: an object, or the same as JSON text.
fn inner(field: &'static str, payload: Value) -> Result<Value, RedriveError> {
    let value = match payload {
        Value::String(text) => {
            serde_json::from_str(&text).map_err(|e| RedriveError::BadPayload {
                field,
                problem: e.to_string(),
            })?
        }
        other => other,
    };
    if is_event(&value) {
        Ok(value)
    } else {
        Err(RedriveError::BadPayload {
            field,
            problem: "neither awslogs nor Records".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failure_records_unwrap_to_their_event() {
        let logs = json!({"awslogs": {"data": "H4sI"}});
        let kinesis = json!({"Records": [{"kinesis": {"data": "H4sI", "sequenceNumber": "1"}}]});
        // Shapes from the Lambda developer guide: an asynchronous invocation's record, a
        // Kinesis event source's record with and without the payload.
        let async_record = json!({
            "version": "1.0",
            "timestamp": "2026-11-27T10:00:00.000Z",
            "requestContext": {
                "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
                "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:ingest:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3
            },
            "requestPayload": logs,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "cannot count batch: Redis request failed"}
        });
        let batch_info = json!({
            "shardId": "shardId-000000000001",
            "startSequenceNumber": "49601189658422359378836298521827638475320189012309704722",
            "endSequenceNumber": "49601189658422359378836298522902373528957594348623495186",
            "approximateArrivalOfFirstRecord": "2026-11-27T10:00:00.000Z",
            "approximateArrivalOfLastRecord": "2026-11-27T10:00:05.000Z",
            "batchSize": 1,
            "streamArn": "arn:aws:kinesis:eu-west-1:123456789012:stream/flow-logs"
        });
        let stream_record = |payload: Value| {
            json!({
                "requestContext": {"requestId": "c9b8fa9f", "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
                "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                "version": "1.0",
                "timestamp": "2026-11-28T10:00:00.000Z",
                "KinesisBatchInfo": batch_info,
                "payload": payload
            })
        };
        type Want = Result<(Value, Wrapping), &'static str>;
        let cases: Vec<(Value, Want)> = vec![
            (logs.clone(), Ok((logs.clone(), Wrapping::Event))),
            (kinesis.clone(), Ok((kinesis.clone(), Wrapping::Event))),
            (async_record, Ok((logs.clone(), Wrapping::AsyncFailure))),
            (
                stream_record(kinesis.clone()),
                Ok((kinesis.clone(), Wrapping::StreamFailure)),
            ),
            (
                stream_record(Value::String(kinesis.to_string())),
                Ok((kinesis.clone(), Wrapping::StreamFailure)),
            ),
            (stream_record(json!("{not json")), Err("bad_payload")),
            (stream_record(json!({"hello": 1})), Err("bad_payload")),
            (
                json!({"requestPayload": {"detail": {}}}),
                Err("bad_payload"),
            ),
            (
                json!({"requestContext": {}, "KinesisBatchInfo": batch_info}),
                Err("metadata_only"),
            ),
            (json!({"hello": "world"}), Err("unknown")),
            (json!([1, 2]), Err("unknown")),
        ];
        for (input, want) in cases {
            let got = unwrap_event(input.clone());
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
                (Err(e), Err(kind)) => {
                    let got_kind = match e {
                        RedriveError::MetadataOnly { .. } => "metadata_only",
                        RedriveError::BadPayload { .. } => "bad_payload",
                        RedriveError::Unknown => "unknown",
                    };
                    assert_eq!(got_kind, kind, "{input}: {e}");
                }
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn metadata_only_says_where_the_records_are() {
        let e = unwrap_event(json!({"KinesisBatchInfo": {
            "shardId": "shardId-000000000001", "startSequenceNumber": "1",
            "endSequenceNumber": "9", "streamArn": "arn:aws:kinesis:eu-west-1:1:stream/s"}}))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "a Kinesis failure record without the records (an SQS or SNS destination keeps only \
             metadata): read shard shardId-000000000001 from sequence number 1 to 9 of \
             arn:aws:kinesis:eu-west-1:1:stream/s while the stream retains them"
        );
    }
}
