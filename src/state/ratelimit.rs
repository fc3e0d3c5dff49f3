//! Counting events per key over a sliding period (connections per address per
//! minute, accounts registered per address per hour).
//!
//! A window that resets lets a client spend its whole allowance at the end of
//! one window and again at the start of the next: twice the limit in a moment.
//! Here the count over the last period is estimated from two fixed buckets,
//! the previous one weighted by how much of it still lies within the period
//! (the sliding-window counter): two numbers per key, and a burst at a bucket
//! boundary still counts against the limit.

use dashmap::DashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Event counts per key over a sliding `period`.
#[derive(Debug)]
pub struct SlidingWindow<K: Hash + Eq> {
    period: Duration,
    slots: DashMap<K, Slot>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Start of the current bucket.
    start: Instant,
    /// Events in the bucket before it.
    prev: u32,
    /// Events in the current bucket.
    cur: u32,
}

impl Slot {
    /// Moves the buckets forward to `now`.
    fn roll(&mut self, period: Duration, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed >= period * 2 {
            *self = Slot { start: now, prev: 0, cur: 0 };
        } else if elapsed >= period {
            *self = Slot { start: self.start + period, prev: self.cur, cur: 0 };
        }
    }

    /// The part of the previous bucket still inside the period ending `now`.
    fn prev_weight(&self, period: Duration, now: Instant) -> f64 {
        1.0 - now.saturating_duration_since(self.start).as_secs_f64() / period.as_secs_f64()
    }

    /// Estimated events in the period ending `now`.
    fn estimate(&self, period: Duration, now: Instant) -> f64 {
        f64::from(self.prev) * self.prev_weight(period, now) + f64::from(self.cur)
    }
}

impl<K: Hash + Eq> SlidingWindow<K> {
    /// Counts over `period`.
    pub fn new(period: Duration) -> SlidingWindow<K> {
        SlidingWindow { period, slots: DashMap::new() }
    }

    /// Counts one event for `key` if that keeps the estimate over the last
    /// period within `limit`; otherwise nothing is counted and the answer is
    /// how long until one more would be allowed.
    pub fn hit(&self, key: K, limit: u32, now: Instant) -> Result<(), Duration> {
        let mut slot = self.slots.entry(key).or_insert(Slot { start: now, prev: 0, cur: 0 });
        slot.roll(self.period, now);
        if slot.estimate(self.period, now) + 1.0 <= f64::from(limit) {
            slot.cur += 1;
            return Ok(());
        }
        Err(self.retry_after(*slot, limit, now))
    }

    /// Takes back one event counted by [`SlidingWindow::hit`] for `key` (an
    /// attempt that was counted first and then did not happen).
    pub fn undo(&self, key: K, now: Instant) {
        if let Some(mut slot) = self.slots.get_mut(&key) {
            slot.roll(self.period, now);
            if slot.cur > 0 {
                slot.cur -= 1;
            } else {
                slot.prev = slot.prev.saturating_sub(1);
            }
        }
    }

    /// When the estimate next leaves room for one event (at most two periods).
    fn retry_after(&self, slot: Slot, limit: u32, now: Instant) -> Duration {
        let p = self.period.as_secs_f64();
        let room = f64::from(limit) - 1.0;
        let into = now.saturating_duration_since(slot.start).as_secs_f64();
        let secs = if limit == 0 {
            2.0 * p
        } else if f64::from(slot.cur) <= room && slot.prev > 0 {
            // Within this bucket, once enough of the previous one has slid out.
            (p * (1.0 - (room - f64::from(slot.cur)) / f64::from(slot.prev)) - into).max(0.0)
        } else {
            // In the next bucket, once enough of this one has slid out.
            (p - into) + p * (1.0 - room / f64::from(slot.cur.max(1))).max(0.0)
        };
        Duration::from_secs_f64(secs.clamp(0.0, 2.0 * p)).max(Duration::from_secs(1))
    }

    /// Forgets keys with nothing in the last period.
    pub fn prune(&self, now: Instant) {
        let period = self.period;
        self.slots.retain(|_, s| {
            s.roll(period, now);
            s.estimate(period, now) > 0.0
        });
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_burst_at_a_bucket_boundary_still_counts() {
        let w = SlidingWindow::new(MINUTE);
        let t0 = Instant::now();
        // The whole allowance at the end of one minute...
        let late = t0 + Duration::from_secs(59);
        w.hit("a", 1, t0).unwrap();
        for _ in 0..9 {
            w.hit("a", 10, late).unwrap();
        }
        // ...leaves none at the start of the next: a reset window would allow 10 more.
        let next = t0 + Duration::from_secs(61);
        let wait = w.hit("a", 10, next).unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= MINUTE * 2, "{wait:?}");
        // Refusals are not counted; room comes back as the burst slides out.
        assert!(w.hit("a", 10, next + wait + Duration::from_secs(1)).is_ok());
        // Other keys are not affected.
        assert!(w.hit("b", 10, next).is_ok());
    }

    #[test]
    fn the_limit_holds_over_any_period() {
        let w = SlidingWindow::new(MINUTE);
        let t0 = Instant::now();
        let mut times = Vec::new();
        for s in 0..600u64 {
            let now = t0 + Duration::from_millis(s * 500);
            if w.hit(1u8, 10, now).is_ok() {
                times.push(now);
            }
        }
        // Never more than 10 in any 60 s (give or take the estimate's one event).
        for (i, t) in times.iter().enumerate() {
            let within = times[i..].iter().take_while(|u| u.duration_since(*t) < MINUTE).count();
            assert!(within <= 11, "{within} events in a minute from {i}");
        }
        assert!(times.len() >= 40, "the rate is kept, not starved: {}", times.len());
    }

    #[test]
    fn undo_gives_a_place_back() {
        let w = SlidingWindow::new(MINUTE);
        let t0 = Instant::now();
        w.hit("a", 2, t0).unwrap();
        w.hit("a", 2, t0).unwrap();
        assert!(w.hit("a", 2, t0).is_err());
        w.undo("a", t0);
        assert!(w.hit("a", 2, t0).is_ok());
        // In the next bucket, the place comes back from the previous one.
        let next = t0 + MINUTE + Duration::from_secs(1);
        assert!(w.hit("a", 2, next).is_err());
        w.undo("a", next);
        assert!(w.hit("a", 2, next).is_ok());
        w.undo("b", next);
        assert_eq!(w.len(), 1, "undoing for an unknown key adds nothing");
    }

    #[test]
    fn prune_forgets_quiet_keys() {
        let w = SlidingWindow::new(MINUTE);
        let t0 = Instant::now();
        w.hit("a", 5, t0).unwrap();
        w.prune(t0 + Duration::from_secs(30));
        assert_eq!(w.len(), 1);
        w.prune(t0 + Duration::from_secs(121));
        assert!(w.is_empty());
    }
}
