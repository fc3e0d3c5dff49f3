//! Outgoing lines: built once, serialized per capability variant.

use super::message::push_params;
use super::tags;
use crate::caps::{Cap, CapSet};
use std::borrow::Cow;

/// Capabilities that change how a line is serialized; recipients whose caps agree
/// on these share one serialization.
pub const VARIANT_CAPS: CapSet =
    CapSet((1 << Cap::ServerTime as u8) | (1 << Cap::MessageTags as u8) | (1 << Cap::AccountTag as u8));

/// A server tag and the capability a recipient needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Key.
    pub key: &'static str,
    /// Unescaped value ("" for a bare key).
    pub value: String,
    /// Shown only to clients with this capability.
    pub cap: Cap,
}

/// An outgoing message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    /// Server tags (time, msgid, account, bot...).
    pub tags: Vec<Tag>,
    /// Client-only tags from the sender, already escaped (`+a=b;+c`), for message-tags clients.
    pub client_tags: Option<String>,
    /// Source (`server.name` or `nick!user@host`); empty for none.
    pub source: String,
    /// Command or numeric (borrowed when static, as nearly all are: one
    /// allocation less per line).
    pub command: Cow<'static, str>,
    /// Parameters; the last becomes trailing when needed.
    pub params: Vec<String>,
}

/// Whether the last parameter of `command` is free text, sent in the trailing
/// form (`:text`) even when it is one word, as IRC servers conventionally do.
fn has_text(command: &str) -> bool {
    command.bytes().all(|b| b.is_ascii_digit())
        || matches!(
            command,
            "PRIVMSG"
                | "NOTICE"
                | "PART"
                | "QUIT"
                | "KICK"
                | "TOPIC"
                | "AWAY"
                | "WALLOPS"
                | "SETNAME"
                | "KILL"
                | "ERROR"
                | "FAIL"
                | "WARN"
                | "NOTE"
                | "REGISTER"
                | "CAP"
                | "PONG"
        )
}

impl Line {
    /// A line with a source, command and parameters and no tags.
    pub fn new(source: impl Into<String>, command: impl Into<Cow<'static, str>>, params: Vec<String>) -> Line {
        Line { tags: Vec::new(), client_tags: None, source: source.into(), command: command.into(), params }
    }

    /// Adds a server tag visible to clients with `cap`.
    pub fn tag(mut self, key: &'static str, value: impl Into<String>, cap: Cap) -> Line {
        self.tags.push(Tag { key, value: value.into(), cap });
        self
    }

    /// A line from a user: `time`, and `account` when logged in (account-tag).
    pub fn from_user(mask: String, account: Option<&str>, command: &'static str, params: Vec<String>) -> Line {
        let line = Line::new(mask, command, params).timed();
        match account {
            Some(a) => line.tag("account", a, Cap::AccountTag),
            None => line,
        }
    }

    /// The instant of the `time` tag, in ms since the epoch (now when it has none).
    pub fn time_ms(&self) -> i64 {
        self.tags
            .iter()
            .find(|t| t.key == "time")
            .and_then(|t| super::time::parse(&t.value))
            .unwrap_or_else(super::time::now_ms)
    }

    /// Adds the `time` tag (server-time).
    pub fn timed(self) -> Line {
        self.tag("time", super::time::now(), Cap::ServerTime)
    }

    /// Serializes for a recipient with `caps`, prepending `extra` tags (label, batch)
    /// that are always shown. The body is cut to 512 bytes at a character boundary.
    pub fn serialize(&self, caps: CapSet, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut out = String::with_capacity(64 + self.params.iter().map(|p| p.len() + 1).sum::<usize>());
        self.serialize_into(caps, extra, &mut out);
        out.into_bytes()
    }

    /// [`Line::serialize`], appended to `out`: a block of lines is built in one
    /// buffer.
    pub fn serialize_into(&self, caps: CapSet, extra: &[(&str, &str)], out: &mut String) {
        let mut first = true;
        let mut sep = |out: &mut String| {
            out.push(if first { '@' } else { ';' });
            first = false;
        };
        for (k, v) in extra {
            sep(out);
            out.push_str(k);
            if !v.is_empty() {
                out.push('=');
                out.push_str(&tags::escape(v));
            }
        }
        for t in &self.tags {
            if caps.has(t.cap) {
                sep(out);
                out.push_str(t.key);
                if !t.value.is_empty() {
                    out.push('=');
                    out.push_str(&tags::escape(&t.value));
                }
            }
        }
        if caps.has(Cap::MessageTags) {
            if let Some(ct) = &self.client_tags {
                sep(out);
                out.push_str(ct);
            }
        }
        if !first {
            out.push(' ');
        }
        let body_start = out.len();
        if !self.source.is_empty() {
            out.push(':');
            out.push_str(&self.source);
            out.push(' ');
        }
        out.push_str(&self.command);
        push_params(out, self.params.iter().map(String::as_str), has_text(&self.command));
        out.truncate(out.floor_char_boundary(body_start + MAX_BODY));
        out.push_str("\r\n");
    }
}

