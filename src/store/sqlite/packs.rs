//! Packed channel history (`history.db` version 4): the channel rows of one
//! target that one writer batch commits are stored as one `packs` row, a
//! compact binary body of up to [`MAX_ROWS`] messages whose times lie within
//! [`SPAN_MS`] of each other. One B-tree insert per pack instead of a table and
//! an index insert per message is what lets the writer keep up with a busy
//! server (docs/persistence.md, "Speed").
//!
//! A packed row keeps its own id, from the same sequence as `messages.id`, so
//! rows of both tables order by (time, id) together. Only rows whose msgid
//! carries their time ([`crate::proto::msgid::time_of`]) are packed: such a
//! msgid is found by a probe of the packs of its target around that time, with
//! no msgid index. Direct messages and draft/multiline messages stay one row
//! each in `messages`.

use super::body;
use crate::store::copy::{Table, Value};
use crate::store::history::{self, Kind, Stored};
use crate::store::record;
use crate::store::StoreResult;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::borrow::Cow;

/// `history.db` version 4: the packs table, one index (target, first time).
pub const MIGRATION: &str = "CREATE TABLE packs (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        last_id INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX packs_target_time ON packs (target, first_ms);";

/// The longest time between the oldest and newest row of one pack, in ms:
/// what bounds the packs a time range must read.
pub const SPAN_MS: i64 = 10_000;
/// Most rows in one pack (bounds what a msgid probe or a redaction decodes).
pub const MAX_ROWS: usize = 256;

/// A position between rows: rows compare to it by (time, id).
pub type Point = (i64, i64);

/// Which rows a range read takes: up to `limit` strictly between `lo` and
/// `hi`, those nearest `hi` (`desc`) or nearest `lo`.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// Exclusive lower bound.
    pub lo: Point,
    /// Exclusive upper bound.
    pub hi: Point,
    /// Whether the rows nearest `hi` are taken.
    pub desc: bool,
    /// Most rows taken.
    pub limit: usize,
}

impl Span {
    /// The `limit` newest rows between `lo` and `hi`.
    pub fn newest(lo: Point, hi: Point, limit: usize) -> Span {
        Span { lo, hi, desc: true, limit }
    }

    /// The `limit` oldest rows between `lo` and `hi`.
    pub fn oldest(lo: Point, hi: Point, limit: usize) -> Span {
        Span { lo, hi, desc: false, limit }
    }
}

/// A row read back with its place.
#[derive(Debug, Clone)]
pub struct Found {
    /// (time, id).
    pub point: Point,
    /// The row.
    pub stored: Stored,
}

/// One row on its way into a pack: its id, time and [`record`] bytes.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The row id.
    pub id: i64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The encoded row.
    pub record: Cow<'a, [u8]>,
}

/// The next free row id, shared by `messages` and `packs`.
pub fn next_id(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    let last: i64 = tx
        .prepare_cached(
            "SELECT max(coalesce((SELECT max(id) FROM messages), 0),
                        coalesce((SELECT last_id FROM packs ORDER BY id DESC LIMIT 1), 0))",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(last + 1)
}

