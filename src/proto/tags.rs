//! IRCv3 message-tags: value escaping, and the client-only tags a message may relay.

use std::borrow::Cow;

/// Escapes a tag value for the wire (`;` `\s` `\\` `\r` `\n`).
pub fn escape(value: &str) -> Cow<'_, str> {
    if !value.bytes().any(|b| matches!(b, b';' | b' ' | b'\\' | b'\r' | b'\n')) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Unescapes a tag value from the wire; an unknown escape drops the backslash and a
/// trailing lone backslash is dropped, as the spec says.
pub fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Iterates over `key[=value]` pairs of a raw tag section (without the `@`).
pub fn iter(raw: &str) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
    raw.split(';').filter(|t| !t.is_empty()).map(|t| match t.split_once('=') {
        Some((k, v)) => (k, unescape(v)),
        None => (t, Cow::Borrowed("")),
    })
}

/// Serializes the client-only (`+`-prefixed) tags of a raw tag section, re-escaped,
/// dropping empty values; `None` when there are none. Server tags from clients are
/// never relayed.
pub fn client_only(raw: &str) -> Option<String> {
    let mut out = String::new();
    for (k, v) in iter(raw) {
        if !k.starts_with('+') || k.len() < 2 {
            continue;
        }
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(&escape(&v));
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trip() {
        let v = "a; b\\c\r\nd";
        assert_eq!(escape(v), "a\\:\\sb\\\\c\\r\\nd");
        assert_eq!(unescape(&escape(v)), v);
    }

    #[test]
    fn unescape_edge_cases() {
        assert_eq!(unescape("a\\b"), "ab");
        assert_eq!(unescape("a\\"), "a");
    }

    #[test]
    fn client_only_filters() {
        assert_eq!(client_only("foo=bar;+baz=a\\sb;+x"), Some("+baz=a\\sb;+x".into()));
        assert_eq!(client_only("time=1;msgid=2"), None);
    }
}
