//! `ctrack replay events/` against a real redis-server: the sample events go through exactly
//! the ingest code path, and replaying them again counts nothing twice.

use std::path::PathBuf;
use std::process::Command;

use connection_tracker::testing::RedisServer;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ctrack(server: &RedisServer, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ctrack"))
        .current_dir(repo())
        .env("REDIS_URL", server.url())
        .env("RUST_BACKTRACE", "0")
        // The sample events are dated 2026-11-27; keep them inside retention whenever this runs
        // (and replay them with --force: they are older than the dedup window after 2026-11-30).
        .env("RETENTION_DAYS", "3650")
        .args(args)
        .output()
        .expect("ctrack runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn replaying_the_sample_events_shows_the_counters_once() {
    let server = RedisServer::start();
    let (code, out, err) = ctrack(
        &server,
        &[
            "replay",
            "--force",
            "--inventory",
            "events/inventory.json",
            "events/",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("payloads 4  records 15  accepted 13  counted 10  rejected 0  connections 9  duplicates 0"), "{out}");
    for line in [
        "  not counted, dropped_destination: 1",
        "  not counted, private_source: 2",
        "  111111111111/eu-west-1",
        "         2  8.8.8.8 -> shop-1234567890.eu-west-1.elb.amazonaws.com:443",
        "         1  85.1.2.3 -> web/52.16.0.20:22",
        "         1  2a00:1450:4001:81a::200e -> web/2a05:d018:1234:5600::20:443",
        "         1  222222222222/us-east-1/nat-us-east-1a.bravo.example.org -> 111111111111/eu-west-1/orders.c9akciq32.eu-west-1.rds.amazonaws.com:5432",
        "  222222222222/us-east-1",
        "         1  198.199.70.1 -> api/3.80.0.6:8080",
        "         1  111111111111/eu-west-1/nat-eu-west-1b.alpha.example.org -> ingress-6a3f0c1e2b4d5f6a.elb.us-east-1.amazonaws.com:443",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    assert!(
        err.contains("events/inventory.json: skipped, not a flow-log event"),
        "{err}"
    );

    // Replayed again: every payload is a duplicate, the scores stay.
    let (code, again, _) = ctrack(&server, &["replay", "--force", "events/"]);
    assert_eq!(code, 0);
    assert!(again.contains("duplicates 3"), "{again}");
    assert!(
        again.contains("         2  8.8.8.8 -> shop-1234567890.eu-west-1.elb.amazonaws.com:443"),
        "{again}"
    );
}

#[test]
fn a_corrupt_event_file_is_reported_and_the_rest_replayed() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a-corrupt.json"),
        r#"{"awslogs":{"data":"bm90IGd6aXA="}}"#,
    )
    .unwrap();
    std::fs::copy(
        repo().join("events/ingest-kinesis.json"),
        dir.path().join("b-kinesis.json"),
    )
    .unwrap();
    let (code, out, err) = ctrack(
        &server,
        &[
            "replay",
            "--force",
            "--inventory",
            "events/inventory.json",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "a failed event makes the exit status 2");
    assert!(
        err.contains("a-corrupt.json: cannot decode event: payload is not valid gzip"),
        "{err}"
    );
    assert!(out.contains("counted 3"), "{out}");
}

#[test]
fn a_bad_setting_is_named() {
    let server = RedisServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_ctrack"))
        .env("REDIS_URL", server.url())
        .env("RETENTION_DAYS", "forever")
        .args(["replay", "events/"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "RETENTION_DAYS=\"forever\" is invalid; expected a whole number from 1 to 3650"
        ),
        "{err}"
    );
}

/// An event written as a CloudWatch Logs delivery whose records are `age_secs` old.
fn aged_event(dir: &std::path::Path, name: &str, age_secs: u64) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t = now - age_secs;
    let line = format!(
        "2 111111111111 eni-0a1b2c3d4e5f60001 8.8.8.8 10.0.1.10 49152 443 6 1 40 {t} {t} ACCEPT OK"
    );
    let message = connection_tracker::testing::logs_message(
        "111111111111",
        "/vpc/flow-logs",
        &[&line],
        t * 1000,
    );
    let path = dir.join(name);
    std::fs::write(
        &path,
        connection_tracker::testing::logs_event(&message).to_string(),
    )
    .unwrap();
    path
}

#[test]
fn a_redrive_older_than_the_dedup_window_is_refused_unless_forced() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let old = aged_event(dir.path(), "old.json", 4 * 86_400);
    let recent = aged_event(dir.path(), "recent.json", 3600);
    let inventory = ["--inventory", "events/inventory.json"];

    let (code, out, err) = ctrack(
        &server,
        &[&["replay"][..], &inventory, &[old.to_str().unwrap()]].concat(),
    );
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("old.json: refused"), "{err}");
    assert!(err.contains("DEDUP_WINDOW_HOURS (72 h)"), "{err}");
    assert!(
        out.contains("counted 0"),
        "nothing of a refused file is counted: {out}"
    );

    let (code, out, err) = ctrack(&server, &["replay", recent.to_str().unwrap()]);
    assert_eq!(code, 0, "a recent event needs no --force: {out}{err}");
    assert!(out.contains("counted 1"), "{out}");

    let (code, out, err) = ctrack(&server, &["replay", "--force", old.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("counted 1"), "{out}");
}

