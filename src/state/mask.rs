//! Wildcard masks (`*` and `?`) for bans, WHO and LIST, compared case-mapped.
//!
//! A [`Pattern`] is folded and split at its `*`s once, then matched against
//! any number of texts without allocating: a WHO over every connected user
//! compiles its mask once. Matching is linear in the text for any pattern
//! (each `*`-separated piece is found at its leftmost place, which is enough
//! for globs), and a text shorter than the pattern's fixed part is refused at
//! once.

use super::casemap::Casemap;

/// A compiled glob: `*` matches any run of characters, `?` any one character.
#[derive(Debug, Clone)]
pub struct Pattern {
    casemap: Casemap,
    /// The folded pattern's pieces between `*`s; `?` stays a `?` byte.
    pieces: Vec<Box<[u8]>>,
    /// Whether the pattern has a `*` at all (else it must match the whole text).
    starred: bool,
    /// The fewest bytes a matching text has (each `?` is at least one).
    min_len: usize,
}

impl Pattern {
    /// Folds and splits `pattern`.
    pub fn new(casemap: Casemap, pattern: &str) -> Pattern {
        let folded: Vec<u8> = pattern.bytes().map(|b| casemap.fold_byte(b)).collect();
        let pieces: Vec<Box<[u8]>> = folded.split(|b| *b == b'*').map(Box::from).collect();
        let min_len = pieces.iter().map(|p| p.len()).sum();
        Pattern { casemap, starred: pieces.len() > 1, pieces, min_len }
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let t = text.as_bytes();
        if t.len() < self.min_len {
            return false;
        }
        let (first, rest) = self.pieces.split_first().expect("split yields at least one piece");
        let Some(mut pos) = self.match_here(first, t, 0) else { return false };
        let Some((last, middle)) = rest.split_last() else { return pos == t.len() };
        // The last piece is anchored at the end: it starts as many characters
        // before the end as it has.
        let Some(end) = back_chars(t, chars_in(last)) else { return false };
        if end < pos || self.match_here(last, t, end) != Some(t.len()) {
            return false;
        }
        let t = &t[..end];
        for piece in middle.iter().filter(|p| !p.is_empty()) {
            match self.find(piece, t, pos) {
                Some(after) => pos = after,
                None => return false,
            }
        }
        debug_assert!(self.starred);
        true
    }

    /// Matches `piece` at byte `at` of `t`; the end of the match.
    fn match_here(&self, piece: &[u8], t: &[u8], mut at: usize) -> Option<usize> {
        for &p in piece {
            let &c = t.get(at)?;
            if p == b'?' {
                at += utf8_width(c);
            } else if self.casemap.fold_byte(c) == p {
                at += 1;
            } else {
                return None;
            }
        }
        (at <= t.len()).then_some(at)
    }

    /// The end of the leftmost match of `piece` in `t` at or after `from`.
    fn find(&self, piece: &[u8], t: &[u8], from: usize) -> Option<usize> {
        let mut at = from;
        while at < t.len() {
            // Skip to the next place the piece's first byte matches (a literal
            // byte never matches inside a character: UTF-8 leads and
            // continuations differ).
            if let Some(&p0) = piece.first().filter(|p| **p != b'?') {
                let casemap = self.casemap;
                at += t[at..].iter().position(|&b| casemap.fold_byte(b) == p0)?;
            }
            if let Some(end) = self.match_here(piece, t, at) {
                return Some(end);
            }
            at += utf8_width(t[at]);
        }
        None
    }
}

/// The byte length of the UTF-8 character that starts with `lead`.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// How many characters a piece matches (`?` is one; a literal character is
/// its lead byte).
fn chars_in(piece: &[u8]) -> usize {
    piece.iter().filter(|b| !(0x80..0xC0).contains(*b)).count()
}

