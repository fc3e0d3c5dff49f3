//! The one ordered path for persistent channel changes.
//!
//! A handler that changes a persistent channel submits the change here while
//! the channel's state is locked (so changes reach the queue in the order they
//! were made) and gets an [`Ack`]; the command's reply waits for it. One thread
//! drains the queue: everything waiting goes into one transaction (group
//! commit under load), then every submitter hears the outcome.

use super::{ChangeOutcome, ChannelChange, Store, StoreResult};
use std::sync::mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

/// The outcome of a submitted change, once committed (or failed).
pub type Ack = oneshot::Receiver<StoreResult<ChangeOutcome>>;

type Job = (ChannelChange, oneshot::Sender<StoreResult<ChangeOutcome>>);

/// Most changes committed in one transaction.
const MAX_GROUP: usize = 256;

/// The committer thread's queue.
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the thread that writes to `store`.
    pub fn start(store: Arc<dyn Store>) -> Committer {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("channel-commit".into())
            .spawn(move || run(store, rx))
            .expect("spawn the channel committer");
        Committer { tx }
    }

    /// Queues `change`; the returned [`Ack`] resolves once it is committed.
    pub fn submit(&self, change: ChannelChange) -> Ack {
        let (done, ack) = oneshot::channel();
        if let Err(mpsc::SendError((_, done))) = self.tx.send((change, done)) {
            let _ = done.send(Err("the channel store has stopped".into()));
        }
        ack
    }
}

fn run(store: Arc<dyn Store>, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (changes, waiting): (Vec<ChannelChange>, Vec<_>) = jobs.into_iter().unzip();
        let started = std::time::Instant::now();
        let result = store.apply_channel_changes(&changes);
        crate::metrics::METRICS.channel_commit.observe(started.elapsed());
        match result {
            Ok(outcomes) => {
                for (done, outcome) in waiting.into_iter().zip(outcomes) {
                    let _ = done.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, changes = changes.len(), "saving channels failed");
                for done in waiting {
                    let _ = done.send(Err(e.clone()));
                }
            }
        }
    }
}
