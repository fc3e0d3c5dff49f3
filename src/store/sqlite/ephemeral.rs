//! Conversations with an unregistered user: kept in memory only, for as long
//! as that user's connection lasts, in an in-memory SQLite database with the
//! same schema and queries as `history.db` (so CHATHISTORY behaves the same).
//! Nothing here reaches the disk: an unregistered user has no identity that
//! outlives its connection, so nobody could later prove to be it.

use super::history::{self, SCHEMA};
use crate::store::history::{Op, Query, Retention, Row, Scope, Stored};
use rusqlite::Connection;
use std::sync::Mutex;

/// Messages kept per conversation.
const PER_CONVERSATION: u64 = 200;
/// Messages kept in all; past it new ones are not kept.
const TOTAL: i64 = 50_000;

/// The in-memory store of conversations with unregistered users.
pub struct Ephemeral {
    conn: Mutex<Connection>,
}

impl Default for Ephemeral {
    fn default() -> Self {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        super::schema::migrate(&conn, SCHEMA, "memory").expect("in-memory schema");
        Ephemeral { conn: Mutex::new(conn) }
    }
}

impl Ephemeral {
    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a message (the oldest of its conversation goes past 200; nothing
    /// is kept once 50 000 are held).
    pub fn record(&self, row: Row) {
        let mut conn = self.lock();
        let result = (|| -> rusqlite::Result<()> {
            let held: i64 = conn.query_row("SELECT coalesce(sum(rows), 0) FROM targets", [], |r| r.get(0))?;
            if held >= TOTAL {
                return Ok(());
            }
            let tx = conn.transaction()?;
            history::write(&tx, &[Op::Insert(Box::new(row))])?;
            let policy = Retention { max_age_days: 0, max_per_target: PER_CONVERSATION };
            history::prune(&tx, &policy, 0, 16)?;
            tx.commit()
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "keeping a conversation in memory failed");
        }
    }

    /// Applies a redaction.
    pub fn redact(&self, msgid: &str) {
        let mut conn = self.lock();
        let result = conn.transaction().and_then(|tx| {
            history::write(&tx, &[Op::Redact(msgid.to_owned())])?;
            tx.commit()
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "redacting a conversation in memory failed");
        }
    }

    /// The rows `query` selects in `scope`, oldest first.
    pub fn select(&self, scope: &Scope, query: &Query, events: bool) -> Vec<Stored> {
        history::select(&self.lock(), scope, query, events).unwrap_or_default()
    }

    /// The row with `msgid` in `scope`.
    pub fn find(&self, scope: &Scope, msgid: &str) -> Option<Stored> {
        history::find(&self.lock(), scope, msgid).ok().flatten()
    }

    /// The conversations of `party` (see `Store::conversations`).
    pub fn conversations(&self, party: &str, events: bool, from: i64, to: i64, limit: usize) -> Vec<(String, i64)> {
        history::conversations(&self.lock(), party, events, from, to, limit).unwrap_or_default()
    }

    /// Forgets every conversation `party` (a closed connection) took part in.
    pub fn forget(&self, party: &str) {
        let mut conn = self.lock();
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            let targets: Vec<String> = {
                let mut st = tx.prepare("SELECT target FROM conversations WHERE party = ?1")?;
                let rows = st.query_map([party], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for t in targets {
                tx.execute("DELETE FROM direct WHERE message IN (SELECT id FROM messages WHERE target = ?1)", [&t])?;
                tx.execute("DELETE FROM messages WHERE target = ?1", [&t])?;
                tx.execute("DELETE FROM conversations WHERE target = ?1", [&t])?;
                tx.execute("DELETE FROM targets WHERE target = ?1", [&t])?;
            }
            tx.commit()
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "forgetting a conversation failed");
        }
    }
}
