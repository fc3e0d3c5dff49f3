//! Password hashing behind one global limit.
//!
//! An argon2id hash at the default cost holds about 19 MiB and a core for tens
//! of milliseconds. Hashed on tokio's blocking pool without a limit, a burst of
//! REGISTERs ran as many hashes at once as it had requests (128 at once: +1.2
//! GiB and 96 threads, and everyone's login waited behind them). Here at most
//! `accounts.hash_threads` hashes run at once, at most `accounts.hash_queue`
//! more wait for a thread, and one address has at most one hash running or
//! waiting: anything beyond is refused at once ([`Busy`]) and the client is told
//! to try again, instead of queueing without bound.

use crate::state::ipkey::IpKey;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Why a hash was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Every hashing thread is busy and the queue is full.
    Full,
    /// The address already has a hash running or waiting.
    Address,
}

/// The global hashing limit.
#[derive(Debug)]
pub struct HashPool {
    threads: Arc<Semaphore>,
    thread_count: usize,
    queue: usize,
    waiting: AtomicUsize,
    addresses: Arc<Mutex<HashSet<IpKey>>>,
}

/// An address's place while its hash runs or waits; given back on drop.
struct AddressSlot {
    set: Arc<Mutex<HashSet<IpKey>>>,
    key: IpKey,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}

/// A place in the queue; given back on drop (also when the waiting future is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HashPool {
    /// `threads` hashes at once (0: one per core), `queue` more waiting.
    pub fn new(threads: usize, queue: usize) -> HashPool {
        let thread_count = resolve_threads(threads);
        HashPool {
            threads: Arc::new(Semaphore::new(thread_count)),
            thread_count,
            queue,
            waiting: AtomicUsize::new(0),
            addresses: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// How many hashes may run at once.
    pub fn thread_count(&self) -> usize {
        self.thread_count
    }

    /// Runs `work` (a hash or a verification) on the blocking pool once a
    /// hashing thread is free. `from` is the address that asked (`None` for
    /// exempt addresses): it may have one hash running or waiting at a time.
    /// The thread and the address stay taken until `work` ends, even if the
    /// caller stops waiting.
    pub async fn run<T: Send + 'static>(
        &self,
        from: Option<IpKey>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let slot = match from {
            Some(key) => {
                if !self.addresses.lock().unwrap_or_else(|e| e.into_inner()).insert(key) {
                    return Err(Busy::Address);
                }
                Some(AddressSlot { set: self.addresses.clone(), key })
            }
            None => None,
        };
        let permit = match self.threads.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    return Err(Busy::Full);
                }
                let _waiting = Waiting(&self.waiting);
                self.threads.clone().acquire_owned().await.map_err(|_| Busy::Full)?
            }
        };
        tokio::task::spawn_blocking(move || {
            // Both held until `work` ends.
            let (_permit, slot) = (permit, slot);
            // With its thread taken: what a trace of a busy pool shows first.
            match &slot {
                Some(s) => tracing::debug!(from = %s.key, "password hashing started"),
                None => tracing::debug!(from = "exempt", "password hashing started"),
            }
            work()
        })
        .await
        .map_err(|_| Busy::Full)
    }
}

/// Threads of tokio's blocking pool for `config` (`server.blocking_threads`,
/// or the hashing threads plus 8 for database calls).
pub fn blocking_threads(config: &crate::config::Config) -> usize {
    match config.server.blocking_threads {
        0 => resolve_threads(config.accounts.hash_threads) + 8,
        n => n,
    }
}

/// `accounts.hash_threads`, with 0 meaning one per core.
fn resolve_threads(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(i: u8) -> Option<IpKey> {
        Some(IpKey::new([192, 0, 2, i].into(), 64))
    }

    #[tokio::test]
    async fn one_per_address_and_a_bounded_queue() {
        let pool = Arc::new(HashPool::new(1, 1));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        // One running (blocked until told), one waiting.
        let spawn = |from, rx: Arc<Mutex<std::sync::mpsc::Receiver<()>>>| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(from, move || rx.lock().unwrap().recv().is_ok()).await })
        };
        let running = spawn(key(1), rx.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting = spawn(key(2), rx.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The same address again, and a third address with the queue full: refused at once.
        assert_eq!(pool.run(key(1), || true).await, Err(Busy::Address));
        assert_eq!(pool.run(key(3), || true).await, Err(Busy::Full));
        assert_eq!(pool.run(None, || true).await, Err(Busy::Full));
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(true));
        assert_eq!(waiting.await.unwrap(), Ok(true));
        // Everything given back.
        assert_eq!(pool.run(key(1), || 7).await, Ok(7));
        assert_eq!(pool.waiting.load(Ordering::Relaxed), 0);
    }
}
