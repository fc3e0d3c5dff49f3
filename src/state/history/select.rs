//! Answering a CHATHISTORY query from one buffer, or from several merged (the
//! `*` target: every conversation of one user), without copying the buffers.
//!
//! Entries are ordered by [`Key`]: their time, then the order in which they were
//! recorded. A query becomes one or two *spans* (entries between two bounds, the
//! oldest or the newest `limit` of them). A span is answered in two passes, each
//! holding one buffer's guard at a time: the first keeps only the keys of the best
//! `limit` candidates (each buffer is sorted, so it stops at the first entry that
//! cannot make the cut), the second copies the chosen entries. A query therefore
//! costs about `log(buffer) + limit` per buffer it reads, and copies at most
//! `limit` entries, however much history the user has.

use super::{Entry, Kind, Query, Ref};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::ops::Bound;

/// An entry's place in the history order: time, then recording sequence.
pub type Key = (i64, u64);

/// The order key of `e`.
pub fn key(e: &Entry) -> Key {
    (e.time_ms, e.seq)
}

/// Reads the buffers a query covers, one at a time: `visit(i, f)` calls `f` on
/// buffer `i` if it still exists.
pub trait Buffers {
    /// How many buffers there are.
    fn count(&self) -> usize;
    /// Calls `f` with buffer `i`'s entries.
    fn visit(&self, i: usize, f: &mut dyn FnMut(&VecDeque<Entry>));
}

/// A resolved [`Ref`]: an entry that is kept, or a time.
#[derive(Clone, Copy)]
enum Point {
    Entry(Key),
    Time(i64),
}

impl Point {
    /// The lower bound "strictly after this point".
    fn after(self) -> Bound<Key> {
        match self {
            Point::Entry(k) => Bound::Excluded(k),
            Point::Time(t) => Bound::Excluded((t, u64::MAX)),
        }
    }

    /// The lower bound "at this point or after".
    fn from(self) -> Bound<Key> {
        match self {
            Point::Entry(k) => Bound::Included(k),
            Point::Time(t) => Bound::Included((t, 0)),
        }
    }

    /// The upper bound "strictly before this point".
    fn before(self) -> Bound<Key> {
        match self {
            Point::Entry(k) => Bound::Excluded(k),
            Point::Time(t) => Bound::Excluded((t, 0)),
        }
    }
}

/// Entries strictly between two bounds; the oldest `limit` or the newest.
struct Span {
    lo: Bound<Key>,
    hi: Bound<Key>,
    newest: bool,
    limit: usize,
}

/// The entries `query` selects from `buffers`, oldest first; events only with `events`.
pub fn run(buffers: &dyn Buffers, query: &Query, events: bool) -> Vec<Entry> {
    let resolve = |r: &Ref| resolve(buffers, r);
    let span = |lo, hi, newest, limit| Span { lo, hi, newest, limit };
    let unbounded = Bound::Unbounded;
    let spans = match query {
        Query::Before(r, limit) => {
            let Some(p) = resolve(r) else { return Vec::new() };
            vec![span(unbounded, p.before(), true, *limit)]
        }
        Query::After(r, limit) => {
            let Some(p) = resolve(r) else { return Vec::new() };
            vec![span(p.after(), unbounded, false, *limit)]
        }
        Query::Latest(None, limit) => vec![span(unbounded, unbounded, true, *limit)],
        Query::Latest(Some(r), limit) => {
            let Some(p) = resolve(r) else { return Vec::new() };
            vec![span(p.after(), unbounded, true, *limit)]
        }
        Query::Around(r, limit) => {
            let Some(p) = resolve(r) else { return Vec::new() };
            return around(buffers, p, *limit, events);
        }
        Query::Between(a, b, limit) => {
            let (Some(a), Some(b)) = (resolve(a), resolve(b)) else { return Vec::new() };
            if bound_key(a.after()) < bound_key(b.before()) {
                vec![span(a.after(), b.before(), false, *limit)]
            } else {
                vec![span(b.after(), a.before(), true, *limit)]
            }
        }
    };
    spans.iter().flat_map(|s| collect(buffers, s, events)).collect()
}

