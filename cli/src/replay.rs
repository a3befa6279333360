//! `ctrack replay`: saved Lambda events, dead letters and the records of the ingest function's
//! failure destinations (files, directories, or `s3://bucket/prefix`) through exactly the
//! ingest function's code path, into the Redis of `REDIS_URL`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use connection_tracker::config::Env;
use connection_tracker::ingest::payload::{DecodeError, FlowEvent};
use connection_tracker::ingest::redrive::{unwrap_event, RedriveError, Wrapping};
use connection_tracker::ingest::s3 as objects;
use connection_tracker::ingest::{IngestError, Ingestor, LogsEventEnd, Summary};
use connection_tracker::model::InventoryFile;
use connection_tracker::store::s3::S3Bucket;
use connection_tracker::store::RedisStore;

/// The largest object or file read: a Lambda event is at most a few MiB.
const MAX_ITEM_BYTES: u64 = 64 * 1024 * 1024;

/// Where an event to replay is.
enum Item {
    File(PathBuf),
    Object { bucket: S3Bucket, key: String },
}

impl Item {
    fn name(&self) -> String {
        match self {
            Item::File(path) => path.display().to_string(),
            Item::Object { bucket, key } => format!("s3://{}/{key}", bucket.name()),
        }
    }

    async fn read(&self) -> Result<Vec<u8>> {
        match self {
            Item::File(path) => {
                let size = std::fs::metadata(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .len();
                if size > MAX_ITEM_BYTES {
                    bail!(
                        "{} is {size} bytes, more than {MAX_ITEM_BYTES}",
                        path.display()
                    );
                }
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
            }
            Item::Object { bucket, key } => Ok(bucket.get(key, MAX_ITEM_BYTES).await?),
        }
    }
}

/// Flow logs as AWS delivers them to S3 (`.log.gz`, `.log.parquet`), not a saved event.
fn is_flow_log_file(name: &str) -> bool {
    objects::ObjectKind::of(name).is_some()
}

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn s3_location(source: &str) -> Option<(&str, &str)> {
    let rest = source.strip_prefix("s3://")?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// The events under `sources`, in a stable order: files, the *.json and flow-log files of
/// directories (at any depth), and every object under an `s3://bucket/prefix`.
async fn items(sources: &[String]) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut sdk = None;
    for source in sources {
        if let Some((bucket, prefix)) = s3_location(source) {
            if !connection_tracker::model::is_bucket_name(bucket) {
                bail!("{source}: `{bucket}` is not an S3 bucket name");
            }
            if sdk.is_none() {
                sdk = Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await);
            }
            let bucket = S3Bucket::new(sdk.as_ref().expect("loaded above"), bucket);
            for object in bucket.list(prefix).await? {
                if !object.key.ends_with('/') {
                    items.push(Item::Object {
                        bucket: bucket.clone(),
                        key: object.key,
                    });
                }
            }
            continue;
        }
        let path = Path::new(source);
        if path.is_dir() {
            // Walked like a prefix: saved events (*.json) and flow-log files at any depth.
            let mut found: Vec<PathBuf> = Vec::new();
            let mut dirs = vec![path.to_path_buf()];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir)
                    .with_context(|| format!("cannot read directory {}", dir.display()))?
                {
                    let p = entry?.path();
                    if p.is_dir() {
                        dirs.push(p);
                    } else if p.extension().is_some_and(|e| e == "json")
                        || is_flow_log_file(&p.to_string_lossy())
                    {
                        found.push(p);
                    }
                }
            }
            found.sort();
            items.extend(found.into_iter().map(Item::File));
        } else if path.is_file() {
            items.push(Item::File(path.to_path_buf()));
        } else {
            bail!("{source} is neither a file, a directory, nor s3://bucket/prefix");
        }
    }
    Ok(items)
}

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

/// How one item of a replay ended.
enum ItemEnd {
    /// Unreadable, not an event, or refused by the ingest path (said on stderr).
    Failed,
    /// A JSON file beside the events that is no flow-log event.
    Skipped,
    /// Older than the dedup window, without --force.
    Refused,
    Handled {
        summary: Box<Summary>,
        item_failures: u64,
        unwrapped: bool,
        deleted: bool,
    },
}

/// An item read and checked, before it is counted.
enum Prepared {
    End(ItemEnd),
    Event { event: FlowEvent, unwrapped: bool },
}

