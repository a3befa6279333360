//! Integer and address parsers for flow-log fields: what `str::parse` accepts, no more and no
//! less, without its generality. Flow-log fields are short decimal numbers and dotted IPv4
//! addresses; these read them in one pass over the bytes. IPv6 is read the way std's parser
//! reads it, step for step. The `parsers` fuzz target checks, on arbitrary bytes, that every
//! function here answers exactly as std does; `tests` below checks the edges by table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// As `text.parse::<u64>()` followed by a check against `max` (`u8::MAX`, `u16::MAX`, …): an
/// optional `+`, then one or more ASCII digits, the value at most `max`. Leading zeros are
/// accepted (std accepts them).
#[inline]
pub fn unsigned(text: &[u8], max: u64) -> Option<u64> {
    let digits = match text {
        [b'+', rest @ ..] => rest,
        _ => text,
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    // Up to 19 digits cannot overflow a u64: no checks in the loop for those.
    let (head, tail) = digits.split_at(digits.len().min(19));
    for &b in head {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + u64::from(d);
    }
    for &b in tail {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    (value <= max).then_some(value)
}

/// As `text.parse::<Ipv4Addr>()`: four decimal octets separated by dots, each one to three
/// digits, at most 255, no leading zero (`0` itself is fine), nothing else.
#[inline]
pub fn ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    ipv4_prefix(text).and_then(|(ip, len)| (len == text.len()).then_some(ip))
}

/// The IPv4 address `text` starts with, as [`ipv4`] reads one, and its length: for a field
/// read where it starts, before its end is known (the caller checks what follows).
#[inline]
pub fn ipv4_prefix(text: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if text.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut value: u32 = 0;
        while let Some(&b) = text.get(i) {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            value = value * 10 + u32::from(d);
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let len = i - start;
        if len == 0 || value > 255 || (len > 1 && text[start] == b'0') {
            return None;
        }
        *octet = value as u8;
    }
    Some((Ipv4Addr::from(octets), i))
}

/// The decimal digits `text` starts with as a number, and how many there are: the usual case
/// of [`unsigned`] for a field read where it starts, before its end is known (the caller checks
/// what follows, and leaves anything else to `unsigned`). The value is right for up to 19
/// digits, which always fit a u64; past that it has wrapped, and the caller must not use it.
#[inline]
pub fn leading_digits(text: &[u8]) -> (u64, usize) {
    let mut value: u64 = 0;
    let mut len = 0;
    for &b in text {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(d));
        len += 1;
    }
    (value, len)
}

/// As `text.parse::<IpAddr>()`: IPv6 for anything with a `:`, else IPv4.
#[inline]
pub fn ip(text: &str) -> Option<IpAddr> {
    if text.as_bytes().contains(&b':') {
        ipv6(text.as_bytes()).map(IpAddr::V6)
    } else {
        ipv4(text.as_bytes()).map(IpAddr::V4)
    }
}

/// As `text.parse::<Ipv6Addr>()`, read the way std reads it: groups of one to four hex digits
/// (either case, leading zeros fine) separated by `:`; at most one `::` standing for one or
/// more zero groups; an IPv4 address (as [`ipv4_prefix`] reads one) in place of the last two
/// groups, never before a `::`; nothing else (no zone, no brackets).
pub fn ipv6(text: &[u8]) -> Option<Ipv6Addr> {
    let mut r = V6Reader { text, pos: 0 };
    let mut head = [0u16; 8];
    let (head_len, head_v4) = r.groups(&mut head);
    if head_len < 8 {
        if head_v4 || !(r.eat(b':') && r.eat(b':')) {
            return None;
        }
        // `::` stands for at least one group: seven at most after it.
        let mut tail = [0u16; 7];
        let (tail_len, _) = r.groups(&mut tail[..7 - head_len]);
        head[8 - tail_len..].copy_from_slice(&tail[..tail_len]);
    }
    (r.pos == text.len()).then(|| Ipv6Addr::from(head))
}

struct V6Reader<'a> {
    text: &'a [u8],
    pos: usize,
}

