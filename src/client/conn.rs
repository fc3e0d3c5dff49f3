//! The connection (TCP, or TLS over it): one task reads and parses lines,
//! one writes.
//!
//! Every event carries the connection's id so the session can ignore late
//! events from a connection it has already given up on.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use super::irc::Message;

/// The longest line accepted from the server: 8191 bytes of tags + 512.
const MAX_INCOMING: u64 = 8191 + 512;
/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Lines to send; dropping it closes the connection.
pub type Writer = mpsc::UnboundedSender<String>;

/// What a connection reports to the session.
#[derive(Debug)]
pub enum ConnEvent {
    /// The TCP connection is up; send lines through `writer`.
    Connected {
        /// Which connection.
        id: u64,
        /// Where to send lines.
        writer: Writer,
    },
    /// The connect failed; `error` is a readable reason.
    Failed {
        /// Which connection.
        id: u64,
        /// Why, for the user.
        error: String,
    },
    /// One line from the server.
    Message {
        /// Which connection.
        id: u64,
        /// The parsed line.
        msg: Message,
    },
    /// The server closed the connection or it broke.
    Closed {
        /// Which connection.
        id: u64,
        /// Why, for the user.
        reason: String,
    },
}

/// Where to connect, and how.
#[derive(Clone)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// TLS settings with `--tls`; plain TCP without.
    pub tls: Option<Arc<ClientConfig>>,
}

/// Starts connecting to `target` in the background; the outcome and every
/// line afterwards arrive on `events`.
pub fn spawn(id: u64, target: Target, events: mpsc::UnboundedSender<ConnEvent>) {
    tokio::spawn(async move {
        let addr = target.addr.as_str();
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                let error = describe_connect_error(addr, &err);
                let _ = events.send(ConnEvent::Failed { id, error });
                return;
            }
            Err(_) => {
                let error = format!("cannot connect to {addr}: timed out");
                let _ = events.send(ConnEvent::Failed { id, error });
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let Some(config) = target.tls else {
            return run(id, stream, events).await;
        };
        match handshake(addr, config, stream).await {
            Ok(tls) => run(id, tls, events).await,
            Err(error) => {
                let _ = events.send(ConnEvent::Failed { id, error });
            }
        }
    });
}

/// The TLS handshake, with the host part of `addr` as the expected name.
async fn handshake(addr: &str, config: Arc<ClientConfig>, stream: TcpStream) -> Result<TlsStream<TcpStream>, String> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("TLS: bad server name {host:?}: {e}"))?;
    let connect = TlsConnector::from(config).connect(name, stream);
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(err)) => {
            let hint = if err.to_string().contains("certificate") {
                " (for a self-signed server, pass its certificate with --tls-ca FILE)"
            } else {
                ""
            };
            Err(format!("TLS handshake with {addr} failed: {err}{hint}"))
        }
        Err(_) => Err(format!("TLS handshake with {addr} timed out")),
    }
}

/// Runs an established connection: a writer task and the read loop.
async fn run<S>(id: u64, stream: S, events: mpsc::UnboundedSender<ConnEvent>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (read_half, mut write_half) = tokio::io::split(stream);
    let (writer, mut outgoing) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(line) = outgoing.recv().await {
            let data = format!("{line}\r\n");
            if write_half.write_all(data.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = write_half.shutdown().await;
    });
    if events.send(ConnEvent::Connected { id, writer }).is_err() {
        return;
    }
    let reason = read_loop(id, read_half, &events).await;
    let _ = events.send(ConnEvent::Closed { id, reason });
}

/// Reads lines until the connection ends; returns why it ended.
async fn read_loop<R: AsyncRead + Unpin>(id: u64, read_half: R, events: &mpsc::UnboundedSender<ConnEvent>) -> String {
    let mut reader = BufReader::new(read_half);
    let mut buf = Vec::new();
    let mut skipping = false;
    loop {
        buf.clear();
        match (&mut reader).take(MAX_INCOMING).read_until(b'\n', &mut buf).await {
            Ok(0) => return "the server closed the connection".to_string(),
            Ok(_) => {}
            Err(err) => return format!("connection error: {err}"),
        }
        let complete = buf.ends_with(b"\n");
        if skipping || !complete {
            // An overlong line: drop it, up to and including its newline.
            skipping = !complete;
            continue;
        }
        let text = String::from_utf8_lossy(&buf);
        if let Some(msg) = Message::parse(&text) {
            if events.send(ConnEvent::Message { id, msg }).is_err() {
                return "client shutting down".to_string();
            }
        }
    }
}

/// A readable reason for a failed connect.
fn describe_connect_error(addr: &str, err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => {
            format!("cannot connect to {addr}: connection refused (is the server running?)")
        }
        _ => format!("cannot connect to {addr}: {err}"),
    }
}
