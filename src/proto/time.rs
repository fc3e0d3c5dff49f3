//! IRCv3 server-time timestamps (`YYYY-MM-DDThh:mm:ss.sssZ`, UTC).
//!
//! Every relayed message carries one, so formatting is on the hot path: it is
//! done here with integer arithmetic (a civil-from-days conversion) rather than
//! through chrono's format strings, which cost more than the rest of a relay.
//! Parsing takes the same fast path for the exact form and falls back to
//! chrono's RFC 3339 parser for anything else.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// The current time as a server-time timestamp.
pub fn now() -> String {
    format(now_ms())
}

/// Formats milliseconds since the epoch as a server-time timestamp.
pub fn format(ms: i64) -> String {
    match on_stack(ms) {
        Some(out) => String::from_utf8_lossy(&out).into_owned(),
        None => {
            chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        }
    }
}

/// Whether `text` is exactly [`format`]`(ms)`, without allocating (the
/// history writer asks this of every row).
pub fn is_format_of(text: &str, ms: i64) -> bool {
    match on_stack(ms) {
        Some(out) => text.as_bytes() == out,
        None => text == format(ms),
    }
}

thread_local! {
    /// The last timestamp this thread formatted and the last it parsed: at
    /// a busy server's rates most messages share their millisecond with the
    /// one before, and each kept message's time is parsed and formatted
    /// again for history.
    static LAST_FORMATTED: Cell<(i64, [u8; 24])> = const { Cell::new((0, *EPOCH)) };
    static LAST_PARSED: Cell<([u8; 24], i64)> = const { Cell::new((*EPOCH, 0)) };
}

/// The timestamp of 0, what the caches start with.
const EPOCH: &[u8; 24] = b"1970-01-01T00:00:00.000Z";

/// The timestamp of `ms` for years 0 to 9999, formatted without allocating.
fn on_stack(ms: i64) -> Option<[u8; 24]> {
    let (last_ms, last) = LAST_FORMATTED.get();
    if last_ms == ms {
        return Some(last);
    }
    let out = compute(ms)?;
    LAST_FORMATTED.set((ms, out));
    Some(out)
}

/// [`on_stack`] without the cache.
fn compute(ms: i64) -> Option<[u8; 24]> {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    let mut out = [0u8; 24];
    let mut put = |at: usize, value: i64, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, h, 2);
    put(14, m, 2);
    put(17, s, 2);
    put(20, milli, 3);
    for (at, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (23, b'Z')] {
        out[at] = sep;
    }
    Some(out)
}

/// Parses a server-time timestamp (an RFC 3339 time ending in `Z`) to
/// milliseconds since the epoch.
pub fn parse(text: &str) -> Option<i64> {
    if !text.ends_with('Z') {
        return None;
    }
    parse_exact(text.as_bytes())
        .or_else(|| chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis()))
}

/// The fast path: exactly `YYYY-MM-DDThh:mm:ss.sssZ` with ordinary field values.
fn parse_exact(b: &[u8]) -> Option<i64> {
    let b: &[u8; 24] = b.try_into().ok()?;
    let (last, last_ms) = LAST_PARSED.get();
    if last == *b {
        return Some(last_ms);
    }
    let ms = parse_fields(b)?;
    LAST_PARSED.set((*b, ms));
    Some(ms)
}

/// [`parse_exact`] without the cache.
fn parse_fields(b: &[u8; 24]) -> Option<i64> {
    for (at, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (23, b'Z')] {
        if b[at] != sep {
            return None;
        }
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, m, s, milli) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || h > 23 || m > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400_000 + h * 3_600_000 + m * 60_000 + s * 1000 + milli)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_format(ms: i64) -> String {
        chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    #[test]
    fn repeated_and_alternating_times_are_not_mixed_up_by_the_caches() {
        for ms in [5, 5, 86_400_000, 5, 0, 1_700_000_000_123, 1_700_000_000_123, 1_700_000_000_124] {
            let text = format(ms);
            let by_chrono =
                chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            assert_eq!(text, by_chrono);
            assert_eq!(parse(&text), Some(ms));
            assert!(is_format_of(&text, ms) && !is_format_of(&text, ms + 1));
        }
        assert_eq!(parse("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse("1970-01-01T00:00:00.00xZ"), None);
    }

    #[test]
    fn matches_chrono_over_a_wide_range() {
        let mut ms = -62_135_596_800_000i64; // 0001-01-01
        while ms < 253_402_300_799_000 {
            // 9999-12-31
            assert_eq!(format(ms), chrono_format(ms), "{ms}");
            assert_eq!(parse(&format(ms)), Some(ms), "{ms}");
            ms += 86_400_000 * 13 + 3_723_456;
        }
        for ms in [0, 951_782_400_000, 951_868_799_999, 1_709_164_800_123, -1] {
            assert_eq!(format(ms), chrono_format(ms));
            assert_eq!(parse(&format(ms)), Some(ms));
        }
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(parse("2019-01-04T14:33:26.123Z"), Some(1_546_612_406_123));
        assert_eq!(format(1_546_612_406_123), "2019-01-04T14:33:26.123Z");
        // Other RFC 3339 forms go through chrono.
        assert_eq!(parse("2019-01-04T14:33:26Z"), Some(1_546_612_406_000));
        assert_eq!(parse("2019-01-04T14:33:26.5Z"), Some(1_546_612_406_500));
        for bad in ["not-a-time", "2019-02-29T00:00:00.000Z", "2019-13-01T00:00:00.000Z", "2019-01-04T14:33:26.123"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("2020-02-29T23:59:59.999Z"), Some(1_583_020_799_999));
    }
}
