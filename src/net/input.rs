//! The read side of a connection: plain TCP (waits for readiness first, so an
//! idle client holds no buffer), TLS, or WebSocket.

use bytes::BytesMut;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::ReadHalf;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// How much to read at a time.
pub const READ_CHUNK: usize = 4096;

/// A connection's read half.
pub enum Input {
    /// Plain TCP.
    Tcp(OwnedReadHalf),
    /// TLS over TCP.
    Tls(ReadHalf<TlsStream<TcpStream>>),
    /// WebSocket (over TCP or TLS): one line per message.
    Ws(super::websocket::Reader),
}

impl Input {
    /// Polls for data and appends it to `buf`; `Ok(0)` at end of stream. A plain
    /// TCP connection reserves buffer space only once the socket is readable.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        match self {
            Input::Tcp(rd) => loop {
                if let Err(e) = std::task::ready!(rd.as_ref().poll_read_ready(cx)) {
                    return Poll::Ready(Err(e));
                }
                buf.reserve(READ_CHUNK);
                match rd.try_read_buf(buf) {
                    Ok(n) => return Poll::Ready(Ok(n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // The readiness was stale: do not hold the buffer while waiting.
                        if buf.is_empty() {
                            *buf = BytesMut::new();
                        }
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            },
            Input::Tls(rd) => {
                buf.reserve(READ_CHUNK);
                tokio_util::io::poll_read_buf(Pin::new(rd), cx, buf)
            }
            Input::Ws(rd) => rd.poll_read(cx, buf),
        }
    }

    /// Reads and drops whatever arrives until the end of the stream or an
    /// error (the lingering close of a connection already quit).
    pub async fn discard(&mut self) {
        let mut buf = BytesMut::new();
        loop {
            buf.clear();
            match std::future::poll_fn(|cx| self.poll_read(cx, &mut buf)).await {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// The quit reason for a failed read.
    pub fn error_reason(e: &io::Error) -> &'static str {
        super::websocket::error_reason(e).unwrap_or("Connection reset by peer")
    }

    /// Appends whatever is already waiting, without blocking, up to `cap` bytes in
    /// `buf` (used to measure a flood's backlog while the client is lagged).
    pub fn read_waiting(&mut self, buf: &mut BytesMut, cap: usize) {
        match self {
            Input::Tcp(rd) => {
                while buf.len() < cap {
                    buf.reserve(READ_CHUNK);
                    match rd.try_read_buf(buf) {
                        Ok(n) if n > 0 => continue,
                        _ => break,
                    }
                }
            }
            Input::Ws(rd) => {
                // Polled without a waker: the task's next wait registers its own.
                let mut cx = Context::from_waker(std::task::Waker::noop());
                while buf.len() < cap {
                    match rd.poll_read(&mut cx, buf) {
                        Poll::Ready(Ok(n)) if n > 0 => continue,
                        _ => break,
                    }
                }
            }
            Input::Tls(rd) => {
                // As for WebSocket: what has arrived is decrypted, and `Pending`
                // ends the loop. (Reading nothing here let a TLS client flood
                // long lines: a few dozen per record never looked like a backlog.)
                let mut cx = Context::from_waker(std::task::Waker::noop());
                while buf.len() < cap {
                    buf.reserve(READ_CHUNK);
                    match tokio_util::io::poll_read_buf(Pin::new(&mut *rd), &mut cx, buf) {
                        Poll::Ready(Ok(n)) if n > 0 => continue,
                        _ => break,
                    }
                }
            }
        }
    }
}