impl V6Reader<'_> {
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.text.get(self.pos) == Some(&byte);
        self.pos += usize::from(found);
        found
    }

    /// Colon-separated groups into `groups`, an IPv4 address possibly in place of the last
    /// two; how many were read and whether an IPv4 address ended them. Stops (giving back a
    /// separator it took) where the next group does not read.
    fn groups(&mut self, groups: &mut [u16]) -> (usize, bool) {
        let limit = groups.len();
        for i in 0..limit {
            let before = self.pos;
            if i > 0 && !self.eat(b':') {
                return (i, false);
            }
            // An IPv4 address needs two groups' room.
            if i + 1 < limit {
                if let Some((v4, len)) = ipv4_prefix(&self.text[self.pos..]) {
                    self.pos += len;
                    let [a, b, c, d] = v4.octets();
                    groups[i] = u16::from_be_bytes([a, b]);
                    groups[i + 1] = u16::from_be_bytes([c, d]);
                    return (i + 2, true);
                }
            }
            match self.hex_group() {
                Some(group) => groups[i] = group,
                None => {
                    self.pos = before;
                    return (i, false);
                }
            }
        }
        (limit, false)
    }

    /// One to four hex digits; a fifth fails the group, as in std.
    fn hex_group(&mut self) -> Option<u16> {
        let mut value: u16 = 0;
        let mut len = 0;
        while let Some(digit) = self
            .text
            .get(self.pos + len)
            .and_then(|&b| (b as char).to_digit(16))
        {
            if len == 4 {
                return None;
            }
            value = value << 4 | digit as u16;
            len += 1;
        }
        self.pos += len;
        (len > 0).then_some(value)
    }
}

/// An IPv4 address as `Ipv4Addr`'s `Display` writes it (dotted decimal, no leading zeros), in
/// `buf`: what `ip.to_string()` gives, without the formatting machinery (every counted record
/// names its source this way). Checked against `to_string` by `tests` and the `parsers` fuzz
/// target.
#[inline]
pub fn ipv4_text(ip: Ipv4Addr, buf: &mut [u8; 15]) -> &str {
    let mut n = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if octet >= 100 {
            buf[n] = b'0' + octet / 100;
            n += 1;
        }
        if octet >= 10 {
            buf[n] = b'0' + octet / 10 % 10;
            n += 1;
        }
        buf[n] = b'0' + octet % 10;
        n += 1;
    }
    std::str::from_utf8(&buf[..n]).expect("ASCII digits and dots")
}

/// Either address as `IpAddr`'s `Display` writes it, in `buf` (39 bytes: the longest IPv6).
#[inline]
pub fn ip_text(ip: IpAddr, buf: &mut [u8; 39]) -> &str {
    match ip {
        IpAddr::V4(v4) => ipv4_text(v4, buf.first_chunk_mut().expect("15 of 39 bytes")),
        IpAddr::V6(v6) => ipv6_text(v6, buf),
    }
}

