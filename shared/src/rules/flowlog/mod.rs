//! VPC flow-log records: a format (`${field} ${field} …`, as AWS writes `LogFormat`) and a
//! borrowing parser that turns one line into a [`Record`] view over the line's `&str`.
//!
//! Parsing allocates nothing per field: fields are slices of the input line, and the fields the
//! product needs are decoded once, up front (a number or an IPv4 address where it starts, its
//! end found on the way), so a bad address or number rejects the line instead of surfacing
//! later.

use std::fmt;

mod cursor;
mod fields;
mod record;

pub use fields::{is_transit_gateway_field, known_fields, DEFAULT_FORMAT};
pub use record::{Action, Expected, LineError, LogStatus, Record};

use cursor::{epoch_seconds, tokens};
use fields::Slot;
use record::bad_value;

/// Whether a line that does not fit its format is a Transit Gateway flow log's record in AWS's
/// default transit-gateway format (`6 TransitGateway …`, `6 TransitGatewayAttachment …`): a
/// version of 6 or later, then the resource type. Asked only of lines that failed to parse.
pub fn is_transit_gateway_record(line: &str) -> bool {
    let mut fields = tokens(line);
    let version = fields.next().and_then(|v| v.parse::<u32>().ok());
    let kind = fields.next();
    version.is_some_and(|v| v >= 6)
        && matches!(kind, Some("TransitGateway" | "TransitGatewayAttachment"))
}

/// Why a format string was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("flow-log format is empty; expected fields like `${{version}} ${{account-id}} …`")]
    Empty,
    #[error("flow-log format token `{0}` is not a field; expected `${{field-name}}`")]
    BadToken(String),
    #[error("flow-log format names the field `{0}` twice")]
    Duplicate(String),
}

/// A parsed flow-log format: the fields of a line, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLogFormat {
    names: Vec<String>,
    slots: Vec<Slot>,
    // Asked for every record: worked out once.
    has_action: bool,
    has_log_status: bool,
    transit_gateway: bool,
}

impl FlowLogFormat {
    /// Parses `${a} ${b} …` (AWS `LogFormat`); bare names separated by spaces are accepted too.
    pub fn parse(spec: &str) -> Result<Self, FormatError> {
        let mut names: Vec<String> = Vec::new();
        for token in spec.split_ascii_whitespace() {
            let name = match token.strip_prefix("${") {
                Some(rest) => rest
                    .strip_suffix('}')
                    .ok_or_else(|| FormatError::BadToken(token.to_string()))?,
                None => token,
            };
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(FormatError::BadToken(token.to_string()));
            }
            // vector and Athena write fields with underscores; AWS itself uses hyphens.
            let name = name.replace('_', "-");
            if names.contains(&name) {
                return Err(FormatError::Duplicate(name));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(FormatError::Empty);
        }
        let slots: Vec<Slot> = names.iter().map(|n| Slot::of(n)).collect();
        Ok(FlowLogFormat {
            transit_gateway: names.iter().any(|n| is_transit_gateway_field(n)),
            has_action: slots.contains(&Slot::Action),
            has_log_status: slots.contains(&Slot::LogStatus),
            names,
            slots,
        })
    }

