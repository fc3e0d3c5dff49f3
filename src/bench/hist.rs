//! A small log-linear latency histogram (16 buckets per power of two,
//! about 6% resolution), recorded in microseconds, mergeable across
//! connections.

/// Buckets per power of two, as a shift.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for values up to 2^40 µs.
const BUCKETS: usize = ((40 - SUB_BITS as usize + 1) << SUB_BITS) + SUB as usize;

/// Latency histogram; empty ones allocate nothing.
#[derive(Debug, Clone, Default)]
pub struct Hist {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
    let i = (((e - SUB_BITS + 1) as u64) << SUB_BITS) | sub;
    (i as usize).min(BUCKETS - 1)
}

/// The middle of bucket `i`'s value range.
fn value(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let e = (i >> SUB_BITS) as u32 + SUB_BITS - 1;
    let sub = i & (SUB - 1);
    let lo = (1u64 << e) | (sub << (e - SUB_BITS));
    lo + (1u64 << (e - SUB_BITS)) / 2
}

impl Hist {
    /// Records one value (microseconds).
    pub fn record(&mut self, us: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[index(us)] += 1;
        self.total += 1;
        self.max = self.max.max(us);
    }

    /// Adds another histogram's counts into this one.
    pub fn merge(&mut self, o: &Hist) {
        if o.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
        self.max = self.max.max(o.max);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest recorded value.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), or 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_resolution() {
        let mut h = Hist::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.07, "{p50}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.07, "{p99}");
        assert_eq!(h.count(), 10_000);
    }

    #[test]
    fn buckets_are_monotonic_and_bounded() {
        let mut last = 0;
        for v in [0u64, 1, 15, 16, 17, 31, 32, 1000, 1 << 39, u64::MAX] {
            let i = index(v);
            assert!(i >= last && i < BUCKETS);
            last = i;
        }
        let mut h = Hist::default();
        h.record(u64::MAX);
        let mut g = Hist::default();
        g.merge(&h);
        assert!(g.quantile(1.0) >= 1 << 40);
    }
}