/// An IPv6 address as `Ipv6Addr`'s `Display` writes it (RFC 5952: lowercase hex without
/// leading zeros, the first longest run of two or more zero groups as `::`, an IPv4-mapped
/// address as `::ffff:a.b.c.d`), in `buf`: what `ip.to_string()` gives, without the
/// formatting machinery. Checked against `to_string` by `tests` and the `parsers` fuzz target.
pub fn ipv6_text(ip: Ipv6Addr, buf: &mut [u8; 39]) -> &str {
    struct Out<'b> {
        buf: &'b mut [u8; 39],
        n: usize,
    }
    impl Out<'_> {
        fn push(&mut self, bytes: &[u8]) {
            self.buf[self.n..self.n + bytes.len()].copy_from_slice(bytes);
            self.n += bytes.len();
        }
        fn groups(&mut self, part: &[u16]) {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for (i, &group) in part.iter().enumerate() {
                if i > 0 {
                    self.push(b":");
                }
                let digits = (16 - group.leading_zeros()).div_ceil(4).max(1);
                for d in (0..digits).rev() {
                    self.push(&[HEX[usize::from(group >> (4 * d) & 0xf)]]);
                }
            }
        }
    }
    let mut out = Out { buf, n: 0 };
    if let Some(v4) = ip.to_ipv4_mapped() {
        out.push(b"::ffff:");
        out.push(ipv4_text(v4, &mut [0; 15]).as_bytes());
    } else {
        let groups = ip.segments();
        // The first longest run of zero groups: (start, length).
        let (mut zeros, mut run) = ((0, 0), (0, 0));
        for (i, &group) in groups.iter().enumerate() {
            if group != 0 {
                run = (0, 0);
                continue;
            }
            if run.1 == 0 {
                run.0 = i;
            }
            run.1 += 1;
            if run.1 > zeros.1 {
                zeros = run;
            }
        }
        if zeros.1 > 1 {
            out.groups(&groups[..zeros.0]);
            out.push(b"::");
            out.groups(&groups[zeros.0 + zeros.1..]);
        } else {
            out.groups(&groups);
        }
    }
    let n = out.n;
    std::str::from_utf8(&buf[..n]).expect("ASCII hex digits, colons and dots")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_answers_as_std_on_the_edges() {
        let cases = [
            "",
            "+",
            "-",
            "-0",
            "+0",
            "0",
            "00",
            "007",
            "+007",
            "42",
            " 42",
            "42 ",
            "4_2",
            "0x10",
            "255",
            "256",
            "65535",
            "65536",
            "4294967295",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "00000000000000000000018446744073709551615",
            "99999999999999999999",
            "١٢",
            "1e3",
            "+-1",
            "++1",
        ];
        for text in cases {
            let std64 = text.parse::<u64>().ok();
            assert_eq!(
                unsigned(text.as_bytes(), u64::MAX),
                std64,
                "{text:?} as u64"
            );
            let std16 = text.parse::<u16>().ok().map(u64::from);
            assert_eq!(
                unsigned(text.as_bytes(), u16::MAX.into()),
                std16,
                "{text:?} as u16"
            );
            let std8 = text.parse::<u8>().ok().map(u64::from);
            assert_eq!(
                unsigned(text.as_bytes(), u8::MAX.into()),
                std8,
                "{text:?} as u8"
            );
        }
    }

    #[test]
    fn addresses_answer_as_std_on_the_edges() {
        let cases = [
            "",
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.02.3.4",
            "1.2.3.00",
            "1.2.3.0",
            "1..3.4",
            ".1.2.3",
            "1.2.3.4.",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.2.3.-4",
            "1111.2.3.4",
            "0001.2.3.4",
            "1.2.3.4a",
            "10.0.0.1",
            "::",
            "::1",
            "2001:db8::1",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "fe80::1%eth0",
            "2001:db8::g",
            ":::",
            "1.2.3.4:80",
            "[::1]",
            "2001:DB8::1",
            "::1.2.3.04",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1:2:3:4:5::1.2.3.4",
            "1:2:3:4:5:6::1.2.3.4",
            "1:1.2.3.4::",
            "1.2.3.4::",
            "::1.2.3.4:5",
            "::12345",
            "1:12345::",
            "01234::",
            "0000:0000:0000:0000:0000:0000:0000:0001",
            "::1:",
            ":1::",
            "1::2::3",
            "::ffff:1.2.3.256",
            "::ffff:1.2.3",
            "::1234.5.6.7",
            "::123.5.6.7",
            "a:b:c:d:e:f:a:b",
            "A:B:C:D:E:F:A:B",
            "::٣",
        ];
        for text in cases {
            assert_eq!(ip(text), text.parse::<IpAddr>().ok(), "{text:?}");
            assert_eq!(
                ipv6(text.as_bytes()),
                text.parse::<Ipv6Addr>().ok(),
                "{text:?} as IPv6"
            );
            assert_eq!(
                ipv4(text.as_bytes()),
                text.parse::<Ipv4Addr>().ok(),
                "{text:?} as IPv4"
            );
        }
    }

    #[test]
    fn ipv4_text_writes_what_display_writes() {
        let mut buf = [0u8; 15];
        // Every octet value in every position (the others 0 and 255), then a spread of others.
        for position in 0..4 {
            for value in 0..=255u8 {
                for other in [0u8, 9, 10, 99, 100, 255] {
                    let mut octets = [other; 4];
                    octets[position] = value;
                    let ip = Ipv4Addr::from(octets);
                    assert_eq!(ipv4_text(ip, &mut buf), ip.to_string());
                }
            }
        }
        for n in (0..=u32::MAX).step_by(65_521) {
            let ip = Ipv4Addr::from(n);
            assert_eq!(ipv4_text(ip, &mut buf), ip.to_string());
        }
    }

    #[test]
    fn ipv6_text_writes_what_display_writes() {
        let mut buf = [0u8; 39];
        let cases = [
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:db8:0:0:1:0:0:1",
            "2001:0:0:1:0:0:0:1",
            "1:0:2:0:3:0:4:0",
            "0:0:1:0:0:1:0:0",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:1.2.3.4",
            "::ffff:0.0.0.0",
            "::1.2.3.4",
            "64:ff9b::1.2.3.4",
            "fe80::abcd:ef:10:0",
            "2a00:1450:4001:80f::200e",
        ];
        for text in cases {
            let ip: Ipv6Addr = text.parse().unwrap();
            assert_eq!(ipv6_text(ip, &mut buf), ip.to_string(), "{text}");
        }
        // Every pattern of zero and non-zero groups, with groups of every digit count.
        for zeros in 0..=255u16 {
            for (g, value) in [1u16, 0xf, 0x10, 0xabc, 0x1000, 0xffff]
                .into_iter()
                .enumerate()
            {
                let groups: Vec<u16> = (0..8)
                    .map(|i| {
                        if zeros >> i & 1 == 1 {
                            0
                        } else {
                            value.rotate_left(g as u32 + i)
                        }
                    })
                    .collect();
                let ip = Ipv6Addr::from(<[u16; 8]>::try_from(groups).unwrap());
                assert_eq!(
                    ipv6_text(ip, &mut buf),
                    ip.to_string(),
                    "{groups:?}",
                    groups = ip.segments()
                );
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// Any address (groups zeroed at random, so that runs of zeros are common), mapped or not.
        #[test]
        fn ipv6_text_writes_what_display_writes_on_any_address(
            groups in proptest::prelude::any::<[u16; 8]>(),
            zeroed in proptest::prelude::any::<u8>(),
        ) {
            let groups: Vec<u16> = (0..8).map(|i| if zeroed >> i & 1 == 1 { 0 } else { groups[i] }).collect();
            let ip = Ipv6Addr::from(<[u16; 8]>::try_from(groups).unwrap());
            let mut buf = [0; 39];
            proptest::prop_assert_eq!(ipv6_text(ip, &mut buf), ip.to_string());
        }

        /// IPv6-shaped text (groups of hex digits, colons in ones, twos and threes, dotted
        /// decimals, a stray character): read exactly as std reads it.
        #[test]
        fn ipv6_reads_what_std_reads(text in "(([0-9a-fA-F]{0,5}|[0-9]{1,3}(\\.[0-9]{1,4}){0,4})(:{1,3}|\\.)?){0,10}[g%\\]]?") {
            proptest::prop_assert_eq!(ipv6(text.as_bytes()), text.parse::<Ipv6Addr>().ok(), "{:?}", text);
            proptest::prop_assert_eq!(ip(&text), text.parse::<IpAddr>().ok(), "{:?}", text);
        }

        /// Any address written by std, compressed or not, mapped or not, in either case.
        #[test]
        fn ipv6_reads_every_address_std_writes(
            groups in proptest::prelude::any::<[u16; 8]>(),
            zeroed in proptest::prelude::any::<u8>(),
            upper in proptest::prelude::any::<bool>(),
        ) {
            let groups: Vec<u16> = (0..8).map(|i| if zeroed >> i & 1 == 1 { 0 } else { groups[i] }).collect();
            let ip = Ipv6Addr::from(<[u16; 8]>::try_from(groups).unwrap());
            let text = if upper { ip.to_string().to_uppercase() } else { ip.to_string() };
            proptest::prop_assert_eq!(ipv6(text.as_bytes()), Some(ip));
        }
    }
}
