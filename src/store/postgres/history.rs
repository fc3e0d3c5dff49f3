//! Chat history in PostgreSQL: the tables and queries of the SQLite engine
//! (`store::sqlite::history`) in PostgreSQL's dialect. A batch's consecutive
//! inserts go in one statement (`INSERT ... SELECT FROM unnest(arrays)`): one
//! round trip for up to `history.batch_rows` rows.

use super::pool::Statements;
use crate::proto::line::Line;
use crate::store::history::{self, Kind, Op, Query, Ref, Retention, Row, Scope, Stored};
use postgres::{GenericClient, Transaction};
use std::collections::HashMap;

type PgResult<T> = Result<T, postgres::Error>;

/// Applies `ops` in order inside `tx`; returns the rows inserted.
pub fn write(tx: &mut Transaction<'_>, st: &mut Statements<'_>, ops: &[Op]) -> PgResult<usize> {
    let mut inserted = 0;
    let mut counts: HashMap<&str, i64> = HashMap::new();
    // Rows a sender packed, as rows (this engine keeps one row per message).
    let unpacked: Vec<Vec<Row>> =
        ops.iter().map(|o| if let Op::Packed(p) = o { p.rows() } else { Vec::new() }).collect();
    let mut i = 0;
    while i < ops.len() {
        match &ops[i] {
            Op::Insert(_) | Op::Packed(_) => {
                let mut run: Vec<&Row> = Vec::new();
                while i < ops.len() {
                    match &ops[i] {
                        Op::Insert(r) => run.push(r),
                        Op::Packed(_) => run.extend(&unpacked[i]),
                        _ => break,
                    }
                    i += 1;
                }
                inserted += insert(tx, st, &run, &mut counts)?;
                continue;
            }
            Op::Redact(target, msgid) => {
                let s = st.get(tx, "DELETE FROM messages WHERE msgid = $1 AND target = $2 RETURNING id, target")?;
                if let Some(r) = tx.query_opt(&s, &[msgid, target])? {
                    let (id, target): (i64, String) = (r.get(0), r.get(1));
                    tx.execute("DELETE FROM direct WHERE message = $1", &[&id])?;
                    tx.execute("UPDATE targets SET rows = rows - 1 WHERE target = $1", &[&target])?;
                }
            }
            Op::Marker(who, target, time_ms) => {
                let s = st.get(
                    tx,
                    "INSERT INTO markers (who, target, time_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (who, target) DO UPDATE SET time_ms = GREATEST(markers.time_ms, excluded.time_ms)",
                )?;
                tx.execute(&s, &[who, target, time_ms])?;
            }
            Op::Rename(old, new) => {
                tx.execute("UPDATE messages SET target = $2 WHERE target = $1", &[old, new])?;
                tx.execute(
                    "INSERT INTO targets (target, rows) SELECT $2, rows FROM targets WHERE target = $1
                     ON CONFLICT (target) DO UPDATE SET rows = targets.rows + excluded.rows",
                    &[old, new],
                )?;
                tx.execute("DELETE FROM targets WHERE target = $1", &[old])?;
            }
        }
        i += 1;
    }
    if !counts.is_empty() {
        let (targets, ns): (Vec<&str>, Vec<i64>) = counts.into_iter().unzip();
        let s = st.get(
            tx,
            "INSERT INTO targets (target, rows) SELECT * FROM unnest($1::text[], $2::int8[])
             ON CONFLICT (target) DO UPDATE SET rows = targets.rows + excluded.rows",
        )?;
        tx.execute(&s, &[&targets, &ns])?;
    }
    Ok(inserted)
}

