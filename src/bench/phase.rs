//! The run phase every connection task follows, readable with one atomic
//! load on the hot path and awaitable through a watch channel.

use std::sync::atomic::{AtomicU8, Ordering};
use tokio::sync::watch;

/// Phases of a scenario, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Connecting, registering, joining.
    Setup = 0,
    /// Traffic flows but is not counted.
    Warmup = 1,
    /// Traffic flows and is counted.
    Measure = 2,
    /// Senders stop; in-flight messages are awaited.
    Drain = 3,
    /// Every task returns its statistics.
    Done = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Setup,
            1 => Phase::Warmup,
            2 => Phase::Measure,
            3 => Phase::Drain,
            _ => Phase::Done,
        }
    }
}

/// Shared phase cell.
#[derive(Debug)]
pub struct PhaseCtl {
    cur: AtomicU8,
    tx: watch::Sender<u8>,
}

impl Default for PhaseCtl {
    fn default() -> Self {
        PhaseCtl { cur: AtomicU8::new(0), tx: watch::channel(0).0 }
    }
}

impl PhaseCtl {
    /// The current phase (one relaxed-acquire load).
    pub fn get(&self) -> Phase {
        Phase::from_u8(self.cur.load(Ordering::Acquire))
    }

    /// Moves every task to phase `p`.
    pub fn set(&self, p: Phase) {
        self.cur.store(p as u8, Ordering::Release);
        self.tx.send_replace(p as u8);
    }

    /// A receiver that wakes on every phase change.
    pub fn subscribe(&self) -> watch::Receiver<u8> {
        self.tx.subscribe()
    }
}
