//! Every key a Lua script touches is one it was given in KEYS. ElastiCache (Serverless
//! included) and Redis Cluster require it; a one-node test server does not check, so this test
//! watches the server (`MONITOR`) while every store operation runs — ingest writes (folding
//! included), parked lines, the refresh's region replacement and removal, every API route — and compares each
//! command run inside a script with the KEYS of the script that ran it.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use connection_tracker::api::{route_paths, Api, Request};
use connection_tracker::config::{ApiConfig, Parking, RedisConfig, RowLimits};
use connection_tracker::model::{Account, AccountRegion, IngressRule, RegionInventory, RuleSource};
use connection_tracker::store::{
    keys, CounterStore, DayWrite, Increment, ParkedBlob, ParkedLines, PayloadWrite, RedisStore,
    RefreshStore, WriteBatch,
};
use connection_tracker::testing::{interface, RedisServer};

/// The arguments of one MONITOR line: `ts [db client] "arg" "arg" …`, unescaped.
fn monitor_args(line: &str) -> Option<(bool, Vec<String>)> {
    let open = line.find('[')?;
    let close = line[open..].find(']')? + open;
    let from_lua = line[open..close].contains("lua");
    let mut args = Vec::new();
    let mut chars = line[close + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut arg = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        arg.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?') as char);
                    }
                    Some('n') => arg.push('\n'),
                    Some('r') => arg.push('\r'),
                    Some('t') => arg.push('\t'),
                    Some(other) => arg.push(other),
                    None => break,
                },
                c => arg.push(c),
            }
        }
        args.push(arg);
    }
    Some((from_lua, args))
}

/// Commands a script may run that name no key.
const KEYLESS: &[&str] = &["TIME", "PING", "ECHO"];