/// Writes the rows of one target as packs (split by [`SPAN_MS`] and [`MAX_ROWS`]).
pub fn insert(tx: &Transaction<'_>, target: &str, rows: &[Entry<'_>]) -> rusqlite::Result<()> {
    let mut start = 0;
    while start < rows.len() {
        let (mut lo, mut hi) = (rows[start].time_ms, rows[start].time_ms);
        let mut end = start + 1;
        while end < rows.len() && end - start < MAX_ROWS {
            let t = rows[end].time_ms;
            if t.max(hi) - t.min(lo) > SPAN_MS {
                break;
            }
            (lo, hi) = (lo.min(t), hi.max(t));
            end += 1;
        }
        let part = &rows[start..end];
        let (first_id, last_id) = (part[0].id, part[part.len() - 1].id);
        let size = part.iter().map(|e| e.record.len() + 12).sum();
        let body = body::encode(size, part.iter().map(|e| (e.id - first_id, e.time_ms - lo, &*e.record)));
        tx.prepare_cached(
            "INSERT INTO packs (id, target, first_ms, last_ms, last_id, rows, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![first_id, target, lo, hi, last_id, part.len() as i64, body])?;
        start = end;
    }
    Ok(())
}

/// The rows of a body as stored: (id, time, record). A body that does not
/// parse (a damaged file) yields the rows before the damage.
fn entries(pack_id: i64, first_ms: i64, body: &[u8]) -> Vec<(i64, i64, Cow<'_, [u8]>)> {
    body::decode(body).into_iter().map(|(id, ms, rec)| (pack_id + id, first_ms + ms, rec)).collect()
}

/// The rows of the pack `pack_id` whose first time is `first_ms`, in stored order.
pub fn decode(pack_id: i64, first_ms: i64, body: &[u8]) -> Vec<Found> {
    let rows = entries(pack_id, first_ms, body).into_iter();
    rows.filter_map(|(id, time_ms, rec)| Some(Found { point: (time_ms, id), stored: record::decode(&rec, time_ms)? }))
        .collect()
}

/// The packed rows of `target` that `span` takes (events too with
/// `events`), in no particular order.
pub fn range(conn: &Connection, target: &str, events: bool, span: Span) -> rusqlite::Result<Vec<Found>> {
    let Span { lo, hi, desc, limit } = span;
    let sql = if desc {
        "SELECT id, first_ms, last_ms, last_id, body FROM packs
         WHERE target = ?1 AND first_ms <= ?2 AND first_ms >= ?3 ORDER BY first_ms DESC"
    } else {
        "SELECT id, first_ms, last_ms, last_id, body FROM packs
         WHERE target = ?1 AND first_ms <= ?2 AND first_ms >= ?3 ORDER BY first_ms ASC"
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut st = conn.prepare_cached(sql)?;
    let mut packs = st.query(params![target, hi.0, lo.0.saturating_sub(SPAN_MS)])?;
    let mut got: Vec<Found> = Vec::new();
    // Best first: the rows nearest the end the scan starts from.
    let better = |a: &Found, b: &Found| if desc { b.point.cmp(&a.point) } else { a.point.cmp(&b.point) };
    while let Some(p) = packs.next()? {
        let (first_ms, last_ms, last_id): (i64, i64, i64) = (p.get(1)?, p.get(2)?, p.get(3)?);
        if got.len() >= limit {
            let worst = got[limit - 1].point;
            // Every later pack lies wholly past the worst row kept.
            if (desc && worst.0 > first_ms + SPAN_MS) || (!desc && worst.0 < first_ms) {
                break;
            }
            // This pack holds nothing better than the worst row kept.
            if (desc && (last_ms, last_id) < worst) || (!desc && first_ms > worst.0) {
                continue;
            }
        }
        let rows = decode(p.get(0)?, first_ms, p.get_ref(4)?.as_blob()?);
        got.extend(
            rows.into_iter().filter(|f| (events || f.stored.kind == Kind::Message) && f.point > lo && f.point < hi),
        );
        got.sort_by(better);
        got.truncate(limit);
    }
    Ok(got)
}

/// Where the packed row of `target` with `msgid`, made at `time_ms`, is.
pub fn locate(conn: &Connection, target: &str, msgid: &str, time_ms: i64) -> rusqlite::Result<Option<Point>> {
    let mut st = conn.prepare_cached(
        "SELECT id, first_ms, body FROM packs WHERE target = ?1 AND first_ms <= ?2 AND first_ms >= ?3 AND last_ms >= ?2",
    )?;
    let mut packs = st.query(params![target, time_ms, time_ms - SPAN_MS])?;
    while let Some(p) = packs.next()? {
        let rows = decode(p.get(0)?, p.get(1)?, p.get_ref(2)?.as_blob()?);
        if let Some(f) = rows.into_iter().find(|f| f.stored.msgid == msgid) {
            return Ok(Some(f.point));
        }
    }
    Ok(None)
}

/// Removes the packed rows of `target` at these points; returns how many were found.
pub fn remove(tx: &Transaction<'_>, target: &str, points: &[Point]) -> rusqlite::Result<usize> {
    // The pack of each point: (pack id, first time) → ids to remove.
    let mut per_pack: std::collections::BTreeMap<(i64, i64), Vec<i64>> = std::collections::BTreeMap::new();
    for &(time_ms, id) in points {
        let pack = tx
            .prepare_cached(
                "SELECT id, first_ms FROM packs WHERE target = ?1 AND first_ms <= ?2 AND first_ms >= ?3
                   AND last_ms >= ?2 AND id <= ?4 AND last_id >= ?4",
            )?
            .query_row(params![target, time_ms, time_ms - SPAN_MS, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some(key) = pack {
            per_pack.entry(key).or_default().push(id);
        }
    }
    let mut removed = 0;
    for ((pack_id, first_ms), gone) in per_pack {
        let body: Vec<u8> =
            tx.prepare_cached("SELECT body FROM packs WHERE id = ?1")?.query_row([pack_id], |r| r.get(0))?;
        let rows = entries(pack_id, first_ms, &body);
        let before = rows.len();
        let kept: Vec<_> = rows.into_iter().filter(|e| !gone.contains(&e.0)).collect();
        removed += before - kept.len();
        if kept.is_empty() {
            tx.prepare_cached("DELETE FROM packs WHERE id = ?1")?.execute([pack_id])?;
            continue;
        }
        if kept.len() == before {
            continue;
        }
        let lo = kept.iter().map(|e| e.1).min().unwrap_or(first_ms);
        let hi = kept.iter().map(|e| e.1).max().unwrap_or(first_ms);
        let size = kept.iter().map(|e| e.2.len()).sum();
        let out = body::encode(size, kept.iter().map(|(id, t, rec)| (id - pack_id, t - lo, &rec[..])));
        tx.prepare_cached("UPDATE packs SET first_ms = ?2, last_ms = ?3, rows = ?4, body = ?5 WHERE id = ?1")?
            .execute(params![pack_id, lo, hi, kept.len() as i64, out])?;
    }
    Ok(removed)
}

/// Deletes up to `chunk` of the oldest packs whose every row is older than
/// `cutoff_ms`; returns (target, rows) of each.
pub fn prune_older(tx: &Transaction<'_>, cutoff_ms: i64, chunk: usize) -> rusqlite::Result<Vec<(String, i64)>> {
    let gone: Vec<(i64, String, i64)> = {
        let mut st = tx.prepare_cached(
            "SELECT id, target, rows FROM (SELECT id, target, rows, last_ms FROM packs ORDER BY id LIMIT ?1)
             WHERE last_ms < ?2",
        )?;
        let rows = st.query_map(params![chunk as i64, cutoff_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, _, _) in &gone {
        tx.prepare_cached("DELETE FROM packs WHERE id = ?1")?.execute([id])?;
    }
    Ok(gone.into_iter().map(|(_, t, n)| (t, n)).collect())
}

/// Hands every packed row to `each` as a `messages` row in `table`'s column
/// order (for `store::copy`: other engines keep one row per message).
pub fn export(
    conn: &Connection,
    table: &'static Table,
    each: &mut dyn FnMut(&'static Table, Vec<Value>) -> StoreResult<()>,
) -> StoreResult<()> {
    let e = |e: rusqlite::Error| format!("reading packs: {e}");
    let mut st = conn.prepare("SELECT id, first_ms, target, body FROM packs ORDER BY id").map_err(e)?;
    let mut packs = st.query([]).map_err(e)?;
    while let Some(p) = packs.next().map_err(e)? {
        let target: String = p.get(2).map_err(e)?;
        let body = p.get_ref(3).map_err(e)?.as_blob().map_err(|e| format!("reading packs: {e}"))?;
        let rows = decode(p.get(0).map_err(e)?, p.get(1).map_err(e)?, body);
        for f in rows {
            let s = f.stored;
            let text = |v: Option<String>| v.map_or(Value::Null, Value::Text);
            let values = table.columns.iter().map(|c| match *c {
                "id" => Value::Int(f.point.1),
                "target" => Value::Text(target.clone()),
                "msgid" => Value::Text(s.msgid.clone()),
                "time_ms" => Value::Int(s.time_ms),
                "kind" => Value::Int(s.kind as i64),
                "sender_conn" => Value::Int(s.sender_conn as i64),
                "sender_account" => text(s.sender_account.clone()),
                "source" => Value::Text(s.line.source.clone()),
                "command" => Value::Text(s.line.command.to_string()),
                "params" => Value::Text(history::encode_params(&s.line.params)),
                "tags" => Value::Text(history::encode_tags(&s.line, s.time_ms, &s.msgid)),
                "client_tags" => text(s.line.client_tags.clone()),
                _ => Value::Null,
            });
            each(table, values.collect())?;
        }
    }
    Ok(())
}
