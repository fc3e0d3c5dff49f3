//! The HTTP side of banterd: each `[[websocket]]` listener is a small HTTP/1.1
//! server (hyper) that upgrades WebSocket requests to IRC connections
//! (`upgrade`, then `net::websocket` and the usual connection task) and serves
//! the bundled web client (`assets`). `router` decides which; a later page
//! such as `/metrics` is one more route there.
//!
//! An HTTP connection lives in its own task only until it is upgraded (or
//! closes): the IRC session then runs in the connection task every client has.

pub mod assets;
pub mod forwarded;
pub mod metrics;
pub mod router;
mod upgrade;

use crate::config::WebsocketConfig;
use crate::net::limits::RateTable;
use crate::net::proxy::{self, Origin};
use crate::state::Server;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// How long a request's headers may take to arrive, and how long an idle
/// keep-alive connection stays open.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head read (hyper's minimum is 8 KiB).
const MAX_HEAD: usize = 16 * 1024;

/// One WebSocket listener: what every request on it needs.
pub struct Site {
    /// The server the WebSocket clients join.
    pub server: Arc<Server>,
    /// The listener's `[[websocket]]` block.
    pub settings: WebsocketConfig,
    /// Whether the listener speaks TLS.
    pub tls: bool,
    /// Recent connections per client address (the connection rate limit).
    pub rates: RateTable,
    /// HTTP connections open and not yet upgraded.
    open: AtomicUsize,
}

/// Accepts on `listener` until shutdown, serving HTTP on each connection (over
/// TLS when `settings.tls`, with the server's acceptor of the moment: a reload
/// may have replaced the certificate).
pub async fn run(server: Arc<Server>, listener: TcpListener, settings: WebsocketConfig) {
    let tls = settings.tls;
    let site = Arc::new(Site { server, settings, tls, rates: RateTable::default(), open: AtomicUsize::new(0) });
    let mut shutdown = site.server.shutdown_signal();
    let mut last_prune = Instant::now();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if last_prune.elapsed().as_secs() >= 60 {
            site.rates.prune(Instant::now());
            last_prune = Instant::now();
        }
        // Admission (clients, per address, rate) is decided per WebSocket
        // request, when the client's address is known (X-Forwarded-For);
        // until then only the number of open HTTP connections is bounded.
        if site.open.load(Ordering::Relaxed) >= site.server.config().limits.max_clients {
            tracing::info!(%peer, "HTTP connection refused: too many open");
            continue;
        }
        let acceptor = if tls { site.server.tls_acceptors().web } else { None };
        if tls && acceptor.is_none() {
            continue; // never: the acceptors are loaded before listeners start
        }
        site.open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(site.clone(), stream, peer, acceptor));
    }
}

/// Serves one accepted connection: the PROXY header of a load balancer in
/// the block's `proxy_protocol_from` (the client it names then stands for
/// the peer, X-Forwarded-For included), TLS handshake if any, then HTTP.
async fn serve(site: Arc<Site>, mut stream: TcpStream, mut peer: SocketAddr, tls: Option<TlsAcceptor>) {
    let _ = stream.set_nodelay(true);
    if site.settings.proxy_protocol_from.iter().any(|r| r.contains(peer.ip())) {
        match proxy::read_header(&mut stream).await {
            Ok(Origin::Client(client)) => peer = client,
            Ok(Origin::Peer) => {}
            Ok(Origin::Local) => {
                tracing::debug!(proxy = %peer, "PROXY LOCAL (health check): closed");
                site.open.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            Err(reason) => {
                tracing::warn!(proxy = %peer, reason, "connection from a PROXY source closed");
                site.open.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
    }
    match tls {
        None => http(site.clone(), stream, peer).await,
        Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => http(site.clone(), stream, peer).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        },
    }
    site.open.fetch_sub(1, Ordering::Relaxed);
}

/// HTTP/1.1 on one connection, with upgrades, until it closes or is upgraded.
async fn http<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(site: Arc<Site>, stream: S, peer: SocketAddr) {
    serve_http(stream, peer, move |req| router::route(&site, peer, req)).await
}

/// HTTP/1.1 on one connection, each request answered by `route`: the one
/// HTTP server of banterd (WebSocket listeners and the metrics listener).
async fn serve_http<S, R>(stream: S, peer: SocketAddr, route: R)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: Fn(hyper::Request<hyper::body::Incoming>) -> hyper::Response<router::Body> + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let response = route(req);
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "HTTP connection ended");
    }
}

/// Most metrics connections open at once (Prometheus keeps one per target).
const MAX_METRICS_CONNECTIONS: usize = 16;

/// Serves `/metrics` on `listener` (`[metrics] listen`) until shutdown.
pub async fn run_metrics(server: Arc<Server>, listener: TcpListener) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut shutdown = server.shutdown_signal();
    loop {
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        if open.fetch_add(1, Ordering::Relaxed) >= MAX_METRICS_CONNECTIONS {
            open.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let (server, open) = (server.clone(), open.clone());
        tokio::spawn(async move {
            serve_http(stream, peer, move |req| router::metrics_or_not_found(&server, &req)).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}
