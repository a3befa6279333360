//! Load test: the API served over HTTP on a loopback port (the benchmark estate of `api`, 7 days)
//! under CONCURRENCY clients (default 16) for SECONDS (default 30), while ingest writes a steady
//! stream (a CloudWatch Logs event of 500 records every 100 ms, through the same `Ingestor` as the
//! function). Prints p50/p99 per route, the errors (any status but 200, any I/O failure: must be
//! 0) and the ingest latency during the load.
//!
//! Run: `cargo bench -p connection-tracker --bench load`. ACCOUNTS, CONNECTIONS, CONCURRENCY and
//! SECONDS change the sizes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connection_tracker::api::Api;
use connection_tracker::config::{ApiConfig, IngestConfig, RedisConfig, RowLimits};
use connection_tracker::ingest::payload::FlowEvent;
use connection_tracker::ingest::Ingestor;
use connection_tracker::rules::classify::Networks;
use connection_tracker::store::RedisStore;
use connection_tracker::testing::{estate, logs_event, logs_message, serve_api, RedisServer, Rng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Per route: each request's latency, and how many failed.
type Timings = BTreeMap<&'static str, (Vec<Duration>, u64)>;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One GET over a fresh connection: the status, or the I/O error.
async fn get(addr: &str, target: &str) -> Result<u16, String> {
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {target} HTTP/1.1\r\nhost: {addr}\r\naccept-encoding: gzip\r\nconnection: close\r\n\r\n"
    );
    socket
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    socket
        .read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p).div_ceil(100).max(1) - 1].as_secs_f64() * 1e3
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let accounts = env_or("ACCOUNTS", 100);
    let per_pair = env_or("CONNECTIONS", 1000);
    let concurrency = env_or("CONCURRENCY", 16);
    let seconds = env_or("SECONDS", 30) as u64;
    let now = time::OffsetDateTime::now_utc();
    let today = now.date();
    let days: Vec<String> = (0..7)
        .map(|i| connection_tracker::day::day_string(today - time::Duration::days(6 - i)))
        .collect();
    let redis = RedisServer::start();
    let redis_config = RedisConfig {
        url: redis.url(),
        cluster: None,
        timeout: Duration::from_secs(30),
    };
    let store = RedisStore::connect(&redis_config).await.unwrap();
    let estate = estate::fill(&store, accounts, per_pair, &days).await;
    println!(
        "estate: {accounts} accounts x 2 regions x {per_pair} connections x 7 days ({:.1} s)",
        estate.fill_seconds
    );
    let config = ApiConfig {
        redis: redis_config.clone(),
        max_range_days: 31,
        retention_days: 90,
        max_rows: connection_tracker::config::defaults::DEFAULT_API_MAX_ROWS,
        networks: Default::default(),
    };
    redis.cli(&["CONFIG", "SET", "slowlog-log-slower-than", "50000"]);
    redis.cli(&["SLOWLOG", "RESET"]);
    let served = serve_api(Api::new(store, &config), today).await;
    let addr = served.url.trim_start_matches("http://").to_string();
    let id = &estate.ids[0];
    let week = format!("from={}&to={}", days[0], days[6]);
    let routes: Vec<(&'static str, String)> = vec![
        ("/health", "/health".into()),
        ("/accounts", "/accounts".into()),
        ("/connections limit=1000", "/connections?limit=1000".into()),
        (
            "/connections/{id}/{region} 7 days",
            format!("/connections/{id}/eu-west-1?{week}"),
        ),
        (
            "/endpoints/{id}/{region}",
            format!("/endpoints/{id}/us-east-1"),
        ),
        (
            "/public-endpoints/{id}/{region}",
            format!("/public-endpoints/{id}/eu-west-1"),
        ),
        ("/account-connections", "/account-connections".into()),
    ];

    // The ingest stream: one account/region's load balancer, 500 records per event.
    let ingest_config = IngestConfig {
        redis: redis_config,
        retention_days: 3650,
        dedup_window: Duration::from_secs(72 * 3600),
        shared_vpc_owners: vec![],
        limits: RowLimits::default(),
        cache: Default::default(),
        parking: Default::default(),
        dead_letter: None,
        max_batch_decompressed_bytes: 64 << 20,
        flow_log_format: None,
        networks: Networks::default(),
        max_decompressed_bytes: 64 << 20,
        max_object_decompressed_bytes: 1 << 30,
        inventory_ttl: Duration::from_secs(60),
        default_region: "eu-west-1".into(),
    };
    let ingest_store = RedisStore::connect(&ingest_config.redis).await.unwrap();
    let ingestor = Ingestor::new(ingest_store, ingest_config);
    let stop = Arc::new(AtomicBool::new(false));
    let ingest = {
        let (stop, id) = (stop.clone(), id.clone());
        tokio::spawn(async move {
            let mut rng = Rng(7);
            let mut latencies = Vec::new();
            let (mut counted, mut errors) = (0u64, 0u64);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let start = time::OffsetDateTime::now_utc().unix_timestamp();
                let lines: Vec<String> = (0..500)
                    .map(|_| {
                        let r = rng.next_u64();
                        format!(
                            "2 {id} eni-0-0-0 {}.{}.{}.{} 10.0.0.0 40000 443 6 1 40 {start} {start} ACCEPT OK",
                            1 + (r >> 8) % 223,
                            (r >> 16) % 256,
                            (r >> 24) % 256,
                            (r >> 32) % 256
                        )
                    })
                    .collect();
                let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                let message = logs_message(&id, "/vpc/flow-logs", &refs, start as u64 * 1000);
                let event = FlowEvent::from_value(&logs_event(&message)).unwrap();
                let t = Instant::now();
                match ingestor
                    .handle(event, time::OffsetDateTime::now_utc())
                    .await
                {
                    Ok(outcome) => counted += outcome.summary.counted,
                    Err(_) => errors += 1,
                }
                latencies.push(t.elapsed());
            }
            (latencies, counted, errors)
        })
    };

    let results: Arc<Mutex<Timings>> = Arc::default();
    let routes = Arc::new(routes);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (routes, results, addr) = (routes.clone(), results.clone(), addr.clone());
            tokio::spawn(async move {
                let mut i = w;
                while Instant::now() < deadline {
                    let (label, target) = &routes[i % routes.len()];
                    i += 1;
                    let t = Instant::now();
                    let ok = matches!(get(&addr, target).await, Ok(200));
                    let elapsed = t.elapsed();
                    let mut results = results.lock().unwrap();
                    let entry = results.entry(label).or_default();
                    entry.0.push(elapsed);
                    entry.1 += u64::from(!ok);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let (mut ingest_latencies, counted, ingest_errors) = ingest.await.unwrap();

    println!("{concurrency} clients for {seconds} s, ingest writing 500 records every 100 ms:");
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>9}",
        "route", "requests", "p50 ms", "p99 ms", "errors"
    );
    let mut total = (0usize, 0u64);
    for (label, (mut times, errors)) in std::mem::take(&mut *results.lock().unwrap()) {
        times.sort();
        total.0 += times.len();
        total.1 += errors;
        println!(
            "{label:<36} {:>9} {:>9.1} {:>9.1} {:>9}",
            times.len(),
            percentile(&times, 50),
            percentile(&times, 99),
            errors
        );
    }
    ingest_latencies.sort();
    println!(
        "all routes: {} requests ({:.0}/s), {} errors",
        total.0,
        total.0 as f64 / seconds as f64,
        total.1
    );
    println!(
        "Redis SLOWLOG: {} commands over 50 ms during the load",
        redis.cli(&["SLOWLOG", "LEN"]).trim()
    );
    println!(
        "ingest during the load: {} events, {counted} records counted, {ingest_errors} errors, \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ingest_latencies.len(),
        percentile(&ingest_latencies, 50),
        percentile(&ingest_latencies, 99),
        ingest_latencies
            .last()
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
}
