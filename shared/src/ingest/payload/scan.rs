//! The subscription message read straight off its bytes, for the shape CloudWatch Logs writes:
//! one object with `messageType`, `owner`, `logGroup`, `logStream`, `subscriptionFilters` (an
//! array of strings) and `logEvents` (objects with `id`, `timestamp`, `message`), in any order,
//! with any JSON whitespace, and strings without escapes.
//!
//! It builds no document: each string is read eight bytes at a time to its end (one word's
//! test finds a quote, a backslash, a control character or a byte outside ASCII) and borrowed;
//! keys are compared as bytes with the ones it knows; plain portable code, the same on x86-64
//! and arm64. It either gives exactly what the general parser ([`LogsMessage::parse_general`], sonic-rs) gives for the same bytes, or declines
//! (`None`) and leaves the bytes to it: an escape, an unknown key, a duplicate, a number that is
//! not a plain integer, anything unusual. So a crafted payload costs the general parser's time
//! and gets its answer, never a different one; the `logs_message` fuzz target and the tests
//! below check that on arbitrary and on generated payloads.

use std::borrow::Cow;

use super::{LogEvent, LogsMessage};
use crate::rules::text;

/// The message's keys the scan knows.
#[derive(Clone, Copy)]
enum MessageKey {
    MessageType,
    Owner,
    LogGroup,
    LogStream,
    SubscriptionFilters,
    LogEvents,
}

const MESSAGE_KEYS: [(&[u8], MessageKey); 6] = [
    (b"messageType", MessageKey::MessageType),
    (b"owner", MessageKey::Owner),
    (b"logGroup", MessageKey::LogGroup),
    (b"logStream", MessageKey::LogStream),
    (b"subscriptionFilters", MessageKey::SubscriptionFilters),
    (b"logEvents", MessageKey::LogEvents),
];

/// A log event's keys.
#[derive(Clone, Copy)]
enum EventKey {
    Id,
    Timestamp,
    Message,
}

const EVENT_KEYS: [(&[u8], EventKey); 3] = [
    (b"id", EventKey::Id),
    (b"timestamp", EventKey::Timestamp),
    (b"message", EventKey::Message),
];

/// Reads `bytes` as the usual subscription message, or declines.
pub(super) fn logs_message(bytes: &[u8]) -> Option<LogsMessage<'_>> {
    let mut s = Scanner { bytes, pos: 0 };
    let mut message_type = None;
    let mut owner = None;
    let mut log_group = None;
    let mut log_stream = None;
    let mut log_events = None;
    s.object(&MESSAGE_KEYS, |s, key| match key {
        MessageKey::MessageType => once(&mut message_type, s.string()?),
        MessageKey::Owner => once(&mut owner, s.string()?),
        MessageKey::LogGroup => once(&mut log_group, s.string()?),
        MessageKey::LogStream => once(&mut log_stream, s.string()?),
        MessageKey::LogEvents => {
            // A flow-log event is about 180 bytes of payload: sized once for the usual case.
            let mut events = Vec::with_capacity(s.bytes.len() / 256);
            s.array(|s| {
                events.push(s.log_event()?);
                Some(())
            })?;
            once(&mut log_events, events)
        }
        // Not read by the product (the general parser skips it too): any strings.
        MessageKey::SubscriptionFilters => s.array(|s| s.string().map(drop)),
    })?;
    s.whitespace();
    if s.pos != bytes.len() {
        return None;
    }
    fn text(v: Option<&str>) -> Cow<'_, str> {
        Cow::Borrowed(v.unwrap_or_default())
    }
    Some(LogsMessage {
        message_type: Cow::Borrowed(message_type?),
        owner: text(owner),
        log_group: text(log_group),
        log_stream: text(log_stream),
        log_events: log_events.unwrap_or_default(),
        format: None,
    })
}

/// Sets a field met for the first time; a second time declines (the general parser refuses
/// duplicate fields).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES * 0x80;

/// The bytes of an eight-byte word a string's scan must stop at, flagged in their lanes' top
/// bits: a quote (the end), a backslash (an escape), below 0x20 (a control character, which
/// JSON refuses) or from 0x80 (outside ASCII, checked as UTF-8). Each test is the classic
/// "has a zero byte" trick: a borrow only reaches lanes above a flagged one, so the lowest
/// flag is the first such byte.
#[inline]
fn stops(word: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\\')))
        | ((word.wrapping_sub(ONES * 0x20) | word) & HIGH)
}

