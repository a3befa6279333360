//! `ctrack replay`: event files (sample events, saved deliveries) through exactly the ingest
//! function's code path, into the Redis of `REDIS_URL`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use connection_tracker::config::Env;
use connection_tracker::ingest::payload::{DecodeError, FlowEvent};
use connection_tracker::ingest::{IngestError, Ingestor, Summary};
use connection_tracker::model::InventoryFile;
use connection_tracker::store::RedisStore;

/// The event files under `paths`, in a stable order.
fn event_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read directory {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!("{} is neither a file nor a directory", path.display());
        }
    }
    Ok(files)
}

/// Replays the events under `paths`; prints the summary (JSON with `json`). An event whose
/// newest record is older than the dedup window is refused unless `force`: its payloads may
/// have been counted already, and their redelivery records have expired, so it could count
/// twice.
pub async fn replay(
    paths: &[PathBuf],
    inventory: Option<&Path>,
    json: bool,
    force: bool,
) -> Result<()> {
    let files = event_files(paths)?;
    let config = Env::process().ingest()?;
    let store = RedisStore::connect(&config.redis).await?;
    if let Some(path) = inventory {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let file: InventoryFile = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not an inventory file", path.display()))?;
        store.put_inventory(&file).await?;
    }
    let (window, limit) = (config.dedup_window, config.max_decompressed_bytes);
    let ingestor = Ingestor::new(store, config);
    let now = time::OffsetDateTime::now_utc();
    let oldest_allowed_ms = (now.unix_timestamp() - window.as_secs() as i64) * 1000;
    let mut refused = 0u64;
    let mut total = Summary::default();
    let (mut failed_events, mut item_failures, mut skipped_files) = (0u64, 0u64, 0u64);
    for file in files {
        let bytes =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let event = match FlowEvent::from_slice(&bytes) {
            Ok(event) => event,
            Err(DecodeError::UnknownEvent) => {
                skipped_files += 1;
                eprintln!("{}: skipped, not a flow-log event", file.display());
                continue;
            }
            Err(e) => {
                failed_events += 1;
                eprintln!("{}: {e}", file.display());
                continue;
            }
        };
        // The age check decodes the payloads once more; with --force there is nothing to check.
        if let Some(newest) = (!force).then(|| event.newest_log_event_ms(limit)).flatten() {
            if (newest as i64) < oldest_allowed_ms {
                refused += 1;
                let when = time::OffsetDateTime::from_unix_timestamp((newest / 1000) as i64)
                    .map(connection_tracker::day::rfc3339_micros)
                    .unwrap_or_else(|_| format!("{newest} ms"));
                eprintln!(
                    "{}: refused: its newest record is from {when}, more than DEDUP_WINDOW_HOURS \
                     ({} h) ago; if it was counted before, its redelivery record has expired and \
                     it would count twice. --force replays it anyway.",
                    file.display(),
                    window.as_secs() / 3600
                );
                continue;
            }
        }
        match ingestor.handle(event, now).await {
            Ok(outcome) => {
                total.merge(&outcome.summary);
                for seq in outcome.item_failures() {
                    item_failures += 1;
                    eprintln!("{}: Kinesis record {seq} failed", file.display());
                }
            }
            Err(e @ IngestError::Store(_)) => return Err(e.into()),
            Err(e) => {
                failed_events += 1;
                eprintln!("{}: {e}", file.display());
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({
                "summary": total,
                "failed_events": failed_events,
                "kinesis_item_failures": item_failures,
                "skipped_files": skipped_files,
                "refused_files": refused,
            })
        );
    } else {
        println!(
            "payloads {}  records {}  accepted {}  counted {}  rejected {}  connections {}  duplicates {}  failed events {}  failed Kinesis records {}",
            total.payloads,
            total.records,
            total.accepted,
            total.counted,
            total.rejected_total(),
            total.connections,
            total.duplicates,
            failed_events,
            item_failures
        );
        for (why, n) in &total.rejected {
            println!("  rejected {why}: {n}");
        }
        for (why, n) in &total.skipped {
            println!("  not counted, {why}: {n}");
        }
        for (why, n) in &total.flagged {
            println!("  counted, flagged {why}: {n}");
        }
        for day in &total.days {
            println!("\n{day}");
            for (account_region, rows) in ingestor.store().day_connections(day).await? {
                println!("  {account_region}");
                for c in rows {
                    println!(
                        "    {:>6}  {} -> {}:{}",
                        c.score, c.source, c.dest, c.dest_port
                    );
                }
            }
        }
    }
    if failed_events > 0 || item_failures > 0 {
        std::process::exit(2);
    }
    if refused > 0 {
        eprintln!("{refused} event file(s) refused as older than the dedup window (--force)");
        std::process::exit(3);
    }
    Ok(())
}
