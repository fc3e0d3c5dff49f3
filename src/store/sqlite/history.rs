//! Chat history in `history.db`. Channel rows are packed per target and
//! writer batch (`super::packs`); the others (direct messages, multiline
//! messages, rows of an older banterd) are one row each in `messages`,
//! indexed by (target, time, id). Both share one id sequence, and every read
//! merges the two by (time, id). Direct messages are also indexed per party
//! (the `*` target); a conversation list per party (TARGETS); row counts per
//! target (retention by count); read markers.
//!
//! Every query is an index range scan bounded by its limit: no query reads a
//! whole buffer.

use super::packs::{self, Entry, Found, Point, Span};
use crate::proto::line::Line;
use crate::store::history::{self, Kind, Op, Query, Ref, Retention, Row, Scope, Stored};
use crate::store::record;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// `history.db`: messages and their indexes (1), multiline lines (2).
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        msgid TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        sender_conn INTEGER NOT NULL,
        sender_account TEXT,
        source TEXT NOT NULL,
        command TEXT NOT NULL,
        params TEXT NOT NULL,
        tags TEXT NOT NULL,
        client_tags TEXT
    );
    CREATE INDEX messages_target_time ON messages (target, time_ms, id);
    CREATE UNIQUE INDEX messages_msgid ON messages (msgid);
    CREATE TABLE direct (
        party TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        message INTEGER NOT NULL,
        PRIMARY KEY (party, time_ms, message)
    ) WITHOUT ROWID;
    CREATE INDEX direct_message ON direct (message);
    CREATE TABLE conversations (
        party TEXT NOT NULL,
        target TEXT NOT NULL,
        peer TEXT NOT NULL,
        last_ms INTEGER NOT NULL,
        last_message_ms INTEGER,
        PRIMARY KEY (party, target)
    ) WITHOUT ROWID;
    CREATE TABLE targets (
        target TEXT PRIMARY KEY NOT NULL,
        rows INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE markers (
        who TEXT NOT NULL,
        target TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        PRIMARY KEY (who, target)
    ) WITHOUT ROWID;",
    // 2: draft/multiline messages keep every line.
    "ALTER TABLE messages ADD COLUMN multiline TEXT;",
    // 3: a msgid that carries its message's time (`proto::msgid`) is found by
    // a probe of (target, time): only the others are indexed by msgid, which
    // saves a B-tree insert per row.
    "ALTER TABLE messages ADD COLUMN timed_msgid INTEGER;
    DROP INDEX messages_msgid;
    CREATE INDEX messages_msgid ON messages (msgid) WHERE timed_msgid IS NULL;",
    // 4: channel rows packed per target and batch (`super::packs`).
    packs::MIGRATION,
];

/// The INSERT of one row, its id given (ids are shared with packed rows).
const INSERT_ONE: &str = "INSERT OR FAIL INTO messages (id, target, msgid, time_ms, kind, sender_conn, sender_account,
    source, command, params, tags, client_tags, multiline, timed_msgid)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

/// Inserts `row` into `messages` as row `id`.
fn insert_one(tx: &Transaction<'_>, id: i64, row: &Row) -> rusqlite::Result<()> {
    let timed = crate::proto::msgid::time_of(&row.msgid) == Some(row.time_ms);
    tx.prepare_cached(INSERT_ONE)?.execute(params![
        id,
        row.target,
        row.msgid,
        row.time_ms,
        row.kind as i64,
        row.sender_conn as i64,
        row.sender_account,
        row.line.source,
        &*row.line.command,
        history::encode_params(&row.line.params),
        history::encode_tags(&row.line, row.time_ms, &row.msgid),
        row.line.client_tags,
        row.multiline.as_deref().map(history::encode_multiline),
        timed.then_some(1),
    ])?;
    Ok(())
}

/// Packable rows waiting to be packed, per target in first-seen order.
type Pending<'a> = Vec<(&'a str, Vec<Entry<'a>>)>;

/// Where each target's rows are in [`Pending`].
type Slots<'a> = std::collections::HashMap<&'a str, usize>;

/// The place of `target`'s rows in `pending`, added when it has none yet.
fn slot_of<'a>(pending: &mut Pending<'a>, slots: &mut Slots<'a>, target: &'a str) -> usize {
    *slots.entry(target).or_insert_with(|| {
        // Sized for a busy channel's share of a batch.
        pending.push((target, Vec::with_capacity(64)));
        pending.len() - 1
    })
}

/// Row counts per target, written once per batch.
type Counts<'a> = std::collections::HashMap<&'a str, i64>;

/// Writes the waiting packs, and counts their rows.
fn flush<'a>(tx: &Transaction<'_>, pending: &mut Pending<'a>, counts: &mut Counts<'a>) -> rusqlite::Result<()> {
    for (target, rows) in pending.drain(..) {
        packs::insert(tx, target, &rows)?;
        *counts.entry(target).or_insert(0) += rows.len() as i64;
    }
    Ok(())
}

