//! API benchmark: 100 accounts × 2 regions × 1,000 connections per day, 7 days, in a local
//! redis-server; 100 requests per route through the API handler (routing, one Redis round
//! trip, summing, JSON, gzip). Prints median and p99 latency and the answer sizes.
//!
//! The estate's 1,000 load balancers (5 per account/region) each have 5 rules open to the
//! internet, for `/exposure`.
//!
//! Run: `cargo bench -p connection-tracker --bench api`. ACCOUNTS=n, CONNECTIONS=n,
//! REQUESTS=n and REQUESTS_HEAVY=n change the sizes; ROUTES=text runs only the routes whose
//! label contains it.

use std::time::{Duration, Instant};

use connection_tracker::api::{Api, Request};
use connection_tracker::config::{ApiConfig, RedisConfig};
use connection_tracker::store::RedisStore;
use connection_tracker::testing::{estate, RedisServer};
use time::macros::date;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let accounts = env_or("ACCOUNTS", 100);
    let per_pair = env_or("CONNECTIONS", 1000);
    let requests = env_or("REQUESTS", 100);
    let today = date!(2026 - 11 - 27);
    let days: Vec<String> = (0..7)
        .map(|i| connection_tracker::day::day_string(today - time::Duration::days(6 - i)))
        .collect();

    let redis = RedisServer::start();
    let config = ApiConfig {
        redis: RedisConfig {
            url: redis.url(),
            cluster: None,
            timeout: Duration::from_secs(30),
        },
        max_range_days: 31,
        retention_days: 90,
        max_rows: connection_tracker::config::defaults::DEFAULT_API_MAX_ROWS,
        networks: Default::default(),
    };
    let store = RedisStore::connect(&config.redis).await.unwrap();
    let estate = estate::fill(&store, accounts, per_pair, &days).await;
    let ids = &estate.ids;
    println!(
        "filled {accounts} accounts x {} regions x {per_pair} connections x {} days in {:.1} s \
         (redis {} used)",
        estate::REGIONS.len(),
        days.len(),
        estate.fill_seconds,
        redis
            .cli(&["INFO", "memory"])
            .lines()
            .find_map(|l| l.strip_prefix("used_memory_human:"))
            .unwrap_or("?")
            .trim()
    );
    // Every command slower than 50 ms from here on is logged: reads must not block ingest.
    redis.cli(&["CONFIG", "SET", "slowlog-log-slower-than", "50000"]);
    redis.cli(&["SLOWLOG", "RESET"]);
    let api = Api::new(store, &config);
    let week = format!("from={}&to={}", days[0], days[6]);
    let one = format!("/connections/{}/eu-west-1", ids[0]);
    let exposure_one = format!("/exposure/{}/eu-west-1", ids[0]);
    // (label, path, query, requests): all-account 7-day answers are refused by size (see
    // BENCHMARKS.md), and take seconds each, so they run fewer times.
    let heavy = env_or("REQUESTS_HEAVY", 20);
    let routes: Vec<(&str, &str, String, usize)> = vec![
        (
            "/connections (1 day)",
            "/connections",
            String::new(),
            requests,
        ),
        (
            "/account-connections (1 day)",
            "/account-connections",
            String::new(),
            requests,
        ),
        (
            "/account-connections (7 days)",
            "/account-connections",
            week.clone(),
            requests,
        ),
        (
            "/connections/{id}/{region} (7 days)",
            &one,
            week.clone(),
            requests,
        ),
        ("/connections (7 days)", "/connections", week.clone(), heavy),
        (
            "/connections (1 day, limit=1000)",
            "/connections",
            "limit=1000".to_string(),
            requests,
        ),
        (
            "/connections (1 day, limit=1000, page 5)",
            "/connections",
            "limit=1000&cursor=PAGE5".to_string(),
            requests,
        ),
        (
            "/connections (7 days, port=22)",
            "/connections",
            format!("{week}&port=22"),
            heavy,
        ),
        ("/endpoints (1 day)", "/endpoints", String::new(), requests),
        (
            "/public-endpoints (1 day)",
            "/public-endpoints",
            String::new(),
            requests,
        ),
        (
            "/public-endpoints (7 days)",
            "/public-endpoints",
            week.clone(),
            heavy,
        ),
        (
            "/exposure (1 day)",
            "/exposure",
            "date=2026-11-27".into(),
            requests,
        ),
        ("/exposure (7 days)", "/exposure", week.clone(), heavy),
        (
            "/exposure/{id}/{region} (7 days)",
            &exposure_one,
            week.clone(),
            requests,
        ),
        (
            "/exposure (default: the retention)",
            "/exposure",
            String::new(),
            heavy,
        ),
    ];
    println!(
        "{:<38} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}",
        "route", "status", "median ms", "p99 ms", "max ms", "JSON MB", "gzip MB", "trips"
    );
    let only = std::env::var("ROUTES").unwrap_or_default();
    for (label, path, query, requests) in &routes {
        if !label.contains(only.as_str()) {
            continue;
        }
        let requests = *requests;
        // A page further on: the cursor the API gave for it.
        let query = if query.contains("PAGE5") {
            let mut q = "limit=1000".to_string();
            for _ in 0..4 {
                let r = api
                    .handle(
                        Request {
                            method: "GET",
                            path,
                            query: &q,
                            accepts_gzip: true,
                            request_id: "",
                        },
                        today,
                    )
                    .await;
                q = format!("limit=1000&cursor={}", r.header("x-next-cursor").unwrap());
            }
            q
        } else {
            query.clone()
        };
        let query = &query;
        let mut times = Vec::with_capacity(requests);
        let (mut zipped, mut json, mut status) = (0, 0, 0);
        let trips = api.store().round_trips();
        for _ in 0..requests {
            let t = Instant::now();
            let response = api
                .handle(
                    Request {
                        method: "GET",
                        path,
                        query,
                        accepts_gzip: true,
                        request_id: "",
                    },
                    today,
                )
                .await;
            times.push(t.elapsed());
            status = response.status;
            if zipped == 0 {
                zipped = response.body.len();
                json = response.text().len();
                if status != 200 {
                    println!("  {label}: {status} {}", response.text());
                }
            }
        }
        let trips = (api.store().round_trips() - trips) as f64 / requests as f64;
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<38} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.2} {:>9.2} {:>6}",
            label,
            status,
            ms(times[times.len() / 2]),
            ms(times[(times.len() * 99).div_ceil(100) - 1]),
            ms(times[times.len() - 1]),
            json as f64 / 1e6,
            zipped as f64 / 1e6,
            trips
        );
    }

    // A week of the whole estate, complete, the way ctrack reads it: each day page by page
    // (50,000 rows a page, the cursor the API gives), one request after the other.
    if "paged week".contains(only.as_str()) || only.is_empty() {
        let mut totals = Vec::new();
        let (mut rows, mut pages, mut bytes) = (0usize, 0usize, 0usize);
        for _ in 0..heavy.clamp(1, 5) {
            let t = Instant::now();
            (rows, pages, bytes) = (0, 0, 0);
            for day in &days {
                let mut query = format!("date={day}&limit=50000");
                loop {
                    let response = api
                        .handle(
                            Request {
                                method: "GET",
                                path: "/connections",
                                query: &query,
                                accepts_gzip: true,
                                request_id: "",
                            },
                            today,
                        )
                        .await;
                    assert_eq!(response.status, 200, "{}", response.text());
                    pages += 1;
                    bytes += response.body.len();
                    let page: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
                        serde_json::from_str(&response.text()).unwrap();
                    rows += page.values().map(Vec::len).sum::<usize>();
                    match response.header("x-next-cursor") {
                        Some(c) => query = format!("date={day}&limit=50000&cursor={c}"),
                        None => break,
                    }
                }
            }
            totals.push(t.elapsed());
        }
        totals.sort();
        println!(
            "{:<38} {rows} rows in {pages} pages, {:.1} MB gzipped: {:.0} ms median, {:.0} ms max \
             (total per week)",
            "/connections (7 days, paged per day)",
            bytes as f64 / 1e6,
            totals[totals.len() / 2].as_secs_f64() * 1e3,
            totals[totals.len() - 1].as_secs_f64() * 1e3,
        );
    }
    println!(
        "Redis SLOWLOG: {} commands over 50 ms while the routes ran",
        redis.cli(&["SLOWLOG", "LEN"]).trim()
    );
}
