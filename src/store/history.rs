//! Chat history as the store keeps it: rows, the queries CHATHISTORY makes,
//! and the operations the history writer applies.
//!
//! A *target* is the key one buffer of history is kept under: a folded
//! channel name (`#room`), or for a direct conversation between two logged-in
//! accounts the pair key `a:alice a:bob` (sorted; one side twice for messages to
//! oneself). Rows are ordered by (time, insertion id).

use crate::caps::Cap;
use crate::proto::line::{Line, Tag};

/// What a row records, which decides who may see it replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PRIVMSG or NOTICE: replayed to every client.
    Message = 0,
    /// TAGMSG or TOPIC: replayed only with draft/event-playback.
    Event = 1,
}

/// One kept message, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The target key (see the module docs).
    pub target: String,
    /// The message id (unique).
    pub msgid: String,
    /// Milliseconds since the Unix epoch (the `time` tag).
    pub time_ms: i64,
    /// Message or event.
    pub kind: Kind,
    /// The sender's connection id (REDACT: "your own message" on the same run).
    pub sender_conn: u64,
    /// The sender's account, folded, if logged in.
    pub sender_account: Option<String>,
    /// The line as relayed (for a multiline message, its first line).
    pub line: Line,
    /// For a draft/multiline message: every line, and whether it joins the
    /// previous one without a line break (`draft/multiline-concat`).
    pub multiline: Option<Vec<(String, bool)>>,
    /// For a direct message: each party's identity and the nick of the other
    /// side as that party saw it (TARGETS lists conversations by that nick).
    pub direct: Option<[(String, String); 2]>,
}

impl Row {
    /// About how many bytes it holds in memory while queued: what the
    /// writer's queue bound counts.
    pub fn cost(&self) -> usize {
        let l = &self.line;
        std::mem::size_of::<Row>()
            + self.target.len()
            + self.msgid.len()
            + self.sender_account.as_ref().map_or(0, String::len)
            + l.source.len()
            + l.params.iter().map(|p| p.len() + std::mem::size_of::<String>()).sum::<usize>()
            + l.tags.iter().map(|t| t.value.len() + std::mem::size_of::<Tag>()).sum::<usize>()
            + l.client_tags.as_ref().map_or(0, String::len)
            + self.multiline.iter().flatten().map(|(t, _)| t.len() + 32).sum::<usize>()
            + self.direct.iter().flatten().map(|(a, b)| a.len() + b.len() + 48).sum::<usize>()
    }
}

/// A row read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The message id.
    pub msgid: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Message or event.
    pub kind: Kind,
    /// The sender's connection id when it was sent.
    pub sender_conn: u64,
    /// The sender's account, folded.
    pub sender_account: Option<String>,
    /// The line, with its original tags.
    pub line: Line,
    /// For a draft/multiline message: every line and its concat flag.
    pub multiline: Option<Vec<(String, bool)>>,
}

/// A point in a buffer, as CHATHISTORY names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// `msgid=...`
    Msgid(String),
    /// `timestamp=...`, in milliseconds.
    Time(i64),
}

/// A CHATHISTORY selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Up to `limit` entries before `Ref`, excluded.
    Before(Ref, usize),
    /// Up to `limit` entries after `Ref`, excluded.
    After(Ref, usize),
    /// The latest `limit` entries, only those after `Ref` when given.
    Latest(Option<Ref>, usize),
    /// Up to `limit` entries around `Ref`, included.
    Around(Ref, usize),
    /// Up to `limit` entries between the two, both excluded, counted from the first.
    Between(Ref, Ref, usize),
}

/// Which rows a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One target (a channel or a conversation).
    Target(String),
    /// Every conversation of one identity, merged (the `*` target).
    AllDirect(String),
}

/// What the history writer applies, in order.
#[derive(Debug, Clone)]
pub enum Op {
    /// Keep a message.
    Insert(Box<Row>),
    /// Keep a channel message encoded on the sender's thread (for an engine
    /// that [`super::Store::packs_history`]).
    Packed(super::record::Packed),
    /// Remove a message (REDACT): (target key, msgid).
    Redact(String, String),
    /// Raise a read marker: (identity, folded target, time).
    Marker(String, String, i64),
    /// Move a channel's history to a new target key (RENAME): (old, new).
    Rename(String, String),
}

/// How long history is kept; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Rows older than this many days go.
    pub max_age_days: u64,
    /// Beyond this many rows in one target, the oldest go.
    pub max_per_target: u64,
}

