//! The history writer: one thread that drains a bounded queue of history
//! operations into the store in batched transactions, and prunes old history
//! in small chunks when it has time.
//!
//! Senders never wait: [`HistoryWriter::record`] is a counter check and a
//! channel send. While a batch fills, the writer sleeps until the batch's
//! deadline instead of waking for every row: a sender wakes it only when the
//! rows queued reach `batch_rows` or a reader waits in `sync` (a wake-up per
//! message cost the writer more CPU than committing the message, at low rates). When more rows are waiting than the queue holds, the row is
//! dropped, counted and logged (at most once a minute), and delivery goes on.
//! A batch is committed when it holds `batch_rows` rows or `batch_ms` after
//! its first row, whichever comes first: a `kill -9` loses at most the rows of
//! that window (plus any backlog). Readers that must see what was just sent
//! (CHATHISTORY, REDACT) call [`HistoryWriter::sync`], which commits at once
//! whatever is queued.
//!
//! When the store cannot reach its database ([`super::is_unreachable`]: the
//! PostgreSQL engine while the server is away), a batch is not lost: the
//! writer keeps it and tries again with back-off (0.25 s doubling to 10 s),
//! adding what arrives meanwhile; the queue bound still applies, so a long
//! outage drops (and counts) new rows rather than growing without end.
//! Readers waiting in `sync` are answered at once meanwhile.

use super::history::{Op, Retention, Row};
use super::record;
use super::Store;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How the writer batches and prunes.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Most rows in one transaction.
    pub batch_rows: usize,
    /// Longest a row waits for its batch to fill.
    pub batch_ms: u64,
    /// Most bytes of rows waiting (as [`Row::cost`] counts them); beyond it
    /// rows are dropped (counted).
    pub queue_bytes: usize,
    /// What is kept.
    pub retention: Retention,
}

/// Rows deleted per pruning transaction.
const PRUNE_CHUNK: usize = 500;
/// Idle time before a pruning step when the last one found nothing.
const PRUNE_IDLE: Duration = Duration::from_secs(1);
/// The first and longest wait before writing again to an unreachable database.
const RETRY: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(10));

enum Item {
    /// An operation, and what it counts against the queue bound (0 unless an insert).
    Op(Op, usize),
    /// Operations sent together, and what they count against the queue bound.
    Ops(Vec<Op>, usize),
    Sync(oneshot::Sender<()>),
}

/// Counters, for logs and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// Rows committed.
    pub written: AtomicU64,
    /// Transactions committed.
    pub batches: AtomicU64,
    /// Rows dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Rows lost to failed writes.
    pub failed: AtomicU64,
    /// Rows deleted by retention.
    pub pruned: AtomicU64,
    /// Microseconds spent in history transactions (the writer's busy time).
    pub busy_us: AtomicU64,
    /// Microseconds of CPU the writer thread used in those transactions (what
    /// a row costs, whatever else the machine is doing).
    pub cpu_us: AtomicU64,
}

/// CPU time this thread has used, in microseconds.
fn thread_cpu_us() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

struct Shared {
    /// Bytes of inserts queued and not yet committed (the bounded part).
    queued: AtomicUsize,
    /// Every row (or other operation) queued and not yet committed, as
    /// [`units`] counts them.
    outstanding: AtomicUsize,
    stats: Stats,
    settings: Mutex<Settings>,
    /// `settings.queue_bytes`, read on every row without taking the lock.
    queue_cap: AtomicUsize,
    /// `settings.batch_rows`: a sender wakes the writer when this many ops wait.
    batch_cap: AtomicUsize,
    last_drop_log: AtomicU64,
}

/// The sending side of the history writer.
pub struct HistoryWriter {
    tx: mpsc::Sender<Item>,
    shared: Arc<Shared>,
    /// The writer thread, woken by [`std::thread::Thread::unpark`].
    thread: std::thread::Thread,
    /// Whether the store takes channel rows packed ([`Store::packs_history`]).
    packs: bool,
}