/// Inserts `rows` in one statement (a msgid seen before is skipped), then
/// the direct-message index and conversation list of the new ones.
fn insert<'a>(
    tx: &mut Transaction<'_>,
    st: &mut Statements<'_>,
    rows: &[&'a Row],
    counts: &mut HashMap<&'a str, i64>,
) -> PgResult<usize> {
    let s = st.get(
        tx,
        "INSERT INTO messages (target, msgid, time_ms, kind, sender_conn, sender_account, source, command,
                               params, tags, client_tags, multiline)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::text[],
                              $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
         ON CONFLICT (msgid) DO NOTHING RETURNING id, msgid",
    )?;
    let col = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<&str>>();
    let targets = col(|r| &r.target);
    let msgids = col(|r| &r.msgid);
    let times: Vec<i64> = rows.iter().map(|r| r.time_ms).collect();
    let kinds: Vec<i64> = rows.iter().map(|r| r.kind as i64).collect();
    let conns: Vec<i64> = rows.iter().map(|r| r.sender_conn as i64).collect();
    let accounts: Vec<Option<&str>> = rows.iter().map(|r| r.sender_account.as_deref()).collect();
    let sources = col(|r| &r.line.source);
    let commands = col(|r| &r.line.command);
    let params: Vec<String> = rows.iter().map(|r| history::encode_params(&r.line.params)).collect();
    let tags: Vec<String> = rows.iter().map(|r| history::encode_tags(&r.line, r.time_ms, &r.msgid)).collect();
    let client_tags: Vec<Option<&str>> = rows.iter().map(|r| r.line.client_tags.as_deref()).collect();
    let multiline: Vec<Option<String>> =
        rows.iter().map(|r| r.multiline.as_deref().map(history::encode_multiline)).collect();
    let new = tx.query(
        &s,
        &[
            &targets,
            &msgids,
            &times,
            &kinds,
            &conns,
            &accounts,
            &sources,
            &commands,
            &params,
            &tags,
            &client_tags,
            &multiline,
        ],
    )?;
    let by_msgid: HashMap<&str, &Row> = rows.iter().map(|r| (r.msgid.as_str(), *r)).collect();
    for r in &new {
        let (id, msgid): (i64, &str) = (r.get(0), r.get(1));
        let Some(row) = by_msgid.get(msgid) else { continue };
        *counts.entry(row.target.as_str()).or_insert(0) += 1;
        let Some(sides) = &row.direct else { continue };
        let message_ms = (row.kind == Kind::Message).then_some(row.time_ms);
        for (i, (party, peer)) in sides.iter().enumerate() {
            if i == 1 && sides[0].0 == *party {
                break;
            }
            let d =
                st.get(tx, "INSERT INTO direct (party, time_ms, message) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")?;
            tx.execute(&d, &[party, &row.time_ms, &id])?;
            let c = st.get(
                tx,
                "INSERT INTO conversations (party, target, peer, last_ms, last_message_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (party, target) DO UPDATE SET peer = excluded.peer,
                    last_ms = GREATEST(conversations.last_ms, excluded.last_ms),
                    last_message_ms = GREATEST(conversations.last_message_ms, excluded.last_message_ms)",
            )?;
            tx.execute(&c, &[party, &row.target, peer, &row.time_ms, &message_ms])?;
        }
    }
    Ok(new.len())
}

const COLUMNS: &str = "m.msgid, m.time_ms, m.kind, m.sender_conn, m.sender_account, m.source, m.command, m.params,
                       m.tags, m.client_tags, m.multiline";

fn stored(r: &postgres::Row) -> Stored {
    let command: String = r.get(6);
    let (msgid, time_ms): (String, i64) = (r.get(0), r.get(1));
    let mut line = Line::new(r.get::<_, String>(5), command, history::decode_params(r.get(7)));
    // The time and msgid tags are the row's columns (see `history::encode_tags`).
    line.tags = history::decode_tags(r.get(8), time_ms, &msgid);
    line.client_tags = r.get(9);
    Stored {
        msgid,
        time_ms,
        kind: if r.get::<_, i64>(2) == 0 { Kind::Message } else { Kind::Event },
        sender_conn: r.get::<_, i64>(3) as u64,
        sender_account: r.get(4),
        line,
        multiline: r.get::<_, Option<&str>>(10).map(history::decode_multiline),
    }
}

/// A position between rows: rows compare to it by (time, id).
type Point = (i64, i64);

/// A connection and its statement cache, for reads.
pub struct Reader<'a, C: GenericClient> {
    /// The client.
    pub c: &'a mut C,
    /// Its prepared statements.
    pub st: Statements<'a>,
}

