//! The PostgreSQL engine (`[store] url = "postgres://..."`): one database
//! shared by every node of a cluster, with the SQLite engine's tables,
//! queries and versioned migrations in PostgreSQL's dialect.
//!
//! Calls block, like every [`Store`] call: they run on the blocking pool,
//! the committer thread or the history writer thread, each on a pooled
//! connection (`pool`). Two pools: one for accounts and channels (every
//! commit durable before it returns, `synchronous_commit = on`), one for
//! history (written with `synchronous_commit = off`: a crash of banterd loses
//! no committed batch, a crash of the database server may lose the last
//! fraction of a second, like `history.db`'s `synchronous=NORMAL`).
//! Uniqueness of names is the database's (primary keys), and other
//! processes' changes arrive by LISTEN/NOTIFY (`notify`).

mod accounts;
mod channels;
mod history;
mod notify;
pub mod pool;
pub mod schema;

use super::copy::{Table, Value, TABLES};
use super::history::{Op, Query, Retention, Scope, Stored};
use super::{Change, ChangeOutcome, ChannelChange, ChannelRecord, Store, StoreResult};
use pool::{error_text, Pool};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The PostgreSQL store.
pub struct Postgres {
    /// Accounts and channels.
    main: Arc<Pool>,
    /// History (writes and reads).
    history: Pool,
    /// This process's id in change notices.
    node: u64,
}

impl Postgres {
    /// Connects to `url` and migrates the schema. Errors name the URL without
    /// its password.
    pub fn open(url: &str) -> StoreResult<Postgres> {
        let main = Pool::new(url, "")?;
        let mut conn = main.connect()?;
        schema::migrate(&mut conn.client, main.shown())?;
        main.put(conn);
        let history = Pool::new(url, "SET synchronous_commit = off")?;
        Ok(Postgres { main: Arc::new(main), history, node: rand::random() })
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        self.main.shown()
    }
}

impl Store for Postgres {
    fn load_channels(&self) -> StoreResult<Vec<ChannelRecord>> {
        self.main.run(|c| channels::load(&mut c.client, None))
    }

    fn load_channel(&self, folded: &str) -> StoreResult<Option<ChannelRecord>> {
        self.main.run(|c| Ok(channels::load(&mut c.client, Some(folded))?.pop()))
    }

