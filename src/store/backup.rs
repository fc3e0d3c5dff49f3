//! Consistent copies of the database files while the server runs.
//!
//! `VACUUM INTO` reads the database in one read transaction (so it sees one
//! committed state, whatever the server writes meanwhile) and writes a fresh,
//! compact file that needs no WAL beside it.

use super::StoreResult;
use rusqlite::Connection;
use std::path::Path;

/// Writes a consistent copy of the database open on `conn` to `target`, which
/// must not exist.
pub fn vacuum_into(conn: &Connection, target: &Path) -> StoreResult<()> {
    if target.exists() {
        return Err(format!("{} exists already; back up into an empty directory", target.display()));
    }
    let path = target.to_str().ok_or_else(|| format!("{}: not a UTF-8 path", target.display()))?;
    conn.execute("VACUUM INTO ?1", [path]).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    Ok(())
}

/// `banterd backup`: copies every database of the store at `location` into
/// `out_dir` (created if needed): SQLite files, also for a PostgreSQL store
/// (see `Store::backup`). Safe while the server runs.
pub fn run(location: &super::location::Location, out_dir: &Path) -> StoreResult<Vec<std::path::PathBuf>> {
    if let Some(dir) = location.dir() {
        if !dir.join(super::sqlite::MAIN_FILE).exists() {
            return Err(format!("{} holds no banter database", dir.display()));
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let store = location.open()?;
    store.backup(out_dir)
}
