//! Lambda events built the way AWS builds them, and test records.

use std::io::Write;

use base64::Engine;
use flate2::{write::GzEncoder, Compression};

/// gzip + base64, as CloudWatch Logs encodes a subscription payload.
pub fn encode_payload(json: &[u8]) -> String {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(json).expect("gzip in memory");
    base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gzip in memory"))
}

/// A CloudWatch Logs subscription message (DATA_MESSAGE) with the given lines.
pub fn logs_message(
    owner: &str,
    log_group: &str,
    lines: &[&str],
    timestamp_ms: u64,
) -> serde_json::Value {
    let events: Vec<serde_json::Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            serde_json::json!({
                "id": format!("{:056}", timestamp_ms as u128 * 1000 + i as u128),
                "timestamp": timestamp_ms,
                "message": line,
            })
        })
        .collect();
    serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": log_group,
        "logStream": "eni-0123456789abcdef0-all",
        "subscriptionFilters": ["connection-tracker"],
        "logEvents": events,
    })
}

/// A CloudWatch Logs subscription event carrying a message.
pub fn logs_event(message: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({"awslogs": {"data": encode_payload(message.to_string().as_bytes())}})
}

/// A Kinesis event whose records carry the given base64 payloads.
pub fn kinesis_event(datas: &[String]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = datas
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let seq = format!("4959030315254838219491834617{:020}", i);
            serde_json::json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "0123456789abcdef",
                    "sequenceNumber": seq,
                    "data": data,
                    "approximateArrivalTimestamp": 1_764_237_600.123,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/connection-tracker-ingest",
                "awsRegion": "eu-west-1",
                "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/connection-tracker-flow-logs",
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// [`InterfaceFacts::new`] from text addresses: one test interface in one line.
pub fn interface(
    id: &str,
    account: &str,
    region: &str,
    description: &str,
    private: &str,
    public: &str,
) -> crate::model::InterfaceFacts {
    let ip = |s: &str| s.parse().expect("a test address");
    crate::model::InterfaceFacts::new(id, account, region, description, (ip(private), ip(public)))
}
