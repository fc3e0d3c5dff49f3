//! Chat history in `history.db`: one row per kept message, indexed by
//! (target, time, id); direct messages also indexed per party (the `*`
//! target); a conversation list per party (TARGETS); row counts per target
//! (retention by count); read markers.
//!
//! Every query is an index range scan bounded by its limit: no query reads a
//! whole buffer.

use crate::proto::line::Line;
use crate::store::history::{self, Kind, Op, Query, Ref, Retention, Row, Scope, Stored};
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
];

/// Rows per multi-row INSERT (fewer statement executions per batch).
const INSERT_CHUNK: usize = 32;

/// The columns a row is inserted with, in bind order.
const INSERT_INTO: &str = "INSERT OR FAIL INTO messages (target, msgid, time_ms, kind, sender_conn, sender_account,
    source, command, params, tags, client_tags, multiline, timed_msgid) VALUES ";

/// Bound values per row.
const INSERT_WIDTH: usize = 13;

/// The INSERT of `n` rows.
fn insert_sql(n: usize) -> String {
    let one = format!("({})", vec!["?"; INSERT_WIDTH].join(","));
    format!("{INSERT_INTO}{}", vec![one; n].join(","))
}

/// Binds `row` as the `at`-th row (from 0) of an INSERT made by [`insert_sql`].
fn bind_row(st: &mut rusqlite::Statement<'_>, at: usize, row: &Row) -> rusqlite::Result<()> {
    let i = at * INSERT_WIDTH;
    let timed = crate::proto::msgid::time_of(&row.msgid) == Some(row.time_ms);
    st.raw_bind_parameter(i + 1, &row.target)?;
    st.raw_bind_parameter(i + 2, &row.msgid)?;
    st.raw_bind_parameter(i + 3, row.time_ms)?;
    st.raw_bind_parameter(i + 4, row.kind as i64)?;
    st.raw_bind_parameter(i + 5, row.sender_conn as i64)?;
    st.raw_bind_parameter(i + 6, &row.sender_account)?;
    st.raw_bind_parameter(i + 7, &row.line.source)?;
    st.raw_bind_parameter(i + 8, &*row.line.command)?;
    st.raw_bind_parameter(i + 9, history::encode_params(&row.line.params))?;
    st.raw_bind_parameter(i + 10, history::encode_tags(&row.line, row.time_ms, &row.msgid))?;
    st.raw_bind_parameter(i + 11, &row.line.client_tags)?;
    st.raw_bind_parameter(i + 12, row.multiline.as_deref().map(history::encode_multiline))?;
    st.raw_bind_parameter(i + 13, timed.then_some(1))?;
    Ok(())
}

