//! One connection's task: it reads bytes, frames lines and dispatches commands,
//! and it drains the client's outbox to the socket, all in one `select!` loop.
//! One task per client (not a reader and a writer) keeps an idle connection to
//! about a kilobyte of task state; on the way out it removes the client from the
//! server, queues `ERROR`, and flushes.

use super::flood::Bucket;
use super::input::Input;
use crate::commands::{self, Ctx};
use crate::metrics::{Transport, METRICS};
use crate::proto::LineCodec;
use crate::state::client::Client;
use crate::state::session::Detached;
use crate::state::{membership, Server};
use bytes::BytesMut;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Decoder;
use tracing::Instrument;

/// Writes a client may get in quick succession before the write interval
/// spaces them (see `Io::hold_write`): two messages close together in quiet
/// chat are not held, a stream is. A larger burst costs batching when the
/// server is busy (4 took a tenth off the 1×500 fan-out peak).
const WRITE_BURST: u32 = 2;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the final flush (ERROR line and anything queued) may take.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

/// On a node of a cluster, how long a quitting user's connection waits for
/// its QUIT to come back from the log before its ERROR and close (about a
/// millisecond with Redis at hand; bounded when Redis is away).
const QUIT_WAIT: Duration = Duration::from_secs(1);
/// How long a closed connection goes on reading, and discarding, what the
/// client still sends (a lingering close, as web servers do): closing a
/// socket with unread input resets the connection, and a client still
/// sending (a flood cut off, commands pipelined after QUIT) would then get a
/// write error instead of reading its `ERROR` line.
const LINGER: Duration = Duration::from_secs(2);

/// Serves one accepted plain TCP connection until it ends: the task to spawn.
/// Boxed, and not an async fn: the task (a cache-line aligned allocation) then
/// holds only a pointer, and the session state is one plain allocation.
pub fn serve_tcp(server: Arc<Server>, stream: TcpStream, addr: SocketAddr) -> Pin<Box<impl Future<Output = ()>>> {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    Box::pin(serve(server, Input::Tcp(rd), wr, addr, None))
}

/// Serves one accepted TLS connection: handshake, then as plain.
pub async fn serve_tls(server: Arc<Server>, acceptor: TlsAcceptor, stream: TcpStream, addr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let certfp =
                tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| super::tls::fingerprint(c));
            let (rd, wr) = tokio::io::split(tls);
            Box::pin(serve(server, Input::Tls(rd), wr, addr, Some(certfp))).await
        }
        // The place is given back before the failure is logged: whoever reads
        // the log line may count on the place being free.
        Ok(Err(e)) => {
            server.release_ip(addr.ip());
            tracing::info!(peer = %addr, error = %e, "TLS handshake failed");
        }
        Err(_) => {
            server.release_ip(addr.ip());
            tracing::info!(peer = %addr, "TLS handshake timed out");
        }
    }
}

/// Serves one WebSocket client once its HTTP upgrade is done, with the same
/// task and command path as TCP. `addr` is the client's address (from
/// `X-Forwarded-For` behind a trusted proxy); `secure` whether it came over
/// TLS (to banterd or to that proxy). The caller has admitted it.
pub async fn serve_ws(
    server: Arc<Server>,
    upgraded: hyper::upgrade::Upgraded,
    kind: super::websocket::Kind,
    addr: SocketAddr,
    secure: bool,
) {
    let (rd, wr) = super::websocket::open(upgraded, kind).await;
    Box::pin(serve(server, Input::Ws(rd), wr, addr, secure.then_some(None))).await
}