/// The byte offset `n` characters before the end of `t`, if it has that many.
fn back_chars(t: &[u8], n: usize) -> Option<usize> {
    let mut at = t.len();
    for _ in 0..n {
        at = at.checked_sub(1)?;
        while at > 0 && (0x80..0xC0).contains(&t[at]) {
            at -= 1;
        }
    }
    Some(at)
}

/// Whether `text` matches the glob `pattern` under `casemap` (compiles the
/// pattern each time: use a [`Pattern`] to match many texts).
pub fn matches(casemap: Casemap, pattern: &str, text: &str) -> bool {
    Pattern::new(casemap, pattern).matches(text)
}

/// Completes a partial ban mask: `nick` → `nick!*@*`, `user@host` → `*!user@host`.
pub fn normalize(mask: &str) -> String {
    match (mask.contains('!'), mask.contains('@')) {
        (true, true) => mask.to_owned(),
        (true, false) => format!("{mask}@*"),
        (false, true) => format!("*!{mask}"),
        (false, false) => format!("{mask}!*@*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        let m = Casemap::Rfc1459;
        assert!(matches(m, "*!*@*", "a!b@c"));
        assert!(matches(m, "Nick*!*@127.*", "nICKname!~u@127.0.0.1"));
        assert!(matches(m, "a?c", "abc"));
        assert!(!matches(m, "a?c", "ac"));
        assert!(matches(m, "*x*y", "zzxzzy"));
        assert!(!matches(m, "*x*y", "zzxzz"));
        assert!(matches(m, "[foo]*", "{FOO}bar"));
    }

    #[test]
    fn edges() {
        let m = Casemap::Ascii;
        for (p, t, want) in [
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("**", "x", true),
            ("a*", "a", true),
            ("*a", "a", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("?", "é", true),
            ("??", "é", false),
            ("é?", "éa", true),
            ("*é", "aé", true),
            ("*?é", "é", false),
            ("a*b*c", "abbbc", true),
            ("a*b*c", "acb", false),
            ("*zzz*", "xxzzzyy", true),
            ("*zzz*", "zzxzz", false),
            ("a?*?b", "axyb", true),
            ("a?*?b", "axb", false),
        ] {
            assert_eq!(matches(m, p, t), want, "{p:?} against {t:?}");
        }
    }

    /// The compiled matcher agrees with a plain backtracking one on many
    /// generated cases.
    #[test]
    fn agrees_with_backtracking() {
        fn slow(p: &[char], t: &[char]) -> bool {
            match (p.first(), t.first()) {
                (None, _) => t.is_empty(),
                (Some('*'), _) => slow(&p[1..], t) || (!t.is_empty() && slow(p, &t[1..])),
                (Some('?'), Some(_)) => slow(&p[1..], &t[1..]),
                (Some(c), Some(d)) if c == d => slow(&p[1..], &t[1..]),
                _ => false,
            }
        }
        let alphabet = ['a', 'b', 'é', '*', '?'];
        let texts = ["", "a", "b", "ab", "ba", "aab", "abab", "éa", "aéb", "bbaé", "ababab"];
        let mut n = 0u32;
        for len in 0..=4 {
            let count = alphabet.len().pow(len);
            for i in 0..count {
                let mut k = i;
                let p: String = (0..len)
                    .map(|_| {
                        let c = alphabet[k % alphabet.len()];
                        k /= alphabet.len();
                        c
                    })
                    .collect();
                let pc: Vec<char> = p.chars().collect();
                for t in texts {
                    let tc: Vec<char> = t.chars().collect();
                    assert_eq!(matches(Casemap::Ascii, &p, t), slow(&pc, &tc), "{p:?} against {t:?}");
                    n += 1;
                }
            }
        }
        assert!(n > 7000);
    }

    #[test]
    fn normalizing() {
        assert_eq!(normalize("bad"), "bad!*@*");
        assert_eq!(normalize("u@h"), "*!u@h");
        assert_eq!(normalize("n!u"), "n!u@*");
    }
}
