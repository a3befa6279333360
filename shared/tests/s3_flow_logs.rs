//! Flow logs delivered to S3, through the ingest function's path: S3 notifications in an SQS
//! batch, objects read from moto's S3 as they stream, counted into a real redis-server — the
//! same counters as the same records delivered by CloudWatch Logs and Kinesis, each once.

use connection_tracker::config::Env;
use connection_tracker::ingest::s3::{handle_sqs, sqs_notices};
use connection_tracker::ingest::{Ingestor, Reply};
use connection_tracker::model::InventoryFile;
use connection_tracker::store::s3::S3Objects;
use connection_tracker::store::RedisStore;
use connection_tracker::testing::{MotoServer, RedisServer};
use serde_json::json;

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn ingestor(server: &RedisServer) -> Ingestor<RedisStore> {
    let url = server.url();
    let vars = move |name: &str| match name {
        "REDIS_URL" => Some(url.clone()),
        // The sample records are dated 2026-11-27: inside the retention whenever this runs.
        "RETENTION_DAYS" => Some("3650".to_string()),
        _ => None,
    };
    let config = Env(vars).ingest().unwrap();
    let store = RedisStore::connect(&config.redis).await.unwrap();
    let inventory: InventoryFile =
        serde_json::from_slice(&std::fs::read(repo().join("events/inventory.json")).unwrap())
            .unwrap();
    store.put_inventory(&inventory).await.unwrap();
    Ingestor::new(store, config)
}

fn counters(server: &RedisServer) -> String {
    server.day_counters("2026-11-27")
}

