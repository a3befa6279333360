//! Dead letters against moto's S3 and a real redis-server: a payload that can never be counted
//! is kept whole in the bucket, counted and acknowledged (never retried); a store that cannot
//! keep it fails the payload as before, so it is retried and nothing is dropped.

use std::collections::BTreeMap;
use std::time::Duration;

use connection_tracker::config::{IngestConfig, RedisConfig};
use connection_tracker::ingest::payload::FlowEvent;
use connection_tracker::ingest::{IngestError, Ingestor};
use connection_tracker::model::InventoryFile;
use connection_tracker::rules::classify::Networks;
use connection_tracker::store::s3::{S3Bucket, S3DeadLetters};
use connection_tracker::store::RedisStore;
use connection_tracker::testing::{
    encode_payload, interface, kinesis_event, logs_message, MotoServer, RedisServer,
};
use serde_json::{json, Value};

const A: &str = "111111111111";
/// 2026-11-27T12:00:00Z
const NOON: u64 = 1_795_737_600 + 12 * 3600;
const DAY: &str = "2026-11-27";

fn config(url: String) -> IngestConfig {
    IngestConfig {
        redis: RedisConfig {
            url,
            cluster: None,
            timeout: Duration::from_secs(2),
        },
        retention_days: 3650,
        dedup_window: Duration::from_secs(72 * 3600),
        shared_vpc_owners: vec![],
        limits: Default::default(),
        cache: Default::default(),
        parking: Default::default(),
        dead_letter: None,
        max_batch_decompressed_bytes: 4 * 1024 * 1024,
        flow_log_format: None,
        networks: Networks::default(),
        max_decompressed_bytes: 1024 * 1024,
        max_object_decompressed_bytes: 1 << 30,
        inventory_ttl: Duration::from_secs(0),
        default_region: "eu-west-1".into(),
    }
}

async fn setup(
    redis: &RedisServer,
    moto: &MotoServer,
    bucket: &str,
) -> Ingestor<RedisStore, S3DeadLetters> {
    let cfg = config(redis.url());
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    let web = interface("eni-web", A, "eu-west-1", "web", "10.0.0.5", "54.1.1.5");
    store
        .put_inventory(&InventoryFile {
            interfaces: vec![web],
            ..Default::default()
        })
        .await
        .unwrap();
    let dead_letters = S3DeadLetters {
        bucket: S3Bucket::new(&moto.sdk_config().await, bucket),
        prefix: "dead-letter/".into(),
    };
    Ingestor::with_dead_letters(store, dead_letters, cfg)
}

fn good_payload(source: &str) -> String {
    let line = format!(
        "2 {A} eni-web {source} 10.0.0.5 49152 443 6 10 840 {NOON} {} ACCEPT OK",
        NOON + 60
    );
    encode_payload(
        logs_message(A, "/vpc/flow-logs", &[line.as_str()], NOON * 1000)
            .to_string()
            .as_bytes(),
    )
}

/// Every object of the bucket: key → (body as JSON, its `reason` metadata), read with boto3.
fn objects(moto: &MotoServer, bucket: &str) -> BTreeMap<String, (Value, String)> {
    let out = moto.s3(&format!(
        "out = {{}}\n\
         for o in s3.list_objects_v2(Bucket='{bucket}').get('Contents', []):\n\
         \x20   r = s3.get_object(Bucket='{bucket}', Key=o['Key'])\n\
         \x20   out[o['Key']] = [json.loads(r['Body'].read()), r['Metadata'].get('reason', '')]\n\
         print(json.dumps(out))"
    ));
    serde_json::from_str::<BTreeMap<String, (Value, String)>>(&out).unwrap()
}