/// Records a direct message (row `id`) for both parties: the per-party index
/// and the conversation list.
fn insert_direct(tx: &Transaction<'_>, id: i64, row: &Row, sides: &[(String, String); 2]) -> rusqlite::Result<()> {
    let message_ms = (row.kind == Kind::Message).then_some(row.time_ms);
    for (i, (party, peer)) in sides.iter().enumerate() {
        if i == 1 && sides[0].0 == *party {
            break;
        }
        tx.prepare_cached("INSERT OR IGNORE INTO direct (party, time_ms, message) VALUES (?1, ?2, ?3)")?
            .execute(params![party, row.time_ms, id])?;
        tx.prepare_cached(
            "INSERT INTO conversations (party, target, peer, last_ms, last_message_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (party, target) DO UPDATE SET peer = excluded.peer,
                last_ms = max(last_ms, excluded.last_ms),
                last_message_ms = coalesce(max(last_message_ms, excluded.last_message_ms),
                                           last_message_ms, excluded.last_message_ms)",
        )?
        .execute(params![party, row.target, peer, row.time_ms, message_ms])?;
    }
    Ok(())
}

/// Applies `ops` in order inside `tx`; returns the rows inserted.
pub fn write(tx: &Transaction<'_>, ops: &[Op]) -> rusqlite::Result<usize> {
    let mut inserted = 0;
    let mut counts = Counts::new();
    let mut next = packs::next_id(tx)?;
    // Packed before any op that reads or moves rows.
    let mut pending: Pending<'_> = Vec::new();
    // Where each target's rows are in `pending`.
    let mut slot: Slots<'_> = Slots::new();
    for op in ops {
        if matches!(op, Op::Redact(..) | Op::Rename(..)) {
            flush(tx, &mut pending, &mut counts)?;
            slot.clear();
        }
        match op {
            Op::Packed(p) => {
                let at = slot_of(&mut pending, &mut slot, &p.target);
                for (time_ms, rec) in p.records() {
                    pending[at].1.push(Entry { id: next, time_ms, record: rec.into() });
                    next += 1;
                    inserted += 1;
                }
            }
            Op::Insert(row) => {
                let id = next;
                next += 1;
                inserted += 1;
                if record::packable(row) {
                    let at = slot_of(&mut pending, &mut slot, &row.target);
                    pending[at].1.push(Entry { id, time_ms: row.time_ms, record: record::of_row(row).into() });
                    continue;
                }
                *counts.entry(row.target.as_str()).or_insert(0) += 1;
                insert_one(tx, id, row)?;
                if let Some(sides) = &row.direct {
                    insert_direct(tx, id, row, sides)?;
                }
            }
            Op::Redact(target, msgid) => {
                if let Some(p) = locate(tx, &Scope::Target(target.clone()), &Ref::Msgid(msgid.clone()))? {
                    delete_rows(tx, target, &[p])?;
                }
            }
            Op::Marker(who, target, time_ms) => {
                tx.prepare_cached(
                    "INSERT INTO markers (who, target, time_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (who, target) DO UPDATE SET time_ms = max(time_ms, excluded.time_ms)",
                )?
                .execute(params![who, target, time_ms])?;
            }
            Op::Rename(old, new) => {
                tx.execute("UPDATE messages SET target = ?2 WHERE target = ?1", params![old, new])?;
                tx.execute("UPDATE packs SET target = ?2 WHERE target = ?1", params![old, new])?;
                tx.execute(
                    "INSERT INTO targets (target, rows) SELECT ?2, rows FROM targets WHERE target = ?1 AND true
                     ON CONFLICT (target) DO UPDATE SET rows = rows + excluded.rows",
                    params![old, new],
                )?;
                tx.execute("DELETE FROM targets WHERE target = ?1", [old])?;
            }
        }
    }
    flush(tx, &mut pending, &mut counts)?;
    for (target, n) in counts {
        tx.prepare_cached(
            "INSERT INTO targets (target, rows) VALUES (?1, ?2)
             ON CONFLICT (target) DO UPDATE SET rows = rows + excluded.rows",
        )?
        .execute(params![target, n])?;
    }
    Ok(inserted)
}

const COLUMNS: &str = "m.msgid, m.time_ms, m.kind, m.sender_conn, m.sender_account, m.source, m.command, m.params,
                       m.tags, m.client_tags, m.multiline, m.id";

fn found(r: &rusqlite::Row<'_>) -> rusqlite::Result<Found> {
    let command: String = r.get(6)?;
    let mut line = Line::new(r.get::<_, String>(5)?, command, history::decode_params(&r.get::<_, String>(7)?));
    let (msgid, time_ms): (String, i64) = (r.get(0)?, r.get(1)?);
    line.tags = history::decode_tags(&r.get::<_, String>(8)?, time_ms, &msgid);
    line.client_tags = r.get(9)?;
    let stored = Stored {
        msgid,
        time_ms,
        kind: if r.get::<_, i64>(2)? == 0 { Kind::Message } else { Kind::Event },
        sender_conn: r.get::<_, i64>(3)? as u64,
        sender_account: r.get(4)?,
        line,
        multiline: r.get::<_, Option<String>>(10)?.map(|t| history::decode_multiline(&t)),
    };
    Ok(Found { point: (time_ms, r.get(11)?), stored })
}

/// The SQL pieces that select a scope's rows and order them.
fn scope_sql(scope: &Scope) -> (&'static str, &'static str, &'static str, &str) {
    match scope {
        Scope::Target(t) => ("messages m", "m.time_ms", "m.id", t),
        Scope::AllDirect(me) => ("direct d JOIN messages m ON m.id = d.message", "d.time_ms", "d.message", me),
    }
}