impl HistoryWriter {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<dyn Store>, settings: Settings) -> HistoryWriter {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            outstanding: AtomicUsize::new(0),
            stats: Stats::default(),
            settings: Mutex::new(settings),
            queue_cap: AtomicUsize::new(settings.queue_bytes),
            batch_cap: AtomicUsize::new(settings.batch_rows.max(1)),
            last_drop_log: AtomicU64::new(0),
        });
        let s = shared.clone();
        let packs = store.packs_history();
        let handle = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || run(store, rx, s))
            .expect("spawn the history writer");
        HistoryWriter { tx, shared, thread: handle.thread().clone(), packs }
    }

    /// Queues a row to keep; never waits. False when the queue was full (the
    /// row is dropped and counted). A channel row goes packed when the store
    /// keeps it so ([`HistoryWriter::op_of`]).
    pub fn record(&self, row: Row) -> bool {
        self.queue_all([self.op_of(row)]) == 1
    }

    /// Queues inserts (of [`HistoryWriter::op_of`], or [`Op::Packed`] runs
    /// when [`HistoryWriter::packs`]: a client's messages of one read, encoded
    /// on the sender's thread into one buffer) with one send; never waits.
    /// Returns the rows queued: what does not fit in the queue is dropped and
    /// counted.
    pub fn queue_all(&self, ops: impl IntoIterator<Item = Op>) -> usize {
        let cap = self.shared.queue_cap.load(Ordering::Relaxed);
        let mut total = 0;
        let ops: Vec<Op> = ops.into_iter().inspect(|op| total += cost_of(op)).collect();
        let (ops, cost) = if self.reserve(total, cap) {
            (ops, total)
        } else {
            // Not all fit: as many as do, one by one.
            let mut kept = (Vec::new(), 0);
            for op in ops {
                let cost = cost_of(&op);
                if self.reserve(cost, cap) {
                    kept.0.push(op);
                    kept.1 += cost;
                } else {
                    self.count_drop(cap, rows_of(&op));
                }
            }
            kept
        };
        let rows = ops.iter().map(rows_of).sum();
        if !ops.is_empty() {
            let n = ops.iter().map(units).sum();
            self.send(Item::Ops(ops, cost), n);
        }
        rows
    }

    /// Whether channel rows go packed ([`Op::Packed`]) to this store.
    pub fn packs(&self) -> bool {
        self.packs
    }

    /// The operation that keeps `row`.
    pub fn op_of(&self, row: Row) -> Op {
        if self.packs && record::packable(&row) {
            Op::Packed(record::Packed::take(row))
        } else {
            Op::Insert(Box::new(row))
        }
    }

    /// Counts `cost` bytes as queued; false (nothing counted) past `cap`.
    fn reserve(&self, cost: usize, cap: usize) -> bool {
        if self.shared.queued.fetch_add(cost, Ordering::AcqRel) + cost > cap {
            self.shared.queued.fetch_sub(cost, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Counts `n` dropped rows, and logs (at most once a minute).
    fn count_drop(&self, cap: usize, n: usize) {
        let dropped = self.shared.stats.dropped.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let now = chrono::Utc::now().timestamp() as u64;
        let last = self.shared.last_drop_log.load(Ordering::Relaxed);
        if now >= last + 60
            && self.shared.last_drop_log.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(dropped, queue_bytes = cap, "history queue full: messages are not being kept");
        }
    }

    /// Queues a redaction or read marker; these are never dropped.
    pub fn control(&self, op: Op) {
        self.send(Item::Op(op, 0), 1);
    }

    /// Sends `item`, holding `n` [`units`].
    fn send(&self, item: Item, n: usize) {
        let before = self.shared.outstanding.fetch_add(n, Ordering::AcqRel);
        let cap = self.shared.batch_cap.load(Ordering::Relaxed);
        if self.tx.send(item).is_err() {
            self.shared.outstanding.fetch_sub(n, Ordering::AcqRel);
        } else if before / cap != (before + n) / cap {
            // A full batch waits: wake the writer before its deadline.
            self.thread.unpark();
        }
    }

    /// Returns once everything queued before the call is committed (at once
    /// when nothing is waiting).
    pub async fn sync(&self) {
        if self.shared.outstanding.load(Ordering::Acquire) == 0 {
            return;
        }
        let (done, wait) = oneshot::channel();
        if self.tx.send(Item::Sync(done)).is_ok() {
            self.thread.unpark();
            let _ = wait.await;
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> Settings {
        *self.shared.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the settings (REHASH).
    pub fn set_settings(&self, settings: Settings) {
        self.shared.queue_cap.store(settings.queue_bytes, Ordering::Relaxed);
        self.shared.batch_cap.store(settings.batch_rows.max(1), Ordering::Relaxed);
        *self.shared.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    /// Bytes of rows queued and not yet committed, and every operation waiting.
    pub fn queue_depth(&self) -> (usize, usize) {
        (self.shared.queued.load(Ordering::Relaxed), self.shared.outstanding.load(Ordering::Relaxed))
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }
}

/// What an operation counts in a batch and in `outstanding`: its rows, or 1.
fn units(op: &Op) -> usize {
    rows_of(op).max(1)
}

/// How many rows an operation inserts.
fn rows_of(op: &Op) -> usize {
    match op {
        Op::Packed(p) => p.len(),
        Op::Insert(_) => 1,
        _ => 0,
    }
}

/// What a queued operation counts against the queue bound (0 unless an insert).
fn cost_of(op: &Op) -> usize {
    match op {
        Op::Packed(p) => p.cost(),
        Op::Insert(row) => row.cost(),
        _ => 0,
    }
}

fn run(store: Arc<dyn Store>, rx: mpsc::Receiver<Item>, shared: Arc<Shared>) {
    let mut prune_wait = PRUNE_IDLE;
    let mut next_prune = Instant::now() + prune_wait;
    // A batch the database could not take, and how long to wait before the next try.
    let mut kept: Vec<Op> = Vec::new();
    let mut kept_bytes = 0;
    let mut retry = RETRY.0;
    loop {
        if !kept.is_empty() {
            let until = Instant::now() + retry;
            loop {
                match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                    Ok(Item::Op(op, cost)) => {
                        kept.push(op);
                        kept_bytes += cost;
                    }
                    Ok(Item::Ops(ops, cost)) => {
                        kept.extend(ops);
                        kept_bytes += cost;
                    }
                    Ok(Item::Sync(done)) => {
                        let _ = done.send(());
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        let _ = commit(&*store, &shared, std::mem::take(&mut kept), kept_bytes);
                        return;
                    }
                }
            }
            match commit(&*store, &shared, std::mem::take(&mut kept), kept_bytes) {
                Ok(()) => {
                    tracing::info!("history writes resumed");
                    retry = RETRY.0;
                    kept_bytes = 0;
                }
                Err(ops) => {
                    kept = ops;
                    retry = (retry * 2).min(RETRY.1);
                }
            }
            continue;
        }
        let settings = *shared.settings.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now >= next_prune {
            prune_wait = prune_step(&*store, &shared, &settings.retention);
            next_prune = Instant::now() + prune_wait;
            continue;
        }
        let first = match rx.recv_timeout(next_prune - now) {
            Ok(item) => item,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let max = settings.batch_rows.max(1);
        // Sized for a full batch: growing it by doubling copied every op again.
        let mut ops = Vec::with_capacity(max.min(4096));
        let mut syncs = Vec::new();
        let mut bytes = 0;
        // Returns the units taken: a batch holds up to `max` rows.
        let mut take = |item: Item, ops: &mut Vec<Op>, syncs: &mut Vec<oneshot::Sender<()>>| match item {
            Item::Op(op, cost) => {
                bytes += cost;
                let n = units(&op);
                ops.push(op);
                n
            }
            Item::Ops(more, cost) => {
                bytes += cost;
                let n = more.iter().map(units).sum();
                ops.extend(more);
                n
            }
            Item::Sync(done) => {
                syncs.push(done);
                0
            }
        };
        let mut rows = take(first, &mut ops, &mut syncs);
        let deadline = Instant::now() + Duration::from_millis(settings.batch_ms);
        loop {
            // Take what is queued; sleep (woken by a full batch or a reader
            // waiting in `sync`) until the deadline while the batch is short.
            let mut closed = false;
            while rows < max {
                match rx.try_recv() {
                    Ok(item) => rows += take(item, &mut ops, &mut syncs),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            let now = Instant::now();
            if closed || rows >= max || !syncs.is_empty() || now >= deadline {
                break;
            }
            std::thread::park_timeout(deadline - now);
        }
        if let Err(ops) = commit(&*store, &shared, ops, bytes) {
            tracing::warn!(
                ops = ops.len(),
                "the database is unreachable: history is kept in memory and written when it is back"
            );
            kept = ops;
            kept_bytes = bytes;
        }
        for done in syncs {
            let _ = done.send(());
        }
        if prune_wait < PRUNE_IDLE && Instant::now() >= next_prune {
            prune_wait = prune_step(&*store, &shared, &settings.retention);
            next_prune = Instant::now() + prune_wait;
        }
    }
}

/// Writes `ops` (counting `bytes` against the queue bound) in one
/// transaction; gives them back when the database could not be reached (they
/// stay counted as queued).
fn commit(store: &dyn Store, shared: &Shared, ops: Vec<Op>, bytes: usize) -> Result<(), Vec<Op>> {
    if ops.is_empty() {
        return Ok(());
    }
    let inserts: usize = ops.iter().map(rows_of).sum();
    let started = Instant::now();
    let cpu = thread_cpu_us();
    match store.write_history(&ops) {
        Ok(_) => {
            shared.stats.written.fetch_add(inserts as u64, Ordering::Relaxed);
            shared.stats.batches.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) if super::is_unreachable(&e) => {
            tracing::debug!(error = %e, rows = inserts, "history batch kept for a retry");
            return Err(ops);
        }
        Err(e) => {
            shared.stats.failed.fetch_add(inserts as u64, Ordering::Relaxed);
            tracing::error!(error = %e, rows = inserts, "writing history failed");
        }
    }
    let took = started.elapsed();
    shared.stats.busy_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    shared.stats.cpu_us.fetch_add(thread_cpu_us().saturating_sub(cpu), Ordering::Relaxed);
    crate::metrics::METRICS.history_commit.observe(took);
    shared.queued.fetch_sub(bytes, Ordering::AcqRel);
    shared.outstanding.fetch_sub(ops.iter().map(units).sum(), Ordering::AcqRel);
    Ok(())
}

/// Deletes one chunk of expired rows; returns how long to wait before the next
/// step (soon while there is more to delete).
fn prune_step(store: &dyn Store, shared: &Shared, policy: &Retention) -> Duration {
    if policy.max_age_days == 0 && policy.max_per_target == 0 {
        return PRUNE_IDLE;
    }
    match store.prune_history(policy, chrono::Utc::now().timestamp_millis(), PRUNE_CHUNK) {
        Ok(0) => PRUNE_IDLE,
        Ok(n) => {
            shared.stats.pruned.fetch_add(n as u64, Ordering::Relaxed);
            Duration::from_millis(10)
        }
        Err(e) => {
            tracing::error!(error = %e, "pruning history failed");
            PRUNE_IDLE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Cap;
    use crate::proto::line::Line;
    use crate::store::history::{Kind, Query, Scope};

    fn row(i: usize) -> Row {
        let line = Line::new("n!u@h", "PRIVMSG", vec!["#w".into(), format!("{i}")]).tag(
            "msgid",
            format!("w{i}"),
            Cap::MessageTags,
        );
        Row {
            target: "#w".into(),
            msgid: format!("w{i}"),
            time_ms: i as i64,
            kind: Kind::Message,
            sender_conn: 1,
            sender_account: None,
            line,
            multiline: None,
            direct: None,
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_sync_commits_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(crate::store::sqlite::Sqlite::open(dir.path()).unwrap());
        let settings = Settings {
            batch_rows: 50,
            batch_ms: 5,
            queue_bytes: 20 * row(0).cost(),
            retention: Retention { max_age_days: 0, max_per_target: 0 },
        };
        let writer = HistoryWriter::start(store.clone(), settings);
        let accepted = (0..2000).filter(|i| writer.record(row(*i))).count();
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(writer.sync());
        let stats = writer.stats();
        assert_eq!(stats.written.load(Ordering::Relaxed) as usize, accepted);
        assert_eq!(stats.dropped.load(Ordering::Relaxed) as usize, 2000 - accepted);
        assert!(accepted >= 15, "about one queue's worth was taken: {accepted}");
        let kept = store.select_history(&Scope::Target("#w".into()), &Query::Latest(None, 5000), true).unwrap();
        assert_eq!(kept.len(), accepted);
    }

    #[test]
    fn a_full_batch_or_a_reader_wakes_the_writer_before_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(crate::store::sqlite::Sqlite::open(dir.path()).unwrap());
        // A window of an hour: only a wake-up can commit these in a test's time.
        let settings = Settings {
            batch_rows: 10,
            batch_ms: 3_600_000,
            queue_bytes: 1 << 20,
            retention: Retention { max_age_days: 0, max_per_target: 0 },
        };
        let writer = HistoryWriter::start(store.clone(), settings);
        for i in 0..10 {
            assert!(writer.record(row(i)));
        }
        while writer.stats().written.load(Ordering::Relaxed) < 10 {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(writer.stats().batches.load(Ordering::Relaxed), 1, "one full batch");
        for i in 10..13 {
            assert!(writer.record(row(i)));
        }
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(writer.sync());
        assert_eq!(writer.stats().written.load(Ordering::Relaxed), 13, "sync committed the short batch");
        let kept = store.select_history(&Scope::Target("#w".into()), &Query::Latest(None, 50), true).unwrap();
        assert_eq!(kept.len(), 13);
    }
}
