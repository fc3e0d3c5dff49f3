//! Schema versions and forward migrations of the SQLite files.
//!
//! Each file has a `schema_version` table; a migration's index + 1 is the
//! version it brings the file to. An older data dir is upgraded in place at
//! start-up, each step in its own transaction; a file newer than this banterd
//! is refused.

use rusqlite::{Connection, OptionalExtension};

/// `banter.db`: accounts (1), certificate fingerprints (2), persistent channels
/// (3), the per-account multiclient opt-out (4), the store's identity (5: a
/// random id made once, which nodes of a cluster compare, see
/// [`crate::store::Store::identity`]), where in a cluster's log each channel
/// was saved and removed (6: the columns of the PostgreSQL schema, so both
/// keep one version; a single node's saves are all at zero, and it keeps no
/// removals).
pub const MAIN: &[&str] = &[
    "CREATE TABLE accounts (
        folded TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        scram_salt BLOB NOT NULL,
        scram_iterations INTEGER NOT NULL,
        scram_stored_key BLOB NOT NULL,
        scram_server_key BLOB NOT NULL,
        email TEXT,
        created_at INTEGER NOT NULL,
        last_seen INTEGER
    );",
    "CREATE TABLE certfps (
        fp TEXT PRIMARY KEY NOT NULL,
        account TEXT NOT NULL
    );
    CREATE INDEX certfps_account ON certfps (account);",
    "CREATE TABLE channels (
        folded TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        founder TEXT,
        founder_folded TEXT,
        registered_at INTEGER,
        modes TEXT NOT NULL,
        chan_key TEXT,
        user_limit INTEGER,
        topic TEXT,
        topic_by TEXT,
        topic_at INTEGER
    );
    CREATE INDEX channels_founder ON channels (founder_folded);
    CREATE TABLE channel_lists (
        channel TEXT NOT NULL,
        mode TEXT NOT NULL,
        position INTEGER NOT NULL,
        mask TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at INTEGER NOT NULL,
        PRIMARY KEY (channel, mode, position)
    );
    CREATE TABLE channel_access (
        channel TEXT NOT NULL,
        position INTEGER NOT NULL,
        account TEXT NOT NULL,
        mode TEXT NOT NULL,
        PRIMARY KEY (channel, position)
    );
    CREATE TABLE channel_metadata (
        channel TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (channel, key)
    );",
    "ALTER TABLE accounts ADD COLUMN multiclient_off INTEGER NOT NULL DEFAULT 0;",
    "CREATE TABLE store_identity (id TEXT NOT NULL);
    INSERT INTO store_identity (id) VALUES (lower(hex(randomblob(16))));",
    "ALTER TABLE channels ADD COLUMN log_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE channels ADD COLUMN log_seq INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE channels_gone (
        folded TEXT PRIMARY KEY NOT NULL,
        log_ms INTEGER NOT NULL,
        log_seq INTEGER NOT NULL
    );",
];

/// Brings `conn` to the last version of `migrations`; `what` names the file in errors.
pub fn migrate(conn: &Connection, migrations: &[&str], what: &str) -> Result<(), String> {
    let e = |e: rusqlite::Error| format!("{what}: {e}");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);").map_err(e)?;
    let version: i64 =
        conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).optional().map_err(e)?.unwrap_or(-1);
    if version < 0 {
        conn.execute("INSERT INTO schema_version (version) VALUES (0)", []).map_err(e)?;
    }
    let version = version.max(0) as usize;
    if version > migrations.len() {
        return Err(format!(
            "{what}: schema version {version} is newer than this banterd knows ({}); run a newer banterd",
            migrations.len()
        ));
    }
    for (i, sql) in migrations.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction().map_err(e)?;
        tx.execute_batch(sql).map_err(e)?;
        tx.execute("UPDATE schema_version SET version = ?1", [i as i64 + 1]).map_err(e)?;
        tx.commit().map_err(e)?;
        if version > 0 {
            tracing::info!("{what}: upgraded schema to version {}", i + 1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrades_a_version_2_file_in_place() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, &MAIN[..2], "test").unwrap();
        conn.execute("INSERT INTO accounts VALUES ('a', 'A', 'h', x'00', 4096, x'01', x'02', NULL, 1, NULL)", [])
            .unwrap();
        migrate(&conn, MAIN, "test").unwrap();
        let v: i64 = conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MAIN.len());
        let n: i64 = conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
        conn.execute("INSERT INTO channels (folded, name, created_at, modes) VALUES ('#a', '#a', 1, 'nt')", [])
            .unwrap();
    }

    #[test]
    fn refuses_a_newer_file() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, MAIN, "test").unwrap();
        let err = migrate(&conn, &MAIN[..1], "test").unwrap_err();
        assert!(err.contains("newer"), "{err}");
    }
}
