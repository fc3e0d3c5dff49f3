//! Rows out of and into the SQLite files, for `store::copy`.

use crate::store::copy::{Table, Value};
use crate::store::StoreResult;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// Reads every row of `table` on `conn` (inside the caller's read transaction).
pub fn export(
    conn: &Connection,
    table: &'static Table,
    each: &mut dyn FnMut(&'static Table, Vec<Value>) -> StoreResult<()>,
) -> StoreResult<()> {
    let e = |e: rusqlite::Error| format!("reading {}: {e}", table.name);
    let sql = format!("SELECT {} FROM {}", table.columns.join(", "), table.name);
    let mut st = conn.prepare(&sql).map_err(e)?;
    let mut rows = st.query([]).map_err(e)?;
    while let Some(r) = rows.next().map_err(e)? {
        let mut row = Vec::with_capacity(table.columns.len());
        for i in 0..table.columns.len() {
            row.push(match r.get_ref(i).map_err(e)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::Int(n),
                ValueRef::Real(f) => Value::Int(f as i64),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        each(table, row)?;
    }
    if table.name == "messages" {
        // Packed rows leave as the one-row-per-message form every engine reads.
        super::packs::export(conn, table, each)?;
    }
    Ok(())
}

/// Writes `rows` into `table` in one transaction.
pub fn import(conn: &mut Connection, table: &Table, rows: &[Vec<Value>]) -> StoreResult<()> {
    let e = |e: rusqlite::Error| format!("writing {}: {e}", table.name);
    let tx = super::write_tx(conn).map_err(e)?;
    {
        let marks: Vec<String> = (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", table.name, table.columns.join(", "), marks.join(", "));
        let mut st = tx.prepare(&sql).map_err(e)?;
        for row in rows {
            let values = row.iter().map(|v| match v {
                Value::Null => rusqlite::types::Value::Null,
                Value::Int(n) => rusqlite::types::Value::Integer(*n),
                Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
                Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
            });
            st.execute(rusqlite::params_from_iter(values)).map_err(e)?;
        }
    }
    tx.commit().map_err(e)
}

/// Whether the store holds no account, channel, message or marker.
pub fn is_empty(main: &Connection, history: &Connection) -> StoreResult<bool> {
    let none = |c: &Connection, table: &str| -> StoreResult<bool> {
        c.query_row(&format!("SELECT NOT EXISTS (SELECT 1 FROM {table})"), [], |r| r.get(0))
            .map_err(|e| format!("{table}: {e}"))
    };
    Ok(none(main, "accounts")?
        && none(main, "channels")?
        && none(history, "messages")?
        && none(history, "packs")?
        && none(history, "markers")?)
}
