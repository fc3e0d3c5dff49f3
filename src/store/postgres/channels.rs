//! Persistent channels in PostgreSQL: the tables of the SQLite engine
//! (`store::sqlite::channels`). A registration is decided by the channel's
//! primary key: `INSERT ... ON CONFLICT DO UPDATE ... WHERE founder IS NULL`
//! takes an unregistered (or absent) channel in one statement, so of two
//! nodes registering one channel at once exactly one gets it.
//!
//! Nodes of a cluster save a channel when they change it, and two nodes'
//! saves can reach the store in either order: each record says where in the
//! log it was taken ([`LogAt`]), and the store keeps the registration,
//! topic, modes, lists and access list of the one taken furthest, a removal
//! included (`channels_gone` remembers where a channel was removed, until it
//! is saved again). Metadata is applied by its origin at once, not in the
//! log's order: a save writes it whatever its position, while the channel
//! is kept.

use super::notify::{self, Kind};
use super::pool::Statements;
use crate::state::channel::{ChannelModes, ListEntry, Topic};
use crate::store::{Access, AccessMode, ChangeOutcome, ChannelChange, ChannelRecord, LogAt, Registration};
use postgres::{GenericClient, Transaction};
use std::collections::HashMap;

fn modes_from(flags: &str, key: Option<String>, limit: Option<i64>) -> ChannelModes {
    ChannelModes {
        invite_only: flags.contains('i'),
        moderated: flags.contains('m'),
        no_external: flags.contains('n'),
        secret: flags.contains('s'),
        topic_ops: flags.contains('t'),
        permanent: flags.contains('P'),
        no_ctcp: flags.contains('C'),
        key,
        limit: limit.and_then(|l| usize::try_from(l).ok()),
    }
}

/// Every stored channel (or only `only`), with lists, access list and metadata.
pub fn load(c: &mut impl GenericClient, only: Option<&str>) -> Result<Vec<ChannelRecord>, postgres::Error> {
    let mut records: Vec<ChannelRecord> = Vec::new();
    let mut index = HashMap::new();
    let filter = "($1::text IS NULL OR {col} = $1)";
    let rows = c.query(
        &format!(
            "SELECT folded, name, created_at, founder, registered_at, modes, chan_key, user_limit,
                    topic, topic_by, topic_at, log_ms, log_seq
             FROM channels WHERE {} ORDER BY folded",
            filter.replace("{col}", "folded")
        ),
        &[&only],
    )?;
    for r in rows {
        let folded: String = r.get(0);
        let founder: Option<String> = r.get(3);
        let topic: Option<String> = r.get(8);
        let record = ChannelRecord {
            folded: folded.clone(),
            name: r.get(1),
            created: r.get(2),
            registration: founder.map(|founder| Registration {
                founder,
                registered_at: r.get::<_, Option<i64>>(4).unwrap_or(0),
                access: Vec::new(),
            }),
            modes: modes_from(&r.get::<_, String>(5), r.get(6), r.get(7)),
            topic: topic.map(|text| Topic { text, set_by: r.get(9), set_at: r.get(10) }),
            bans: Vec::new(),
            excepts: Vec::new(),
            invex: Vec::new(),
            metadata: Vec::new(),
            at: LogAt { ms: r.get(11), seq: r.get(12) },
        };
        index.insert(folded, records.len());
        records.push(record);
    }
    let where_channel = filter.replace("{col}", "channel");
    let sql = format!(
        "SELECT channel, mode, mask, set_by, set_at FROM channel_lists WHERE {where_channel}
         ORDER BY channel, mode, position"
    );
    for r in c.query(&sql, &[&only])? {
        let Some(&i) = index.get(&r.get::<_, String>(0)) else { continue };
        let entry = ListEntry { mask: r.get(2), set_by: r.get(3), set_at: r.get(4) };
        let rec = &mut records[i];
        match r.get::<_, String>(1).as_str() {
            "b" => rec.bans.push(entry),
            "e" => rec.excepts.push(entry),
            _ => rec.invex.push(entry),
        }
    }
    let sql =
        format!("SELECT channel, account, mode FROM channel_access WHERE {where_channel} ORDER BY channel, position");
    for r in c.query(&sql, &[&only])? {
        let Some(&i) = index.get(&r.get::<_, String>(0)) else { continue };
        let mode = r.get::<_, String>(2).chars().next().and_then(AccessMode::from_letter);
        if let (Some(reg), Some(mode)) = (records[i].registration.as_mut(), mode) {
            reg.access.push(Access { account: r.get(1), mode });
        }
    }
    let sql = format!("SELECT channel, key, value FROM channel_metadata WHERE {where_channel} ORDER BY channel, key");
    for r in c.query(&sql, &[&only])? {
        let Some(&i) = index.get(&r.get::<_, String>(0)) else { continue };
        records[i].metadata.push((r.get(1), r.get(2)));
    }
    Ok(records)
}

