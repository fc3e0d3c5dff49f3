//! Cache invalidation between processes sharing one database: LISTEN/NOTIFY.
//!
//! A transaction that creates or deletes an account, or changes a persistent
//! channel, sends `NOTIFY banter_changes, '<node> <a|c> <folded name>'`
//! (delivered only when it commits). Each banterd listens on its own
//! connection and re-reads what changed, skipping its own notices (`node` is
//! random per process). [`listen`] returns once the first LISTEN is in place
//! (the caller then reads again what changed since it read the store at
//! start-up). After the listening connection is made again, the listener
//! reports [`Change::Resync`]: notices sent while it was away are lost, so
//! the caches are read again in full.

use super::pool::Pool;
use crate::store::Change;
use postgres::fallible_iterator::FallibleIterator;
use std::sync::Arc;
use std::time::Duration;

/// The channel name.
pub const CHANNEL: &str = "banter_changes";

/// What changed.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// An account was created or deleted.
    Account,
    /// A persistent channel was saved or deleted.
    Channel,
}

/// Sends a change notice inside `tx` (delivered when it commits).
pub fn send(tx: &mut postgres::Transaction<'_>, node: u64, kind: Kind, folded: &str) -> Result<(), postgres::Error> {
    let letter = match kind {
        Kind::Account => 'a',
        Kind::Channel => 'c',
    };
    let payload = format!("{node:016x} {letter} {folded}");
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
    Ok(())
}

/// Parses a notice; `None` for our own or a malformed one.
fn parse(payload: &str, node: u64) -> Option<Change> {
    let (from, rest) = payload.split_once(' ')?;
    if u64::from_str_radix(from, 16).ok()? == node {
        return None;
    }
    match rest.split_once(' ')? {
        ("a", name) => Some(Change::Account(name.to_owned())),
        ("c", name) => Some(Change::Channel(name.to_owned())),
        _ => None,
    }
}

/// How long [`listen`] waits for its first LISTEN before returning anyway
/// (the database away at that moment: the listener goes on trying).
const FIRST_LISTEN: Duration = Duration::from_secs(10);

/// Starts the listener thread: `on_change` hears every other process's
/// changes, and [`Change::Resync`] after each reconnection. Returns once it
/// listens (or after [`FIRST_LISTEN`]), so that what other processes change
/// from then on is heard.
pub fn listen(pool: Arc<Pool>, node: u64, on_change: Box<dyn Fn(Change) + Send + Sync>) {
    let (ready, listening) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("store-listen".into()).spawn(move || {
        let mut delay = Duration::from_millis(250);
        let mut first = true;
        loop {
            let mut conn = match pool.connect() {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "change listener: cannot connect; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            if let Err(e) = conn.client.batch_execute(&format!("LISTEN {CHANNEL}")) {
                tracing::warn!(error = %e, "change listener: LISTEN failed; retrying");
                std::thread::sleep(delay);
                continue;
            }
            delay = Duration::from_millis(250);
            if first {
                let _ = ready.send(());
                first = false;
            } else {
                tracing::info!("change listener: reconnected; reloading cached names");
                on_change(Change::Resync);
            }
            let mut notices = conn.client.notifications();
            let mut it = notices.blocking_iter();
            loop {
                match it.next() {
                    Ok(Some(n)) => {
                        if let Some(change) = parse(n.payload(), node) {
                            on_change(change);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "change listener: connection lost; reconnecting");
                        break;
                    }
                }
            }
        }
    });
    match spawned {
        Ok(_) => {
            if listening.recv_timeout(FIRST_LISTEN).is_err() {
                tracing::warn!("change listener: not listening yet; changes by other processes may arrive late");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot start the change listener"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse_and_our_own_are_skipped() {
        assert!(matches!(parse("00000000000000ff a bob", 1), Some(Change::Account(n)) if n == "bob"));
        assert!(matches!(parse("00000000000000ff c #x", 1), Some(Change::Channel(n)) if n == "#x"));
        assert!(parse("00000000000000ff a bob", 255).is_none());
        assert!(parse("junk", 1).is_none());
    }
}
