//! One large day: `ROWS` rows (default 1,000,000) over `PAIRS` account/regions (default 20) in
//! a real redis-server. Prints, each with its time and the peak heap above the start:
//!
//! - the evidence archive of the day, page by page into an in-memory sink (and the object's
//!   size);
//! - for comparison, the day read whole (what the archive did before it read by pages);
//! - the API's `/connections` of the day with `API_MAX_ROWS` = `ROWS`: the largest answer
//!   that bound allows, read, named and serialized (or refused past 6 MB gzipped).
//!
//! Run: `cargo bench -p connection-tracker --bench large_day`

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use connection_tracker::api::review_day;
use connection_tracker::api::{Api, Request};
use connection_tracker::config::{ApiConfig, ArchiveConfig, RedisConfig};
use connection_tracker::model::{Account, Origin};
use connection_tracker::refresh::archive::archive_closed_days;
use connection_tracker::store::{
    keys, CounterStore, EvidenceSink, Increment, ReadRequest, ReadStore, RedisStore, RefreshStore,
};
use connection_tracker::testing::alloc::{peak_since, start_peak, CountingAllocator};
use connection_tracker::testing::{one_payload, RedisServer, Rng};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const DAY: &str = "2026-11-20";

/// Keeps the size of each object put, not the object: the sink's own memory is not measured.
#[derive(Default)]
struct Sizes(Mutex<BTreeMap<String, usize>>);

impl EvidenceSink for Sizes {
    async fn put_once(&self, key: &str, body: Vec<u8>) -> Result<(String, bool), String> {
        self.0.lock().unwrap().insert(key.to_string(), body.len());
        Ok((key.to_string(), true))
    }
}

fn var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The day's rows: each account/region a few thousand endpoints, sources drawn from the whole
/// address space, counts skewed as real traffic (most 1–3, some thousands).
async fn fill(store: &RedisStore, rows: usize, pairs: usize) {
    let accounts: Vec<String> = (0..pairs)
        .map(|p| format!("{:012}", 100_000_000_000 + p))
        .collect();
    store
        .put_accounts(
            &accounts
                .iter()
                .map(|id| Account {
                    id: id.clone(),
                    name: format!("team-{id}"),
                    regions: vec![],
                    role_arn: None,
                    enabled: true,
                    origin: Origin::default(),
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    let mut rng = Rng(0x5eed);
    let per_pair = rows / pairs;
    for account in &accounts {
        for chunk in 0..per_pair.div_ceil(50_000) {
            let n = (per_pair - chunk * 50_000).min(50_000);
            let members: Vec<(String, u64)> = (0..n)
                .map(|i| {
                    let r = rng.next_u64();
                    let source = format!(
                        "{}.{}.{}.{}",
                        1 + r % 223,
                        (r >> 8) % 256,
                        (r >> 16) % 256,
                        (r >> 24) % 256
                    );
                    let dest = format!(
                        "web-{}/52.16.{}.{}",
                        (chunk * 50_000 + i) % 2000,
                        (r >> 32) % 256,
                        (r >> 40) % 256
                    );
                    let count = if r.is_multiple_of(50) {
                        1 + (r >> 48) % 5000
                    } else {
                        1 + (r >> 48) % 3
                    };
                    (
                        keys::connection_member(
                            &source,
                            &dest,
                            [22u16, 443, 80, 3389][(r % 4) as usize],
                        ),
                        count,
                    )
                })
                .collect();
            let increments = members
                .iter()
                .map(|(member, count)| Increment {
                    account,
                    region: "eu-west-1",
                    member: member.clone(),
                    count: *count,
                    bare_ip: None,
                })
                .collect();
            let id = format!("{account}-{chunk}");
            store
                .write(&one_payload(DAY, &id, increments))
                .await
                .unwrap();
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (rows, pairs) = (var("ROWS", 1_000_000), var("PAIRS", 20));
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig {
        url: server.url(),
        cluster: None,
        timeout: std::time::Duration::from_secs(30),
    })
    .await
    .unwrap();
    let started = Instant::now();
    fill(&store, rows, pairs).await;
    println!(
        "filled {rows} rows over {pairs} account/regions in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let config = ArchiveConfig {
        bucket: "bench".into(),
        prefix: "connections/".into(),
        after_hours: 48,
        max_days_per_run: 7,
        retention_days: 10,
        networks: Default::default(),
    };
    let now = time::macros::datetime!(2026-11-30 00:00 UTC);
    let sink = Sizes::default();
    let before = start_peak();
    let started = Instant::now();
    let report = archive_closed_days(&store, &sink, (&config, review_day), now, None)
        .await
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let peak = peak_since(before);
    let bytes: usize = sink.0.lock().unwrap().values().sum();
    println!(
        "archive, page by page: {} rows in {elapsed:.2} s = {:.0} rows/s; object {:.1} MiB ({:.1} B/row); peak heap above the start {:.1} MiB",
        report.rows,
        report.rows as f64 / elapsed,
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / report.rows.max(1) as f64,
        peak as f64 / (1 << 20) as f64
    );

    let before = start_peak();
    let started = Instant::now();
    let whole = store
        .read(&ReadRequest {
            days: vec![DAY.into()],
            accounts: true,
            ..ReadRequest::default()
        })
        .await
        .unwrap();
    let read: usize = whole.days[0].values().map(Vec::len).sum();
    println!(
        "for comparison, the day read whole: {read} rows in {:.2} s; peak heap above the start {:.1} MiB",
        started.elapsed().as_secs_f64(),
        peak_since(before) as f64 / (1 << 20) as f64
    );
    drop(whole);

    let api_config = ApiConfig {
        redis: RedisConfig {
            url: server.url(),
            cluster: None,
            timeout: std::time::Duration::from_secs(60),
        },
        max_range_days: 31,
        retention_days: 90,
        max_rows: rows,
        networks: Default::default(),
    };
    let api = Api::new(store, &api_config);
    let before = start_peak();
    let started = Instant::now();
    let response = api
        .handle(
            Request {
                method: "GET",
                path: "/connections",
                query: "date=2026-11-20",
                accepts_gzip: true,
                request_id: "bench",
            },
            time::macros::date!(2026 - 11 - 30),
        )
        .await;
    println!(
        "the API's /connections of the day, API_MAX_ROWS={rows}: status {} ({} body bytes) in {:.2} s; peak heap above the start {:.1} MiB",
        response.status,
        response.body.len(),
        started.elapsed().as_secs_f64(),
        peak_since(before) as f64 / (1 << 20) as f64
    );
}
