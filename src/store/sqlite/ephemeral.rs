//! Conversations with an unregistered user: kept in memory only, for as long
//! as that user's connection lasts, in an in-memory SQLite database with the
//! same schema and queries as `history.db` (so CHATHISTORY behaves the same).
//! Nothing here reaches the disk: an unregistered user has no identity that
//! outlives its connection, so nobody could later prove to be it.

use super::history::{self, SCHEMA};
use crate::store::history::{Op, Query, Row, Scope, Stored};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::sync::Mutex;

/// How much the store keeps (`history.unregistered_dm_*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages kept in all.
    pub total: u64,
    /// Messages kept per conversation.
    pub per_conversation: u64,
}

/// The in-memory store of conversations with unregistered users.
pub struct Ephemeral {
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Connection,
    /// Messages held (kept exactly as rows come and go).
    held: u64,
}

impl Default for Ephemeral {
    fn default() -> Self {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        super::schema::migrate(&conn, SCHEMA, "memory").expect("in-memory schema");
        Ephemeral { inner: Mutex::new(Inner { conn, held: 0 }) }
    }
}

impl Ephemeral {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a message: the oldest of its conversation go past
    /// `per_conversation`; once `total` are held, room is made by dropping
    /// conversations of the parties that hold the most (their least recently
    /// active first), so one user filling the store loses its own
    /// conversations, never everyone's, and nobody is refused.
    pub fn record(&self, row: Row, limits: Limits) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let target = row.target.clone();
        let result = (|| -> rusqlite::Result<()> {
            if inner.held >= limits.total.max(1) {
                // A fiftieth more than needed, so the scan is not repeated per message.
                let keep = limits.total.saturating_sub(1 + limits.total / 50);
                inner.held -= make_room(&mut inner.conn, inner.held, keep)?;
            }
            let tx = inner.conn.transaction()?;
            let inserted = history::write(&tx, &[Op::Insert(Box::new(row))])? as u64;
            let dropped = trim_conversation(&tx, &target, limits.per_conversation.max(1))?;
            tx.commit()?;
            inner.held = (inner.held + inserted).saturating_sub(dropped);
            Ok(())
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "keeping a conversation in memory failed");
        }
    }

    /// Messages held.
    pub fn held(&self) -> u64 {
        self.lock().held
    }

    /// Applies a redaction of `msgid` in the conversation `target`.
    pub fn redact(&self, target: &str, msgid: &str) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let result = inner.conn.transaction().and_then(|tx| {
            let present = history::find(&tx, &Scope::Target(target.to_owned()), msgid)?.is_some();
            history::write(&tx, &[Op::Redact(target.to_owned(), msgid.to_owned())])?;
            tx.commit()?;
            if present {
                inner.held = inner.held.saturating_sub(1);
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "redacting a conversation in memory failed");
        }
    }

    /// The rows `query` selects in `scope`, oldest first.
    pub fn select(&self, scope: &Scope, query: &Query, events: bool) -> Vec<Stored> {
        history::select(&self.lock().conn, scope, query, events).unwrap_or_default()
    }

    /// The row with `msgid` in `scope`.
    pub fn find(&self, scope: &Scope, msgid: &str) -> Option<Stored> {
        history::find(&self.lock().conn, scope, msgid).ok().flatten()
    }

    /// The conversations of `party` (see `Store::conversations`).
    pub fn conversations(&self, party: &str, events: bool, from: i64, to: i64, limit: usize) -> Vec<(String, i64)> {
        history::conversations(&self.lock().conn, party, events, from, to, limit).unwrap_or_default()
    }

    /// Forgets every conversation `party` (a closed connection) took part in.
    pub fn forget(&self, party: &str) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let result = (|| -> rusqlite::Result<()> {
            let tx = inner.conn.transaction()?;
            let mut freed = 0;
            for t in conversations_of(&tx, party)? {
                freed += drop_conversation(&tx, &t)?;
            }
            tx.commit()?;
            inner.held = inner.held.saturating_sub(freed);
            Ok(())
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "forgetting a conversation failed");
        }
    }
}

/// The conversations `party` takes part in, least recently active first.
fn conversations_of(conn: &Connection, party: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare_cached("SELECT target FROM conversations WHERE party = ?1 ORDER BY last_ms")?;
    let rows = st.query_map([party], |r| r.get(0))?;
    rows.collect()
}