/// Inserts `rows` (none of them direct), [`INSERT_CHUNK`] to a statement.
fn insert_plain(tx: &Transaction<'_>, rows: &[&Row]) -> rusqlite::Result<()> {
    let mut chunks = rows.chunks_exact(INSERT_CHUNK);
    if chunks.len() > 0 {
        let mut st = tx.prepare_cached(&insert_sql(INSERT_CHUNK))?;
        for chunk in &mut chunks {
            for (at, row) in chunk.iter().enumerate() {
                bind_row(&mut st, at, row)?;
            }
            st.raw_execute()?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut st = tx.prepare_cached(&insert_sql(1))?;
        for row in rest {
            bind_row(&mut st, 0, row)?;
            st.raw_execute()?;
        }
    }
    Ok(())
}

/// Applies `ops` in order inside `tx`; returns the rows inserted.
pub fn write(tx: &Transaction<'_>, ops: &[Op]) -> rusqlite::Result<usize> {
    let mut inserted = 0;
    // Row counts per target, written once per batch.
    let mut counts: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    // Channel rows waiting for a multi-row INSERT (written before any other op).
    let mut plain: Vec<&Row> = Vec::new();
    for op in ops {
        if !matches!(op, Op::Insert(row) if row.direct.is_none()) && !plain.is_empty() {
            insert_plain(tx, &plain)?;
            plain.clear();
        }
        match op {
            Op::Insert(row) => {
                inserted += 1;
                *counts.entry(row.target.as_str()).or_insert(0) += 1;
                let Some(sides) = &row.direct else {
                    plain.push(row);
                    continue;
                };
                let mut st = tx.prepare_cached(&insert_sql(1))?;
                bind_row(&mut st, 0, row)?;
                st.raw_execute()?;
                let id = tx.last_insert_rowid();
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
            }
            Op::Redact(target, msgid) => {
                if let Some((_, id)) = locate(tx, &Scope::Target(target.clone()), &Ref::Msgid(msgid.clone()))? {
                    tx.execute("DELETE FROM direct WHERE message = ?1", [id])?;
                    tx.execute("DELETE FROM messages WHERE id = ?1", [id])?;
                    tx.execute("UPDATE targets SET rows = rows - 1 WHERE target = ?1", [target])?;
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
                tx.execute(
                    "INSERT INTO targets (target, rows) SELECT ?2, rows FROM targets WHERE target = ?1 AND true
                     ON CONFLICT (target) DO UPDATE SET rows = rows + excluded.rows",
                    params![old, new],
                )?;
                tx.execute("DELETE FROM targets WHERE target = ?1", [old])?;
            }
        }
    }
    insert_plain(tx, &plain)?;
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
                       m.tags, m.client_tags, m.multiline";

fn stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    let command: String = r.get(6)?;
    let mut line = Line::new(r.get::<_, String>(5)?, command, history::decode_params(&r.get::<_, String>(7)?));
    let (msgid, time_ms): (String, i64) = (r.get(0)?, r.get(1)?);
    line.tags = history::decode_tags(&r.get::<_, String>(8)?, time_ms, &msgid);
    line.client_tags = r.get(9)?;
    Ok(Stored {
        msgid,
        time_ms,
        kind: if r.get::<_, i64>(2)? == 0 { Kind::Message } else { Kind::Event },
        sender_conn: r.get::<_, i64>(3)? as u64,
        sender_account: r.get(4)?,
        line,
        multiline: r.get::<_, Option<String>>(10)?.map(|t| history::decode_multiline(&t)),
    })
}

/// A position between rows: rows compare to it by (time, id).
type Point = (i64, i64);

/// The SQL pieces that select a scope's rows and order them.
fn scope_sql(scope: &Scope) -> (&'static str, &'static str, &'static str, &str) {
    match scope {
        Scope::Target(t) => ("messages m", "m.time_ms", "m.id", t),
        Scope::AllDirect(me) => ("direct d JOIN messages m ON m.id = d.message", "d.time_ms", "d.message", me),
    }
}

/// Up to `limit` rows strictly between `lo` and `hi`, nearest `lo` first
/// (ascending) or nearest `hi` first (`desc`); returned oldest first.
fn range(
    conn: &Connection,
    scope: &Scope,
    events: bool,
    lo: Point,
    hi: Point,
    desc: bool,
    limit: usize,
) -> rusqlite::Result<Vec<Stored>> {
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
    let rows = st.query_map(params![key, events, lo.0, lo.1, hi.0, hi.1, limit as i64], stored)?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    if desc {
        out.reverse();
    }
    Ok(out)
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
    Ok(match query {
        Query::Latest(None, n) => range(conn, scope, events, START, END, true, *n)?,
        Query::Latest(Some(r), n) => match at(r)? {
            Some(p) => range(conn, scope, events, after(r, p), END, true, *n)?,
            None => Vec::new(),
        },
        Query::Before(r, n) => match at(r)? {
            Some(p) => range(conn, scope, events, START, p, true, *n)?,
            None => Vec::new(),
        },
        Query::After(r, n) => match at(r)? {
            Some(p) => range(conn, scope, events, after(r, p), END, false, *n)?,
            None => Vec::new(),
        },
        Query::Around(r, n) => match at(r)? {
            Some(p) => {
                let before = range(conn, scope, events, START, p, true, *n)?;
                let from = (p.0, p.1 - 1);
                let after = range(conn, scope, events, from, END, false, *n)?;
                let mut nb = before.len().min(n / 2);
                let na = after.len().min(n - nb);
                if na < n - nb {
                    nb = before.len().min(n - na);
                }
                let mut out: Vec<Stored> = before[before.len() - nb..].to_vec();
                out.extend(after.into_iter().take(na));
                out
            }
            None => Vec::new(),
        },
        Query::Between(a, b, n) => match (at(a)?, at(b)?) {
            (Some(pa), Some(pb)) if pa <= pb => range(conn, scope, events, after(a, pa), pb, false, *n)?,
            (Some(pa), Some(pb)) => range(conn, scope, events, after(b, pb), pa, true, *n)?,
            _ => Vec::new(),
        },
    })
}

/// The row with `msgid` in `scope`, if kept.
pub fn find(conn: &Connection, scope: &Scope, msgid: &str) -> rusqlite::Result<Option<Stored>> {
    let Some(p) = locate(conn, scope, &Ref::Msgid(msgid.to_owned()))? else { return Ok(None) };
    Ok(range(conn, scope, true, (p.0, p.1 - 1), (p.0, p.1 + 1), false, 1)?.pop())
}

/// The time of the latest row of `target` (events too with `events`).
pub fn latest(conn: &Connection, target: &str, events: bool) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT time_ms FROM messages WHERE target = ?1 AND (?2 OR kind = 0) ORDER BY time_ms DESC, id DESC LIMIT 1",
    )?
    .query_row(params![target, events], |r| r.get(0))
    .optional()
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

/// Deletes at most `chunk` rows that `policy` no longer keeps; returns how many.
pub fn prune(tx: &Transaction<'_>, policy: &Retention, now_ms: i64, chunk: usize) -> rusqlite::Result<usize> {
    if policy.max_age_days > 0 {
        let cutoff = now_ms - (policy.max_age_days as i64) * 86_400_000;
        // The oldest rows by id (rows arrive in time order): bounded, no time index needed.
        let ids: Vec<(i64, String)> = {
            let mut st = tx.prepare_cached(
                "SELECT id, target FROM (SELECT id, target, time_ms FROM messages ORDER BY id LIMIT ?1)
                 WHERE time_ms < ?2",
            )?;
            let rows = st.query_map(params![chunk as i64, cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        if !ids.is_empty() {
            delete_rows(tx, &ids)?;
            return Ok(ids.len());
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
            let ids: Vec<(i64, String)> = {
                let mut st =
                    tx.prepare_cached("SELECT id FROM messages WHERE target = ?1 ORDER BY time_ms, id LIMIT ?2")?;
                let rows = st.query_map(params![target, excess as i64], |r| Ok((r.get(0)?, target.clone())))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            if ids.is_empty() {
                // The count drifted (rows removed another way): set it right.
                tx.execute(
                    "UPDATE targets SET rows = (SELECT count(*) FROM messages WHERE target = ?1) WHERE target = ?1",
                    [&target],
                )?;
            }
            delete_rows(tx, &ids)?;
            return Ok(ids.len());
        }
    }
    Ok(0)
}

fn delete_rows(tx: &Transaction<'_>, ids: &[(i64, String)]) -> rusqlite::Result<()> {
    for (id, target) in ids {
        tx.prepare_cached("DELETE FROM direct WHERE message = ?1")?.execute([id])?;
        tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?.execute([id])?;
        tx.prepare_cached("UPDATE targets SET rows = rows - 1 WHERE target = ?1")?.execute([target])?;
    }
    Ok(())
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
        // Many rows in one millisecond, in two targets, written in multi-row INSERTs.
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
}
