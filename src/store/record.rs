//! One history row as compact bytes: what a packed row (`sqlite::packs`)
//! holds per message, made on the sender's thread so that the history writer
//! gets one buffer instead of a row of separately allocated strings
//! ([`Packed`]).
//!
//! Layout: kind (a byte), sender connection (varint), sender account
//! (optional string), msgid, source, command, parameter count and parameters,
//! server tags as [`history::encode_tags`] keeps them, client tags (optional).
//! A string is its length (varint) and bytes; an optional string is 0 when
//! absent, else its length + 1 and bytes. The row's time is kept beside the
//! record, not in it.

use super::history::{self, Kind, Row, Stored};
use crate::proto::line::Line;

/// Channel rows of one target encoded on the sender's thread: each row's
/// time beside its [`encode`]d record, the records one after another in one
/// buffer (a client's messages of one read to one channel are one `Packed`:
/// one allocation for them all, freed by the writer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// The target key.
    pub target: String,
    /// Per row: milliseconds since the Unix epoch, and where its record ends
    /// in `records`.
    rows: Vec<(i64, usize)>,
    /// The records.
    records: Vec<u8>,
}

impl Packed {
    /// No rows yet, for `target`.
    pub fn new(target: String) -> Packed {
        Packed { target, rows: Vec::new(), records: Vec::new() }
    }

    /// `row` encoded, taking it (its target moves, not copied; its
    /// multiline lines and direct parties are not kept: only rows without
    /// them are packed, see [`packable`]).
    pub fn take(row: Row) -> Packed {
        let fields = Fields::of(&row);
        let mut p = Packed { target: String::new(), rows: Vec::with_capacity(1), records: Vec::new() };
        p.push(&fields);
        p.target = row.target;
        p
    }

    /// Adds the record of a channel message straight from its relayed line
    /// (no [`Row`] in between: on every kept channel message's path). The
    /// caller checks what [`packable`] does: the msgid carries the time.
    pub fn push(&mut self, fields: &Fields<'_>) {
        self.records.reserve(size_of(fields));
        SCRATCH.with_borrow_mut(|scratch| encode(&mut self.records, scratch, fields));
        self.rows.push((fields.time_ms, self.records.len()));
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Each row's time and record, in order.
    pub fn records(&self) -> impl Iterator<Item = (i64, &[u8])> {
        let starts = std::iter::once(0).chain(self.rows.iter().map(|r| r.1));
        self.rows.iter().zip(starts).map(|(&(time_ms, end), start)| (time_ms, &self.records[start..end]))
    }

    /// The rows back (for an engine that keeps one row per message); a
    /// damaged record is left out.
    pub fn rows(&self) -> Vec<Row> {
        let rows = self.records().filter_map(|(time_ms, rec)| decode(rec, time_ms));
        rows.map(|s| Row {
            target: self.target.clone(),
            msgid: s.msgid,
            time_ms: s.time_ms,
            kind: s.kind,
            sender_conn: s.sender_conn,
            sender_account: s.sender_account,
            line: s.line,
            multiline: None,
            direct: None,
        })
        .collect()
    }

    /// About how many bytes it holds while queued.
    pub fn cost(&self) -> usize {
        std::mem::size_of::<Packed>()
            + self.target.len()
            + self.records.capacity()
            + self.rows.capacity() * std::mem::size_of::<(i64, usize)>()
    }
}

thread_local! {
    /// The tags of the record being made (one per thread: a record is made
    /// for every channel message kept).
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The record of `row` alone (a packable row that reached the writer as a row).
pub fn of_row(row: &Row) -> Vec<u8> {
    let fields = Fields::of(row);
    let mut out = Vec::with_capacity(size_of(&fields));
    SCRATCH.with_borrow_mut(|scratch| encode(&mut out, scratch, &fields));
    out
}

/// Room for the record of `f` and its length prefixes: a record grown by
/// doubling would hold up to twice its size while queued.
fn size_of(f: &Fields<'_>) -> usize {
    let line = f.line;
    let strings = [line.source.len(), f.msgid.len(), line.client_tags.as_ref().map_or(0, String::len)];
    64 + strings.iter().sum::<usize>()
        + f.account.map_or(0, str::len)
        + line.params.iter().map(|p| p.len() + 3).sum::<usize>()
        + line.tags.iter().map(|t| t.key.len() + t.value.len() + 2).sum::<usize>()
}

/// Whether `row` may travel and be kept packed: a channel row (not direct,
/// not multiline) whose msgid carries its time, so that it is found by a
/// probe of its target around that time.
pub fn packable(row: &Row) -> bool {
    row.direct.is_none() && row.multiline.is_none() && crate::proto::msgid::time_of(&row.msgid) == Some(row.time_ms)
}

/// What a record holds, borrowed from a row or a relayed line.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    /// Milliseconds since the Unix epoch (kept beside the record, not in it).
    pub time_ms: i64,
    /// The message id.
    pub msgid: &'a str,
    /// Message or event.
    pub kind: Kind,
    /// The sender's connection.
    pub sender_conn: u64,
    /// The sender's folded account.
    pub account: Option<&'a str>,
    /// The line as relayed.
    pub line: &'a Line,
}

impl<'a> Fields<'a> {
    /// The fields of `row`.
    pub fn of(row: &'a Row) -> Fields<'a> {
        Fields {
            time_ms: row.time_ms,
            msgid: &row.msgid,
            kind: row.kind,
            sender_conn: row.sender_conn,
            account: row.sender_account.as_deref(),
            line: &row.line,
        }
    }
}

/// Appends the record of `f` (`scratch`: reused for the tags).
pub fn encode(out: &mut Vec<u8>, scratch: &mut String, f: &Fields<'_>) {
    let Fields { time_ms, msgid, kind, sender_conn, account, line } = *f;
    out.push(kind as u8);
    put_uint(out, sender_conn);
    put_opt(out, account);
    put_str(out, msgid);
    put_str(out, &line.source);
    put_str(out, &line.command);
    put_uint(out, line.params.len() as u64);
    for p in &line.params {
        put_str(out, p);
    }
    scratch.clear();
    history::encode_tags_into(scratch, line, time_ms, msgid);
    put_str(out, scratch);
    put_opt(out, line.client_tags.as_deref());
}

/// The row of a record kept at `time_ms`; `None` if it does not decode.
pub fn decode(record: &[u8], time_ms: i64) -> Option<Stored> {
    let mut r = Reader::new(record);
    let kind = if r.byte()? == 0 { Kind::Message } else { Kind::Event };
    let sender_conn = r.uint()?;
    let sender_account = r.opt()?;
    let msgid = r.str()?;
    let source = r.str()?;
    let command = r.str()?;
    let n = r.uint()? as usize;
    let params = (0..n.min(record.len())).map(|_| r.str()).collect::<Option<Vec<_>>>()?;
    let tags = r.str()?;
    let client_tags = r.opt()?;
    let mut line = Line::new(source, command, params);
    line.tags = history::decode_tags(&tags, time_ms, &msgid);
    line.client_tags = client_tags;
    Some(Stored { msgid, time_ms, kind, sender_conn, sender_account, line, multiline: None })
}

/// Appends `v` as a varint (7 bits a byte, low first).
pub fn put_uint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a string: its length and bytes.
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends an optional string: 0 when absent, else its length + 1 and bytes.
fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            put_uint(out, s.len() as u64 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Where each field of a record ends, in order (kind, sender connection,
/// account, msgid, source, command, parameter count, each parameter, server
/// tags, client tags), written into `ends`; the fields, each with its length
/// prefix, are the record's bytes between consecutive ends. False (and
/// `ends` unspecified) for bytes that are not one whole record.
pub fn field_ends(record: &[u8], ends: &mut Vec<usize>) -> bool {
    ends.clear();
    let mut r = Reader::new(record);
    let whole = (|| {
        let r = &mut r;
        r.byte()?;
        ends.push(r.at);
        r.uint()?;
        ends.push(r.at);
        r.skip_opt()?;
        ends.push(r.at);
        for _ in 0..3 {
            r.skip_str()?;
            ends.push(r.at);
        }
        let n = r.uint()?;
        ends.push(r.at);
        for _ in 0..n {
            r.skip_str()?;
            ends.push(r.at);
        }
        r.skip_str()?;
        ends.push(r.at);
        r.skip_opt()?;
        ends.push(r.at);
        Some(())
    })();
    whole.is_some() && r.done()
}

/// Reads what the `put_` functions wrote; every read is `None` past the end.
pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, at: 0 }
    }

