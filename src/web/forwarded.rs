//! Who is asking: the client's real address behind a trusted reverse proxy
//! (`X-Forwarded-For`, `X-Forwarded-Proto`), and whether the web page that
//! opened a WebSocket may do so (`Origin`).

use crate::net::iprange::IpRange;
use hyper::header::{HeaderMap, HOST, ORIGIN};
use std::net::{IpAddr, SocketAddr};

/// The client's address and whether it reached us over TLS. The peer itself,
/// unless the peer is a trusted proxy: then the right-most `X-Forwarded-For`
/// entry that is not a trusted proxy (entries further left were written by
/// the client and prove nothing), and `X-Forwarded-Proto: https` counts as TLS.
pub fn client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpRange], tls: bool) -> (IpAddr, bool) {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return (peer, tls);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    let proto = headers.get_all("x-forwarded-proto").iter().filter_map(|v| v.to_str().ok()).next_back();
    let secure =
        tls || proto.and_then(|p| p.rsplit(',').next()).is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    (client, secure)
}

/// An `X-Forwarded-For` entry: an address, maybe with a port (`[v6]:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// Whether a request may open a WebSocket: no `Origin` (not a browser), an
/// origin in `allowed` (or `"*"` there), or the page's own origin (its host
/// and port are the `Host` the request was sent to).
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed.iter().any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter().map(|r| IpRange::parse(r).unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "https")]);
        // not from a trusted proxy: the peer, and its own TLS state
        assert_eq!(client(ip("203.0.113.1"), &h, &ranges(&["127.0.0.1"]), false), (ip("203.0.113.1"), false));
        // from one: the forwarded address, secure by the proxy's word
        assert_eq!(client(ip("127.0.0.1"), &h, &ranges(&["127.0.0.1"]), false), (ip("198.51.100.7"), true));
        // a forged left-most entry is skipped: the right-most untrusted one counts
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(client(ip("10.0.0.1"), &h, &ranges(&["10.0.0.0/8"]), false), (ip("198.51.100.7"), false));
        // several headers are one list; ports and IPv6 are understood
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "[2001:db8::5]:4711")]);
        assert_eq!(client(ip("::1"), &h, &ranges(&["::1"]), true), (ip("2001:db8::5"), true));
        // garbage stops the walk at the last good hop
        let h = headers(&[("x-forwarded-for", "1.2.3.4, junk")]);
        assert_eq!(client(ip("127.0.0.1"), &h, &ranges(&["127.0.0.1"]), false), (ip("127.0.0.1"), false));
        // no header: the proxy itself
        assert_eq!(client(ip("127.0.0.1"), &HeaderMap::new(), &ranges(&["127.0.0.1"]), false).0, ip("127.0.0.1"));
    }

    #[test]
    fn origins() {
        let none: Vec<String> = Vec::new();
        assert!(origin_allowed(&headers(&[]), &none));
        assert!(origin_allowed(&headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")]), &none));
        assert!(!origin_allowed(&headers(&[("origin", "http://evil.example"), ("host", "127.0.0.1:8080")]), &none));
        assert!(!origin_allowed(&headers(&[("origin", "null"), ("host", "127.0.0.1:8080")]), &none));
        let list = vec!["https://chat.example.org".to_owned()];
        assert!(origin_allowed(&headers(&[("origin", "https://Chat.Example.org"), ("host", "irc:8080")]), &list));
        assert!(!origin_allowed(&headers(&[("origin", "http://chat.example.org"), ("host", "irc:8080")]), &list));
        assert!(origin_allowed(&headers(&[("origin", "http://anything"), ("host", "x")]), &["*".to_owned()]));
    }
}