/// The longest message body (source, command and parameters) of a line, without
/// its CRLF.
pub const MAX_BODY: usize = 510;

/// How many bytes are left for a last parameter `:text` after
/// `:source command params...`, in a line of [`MAX_BODY`] bytes.
pub fn room_for_text<'a>(source: &str, command: &str, params: impl IntoIterator<Item = &'a str>) -> usize {
    let base = 1 + source.len() + 1 + command.len() + params.into_iter().map(|p| 1 + p.len()).sum::<usize>();
    MAX_BODY.saturating_sub(base + 2)
}

/// Joins `items` with `sep` into groups of at most `room` bytes, in order, so
/// that a list too long for one line is sent over several instead of being
/// cut (an item longer than `room` on its own still gets a group). No items,
/// no groups.
pub fn pack<S: AsRef<str>>(items: &[S], sep: &str, room: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for item in items {
        let item = item.as_ref();
        if !cur.is_empty() && cur.len() + sep.len() + item.len() > room {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push_str(sep);
        }
        cur.push_str(item);
    }
    if !cur.is_empty() || !items.is_empty() {
        out.push(cur);
    }
    out
}

/// Serializes something (one [`Line`], or a block of lines) lazily, once for
/// each capability variant it meets.
pub struct Variants<F> {
    make: F,
    cache: Vec<(CapSet, Vec<u8>)>,
}

/// A [`Variants`] cache for one line.
pub fn variants(line: &Line) -> Variants<impl Fn(CapSet) -> Vec<u8> + '_> {
    Variants::with(move |caps| line.serialize(caps, &[]))
}

impl<F: Fn(CapSet) -> Vec<u8>> Variants<F> {
    /// A cache whose variants `make` serializes (given only [`VARIANT_CAPS`]).
    pub fn with(make: F) -> Self {
        Variants { make, cache: Vec::with_capacity(2) }
    }

    /// The bytes for a recipient with `caps`.
    pub fn for_caps(&mut self, caps: CapSet) -> &[u8] {
        let key = caps.intersect(VARIANT_CAPS);
        let idx = match self.cache.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.cache.push((key, (self.make)(key)));
                self.cache.len() - 1
            }
        };
        &self.cache[idx].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_only_for_caps() {
        let l = Line::new("n!u@h", "PRIVMSG", vec!["#c".into(), "hi there".into()])
            .tag("time", "2020-01-01T00:00:00.000Z", Cap::ServerTime)
            .tag("msgid", "abc", Cap::MessageTags);
        assert_eq!(l.serialize(CapSet::EMPTY, &[]), b":n!u@h PRIVMSG #c :hi there\r\n");
        let st = CapSet::EMPTY.with(Cap::ServerTime);
        assert_eq!(l.serialize(st, &[]), b"@time=2020-01-01T00:00:00.000Z :n!u@h PRIVMSG #c :hi there\r\n");
        assert_eq!(l.serialize(CapSet::EMPTY, &[("label", "x")]), b"@label=x :n!u@h PRIVMSG #c :hi there\r\n");
    }

    #[test]
    fn packed_lists_fill_lines_exactly() {
        let items: Vec<String> = (0..40).map(|i| format!("{i:02}{}", "n".repeat(28))).collect();
        let params = ["me", "#chan"];
        let room = room_for_text("server.name", "353", params);
        let groups = pack(&items, " ", room);
        assert!(groups.len() > 1);
        assert_eq!(groups.join(" "), items.join(" "), "nothing lost, in order");
        for g in &groups {
            let mut all: Vec<String> = params.iter().map(|p| p.to_string()).collect();
            all.push(g.clone());
            let line = Line::new("server.name", "353", all).serialize(CapSet::EMPTY, &[]);
            assert!(line.len() <= 512, "{}", line.len());
            assert!(line.ends_with(format!("{g}\r\n").as_bytes()), "not cut");
        }
        // Each group but the last is full: one more item would not fit.
        assert!(groups[0].len() + 1 + 30 > room);
        assert!(pack::<&str>(&[], ",", 100).is_empty());
    }

    #[test]
    fn body_truncated_to_512() {
        let l = Line::new("server.name", "PONG", vec!["server.name".into(), "é".repeat(400)]);
        let out = l.serialize(CapSet::EMPTY, &[]);
        assert!(out.len() <= 512);
        assert!(std::str::from_utf8(&out).is_ok());
    }
}
