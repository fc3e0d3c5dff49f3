//! The SQLite engine: `banter.db` (accounts, registered channels; WAL,
//! `synchronous=FULL`) in the data dir.

mod channels;
pub mod schema;

use super::{ChangeOutcome, ChannelChange, ChannelRecord, Store, StoreResult};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The main database's file name.
pub const MAIN_FILE: &str = "banter.db";

/// How a file is synced: FULL for what a client was told is saved.
#[derive(Debug, Clone, Copy)]
pub enum Sync {
    /// Every commit reaches the disk before it returns.
    Full,
    /// WAL `NORMAL`: a commit survives a process crash, the disk is synced at checkpoints.
    Normal,
}

/// Opens (creating if needed) the SQLite file `name` in `dir`, in WAL mode,
/// migrated to the last version of `migrations`. Errors say which file and
/// what to do.
pub fn open_file(dir: &Path, name: &str, sync: Sync, migrations: &[&str]) -> StoreResult<Connection> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let path = dir.join(name);
    let what = path.display().to_string();
    let hint = |e: rusqlite::Error| {
        let text = e.to_string();
        let advice = if text.contains("not a database") || text.contains("malformed") {
            "the file is damaged: restore it from a backup (see docs/persistence.md) or move it away to start empty"
        } else if text.contains("readonly") || text.contains("unable to open") || text.contains("permission") {
            "check that banterd may write to the data directory and the files in it"
        } else {
            "check the data directory"
        };
        format!("cannot use {what}: {text} ({advice})")
    };
    let conn = Connection::open(&path).map_err(hint)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(hint)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(hint)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("cannot use {what}: WAL mode refused ({mode})"));
    }
    let level = match sync {
        Sync::Full => "FULL",
        Sync::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", level).map_err(hint)?;
    schema::migrate(&conn, migrations, &what).map_err(|e| {
        if e.contains("not a database") || e.contains("readonly") || e.contains("malformed") {
            hint_text(&e)
        } else {
            e
        }
    })?;
    Ok(conn)
}

fn hint_text(e: &str) -> String {
    if e.contains("readonly") {
        format!("{e} (check that banterd may write to the data directory and the files in it)")
    } else {
        format!("{e} (the file is damaged: restore it from a backup, see docs/persistence.md, or move it away)")
    }
}

/// The SQLite store of one data dir.
pub struct Sqlite {
    dir: PathBuf,
    /// The connection channel changes are written on (only the committer
    /// thread and start-up use it, so the lock is never contended).
    main: Mutex<Connection>,
}

impl Sqlite {
    /// Opens the data dir `dir`, creating and migrating its files.
    pub fn open(dir: &Path) -> StoreResult<Sqlite> {
        let main = open_file(dir, MAIN_FILE, Sync::Full, schema::MAIN)?;
        Ok(Sqlite { dir: dir.to_owned(), main: Mutex::new(main) })
    }

    fn main(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.main.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for Sqlite {
    fn load_channels(&self) -> StoreResult<Vec<ChannelRecord>> {
        channels::load(&self.main()).map_err(|e| format!("{}: loading channels: {e}", self.dir.display()))
    }

    fn apply_channel_changes(&self, changes: &[ChannelChange]) -> StoreResult<Vec<ChangeOutcome>> {
        let mut conn = self.main();
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(changes.len());
        for c in changes {
            out.push(channels::apply(&tx, c).map_err(|e| e.to_string())?);
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn backup(&self, out_dir: &Path) -> StoreResult<Vec<PathBuf>> {
        let target = out_dir.join(MAIN_FILE);
        super::backup::vacuum_into(&self.main(), &target)?;
        Ok(vec![target])
    }
}
