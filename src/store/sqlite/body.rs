//! A pack's body: the rows of one `packs` row (`sqlite::packs`) as bytes.
//!
//! Format 2 (written since 2026-12-03) keeps each row's [`record`] as a
//! difference from the row before it in the pack: the rows of one channel
//! in one batch mostly share their sender, command, channel, tags and the
//! start of their msgid, so a row of a busy channel takes about a third of
//! its record's bytes, and so does every WAL page the writer and the
//! checkpointer copy for it. Per row: its id offset and time offset (from
//! the pack's first id and time), its field count, a mask of the fields equal
//! to the previous row's field at the same place (bit i for field i, the
//! first 64), then for every other field the bytes it shares with the start
//! of the previous row's field (0 when there is none), the length of the rest
//! and the rest. The fields are those of [`record::field_ends`], each with
//! its length prefix; a record that does not split into them is one field.
//!
//! Format 1 (written before) keeps each record whole: per row the id offset,
//! time offset, the record's length and the record. Both are read.

use crate::store::record::{self, Reader};
use std::borrow::Cow;

/// Whole records.
const FORMAT_WHOLE: u8 = 1;
/// Records as differences from the row before.
const FORMAT_DELTA: u8 = 2;

/// One row of a body: id offset, time offset, record.
pub type Entry<'a> = (i64, i64, Cow<'a, [u8]>);

/// The body of `rows` (id offset, time offset, record), in format 2;
/// `size` is the records' bytes (what the body is sized for).
pub fn encode<'r>(size: usize, rows: impl Iterator<Item = (i64, i64, &'r [u8])>) -> Vec<u8> {
    let mut body = Vec::with_capacity(size / 2 + 16);
    body.push(FORMAT_DELTA);
    let (mut prev, mut prev_ends): (&[u8], Vec<usize>) = (&[], Vec::new());
    let mut ends = Vec::new();
    for (id_off, ms_off, rec) in rows {
        record::put_uint(&mut body, id_off as u64);
        record::put_uint(&mut body, ms_off as u64);
        if !record::field_ends(rec, &mut ends) {
            ends.clear();
            ends.push(rec.len());
        }
        record::put_uint(&mut body, ends.len() as u64);
        // One pass to find the fields equal to the previous row's, one to write the rest.
        let mut mask = 0u64;
        for i in 0..ends.len().min(64) {
            if field(prev, &prev_ends, i).is_some_and(|before| same(field(rec, &ends, i).unwrap_or_default(), before)) {
                mask |= 1 << i;
            }
        }
        record::put_uint(&mut body, mask);
        for i in (0..ends.len()).filter(|&i| i >= 64 || mask & (1 << i) == 0) {
            let now = field(rec, &ends, i).unwrap_or_default();
            let before = field(prev, &prev_ends, i).unwrap_or_default();
            let shared = now.iter().zip(before).take_while(|(a, b)| a == b).count();
            record::put_uint(&mut body, shared as u64);
            record::put_uint(&mut body, (now.len() - shared) as u64);
            body.extend_from_slice(&now[shared..]);
        }
        prev = rec;
        std::mem::swap(&mut prev_ends, &mut ends);
    }
    body
}

/// Whether two fields are equal (most are a few bytes: compared in place
/// rather than through a call to `memcmp`, which cost the writer more than the
/// comparison).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && if a.len() <= 16 { a.iter().zip(b).all(|(x, y)| x == y) } else { a == b }
}

/// Field `i` of `rec` whose fields end at `ends`.
fn field<'a>(rec: &'a [u8], ends: &[usize], i: usize) -> Option<&'a [u8]> {
    let end = *ends.get(i)?;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    rec.get(start..end)
}

/// The rows of a body (either format), in stored order. A body that does not
/// parse (a damaged file) yields the rows before the damage.
pub fn decode(body: &[u8]) -> Vec<Entry<'_>> {
    match body.first() {
        Some(&FORMAT_WHOLE) => whole(&body[1..]),
        Some(&FORMAT_DELTA) => delta(&body[1..]),
        _ => Vec::new(),
    }
}

fn whole(bytes: &[u8]) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    let mut r = Reader::new(bytes);
    while !r.done() {
        let entry = (|| {
            let (id, ms, n) = (r.uint()? as i64, r.uint()? as i64, r.uint()? as usize);
            Some((id, ms, Cow::Borrowed(r.take(n)?)))
        })();
        match entry {
            Some(e) => out.push(e),
            None => break,
        }
    }
    out
}

