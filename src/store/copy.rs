//! Copying a whole store to another: `banterd store copy --from sqlite:DIR
//! --to postgres://...` (growing from one node to a cluster), and `banterd
//! backup` of a PostgreSQL store (into SQLite files).
//!
//! Both engines have the same tables and columns ([`TABLES`]); a copy reads
//! every table of the source in one consistent snapshot per database and
//! writes the rows unchanged (message ids included) into an empty target.

use super::{Store, StoreResult};

/// A column value, as both engines store it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// An integer (BIGINT).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (BLOB, BYTEA).
    Blob(Vec<u8>),
}

/// A table and its columns.
#[derive(Debug)]
pub struct Table {
    /// The name.
    pub name: &'static str,
    /// The columns, in copy order.
    pub columns: &'static [&'static str],
    /// In the history part (SQLite: `history.db`), else the main part (`banter.db`).
    pub history: bool,
}

const fn t(name: &'static str, columns: &'static [&'static str], history: bool) -> Table {
    Table { name, columns, history }
}

/// Every table a store keeps, in copy order.
pub const TABLES: &[Table] = &[
    t(
        "accounts",
        &[
            "folded",
            "name",
            "password_hash",
            "scram_salt",
            "scram_iterations",
            "scram_stored_key",
            "scram_server_key",
            "email",
            "created_at",
            "last_seen",
            "multiclient_off",
        ],
        false,
    ),
    t("certfps", &["fp", "account"], false),
    t(
        "channels",
        &[
            "folded",
            "name",
            "created_at",
            "founder",
            "founder_folded",
            "registered_at",
            "modes",
            "chan_key",
            "user_limit",
            "topic",
            "topic_by",
            "topic_at",
            "log_ms",
            "log_seq",
        ],
        false,
    ),
    t("channel_lists", &["channel", "mode", "position", "mask", "set_by", "set_at"], false),
    t("channel_access", &["channel", "position", "account", "mode"], false),
    t("channel_metadata", &["channel", "key", "value"], false),
    t(
        "messages",
        &[
            "id",
            "target",
            "msgid",
            "time_ms",
            "kind",
            "sender_conn",
            "sender_account",
            "source",
            "command",
            "params",
            "tags",
            "client_tags",
            "multiline",
        ],
        true,
    ),
    t("direct", &["party", "time_ms", "message"], true),
    t("conversations", &["party", "target", "peer", "last_ms", "last_message_ms"], true),
    t("targets", &["target", "rows"], true),
    t("markers", &["who", "target", "time_ms"], true),
];

/// Rows written per import call.
const CHUNK: usize = 5000;

/// Copies every row of `from` into `to`, which must hold nothing yet;
/// returns (table, rows) for each table.
pub fn copy(from: &dyn Store, to: &dyn Store) -> StoreResult<Vec<(&'static str, u64)>> {
    if !to.is_empty()? {
        return Err("the target store is not empty (copy into a new database or data dir)".into());
    }
    let mut counts: Vec<(&'static str, u64)> = TABLES.iter().map(|t| (t.name, 0)).collect();
    let mut pending: Option<(&'static Table, Vec<Vec<Value>>)> = None;
    let flush = |pending: &mut Option<(&'static Table, Vec<Vec<Value>>)>| -> StoreResult<()> {
        if let Some((table, rows)) = pending.take() {
            if !rows.is_empty() {
                to.import(table, &rows)?;
            }
        }
        Ok(())
    };
    from.export(&mut |table, row| {
        if pending.as_ref().is_some_and(|(t, rows)| t.name != table.name || rows.len() >= CHUNK) {
            flush(&mut pending)?;
        }
        pending.get_or_insert_with(|| (table, Vec::with_capacity(CHUNK))).1.push(row);
        if let Some(c) = counts.iter_mut().find(|(n, _)| *n == table.name) {
            c.1 += 1;
        }
        Ok(())
    })?;
    flush(&mut pending)?;
    to.finish_import()?;
    Ok(counts)
}

/// `banterd store copy --from A --to B`: prints each table's rows; returns
/// the exit code.
pub fn command(args: &[String]) -> i32 {
    let mut from = None;
    let mut to = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--from" => from = it.next(),
            "--to" => to = it.next(),
            _ => {
                eprintln!("banterd store copy: unexpected {a}\n{USAGE}");
                return 2;
            }
        }
    }
    let (Some(from), Some(to)) = (from, to) else {
        eprintln!("{USAGE}");
        return 2;
    };
    let open = |text: &str| -> Result<(String, std::sync::Arc<dyn Store>), String> {
        let loc = super::location::Location::parse(text)?;
        Ok((loc.describe(), loc.open()?))
    };
    let result = open(from).and_then(|(fd, f)| {
        let (td, t) = open(to)?;
        println!("copying {fd} to {td}");
        copy(&*f, &*t)
    });
    match result {
        Ok(counts) => {
            for (table, n) in counts {
                println!("{table}: {n} rows");
            }
            0
        }
        Err(e) => {
            eprintln!("banterd store copy: {e}");
            1
        }
    }
}

/// How `banterd store` is used.
pub const USAGE: &str = "usage: banterd store copy --from LOCATION --to LOCATION
  LOCATION is sqlite:DIR (a data dir) or postgres://USER[:PASSWORD]@HOST[:PORT]/DB;
  the target must be empty (a new database, or a dir without banter.db)";
