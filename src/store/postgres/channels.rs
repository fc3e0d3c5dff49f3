//! Persistent channels in PostgreSQL: the tables of the SQLite engine
//! (`store::sqlite::channels`). A registration is decided by the channel's
//! primary key: `INSERT ... ON CONFLICT DO UPDATE ... WHERE founder IS NULL`
//! takes an unregistered (or absent) channel in one statement, so of two
//! nodes registering one channel at once exactly one gets it.

use super::notify::{self, Kind};
use super::pool::Statements;
use crate::state::channel::{ChannelModes, ListEntry, Topic};
use crate::store::{Access, AccessMode, ChangeOutcome, ChannelChange, ChannelRecord, Registration};
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
                    topic, topic_by, topic_at
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
            let founded = tx.query_opt("SELECT founder FROM channels WHERE folded = $1", &[&record.folded])?;
            if founded.is_some_and(|r| r.get::<_, Option<String>>(0).is_some()) {
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
            if !upsert(tx, st, record, true)? {
                return Ok(ChangeOutcome::Taken);
            }
            children(tx, st, record)?;
            ChangeOutcome::Done
        }
        ChannelChange::Save(record) => {
            upsert(tx, st, record, false)?;
            children(tx, st, record)?;
            ChangeOutcome::Done
        }
        ChannelChange::Delete(folded) => {
            delete_children(tx, st, folded)?;
            let s = st.get(tx, "DELETE FROM channels WHERE folded = $1")?;
            tx.execute(&s, &[folded])?;
            ChangeOutcome::Done
        }
    };
    let folded = match change {
        ChannelChange::Register { record, .. } | ChannelChange::Save(record) => &record.folded,
        ChannelChange::Delete(f) => f,
    };
    notify::send(tx, node, Kind::Channel, folded)?;
    Ok(outcome)
}

/// The key founders are counted by (as in the SQLite engine).
fn fold_account(name: &str) -> String {
    crate::state::casemap::Casemap::Rfc1459.fold(name)
}

/// Writes the channel's row; with `register`, only when nobody founded it
/// (returns false when someone did).
fn upsert(
    tx: &mut Transaction<'_>,
    st: &mut Statements<'_>,
    r: &ChannelRecord,
    register: bool,
) -> Result<bool, postgres::Error> {
    let guard = if register { " WHERE channels.founder IS NULL" } else { "" };
    let sql = format!(
        "INSERT INTO channels (folded, name, created_at, founder, founder_folded, registered_at, modes,
                               chan_key, user_limit, topic, topic_by, topic_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (folded) DO UPDATE SET name = excluded.name, created_at = excluded.created_at,
           founder = excluded.founder, founder_folded = excluded.founder_folded,
           registered_at = excluded.registered_at, modes = excluded.modes, chan_key = excluded.chan_key,
           user_limit = excluded.user_limit, topic = excluded.topic, topic_by = excluded.topic_by,
           topic_at = excluded.topic_at{guard}"
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
        ],
    )?;
    Ok(n > 0)
}

fn delete_children(tx: &mut Transaction<'_>, st: &mut Statements<'_>, folded: &str) -> Result<(), postgres::Error> {
    for table in ["channel_lists", "channel_access", "channel_metadata"] {
        let s = st.get(tx, &format!("DELETE FROM {table} WHERE channel = $1"))?;
        tx.execute(&s, &[&folded])?;
    }
    Ok(())
}

/// Replaces the channel's lists, access list and metadata.
fn children(tx: &mut Transaction<'_>, st: &mut Statements<'_>, r: &ChannelRecord) -> Result<(), postgres::Error> {
    delete_children(tx, st, &r.folded)?;
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
    let meta = st.get(tx, "INSERT INTO channel_metadata (channel, key, value) VALUES ($1, $2, $3)")?;
    for (k, v) in &r.metadata {
        tx.execute(&meta, &[&r.folded, k, v])?;
    }
    Ok(())
}