    fn apply_channel_changes(&self, changes: &[ChannelChange]) -> StoreResult<Vec<ChangeOutcome>> {
        let node = self.node;
        self.main.run(|c| {
            let (client, mut st) = c.parts();
            let mut tx = client.transaction()?;
            channels::lock(&mut tx, &mut st, changes)?;
            let mut out = Vec::with_capacity(changes.len());
            for change in changes {
                out.push(channels::apply(&mut tx, &mut st, node, change)?);
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn forget_log_positions(&self) -> StoreResult<()> {
        let sql = crate::store::FORGET_LOG_POSITIONS;
        self.main.run(|c| c.parts().0.batch_execute(sql))
    }

    fn write_history(&self, ops: &[Op]) -> StoreResult<usize> {
        self.history.run(|c| {
            let (client, mut st) = c.parts();
            let mut tx = client.transaction()?;
            let n = history::write(&mut tx, &mut st, ops)?;
            tx.commit()?;
            Ok(n)
        })
    }

    fn select_history(&self, scope: &Scope, query: &Query, events: bool) -> StoreResult<Vec<Stored>> {
        self.history.run(|c| {
            let (client, st) = c.parts();
            history::select(&mut history::Reader { c: client, st }, scope, query, events)
        })
    }

    fn find_message(&self, scope: &Scope, msgid: &str) -> StoreResult<Option<Stored>> {
        self.history.run(|c| {
            let (client, st) = c.parts();
            history::find(&mut history::Reader { c: client, st }, scope, msgid)
        })
    }

    fn latest_message(&self, target: &str, events: bool) -> StoreResult<Option<i64>> {
        self.history.run(|c| {
            let (client, st) = c.parts();
            history::latest(&mut history::Reader { c: client, st }, target, events)
        })
    }

    fn conversations(
        &self,
        party: &str,
        events: bool,
        from: i64,
        to: i64,
        limit: usize,
    ) -> StoreResult<Vec<(String, i64)>> {
        self.history.run(|c| {
            let (client, st) = c.parts();
            history::conversations(&mut history::Reader { c: client, st }, party, events, from, to, limit)
        })
    }

    fn markers(&self, who: &str) -> StoreResult<Vec<(String, i64)>> {
        self.history.run(|c| {
            let (client, st) = c.parts();
            history::markers(&mut history::Reader { c: client, st }, who)
        })
    }

    fn prune_history(&self, policy: &Retention, now_ms: i64, chunk: usize) -> StoreResult<usize> {
        self.history.run(|c| {
            let mut tx = c.client.transaction()?;
            let n = history::prune(&mut tx, policy, now_ms, chunk)?;
            tx.commit()?;
            Ok(n)
        })
    }

    /// A PostgreSQL store is backed up as SQLite files (`banter.db`,
    /// `history.db`) written from one snapshot of the database: the same
    /// files a data dir holds, readable by `banterd store copy` to restore.
    fn backup(&self, out_dir: &Path) -> StoreResult<Vec<PathBuf>> {
        let files: Vec<PathBuf> =
            [super::sqlite::MAIN_FILE, super::sqlite::HISTORY_FILE].iter().map(|f| out_dir.join(f)).collect();
        if let Some(f) = files.iter().find(|f| f.exists()) {
            return Err(format!("{} exists already; back up into an empty directory", f.display()));
        }
        let target = super::sqlite::Sqlite::open(out_dir)?;
        super::copy::copy(self, &target)?;
        Ok(files)
    }

    fn export(&self, each: &mut dyn FnMut(&'static Table, Vec<Value>) -> StoreResult<()>) -> StoreResult<()> {
        let mut conn = self.main.connect()?;
        let shown = self.shown().to_owned();
        let e = |e: postgres::Error| format!("{shown}: {}", error_text(&e));
        // One snapshot for every table.
        let mut tx = conn
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(e)?;
        for table in TABLES {
            let sql = format!("SELECT {} FROM {}", table.columns.join(", "), table.name);
            let none: [&str; 0] = [];
            let mut rows = tx.query_raw(sql.as_str(), none).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let mut row = Vec::with_capacity(table.columns.len());
                for (i, col) in r.columns().iter().enumerate() {
                    let v = match *col.type_() {
                        Type::INT8 => r.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int),
                        Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map_or(Value::Null, Value::Blob),
                        _ => r.get::<_, Option<String>>(i).map_or(Value::Null, Value::Text),
                    };
                    row.push(v);
                }
                each(table, row)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    fn import(&self, table: &Table, rows: &[Vec<Value>]) -> StoreResult<()> {
        let shown = self.shown().to_owned();
        let mut conn = self.main.connect()?;
        let e = |e: postgres::Error| format!("{shown}: importing {}: {}", table.name, error_text(&e));
        let cols = table.columns.join(", ");
        let types: Vec<Type> = conn
            .client
            .prepare(&format!("SELECT {cols} FROM {}", table.name))
            .map_err(e)?
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        let mut tx = conn.client.transaction().map_err(e)?;
        {
            let sink = tx.copy_in(&format!("COPY {} ({cols}) FROM STDIN (FORMAT binary)", table.name)).map_err(e)?;
            let mut writer = BinaryCopyInWriter::new(sink, &types);
            for row in rows {
                let values: Vec<&(dyn ToSql + Sync)> = row.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                writer.write(&values).map_err(e)?;
            }
            writer.finish().map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    fn finish_import(&self) -> StoreResult<()> {
        self.main.run(|c| {
            c.client.execute(
                "SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT COALESCE(max(id), 0) + 1 FROM messages), false)",
                &[],
            )?;
            Ok(())
        })
    }

    fn is_empty(&self) -> StoreResult<bool> {
        self.main.run(|c| {
            let r = c.client.query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM accounts) AND NOT EXISTS (SELECT 1 FROM channels)
                    AND NOT EXISTS (SELECT 1 FROM messages) AND NOT EXISTS (SELECT 1 FROM markers)",
                &[],
            )?;
            Ok(r.get(0))
        })
    }

    fn identity(&self) -> StoreResult<String> {
        let id: String = self.main.run(|c| Ok(c.client.query_one("SELECT id FROM store_identity", &[])?.get(0)))?;
        Ok(format!("PostgreSQL {id}"))
    }

    fn watch(&self, on_change: Box<dyn Fn(Change) + Send + Sync>) -> bool {
        notify::listen(self.main.clone(), self.node, on_change);
        true
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => i.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}
