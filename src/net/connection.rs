//! One connection's task: read bytes, frame lines, dispatch commands, and on the
//! way out remove the client from the server and say goodbye.

use super::flood::Bucket;
use super::writer;
use crate::commands::{self, Ctx};
use crate::proto::LineCodec;
use crate::state::client::Client;
use crate::state::{membership, Server};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;
use tracing::Instrument;

/// How much to read at a time.
const READ_CHUNK: usize = 4096;

/// Serves one accepted TCP connection until it ends.
pub async fn serve(server: Arc<Server>, stream: TcpStream, addr: SocketAddr) {
    let cfg = server.config();
    let id = server.next_client_id();
    let now = chrono::Utc::now().timestamp();
    let client = Arc::new(Client::new(id, addr.ip(), addr.port(), false, cfg.limits.sendq, now));
    server.clients.insert(id, client.clone());
    let span = tracing::info_span!("conn", id);
    async move {
        tracing::info!(peer = %addr, "connected");
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let mut writer = tokio::spawn(writer::run(client.clone(), wr));
        let mut ctx = Ctx::new(server.clone(), client.clone());
        let reason = read_loop(&mut ctx, rd).await;
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
async fn read_loop(ctx: &mut Ctx, rd: OwnedReadHalf) -> String {
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
                    drain_socket(&rd, &mut buf);
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
            r = rd.readable() => {
                if r.is_err() {
                    return "Connection reset by peer".into();
                }
            }
        }
        buf.reserve(READ_CHUNK);
        match rd.try_read_buf(&mut buf) {
            Ok(0) => return "Connection closed".into(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return "Connection reset by peer".into(),
        }
    }
}

fn closing_reason(client: &Client) -> String {
    client.close_requested().unwrap_or_else(|| "Connection closed".into())
}

/// Reads whatever is already waiting on the socket, without blocking, up to a cap.
fn drain_socket(rd: &OwnedReadHalf, buf: &mut BytesMut) {
    const CAP: usize = 256 * 1024;
    while buf.len() < CAP {
        buf.reserve(READ_CHUNK);
        match rd.try_read_buf(buf) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}
