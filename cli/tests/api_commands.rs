//! `ctrack connections | exposure | scan-endpoints | graph | accounts` against the API served from a real
//! redis-server (data put through ingest by `ctrack replay`), local HTTP servers that answer
//! 401, 200, hang or refuse, and moto's DynamoDB.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use connection_tracker::api::Api;
use connection_tracker::config::defaults::DEFAULT_API_MAX_ROWS;
use connection_tracker::config::{ApiConfig, RedisConfig};
use connection_tracker::model::Account;
use connection_tracker::rules::classify::Networks;
use connection_tracker::store::keys;
use connection_tracker::store::{CounterStore, Increment, RedisStore, RefreshStore};
use connection_tracker::testing::{
    one_payload, read_http_head, serve_api, MotoServer, RedisServer, ServedApi,
};
use ctrack_cli::client::{ApiClient, Auth, ClientError};
use ctrack_cli::scan::{self, Outcome, Target};
use tokio::io::AsyncWriteExt;

const A: &str = "111111111111";
const B: &str = "222222222222";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ctrack(envs: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ctrack"))
        .current_dir(repo())
        .env_remove("CTRACK_TOKEN")
        .env_remove("CTRACK_AUTH")
        .env("RUST_BACKTRACE", "0")
        .envs(envs.iter().copied())
        .args(args)
        .output()
        .expect("ctrack runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn store(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&RedisConfig {
        url: server.url(),
        cluster: None,
        timeout: Duration::from_secs(5),
    })
    .await
    .unwrap()
}

/// The sample events through the ingest path (`ctrack replay`), the account names as the
/// refresh would store them, and the API served over HTTP.
/// The sample estate's accounts: A is `alpha`, B is named `b`.
fn accounts(b: &str) -> [Account; 2] {
    let account = |id: &str, name: &str| Account {
        id: id.into(),
        name: name.into(),
        regions: vec![],
        role_arn: None,
        enabled: true,
        origin: Default::default(),
    };
    [account(A, "alpha"), account(B, b)]
}

