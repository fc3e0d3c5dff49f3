//! Flood control: a token bucket per client. Commands beyond the burst are
//! delayed (fake lag), not dropped; a client whose unprocessed backlog grows past
//! the limit is disconnected with `Excess Flood`.

use std::time::{Duration, Instant};

/// One client's bucket.
#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
    burst: f64,
    rate: f64,
}

impl Bucket {
    /// A full bucket.
    pub fn new(burst: u32, per_second: u32, now: Instant) -> Bucket {
        Bucket { tokens: burst as f64, last: now, burst: burst as f64, rate: per_second.max(1) as f64 }
    }

    /// Takes a token for one command; returns how long to delay it.
    pub fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// Charges `extra` more commands' worth (an expensive command): the
    /// commands after it wait until the bucket has refilled.
    pub fn charge(&mut self, extra: u32) {
        self.tokens -= f64::from(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_lag() {
        let t0 = Instant::now();
        let mut b = Bucket::new(3, 2, t0);
        for _ in 0..3 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        assert_eq!(b.take(t0), Duration::from_millis(500));
        assert_eq!(b.take(t0), Duration::from_millis(1000));
        // after waiting, tokens come back at the configured rate
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.take(later), Duration::ZERO);
    }

    #[test]
    fn a_charge_delays_what_follows() {
        let t0 = Instant::now();
        let mut b = Bucket::new(3, 2, t0);
        assert_eq!(b.take(t0), Duration::ZERO);
        b.charge(4);
        // 3 - 1 - 4 = -2 tokens: the next command waits for 3 to come back.
        assert_eq!(b.take(t0), Duration::from_millis(1500));
    }
}
