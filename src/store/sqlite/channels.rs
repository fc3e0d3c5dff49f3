//! Persistent channels in `banter.db`: one row per channel, its lists, access
//! list and metadata in child tables. A save replaces the channel's rows.

use crate::state::channel::{ChannelModes, ListEntry, Topic};
use crate::store::{Access, AccessMode, ChangeOutcome, ChannelChange, ChannelRecord, LogAt, Registration};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
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

/// Every stored channel (or only `only`) with its lists, access list and metadata.
pub fn load(conn: &Connection, only: Option<&str>) -> rusqlite::Result<Vec<ChannelRecord>> {
    let mut records: Vec<ChannelRecord> = Vec::new();
    let mut index = HashMap::new();
    let mut st = conn.prepare(
        "SELECT folded, name, created_at, founder, registered_at, modes, chan_key, user_limit,
                topic, topic_by, topic_at, log_ms, log_seq
         FROM channels WHERE ?1 IS NULL OR folded = ?1 ORDER BY folded",
    )?;
    let mut rows = st.query([only])?;
    while let Some(r) = rows.next()? {
        let folded: String = r.get(0)?;
        let founder: Option<String> = r.get(3)?;
        let topic: Option<String> = r.get(8)?;
        let record = ChannelRecord {
            folded: folded.clone(),
            name: r.get(1)?,
            created: r.get(2)?,
            registration: founder.map(|founder| Registration {
                founder,
                registered_at: r.get::<_, Option<i64>>(4).ok().flatten().unwrap_or(0),
                access: Vec::new(),
            }),
            modes: modes_from(&r.get::<_, String>(5)?, r.get(6)?, r.get(7)?),
            topic: match topic {
                Some(text) => Some(Topic { text, set_by: r.get(9)?, set_at: r.get(10)? }),
                None => None,
            },
            bans: Vec::new(),
            excepts: Vec::new(),
            invex: Vec::new(),
            metadata: Vec::new(),
            at: LogAt { ms: r.get(11)?, seq: r.get(12)? },
        };
        index.insert(folded, records.len());
        records.push(record);
    }
    let mut st = conn.prepare(
        "SELECT channel, mode, mask, set_by, set_at FROM channel_lists WHERE ?1 IS NULL OR channel = ?1
         ORDER BY channel, mode, position",
    )?;
    let mut rows = st.query([only])?;
    while let Some(r) = rows.next()? {
        let Some(&i) = index.get(&r.get::<_, String>(0)?) else { continue };
        let entry = ListEntry { mask: r.get(2)?, set_by: r.get(3)?, set_at: r.get(4)? };
        let rec = &mut records[i];
        match r.get::<_, String>(1)?.as_str() {
            "b" => rec.bans.push(entry),
            "e" => rec.excepts.push(entry),
            _ => rec.invex.push(entry),
        }
    }
    let mut st = conn.prepare(
        "SELECT channel, account, mode FROM channel_access WHERE ?1 IS NULL OR channel = ?1 ORDER BY channel, position",
    )?;
    let mut rows = st.query([only])?;
    while let Some(r) = rows.next()? {
        let Some(&i) = index.get(&r.get::<_, String>(0)?) else { continue };
        let mode = r.get::<_, String>(2)?.chars().next().and_then(AccessMode::from_letter);
        if let (Some(reg), Some(mode)) = (records[i].registration.as_mut(), mode) {
            reg.access.push(Access { account: r.get(1)?, mode });
        }
    }
    let mut st = conn.prepare(
        "SELECT channel, key, value FROM channel_metadata WHERE ?1 IS NULL OR channel = ?1 ORDER BY channel, key",
    )?;
    let mut rows = st.query([only])?;
    while let Some(r) = rows.next()? {
        let Some(&i) = index.get(&r.get::<_, String>(0)?) else { continue };
        records[i].metadata.push((r.get(1)?, r.get(2)?));
    }
    Ok(records)
}

/// Applies one change inside `tx`.
pub fn apply(tx: &Transaction<'_>, change: &ChannelChange) -> rusqlite::Result<ChangeOutcome> {
    match change {
        ChannelChange::Register { record, max_per_account } => {
            let Some(reg) = &record.registration else { return Ok(ChangeOutcome::Taken) };
            let founded: Option<String> = tx
                .query_row("SELECT founder FROM channels WHERE folded = ?1", [&record.folded], |r| r.get(0))
                .optional()?
                .flatten();
            if founded.is_some() {
                return Ok(ChangeOutcome::Taken);
            }
            let count: i64 = tx.query_row(
                "SELECT count(*) FROM channels WHERE founder_folded = ?1",
                [fold_account(&reg.founder)],
                |r| r.get(0),
            )?;
            if count as usize >= *max_per_account {
                return Ok(ChangeOutcome::TooMany);
            }
            save(tx, record)?;
            Ok(ChangeOutcome::Done)
        }
        ChannelChange::Save(record) => {
            save(tx, record)?;
            Ok(ChangeOutcome::Done)
        }
        ChannelChange::Delete { folded, .. } => {
            delete(tx, folded)?;
            Ok(ChangeOutcome::Done)
        }
    }
}

