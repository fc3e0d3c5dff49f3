//! The PROXY protocol (versions 1 and 2, as HAProxy's `send-proxy` and
//! `send-proxy-v2` write it): a load balancer listed in
//! `server.proxy_protocol_from` begins each connection with a header naming
//! the client's address, which then stands for the peer's everywhere (host,
//! per-address limits, logs). Headers are parsed with the `ppp` crate; this
//! module reads exactly the header's bytes, no more, so whatever follows in
//! the same packet (IRC lines, a TLS ClientHello) is left in the socket for
//! the connection to read.

use ppp::v1;
use ppp::v2;
use ppp::PartialResult;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How long a trusted source may take to send its whole header. The balancer
/// writes it at once on connecting, so only a stuck or wrong peer waits this long.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest header read: a v2 header's addresses with room for the TLVs
/// HAProxy may add (unique id, authority, ALPN, TLS details). A v1 header is
/// at most 107 bytes.
const MAX_HEADER: usize = 16 + 2048;

/// What a valid header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Relayed for this client (v1 `TCP4`/`TCP6`, v2 `PROXY` over IPv4/IPv6).
    Client(SocketAddr),
    /// Relayed for a client whose address the balancer does not know (v1
    /// `UNKNOWN`, v2 `PROXY` with an unspecified or UNIX address): the peer
    /// stands for itself, as the protocol says.
    Peer,
    /// The balancer's own connection (v2 `LOCAL`): HAProxy's health checks.
    /// Nothing is relayed in it.
    Local,
}

/// The client's address and port; an IPv4 address written as IPv6
/// (`::ffff:203.0.113.7`, from a balancer listening dual-stack) as IPv4.
fn client(ip: IpAddr, port: u16) -> Origin {
    Origin::Client(SocketAddr::new(ip.to_canonical(), port))
}

/// What the bytes received so far hold.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A whole header of `len` bytes (anything after it is not the header's).
    Header { len: usize, origin: Origin },
    /// The start of a header: every byte so far belongs to it.
    Partial,
    /// Not a header.
    Bad(String),
}

/// Reads the PROXY header at the start of `stream` within [`HEADER_TIMEOUT`]
/// and consumes exactly its bytes. An error (no header, a bad one, a closed
/// or silent connection) says why, for the log; the connection is then to be
/// closed.
pub async fn read_header(stream: &mut TcpStream) -> Result<Origin, String> {
    match tokio::time::timeout(HEADER_TIMEOUT, read(stream)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no complete PROXY header within {} s", HEADER_TIMEOUT.as_secs())),
    }
}

/// Peeks at what has arrived; consumes it all while it is only part of a
/// header (so the next peek waits for more), and only the header's bytes
/// once it is whole.
async fn read(stream: &mut TcpStream) -> Result<Origin, String> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.peek(&mut chunk).await.map_err(|e| format!("reading the PROXY header: {e}"))?;
        if n == 0 {
            return Err(if head.is_empty() {
                "closed before a PROXY header"
            } else {
                "closed inside the PROXY header"
            }
            .into());
        }
        let before = head.len();
        head.extend_from_slice(&chunk[..n]);
        let (take, done) = match parse(&head) {
            Parsed::Header { len, origin } => (len - before, Some(origin)),
            Parsed::Partial if head.len() >= MAX_HEADER => return Err("PROXY header too long".into()),
            Parsed::Partial => (n, None),
            Parsed::Bad(why) => return Err(why),
        };
        stream.read_exact(&mut chunk[..take]).await.map_err(|e| format!("reading the PROXY header: {e}"))?;
        if let Some(origin) = done {
            return Ok(origin);
        }
    }
}

/// The longest v1 header, its CRLF included.
const V1_MAX: usize = 107;