/// Applies one change inside `tx`, and notifies the other processes.
pub fn apply(
    tx: &mut Transaction<'_>,
    st: &mut Statements<'_>,
    node: u64,
    change: &ChannelChange,
) -> Result<ChangeOutcome, postgres::Error> {
    let outcome = match change {
        ChannelChange::Register { record, max_per_account } => {
            let Some(reg) = &record.registration else { return Ok(ChangeOutcome::Taken) };
            let sql = "SELECT founder, log_ms, log_seq FROM channels WHERE folded = $1";
            let row = tx.query_opt(sql, &[&record.folded])?;
            if row.as_ref().is_some_and(|r| r.get::<_, Option<String>>(0).is_some()) {
                return Ok(ChangeOutcome::Taken);
            }
            let founder = fold_account(&reg.founder);
            // Registrations by one founder take turns (the count below holds).
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&founder])?;
            let count: i64 =
                tx.query_one("SELECT count(*) FROM channels WHERE founder_folded = $1", &[&founder])?.get(0);
            if count as usize >= *max_per_account {
                return Ok(ChangeOutcome::TooMany);
            }
            // The store decides a registration, wherever in the log its
            // record was taken (the log carries it after this): it takes the
            // furthest position the channel had, so that no save or removal
            // from before it is taken over it.
            let kept = row.map(|r| LogAt { ms: r.get(1), seq: r.get(2) }).unwrap_or_default();
            let at = record.at.max(kept).max(gone_at(tx, st, &record.folded)?);
            if !upsert(tx, st, record, at, true)? {
                return Ok(ChangeOutcome::Taken);
            }
            lists(tx, st, record)?;
            metadata(tx, st, record)?;
            ungone(tx, st, &record.folded)?;
            ChangeOutcome::Done
        }
        ChannelChange::Save(record) => {
            if upsert(tx, st, record, record.at, false)? {
                lists(tx, st, record)?;
                metadata(tx, st, record)?;
                ungone(tx, st, &record.folded)?;
            } else if kept(tx, st, &record.folded)? {
                // Taken before the kept record in the log: only its metadata.
                metadata(tx, st, record)?;
            }
            ChangeOutcome::Done
        }
        ChannelChange::Delete { folded, at } => {
            let sql = "DELETE FROM channels WHERE folded = $1 AND ($2::bigint = 0 OR (log_ms, log_seq) <= ($2::bigint, $3::bigint))";
            let s = st.get(tx, sql)?;
            let removed = tx.execute(&s, &[folded, &at.ms, &at.seq])? > 0;
            if removed || !kept(tx, st, folded)? {
                clear(tx, st, folded, &["channel_lists", "channel_access", "channel_metadata"])?;
                gone(tx, st, folded, *at)?;
            }
            ChangeOutcome::Done
        }
    };
    notify::send(tx, node, Kind::Channel, change.folded())?;
    Ok(outcome)
}

