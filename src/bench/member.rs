//! The per-connection task of the fan-out scenario: one channel member that
//! checks every message it receives and, if it is a sender, keeps at most
//! `window` messages in flight.
//!
//! Closed loop: a message is done once every other member of its channel
//! has received it. Each receiver bumps the message's slot in the sender's
//! ack ring; the receiver that completes the count marks the message done
//! and wakes the sender. Receivers see a sender's messages in order, so a
//! slot is only reused after all its acks arrived (see [`SenderSlot::ack`]).

use super::conn::{pong, Conn};
use super::hist::Hist;
use super::line::{find_byte, parse_u64, push_u64, trim_crlf, Line};
use super::phase::{Phase, PhaseCtl};
use super::seq::{Seen, SeqTrack};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Closed-loop state of one sender, shared with its channel's receivers.
#[derive(Debug)]
pub struct SenderSlot {
    acks: Box<[AtomicU32]>,
    /// Members that receive each of this sender's messages.
    pub receivers: u32,
    /// Messages received by every other channel member.
    pub completed: AtomicU64,
    /// Messages sent so far.
    pub sent: AtomicU64,
    notify: Notify,
}

impl SenderSlot {
    /// A slot with an ack ring of `window` entries, for a sender whose
    /// messages `receivers` members receive.
    pub fn new(window: u32, receivers: u32) -> SenderSlot {
        SenderSlot {
            acks: (0..window).map(|_| AtomicU32::new(0)).collect(),
            receivers,
            completed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            notify: Notify::new(),
        }
    }

    /// Counts one receipt of `seq`; `receivers` receipts complete it.
    /// The completing receiver subtracts `receivers` rather than storing 0,
    /// so receipts of the next message using the slot are never lost.
    fn ack(&self, seq: u64) {
        let receivers = self.receivers;
        let slot = &self.acks[(seq % self.acks.len() as u64) as usize];
        let v = slot.fetch_add(1, Ordering::AcqRel) + 1;
        if v.is_multiple_of(receivers) {
            slot.fetch_sub(receivers, Ordering::AcqRel);
            self.completed.fetch_add(1, Ordering::AcqRel);
            self.notify.notify_one();
        }
    }
}

/// What every member task shares.
#[derive(Debug)]
pub struct Shared {
    /// The scenario phase.
    pub phase: PhaseCtl,
    /// Zero point of the timestamps carried in messages.
    pub base: std::time::Instant,
    /// One slot per sender, indexed by global sender id.
    pub slots: Box<[SenderSlot]>,
    /// Senders per channel.
    pub senders: usize,
    /// Max messages in flight per sender.
    pub window: u32,
    /// Messages per second per sender (0 = as fast as the window allows).
    pub rate: f64,
    /// Bytes of filler appended to each message text.
    pub payload: usize,
    /// Every member sends `PING` this often (random phase), as idle
    /// clients do; `None` for none.
    pub keepalive: Option<Duration>,
}

/// One member's tallies, merged by the coordinator.
#[derive(Debug, Default)]
pub struct MemberStats {
    /// Distinct messages received.
    pub unique: u64,
    /// Duplicates received.
    pub dups: u64,
    /// Messages received after a later one from the same sender.
    pub late: u64,
    /// PRIVMSGs that were not from a sender of this channel or unparsable.
    pub foreign: u64,
    /// Messages received during the measured phase.
    pub measured: u64,
    /// Latency of the measured messages, µs.
    pub hist: Hist,
    /// First I/O error, if the connection broke.
    pub error: Option<String>,
}

/// Who this member is.
#[derive(Debug, Clone)]
pub struct Role {
    /// Channel name.
    pub chan: String,
    /// Channel index.
    pub chan_idx: usize,
    /// Global sender id when this member sends.
    pub sender: Option<usize>,
}