/// Parses the start of a connection as a PROXY header, v2 or v1. A v1 line is
/// whole once its LF has come; a v2 header once its length field's bytes have.
fn parse(bytes: &[u8]) -> Parsed {
    let prefix_of = |whole: &[u8]| bytes.starts_with(whole) || whole.starts_with(bytes);
    if prefix_of(v2::PROTOCOL_PREFIX) {
        return match v2::Header::try_from(bytes) {
            Ok(header) => {
                let origin = match (header.command, header.addresses) {
                    (v2::Command::Proxy, v2::Addresses::IPv4(a)) => client(a.source_address.into(), a.source_port),
                    (v2::Command::Proxy, v2::Addresses::IPv6(a)) => client(a.source_address.into(), a.source_port),
                    (v2::Command::Proxy, _) => Origin::Peer,
                    (v2::Command::Local, _) => Origin::Local,
                };
                Parsed::Header { len: header.len(), origin }
            }
            Err(e) if e.is_incomplete() => Parsed::Partial,
            Err(e) => Parsed::Bad(format!("bad PROXY v2 header: {e}")),
        };
    }
    if !prefix_of(b"PROXY ") {
        return Parsed::Bad("no PROXY header".into());
    }
    // ppp's own idea of an incomplete v1 line misses some cut-off lines (one
    // ending in a space), so the line is handed over only whole.
    let Some(lf) = bytes.iter().take(V1_MAX).position(|&b| b == b'\n') else {
        return if bytes.len() >= V1_MAX { Parsed::Bad("PROXY v1 header too long".into()) } else { Parsed::Partial };
    };
    match v1::Header::try_from(&bytes[..=lf]) {
        Ok(header) => {
            let origin = match header.addresses {
                v1::Addresses::Tcp4(a) => client(a.source_address.into(), a.source_port),
                v1::Addresses::Tcp6(a) => client(a.source_address.into(), a.source_port),
                v1::Addresses::Unknown => Origin::Peer,
            };
            Parsed::Header { len: header.header.len(), origin }
        }
        Err(e) => Parsed::Bad(format!("bad PROXY v1 header: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

    fn relayed(text: &str) -> Origin {
        Origin::Client(text.parse().unwrap())
    }

    /// A v2 header: signature, version 2 with `command`, `family`, then the body.
    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    fn v2_tcp4(src: [u8; 4], sport: u16) -> Vec<u8> {
        let mut body = src.to_vec();
        body.extend_from_slice(&[127, 0, 0, 1]);
        body.extend_from_slice(&sport.to_be_bytes());
        body.extend_from_slice(&6667u16.to_be_bytes());
        v2(1, 0x11, &body)
    }

    #[test]
    fn v1_headers_give_the_client_and_their_length() {
        let line = "PROXY TCP4 203.0.113.7 127.0.0.1 5555 6667\r\n";
        let with_irc = format!("{line}NICK a\r\n");
        assert_eq!(parse(with_irc.as_bytes()), Parsed::Header { len: line.len(), origin: relayed("203.0.113.7:5555") });
        let line = "PROXY TCP6 2001:db8::7 ::1 40000 6667\r\n";
        assert_eq!(parse(line.as_bytes()), Parsed::Header { len: line.len(), origin: relayed("[2001:db8::7]:40000") });
        let line = "PROXY TCP6 ::ffff:203.0.113.7 ::1 40000 6667\r\n";
        assert_eq!(parse(line.as_bytes()), Parsed::Header { len: line.len(), origin: relayed("203.0.113.7:40000") });
        let line = "PROXY UNKNOWN\r\n";
        assert_eq!(parse(line.as_bytes()), Parsed::Header { len: 15, origin: Origin::Peer });
    }

    #[test]
    fn v2_headers_give_the_client_and_their_length() {
        let mut h = v2_tcp4([198, 51, 100, 9], 4321);
        let len = h.len();
        h.extend_from_slice(b"NICK a\r\n");
        assert_eq!(parse(&h), Parsed::Header { len, origin: relayed("198.51.100.9:4321") });

        let mut body = "2001:db8::9".parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec();
        body.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        body.extend_from_slice(&[0x10, 0x00, 0x1a, 0x0b]);
        // A TLV after the addresses (type 0x04, NOOP, 2 bytes) is part of the header.
        body.extend_from_slice(&[0x04, 0x00, 0x02, 0xaa, 0xbb]);
        let h = v2(1, 0x21, &body);
        assert_eq!(parse(&h), Parsed::Header { len: h.len(), origin: relayed("[2001:db8::9]:4096") });

        // LOCAL (a health check, whatever addresses it carries), and PROXY
        // with an unspecified family (the peer itself).
        let h = v2(0, 0x00, &[]);
        assert_eq!(parse(&h), Parsed::Header { len: 16, origin: Origin::Local });
        let h = v2_tcp4([1, 2, 3, 4], 5);
        let mut local = h.clone();
        local[12] = 0x20;
        assert_eq!(parse(&local), Parsed::Header { len: h.len(), origin: Origin::Local });
        let h = v2(1, 0x00, &[]);
        assert_eq!(parse(&h), Parsed::Header { len: 16, origin: Origin::Peer });
    }

    #[test]
    fn every_prefix_of_a_header_is_partial() {
        let v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 6667\r\n".to_vec();
        for h in [v1, v2_tcp4([1, 2, 3, 4], 5)] {
            for end in 1..h.len() {
                assert_eq!(parse(&h[..end]), Parsed::Partial, "{:?}", &h[..end]);
            }
            assert!(matches!(parse(&h), Parsed::Header { .. }));
        }
    }

    #[test]
    fn anything_else_is_bad() {
        for bad in [
            &b"NICK a\r\n"[..],
            b"USER a 0 * :a\r\n",
            b"\x16\x03\x01\x02\x00",
            b"PROXY TCP4 203.0.113.7\r\n",
            b"PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n",
            b"PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 6667\n",
        ] {
            assert!(matches!(parse(bad), Parsed::Bad(_)), "{:?}", String::from_utf8_lossy(bad));
        }
        // A v1 line with no end: bad once it passes the 107-byte limit.
        let long = format!("PROXY TCP6 {}", "1".repeat(120));
        assert!(matches!(parse(long.as_bytes()), Parsed::Bad(_)));
        // v2 with another version, or a command other than LOCAL and PROXY.
        let mut h = v2_tcp4([1, 2, 3, 4], 5);
        h[12] = 0x11;
        assert!(matches!(parse(&h), Parsed::Bad(_)));
        h[12] = 0x22;
        assert!(matches!(parse(&h), Parsed::Bad(_)));
    }

    /// Over a real socket: the header is consumed to its last byte and the
    /// line after it (sent in the same write) is still there to be read, also
    /// when the header arrives in pieces.
    #[tokio::test]
    async fn reads_exactly_the_header() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 6667\r\nNICK a\r\n".to_vec();
        let mut v2 = v2_tcp4([198, 51, 100, 9], 4321);
        v2.extend_from_slice(b"NICK a\r\n");
        for (bytes, origin, split) in [
            (v1.clone(), relayed("203.0.113.7:5555"), None),
            (v1, relayed("203.0.113.7:5555"), Some(9)),
            (v2.clone(), relayed("198.51.100.9:4321"), Some(14)),
            (v2, relayed("198.51.100.9:4321"), None),
        ] {
            let send = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut s = TcpStream::connect(addr).await.unwrap();
                match split {
                    Some(at) => {
                        s.write_all(&bytes[..at]).await.unwrap();
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        s.write_all(&bytes[at..]).await.unwrap();
                    }
                    None => s.write_all(&bytes).await.unwrap(),
                }
                s
            });
            let (mut conn, _) = listener.accept().await.unwrap();
            assert_eq!(read_header(&mut conn).await, Ok(origin));
            let _keep = send.await.unwrap();
            let mut rest = [0u8; 8];
            conn.read_exact(&mut rest).await.unwrap();
            assert_eq!(&rest, b"NICK a\r\n");
        }
    }

    #[tokio::test]
    async fn a_silent_or_closed_peer_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = listener.accept().await.unwrap();
        drop(s);
        assert!(read_header(&mut conn).await.unwrap_err().contains("closed"));
    }
}
