//! Per-sender sequence tracking on the receiving side: tells a new message
//! from a duplicate or one that arrived after a later one (reordered).
//! Loss is counted globally at the end (sent × receivers − unique received).

/// Outcome of receiving one sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First receipt, in order.
    New,
    /// First receipt, but a later sequence number came before it.
    Late,
    /// Already received.
    Dup,
}

/// Tracks the last 64 sequence numbers of one sender at one receiver.
/// The sender's window is at most 64, so older numbers can only be
/// duplicates.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqTrack {
    /// One more than the highest sequence number received.
    next: u64,
    /// Bit i set: `next - 1 - i` was received.
    mask: u64,
}

impl SeqTrack {
    /// Records `seq` and classifies it.
    pub fn see(&mut self, seq: u64) -> Seen {
        if seq >= self.next {
            let shift = seq - self.next + 1;
            self.mask = if shift >= 64 { 0 } else { self.mask << shift };
            self.mask |= 1;
            self.next = seq + 1;
            return Seen::New;
        }
        let back = self.next - 1 - seq;
        if back >= 64 {
            return Seen::Dup;
        }
        let bit = 1u64 << back;
        if self.mask & bit != 0 {
            Seen::Dup
        } else {
            self.mask |= bit;
            Seen::Late
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let mut t = SeqTrack::default();
        assert_eq!(t.see(0), Seen::New);
        assert_eq!(t.see(1), Seen::New);
        assert_eq!(t.see(1), Seen::Dup);
        assert_eq!(t.see(3), Seen::New);
        assert_eq!(t.see(2), Seen::Late);
        assert_eq!(t.see(2), Seen::Dup);
        assert_eq!(t.see(1000), Seen::New);
        assert_eq!(t.see(3), Seen::Dup);
    }
}
