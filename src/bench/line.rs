//! Zero-allocation IRC line scanning: just enough to find the source nick,
//! the command and the parameters of a server line. Malformed input yields
//! `None` or empty slices, never a panic.

/// One borrowed server line, without its trailing CR LF.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The source prefix without the leading `:` (empty when absent).
    pub source: &'a [u8],
    /// The command or three-digit numeric.
    pub command: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Line<'a> {
    /// Splits a line into source, command and parameters; tags are skipped.
    pub fn parse(mut l: &'a [u8]) -> Option<Line<'a>> {
        l = trim_crlf(l);
        if l.first() == Some(&b'@') {
            l = after_space(l)?;
        }
        let mut source: &[u8] = &[];
        if l.first() == Some(&b':') {
            let end = l.iter().position(|&b| b == b' ').unwrap_or(l.len());
            source = &l[1..end];
            l = skip_spaces(&l[end..]);
        }
        let end = l.iter().position(|&b| b == b' ').unwrap_or(l.len());
        if end == 0 {
            return None;
        }
        Some(Line { source, command: &l[..end], rest: &l[end..] })
    }

    /// The nick part of the source (up to `!`).
    pub fn nick(&self) -> &'a [u8] {
        let end = self.source.iter().position(|&b| b == b'!').unwrap_or(self.source.len());
        &self.source[..end]
    }

    /// The `i`th parameter (the trailing one included), if present.
    pub fn param(&self, i: usize) -> Option<&'a [u8]> {
        self.params().nth(i)
    }

    /// Iterates over the parameters.
    pub fn params(&self) -> Params<'a> {
        Params { rest: self.rest }
    }
}

/// Iterator over a line's parameters.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Params<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let r = skip_spaces(self.rest);
        if r.is_empty() {
            return None;
        }
        if r[0] == b':' {
            self.rest = &[];
            return Some(&r[1..]);
        }
        let end = r.iter().position(|&b| b == b' ').unwrap_or(r.len());
        self.rest = &r[end..];
        Some(&r[..end])
    }
}

/// Position of the first `b` in `hay`, eight bytes at a time (the hot loop
/// of line splitting; std has no public memchr).
pub fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pat = LO * u64::from(b);
    let mut i = 0;
    while let Some(chunk) = hay.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w) ^ pat;
        // Zero bytes of x are matches; borrows only create false hits above
        // the first true one, and the lowest set bit is taken.
        let hit = x.wrapping_sub(LO) & !x & HI;
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay[i..].iter().position(|&c| c == b).map(|p| i + p)
}

/// Removes a trailing `\r\n` or `\n`.
pub fn trim_crlf(mut l: &[u8]) -> &[u8] {
    if l.last() == Some(&b'\n') {
        l = &l[..l.len() - 1];
    }
    if l.last() == Some(&b'\r') {
        l = &l[..l.len() - 1];
    }
    l
}

fn skip_spaces(l: &[u8]) -> &[u8] {
    let start = l.iter().position(|&b| b != b' ').unwrap_or(l.len());
    &l[start..]
}

fn after_space(l: &[u8]) -> Option<&[u8]> {
    let i = l.iter().position(|&b| b == b' ')?;
    Some(skip_spaces(&l[i..]))
}

/// Case-insensitive ASCII comparison (enough for bench-generated names).
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Parses an unsigned decimal number; `None` on anything else or overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
    }
    Some(v)
}

/// Appends the decimal digits of `v` to `out` without allocating.
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_privmsg() {
        let l = Line::parse(b"@t=1 :ab!u@h PRIVMSG #c :1 2 3\r\n").unwrap();
        assert_eq!(l.nick(), b"ab");
        assert_eq!(l.command, b"PRIVMSG");
        assert_eq!(l.param(0), Some(&b"#c"[..]));
        assert_eq!(l.param(1), Some(&b"1 2 3"[..]));
        assert_eq!(l.param(2), None);
    }

    #[test]
    fn tolerates_garbage() {
        assert!(Line::parse(b"").is_none());
        assert!(Line::parse(b":only-source").is_none());
        assert!(Line::parse(b"@tags-only").is_none());
        let l = Line::parse(b"PING :x").unwrap();
        assert_eq!(l.source, b"");
        assert_eq!(l.param(0), Some(&b"x"[..]));
    }

    #[test]
    fn find_byte_matches_position() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        for start in 0..40 {
            for b in [0u8, 10, 13, 128, 255, 250] {
                let h = &hay[start..];
                assert_eq!(find_byte(h, b), h.iter().position(|&c| c == b), "{start} {b}");
            }
        }
        assert_eq!(find_byte(b"", b'\n'), None);
        assert_eq!(find_byte(b"abc\r\n", b'\n'), Some(4));
    }

    #[test]
    fn numbers_round_trip() {
        let mut v = Vec::new();
        push_u64(&mut v, 0);
        push_u64(&mut v, 18_446_744_073_709_551_615);
        assert_eq!(v, b"018446744073709551615");
        assert_eq!(parse_u64(b"12345"), Some(12345));
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
    }
}