/// The pair key of a conversation between two identities.
pub fn pair_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a} {b}")
    } else {
        format!("{b} {a}")
    }
}

/// Server tags kept with a row, and the capability each needs: only what a
/// replay shows (client-only tags are kept apart, capped by the caller).
const KEPT_TAGS: &[(&str, Cap)] =
    &[("time", Cap::ServerTime), ("msgid", Cap::MessageTags), ("account", Cap::AccountTag), ("bot", Cap::MessageTags)];

/// The server tags of `line` as stored: `key=value` pairs, escaped,
/// `;`-separated. A `time` tag of the row's own `time_ms` and a `msgid` tag of
/// its own `msgid` are kept as the bare key (their values are columns of the
/// row already).
pub fn encode_tags(line: &Line, time_ms: i64, msgid: &str) -> String {
    let mut out = String::with_capacity(32);
    encode_tags_into(&mut out, line, time_ms, msgid);
    out
}

/// [`encode_tags`], appended to `out`.
pub fn encode_tags_into(out: &mut String, line: &Line, time_ms: i64, msgid: &str) {
    let start = out.len();
    for t in line.tags.iter().filter(|t| KEPT_TAGS.iter().any(|(k, _)| *k == t.key)) {
        if out.len() > start {
            out.push(';');
        }
        out.push_str(t.key);
        let derived = match t.key {
            "time" => crate::proto::time::is_format_of(&t.value, time_ms),
            "msgid" => t.value == msgid,
            _ => false,
        };
        if !derived {
            out.push('=');
            out.push_str(&crate::proto::tags::escape(&t.value));
        }
    }
}

/// Server tags back from [`encode_tags`] of a row kept at `time_ms` with
/// `msgid`; unknown keys are dropped.
pub fn decode_tags(text: &str, time_ms: i64, msgid: &str) -> Vec<Tag> {
    text.split(';')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').map_or((kv, None), |(k, v)| (k, Some(v)));
            let (key, cap) = KEPT_TAGS.iter().find(|(name, _)| *name == k)?;
            let value = match (v, *key) {
                (Some(v), _) => crate::proto::tags::unescape(v).into_owned(),
                (None, "time") => crate::proto::time::format(time_ms),
                (None, "msgid") => msgid.to_owned(),
                (None, _) => return None,
            };
            Some(Tag { key, value, cap: *cap })
        })
        .collect()
}

/// Parameters as stored: joined by `\n`, which no IRC parameter contains.
pub fn encode_params(params: &[String]) -> String {
    params.join("\n")
}

/// Multiline lines as stored: one per `\n`, each prefixed `+` when it
/// joins the previous one without a break (`draft/multiline-concat`), `-` otherwise.
pub fn encode_multiline(lines: &[(String, bool)]) -> String {
    let parts: Vec<String> =
        lines.iter().map(|(t, concat)| format!("{}{t}", if *concat { '+' } else { '-' })).collect();
    parts.join("\n")
}

/// Multiline lines back from [`encode_multiline`].
pub fn decode_multiline(text: &str) -> Vec<(String, bool)> {
    text.split('\n').map(|l| (l.get(1..).unwrap_or_default().to_owned(), l.starts_with('+'))).collect()
}

/// Parameters back from [`encode_params`].
pub fn decode_params(text: &str) -> Vec<String> {
    text.split('\n').map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_params_round_trip() {
        let line = Line::new("n!u@h", "PRIVMSG", vec!["#c".into(), "semi;colon and\\back space".into()])
            .tag("time", "2020-01-01T00:00:00.000Z", Cap::ServerTime)
            .tag("msgid", "a b;c", Cap::MessageTags)
            .tag("label", "x", Cap::LabeledResponse)
            .tag("bot", "", Cap::MessageTags);
        let tags = decode_tags(&encode_tags(&line, 0, "x"), 0, "x");
        assert_eq!(tags, line.tags.iter().filter(|t| t.key != "label").cloned().collect::<Vec<_>>());
        // The row's own time and msgid are not stored twice, and come back.
        let ms = 1_577_836_800_000;
        let stored = encode_tags(&line, ms, "a b;c");
        assert_eq!(stored, "time;msgid;bot=");
        assert_eq!(decode_tags(&stored, ms, "a b;c"), tags);
        assert_eq!(decode_tags("time=2020-01-01T00:00:00.000Z;msgid=m", 5, "z")[1].value, "m", "older rows");
        assert_eq!(decode_params(&encode_params(&line.params)), line.params);
        assert!(decode_tags("", 0, "").is_empty());
    }
}
