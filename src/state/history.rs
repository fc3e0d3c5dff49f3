//! In-memory chat history (draft/chathistory, draft/message-redaction) and read
//! markers (draft/read-marker).
//!
//! History is kept per channel (by folded name, dropped when the channel ends)
//! and per direct-message conversation, keyed by the two parties' identities: the
//! account when logged in, else the connection (so a later user of the same nick
//! never sees an unregistered user's conversations; they are dropped when that
//! connection closes). Every buffer is a bounded ring; the number of
//! conversations is bounded too. Each entry keeps the relayed [`Line`] itself, so
//! a replay is serialized by the same code, for the replaying client's caps.
//!
//! Locking: every map is a `DashMap` and at most one of their guards is held at a
//! time; none is held while taking a channel or client lock.

use super::client::{Client, ClientId};
use super::Server;
use crate::config::HistoryConfig;
use crate::proto::line::Line;
use dashmap::DashMap;
use std::collections::{HashMap, HashSet, VecDeque};

/// What a history entry records, which decides who may see it replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PRIVMSG or NOTICE: replayed to every client.
    Message,
    /// TAGMSG or TOPIC: replayed only with draft/event-playback.
    Event,
}

/// One stored message.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The line as relayed (time, msgid, account tags and client tags included).
    pub line: Line,
    /// Its time, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The sending connection.
    pub sender: ClientId,
    /// The sender's account when it was sent, folded.
    pub sender_account: Option<String>,
    /// What it records.
    pub kind: Kind,
}

impl Entry {
    /// An entry for `line` sent by `from`; `None` when the line lacks a msgid or time.
    pub fn new(server: &Server, from: &Client, line: Line, kind: Kind) -> Option<Entry> {
        let time_ms = crate::proto::time::parse(tag_of(&line, "time")?)?;
        tag_of(&line, "msgid")?;
        let sender_account = from.info().account.as_deref().map(|a| server.fold(a));
        Some(Entry { line, time_ms, sender: from.id, sender_account, kind })
    }

    /// Its msgid (kept in the line's tags, not a copy: every message is recorded).
    pub fn msgid(&self) -> &str {
        tag_of(&self.line, "msgid").unwrap_or_default()
    }
}

fn tag_of<'a>(line: &'a Line, key: &str) -> Option<&'a str> {
    line.tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

/// A bounded, time-ordered list of entries.
#[derive(Debug, Default)]
struct Buffer {
    entries: VecDeque<Entry>,
}

impl Buffer {
    fn push(&mut self, entry: Entry, max: usize) {
        while self.entries.len() >= max.max(1) {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    fn last_time(&self) -> i64 {
        self.entries.back().map_or(0, |e| e.time_ms)
    }

    fn remove(&mut self, msgid: &str) -> Option<Entry> {
        let i = self.entries.iter().position(|e| e.msgid() == msgid)?;
        self.entries.remove(i)
    }
}

/// A direct-message conversation and the last nick seen on each side.
#[derive(Debug)]
struct Conversation {
    buffer: Buffer,
    /// (identity, nick) of both sides (the same twice for messages to oneself).
    sides: [(String, String); 2],
}

/// A point in a history buffer, as CHATHISTORY names it.
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

/// Which buffer a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A channel, by folded name.
    Channel(String),
    /// The conversation between two identities (see [`identity`]).
    Direct(String, String),
    /// Every conversation of one identity, merged (the `*` target).
    AllDirect(String),
}

/// The read marker stored for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marker {
    time_ms: i64,
}

/// All history and read markers.
#[derive(Debug, Default)]
pub struct History {
    channels: DashMap<String, Buffer>,
    conversations: DashMap<String, Conversation>,
    /// Identity → keys of its conversations.
    parties: DashMap<String, HashSet<String>>,
    /// Identity → folded target → marker.
    markers: DashMap<String, HashMap<String, Marker>>,
}

/// Who a client is for history and read markers: `a:<folded account>` when
/// logged in, else `c:<connection id>`.
pub fn identity(server: &Server, client: &Client) -> String {
    match &client.info().account {
        Some(a) => format!("a:{}", server.fold(a)),
        None => format!("c:{}", client.id),
    }
}

/// The identity for a nick in a query: its current user's when online, else the
/// account of that name.
pub fn identity_of_nick(server: &Server, nick: &str) -> String {
    match server.find_user(nick) {
        Some(c) => identity(server, &c),
        None => format!("a:{}", server.fold(nick)),
    }
}

