//! One connection's task: read bytes, frame lines, dispatch commands, and on the
//! way out remove the client from the server and say goodbye.

use super::flood::Bucket;
use super::input::Input;
use super::writer;
use crate::commands::{self, Ctx};
use crate::proto::LineCodec;
use crate::state::client::Client;
use crate::state::{membership, Server};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Decoder;
use tracing::Instrument;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one accepted plain TCP connection until it ends.
pub async fn serve_tcp(server: Arc<Server>, stream: TcpStream, addr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    serve(server, Input::Tcp(rd), wr, addr, false).await
}

/// Serves one accepted TLS connection: handshake, then as plain.
pub async fn serve_tls(server: Arc<Server>, acceptor: TlsAcceptor, stream: TcpStream, addr: SocketAddr) {
    let _ = stream.set_nodelay(true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let (rd, wr) = tokio::io::split(tls);
            serve(server, Input::Tls(rd), wr, addr, true).await
        }
        Ok(Err(e)) => {
            tracing::info!(peer = %addr, error = %e, "TLS handshake failed");
            release_admission(&server, addr);
        }
        Err(_) => {
            tracing::info!(peer = %addr, "TLS handshake timed out");
            release_admission(&server, addr);
        }
    }
}

/// Gives back the per-IP slot taken by the listener for a connection that never became a client.
fn release_admission(server: &Server, addr: SocketAddr) {
    if let Some(mut n) = server.per_ip.get_mut(&addr.ip()) {
        *n = n.saturating_sub(1);
    }
    server.per_ip.remove_if(&addr.ip(), |_, n| *n == 0);
}

async fn serve<W: AsyncWrite + Unpin + Send + 'static>(
    server: Arc<Server>,
    input: Input,
    wr: W,
    addr: SocketAddr,
    tls: bool,
) {
    let cfg = server.config();
    let id = server.next_client_id();
    let now = chrono::Utc::now().timestamp();
    let client = Arc::new(Client::new(id, addr.ip(), addr.port(), tls, cfg.limits.sendq, now));
    server.clients.insert(id, client.clone());
    let span = tracing::info_span!("conn", id);
    async move {
        tracing::info!(peer = %addr, tls, "connected");
        let mut writer = tokio::spawn(writer::run(client.clone(), wr));
        let mut ctx = Ctx::new(server.clone(), client.clone());
        let reason = read_loop(&mut ctx, input).await;
        membership::remove_client(&server, &client, &reason);
        let host = client.info().host.clone();
        client.outbox.close_with(format!("ERROR :Closing Link: {host} ({reason})\r\n").as_bytes());
        if tokio::time::timeout(Duration::from_secs(5), &mut writer).await.is_err() {
            writer.abort();
        }
        tracing::info!(%reason, "disconnected");
    }
    .instrument(span)
    .await
}

/// Reads and handles lines until the client quits, the connection drops, or a
/// close is requested; returns the quit reason.
async fn read_loop(ctx: &mut Ctx, mut input: Input) -> String {
    let client = ctx.client.clone();
    let mut codec = LineCodec::new();
    let mut buf = BytesMut::new();
    let flood = ctx.server.config().flood.clone();
    let limited = flood.enabled && !ctx.server.config().is_exempt(client.ip);
    let mut bucket = Bucket::new(flood.burst, flood.per_second, Instant::now());
    loop {
        loop {
            let frame = match codec.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return "Read error".into(),
            };
            if limited && !client.is_oper() {
                let delay = bucket.take(Instant::now());
                if !delay.is_zero() {
                    // Measure what is waiting behind the lag before sleeping on it.
                    input.read_waiting(&mut buf, 256 * 1024);
                    let pending = buf.iter().filter(|b| **b == b'\n').count();
                    if pending as u32 > flood.max_backlog {
                        return "Excess Flood".into();
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = client.wait_close() => return closing_reason(&client),
                    }
                }
            }
            // Boxed: the handler's state lives on the heap only while a line is
            // being handled, so an idle connection's task stays small.
            Box::pin(commands::handle_frame(ctx, frame)).await;
            if let Some(reason) = ctx.conn.quit.take() {
                return reason;
            }
            if let Some(reason) = client.close_requested() {
                return reason;
            }
        }
        if buf.is_empty() {
            // An idle client keeps no read buffer.
            buf = BytesMut::new();
        }
        tokio::select! {
            biased;
            _ = client.wait_close() => return closing_reason(&client),
            r = input.read(&mut buf) => match r {
                Ok(0) => return "Connection closed".into(),
                Ok(_) => {}
                Err(_) => return "Connection reset by peer".into(),
            },
        }
    }
}

fn closing_reason(client: &Client) -> String {
    client.close_requested().unwrap_or_else(|| "Connection closed".into())
}