/// What each item needs besides itself.
struct Run<'a> {
    ingestor: &'a Ingestor<RedisStore>,
    options: ReplayOptions,
    limit: usize,
    window_hours: u64,
    oldest_allowed_ms: i64,
    now: time::OffsetDateTime,
}

impl Run<'_> {
    /// A flow-log file or object (`AWSLogs/…` in its path): counted in chunks, as the ingest
    /// function counts S3 deliveries; its identity is its path from `AWSLogs/` on, as there.
    async fn flow_log_file(&self, item: &Item, name: &str) -> Result<ItemEnd> {
        let key = match objects::parse_key(name) {
            Ok(key) => key,
            Err(reason) => {
                eprintln!("{name}: skipped, not a flow-log object ({reason})");
                return Ok(ItemEnd::Skipped);
            }
        };
        // Its records are of the folder's day or the next: an old file may have been
        // counted before, and its chunks' redelivery records have expired.
        let day_end_ms = connection_tracker::day::parse(&key.day)
            .and_then(|d| d.next_day())
            .and_then(|d| d.next_day())
            .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000);
        if !self.options.force && day_end_ms.is_some_and(|ms| ms < self.oldest_allowed_ms) {
            eprintln!(
                "{name}: refused: its records are from {}, more than DEDUP_WINDOW_HOURS ({} h) \
                 ago; it could count twice. --force replays it anyway.",
                key.day, self.window_hours
            );
            return Ok(ItemEnd::Refused);
        }
        let bytes = match item.read().await {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{name}: {e:#}");
                return Ok(ItemEnd::Failed);
            }
        };
        let count = objects::ObjectCount {
            ingestor: self.ingestor,
            key: &key,
            identity: &key.from_awslogs,
            now: self.now,
        };
        let counted = count.object(&bytes[..]).await;
        match counted {
            Ok(summary) => Ok(ItemEnd::Handled {
                summary: Box::new(summary),
                item_failures: 0,
                unwrapped: false,
                deleted: false,
            }),
            Err(objects::ObjectError::Store(e)) => Err(e.into()),
            Err(e) => {
                eprintln!("{name}: {e}");
                Ok(ItemEnd::Failed)
            }
        }
    }

    /// A group of items (`--group`): flow-log files and Kinesis events each on their own, the
    /// CloudWatch Logs events together as one batch — each event still its own payload,
    /// counted once. Only a store failure is an error (it stops the run).
    /// Returns each item's end and the figures of the CloudWatch Logs events' batch.
    async fn group(&self, items: &[Item]) -> Result<(Vec<ItemEnd>, Summary)> {
        let mut ends: Vec<Option<ItemEnd>> = Vec::with_capacity(items.len());
        // The CloudWatch Logs events of the group: position, item, name, data, unwrapped.
        let mut logs: Vec<(usize, &Item, String, String, bool)> = Vec::new();
        for item in items {
            let name = item.name();
            match self.prepare(item, &name).await? {
                Prepared::End(end) => ends.push(Some(end)),
                Prepared::Event {
                    event: FlowEvent::Logs { data },
                    unwrapped,
                } => {
                    logs.push((ends.len(), item, name, data, unwrapped));
                    ends.push(None);
                }
                Prepared::Event { event, unwrapped } => {
                    ends.push(Some(self.count(item, &name, event, unwrapped).await?));
                }
            }
        }
        let mut figures = Summary::default();
        if !logs.is_empty() {
            let datas: Vec<&str> = logs.iter().map(|l| l.3.as_str()).collect();
            let refuse_before = (!self.options.force).then_some(self.oldest_allowed_ms);
            let batch = self
                .ingestor
                .handle_logs_events(&datas, self.now, refuse_before)
                .await?;
            figures = batch.summary;
            for ((position, item, name, _, unwrapped), end) in logs.iter().zip(batch.events) {
                let end = match end {
                    LogsEventEnd::Failed(e) => {
                        eprintln!("{name}: {e}");
                        ItemEnd::Failed
                    }
                    LogsEventEnd::TooOld { newest_ms } => {
                        self.say_too_old(name, newest_ms);
                        ItemEnd::Refused
                    }
                    LogsEventEnd::Counted => {
                        let mut deleted = false;
                        if let (true, Item::Object { bucket, key }) =
                            (self.options.delete_replayed, item)
                        {
                            bucket.delete(key).await?;
                            deleted = true;
                        }
                        // The figures are the batch's, returned once beside the ends.
                        ItemEnd::Handled {
                            summary: Box::default(),
                            item_failures: 0,
                            unwrapped: *unwrapped,
                            deleted,
                        }
                    }
                };
                ends[*position] = Some(end);
            }
        }
        Ok((ends.into_iter().flatten().collect(), figures))
    }

    /// Reads one item up to the ingest path: a flow-log file is counted here; an event is
    /// decoded and its age checked.
    async fn prepare(&self, item: &Item, name: &str) -> Result<Prepared> {
        if is_flow_log_file(name) {
            return Ok(Prepared::End(self.flow_log_file(item, name).await?));
        }
        let bytes = match item.read().await {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{name}: {e:#}");
                return Ok(Prepared::End(ItemEnd::Failed));
            }
        };
        // A saved event as it is (a replay's usual item) is read straight into its shape;
        // anything else (a failure record, a dead letter's wrapping, other JSON, bad JSON) goes
        // the general way, which says what it is.
        if let Ok(event) = FlowEvent::from_slice(&bytes) {
            return Ok(Prepared::Event {
                event,
                unwrapped: false,
            });
        }
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{name}: {}", DecodeError::EventJson(e.to_string()));
                return Ok(Prepared::End(ItemEnd::Failed));
            }
        };
        drop(bytes);
        let (event, unwrapped) = match unwrap_event(value) {
            Ok((event, wrapping)) => (event, wrapping != Wrapping::Event),
            // Other JSON files beside saved events (API events, schedules) are no failure;
            // in a failure bucket everything should be redrivable.
            Err(RedriveError::Unknown) if matches!(item, Item::File(_)) => {
                eprintln!("{name}: skipped, not a flow-log event");
                return Ok(Prepared::End(ItemEnd::Skipped));
            }
            Err(e) => {
                eprintln!("{name}: {e}");
                return Ok(Prepared::End(ItemEnd::Failed));
            }
        };
        let event = match FlowEvent::from_value(&event) {
            Ok(event) => event,
            Err(e) => {
                eprintln!("{name}: {e}");
                return Ok(Prepared::End(ItemEnd::Failed));
            }
        };
        Ok(Prepared::Event { event, unwrapped })
    }

    /// Whether a Kinesis event is refused as older than the dedup window (said on stderr). The
    /// check decodes the payloads once more; with --force there is nothing to check.
    fn too_old(&self, name: &str, event: &FlowEvent) -> bool {
        match (!self.options.force)
            .then(|| event.newest_log_event_ms(self.limit))
            .flatten()
        {
            Some(newest) if (newest as i64) < self.oldest_allowed_ms => {
                self.say_too_old(name, newest);
                true
            }
            _ => false,
        }
    }

    fn say_too_old(&self, name: &str, newest_ms: u64) {
        let when = time::OffsetDateTime::from_unix_timestamp((newest_ms / 1000) as i64)
            .map(connection_tracker::day::rfc3339_micros)
            .unwrap_or_else(|_| format!("{newest_ms} ms"));
        eprintln!(
            "{name}: refused: its newest record is from {when}, more than \
             DEDUP_WINDOW_HOURS ({} h) ago; if it was counted before, its redelivery \
             record has expired and it would count twice. --force replays it anyway.",
            self.window_hours
        );
    }

    /// One Kinesis event through the ingest path on its own.
    async fn count(
        &self,
        item: &Item,
        name: &str,
        event: FlowEvent,
        unwrapped: bool,
    ) -> Result<ItemEnd> {
        if self.too_old(name, &event) {
            return Ok(ItemEnd::Refused);
        }
        match self.ingestor.handle(event, self.now).await {
            Ok(outcome) => {
                let failures: Vec<String> = outcome
                    .item_failures()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                for seq in &failures {
                    eprintln!("{name}: Kinesis record {seq} failed");
                }
                let mut deleted = false;
                if let (true, true, Item::Object { bucket, key }) =
                    (self.options.delete_replayed, failures.is_empty(), item)
                {
                    bucket.delete(key).await?;
                    deleted = true;
                }
                Ok(ItemEnd::Handled {
                    summary: Box::new(outcome.summary),
                    item_failures: failures.len() as u64,
                    unwrapped,
                    deleted,
                })
            }
            Err(e @ IngestError::Store(_)) => Err(e.into()),
            Err(e) => {
                eprintln!("{name}: {e}");
                Ok(ItemEnd::Failed)
            }
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
