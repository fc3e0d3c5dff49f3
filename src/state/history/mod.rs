//! In-memory chat history (draft/chathistory, draft/message-redaction) and read
//! markers (draft/read-marker).
//!
//! History is kept per channel (by folded name, dropped when the channel ends)
//! and per direct-message conversation, keyed by the two parties' identities: the
//! account when logged in, else the connection (so a later user of the same nick
//! never sees an unregistered user's conversations; they are dropped when that
//! connection closes). Each entry keeps the relayed [`Line`] itself, so a replay
//! is serialized by the same code, for the replaying client's caps.
//!
//! Memory is bounded at every level (see docs/security.md, "Memory budgets"):
//! an entry keeps at most `client_tag_bytes` of client-only tags; a buffer keeps
//! at most `channel_length`/`direct_length` entries and `channel_bytes`/
//! `direct_bytes` bytes; one identity takes part in at most
//! `conversations_per_user` conversations and the server keeps at most
//! `max_conversations`, evicted from whoever holds the most ([`budget`]); and all
//! buffers together stay under `total_bytes`, trimmed from the largest first.
//!
//! Locking: every map is a `DashMap` and at most one of their guards is held at a
//! time; none is held while taking a channel or client lock.

mod budget;
pub mod select;

use super::client::{Client, ClientId};
use super::Server;
use crate::config::HistoryConfig;
use crate::proto::line::{Line, Tag};
use dashmap::DashMap;
use std::collections::{HashMap, HashSet, VecDeque};
use std::mem::size_of;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

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
    /// For a multiline message: its first non-blank line, carrying the message's
    /// tags.
    pub line: Line,
    /// Its time, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Order of recording, unique over the server (set when recorded).
    pub seq: u64,
    /// The sending connection.
    pub sender: ClientId,
    /// The sender's account when it was sent, folded.
    pub sender_account: Option<String>,
    /// What it records.
    pub kind: Kind,
    /// For a draft/multiline message: every line, and whether it joins the
    /// previous one without a line break (`draft/multiline-concat`).
    pub multiline: Option<Box<[(String, bool)]>>,
}

impl Entry {
    /// An entry for `line` sent by `from`; `None` when the line lacks a msgid or
    /// time. Client-only tags beyond `history.client_tag_bytes` are not kept.
    pub fn new(server: &Server, from: &Client, mut line: Line, kind: Kind) -> Option<Entry> {
        let time_ms = crate::proto::time::parse(tag_of(&line, "time")?)?;
        tag_of(&line, "msgid")?;
        let cap = server.config().history.client_tag_bytes;
        if line.client_tags.as_ref().is_some_and(|t| t.len() > cap) {
            line.client_tags = line.client_tags.as_deref().and_then(|t| cap_client_tags(t, cap));
        }
        let sender_account = from.info().account.as_deref().map(|a| server.fold(a));
        Some(Entry { line, time_ms, seq: 0, sender: from.id, sender_account, kind, multiline: None })
    }

    /// Its msgid (kept in the line's tags, not a copy: every message is recorded).
    pub fn msgid(&self) -> &str {
        tag_of(&self.line, "msgid").unwrap_or_default()
    }

    /// About how many bytes of memory it holds: its own size and the text it
    /// owns (what the byte limits count; the allocator adds a little per string).
    pub fn cost(&self) -> usize {
        let l = &self.line;
        let params: usize = l.params.iter().map(|p| p.len() + size_of::<String>()).sum();
        let tags: usize = l.tags.iter().map(|t| t.value.len() + size_of::<Tag>()).sum();
        let multiline: usize =
            self.multiline.iter().flat_map(|m| m.iter()).map(|(t, _)| t.len() + size_of::<(String, bool)>()).sum();
        size_of::<Entry>()
            + l.source.len()
            + params
            + tags
            + l.client_tags.as_ref().map_or(0, String::len)
            + self.sender_account.as_ref().map_or(0, String::len)
            + multiline
    }
}