    /// The version 2 default format.
    pub fn default_v2() -> Self {
        Self::parse(DEFAULT_FORMAT).expect("the default format parses")
    }

    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn has_field(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Whether lines carry `action` (without it no record can be known to be accepted).
    pub fn has_action(&self) -> bool {
        self.has_action
    }

    /// Whether lines carry `log-status` (without it every record counts as `OK`).
    pub fn has_log_status(&self) -> bool {
        self.has_log_status
    }

    /// Whether this is a Transit Gateway flow log's format (it names a field only those have):
    /// its records pass through a transit gateway, not an interface of ours.
    pub fn is_transit_gateway(&self) -> bool {
        self.transit_gateway
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Parses one line. Fields are separated by single spaces as AWS writes them; runs of
    /// whitespace are tolerated. `-` means absent.
    pub fn parse_line<'a>(&self, line: &'a str) -> Result<Record<'a, '_>, LineError> {
        self.decode_line(line).map_err(|e| {
            // A shifted line fails on some field first; the count is the better diagnosis.
            // Counted only on this error path, so good lines are read once.
            let found = tokens(line).count();
            if found == self.slots.len() {
                e
            } else {
                LineError::FieldCount {
                    expected: self.slots.len(),
                    found,
                }
            }
        })
    }

    fn decode_line<'a>(&self, line: &'a str) -> Result<Record<'a, '_>, LineError> {
        let mut record = Record {
            format: self,
            line,
            version: None,
            account_id: None,
            interface_id: None,
            srcaddr: None,
            dstaddr: None,
            srcport: None,
            dstport: None,
            protocol: None,
            packets: None,
            bytes: None,
            start: None,
            end: None,
            action: None,
            log_status: None,
            tcp_flags: None,
            pkt_srcaddr: None,
            pkt_dstaddr: None,
            region: None,
            traffic_path: None,
            pkt_src_aws_service: None,
        };
        // One pass over the line, no token buffer: fields are decoded as they are met, and a
        // number or an IPv4 address is read where it starts, its end found on the way (the
        // usual line is mostly those); anything else is cut at the next space.
        let mut at = tokens(line);
        for (i, &slot) in self.slots.iter().enumerate() {
            if !at.next_field() {
                return Err(LineError::FieldCount {
                    expected: self.slots.len(),
                    found: i,
                });
            }
            let field = || self.names[i].clone();
            let number = |text: &str| bad_value(field(), text, Expected::Number);
            let address = |text: &str| bad_value(field(), text, Expected::Address);
            match slot {
                Slot::Version => record.version = at.number().map_err(number)?,
                Slot::AccountId => record.account_id = at.text(),
                Slot::InterfaceId => record.interface_id = at.text(),
                Slot::SrcAddr => record.srcaddr = at.address().map_err(address)?,
                Slot::DstAddr => record.dstaddr = at.address().map_err(address)?,
                Slot::SrcPort => record.srcport = at.number().map_err(number)?,
                Slot::DstPort => record.dstport = at.number().map_err(number)?,
                Slot::Protocol => record.protocol = at.number().map_err(number)?,
                Slot::Packets => record.packets = at.number().map_err(number)?,
                Slot::Bytes => record.bytes = at.number().map_err(number)?,
                Slot::Start => {
                    record.start = at.number().map_err(number)?.map(epoch_seconds);
                }
                Slot::End => record.end = at.number().map_err(number)?.map(epoch_seconds),
                Slot::Action => {
                    record.action = match at.text() {
                        None => None,
                        Some("ACCEPT") => Some(Action::Accept),
                        Some("REJECT") => Some(Action::Reject),
                        Some(text) => return Err(bad_value(field(), text, Expected::Action)),
                    }
                }
                Slot::LogStatus => {
                    record.log_status = match at.text() {
                        None => None,
                        Some("OK") => Some(LogStatus::Ok),
                        Some("NODATA") => Some(LogStatus::NoData),
                        Some("SKIPDATA") => Some(LogStatus::SkipData),
                        Some(text) => return Err(bad_value(field(), text, Expected::LogStatus)),
                    }
                }
                Slot::TcpFlags => record.tcp_flags = at.number().map_err(number)?,
                Slot::PktSrcAddr => record.pkt_srcaddr = at.address().map_err(address)?,
                Slot::PktDstAddr => record.pkt_dstaddr = at.address().map_err(address)?,
                Slot::Region => record.region = at.text(),
                Slot::TrafficPath => record.traffic_path = at.number().map_err(number)?,
                Slot::PktSrcAwsService => record.pkt_src_aws_service = at.text(),
                Slot::Text => {
                    at.raw();
                }
            }
        }
        let extra = at.count();
        if extra > 0 {
            return Err(LineError::FieldCount {
                expected: self.slots.len(),
                found: self.slots.len() + extra,
            });
        }
        Ok(record)
    }
}