/// Deletes one conversation; returns the messages it held.
fn drop_conversation(conn: &Connection, target: &str) -> rusqlite::Result<u64> {
    let rows: i64 =
        conn.query_row("SELECT rows FROM targets WHERE target = ?1", [target], |r| r.get(0)).optional()?.unwrap_or(0);
    conn.execute("DELETE FROM direct WHERE message IN (SELECT id FROM messages WHERE target = ?1)", [target])?;
    conn.execute("DELETE FROM messages WHERE target = ?1", [target])?;
    conn.execute("DELETE FROM conversations WHERE target = ?1", [target])?;
    conn.execute("DELETE FROM targets WHERE target = ?1", [target])?;
    Ok(rows.max(0) as u64)
}

/// Drops the oldest messages of `target` past `max`; returns how many (an
/// index lookup and range: no scan of other conversations).
fn trim_conversation(tx: &Transaction<'_>, target: &str, max: u64) -> rusqlite::Result<u64> {
    let rows: i64 =
        tx.query_row("SELECT rows FROM targets WHERE target = ?1", [target], |r| r.get(0)).optional()?.unwrap_or(0);
    let excess = (rows.max(0) as u64).saturating_sub(max);
    if excess == 0 {
        return Ok(0);
    }
    let ids: Vec<i64> = {
        let mut st = tx.prepare_cached("SELECT id FROM messages WHERE target = ?1 ORDER BY time_ms, id LIMIT ?2")?;
        let rows = st.query_map(params![target, excess as i64], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in &ids {
        tx.prepare_cached("DELETE FROM direct WHERE message = ?1")?.execute([id])?;
        tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?.execute([id])?;
    }
    tx.execute("UPDATE targets SET rows = rows - ?2 WHERE target = ?1", params![target, ids.len() as i64])?;
    Ok(ids.len() as u64)
}

/// Drops conversations until at most `keep` of the `held` messages remain,
/// taking from the parties that hold the most: every party above some level
/// loses its least recently active conversations until it is down to that
/// level, and the smaller ones keep theirs. Returns the messages dropped.
fn make_room(conn: &mut Connection, held: u64, keep: u64) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let mut counts: Vec<(u64, String)> = {
        let mut st = tx.prepare_cached("SELECT count(*), party FROM direct GROUP BY party")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    // A message of two parties counts for both: aim at the parties' total.
    let total: u64 = counts.iter().map(|c| c.0).sum();
    let goal = total.saturating_sub(held.saturating_sub(keep));
    let mut sizes: Vec<u64> = counts.iter().map(|c| c.0).collect();
    let level = water_level(&mut sizes, goal);
    counts.retain(|c| c.0 > level);
    let mut dropped = 0;
    for (count, party) in counts {
        let mut left = count;
        for t in conversations_of(&tx, &party)? {
            if left <= level {
                break;
            }
            // Each message of a conversation is the party's once.
            let rows = drop_conversation(&tx, &t)?;
            dropped += rows;
            left = left.saturating_sub(rows);
        }
    }
    tx.commit()?;
    Ok(dropped)
}

/// The highest level such that cutting every size above it down to it leaves
/// at most `goal` in total (the sizes are reordered).
fn water_level(sizes: &mut [u64], goal: u64) -> u64 {
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut rest: u64 = sizes.iter().sum();
    if rest <= goal {
        return u64::MAX;
    }
    for k in 0..sizes.len() {
        // Cap the k+1 largest at one level, leave the others as they are.
        rest -= sizes[k];
        let next = sizes.get(k + 1).copied().unwrap_or(0);
        if rest <= goal {
            let level = (goal - rest) / (k as u64 + 1);
            if level >= next {
                return level.min(sizes[k]);
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn water_level_cuts_the_largest_first() {
        assert_eq!(water_level(&mut [10, 5, 1], 100), u64::MAX);
        assert_eq!(water_level(&mut [10, 5, 1], 12), 6);
        assert_eq!(water_level(&mut [1, 10, 5], 6), 2);
        assert_eq!(water_level(&mut [4, 4, 4], 6), 2);
        assert_eq!(water_level(&mut [7], 0), 0);
    }
}
