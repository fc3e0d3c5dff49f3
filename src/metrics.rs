//! The process's counters for Prometheus (`[metrics]`; exposed by
//! `web::metrics`). One global set, [`METRICS`], since every layer bumps
//! them: the connection task (bytes, connects, disconnect reasons), fan-out
//! (messages and deliveries), accounts (registrations, failed logins), the
//! store's writer threads (commit latency).
//!
//! They sit on hot paths (every socket read and write, every relayed
//! message), so a [`Counter`] is a few relaxed atomics, each on a cache line
//! of its own, and a thread adds to the slot it was given: no lock, and no
//! line bounced between the cores on each message. Fan-out adds deliveries
//! once per message (or per held block), with the count its loop already
//! has. A scrape sums the slots; values read while others add are at most a
//! few increments behind.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

/// Slots per counter: enough that the runtime's workers (one per core) and
/// the blocking threads rarely share one.
const SLOTS: usize = 8;

/// One slot on a cache line of its own.
#[derive(Debug)]
#[repr(align(128))]
struct Slot(AtomicU64);

/// A count that only grows, cheap to bump from any thread.
#[derive(Debug)]
pub struct Counter {
    slots: [Slot; SLOTS],
}

impl Counter {
    /// A counter at zero.
    pub const fn new() -> Counter {
        Counter { slots: [const { Slot(AtomicU64::new(0)) }; SLOTS] }
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.slots[slot()].0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The total so far.
    pub fn get(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

/// This thread's slot: threads take the slots in turn as they first count.
fn slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    }
    SLOT.with(|s| *s)
}

/// Upper bounds of the latency buckets, in seconds (+Inf is implied).
pub const LATENCY_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// A latency histogram with fixed buckets ([`LATENCY_BUCKETS`]); observed by
/// the store's writer threads, never on the fan-out path.
#[derive(Debug)]
pub struct Histogram {
    /// Observations per bucket (not cumulative), the last one past every bound.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// An empty histogram.
    pub const fn new() -> Histogram {
        Histogram { buckets: [const { AtomicU64::new(0) }; LATENCY_BUCKETS.len() + 1], sum_us: AtomicU64::new(0) }
    }

    /// Records one duration.
    pub fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// (sum in seconds, count, cumulative counts per upper bound with +Inf last).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut total = 0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            total += b.load(Ordering::Relaxed);
            out.push((LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), total));
        }
        (self.sum_us.load(Ordering::Relaxed) as f64 / 1e6, total, out)
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// How a client is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP.
    Plain,
    /// TLS over TCP.
    Tls,
    /// WebSocket (ws:// or wss://).
    WebSocket,
}

impl Transport {
    /// Every transport, in label order.
    pub const ALL: [Transport; 3] = [Transport::Plain, Transport::Tls, Transport::WebSocket];

    /// The `transport` label value.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Plain => "plain",
            Transport::Tls => "tls",
            Transport::WebSocket => "websocket",
        }
    }
}

/// Why connections end, as the `reason` label of disconnects.
pub const DISCONNECT_REASONS: [&str; 9] = [
    "quit",
    "connection_lost",
    "ping_timeout",
    "sendq",
    "flood",
    "killed",
    "registration_timeout",
    "shutdown",
    "other",
];

/// The `reason` label for a connection's closing reason.
pub fn disconnect_reason(reason: &str) -> &'static str {
    let r = reason;
    if r.starts_with("Quit") || r == "Client Quit" {
        "quit"
    } else if r == "SendQ exceeded" {
        "sendq"
    } else if r == "Excess Flood" {
        "flood"
    } else if r.starts_with("Ping timeout") {
        "ping_timeout"
    } else if r.starts_with("Killed") {
        "killed"
    } else if r.starts_with("Registration timed out") {
        "registration_timeout"
    } else if r == "Server shutting down" {
        "shutdown"
    } else if r.starts_with("Connection") || r.contains("error") || r.contains("reset") || r.contains("closed") {
        "connection_lost"
    } else {
        "other"
    }
}

