//! Accounts and certificate fingerprints in PostgreSQL. A name is taken by
//! the primary key (`INSERT ... ON CONFLICT DO NOTHING`): of two nodes
//! registering one name at once, exactly one inserts it. Changes notify the
//! other processes (see `notify`).

use super::notify::{self, Kind};
use super::Postgres;
use crate::accounts::password::ScramKeys;
use crate::store::accounts::{AccountRow, AccountStore, AccountSummary, CertfpAdd};
use crate::store::StoreResult;

fn row_of(r: &postgres::Row) -> AccountRow {
    AccountRow {
        name: r.get(0),
        password_hash: r.get(1),
        scram: ScramKeys {
            salt: r.get(2),
            iterations: u32::try_from(r.get::<_, i64>(3)).unwrap_or(0),
            stored_key: r.get(4),
            server_key: r.get(5),
        },
        email: r.get(6),
        created_at: r.get(7),
        last_seen: r.get(8),
    }
}

impl AccountStore for Postgres {
    fn insert(&self, folded: &str, row: &AccountRow) -> StoreResult<bool> {
        let node = self.node;
        self.main.run(|c| {
            let (client, mut st) = c.parts();
            let mut tx = client.transaction()?;
            let sql = "INSERT INTO accounts (folded, name, password_hash, scram_salt, scram_iterations,
                         scram_stored_key, scram_server_key, email, created_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (folded) DO NOTHING";
            let s = st.get(&mut tx, sql)?;
            let n = tx.execute(
                &s,
                &[
                    &folded,
                    &row.name,
                    &row.password_hash,
                    &row.scram.salt,
                    &i64::from(row.scram.iterations),
                    &row.scram.stored_key,
                    &row.scram.server_key,
                    &row.email,
                    &row.created_at,
                ],
            )?;
            if n > 0 {
                notify::send(&mut tx, node, Kind::Account, folded)?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn get(&self, folded: &str) -> StoreResult<Option<AccountRow>> {
        self.main.run(|c| {
            let s = c.prep(
                "SELECT name, password_hash, scram_salt, scram_iterations, scram_stored_key,
                        scram_server_key, email, created_at, last_seen
                 FROM accounts WHERE folded = $1",
            )?;
            Ok(c.client.query_opt(&s, &[&folded])?.as_ref().map(row_of))
        })
    }

    fn set_password(&self, folded: &str, hash: &str, scram: &ScramKeys) -> StoreResult<bool> {
        self.main.run(|c| {
            let s = c.prep(
                "UPDATE accounts SET password_hash = $2, scram_salt = $3, scram_iterations = $4,
                   scram_stored_key = $5, scram_server_key = $6 WHERE folded = $1",
            )?;
            let it = i64::from(scram.iterations);
            let n = c.client.execute(&s, &[&folded, &hash, &scram.salt, &it, &scram.stored_key, &scram.server_key])?;
            Ok(n > 0)
        })
    }

    fn set_scram(&self, folded: &str, scram: &ScramKeys) -> StoreResult<()> {
        self.main.run(|c| {
            let s = c.prep(
                "UPDATE accounts SET scram_salt = $2, scram_iterations = $3, scram_stored_key = $4,
                   scram_server_key = $5 WHERE folded = $1",
            )?;
            let it = i64::from(scram.iterations);
            c.client.execute(&s, &[&folded, &scram.salt, &it, &scram.stored_key, &scram.server_key])?;
            Ok(())
        })
    }

    fn clear_scram(&self) -> StoreResult<usize> {
        self.main.run(|c| {
            let n = c.client.execute(
                "UPDATE accounts SET scram_salt = '\\x', scram_iterations = 0, scram_stored_key = '\\x',
                   scram_server_key = '\\x' WHERE scram_iterations != 0",
                &[],
            )?;
            Ok(n as usize)
        })
    }

    fn delete(&self, folded: &str) -> StoreResult<bool> {
        let node = self.node;
        self.main.run(|c| {
            let mut tx = c.client.transaction()?;
            tx.execute("DELETE FROM certfps WHERE account = $1", &[&folded])?;
            let n = tx.execute("DELETE FROM accounts WHERE folded = $1", &[&folded])?;
            if n > 0 {
                notify::send(&mut tx, node, Kind::Account, folded)?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn add_certfp(&self, folded: &str, fp: &str, max: usize) -> StoreResult<CertfpAdd> {
        self.main.run(|c| {
            let mut tx = c.client.transaction()?;
            // The account's row is locked: concurrent adds to it (from any node)
            // take turns, so the count cannot pass `max`.
            tx.execute("SELECT 1 FROM accounts WHERE folded = $1 FOR UPDATE", &[&folded])?;
            let owner: Option<String> =
                tx.query_opt("SELECT account FROM certfps WHERE fp = $1", &[&fp])?.map(|r| r.get(0));
            match owner {
                Some(o) if o == folded => return Ok(CertfpAdd::Already),
                Some(_) => return Ok(CertfpAdd::Taken),
                None => {}
            }
            let count: i64 = tx.query_one("SELECT count(*) FROM certfps WHERE account = $1", &[&folded])?.get(0);
            if count as usize >= max {
                return Ok(CertfpAdd::Full);
            }
            let n = tx.execute(
                "INSERT INTO certfps (fp, account) VALUES ($1, $2) ON CONFLICT (fp) DO NOTHING",
                &[&fp, &folded],
            )?;
            tx.commit()?;
            Ok(if n > 0 { CertfpAdd::Added } else { CertfpAdd::Taken })
        })
    }

    fn remove_certfp(&self, folded: &str, fp: &str) -> StoreResult<bool> {
        self.main.run(|c| {
            let n = c.client.execute("DELETE FROM certfps WHERE fp = $1 AND account = $2", &[&fp, &folded])?;
            Ok(n > 0)
        })
    }

    fn certfps(&self, folded: &str) -> StoreResult<Vec<String>> {
        self.main.run(|c| {
            let s = c.prep("SELECT fp FROM certfps WHERE account = $1 ORDER BY fp")?;
            Ok(c.client.query(&s, &[&folded])?.iter().map(|r| r.get(0)).collect())
        })
    }

    fn account_for_certfp(&self, fp: &str) -> StoreResult<Option<String>> {
        self.main.run(|c| {
            let s = c.prep("SELECT a.name FROM certfps c JOIN accounts a ON a.folded = c.account WHERE c.fp = $1")?;
            Ok(c.client.query_opt(&s, &[&fp])?.map(|r| r.get(0)))
        })
    }

    fn touch(&self, folded: &str, when: i64) -> StoreResult<()> {
        self.main.run(|c| {
            let s = c.prep("UPDATE accounts SET last_seen = $2 WHERE folded = $1")?;
            c.client.execute(&s, &[&folded, &when])?;
            Ok(())
        })
    }

    fn set_multiclient(&self, folded: &str, on: bool) -> StoreResult<bool> {
        self.main.run(|c| {
            let off = i64::from(!on);
            let n = c.client.execute("UPDATE accounts SET multiclient_off = $2 WHERE folded = $1", &[&folded, &off])?;
            Ok(n > 0)
        })
    }

    fn multiclient_off(&self) -> StoreResult<Vec<String>> {
        self.main.run(|c| {
            let rows = c.client.query("SELECT folded FROM accounts WHERE multiclient_off != 0", &[])?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn list(&self) -> StoreResult<Vec<AccountSummary>> {
        self.main.run(|c| {
            let rows =
                c.client.query("SELECT name, created_at, last_seen, email FROM accounts ORDER BY folded", &[])?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
        })
    }
}