/// The leading whole tags of an escaped client-tag section that fit in `max`
/// bytes; `None` when none does.
fn cap_client_tags(tags: &str, max: usize) -> Option<String> {
    let mut end = 0;
    for (i, _) in tags.match_indices(';').chain([(tags.len(), "")]) {
        if i > max {
            break;
        }
        end = i;
    }
    (end > 0).then(|| tags[..end].to_owned())
}

fn tag_of<'a>(line: &'a Line, key: &str) -> Option<&'a str> {
    line.tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

/// A bounded, time-ordered list of entries and the bytes they hold.
#[derive(Debug, Default)]
struct Buffer {
    entries: VecDeque<Entry>,
    /// What the entries hold ([`Entry::cost`]); the per-buffer cap counts this.
    bytes: usize,
}

impl Buffer {
    /// What the buffer holds in memory: its entries and the ring's spare slots
    /// (what the server-wide total counts).
    fn footprint(&self) -> usize {
        self.bytes + (self.entries.capacity() - self.entries.len()) * size_of::<Entry>()
    }

    /// Appends `entry`, then drops the oldest entries while there are more than
    /// `max_len` or they hold more than `max_bytes` (the new one always stays).
    fn push(&mut self, entry: Entry, max_len: usize, max_bytes: usize) {
        self.bytes += entry.cost();
        self.entries.push_back(entry);
        while self.entries.len() > 1 && (self.entries.len() > max_len.max(1) || self.bytes > max_bytes) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.bytes -= e.cost();
        }
    }

    /// Drops the oldest entries until at most `max_bytes` are held, and gives
    /// back the ring's spare slots.
    fn trim_to(&mut self, max_bytes: usize) {
        while self.bytes > max_bytes && !self.entries.is_empty() {
            self.pop_front();
        }
        self.entries.shrink_to_fit();
    }

    fn last_time(&self) -> i64 {
        self.entries.back().map_or(0, |e| e.time_ms)
    }

    fn remove(&mut self, msgid: &str) -> Option<Entry> {
        let i = self.entries.iter().position(|e| e.msgid() == msgid)?;
        let entry = self.entries.remove(i)?;
        self.bytes -= entry.cost();
        Some(entry)
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
    /// What all buffers hold ([`Buffer::footprint`]), changed under the buffer's guard.
    bytes: AtomicUsize,
    /// The last sequence number given to an entry.
    seq: AtomicU64,
    /// Held while trimming buffers to the byte budget (one trimmer at a time).
    trimming: Mutex<()>,
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

/// The buffers one query reads, visited one guard at a time.
struct Sources<'a> {
    history: &'a History,
    channel: Option<&'a str>,
    conversations: Vec<String>,
}

impl select::Buffers for Sources<'_> {
    fn count(&self) -> usize {
        self.conversations.len() + usize::from(self.channel.is_some())
    }

    fn visit(&self, i: usize, f: &mut dyn FnMut(&VecDeque<Entry>)) {
        match self.channel {
            Some(folded) => {
                if let Some(b) = self.history.channels.get(folded) {
                    f(&b.entries);
                }
            }
            None => {
                if let Some(c) = self.history.conversations.get(&self.conversations[i]) {
                    f(&c.buffer.entries);
                }
            }
        }
    }
}

impl History {
    /// An empty store.
    pub fn new() -> History {
        History::default()
    }

    /// Bytes held by all buffers, as the budget counts them.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Appends `entry` to `buffer` with a fresh sequence number.
    fn push(&self, buffer: &mut Buffer, mut entry: Entry, max_len: usize, max_bytes: usize) {
        entry.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.change(buffer, |b| b.push(entry, max_len, max_bytes));
    }

    /// Applies `f` to `buffer` (whose guard the caller holds) and counts the
    /// change in its footprint.
    fn change<T>(&self, buffer: &mut Buffer, f: impl FnOnce(&mut Buffer) -> T) -> T {
        let before = buffer.footprint();
        let out = f(buffer);
        let after = buffer.footprint();
        if after >= before {
            self.bytes.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.bytes.fetch_sub(before - after, Ordering::Relaxed);
        }
        out
    }