impl<C: GenericClient> Reader<'_, C> {
    fn query(&mut self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> PgResult<Vec<postgres::Row>> {
        let s = self.st.get(self.c, sql)?;
        self.c.query(&s, params)
    }

    fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> PgResult<Option<postgres::Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

fn scope_sql(scope: &Scope) -> (&'static str, &'static str, &'static str, &str, &'static str) {
    match scope {
        Scope::Target(t) => ("messages m", "m.time_ms", "m.id", t, "m.target = $1"),
        Scope::AllDirect(me) => {
            ("direct d JOIN messages m ON m.id = d.message", "d.time_ms", "d.message", me, "d.party = $1")
        }
    }
}

/// Up to `limit` rows strictly between `lo` and `hi`, nearest `lo` first
/// (ascending) or nearest `hi` first (`desc`); returned oldest first.
fn range<C: GenericClient>(
    r: &mut Reader<'_, C>,
    scope: &Scope,
    events: bool,
    lo: Point,
    hi: Point,
    desc: bool,
    limit: usize,
) -> PgResult<Vec<Stored>> {
    let (from, time, id, key, filter) = scope_sql(scope);
    let dir = if desc { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM {from} WHERE {filter} AND ($2 OR m.kind = 0)
           AND ({time}, {id}) > ($3, $4) AND ({time}, {id}) < ($5, $6)
         ORDER BY {time} {dir}, {id} {dir} LIMIT $7"
    );
    let rows = r.query(&sql, &[&key, &events, &lo.0, &lo.1, &hi.0, &hi.1, &(limit as i64)])?;
    let mut out: Vec<Stored> = rows.iter().map(stored).collect();
    if desc {
        out.reverse();
    }
    Ok(out)
}

const START: Point = (i64::MIN, i64::MIN);
const END: Point = (i64::MAX, i64::MAX);

/// Where `r` is (see the SQLite engine); `None` for a msgid not kept in this scope.
fn locate<C: GenericClient>(reader: &mut Reader<'_, C>, scope: &Scope, r: &Ref) -> PgResult<Option<Point>> {
    match r {
        Ref::Time(t) => Ok(Some((*t, 0))),
        Ref::Msgid(msgid) => {
            let sql = match scope {
                Scope::Target(_) => "SELECT time_ms, id FROM messages WHERE msgid = $1 AND target = $2",
                Scope::AllDirect(_) => {
                    "SELECT m.time_ms, m.id FROM messages m JOIN direct d ON d.message = m.id
                     WHERE m.msgid = $1 AND d.party = $2"
                }
            };
            let key = scope_sql(scope).3;
            Ok(reader.query_opt(sql, &[msgid, &key])?.map(|r| (r.get(0), r.get(1))))
        }
    }
}

fn after(r: &Ref, p: Point) -> Point {
    match r {
        Ref::Time(t) => (*t, i64::MAX),
        Ref::Msgid(_) => p,
    }
}

/// The rows `query` selects in `scope`, oldest first; events only with `events`.
pub fn select<C: GenericClient>(
    c: &mut Reader<'_, C>,
    scope: &Scope,
    query: &Query,
    events: bool,
) -> PgResult<Vec<Stored>> {
    Ok(match query {
        Query::Latest(None, n) => range(c, scope, events, START, END, true, *n)?,
        Query::Latest(Some(r), n) => match locate(c, scope, r)? {
            Some(p) => range(c, scope, events, after(r, p), END, true, *n)?,
            None => Vec::new(),
        },
        Query::Before(r, n) => match locate(c, scope, r)? {
            Some(p) => range(c, scope, events, START, p, true, *n)?,
            None => Vec::new(),
        },
        Query::After(r, n) => match locate(c, scope, r)? {
            Some(p) => range(c, scope, events, after(r, p), END, false, *n)?,
            None => Vec::new(),
        },
        Query::Around(r, n) => match locate(c, scope, r)? {
            Some(p) => {
                let before = range(c, scope, events, START, p, true, *n)?;
                let after = range(c, scope, events, (p.0, p.1 - 1), END, false, *n)?;
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
        Query::Between(a, b, n) => match (locate(c, scope, a)?, locate(c, scope, b)?) {
            (Some(pa), Some(pb)) if pa <= pb => range(c, scope, events, after(a, pa), pb, false, *n)?,
            (Some(pa), Some(pb)) => range(c, scope, events, after(b, pb), pa, true, *n)?,
            _ => Vec::new(),
        },
    })
}

/// The row with `msgid` in `scope`, if kept.
pub fn find<C: GenericClient>(c: &mut Reader<'_, C>, scope: &Scope, msgid: &str) -> PgResult<Option<Stored>> {
    let Some(p) = locate(c, scope, &Ref::Msgid(msgid.to_owned()))? else { return Ok(None) };
    Ok(range(c, scope, true, (p.0, p.1 - 1), (p.0, p.1 + 1), false, 1)?.pop())
}

/// The time of the latest row of `target` (events too with `events`).
pub fn latest<C: GenericClient>(c: &mut Reader<'_, C>, target: &str, events: bool) -> PgResult<Option<i64>> {
    let sql = "SELECT time_ms FROM messages WHERE target = $1 AND ($2 OR kind = 0)
               ORDER BY time_ms DESC, id DESC LIMIT 1";
    Ok(c.query_opt(sql, &[&target, &events])?.map(|r| r.get(0)))
}

/// The conversations of `party` whose latest row is strictly between `from` and `to`.
pub fn conversations<C: GenericClient>(
    c: &mut Reader<'_, C>,
    party: &str,
    events: bool,
    from: i64,
    to: i64,
    limit: usize,
) -> PgResult<Vec<(String, i64)>> {
    let col = if events { "last_ms" } else { "last_message_ms" };
    let sql = format!(
        "SELECT peer, {col} FROM conversations WHERE party = $1 AND {col} > $2 AND {col} < $3 ORDER BY {col} LIMIT $4"
    );
    let rows = c.query(&sql, &[&party, &from, &to, &(limit as i64)])?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Every read marker of `who`.
pub fn markers<C: GenericClient>(c: &mut Reader<'_, C>, who: &str) -> PgResult<Vec<(String, i64)>> {
    let rows = c.query("SELECT target, time_ms FROM markers WHERE who = $1", &[&who])?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Deletes at most `chunk` rows that `policy` no longer keeps; returns how many.
pub fn prune(tx: &mut Transaction<'_>, policy: &Retention, now_ms: i64, chunk: usize) -> PgResult<usize> {
    if policy.max_age_days > 0 {
        let cutoff = now_ms - (policy.max_age_days as i64) * 86_400_000;
        let ids: Vec<(i64, String)> = tx
            .query(
                "SELECT id, target FROM (SELECT id, target, time_ms FROM messages ORDER BY id LIMIT $1) oldest
                 WHERE time_ms < $2",
                &[&(chunk as i64), &cutoff],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        if !ids.is_empty() {
            delete_rows(tx, &ids)?;
            return Ok(ids.len());
        }
    }
    if policy.max_per_target > 0 {
        let over = tx.query_opt(
            "SELECT target, rows FROM targets WHERE rows > $1 LIMIT 1",
            &[&(policy.max_per_target as i64)],
        )?;
        if let Some(r) = over {
            let (target, rows): (String, i64) = (r.get(0), r.get(1));
            let excess = ((rows as u64 - policy.max_per_target) as usize).min(chunk);
            let ids: Vec<(i64, String)> = tx
                .query(
                    "SELECT id FROM messages WHERE target = $1 ORDER BY time_ms, id LIMIT $2",
                    &[&target, &(excess as i64)],
                )?
                .iter()
                .map(|r| (r.get(0), target.clone()))
                .collect();
            if ids.is_empty() {
                tx.execute(
                    "UPDATE targets SET rows = (SELECT count(*) FROM messages WHERE target = $1) WHERE target = $1",
                    &[&target],
                )?;
            }
            delete_rows(tx, &ids)?;
            return Ok(ids.len());
        }
    }
    Ok(0)
}

fn delete_rows(tx: &mut Transaction<'_>, ids: &[(i64, String)]) -> PgResult<()> {
    let only: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
    tx.execute("DELETE FROM direct WHERE message = ANY($1)", &[&only])?;
    tx.execute("DELETE FROM messages WHERE id = ANY($1)", &[&only])?;
    let mut per: HashMap<&str, i64> = HashMap::new();
    for (_, t) in ids {
        *per.entry(t.as_str()).or_insert(0) += 1;
    }
    for (t, n) in per {
        tx.execute("UPDATE targets SET rows = rows - $2 WHERE target = $1", &[&t, &n])?;
    }
    Ok(())
}
