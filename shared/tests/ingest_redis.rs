//! The ingest path against a real `redis-server`: event shapes, every classification and naming
//! rule, idempotency, bad input, Redis failures, round trips, cluster mode.

use std::collections::BTreeMap;
use std::time::Duration;

use connection_tracker::api::{Api, Request};
use connection_tracker::config::{ApiConfig, IngestConfig, RedisConfig, RowLimits};
use connection_tracker::ingest::payload::FlowEvent;
use connection_tracker::ingest::{IngestError, Ingestor, LogsEventEnd, Outcome, Reply};
use connection_tracker::model::InventoryFile;
use connection_tracker::model::{Connection, DestPort};
use connection_tracker::rules::classify::Networks;
use connection_tracker::rules::flowlog::FlowLogFormat;
use connection_tracker::store::{keys, CounterStore, RedisStore, RefreshStore};
use connection_tracker::testing::{
    encode_payload, interface, kinesis_event, logs_event, logs_message, RedisCluster, RedisServer,
};
use time::OffsetDateTime;

const A: &str = "111111111111";
const B: &str = "222222222222";
/// 2026-11-27T00:00:00Z
const DAY0: u64 = 1_795_737_600;
const NOON: u64 = DAY0 + 12 * 3600;
const DAY: &str = "2026-11-27";
/// The fixtures are dated 2026-11-27 and the ingestor is handed that day as "now"; only the
/// redis-server's clock is real (key expiry), so the retention keeps the keys alive for ten
/// years whatever day the suite runs, and every read names its day.
const RETENTION_DAYS: u32 = 3650;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp((NOON + 3600) as i64).unwrap()
}

fn config(url: String, ttl_secs: u64) -> IngestConfig {
    IngestConfig {
        redis: RedisConfig {
            url,
            cluster: None,
            timeout: Duration::from_secs(2),
        },
        retention_days: RETENTION_DAYS,
        dedup_window: Duration::from_secs(72 * 3600),
        shared_vpc_owners: vec![],
        limits: Default::default(),
        cache: Default::default(),
        parking: Default::default(),
        dead_letter: None,
        max_batch_decompressed_bytes: 4 * 1024 * 1024,
        flow_log_format: None,
        networks: Networks::new(vec![("office".into(), "85.1.0.0/16".parse().unwrap())]),
        max_decompressed_bytes: 1024 * 1024,
        max_object_decompressed_bytes: 1 << 30,
        inventory_ttl: Duration::from_secs(ttl_secs),
        default_region: "eu-central-1".into(),
    }
}

/// The estate of the tests: one interface of every kind.
async fn seed(store: &RedisStore) {
    let mut alb = interface(
        "eni-alb",
        A,
        "eu-west-1",
        "ELB app/shop/50dc6c495c0c9188",
        "10.0.1.10",
        "52.16.0.10",
    );
    alb.lb_dns_name = Some("shop-123.eu-west-1.elb.amazonaws.com".into());
    let mut clb = interface(
        "eni-clb",
        A,
        "eu-west-1",
        "ELB legacy",
        "10.0.1.11",
        "52.16.0.11",
    );
    clb.lb_dns_name = Some("legacy-456.eu-west-1.elb.amazonaws.com".into());
    let mut nlb = interface(
        "eni-nlb",
        A,
        "eu-west-1",
        "ELB net/ingress/6a3f0c1e2b",
        "10.0.1.12",
        "52.16.0.12",
    );
    nlb.interface_type = "network_load_balancer".into();
    nlb.lb_dns_name = Some("ingress-789.elb.eu-west-1.amazonaws.com".into());
    let mut web = interface(
        "eni-web",
        A,
        "eu-west-1",
        "Primary network interface",
        "10.0.2.20",
        "52.16.0.20",
    );
    web.instance_name = Some("web".into());
    web.public_ips.insert(
        "2a05:d018::20".parse().unwrap(),
        "2a05:d018::20".parse().unwrap(),
    );
    let mut rds = interface(
        "eni-rds",
        A,
        "eu-west-1",
        "RDSNetworkInterface",
        "10.0.3.30",
        "52.16.0.30",
    );
    rds.rds_endpoint = Some("orders.abc.eu-west-1.rds.amazonaws.com".into());
    let rds_unknown = interface(
        "eni-rds2",
        A,
        "eu-west-1",
        "RDSNetworkInterface",
        "10.0.3.31",
        "52.16.0.31",
    );
    let mut nat = interface(
        "eni-nat",
        A,
        "eu-west-1",
        "Interface for NAT Gateway nat-0abc",
        "10.0.4.40",
        "52.16.0.40",
    );
    nat.interface_type = "nat_gateway".into();
    let odd = interface(
        "eni-odd",
        A,
        "eu-west-1",
        "Odd SSH jump host",
        "10.0.4.41",
        "52.16.0.41",
    );
    let other = interface(
        "eni-other",
        A,
        "eu-west-1",
        "bastion appliance",
        "10.0.5.50",
        "52.16.0.50",
    );
    let mut api = interface("eni-api", B, "us-east-1", "", "10.1.0.5", "3.80.0.5");
    api.instance_name = Some("api".into());
    // B's instance in a VPC A owns and shares with B: A's log group may report it when A is a
    // listed shared-VPC owner.
    api.vpc_id = Some("vpc-0a11".into());
    api.vpc_owner_id = Some(A.into());
    let inventory = InventoryFile {
        interfaces: vec![alb, clb, nlb, web, rds, rds_unknown, nat, odd, other, api],
        addresses: BTreeMap::from([(
            "34.240.0.1".to_string(),
            "222222222222/us-east-1/nat-us-east-1a.bravo.example.org".to_string(),
        )]),
        formats: BTreeMap::new(),
    };
    store.put_inventory(&inventory).await.unwrap();
}

fn v2(
    account: &str,
    eni: &str,
    src: &str,
    dst: &str,
    dport: u16,
    start: u64,
    action: &str,
) -> String {
    format!(
        "2 {account} {eni} {src} {dst} 49152 {dport} 6 10 840 {start} {} {action} OK",
        start + 60
    )
}

async fn setup(server: &RedisServer, ttl: u64) -> Ingestor<RedisStore> {
    let cfg = config(server.url(), ttl);
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    Ingestor::new(store, cfg)
}

fn event(lines: &[String]) -> FlowEvent {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let msg = logs_message(A, "/vpc/flow-logs", &refs, NOON * 1000);
    FlowEvent::from_value(&logs_event(&msg)).unwrap()
}

/// (source, dest, dest_port, score)
type Row<'a> = (&'a str, &'a str, u16, u64);
type Rows = BTreeMap<String, Vec<(String, String, DestPort, u64)>>;

fn rows(items: &[(&str, &[Row])]) -> Rows {
    items
        .iter()
        .map(|(k, v)| {
            let mut v: Vec<_> = v
                .iter()
                .map(|(s, d, p, n)| (s.to_string(), d.to_string(), DestPort::Port(*p), *n))
                .collect();
            v.sort();
            (k.to_string(), v)
        })
        .collect()
}

fn sorted(r: BTreeMap<String, Vec<Connection>>) -> Rows {
    r.into_iter()
        .map(|(k, v)| {
            let mut v: Vec<_> = v
                .into_iter()
                .map(|c| (c.source, c.dest, c.dest_port, c.score))
                .collect();
            v.sort();
            (k, v)
        })
        .collect()
}

