//! Message ids (the `msgid` tag) as banterd makes them: the run's random
//! prefix (8 hex digits), the message's time (11 hex digits of milliseconds
//! since the epoch, the same instant as its `time` tag), then a counter (hex).
//!
//! The time inside lets the history store find a message by id with a range
//! probe on (target, time) instead of keeping a separate index of every msgid.
//! Ids of other forms (older banterd, times out of range) are still unique and
//! valid; the store indexes those apart.

/// Hex digits of the time field.
const TIME_DIGITS: usize = 11;
/// Hex digits of the run prefix.
const PREFIX_DIGITS: usize = 8;

/// Appends the id of message number `counter` sent at `time_ms` to `out`
/// (which holds the run prefix). A time that does not fit gives an id
/// without one.
pub fn push(out: &mut String, time_ms: i64, counter: u64) {
    if (0..1 << (4 * TIME_DIGITS)).contains(&time_ms) {
        push_hex(out, time_ms as u64, TIME_DIGITS);
    } else {
        out.push('-');
    }
    push_hex(out, counter, 1);
}

/// The time (ms since the epoch) a msgid made by [`push`] after an 8-digit
/// prefix carries; `None` for any other id.
pub fn time_of(msgid: &str) -> Option<i64> {
    let field = msgid.as_bytes().get(PREFIX_DIGITS..PREFIX_DIGITS + TIME_DIGITS)?;
    if msgid.len() == PREFIX_DIGITS + TIME_DIGITS {
        return None;
    }
    // One pass (the history writer asks this of every row).
    field.iter().try_fold(0i64, |n, &b| Some(n << 4 | (b as char).to_digit(16)? as i64))
}

/// Appends `n` in lowercase hex, at least `width` digits (zero-padded).
pub fn push_hex(out: &mut String, n: u64, width: usize) {
    let digits = ((64 - n.leading_zeros()).div_ceil(4) as usize).max(width);
    for shift in (0..digits).rev() {
        out.push(char::from_digit(((n >> (shift * 4)) & 0xf) as u32, 16).unwrap_or('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_time() {
        let mut id = "0badcafe".to_owned();
        push(&mut id, 1_764_680_000_123, 0x2a);
        assert_eq!(id.len(), 8 + 11 + 2);
        assert_eq!(time_of(&id), Some(1_764_680_000_123));
        let mut old = "0badcafe".to_owned();
        push(&mut old, -5, 7);
        assert_eq!(time_of(&old), None);
        assert_eq!(time_of("0badcafe1f"), None, "an id of the older form");
        assert_eq!(time_of("short"), None);
        assert_eq!(time_of("0badcafe0123456789a"), None, "no counter");
        assert_eq!(time_of("0badcafexyz45678901234"), None);
    }

    #[test]
    fn push_hex_matches_format() {
        for n in [0u64, 1, 15, 16, 255, 4096, 0xdead_beef, u64::MAX] {
            let mut s = String::new();
            push_hex(&mut s, n, 1);
            assert_eq!(s, format!("{n:x}"));
            let mut s = String::new();
            push_hex(&mut s, n, 11);
            assert_eq!(s, format!("{n:011x}"));
        }
    }
}
