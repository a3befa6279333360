//! The pure middle of ingest: a batch's messages → parsed, classified, counted in memory →
//! the one write. Borrows everything, no I/O, no clock (the day and "now" are handed in).

use std::collections::BTreeSet;
use std::net::IpAddr;

use foldhash::{HashMap as FastMap, HashSet as FastSet};

use super::held::{CountedPair, HeldLine, Room};
use super::inventory::{Interface, Inventory};
use super::payload::LogsMessage;
use super::summary::Summary;
use crate::model::is_region;
use crate::rules::classify::{self, Destination, Name};
use crate::rules::flowlog::{self, Action, FlowLogFormat, LogStatus, Record};
use crate::rules::reason::{reasons, Flag, Reject};

reasons! {
    /// Why a parsed line does not count: a counter of the summary's `skipped`, by its name.
    pub(super) enum Skip {
        FormatLacksAction => "format_lacks_action",
        NotAccepted => "not_accepted",
        MissingFields => "missing_fields",
        UnknownInterface => "unknown_interface",
        PrivateInterface => "private_interface",
        ForeignInterface => "foreign_interface",
        PrivateSource => "private_source",
        S3ToInstance => "s3_to_instance",
        DroppedDestination => "dropped_destination",
        OlderThanRetention => "older_than_retention",
        /// A Transit Gateway flow log's record: it carries no public endpoint of ours.
        TransitGateway => "transit_gateway",
    }
}

/// A connection as counted in memory; everything borrowed from the inventory and the settings,
/// nothing from the messages (a message's bytes may go as soon as it is counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct ConnKey<'a> {
    pub unit: u32,
    pub day: i64,
    pub account: &'a str,
    pub region: Region<'a>,
    pub source: Name<'a>,
    pub dest: Name<'a>,
    pub port: u16,
}

/// A counted connection's region: the interface's or the setting's, or one a record named
/// (a checked region name, kept by the aggregate: the record's bytes do not outlive it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Region<'a> {
    Borrowed(&'a str),
    Named(u32),
}

/// The in-memory counts of a batch.
#[derive(Debug, Default)]
pub struct Aggregate<'a> {
    /// Regions named by records (rare: only for an interface whose region is not known).
    record_regions: Vec<Box<str>>,
    // Every accepted record hashes a key, partly chosen by outsiders (source addresses):
    // foldhash is fast and seeded per process, so crafted addresses cannot force collisions.
    pub(super) counts: FastMap<ConnKey<'a>, u64>,
    /// Account/regions whose interfaces' records were read, counted or not: their
    /// `last_update` moves (a quiet account with healthy flow logs is not stale).
    pub(super) read: BTreeSet<(&'a str, &'a str)>,
    /// Where lines of interfaces not found yet are held to be parked (`None`: they are not).
    pub(super) room: Option<Room>,
    pub summary: Summary,
}

/// A line read by its format; a Transit Gateway flow log's record is skipped by reason, never
/// rejected (`docs/rules.md`, "Record versions"): the format says so, or a line that does not
/// fit it starts as AWS's default transit-gateway format does.
#[inline]
fn read_line<'l, 'f>(format: &'f FlowLogFormat, line: &'l str) -> Result<Record<'l, 'f>, Miss> {
    if format.is_transit_gateway() {
        return Err(Miss::Skipped(Skip::TransitGateway));
    }
    format.parse_line(line).map_err(|e| {
        if flowlog::is_transit_gateway_record(line) {
            Miss::Skipped(Skip::TransitGateway)
        } else {
            Miss::Rejected(e.kind())
        }
    })
}

/// Why a line is not counted.
enum Miss {
    Rejected(Reject),
    Skipped(Skip),
    /// Of an interface the refresh has not found, from a public source: skipped as
    /// `unknown_interface`, and held to be parked.
    Unplaced,
}

/// The days a line may count on, worked out once per message.
#[derive(Clone, Copy)]
struct Window {
    /// Days before this one are past the retention.
    oldest_day: i64,
    /// A `start` must lie within [earliest, latest] (Unix seconds).
    earliest: i64,
    latest: i64,
}

impl Window {
    fn at(ctx: &Context<'_>) -> Window {
        Window {
            oldest_day: ctx.now.div_euclid(86_400) - i64::from(ctx.retention_days),
            earliest: ctx.now - (i64::from(ctx.retention_days) + 1) * 86_400,
            latest: ctx.now + 86_400,
        }
    }
}