/// The same test for one byte (the last few of a payload, fewer than a word).
#[inline]
fn stops_at(b: u8) -> bool {
    b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next(&mut self) -> Option<u8> {
        self.whitespace();
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        // Compact JSON first: no whitespace to skip.
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            return Some(());
        }
        (self.next()? == byte).then_some(())
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let bytes = self.bytes;
        let start = self.pos;
        let mut i = start;
        let mut ascii = true;
        loop {
            // Sixteen bytes at a time (two words) to the first byte to stop at, eight, then
            // byte by byte for the last few of the payload.
            if let Some(block) = bytes.get(i..i + 16) {
                let (low, high) = block.split_at(8);
                let low = stops(u64::from_le_bytes(low.try_into().expect("eight bytes")));
                let high = stops(u64::from_le_bytes(high.try_into().expect("eight bytes")));
                if low | high == 0 {
                    i += 16;
                    continue;
                }
                i += if low != 0 {
                    low.trailing_zeros() as usize / 8
                } else {
                    8 + high.trailing_zeros() as usize / 8
                };
            } else if let Some(word) = bytes.get(i..i + 8) {
                let flags = stops(u64::from_le_bytes(word.try_into().expect("eight bytes")));
                if flags == 0 {
                    i += 8;
                    continue;
                }
                i += flags.trailing_zeros() as usize / 8;
            } else {
                i += bytes[i..].iter().position(|&b| stops_at(b))?;
            }
            match bytes[i] {
                b'"' => break,
                0x80.. => {
                    ascii = false;
                    i += 1;
                }
                // An escape or a control character.
                _ => return None,
            }
        }
        self.pos = i + 1;
        let text = &bytes[start..i];
        if ascii {
            // SAFETY: every byte of `text` was looked at by `stops` or `stops_at` and none is
            // from 0x80 (`ascii`), and ASCII is valid UTF-8. (`from_utf8` checking it again
            // cost more than the rest of the scan: its fast path wants long aligned runs.)
            Some(unsafe { std::str::from_utf8_unchecked(text) })
        } else {
            std::str::from_utf8(text).ok()
        }
    }

    /// An object's key, when it is one of `known` written plainly (an escaped or unknown key
    /// declines).
    fn key<K: Copy>(&mut self, known: &[(&[u8], K)]) -> Option<K> {
        self.whitespace();
        let rest = self.bytes.get(self.pos..)?;
        let &(name, key) = known.iter().find(|(name, _)| {
            rest.len() > name.len() + 1
                && rest[0] == b'"'
                && rest[1..].starts_with(name)
                && rest[name.len() + 1] == b'"'
        })?;
        self.pos += name.len() + 2;
        Some(key)
    }

    /// A JSON integer that fits a u64 as plain digits (`0` or no leading zero); a sign, a
    /// fraction or an exponent declines.
    fn integer(&mut self) -> Option<u64> {
        self.whitespace();
        let rest = self.bytes.get(self.pos..)?;
        let (value, len) = text::leading_digits(rest);
        // 19 digits always fit; longer ones are not timestamps.
        if !(1..=19).contains(&len)
            || (len > 1 && rest[0] == b'0')
            || matches!(rest.get(len), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        self.pos += len;
        Some(value)
    }

    /// `{ "key": value, … }` with keys among `known`, each value read by `member`.
    fn object<K: Copy>(
        &mut self,
        known: &[(&[u8], K)],
        mut member: impl FnMut(&mut Self, K) -> Option<()>,
    ) -> Option<()> {
        self.sequence(b'{', b'}', |s| {
            let key = s.key(known)?;
            s.expect(b':')?;
            member(s, key)
        })
    }

    /// `[ value, … ]`, each value read by `item`.
    fn array(&mut self, item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.sequence(b'[', b']', item)
    }

    /// `open item, item, … close`, or `open close`; no trailing comma.
    fn sequence(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.expect(open)?;
        self.whitespace();
        if self.bytes.get(self.pos) == Some(&close) {
            self.pos += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.next()? {
                b',' => {}
                b if b == close => return Some(()),
                _ => return None,
            }
        }
    }

    fn log_event(&mut self) -> Option<LogEvent<'a>> {
        let (mut id, mut timestamp, mut message) = (None, None, None);
        self.object(&EVENT_KEYS, |s, key| match key {
            EventKey::Id => once(&mut id, s.string()?),
            EventKey::Timestamp => once(&mut timestamp, s.integer()?),
            EventKey::Message => once(&mut message, s.string()?),
        })?;
        Some(LogEvent {
            id: Cow::Borrowed(id.unwrap_or_default()),
            timestamp: timestamp.unwrap_or_default(),
            message: Cow::Borrowed(message?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the scan gives, checked against the general parser: equal when the scan reads the
    /// bytes; the general parser's answer is the product's when it declines.
    fn check(bytes: &[u8]) -> Result<bool, String> {
        let Some(fast) = logs_message(bytes) else {
            return Ok(false);
        };
        match LogsMessage::parse_general(bytes) {
            Ok(general) if general == fast => Ok(true),
            other => Err(format!(
                "{}: scan {fast:?}, general parser {other:?}",
                String::from_utf8_lossy(bytes)
            )),
        }
    }

    const AWS_EXAMPLE: &str = r#"{
    "messageType": "DATA_MESSAGE",
    "owner": "123456789012",
    "logGroup": "/aws/vpc/flowlogs",
    "logStream": "eni-1235b8ca123456789-all",
    "subscriptionFilters": ["Destination"],
    "logEvents": [
        {
            "id": "31953106606966983378809025079804211143289615424298221568",
            "timestamp": 1432826855000,
            "message": "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
        },
        {
            "id": "31953106606966983378809025079804211143289615424298221569",
            "timestamp": 1432826855000,
            "message": "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
        }
    ]
}"#;

    #[test]
    fn reads_what_the_general_parser_reads() {
        let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;
        let read: &[&str] = &[
            AWS_EXAMPLE,
            control,
            // Order, absent optional fields, empty arrays and objects' whitespace.
            r#"{"logEvents":[{"message":"m","timestamp":0,"id":"1"}],"messageType":"DATA_MESSAGE"}"#,
            r#" { "messageType" : "X" , "logEvents" : [ ] } "#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":""}]}"#,
            r#"{"messageType":"DATA_MESSAGE","subscriptionFilters":["a","b"],"subscriptionFilters":[]}"#,
            "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"message\":\"caf\u{e9} \u{7f}\",\"timestamp\":18446744073709551}]}",
        ];
        for json in read {
            assert_eq!(check(json.as_bytes()), Ok(true), "{json}");
        }
        let message = logs_message(AWS_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(message.log_events.len(), 2);
        assert_eq!(message.log_events[1].timestamp, 1432826855000);
        assert!(message.log_events[1]
            .message
            .ends_with("3389 6 20 4249 1418530010 1418530070 REJECT OK"));
    }

    #[test]
    fn declines_the_unusual() {
        let declined: &[&str] = &[
            // The general parser reads these (escapes, unknown keys, other numbers) …
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"a\"b"}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"a\u0041"}]}"#,
            r#"{"message\u0054ype":"DATA_MESSAGE"}"#,
            r#"{"messageType":"DATA_MESSAGE","extra":{"nested":[1,2,{}]}}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"m","extra":null}]}"#,
            // … and refuses these.
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"m","timestamp":1.5}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"m","timestamp":-1}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"m","timestamp":1e3}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"m","timestamp":01}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"m","timestamp":18446744073709551616}]}"#,
            r#"{"messageType":"DATA_MESSAGE","owner":"a","owner":"b"}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"m","message":"n"}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"timestamp":1}]}"#,
            r#"{"owner":"o"}"#,
            r#"{"messageType":"DATA_MESSAGE",}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"m"},]}"#,
            r#"{"messageType":"DATA_MESSAGE"} x"#,
            r#"{"messageType":"DATA_MESSAGE"}{}"#,
            r#"{"messageType":"DATA_MESSAGE""#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"tab	inside"}]}"#,
            r#"[{"messageType":"DATA_MESSAGE"}]"#,
            "",
        ];
        for json in declined {
            assert_eq!(logs_message(json.as_bytes()), None, "{json}");
        }
        // Invalid UTF-8 inside a string.
        let mut bytes =
            br#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"XX"}]}"#.to_vec();
        let at = bytes.len() - 5;
        bytes[at] = 0xff;
        assert_eq!(logs_message(&bytes), None);
    }

    /// An object's members: the required keys and any of the optional ones, in any order.
    /// Unless `usual`, one time in eight each of: a required key left out, a key repeated, an
    /// extra key.
    fn members(
        required: &'static str,
        optional: Vec<&'static str>,
        extra: &'static str,
        usual: bool,
    ) -> impl Strategy<Value = Vec<&'static str>> {
        let odd = move || {
            if usual {
                Just(false).boxed()
            } else {
                prop::bool::weighted(0.125).boxed()
            }
        };
        let len = optional.len();
        (
            prop::sample::subsequence(optional, 0..=len),
            odd(),
            odd(),
            odd(),
        )
            .prop_map(move |(mut keys, drop, repeat, add)| {
                if !drop {
                    keys.push(required);
                }
                if add {
                    keys.push(extra);
                }
                if repeat && !keys.is_empty() {
                    keys.push(keys[0]);
                }
                keys
            })
            .prop_shuffle()
    }

    /// JSON text of a subscription message, built from parts a strategy chooses: key order,
    /// whitespace, strings, numbers. `usual` keeps to what CloudWatch Logs writes (plain
    /// strings and integers, known keys, no trailing commas); otherwise escapes, extra keys,
    /// other values and numbers of every form come in too, each rarely, so that most payloads
    /// are valid but for one odd part: those are where the scan must not differ.
    fn payloads(usual: bool) -> impl Strategy<Value = String> {
        let pick = move |plain: Vec<&'static str>, odd: Vec<&'static str>| {
            let plain = prop::sample::select(plain);
            if usual {
                plain.boxed()
            } else {
                prop_oneof![12 => plain, 1 => prop::sample::select(odd)].boxed()
            }
        };
        let ws = prop::sample::select(vec!["", " ", "\n  ", "\t", "\r\n"]);
        let text = pick(
            vec![
                "\"\"",
                "\"DATA_MESSAGE\"",
                "\"CONTROL_MESSAGE\"",
                "\"2 123456789010 eni-1 1.2.3.4 10.0.0.1 443 22 6 1 40 1418530010 1418530070 ACCEPT OK\"",
                "\"\u{e9}t\u{e9} \u{7f}\"",
            ],
            vec![
                "\"with \\\"quotes\\\"\"",
                "\"\\u00e9t\\u00e9\"",
                "\"tab\there\"",
                "\"\u{1}\"",
                "null",
                "42",
                "{}",
            ],
        );
        let number = pick(
            vec!["0", "7", "1432826855000", "9999999999999999999"],
            vec![
                "01",
                "00",
                "-5",
                "-0",
                "1.0",
                "2e3",
                "18446744073709551615",
                "18446744073709551616",
                "\"7\"",
                "null",
            ],
        );
        let values = text.clone();
        let event = members("message", vec!["id", "timestamp"], "extra", usual).prop_flat_map(
            move |keys| {
                let values = keys
                    .iter()
                    .map(|&k| {
                        if k == "timestamp" {
                            number.clone()
                        } else {
                            values.clone()
                        }
                    })
                    .collect::<Vec<_>>();
                (Just(keys), values)
            },
        );
        let top = members(
            "messageType",
            vec![
                "owner",
                "logGroup",
                "logStream",
                "subscriptionFilters",
                "logEvents",
            ],
            "other",
            usual,
        );
        let trailing_comma = if usual {
            Just(false).boxed()
        } else {
            prop::bool::weighted(0.05).boxed()
        };
        (
            top,
            prop::collection::vec(text.clone(), 9),
            prop::collection::vec(event, 0..4),
            ws,
            trailing_comma,
            pick(vec![""], vec!["x", "{}", ",", "]", "\"\""]),
        )
            .prop_map(|(keys, texts, events, ws, trailing_comma, after)| {
                let object = |parts: Vec<String>| {
                    let comma = if trailing_comma && !parts.is_empty() {
                        ","
                    } else {
                        ""
                    };
                    let parts = parts.join(&format!("{ws},{ws}"));
                    format!("{ws}{{{ws}{parts}{comma}{ws}}}{ws}")
                };
                let member = |key: &str, value: &str| format!("\"{key}\"{ws}:{ws}{value}");
                let events: Vec<String> = events
                    .into_iter()
                    .map(|(keys, values)| {
                        object(
                            keys.iter()
                                .zip(&values)
                                .map(|(k, v)| member(k, v))
                                .collect(),
                        )
                    })
                    .collect();
                let members = keys
                    .iter()
                    .zip(texts.iter().cycle())
                    .map(|(&key, text)| match key {
                        "logEvents" => member(key, &format!("[{}]", events.join(","))),
                        "subscriptionFilters" => member(key, &format!("[{text}]")),
                        _ => member(key, text),
                    })
                    .collect();
                object(members) + after
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        /// On generated payloads of every kind the scan reads exactly what the general parser
        /// reads, or declines.
        #[test]
        fn scan_agrees_with_the_general_parser(json in payloads(false)) {
            check(json.as_bytes()).map_err(TestCaseError::fail)?;
        }

        /// And it does read the usual ones: every payload in CloudWatch Logs' shape that the
        /// general parser accepts (a missing `messageType` or `message` is refused by both).
        #[test]
        fn scan_reads_the_usual_payloads(json in payloads(true)) {
            let read = check(json.as_bytes()).map_err(TestCaseError::fail)?;
            if LogsMessage::parse_general(json.as_bytes()).is_ok() {
                prop_assert!(read, "declined a usual payload: {}", json);
            }
        }

        /// On arbitrary bytes (a damaged usual payload) as well.
        #[test]
        fn scan_agrees_on_damaged_payloads(at in 0usize..2000, byte in any::<u8>(), cut in 0usize..2000) {
            let mut bytes = AWS_EXAMPLE.as_bytes().to_vec();
            let at = at % bytes.len();
            bytes[at] = byte;
            bytes.truncate(bytes.len() - cut % 40);
            check(&bytes).map_err(TestCaseError::fail)?;
        }
    }
}
