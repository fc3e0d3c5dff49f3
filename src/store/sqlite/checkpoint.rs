//! WAL checkpoints of `history.db` off the history writer's thread.
//!
//! A checkpoint copies the WAL's pages into the database file and syncs both
//! (`synchronous=NORMAL` syncs only there). Run by the writer, as SQLite's
//! automatic checkpoint does after a commit, those syncs held the writer for
//! 70–150 ms every 32 MiB of WAL on the test machine, long enough for a busy
//! server's queue to overflow and drop rows. Here a thread of its own runs a
//! passive checkpoint (which never blocks the writer) every
//! [`INTERVAL`]; the writer's own automatic checkpoint stays as a safety valve
//! at a much larger WAL ([`VALVE_PAGES`]).
//!
//! A passive checkpoint alone never lets the WAL start over on a busy server:
//! SQLite rewinds the WAL only when a checkpoint has copied every frame, and
//! new commits keep arriving while one runs. The WAL then grew by every
//! commit (22 MB/s at 50×20 fan-out), each frame written to a new part of the
//! file, which the kernel must allocate and zero (a tenth of banterd's CPU in
//! `perf`). So once the WAL holds [`RESTART_FRAMES`], a passive checkpoint
//! (which copies nearly everything without holding the writer) is followed by
//! a `RESTART` one: it holds the writer only while it copies the few frames
//! committed meanwhile, and the next commit writes from the WAL's start again,
//! over pages the kernel already holds. The WAL stays about as large as
//! [`INTERVAL`]'s worth of commits.

use rusqlite::Connection;
use std::sync::mpsc;
use std::time::Duration;

/// How often the checkpointer runs.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// WAL pages after which the writer checkpoints itself (256 MiB of 4 KiB pages).
pub const VALVE_PAGES: i64 = 65_536;
/// WAL frames past which a checkpoint rewinds the WAL (16 MiB of 4 KiB pages).
pub const RESTART_FRAMES: i64 = 4096;
/// Longest a rewinding checkpoint waits for the writer's transaction or a
/// reader; past it, it gives up until the next turn.
const RESTART_WAIT: Duration = Duration::from_millis(250);

/// The running checkpointer; dropping it stops the thread.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database `conn` is open on (its own connection).
    pub fn start(conn: Connection) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        conn.busy_timeout(RESTART_WAIT).map_err(std::io::Error::other)?;
        std::thread::Builder::new().name("history-checkpoint".into()).spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                let done = checkpoint(&conn, "PASSIVE").and_then(|(_, log, _)| match log >= RESTART_FRAMES {
                    true => checkpoint(&conn, "RESTART").map(|_| ()),
                    false => Ok(()),
                });
                if let Err(e) = done {
                    tracing::warn!(error = %e, "history.db checkpoint failed (the writer checkpoints instead)");
                }
            }
        })?;
        Ok(Checkpointer { _stop: stop })
    }
}

/// Runs a checkpoint of `mode`; SQLite's answer: (busy, frames in the WAL,
/// frames copied).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}