/// What the lines of one message share while they are counted.
struct Lines<'a, 'm> {
    inventory: &'a Inventory,
    ctx: &'m Context<'a>,
    /// The message's owner, as CloudWatch Logs set it.
    owner: &'m str,
    format: &'m FlowLogFormat,
    unit: u32,
    window: Window,
    /// The account/region last marked read (most lines of a message share one).
    last_read: Option<(&'a str, &'a str)>,
    /// A parked message's lines: where its payload counted lines before, whose lines count
    /// under `unit + 1` (see [`Aggregate::add_parked`]).
    counted_before: Option<&'m [CountedPair]>,
    /// Whether lines of interfaces not found yet are held (see [`Aggregate::add`]).
    parks: bool,
    skips: [u64; Skip::ALL.len()],
}

impl Lines<'_, '_> {
    /// Why a line of an interface not in the inventory does not count: a private interface's,
    /// or one not found yet — held to be parked when its source is public (a private source
    /// never counts, whatever the interface).
    fn unplaced(&self, interface_id: Option<&str>, src: IpAddr) -> Miss {
        if interface_id.is_some_and(|id| self.inventory.private_interfaces.contains(id)) {
            Miss::Skipped(Skip::PrivateInterface)
        } else if self.parks && !classify::is_private(src) {
            Miss::Unplaced
        } else {
            Miss::Skipped(Skip::UnknownInterface)
        }
    }

    /// The payload a counted line is filed under: the message's, or for a parked message in a
    /// (day, account/region) its payload counted lines in at first, the parked entry's.
    fn unit_for(&self, day: i64, account: &str, region: &str) -> u32 {
        match self.counted_before {
            Some(before) if before.iter().any(|c| c.is(day, account, region)) => self.unit + 1,
            _ => self.unit,
        }
    }

    /// Whether the message's owner may speak for the interface: its own, or one in a VPC it
    /// owns when it is a listed shared-VPC owner (`docs/rules.md`, "Shared VPCs").
    fn may_speak_for(&self, interface: &Interface) -> bool {
        interface.account_id == self.owner
            || (interface.vpc_owner.as_deref() == Some(self.owner)
                && self.ctx.shared_vpc_owners.iter().any(|o| o == self.owner))
    }
}

/// What ingest needs besides the inventory: format fallback, region fallback, retention, clock.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub fallback_format: &'a FlowLogFormat,
    pub default_region: &'a str,
    pub retention_days: u32,
    /// Log owners that may report other accounts' interfaces (shared VPCs).
    pub shared_vpc_owners: &'a [String],
    /// Now, in seconds since the epoch: a line's `start` must lie within
    /// [now − retention − 1 day, now + 1 day], and days older than the retention are not kept.
    pub now: i64,
}

/// Parses, classifies and counts the messages of a batch (payload `unit` = its position).
/// Pure: no I/O, no clock.
pub fn aggregate<'a>(
    inventory: &'a Inventory,
    ctx: &Context<'a>,
    messages: &[LogsMessage<'_>],
) -> Aggregate<'a> {
    let mut agg = Aggregate::default();
    for (unit, message) in messages.iter().enumerate() {
        agg.add(inventory, ctx, unit as u32, message);
    }
    agg
}

impl<'a> Aggregate<'a> {
    /// Parses, classifies and counts one more message of the batch as payload `unit`. Borrows
    /// nothing of the message: its bytes may go once this returns, so a batch of many payloads
    /// holds one decoded payload at a time. With a [`Room`], the lines of interfaces the
    /// refresh has not found yet are held there, to be parked once the batch is written.
    pub fn add(
        &mut self,
        inventory: &'a Inventory,
        ctx: &Context<'a>,
        unit: u32,
        message: &LogsMessage<'_>,
    ) {
        self.add_lines(inventory, ctx, unit, message, None);
    }

    /// Counts a parked message: each line under payload `unit` (the payload the lines came
    /// in), except where that payload counted lines before (`counted`, by day and
    /// account/region): there under `unit + 1`, the parked entry's own id — so a redelivery
    /// of the payload and the parked entry count each line once between them
    /// (`docs/rules.md`, "New interfaces"). Nothing is held.
    pub fn add_parked(
        &mut self,
        inventory: &'a Inventory,
        ctx: &Context<'a>,
        unit: u32,
        message: &LogsMessage<'_>,
        counted: &[CountedPair],
    ) {
        self.add_lines(inventory, ctx, unit, message, Some(counted));
    }

