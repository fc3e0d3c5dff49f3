//! The web client's files, compiled into the binary (`src/web/assets/`):
//! plain HTML, CSS and JavaScript, no build step.

use super::router::Body;
use bytes::Bytes;
use hyper::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HOST, IF_NONE_MATCH,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Response, StatusCode};
use std::sync::OnceLock;

/// One file the web client is made of.
pub struct Asset {
    /// Where it is served.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every file, the page first.
pub static ASSETS: &[Asset] = &[
    Asset { path: "/", content_type: "text/html; charset=utf-8", body: include_bytes!("assets/index.html") },
    Asset { path: "/app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("assets/app.js") },
    Asset { path: "/style.css", content_type: "text/css; charset=utf-8", body: include_bytes!("assets/style.css") },
    Asset { path: "/icon.svg", content_type: "image/svg+xml", body: include_bytes!("assets/icon.svg") },
];

/// The file served at `path` (`/index.html` is the page too).
pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// The `ETag` of each asset (a hash of its bytes), computed once.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(a.body);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    });
    let i = ASSETS.iter().position(|a| std::ptr::eq(a, asset)).unwrap_or(0);
    &tags[i]
}

/// The answer for `asset`: the file, or `304 Not Modified` when the browser's
/// copy is current. Browsers check back each time (`no-cache`), so a new
/// banterd's client is picked up at once.
pub fn response(asset: &'static Asset, request: &HeaderMap) -> Response<Body> {
    let tag = etag(asset);
    let fresh = request.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(tag));
    let mut r = if fresh {
        let mut r = Response::new(Body::default());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Body::new(Bytes::from_static(asset.body)))
    };
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(ETAG, v);
    }
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(v) = HeaderValue::from_str(&policy(request.get(HOST).and_then(|v| v.to_str().ok()))) {
        h.insert(CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// The page may load only its own files and connect only to this listener
/// (named outright: older browsers do not count ws: and wss: as 'self').
fn policy(host: Option<&str>) -> String {
    let connect = match host {
        Some(h) if !h.contains([' ', ';', ',', '\'']) => format!("'self' ws://{h} wss://{h}"),
        _ => "'self'".into(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src {connect}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_with_a_distinct_etag() {
        for a in ASSETS {
            assert!(std::ptr::eq(find(a.path).unwrap(), a));
            assert!(!a.body.is_empty());
        }
        assert!(std::ptr::eq(find("/index.html").unwrap(), &ASSETS[0]));
        assert!(find("/nope").is_none());
        let tags: std::collections::BTreeSet<_> = ASSETS.iter().map(etag).collect();
        assert_eq!(tags.len(), ASSETS.len());
    }

    #[test]
    fn policy_names_the_host() {
        assert!(policy(Some("127.0.0.1:8080")).contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"));
        assert!(policy(Some("x; script-src *")).contains("connect-src 'self';"));
    }
}
