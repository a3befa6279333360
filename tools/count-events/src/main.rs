//! What ingest would count, without Redis or AWS: each event file decoded, parsed, classified
//! and aggregated as the function does it, printed as sorted text. Built for arm64 and run
//! under qemu-user, it must print exactly what the x86-64 build prints
//! (`scripts/aarch64-compare.sh`): the functions run on Graviton, and decode (zlib-rs picks
//! SIMD paths at run time), the hand-written parsers and the counting must not depend on the
//! machine.
//!
//! ```text
//! count-events count NOW INVENTORY.json [--networks name=cidr,…] [--digest] [--lines] FILE|DIR…
//!     --lines: each file is flow-log text (a `${field} …` format line, then records), counted
//!     as one CloudWatch Logs message of account 123456789010 (AWS's documentation account)
//! count-events workload DIR EVENTS RECORDS NOW      # the replay bench's mix, written as files
//! ```
//! `NOW` (Unix seconds) is the clock both builds use, so both accept the same days.
// A function fits on a screen (clippy.toml): denied outside the tests, in the one clippy run.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

use std::path::{Path, PathBuf};
use std::time::Instant;

use connection_tracker::config::Env;
use connection_tracker::ingest::inventory::Inventory;
use connection_tracker::ingest::payload::{decode_data, FlowEvent, LogsMessage};
use connection_tracker::ingest::{aggregate, Context, WritePolicy};
use connection_tracker::model::{InventoryFile, InventorySnapshot};
use connection_tracker::rules::flowlog::FlowLogFormat;
use connection_tracker::testing::flow_mix::Mix;
use connection_tracker::testing::{encode_payload, logs_message, Rng};

/// As the function: a payload may decode to at most this much.
const DECODED_LIMIT: usize = 64 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("count") => count(&args[1..]),
        Some("workload") => workload(&args[1..]),
        _ => Err("usage: count-events count NOW INVENTORY.json [--networks …] [--digest] FILE|DIR… | workload DIR EVENTS RECORDS NOW".into()),
    };
    if let Err(e) = result {
        eprintln!("count-events: {e}");
        std::process::exit(2);
    }
}

fn files(paths: &[String]) -> Vec<PathBuf> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(path) {
                for entry in entries.flatten() {
                    walk(&entry.path(), out);
                }
            }
        } else {
            out.push(path.to_path_buf());
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(Path::new(p), &mut out);
    }
    out.sort();
    out
}

fn count(args: &[String]) -> Result<(), String> {
    let now: i64 = args
        .first()
        .and_then(|n| n.parse().ok())
        .ok_or("NOW: Unix seconds")?;
    let inventory_path = args.get(1).ok_or("INVENTORY.json")?;
    let mut networks = String::new();
    let mut digest = false;
    let mut lines_mode = false;
    let mut paths = Vec::new();
    let mut rest = args[2..].iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--networks" => networks = rest.next().cloned().unwrap_or_default(),
            "--digest" => digest = true,
            "--lines" => lines_mode = true,
            _ => paths.push(a.clone()),
        }
    }
    let inventory = load_inventory(inventory_path, networks)?;
    let format = FlowLogFormat::default_v2();
    let ctx = Context {
        fallback_format: &format,
        default_region: "eu-west-1",
        retention_days: 90,
        shared_vpc_owners: &[],
        now,
    };
    let policy = WritePolicy {
        retention_days: 90,
        dedup_window: std::time::Duration::from_secs(72 * 3600),
        limits: Default::default(),
    };
    let clock = time::OffsetDateTime::from_unix_timestamp(now).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut records = 0;
    for path in files(&paths) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let Some((bytes, spec)) = event_bytes(
            bytes,
            lines_mode,
            path.extension().is_some_and(|e| e == "json"),
            now,
        ) else {
            continue;
        };
        let datas: Vec<String> = match FlowEvent::from_slice(&bytes) {
            Ok(FlowEvent::Logs { data }) => vec![data],
            Ok(FlowEvent::Kinesis { records }) => records.into_iter().map(|r| r.data).collect(),
            Err(e) => {
                println!("{name}\tnot an event: {e}");
                continue;
            }
        };
        let decoded: Vec<Result<Vec<u8>, String>> = datas
            .iter()
            .map(|d| decode_data(d, DECODED_LIMIT).map_err(|e| e.to_string()))
            .collect();
        let mut messages = Vec::new();
        for (i, d) in decoded.iter().enumerate() {
            match d {
                Ok(bytes) => match LogsMessage::parse(bytes) {
                    Ok(mut m) => {
                        if let Some(spec) = &spec {
                            m.format = Some(
                                FlowLogFormat::parse(spec)
                                    .map_err(|e| format!("{name}: format {spec:?}: {e}"))?,
                            );
                        }
                        messages.push(m)
                    }
                    Err(e) => println!("{name}\tpayload {i}: {e}"),
                },
                Err(e) => println!("{name}\tpayload {i}: {e}"),
            }
        }
        let agg = aggregate(&inventory, &ctx, &messages);
        records += agg.summary.records;
        let ids: Vec<String> = (0..messages.len()).map(|i| format!("p{i}")).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let write = agg.to_write(&id_refs, &policy, clock);
        let lines = increments(&write);
        print_file(&name, &agg.summary, &lines, digest);
    }
    let s = started.elapsed().as_secs_f64();
    eprintln!(
        "{} records in {s:.2} s = {:.0} records/s on {}",
        records,
        records as f64 / s,
        std::env::consts::ARCH
    );
    Ok(())
}

