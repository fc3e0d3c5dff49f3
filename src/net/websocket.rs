//! The IRCv3 WebSocket transport (ircv3.net/specs/extensions/websocket): one
//! IRC line per WebSocket message, without its CRLF.
//!
//! A WebSocket client is served by the same connection task as a TCP client
//! (`net::connection`): the reader turns each message into a line followed by a
//! newline, so the same `LineCodec` frames it with the same limits (512 + 4096
//! bytes, `417`, UTF-8, NUL and CR rules), and the writer turns the outbox's
//! CRLF-terminated lines back into one message each. Flood control, the sendq,
//! the connection limits and every command are the TCP ones. The framing itself
//! is tungstenite's.
//!
//! With `text.ircv3.net` lines go out as text messages; a line that is not
//! UTF-8 has its bad bytes replaced by U+FFFD, as the spec requires (banterd
//! refuses non-UTF-8 input, so this is a safety net). With `binary.ircv3.net`
//! the bytes go out as they are. Either kind of message is accepted from the
//! client whatever was negotiated.

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, Stream, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWrite;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// The subprotocol for binary messages.
pub const BINARY: &str = "binary.ircv3.net";
/// The subprotocol for text messages.
pub const TEXT: &str = "text.ircv3.net";

/// The largest WebSocket message (and frame) accepted: an IRC line at its
/// limits with room to spare, so an overlong line still gets `417` from the
/// codec; tungstenite refuses anything larger before buffering it, and the
/// client is disconnected ("WebSocket message too long").
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Outbox bytes handed to the WebSocket per write: the outbox, not the
/// WebSocket's buffer, holds a slow client's backlog (and counts it against
/// the sendq).
const WRITE_BATCH: usize = 32 * 1024;

/// The kind of messages a connection sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `text.ircv3.net`, or no subprotocol: text messages, always valid UTF-8.
    Text,
    /// `binary.ircv3.net`: binary messages, bytes as they are.
    Binary,
}

impl Kind {
    /// The subprotocol to answer for the client's `Sec-WebSocket-Protocol`
    /// header values: the first of the client's, in its order of preference,
    /// that banterd speaks. `None` (no header in the answer) when it offered
    /// none of them; the connection then uses text messages.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<(Kind, &'static str)> {
        offered.into_iter().flat_map(|v| v.split(',')).find_map(|p| match p.trim() {
            p if p.eq_ignore_ascii_case(BINARY) => Some((Kind::Binary, BINARY)),
            p if p.eq_ignore_ascii_case(TEXT) => Some((Kind::Text, TEXT)),
            _ => None,
        })
    }
}

/// The stream under a WebSocket: an upgraded HTTP connection (TCP or TLS).
type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Starts the WebSocket protocol on an upgraded connection and splits it into
/// the halves a connection task reads and writes.
pub async fn open(upgraded: Upgraded, kind: Kind) -> (Reader, Writer) {
    let config = WebSocketConfig::default()
        // Allocated up front: keep an idle client small.
        .read_buffer_size(4096)
        .write_buffer_size(WRITE_BATCH)
        .max_write_buffer_size(4 * WRITE_BATCH)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let (sink, stream) = socket.split();
    (Reader { stream }, Writer { sink, kind, partial: Vec::new() })
}

/// The read half: messages in, lines out.
pub struct Reader {
    stream: SplitStream<Socket>,
}

impl Reader {
    /// Appends the next messages to `buf`, each followed by a newline, as the
    /// line codec expects (a message that already ends in CRLF gets a blank
    /// line after it, which the codec skips). `Ok(0)` when the client closed.
    /// Messages already received are taken together, as one TCP read would.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        let start = buf.len();
        loop {
            let got = buf.len() - start;
            let next = match Pin::new(&mut self.stream).poll_next(cx) {
                Poll::Ready(next) => next,
                Poll::Pending if got > 0 => return Poll::Ready(Ok(got)),
                Poll::Pending => return Poll::Pending,
            };
            match next {
                Some(Ok(Message::Text(text))) => push_line(buf, text.as_bytes()),
                Some(Ok(Message::Binary(bytes))) => push_line(buf, &bytes),
                // Pings are answered by tungstenite; pongs and raw frames carry nothing.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // The lines before a close or an error are handled first.
                Some(Ok(Message::Close(_))) | None if got > 0 => return Poll::Ready(Ok(got)),
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(0)),
                Some(Err(_)) if got > 0 => return Poll::Ready(Ok(got)),
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
            }
            if buf.len() - start >= super::input::READ_CHUNK {
                return Poll::Ready(Ok(buf.len() - start));
            }
        }
    }
}

