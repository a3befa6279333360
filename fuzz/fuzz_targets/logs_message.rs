//! Any bytes as a decompressed subscription message, read twice: by the scan over CloudWatch
//! Logs' usual shape and by the general JSON parser. Where the scan reads the bytes, the two
//! must give the same message (differential); where it declines, the general parser's answer
//! is the product's, so there is nothing to compare.
#![no_main]

use connection_tracker::ingest::payload::LogsMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(scanned) = LogsMessage::scan(data) {
        match LogsMessage::parse_general(data) {
            Ok(general) => assert_eq!(scanned, general, "the scan and the general parser differ"),
            Err(e) => panic!("the scan read what the general parser refuses ({e}): {scanned:?}"),
        }
    }
});