/// Takes the lock of each channel `changes` change, in name order, for the
/// rest of `tx`: two nodes' transactions changing one channel take turns
/// (each then sees what the other wrote, a removal included), and never
/// wait on each other in a circle.
pub fn lock(
    tx: &mut Transaction<'_>,
    st: &mut Statements<'_>,
    changes: &[ChannelChange],
) -> Result<(), postgres::Error> {
    let mut names: Vec<&str> = changes.iter().map(ChannelChange::folded).collect();
    names.sort_unstable();
    names.dedup();
    let s = st.get(tx, "SELECT pg_advisory_xact_lock(hashtext('banter channel'), hashtext($1))")?;
    for name in names {
        tx.execute(&s, &[&name])?;
    }
    Ok(())
}

/// Whether the store keeps channel `folded`.
fn kept(tx: &mut Transaction<'_>, st: &mut Statements<'_>, folded: &str) -> Result<bool, postgres::Error> {
    let s = st.get(tx, "SELECT 1 FROM channels WHERE folded = $1")?;
    Ok(tx.query_opt(&s, &[&folded])?.is_some())
}

/// Where in the log channel `folded` was last removed (zero: never, or
/// not since it was saved again).
fn gone_at(tx: &mut Transaction<'_>, st: &mut Statements<'_>, folded: &str) -> Result<LogAt, postgres::Error> {
    let s = st.get(tx, "SELECT log_ms, log_seq FROM channels_gone WHERE folded = $1")?;
    Ok(tx.query_opt(&s, &[&folded])?.map(|r| LogAt { ms: r.get(0), seq: r.get(1) }).unwrap_or_default())
}

/// Records that channel `folded` was removed at `at` in the log (a single
/// node's removals, at zero, need no record).
fn gone(tx: &mut Transaction<'_>, st: &mut Statements<'_>, folded: &str, at: LogAt) -> Result<(), postgres::Error> {
    if at == LogAt::default() {
        return Ok(());
    }
    let s = st.get(
        tx,
        "INSERT INTO channels_gone (folded, log_ms, log_seq) VALUES ($1, $2, $3)
         ON CONFLICT (folded) DO UPDATE SET log_ms = excluded.log_ms, log_seq = excluded.log_seq
         WHERE (channels_gone.log_ms, channels_gone.log_seq) < (excluded.log_ms, excluded.log_seq)",
    )?;
    tx.execute(&s, &[&folded, &at.ms, &at.seq])?;
    Ok(())
}

/// Forgets a removal of channel `folded`: it is kept again.
fn ungone(tx: &mut Transaction<'_>, st: &mut Statements<'_>, folded: &str) -> Result<(), postgres::Error> {
    let s = st.get(tx, "DELETE FROM channels_gone WHERE folded = $1")?;
    tx.execute(&s, &[&folded])?;
    Ok(())
}

/// The key founders are counted by (as in the SQLite engine).
fn fold_account(name: &str) -> String {
    crate::state::casemap::Casemap::Rfc1459.fold(name)
}

