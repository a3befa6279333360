//! `ctrack replay`: saved Lambda events, dead letters and the records of the ingest function's
//! failure destinations (files, directories, or `s3://bucket/prefix`) through exactly the
//! ingest function's code path, into the Redis of `REDIS_URL`.

mod items;
mod run;

pub use items::s3_location;

use std::path::Path;

use anyhow::{Context, Result};
use connection_tracker::config::Env;
use connection_tracker::ingest::{Ingestor, Summary};
use connection_tracker::model::InventoryFile;
use connection_tracker::store::RedisStore;

use items::items;
use run::{ItemEnd, Run};

/// What `ctrack replay` does besides counting.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// Print the summary as JSON.
    pub json: bool,
    /// Replay events older than the dedup window too.
    pub force: bool,
    /// Delete each S3 object whose event was counted whole.
    pub delete_replayed: bool,
    /// Batches in flight at once: while one batch's write waits on Redis, the next is decoded
    /// (the function itself handles one batch per invocation). 1: one after the other.
    pub concurrency: usize,
    /// CloudWatch Logs events counted as one batch (each still its own payload, counted once;
    /// their rows summed before they are written). 1: each event alone, as the function
    /// counts it.
    pub group: usize,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            json: false,
            force: false,
            delete_replayed: false,
            concurrency: 4,
            group: 16,
        }
    }
}

/// What a replay came to, over every item.
#[derive(Default)]
struct Tally {
    total: Summary,
    refused: u64,
    failed_events: u64,
    item_failures: u64,
    skipped_files: u64,
    unwrapped: u64,
    deleted: u64,
}

impl Tally {
    fn add(&mut self, end: ItemEnd) {
        match end {
            ItemEnd::Failed => self.failed_events += 1,
            ItemEnd::Skipped => self.skipped_files += 1,
            ItemEnd::Refused => self.refused += 1,
            ItemEnd::Handled {
                summary,
                item_failures,
                unwrapped,
                deleted,
            } => {
                self.total.merge(&summary);
                self.item_failures += item_failures;
                self.unwrapped += u64::from(unwrapped);
                self.deleted += u64::from(deleted);
            }
        }
    }

    fn print_json(&self, items: usize) {
        println!(
            "{}",
            serde_json::json!({
                "summary": self.total,
                "items": items,
                "failure_records": self.unwrapped,
                "failed_events": self.failed_events,
                "kinesis_item_failures": self.item_failures,
                "skipped_files": self.skipped_files,
                "refused_files": self.refused,
                "deleted_objects": self.deleted,
            })
        );
    }

    /// The figures, then each counted day's connections as the store holds them.
    async fn print_text(&self, store: &RedisStore) -> Result<()> {
        let total = &self.total;
        println!(
            "payloads {}  records {}  accepted {}  counted {}  rejected {}  connections {}  duplicates {}  failed events {}  failed Kinesis records {}",
            total.payloads,
            total.records,
            total.accepted,
            total.counted,
            total.rejected_total(),
            total.connections,
            total.duplicates,
            self.failed_events,
            self.item_failures
        );
        if self.unwrapped > 0 || self.deleted > 0 {
            println!(
                "  from failure records: {}  objects deleted: {}",
                self.unwrapped, self.deleted
            );
        }
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
            for (account_region, rows) in store.day_connections(day).await? {
                println!("  {account_region}");
                for c in rows {
                    println!(
                        "    {:>6}  {} -> {}:{}",
                        c.score, c.source, c.dest, c.dest_port
                    );
                }
            }
        }
        Ok(())
    }
}

/// Replays the events under `sources`; prints the summary. An event whose newest record is
/// older than the dedup window is refused unless `force`: its payloads may have been counted
/// already, and their redelivery records have expired, so it could count twice.
pub async fn replay(
    sources: &[String],
    inventory: Option<&Path>,
    options: ReplayOptions,
) -> Result<()> {
    use futures::StreamExt;

    let items = items(sources).await?;
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
    // No dead-letter store here: a payload that cannot be decoded fails, its item stays.
    let ingestor = Ingestor::new(store, config);
    let now = time::OffsetDateTime::now_utc();
    let run = Run {
        ingestor: &ingestor,
        options,
        limit,
        window_hours: window.as_secs() / 3600,
        oldest_allowed_ms: (now.unix_timestamp() - window.as_secs() as i64) * 1000,
        now,
    };
    let mut tally = Tally::default();
    let mut groups = futures::stream::iter(items.chunks(options.group.max(1)))
        .map(|group| run.group(group))
        .buffered(options.concurrency.max(1));
    while let Some(group) = groups.next().await {
        let (ends, figures) = group?;
        tally.total.merge(&figures);
        for end in ends {
            tally.add(end);
        }
    }
    drop(groups);
    if options.json {
        tally.print_json(items.len());
    } else {
        tally.print_text(ingestor.store()).await?;
    }
    let Tally {
        failed_events,
        item_failures,
        refused,
        ..
    } = tally;
    if failed_events > 0 || item_failures > 0 {
        std::process::exit(2);
    }
    if refused > 0 {
        eprintln!("{refused} event(s) refused as older than the dedup window (--force)");
        std::process::exit(3);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::s3_location;

    #[test]
    fn s3_locations() {
        let cases = [
            ("s3://bucket", Some(("bucket", ""))),
            ("s3://bucket/", Some(("bucket", ""))),
            (
                "s3://bucket/dead-letter/2026/",
                Some(("bucket", "dead-letter/2026/")),
            ),
            ("events/ingest.json", None),
            ("S3://bucket", None),
        ];
        for (source, want) in cases {
            assert_eq!(s3_location(source), want, "{source}");
        }
    }
}