    /// Whether everything was read.
    pub fn done(&self) -> bool {
        self.at >= self.buf.len()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    /// A varint.
    pub fn uint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(b)
    }

    fn skip_str(&mut self) -> Option<()> {
        let n = self.uint()? as usize;
        self.take(n).map(drop)
    }

    fn skip_opt(&mut self) -> Option<()> {
        match self.uint()? as usize {
            0 => Some(()),
            n => self.take(n - 1).map(drop),
        }
    }

    fn str(&mut self) -> Option<String> {
        let n = self.uint()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn opt(&mut self) -> Option<Option<String>> {
        match self.uint()? as usize {
            0 => Some(None),
            n => String::from_utf8(self.take(n - 1)?.to_vec()).ok().map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Cap;

    #[test]
    fn a_row_round_trips_and_damage_is_refused() {
        let mut msgid = "0badcafe".to_owned();
        crate::proto::msgid::push(&mut msgid, 1_700_000_000_123, 7);
        let mut line = Line::new("ann!a@h", "PRIVMSG", vec!["#c".into(), "hi; there\\".into()])
            .tag("time", crate::proto::time::format(1_700_000_000_123), Cap::ServerTime)
            .tag("msgid", msgid.clone(), Cap::MessageTags)
            .tag("account", "ann", Cap::AccountTag);
        line.client_tags = Some("+draft/react=x".into());
        let row = Row {
            target: "#c".into(),
            msgid,
            time_ms: 1_700_000_000_123,
            kind: Kind::Event,
            sender_conn: 300,
            sender_account: Some("ann".into()),
            line,
            multiline: None,
            direct: None,
        };
        assert!(packable(&row));
        let packed = Packed::take(row.clone());
        assert_eq!(packed.rows(), vec![row.clone()]);
        let (time_ms, record) = packed.records().next().unwrap();
        assert_eq!(time_ms, row.time_ms);
        for cut in 0..record.len() {
            assert!(decode(&record[..cut], row.time_ms).is_none(), "cut at {cut}");
        }
        let mut direct = row.clone();
        direct.direct = Some([("a".into(), "b".into()), ("b".into(), "a".into())]);
        assert!(!packable(&direct));
        let mut untimed = row;
        untimed.msgid = "abc".into();
        assert!(!packable(&untimed));
    }
}
