//! Lines from the fuzzer through the whole pure ingest path — parse, classify, count, build the
//! write — against a small estate. Beyond no panic: every line is accounted for once, the write
//! adds up to the records counted, and only days inside the accepted window are written.
#![no_main]

use connection_tracker::config::RowLimits;
use connection_tracker::ingest::inventory::Inventory;
use connection_tracker::ingest::payload::LogsMessage;
use connection_tracker::ingest::{aggregate, Context, WritePolicy};
use connection_tracker::model::InterfaceFacts;
use connection_tracker::rules::flowlog::FlowLogFormat;
use libfuzzer_sys::fuzz_target;

/// 2026-11-27T13:00:00Z
const NOW: i64 = 1_795_784_400;
const RETENTION_DAYS: u32 = 30;

fn inventory() -> Inventory {
    let mut inventory = Inventory::default();
    let ip = |s: &str| s.parse().unwrap();
    let mut alb = InterfaceFacts::new(
        "eni-alb",
        "111111111111",
        "eu-west-1",
        "ELB app/shop/50dc6c495c0c9188",
        (ip("10.0.1.10"), ip("52.16.0.10")),
    );
    alb.lb_dns_name = Some("shop-1.eu-west-1.elb.amazonaws.com".into());
    inventory.insert_interface(&alb);
    inventory.insert_interface(&InterfaceFacts::new(
        "eni-web",
        "111111111111",
        "eu-west-1",
        "Primary network interface",
        (ip("10.0.2.20"), ip("52.16.0.20")),
    ));
    inventory
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let events: Vec<serde_json::Value> = text
        .lines()
        .enumerate()
        .map(|(i, line)| serde_json::json!({"id": i.to_string(), "timestamp": (NOW as u64) * 1000, "message": line}))
        .collect();
    let json = serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "111111111111", "logGroup": "/vpc/flow-logs",
        "logStream": "s", "subscriptionFilters": ["f"], "logEvents": events,
    })
    .to_string();
    let message = LogsMessage::parse(json.as_bytes()).expect("a message we wrote parses");
    let messages = [message];
    let inventory = inventory();
    let format = FlowLogFormat::default_v2();
    let ctx = Context {
        fallback_format: &format,
        default_region: "eu-west-1",
        retention_days: RETENTION_DAYS,
        shared_vpc_owners: &[],
        now: NOW,
    };
    let agg = aggregate(&inventory, &ctx, &messages);
    let s = &agg.summary;
    let skipped: u64 = s.skipped.values().sum();
    assert_eq!(s.counted + skipped + s.rejected_total(), s.records);
    let policy = WritePolicy {
        retention_days: RETENTION_DAYS,
        dedup_window: std::time::Duration::from_secs(3600),
        limits: RowLimits::default(),
    };
    let now = time::OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    let write = agg.to_write(&["payload"], &policy, now);
    let written = write.records();
    assert_eq!(written, s.counted);
    for day in &write.days {
        assert!(day.expire_at > NOW, "{} is past the retention", day.day);
    }
});