fn workload(args: &[String]) -> Result<(), String> {
    let [dir, events, per_event, now] = args else {
        return Err("workload DIR EVENTS RECORDS NOW".into());
    };
    let parse = |v: &str| v.parse::<u64>().map_err(|_| format!("{v}: a number"));
    let (events, per_event, now) = (parse(events)?, parse(per_event)?, parse(now)?);
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir.join("events")).map_err(|e| e.to_string())?;
    let mix = Mix::new();
    std::fs::write(
        dir.join("inventory.json"),
        serde_json::to_vec(&mix.inventory_file()).unwrap(),
    )
    .map_err(|e| e.to_string())?;
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for e in 0..events {
        std::fs::write(
            dir.join("events").join(format!("{e:05}.json")),
            mix.event(&mut rng, now, e, per_event),
        )
        .map_err(|e| e.to_string())?;
    }
    println!(
        "{events} events of {per_event} records in {}",
        dir.display()
    );
    Ok(())
}

/// An inventory file as the store would hold it, read as ingest reads it.
fn load_inventory(path: &str, networks: String) -> Result<Inventory, String> {
    let file: InventoryFile =
        serde_json::from_slice(&std::fs::read(path).map_err(|e| format!("{path}: {e}"))?)
            .map_err(|e| format!("{path}: {e}"))?;
    let snapshot = InventorySnapshot {
        interfaces: file
            .interfaces
            .iter()
            .map(|f| (f.interface_id.clone(), serde_json::to_string(f).unwrap()))
            .collect(),
        addresses: file.addresses.into_iter().collect(),
        formats: file.formats.into_iter().collect(),
        private_interfaces: Default::default(),
    };
    let networks = Env(move |name: &str| (name == "NETWORKS").then(|| networks.clone()))
        .networks()
        .map_err(|e| e.to_string())?;
    let (inventory, problems) = Inventory::from_snapshot(&snapshot, networks);
    if !problems.is_empty() {
        return Err(format!("inventory problems: {problems:?}"));
    }
    Ok(inventory)
}

/// A file as an event's bytes and, with `--lines`, the format its first line gives: the
/// records as one CloudWatch Logs message of AWS's documentation account. `None`: not an event.
fn event_bytes(
    bytes: Vec<u8>,
    lines_mode: bool,
    is_json: bool,
    now: i64,
) -> Option<(Vec<u8>, Option<String>)> {
    if lines_mode {
        // The format line, then the records: one message, its format given.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut lines = text.lines();
        let spec = Some(lines.next().unwrap_or_default().to_string());
        let records: Vec<&str> = lines.collect();
        let message = logs_message(
            "123456789010",
            "/vpc/flow-logs",
            &records,
            now as u64 * 1000,
        );
        let event = serde_json::json!({"awslogs": {"data": encode_payload(message.to_string().as_bytes())}});
        Some((event.to_string().into_bytes(), spec))
    } else if is_json {
        Some((bytes, None))
    } else {
        None
    }
}

/// The write's increments as sorted text lines.
fn increments(write: &connection_tracker::store::WriteBatch<'_>) -> Vec<String> {
    let mut lines: Vec<String> = write
        .days
        .iter()
        .flat_map(|d| {
            d.payloads.iter().flat_map(move |p| {
                p.increments.iter().map(move |i| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{:?}",
                        d.day, p.id, i.account, i.region, i.member, i.count, i.bare_ip
                    )
                })
            })
        })
        .collect();
    lines.sort();
    lines
}

/// One file's summary and increments (or their digest) as the comparison reads them.
fn print_file(
    name: &str,
    summary: &connection_tracker::ingest::Summary,
    lines: &[String],
    digest: bool,
) {
    println!("{name}\tsummary\t{summary:?}");
    if digest {
        let text = lines.join("\n");
        println!(
            "{name}\t{} increments\txxh3 {:032x}",
            lines.len(),
            xxhash_rust::xxh3::xxh3_128(text.as_bytes())
        );
    } else {
        for line in lines {
            println!("{name}\t{line}");
        }
    }
}
