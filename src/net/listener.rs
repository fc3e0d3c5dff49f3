//! Accepting connections and admitting them under the configured limits.

use super::limits::{admit, RateTable};
use super::proxy::{self, Origin};
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
/// acceptor of the moment (a reload may have replaced the certificate). A
/// connection from a load balancer in `server.proxy_protocol_from` reads its
/// PROXY header before anything else, the handshake included. At
/// shutdown, the connections already waiting in the backlog are accepted too,
/// so that they are told goodbye like everyone else rather than reset.
pub async fn run(server: Arc<Server>, listener: TcpListener, tls: bool) {
    let rates = Arc::new(RateTable::default());
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
        handle_accepted(&server, &rates, stream, addr, tls);
    }
    // The backlog, taken straight from the socket: the runtime's readiness
    // may not have caught up with the connections the kernel holds.
    let Ok(listener) = listener.into_std() else { return };
    while let Ok((stream, addr)) = listener.accept() {
        let stream = stream.set_nonblocking(true).and_then(|()| TcpStream::from_std(stream));
        if let Ok(stream) = stream {
            handle_accepted(&server, &rates, stream, addr, tls);
        }
    }
}

/// Starts an accepted connection: at once, or, from a trusted load balancer,
/// once its PROXY header has named the client, who is then admitted (and
/// counted, and shown) under the client's address. A balancer that sends no
/// valid header in time is closed on; its health checks (`LOCAL`) are closed
/// as soon as the header is read.
fn handle_accepted(server: &Arc<Server>, rates: &Arc<RateTable>, stream: TcpStream, peer: SocketAddr, tls: bool) {
    if !server.config().sends_proxy_header(peer.ip()) {
        return start(server, rates, stream, peer, tls);
    }
    let (server, rates) = (server.clone(), rates.clone());
    let tasks = server.connection_tasks.clone();
    tasks.spawn(async move {
        let mut stream = stream;
        // A shutdown does not wait for a header still to come.
        let mut shutdown = server.shutdown_signal();
        let header = tokio::select! {
            h = proxy::read_header(&mut stream) => h,
            _ = shutdown.changed() => return,
        };
        match header {
            Ok(Origin::Client(client)) => {
                tracing::debug!(proxy = %peer, client = %client, "PROXY header");
                start(&server, &rates, stream, client, tls);
            }
            Ok(Origin::Peer) => {
                tracing::debug!(proxy = %peer, "PROXY header without the client's address");
                start(&server, &rates, stream, peer, tls);
            }
            Ok(Origin::Local) => tracing::debug!(proxy = %peer, "PROXY LOCAL (health check): closed"),
            Err(reason) => tracing::warn!(proxy = %peer, reason, "connection from a PROXY source closed"),
        }
    });
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