/// Writes the channel's row as of `at` in the log: with `register`, only
/// when nobody founded it (returns false when someone did); otherwise only
/// over a row taken no further in the log, and not over a later removal
/// (returns false when the row or removal is later). A record at zero (a
/// single node's) is written whatever the store holds.
fn upsert(
    tx: &mut Transaction<'_>,
    st: &mut Statements<'_>,
    r: &ChannelRecord,
    at: LogAt,
    register: bool,
) -> Result<bool, postgres::Error> {
    let guard = if register {
        "channels.founder IS NULL"
    } else {
        "excluded.log_ms = 0 OR (channels.log_ms, channels.log_seq) <= (excluded.log_ms, excluded.log_seq)"
    };
    let sql = format!(
        "INSERT INTO channels (folded, name, created_at, founder, founder_folded, registered_at, modes,
                               chan_key, user_limit, topic, topic_by, topic_at, log_ms, log_seq)
         SELECT $1::text, $2::text, $3::bigint, $4::text, $5::text, $6::bigint, $7::text, $8::text,
                $9::bigint, $10::text, $11::text, $12::bigint, $13::bigint, $14::bigint
         WHERE $13::bigint = 0 OR NOT EXISTS (SELECT 1 FROM channels_gone g
                                      WHERE g.folded = $1 AND (g.log_ms, g.log_seq) > ($13::bigint, $14::bigint))
         ON CONFLICT (folded) DO UPDATE SET name = excluded.name, created_at = excluded.created_at,
           founder = excluded.founder, founder_folded = excluded.founder_folded,
           registered_at = excluded.registered_at, modes = excluded.modes, chan_key = excluded.chan_key,
           user_limit = excluded.user_limit, topic = excluded.topic, topic_by = excluded.topic_by,
           topic_at = excluded.topic_at, log_ms = excluded.log_ms, log_seq = excluded.log_seq
         WHERE {guard}"
    );
    let s = st.get(tx, &sql)?;
    let reg = r.registration.as_ref();
    let n = tx.execute(
        &s,
        &[
            &r.folded,
            &r.name,
            &r.created,
            &reg.map(|g| &g.founder),
            &reg.map(|g| fold_account(&g.founder)),
            &reg.map(|g| g.registered_at),
            &r.modes.flags(),
            &r.modes.key,
            &r.modes.limit.map(|l| l as i64),
            &r.topic.as_ref().map(|t| &t.text),
            &r.topic.as_ref().map(|t| &t.set_by),
            &r.topic.as_ref().map(|t| t.set_at),
            &at.ms,
            &at.seq,
        ],
    )?;
    Ok(n > 0)
}

/// Deletes channel `folded`'s rows of child `tables`.
fn clear(
    tx: &mut Transaction<'_>,
    st: &mut Statements<'_>,
    folded: &str,
    tables: &[&str],
) -> Result<(), postgres::Error> {
    for table in tables {
        let s = st.get(tx, &format!("DELETE FROM {table} WHERE channel = $1"))?;
        tx.execute(&s, &[&folded])?;
    }
    Ok(())
}

/// Replaces the channel's lists and access list.
fn lists(tx: &mut Transaction<'_>, st: &mut Statements<'_>, r: &ChannelRecord) -> Result<(), postgres::Error> {
    clear(tx, st, &r.folded, &["channel_lists", "channel_access"])?;
    let list = st.get(
        tx,
        "INSERT INTO channel_lists (channel, mode, position, mask, set_by, set_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )?;
    for (mode, entries) in [("b", &r.bans), ("e", &r.excepts), ("I", &r.invex)] {
        for (i, e) in entries.iter().enumerate() {
            tx.execute(&list, &[&r.folded, &mode, &(i as i64), &e.mask, &e.set_by, &e.set_at])?;
        }
    }
    if let Some(reg) = &r.registration {
        let access =
            st.get(tx, "INSERT INTO channel_access (channel, position, account, mode) VALUES ($1, $2, $3, $4)")?;
        for (i, a) in reg.access.iter().enumerate() {
            tx.execute(&access, &[&r.folded, &(i as i64), &a.account, &a.mode.letter().to_string()])?;
        }
    }
    Ok(())
}

/// Replaces the channel's metadata.
fn metadata(tx: &mut Transaction<'_>, st: &mut Statements<'_>, r: &ChannelRecord) -> Result<(), postgres::Error> {
    clear(tx, st, &r.folded, &["channel_metadata"])?;
    let meta = st.get(tx, "INSERT INTO channel_metadata (channel, key, value) VALUES ($1, $2, $3)")?;
    for (k, v) in &r.metadata {
        tx.execute(&meta, &[&r.folded, k, v])?;
    }
    Ok(())
}
