//! The one batch loop every way in shares: payload by payload, decode (capped) → parse the
//! subscription message → count into one borrowed aggregate — a payload's bytes go as soon as it
//! is counted, so a batch holds one decoded payload at a time — then one write for the batch.
//! CloudWatch Logs events, Kinesis records and replayed events enter here; S3 chunks enter
//! below it, at [`Ingestor::count_messages`].

use time::OffsetDateTime;

use super::event::{kinesis_letter, logs_letter};
use super::payload::{DecodeError, KinesisItem, LogsMessage};
use super::{Aggregate, DecodedPayload, Ingestor, Summary};
use crate::model::PayloadId;
use crate::store::{CounterStore, DeadLetter, DeadLetters, StoreError};

/// One payload as it arrived: its encoded data, and the shape it came in (which names its dead
/// letter and, for Kinesis, the item a partial batch response reports).
#[derive(Clone, Copy)]
pub(super) enum Arrival<'a> {
    /// A CloudWatch Logs subscription event's `awslogs.data`.
    Logs(&'a str),
    /// One Kinesis record.
    Kinesis(&'a KinesisItem),
}

impl Arrival<'_> {
    fn data(&self) -> &str {
        match self {
            Arrival::Logs(data) => data,
            Arrival::Kinesis(record) => &record.data,
        }
    }

    fn letter(&self, error: &DecodeError) -> DeadLetter {
        match self {
            Arrival::Logs(data) => logs_letter(data, error),
            Arrival::Kinesis(record) => kinesis_letter(record, error),
        }
    }

    fn label(&self) -> &str {
        match self {
            Arrival::Logs(_) => "",
            Arrival::Kinesis(record) => &record.sequence_number,
        }
    }
}

/// How one payload of a batch ended.
#[derive(Debug)]
pub(super) enum End {
    /// Counted with the batch (if the write succeeds).
    Counted,
    /// Undecodable, kept whole as a dead letter and acknowledged.
    Kept { reason: &'static str },
    /// Undecodable and not kept (no store, or it failed): retried.
    Lost(DecodeError),
    /// Its newest record is older than the batch allowed; not counted.
    TooOld { newest_ms: u64 },
    /// Past the batch's decompression budget: not read now, it comes again.
    Deferred,
    /// Not reached: the inventory could not be loaded.
    NotReached,
}

/// What a batch came to: each payload's end, the figures of what was counted (or why the
/// write failed), and the decompressed bytes read.
pub(super) struct Batch {
    pub ends: Vec<End>,
    pub written: Result<Summary, StoreError>,
    pub decompressed: usize,
}

/// What a batch may read: a budget of decompressed bytes, and the oldest record it counts.
#[derive(Clone, Copy, Default)]
pub(super) struct Bounds {
    /// Payloads past this many decompressed bytes are [`End::Deferred`].
    pub budget: Option<usize>,
    /// A payload whose newest record is older (Unix ms) is [`End::TooOld`].
    pub refuse_before_ms: Option<i64>,
}

impl<S: CounterStore, D: DeadLetters> Ingestor<S, D> {
    /// Runs the one loop over `arrivals` at `now`: every payload ends one way, and what was
    /// counted is written once, each payload under its own id.
    pub(super) async fn run_batch(
        &self,
        arrivals: &[Arrival<'_>],
        now: OffsetDateTime,
        bounds: Bounds,
    ) -> Batch {
        let inventory = tokio::sync::OnceCell::new();
        let ctx = self.context(now);
        let mut agg = Aggregate::default();
        agg.room = self.room();
        let mut ids: Vec<PayloadId> = Vec::with_capacity(arrivals.len());
        let mut ends = Vec::with_capacity(arrivals.len());
        let mut decompressed = 0usize;
        for (at, arrival) in arrivals.iter().enumerate() {
            if bounds.budget.is_some_and(|budget| decompressed > budget) {
                ends.push(End::Deferred);
                continue;
            }
            let unit = match DecodedPayload::decode(arrival.data(), self.max_decompressed()) {
                Ok(unit) => unit,
                Err(e) => {
                    ends.push(self.bury_one(arrival, e).await);
                    continue;
                }
            };
            decompressed += unit.bytes.len();
            let message = match LogsMessage::parse(&unit.bytes) {
                Ok(message) => message,
                Err(e) => {
                    ends.push(self.bury_one(arrival, e).await);
                    continue;
                }
            };
            if let Some(end) = too_old(&message, bounds.refuse_before_ms) {
                ends.push(end);
                continue;
            }
            let inventory = match inventory.get_or_try_init(|| self.inventory()).await {
                Ok(inventory) => inventory,
                Err(e) => {
                    ends.extend((at..arrivals.len()).map(|_| End::NotReached));
                    return Batch {
                        ends,
                        written: Err(e),
                        decompressed,
                    };
                }
            };
            agg.add(inventory, &ctx, ids.len() as u32, &message);
            ids.push(unit.id);
            ends.push(End::Counted);
        }
        // Nothing to count (every payload failed, was kept or refused): no write.
        let written = if ids.is_empty() {
            Ok(Summary::default())
        } else {
            let ids: Vec<&str> = ids.iter().map(PayloadId::as_str).collect();
            match self.write_counts(&ids, &agg, now).await {
                // Parked only once counted (`parking`): a failed write comes again whole.
                Ok(mut summary) => {
                    let parked = self.park_held(&mut agg, &ids, now).await;
                    summary.parked = parked.parked;
                    summary.park_refused = parked.refused;
                    Ok(summary)
                }
                Err(e) => Err(e),
            }
        };
        Batch {
            ends,
            written,
            decompressed,
        }
    }

    /// Keeps an undecodable payload as a dead letter, or says it could not.
    async fn bury_one(&self, arrival: &Arrival<'_>, error: DecodeError) -> End {
        let letter = arrival.letter(&error);
        match self.keep(&letter, error, arrival.label()).await {
            Ok(()) => End::Kept {
                reason: letter.reason,
            },
            Err(error) => End::Lost(error),
        }
    }
}

/// [`End::TooOld`] when the message's newest record is older than `refuse_before_ms`.
fn too_old(message: &LogsMessage<'_>, refuse_before_ms: Option<i64>) -> Option<End> {
    let newest_ms = message.log_events.iter().map(|e| e.timestamp).max()?;
    let before = refuse_before_ms?;
    ((newest_ms as i64) < before).then_some(End::TooOld { newest_ms })
}
