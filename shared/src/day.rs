//! UTC days, one copy for the whole product: the day a record counts on, the `YYYY-MM-DD` form
//! of keys, query parameters and ctrack's options, inclusive day ranges, and the original's
//! timestamp shape. The ground floor: imports nothing of the crate.

use time::{Date, OffsetDateTime};

/// The date of a day counted from 1970-01-01; `None` outside the dates `time` can hold.
pub fn from_epoch_day(day: i64) -> Option<Date> {
    // 1970-01-01 is Julian day 2,440,588.
    let julian = i32::try_from(day.checked_add(2_440_588)?).ok()?;
    Date::from_julian_day(julian).ok()
}

/// `YYYY-MM-DD`: `Date`'s Display is ISO 8601 for four-digit years.
pub fn day_string(day: Date) -> String {
    day.to_string()
}

/// A `YYYY-MM-DD` date; `None` for anything else (`2026-02-30` included).
pub fn parse(value: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(value, &format).ok()
}

/// Every day from `from` to `to`, both included; empty when `to` is before `from`.
pub fn range(from: Date, to: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(from), |d| d.next_day()).take_while(move |d| *d <= to)
}

/// `2026-11-27T10:01:02.123456Z`, the original service's timestamp shape.
pub fn rfc3339_micros(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{}T{:02}:{:02}:{:02}.{:06}Z",
        t.date(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn epoch_days() {
        // 2014-12-14T04:06:50Z, the AWS example's start, is day 16,418.
        assert_eq!(1_418_530_010i64.div_euclid(86_400), 16_418);
        assert_eq!(from_epoch_day(16_418), Some(date!(2014 - 12 - 14)));
        assert_eq!(from_epoch_day(0), Some(date!(1970 - 01 - 01)));
        assert_eq!(from_epoch_day(-1), Some(date!(1969 - 12 - 31)));
        // Far outside what a record may carry: no date, no panic.
        for day in [
            i64::MAX,
            i64::MIN,
            2_932_897 * 1000,
            253_402_300_800_000 / 86_400,
        ] {
            assert_eq!(from_epoch_day(day), None, "{day}");
        }
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(parse("2026-11-27"), Some(date!(2026 - 11 - 27)));
        for bad in [
            "2026-02-30",
            "2026-11-7",
            "27.11.2026",
            "",
            "2026-11-27T00:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(day_string(date!(2026 - 01 - 02)), "2026-01-02");
    }

    #[test]
    fn ranges_include_both_ends() {
        let days: Vec<Date> = range(date!(2026 - 12 - 30), date!(2027 - 01 - 02)).collect();
        assert_eq!(
            days,
            [
                date!(2026 - 12 - 30),
                date!(2026 - 12 - 31),
                date!(2027 - 01 - 01),
                date!(2027 - 01 - 02)
            ]
        );
        assert_eq!(
            range(date!(2026 - 11 - 27), date!(2026 - 11 - 27)).count(),
            1
        );
        assert_eq!(
            range(date!(2026 - 11 - 27), date!(2026 - 11 - 26)).count(),
            0
        );
    }

    #[test]
    fn timestamps_have_microseconds_and_z() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_795_780_862_123_456_789).unwrap();
        assert_eq!(rfc3339_micros(t), "2026-11-27T12:01:02.123456Z");
    }
}
