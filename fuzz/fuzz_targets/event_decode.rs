//! Any bytes as a Lambda event: the event shapes, base64, capped gunzip, the subscription
//! message. Errors are fine; a panic, a hang or memory past the cap is a finding.
#![no_main]

use connection_tracker::ingest::payload::{decode_data, FlowEvent, LogsMessage};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // The bytes as an event…
    if let Ok(event) = FlowEvent::from_slice(data) {
        let _ = event.newest_log_event_ms(LIMIT);
        let payloads: Vec<&str> = match &event {
            FlowEvent::Logs { data } => vec![data.as_str()],
            FlowEvent::Kinesis { records } => records.iter().map(|r| r.data.as_str()).collect(),
        };
        for payload in payloads {
            if let Ok(bytes) = decode_data(payload, LIMIT) {
                assert!(bytes.len() <= LIMIT, "the cap holds");
                let _ = LogsMessage::parse(&bytes);
            }
        }
    }
    // …and as a decompressed subscription message.
    let _ = LogsMessage::parse(data);
});