#[tokio::test]
async fn every_classification_and_naming_rule() {
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    let yesterday = DAY0 - 3600;
    let lines = vec![
        // rule 5: load balancers are named by their DNS name
        v2(A, "eni-alb", "8.8.8.8", "10.0.1.10", 443, NOON, "ACCEPT"),
        v2(
            A,
            "eni-alb",
            "8.8.8.8",
            "10.0.1.10",
            443,
            NOON + 60,
            "ACCEPT",
        ),
        v2(A, "eni-clb", "8.8.8.8", "10.0.1.11", 80, NOON, "ACCEPT"),
        // account-id `unknown` (NLB interfaces) → the interface map's account
        v2(
            "unknown",
            "eni-nlb",
            "8.8.8.8",
            "10.0.1.12",
            8883,
            NOON,
            "ACCEPT",
        ),
        // rule 4: a named network, then our own addresses; EC2 named `<Name>/<public ip>`
        v2(A, "eni-web", "85.1.2.3", "10.0.2.20", 22, NOON, "ACCEPT"),
        v2(
            A,
            "eni-rds",
            "34.240.0.1",
            "10.0.3.30",
            5432,
            NOON,
            "ACCEPT",
        ),
        // 100.64/10 is not private; unknown RDS → RDS/<public ip>
        v2(
            A,
            "eni-rds2",
            "100.64.0.1",
            "10.0.3.31",
            3306,
            NOON,
            "ACCEPT",
        ),
        // other descriptions → `<description>/<public ip>`
        v2(A, "eni-other", "8.8.4.4", "10.0.5.50", 8443, NOON, "ACCEPT"),
        // an instance address the refresh did not see → the interface's own name, flagged
        v2(A, "eni-web", "8.8.4.4", "10.0.2.99", 80, NOON, "ACCEPT"),
        // IPv6 end to end
        v2(
            A,
            "eni-web",
            "2a00:1450:4001::1",
            "2a05:d018::20",
            443,
            NOON,
            "ACCEPT",
        ),
        // start in milliseconds
        v2(
            A,
            "eni-api",
            "8.8.8.8",
            "10.1.0.5",
            443,
            NOON * 1000,
            "ACCEPT",
        ), // …and A's log group reporting B's interface: not counted (`foreign_interface`)
        // B's account id on A's interface, in A's log: counted under A, flagged
        v2(B, "eni-alb", "9.9.9.9", "10.0.1.10", 443, NOON, "ACCEPT"),
        // a record of the day before goes to that day
        v2(
            A,
            "eni-alb",
            "8.8.8.8",
            "10.0.1.10",
            443,
            yesterday,
            "ACCEPT",
        ),
        // --- not counted ---
        v2(A, "eni-alb", "10.9.9.9", "10.0.1.10", 443, NOON, "ACCEPT"), // private source
        v2(
            A,
            "eni-web",
            "fd00::1",
            "2a05:d018::20",
            443,
            NOON,
            "ACCEPT",
        ), // private IPv6 source
        v2(
            A,
            "eni-web",
            "203.0.113.9",
            "10.0.2.20",
            443,
            NOON,
            "ACCEPT",
        ), // documentation range: private
        v2(A, "eni-nat", "8.8.4.4", "10.0.4.40", 443, NOON, "ACCEPT"),  // NAT destination
        v2(A, "eni-odd", "8.8.4.4", "10.0.4.41", 22, NOON, "ACCEPT"),   // Odd destination
        v2(A, "eni-alb", "8.8.8.8", "10.0.1.10", 443, NOON, "REJECT"),  // rejected traffic
        v2(A, "eni-gone", "8.8.8.8", "10.0.9.9", 443, NOON, "ACCEPT"),  // unknown interface
        v2(
            A,
            "eni-alb",
            "8.8.8.8",
            "10.0.1.10",
            443,
            DAY0 - u64::from(RETENTION_DAYS) * 86_400 - 3600,
            "ACCEPT",
        ), // inside the accepted window, but its day is past the retention
        format!("2 {A} eni-alb - - - - - - - {NOON} {} - NODATA", NOON + 60),
        format!(
            "2 {A} eni-alb - - - - - - - {NOON} {} - SKIPDATA",
            NOON + 60
        ),
        // --- rejected lines ---
        // `start` outside [now − retention − 1 day, now + 1 day]: long ago, year 10000 in
        // milliseconds, u64::MAX, three days ahead. None may reach date arithmetic.
        v2(
            A,
            "eni-alb",
            "8.8.8.8",
            "10.0.1.10",
            443,
            DAY0 - (u64::from(RETENTION_DAYS) + 10) * 86_400,
            "ACCEPT",
        ),
        v2(
            A,
            "eni-alb",
            "8.8.8.8",
            "10.0.1.10",
            443,
            253_402_300_800_000,
            "ACCEPT",
        ),
        format!(
            "2 {A} eni-alb 8.8.8.8 10.0.1.10 49152 443 6 10 840 {0} {0} ACCEPT OK",
            u64::MAX
        ),
        v2(
            A,
            "eni-alb",
            "8.8.8.8",
            "10.0.1.10",
            443,
            NOON + 3 * 86_400,
            "ACCEPT",
        ),
        format!("2 {A} eni-alb 8.8.8.8 10.0.1.10 49152 443 6 10 840 {NOON} ACCEPT OK"),
        format!("2 {A} eni-alb 8.8.8.300 10.0.1.10 49152 443 6 10 840 {NOON} {NOON} ACCEPT OK"),
        format!("2 {A} eni-alb 8.8.8.8 10.0.1.10 49152 99999 6 10 840 {NOON} {NOON} ACCEPT OK"),
    ];
    let outcome = ingestor.handle(event(&lines), now()).await.unwrap();
    let s = &outcome.summary;
    assert_eq!(s.records, 30);
    assert_eq!(s.accepted, 20);
    assert_eq!(s.counted, 12);
    assert_eq!(
        s.rejected,
        BTreeMap::from([
            ("bad_address", 1),
            ("bad_number", 1),
            ("field_count", 1),
            ("start_out_of_range", 4)
        ])
    );
    assert_eq!(
        s.flagged,
        BTreeMap::from([("account_mismatch", 1), ("unknown_destination_address", 1)])
    );
    assert_eq!(
        s.skipped,
        BTreeMap::from([
            ("dropped_destination", 2),
            ("foreign_interface", 1),
            ("not_accepted", 3),
            ("older_than_retention", 1),
            ("private_source", 3),
            ("unknown_interface", 1),
        ])
    );
    assert_eq!(s.connections, 11);
    assert!(matches!(outcome.response, Reply::Summary(_)));

    let store = ingestor.store();
    let got = sorted(store.day_connections(DAY).await.unwrap());
    let want = rows(&[(
        "111111111111/eu-west-1",
        &[
            ("8.8.8.8", "shop-123.eu-west-1.elb.amazonaws.com", 443, 2),
            ("9.9.9.9", "shop-123.eu-west-1.elb.amazonaws.com", 443, 1),
            ("8.8.8.8", "legacy-456.eu-west-1.elb.amazonaws.com", 80, 1),
            (
                "8.8.8.8",
                "ingress-789.elb.eu-west-1.amazonaws.com",
                8883,
                1,
            ),
            ("office", "web/52.16.0.20", 22, 1),
            (
                "222222222222/us-east-1/nat-us-east-1a.bravo.example.org",
                "111111111111/eu-west-1/orders.abc.eu-west-1.rds.amazonaws.com",
                5432,
                1,
            ),
            ("100.64.0.1", "RDS/52.16.0.31", 3306, 1),
            ("8.8.4.4", "bastion appliance/52.16.0.50", 8443, 1),
            ("8.8.4.4", "web/52.16.0.20", 80, 1),
            ("2a00:1450:4001::1", "web/2a05:d018::20", 443, 1),
        ],
    )]);
    assert_eq!(got, want);
    // Scores come back highest first.
    let first = &store.day_connections(DAY).await.unwrap()["111111111111/eu-west-1"][0];
    assert_eq!(first.score, 2);

    let got = sorted(store.day_connections("2026-11-26").await.unwrap());
    assert_eq!(
        got,
        rows(&[(
            "111111111111/eu-west-1",
            &[("8.8.8.8", "shop-123.eu-west-1.elb.amazonaws.com", 443, 1)]
        )])
    );

    // Sources without a name wait for the refresh's reverse DNS; named ones do not.
    assert_eq!(
        store.day_unnamed(DAY).await.unwrap(),
        vec![
            "100.64.0.1",
            "2a00:1450:4001::1",
            "8.8.4.4",
            "8.8.8.8",
            "9.9.9.9"
        ]
    );
    let updates = store.last_updates().await.unwrap();
    assert_eq!(
        updates.len(),
        1,
        "only A's own interfaces were counted: {updates:?}"
    );
    assert!(updates["111111111111:eu-west-1"].starts_with("2026-11-27T13:00:00.000000Z"));

    // Per-day keys expire RETENTION_DAYS after their day ends.
    let ttl: i64 = server
        .cli(&["EXPIRETIME", &keys::connections(DAY, A, "eu-west-1")])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        ttl,
        (DAY0 + (u64::from(RETENTION_DAYS) + 1) * 86_400) as i64
    );
    // Redelivery bookkeeping lives for the dedup window (72 h here), the unnamed sources for
    // two days, each on the server's clock from the write: not for the retention.
    let ttl_of = |key: String| -> i64 { server.cli(&["TTL", &key]).trim().parse().unwrap() };
    let seen = ttl_of(keys::seen(DAY, A, "eu-west-1"));
    assert!(
        (72 * 3600 - 60..=72 * 3600).contains(&seen),
        "seen TTL {seen}"
    );
    let unnamed = ttl_of(keys::unnamed(DAY, A, "eu-west-1"));
    assert!(
        (2 * 86_400 - 60..=2 * 86_400).contains(&unnamed),
        "unnamed TTL {unnamed}"
    );
}

#[tokio::test]
async fn a_batch_delivered_twice_counts_once() {
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    let lines = vec![
        v2(A, "eni-alb", "8.8.8.8", "10.0.1.10", 443, NOON, "ACCEPT"),
        v2(
            A,
            "eni-alb",
            "8.8.8.8",
            "10.0.1.10",
            443,
            DAY0 - 60,
            "ACCEPT",
        ),
    ];
    let first = ingestor.handle(event(&lines), now()).await.unwrap();
    assert_eq!(first.summary.duplicates, 0);
    let second = ingestor.handle(event(&lines), now()).await.unwrap();
    // Two days, each part already counted.
    assert_eq!(second.summary.duplicates, 2);
    for day in [DAY, "2026-11-26"] {
        let got = ingestor.store().day_connections(day).await.unwrap();
        assert_eq!(got["111111111111/eu-west-1"][0].score, 1, "{day}");
    }
    // A different batch with the same lines but other event ids is new data: counted.
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let other = logs_message(A, "/vpc/flow-logs", &refs, NOON * 1000 + 1);
    ingestor
        .handle(FlowEvent::from_value(&logs_event(&other)).unwrap(), now())
        .await
        .unwrap();
    let got = ingestor.store().day_connections(DAY).await.unwrap();
    assert_eq!(got["111111111111/eu-west-1"][0].score, 2);
}

#[tokio::test]
async fn last_update_moves_when_an_account_region_is_read_counted_or_not() {
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    // Nothing of this batch counts: a rejected record and a private source, both on A's ALB;
    // a record of an interface nobody knows. A's flow logs were read all the same.
    let lines = vec![
        v2(A, "eni-alb", "8.8.8.8", "10.0.1.10", 443, NOON, "REJECT"),
        v2(A, "eni-alb", "10.9.9.9", "10.0.1.10", 443, NOON, "ACCEPT"),
        v2(A, "eni-gone", "8.8.8.8", "10.0.1.10", 443, NOON, "ACCEPT"),
    ];
    let outcome = ingestor.handle(event(&lines), now()).await.unwrap();
    assert_eq!(outcome.summary.counted, 0);
    let updates = ingestor.store().last_updates().await.unwrap();
    assert_eq!(
        updates.keys().collect::<Vec<_>>(),
        [&format!("{A}:eu-west-1")],
        "{updates:?}"
    );
    assert!(updates[&format!("{A}:eu-west-1")].starts_with("2026-11-27T13:00:00"));
    // A log group that may not speak for B's interface moves nothing of B's.
    let foreign = v2(B, "eni-api", "8.8.8.8", "10.1.0.5", 443, NOON, "ACCEPT");
    ingestor.handle(event(&[foreign]), now()).await.unwrap();
    assert!(!ingestor
        .store()
        .last_updates()
        .await
        .unwrap()
        .contains_key(&format!("{B}:us-east-1")));
}

