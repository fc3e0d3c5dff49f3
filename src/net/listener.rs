//! Accepting connections and admitting them under the configured limits.

use super::limits::{admit, RateTable};
use crate::state::Server;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// The listen backlog asked for; the kernel caps it at `net.core.somaxconn`
/// (4096 on current Linux). tokio's default of 1024 overflows when a thousand
/// clients connect at once (after a netsplit, or a bouncer reconnecting its
/// users), and every dropped SYN costs that client a one-second retry.
const BACKLOG: u32 = 4096;

/// Binds a listening socket on `addr` (with `SO_REUSEADDR`, as servers do).
pub fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, String> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
    let listen = |socket: tokio::net::TcpSocket| {
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    socket.and_then(listen).map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Accepts on `listener` until shutdown, spawning a connection task per client;
/// with `tls`, each connection does a TLS handshake first, with the server's
/// acceptor of the moment (a reload may have replaced the certificate). At
/// shutdown, the connections already waiting in the backlog are accepted too,
/// so that they are told goodbye like everyone else rather than reset.
pub async fn run(server: Arc<Server>, listener: TcpListener, tls: bool) {
    let rates = RateTable::default();
    let mut shutdown = server.shutdown_signal();
    let mut last_prune = Instant::now();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if last_prune.elapsed().as_secs() >= 60 {
            rates.prune(Instant::now());
            last_prune = Instant::now();
        }
        start(&server, &rates, stream, addr, tls);
    }
    // The backlog, taken straight from the socket: the runtime's readiness
    // may not have caught up with the connections the kernel holds.
    let Ok(listener) = listener.into_std() else { return };
    while let Ok((stream, addr)) = listener.accept() {
        let stream = stream.set_nonblocking(true).and_then(|()| TcpStream::from_std(stream));
        if let Ok(stream) = stream {
            start(&server, &rates, stream, addr, tls);
        }
    }
}

/// Admits an accepted connection and spawns its task, or tells it why not.
fn start(server: &Arc<Server>, rates: &RateTable, mut stream: TcpStream, addr: SocketAddr, tls: bool) {
    let cfg = server.config();
    let tasks = &server.connection_tasks;
    match admit(server, &cfg, rates, addr.ip()) {
        Ok(()) if !tls => {
            tasks.spawn(super::connection::serve_tcp(server.clone(), stream, addr));
        }
        Ok(()) => match server.tls_acceptors().irc {
            Some(acceptor) => {
                tasks.spawn(super::connection::serve_tls(server.clone(), acceptor, stream, addr));
            }
            // TLS listeners start only once the server has an acceptor.
            None => server.release_ip(addr.ip()),
        },
        Err(reason) => {
            tracing::info!(peer = %addr, reason, "connection refused");
            tasks.spawn(async move {
                let _ = stream.write_all(format!("ERROR :Closing Link: {} ({reason})\r\n", addr.ip()).as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    }
}