/// Registers a new client for an accepted connection and returns its task's
/// future. A plain function, so the future holds only the session's state.
/// `tls` is `None` for plain TCP, else the client certificate's fingerprint,
/// if any.
fn serve<W: AsyncWrite + Unpin + Send>(
    server: Arc<Server>,
    input: Input,
    wr: W,
    addr: SocketAddr,
    tls: Option<Option<String>>,
) -> impl std::future::Future<Output = ()> {
    let id = server.next_client_id();
    let now = chrono::Utc::now().timestamp();
    let sendq = server.config().limits.sendq;
    let (is_tls, certfp) = (tls.is_some(), tls.flatten());
    let transport = match (&input, is_tls) {
        (Input::Ws(_), _) => Transport::WebSocket,
        (_, true) => Transport::Tls,
        _ => Transport::Plain,
    };
    METRICS.connected(transport);
    let client = Arc::new(Client::new(id, addr.ip(), addr.port(), is_tls, sendq, now).with_certfp(certfp));
    server.clients.insert(id, client.clone());
    // A connection accepted as the server shuts down (from a listener's
    // backlog) is told goodbye at once; one inserted before the shutdown
    // began is asked to close by it (the map's locks order the two).
    if server.is_shutting_down() {
        client.request_close("Server shutting down");
    }
    tracing::info!(id, peer = %addr, tls = is_tls, certfp = client.certfp.as_deref(), "connected");
    let interval_us = server.config().limits.write_interval_ms.saturating_mul(1000).min(u64::from(u32::MAX)) as u32;
    let mut io = Io {
        input,
        wr,
        out: Vec::new(),
        pos: 0,
        client: client.clone(),
        interval_us,
        phase_us: write_phase(id, interval_us),
        replies: false,
        unflushed: false,
        paced_until: None,
        hold: None,
    };
    let mut ctx = Ctx::new(server, client);
    // An async block, not an async fn taking `mut io, mut ctx`: those would be
    // stored twice in the task (once as arguments, once as locals).
    async move {
        let reason = read_loop(&mut ctx, &mut io).await;
        METRICS.disconnected(transport, &reason);
        commands::message::flush_held(&mut ctx);
        if membership::detach(&ctx.server, &ctx.client, &ctx.link, &reason) == Detached::Last {
            membership::remove_client(&ctx.server, &ctx.client, &reason);
            if let Some(cluster) = ctx.server.cluster() {
                cluster.quit_applied(ctx.client.id, QUIT_WAIT).await;
            }
        }
        let host = ctx.client.info().host.clone();
        ctx.link.close_outbox(format!("ERROR :Closing Link: {host} ({reason})\r\n").as_bytes());
        let _ = Box::pin(tokio::time::timeout(FINAL_FLUSH, io.flush_all())).await;
        // A client's quit message is its own text: logged only at debug.
        match reason.strip_prefix("Quit: ") {
            Some(text) => {
                tracing::debug!(quit_message = text, "quit message");
                tracing::info!(reason = "Quit", "disconnected");
            }
            None => tracing::info!(%reason, "disconnected"),
        }
        // Not while the server shuts down: nothing is read after the process exits anyway.
        if !ctx.server.is_shutting_down() {
            let _ = Box::pin(tokio::time::timeout(LINGER, io.input.discard())).await;
        }
    }
    .instrument(tracing::info_span!("conn", id))
}

/// The socket halves and the bytes being written.
struct Io<W> {
    input: Input,
    wr: W,
    /// Bytes taken from the outbox, written up to `pos`.
    out: Vec<u8>,
    pos: usize,
    client: Arc<Client>,
    /// Microseconds between two writes of a busy client
    /// (`limits.write_interval_ms`); 0 writes at once.
    interval_us: u32,
    /// Where in each interval this client's held writes happen (see
    /// [`next_write_slot`]).
    phase_us: u32,
    /// Replies to the client's own commands are queued: they go out at once.
    replies: bool,
    /// Written since the last flush: a transport that buffers (TLS,
    /// WebSocket) may hold bytes until flushed. Never set for plain TCP.
    unflushed: bool,
    /// Write pacing (a generic cell rate algorithm): each write moves this
    /// one interval later, from now at the earliest and to at most
    /// [`WRITE_BURST`] intervals ahead; while it is more than `WRITE_BURST` − 1
    /// intervals ahead, output waits for the client's next write slot. `None`
    /// before the first write.
    paced_until: Option<Instant>,
    /// The wait before the next write, only while output waits for it (boxed:
    /// most clients never have one).
    hold: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// What woke the connection up.
enum Event {
    /// Bytes arrived (or the read failed / reached end of stream).
    Read(std::io::Result<usize>),
    /// A close was requested (KILL, SendQ, ping timeout, shutdown).
    Close,
    /// The flood delay is over.
    Timer,
    /// Writing to the socket failed.
    WriteFailed,
}

impl<W: AsyncWrite + Unpin> Io<W> {
    /// Takes the next batch from the outbox when the current one is written; an
    /// idle connection keeps no buffer.
    fn refill(&mut self) {
        if self.pos < self.out.len() {
            return;
        }
        self.out.clear();
        self.pos = 0;
        self.client.outbox.take(&mut self.out);
        if self.out.is_empty() {
            self.out = Vec::new();
            self.client.outbox.release_if_empty();
        }
    }

