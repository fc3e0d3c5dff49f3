//! WAL checkpoints of `history.db` off the history writer's thread.
//!
//! A checkpoint copies the WAL's pages into the database file and syncs both
//! (`synchronous=NORMAL` syncs only there). Run by the writer, as SQLite's
//! automatic checkpoint does after a commit, those syncs held the writer for
//! 70–150 ms every 32 MiB of WAL on the test machine, long enough for a busy
//! server's queue to overflow and drop rows. Here a thread of its own runs a
//! passive checkpoint (which never blocks the writer) every
//! [`INTERVAL`]; the writer's own automatic checkpoint stays as a safety valve
//! at a much larger WAL ([`VALVE_PAGES`]), for when the WAL cannot be reset
//! because new frames keep arriving while a checkpoint runs.

use rusqlite::Connection;
use std::sync::mpsc;
use std::time::Duration;

/// How often the checkpointer runs.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// WAL pages after which the writer checkpoints itself (256 MiB of 4 KiB pages).
pub const VALVE_PAGES: i64 = 65_536;

/// The running checkpointer; dropping it stops the thread.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database `conn` is open on (its own connection).
    pub fn start(conn: Connection) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new().name("history-checkpoint".into()).spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                });
                if let Err(e) = done {
                    tracing::warn!(error = %e, "history.db checkpoint failed (the writer checkpoints instead)");
                }
            }
        })?;
        Ok(Checkpointer { _stop: stop })
    }
}