/// The sample events' records as S3 delivers them (`.log.gz` under `AWSLogs/…`, written by
/// Python's gzip): replayed, they give exactly the counters the events gave; replayed again,
/// nothing more.
#[test]
fn flow_logs_delivered_to_s3_count_as_the_events_did() {
    for format in ["text", "parquet"] {
        s3_objects_count_as_the_events_did(format);
    }
}

/// The sample events as .log.gz (Python's gzip) or .log.parquet (pyarrow, AWS's schema).
fn s3_objects_count_as_the_events_did(format: &str) {
    let write = |folder_day: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(connection_tracker::testing::venv_tool("python3"))
            .arg(repo().join("scripts/events_to_s3_objects.py"))
            .arg(dir.path())
            .arg(repo().join("events/ingest-cloudwatch-logs.json"))
            .arg(repo().join("events/ingest-kinesis.json"))
            .env("FOLDER_DAY", folder_day)
            .env("OBJECT_FORMAT", format)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    };
    let dir = write("2026/11/27");
    let counters = |server: &RedisServer| server.day_counters("2026-11-27");
    let events = RedisServer::start();
    let (code, _, err) = ctrack(
        &events,
        &[
            "replay",
            "--force",
            "--inventory",
            "events/inventory.json",
            "events/ingest-cloudwatch-logs.json",
            "events/ingest-kinesis.json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let objects = RedisServer::start();
    let folder = dir.path().display().to_string();
    let replay = |force: bool| {
        let mut args = vec!["replay", "--inventory", "events/inventory.json", "--json"];
        if force {
            args.push("--force");
        }
        args.push(&folder);
        ctrack(&objects, &args)
    };
    // Files of a day long past the dedup window: refused without --force, exit 3.
    let old = write("2020/01/01");
    let (code, _, err) = ctrack(&objects, &["replay", &old.path().display().to_string()]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("refused") && err.contains("2020-01-01"),
        "{err}"
    );
    let (code, out, err) = replay(true);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(summary["summary"]["counted"].as_u64().unwrap() > 0, "{out}");
    assert_eq!(counters(&objects), counters(&events));
    let (code, out, err) = replay(true);
    assert_eq!(code, 0, "{err}");
    let again: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    // Every chunk of every object was seen before: all duplicates, nothing written.
    assert_eq!(
        again["summary"]["duplicates"], again["summary"]["payloads"],
        "{out}"
    );
    assert_eq!(counters(&objects), counters(&events), "nothing twice");
}