/// AROUND: up to half the limit before the point, the rest from the point on;
/// when one side runs short, the other fills the limit.
fn around(buffers: &dyn Buffers, p: Point, limit: usize, events: bool) -> Vec<Entry> {
    let back = chosen(buffers, &Span { lo: Bound::Unbounded, hi: p.before(), newest: true, limit }, events);
    let fwd = chosen(buffers, &Span { lo: p.from(), hi: Bound::Unbounded, newest: false, limit }, events);
    let nb = (limit / 2).min(back.len());
    let nf = (limit - nb).min(fwd.len());
    let nb = (limit - nf).min(back.len());
    let mut keys = back[back.len() - nb..].to_vec();
    keys.extend_from_slice(&fwd[..nf]);
    copy(buffers, &keys)
}

fn bound_key(b: Bound<Key>) -> Key {
    match b {
        Bound::Included(k) | Bound::Excluded(k) => k,
        Bound::Unbounded => (i64::MIN, 0),
    }
}

/// Finds a msgid in any of the buffers; a time needs no lookup.
fn resolve(buffers: &dyn Buffers, r: &Ref) -> Option<Point> {
    let id = match r {
        Ref::Time(t) => return Some(Point::Time(*t)),
        Ref::Msgid(id) => id,
    };
    let mut found = None;
    for i in 0..buffers.count() {
        buffers.visit(i, &mut |entries| found = found.or_else(|| entries.iter().find(|e| e.msgid() == id).map(key)));
        if found.is_some() {
            break;
        }
    }
    found.map(Point::Entry)
}

fn below(lo: Bound<Key>, k: Key) -> bool {
    match lo {
        Bound::Included(b) => k < b,
        Bound::Excluded(b) => k <= b,
        Bound::Unbounded => false,
    }
}

fn above(hi: Bound<Key>, k: Key) -> bool {
    match hi {
        Bound::Included(b) => k > b,
        Bound::Excluded(b) => k >= b,
        Bound::Unbounded => false,
    }
}

/// The span's entries, copied, oldest first.
fn collect(buffers: &dyn Buffers, span: &Span, events: bool) -> Vec<Entry> {
    copy(buffers, &chosen(buffers, span, events))
}

/// First pass: the keys (and buffer) of the span's entries, oldest first.
fn chosen(buffers: &dyn Buffers, span: &Span, events: bool) -> Vec<(Key, usize)> {
    // The best `limit` so far, worst on top: a min-heap for the newest, a
    // max-heap for the oldest.
    let mut newest: BinaryHeap<Reverse<(Key, usize)>> = BinaryHeap::new();
    let mut oldest: BinaryHeap<(Key, usize)> = BinaryHeap::new();
    if span.limit == 0 {
        return Vec::new();
    }
    for i in 0..buffers.count() {
        buffers.visit(i, &mut |entries| {
            let start = entries.partition_point(|e| below(span.lo, key(e)));
            let end = entries.partition_point(|e| !above(span.hi, key(e))).max(start);
            let visible = |e: &&Entry| events || e.kind == Kind::Message;
            if span.newest {
                for e in entries.range(start..end).rev().filter(visible) {
                    let k = (key(e), i);
                    if newest.len() == span.limit {
                        if newest.peek().is_some_and(|w| w.0 >= k) {
                            break;
                        }
                        newest.pop();
                    }
                    newest.push(Reverse(k));
                }
            } else {
                for e in entries.range(start..end).filter(visible) {
                    let k = (key(e), i);
                    if oldest.len() == span.limit {
                        if oldest.peek().is_some_and(|w| *w <= k) {
                            break;
                        }
                        oldest.pop();
                    }
                    oldest.push(k);
                }
            }
        });
    }
    let mut keys: Vec<(Key, usize)> = newest.into_iter().map(|r| r.0).chain(oldest).collect();
    keys.sort_unstable();
    keys
}

/// Second pass: copies the chosen entries (by sequence number: a buffer is in
/// sequence order), oldest first. One evicted in between is left out.
fn copy(buffers: &dyn Buffers, keys: &[(Key, usize)]) -> Vec<Entry> {
    let mut by_buffer: Vec<usize> = keys.iter().map(|(_, i)| *i).collect();
    by_buffer.sort_unstable();
    by_buffer.dedup();
    let mut out: Vec<Entry> = Vec::with_capacity(keys.len());
    for i in by_buffer {
        buffers.visit(i, &mut |entries| {
            for (k, _) in keys.iter().filter(|(_, b)| *b == i) {
                if let Ok(j) = entries.binary_search_by_key(&k.1, |e| e.seq) {
                    out.push(entries[j].clone());
                }
            }
        });
    }
    out.sort_by_key(key);
    out
}
