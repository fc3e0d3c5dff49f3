//! A client's bounded output buffer: fan-out appends bytes under a short lock;
//! the caller wakes the connection only when the buffer goes from empty to
//! non-empty ([`Push::Woke`]).

use std::sync::Mutex;

/// Bytes reserved by the first append to an empty, unallocated buffer.
const FIRST_RESERVE: usize = 2048;

/// What happened to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued behind other bytes: the connection is already awake.
    Queued,
    /// Queued into an empty buffer: the connection must be woken.
    Woke,
    /// The buffer would exceed the sendq; it was dropped and the outbox closed.
    Overflow,
    /// The outbox is closed; nothing was queued.
    Closed,
}

#[derive(Debug, Default)]
struct Inner {
    buf: Vec<u8>,
    closed: bool,
}

/// Bytes waiting for one client's writer task.
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<Inner>,
    limit: usize,
}

impl Outbox {
    /// An empty outbox that holds at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Outbox { inner: Mutex::new(Inner::default()), limit }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one or more complete lines.
    pub fn push(&self, bytes: &[u8]) -> Push {
        let mut g = self.lock();
        if g.closed {
            return Push::Closed;
        }
        if g.buf.len() + bytes.len() > self.limit {
            g.buf = Vec::new();
            g.closed = true;
            return Push::Overflow;
        }
        let was_empty = g.buf.is_empty();
        if g.buf.capacity() == 0 {
            // An idle client holds no buffer; start with room for a typical batch
            // rather than growing (and copying) through the small sizes.
            g.buf.reserve(bytes.len().max(FIRST_RESERVE).min(self.limit));
        }
        g.buf.extend_from_slice(bytes);
        if was_empty {
            Push::Woke
        } else {
            Push::Queued
        }
    }

    /// Appends a last line (which may go over the limit) and closes the outbox; the
    /// writer drains what is queued and then ends.
    pub fn close_with(&self, last: &[u8]) {
        {
            let mut g = self.lock();
            if !g.closed {
                g.buf.extend_from_slice(last);
            } else if g.buf.is_empty() {
                // closed by overflow: the buffer was dropped, still say why
                g.buf.extend_from_slice(last);
            }
            g.closed = true;
        }
    }

    /// Moves the queued bytes into `spare` (which must be empty) and reports whether
    /// the outbox is closed.
    pub fn take(&self, spare: &mut Vec<u8>) -> bool {
        let mut g = self.lock();
        std::mem::swap(&mut g.buf, spare);
        g.closed
    }

    /// Frees the buffer's memory if nothing is queued (an idle client holds none).
    pub fn release_if_empty(&self) {
        let mut g = self.lock();
        if g.buf.is_empty() && g.buf.capacity() > 0 {
            g.buf = Vec::new();
        }
    }

    /// Bytes currently queued.
    pub fn len(&self) -> usize {
        self.lock().buf.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_closes() {
        let o = Outbox::new(10);
        assert_eq!(o.push(b"12345"), Push::Woke);
        assert_eq!(o.push(b"123456"), Push::Overflow);
        assert_eq!(o.push(b"1"), Push::Closed);
        let mut spare = Vec::new();
        assert!(o.take(&mut spare));
        assert!(spare.is_empty());
    }

    #[test]
    fn take_swaps() {
        let o = Outbox::new(100);
        o.push(b"a\r\n");
        o.push(b"b\r\n");
        let mut spare = Vec::new();
        assert!(!o.take(&mut spare));
        assert_eq!(spare, b"a\r\nb\r\n");
        assert!(o.is_empty());
    }
}