fn delta(bytes: &[u8]) -> Vec<Entry<'_>> {
    let mut out: Vec<Entry<'_>> = Vec::new();
    let mut r = Reader::new(bytes);
    let mut prev_ends: Vec<usize> = Vec::new();
    let mut ends = Vec::new();
    while !r.done() {
        let prev: &[u8] = out.last().map_or(&[], |e| &e.2);
        let row = (|| {
            let (id, ms) = (r.uint()? as i64, r.uint()? as i64);
            let (count, mask) = (r.uint()? as usize, r.uint()?);
            let mut rec = Vec::with_capacity(prev.len() + 16);
            ends.clear();
            for i in 0..count.min(bytes.len()) {
                let before = field(prev, &prev_ends, i).unwrap_or_default();
                if i < 64 && mask & (1 << i) != 0 {
                    rec.extend_from_slice(before);
                } else {
                    let shared = r.uint()? as usize;
                    rec.extend_from_slice(before.get(..shared)?);
                    let n = r.uint()? as usize;
                    rec.extend_from_slice(r.take(n)?);
                }
                ends.push(rec.len());
            }
            Some((id, ms, Cow::Owned(rec)))
        })();
        match row {
            Some(e) => out.push(e),
            None => break,
        }
        std::mem::swap(&mut prev_ends, &mut ends);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::line::Line;
    use crate::store::history::Kind;

    fn rec(nick: &str, msgid: &str, params: &[&str]) -> Vec<u8> {
        let line = Line::new(format!("{nick}!u@h"), "PRIVMSG", params.iter().map(|p| p.to_string()).collect());
        let mut out = Vec::new();
        let fields = record::Fields {
            time_ms: 5,
            msgid,
            kind: Kind::Message,
            sender_conn: 7,
            account: Some("acc"),
            line: &line,
        };
        record::encode(&mut out, &mut String::new(), &fields);
        out
    }

    #[test]
    fn rows_round_trip_smaller_and_damage_keeps_the_rows_before_it() {
        let rows = vec![
            (0, 0, rec("ann", "abcdef01", &["#c", "hello"])),
            (1, 3, rec("ann", "abcdef02", &["#c", "hello again"])),
            (2, 3, rec("bob", "abcdef03", &["#c", "x", "extra"])),
            (5, 9, b"not a record".to_vec()),
            (6, 9, rec("bob", "abcdef04", &["#c", "y"])),
        ];
        let size = rows.iter().map(|r| r.2.len()).sum();
        let body = encode(size, rows.iter().map(|(i, t, r)| (*i, *t, &r[..])));
        let back: Vec<(i64, i64, Vec<u8>)> =
            decode(&body).into_iter().map(|(i, t, r)| (i, t, r.into_owned())).collect();
        assert_eq!(back, rows);
        for cut in 1..body.len() {
            let got = decode(&body[..cut]);
            assert!(got.len() < rows.len() || cut == body.len());
            for (g, want) in got.iter().zip(&rows) {
                assert_eq!((g.0, g.1, &*g.2), (want.0, want.1, &want.2[..]), "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_run_of_one_senders_rows_takes_under_half_its_records_bytes() {
        let rows: Vec<_> = (0..20)
            .map(|i| (i, i, rec("ann", &format!("0c06e8841a23ae53{i:02}"), &["#c", &format!("line {i}")])))
            .collect();
        let size: usize = rows.iter().map(|r| r.2.len()).sum();
        let body = encode(size, rows.iter().map(|(i, t, r)| (*i, *t, &r[..])));
        assert!(body.len() * 2 < size, "{} bytes for {size} bytes of records", body.len());
        assert_eq!(
            decode(&body).iter().map(|e| e.2.to_vec()).collect::<Vec<_>>(),
            rows.into_iter().map(|r| r.2).collect::<Vec<_>>()
        );
    }

    #[test]
    fn format_one_bodies_are_still_read() {
        let r = rec("ann", "abcdef01", &["#c", "hi"]);
        let mut body = vec![FORMAT_WHOLE];
        for (id, ms) in [(0, 0), (1, 2)] {
            record::put_uint(&mut body, id);
            record::put_uint(&mut body, ms);
            record::put_uint(&mut body, r.len() as u64);
            body.extend_from_slice(&r);
        }
        let back = decode(&body);
        assert_eq!(back.len(), 2);
        assert_eq!((back[1].0, back[1].1, &*back[1].2), (1, 2, &r[..]));
    }
}