#[tokio::test]
async fn undecodable_payloads_are_kept_whole_and_acknowledged() {
    let redis = RedisServer::start();
    let moto = MotoServer::start();
    moto.s3("s3.create_bucket(Bucket='ct-failures', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})");
    let ingestor = setup(&redis, &moto, "ct-failures").await;

    // CloudWatch Logs: a payload that is not gzip. Acknowledged, kept as the event it came in.
    let not_gzip = json!({"awslogs": {"data": "bm90IGd6aXA="}});
    let outcome = ingestor.handle_value(not_gzip.clone()).await.unwrap();
    assert_eq!(outcome.summary.dead_lettered, 1);
    assert_eq!(
        outcome.summary.failed_payloads,
        BTreeMap::from([("gzip", 1)])
    );
    // An event of no known shape: kept too.
    let stray = json!({"detail-type": "Scheduled Event", "detail": {}});
    let outcome = ingestor.handle_value(stray.clone()).await.unwrap();
    assert_eq!(
        outcome.summary.failed_payloads,
        BTreeMap::from([("unknown_event", 1)])
    );

    // Kinesis: two bad records beside a good one; none is reported back, the good one counts.
    let datas = vec![
        good_payload("8.8.8.8"),
        "!!! not base64".to_string(),
        encode_payload(b"{\"hello\": 1}"),
    ];
    let kinesis = kinesis_event(&datas);
    let outcome = ingestor.handle_value(kinesis.clone()).await.unwrap();
    assert!(outcome.item_failures().is_empty(), "{outcome:?}");
    assert_eq!(outcome.summary.counted, 1);
    assert_eq!(outcome.summary.dead_lettered, 2);
    assert_eq!(
        outcome.summary.failed_payloads,
        BTreeMap::from([("base64", 1), ("message_json", 1)])
    );
    let emf = outcome.summary.to_emf(0);
    assert_eq!(emf["DeadLettered"], 2);
    assert_eq!(emf["FailedPayloads.base64"], 1);

    let kept = objects(&moto, "ct-failures");
    let by_reason: BTreeMap<&str, &Value> = kept
        .iter()
        .map(|(key, (body, reason))| {
            assert!(key.starts_with("dead-letter/"), "{key}");
            assert!(
                key.ends_with(".json") && key.contains(&format!("/{reason}/")),
                "{key}"
            );
            (reason.as_str(), body)
        })
        .collect();
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert_eq!(by_reason["gzip"], &not_gzip);
    assert_eq!(by_reason["unknown_event"], &stray);
    // Each Kinesis letter is a one-record Kinesis event with the record's data and number.
    let record = |i: usize| &kinesis["Records"][i]["kinesis"];
    for (reason, i) in [("base64", 1), ("message_json", 2)] {
        let letter = &by_reason[reason]["Records"][0]["kinesis"];
        assert_eq!(letter["data"], record(i)["data"], "{reason}");
        assert_eq!(letter["sequenceNumber"], record(i)["sequenceNumber"]);
        // What is kept is an event the ingest path reads again (and fails again, as it must).
        let event = FlowEvent::from_value(by_reason[reason]).unwrap();
        assert!(matches!(event, FlowEvent::Kinesis { ref records } if records.len() == 1));
    }
    // The same payload again is the same object: a redelivery keeps one copy.
    ingestor.handle_value(not_gzip).await.unwrap();
    assert_eq!(objects(&moto, "ct-failures").len(), 4);
    assert_eq!(
        ingestor.store().day_connections(DAY).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_store_that_cannot_keep_them_fails_them_as_before() {
    let redis = RedisServer::start();
    let moto = MotoServer::start();
    // No bucket of that name: every put fails.
    let ingestor = setup(&redis, &moto, "ct-missing").await;

    let err = ingestor
        .handle_value(json!({"awslogs": {"data": "bm90IGd6aXA="}}))
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::Decode(_)), "{err:?}");
    assert!(
        err.to_string().contains("payload is not valid gzip"),
        "{err}"
    );

    let kinesis = kinesis_event(&[good_payload("8.8.8.8"), "!!!".to_string()]);
    let outcome = ingestor.handle_value(kinesis.clone()).await.unwrap();
    let seq = kinesis["Records"][1]["kinesis"]["sequenceNumber"]
        .as_str()
        .unwrap();
    assert_eq!(outcome.item_failures(), vec![seq]);
    assert_eq!(outcome.summary.dead_lettered, 0);
    assert_eq!(outcome.summary.counted, 1);
    // The retry that Lambda makes counts the good record once.
    let again = ingestor.handle_value(kinesis).await.unwrap();
    assert_eq!(again.summary.duplicates, 1);
    let rows = ingestor.store().day_connections(DAY).await.unwrap();
    assert_eq!(rows[&format!("{A}/eu-west-1")][0].score, 1);
}

/// A failure record as Lambda writes one, uploaded under `aws/lambda/` of the bucket.
fn put_record(moto: &MotoServer, bucket: &str, key: &str, record: &Value) {
    moto.s3(&format!(
        "s3.put_object(Bucket='{bucket}', Key='aws/lambda/{key}', Body={body:?})",
        body = record.to_string()
    ));
}