fn push_line(buf: &mut BytesMut, payload: &[u8]) {
    buf.reserve(payload.len() + 1);
    buf.extend_from_slice(payload);
    buf.extend_from_slice(b"\n");
}

/// The write half: the outbox's CRLF-terminated lines out, one message each.
pub struct Writer {
    sink: SplitSink<Socket, Message>,
    kind: Kind,
    /// The start of a line whose end has not been written yet (the outbox
    /// holds whole lines, so this stays empty in practice).
    partial: Vec<u8>,
}

impl Writer {
    fn message(&self, line: &[u8]) -> Message {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self.kind {
            Kind::Binary => Message::binary(Bytes::copy_from_slice(line)),
            Kind::Text => match std::str::from_utf8(line) {
                Ok(text) => Message::text(text),
                Err(_) => Message::text(String::from_utf8_lossy(line).into_owned()),
            },
        }
    }

    fn sink(&mut self) -> Pin<&mut SplitSink<Socket, Message>> {
        Pin::new(&mut self.sink)
    }
}

/// The quit reason for a read error that is the client's doing rather than
/// the network's.
pub fn error_reason(e: &io::Error) -> Option<&'static str> {
    match e.get_ref()?.downcast_ref::<WsError>()? {
        WsError::Capacity(_) => Some("WebSocket message too long"),
        WsError::Protocol(_) => Some("WebSocket protocol error"),
        WsError::Utf8(_) => Some("Invalid UTF-8 in a WebSocket text message"),
        _ => None,
    }
}

fn io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        e => io::Error::other(e),
    }
}

impl AsyncWrite for Writer {
    /// Takes the whole lines at the start of `buf` (up to a batch), queues one
    /// message per line and starts sending them. Nothing is taken while the
    /// previous batch is still on its way: the caller keeps it, and the task
    /// is woken when the socket can take more.
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.sink().poll_flush(cx)).map_err(io_error)?;
        let mut taken = 0;
        while taken < buf.len() && taken < WRITE_BATCH {
            // The Sink contract: ready before each message.
            match self.sink().poll_ready(cx) {
                Poll::Ready(r) => r.map_err(io_error)?,
                Poll::Pending if taken == 0 => return Poll::Pending,
                Poll::Pending => break,
            }
            let rest = &buf[taken..];
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                self.partial.extend_from_slice(rest);
                taken = buf.len();
                break;
            };
            let message = if self.partial.is_empty() {
                self.message(&rest[..=end])
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&rest[..=end]);
                self.message(&line)
            };
            self.sink().start_send(message).map_err(io_error)?;
            taken += end + 1;
        }
        // Start writing now; if the socket is full, the caller's poll_flush
        // (or the next write) finishes it.
        if let Poll::Ready(Err(e)) = self.sink().poll_flush(cx) {
            return Poll::Ready(Err(io_error(e)));
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sink().poll_flush(cx).map_err(io_error)
    }

    /// Sends the close frame (after everything queued).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sink().poll_close(cx).map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocol_follows_the_clients_preference() {
        assert_eq!(Kind::negotiate(["binary.ircv3.net"]), Some((Kind::Binary, BINARY)));
        assert_eq!(Kind::negotiate(["text.ircv3.net"]), Some((Kind::Text, TEXT)));
        assert_eq!(Kind::negotiate(["binary.ircv3.net, text.ircv3.net"]), Some((Kind::Binary, BINARY)));
        assert_eq!(Kind::negotiate(["text.ircv3.net", "binary.ircv3.net"]), Some((Kind::Text, TEXT)));
        assert_eq!(Kind::negotiate(["chat, Text.IRCv3.net"]), Some((Kind::Text, TEXT)));
        assert_eq!(Kind::negotiate(["chat", "superchat"]), None);
        assert_eq!(Kind::negotiate([]), None);
    }
}