    fn add_lines(
        &mut self,
        inventory: &'a Inventory,
        ctx: &Context<'a>,
        unit: u32,
        message: &LogsMessage<'_>,
        counted_before: Option<&[CountedPair]>,
    ) {
        if message.is_control() {
            self.summary.control_messages += 1;
            return;
        }
        // Formats are keyed `account:log-group`: log group names repeat across accounts.
        let format = match &message.format {
            Some(format) => format,
            None => inventory
                .formats
                .get(&format!("{}:{}", message.owner, message.log_group))
                .unwrap_or(ctx.fallback_format),
        };
        let mut lines = Lines {
            inventory,
            ctx,
            owner: message.owner.as_ref(),
            format,
            unit,
            window: Window::at(ctx),
            last_read: None,
            counted_before,
            // Lines of interfaces not found yet are parked for messages that name no format of
            // their own (CloudWatch Logs, Kinesis) from accounts the refresh knows.
            parks: self.room.is_some()
                && counted_before.is_none()
                && message.format.is_none()
                && inventory.accounts.contains(message.owner.as_ref()),
            // Counted in an array (about half the lines of a busy estate are skipped); the
            // summary's map gets the totals once the message is done.
            skips: [0u64; Skip::ALL.len()],
        };
        let mut held: Vec<HeldLine> = Vec::new();
        for event in &message.log_events {
            // One event carries one record; tolerate several lines per event.
            for line in event.message.lines().filter(|l| !l.trim().is_empty()) {
                self.summary.records += 1;
                match self.count_line(&mut lines, line, event.timestamp) {
                    Ok(()) => {}
                    Err(Miss::Rejected(why)) => {
                        *self.summary.rejected.entry(why.name()).or_default() += 1
                    }
                    Err(Miss::Skipped(why)) => lines.skips[why as usize] += 1,
                    Err(Miss::Unplaced) => {
                        lines.skips[Skip::UnknownInterface as usize] += 1;
                        self.hold(&mut held, event.timestamp, line);
                    }
                }
            }
        }
        if let (Some(room), false) = (&mut self.room, held.is_empty()) {
            room.keep(unit, message, held);
        }
        for (why, n) in Skip::ALL.iter().zip(lines.skips) {
            if n > 0 {
                *self.summary.skipped.entry(why.name()).or_default() += n;
            }
        }
    }

