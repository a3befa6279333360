//! `ctrack`: the connection-tracker command line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use ctrack::config::Env;
use ctrack::ingest::{Ingestor, Outcome, Summary};
use ctrack::store::RedisStore;

#[derive(Parser)]
#[command(name = "ctrack", version, about = "connection-tracker: who connects to our public endpoints")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Feed saved Lambda events (CloudWatch Logs or Kinesis, *.json files or directories of
    /// them) through the ingest code path against REDIS_URL, and print the summary.
    Replay {
        /// Files or directories of *.json events.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay { paths, json } => replay(&paths, json).await,
    }
}

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

async fn replay(paths: &[PathBuf], json: bool) -> Result<()> {
    let config = Env::process().ingest()?;
    let store = RedisStore::connect(&config.redis).await?;
    let ingestor = Ingestor::new(store, config);
    let mut total = Summary::default();
    let mut failed_events = 0u64;
    let mut item_failures = 0u64;
    for file in event_files(paths)? {
        match replay_file(&ingestor, &file).await {
            Ok(outcome) => {
                total.merge(&outcome.summary);
                item_failures += outcome.item_failures().len() as u64;
            }
            Err(e) => {
                failed_events += 1;
                eprintln!("{}: {e:#}", file.display());
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"summary": total, "failed_events": failed_events, "kinesis_item_failures": item_failures})
        );
    } else {
        println!(
            "payloads {}  records {}  accepted {}  counted {}  rejected {}  connections {}  duplicates {}  failed events {}  kinesis item failures {}",
            total.payloads, total.records, total.accepted, total.counted, total.rejected_total(),
            total.connections, total.duplicates, failed_events, item_failures
        );
        for (why, n) in &total.rejected {
            println!("  rejected {why}: {n}");
        }
        for (why, n) in &total.skipped {
            println!("  skipped {why}: {n}");
        }
    }
    if failed_events > 0 || item_failures > 0 {
        std::process::exit(2);
    }
    Ok(())
}

async fn replay_file(ingestor: &Ingestor<RedisStore>, file: &Path) -> Result<Outcome> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let event: serde_json::Value = serde_json::from_slice(&bytes).context("not a JSON event")?;
    Ok(ingestor.handle_value(event).await?)
}