#[tokio::test]
async fn scripts_touch_only_the_keys_they_declare() {
    let server = RedisServer::start();
    let mut monitor = Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "monitor"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli runs");
    let stdout = monitor.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let config = RedisConfig {
        url: server.url(),
        cluster: None,
        timeout: Duration::from_secs(5),
    };
    let store = RedisStore::connect(&config).await.unwrap();
    let a = "111111111111";
    // Refresh: accounts, a region replaced twice (its old entries removed), one dropped.
    store
        .put_accounts(&[Account {
            id: a.into(),
            name: "team-a".into(),
            regions: vec!["eu-west-1".into()],
            role_arn: None,
            enabled: true,
            origin: Default::default(),
        }])
        .await
        .unwrap();
    for n in 0..2 {
        let inventory = RegionInventory {
            interfaces: vec![interface(
                &format!("eni-{n}"),
                a,
                "eu-west-1",
                "web",
                "10.0.0.5",
                &format!("54.1.1.{n}"),
            )],
            addresses: [(format!("54.1.1.{n}"), format!("{a}/eu-west-1/web"))].into(),
            formats: [(
                format!("{a}:/vpc/logs"),
                "${version} ${account-id}".to_string(),
            )]
            .into(),
            ingress: [(
                format!("sg-{n}"),
                vec![IngressRule {
                    rule_id: format!("sgr-{n}"),
                    group_id: format!("sg-{n}"),
                    group_name: "web".into(),
                    description: String::new(),
                    protocol: "tcp".into(),
                    from_port: 22,
                    to_port: 22,
                    source: RuleSource::Cidr("0.0.0.0/0".into()),
                }],
            )]
            .into(),
            private_interfaces: [format!("eni-private-{n}")].into(),
        };
        store
            .replace_region(a, "eu-west-1", &inventory, "2026-11-27T00:00:00.000000Z")
            .await
            .unwrap();
    }
    store.drop_region(a, "us-east-1").await.unwrap();
    // Ingest: a day with kept, folded (prefix, then other) and named sources, and folded
    // ports (lb's third and fourth) and endpoints (db's, past three), written twice.
    let limits = RowLimits {
        max_sources_per_endpoint: 2,
        max_prefixes_per_endpoint: 1,
        max_unnamed_per_day: 1,
        max_ports_per_endpoint: 2,
        max_endpoints_per_account_region: 3,
    };
    let sources = ["8.8.8.8", "8.8.8.9", "8.8.8.10", "9.9.9.9", "1.1.1.1"];
    let mut increments: Vec<Increment> = sources
        .iter()
        .map(|source| Increment {
            account: a,
            region: "eu-west-1",
            member: keys::connection_member(source, "lb", 443),
            count: 1,
            bare_ip: Some(source.parse().unwrap()),
        })
        .collect();
    increments.push(Increment {
        account: a,
        region: "eu-west-1",
        member: keys::connection_member("office", "lb", 22),
        count: 3,
        bare_ip: None,
    });
    for (dest, port) in [("lb", 8080), ("lb", 8443), ("db", 5432)] {
        increments.push(Increment {
            account: a,
            region: "eu-west-1",
            member: keys::connection_member("8.8.8.8", dest, port),
            count: 1,
            bare_ip: Some("8.8.8.8".parse().unwrap()),
        });
    }
    let batch = WriteBatch {
        days: vec![DayWrite {
            day: "2026-11-27".into(),
            expire_at: 4_000_000_000,
            seen_ttl_secs: 3600,
            unnamed_ttl_secs: 3600,
            payloads: vec![PayloadWrite {
                id: "p1",
                increments,
            }],
        }],
        touched: vec![(a, "eu-west-1")],
        now_rfc3339: "2026-11-27T10:00:00.000000Z".into(),
        limits,
    };
    store.write(&batch).await.unwrap();
    store.write(&batch).await.unwrap();
    let _ = store.day_unnamed("2026-11-27").await.unwrap();
    // Parked lines: parked (one within the bound, one past it, one again), read back, removed.
    let pair = AccountRegion::new(a, "eu-west-1").unwrap();
    let blob = |payload: &str, lines| ParkedBlob {
        payload: payload.into(),
        lines,
        blob: "H4sI".into(),
    };
    let bound = Parking {
        max_lines_per_account_region: 3,
        ttl: Duration::from_secs(60),
    };
    let parked = [blob("p1", 2), blob("p2", 2), blob("p1", 2)];
    store.park(&pair, &parked, bound).await.unwrap();
    let page = store.parked_page(&pair, 0).await.unwrap();
    assert_eq!(page.entries, vec![blob("p1", 2)]);
    store.unpark(&pair, &["p1"]).await.unwrap();
    assert!(store.parked_pairs().await.unwrap().is_empty());
    // Every API route.
    let api = Api::new(
        store,
        &ApiConfig {
            redis: config.clone(),
            max_range_days: 31,
            retention_days: 90,
            max_rows: connection_tracker::config::defaults::DEFAULT_API_MAX_ROWS,
            networks: Default::default(),
        },
    );
    for path in route_paths() {
        let path = path
            .replace("{account_id}", a)
            .replace("{region}", "eu-west-1");
        for query in ["date=2026-11-27", "from=2026-11-20&to=2026-11-27", ""] {
            let response = api
                .handle(
                    Request {
                        method: "GET",
                        path: &path,
                        query,
                        accepts_gzip: false,
                        request_id: "keys",
                    },
                    time::macros::date!(2026 - 11 - 27),
                )
                .await;
            assert!(response.status < 500, "{path}?{query}: {}", response.text());
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    monitor.kill().unwrap();
    let _ = monitor.wait();
    let lines = reader.join().unwrap();

    let mut declared: HashSet<String> = HashSet::new();
    let (mut scripts, mut checked) = (0, 0);
    let mut undeclared = Vec::new();
    for line in &lines {
        let Some((from_lua, args)) = monitor_args(line) else {
            continue;
        };
        let Some(command) = args.first().map(|c| c.to_ascii_uppercase()) else {
            continue;
        };
        if !from_lua {
            if [
                "EVAL",
                "EVALSHA",
                "EVAL_RO",
                "EVALSHA_RO",
                "FCALL",
                "FCALL_RO",
            ]
            .contains(&command.as_str())
            {
                let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
                declared = args.iter().skip(3).take(n).cloned().collect();
                scripts += 1;
            }
            continue;
        }
        if KEYLESS.contains(&command.as_str()) {
            continue;
        }
        // Every command our scripts run takes its key first.
        let key = args.get(1).cloned().unwrap_or_default();
        checked += 1;
        if !declared.contains(&key) {
            undeclared.push(format!("{command} {key}"));
        }
    }
    assert!(
        scripts >= 5,
        "scripts seen: {scripts}\n{}",
        lines.join("\n")
    );
    assert!(checked >= 50, "commands inside scripts: {checked}");
    assert!(
        undeclared.is_empty(),
        "commands on keys their script was not given: {undeclared:?}"
    );
}
