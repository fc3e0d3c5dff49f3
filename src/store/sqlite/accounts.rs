//! Accounts and certificate fingerprints in `banter.db` (the SQLite engine's
//! [`AccountStore`]).
//!
//! Every call blocks; callers run them on the blocking pool (`spawn_blocking`),
//! never on the async worker threads.

use crate::store::accounts::{AccountRow, AccountStore, AccountSummary, CertfpAdd};
use crate::store::sqlite::{open_file, schema, Sync, MAIN_FILE};
use crate::store::StoreResult;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// The accounts tables, on their own connection to `banter.db`.
pub struct SqliteAccounts {
    conn: Mutex<Connection>,
}

impl SqliteAccounts {
    /// Opens (creating if needed) `<dir>/banter.db` and migrates it
    /// (the schema is `store::sqlite::schema::MAIN`, shared with channels).
    pub fn open(dir: &Path) -> StoreResult<SqliteAccounts> {
        let conn = open_file(dir, MAIN_FILE, Sync::Full, schema::MAIN)?;
        Ok(SqliteAccounts { conn: Mutex::new(conn) })
    }

    /// An in-memory store (for unit tests).
    pub fn memory() -> StoreResult<SqliteAccounts> {
        let conn = Connection::open_in_memory().map_err(|e| e.to_string())?;
        schema::migrate(&conn, schema::MAIN, "memory")?;
        Ok(SqliteAccounts { conn: Mutex::new(conn) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AccountStore for SqliteAccounts {
    fn insert(&self, folded: &str, row: &AccountRow) -> StoreResult<bool> {
        let r = self.lock().execute(
            "INSERT INTO accounts (folded, name, password_hash, scram_salt, scram_iterations,
               scram_stored_key, scram_server_key, email, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                folded,
                row.name,
                row.password_hash,
                row.scram.salt,
                row.scram.iterations,
                row.scram.stored_key,
                row.scram.server_key,
                row.email,
                row.created_at
            ],
        );
        match r {
            Ok(_) => Ok(true),
            Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                Ok(false)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Looks an account up by folded name.
    fn get(&self, folded: &str) -> StoreResult<Option<AccountRow>> {
        self.lock()
            .query_row(
                "SELECT name, password_hash, scram_salt, scram_iterations, scram_stored_key,
                        scram_server_key, email, created_at, last_seen
                 FROM accounts WHERE folded = ?1",
                [folded],
                |r| {
                    Ok(AccountRow {
                        name: r.get(0)?,
                        password_hash: r.get(1)?,
                        scram: crate::accounts::password::ScramKeys {
                            salt: r.get(2)?,
                            iterations: r.get(3)?,
                            stored_key: r.get(4)?,
                            server_key: r.get(5)?,
                        },
                        email: r.get(6)?,
                        created_at: r.get(7)?,
                        last_seen: r.get(8)?,
                    })
                },
            )
            .optional()
            .map_err(|e| e.to_string())
    }

    /// Replaces the password of an account; `Ok(false)` if it does not exist.
    fn set_password(
        &self,
        folded: &str,
        hash: &str,
        scram: &crate::accounts::password::ScramKeys,
    ) -> StoreResult<bool> {
        let n = self
            .lock()
            .execute(
                "UPDATE accounts SET password_hash = ?2, scram_salt = ?3, scram_iterations = ?4,
                   scram_stored_key = ?5, scram_server_key = ?6 WHERE folded = ?1",
                params![folded, hash, scram.salt, scram.iterations, scram.stored_key, scram.server_key],
            )
            .map_err(|e| e.to_string())?;
        Ok(n > 0)
    }

    /// Stores SCRAM keys for an account (derived at a password login, for an
    /// account that had none).
    fn set_scram(&self, folded: &str, scram: &crate::accounts::password::ScramKeys) -> StoreResult<()> {
        self.lock()
            .execute(
                "UPDATE accounts SET scram_salt = ?2, scram_iterations = ?3, scram_stored_key = ?4,
                   scram_server_key = ?5 WHERE folded = ?1",
                params![folded, scram.salt, scram.iterations, scram.stored_key, scram.server_key],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Removes every account's SCRAM keys (when SCRAM is turned off); returns
    /// how many accounts had some.
    fn clear_scram(&self) -> StoreResult<usize> {
        self.lock()
            .execute(
                "UPDATE accounts SET scram_salt = x'', scram_iterations = 0, scram_stored_key = x'',
                   scram_server_key = x'' WHERE scram_iterations != 0",
                [],
            )
            .map_err(|e| e.to_string())
    }

    /// Deletes an account; `Ok(false)` if it did not exist.
    fn delete(&self, folded: &str) -> StoreResult<bool> {
        let conn = self.lock();
        conn.execute("DELETE FROM certfps WHERE account = ?1", [folded]).map_err(|e| e.to_string())?;
        let n = conn.execute("DELETE FROM accounts WHERE folded = ?1", [folded]).map_err(|e| e.to_string())?;
        Ok(n > 0)
    }

    /// Links a certificate fingerprint to an account that has fewer than `max`
    /// (checked and inserted under one lock, so concurrent adds cannot pass it).
    fn add_certfp(&self, folded: &str, fp: &str, max: usize) -> StoreResult<CertfpAdd> {
        let mut conn = self.lock();
        let e = |e: rusqlite::Error| e.to_string();
        // One write transaction, so another process (the admin CLI) cannot
        // pass the check between the count and the insert either.
        let tx = super::write_tx(&mut conn).map_err(e)?;
        let owner: Option<String> =
            tx.query_row("SELECT account FROM certfps WHERE fp = ?1", [fp], |r| r.get(0)).optional().map_err(e)?;
        match owner {
            Some(o) if o == folded => return Ok(CertfpAdd::Already),
            Some(_) => return Ok(CertfpAdd::Taken),
            None => {}
        }
        let count: i64 =
            tx.query_row("SELECT COUNT(*) FROM certfps WHERE account = ?1", [folded], |r| r.get(0)).map_err(e)?;
        if count as usize >= max {
            return Ok(CertfpAdd::Full);
        }
        tx.execute("INSERT INTO certfps (fp, account) VALUES (?1, ?2)", params![fp, folded]).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(CertfpAdd::Added)
    }

    /// Unlinks a fingerprint from an account; false if it was not linked to it.
    fn remove_certfp(&self, folded: &str, fp: &str) -> StoreResult<bool> {
        let n = self
            .lock()
            .execute("DELETE FROM certfps WHERE fp = ?1 AND account = ?2", params![fp, folded])
            .map_err(|e| e.to_string())?;
        Ok(n > 0)
    }

    /// The fingerprints linked to an account, sorted.
    fn certfps(&self, folded: &str) -> StoreResult<Vec<String>> {
        let conn = self.lock();
        let mut st =
            conn.prepare("SELECT fp FROM certfps WHERE account = ?1 ORDER BY fp").map_err(|e| e.to_string())?;
        let rows = st.query_map([folded], |r| r.get(0)).map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
    }

    /// The account (name as registered) a fingerprint is linked to.
    fn account_for_certfp(&self, fp: &str) -> StoreResult<Option<String>> {
        self.lock()
            .query_row(
                "SELECT a.name FROM certfps c JOIN accounts a ON a.folded = c.account WHERE c.fp = ?1",
                [fp],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| e.to_string())
    }

    /// Records a login time.
    fn touch(&self, folded: &str, when: i64) -> StoreResult<()> {
        self.lock()
            .execute("UPDATE accounts SET last_seen = ?2 WHERE folded = ?1", params![folded, when])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Every account, by name.
    fn list(&self) -> StoreResult<Vec<AccountSummary>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT name, created_at, last_seen, email FROM accounts ORDER BY folded")
            .map_err(|e| e.to_string())?;
        let rows =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
    }

    fn set_multiclient(&self, folded: &str, on: bool) -> StoreResult<bool> {
        self.lock()
            .execute("UPDATE accounts SET multiclient_off = ?2 WHERE folded = ?1", params![folded, !on])
            .map(|n| n > 0)
            .map_err(|e| e.to_string())
    }

    fn multiclient_off(&self) -> StoreResult<Vec<String>> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare("SELECT folded FROM accounts WHERE multiclient_off != 0").map_err(|e| e.to_string())?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::password::ScramKeys;

    fn row(name: &str) -> AccountRow {
        AccountRow {
            name: name.into(),
            password_hash: "$argon2id$x".into(),
            scram: ScramKeys { salt: vec![1], iterations: 4096, stored_key: vec![2], server_key: vec![3] },
            email: None,
            created_at: 1,
            last_seen: None,
        }
    }

    #[test]
    fn insert_get_unique_delete() {
        let s = SqliteAccounts::memory().unwrap();
        assert!(s.insert("alice", &row("Alice")).unwrap());
        assert!(!s.insert("alice", &row("ALICE")).unwrap());
        assert_eq!(s.get("alice").unwrap().unwrap().name, "Alice");
        assert_eq!(s.list().unwrap().len(), 1);
        assert!(s.delete("alice").unwrap());
        assert!(s.get("alice").unwrap().is_none());
    }

    #[test]
    fn certfps_belong_to_one_account_and_go_with_it() {
        let s = SqliteAccounts::memory().unwrap();
        s.insert("ann", &row("Ann")).unwrap();
        s.insert("ben", &row("Ben")).unwrap();
        assert_eq!(s.add_certfp("ann", "aa11", 2).unwrap(), CertfpAdd::Added);
        assert_eq!(s.add_certfp("ann", "aa11", 2).unwrap(), CertfpAdd::Already);
        assert_eq!(s.add_certfp("ben", "aa11", 2).unwrap(), CertfpAdd::Taken);
        assert_eq!(s.add_certfp("ann", "bb22", 2).unwrap(), CertfpAdd::Added);
        assert_eq!(s.add_certfp("ann", "cc33", 2).unwrap(), CertfpAdd::Full);
        assert!(s.remove_certfp("ann", "bb22").unwrap());
        assert_eq!(s.account_for_certfp("aa11").unwrap(), Some("Ann".into()));
        assert_eq!(s.certfps("ann").unwrap(), ["aa11"]);
        assert!(!s.remove_certfp("ben", "aa11").unwrap());
        assert!(s.delete("ann").unwrap());
        assert_eq!(s.account_for_certfp("aa11").unwrap(), None);
        assert_eq!(s.add_certfp("ben", "aa11", 2).unwrap(), CertfpAdd::Added);
        assert!(s.remove_certfp("ben", "aa11").unwrap());
        assert!(s.certfps("ben").unwrap().is_empty());
    }

    #[test]
    fn reopen_keeps_schema() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SqliteAccounts::open(dir.path()).unwrap();
            s.insert("bob", &row("bob")).unwrap();
        }
        let s = SqliteAccounts::open(dir.path()).unwrap();
        assert!(s.get("bob").unwrap().is_some());
    }
}