/// The key founders are counted by: the rfc1459 fold, which equals the account
/// key under that case mapping and is at most a little coarser under `ascii`.
fn fold_account(name: &str) -> String {
    crate::state::casemap::Casemap::Rfc1459.fold(name)
}

fn delete(tx: &Transaction<'_>, folded: &str) -> rusqlite::Result<()> {
    for table in ["channel_lists", "channel_access", "channel_metadata"] {
        tx.execute(&format!("DELETE FROM {table} WHERE channel = ?1"), [folded])?;
    }
    tx.execute("DELETE FROM channels WHERE folded = ?1", [folded])?;
    Ok(())
}

fn save(tx: &Transaction<'_>, r: &ChannelRecord) -> rusqlite::Result<()> {
    delete(tx, &r.folded)?;
    let reg = r.registration.as_ref();
    tx.execute(
        "INSERT INTO channels (folded, name, created_at, founder, founder_folded, registered_at, modes,
                               chan_key, user_limit, topic, topic_by, topic_at, log_ms, log_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            r.folded,
            r.name,
            r.created,
            reg.map(|g| &g.founder),
            reg.map(|g| fold_account(&g.founder)),
            reg.map(|g| g.registered_at),
            r.modes.flags(),
            r.modes.key,
            r.modes.limit.map(|l| l as i64),
            r.topic.as_ref().map(|t| &t.text),
            r.topic.as_ref().map(|t| &t.set_by),
            r.topic.as_ref().map(|t| t.set_at),
            r.at.ms,
            r.at.seq,
        ],
    )?;
    let mut list = tx.prepare_cached(
        "INSERT INTO channel_lists (channel, mode, position, mask, set_by, set_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (mode, entries) in [("b", &r.bans), ("e", &r.excepts), ("I", &r.invex)] {
        for (i, e) in entries.iter().enumerate() {
            list.execute(params![r.folded, mode, i as i64, e.mask, e.set_by, e.set_at])?;
        }
    }
    if let Some(reg) = reg {
        let mut access =
            tx.prepare_cached("INSERT INTO channel_access (channel, position, account, mode) VALUES (?1, ?2, ?3, ?4)")?;
        for (i, a) in reg.access.iter().enumerate() {
            access.execute(params![r.folded, i as i64, a.account, a.mode.letter().to_string()])?;
        }
    }
    let mut meta = tx.prepare_cached("INSERT INTO channel_metadata (channel, key, value) VALUES (?1, ?2, ?3)")?;
    for (k, v) in &r.metadata {
        meta.execute(params![r.folded, k, v])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::schema;

    fn record(name: &str, founder: Option<&str>) -> ChannelRecord {
        ChannelRecord {
            folded: name.to_lowercase(),
            name: name.into(),
            created: 5,
            registration: founder.map(|f| Registration {
                founder: f.into(),
                registered_at: 7,
                access: vec![Access { account: "Bob".into(), mode: AccessMode::Voice }],
            }),
            topic: Some(Topic { text: "hi".into(), set_by: "a!b@c".into(), set_at: 9 }),
            modes: ChannelModes { no_external: true, key: Some("k".into()), limit: Some(3), ..Default::default() },
            bans: vec![ListEntry { mask: "x!*@*".into(), set_by: "a".into(), set_at: 1 }],
            excepts: Vec::new(),
            invex: vec![ListEntry { mask: "y!*@*".into(), set_by: "a".into(), set_at: 2 }],
            metadata: vec![("url".into(), "https://x".into())],
            at: LogAt::default(),
        }
    }

    #[test]
    fn register_save_load_delete() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&conn, schema::MAIN, "t").unwrap();
        let tx = conn.transaction().unwrap();
        let reg = |r: ChannelRecord| ChannelChange::Register { record: r, max_per_account: 1 };
        assert_eq!(apply(&tx, &reg(record("#A", Some("Ann")))).unwrap(), ChangeOutcome::Done);
        assert_eq!(apply(&tx, &reg(record("#A", Some("Ben")))).unwrap(), ChangeOutcome::Taken);
        assert_eq!(apply(&tx, &reg(record("#B", Some("ANN")))).unwrap(), ChangeOutcome::TooMany);
        apply(&tx, &ChannelChange::Save(record("#P", None))).unwrap();
        tx.commit().unwrap();
        let loaded = load(&conn, None).unwrap();
        assert_eq!(loaded, vec![record("#A", Some("Ann")), record("#P", None)]);
        let tx = conn.transaction().unwrap();
        apply(&tx, &ChannelChange::Delete { folded: "#a".into(), at: LogAt::default() }).unwrap();
        tx.commit().unwrap();
        assert_eq!(load(&conn, None).unwrap(), vec![record("#P", None)]);
    }
}
