//! Flow logs delivered to S3, through the ingest function's path: S3 notifications in an SQS
//! batch, objects read from moto's S3 as they stream, counted into a real redis-server — the
//! same counters as the same records delivered by CloudWatch Logs and Kinesis, each once.

use connection_tracker::config::Env;
use connection_tracker::ingest::s3::{handle_sqs, sqs_notices};
use connection_tracker::ingest::{Ingestor, Reply};
use connection_tracker::model::InventoryFile;
use connection_tracker::store::s3::{S3Bucket, S3DeadLetters, S3Objects};
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

/// The time the batches are handled: shortly after the sample's objects were written (S3's
/// notifications say 12:10), so inside the dedup window whenever the test runs.
fn at() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-27 12:30 UTC)
}

/// The sample events' records as S3 objects (Python's gzip), in a temporary directory.
fn sample_objects() -> tempfile::TempDir {
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
    dir
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
    let dir = sample_objects();
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
    let outcome = handle_sqs(&ingest, &source, messages, at(), None).await;
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
    let outcome = handle_sqs(&ingest, &source, again, at(), None).await;
    assert_eq!(outcome.summary.skipped.get("already_counted"), Some(&2));
    assert_eq!(
        outcome.summary.payloads, 0,
        "a counted object is not read again"
    );
    assert_eq!(counters(&by_objects), counters(&by_events));
    // Not an SQS event: left to the CloudWatch Logs / Kinesis path.
    assert!(sqs_notices(&json!({"awslogs": {"data": "x"}})).is_none());
}

/// The owner rule of CloudWatch Logs holds for objects: the key's `AWSLogs/<account>/` speaks
/// only for that account's interfaces. Anyone who can write under `AWSLogs/` of the bucket —
/// another member, or an account nobody monitors — counts nothing for anyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_speaks_only_for_the_account_its_key_names() {
    let dir = sample_objects();
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
    let outcome = handle_sqs(&ingest, &source, messages, at(), None).await;
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

const ALB: &str = "eni-0a1b2c3d4e5f60001";
const NOON: i64 = 1_795_780_800; // 2026-11-27T12:00:00Z

/// A `.log.gz` object of `lines` v2 records to the shop's load balancer (the sample
/// inventory's), sources spread over a few thousand public addresses, plus `tail` bytes of
/// newlines after them (a bomb's padding: nothing to count, much to decompress).
fn object(lines: usize, tail: usize) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    writeln!(gz, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status").unwrap();
    for i in 0..lines {
        let (a, b) = ((i / 250) % 200, i % 250);
        writeln!(
            gz,
            "2 111111111111 {ALB} 81.2.{a}.{b} 10.0.1.10 {} 443 6 3 180 {} {} ACCEPT OK",
            40_000 + i % 20_000,
            NOON + (i % 3000) as i64,
            NOON + 60 + (i % 3000) as i64
        )
        .unwrap();
    }
    let padding = vec![b'\n'; 1 << 16];
    for _ in 0..tail / padding.len() {
        gz.write_all(&padding).unwrap();
    }
    gz.finish().unwrap()
}

const KEY_DIR: &str = "AWSLogs/111111111111/vpcflowlogs/eu-west-1/2026/11/27";

