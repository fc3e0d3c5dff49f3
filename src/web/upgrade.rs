//! Turning an HTTP request into an IRC connection: check the Origin, the
//! WebSocket handshake (tungstenite's checks and accept key) and the
//! subprotocol, find the client's address, admit it under the connection
//! limits, answer `101 Switching Protocols`, and hand the upgraded stream to a
//! connection task.

use super::router::{plain, Body};
use super::{forwarded, Site};
use crate::net::limits::admit;
use crate::net::websocket::{self, Kind};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE};
use hyper::{Request, Response, StatusCode};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::handshake::server::create_response_with_body;

/// Whether the request asks for a WebSocket.
pub fn is_websocket(req: &Request<Incoming>) -> bool {
    req.headers().get_all(UPGRADE).iter().any(|v| v.to_str().is_ok_and(|v| v.eq_ignore_ascii_case("websocket")))
}

/// Answers a WebSocket request; on success the IRC session starts once the
/// response is sent.
pub fn websocket(site: &Arc<Site>, peer: SocketAddr, mut req: Request<Incoming>) -> Response<Body> {
    if !forwarded::origin_allowed(req.headers(), &site.settings.origins) {
        let origin = req.headers().get(hyper::header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("");
        tracing::info!(%peer, origin, "WebSocket refused: origin not allowed");
        return plain(StatusCode::FORBIDDEN, "This web page's origin may not connect here.\n");
    }
    let mut response = match create_response_with_body(&req, Body::default) {
        Ok(r) => r,
        Err(e) => {
            let mut r = plain(StatusCode::BAD_REQUEST, &format!("Bad WebSocket request: {e}\n"));
            r.headers_mut().insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            return r;
        }
    };
    let offered = req.headers().get_all(SEC_WEBSOCKET_PROTOCOL).iter().filter_map(|v| v.to_str().ok());
    let kind = match Kind::negotiate(offered) {
        Some((kind, name)) => {
            response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(name));
            kind
        }
        None => Kind::Text,
    };
    let (ip, secure) = forwarded::client(peer.ip(), req.headers(), &site.settings.trusted_proxies, site.tls);
    let admitted = admit(&site.server, &site.server.config(), &site.rates, ip);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let server = site.server.clone();
    // Tracked from here: a shutdown waits for the upgrade and the session.
    site.server.connection_tasks.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "WebSocket upgrade failed");
                if admitted.is_ok() {
                    server.release_ip(ip);
                }
                return;
            }
        };
        match admitted {
            Ok(()) => {
                crate::net::connection::serve_ws(server, upgraded, kind, SocketAddr::new(ip, peer.port()), secure).await
            }
            Err(reason) => refuse(upgraded, kind, ip, reason).await,
        }
    });
    response
}

/// Tells a client that was not admitted why, as a TCP client would be told,
/// and closes.
async fn refuse(upgraded: hyper::upgrade::Upgraded, kind: Kind, ip: IpAddr, reason: &str) {
    tracing::info!(peer = %ip, reason, "WebSocket connection refused");
    let (_reader, mut writer) = websocket::open(upgraded, kind).await;
    let line = format!("ERROR :Closing Link: {ip} ({reason})\r\n");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let _ = writer.write_all(line.as_bytes()).await;
        let _ = writer.shutdown().await;
    })
    .await;
}
