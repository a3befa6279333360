//! What a line reads as ([`Record`], borrowing the line) and why a line is rejected.

use std::net::IpAddr;

use super::super::reason::Reject;
use super::cursor::tokens;
use super::FlowLogFormat;

pub(super) fn bad_value(field: String, text: &str, expected: Expected) -> LineError {
    // Keep error messages short even for garbage input.
    let value: String = text.chars().take(64).collect();
    LineError::BadValue {
        field,
        value,
        expected,
    }
}

/// Why a line was rejected. Each variant is also a counter in the batch summary.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("expected {expected} fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("field `{field}` is `{value}`, expected {expected}")]
    BadValue {
        field: String,
        value: String,
        expected: Expected,
    },
}

/// What a field had to hold: the message's words and the rejection's reason, each one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Number,
    Address,
    Action,
    LogStatus,
}

impl Expected {
    /// Why a line with such a field is rejected.
    pub fn reason(self) -> Reject {
        match self {
            Expected::Number => Reject::BadNumber,
            Expected::Address => Reject::BadAddress,
            Expected::Action | Expected::LogStatus => Reject::BadValue,
        }
    }
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expected::Number => "a non-negative integer in range",
            Expected::Address => "an IPv4 or IPv6 address",
            Expected::Action => "ACCEPT or REJECT",
            Expected::LogStatus => "OK, NODATA or SKIPDATA",
        })
    }
}

impl LineError {
    /// Why the line is rejected (its metric name is [`Reject::name`]).
    pub fn kind(&self) -> Reject {
        match self {
            LineError::FieldCount { .. } => Reject::FieldCount,
            LineError::BadValue { expected, .. } => expected.reason(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStatus {
    Ok,
    NoData,
    SkipData,
}

/// One flow-log line, borrowed from its text. Typed fields are `None` when the format lacks
/// them or the line has `-`.
#[derive(Debug, Clone)]
pub struct Record<'a, 'f> {
    pub(super) format: &'f FlowLogFormat,
    pub(super) line: &'a str,
    pub version: Option<u8>,
    pub account_id: Option<&'a str>,
    pub interface_id: Option<&'a str>,
    pub srcaddr: Option<IpAddr>,
    pub dstaddr: Option<IpAddr>,
    pub srcport: Option<u16>,
    pub dstport: Option<u16>,
    pub protocol: Option<u8>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// Seconds since the epoch (milliseconds are converted).
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub action: Option<Action>,
    pub log_status: Option<LogStatus>,
    pub tcp_flags: Option<u16>,
    pub pkt_srcaddr: Option<IpAddr>,
    pub pkt_dstaddr: Option<IpAddr>,
    pub region: Option<&'a str>,
    pub traffic_path: Option<u8>,
    /// The AWS service a packet came from (`S3`, `AMAZON`, …), set by AWS.
    pub pkt_src_aws_service: Option<&'a str>,
}

impl<'a> Record<'a, '_> {
    /// Any field by its AWS name, as text; `None` when the format lacks it or the line has `-`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        let i = self.format.position(name)?;
        // Text fields are found again on demand; the hot path never asks for them.
        let text = tokens(self.line).nth(i)?;
        (text != "-").then_some(text)
    }

    /// Whether the record's format carries a field at all (even if this line has `-`).
    pub fn has_field(&self, name: &str) -> bool {
        self.format.has_field(name)
    }
}