/// Runs the member until the phase is `Done`. A sender's `twins` (mirrored
/// servers only, see [`super::multi::Network::Mirrored`]) send every line
/// it sends, each on its own server; nothing is read from them.
pub async fn run(mut conn: Conn, mut twins: Vec<Conn>, role: Role, sh: &Shared) -> MemberStats {
    let mut st = MemberStats::default();
    let mut tracks = vec![SeqTrack::default(); sh.senders];
    let first_sid = role.chan_idx * sh.senders;
    let mut phase_rx = sh.phase.subscribe();
    let mut sent = 0u64;
    let mut send_start: Option<Instant> = None;
    let mut prefix = format!("PRIVMSG {} :", role.chan).into_bytes();
    let filler = vec![b'x'; sh.payload];
    let mut next_ping = sh.keepalive.map(|k| Instant::now() + k.mul_f64(rand::random::<f64>()));
    loop {
        let ph = sh.phase.get();
        if ph == Phase::Done {
            break;
        }
        let mut wait_window = false;
        let mut pace_at = None;
        if let (Some(sid), Phase::Warmup | Phase::Measure) = (role.sender, ph) {
            let slot = &sh.slots[sid];
            let inflight = sent.saturating_sub(slot.completed.load(Ordering::Acquire));
            let mut n = u64::from(sh.window).saturating_sub(inflight);
            if sh.rate > 0.0 {
                // A random phase spreads paced senders over the interval
                // instead of having them all fire at once.
                let t0 = *send_start
                    .get_or_insert_with(|| Instant::now() + Duration::from_secs_f64(rand::random::<f64>() / sh.rate));
                let allowed = match Instant::now().checked_duration_since(t0) {
                    Some(d) => (d.as_secs_f64() * sh.rate) as u64 + 1,
                    None => 0,
                };
                let paced = allowed.saturating_sub(sent);
                if paced < n {
                    n = paced;
                    if n == 0 {
                        pace_at = Some(t0 + Duration::from_secs_f64(sent as f64 / sh.rate));
                    }
                }
            }
            // Any completion may open the window (also right after a send).
            wait_window = true;
            if n > 0 {
                let ts = sh.base.elapsed().as_nanos() as u64;
                let out = conn.wbuf();
                let from = out.len();
                for _ in 0..n {
                    out.extend_from_slice(&prefix);
                    push_u64(out, sid as u64);
                    out.push(b' ');
                    push_u64(out, sent);
                    out.push(b' ');
                    push_u64(out, ts);
                    if !filler.is_empty() {
                        out.push(b' ');
                        out.extend_from_slice(&filler);
                    }
                    out.extend_from_slice(b"\r\n");
                    sent += 1;
                }
                for tw in &mut twins {
                    tw.queue(&out[from..]);
                }
                slot.sent.store(sent, Ordering::Release);
            }
        }
        let mut flushed = conn.flush().await;
        for tw in &mut twins {
            flushed = flushed.and(tw.flush().await);
        }
        if let Err(e) = flushed {
            st.error = Some(e.to_string());
            break;
        }
        let notify = role.sender.map(|s| &sh.slots[s].notify);
        tokio::select! {
            r = conn.fill() => {
                if let Err(e) = r {
                    st.error = Some(e.to_string());
                    break;
                }
                let now_ns = sh.base.elapsed().as_nanos() as u64;
                let measuring = sh.phase.get() == Phase::Measure;
                conn.drain_lines(|l, out| {
                    receive(l, out, now_ns, measuring, first_sid, &mut tracks, &mut st, sh)
                });
            }
            _ = async {
                match notify {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            }, if wait_window => {}
            _ = tokio::time::sleep_until(pace_at.unwrap_or_else(Instant::now)), if pace_at.is_some() => {}
            _ = tokio::time::sleep_until(next_ping.unwrap_or_else(Instant::now)), if next_ping.is_some() => {
                conn.queue(b"PING :soak\r\n");
                next_ping = sh.keepalive.map(|k| Instant::now() + k);
            }
            r = phase_rx.changed() => if r.is_err() { break },
        }
    }
    prefix.clear();
    st
}

/// The text of a PRIVMSG line, or `None` for any other line. Fast path for
/// `:source PRIVMSG target :text` (one forward scan over the source, one
/// backward scan over the text, which never contains `:`); anything else,
/// e.g. a line with tags, goes through the general parser.
fn privmsg_text(l: &[u8]) -> Option<&[u8]> {
    let l = trim_crlf(l);
    if l.first() == Some(&b':') {
        let rest = &l[find_byte(l, b' ')? + 1..];
        if !rest.starts_with(b"PRIVMSG ") {
            return None;
        }
        let colon = rest.iter().rposition(|&b| b == b':')?;
        return Some(&rest[colon + 1..]);
    }
    let m = Line::parse(l)?;
    (m.command == b"PRIVMSG").then(|| m.param(1)).flatten()
}

/// Parses the decimal number at the start of `s` and skips one following
/// space.
fn take_u64(s: &mut &[u8]) -> Option<u64> {
    let end = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    let v = parse_u64(&s[..end])?;
    *s = s.get(end + 1..).unwrap_or(&[]);
    Some(v)
}

/// Handles one line on the hot path: PING, or a bench PRIVMSG.
#[allow(clippy::too_many_arguments)]
fn receive(
    l: &[u8],
    out: &mut Vec<u8>,
    now_ns: u64,
    measuring: bool,
    first_sid: usize,
    tracks: &mut [SeqTrack],
    st: &mut MemberStats,
    sh: &Shared,
) {
    if l.starts_with(b"PING") {
        pong(l, out);
        return;
    }
    let Some(mut text) = privmsg_text(l) else { return };
    let (Some(sid), Some(seq), Some(ts)) = (take_u64(&mut text), take_u64(&mut text), take_u64(&mut text)) else {
        st.foreign += 1;
        return;
    };
    let local = (sid as usize).wrapping_sub(first_sid);
    if local >= tracks.len() {
        st.foreign += 1;
        return;
    }
    match tracks[local].see(seq) {
        Seen::Dup => st.dups += 1,
        seen => {
            if seen == Seen::Late {
                st.late += 1;
            }
            st.unique += 1;
            sh.slots[sid as usize].ack(seq);
            if measuring {
                st.measured += 1;
                st.hist.record(now_ns.saturating_sub(ts) / 1000);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_ring_completes_each_message_once() {
        let slot = SenderSlot::new(4, 3);
        // 3 receivers per message; message 4 reuses message 0's slot.
        for _ in 0..3 {
            slot.ack(1);
        }
        assert_eq!(slot.completed.load(Ordering::Acquire), 1);
        slot.ack(0);
        slot.ack(0);
        slot.ack(0);
        assert_eq!(slot.completed.load(Ordering::Acquire), 2);
        slot.ack(4);
        slot.ack(4);
        assert_eq!(slot.completed.load(Ordering::Acquire), 2);
        slot.ack(4);
        assert_eq!(slot.completed.load(Ordering::Acquire), 3);
        assert!(slot.acks.iter().all(|a| a.load(Ordering::Acquire) == 0));
    }

    #[test]
    fn finds_privmsg_text() {
        assert_eq!(privmsg_text(b":a!b@c PRIVMSG #x :1 2 3\r\n"), Some(&b"1 2 3"[..]));
        assert_eq!(privmsg_text(b"@t=1 :a!b@c PRIVMSG #x :1 2 3\r\n"), Some(&b"1 2 3"[..]));
        assert_eq!(privmsg_text(b":a!b@c JOIN #x\r\n"), None);
        assert_eq!(privmsg_text(b":a"), None);
        let mut t: &[u8] = b"12 34 56 xx";
        assert_eq!((take_u64(&mut t), take_u64(&mut t), take_u64(&mut t)), (Some(12), Some(34), Some(56)));
        assert_eq!(take_u64(&mut t), None);
    }
}