    /// Records messages to the channel with folded name `folded`, in order.
    pub fn record_channel(&self, cfg: &HistoryConfig, folded: &str, entries: impl IntoIterator<Item = Entry>) {
        if !cfg.enabled {
            return;
        }
        {
            let mut buffer = match self.channels.get_mut(folded) {
                Some(b) => b,
                None => self.channels.entry(folded.to_owned()).or_default(),
            };
            for entry in entries {
                self.push(&mut buffer, entry, cfg.channel_length, cfg.channel_bytes);
            }
        }
        self.keep_budget(cfg);
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
            self.make_room(cfg, [&sides[0].0, &sides[1].0]);
            for (id, _) in &sides {
                self.parties.entry(id.clone()).or_default().insert(key.clone());
            }
        }
        {
            let mut conv = self
                .conversations
                .entry(key)
                .or_insert_with(|| Conversation { buffer: Buffer::default(), sides: sides.clone() });
            for (id, nick) in sides {
                for side in conv.sides.iter_mut().filter(|s| s.0 == id) {
                    side.1.clone_from(&nick);
                }
            }
            self.push(&mut conv.buffer, entry, cfg.direct_length, cfg.direct_bytes);
        }
        self.keep_budget(cfg);
    }

    fn drop_conversation(&self, key: &str) {
        let Some((_, conv)) = self.conversations.remove(key) else { return };
        self.bytes.fetch_sub(conv.buffer.footprint(), Ordering::Relaxed);
        for (id, _) in &conv.sides {
            if let Some(mut set) = self.parties.get_mut(id) {
                set.remove(key);
            }
            self.parties.remove_if(id, |_, s| s.is_empty());
        }
    }

    /// Moves a renamed channel's history to its new (folded) name.
    pub fn rename_channel(&self, old: &str, new: &str) {
        if old != new {
            if let Some((_, b)) = self.channels.remove(old) {
                self.channels.insert(new.to_owned(), b);
            }
        }
    }

    /// Forgets a channel's history (the channel ended).
    pub fn forget_channel(&self, folded: &str) {
        if let Some((_, b)) = self.channels.remove(folded) {
            self.bytes.fetch_sub(b.footprint(), Ordering::Relaxed);
        }
    }

    /// Forgets what belongs to a closed connection that was not logged in: its
    /// conversations and read markers.
    pub fn forget_client(&self, id: ClientId) {
        let me = format!("c:{id}");
        for k in self.conversations_of(&me) {
            self.drop_conversation(&k);
        }
        self.parties.remove(&me);
        self.markers.remove(&me);
    }

    /// The keys of the conversations `who` takes part in.
    fn conversations_of(&self, who: &str) -> Vec<String> {
        self.parties.get(who).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Whether `a` and `b` have a conversation in history.
    pub fn has_conversation(&self, a: &str, b: &str) -> bool {
        self.conversations.contains_key(&pair_key(a, b))
    }

    /// The entries `query` selects from `target`, oldest first; events only with
    /// `events` (draft/event-playback). Empty when there is no such buffer.
    pub fn select(&self, target: &Target, query: &Query, events: bool) -> Vec<Entry> {
        let sources = match target {
            Target::Channel(folded) => Sources { history: self, channel: Some(folded), conversations: Vec::new() },
            Target::Direct(a, b) => Sources { history: self, channel: None, conversations: vec![pair_key(a, b)] },
            Target::AllDirect(me) => Sources { history: self, channel: None, conversations: self.conversations_of(me) },
        };
        select::run(&sources, query, events)
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
            Target::Channel(folded) => self.change(&mut *self.channels.get_mut(folded)?, |b| b.remove(msgid)),
            Target::Direct(a, b) => {
                self.change(&mut self.conversations.get_mut(&pair_key(a, b))?.buffer, |b| b.remove(msgid))
            }
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
        let mut out = Vec::new();
        for k in self.conversations_of(me) {
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

    /// How many read markers `who` has.
    pub fn marker_count(&self, who: &str) -> usize {
        self.markers.get(who).map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests;