/// moto's S3 with a flow-log bucket holding `objects` (name → bytes) under [`KEY_DIR`] and an
/// empty failure bucket; answers the keys.
fn bucket(moto: &MotoServer, objects: &[(&str, Vec<u8>)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in objects {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let out = moto.s3(&format!(
        "import pathlib\n\
         for b in ('flow-logs', 'ct-failures'):\n\
         \x20   s3.create_bucket(Bucket=b, CreateBucketConfiguration={{'LocationConstraint': 'eu-west-1'}})\n\
         for f in sorted(pathlib.Path({root:?}).iterdir()):\n\
         \x20   key = {dir:?} + '/' + f.name\n\
         \x20   s3.upload_file(str(f), 'flow-logs', key)\n\
         \x20   print(key)",
        root = dir.path().display().to_string(),
        dir = KEY_DIR
    ));
    out.lines().map(String::from).collect()
}

/// An ingestor whose dead letters go to moto's `ct-failures` bucket, with `vars` set too.
async fn keeping_ingestor(
    server: &RedisServer,
    moto: &MotoServer,
    vars: &'static [(&'static str, &'static str)],
) -> Ingestor<RedisStore, S3DeadLetters> {
    let url = server.url();
    let env = move |name: &str| match name {
        "REDIS_URL" => Some(url.clone()),
        "RETENTION_DAYS" => Some("3650".to_string()),
        _ => vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string()),
    };
    let config = Env(env).ingest().unwrap();
    let store = RedisStore::connect(&config.redis).await.unwrap();
    let inventory: InventoryFile =
        serde_json::from_slice(&std::fs::read(repo().join("events/inventory.json")).unwrap())
            .unwrap();
    store.put_inventory(&inventory).await.unwrap();
    let letters = S3DeadLetters {
        bucket: S3Bucket::new(&moto.sdk_config().await, "ct-failures"),
        prefix: "dead-letter/".into(),
    };
    Ingestor::with_dead_letters(store, letters, config)
}

fn failed(outcome: &connection_tracker::ingest::Outcome) -> Vec<String> {
    let Reply::Sqs(response) = &outcome.response else {
        panic!("an SQS partial batch response")
    };
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// An object that needs three invocations (each stops at its deadline after one chunk) is
/// counted exactly once: each delivery resumes after the chunks counted before, none is read
/// into the counters twice, and the counters equal those of one uninterrupted read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_cut_by_the_deadline_resumes_and_counts_exactly_once() {
    let moto = MotoServer::start();
    let keys = bucket(
        &moto,
        &[
            ("big.log.gz", object(25_000, 0)),
            ("small.log.gz", object(10, 0)),
        ],
    );
    let source = S3Objects::new(&moto.sdk_config().await);
    let batch = || {
        sqs_notices(&json!({"Records": [message("big", "flow-logs", &keys[0]), message("small", "flow-logs", &keys[1])]}))
            .unwrap()
    };

    let whole = RedisServer::start();
    let once = ingestor(&whole).await;
    let outcome = handle_sqs(&once, &source, batch(), at(), None).await;
    assert!(failed(&outcome).is_empty());
    assert_eq!(outcome.summary.payloads, 4, "3 chunks and 1");

    let cut = RedisServer::start();
    let ingest = ingestor(&cut).await;
    // A deadline that has always passed: each invocation counts one chunk, then stops.
    let mut rounds = Vec::new();
    let mut total = connection_tracker::ingest::Summary::default();
    loop {
        let outcome = handle_sqs(
            &ingest,
            &source,
            batch(),
            at(),
            Some(std::time::Instant::now()),
        )
        .await;
        total.merge(&outcome.summary);
        let again = failed(&outcome);
        rounds.push((outcome.summary.payloads, again.clone()));
        if again.is_empty() || rounds.len() > 6 {
            break;
        }
    }
    assert_eq!(
        rounds,
        [
            (1, vec!["big".to_string(), "small".into()]),
            (1, vec!["big".to_string(), "small".into()]),
            (1, vec!["small".to_string()]),
            (1, vec![]),
        ],
        "one chunk per invocation, in order, then the small object after the big one"
    );
    assert_eq!(total.duplicates, 0, "no chunk was sent twice");
    assert_eq!(total.failed_payloads.get("deadline"), Some(&5));
    assert_eq!(total.skipped.get("already_counted"), Some(&1));
    assert_eq!(counters(&cut), counters(&whole));
}

/// A text object that decompresses past MAX_OBJECT_DECOMPRESSED_BYTES (records, then 64 MiB of
/// padding from a few hundred KiB) is counted up to the cap, kept in the failure bucket by
/// reason, acknowledged, and not read again; a notification older than the dedup window is
/// refused and kept the same way, as an SQS event the function reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_and_an_old_notification_are_kept_by_reason_not_counted() {
    let moto = MotoServer::start();
    let bomb = object(2_000, 64 << 20);
    assert!(bomb.len() < 1 << 20, "{} bytes compressed", bomb.len());
    let keys = bucket(
        &moto,
        &[("bomb.log.gz", bomb), ("old.log.gz", object(10, 0))],
    );
    let source = S3Objects::new(&moto.sdk_config().await);
    let redis = RedisServer::start();
    let ingest = keeping_ingestor(
        &redis,
        &moto,
        &[("MAX_OBJECT_DECOMPRESSED_BYTES", "1048576")],
    )
    .await;
    let mut old = message("old", "flow-logs", &keys[1]);
    // S3 wrote it five days before the batch is handled: a redrive from the DLQ.
    let body = old["body"]
        .as_str()
        .unwrap()
        .replace("2026-11-27T12:10:00.000Z", "2026-11-22T12:10:00.000Z");
    old["body"] = body.into();
    let batch = json!({"Records": [message("bomb", "flow-logs", &keys[0]), old]});
    let outcome = handle_sqs(&ingest, &source, sqs_notices(&batch).unwrap(), at(), None).await;
    assert!(
        failed(&outcome).is_empty(),
        "both acknowledged: {:?}",
        failed(&outcome)
    );
    let summary = &outcome.summary;
    assert_eq!(
        summary.failed_payloads.get("object_too_large"),
        Some(&1),
        "{summary:?}"
    );
    assert_eq!(
        summary.failed_payloads.get("older_than_dedup_window"),
        Some(&1)
    );
    assert_eq!(summary.dead_lettered, 2);
    // The records before the cap (2,000 lines are ~150 KiB) are all counted.
    assert_eq!(summary.counted, 2_000, "{summary:?}");
    let letters = moto.s3(
        "for o in s3.list_objects_v2(Bucket='ct-failures')['Contents']:\n\
         \x20   print(o['Key'], s3.get_object(Bucket='ct-failures', Key=o['Key'])['Body'].read().decode())",
    );
    let kept: Vec<&str> = letters.lines().collect();
    assert_eq!(kept.len(), 2, "{letters}");
    for (reason, key) in [
        ("object_too_large", &keys[0]),
        ("older_than_dedup_window", &keys[1]),
    ] {
        let line = kept
            .iter()
            .find(|l| l.contains(&format!("/{reason}/")))
            .unwrap();
        let event: serde_json::Value =
            serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
        let notices = sqs_notices(&event).expect("an SQS event the function reads");
        let objects = notices[0].notices.as_ref().unwrap();
        assert_eq!(
            (objects[0].bucket.as_str(), objects[0].key.as_str()),
            ("flow-logs", key.as_str())
        );
    }
    // The bomb's message again (SQS delivers at least once): not read again.
    let again = json!({"Records": [message("bomb", "flow-logs", &keys[0])]});
    let outcome = handle_sqs(&ingest, &source, sqs_notices(&again).unwrap(), at(), None).await;
    assert_eq!(outcome.summary.skipped.get("already_counted"), Some(&1));
    assert_eq!(outcome.summary.counted, 0);
}