async fn api_with_samples(server: &RedisServer) -> ServedApi {
    let (code, out, err) = ctrack(
        &[("REDIS_URL", &server.url()), ("RETENTION_DAYS", "3650")],
        &[
            "replay",
            "--force",
            "--inventory",
            "events/inventory.json",
            "events/",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let store = store(server).await;
    store.put_accounts(&accounts("bravo")).await.unwrap();
    serve(server, store).await
}

/// The API over `store`, served over HTTP, with 2026-11-27 as today.
async fn serve(server: &RedisServer, store: RedisStore) -> ServedApi {
    serve_with(server, store, Default::default(), DEFAULT_API_MAX_ROWS).await
}

/// The same, knowing these named networks, reading at most `max_rows` rows a request.
async fn serve_with(
    server: &RedisServer,
    store: RedisStore,
    networks: Networks,
    max_rows: usize,
) -> ServedApi {
    let config = ApiConfig {
        redis: RedisConfig {
            url: server.url(),
            cluster: None,
            timeout: Duration::from_secs(5),
        },
        max_range_days: 31,
        retention_days: 90,
        max_rows,
        networks,
    };
    serve_api(
        Api::new(store, &config),
        time::macros::date!(2026 - 11 - 27),
    )
    .await
}

const WEEK: [&str; 4] = ["--from", "2026-11-21", "--to", "2026-11-27"];

#[tokio::test(flavor = "multi_thread")]
async fn connections_lists_the_week_as_the_weekly_report_did() {
    let redis = RedisServer::start();
    let api = api_with_samples(&redis).await;
    let run = |extra: &[&str]| {
        let mut args = vec!["connections", api.url.as_str()];
        args.extend(WEEK);
        args.extend(extra);
        ctrack(&[], &args)
    };
    let (code, out, err) = run(&["-o", "tsv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "account_id\taccount_name\tregion\tdest\tdest_port\tsource\tscore\n\
         111111111111\talpha\teu-west-1\t111111111111/eu-west-1/orders.c9akciq32.eu-west-1.rds.amazonaws.com\t5432\t100.64.12.7\t1\n\
         111111111111\talpha\teu-west-1\t111111111111/eu-west-1/orders.c9akciq32.eu-west-1.rds.amazonaws.com\t5432\t222222222222/us-east-1/nat-us-east-1a.bravo.example.org\t1\n\
         111111111111\talpha\teu-west-1\tshop-1234567890.eu-west-1.elb.amazonaws.com\t443\t8.8.8.8\t2\n\
         111111111111\talpha\teu-west-1\tshop-1234567890.eu-west-1.elb.amazonaws.com\t443\t1.1.1.1\t1\n\
         111111111111\talpha\teu-west-1\tweb/2a05:d018:1234:5600::20\t443\t2a00:1450:4001:81a::200e\t1\n\
         111111111111\talpha\teu-west-1\tweb/52.16.0.20\t22\t85.1.2.3\t1\n\
         222222222222\tbravo\tus-east-1\tapi/3.80.0.6\t8080\t198.199.70.1\t1\n\
         222222222222\tbravo\tus-east-1\tingress-6a3f0c1e2b4d5f6a.elb.us-east-1.amazonaws.com\t443\t111111111111/eu-west-1/nat-eu-west-1b.alpha.example.org\t1\n\
         222222222222\tbravo\tus-east-1\tingress-6a3f0c1e2b4d5f6a.elb.us-east-1.amazonaws.com\t443\t8.8.8.8\t1\n"
    );
    // Seven days were fetched, one request each, plus the accounts.
    assert_eq!(api.requests.lock().unwrap().len(), 8);

    let (code, out, _) = run(&["--suspicious", "-o", "tsv"]);
    assert_eq!(code, 0);
    let ports: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(4).unwrap())
        .collect();
    assert_eq!(ports, ["5432", "5432", "22", "8080"]);

    let (code, out, _) = run(&["--suspicious", "--expected-ports", "443,22", "-o", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);
    assert_eq!(json[0]["dest_port"], 5432);
    assert_eq!(json[0]["account_name"], "alpha");

    let (code, out, _) = run(&[]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("account_id    account_name  region     dest"));
    assert_eq!(lines.count(), 9);

    // --per-day: the original's one row per day, dated; the same scores as the summed rows.
    let summed = ctrack(
        &[],
        &[
            "connections",
            &api.url,
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-27",
            "-o",
            "json",
        ],
    );
    let per_day = ctrack(
        &[],
        &[
            "connections",
            &api.url,
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-27",
            "-o",
            "json",
            "--per-day",
        ],
    );
    assert_eq!(per_day.0, 0, "{}", per_day.2);
    let total = |out: &str, dated: bool| {
        let rows: Vec<serde_json::Value> = serde_json::from_str(out).unwrap();
        assert!(
            rows.iter().all(|r| r.get("date").is_some() == dated),
            "{out}"
        );
        let mut sums: std::collections::BTreeMap<String, u64> = Default::default();
        for r in &rows {
            let key = format!(
                "{} {} {} {}",
                r["account_id"], r["dest"], r["dest_port"], r["source"]
            );
            *sums.entry(key).or_default() += r["score"].as_u64().unwrap();
        }
        (rows.len(), sums)
    };
    let (summed_rows, summed_scores) = total(&summed.1, false);
    let (dated_rows, dated_scores) = total(&per_day.1, true);
    assert_eq!(summed_scores, dated_scores);
    assert!(dated_rows >= summed_rows);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&per_day.1).unwrap();
    assert!(rows.iter().all(|r| {
        let d = r["date"].as_str().unwrap();
        ("2026-11-21"..="2026-11-27").contains(&d)
    }));
    let tsv = ctrack(
        &[],
        &[
            "connections",
            &api.url,
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-27",
            "-o",
            "tsv",
            "--per-day",
        ],
    )
    .1;
    assert!(tsv.starts_with("date\taccount_id\t"), "{tsv}");

    // --fail-on-findings with --suspicious: status 4 when a connection is found, 0 when none.
    let found = ctrack(
        &[],
        &[
            "connections",
            &api.url,
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-27",
            "--suspicious",
            "--fail-on-findings",
        ],
    );
    assert_eq!(found.0, 4, "{}", found.2);
    let none = ctrack(
        &[],
        &[
            "connections",
            &api.url,
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-27",
            "--suspicious",
            "--expected-ports",
            "0,22,80,443,5432,8080,8443",
            "--fail-on-findings",
            "-o",
            "tsv",
        ],
    );
    assert_eq!(none.0, 0, "{}", none.1);

    // `-6d` (the original README's spelling) and `6d`: six days before --to, through it.
    let week = ctrack(
        &[],
        &[
            "connections",
            &api.url,
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-27",
            "-o",
            "tsv",
        ],
    );
    for from in ["-6d", "6d"] {
        let relative = ctrack(
            &[],
            &[
                "connections",
                &api.url,
                "--from",
                from,
                "--to",
                "2026-11-27",
                "-o",
                "tsv",
            ],
        );
        assert_eq!(relative.0, 0, "{from}: {}", relative.2);
        assert_eq!(relative.1, week.1, "{from}");
    }

    let (code, _, err) = ctrack(
        &[],
        &[
            "connections",
            &api.url,
            "--from",
            "2026-11-27",
            "--to",
            "2026-11-20",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("--to 2026-11-20 is before --from 2026-11-27"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_errors_show_status_and_message_and_auth_is_sent() {
    let redis = RedisServer::start();
    let api = api_with_samples(&redis).await;
    let client = ApiClient::new(&api.url, Auth::None, Duration::from_secs(5)).unwrap();
    let err = client
        .get::<serde_json::Value>("/connections/12345/eu-west-1", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Status { status: 400, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("HTTP 400: account_id \"12345\" is not an AWS account id (12 digits)"),
        "{err}"
    );
    // Nothing listening: the error names the URL and the cause.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (code, _, err) = ctrack(&[], &["connections", &url]);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("GET {url}/accounts")), "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");

    // A bearer token from the environment; SigV4 with the AWS credential chain.
    let (code, _, err) = ctrack(&[("CTRACK_TOKEN", "t0ken")], &["connections", &api.url]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = ctrack(
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ],
        &[
            "connections",
            &api.url,
            "--auth",
            "iam",
            "--region",
            "eu-west-1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let seen = api.requests.lock().unwrap().clone();
    let header = |request: &Vec<(String, String)>, name: &str| {
        request
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let bearer: Vec<_> = seen
        .iter()
        .filter_map(|r| header(r, "authorization"))
        .filter(|a| a.starts_with("Bearer"))
        .collect();
    assert_eq!(bearer, ["Bearer t0ken", "Bearer t0ken"]);
    let signed: Vec<_> = seen
        .iter()
        .filter(|r| header(r, "authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")))
        .collect();
    assert_eq!(signed.len(), 2);
    for r in signed {
        let auth = header(r, "authorization").unwrap();
        assert!(
            auth.contains("/eu-west-1/execute-api/aws4_request"),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
        assert_eq!(
            header(r, "x-amz-security-token").as_deref(),
            Some("session")
        );
        assert!(header(r, "x-amz-date").is_some());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_draws_accounts_and_weighted_edges() {
    let redis = RedisServer::start();
    let api = api_with_samples(&redis).await;
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("accounts.svg");
    let dot = dir.path().join("accounts.dot");
    for file in [&svg, &dot] {
        let mut args = vec!["graph", api.url.as_str(), "-o", file.to_str().unwrap()];
        args.extend(WEEK);
        let (code, _, err) = ctrack(&[], &args);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("2 accounts, 2 edges"), "{err}");
    }
    let dot = std::fs::read_to_string(dot).unwrap();
    assert!(
        dot.contains(r#""111111111111" -> "222222222222" [label="1""#),
        "{dot}"
    );
    assert!(
        dot.contains(r#""222222222222" -> "111111111111" [label="1""#),
        "{dot}"
    );

    // The SVG, parsed back: one box per account with its name, one label per edge.
    let text = std::fs::read_to_string(svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|t| t.text())
                .collect::<String>()
        })
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let mut labels: Vec<&str> = texts.iter().map(String::as_str).collect();
    labels.sort();
    assert_eq!(
        labels,
        ["1", "1", "alpha (111111111111)", "bravo (222222222222)"],
        "{text}"
    );
    let edges = doc.descendants().filter(|n| n.has_tag_name("path")).count();
    assert!(edges >= 2, "{text}");

    let (code, _, err) = ctrack(&[], &["graph", &api.url, "-o", "out.png"]);
    assert_ne!(code, 0);
    assert!(err.contains("must end in .svg or .dot"), "{err}");
}

/// A loopback server that reads each request and answers it with `response`, or never answers.
async fn http_server(response: Option<&'static str>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            match response {
                Some(r) => {
                    tokio::spawn(async move {
                        if read_http_head(&mut socket).await.is_none() {
                            return;
                        }
                        let _ = socket.write_all(r.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    });
                }
                None => held.push(socket),
            }
        }
    });
    port
}

const UNAUTHORIZED: &str =
    "HTTP/1.1 401 Unauthorized\r\ncontent-length: 12\r\nconnection: close\r\n\r\nUnauthorized";
const HELLO: &str = "HTTP/1.1 200 OK\r\ncontent-length: 31\r\nconnection: close\r\n\r\n<html>\n  <title>Hello</title>\n\n";

#[tokio::test(flavor = "multi_thread")]
async fn scan_reports_protected_open_hanging_and_refused_endpoints() {
    let protected = http_server(Some(UNAUTHORIZED)).await;
    let open = http_server(Some(HELLO)).await;
    let hanging = http_server(None).await;
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let target = |port: u16| Target {
        account: format!("{A}/eu-west-1"),
        url: format!("http://127.0.0.1:{port}/"),
    };
    let mut seen = 0;
    let probes = scan::probe_all(
        vec![
            target(protected),
            target(open),
            target(hanging),
            target(refused),
        ],
        4,
        Duration::from_millis(800),
        scan::address_policy(true),
        |_| seen += 1,
    )
    .await;
    assert_eq!(seen, 4);
    let outcomes: Vec<&Outcome> = probes.iter().map(|p| &p.outcome).collect();
    assert_eq!(
        outcomes[..3],
        [
            &Outcome::Answered {
                status: 401,
                body: "Unauthorized".into(),
                final_url: None,
            },
            &Outcome::Answered {
                status: 200,
                body: "<html> <title>Hello</title>".into(),
                final_url: None,
            },
            &Outcome::TimedOut,
        ]
    );
    assert!(outcomes[0].is_protected() && !outcomes[1].is_protected());
    match outcomes[3] {
        Outcome::Failed(e) => assert!(e.to_lowercase().contains("refused"), "{e}"),
        other => panic!("refused port: {other:?}"),
    }

    // The command: endpoints from the API, one line per probe, never fatal.
    let redis = RedisServer::start();
    let store = store(&redis).await;
    let increments = [protected, open, hanging, refused]
        .iter()
        .map(|&port| Increment {
            account: A,
            region: "eu-west-1",
            member: keys::connection_member("8.8.8.8", "web/127.0.0.1", port),
            count: 1,
            bare_ip: None,
        })
        .collect();
    store
        .write(&one_payload("2026-11-27", "scan", increments))
        .await
        .unwrap();
    let api = serve(&redis, store).await;
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan-endpoints",
            api.url.as_str(),
            "--date",
            "2026-11-27",
            "--timeout",
            "0.8",
        ];
        args.extend(extra);
        ctrack(&[], &args)
    };
    // These endpoints are on 127.0.0.1: refused unless --allow-private.
    let (code, out, err) = scan(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.matches("refused: 127.0.0.1 is not a public address")
            .count(),
        4,
        "{out}"
    );
    assert!(
        err.contains("4 probed: 0 answered (0 protected), 0 timed out, 0 failed, 4 refused"),
        "{err}"
    );
    let (code, out, err) = scan(&["--allow-private"]);
    assert_eq!(code, 0, "{err}");
    let line = |port: u16| format!("{A}/eu-west-1 http://127.0.0.1:{port}/");
    assert!(
        out.contains(&format!("{} 401 Unauthorized\n", line(protected))),
        "{out}"
    );
    assert!(
        out.contains(&format!("{} 200 <html> <title>Hello</title>\n", line(open))),
        "{out}"
    );
    assert!(
        out.contains(&format!("{} timed out\n", line(hanging))),
        "{out}"
    );
    assert!(out.contains(&format!("{} error: ", line(refused))), "{out}");
    assert!(!out.contains('\u{1b}'), "no colours when piped: {out}");
    assert!(
        err.contains("4 probed: 2 answered (1 protected), 1 timed out, 1 failed, 0 refused"),
        "{err}"
    );
    // -o json: every probe as an object, in the targets' order.
    let (code, out, _) = scan(&["--allow-private", "-o", "json"]);
    assert_eq!(code, 0);
    let probes: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let results: Vec<&str> = probes
        .iter()
        .map(|p| p["result"].as_str().unwrap())
        .collect();
    assert_eq!(results.len(), 4);
    assert_eq!(
        results.iter().filter(|r| **r == "answered").count(),
        2,
        "{out}"
    );
    assert!(probes
        .iter()
        .any(|p| p["status"] == 401 && p["protected"] == true));
    let (code, out, _) = scan(&["--allow-private", "-o", "csv"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("account,url,final_url,result,status,protected,body,error\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 5, "{out}");
    // --fail-on-findings: one endpoint answers without credentials → status 4.
    let (code, _, _) = scan(&["--allow-private", "--fail-on-findings"]);
    assert_eq!(code, 4);
    // --public-only shows only what answers without credentials, as the original.
    let (code, out, _) = scan(&["--public-only", "--allow-private"]);
    assert_eq!(code, 0);
    assert!(!out.contains(" 401 "), "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [format!("{} 200 <html> <title>Hello</title>", line(open))],
        "{out}"
    );
}

/// A server that answers every request with `response`, the text built from its own port.
async fn http_server_with(response: impl Fn(u16) -> String + Send + 'static) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = response(port);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let text = text.clone();
            tokio::spawn(async move {
                if read_http_head(&mut socket).await.is_some() {
                    let _ = socket.write_all(text.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
            });
        }
    });
    port
}

fn redirect_to(location: &str) -> String {
    format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn scans_follow_redirects_but_never_into_the_network() {
    let final_port = http_server_with(|_| {
        let body = "\u{1b}[2Jwelcome\u{1b}[31m!!!!!";
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    })
    .await;
    let hop =
        http_server_with(move |_| redirect_to(&format!("http://127.0.0.1:{final_port}/landing")))
            .await;
    let to_metadata =
        http_server_with(|_| redirect_to("http://169.254.169.254/latest/meta-data/")).await;
    let to_private_v6 = http_server_with(|_| redirect_to("http://[fd00:ec2::254]/")).await;
    let looping =
        http_server_with(|port| redirect_to(&format!("http://127.0.0.1:{port}/again"))).await;
    let target = |port: u16| Target {
        account: format!("{A}/eu-west-1"),
        url: format!("http://127.0.0.1:{port}/"),
    };
    // The test's servers are on loopback: allow exactly that, nothing else inside.
    let loopback_only: scan::AddressPolicy =
        std::sync::Arc::new(|ip: std::net::IpAddr| ip.is_loopback() || scan::is_public_address(ip));
    let probes = scan::probe_all(
        vec![
            target(hop),
            target(to_metadata),
            target(to_private_v6),
            target(looping),
        ],
        4,
        Duration::from_secs(3),
        loopback_only,
        |_| {},
    )
    .await;
    assert_eq!(
        probes[0].outcome,
        Outcome::Answered {
            status: 200,
            body: "[2Jwelcome [31m!!!!!".into(),
            final_url: Some(format!("http://127.0.0.1:{final_port}/landing")),
        }
    );
    for (probe, address) in [
        (&probes[1], "169.254.169.254"),
        (&probes[2], "fd00:ec2::254"),
    ] {
        match &probe.outcome {
            Outcome::Refused(why) => assert!(why.contains(address), "{why}"),
            other => panic!("a redirect to {address} must be refused: {other:?}"),
        }
    }
    match &probes[3].outcome {
        Outcome::Failed(e) => assert!(e.contains("more than 5 redirects"), "{e}"),
        other => panic!("endless redirects: {other:?}"),
    }
}

#[test]
fn accounts_are_managed_in_the_table() {
    let moto = MotoServer::start();
    moto.seed_estate("accounts", &["333333333333"], &["eu-west-1"], &[], 0);
    let env = [
        ("AWS_ENDPOINT_URL", moto.url()),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("ACCOUNTS_TABLE", "accounts".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |args: &[&str]| {
        let mut all = vec!["accounts"];
        all.extend(args);
        ctrack(&env, &all)
    };
    let (code, _, err) = run(&[
        "add",
        "444444444444",
        "--name",
        "delta",
        "--regions",
        "eu-west-1,us-east-1",
        "--role-arn",
        "arn:aws:iam::444444444444:role/reader",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(&["list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("444444444444\tdelta\ttrue\teu-west-1,us-east-1\tarn:aws:iam::444444444444:role/reader\n"),
        "{out}"
    );
    assert!(out.contains("333333333333\t"), "{out}");
    let json: Vec<serde_json::Value> =
        serde_json::from_str(&run(&["list", "-o", "json"]).1).unwrap();
    assert!(json
        .iter()
        .any(|a| a["id"] == "444444444444" && a["name"] == "delta"));
    let csv = run(&["list", "-o", "csv"]).1;
    assert!(
        csv.contains("444444444444,delta,true,\"eu-west-1,us-east-1\",arn:aws:iam::444444444444:role/reader\n"),
        "{csv}"
    );
    assert_eq!(run(&["disable", "444444444444"]).0, 0);
    assert!(run(&["list"]).1.contains("444444444444\tdelta\tfalse\t"));
    assert_eq!(run(&["enable", "444444444444"]).0, 0);
    assert!(run(&["list"]).1.contains("444444444444\tdelta\ttrue\t"));
    assert_eq!(run(&["remove", "444444444444"]).0, 0);
    assert!(!run(&["list"]).1.contains("444444444444"));

    let (code, _, err) = run(&["remove", "444444444444"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("account 444444444444 is not in the accounts table"),
        "{err}"
    );
    let (code, _, err) = run(&["disable", "555555555555"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("account 555555555555 is not in the accounts table"),
        "{err}"
    );
    let (code, _, err) = run(&["add", "12345", "--name", "x"]);
    assert_ne!(code, 0);
    assert!(err.contains("12 digits"), "{err}");
    let (code, _, err) = run(&["add", "444444444444", "--name", "x", "--regions", "mars-1"]);
    assert_ne!(code, 0);
    assert!(err.contains("not an AWS region"), "{err}");
}

/// A day larger than one page: ctrack reads it page after page (limit and the cursor the API
/// gives), so its report holds every row, however large the day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_of_a_day_larger_than_a_page_are_read_page_by_page() {
    let redis = RedisServer::start();
    let store = store(&redis).await;
    let rows = ctrack_cli::report::PAGE_ROWS * 2 + 500;
    let increments = (0..rows)
        .map(|i| Increment {
            account: A,
            region: "eu-west-1",
            member: keys::connection_member(
                format!("198.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
                "shop.elb.amazonaws.com",
                22,
            ),
            count: 1 + (i % 7) as u64,
            bare_ip: None,
        })
        .collect();
    store
        .write(&one_payload("2026-11-27", "big-day", increments))
        .await
        .unwrap();
    let api = serve(&redis, store).await;
    let (code, out, err) = ctrack(
        &[],
        &[
            "connections",
            api.url.as_str(),
            "--from",
            "2026-11-27",
            "--to",
            "2026-11-27",
            "-o",
            "tsv",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(lines.len(), rows, "every row of the day, once");
    let distinct: std::collections::HashSet<&str> = lines.iter().copied().collect();
    assert_eq!(distinct.len(), rows);
    let total: u64 = lines
        .iter()
        .map(|l| l.rsplit('\t').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, (0..rows).map(|i| 1 + (i % 7) as u64).sum::<u64>());
    // Three pages of /connections, after /accounts.
    let pages = api.requests.lock().unwrap().len();
    assert_eq!(pages, 1 + 3, "one /accounts, then three pages");
}

/// The evidence archive: the refresh's archiver writes each closed day once to S3 (moto), a few
/// days per run, never twice; `ctrack connections s3://…` then prints exactly what the API
/// printed for the same range, for days Redis may no longer hold.
#[tokio::test(flavor = "multi_thread")]
async fn closed_days_are_archived_once_and_read_back_as_the_api_gave_them() {
    use connection_tracker::api::review_day;
    use connection_tracker::config::ArchiveConfig;
    use connection_tracker::refresh::archive::{archive_closed_days, ArchiveStop, EMPTY};
    use connection_tracker::store::s3::S3Bucket;
    use connection_tracker::store::ArchiveMarks;
    use tokio::time::Instant;

    let redis = RedisServer::start();
    let api = api_with_samples(&redis).await;
    let moto = MotoServer::start();
    moto.s3("s3.create_bucket(Bucket='evidence', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})");
    // Versioned, as the template's archive bucket (Object Lock needs it).
    moto.s3("s3.put_bucket_versioning(Bucket='evidence', VersioningConfiguration={'Status': 'Enabled'})");
    let bucket = S3Bucket::new(&moto.sdk_config().await, "evidence");
    let store = store(&redis).await;
    // Two more days with rows besides the samples' 2026-11-27.
    for (day, id) in [("2026-11-24", "p24"), ("2026-11-25", "p25")] {
        let row = |source: &str, port: u16, count: u64| Increment {
            account: A,
            region: "eu-west-1",
            member: keys::connection_member(source, "web/52.16.0.20", port),
            count,
            bare_ip: source.parse().ok(),
        };
        store
            .write(&one_payload(
                day,
                id,
                vec![row("85.1.2.3", 22, 4), row("9.9.9.9", 443, 1)],
            ))
            .await
            .unwrap();
    }
    // As the archiver sees it on 2026-11-30 with 10 days kept: 2026-11-20..27 are closed.
    let now = time::macros::datetime!(2026-11-30 00:00 UTC);
    let retention = 10;
    let config = ArchiveConfig {
        bucket: "evidence".into(),
        prefix: "connections/".into(),
        after_hours: 48,
        max_days_per_run: 2,
        retention_days: retention,
        networks: Default::default(),
    };
    // A run whose deadline has come writes nothing and marks nothing: the next run does it.
    let late = archive_closed_days(
        &store,
        &bucket,
        (&config, review_day),
        now,
        Some(Instant::now()),
    )
    .await
    .unwrap();
    assert_eq!(
        (late.stopped, late.archived.len(), late.pending),
        (Some(ArchiveStop::Deadline), 0, 8),
        "2026-11-20..27 wait"
    );
    assert!(store.archived_days().await.unwrap().is_empty());
    let first = archive_closed_days(&store, &bucket, (&config, review_day), now, None)
        .await
        .unwrap();
    assert_eq!(
        first.archived,
        ["2026-11-24", "2026-11-25"],
        "oldest first, two a run"
    );
    assert!(
        first.stopped.is_none() && first.rows > 0 && first.bytes > 0,
        "{first:?}"
    );
    let mut runs = vec![first];
    while runs.last().unwrap().pending > 0 {
        runs.push(
            archive_closed_days(&store, &bucket, (&config, review_day), now, None)
                .await
                .unwrap(),
        );
        assert!(runs.len() < 100, "the archive catches up");
    }
    let archived: Vec<String> = runs.iter().flat_map(|r| r.archived.clone()).collect();
    assert_eq!(
        archived,
        ["2026-11-24", "2026-11-25", "2026-11-27"],
        "each day written once"
    );
    let again = archive_closed_days(&store, &bucket, (&config, review_day), now, None)
        .await
        .unwrap();
    assert!(again.archived.is_empty() && again.pending == 0, "{again:?}");
    let marks = store.archived_days().await.unwrap();
    assert_eq!(
        marks.get("2026-11-22").map(String::as_str),
        Some(EMPTY),
        "a quiet day: marked, nothing written"
    );
    assert_eq!(
        marks.get(&archived[0]).map(String::as_str),
        Some(
            format!(
                "s3://evidence/connections/day={}/connections.jsonl.gz",
                archived[0]
            )
            .as_str()
        )
    );
    // A lost mark: the object is there already, so it is marked again, never overwritten.
    let before = moto.s3(&format!(
        "print(s3.head_object(Bucket='evidence', Key='connections/day={}/connections.jsonl.gz')['ETag'])",
        archived[0]
    ));
    redis.cli(&["HDEL", keys::ARCHIVED, &archived[0]]);
    let remarked = archive_closed_days(&store, &bucket, (&config, review_day), now, None)
        .await
        .unwrap();
    assert_eq!(
        (remarked.already_there, remarked.archived.len()),
        (1, 0),
        "{remarked:?}"
    );
    let after = moto.s3(&format!(
        "print(s3.head_object(Bucket='evidence', Key='connections/day={}/connections.jsonl.gz')['ETag'])",
        archived[0]
    ));
    assert_eq!(before, after);

    // Read back: the same report as from the API, summed and per day.
    let s3_env = [
        ("AWS_ENDPOINT_URL", moto.url()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "eu-west-1".to_string()),
    ];
    let s3_env: Vec<(&str, &str)> = s3_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for extra in [
        &["-o", "tsv"][..],
        &["-o", "tsv", "--per-day"],
        &["--suspicious", "-o", "csv"],
    ] {
        let mut from_api = vec!["connections", api.url.as_str()];
        from_api.extend(WEEK);
        from_api.extend(extra);
        let mut from_archive = vec!["connections", "s3://evidence/connections"];
        from_archive.extend(WEEK);
        from_archive.extend(extra);
        let (code, api_out, err) = ctrack(&[], &from_api);
        assert_eq!(code, 0, "{err}");
        let (code, archive_out, err) = ctrack(&s3_env, &from_archive);
        assert_eq!(code, 0, "{err}");
        assert!(api_out.lines().count() > 2, "{api_out}");
        assert_eq!(archive_out, api_out, "{extra:?}");
        assert!(
            err.contains("2026-11-22"),
            "a day without an object is said: {err}"
        );
    }
    // A rewritten day (an overwrite the bucket policy denies; here done anyway): ctrack reads
    // the first version, the evidence, and says a newer one exists.
    let day_key = format!("connections/day={}/connections.jsonl.gz", archived[0]);
    moto.s3(&format!(
        "import gzip\n\
         old = gzip.decompress(s3.get_object(Bucket='evidence', Key='{day_key}')['Body'].read())\n\
         assert b'85.1.2.3' in old\n\
         s3.put_object(Bucket='evidence', Key='{day_key}', Body=gzip.compress(old.replace(b'85.1.2.3', b'85.1.2.4')))"
    ));
    let mut from_api = vec!["connections", api.url.as_str()];
    from_api.extend(WEEK);
    from_api.extend(["-o", "tsv", "--per-day"]);
    let mut from_archive = vec!["connections", "s3://evidence/connections"];
    from_archive.extend(WEEK);
    from_archive.extend(["-o", "tsv", "--per-day"]);
    let (_, api_out, _) = ctrack(&[], &from_api);
    let (code, archive_out, err) = ctrack(&s3_env, &from_archive);
    assert_eq!(code, 0, "{err}");
    assert_eq!(archive_out, api_out, "the first version is read");
    assert!(!archive_out.contains("85.1.2.4"), "{archive_out}");
    assert!(
        err.contains(&format!("{} was written again 1 time(s)", archived[0])),
        "{err}"
    );
    // A day that is not closed yet is not in the archive: said, not invented.
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let (code, out, err) = ctrack(
        &s3_env,
        &[
            "connections",
            "s3://evidence/connections",
            "--from",
            &today,
            "-o",
            "tsv",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "header only: {out}");
    assert!(err.contains(&today), "{err}");
}

/// Sends one raw HTTP/1.1 request (every header as given, `Host` included) and answers the
/// status line, the headers (lower-case names) and the body.
async fn raw_get(
    port: u16,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap_or("")
        .split(' ')
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `ctrack ui`: the session token, then the cookie; only its own Host, no other Origin, no
/// cross-site fetch, GET only, only the API's routes; a strict CSP on everything.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_serves_only_its_session_at_its_own_address() {
    let redis = RedisServer::start();
    let api = api_with_samples(&redis).await;
    let client = ApiClient::new(&api.url, Auth::None, Duration::from_secs(5)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let ui = ctrack_cli::ui::Ui::new(client, port, vec![443, 0]).unwrap();
    let url = ui.url();
    let token = url.split("token=").nth(1).unwrap().to_string();
    assert_eq!(token.len(), 64, "32 random bytes");
    tokio::spawn(ui.serve(listener));
    let host = format!("127.0.0.1:{port}");
    let own = [("host", host.as_str())];

    // No session: 401, with the CSP even on errors.
    let (status, headers, _) = raw_get(port, "/", &own).await;
    assert_eq!(status, 401);
    assert!(header(&headers, "content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    // A wrong token: 403. The right one: the cookie, and the token out of the address bar.
    assert_eq!(raw_get(port, "/?token=00", &own).await.0, 403);
    let (status, headers, _) = raw_get(port, &format!("/?token={token}"), &own).await;
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), Some("/"));
    let cookie = header(&headers, "set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let with = |extra: &[(&str, &str)]| {
        let mut h: Vec<(String, String)> = vec![
            ("host".into(), host.clone()),
            ("cookie".into(), session.clone()),
        ];
        h.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        h
    };
    let get = |target: String, headers: Vec<(String, String)>| async move {
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        raw_get(port, &target, &refs).await
    };
    let (status, headers, body) = get("/".into(), with(&[])).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("/app.js") && !body.contains("<script>"),
        "no inline script"
    );
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    let (status, _, body) = get("/api/accounts".into(), with(&[])).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("alpha"), "{body}");
    // Pages pass the API's cursor on.
    let (status, headers, _) =
        get("/api/connections?date=2026-11-27&limit=2".into(), with(&[])).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "x-next-cursor").is_some());
    // The API's errors come through as JSON the page can show.
    let (status, _, body) = get("/api/connections?bogus=1".into(), with(&[])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"parameter\":\"query\""), "{body}");
    // Its own two routes: the settings, and the graph laid out (the API checks the days).
    let (status, _, body) = get("/settings.json".into(), with(&[])).await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"expected_ports":[443,0],"max_range_days":31,"stale_after_seconds":3600}"#
        )
    );
    let (status, _, body) = get("/graph.json?date=2026-11-27".into(), with(&[])).await;
    assert_eq!(status, 200, "{body}");
    let graph: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(graph["nodes"].as_array().unwrap().len(), 2, "{body}");
    let (status, _, body) = get("/graph.json?date=2026-13-01".into(), with(&[])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"parameter\":\"from\""), "{body}");
    for path in ["/settings.json", "/graph.json"] {
        let bare = vec![("host".to_string(), host.clone())];
        assert_eq!(
            get(path.into(), bare).await.0,
            401,
            "{path} needs the session"
        );
    }
    // Refused: another Host (DNS rebinding), another Origin, a cross-site fetch, a path that
    // is no API route, and the cookie alone at another address.
    let rebinding = vec![
        ("host".to_string(), format!("evil.example:{port}")),
        ("cookie".into(), session.clone()),
    ];
    assert_eq!(get("/api/accounts".into(), rebinding).await.0, 403);
    assert_eq!(
        get(
            "/api/accounts".into(),
            with(&[("origin", "http://evil.example")])
        )
        .await
        .0,
        403
    );
    assert_eq!(
        get(
            "/api/accounts".into(),
            with(&[("sec-fetch-site", "cross-site")])
        )
        .await
        .0,
        403
    );
    // Same site is not same origin: another local port's page.
    assert_eq!(
        get(
            "/api/accounts".into(),
            with(&[("sec-fetch-site", "same-site")])
        )
        .await
        .0,
        403
    );
    for site in ["same-origin", "none"] {
        let (status, _, body) =
            get("/api/accounts".into(), with(&[("sec-fetch-site", site)])).await;
        assert_eq!(status, 200, "{site}: {body}");
    }
    // Each forwarded segment passes its route's own check: no encoded dot segment, no
    // backslash, no `;`, no extra segment reaches the API host.
    let good = "/api/connections/111111111111/eu-west-1?date=2026-11-27";
    assert_eq!(get(good.into(), with(&[])).await.0, 200);
    for target in [
        "/api/connections/111111111111/%2e%2e",
        "/api/connections/111111111111/%2E%2E?date=2026-11-27",
        "/api/connections/111111111111/..%2f",
        "/api/connections/111111111111/%252e%252e",
        "/api/connections/%2e%2e/eu-west-1",
        "/api/connections/111111111111/eu-west-1;x",
        "/api/connections/111111111111/eu-west-1/..",
        "/api/connections/1111/eu-west-1",
        "/api/public-endpoints/111111111111/..",
    ] {
        assert_eq!(get(target.into(), with(&[])).await.0, 404, "{target}");
    }
    let (status, _, _) = get(
        "/api/connections/111111111111/eu-west-1\\..".into(),
        with(&[]),
    )
    .await;
    assert!(status == 400 || status == 404, "a backslash: {status}");
    // Another `ctrack ui`'s cookie (another port) is no session here.
    let token_value = session.split_once('=').unwrap().1.to_string();
    let other = vec![
        ("host".to_string(), host.clone()),
        (
            "cookie".to_string(),
            format!("ctrack_ui_{}={token_value}", port.wrapping_add(1)),
        ),
    ];
    assert_eq!(get("/api/accounts".into(), other).await.0, 401);
    assert!(
        session.starts_with(&format!("ctrack_ui_{port}=")),
        "{session}"
    );
    assert_eq!(get("/api/../etc/passwd".into(), with(&[])).await.0, 404);
    assert_eq!(get("/api/accounts/../../x".into(), with(&[])).await.0, 404);
    let own_origin = format!("http://127.0.0.1:{port}");
    assert_eq!(
        get(
            "/api/openapi.json".into(),
            with(&[("origin", own_origin.as_str())])
        )
        .await
        .0,
        200
    );
}

/// The dashboard in a real browser: headless Chromium opens the printed URL (the token, then
/// the cookie, then the view of the link's fragment), runs the page's script against the API
/// and shows the data — filters, pages, the graph, each account's refresh health — and an API
/// that is away becomes a message on the page. A screenshot of every view is saved in the
/// folder the test prints (`CTRACK_UI_SCREENSHOTS`, default under the target directory).
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_renders_each_view_in_chromium() {
    let redis = RedisServer::start();
    let api = api_with_samples(&redis).await;
    // One region refreshed, one failing: the overview tells them apart. Names are the
    // estate's words (an account's name, a Name tag): shown as text, never as markup.
    let estate = store(&redis).await;
    estate
        .put_accounts(&accounts("bravo <img src=x>"))
        .await
        .unwrap();
    let mut tagged = connection_tracker::testing::interface(
        "eni-0hostile",
        B,
        "eu-central-1",
        "Primary network interface",
        "10.9.0.5",
        "52.57.0.5",
    );
    tagged.instance_name = Some("web<img src=x onerror=alert(1)>".into());
    estate
        .replace_region(
            B,
            "eu-central-1",
            &connection_tracker::model::RegionInventory {
                interfaces: vec![tagged],
                ..Default::default()
            },
            &connection_tracker::day::rfc3339_micros(time::OffsetDateTime::now_utc()),
        )
        .await
        .unwrap();
    estate
        .replace_region(
            A,
            "eu-west-1",
            &Default::default(),
            &connection_tracker::day::rfc3339_micros(time::OffsetDateTime::now_utc()),
        )
        .await
        .unwrap();
    estate
        .put_refresh_failures(&[(
            format!("{B}:eu-west-1"),
            connection_tracker::model::RefreshFailure {
                at: "2026-11-27T09:05:00.000000Z".into(),
                kind: "assume_role".into(),
                error: "AccessDenied <b>not</b> authorized".into(),
            },
        )])
        .await
        .unwrap();
    let url = serve_ui(api.url.clone()).await;
    let shots = std::env::var_os("CTRACK_UI_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    println!("screenshots of the dashboard: {}", shots.display());
    // The page's DOM once its script has run, and a picture of it (`shot`, if named).
    let dom = |link: String, shot: Option<(String, u32)>| {
        chromium_dom(
            link,
            shot.map(|(name, width)| (shots.join(format!("{name}.png")), width)),
        )
    };
    for (view, expected, absent) in [
        (
            "overview",
            vec![
                "alpha",
                "bravo",
                "shop-1234567890.eu-west-1.elb.amazonaws.com",
                "Connections per day",
                "class=\"chart\"",
                "class=\"health ok\"",
                "class=\"health failing\"",
                "eu-west-1: assume_role (AccessDenied &lt;b&gt;not&lt;/b&gt; authorized)",
                "accounts whose refresh fails or is stale",
            ],
            vec!["<b>not</b>", "<img"],
        ),
        (
            "exposure",
            vec![
                "shop-1234567890.eu-west-1.elb.amazonaws.com",
                "load_balancer",
                "web&lt;img src=x onerror=alert(1)&gt;",
            ],
            vec!["<img"],
        ),
        (
            "connections",
            vec!["85.1.2.3", "class=\"suspicious\""],
            vec![],
        ),
        ("changes", vec!["New sources", "198.199.70.1"], vec![]),
        (
            "endpoint?dest=web%2F52.16.0.20&port=22&",
            vec![
                "web/52.16.0.20 port 22",
                "85.1.2.3",
                "distinct sources",
                "class=\"bar\"",
            ],
            vec![],
        ),
        (
            "graph?days=7&",
            vec![
                "alpha (111111111111)",
                "bravo &lt;img src=x&gt; (222222222222)",
                "class=\"edge\"",
                "class=\"node account\"",
                "#/connections?date=2026-11-27&amp;account=111111111111",
                "account=111111111111&amp;source=222222222222%2F*",
            ],
            vec!["<img"],
        ),
    ] {
        let (name, sep) = match view.split_once('?') {
            Some((v, q)) => (v, format!("?{q}")),
            None => (view, "?".to_string()),
        };
        let page = dom(
            format!("{url}#/{name}{sep}date=2026-11-27"),
            Some((name.to_string(), 1280)),
        )
        .await;
        for text in expected {
            assert!(page.contains(text), "{name}: {text} missing in\n{page}");
        }
        for text in absent {
            assert!(!page.contains(text), "{name}: {text} shown in\n{page}");
        }
        assert!(!page.contains("Cannot show this view"), "{name}:\n{page}");
        if name != "endpoint" {
            assert!(
                page.contains("aria-current=\"page\""),
                "{name}: the nav marks the view"
            );
        }
    }

    // Rows as the API answers them for the same query, as the page shows them.
    let rows_of = |page: &str| -> Vec<String> {
        let body = page.split("<tbody>").nth(1).unwrap_or("");
        let body = body.split("</tbody>").next().unwrap_or("");
        body.split("<tr")
            .skip(1)
            .map(|row| {
                let row = row.split_once('>').map_or("", |(_, cells)| cells);
                let row = row.split("</tr>").next().unwrap_or("");
                let mut text = String::new();
                let mut inside = false;
                for c in row.chars() {
                    match c {
                        '<' => inside = true,
                        '>' => {
                            inside = false;
                            text.push('|');
                        }
                        c if !inside => text.push(c),
                        _ => {}
                    }
                }
                text.split('|')
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let api_rows = |query: &'static str| {
        let base = api.url.clone();
        async move {
            let client = ApiClient::new(&base, Auth::None, Duration::from_secs(5)).unwrap();
            let pairs: Vec<(&str, &str)> = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let (rows, next): (
                std::collections::BTreeMap<String, Vec<connection_tracker::model::Connection>>,
                _,
            ) = client.get_page("/connections", &pairs).await.unwrap();
            let mut out = Vec::new();
            // The page shows the account/region as the API keys it.
            for (pair, list) in rows {
                for r in list {
                    out.push(format!(
                        "{pair} {} {} {} {}",
                        r.dest, r.dest_port, r.source, r.score
                    ));
                }
            }
            (out, next)
        }
    };
    // A phone's width: the same page, laid out narrow (the picture is for a person to judge).
    let narrow = dom(
        format!("{url}#/connections?date=2026-11-27&limit=5"),
        Some(("connections-narrow".into(), 390)),
    )
    .await;
    assert!(
        narrow.contains("85.1.2.3") || narrow.contains("8.8.8.8"),
        "{narrow}"
    );
    // A filter in the link: the rows of exactly that query.
    let page = dom(
        format!("{url}#/connections?date=2026-11-27&port=22&account={A}"),
        None,
    )
    .await;
    let (expected, _) = api_rows("date=2026-11-27&port=22&account=111111111111&limit=200").await;
    assert!(!expected.is_empty());
    let (everything, _) = api_rows("date=2026-11-27&limit=200").await;
    assert!(
        everything.len() > expected.len(),
        "the filter leaves rows out"
    );
    let mut shown = rows_of(&page);
    let mut wanted = expected.clone();
    shown.sort();
    wanted.sort();
    assert_eq!(shown, wanted, "{page}");
    // A range from the header's picker: the week's rows summed, as the API sums them.
    let week = dom(format!("{url}#/connections?date=2026-11-27&days=7"), None).await;
    assert!(
        week.contains("2026-11-21 to 2026-11-27, summed over the days"),
        "{week}"
    );
    let (expected, _) = api_rows("from=2026-11-21&to=2026-11-27&limit=200").await;
    let mut shown = rows_of(&week);
    let mut wanted = expected.clone();
    shown.sort();
    wanted.sort();
    assert_eq!(shown, wanted, "{week}");
    // Pages: two rows, then the next page's link, whose rows are the API's second page.
    let first = dom(format!("{url}#/connections?date=2026-11-27&limit=2"), None).await;
    let (page_one, next) = api_rows("date=2026-11-27&limit=2").await;
    assert!(next.is_some());
    let mut shown = rows_of(&first);
    let mut wanted = page_one.clone();
    shown.sort();
    wanted.sort();
    assert_eq!(shown, wanted, "{first}");
    let link = first
        .split("href=\"#/connections?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next-page link")
        .replace("&amp;", "&");
    assert!(link.contains("cursor="), "{link}");
    let second = dom(format!("{url}#/connections?{link}"), None).await;
    let second_rows = rows_of(&second);
    assert_eq!(second_rows.len(), 2, "{second}");
    assert!(
        second_rows.iter().all(|r| !page_one.contains(r)),
        "page two repeats page one: {second_rows:?}"
    );

    // The API away: a message on the page, not a blank screen.
    let away = serve_ui("http://127.0.0.1:9".to_string()).await;
    let page = dom(format!("{away}#/overview"), Some(("api-away".into(), 1280))).await;
    assert!(
        page.contains("Cannot show this view") && page.contains("cannot be reached"),
        "{page}"
    );
    let page = dom(format!("{away}#/graph"), None).await;
    assert!(
        page.contains("Cannot show this view") && page.contains("cannot be reached"),
        "{page}"
    );
    // Credentials refused (API Gateway's 403 for a signature it does not accept): said so.
    const REFUSED: &str = "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n\
        x-amzn-errortype: IncompleteSignatureException\r\ncontent-length: 23\r\n\
        connection: close\r\n\r\n{\"message\":\"Forbidden\"}";
    let gateway = http_server(Some(REFUSED)).await;
    let refused = serve_ui(format!("http://127.0.0.1:{gateway}")).await;
    let page = dom(
        format!("{refused}#/connections"),
        Some(("auth-refused".into(), 1280)),
    )
    .await;
    assert!(
        page.contains("Forbidden")
            && page.contains(
                "the API refused ctrack's credentials (check AWS credentials or --token)"
            ),
        "{page}"
    );
    // An empty estate: no accounts yet, said so; a quiet day: said so.
    let empty_redis = RedisServer::start();
    let empty_api = serve(&empty_redis, store(&empty_redis).await).await;
    let empty = serve_ui(empty_api.url.clone()).await;
    let page = dom(
        format!("{empty}#/overview"),
        Some(("empty-estate".into(), 1280)),
    )
    .await;
    assert!(page.contains("No accounts are monitored yet"), "{page}");
    let page = dom(format!("{url}#/connections?date=2026-10-01"), None).await;
    assert!(page.contains("Nothing here for this day."), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exposure_prints_each_rule_its_verdict_and_the_commands_to_review() {
    use connection_tracker::testing::exposure;
    let redis = RedisServer::start();
    let store = store(&redis).await;
    exposure::fill(&store).await;
    let api = serve_with(&redis, store, exposure::networks(), DEFAULT_API_MAX_ROWS).await;
    let (code, out, err) = ctrack(
        &[],
        &[
            "exposure",
            &api.url,
            "--account-region",
            &format!("{}/eu-west-1", exposure::A),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let expected = format!(
        "{a}/eu-west-1\n\
endpoint                                                   group_id  rule_id    ports     source              verdict      score  sources  last_day    suggestion\n\
{db}  sg-db     sgr-pg     tcp/5433  0.0.0.0/0           narrow           2           2026-11-25  allow only office instead\n\
nlb-1.elb.eu-west-1.amazonaws.com                                               80        8.8.4.4             unexplained      6                       no rule that opens it to the internet lets this in: check the inventory\n\
web/52.0.0.5                                               sg-web    sgr-ssh    tcp/22    0.0.0.0/0           unused           0                       aws ec2 revoke-security-group-ingress --region eu-west-1 --group-id sg-web --security-group-rule-ids sgr-ssh\n\
web/52.0.0.5                                               sg-web    sgr-https  tcp/8443  0.0.0.0/0           used             4        1  2026-11-27  keep: sources from the internet use it\n\
web/52.0.0.5                                               sg-web    sgr-v6     tcp/443   ::/0                used             1           2026-11-25  keep: sources from the internet use it\n\
web/52.0.0.5                                               sg-web    sgr-pl     tcp/9000  pl-1 (85.1.0.0/16)  used             0           2026-11-25  keep: internet sources used its ports; whether from inside its blocks, only the rows of those days tell (ask for them with from/to)\n\n",
        a = exposure::A,
        db = exposure::DB
    );
    assert_eq!(out, expected);
    // CSV: a header and a line per rule or row, the quiet account/region's rule among them.
    let (code, out, _) = ctrack(
        &[],
        &[
            "exposure",
            &api.url,
            "-o",
            "csv",
            "--verdict",
            "no_flow_log",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "account_id,region,endpoint,group_id,rule_id,ports,source,verdict,score,sources,last_day,suggestion\n\
             {b},us-east-1,54.0.0.5,sg-b,sgr-b,tcp/22,0.0.0.0/0,no_flow_log,0,,,turn flow logs on for {b}/us-east-1 to judge it\n",
            b = exposure::B
        )
    );
    // The script: the unused rule's revocation, with what it closes; nothing run.
    let (code, out, _) = ctrack(&[], &["exposure", &api.url, "--commands"]);
    assert_eq!(code, 0);
    let commands: Vec<&str> = out.lines().filter(|l| l.starts_with("aws ")).collect();
    assert_eq!(
        commands,
        ["aws ec2 revoke-security-group-ingress --region eu-west-1 --group-id sg-web --security-group-rule-ids sgr-ssh"]
    );
    assert!(out.starts_with("#!/bin/sh\n"), "{out}");
    assert!(
        out.contains(
            "# sg-web tcp/22 from 0.0.0.0/0 on web/52.0.0.5 (111111111111/eu-west-1): unused\n"
        ),
        "{out}"
    );
    // Findings make status 4; none (only used rules on 8443) make 0.
    let (code, _, _) = ctrack(&[], &["exposure", &api.url, "--fail-on-findings"]);
    assert_eq!(code, 4);
    let (code, out, _) = ctrack(
        &[],
        &[
            "exposure",
            &api.url,
            "--fail-on-findings",
            "--port",
            "8443",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        json[format!("{}/eu-west-1", exposure::A)][0]["rules"][0]["rule"]["rule_id"],
        "sgr-https"
    );
    let (code, _, err) = ctrack(&[], &["exposure", &api.url, "--account-region", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("ACCOUNT/REGION"), "{err}");
}

/// ctrack ui in front of the API at `base`; its printed URL (with the session token).
async fn serve_ui(base: String) -> String {
    let client = ApiClient::new(&base, Auth::None, Duration::from_secs(5)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let ui = ctrack_cli::ui::Ui::new(client, port, vec![443, 0]).unwrap();
    let url = ui.url();
    tokio::spawn(ui.serve(listener));
    url
}

/// The DOM headless Chromium has once the page's script ran, and a picture of it (`shot`: the
/// file and the window's width).
async fn chromium_dom(link: String, shot: Option<(PathBuf, u32)>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new("chromium");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
        "--dump-dom",
    ]);
    let width = shot.as_ref().map_or(1280, |(_, width)| *width);
    command.arg(format!("--window-size={width},900"));
    if let Some((file, _)) = shot {
        command.arg(format!("--screenshot={}", file.display()));
    }
    let out = command
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&link)
        .output()
        .await
        .expect("chromium runs (apt-get install chromium)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Exposure view of the exposure estate: each rule with its verdict and suggestion, the
/// verdict filter from the link, the unexplained traffic.
#[tokio::test(flavor = "multi_thread")]
async fn the_exposure_view_shows_each_rule_its_verdict_and_what_to_do() {
    use connection_tracker::testing::exposure;
    let redis = RedisServer::start();
    let store = store(&redis).await;
    exposure::fill(&store).await;
    let api = serve_with(&redis, store, exposure::networks(), DEFAULT_API_MAX_ROWS).await;
    let url = serve_ui(api.url.clone()).await;
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exposure-rules.png");
    let page = chromium_dom(
        format!("{url}#/exposure?date=2026-11-27"),
        Some((shot, 1280)),
    )
    .await;
    assert!(!page.contains("Cannot show this view"), "{page}");
    assert!(
        page.contains("Rules open to the internet, 2026-10-28 to 2026-11-27"),
        "{page}"
    );
    for text in [
        "<span class=\"verdict unused\">unused</span>",
        "<code>aws ec2 revoke-security-group-ingress --region eu-west-1 --group-id sg-web --security-group-rule-ids sgr-ssh</code>",
        "<span class=\"verdict narrow\">narrow</span>",
        "<code>allow only office instead</code>",
        "pl-1 (85.1.0.0/16)",
        "<span class=\"verdict no_flow_log\">no_flow_log</span>",
        "<span class=\"verdict unexplained\">unexplained</span>",
    ] {
        assert!(page.contains(text), "{text} missing in\n{page}");
    }
    // 8443's row: its score over the range and its sources' estimate (the last day's).
    let https = page
        .split("<tr")
        .find(|row| row.contains("sgr-https"))
        .unwrap_or_default();
    assert!(
        page.contains("sources (est.)")
            && https.contains("<td class=\"num\">4</td><td class=\"num\">1</td>"),
        "{https}"
    );
    // The link's filter: unused rules only.
    let unused = chromium_dom(
        format!("{url}#/exposure?date=2026-11-27&verdict=unused"),
        None,
    )
    .await;
    assert_eq!(
        unused.matches("<span class=\"verdict ").count(),
        1,
        "{unused}"
    );
    assert!(
        unused.contains("sgr-ssh") && !unused.contains("sgr-https"),
        "{unused}"
    );
    // An API that reads fewer rows a request than the 31 days hold: the picked day's review,
    // said so, and the endpoints' table all the same.
    let small = serve_with(&redis, self::store(&redis).await, exposure::networks(), 5).await;
    let url = serve_ui(small.url.clone()).await;
    let page = chromium_dom(format!("{url}#/exposure?date=2026-11-27"), None).await;
    assert!(
        page.contains("Rules open to the internet, 2026-11-27<"),
        "{page}"
    );
    assert!(
        page.contains("The review of 2026-10-28 to 2026-11-27 was refused"),
        "{page}"
    );
    assert!(page.contains("API_MAX_ROWS"), "{page}");
    assert!(page.contains("nlb-1.elb.eu-west-1.amazonaws.com"), "{page}");
    assert!(!page.contains("Cannot"), "{page}");
    // No day picked: the whole retention, from the sums and the last day's rows, which that
    // API reads all the same. (Which verdicts depends on the clock: the estate's days are
    // in the retention on the real one, not under the test run's clock a year ahead.)
    let page = chromium_dom(format!("{url}#/exposure"), None).await;
    assert!(
        page.contains(
            "Rules open to the internet, the whole retention (top sources: the last day)"
        ),
        "{page}"
    );
    assert!(page.contains("<span class=\"verdict "), "{page}");
    assert!(
        !page.contains("was refused") && !page.contains("Cannot"),
        "{page}"
    );
}