/// The rows of `messages` that `span` takes in `scope`.
fn unpacked_range(conn: &Connection, scope: &Scope, events: bool, span: Span) -> rusqlite::Result<Vec<Found>> {
    let Span { lo, hi, desc, limit } = span;
    let (from, time, id, key) = scope_sql(scope);
    let filter = match scope {
        Scope::Target(_) => "m.target = ?1",
        Scope::AllDirect(_) => "d.party = ?1",
    };
    let dir = if desc { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM {from} WHERE {filter} AND (?2 OR m.kind = 0)
           AND ({time}, {id}) > (?3, ?4) AND ({time}, {id}) < (?5, ?6)
         ORDER BY {time} {dir}, {id} {dir} LIMIT ?7"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params![key, events, lo.0, lo.1, hi.0, hi.1, limit as i64], found)?;
    rows.collect()
}

/// The rows `span` takes in `scope`, from `messages` and the packs; returned
/// oldest first.
fn range(conn: &Connection, scope: &Scope, events: bool, span: Span) -> rusqlite::Result<Vec<Found>> {
    let mut out = unpacked_range(conn, scope, events, span)?;
    if let Scope::Target(target) = scope {
        out.extend(packs::range(conn, target, events, span)?);
    }
    out.sort_by_key(|f| f.point);
    let limit = span.limit;
    if out.len() > limit {
        if span.desc {
            out.drain(..out.len() - limit);
        } else {
            out.truncate(limit);
        }
    }
    Ok(out)
}

/// The rows alone.
fn rows(found: Vec<Found>) -> Vec<Stored> {
    found.into_iter().map(|f| f.stored).collect()
}

const START: Point = (i64::MIN, i64::MIN);
const END: Point = (i64::MAX, i64::MAX);

/// Where `r` is: (time, id) of the referenced row, or (time, 0) for a timestamp
/// (every id is at least 1, so rows of that millisecond come after it).
/// `None` for a msgid not kept in this scope.
fn locate(conn: &Connection, scope: &Scope, r: &Ref) -> rusqlite::Result<Option<Point>> {
    match r {
        Ref::Time(t) => Ok(Some((*t, 0))),
        Ref::Msgid(msgid) => {
            let key = scope_sql(scope).3;
            let point = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
            // A msgid that carries its time: a probe of the rows of that millisecond.
            if let Some(at) = crate::proto::msgid::time_of(msgid) {
                if let Scope::Target(target) = scope {
                    if let Some(p) = packs::locate(conn, target, msgid, at)? {
                        return Ok(Some(p));
                    }
                }
                let sql = match scope {
                    Scope::Target(_) => {
                        "SELECT time_ms, id FROM messages WHERE target = ?2 AND time_ms = ?3 AND msgid = ?1"
                    }
                    Scope::AllDirect(_) => {
                        "SELECT m.time_ms, m.id FROM direct d JOIN messages m ON m.id = d.message
                         WHERE d.party = ?2 AND d.time_ms = ?3 AND m.msgid = ?1"
                    }
                };
                let found = conn.prepare_cached(sql)?.query_row(params![msgid, key, at], point).optional()?;
                if found.is_some() {
                    return Ok(found);
                }
            }
            // Any other msgid (an older banterd's, or a time that differs): the msgid index.
            let sql = match scope {
                Scope::Target(_) => {
                    "SELECT time_ms, id FROM messages WHERE msgid = ?1 AND timed_msgid IS NULL AND target = ?2"
                }
                Scope::AllDirect(_) => {
                    "SELECT m.time_ms, m.id FROM messages m JOIN direct d ON d.message = m.id
                     WHERE m.msgid = ?1 AND m.timed_msgid IS NULL AND d.party = ?2"
                }
            };
            conn.prepare_cached(sql)?.query_row(params![msgid, key], point).optional()
        }
    }
}

/// The exclusive lower bound of "after `r`": a timestamp excludes its whole millisecond.
fn after(r: &Ref, p: Point) -> Point {
    match r {
        Ref::Time(t) => (*t, i64::MAX),
        Ref::Msgid(_) => p,
    }
}

/// The rows `query` selects in `scope`, oldest first; events only with `events`.
pub fn select(conn: &Connection, scope: &Scope, query: &Query, events: bool) -> rusqlite::Result<Vec<Stored>> {
    let at = |r: &Ref| locate(conn, scope, r);
    Ok(rows(match query {
        Query::Latest(None, n) => range(conn, scope, events, Span::newest(START, END, *n))?,
        Query::Latest(Some(r), n) => match at(r)? {
            Some(p) => range(conn, scope, events, Span::newest(after(r, p), END, *n))?,
            None => Vec::new(),
        },
        Query::Before(r, n) => match at(r)? {
            Some(p) => range(conn, scope, events, Span::newest(START, p, *n))?,
            None => Vec::new(),
        },
        Query::After(r, n) => match at(r)? {
            Some(p) => range(conn, scope, events, Span::oldest(after(r, p), END, *n))?,
            None => Vec::new(),
        },
        Query::Around(r, n) => match at(r)? {
            Some(p) => {
                let before = range(conn, scope, events, Span::newest(START, p, *n))?;
                let from = (p.0, p.1 - 1);
                let after = range(conn, scope, events, Span::oldest(from, END, *n))?;
                let mut nb = before.len().min(n / 2);
                let na = after.len().min(n - nb);
                if na < n - nb {
                    nb = before.len().min(n - na);
                }
                let mut out: Vec<Found> = before[before.len() - nb..].to_vec();
                out.extend(after.into_iter().take(na));
                out
            }
            None => Vec::new(),
        },
        Query::Between(a, b, n) => match (at(a)?, at(b)?) {
            (Some(pa), Some(pb)) if pa <= pb => range(conn, scope, events, Span::oldest(after(a, pa), pb, *n))?,
            (Some(pa), Some(pb)) => range(conn, scope, events, Span::newest(after(b, pb), pa, *n))?,
            _ => Vec::new(),
        },
    }))
}

/// The row with `msgid` in `scope`, if kept.
pub fn find(conn: &Connection, scope: &Scope, msgid: &str) -> rusqlite::Result<Option<Stored>> {
    let Some(p) = locate(conn, scope, &Ref::Msgid(msgid.to_owned()))? else { return Ok(None) };
    Ok(rows(range(conn, scope, true, Span::oldest((p.0, p.1 - 1), (p.0, p.1 + 1), 1))?).pop())
}

/// The time of the latest row of `target` (events too with `events`).
pub fn latest(conn: &Connection, target: &str, events: bool) -> rusqlite::Result<Option<i64>> {
    let last = range(conn, &Scope::Target(target.to_owned()), events, Span::newest(START, END, 1))?;
    Ok(last.first().map(|f| f.point.0))
}

/// The conversations of `party` whose latest row (message, or any with
/// `events`) is strictly between `from` and `to`: (peer nick, time), oldest first.
pub fn conversations(
    conn: &Connection,
    party: &str,
    events: bool,
    from: i64,
    to: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(String, i64)>> {
    let col = if events { "last_ms" } else { "last_message_ms" };
    let sql = format!(
        "SELECT peer, {col} FROM conversations WHERE party = ?1 AND {col} > ?2 AND {col} < ?3 ORDER BY {col} LIMIT ?4"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params![party, from, to, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Every read marker of `who`: (folded target, time).
pub fn markers(conn: &Connection, who: &str) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut st = conn.prepare_cached("SELECT target, time_ms FROM markers WHERE who = ?1")?;
    let rows = st.query_map([who], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Deletes at most `chunk` rows (or packs) that `policy` no longer keeps;
/// returns how many rows went.
pub fn prune(tx: &Transaction<'_>, policy: &Retention, now_ms: i64, chunk: usize) -> rusqlite::Result<usize> {
    if policy.max_age_days > 0 {
        let cutoff = now_ms - (policy.max_age_days as i64) * 86_400_000;
        // The oldest rows by id (rows arrive in time order): bounded, no time index needed.
        let old: Vec<(Point, String)> = {
            let mut st = tx.prepare_cached(
                "SELECT time_ms, id, target FROM (SELECT id, target, time_ms FROM messages ORDER BY id LIMIT ?1)
                 WHERE time_ms < ?2",
            )?;
            let rows = st.query_map(params![chunk as i64, cutoff], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut per_target: std::collections::HashMap<String, Vec<Point>> = std::collections::HashMap::new();
        for (point, target) in old {
            per_target.entry(target).or_default().push(point);
        }
        let mut gone = 0;
        for (target, ids) in per_target {
            gone += delete_rows(tx, &target, &ids)?;
        }
        // Packs go whole, once their newest row is past the cutoff.
        for (target, rows) in packs::prune_older(tx, cutoff, chunk)? {
            gone += rows as usize;
            tx.prepare_cached("UPDATE targets SET rows = rows - ?2 WHERE target = ?1")?
                .execute(params![target, rows])?;
        }
        if gone > 0 {
            return Ok(gone);
        }
    }
    if policy.max_per_target > 0 {
        let over: Option<(String, i64)> = tx
            .query_row(
                "SELECT target, rows FROM targets WHERE rows > ?1 LIMIT 1",
                [policy.max_per_target as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((target, rows)) = over {
            let excess = ((rows as u64 - policy.max_per_target) as usize).min(chunk);
            let scope = Scope::Target(target.clone());
            let points: Vec<Point> =
                range(tx, &scope, true, Span::oldest(START, END, excess))?.iter().map(|f| f.point).collect();
            if points.is_empty() {
                // The count drifted (rows removed another way): set it right.
                tx.execute(
                    "UPDATE targets SET rows = (SELECT count(*) FROM messages WHERE target = ?1)
                        + (SELECT coalesce(sum(rows), 0) FROM packs WHERE target = ?1) WHERE target = ?1",
                    [&target],
                )?;
            }
            return delete_rows(tx, &target, &points);
        }
    }
    Ok(0)
}

/// Deletes the rows of `target` at `points`, wherever they are kept; returns how many.
fn delete_rows(tx: &Transaction<'_>, target: &str, points: &[Point]) -> rusqlite::Result<usize> {
    let mut packed = Vec::new();
    let mut gone = 0;
    for &(time_ms, id) in points {
        tx.prepare_cached("DELETE FROM direct WHERE message = ?1")?.execute([id])?;
        match tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?.execute([id])? {
            0 => packed.push((time_ms, id)),
            n => gone += n,
        }
    }
    gone += packs::remove(tx, target, &packed)?;
    tx.prepare_cached("UPDATE targets SET rows = rows - ?2 WHERE target = ?1")?
        .execute(params![target, gone as i64])?;
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Cap;
    use crate::store::history::Row;

    fn row(target: &str, i: usize, kind: Kind, direct: Option<[(String, String); 2]>) -> Op {
        let line = Line::new("n!u@h", "PRIVMSG", vec![target.into(), format!("{i}")]).tag(
            "msgid",
            format!("{target}-m{i}"),
            Cap::MessageTags,
        );
        Op::Insert(Box::new(Row {
            target: target.into(),
            msgid: format!("{target}-m{i}"),
            time_ms: 1000 + 10 * i as i64,
            kind,
            sender_conn: 1,
            sender_account: None,
            line,
            multiline: (i == 3).then(|| vec![("a".to_owned(), false), ("b".to_owned(), true)]),
            direct,
        }))
    }

    fn db(n: usize) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::sqlite::schema::migrate(&conn, SCHEMA, "t").unwrap();
        let ops: Vec<Op> =
            (0..n).map(|i| row("#c", i, if i == 5 { Kind::Event } else { Kind::Message }, None)).collect();
        let tx = conn.transaction().unwrap();
        write(&tx, &ops).unwrap();
        tx.commit().unwrap();
        conn
    }

    fn ids(v: Vec<Stored>) -> Vec<String> {
        v.into_iter().map(|e| e.msgid.trim_start_matches("#c-").to_owned()).collect()
    }

    #[test]
    fn selections_match_the_spec() {
        let c = db(10);
        let s = Scope::Target("#c".into());
        let q = |q: Query| ids(select(&c, &s, &q, true).unwrap());
        let m = |i: usize| Ref::Msgid(format!("#c-m{i}"));
        assert_eq!(q(Query::Latest(None, 3)), ["m7", "m8", "m9"]);
        assert_eq!(q(Query::Latest(Some(m(7)), 10)), ["m8", "m9"]);
        assert_eq!(q(Query::Before(m(3), 2)), ["m1", "m2"]);
        assert_eq!(q(Query::Before(Ref::Time(1030), 10)), ["m0", "m1", "m2"]);
        assert_eq!(q(Query::After(Ref::Time(1060), 2)), ["m7", "m8"]);
        assert_eq!(q(Query::Around(m(7), 3)), ["m6", "m7", "m8"]);
        assert_eq!(q(Query::Around(m(7), 1)), ["m7"]);
        assert_eq!(q(Query::Around(m(9), 4)), ["m6", "m7", "m8", "m9"]);
        assert_eq!(q(Query::Between(m(0), m(9), 2)), ["m1", "m2"]);
        assert_eq!(q(Query::Between(m(9), m(0), 2)), ["m7", "m8"]);
        assert!(q(Query::After(Ref::Msgid("nope".into()), 5)).is_empty());
        let plain = ids(select(&c, &s, &Query::Between(m(3), m(8), 9), false).unwrap());
        assert_eq!(plain, ["m4", "m6", "m7"]);
        assert_eq!(find(&c, &s, "#c-m4").unwrap().unwrap().line.params[1], "4");
        let multi = find(&c, &s, "#c-m3").unwrap().unwrap().multiline;
        assert_eq!(multi, Some(vec![("a".to_owned(), false), ("b".to_owned(), true)]));
        assert!(find(&c, &Scope::Target("#d".into()), "#c-m4").unwrap().is_none());
        assert_eq!(latest(&c, "#c", false).unwrap(), Some(1090));
    }

    #[test]
    fn queries_are_index_range_scans() {
        let c = db(1);
        for desc in ["ASC", "DESC"] {
            let plan: Vec<String> = c
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT {COLUMNS} FROM messages m WHERE m.target = ?1 AND (?2 OR m.kind = 0)
                       AND (m.time_ms, m.id) > (?3, ?4) AND (m.time_ms, m.id) < (?5, ?6)
                     ORDER BY m.time_ms {desc}, m.id {desc} LIMIT ?7"
                ))
                .unwrap()
                .query_map(params!["#c", true, 0, 0, 9, 9, 5], |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(plan.iter().any(|p| p.contains("USING INDEX messages_target_time")), "{plan:?}");
            assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "no sort: {plan:?}");
        }
    }

    #[test]
    fn direct_messages_merge_per_party_and_list_conversations() {
        let mut c = db(0);
        let sides = |a: &str, an: &str, b: &str, bn: &str| Some([(a.into(), bn.into()), (b.into(), an.into())]);
        let ab = pair_key_of("a:ann", "a:bob");
        let ac = pair_key_of("a:ann", "a:cat");
        let ops = vec![
            row(&ab, 0, Kind::Message, sides("a:ann", "ann", "a:bob", "bob")),
            row(&ac, 1, Kind::Message, sides("a:ann", "ann", "a:cat", "cat")),
            row(&ab, 2, Kind::Event, sides("a:bob", "bob", "a:ann", "ann")),
        ];
        let tx = c.transaction().unwrap();
        write(&tx, &ops).unwrap();
        tx.commit().unwrap();
        let all = select(&c, &Scope::AllDirect("a:ann".into()), &Query::Latest(None, 10), true).unwrap();
        assert_eq!(all.len(), 3);
        let bob = select(&c, &Scope::AllDirect("a:bob".into()), &Query::Latest(None, 10), false).unwrap();
        assert_eq!(bob.len(), 1);
        assert_eq!(
            conversations(&c, "a:ann", true, 0, i64::MAX, 10).unwrap(),
            [("cat".into(), 1010), ("bob".into(), 1020)]
        );
        assert_eq!(
            conversations(&c, "a:ann", false, 0, i64::MAX, 10).unwrap(),
            [("bob".into(), 1000), ("cat".into(), 1010)]
        );
    }

    fn pair_key_of(a: &str, b: &str) -> String {
        crate::store::history::pair_key(a, b)
    }

    #[test]
    fn retention_by_count_and_age() {
        let mut c = db(10);
        let tx = c.transaction().unwrap();
        let keep_5 = Retention { max_age_days: 0, max_per_target: 5 };
        assert_eq!(prune(&tx, &keep_5, 0, 3).unwrap(), 3);
        assert_eq!(prune(&tx, &keep_5, 0, 3).unwrap(), 2);
        assert_eq!(prune(&tx, &keep_5, 0, 3).unwrap(), 0);
        tx.commit().unwrap();
        let s = Scope::Target("#c".into());
        assert_eq!(ids(select(&c, &s, &Query::Latest(None, 10), true).unwrap()), ["m5", "m6", "m7", "m8", "m9"]);
        let tx = c.transaction().unwrap();
        let a_day = Retention { max_age_days: 1, max_per_target: 0 };
        assert_eq!(prune(&tx, &a_day, 1075 + 86_400_000, 100).unwrap(), 3);
        tx.commit().unwrap();
        assert_eq!(ids(select(&c, &s, &Query::Latest(None, 10), true).unwrap()), ["m8", "m9"]);
    }

    #[test]
    fn redaction_and_markers() {
        let mut c = db(3);
        let tx = c.transaction().unwrap();
        write(
            &tx,
            &[
                Op::Redact("#c".into(), "#c-m1".into()),
                Op::Marker("a:x".into(), "#c".into(), 50),
                Op::Marker("a:x".into(), "#c".into(), 20),
            ],
        )
        .unwrap();
        tx.commit().unwrap();
        let s = Scope::Target("#c".into());
        assert_eq!(ids(select(&c, &s, &Query::Latest(None, 10), true).unwrap()), ["m0", "m2"]);
        assert_eq!(markers(&c, "a:x").unwrap(), [("#c".to_owned(), 50)]);
    }

    /// A row whose msgid carries its time, as banterd makes them.
    fn timed(target: &str, time_ms: i64, n: u64) -> Row {
        let mut msgid = "0badcafe".to_owned();
        crate::proto::msgid::push(&mut msgid, time_ms, n);
        let line = Line::new("n!u@h", "PRIVMSG", vec![target.into(), format!("{n}")])
            .tag("time", crate::proto::time::format(time_ms), Cap::ServerTime)
            .tag("msgid", msgid.clone(), Cap::MessageTags);
        Row {
            target: target.into(),
            msgid,
            time_ms,
            kind: Kind::Message,
            sender_conn: 1,
            sender_account: None,
            line,
            multiline: None,
            direct: None,
        }
    }

    fn plan(c: &Connection, sql: &str) -> String {
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = st.query_map(params!["x", "#c", 1], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn msgids_that_carry_their_time_are_found_without_the_msgid_index() {
        let mut c = db(0);
        // Many rows in one millisecond, in two targets, written in one batch (packed).
        let rows: Vec<Row> =
            (0..100).map(|n| timed(if n % 2 == 0 { "#c" } else { "#d" }, 5000 + n as i64 / 40, n)).collect();
        let ops: Vec<Op> = rows.iter().cloned().map(|r| Op::Insert(Box::new(r))).collect();
        let tx = c.transaction().unwrap();
        assert_eq!(write(&tx, &ops).unwrap(), 100);
        tx.commit().unwrap();
        let s = Scope::Target("#c".into());
        for r in &rows {
            let found = find(&c, &Scope::Target(r.target.clone()), &r.msgid).unwrap().unwrap();
            assert_eq!((found.msgid.as_str(), found.time_ms), (r.msgid.as_str(), r.time_ms));
            assert_eq!(found.line, r.line, "the time and msgid tags come back");
        }
        assert!(find(&c, &s, &rows[1].msgid).unwrap().is_none(), "another target's");
        let unindexed: i64 =
            c.query_row("SELECT count(*) FROM messages WHERE timed_msgid IS NULL", [], |r| r.get(0)).unwrap();
        assert_eq!(unindexed, 0);
        let probe = plan(&c, "SELECT time_ms, id FROM messages WHERE target = ?2 AND time_ms = ?3 AND msgid = ?1");
        assert!(probe.contains("messages_target_time"), "{probe}");
        let other = plan(
            &c,
            "SELECT time_ms, id FROM messages WHERE msgid = ?1 AND timed_msgid IS NULL AND target = ?2 AND ?3",
        );
        assert!(other.contains("messages_msgid"), "{other}");
        // Redaction finds it the same way.
        let tx = c.transaction().unwrap();
        write(&tx, &[Op::Redact("#c".into(), rows[10].msgid.clone())]).unwrap();
        tx.commit().unwrap();
        assert!(find(&c, &s, &rows[10].msgid).unwrap().is_none());
        assert_eq!(select(&c, &s, &Query::Latest(None, 100), true).unwrap().len(), 49);
    }

    #[test]
    fn a_version_2_file_upgrades_and_its_msgids_are_still_found() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::sqlite::schema::migrate(&c, &SCHEMA[..2], "t").unwrap();
        c.execute(
            "INSERT INTO messages (target, msgid, time_ms, kind, sender_conn, source, command, params, tags)
             VALUES ('#c', 'old1', 7, 0, 1, 'n!u@h', 'PRIVMSG', '#c
hi', 'time=1970-01-01T00:00:00.007Z;msgid=old1')",
            [],
        )
        .unwrap();
        crate::store::sqlite::schema::migrate(&c, SCHEMA, "t").unwrap();
        let s = Scope::Target("#c".into());
        let old = find(&c, &s, "old1").unwrap().unwrap();
        assert_eq!(old.line.tags[1].value, "old1");
        let tx = c.transaction().unwrap();
        write(&tx, &[Op::Insert(Box::new(timed("#c", 9, 1)))]).unwrap();
        tx.commit().unwrap();
        let after = select(&c, &s, &Query::After(Ref::Msgid("old1".into()), 10), true).unwrap();
        assert_eq!(after.len(), 1);
    }

    /// Rows written as banterd writes them (batches of mixed packed and
    /// unpacked rows), and the (target, time, id, msgid, kind) of each.
    fn mixed(c: &mut Connection) -> Vec<(String, i64, i64, String, Kind)> {
        let mut model = Vec::new();
        let mut ops = Vec::new();
        // Three rows per time step, 370 ms apart: a batch spans more than a pack
        // may. Every 7th msgid carries no time (kept in `messages`), every 11th
        // row is an event. Then 600 rows of one target in one batch (several packs).
        for i in 0..1500u64 {
            let (target, t) = if i < 900 {
                (if i % 4 == 0 { "#d" } else { "#c" }, 1000 + (i as i64 / 3) * 370)
            } else {
                ("#c", 200_000 + i as i64)
            };
            let mut r = timed(target, t, i);
            if i % 7 == 0 {
                r.msgid = format!("x{i}");
                r.line.tags.retain(|t| t.key != "msgid");
                r.line = r.line.tag("msgid", r.msgid.clone(), Cap::MessageTags);
            }
            if i % 11 == 0 {
                r.kind = Kind::Event;
            }
            model.push((r.target.clone(), r.time_ms, i as i64 + 1, r.msgid.clone(), r.kind));
            // Some arrive encoded by the sender (the history writer's way), the others as rows.
            ops.push(if i % 3 == 0 && record::packable(&r) {
                Op::Packed(record::Packed::take(r))
            } else {
                Op::Insert(Box::new(r))
            });
        }
        for batch in [&ops[..120], &ops[120..500], &ops[500..900], &ops[900..]] {
            let tx = c.transaction().unwrap();
            write(&tx, batch).unwrap();
            tx.commit().unwrap();
        }
        model
    }

    #[test]
    fn packed_and_unpacked_rows_read_as_one_ordered_buffer() {
        let mut c = db(0);
        let model = mixed(&mut c);
        let packs: i64 = c.query_row("SELECT count(*) FROM packs", [], |r| r.get(0)).unwrap();
        let unpacked: i64 = c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap();
        assert!(packs > 8 && unpacked == 215, "{packs} packs, {unpacked} unpacked rows");
        for target in ["#c", "#d"] {
            let s = Scope::Target(target.into());
            for events in [true, false] {
                let all: Vec<&(String, i64, i64, String, Kind)> =
                    model.iter().filter(|m| m.0 == target && (events || m.4 == Kind::Message)).collect();
                let point = |r: &Ref| match r {
                    Ref::Time(t) => Some((*t, 0)),
                    Ref::Msgid(id) => model.iter().find(|m| m.0 == target && &m.3 == id).map(|m| (m.1, m.2)),
                };
                let after = |r: &Ref, p: Point| if let Ref::Time(t) = r { (*t, i64::MAX) } else { p };
                let pick = |lo: Point, hi: Point, desc: bool, n: usize| {
                    let v: Vec<String> =
                        all.iter().filter(|m| (m.1, m.2) > lo && (m.1, m.2) < hi).map(|m| m.3.clone()).collect();
                    if desc {
                        v[v.len().saturating_sub(n)..].to_vec()
                    } else {
                        v.into_iter().take(n).collect()
                    }
                };
                let got = |q: Query| -> Vec<String> {
                    select(&c, &s, &q, events).unwrap().into_iter().map(|r| r.msgid).collect()
                };
                for n in [0, 1, 5, 50, 2000] {
                    assert_eq!(got(Query::Latest(None, n)), pick(START, END, true, n), "latest {n}");
                }
                let refs: Vec<Ref> = model
                    .iter()
                    .filter(|m| m.0 == target)
                    .step_by(13)
                    .map(|m| Ref::Msgid(m.3.clone()))
                    .chain([Ref::Time(1000), Ref::Time(5440), Ref::Time(200_950), Ref::Time(500_000)])
                    .collect();
                for (k, r) in refs.iter().enumerate() {
                    let p = point(r).unwrap();
                    for n in [1, 7, 100] {
                        assert_eq!(got(Query::Before(r.clone(), n)), pick(START, p, true, n), "before {r:?} {n}");
                        assert_eq!(got(Query::After(r.clone(), n)), pick(after(r, p), END, false, n), "after {r:?}");
                        let b = &refs[(k * 7 + 3) % refs.len()];
                        let q = got(Query::Between(r.clone(), b.clone(), n));
                        let pb = point(b).unwrap();
                        let want =
                            if p <= pb { pick(after(r, p), pb, false, n) } else { pick(after(b, pb), p, true, n) };
                        assert_eq!(q, want, "between {r:?} {b:?} {n}");
                    }
                    if let Ref::Msgid(id) = r {
                        assert_eq!(find(&c, &s, id).unwrap().map(|f| f.msgid).as_ref(), Some(id));
                    }
                }
            }
        }
        assert_eq!(latest(&c, "#d", true).unwrap(), model.iter().filter(|m| m.0 == "#d").map(|m| m.1).max());
        // Every row leaves a copy once, with its id.
        let table = crate::store::copy::TABLES.iter().find(|t| t.name == "messages").unwrap();
        let mut ids = Vec::new();
        crate::store::sqlite::copy::export(&c, table, &mut |_, row| {
            ids.push(row[0].clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(ids.len(), model.len());
        ids.sort_by_key(|v| if let crate::store::copy::Value::Int(n) = v { *n } else { 0 });
        ids.dedup();
        assert_eq!(ids.len(), model.len(), "ids are unique across both tables");
    }

    #[test]
    fn packed_rows_are_redacted_pruned_and_renamed() {
        let mut c = db(0);
        let model = mixed(&mut c);
        let s = Scope::Target("#c".into());
        let count = |c: &Connection, t: &str| {
            select(c, &Scope::Target(t.into()), &Query::Latest(None, 5000), true).unwrap().len()
        };
        let in_c = model.iter().filter(|m| m.0 == "#c").count();
        assert_eq!(count(&c, "#c"), in_c);
        // Redaction, in a pack and in `messages`.
        let packed = &model[901].3;
        let tx = c.transaction().unwrap();
        write(&tx, &[Op::Redact("#c".into(), packed.clone()), Op::Redact("#c".into(), "x903".into())]).unwrap();
        tx.commit().unwrap();
        assert!(find(&c, &s, packed).unwrap().is_none());
        assert!(find(&c, &s, "x903").unwrap().is_none());
        assert_eq!(count(&c, "#c"), in_c - 2);
        // Retention by count keeps the newest, across packs and `messages`.
        let keep = Retention { max_age_days: 0, max_per_target: 100 };
        loop {
            let tx = c.transaction().unwrap();
            let n = prune(&tx, &keep, 0, 64).unwrap();
            tx.commit().unwrap();
            if n == 0 {
                break;
            }
        }
        let newest: Vec<String> =
            model.iter().filter(|m| m.0 == "#c" && m.3 != *packed && m.3 != "x903").map(|m| m.3.clone()).collect();
        let kept: Vec<String> =
            select(&c, &s, &Query::Latest(None, 500), true).unwrap().into_iter().map(|r| r.msgid).collect();
        assert_eq!(kept, newest[newest.len() - 100..]);
        assert_eq!(count(&c, "#d"), 100);
        // Retention by age drops whole packs once their newest row is past it.
        let tx = c.transaction().unwrap();
        let a_day = Retention { max_age_days: 1, max_per_target: 0 };
        let gone = prune(&tx, &a_day, 86_400_000 + 200_000 + 1450, 10_000).unwrap();
        tx.commit().unwrap();
        let left = count(&c, "#c");
        assert!(gone > 0 && left < 100 && left > 0, "{gone} gone, {left} left");
        let oldest = select(&c, &s, &Query::After(Ref::Time(0), 1), true).unwrap();
        assert!(oldest[0].time_ms >= 200_000 + 1450 - packs::SPAN_MS);
        // Rename moves packs too.
        let tx = c.transaction().unwrap();
        write(&tx, &[Op::Rename("#c".into(), "#e".into())]).unwrap();
        tx.commit().unwrap();
        assert_eq!((count(&c, "#c"), count(&c, "#e")), (0, left));
        // Past every row's age, nothing is left, packed or not.
        let tx = c.transaction().unwrap();
        while prune(&tx, &a_day, 10 * 86_400_000, 64).unwrap() > 0 {}
        tx.commit().unwrap();
        assert_eq!((count(&c, "#e"), count(&c, "#d")), (0, 0));
        let packs: i64 = c.query_row("SELECT count(*) FROM packs", [], |r| r.get(0)).unwrap();
        assert_eq!(packs, 0);
    }
}