#[tokio::test]
async fn control_messages_are_acknowledged_and_skipped() {
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    // As CloudWatch Logs sends when a subscription is created.
    let control = serde_json::json!({
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1432826855000u64,
            "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]
    });
    let outcome = ingestor
        .handle(FlowEvent::from_value(&logs_event(&control)).unwrap(), now())
        .await
        .unwrap();
    assert_eq!(outcome.summary.control_messages, 1);
    assert_eq!(outcome.summary.records, 0);
    assert!(ingestor
        .store()
        .day_connections(DAY)
        .await
        .unwrap()
        .is_empty());
}

fn gzip_bomb(size: usize) -> String {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..size / chunk.len() {
        gz.write_all(&chunk).unwrap();
    }
    base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        gz.finish().unwrap(),
    )
}

fn gzip_b64(bytes: &[u8]) -> String {
    encode_payload(bytes)
}

#[tokio::test]
async fn bad_cloudwatch_events_fail_with_a_clear_error_and_write_nothing() {
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    let keys_before = server.cli(&["DBSIZE"]);
    let bomb = gzip_bomb(16 << 20);
    assert!(
        bomb.len() < 200_000,
        "a 16 MiB bomb is small on the wire: {}",
        bomb.len()
    );
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            serde_json::json!({"awslogs": {"data": "%%% not base64 %%%"}}),
            "payload is not valid base64",
        ),
        (
            serde_json::json!({"awslogs": {"data": "H4sIAAAAAAAAA+3BMQEAAADCoPVP"}}),
            "payload is not valid gzip",
        ),
        (
            serde_json::json!({"awslogs": {"data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"plain text, not gzip")}}),
            "payload is not valid gzip",
        ),
        (
            serde_json::json!({"awslogs": {"data": bomb}}),
            "payload decompresses to more than 1048576 bytes",
        ),
        (
            serde_json::json!({"detail-type": "Scheduled Event"}),
            "event is neither a CloudWatch Logs",
        ),
        (
            serde_json::json!("just a string"),
            "event is neither a CloudWatch Logs",
        ),
        (
            serde_json::json!({"awslogs": {"data": 5}}),
            "event is not JSON",
        ),
        (
            serde_json::json!({"awslogs": {"data": gzip_b64(b"{\"not\": \"a message\"}")}}),
            "payload is not a CloudWatch Logs subscription message",
        ),
        (
            serde_json::json!({"awslogs": {"data": gzip_b64(b"[1,2")}}),
            "payload is not a CloudWatch Logs subscription message",
        ),
        (
            serde_json::json!({"awslogs": {"data": gzip_b64(br#"{"messageType":"SURPRISE","logEvents":[]}"#)}}),
            "unknown CloudWatch Logs messageType `SURPRISE`",
        ),
    ];
    for (event, want) in cases {
        let err = ingestor.handle_value(event.clone()).await.unwrap_err();
        assert!(matches!(err, IngestError::Decode(_)), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(want), "{event:.60}: {message}");
    }
    assert_eq!(server.cli(&["DBSIZE"]), keys_before, "nothing was written");
}

#[tokio::test]
async fn kinesis_reports_only_bad_records_and_counts_the_rest() {
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    let good = |src: &str, ts: u64| {
        let line = v2(B, "eni-api", src, "10.1.0.5", 443, NOON, "ACCEPT");
        encode_payload(
            logs_message(B, "/vpc/flow-logs", &[line.as_str()], ts)
                .to_string()
                .as_bytes(),
        )
    };
    let control = encode_payload(
        br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[]}"#,
    );
    let datas = vec![
        good("8.8.8.8", NOON * 1000),
        "!!!".to_string(),
        good("1.1.1.1", NOON * 1000 + 5),
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            b"\x1f\x8b\x08garbage",
        ),
        gzip_bomb(8 << 20),
        control,
        encode_payload(b"{\"hello\": 1}"),
    ];
    let event = kinesis_event(&datas);
    let seq = |i: usize| {
        event["Records"][i]["kinesis"]["sequenceNumber"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let outcome: Outcome = ingestor.handle_value(event.clone()).await.unwrap();
    assert_eq!(
        outcome.item_failures(),
        vec![seq(1), seq(3), seq(4), seq(6)]
    );
    assert_eq!(
        outcome.summary.failed_payloads,
        BTreeMap::from([
            ("base64", 1),
            ("gzip", 1),
            ("message_json", 1),
            ("too_large", 1)
        ])
    );
    assert_eq!(outcome.summary.control_messages, 1);
    assert_eq!(outcome.summary.counted, 2);
    // The response is the partial batch response Lambda expects.
    let json = serde_json::to_value(&outcome.response).unwrap();
    assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], seq(1));

    // Lambda redelivers from the first failure on: records counted before count once.
    let again = ingestor.handle_value(event).await.unwrap();
    assert_eq!(again.summary.duplicates, 2);
    let got = sorted(ingestor.store().day_connections(DAY).await.unwrap());
    assert_eq!(
        got,
        rows(&[(
            "222222222222/us-east-1",
            &[
                ("1.1.1.1", "api/3.80.0.5", 443, 1),
                ("8.8.8.8", "api/3.80.0.5", 443, 1)
            ]
        )])
    );
}

#[tokio::test]
async fn redis_stopped_mid_run_fails_the_batch_and_loses_nothing() {
    let mut server = RedisServer::start_persistent();
    let mut cfg = config(server.url(), 0);
    cfg.redis.timeout = Duration::from_millis(500);
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    let ingestor = Ingestor::new(store, cfg);
    let batch1 = vec![v2(
        A,
        "eni-alb",
        "8.8.8.8",
        "10.0.1.10",
        443,
        NOON,
        "ACCEPT",
    )];
    let batch2 = vec![
        v2(A, "eni-alb", "8.8.8.8", "10.0.1.10", 443, NOON, "ACCEPT"),
        v2(A, "eni-alb", "1.1.1.1", "10.0.1.10", 443, NOON, "ACCEPT"),
    ];
    ingestor.handle(event(&batch1), now()).await.unwrap();

    server.stop();
    let err = ingestor.handle(event(&batch2), now()).await.unwrap_err();
    assert!(matches!(err, IngestError::Store(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot count batch: Redis request failed"),
        "{err}"
    );
    // The same through Kinesis: every record is reported failed, none half-counted.
    let k = kinesis_event(&[encode_payload(
        logs_message(A, "/vpc/flow-logs", &[batch2[1].as_str()], NOON * 1000)
            .to_string()
            .as_bytes(),
    )]);
    let outcome = ingestor.handle_value(k.clone()).await.unwrap();
    assert_eq!(outcome.item_failures().len(), 1);

    server.restart();
    // Lambda retries both; the earlier batch, delivered again, stays counted once.
    let mut tries = 0;
    let retried = loop {
        match ingestor.handle(event(&batch2), now()).await {
            Ok(o) => break o,
            Err(e) if tries < 20 => {
                tries += 1;
                eprintln!("waiting for the connection to come back: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("Redis did not come back: {e}"),
        }
    };
    assert_eq!(retried.summary.duplicates, 0);
    assert_eq!(
        ingestor
            .handle(event(&batch1), now())
            .await
            .unwrap()
            .summary
            .duplicates,
        1
    );
    assert!(ingestor
        .handle_value(k)
        .await
        .unwrap()
        .item_failures()
        .is_empty());
    let got = sorted(ingestor.store().day_connections(DAY).await.unwrap());
    assert_eq!(
        got,
        rows(&[(
            "111111111111/eu-west-1",
            &[
                ("1.1.1.1", "shop-123.eu-west-1.elb.amazonaws.com", 443, 2),
                ("8.8.8.8", "shop-123.eu-west-1.elb.amazonaws.com", 443, 2),
            ]
        )])
    );
}

#[tokio::test]
async fn a_lost_reply_then_a_retry_counts_once() {
    // The write reaches Redis but its reply does not reach us in time (the server is paused
    // for writes): the retry must not count the batch a second time.
    let server = RedisServer::start();
    let mut cfg = config(server.url(), 3600);
    cfg.redis.timeout = Duration::from_millis(300);
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    let ingestor = Ingestor::new(store, cfg);
    let batch = vec![v2(
        A,
        "eni-alb",
        "8.8.8.8",
        "10.0.1.10",
        443,
        NOON,
        "ACCEPT",
    )];
    // Load the inventory first so only the write meets the pause.
    ingestor.handle(event(&[]), now()).await.unwrap();
    server.cli(&["CLIENT", "PAUSE", "1500", "WRITE"]);
    let err = ingestor.handle(event(&batch), now()).await.unwrap_err();
    assert!(matches!(err, IngestError::Store(_)), "{err:?}");
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let landed = server.cli(&[
        "ZSCORE",
        &keys::connections(DAY, A, "eu-west-1"),
        "8.8.8.8\tshop-123.eu-west-1.elb.amazonaws.com\t443",
    ]);
    // Redis ran the paused script once the pause ended, after we had given up on its reply.
    assert_eq!(landed.trim(), "1", "the paused write was applied late");
    let retry = ingestor.handle(event(&batch), now()).await.unwrap();
    assert_eq!(retry.summary.duplicates, 1);
    let got = ingestor.store().day_connections(DAY).await.unwrap();
    assert_eq!(got["111111111111/eu-west-1"][0].score, 1);
}

#[tokio::test]
async fn one_batch_is_at_most_two_round_trips_whatever_its_size() {
    let server = RedisServer::start();
    let mut cfg = config(server.url(), 3600);
    cfg.max_decompressed_bytes = 16 << 20;
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    let ingestor = Ingestor::new(store, cfg);
    let store = ingestor.store();
    let sources = [
        "8.8.8.8",
        "1.1.1.1",
        "9.9.9.9",
        "208.67.222.222",
        "85.1.9.9",
    ];
    for size in [1usize, 100, 10_000] {
        let lines: Vec<String> = (0..size)
            .map(|i| {
                let day = if i % 2 == 0 { NOON } else { NOON - 86_400 };
                v2(
                    A,
                    "eni-alb",
                    sources[i % sources.len()],
                    "10.0.1.10",
                    443 + (i % 50) as u16,
                    day,
                    "ACCEPT",
                )
            })
            .collect();
        server.cli(&["CONFIG", "RESETSTAT"]);
        let before = store.round_trips();
        let outcome = ingestor.handle(event(&lines), now()).await.unwrap();
        let trips = store.round_trips() - before;
        assert_eq!(outcome.summary.counted, size as u64);
        let stats = server.cli(&["INFO", "commandstats"]);
        let calls = |cmd: &str| {
            stats
                .lines()
                .find(|l| l.starts_with(&format!("cmdstat_{cmd}:")))
                .and_then(|l| l.split("calls=").nth(1))
                .and_then(|r| r.split(',').next())
                .map(|n| n.parse::<u64>().unwrap())
                .unwrap_or(0)
        };
        // The first batch also loads the inventory (one pipelined read of its four maps);
        // later ones use the cache. Besides, a batch may read the cache's fill (`INFO memory`,
        // at most once, and not again within a second while it is well below the line).
        let fill_reads = calls("info");
        assert!(fill_reads <= 1, "{stats}");
        let want = if size == 1 { 2 } else { 1 };
        assert_eq!(trips, want + fill_reads, "{size} records");
        // Per day touched (two here): one script for its one account/region and one index
        // update, all sent together; nothing else per record.
        let days = if size == 1 { 1 } else { 2 };
        assert_eq!(calls("eval"), 2 * days, "{stats}");
        // last_update once, and each day's script writes its endpoints' counts once and the
        // exposure review's sums once (read once with HMGET).
        assert!(calls("hset") <= 1 + 2 * days, "{stats}");
        assert_eq!(calls("hmget"), days, "{stats}");
        assert_eq!(calls("hgetall"), if size == 1 { 4 } else { 0 });
    }
}

#[tokio::test]
async fn custom_formats_come_from_the_refresh_then_the_setting() {
    let server = RedisServer::start();
    let mut cfg = config(server.url(), 0);
    cfg.flow_log_format = Some(
        FlowLogFormat::parse("${interface-id} ${srcaddr} ${dstaddr} ${dstport} ${action} ${start}")
            .unwrap(),
    );
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    // A v5 format the refresh discovered for account A's log group (DescribeFlowLogs).
    let formats = InventoryFile {
        formats: BTreeMap::from([(
            format!("{A}:/vpc/custom"),
            "${version} ${vpc-id} ${interface-id} ${account-id} ${flow-direction} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${action} ${log-status} ${pkt-src-aws-service}".to_string(),
        )]),
        ..InventoryFile::default()
    };
    store.put_inventory(&formats).await.unwrap();
    let ingestor = Ingestor::new(store, cfg);
    let custom = format!(
        "5 vpc-0a1b eni-web {A} ingress 8.8.8.8 10.0.2.20 50000 443 6 {NOON} {} ACCEPT OK -",
        NOON + 60
    );
    let msg = logs_message(A, "/vpc/custom", &[custom.as_str()], NOON * 1000);
    let o = ingestor
        .handle(FlowEvent::from_value(&logs_event(&msg)).unwrap(), now())
        .await
        .unwrap();
    assert_eq!((o.summary.counted, o.summary.rejected_total()), (1, 0));
    // AWS marks packets S3 sent (`pkt-src-aws-service`): S3 answering an instance is no
    // connection (the S3 rule, where AWS says so itself); to the load balancer it counts.
    let s3 = |eni: &str, dst: &str| {
        format!(
            "5 vpc-0a1b {eni} {A} ingress 52.92.16.5 {dst} 443 49152 6 {NOON} {} ACCEPT OK S3",
            NOON + 60
        )
    };
    let lines = [s3("eni-web", "10.0.2.20"), s3("eni-alb", "10.0.1.10")];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let msg = logs_message(A, "/vpc/custom", &refs, NOON * 1000);
    let o = ingestor
        .handle(FlowEvent::from_value(&logs_event(&msg)).unwrap(), now())
        .await
        .unwrap();
    assert_eq!(o.summary.skipped, BTreeMap::from([("s3_to_instance", 1)]));
    assert_eq!(o.summary.counted, 1);
    // Another log group falls back to FLOW_LOG_FORMAT (no account-id: the map's; no log-status).
    let setting = format!("eni-web 1.1.1.1 10.0.2.20 8080 ACCEPT {NOON}");
    let msg = logs_message(A, "/vpc/other", &[setting.as_str()], NOON * 1000);
    let o = ingestor
        .handle(FlowEvent::from_value(&logs_event(&msg)).unwrap(), now())
        .await
        .unwrap();
    assert_eq!((o.summary.counted, o.summary.rejected_total()), (1, 0));
    // A v2 line in that group has the wrong field count for the setting's format.
    let v2line = v2(A, "eni-web", "8.8.8.8", "10.0.2.20", 443, NOON, "ACCEPT");
    let msg = logs_message(A, "/vpc/other", &[v2line.as_str()], NOON * 1000);
    let o = ingestor
        .handle(FlowEvent::from_value(&logs_event(&msg)).unwrap(), now())
        .await
        .unwrap();
    assert_eq!(o.summary.rejected, BTreeMap::from([("field_count", 1)]));
    let got = sorted(ingestor.store().day_connections(DAY).await.unwrap());
    assert_eq!(
        got,
        rows(&[(
            "111111111111/eu-west-1",
            &[
                ("1.1.1.1", "web/52.16.0.20", 8080, 1),
                (
                    "52.92.16.5",
                    "shop-123.eu-west-1.elb.amazonaws.com",
                    49152,
                    1
                ),
                ("8.8.8.8", "web/52.16.0.20", 443, 1)
            ]
        )])
    );
}

#[tokio::test]
async fn a_one_node_cluster_is_detected_and_counts_once() {
    let server = RedisServer::start_cluster();
    counts_once_on_a_cluster(server.url()).await;
}

/// Three masters: each (day, account/region) script runs on the node owning its slot (`MOVED`
/// followed), a busy day spreads over the nodes, and redelivery still counts once.
#[tokio::test]
async fn a_three_master_cluster_spreads_a_day_and_counts_once() {
    let cluster = RedisCluster::start_three_masters();
    counts_once_on_a_cluster(cluster.url()).await;
    // A day of 30 account/regions: their counters land on every node.
    let store = RedisStore::connect(&config(cluster.url(), 0).redis)
        .await
        .unwrap();
    let before = cluster.keys_per_node();
    let accounts: Vec<String> = (0..30)
        .map(|i| format!("{:012}", 700_000_000_000u64 + i))
        .collect();
    let increments: Vec<connection_tracker::store::Increment> = accounts
        .iter()
        .map(|account| connection_tracker::store::Increment {
            account,
            region: "eu-west-1",
            member: keys::connection_member("8.8.8.8", "lb", 443),
            count: 2,
            bare_ip: Some("8.8.8.8".parse().unwrap()),
        })
        .collect();
    let batch = connection_tracker::testing::one_payload(DAY, "spread", increments);
    assert_eq!(store.write(&batch).await.unwrap().applied, 1);
    assert_eq!(store.write(&batch).await.unwrap().duplicates, 1);
    let after = cluster.keys_per_node();
    assert!(
        before.iter().zip(&after).all(|(b, a)| a > b),
        "every node got counters: {before:?} → {after:?}"
    );
    let got = store.day_connections(DAY).await.unwrap();
    for account in &accounts {
        assert_eq!(
            got[&format!("{account}/eu-west-1")][0].score,
            2,
            "{account}"
        );
    }
}

async fn counts_once_on_a_cluster(url: String) {
    let mut cfg = config(url, 0);
    // A logs for B's interface too, as the owner of a shared VPC: two account/regions, one day.
    cfg.shared_vpc_owners = vec![A.into()];
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    assert!(store.is_cluster(), "INFO cluster says cluster_enabled:1");
    seed(&store).await;
    let ingestor = Ingestor::new(store, cfg);
    let lines = vec![
        v2(A, "eni-alb", "8.8.8.8", "10.0.1.10", 443, NOON, "ACCEPT"),
        v2(B, "eni-api", "8.8.8.8", "10.1.0.5", 443, NOON, "ACCEPT"),
        v2(
            A,
            "eni-alb",
            "8.8.8.8",
            "10.0.1.10",
            443,
            NOON - 86_400,
            "ACCEPT",
        ),
    ];
    let o = ingestor.handle(event(&lines), now()).await.unwrap();
    assert_eq!(o.summary.counted, 3);
    let again = ingestor.handle(event(&lines), now()).await.unwrap();
    assert_eq!(again.summary.duplicates, 2);
    let got = ingestor.store().day_connections(DAY).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got["222222222222/us-east-1"][0].score, 1);
    let snapshot = ingestor.store().load_inventory().await.unwrap();
    assert_eq!(snapshot.interfaces.len(), 10);
}

#[tokio::test]
async fn tls_connections_count_and_certificates_are_verified_by_default() {
    let server = RedisServer::start_tls();
    // With verification (the default for rediss://), a self-signed certificate is refused.
    let verified = RedisConfig {
        url: server.url().replace("/#insecure", ""),
        cluster: None,
        timeout: Duration::from_secs(2),
    };
    let err = RedisStore::connect(&verified)
        .await
        .err()
        .expect("an untrusted certificate is refused");
    assert!(
        err.to_string()
            .starts_with("cannot connect to Redis at rediss://127.0.0.1:"),
        "{err}"
    );
    // Accepting it (as a test may), batches are counted over TLS.
    let ingestor = setup(&server, 0).await;
    let lines = vec![v2(
        A,
        "eni-alb",
        "8.8.8.8",
        "10.0.1.10",
        443,
        NOON,
        "ACCEPT",
    )];
    let outcome = ingestor.handle(event(&lines), now()).await.unwrap();
    assert_eq!(outcome.summary.counted, 1);
    let got = ingestor.store().day_connections(DAY).await.unwrap();
    assert_eq!(got["111111111111/eu-west-1"][0].score, 1);
}

#[tokio::test]
async fn a_scan_folds_into_prefixes_then_other_and_the_totals_stay_exact() {
    let server = RedisServer::start();
    let mut cfg = config(server.url(), 0);
    cfg.limits = RowLimits {
        max_sources_per_endpoint: 3,
        max_prefixes_per_endpoint: 2,
        max_unnamed_per_day: 2,
        ..RowLimits::DEFAULT
    };
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    let ingestor = Ingestor::new(store, cfg);
    let alb = |src: &str, port: u16| v2(A, "eni-alb", src, "10.0.1.10", port, NOON, "ACCEPT");
    const LB: &str = "shop-123.eu-west-1.elb.amazonaws.com";

    // Three addresses fill the endpoint's exact rows; a named network never folds.
    let first: Vec<String> = ["8.8.8.8", "8.8.8.8", "1.1.1.1", "9.9.9.9", "85.1.2.3"]
        .iter()
        .map(|s| alb(s, 443))
        .collect();
    ingestor.handle(event(&first), now()).await.unwrap();
    // Then a scan: new addresses in four prefixes (two fit), a kept address again, the named
    // network again, and a new address on another port of the same load balancer.
    let mut second: Vec<String> = [
        "45.33.1.1",
        "45.33.1.2",
        "45.33.2.1",
        "45.33.3.1",
        "45.33.3.2",
        "2a00:1450:4001::1",
        "8.8.8.8",
        "85.1.9.9",
    ]
    .iter()
    .map(|s| alb(s, 443))
    .collect();
    second.push(alb("7.7.7.7", 8443));
    let outcome = ingestor.handle(event(&second), now()).await.unwrap();
    assert_eq!(outcome.summary.counted, 9);
    let again = ingestor.handle(event(&second), now()).await.unwrap();
    assert_eq!(
        again.summary.duplicates, 1,
        "a redelivered scan counts once"
    );

    let rows = ingestor.store().day_connections(DAY).await.unwrap();
    let rows = &rows["111111111111/eu-west-1"];
    let on = |port: u16| -> BTreeMap<String, u64> {
        rows.iter()
            .filter(|c| c.dest == LB && c.dest_port == DestPort::Port(port))
            .map(|c| (c.source.clone(), c.score))
            .collect()
    };
    let https = on(443);
    // Every record of the endpoint is in exactly one row.
    assert_eq!(https.values().sum::<u64>(), 13, "{https:?}");
    for (source, score) in [
        ("8.8.8.8", 3),
        ("1.1.1.1", 1),
        ("9.9.9.9", 1),
        ("office", 2),
    ] {
        assert_eq!(https.get(source), Some(&score), "{source}: {https:?}");
    }
    let prefixes: Vec<&String> = https.keys().filter(|s| s.contains('/')).collect();
    assert_eq!(prefixes.len(), 2, "{https:?}");
    for p in &prefixes {
        assert!(
            [
                "45.33.1.0/24",
                "45.33.2.0/24",
                "45.33.3.0/24",
                "2a00:1450:4001::/48"
            ]
            .contains(&p.as_str()),
            "{p}"
        );
    }
    assert!(https.get("other").is_some_and(|&n| n >= 1), "{https:?}");
    assert_eq!(
        https.len(),
        7,
        "3 addresses, office, 2 prefixes, other: {https:?}"
    );
    // The bound is per endpoint: another port keeps its own addresses.
    assert_eq!(on(8443), BTreeMap::from([("7.7.7.7".to_string(), 1)]));

    // The distinct-source estimate sees every source, folded or not.
    let hll = keys::endpoint_sources(DAY, A, "eu-west-1", &format!("{LB}\t443"));
    let distinct: u64 = server.cli(&["PFCOUNT", &hll]).trim().parse().unwrap();
    assert!(
        (9..=11).contains(&distinct),
        "10 distinct sources, estimated {distinct}"
    );
    // Only addresses kept exactly wait for reverse DNS, at most MAX_UNNAMED_PER_DAY of them.
    let unnamed = ingestor.store().day_unnamed(DAY).await.unwrap();
    assert_eq!(unnamed.len(), 2, "{unnamed:?}");
    assert!(unnamed
        .iter()
        .all(|ip| ["8.8.8.8", "1.1.1.1", "9.9.9.9"].contains(&ip.as_str())));
}

/// Redis full (`maxmemory` with `noeviction`): the batch fails as a whole and is retried by
/// Lambda; after room is made the retry counts once, and a further retry counts nothing.
#[tokio::test]
async fn a_full_redis_refuses_the_batch_whole_and_the_retry_counts_once() {
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    let first: Vec<String> = vec![v2(
        A,
        "eni-alb",
        "8.8.8.8",
        "10.0.1.10",
        443,
        NOON,
        "ACCEPT",
    )];
    ingestor.handle(event(&first), now()).await.unwrap();
    let before = sorted(ingestor.store().day_connections(DAY).await.unwrap());

    server.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    server.cli(&["CONFIG", "SET", "maxmemory", "1"]);
    let batch: Vec<String> = ["1.1.1.1", "9.9.9.9", "8.8.8.8"]
        .iter()
        .map(|src| v2(A, "eni-alb", src, "10.0.1.10", 443, NOON, "ACCEPT"))
        .chain([v2(
            A,
            "eni-alb",
            "8.8.8.8",
            "10.0.1.10",
            443,
            NOON - 86_400,
            "ACCEPT",
        )])
        .collect();
    // Refused whole: by the server (OOM) here, as the first batch's fill reading still stands
    // (it saw no limit a moment ago); by ingest itself once it reads the fill again.
    let err = ingestor.handle(event(&batch), now()).await.unwrap_err();
    assert!(err.to_string().contains("OOM"), "{err}");
    assert_eq!(
        sorted(ingestor.store().day_connections(DAY).await.unwrap()),
        before,
        "nothing of the refused batch was written"
    );

    server.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    let retry = ingestor.handle(event(&batch), now()).await.unwrap();
    assert_eq!((retry.summary.counted, retry.summary.duplicates), (4, 0));
    let again = ingestor.handle(event(&batch), now()).await.unwrap();
    assert_eq!(
        again.summary.duplicates, 2,
        "both days of the batch were counted already"
    );
    let https: u64 = ingestor.store().day_connections(DAY).await.unwrap()["111111111111/eu-west-1"]
        .iter()
        .map(|c| c.score)
        .sum();
    assert_eq!(
        https, 4,
        "one record before, three from the batch: none twice"
    );
}

/// A Kinesis batch's decompressed bytes are bounded: past MAX_BATCH_DECOMPRESSED_BYTES the rest
/// of the records are handed back, and the next invocation (from the first one handed back)
/// counts them, each once.
#[tokio::test]
async fn a_kinesis_batch_past_its_decompression_budget_hands_the_rest_back() {
    let server = RedisServer::start();
    // Each payload: 500 lines from one source.
    let message = |src: &str| {
        let lines: Vec<String> = (0..500)
            .map(|_| v2(B, "eni-api", src, "10.1.0.5", 443, NOON, "ACCEPT"))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        logs_message(B, "/vpc/flow-logs", &refs, NOON * 1000).to_string()
    };
    let messages: Vec<String> = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]
        .iter()
        .map(|s| message(s))
        .collect();
    let size = messages[0].len();
    let mut cfg = config(server.url(), 0);
    // The first payload fits, the second passes the budget, the rest wait.
    cfg.max_batch_decompressed_bytes = size + size / 2;
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    let ingestor = Ingestor::new(store, cfg);
    let datas: Vec<String> = messages
        .iter()
        .map(|m| encode_payload(m.as_bytes()))
        .collect();
    let event = kinesis_event(&datas);
    let seq = |i: usize| {
        event["Records"][i]["kinesis"]["sequenceNumber"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = ingestor.handle_value(event.clone()).await.unwrap();
    // Two records decoded (the second passes the budget), two handed back.
    assert_eq!(first.item_failures(), vec![seq(2), seq(3)]);
    assert_eq!(first.summary.counted, 1000);
    assert_eq!(
        first.summary.failed_payloads,
        BTreeMap::from([("deferred_batch_budget", 2)])
    );
    // Lambda resumes from the first record handed back.
    let rest = kinesis_event(&datas[2..]);
    let second = ingestor.handle_value(rest).await.unwrap();
    assert!(second.item_failures().is_empty());
    assert_eq!(second.summary.counted, 1000);
    let rows = ingestor.store().day_connections(DAY).await.unwrap();
    let scores: BTreeMap<&str, u64> = rows["222222222222/us-east-1"]
        .iter()
        .map(|c| (c.source.as_str(), c.score))
        .collect();
    assert_eq!(
        scores,
        BTreeMap::from([
            ("1.1.1.1", 500),
            ("2.2.2.2", 500),
            ("3.3.3.3", 500),
            ("4.4.4.4", 500)
        ])
    );
}

#[tokio::test]
async fn events_counted_as_one_batch_give_what_they_give_one_by_one() {
    // Three events (two share a connection), counted one by one into one server and as one
    // batch into another: the same rows, the same distinct-source estimates.
    let sources = ["8.8.8.8", "1.1.1.1", "85.1.9.9", "34.240.0.1"];
    let events: Vec<String> = (0..3u64)
        .map(|e| {
            let lines: Vec<String> = (0..4)
                .map(|i| {
                    let src = sources[(e as usize + i) % sources.len()];
                    v2(
                        A,
                        "eni-alb",
                        src,
                        "10.0.1.10",
                        443 + (i % 2) as u16,
                        NOON + e,
                        "ACCEPT",
                    )
                })
                .collect();
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let msg = logs_message(A, "/vpc/flow-logs", &refs, NOON * 1000 + e);
            encode_payload(msg.to_string().as_bytes())
        })
        .collect();
    let datas: Vec<&str> = events.iter().map(String::as_str).collect();
    let (alone, together) = (RedisServer::start(), RedisServer::start());
    let one_by_one = setup(&alone, 0).await;
    for data in &events {
        let event = FlowEvent::Logs { data: data.clone() };
        one_by_one.handle(event, now()).await.unwrap();
    }
    let batched = setup(&together, 3600).await;
    let trips = batched.store().round_trips();
    let batch = batched
        .handle_logs_events(&datas, now(), None)
        .await
        .unwrap();
    // The inventory, the cache's fill, then one write for the three.
    assert_eq!(batched.store().round_trips() - trips, 3);
    assert!(batch
        .events
        .iter()
        .all(|e| matches!(e, LogsEventEnd::Counted)));
    assert_eq!((batch.summary.payloads, batch.summary.counted), (3, 12));
    assert_eq!(batch.summary.duplicates, 0);
    let want = one_by_one.store().day_connections(DAY).await.unwrap();
    assert_eq!(batched.store().day_connections(DAY).await.unwrap(), want);
    let endpoints: std::collections::BTreeSet<String> = want
        .values()
        .flatten()
        .map(|c| keys::endpoint(&c.dest, c.dest_port))
        .collect();
    assert_eq!(endpoints.len(), 2, "443 and 444 of the load balancer");
    for endpoint in &endpoints {
        let estimate = |server: &RedisServer| {
            server.cli(&[
                "PFCOUNT",
                &keys::endpoint_sources(DAY, A, "eu-west-1", endpoint),
            ])
        };
        assert_eq!(estimate(&together), estimate(&alone), "{endpoint}");
        assert_ne!(estimate(&together).trim(), "0", "{endpoint}");
    }

    // Again, with one of the three new: the merged group finds two counted before, writes
    // nothing, and the three go again one by one (a second round trip): only the new one
    // counts.
    let lines = [v2(
        A,
        "eni-alb",
        "9.9.9.9",
        "10.0.1.10",
        443,
        NOON,
        "ACCEPT",
    )];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let fresh = encode_payload(
        logs_message(A, "/vpc/flow-logs", &refs, NOON * 1000 + 9)
            .to_string()
            .as_bytes(),
    );
    let trips = batched.store().round_trips();
    let again = batched
        .handle_logs_events(&[datas[0], fresh.as_str(), datas[2]], now(), None)
        .await
        .unwrap();
    assert_eq!(batched.store().round_trips() - trips, 2);
    assert_eq!((again.summary.duplicates, again.summary.counted), (2, 9));
    let got = batched.store().day_connections(DAY).await.unwrap();
    let total = |rows: &BTreeMap<String, Vec<Connection>>| -> u64 {
        rows.values().flatten().map(|c| c.score).sum()
    };
    assert_eq!(total(&got), total(&want) + 1);

    // An undecodable event fails alone; an old one is refused; the others count.
    let refuse_before = NOON as i64 * 1000 + 5;
    let old = batched
        .handle_logs_events(
            &["not base64!", datas[1], fresh.as_str()],
            now(),
            Some(refuse_before),
        )
        .await
        .unwrap();
    assert!(
        matches!(old.events[0], LogsEventEnd::Failed(IngestError::Decode(_))),
        "{:?}",
        old.events
    );
    assert!(
        matches!(old.events[1], LogsEventEnd::TooOld { newest_ms } if newest_ms == NOON * 1000 + 1),
        "{:?}",
        old.events
    );
    assert!(
        matches!(old.events[2], LogsEventEnd::Counted),
        "{:?}",
        old.events
    );
    assert_eq!((old.summary.payloads, old.summary.duplicates), (1, 1));
}

/// Redis's `used_memory`, as `INFO memory` reports it.
fn used_memory(server: &RedisServer) -> u64 {
    server
        .cli(&["INFO", "memory"])
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO memory has used_memory")
}

#[tokio::test]
async fn a_port_scan_and_unseen_addresses_stay_bounded_and_exact() {
    // `docs/rules.md`, "Bounds": one source to every port of an instance with an open security
    // group, and 20,000 addresses the refresh never saw on the same interface, with the
    // default bounds (256 ports per destination).
    let server = RedisServer::start();
    let cfg = config(server.url(), 0);
    assert_eq!(cfg.limits.max_ports_per_endpoint, 256);
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    let ingestor = Ingestor::new(store, cfg);
    let rows_before: usize = ingestor
        .store()
        .day_connections(DAY)
        .await
        .unwrap()
        .values()
        .map(Vec::len)
        .sum();
    let before = used_memory(&server);
    let web = |dst: String, port: u16| v2(A, "eni-web", "45.33.1.1", &dst, port, NOON, "ACCEPT");
    let scan = (1..=u16::MAX).map(|port| web("10.0.2.20".into(), port));
    let unseen =
        (0..20_000u32).map(|n| web(format!("10.0.{}.{}", 100 + n / 250, 1 + n % 250), 443));
    // Real traffic in the scan's first batch: busier rows are admitted first, so it keeps its
    // port whatever the scan does.
    let real = (0..10).map(|_| v2(A, "eni-web", "45.33.2.2", "10.0.2.20", 9000, NOON, "ACCEPT"));
    let lines: Vec<String> = real.chain(scan).chain(unseen).collect();
    let (mut counted, mut flagged) = (0, 0);
    for chunk in lines.chunks(5_000) {
        let outcome = ingestor.handle(event(chunk), now()).await.unwrap();
        counted += outcome.summary.counted;
        flagged += outcome
            .summary
            .flagged
            .get("unknown_destination_address")
            .copied()
            .unwrap_or(0);
    }
    assert_eq!((counted, flagged), (85_545, 20_000));
    let grown = used_memory(&server).saturating_sub(before);
    let rows = ingestor.store().day_connections(DAY).await.unwrap();
    let mine = &rows["111111111111/eu-west-1"];
    let scanned: Vec<&Connection> = mine.iter().filter(|c| c.source == "45.33.1.1").collect();
    // Every record is in exactly one row: 256 ports kept, the rest folded into `other`, and
    // the unseen addresses under the interface's own name.
    assert_eq!(scanned.iter().map(|c| c.score).sum::<u64>(), 85_535);
    assert!(
        scanned.iter().all(|c| c.dest == "web/52.16.0.20"),
        "a record named a new destination"
    );
    // 9000 first (busiest), then the lowest ports while there is room: 256 in all; the rest
    // (443 among them, where the unseen addresses went) folded into `other`.
    let mut ports: Vec<DestPort> = scanned.iter().map(|c| c.dest_port).collect();
    ports.sort();
    let kept: Vec<DestPort> = (1..=255)
        .chain([9000])
        .map(DestPort::Port)
        .chain([DestPort::Other])
        .collect();
    assert_eq!(ports, kept);
    let score = |port: DestPort| scanned.iter().find(|c| c.dest_port == port).unwrap().score;
    assert_eq!(score(DestPort::Other), 65_535 - 256 + 20_000);
    let real = mine.iter().find(|c| c.source == "45.33.2.2").unwrap();
    assert_eq!((real.dest_port, real.score), (DestPort::Port(9000), 10));
    let rows_after: usize = rows.values().map(Vec::len).sum();
    eprintln!(
        "port scan (65,535 ports) + 20,000 unseen addresses: Redis +{grown} bytes, {} rows added",
        rows_after - rows_before
    );
    assert!(
        rows_after - rows_before <= 300,
        "{} rows added",
        rows_after - rows_before
    );
    assert!(grown <= 2 << 20, "Redis grew {grown} bytes");
    // The plain route still answers, the folded port as `other`.
    let api = Api::new(
        ingestor.store().clone(),
        &ApiConfig {
            redis: RedisConfig {
                url: server.url(),
                cluster: None,
                timeout: Duration::from_secs(5),
            },
            max_range_days: 31,
            retention_days: 90,
            max_rows: connection_tracker::config::defaults::DEFAULT_API_MAX_ROWS,
            networks: Networks::default(),
        },
    );
    let request = Request {
        method: "GET",
        path: "/connections",
        query: "date=2026-11-27",
        accepts_gzip: false,
        request_id: "scan",
    };
    let response = api
        .handle(request, time::macros::date!(2026 - 11 - 27))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = response.json();
    let folded = answer["111111111111/eu-west-1"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == "45.33.1.1" && c["dest_port"] == "other")
        .cloned();
    assert_eq!(
        folded.map(|c| c["score"].clone()),
        Some(serde_json::json!(65_535 - 256 + 20_000))
    );
    // The exposure review's sums follow the rows' bounds: one field per kept port and the
    // folded one (unnamed IPv4 sources), every record in one of them.
    let used = server.cli(&[
        "HGETALL",
        &connection_tracker::store::keys::used(DAY, A, "eu-west-1"),
    ]);
    let lines: Vec<&str> = used.lines().collect();
    let web_sums: Vec<(&str, u64)> = lines
        .chunks(2)
        .filter(|p| p.len() == 2 && p[0].starts_with("web/52.16.0.20\t"))
        .map(|p| (p[0], p[1].parse().unwrap()))
        .collect();
    assert_eq!(web_sums.len(), 257, "{web_sums:?}");
    assert!(
        web_sums.iter().all(|(f, _)| f.ends_with("\t4")),
        "{web_sums:?}"
    );
    assert_eq!(web_sums.iter().map(|(_, n)| n).sum::<u64>(), 85_535 + 10);
    let review = api
        .handle(
            Request {
                method: "GET",
                path: "/exposure",
                query: "",
                accepts_gzip: false,
                request_id: "scan-review",
            },
            time::macros::date!(2026 - 11 - 27),
        )
        .await;
    assert_eq!(review.status, 200, "{}", review.text());
}

#[tokio::test]
async fn at_the_cache_limit_batches_are_refused_not_evicted_and_later_count_once() {
    // An ElastiCache Serverless cache at its limit evicts keys with a TTL (every counter has
    // one): redis-server with `maxmemory` and `volatile-lru` does the same. Ingest refuses the
    // batches past 90 % instead, and counts them once there is room.
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    let limit = used_memory(&server) + (4 << 20);
    server.cli(&["CONFIG", "SET", "maxmemory-policy", "volatile-lru"]);
    server.cli(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    // Batch `b`: 2,000 new sources on a day of its own (every row new, every key a TTL).
    let batch = |b: u64| -> Vec<String> {
        (0..2_000u64)
            .map(|n| {
                let src = format!("45.{}.{}.{}", b + 1, n / 250, 1 + n % 250);
                let port = 443 + (n % 8) as u16;
                v2(
                    A,
                    "eni-alb",
                    &src,
                    "10.0.1.10",
                    port,
                    NOON - b * 86_400,
                    "ACCEPT",
                )
            })
            .collect()
    };
    let (mut written, mut refused) = (Vec::new(), Vec::new());
    for b in 0..60 {
        match ingestor.handle(event(&batch(b)), now()).await {
            Ok(outcome) => {
                assert!(
                    refused.is_empty(),
                    "a batch written after a refusal, the cache still full"
                );
                assert_eq!(outcome.summary.counted, 2_000);
                written.push(b);
            }
            Err(e) => {
                assert!(e.to_string().contains("the cache is"), "{e}");
                refused.push(b);
            }
        }
    }
    let stats = server.cli(&["INFO", "stats"]);
    let evicted = stats
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .unwrap();
    eprintln!(
        "limit {limit} bytes: {} batches written, {} refused, evicted_keys {}",
        written.len(),
        refused.len(),
        evicted.trim()
    );
    assert!(
        written.len() >= 3 && refused.len() >= 3,
        "{written:?} {refused:?}"
    );
    assert_eq!(evicted.trim(), "0", "the cache evicted keys");
    let used = used_memory(&server);
    assert!(
        used * 100 < limit * 95,
        "{used} of {limit}: written past the line"
    );
    // Kinesis records are refused the same way: reported back, counted by reason.
    let record = |src: &str| {
        let line = v2(A, "eni-alb", src, "10.0.1.10", 443, NOON, "ACCEPT");
        encode_payload(
            logs_message(A, "/vpc/flow-logs", &[line.as_str()], NOON * 1000)
                .to_string()
                .as_bytes(),
        )
    };
    let records = [record("45.99.0.1"), record("45.99.0.2")];
    let outcome = ingestor
        .handle_value(kinesis_event(&records))
        .await
        .unwrap();
    assert_eq!(outcome.summary.failed_payloads.get("cache_full"), Some(&2));

    // Room again (the cache scaled, or retention dropped days): the retries count once, a
    // redelivery of a written batch counts nothing.
    server.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    for &b in &refused {
        let outcome = ingestor.handle(event(&batch(b)), now()).await.unwrap();
        assert_eq!(outcome.summary.counted, 2_000);
    }
    let again = ingestor
        .handle(event(&batch(written[0])), now())
        .await
        .unwrap();
    assert_eq!(again.summary.duplicates, 1);
    for b in 0..60u64 {
        let day = time::OffsetDateTime::from_unix_timestamp((NOON - b * 86_400) as i64).unwrap();
        let day = connection_tracker::day::day_string(day.date());
        let rows = ingestor.store().day_connections(&day).await.unwrap();
        let total: u64 = rows.values().flatten().map(|c| c.score).sum();
        assert_eq!(total, 2_000, "day {day}: every record of batch {b} once");
    }
}

/// Interfaces the refresh finds only after their lines arrived: an ALB's new node (in the
/// account/region whose known interfaces share its message) and a new instance (alone in its
/// own messages, one log stream per interface as VPC Flow Logs writes them).
fn new_interfaces() -> InventoryFile {
    let mut node = interface(
        "eni-alb-new",
        A,
        "eu-west-1",
        "ELB app/shop/50dc6c495c0c9188",
        "10.0.1.13",
        "52.16.0.13",
    );
    node.lb_dns_name = Some("shop-123.eu-west-1.elb.amazonaws.com".into());
    let mut box1 = interface(
        "eni-new1",
        A,
        "eu-west-1",
        "Primary network interface",
        "10.0.2.21",
        "52.16.0.21",
    );
    box1.instance_name = Some("box1".into());
    let mut box2 = interface(
        "eni-new2",
        A,
        "eu-west-1",
        "Primary network interface",
        "10.0.2.22",
        "52.16.0.22",
    );
    box2.instance_name = Some("box2".into());
    InventoryFile {
        interfaces: vec![node, box1, box2],
        addresses: BTreeMap::new(),
        formats: BTreeMap::new(),
    }
}

/// The score of one row of A's day, 0 when there is none.
async fn score_of(ingestor: &Ingestor<RedisStore>, source: &str, dest: &str, port: u16) -> u64 {
    let got = ingestor.store().day_connections(DAY).await.unwrap();
    got.get("111111111111/eu-west-1")
        .into_iter()
        .flatten()
        .find(|c| c.source == source && c.dest == dest && c.dest_port == DestPort::Port(port))
        .map_or(0, |c| c.score)
}

#[tokio::test]
async fn lines_of_an_interface_found_later_are_parked_and_counted_once() {
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    let shop = "shop-123.eu-west-1.elb.amazonaws.com";
    // X1: the ALB's known node and its new one, in one message (their account/region counted
    // lines of X1 at first); X2 and X3: the new instances' own messages.
    let x1 = [
        v2(A, "eni-alb", "8.8.8.8", "10.0.1.10", 443, NOON, "ACCEPT"),
        v2(
            A,
            "eni-alb-new",
            "8.8.4.4",
            "10.0.1.13",
            443,
            NOON,
            "ACCEPT",
        ),
        v2(
            A,
            "eni-alb-new",
            "8.8.4.4",
            "10.0.1.13",
            443,
            NOON + 5,
            "ACCEPT",
        ),
    ];
    let x2 = [v2(
        A,
        "eni-new1",
        "9.9.9.9",
        "10.0.2.21",
        22,
        NOON,
        "ACCEPT",
    )];
    let x3 = [v2(
        A,
        "eni-new2",
        "1.1.1.1",
        "10.0.2.22",
        3306,
        NOON,
        "ACCEPT",
    )];
    let first = ingestor.handle(event(&x1), now()).await.unwrap().summary;
    assert_eq!((first.counted, first.parked), (1, 2), "{first:?}");
    assert_eq!(first.skipped["unknown_interface"], 2);
    for x in [&x2, &x3] {
        let s = ingestor.handle(event(x), now()).await.unwrap().summary;
        assert_eq!((s.counted, s.parked, s.park_refused), (0, 1, 0), "{s:?}");
    }
    // Before the refresh has found them, the scheduled run leaves them waiting.
    let run = ingestor.unpark(now(), None).await;
    assert_eq!(
        (run.counted, run.waiting, run.expired),
        (0, 4, 0),
        "{run:?}"
    );
    assert_eq!(score_of(&ingestor, "8.8.4.4", shop, 443).await, 0);

    ingestor
        .store()
        .put_inventory(&new_interfaces())
        .await
        .unwrap();
    // Redelivered after the refresh, before the scheduled run: X1 counts nothing more (its id
    // is in the account/region's day already), X3 counts its line as new.
    let again = ingestor.handle(event(&x1), now()).await.unwrap().summary;
    assert_eq!((again.counted, again.duplicates), (3, 1), "{again:?}");
    assert_eq!(score_of(&ingestor, "8.8.4.4", shop, 443).await, 0);
    ingestor.handle(event(&x3), now()).await.unwrap();
    assert_eq!(
        score_of(&ingestor, "1.1.1.1", "box2/52.16.0.22", 3306).await,
        1
    );

    let run = ingestor.unpark(now(), None).await;
    assert_eq!(
        (run.counted, run.waiting, run.stopped.clone()),
        (4, 0, None),
        "{run:?}"
    );
    let rows = [
        ("8.8.8.8", shop, 443, 1),
        ("8.8.4.4", shop, 443, 2),
        ("9.9.9.9", "box1/52.16.0.21", 22, 1),
        ("1.1.1.1", "box2/52.16.0.22", 3306, 1),
    ];
    for (source, dest, port, want) in rows {
        assert_eq!(
            score_of(&ingestor, source, dest, port).await,
            want,
            "{source} → {dest}"
        );
    }
    // Nothing is left to take back, and the parked key and its index are gone.
    let run = ingestor.unpark(now(), None).await;
    assert_eq!((run.counted, run.waiting), (0, 0), "{run:?}");
    let pair = connection_tracker::model::AccountRegion::new(A, "eu-central-1").unwrap();
    assert_eq!(
        server.cli(&["EXISTS", &keys::parked_lines(&pair)]).trim(),
        "0"
    );
    assert_eq!(server.cli(&["SCARD", keys::PARKED_PAIRS]).trim(), "0");
    // Every payload redelivered once more: nothing counts twice.
    for x in [&x1[..], &x2[..], &x3[..]] {
        ingestor.handle(event(x), now()).await.unwrap();
    }
    for (source, dest, port, want) in rows {
        assert_eq!(
            score_of(&ingestor, source, dest, port).await,
            want,
            "{source} → {dest}"
        );
    }
}

#[tokio::test]
async fn parked_lines_stay_within_their_bound_and_expire() {
    let server = RedisServer::start();
    let mut cfg = config(server.url(), 0);
    cfg.parking.max_lines_per_account_region = 5;
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    let ingestor = Ingestor::new(store, cfg.clone());
    // A flood: one Kinesis batch of 3 records, 4 lines each, every line of another interface
    // nobody knows (a crafted burst, or a scale-out of hundreds of nodes).
    let datas: Vec<String> = (0..3)
        .map(|r| {
            let lines: Vec<String> = (0..4)
                .map(|i| {
                    v2(
                        A,
                        &format!("eni-flood{r}{i}"),
                        "8.8.8.8",
                        "10.9.0.1",
                        80,
                        NOON,
                        "ACCEPT",
                    )
                })
                .collect();
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            encode_payload(
                logs_message(A, "/vpc/flow-logs", &refs, NOON * 1000)
                    .to_string()
                    .as_bytes(),
            )
        })
        .collect();
    let batch = FlowEvent::from_value(&kinesis_event(&datas)).unwrap();
    let s = ingestor.handle(batch, now()).await.unwrap().summary;
    assert_eq!(s.skipped["unknown_interface"], 12);
    // The bound of 5 holds the first record's 4 lines and one of the second's; the other 7
    // stay skipped, refused and said.
    assert_eq!((s.parked, s.park_refused), (5, 7), "{s:?}");
    // An account the refresh does not know is not parked at all (its lines cannot name keys).
    let stranger = logs_message(
        "999999999999",
        "/vpc/flow-logs",
        &[&v2(
            "999999999999",
            "eni-x",
            "8.8.8.8",
            "10.9.0.1",
            80,
            NOON,
            "ACCEPT",
        )],
        NOON * 1000,
    );
    let s = ingestor
        .handle(
            FlowEvent::from_value(&logs_event(&stranger)).unwrap(),
            now(),
        )
        .await
        .unwrap()
        .summary;
    assert_eq!((s.parked, s.park_refused), (0, 0), "{s:?}");
    // Lines of an interface the refresh found without a public address are their own reason,
    // and a private source never counts: neither is held, whatever the room.
    server.cli(&[
        "HSET",
        keys::PRIVATE_INTERFACES,
        "eni-inside",
        &format!("{A}:eu-west-1"),
    ]);
    let inside = [
        v2(A, "eni-inside", "8.8.8.8", "10.0.9.9", 443, NOON, "ACCEPT"),
        v2(A, "eni-inside", "9.9.9.9", "10.0.9.9", 443, NOON, "ACCEPT"),
        v2(
            A,
            "eni-brand-new",
            "10.0.0.1",
            "10.0.9.8",
            443,
            NOON,
            "ACCEPT",
        ),
    ];
    let s = ingestor
        .handle(event(&inside), now())
        .await
        .unwrap()
        .summary;
    assert_eq!(s.skipped["private_interface"], 2, "{s:?}");
    assert_eq!(s.skipped["unknown_interface"], 1, "{s:?}");
    assert_eq!((s.parked, s.park_refused), (0, 0), "{s:?}");
    let pair = connection_tracker::model::AccountRegion::new(A, "eu-central-1").unwrap();
    assert_eq!(
        server
            .cli(&["HGET", &keys::parked_lines(&pair), "#"])
            .trim(),
        "5"
    );
    assert_eq!(
        server.cli(&["SMEMBERS", keys::PARKED_PAIRS]).trim(),
        format!("{A}:eu-central-1")
    );
    // Within its TTL it waits; past it, it is dropped and said.
    let run = ingestor.unpark(now(), None).await;
    assert_eq!((run.waiting, run.expired), (5, 0), "{run:?}");
    let later = now() + cfg.parking.ttl;
    let run = ingestor.unpark(later, None).await;
    assert_eq!(
        (run.counted, run.waiting, run.expired),
        (0, 0, 5),
        "{run:?}"
    );
    assert_eq!(
        server.cli(&["EXISTS", &keys::parked_lines(&pair)]).trim(),
        "0"
    );
    assert_eq!(server.cli(&["SCARD", keys::PARKED_PAIRS]).trim(), "0");
    // The room is free again.
    let again = FlowEvent::from_value(&kinesis_event(&datas[..1])).unwrap();
    let s = ingestor.handle(again, now()).await.unwrap().summary;
    assert_eq!(s.parked, 4, "{s:?}");
}

/// Transit Gateway flow logs (record version 6) carry no interface of ours: their records are
/// skipped by reason, never rejected as malformed and never counted — in AWS's default
/// transit-gateway format under the VPC default (the log group's format unknown), and under a
/// transit-gateway format the refresh or the setting gives. The lines follow the field order of
/// the default transit-gateway format in AWS's "Transit Gateway Flow Log records" (the page
/// gives the fields, not example lines).
#[tokio::test]
async fn transit_gateway_records_are_skipped_by_reason_never_rejected() {
    const TGW_FORMAT: &str = "${version} ${resource-type} ${account-id} ${tgw-id} \
        ${tgw-attachment-id} ${tgw-src-vpc-account-id} ${tgw-dst-vpc-account-id} \
        ${tgw-src-vpc-id} ${tgw-dst-vpc-id} ${tgw-src-subnet-id} ${tgw-dst-subnet-id} \
        ${tgw-src-eni} ${tgw-dst-eni} ${tgw-src-az-id} ${tgw-dst-az-id} \
        ${tgw-pair-attachment-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} \
        ${packets} ${bytes} ${start} ${end} ${log-status} ${type} ${packets-lost-no-route} \
        ${packets-lost-blackhole} ${packets-lost-mtu-exceeded} ${packets-lost-ttl-expired} \
        ${tcp-flags} ${region} ${flow-direction} ${pkt-src-aws-service} ${pkt-dst-aws-service}";
    // A public source to the private address of a public interface the refresh knows: as a
    // VPC record it would count; as a transit gateway's it must not.
    let tgw = |kind: &str, eni: &str| {
        format!(
            "6 {kind} {A} tgw-0123456789abcdef0 tgw-attach-0123456789abcdef0 {A} {A} \
             vpc-0a1b2c3d4e5f67890 vpc-0f9e8d7c6b5a43210 subnet-0123456789abcdef0 \
             subnet-0fedcba9876543210 {eni} eni-0fedcba9876543210 euw1-az1 euw1-az2 \
             tgw-attach-0fedcba9876543210 8.8.8.8 10.0.1.10 49152 443 6 10 840 {NOON} {} OK \
             IPv4 0 0 0 0 3 eu-west-1 ingress - -",
            NOON + 60
        )
    };
    let lines = vec![
        tgw("TransitGateway", "eni-alb"),
        tgw("TransitGatewayAttachment", "-"),
        // A VPC line with a field missing is still malformed, and a good one still counts.
        format!("2 {A} eni-alb 8.8.8.8 10.0.1.10 49152 443 6 10 840 {NOON} ACCEPT OK"),
        v2(A, "eni-alb", "8.8.8.8", "10.0.1.10", 443, NOON, "ACCEPT"),
    ];
    let server = RedisServer::start();
    let ingestor = setup(&server, 0).await;
    let s = ingestor.handle(event(&lines), now()).await.unwrap().summary;
    assert_eq!((s.records, s.counted), (4, 1), "{s:?}");
    assert_eq!(s.skipped, BTreeMap::from([("transit_gateway", 2)]), "{s:?}");
    assert_eq!(s.rejected, BTreeMap::from([("field_count", 1)]), "{s:?}");

    // Under a transit-gateway format every record is the gateway's, whatever its fields say.
    let server = RedisServer::start();
    let mut cfg = config(server.url(), 0);
    cfg.flow_log_format = Some(FlowLogFormat::parse(TGW_FORMAT).unwrap());
    let store = RedisStore::connect(&cfg.redis).await.unwrap();
    seed(&store).await;
    let ingestor = Ingestor::new(store, cfg);
    let lines = vec![
        tgw("TransitGateway", "eni-alb"),
        "6 TransitGateway -".into(),
    ];
    let s = ingestor.handle(event(&lines), now()).await.unwrap().summary;
    assert_eq!(s.counted, 0, "{s:?}");
    assert_eq!(s.skipped, BTreeMap::from([("transit_gateway", 2)]), "{s:?}");
    assert!(s.rejected.is_empty(), "{s:?}");
    assert!(ingestor
        .store()
        .day_connections(DAY)
        .await
        .unwrap()
        .is_empty());
}
