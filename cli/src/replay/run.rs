//! One replay's items counted through the ingest function's code path.

use anyhow::Result;
use connection_tracker::ingest::payload::{DecodeError, FlowEvent};
use connection_tracker::ingest::redrive::{unwrap_event, RedriveError, Wrapping};
use connection_tracker::ingest::s3 as objects;
use connection_tracker::ingest::{IngestError, Ingestor, LogsEventEnd, Summary};
use connection_tracker::store::RedisStore;

use super::items::{is_flow_log_file, Item};
use super::ReplayOptions;

/// How one item of a replay ended.
pub(super) enum ItemEnd {
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
pub(super) enum Prepared {
    End(ItemEnd),
    Event { event: FlowEvent, unwrapped: bool },
}

/// What each item needs besides itself.
pub(super) struct Run<'a> {
    pub ingestor: &'a Ingestor<RedisStore>,
    pub options: ReplayOptions,
    pub limit: usize,
    pub window_hours: u64,
    pub oldest_allowed_ms: i64,
    pub now: time::OffsetDateTime,
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
        if !self.options.force && key.ends_before(self.oldest_allowed_ms / 1000) {
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
            deadline: None,
            mark: None,
        };
        let counted = count.object(&bytes[..]).await;
        match counted {
            Ok(counted) => Ok(ItemEnd::Handled {
                summary: Box::new(counted.summary),
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
    pub(super) async fn group(&self, items: &[Item]) -> Result<(Vec<ItemEnd>, Summary)> {
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