fn pair_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a} {b}")
    } else {
        format!("{b} {a}")
    }
}

impl History {
    /// An empty store.
    pub fn new() -> History {
        History::default()
    }

    /// Records messages to the channel with folded name `folded`, in order.
    pub fn record_channel(&self, cfg: &HistoryConfig, folded: &str, entries: impl IntoIterator<Item = Entry>) {
        if !cfg.enabled {
            return;
        }
        let mut buffer = match self.channels.get_mut(folded) {
            Some(b) => b,
            None => self.channels.entry(folded.to_owned()).or_default(),
        };
        for entry in entries {
            buffer.push(entry, cfg.channel_length);
        }
    }

    /// Records a direct message between `from` and `to` (the same client for
    /// messages to oneself).
    pub fn record_direct(&self, server: &Server, from: &Client, to: &Client, entry: Entry) {
        let cfg = &server.config().history;
        if !cfg.enabled {
            return;
        }
        let sides = [(identity(server, from), from.nick()), (identity(server, to), to.nick())];
        let key = pair_key(&sides[0].0, &sides[1].0);
        if !self.conversations.contains_key(&key) {
            self.evict_conversations(cfg.max_conversations.saturating_sub(1));
            for (id, _) in &sides {
                self.parties.entry(id.clone()).or_default().insert(key.clone());
            }
        }
        let mut conv = self
            .conversations
            .entry(key)
            .or_insert_with(|| Conversation { buffer: Buffer::default(), sides: sides.clone() });
        for (id, nick) in sides {
            for side in conv.sides.iter_mut().filter(|s| s.0 == id) {
                side.1.clone_from(&nick);
            }
        }
        conv.buffer.push(entry, cfg.direct_length);
    }

    /// Drops the least recently active conversations until at most `keep` remain.
    fn evict_conversations(&self, keep: usize) {
        while self.conversations.len() > keep {
            let oldest = self.conversations.iter().min_by_key(|c| c.buffer.last_time()).map(|c| c.key().clone());
            match oldest {
                Some(k) => self.drop_conversation(&k),
                None => break,
            }
        }
    }

    fn drop_conversation(&self, key: &str) {
        let Some((_, conv)) = self.conversations.remove(key) else { return };
        for (id, _) in &conv.sides {
            if let Some(mut set) = self.parties.get_mut(id) {
                set.remove(key);
            }
            self.parties.remove_if(id, |_, s| s.is_empty());
        }
    }

    /// Forgets a channel's history (the channel ended).
    pub fn forget_channel(&self, folded: &str) {
        self.channels.remove(folded);
    }

    /// Forgets what belongs to a closed connection that was not logged in: its
    /// conversations and read markers.
    pub fn forget_client(&self, id: ClientId) {
        let me = format!("c:{id}");
        let keys: Vec<String> = self.parties.get(&me).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        for k in keys {
            self.drop_conversation(&k);
        }
        self.parties.remove(&me);
        self.markers.remove(&me);
    }

    /// The lines `query` selects from `target`, oldest first; events only with
    /// `events` (draft/event-playback). Empty when there is no such buffer.
    pub fn select(&self, target: &Target, query: &Query, events: bool) -> Vec<Line> {
        let pick = |entries: &VecDeque<Entry>| -> Vec<Line> {
            select(entries, query, events).into_iter().map(|e| e.line.clone()).collect()
        };
        match target {
            Target::Channel(folded) => self.channels.get(folded).map(|b| pick(&b.entries)),
            Target::Direct(a, b) => self.conversations.get(&pair_key(a, b)).map(|c| pick(&c.buffer.entries)),
            Target::AllDirect(me) => {
                let keys: Vec<String> = self.parties.get(me).map(|s| s.iter().cloned().collect()).unwrap_or_default();
                let mut all: Vec<Entry> = Vec::new();
                for k in keys {
                    if let Some(c) = self.conversations.get(&k) {
                        all.extend(c.buffer.entries.iter().cloned());
                    }
                }
                all.sort_by_key(|e| e.time_ms);
                Some(pick(&all.into()))
            }
        }
        .unwrap_or_default()
    }

