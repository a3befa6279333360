//! What a batch holds back while it is counted: the lines of interfaces the refresh has not
//! found yet, within a room, and where their payloads counted lines (`docs/rules.md`, "New
//! interfaces"). Pure; [`super::parking`] parks them once the batch is written.

use serde::{Deserialize, Serialize};

use super::payload::LogsMessage;

/// Bytes of lines one batch holds at most, whatever the line bound: a batch's memory stays
/// bounded when every line of a large Kinesis batch is of a new interface.
pub const MAX_HELD_BYTES_PER_BATCH: usize = 4 << 20;

/// A longer line is not held: a flow-log record is a few hundred bytes, and the bound on parked
/// lines is a bound on their bytes only if each line is bounded.
pub const MAX_HELD_LINE_BYTES: usize = 1024;

/// One line held back, with its event's timestamp (ms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldLine {
    pub timestamp: u64,
    pub message: String,
}

/// Where a parked payload had counted lines before: a day (days since the epoch) and an
/// account/region, as its counters are filed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CountedPair {
    pub day: i64,
    pub account: String,
    pub region: String,
}

impl CountedPair {
    pub fn is(&self, day: i64, account: &str, region: &str) -> bool {
        self.day == day && self.account == account && self.region == region
    }
}

/// The held lines of one message, and the payload (`unit`) they came in.
#[derive(Debug)]
pub(super) struct Held {
    pub unit: u32,
    pub owner: String,
    pub log_group: String,
    pub log_stream: String,
    pub lines: Vec<HeldLine>,
}

/// Room for held lines in one batch: lines and bytes left, what is held, and how many lines
/// did not fit (refused: they stay skipped).
#[derive(Debug)]
pub(super) struct Room {
    lines: u32,
    bytes: usize,
    pub held: Vec<Held>,
    pub refused: u64,
}

impl Room {
    pub fn new(lines: u32) -> Room {
        Room {
            lines,
            bytes: MAX_HELD_BYTES_PER_BATCH,
            held: Vec::new(),
            refused: 0,
        }
    }

    /// Whether one more line of `len` bytes fits (if not, it is refused).
    pub fn take(&mut self, len: usize) -> bool {
        if self.lines == 0 || self.bytes < len || len > MAX_HELD_LINE_BYTES {
            self.refused += 1;
            return false;
        }
        self.lines -= 1;
        self.bytes -= len;
        true
    }

    pub fn keep(&mut self, unit: u32, message: &LogsMessage<'_>, lines: Vec<HeldLine>) {
        self.held.push(Held {
            unit,
            owner: message.owner.to_string(),
            log_group: message.log_group.to_string(),
            log_stream: message.log_stream.to_string(),
            lines,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_holds_lines_within_its_lines_bytes_and_line_length() {
        let mut room = Room::new(3);
        let takes: Vec<bool> = [100, MAX_HELD_LINE_BYTES + 1, MAX_HELD_LINE_BYTES, 10, 10]
            .iter()
            .map(|&len| room.take(len))
            .collect();
        // The second is too long; the fifth finds no line left.
        assert_eq!(takes, [true, false, true, true, false]);
        assert_eq!(room.refused, 2);
        let mut room = Room::new(u32::MAX);
        let lines = MAX_HELD_BYTES_PER_BATCH / MAX_HELD_LINE_BYTES;
        assert!((0..lines).all(|_| room.take(MAX_HELD_LINE_BYTES)));
        assert!(!room.take(1), "the batch's bytes are spent");
    }
}
