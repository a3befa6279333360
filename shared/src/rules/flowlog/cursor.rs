//! Reading a line field by field where each starts: a number or an IPv4 address finds its own
//! end on the way; anything else is cut at the next space.

use std::net::IpAddr;

use super::super::text;

/// The fields of a line, as a [`Cursor`] at its start. AWS separates them with one space; runs
/// of spaces and a trailing line break are tolerated. A plain byte loop: fields are short
/// (the alternatives measured are in BENCHMARKS.md).
pub(super) fn tokens(line: &str) -> Cursor<'_> {
    Cursor {
        line: line.trim_end_matches(['\r', '\n']),
        pos: 0,
    }
}

/// Timestamps are seconds since the epoch; some exporters write milliseconds. Anything past
/// the year 5138 in seconds is taken to be milliseconds.
pub(super) fn epoch_seconds(value: u64) -> u64 {
    if value >= 100_000_000_000 {
        value / 1000
    } else {
        value
    }
}

/// The unsigned integer types of the fields; read as `str::parse` would read them.
pub(super) trait Unsigned: Sized {
    const MAX: u64;
    fn narrow(value: u64) -> Self;
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Unsigned for $t {
            const MAX: u64 = <$t>::MAX as u64;
            fn narrow(value: u64) -> Self {
                value as $t
            }
        }
    )*};
}
unsigned!(u8, u16, u64);

/// Where a line's reading is: its fields are read in order, each where it starts; as an
/// iterator, the fields' texts.
pub(super) struct Cursor<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Iterator for Cursor<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.next_field().then(|| self.raw())
    }
}

impl<'a> Cursor<'a> {
    /// Steps over the spaces before the next field; false when the line has no more.
    #[inline]
    pub(super) fn next_field(&mut self) -> bool {
        let bytes = self.line.as_bytes();
        while bytes.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        self.pos < bytes.len()
    }

    /// Whether the field of `len` bytes from here ends there (a space or the line's end).
    #[inline]
    pub(super) fn ends_after(&self, len: usize) -> bool {
        self.line
            .as_bytes()
            .get(self.pos + len)
            .is_none_or(|&b| b == b' ')
    }

    /// The field as it is, up to the next space.
    #[inline]
    pub(super) fn raw(&mut self) -> &'a str {
        let rest = &self.line.as_bytes()[self.pos..];
        let len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        // Cut at ASCII spaces only, so always on char boundaries.
        let text = &self.line[self.pos..self.pos + len];
        self.pos += len;
        text
    }

    /// The field's text; `None` for `-` (absent).
    #[inline]
    pub(super) fn text(&mut self) -> Option<&'a str> {
        Some(self.raw()).filter(|&t| t != "-")
    }

    /// A number field: its digits read where it starts, else (a sign, too many digits, out of
    /// range, not a number) its text read whole, which gives the same value or the error
    /// (`Err` with the text). `None` for `-`.
    #[inline]
    pub(super) fn number<T: Unsigned>(&mut self) -> Result<Option<T>, &'a str> {
        let (value, len) = text::leading_digits(&self.line.as_bytes()[self.pos..]);
        if (1..=19).contains(&len) && value <= T::MAX && self.ends_after(len) {
            self.pos += len;
            return Ok(Some(T::narrow(value)));
        }
        match self.text() {
            None => Ok(None),
            Some(text) => text::unsigned(text.as_bytes(), T::MAX)
                .map(|v| Some(T::narrow(v)))
                .ok_or(text),
        }
    }

    /// An address field: an IPv4 address read where it starts, else its text read whole
    /// (IPv6, or the error). `None` for `-`.
    #[inline]
    pub(super) fn address(&mut self) -> Result<Option<IpAddr>, &'a str> {
        if let Some((ip, len)) = text::ipv4_prefix(&self.line.as_bytes()[self.pos..]) {
            if self.ends_after(len) {
                self.pos += len;
                return Ok(Some(IpAddr::V4(ip)));
            }
        }
        match self.text() {
            None => Ok(None),
            Some(text) => text::ip(text).map(Some).ok_or(text),
        }
    }
}
