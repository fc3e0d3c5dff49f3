//! Chat history as the state layer sees it: who a client is for history and
//! read markers, the handles to the history store and its writer, and the
//! read markers of the identities online.
//!
//! Messages are kept on disk (`store::history`, `history.db`): relayed lines
//! go to the [`HistoryWriter`]'s bounded queue and CHATHISTORY reads the store.
//! Conversations with an unregistered user never reach the disk: they are kept
//! in memory (bounded) until that user's connection closes. Read markers live in memory
//! for the identities that use them (bounded per identity by
//! `history.read_markers`); an account's are also written to the store and
//! read back when it logs in, so they survive restarts.
//!
//! Locking: the marker map is a `DashMap`; no guard is held while taking a
//! channel or client lock.

use super::client::{Client, ClientId};
use super::Server;
use crate::config::HistoryConfig;
use crate::store::writer::HistoryWriter;
use crate::store::Store;
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

pub use crate::store::history::{Kind, Query, Ref, Scope};

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

/// The leading whole tags of an escaped client-tag section that fit in `max`
/// bytes; `None` when none does (history keeps at most `client_tag_bytes`).
pub fn cap_client_tags(tags: &str, max: usize) -> Option<String> {
    if tags.len() <= max {
        return Some(tags.to_owned());
    }
    let mut end = 0;
    for (i, _) in tags.match_indices(';').chain([(tags.len(), "")]) {
        if i > max {
            break;
        }
        end = i;
    }
    (end > 0).then(|| tags[..end].to_owned())
}

/// The history store, its writer, and read markers.
#[derive(Default)]
pub struct History {
    store: OnceLock<Arc<dyn Store>>,
    writer: OnceLock<HistoryWriter>,
    /// Conversations with unregistered users (memory only, gone with them).
    pub ephemeral: crate::store::sqlite::ephemeral::Ephemeral,
    /// Identity → folded target → marker time (ms).
    markers: DashMap<String, HashMap<String, i64>>,
}

impl History {
    /// No store yet (see [`History::attach`]).
    pub fn new() -> History {
        History::default()
    }

    /// Connects the history store and its writer (once, at start-up).
    pub fn attach(&self, store: Arc<dyn Store>, writer: HistoryWriter) {
        let _ = self.store.set(store);
        let _ = self.writer.set(writer);
    }

    /// The store, for reads (on the blocking pool); `None` in unit tests.
    pub fn store(&self) -> Option<Arc<dyn Store>> {
        self.store.get().cloned()
    }

    /// The writer relayed lines go to.
    pub fn writer(&self) -> Option<&HistoryWriter> {
        self.writer.get()
    }

    /// Moves a renamed channel's history to its new (folded) name, in order
    /// with the messages queued before the rename.
    pub fn rename_channel(&self, old: &str, new: &str) {
        if old != new {
            if let Some(w) = self.writer() {
                w.control(crate::store::history::Op::Rename(old.to_owned(), new.to_owned()));
            }
        }
    }

    /// Forgets what belongs to a closed connection that was not logged in: its
    /// read markers and its conversations.
    pub fn forget_client(&self, id: ClientId) {
        let me = format!("c:{id}");
        self.markers.remove(&me);
        self.ephemeral.forget(&me);
    }

    /// Whether the markers of `who` were loaded (or set) in this process.
    pub fn has_markers(&self, who: &str) -> bool {
        self.markers.contains_key(who)
    }

    /// Takes the markers read from the store for `who` (at login); markers set
    /// meanwhile win when they are later.
    pub fn load_markers(&self, cfg: &HistoryConfig, who: &str, stored: Vec<(String, i64)>) {
        let mut map = self.markers.entry(who.to_owned()).or_default();
        for (target, t) in stored {
            let m = map.entry(target).or_insert(t);
            *m = (*m).max(t);
        }
        trim(&mut map, cfg.read_markers);
    }

    /// The read marker of `who` for the folded `target`, in milliseconds.
    pub fn marker(&self, who: &str, target: &str) -> Option<i64> {
        self.markers.get(who)?.get(target).copied()
    }

    /// Raises the read marker of `who` for the folded `target` to `time_ms`
    /// (never lowers it); returns the stored value and whether it changed. An
    /// account's marker is also queued to the store.
    pub fn set_marker(&self, cfg: &HistoryConfig, who: &str, target: &str, time_ms: i64) -> (i64, bool) {
        let result = self.raise_marker(cfg, who, target, time_ms);
        if result.1 && who.starts_with("a:") {
            if let Some(w) = self.writer() {
                w.control(crate::store::history::Op::Marker(who.to_owned(), target.to_owned(), time_ms));
            }
        }
        result
    }

    /// [`Self::set_marker`] in memory only: for a marker another node of a
    /// cluster already saved in the shared store.
    pub fn raise_marker(&self, cfg: &HistoryConfig, who: &str, target: &str, time_ms: i64) -> (i64, bool) {
        let mut map = self.markers.entry(who.to_owned()).or_default();
        match map.get_mut(target) {
            Some(m) if *m >= time_ms => (*m, false),
            Some(m) => {
                *m = time_ms;
                (time_ms, true)
            }
            None => {
                trim(&mut map, cfg.read_markers.saturating_sub(1));
                map.insert(target.to_owned(), time_ms);
                (time_ms, true)
            }
        }
    }

    /// How many read markers `who` has.
    pub fn marker_count(&self, who: &str) -> usize {
        self.markers.get(who).map_or(0, |m| m.len())
    }
}

/// Drops the oldest markers until at most `keep` remain.
fn trim(map: &mut HashMap<String, i64>, keep: usize) {
    while map.len() > keep.max(1) {
        let Some(oldest) = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) else { break };
        map.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        h.load_markers(&cfg, "a:x", vec![("#c".into(), 10), ("#d".into(), 40)]);
        assert_eq!(h.marker("a:x", "#c"), Some(30), "a later marker set meanwhile wins");
        assert_eq!(h.marker_count("a:x"), 2);
        assert_eq!(h.set_marker(&cfg, "c:7", "#c", 1), (1, true));
        h.forget_client(7);
        assert_eq!(h.marker("c:7", "#c"), None);
    }

    #[test]
    fn client_tags_are_capped_at_whole_tags() {
        assert_eq!(cap_client_tags("+a=1;+b=2", 100).as_deref(), Some("+a=1;+b=2"));
        assert_eq!(cap_client_tags("+a=1;+b=2", 5).as_deref(), Some("+a=1"));
        assert_eq!(cap_client_tags("+abcdef=1", 3), None);
    }
}
