//! API benchmark: 100 accounts × 2 regions × 1,000 connections per day, 7 days, in a local
//! redis-server; 100 requests per route through the API handler (routing, one Redis round
//! trip, summing, JSON, gzip). Prints median and p99 latency and the answer sizes.
//!
//! Run: `cargo bench -p connection-tracker --bench api`. ACCOUNTS=n, CONNECTIONS=n,
//! REQUESTS=n and REQUESTS_HEAVY=n change the sizes; ROUTES=text runs only the routes whose
//! label contains it.

use std::time::{Duration, Instant};

use connection_tracker::api::{Api, Request};
use connection_tracker::config::{ApiConfig, RedisConfig};
use connection_tracker::model::{InterfaceFacts, RegionInventory};
use connection_tracker::store::keys;
use connection_tracker::store::{
    CounterStore, DayWrite, Increment, PayloadWrite, RedisStore, RefreshStore, WriteBatch,
};
use connection_tracker::testing::{interface, RedisServer, Rng};
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
    let regions = ["eu-west-1", "us-east-1"];
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
        networks: Default::default(),
    };
    let store = RedisStore::connect(&config.redis).await.unwrap();
    let ids: Vec<String> = (0..accounts)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64))
        .collect();
    let t = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for day in &days {
        for id in &ids {
            for region in regions {
                let increments = (0..per_pair)
                    .map(|i| {
                        let r = rng.next_u64();
                        let source = match r % 10 {
                            0..=6 => format!(
                                "{}.{}.{}.{}",
                                1 + (r >> 8) % 223,
                                (r >> 16) % 256,
                                (r >> 24) % 256,
                                (r >> 32) % 256
                            ),
                            7 | 8 => format!(
                                "{}/{}/nat-{}a.team-{}.example.org",
                                ids[(r >> 8) as usize % ids.len()],
                                regions[(r >> 20) as usize % 2],
                                regions[(r >> 20) as usize % 2],
                                (r >> 8) as usize % ids.len()
                            ),
                            _ => format!("office-{}", (r >> 8) % 20),
                        };
                        let dest = format!("app-{}-{id}.{region}.elb.amazonaws.com", i % 5);
                        let port = [443u16, 443, 443, 80, 22, 5432][(r >> 40) as usize % 6];
                        Increment {
                            account: id,
                            region,
                            member: keys::connection_member(source, dest, port),
                            count: 1 + (r >> 48) % 50,
                            bare_ip: None,
                        }
                    })
                    .collect();
                let unit = format!("{day}-{id}-{region}");
                let batch = WriteBatch {
                    days: vec![DayWrite {
                        day: day.clone(),
                        expire_at: 4_000_000_000,
                        seen_ttl_secs: 86_400,
                        unnamed_ttl_secs: 86_400,
                        payloads: vec![PayloadWrite {
                            id: &unit,
                            increments,
                        }],
                    }],
                    touched: vec![(id, region)],
                    now_rfc3339: "2026-11-27T10:00:00.000000Z".into(),
                    limits: Default::default(),
                };
                store.write(&batch).await.unwrap();
            }
        }
    }
    println!(
        "filled {accounts} accounts x {} regions x {per_pair} connections x {} days in {:.1} s \
         (redis {} used)",
        regions.len(),
        days.len(),
        t.elapsed().as_secs_f64(),
        redis
            .cli(&["INFO", "memory"])
            .lines()
            .find_map(|l| l.strip_prefix("used_memory_human:"))
            .unwrap_or("?")
            .trim()
    );

    // The refresh's view: each account/region's five load balancers, for /public-endpoints.
    for (n, id) in ids.iter().enumerate() {
        for (r, region) in regions.iter().enumerate() {
            let interfaces = (0..5)
                .map(|i| InterfaceFacts {
                    lb_dns_name: Some(format!("app-{i}-{id}.{region}.elb.amazonaws.com")),
                    interface_type: "interface".into(),
                    ..interface(
                        &format!("eni-{n}-{r}-{i}"),
                        id,
                        region,
                        &format!("ELB app/app-{i}/50dc6c495c0c9188"),
                        &format!("10.{r}.{i}.{}", n % 250),
                        &format!("52.{r}.{i}.{}", n % 250),
                    )
                })
                .collect();
            store
                .replace_region(
                    id,
                    region,
                    &RegionInventory {
                        interfaces,
                        ..Default::default()
                    },
                    "2026-11-27T09:00:00.000000Z",
                )
                .await
                .unwrap();
        }
    }
    let api = Api::new(store, &config);
    let week = format!("from={}&to={}", days[0], days[6]);
    let one = format!("/connections/{}/eu-west-1", ids[0]);
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
}