/// Crafted Parquet footers the `object_readers` fuzz target found (kept as its seeds, after
/// its selector byte): a Thrift bool field of another wire type (parquet 57 panicked) and a
/// negative column offset (the reader's `byte_range` asserts): each refused by reason, and a
/// real file beside them still counts.
#[tokio::test]
async fn crafted_parquet_footers_are_refused_by_reason() {
    use connection_tracker::ingest::s3::{parse_key, ObjectCount, ObjectError};
    let redis = RedisServer::start();
    let ingest = ingestor(&redis).await;
    let key = parse_key(&format!(
        "{KEY_DIR}/111111111111_vpcflowlogs_eu-west-1_fl-1_20261127T1200Z_1.log.parquet"
    ))
    .unwrap();
    let seeds = repo().join("fuzz/seeds/object_readers");
    for (file, want) in [
        ("parquet-thrift-bool-not-bool", Some("bad_parquet")),
        ("parquet-negative-column-offset", Some("bad_parquet")),
        ("parquet", None),
    ] {
        let bytes = std::fs::read(seeds.join(file)).unwrap();
        let count = ObjectCount {
            ingestor: &ingest,
            key: &key,
            identity: file,
            now: at(),
            deadline: None,
            mark: None,
        };
        let mut spool = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut spool, &bytes[1..]).unwrap();
        let got = count.parquet(spool).await;
        match (got, want) {
            (Err(ObjectError::Skipped(why)), Some(want)) => assert_eq!(why.name(), want, "{file}"),
            (Ok(counted), None) => {
                assert!(counted.summary.counted > 0, "{file}: {:?}", counted.summary)
            }
            (got, want) => panic!("{file}: {got:?}, want {want:?}"),
        }
    }
}