impl Default for FlowLogFormat {
    fn default() -> Self {
        Self::default_v2()
    }
}

impl fmt::Display for FlowLogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "${{{name}}}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn format_parsing_table() {
        let cases: &[(&str, Result<usize, FormatError>)] = &[
            (DEFAULT_FORMAT, Ok(14)),
            ("${version} ${vpc-id}", Ok(2)),
            ("version vpc_id subnet_id", Ok(3)),
            ("${version} ${custom-thing}", Ok(2)),
            ("", Err(FormatError::Empty)),
            ("   ", Err(FormatError::Empty)),
            ("${version", Err(FormatError::BadToken("${version".into()))),
            ("${ver sion}", Err(FormatError::BadToken("${ver".into()))),
            ("${a} ${a}", Err(FormatError::Duplicate("a".into()))),
            ("${}", Err(FormatError::BadToken("${}".into()))),
        ];
        for (spec, want) in cases {
            let got = FlowLogFormat::parse(spec).map(|f| f.len());
            assert_eq!(&got, want, "format {spec:?}");
        }
    }

    #[test]
    fn format_round_trips_through_display() {
        let f = FlowLogFormat::parse("version vpc_id srcaddr").unwrap();
        assert_eq!(f.to_string(), "${version} ${vpc-id} ${srcaddr}");
        assert_eq!(FlowLogFormat::parse(&f.to_string()).unwrap(), f);
        assert_eq!(FlowLogFormat::default_v2().to_string(), DEFAULT_FORMAT);
    }

    #[test]
    fn every_known_field_is_accepted_in_a_format() {
        let spec: Vec<String> = known_fields().map(|f| format!("${{{f}}}")).collect();
        let format = FlowLogFormat::parse(&spec.join(" ")).unwrap();
        assert_eq!(format.len(), known_fields().count());
        let line = vec!["-"; format.len()].join(" ");
        let record = format.parse_line(&line).unwrap();
        assert!(known_fields().all(|f| record.get(f).is_none()));
    }

    #[test]
    fn transit_gateway_records_and_formats_are_told_apart() {
        let lines = [
            ("6 TransitGateway 123456789012 tgw-0123", true),
            ("6 TransitGatewayAttachment 123456789012", true),
            ("7 TransitGateway", true),
            ("5 TransitGateway 123456789012", false),
            ("6 transitgateway", false),
            ("x TransitGateway", false),
            ("2 123456789010 eni-1235b8ca123456789 172.31.16.139", false),
            ("6", false),
            ("", false),
        ];
        for (line, want) in lines {
            assert_eq!(is_transit_gateway_record(line), want, "{line:?}");
        }
        let formats = [
            ("${version} ${resource-type} ${srcaddr}", true),
            ("${version} ${tgw-id}", true),
            ("version packets_lost_no_route", true),
            (DEFAULT_FORMAT, false),
            ("${version} ${ecs-task-id} ${reject-reason}", false),
        ];
        for (spec, want) in formats {
            let f = FlowLogFormat::parse(spec).unwrap();
            assert_eq!(f.is_transit_gateway(), want, "{spec}");
        }
    }

    #[test]
    fn timestamps_in_milliseconds_become_seconds() {
        let f = FlowLogFormat::parse("${start} ${end}").unwrap();
        let r = f.parse_line("1418530010000 1418530070").unwrap();
        assert_eq!((r.start, r.end), (Some(1418530010), Some(1418530070)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]

        /// The tokenizer cuts exactly where splitting at spaces does, on any text (runs of
        /// spaces, multi-byte characters, line breaks).
        #[test]
        fn tokens_are_the_space_separated_fields(line in "[ a-c\u{e9}\u{2003}\u{1f600}\r\n!~0-9\x1f\x21\u{a0}]{0,64}") {
            let want: Vec<&str> = line
                .trim_end_matches(['\r', '\n'])
                .split(' ')
                .filter(|t| !t.is_empty())
                .collect();
            let got: Vec<&str> = tokens(&line).collect();
            proptest::prop_assert_eq!(got, want);
        }

        /// Numbers and IPv4 addresses are read where they start, their end found on the way;
        /// every line reads as cutting it at spaces and reading each field's text whole does:
        /// the same values, or the same error.
        #[test]
        fn fields_read_where_they_start_read_as_their_text(
            (custom, fields) in lines(),
            gaps in proptest::collection::vec(proptest::sample::select(vec![" ", " ", " ", "  "]), 16),
            end in proptest::sample::select(vec!["", "", "\n", "\r\n", " "]),
        ) {
            let format = if custom { custom_format() } else { FlowLogFormat::default_v2() };
            let mut line = String::new();
            for (field, gap) in fields.iter().zip(&gaps) {
                line.push_str(field);
                line.push_str(gap);
            }
            line.truncate(line.len().saturating_sub(1));
            line.push_str(end);
            let got = format.parse_line(&line).map(|r| typed(&r));
            let want = read_whole(&format, &line);
            match (&got, &want) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b, "{:?}", line),
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a.kind(), b.kind(), "{:?}", line),
                _ => proptest::prop_assert!(false, "{:?}: {:?} against {:?}", line, got, want),
            }
        }
    }

    fn custom_format() -> FlowLogFormat {
        FlowLogFormat::parse(
            "${version} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${pkt-srcaddr} \
             ${pkt-dstaddr} ${tcp-flags} ${traffic-path} ${start} ${end} ${action} ${log-status}",
        )
        .unwrap()
    }

    /// A line's fields for the v2 or the custom format: mostly what the field holds, one time
    /// in ten any field text, and now and then one field too many or too few.
    fn lines() -> impl proptest::strategy::Strategy<Value = (bool, Vec<String>)> {
        use proptest::prelude::*;
        any::<bool>().prop_flat_map(|custom| {
            let format = if custom { custom_format() } else { FlowLogFormat::default_v2() };
            let fields: Vec<BoxedStrategy<String>> = format
                .field_names()
                .map(|name| {
                    let usual: BoxedStrategy<String> = match name {
                        "srcaddr" | "dstaddr" | "pkt-srcaddr" | "pkt-dstaddr" => prop_oneof![
                            4 => "(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}",
                            1 => "([0-9a-f]{1,4}:){1,7}:?[0-9a-f]{1,4}",
                        ]
                        .boxed(),
                        "action" => "ACCEPT|REJECT".boxed(),
                        "log-status" => "OK|NODATA|SKIPDATA".boxed(),
                        "account-id" => "[0-9]{12}|unknown".boxed(),
                        "interface-id" => "eni-[0-9a-f]{17}".boxed(),
                        "start" | "end" | "packets" | "bytes" => "[0-9]{1,13}".boxed(),
                        _ => "[0-9]{1,5}".boxed(),
                    };
                    prop_oneof![9 => usual, 1 => field_text(), 1 => Just("-".to_string())].boxed()
                })
                .collect();
            (Just(custom), fields, prop_oneof![8 => Just(0), 1 => Just(1), 1 => Just(2)])
                .prop_map(|(custom, mut fields, change)| {
                    match change {
                        1 => drop(fields.pop()),
                        2 => fields.push("7".to_string()),
                        _ => {}
                    }
                    (custom, fields)
                })
        })
    }

    /// Field texts: numbers of every length and sign, addresses (good, bad, IPv6), words.
    fn field_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            "[0-9]{1,4}",
            "[0-9]{10,13}",
            "[0-9]{18,22}",
            "\\+[0-9]{1,3}",
            "(25[0-6]|2[0-4][0-9]|1?[0-9]{1,2}|0[0-9])(\\.(25[0-6]|1?[0-9]{1,2}|0[0-9]|[0-9]{4})){2,4}",
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}[.:a-z0-9]?",
            "([0-9a-f]{1,4}:){1,7}[0-9a-f]{0,4}",
            "::ffff:[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            "ACCEPT|REJECT|OK|NODATA|SKIPDATA|accept",
            "[0-9.:a-z+-]{1,12}",
        ]
    }

    /// The typed fields of a record.
    #[derive(Debug, PartialEq)]
    struct Typed {
        numbers: [Option<u64>; 10],
        addresses: [Option<IpAddr>; 4],
        action: Option<Action>,
        log_status: Option<LogStatus>,
    }

    fn typed(r: &Record) -> Typed {
        Typed {
            numbers: [
                r.version.map(u64::from),
                r.srcport.map(u64::from),
                r.dstport.map(u64::from),
                r.protocol.map(u64::from),
                r.packets,
                r.bytes,
                r.start,
                r.end,
                r.tcp_flags.map(u64::from),
                r.traffic_path.map(u64::from),
            ],
            addresses: [r.srcaddr, r.dstaddr, r.pkt_srcaddr, r.pkt_dstaddr],
            action: r.action,
            log_status: r.log_status,
        }
    }

    /// The line cut at spaces, each field's text read whole by std's parsers.
    fn read_whole(format: &FlowLogFormat, line: &str) -> Result<Typed, LineError> {
        let fields: Vec<&str> = line
            .trim_end_matches(['\r', '\n'])
            .split(' ')
            .filter(|t| !t.is_empty())
            .collect();
        let count = LineError::FieldCount {
            expected: format.len(),
            found: fields.len(),
        };
        if fields.len() != format.len() {
            return Err(count);
        }
        let mut t = Typed {
            numbers: [None; 10],
            addresses: [None; 4],
            action: None,
            log_status: None,
        };
        for (name, text) in format.field_names().zip(fields) {
            if text == "-" {
                continue;
            }
            let bad = |expected| bad_value(name.to_string(), text, expected);
            let number = |at: usize, max: u64| match text.parse::<u64>() {
                Ok(v) if v <= max => Ok((at, v)),
                _ => Err(bad(Expected::Number)),
            };
            let address = |at: usize| match text.parse::<IpAddr>() {
                Ok(ip) => Ok((at, ip)),
                Err(_) => Err(bad(Expected::Address)),
            };
            match name {
                "version" | "protocol" | "traffic-path" => {
                    let at = match name {
                        "version" => 0,
                        "protocol" => 3,
                        _ => 9,
                    };
                    let (at, v) = number(at, 255)?;
                    t.numbers[at] = Some(v);
                }
                "srcport" | "dstport" | "tcp-flags" => {
                    let at = match name {
                        "srcport" => 1,
                        "dstport" => 2,
                        _ => 8,
                    };
                    let (at, v) = number(at, 65535)?;
                    t.numbers[at] = Some(v);
                }
                "packets" | "bytes" => {
                    let (at, v) = number(if name == "packets" { 4 } else { 5 }, u64::MAX)?;
                    t.numbers[at] = Some(v);
                }
                "start" => t.numbers[6] = Some(epoch_seconds(number(6, u64::MAX)?.1)),
                "end" => t.numbers[7] = Some(epoch_seconds(number(7, u64::MAX)?.1)),
                "srcaddr" | "dstaddr" | "pkt-srcaddr" | "pkt-dstaddr" => {
                    let at = match name {
                        "srcaddr" => 0,
                        "dstaddr" => 1,
                        "pkt-srcaddr" => 2,
                        _ => 3,
                    };
                    let (at, ip) = address(at)?;
                    t.addresses[at] = Some(ip);
                }
                "action" => {
                    t.action = Some(match text {
                        "ACCEPT" => Action::Accept,
                        "REJECT" => Action::Reject,
                        _ => return Err(bad(Expected::Action)),
                    })
                }
                "log-status" => {
                    t.log_status = Some(match text {
                        "OK" => LogStatus::Ok,
                        "NODATA" => LogStatus::NoData,
                        "SKIPDATA" => LogStatus::SkipData,
                        _ => return Err(bad(Expected::LogStatus)),
                    })
                }
                _ => {}
            }
        }
        Ok(t)
    }
}
