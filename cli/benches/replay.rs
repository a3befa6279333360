//! `ctrack replay` of a large workload into a local redis-server, against the decode floor.
//!
//! Writes the workload (`REPLAY_EVENTS` CloudWatch Logs events, default 1,000, of
//! `REPLAY_RECORDS` v2 records each, default 2,000: the pipeline bench's mix with scanners,
//! timed within the last hour), prints CPython's decode of the same files
//! (`scripts/decode_floor.py`: event JSON + base64 + gunzip in C zlib), then replays them through
//! the ingest code path — one event after the other as the function does, then with batches in
//! flight (`--concurrency`) and events grouped into batches (`--group`) as replay does — best
//! of 3 each, Redis emptied before each run. `REPLAY_RUNS=1x1,4x16` picks the runs
//! (in flight × group).
//!
//! Run: `cargo bench -p ctrack-cli --bench replay` — ctrack runs on one thread; do not pin the
//! bench with taskset: the redis-server it starts would share that core.

use std::process::Command;
use std::time::Instant;

use connection_tracker::testing::flow_mix::{Mix, NETWORKS};
use connection_tracker::testing::{RedisServer, Rng};
use ctrack_cli::replay::{replay, ReplayOptions};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (events, per_event) = (
        env_number("REPLAY_EVENTS", 1_000),
        env_number("REPLAY_RECORDS", 2_000),
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let events_dir = dir.path().join("events");
    std::fs::create_dir(&events_dir).unwrap();
    let mix = Mix::new();
    let inventory = dir.path().join("inventory.json");
    std::fs::write(
        &inventory,
        serde_json::to_vec(&mix.inventory_file()).unwrap(),
    )
    .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut bytes = 0;
    for e in 0..events {
        let text = mix.event(&mut rng, now, e as u64, per_event as u64);
        bytes += text.len();
        std::fs::write(events_dir.join(format!("event-{e:05}.json")), text).unwrap();
    }
    let records = events * per_event;
    println!(
        "ctrack replay benchmark: {events} events of {per_event} records ({records} records, {:.1} MiB of events)",
        bytes as f64 / (1 << 20) as f64
    );

    let floor = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/decode_floor.py"
        ))
        .arg(&events_dir)
        .output()
        .expect("python3 runs");
    let floor_text = String::from_utf8_lossy(&floor.stdout).trim().to_string();
    println!("{floor_text} (CPython, C zlib)");
    let floor_rate: f64 = floor_text
        .rsplit("= ")
        .next()
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .unwrap_or(f64::NAN);

    let redis = RedisServer::start();
    // The ingest settings replay reads, as a function of the stack would have them.
    std::env::set_var("REDIS_URL", redis.url());
    std::env::set_var("NETWORKS", NETWORKS);
    // ctrack on one thread (so one core); redis-server has the other.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sources = [events_dir.display().to_string()];
    println!(
        "{:>10} {:>6} {:>10} {:>14} {:>10} {:>16}",
        "in flight", "group", "best s", "records/s", "× floor", "Redis scripts s"
    );
    // One event at a time, each alone: the function's path. Then replay's: batches in flight,
    // events grouped into batches (`--group`).
    let runs: Vec<(usize, usize)> = match std::env::var("REPLAY_RUNS") {
        Ok(text) => text
            .split(',')
            .filter_map(|run| run.split_once('x'))
            .filter_map(|(c, g)| Some((c.parse().ok()?, g.parse().ok()?)))
            .collect(),
        Err(_) => vec![(1, 1), (4, 1), (4, 4), (4, 16), (4, 64)],
    };
    for (concurrency, group) in runs {
        let (mut best, mut busy) = (f64::INFINITY, 0.0);
        for _ in 0..3 {
            redis.cli(&["FLUSHALL"]);
            redis.cli(&["CONFIG", "RESETSTAT"]);
            let options = ReplayOptions {
                json: true,
                force: false,
                delete_replayed: false,
                concurrency,
                group,
            };
            let started = Instant::now();
            runtime
                .block_on(replay(&sources, Some(inventory.as_path()), options))
                .expect("replay");
            let elapsed = started.elapsed().as_secs_f64();
            if elapsed < best {
                best = elapsed;
                busy = redis_busy_seconds(&redis);
            }
            if std::env::var_os("BENCH_STATS").is_some() {
                eprintln!("{}", redis.cli(&["INFO", "commandstats"]));
            }
        }
        let rate = records as f64 / best;
        println!(
            "{concurrency:>10} {group:>6} {best:>10.3} {rate:>14.0} {:>10.2} {busy:>16.3}",
            rate / floor_rate
        );
    }
}

/// Time Redis spent in the write scripts since the last `CONFIG RESETSTAT` (INFO
/// commandstats; a script's time includes the commands it calls, which are listed too).
fn redis_busy_seconds(redis: &RedisServer) -> f64 {
    redis
        .cli(&["INFO", "commandstats"])
        .lines()
        .filter(|line| line.starts_with("cmdstat_eval"))
        .filter_map(|line| line.split("usec=").nth(1))
        .filter_map(|rest| rest.split(',').next())
        .filter_map(|usec| usec.parse::<f64>().ok())
        .sum::<f64>()
        / 1e6
}
