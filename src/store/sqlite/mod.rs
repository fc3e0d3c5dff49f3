//! The SQLite engine, in the data dir: `banter.db` (accounts, registered
//! channels; WAL, `synchronous=FULL`) and `history.db` (chat history and read
//! markers; WAL, `synchronous=NORMAL`: a commit survives a crash of the
//! process, and batches are what make history writes cheap).
//!
//! Writes go through one connection per file, used by one thread at a time
//! (the committer, the history writer); reads take a connection from a small
//! pool, so CHATHISTORY never waits behind a write (WAL readers see the last
//! commit).

pub mod accounts;
mod body;
mod channels;
mod checkpoint;
pub(crate) mod copy;
pub mod ephemeral;
pub mod history;
mod packs;
pub mod schema;

use super::copy::{Table, Value, TABLES};
use super::history::{Op as HistoryOp, Query, Retention, Scope, Stored};
use super::{AccountRow, AccountStore, AccountSummary, CertfpAdd};
use super::{ChangeOutcome, ChannelChange, ChannelRecord, Store, StoreResult};
use crate::accounts::password::ScramKeys;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The main database's file name.
pub const MAIN_FILE: &str = "banter.db";

/// The history database's file name.
pub const HISTORY_FILE: &str = "history.db";

/// Read connections kept open for reuse.
const READERS: usize = 4;

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
    /// The connection history is written on (the history writer thread's).
    history: Mutex<Connection>,
    /// Idle read connections to `history.db`.
    readers: Mutex<Vec<Connection>>,
    /// Accounts, on their own connection (logins do not wait on channel writes).
    accounts: accounts::SqliteAccounts,
    /// Checkpoints `history.db` while the store is open.
    _checkpointer: checkpoint::Checkpointer,
}

impl Sqlite {
    /// Opens the data dir `dir`, creating and migrating its files.
    pub fn open(dir: &Path) -> StoreResult<Sqlite> {
        let main = open_file(dir, MAIN_FILE, Sync::Full, schema::MAIN)?;
        let history = open_file(dir, HISTORY_FILE, Sync::Normal, history::SCHEMA)?;
        // The writer's connection: a 2 MiB page cache holds the pages a batch
        // touches (a pack per busy channel, their index leaves); with 16 MiB
        // the writer took 0.36 µs of CPU per row at 50×20 against 0.32 (SQLite
        // walks its cache at every commit).
        history.pragma_update(None, "cache_size", -2048).map_err(|e| format!("{HISTORY_FILE}: {e}"))?;
        // Checkpoints run on their own thread (`checkpoint`); the writer
        // checkpoints itself only past a large WAL.
        let valve = checkpoint::VALVE_PAGES;
        history.pragma_update(None, "wal_autocheckpoint", valve).map_err(|e| format!("{HISTORY_FILE}: {e}"))?;
        let checkpointer = open_file(dir, HISTORY_FILE, Sync::Normal, history::SCHEMA)
            .and_then(|c| checkpoint::Checkpointer::start(c).map_err(|e| format!("{HISTORY_FILE}: {e}")))?;
        history.set_prepared_statement_cache_capacity(64);
        let accounts = accounts::SqliteAccounts::open(dir)?;
        Ok(Sqlite {
            accounts,
            dir: dir.to_owned(),
            main: Mutex::new(main),
            history: Mutex::new(history),
            readers: Mutex::new(Vec::new()),
            _checkpointer: checkpointer,
        })
    }

    fn main(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.main.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn history_writer(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on a pooled read connection to `history.db`.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let pooled = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_file(&self.dir, HISTORY_FILE, Sync::Normal, history::SCHEMA)?,
        };
        let result = f(&conn).map_err(|e| format!("{HISTORY_FILE}: {e}"));
        let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < READERS {
            pool.push(conn);
        }
        result
    }
}

impl AccountStore for Sqlite {
    fn insert(&self, folded: &str, row: &AccountRow) -> StoreResult<bool> {
        self.accounts.insert(folded, row)
    }
    fn get(&self, folded: &str) -> StoreResult<Option<AccountRow>> {
        self.accounts.get(folded)
    }
    fn set_password(&self, folded: &str, hash: &str, scram: &ScramKeys) -> StoreResult<bool> {
        self.accounts.set_password(folded, hash, scram)
    }
    fn set_scram(&self, folded: &str, scram: &ScramKeys) -> StoreResult<()> {
        self.accounts.set_scram(folded, scram)
    }
    fn clear_scram(&self) -> StoreResult<usize> {
        self.accounts.clear_scram()
    }
    fn delete(&self, folded: &str) -> StoreResult<bool> {
        self.accounts.delete(folded)
    }
    fn add_certfp(&self, folded: &str, fp: &str, max: usize) -> StoreResult<CertfpAdd> {
        self.accounts.add_certfp(folded, fp, max)
    }
    fn remove_certfp(&self, folded: &str, fp: &str) -> StoreResult<bool> {
        self.accounts.remove_certfp(folded, fp)
    }
    fn certfps(&self, folded: &str) -> StoreResult<Vec<String>> {
        self.accounts.certfps(folded)
    }
    fn account_for_certfp(&self, fp: &str) -> StoreResult<Option<String>> {
        self.accounts.account_for_certfp(fp)
    }
    fn touch(&self, folded: &str, when: i64) -> StoreResult<()> {
        self.accounts.touch(folded, when)
    }
    fn list(&self) -> StoreResult<Vec<AccountSummary>> {
        self.accounts.list()
    }
    fn set_multiclient(&self, folded: &str, on: bool) -> StoreResult<bool> {
        self.accounts.set_multiclient(folded, on)
    }
    fn multiclient_off(&self) -> StoreResult<Vec<String>> {
        self.accounts.multiclient_off()
    }
}