/// An SQS message carrying one S3 notification, as S3 writes it (key URL-encoded).
fn message(id: &str, bucket: &str, key: &str) -> serde_json::Value {
    let encoded: String = key
        .split('/')
        .map(|part| {
            percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2D", "-")
                .replace("%2E", ".")
                .replace("%5F", "_")
        })
        .collect::<Vec<_>>()
        .join("/");
    let body = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": "2026-11-27T12:10:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "flow-logs",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": encoded, "size": 1024, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": "0A1B2C3D4E5F678901"}}}]});
    json!({"messageId": id, "receiptHandle": "AQEB…", "body": body.to_string(),
           "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
           "md5OfBody": "", "eventSource": "aws:sqs",
           "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:flow-log-objects", "awsRegion": "eu-west-1"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_announced_through_sqs_count_as_the_events_did_once() {
    // The sample events' records as S3 objects (Python's gzip), uploaded under a prefix.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("python3")
        .arg(repo().join("scripts/events_to_s3_objects.py"))
        .arg(dir.path())
        .arg(repo().join("events/ingest-cloudwatch-logs.json"))
        .arg(repo().join("events/ingest-kinesis.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moto = MotoServer::start();
    let uploaded = moto.s3(&format!(
        "import pathlib\n\
         s3.create_bucket(Bucket='flow-logs', CreateBucketConfiguration={{'LocationConstraint': 'eu-west-1'}})\n\
         root = pathlib.Path({root:?})\n\
         for f in sorted(root.rglob('*.log.gz')):\n\
         \x20   key = 'central/' + str(f.relative_to(root))\n\
         \x20   s3.upload_file(str(f), 'flow-logs', key)\n\
         \x20   print(key)\n\
         s3.put_object(Bucket='flow-logs', Key='central/README.txt', Body=b'not flow logs')",
        root = dir.path().display().to_string()
    ));
    let keys: Vec<&str> = uploaded.lines().collect();
    assert_eq!(keys.len(), 2, "{uploaded}");

    // The same records as events, into another Redis.
    let by_events = RedisServer::start();
    let events = ingestor(&by_events).await;
    for file in ["ingest-cloudwatch-logs.json", "ingest-kinesis.json"] {
        let event: serde_json::Value =
            serde_json::from_slice(&std::fs::read(repo().join("events").join(file)).unwrap())
                .unwrap();
        events.handle_value(event).await.unwrap();
    }

    let by_objects = RedisServer::start();
    let ingest = ingestor(&by_objects).await;
    let source = S3Objects::new(&moto.sdk_config().await);
    let missing = keys[0].replace(".log.gz", "-gone.log.gz");
    let batch = json!({"Records": [
        message("m1", "flow-logs", keys[0]),
        message("m2", "flow-logs", keys[1]),
        {"messageId": "m3", "eventSource": "aws:sqs", "body": json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "flow-logs"}).to_string()},
        message("m4", "flow-logs", "central/README.txt"),
        message("m5", "flow-logs", &missing),
        {"messageId": "m6", "eventSource": "aws:sqs", "body": "{not json"},
    ]});
    let messages = sqs_notices(&batch).expect("an SQS event");
    let outcome = handle_sqs(&ingest, &source, messages, time::OffsetDateTime::now_utc()).await;
    let Reply::Sqs(response) = &outcome.response else {
        panic!("an SQS partial batch response")
    };
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        ["m5"],
        "only the object that could not be read comes again"
    );
    assert_eq!(outcome.summary.skipped.get("not_a_flow_log_file"), Some(&1));
    assert_eq!(outcome.summary.skipped.get("bad_notification"), Some(&1));
    assert_eq!(counters(&by_objects), counters(&by_events));

    // Delivered again (SQS is at-least-once): nothing counts twice.
    let again = sqs_notices(&json!({"Records": [message("m1", "flow-logs", keys[0]), message("m2", "flow-logs", keys[1])]})).unwrap();
    let outcome = handle_sqs(&ingest, &source, again, time::OffsetDateTime::now_utc()).await;
    assert_eq!(outcome.summary.duplicates, outcome.summary.payloads);
    assert_eq!(counters(&by_objects), counters(&by_events));
    // Not an SQS event: left to the CloudWatch Logs / Kinesis path.
    assert!(sqs_notices(&json!({"awslogs": {"data": "x"}})).is_none());
}

/// The owner rule of CloudWatch Logs holds for objects: the key's `AWSLogs/<account>/` speaks
/// only for that account's interfaces. Anyone who can write under `AWSLogs/` of the bucket —
/// another member, or an account nobody monitors — counts nothing for anyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_speaks_only_for_the_account_its_key_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("python3")
        .arg(repo().join("scripts/events_to_s3_objects.py"))
        .arg(dir.path())
        .arg(repo().join("events/ingest-cloudwatch-logs.json"))
        .arg(repo().join("events/ingest-kinesis.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let moto = MotoServer::start();
    // Each account's records, uploaded under the other member's folder and under a folder of
    // an account that is not monitored at all.
    let uploaded = moto.s3(&format!(
        "import pathlib\n\
         s3.create_bucket(Bucket='flow-logs', CreateBucketConfiguration={{'LocationConstraint': 'eu-west-1'}})\n\
         root = pathlib.Path({root:?})\n\
         swap = {{'111111111111': '222222222222', '222222222222': '111111111111'}}\n\
         for f in sorted(root.rglob('*.log.gz')):\n\
         \x20   key = str(f.relative_to(root))\n\
         \x20   own = key.split('/')[1]\n\
         \x20   for other in (swap[own], '333333333333'):\n\
         \x20       forged = 'central/' + key.replace(own, other)\n\
         \x20       s3.upload_file(str(f), 'flow-logs', forged)\n\
         \x20       print(forged)",
        root = dir.path().display().to_string()
    ));
    let keys: Vec<&str> = uploaded.lines().collect();
    assert_eq!(keys.len(), 4, "{uploaded}");

    let redis = RedisServer::start();
    let ingest = ingestor(&redis).await;
    let source = S3Objects::new(&moto.sdk_config().await);
    let batch = json!({"Records": keys.iter().enumerate()
        .map(|(i, key)| message(&format!("m{i}"), "flow-logs", key)).collect::<Vec<_>>()});
    let messages = sqs_notices(&batch).unwrap();
    let outcome = handle_sqs(&ingest, &source, messages, time::OffsetDateTime::now_utc()).await;
    let Reply::Sqs(response) = &outcome.response else {
        panic!("an SQS partial batch response")
    };
    assert!(response.batch_item_failures.is_empty());
    let summary = &outcome.summary;
    assert_eq!(summary.counted, 0, "{summary:?}");
    // Every accepted line of a known interface is refused by the owner rule, before any
    // other rule looks at it (private sources included).
    let skipped = |why: &str| summary.skipped.get(why).copied().unwrap_or(0);
    let foreign = skipped("foreign_interface");
    assert!(foreign > 0, "{summary:?}");
    assert_eq!(
        summary.accepted,
        foreign + skipped("missing_fields") + skipped("unknown_interface"),
        "{summary:?}"
    );
    let keys = redis.cli(&["--scan", "--pattern", "ct:{2026-11-27:*}:conn"]);
    assert_eq!(keys.trim(), "", "nothing was counted for anyone");
}