    /// The entry with `msgid` in `target`, if kept.
    pub fn find(&self, target: &Target, msgid: &str) -> Option<Entry> {
        let find = |b: &Buffer| b.entries.iter().find(|e| e.msgid() == msgid).cloned();
        match target {
            Target::Channel(folded) => self.channels.get(folded).and_then(|b| find(&b)),
            Target::Direct(a, b) => self.conversations.get(&pair_key(a, b)).and_then(|c| find(&c.buffer)),
            Target::AllDirect(_) => None,
        }
    }

    /// Removes the entry with `msgid` from `target` (REDACT).
    pub fn remove(&self, target: &Target, msgid: &str) -> Option<Entry> {
        match target {
            Target::Channel(folded) => self.channels.get_mut(folded)?.remove(msgid),
            Target::Direct(a, b) => self.conversations.get_mut(&pair_key(a, b))?.buffer.remove(msgid),
            Target::AllDirect(_) => None,
        }
    }

    /// The time of the latest entry visible (with `events` or not) in a channel.
    pub fn channel_latest(&self, folded: &str, events: bool) -> Option<i64> {
        let b = self.channels.get(folded)?;
        b.entries.iter().rev().find(|e| events || e.kind == Kind::Message).map(|e| e.time_ms)
    }

    /// The conversations of `me`: the other side's last nick and the time of the
    /// latest visible entry.
    pub fn direct_latest(&self, me: &str, events: bool) -> Vec<(String, i64)> {
        let keys: Vec<String> = self.parties.get(me).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        let mut out = Vec::new();
        for k in keys {
            let Some(c) = self.conversations.get(&k) else { continue };
            let other = if c.sides[0].0 == me { &c.sides[1].1 } else { &c.sides[0].1 };
            let latest = c.buffer.entries.iter().rev().find(|e| events || e.kind == Kind::Message);
            if let Some(e) = latest {
                out.push((other.clone(), e.time_ms));
            }
        }
        out
    }

    /// The read marker of `who` for the folded `target`, in milliseconds.
    pub fn marker(&self, who: &str, target: &str) -> Option<i64> {
        self.markers.get(who)?.get(target).map(|m| m.time_ms)
    }

    /// Raises the read marker of `who` for the folded `target` to `time_ms`
    /// (never lowers it); returns the stored value and whether it changed.
    pub fn set_marker(&self, cfg: &HistoryConfig, who: &str, target: &str, time_ms: i64) -> (i64, bool) {
        let mut map = self.markers.entry(who.to_owned()).or_default();
        if let Some(m) = map.get_mut(target) {
            if m.time_ms >= time_ms {
                return (m.time_ms, false);
            }
            m.time_ms = time_ms;
            return (time_ms, true);
        }
        while map.len() >= cfg.read_markers.max(1) {
            let Some(oldest) = map.iter().min_by_key(|(_, m)| m.time_ms).map(|(k, _)| k.clone()) else { break };
            map.remove(&oldest);
        }
        map.insert(target.to_owned(), Marker { time_ms });
        (time_ms, true)
    }
}