/// Begins a transaction that takes the file's write lock at once (`BEGIN
/// IMMEDIATE`). A deferred transaction that reads before it writes cannot
/// wait for another connection's writer: SQLite answers "database is locked"
/// at once instead of applying the busy timeout, since its snapshot is stale.
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

impl Store for Sqlite {
    fn load_channels(&self) -> StoreResult<Vec<ChannelRecord>> {
        channels::load(&self.main(), None).map_err(|e| format!("{}: loading channels: {e}", self.dir.display()))
    }

    fn load_channel(&self, folded: &str) -> StoreResult<Option<ChannelRecord>> {
        let mut one = channels::load(&self.main(), Some(folded))
            .map_err(|e| format!("{}: loading a channel: {e}", self.dir.display()))?;
        Ok(one.pop())
    }

    fn apply_channel_changes(&self, changes: &[ChannelChange]) -> StoreResult<Vec<ChangeOutcome>> {
        let mut conn = self.main();
        let tx = write_tx(&mut conn).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(changes.len());
        for c in changes {
            out.push(channels::apply(&tx, c).map_err(|e| e.to_string())?);
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn forget_log_positions(&self) -> StoreResult<()> {
        let conn = self.main();
        conn.execute_batch(crate::store::FORGET_LOG_POSITIONS)
            .map_err(|e| format!("{}: forgetting log positions: {e}", self.dir.display()))
    }

    fn packs_history(&self) -> bool {
        true
    }

    fn write_history(&self, ops: &[HistoryOp]) -> StoreResult<usize> {
        let mut conn = self.history_writer();
        let tx = write_tx(&mut conn).map_err(|e| e.to_string())?;
        let n = history::write(&tx, ops).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(n)
    }

    fn select_history(&self, scope: &Scope, query: &Query, events: bool) -> StoreResult<Vec<Stored>> {
        self.read(|c| history::select(c, scope, query, events))
    }

    fn find_message(&self, scope: &Scope, msgid: &str) -> StoreResult<Option<Stored>> {
        self.read(|c| history::find(c, scope, msgid))
    }

    fn latest_message(&self, target: &str, events: bool) -> StoreResult<Option<i64>> {
        self.read(|c| history::latest(c, target, events))
    }

    fn conversations(
        &self,
        party: &str,
        events: bool,
        from: i64,
        to: i64,
        limit: usize,
    ) -> StoreResult<Vec<(String, i64)>> {
        self.read(|c| history::conversations(c, party, events, from, to, limit))
    }

    fn markers(&self, who: &str) -> StoreResult<Vec<(String, i64)>> {
        self.read(|c| history::markers(c, who))
    }

    fn prune_history(&self, policy: &Retention, now_ms: i64, chunk: usize) -> StoreResult<usize> {
        let mut conn = self.history_writer();
        let tx = write_tx(&mut conn).map_err(|e| e.to_string())?;
        let n = history::prune(&tx, policy, now_ms, chunk).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(n)
    }

    fn backup(&self, out_dir: &Path) -> StoreResult<Vec<PathBuf>> {
        let main = out_dir.join(MAIN_FILE);
        super::backup::vacuum_into(&self.main(), &main)?;
        let hist = out_dir.join(HISTORY_FILE);
        self.read(|c| Ok(super::backup::vacuum_into(c, &hist)))??;
        Ok(vec![main, hist])
    }

    fn export(&self, each: &mut dyn FnMut(&'static Table, Vec<Value>) -> StoreResult<()>) -> StoreResult<()> {
        // One read transaction per file: each is one committed state.
        {
            let main = self.main();
            main.execute_batch("BEGIN").map_err(|e| e.to_string())?;
            let result = TABLES.iter().filter(|t| !t.history).try_for_each(|t| copy::export(&main, t, each));
            let _ = main.execute_batch("COMMIT");
            result?;
        }
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let result = TABLES.iter().filter(|t| t.history).try_for_each(|t| copy::export(c, t, each));
            c.execute_batch("COMMIT")?;
            Ok(result)
        })?
    }

    fn import(&self, table: &Table, rows: &[Vec<Value>]) -> StoreResult<()> {
        if table.history {
            copy::import(&mut self.history_writer(), table, rows)
        } else {
            copy::import(&mut self.main(), table, rows)
        }
    }

    fn is_empty(&self) -> StoreResult<bool> {
        let main = self.main();
        self.read(|c| Ok(copy::is_empty(&main, c)))?
    }

    fn identity(&self) -> StoreResult<String> {
        let id: String = self
            .main()
            .query_row("SELECT id FROM store_identity", [], |r| r.get(0))
            .map_err(|e| format!("{MAIN_FILE}: reading the store's identity: {e}"))?;
        Ok(format!("{} {id}", super::SQLITE_IDENTITY))
    }
}
