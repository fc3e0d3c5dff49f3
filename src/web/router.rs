//! Which answer a request gets: a WebSocket upgrade (on any path, as IRC
//! web clients are configured with all sorts), a file of the web client, or
//! an error. Add a page (say
//! `/metrics`) as one more arm of the match in [`route`].

use super::{assets, upgrade, Site};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;

/// Every response body: whole, in memory.
pub type Body = http_body_util::Full<Bytes>;

/// Answers one request that arrived from `peer`.
pub fn route(site: &Arc<Site>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    if upgrade::is_websocket(&req) {
        return upgrade::websocket(site, peer, req);
    }
    if req.uri().path() == "/metrics" && site.server.config().metrics.listen == Some(site.settings.listen) {
        return metrics_or_not_found(&site.server, &req);
    }
    let asset = match req.uri().path() {
        path if site.settings.web_client => assets::find(path),
        _ => None,
    };
    let Some(asset) = asset else {
        return plain(StatusCode::NOT_FOUND, "Not found. IRC clients connect here over WebSocket.\n");
    };
    // hyper leaves the body out of an answer to HEAD.
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Only GET and HEAD.\n");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    assets::response(asset, req.headers())
}

/// `/metrics` (GET or HEAD), or 404 for any other path.
pub fn metrics_or_not_found<B>(server: &Arc<crate::state::Server>, req: &Request<B>) -> Response<Body> {
    if req.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "Not found. Metrics are at /metrics.\n");
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Only GET and HEAD.\n");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    super::metrics::response(server)
}

/// A short plain-text answer.
pub fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::copy_from_slice(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
