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

/// `banterd backup`: copies every database of the data dir `data_dir` into
/// `out_dir` (created if needed). Safe while the server runs.
pub fn run(data_dir: &Path, out_dir: &Path) -> StoreResult<Vec<std::path::PathBuf>> {
    if !data_dir.join(super::sqlite::MAIN_FILE).exists() {
        return Err(format!("{} holds no banter database", data_dir.display()));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let store = super::sqlite::Sqlite::open(data_dir)?;
    super::Store::backup(&store, out_dir)
}
