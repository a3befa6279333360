//! Differential: the flow-log field parsers (`rules::text`) accept and reject exactly what
//! std's `str::parse` does, and agree on the value, for any bytes; the address formatter
//! writes what `Display` writes; the prefix readers read what std reads of the same prefix.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use connection_tracker::rules::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(octets) = data.first_chunk::<4>() {
        let ip = Ipv4Addr::from(*octets);
        assert_eq!(text::ipv4_text(ip, &mut [0; 15]), ip.to_string());
    }
    if let Some(octets) = data.first_chunk::<16>() {
        let ip = Ipv6Addr::from(*octets);
        assert_eq!(text::ipv6_text(ip, &mut [0; 39]), ip.to_string());
    }
    // A field read where it starts: the digits it starts with (their value right up to 19 of
    // them), as std reads them; the address it starts with, as std reads that prefix.
    let (value, len) = text::leading_digits(data);
    assert_eq!(len, data.iter().take_while(|b| b.is_ascii_digit()).count());
    if (1..=19).contains(&len) {
        let prefix = std::str::from_utf8(&data[..len]).expect("digits");
        assert_eq!(Some(value), prefix.parse::<u64>().ok());
    }
    if let Some((ip, len)) = text::ipv4_prefix(data) {
        let prefix = std::str::from_utf8(&data[..len]).expect("an address's text is ASCII");
        assert_eq!(Some(ip), prefix.parse::<Ipv4Addr>().ok(), "{prefix:?}");
    }
    let Ok(s) = std::str::from_utf8(data) else {
        // Bytes that are not UTF-8 never reach the parsers (lines are &str), but the byte-level
        // functions must still refuse anything std would not read.
        assert_eq!(text::ipv4(data), None);
        assert_eq!(text::ipv6(data), None);
        return;
    };
    assert_eq!(text::ip(s), s.parse::<IpAddr>().ok(), "{s:?}");
    assert_eq!(text::ipv6(data), s.parse::<Ipv6Addr>().ok(), "{s:?}");
    assert_eq!(text::ipv4(data), s.parse::<Ipv4Addr>().ok(), "{s:?}");
    assert_eq!(
        text::unsigned(data, u64::MAX),
        s.parse::<u64>().ok(),
        "{s:?}"
    );
    assert_eq!(
        text::unsigned(data, u16::MAX.into()),
        s.parse::<u16>().ok().map(u64::from),
        "{s:?}"
    );
    assert_eq!(
        text::unsigned(data, u8::MAX.into()),
        s.parse::<u8>().ok().map(u64::from),
        "{s:?}"
    );
});
