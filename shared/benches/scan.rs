//! Redis bytes a scan costs, through the real ingest path into a real redis-server, with the
//! default bounds. Prints the growth of Redis's `used_memory` and the rows the account/region
//! ends up with. Two scans:
//!
//! - `SCAN=sources` (default): SOURCES distinct sources (1,000,000 by default) hitting one
//!   endpoint in one day;
//! - `SCAN=ports`: one source to all 65,535 ports of one instance, then 20,000 addresses the
//!   refresh never saw on the same interface.
//!
//! `cargo bench -p connection-tracker --bench scan`, `SCAN=ports cargo bench … --bench scan`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use connection_tracker::config::{IngestConfig, RedisConfig, RowLimits};
use connection_tracker::ingest::payload::FlowEvent;
use connection_tracker::ingest::Ingestor;
use connection_tracker::model::{DestPort, InventoryFile};
use connection_tracker::rules::classify::Networks;
use connection_tracker::store::RedisStore;
use connection_tracker::testing::{interface, logs_event, logs_message, RedisServer, Rng};

const ACCOUNT: &str = "111111111111";
/// 2026-11-27T12:00:00Z
const NOON: u64 = 1_795_780_800;

/// Line `at` of the port scan: ports 1–65,535 of the instance's address, then addresses the
/// refresh never saw on its interface (on port 443).
fn port_scan_line(at: u64) -> String {
    let (dst, port) = if at < 65_535 {
        ("10.0.2.20".to_string(), at + 1)
    } else {
        let n = at - 65_535;
        (format!("10.0.{}.{}", 100 + n / 250, 1 + n % 250), 443)
    };
    format!("2 {ACCOUNT} eni-web 45.33.1.1 {dst} 40000 {port} 6 1 40 {NOON} {NOON} ACCEPT OK")
}

fn used_memory(server: &RedisServer) -> u64 {
    let info = server.cli(&["INFO", "memory"]);
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO memory has used_memory")
}

#[tokio::main]
async fn main() {
    let sources: u64 = std::env::var("SOURCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let server = RedisServer::start();
    let config = IngestConfig {
        redis: RedisConfig {
            url: server.url(),
            cluster: None,
            timeout: Duration::from_secs(10),
        },
        retention_days: 3650,
        dedup_window: Duration::from_secs(72 * 3600),
        shared_vpc_owners: vec![],
        limits: RowLimits::default(),
        cache: Default::default(),
        parking: Default::default(),
        dead_letter: None,
        max_batch_decompressed_bytes: 1 << 30,
        flow_log_format: None,
        networks: Networks::default(),
        max_decompressed_bytes: 64 << 20,
        max_object_decompressed_bytes: 1 << 30,
        inventory_ttl: Duration::from_secs(3600),
        default_region: "eu-west-1".into(),
    };
    let store = RedisStore::connect(&config.redis).await.unwrap();
    let mut alb = interface(
        "eni-alb",
        ACCOUNT,
        "eu-west-1",
        "ELB net/ingress/6a3f0c1e",
        "10.0.1.10",
        "52.16.0.10",
    );
    alb.lb_dns_name = Some("ingress-1.elb.eu-west-1.amazonaws.com".into());
    let mut web = interface(
        "eni-web",
        ACCOUNT,
        "eu-west-1",
        "Primary network interface",
        "10.0.2.20",
        "52.16.0.20",
    );
    web.instance_name = Some("web".into());
    store
        .put_inventory(&InventoryFile {
            interfaces: vec![alb, web],
            ..InventoryFile::default()
        })
        .await
        .unwrap();
    let ingestor = Ingestor::new(store, config);
    let now = time::OffsetDateTime::from_unix_timestamp(NOON as i64 + 3600).unwrap();
    let before = used_memory(&server);

    // A SYN scan from spoofed addresses: every source new, all over the IPv4 space.
    let mut rng = Rng(0x5ca7_5ca7_5ca7_5ca7);
    let started = Instant::now();
    let batch = 5_000u64;
    let ports = std::env::var("SCAN").is_ok_and(|s| s == "ports");
    let sources = if ports { 65_535 + 20_000 } else { sources };
    let (mut sent, mut counted) = (0u64, 0u64);
    while sent < sources {
        let n = batch.min(sources - sent);
        let lines: Vec<String> = (sent..sent + n)
            .map(|at| {
                if ports {
                    port_scan_line(at)
                } else {
                    let ip = std::net::Ipv4Addr::from((rng.next_u64() >> 32) as u32 | 0x0100_0000);
                    format!(
                        "2 {ACCOUNT} eni-alb {ip} 10.0.1.10 40000 443 6 1 40 {NOON} {NOON} ACCEPT OK"
                    )
                }
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let message = logs_message(ACCOUNT, "/vpc/flow-logs", &refs, NOON * 1000);
        let event = FlowEvent::from_value(&logs_event(&message)).unwrap();
        counted += ingestor.handle(event, now).await.unwrap().summary.counted;
        sent += n;
    }
    let elapsed = started.elapsed();
    let after = used_memory(&server);
    let rows = ingestor
        .store()
        .day_connections("2026-11-27")
        .await
        .unwrap();
    let rows = &rows[&format!("{ACCOUNT}/eu-west-1")];
    let mut kinds: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for c in rows {
        let kind = if c.dest_port == DestPort::Other {
            "folded ports"
        } else if ports {
            "port"
        } else if c.source == "other" {
            "other"
        } else if c.source.contains('/') {
            "prefix"
        } else {
            "address"
        };
        let e = kinds.entry(kind).or_default();
        e.0 += 1;
        e.1 += c.score;
    }
    let total: u64 = rows.iter().map(|c| c.score).sum();
    if ports {
        println!("one source to 65,535 ports of one instance + 20,000 unseen addresses on it (default bounds), {elapsed:.1?}");
    } else {
        println!(
            "scan of {sources} distinct sources at one endpoint (default bounds), {elapsed:.1?}"
        );
    }
    println!(
        "Redis used_memory: {before} → {after} bytes: +{:.2} MiB",
        (after as f64 - before as f64) / (1 << 20) as f64
    );
    for (kind, (n, score)) in &kinds {
        println!("  {kind:8} rows {n:>6}  records {score:>9}");
    }
    println!("  records in rows {total}, counted {counted} (sent {sources}; the rest have private sources)");
    assert_eq!(total, counted, "the rows add up to the records counted");
}