    /// Whether the next batch must wait for the write interval; if so, the
    /// task is woken when it is over. Otherwise the batch starts now. A client
    /// may be written to [`WRITE_BURST`] times in quick succession; after that,
    /// while output keeps coming, once per interval, at its own write slot.
    /// Replies to the client's own commands never wait: the interval only
    /// gathers what other clients' traffic queues.
    fn hold_write(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        if self.interval_us == 0 {
            return false;
        }
        let now = Instant::now();
        let interval = Duration::from_micros(self.interval_us.into());
        if !self.replies {
            if let Some(hold) = self.hold.as_mut() {
                if hold.as_mut().poll(cx).is_pending() {
                    return true;
                }
            } else if self.paced_until.is_some_and(|t| t > now + interval * (WRITE_BURST - 1)) {
                let at = next_write_slot(now, self.interval_us, self.phase_us);
                let mut hold = Box::pin(tokio::time::sleep_until(at.into()));
                if hold.as_mut().poll(cx).is_pending() {
                    self.hold = Some(hold);
                    return true;
                }
            }
        }
        self.replies = false;
        self.hold = None;
        // Writes that did not wait (replies) count too, but the debt stays
        // within one burst: a held write never waits past its next slot.
        let until = self.paced_until.map_or(now, |t| t.max(now)) + interval;
        self.paced_until = Some(until.min(now + interval * WRITE_BURST));
        false
    }

    /// Writes queued output while waiting for input (or, with `until`, for a
    /// flood delay to pass), and returns the first other event. Polled by hand
    /// rather than with `select!`, so the waiting state is a few pointers.
    async fn next_event(&mut self, buf: &mut BytesMut, until: Option<Instant>) -> Event {
        let mut timer = until.map(|t| Box::pin(tokio::time::sleep_until(t.into())));
        let mut yielded = false;
        std::future::poll_fn(|cx| loop {
            self.client.take_signal();
            if self.client.close_requested().is_some() {
                return Poll::Ready(Event::Close);
            }
            let mut held = false;
            if self.pos >= self.out.len() && !self.client.outbox.is_empty() {
                if !yielded {
                    // Woken by fan-out: let the waking task finish its loop first,
                    // so one write carries everything it queued for this client.
                    yielded = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                held = self.hold_write(cx);
            }
            if !held {
                if self.pos >= self.out.len() {
                    self.refill();
                }
                if self.pos < self.out.len() {
                    match Pin::new(&mut self.wr).poll_write(cx, &self.out[self.pos..]) {
                        Poll::Ready(Ok(n)) if n > 0 => {
                            self.pos += n;
                            METRICS.bytes_out.add(n as u64);
                            // TCP writes go straight to the socket: no flush call.
                            self.unflushed = !matches!(self.input, Input::Tcp(_));
                            continue;
                        }
                        Poll::Ready(_) => return Poll::Ready(Event::WriteFailed),
                        Poll::Pending => {}
                    }
                } else if self.unflushed {
                    match Pin::new(&mut self.wr).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.unflushed = false,
                        Poll::Ready(Err(_)) => return Poll::Ready(Event::WriteFailed),
                        Poll::Pending => {}
                    }
                }
                yielded = false;
            }
            match timer.as_mut() {
                Some(t) => {
                    if t.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Event::Timer);
                    }
                }
                None => {
                    if let Poll::Ready(r) = self.input.poll_read(cx, buf) {
                        return Poll::Ready(Event::Read(r));
                    }
                }
            }
            if !self.client.register_waker(cx) {
                return Poll::Pending;
            }
        })
        .await
    }

    /// Writes everything queued until the outbox is closed and empty.
    async fn flush_all(&mut self) {
        loop {
            self.refill();
            if self.pos >= self.out.len() {
                break;
            }
            if self.wr.write_all(&self.out[self.pos..]).await.is_err() {
                break;
            }
            METRICS.bytes_out.add((self.out.len() - self.pos) as u64);
            self.pos = self.out.len();
        }
        let _ = self.wr.flush().await;
        let _ = self.wr.shutdown().await;
    }
}

