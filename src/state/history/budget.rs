//! The limits no single user can push others out of: how many conversations
//! are kept, and how many bytes all history holds.
//!
//! Both evict from whoever holds the most, never simply the oldest: a user who
//! opens thousands of conversations loses their own first, and a flood of
//! messages into one buffer trims that buffer before anyone else's.

use super::{Buffer, History};
use crate::config::HistoryConfig;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

impl History {
    /// Makes room for a new conversation between `sides`: each side that is at
    /// `conversations_per_user` loses its least recently active conversation,
    /// and when the server is at `max_conversations`, conversations of the
    /// identities with the most go first.
    pub(super) fn make_room(&self, cfg: &HistoryConfig, sides: [&str; 2]) {
        let per_user = cfg.conversations_per_user.max(1);
        for (i, id) in sides.iter().enumerate() {
            if i == 1 && sides[0] == sides[1] {
                break;
            }
            while self.parties.get(*id).is_some_and(|s| s.len() >= per_user) {
                let Some(key) = self.least_recent_of(id) else { break };
                self.drop_conversation(&key);
            }
        }
        let keep = cfg.max_conversations.saturating_sub(1);
        if self.conversations.len() > keep {
            // A little more than needed, so the scan is not repeated for every
            // new conversation once the server is full.
            self.evict_fairly(keep.saturating_sub(keep / 64));
        }
    }

    /// The least recently active conversation of `id`.
    fn least_recent_of(&self, id: &str) -> Option<String> {
        let keys = self.conversations_of(id);
        keys.into_iter().filter_map(|k| Some((self.conversations.get(&k)?.buffer.last_time(), k))).min().map(|x| x.1)
    }

    /// Drops conversations until at most `keep` remain: each time one of the
    /// identity with the most conversations, its least recently active.
    fn evict_fairly(&self, keep: usize) {
        let snapshot: Vec<(String, [String; 2], i64)> = self
            .conversations
            .iter()
            .map(|c| (c.key().clone(), [c.sides[0].0.clone(), c.sides[1].0.clone()], c.buffer.last_time()))
            .collect();
        let count = |id: &str| self.parties.get(id).map_or(0, |s| s.len());
        let weight = |sides: &[String; 2]| count(&sides[0]).max(count(&sides[1]));
        // Largest weight first; among equals, the least recently active.
        let mut heap: BinaryHeap<(usize, Reverse<i64>, String, [String; 2])> =
            snapshot.into_iter().map(|(k, sides, t)| (weight(&sides), Reverse(t), k, sides)).collect();
        while self.conversations.len() > keep {
            let Some((w, t, key, sides)) = heap.pop() else { break };
            let now = weight(&sides);
            if now != w {
                heap.push((now, t, key, sides));
                continue;
            }
            self.drop_conversation(&key);
        }
    }

    /// Keeps all buffers together under `total_bytes`: once over, trims them to
    /// nine tenths of it, taking from the largest buffers first (every buffer
    /// over some level is cut to that level, the smaller ones are untouched).
    pub(super) fn keep_budget(&self, cfg: &HistoryConfig) {
        if self.bytes() <= cfg.total_bytes {
            return;
        }
        let Ok(_one_trimmer) = self.trimming.try_lock() else { return };
        let goal = cfg.total_bytes - cfg.total_bytes / 10;
        let before = self.bytes();
        let mut sizes: Vec<usize> = self.channels.iter().map(|b| b.footprint()).collect();
        sizes.extend(self.conversations.iter().map(|c| c.buffer.footprint()));
        let level = water_level(&mut sizes, goal);
        let over = |b: &Buffer| b.footprint() > level;
        let channels: Vec<String> = self.channels.iter().filter(|b| over(b)).map(|b| b.key().clone()).collect();
        for k in channels {
            if let Some(mut b) = self.channels.get_mut(&k) {
                self.change(&mut b, |b| b.trim_to(level));
            }
        }
        let convs: Vec<String> =
            self.conversations.iter().filter(|c| over(&c.buffer)).map(|c| c.key().clone()).collect();
        for k in convs {
            let emptied = match self.conversations.get_mut(&k) {
                Some(mut c) => {
                    self.change(&mut c.buffer, |b| b.trim_to(level));
                    c.buffer.entries.is_empty()
                }
                None => false,
            };
            if emptied {
                self.drop_conversation(&k);
            }
        }
        tracing::debug!(before, after = self.bytes(), level, "history trimmed to its byte budget");
    }
}

/// The highest level such that cutting every size above it down to it leaves
/// at most `goal` in total (the sizes are reordered).
pub fn water_level(sizes: &mut [usize], goal: usize) -> usize {
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut rest: usize = sizes.iter().sum();
    if rest <= goal {
        return usize::MAX;
    }
    for k in 0..sizes.len() {
        // Cap the k+1 largest at one level, leave the others as they are.
        rest -= sizes[k];
        let next = sizes.get(k + 1).copied().unwrap_or(0);
        if rest <= goal {
            let level = (goal - rest) / (k + 1);
            if level >= next {
                return level.min(sizes[k]);
            }
        }
    }
    0
}
