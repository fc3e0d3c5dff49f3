//! WHOWAS: a bounded history of nicks that left or changed.

use std::collections::VecDeque;
use std::sync::Mutex;

/// One remembered user.
#[derive(Debug, Clone)]
pub struct WhowasEntry {
    /// Folded nick, for lookup.
    pub folded: String,
    /// Nick as it was.
    pub nick: String,
    /// Username.
    pub user: String,
    /// Host.
    pub host: String,
    /// Real name.
    pub realname: String,
    /// Account, if logged in.
    pub account: Option<String>,
    /// Unix time it was recorded.
    pub when: i64,
}

/// The history, newest last.
#[derive(Debug)]
pub struct Whowas {
    entries: Mutex<VecDeque<WhowasEntry>>,
    capacity: usize,
}

impl Whowas {
    /// A history holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Whowas { entries: Mutex::new(VecDeque::new()), capacity }
    }

    /// Records an entry, dropping the oldest when full.
    pub fn push(&self, entry: WhowasEntry) {
        let mut g = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.capacity == 0 {
            return;
        }
        if g.len() == self.capacity {
            g.pop_front();
        }
        g.push_back(entry);
    }

    /// Entries whose nick matches `pattern` (a nick or a wildcard mask), newest
    /// first, at most `max` (0 = all).
    pub fn find(&self, casemap: super::casemap::Casemap, pattern: &str, max: usize) -> Vec<WhowasEntry> {
        let folded = casemap.fold(pattern);
        let wild = pattern.contains(['*', '?']).then(|| super::mask::Pattern::new(casemap, pattern));
        let g = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let it = g
            .iter()
            .rev()
            .filter(|e| match &wild {
                Some(p) => p.matches(&e.nick),
                None => e.folded == folded,
            })
            .cloned();
        if max == 0 {
            it.collect()
        } else {
            it.take(max).collect()
        }
    }
}