    /// One line of a message: counted, or why not (`docs/rules.md`, rules 1–6).
    #[inline]
    fn count_line(
        &mut self,
        lines: &mut Lines<'a, '_>,
        line: &str,
        timestamp_ms: u64,
    ) -> Result<(), Miss> {
        let (inventory, ctx) = (lines.inventory, lines.ctx);
        let record = read_line(lines.format, line)?;
        // The record's time, checked before any date is worked out from it: a crafted `start`
        // far in the past or future is rejected, never counted on a bogus day.
        let seconds = record.start.unwrap_or(timestamp_ms / 1000);
        let seconds = i64::try_from(seconds)
            .ok()
            .filter(|s| (lines.window.earliest..=lines.window.latest).contains(s))
            .ok_or(Miss::Rejected(Reject::StartOutOfRange))?;
        // The interface, as the refresh found it; its account/region was read, whatever becomes
        // of the record (unless the log may not speak for it).
        let interface = record
            .interface_id
            .and_then(|id| inventory.interfaces.get(id));
        if let Some(i) = interface.filter(|i| lines.may_speak_for(i)) {
            let pair = (i.account_id.as_str(), i.region.as_str());
            if lines.last_read != Some(pair) {
                self.read.insert(pair);
                lines.last_read = Some(pair);
            }
        }
        let ok_status = match record.log_status {
            Some(status) => status == LogStatus::Ok,
            None => !lines.format.has_log_status(),
        };
        if record.action != Some(Action::Accept) || !ok_status {
            return Err(Miss::Skipped(if lines.format.has_action() {
                Skip::NotAccepted
            } else {
                Skip::FormatLacksAction
            }));
        }
        self.summary.accepted += 1;
        let (Some(_), Some(src), Some(dst), Some(port)) = (
            record.interface_id,
            record.srcaddr,
            record.dstaddr,
            record.dstport,
        ) else {
            return Err(Miss::Skipped(Skip::MissingFields));
        };
        let Some(interface) = interface else {
            return Err(lines.unplaced(record.interface_id, src));
        };
        // The message's owner is set by CloudWatch Logs, not by whoever wrote the line: a log
        // group may speak only for its own account's interfaces, or for any account's when its
        // owner runs a shared VPC.
        if !lines.may_speak_for(interface) {
            return Err(Miss::Skipped(Skip::ForeignInterface));
        }
        if classify::is_private(src) {
            return Err(Miss::Skipped(Skip::PrivateSource));
        }
        // The S3 rule, where AWS says so itself: S3 answering an instance on a high port is not
        // a connection (the address-and-name half applies at read time).
        if interface.instance && record.pkt_src_aws_service == Some("S3") {
            return Err(Miss::Skipped(Skip::S3ToInstance));
        }
        let (destination, unknown_address) = match interface.known_destination(dst) {
            Some(known) => (known, false),
            None => (interface.own_destination(), true),
        };
        let dest = match destination {
            Destination::Dropped(_) => return Err(Miss::Skipped(Skip::DroppedDestination)),
            Destination::Named(name) => Name::Named(name.as_str()),
            Destination::DstAddr => Name::Ip(dst),
        };
        let day = seconds.div_euclid(86_400);
        if day < lines.window.oldest_day {
            return Err(Miss::Skipped(Skip::OlderThanRetention));
        }
        let source = classify::source_name(src, &inventory.networks, &inventory.own_addresses);
        // The interface's owner, as the refresh found it: a record cannot name the account it
        // is counted under. AWS writes `unknown` for NLB and VPC endpoint interfaces; anything
        // else that disagrees is counted and flagged.
        let account = interface.account_id.as_str();
        if record
            .account_id
            .is_some_and(|a| a != "unknown" && a != account)
        {
            self.flag(Flag::AccountMismatch);
        }
        if unknown_address {
            self.flag(Flag::UnknownDestinationAddress);
        }
        // The interface's region, else the record's if it is a region's name (it names keys),
        // else the setting's.
        let region = if !interface.region.is_empty() {
            Region::Borrowed(interface.region.as_str())
        } else if let Some(named) = record.region.filter(|r| is_region(r)) {
            self.record_region(named)
        } else if !ctx.default_region.is_empty() {
            Region::Borrowed(ctx.default_region)
        } else {
            Region::Borrowed("unknown")
        };
        let key = ConnKey {
            unit: lines.unit_for(day, account, self.region(region)),
            day,
            account,
            region,
            source,
            dest,
            port,
        };
        *self.counts.entry(key).or_default() += 1;
        self.summary.counted += 1;
        Ok(())
    }

    /// Holds a line of an interface not found yet, while the room lasts.
    fn hold(&mut self, held: &mut Vec<HeldLine>, timestamp: u64, line: &str) {
        if self.room.as_mut().is_some_and(|room| room.take(line.len())) {
            held.push(HeldLine {
                timestamp,
                message: line.to_string(),
            });
        }
    }

    /// One more counted line with something to look at.
    fn flag(&mut self, why: Flag) {
        *self.summary.flagged.entry(why.name()).or_default() += 1;
    }

    /// A region a record named, kept by the aggregate.
    fn record_region(&mut self, name: &str) -> Region<'a> {
        let at = match self.record_regions.iter().position(|r| **r == *name) {
            Some(at) => at,
            None => {
                self.record_regions.push(name.into());
                self.record_regions.len() - 1
            }
        };
        Region::Named(at as u32)
    }

    pub(super) fn region(&self, region: Region<'a>) -> &str {
        match region {
            Region::Borrowed(name) => name,
            Region::Named(at) => &self.record_regions[at as usize],
        }
    }

    /// Distinct (account, region, day, source, dest, port) in the batch.
    pub fn connections(&self) -> u64 {
        if self.counts.keys().all(|k| k.unit == 0) {
            // One payload (every CloudWatch Logs event): each key is already distinct.
            return self.counts.len() as u64;
        }
        let mut distinct: FastSet<_> = FastSet::default();
        distinct.reserve(self.counts.len());
        distinct.extend(
            self.counts
                .keys()
                .map(|k| (k.day, k.account, k.region, k.source, k.dest, k.port)),
        );
        distinct.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The skip counters are an array indexed by the reason: `ALL` must list every reason once,
    /// in its index's place, each with its own name.
    #[test]
    fn skip_reasons_are_listed_in_index_order_with_distinct_names() {
        for (i, why) in Skip::ALL.iter().enumerate() {
            assert_eq!(*why as usize, i, "{why:?}");
        }
        let names: BTreeSet<&str> = Skip::ALL.iter().map(|w| w.name()).collect();
        assert_eq!(names.len(), Skip::ALL.len());
    }
}