/// The scheduled redrive: Lambda's failure records (an asynchronous CloudWatch Logs event, a
/// Kinesis batch) counted once each and removed; while Redis is down it counts and removes
/// nothing; a record older than the dedup window and one without a flow-log event are left
/// and counted for the alarm; a failed redrive trigger is removed; a second run counts nothing.
#[tokio::test]
async fn the_scheduled_redrive_counts_each_failure_record_once_and_leaves_what_it_cannot() {
    use connection_tracker::ingest::scheduled_redrive::redrive;
    let mut redis = RedisServer::start_persistent();
    let moto = MotoServer::start();
    moto.s3("s3.create_bucket(Bucket='ct-failures', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})");
    let ingestor = setup(&redis, &moto, "ct-failures").await;
    let records = S3Bucket::new(&moto.sdk_config().await, "ct-failures");
    let context = json!({"requestId": "e4b46cbf", "condition": "RetriesExhausted", "approximateInvokeCount": 3});
    let logs = json!({"awslogs": {"data": good_payload("8.8.8.8")}});
    put_record(
        &moto,
        "ct-failures",
        "async/ingest/2026/11/27/a.json",
        &json!({
        "version": "1.0", "requestContext": context, "requestPayload": logs,
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"}}),
    );
    let kinesis = kinesis_event(&[good_payload("9.9.9.9"), good_payload("9.9.9.8")]);
    put_record(
        &moto,
        "ct-failures",
        "esm/shardId-000000000001/2026/11/27/b.json",
        &json!({
        "requestContext": {"condition": "RetryAttemptsExhausted"},
        "KinesisBatchInfo": {"shardId": "shardId-000000000001", "streamArn": "arn:aws:kinesis:eu-west-1:1:stream/s"},
        "payload": kinesis.to_string()}),
    );
    put_record(
        &moto,
        "ct-failures",
        "esm/shardId-000000000001/2026/11/27/c.json",
        &json!({
        "KinesisBatchInfo": {"shardId": "shardId-000000000001", "startSequenceNumber": "1",
                             "endSequenceNumber": "9", "streamArn": "arn:aws:kinesis:eu-west-1:1:stream/s"}}),
    );
    put_record(
        &moto,
        "ct-failures",
        "async/ingest/2026/11/27/d.json",
        &json!({
        "requestContext": context, "requestPayload": {"redrive": "scheduled"}}),
    );
    // Handled five days after the records: older than the dedup window.
    let late = time::OffsetDateTime::from_unix_timestamp(NOON as i64 + 5 * 86_400).unwrap();
    let soon = time::OffsetDateTime::from_unix_timestamp(NOON as i64 + 3600).unwrap();
    let keys = || {
        moto.s3("print(sorted(o['Key'] for o in s3.list_objects_v2(Bucket='ct-failures').get('Contents', [])))")
    };

    // Redis down: nothing counted, nothing removed, the run says why.
    redis.stop();
    let down = redrive(&ingestor, &records, soon, None).await;
    assert_eq!((down.redriven, down.retried_later), (0, 1), "{down:?}");
    assert!(down.stopped.is_some(), "{down:?}");
    assert_eq!(keys().matches("aws/lambda/").count(), 4);

    redis.restart();
    let too_old = redrive(&ingestor, &records, late, None).await;
    assert_eq!(
        (too_old.redriven, too_old.left_too_old, too_old.unreadable),
        (1, 2, 1),
        "the trigger removed, both flow-log records too old, one unreadable: {too_old:?}"
    );
    let up = redrive(&ingestor, &records, soon, None).await;
    assert_eq!(
        (up.redriven, up.left_too_old, up.unreadable),
        (2, 0, 1),
        "{up:?}"
    );
    assert_eq!(up.stopped, None);
    let left = keys();
    assert!(
        left.contains("c.json") && left.matches("aws/lambda/").count() == 1,
        "{left}"
    );
    let rows = ingestor.store().day_connections(DAY).await.unwrap();
    let scores: BTreeMap<&str, u64> = rows[&format!("{A}/eu-west-1")]
        .iter()
        .map(|c| (c.source.as_str(), c.score))
        .collect();
    assert_eq!(
        scores,
        BTreeMap::from([("8.8.8.8", 1), ("9.9.9.8", 1), ("9.9.9.9", 1)])
    );
    let again = redrive(&ingestor, &records, soon, None).await;
    assert_eq!((again.redriven, again.unreadable), (0, 1));
}