/// The process's counters.
#[derive(Debug)]
pub struct Metrics {
    /// Connections open now, by [`Transport`] (TLS handshakes done).
    pub connected: [AtomicI64; 3],
    /// Connections accepted since start, by [`Transport`].
    pub connections: [Counter; 3],
    /// Connections ended, by [`DISCONNECT_REASONS`].
    pub disconnects: [Counter; DISCONNECT_REASONS.len()],
    /// Bytes read from clients.
    pub bytes_in: Counter,
    /// Bytes written to clients.
    pub bytes_out: Counter,
    /// PRIVMSG, NOTICE and TAGMSG relayed (one per target).
    pub messages: Counter,
    /// Copies of relayed messages appended to recipients' send queues.
    pub deliveries: Counter,
    /// Accounts created (REGISTER, and `banterd account create` is not counted).
    pub registrations: Counter,
    /// Failed logins (SASL, PASS).
    pub login_failures: Counter,
    /// Configuration reloads that took effect (REHASH, SIGHUP).
    pub reloads: Counter,
    /// Configuration reloads refused (the old configuration stayed).
    pub reload_failures: Counter,
    /// How long history batches take to commit.
    pub history_commit: Histogram,
    /// How long channel changes take to commit.
    pub channel_commit: Histogram,
}

/// The process's counters.
pub static METRICS: Metrics = Metrics {
    connected: [const { AtomicI64::new(0) }; 3],
    connections: [const { Counter::new() }; 3],
    disconnects: [const { Counter::new() }; DISCONNECT_REASONS.len()],
    bytes_in: Counter::new(),
    bytes_out: Counter::new(),
    messages: Counter::new(),
    deliveries: Counter::new(),
    registrations: Counter::new(),
    login_failures: Counter::new(),
    reloads: Counter::new(),
    reload_failures: Counter::new(),
    history_commit: Histogram::new(),
    channel_commit: Histogram::new(),
};

impl Metrics {
    /// A connection of `transport` has begun.
    pub fn connected(&self, transport: Transport) {
        self.connected[transport as usize].fetch_add(1, Ordering::Relaxed);
        self.connections[transport as usize].inc();
    }

    /// A connection of `transport` has ended with `reason`.
    pub fn disconnected(&self, transport: Transport, reason: &str) {
        self.connected[transport as usize].fetch_sub(1, Ordering::Relaxed);
        let label = disconnect_reason(reason);
        let i = DISCONNECT_REASONS.iter().position(|r| *r == label).unwrap_or(DISCONNECT_REASONS.len() - 1);
        self.disconnects[i].inc();
    }

    /// `messages` relayed, making `deliveries` copies in all.
    #[inline]
    pub fn relayed(&self, messages: usize, deliveries: usize) {
        self.messages.add(messages as u64);
        self.deliveries.add(deliveries as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_their_slots_across_threads() {
        let c = std::sync::Arc::new(Counter::new());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| c.inc()))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(c.get(), 12_000);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new();
        h.observe(std::time::Duration::from_micros(300));
        h.observe(std::time::Duration::from_millis(3));
        h.observe(std::time::Duration::from_secs(10));
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 3);
        assert!((sum - 10.0033).abs() < 1e-6, "{sum}");
        assert_eq!(buckets[0], (0.0005, 1));
        assert_eq!(buckets[3], (0.005, 2));
        assert_eq!(*buckets.last().unwrap(), (f64::INFINITY, 3));
    }

    #[test]
    fn disconnect_reasons_are_classified() {
        assert_eq!(disconnect_reason("Quit: bye"), "quit");
        assert_eq!(disconnect_reason("SendQ exceeded"), "sendq");
        assert_eq!(disconnect_reason("Excess Flood"), "flood");
        assert_eq!(disconnect_reason("Ping timeout: 180 seconds"), "ping_timeout");
        assert_eq!(disconnect_reason("Connection closed"), "connection_lost");
        assert_eq!(disconnect_reason("Killed (op (spam))"), "killed");
    }
}