/// Reads and handles lines until the client quits, the connection drops, or a
/// close is requested; returns the quit reason.
async fn read_loop<W: AsyncWrite + Unpin>(ctx: &mut Ctx, io: &mut Io<W>) -> String {
    // This connection (an attached one keeps its own outbox and flood state).
    let client = ctx.link.clone();
    let mut codec = LineCodec::new();
    let mut buf = BytesMut::new();
    let (limited, max_backlog, mut bucket) = {
        let cfg = ctx.server.config();
        let f = &cfg.flood;
        (f.enabled && !cfg.is_exempt(client.ip), f.max_backlog, Bucket::new(f.burst, f.per_second, Instant::now()))
    };
    loop {
        loop {
            let frame = match codec.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return "Read error".into(),
            };
            if limited && !ctx.client.is_oper() {
                let delay = bucket.take(Instant::now());
                if !delay.is_zero() {
                    commands::message::flush_held(ctx);
                    // Measure what is waiting behind the lag before sleeping on it.
                    let before = buf.len();
                    io.input.read_waiting(&mut buf, 256 * 1024);
                    METRICS.bytes_in.add(buf.len().saturating_sub(before) as u64);
                    let pending = buf.iter().filter(|b| **b == b'\n').count();
                    if pending as u32 > max_backlog {
                        return "Excess Flood".into();
                    }
                    // Boxed: rare, and the idle task then keeps no room for it.
                    match Box::pin(io.next_event(&mut buf, Some(Instant::now() + delay))).await {
                        Event::Timer => {}
                        Event::Close => return closing_reason(&client),
                        _ => return "Connection reset by peer".into(),
                    }
                }
            }
            // Boxed: the handler's state lives on the heap only while a line is
            // being handled, so an idle connection's task stays small.
            Box::pin(commands::handle_frame(ctx, frame)).await;
            let cost = std::mem::take(&mut ctx.conn.cost);
            if limited && cost > 0 && !ctx.client.is_oper() {
                bucket.charge(cost);
            }
            if let Some(reason) = ctx.conn.quit.take() {
                return reason;
            }
            if let Some(reason) = client.close_requested() {
                return reason;
            }
        }
        // The read batch is handled: deliver the channel messages it held, and
        // answer the client without waiting for the write interval.
        commands::message::flush_held(ctx);
        io.replies = !client.outbox.is_empty();
        if buf.is_empty() {
            // An idle client keeps no read buffer.
            buf = BytesMut::new();
        }
        match io.next_event(&mut buf, None).await {
            Event::Read(Ok(0)) => return "Connection closed".into(),
            Event::Read(Ok(n)) => METRICS.bytes_in.add(n as u64),
            Event::Read(Err(e)) => return Input::error_reason(&e).into(),
            Event::WriteFailed => return "Connection reset by peer".into(),
            Event::Close => return closing_reason(&client),
            Event::Timer => {}
        }
    }
}

/// Where in the write interval a client's held writes happen: spread over
/// the interval by client id, so that the members of a busy channel, who all
/// have output at the same moments, are not all written in one burst.
fn write_phase(id: u64, interval_us: u32) -> u32 {
    if interval_us == 0 {
        return 0;
    }
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32 % interval_us
}

/// The first of a client's write slots after `now`: the instants `phase_us`
/// past a multiple of `interval_us` since the first call (the epoch shared by
/// every connection).
fn next_write_slot(now: Instant, interval_us: u32, phase_us: u32) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| now);
    let period = u64::from(interval_us);
    let elapsed = now.saturating_duration_since(epoch).as_micros() as u64;
    let into = (elapsed + period - u64::from(phase_us)) % period;
    epoch + Duration::from_micros(elapsed + period - into)
}

fn closing_reason(client: &Client) -> String {
    client.close_requested().unwrap_or_else(|| "Connection closed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_slots_follow_the_phase() {
        let interval = 8_000;
        for phase in [0, 1, 3_999, 7_999] {
            let start = Instant::now();
            let first = next_write_slot(start, interval, phase);
            assert!(first > start && first <= start + Duration::from_micros(interval.into()));
            // From anywhere before a slot, the next one is that slot; from the
            // slot itself, the one an interval later.
            for back in [1, 500, 7_999] {
                assert_eq!(next_write_slot(first - Duration::from_micros(back), interval, phase), first);
            }
            assert_eq!(next_write_slot(first, interval, phase), first + Duration::from_micros(interval.into()));
        }
    }

    #[test]
    fn phases_spread_over_the_interval() {
        let interval = 8_000;
        let mut per_ms = [0u32; 8];
        for id in 0..800 {
            let p = write_phase(id, interval);
            assert!(p < interval);
            per_ms[(p / 1_000) as usize] += 1;
        }
        // Consecutive ids (how connections are numbered) fill every
        // millisecond of the interval about evenly.
        assert!(per_ms.iter().all(|&n| (70..=130).contains(&n)), "{per_ms:?}");
        assert_eq!(write_phase(5, 0), 0);
    }
}