/// Applies `query` to `entries`, keeping events only with `events`.
fn select<'a>(entries: &'a VecDeque<Entry>, query: &Query, events: bool) -> Vec<&'a Entry> {
    let visible: Vec<(usize, &Entry)> =
        entries.iter().enumerate().filter(|(_, e)| events || e.kind == Kind::Message).collect();
    let n = visible.len();
    // Positions in `visible`: `after(r)` is the first entry after `r`, `before(r)`
    // the first entry at or after `r` (so `..before(r)` is everything before it).
    // A msgid that is not kept gives nothing.
    let index_of = |id: &str| entries.iter().position(|e| e.msgid() == id);
    let after = |r: &Ref| -> Option<usize> {
        Some(match r {
            Ref::Msgid(id) => {
                let j = index_of(id)?;
                visible.partition_point(|(i, _)| *i <= j)
            }
            Ref::Time(t) => visible.partition_point(|(_, e)| e.time_ms <= *t),
        })
    };
    let before = |r: &Ref| -> Option<usize> {
        Some(match r {
            Ref::Msgid(id) => {
                let j = index_of(id)?;
                visible.partition_point(|(i, _)| *i < j)
            }
            Ref::Time(t) => visible.partition_point(|(_, e)| e.time_ms < *t),
        })
    };
    let range = match query {
        Query::Before(r, limit) => before(r).map(|end| (end.saturating_sub(*limit), end)),
        Query::After(r, limit) => after(r).map(|start| (start, (start + limit).min(n))),
        Query::Latest(r, limit) => {
            let lo = match r {
                Some(r) => after(r),
                None => Some(0),
            };
            lo.map(|lo| (n.saturating_sub(*limit).max(lo), n))
        }
        Query::Around(r, limit) => before(r).map(|p| {
            let start = p.saturating_sub(limit / 2);
            let end = (start + limit).min(n);
            (end.saturating_sub(*limit), end)
        }),
        Query::Between(a, b, limit) => match (after(a), before(b)) {
            (Some(lo), Some(hi)) if lo <= hi => Some((lo, (lo + limit).min(hi))),
            _ => match (after(b), before(a)) {
                (Some(lo), Some(hi)) if lo <= hi => Some((hi.saturating_sub(*limit).max(lo), hi)),
                _ => None,
            },
        },
    };
    match range {
        Some((start, end)) if start < end => visible[start..end].iter().map(|(_, e)| *e).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(n: usize) -> VecDeque<Entry> {
        (0..n)
            .map(|i| Entry {
                line: Line::new("n!u@h", "PRIVMSG", vec!["#c".into(), format!("{i}")]).tag(
                    "msgid",
                    format!("m{i}"),
                    crate::caps::Cap::MessageTags,
                ),
                time_ms: 1000 + 10 * i as i64,
                sender: 1,
                sender_account: None,
                kind: if i == 5 { Kind::Event } else { Kind::Message },
            })
            .collect()
    }

    fn ids(v: Vec<&Entry>) -> Vec<&str> {
        v.iter().map(|e| e.msgid()).collect()
    }

    #[test]
    fn selections() {
        let b = buffer(10);
        let m = |i: usize| Ref::Msgid(format!("m{i}"));
        assert_eq!(ids(select(&b, &Query::Latest(None, 3), true)), ["m7", "m8", "m9"]);
        assert_eq!(ids(select(&b, &Query::Latest(Some(m(7)), 10), true)), ["m8", "m9"]);
        assert_eq!(ids(select(&b, &Query::Before(m(3), 2), true)), ["m1", "m2"]);
        assert_eq!(ids(select(&b, &Query::Before(Ref::Time(1030), 10), true)), ["m0", "m1", "m2"]);
        assert_eq!(ids(select(&b, &Query::After(Ref::Time(1060), 2), true)), ["m7", "m8"]);
        assert_eq!(ids(select(&b, &Query::Around(m(7), 3), true)), ["m6", "m7", "m8"]);
        assert_eq!(ids(select(&b, &Query::Around(m(7), 1), true)), ["m7"]);
        assert_eq!(ids(select(&b, &Query::Between(m(0), m(9), 2), true)), ["m1", "m2"]);
        assert_eq!(ids(select(&b, &Query::Between(m(9), m(0), 2), true)), ["m7", "m8"]);
        assert!(select(&b, &Query::After(Ref::Msgid("nope".into()), 5), true).is_empty());
    }

    #[test]
    fn events_hidden_without_playback() {
        let b = buffer(10);
        assert_eq!(
            ids(select(&b, &Query::Between(Ref::Msgid("m3".into()), Ref::Msgid("m8".into()), 9), false)),
            ["m4", "m6", "m7"]
        );
    }

    #[test]
    fn markers_only_rise_and_are_bounded() {
        let h = History::new();
        let cfg = HistoryConfig { read_markers: 2, ..HistoryConfig::default() };
        assert_eq!(h.set_marker(&cfg, "a:x", "#a", 10), (10, true));
        assert_eq!(h.set_marker(&cfg, "a:x", "#a", 5), (10, false));
        assert_eq!(h.set_marker(&cfg, "a:x", "#b", 20), (20, true));
        assert_eq!(h.set_marker(&cfg, "a:x", "#c", 30), (30, true));
        assert_eq!(h.marker("a:x", "#a"), None, "the oldest marker was dropped");
        assert_eq!(h.marker("a:x", "#c"), Some(30));
        assert_eq!(h.marker("a:y", "#c"), None);
        h.forget_client(7);
        assert_eq!(h.set_marker(&cfg, "c:7", "#c", 1), (1, true));
        h.forget_client(7);
        assert_eq!(h.marker("c:7", "#c"), None);
    }
}
