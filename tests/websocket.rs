//! The IRCv3 WebSocket transport: subprotocols, one line per message, the TCP
//! limits and codec rules, Origin checks, X-Forwarded-For from trusted proxies,
//! the connection limits, and wss:// with the [tls] certificate.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::Message;

/// A banterd with `extra` appended to the base config, and the port of its
/// WebSocket listener.
fn ws_server(extra: &str) -> (Server, u16) {
    let config = format!("{BASE_CONFIG}\n{extra}");
    let s = Server::start_with(&config);
    let port = ws_port(&s);
    (s, port)
}

/// The port of the first WebSocket listener the server logged.
fn ws_port(s: &Server) -> u16 {
    loop {
        let line = s.log.recv_timeout(WAIT).expect("no WebSocket listener logged");
        if let Some(rest) = line.split("listening for WebSocket").nth(1) {
            return rest.rsplit(':').next().unwrap().trim().parse().unwrap();
        }
    }
}

const PLAIN: &str = "[[websocket]]\nlisten = \"127.0.0.1:0\"\n";

/// An IRC connection over WebSocket (tungstenite's client).
struct Ws<S: Read + Write> {
    ws: tungstenite::WebSocket<S>,
    /// The subprotocol the server chose.
    protocol: Option<String>,
}

impl Ws<TcpStream> {
    /// Connects offering `protocols` (in that order) with extra request headers.
    fn connect(port: u16, protocols: &[&str], headers: &[(&'static str, &str)]) -> Result<Self, tungstenite::Error> {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        Self::handshake(stream, &format!("ws://127.0.0.1:{port}/"), protocols, headers)
    }

    fn open(port: u16, protocols: &[&str]) -> Self {
        Self::connect(port, protocols, &[]).expect("WebSocket handshake")
    }
}

impl<S: Read + Write> Ws<S> {
    fn handshake(
        stream: S,
        url: &str,
        protocols: &[&str],
        headers: &[(&'static str, &str)],
    ) -> Result<Self, tungstenite::Error> {
        let mut req = url.into_client_request().unwrap();
        if !protocols.is_empty() {
            req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&protocols.join(", ")).unwrap());
        }
        for (k, v) in headers {
            req.headers_mut().append(*k, HeaderValue::from_str(v).unwrap());
        }
        let deadline = Instant::now() + WAIT;
        let mut attempt = tungstenite::client(req, stream);
        let (ws, resp) = loop {
            match attempt {
                Ok(done) => break done,
                Err(tungstenite::HandshakeError::Failure(e)) => return Err(e),
                // A read timed out (the stream wakes up every 100 ms): the
                // answer may still be on its way on a loaded machine.
                Err(tungstenite::HandshakeError::Interrupted(mid)) => {
                    assert!(Instant::now() < deadline, "no WebSocket handshake answer within {WAIT:?}");
                    attempt = mid.handshake();
                }
            }
        };
        let protocol = resp.headers().get("Sec-WebSocket-Protocol").map(|v| v.to_str().unwrap().to_owned());
        Ok(Ws { ws, protocol })
    }

    /// Sends one line as the negotiated kind of message (text if none).
    fn send(&mut self, line: &str) {
        let msg = if self.protocol.as_deref() == Some("binary.ircv3.net") {
            Message::binary(line.as_bytes().to_vec())
        } else {
            Message::text(line)
        };
        self.ws.send(msg).expect("send");
    }

    /// The next message within `within`; `None` on timeout or close.
    fn message_within(&mut self, within: Duration) -> Option<Message> {
        let deadline = Instant::now() + within;
        loop {
            match self.ws.read() {
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(Message::Close(_)) => return None,
                Ok(m) => return Some(m),
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// The next line (text or binary message as text); panics after [`WAIT`].
    fn recv(&mut self) -> String {
        match self.message_within(WAIT).expect("no message from server") {
            Message::Text(t) => t.as_str().to_owned(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Reads until a line whose command is `command`.
    fn expect(&mut self, command: &str) -> String {
        let mut seen = Vec::new();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let line = self.recv();
            if command_of(&line) == command {
                return line;
            }
            seen.push(line);
        }
        panic!("expected {command}; got {seen:#?}");
    }

    fn register(&mut self, nick: &str) {
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {nick} 0 * :Web {nick}"));
        let line = self.expect("001");
        assert!(line.contains(&format!(" 001 {nick} ")), "{line}");
        loop {
            if matches!(command_of(&self.recv()), "376" | "422") {
                break;
            }
        }
    }

    /// Whether the server closed the WebSocket within [`WAIT`], skipping any lines.
    fn closed(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Close(_)) => return true,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

#[test]
fn subprotocols_follow_the_clients_order_and_lines_flow_both_ways() {
    let (s, port) = ws_server(PLAIN);
    let mut tcp = s.client("tcpuser");
    let cases: [(&[&str], Option<&str>); 5] = [
        (&["binary.ircv3.net"], Some("binary.ircv3.net")),
        (&["text.ircv3.net"], Some("text.ircv3.net")),
        (&["binary.ircv3.net", "text.ircv3.net"], Some("binary.ircv3.net")),
        (&["text.ircv3.net", "binary.ircv3.net"], Some("text.ircv3.net")),
        // none offered: no header in the answer, and text messages
        (&[], None),
    ];
    for (i, (offered, chosen)) in cases.into_iter().enumerate() {
        let mut web = Ws::open(port, offered);
        assert_eq!(web.protocol.as_deref(), chosen, "offered {offered:?}");
        let nick = format!("web{i}");
        web.register(&nick);
        web.send("PRIVMSG tcpuser :hello from the browser");
        assert_eq!(tcp.expect("PRIVMSG"), format!(":{nick}!~{nick}@127.0.0.1 PRIVMSG tcpuser :hello from the browser"));
        tcp.send(&format!("PRIVMSG {nick} :hello back"));
        // one line per message, without CRLF, as the negotiated kind
        let msg = web.message_within(WAIT).expect("a message");
        let (text, binary) = match &msg {
            Message::Text(t) => (t.as_str().to_owned(), false),
            Message::Binary(b) => (String::from_utf8(b.to_vec()).unwrap(), true),
            other => panic!("{other:?}"),
        };
        assert_eq!(text, format!(":tcpuser!~tcpuser@127.0.0.1 PRIVMSG {nick} :hello back"));
        assert_eq!(binary, chosen == Some("binary.ircv3.net"), "{offered:?}");
        web.send("QUIT :bye");
        assert!(web.expect("ERROR").starts_with("ERROR :Closing Link"));
        assert!(web.closed());
    }
}

#[test]
fn the_codec_rules_and_limits_are_those_of_tcp() {
    let (s, port) = ws_server(PLAIN);
    let mut tcp = s.client("tcpuser");
    let mut web = Ws::open(port, &["text.ircv3.net"]);
    web.register("web");
    // a body of 510 bytes is the limit (the CRLF the spec leaves out counts)
    let fits = format!("PRIVMSG tcpuser :{}", "x".repeat(510 - "PRIVMSG tcpuser :".len()));
    web.send(&fits);
    // relayed with the source added, cut to fit 510 bytes as any relayed line
    let relayed = tcp.expect("PRIVMSG");
    assert!(relayed.starts_with(":web!~web@127.0.0.1 PRIVMSG tcpuser :xxx") && relayed.len() == 510, "{relayed}");
    web.send(&format!("{fits}y"));
    assert_eq!(web.expect("417"), ":test.banter 417 web :Input line was too long");
    // a trailing CRLF is tolerated; NUL and bare CR inside a line are refused as over TCP
    web.send("PRIVMSG tcpuser :with crlf\r\n");
    assert!(tcp.expect("PRIVMSG").ends_with(" :with crlf"));
    web.send("PRIVMSG tcpuser :a\0b");
    assert!(web.expect("FAIL").contains("INVALID_LINE"));
    web.send("PRIVMSG tcpuser :forged\rQUIT");
    assert!(web.expect("FAIL").contains("INVALID_LINE"));
    // non-UTF-8 in a binary message gets the same FAIL as over TCP (banterd is UTF8ONLY)
    web.ws.send(Message::binary(b"PRIVMSG tcpuser :caf\xe9".to_vec())).unwrap();
    assert!(web.expect("FAIL").contains("INVALID_UTF8"));
    // 10 KB of tags: 417; the connection lives on
    web.send(&format!("@+big={} TAGMSG tcpuser", "x".repeat(10_000)));
    web.expect("417");
    web.send("PING :alive");
    assert!(web.expect("PONG").ends_with(":alive"));
    // a message larger than any line closes the connection before it is buffered
    web.send(&format!("PRIVMSG tcpuser :{}", "z".repeat(64 * 1024)));
    assert!(web.expect("ERROR").ends_with("(WebSocket message too long)"));
    assert!(web.closed());
    tcp.send("PING :still-here");
    tcp.expect("PONG");
}

#[test]
fn origins_are_checked_against_the_allow_list_and_the_listeners_own() {
    let (_s, port) = ws_server(&format!("{PLAIN}origins = [\"https://chat.example.org\"]\n"));
    let host = format!("127.0.0.1:{port}");
    // no Origin (not a browser), the listener's own, and a listed one
    Ws::connect(port, &["text.ircv3.net"], &[]).expect("no origin");
    Ws::connect(port, &["text.ircv3.net"], &[("Origin", &format!("http://{host}"))]).expect("own origin");
    Ws::connect(port, &["text.ircv3.net"], &[("Origin", "https://chat.example.org")]).expect("listed origin");
    for bad in ["https://evil.example", "http://chat.example.org", "null"] {
        match Ws::connect(port, &["text.ircv3.net"], &[("Origin", bad)]) {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403, "{bad}"),
            Err(e) => panic!("{bad}: {e}"),
            Ok(_) => panic!("{bad} was let in"),
        }
    }
}

/// Lines up to and including the first whose command is `command`.
fn until(c: &mut Client, command: &str) -> Vec<String> {
    c.collect_until(command)
}

#[test]
fn forwarded_for_counts_only_from_trusted_proxies_and_limits_apply_to_it() {
    let base = BASE_CONFIG.replace("exempt = [\"127.0.0.1\"]", "exempt = []\nmax_per_ip = 1");
    let s = Server::start_with(&format!("{base}\n{PLAIN}trusted_proxies = [\"127.0.0.0/8\"]\n"));
    let port = ws_port(&s);
    let xff = [("X-Forwarded-For", "203.0.113.9, 198.51.100.20"), ("X-Forwarded-Proto", "https")];
    let mut web = Ws::connect(port, &["text.ircv3.net"], &xff).unwrap();
    web.register("proxied");
    // the client's address is the right-most forwarded hop; https at the proxy counts as TLS
    web.send("WHOIS proxied");
    let mut whois = Vec::new();
    while whois.last().is_none_or(|l: &String| command_of(l) != "318") {
        whois.push(web.recv());
    }
    assert!(whois.iter().any(|l| l.contains(" 311 proxied proxied ~proxied 198.51.100.20 ")), "{whois:?}");
    assert!(whois.iter().any(|l| command_of(l) == "671"), "{whois:?}");
    // max_per_ip = 1 counts per forwarded address: another address gets in, the same one does not
    let mut other = Ws::connect(port, &["text.ircv3.net"], &[("X-Forwarded-For", "198.51.100.21")]).unwrap();
    other.register("other");
    let mut same = Ws::connect(port, &["text.ircv3.net"], &[("X-Forwarded-For", "198.51.100.20")]).unwrap();
    assert_eq!(same.recv(), "ERROR :Closing Link: 198.51.100.20 (Too many connections from your address)");
    assert!(same.closed());
    // and the count is given back when the client leaves (before its ERROR goes out)
    web.send("QUIT");
    assert!(web.closed());
    let mut again = Ws::connect(port, &["text.ircv3.net"], &[("X-Forwarded-For", "198.51.100.20")]).unwrap();
    again.register("again");
}

/// Behind a TCP load balancer in the block's `proxy_protocol_from`: the PROXY
/// header names the client, and X-Forwarded-For is then believed only if
/// that client is itself a trusted proxy; a connection without the header
/// is closed.
#[test]
fn a_proxy_header_names_the_websocket_client() {
    let (s, port) = ws_server(&format!("{PLAIN}proxy_protocol_from = [\"127.0.0.1\"]\n"));
    let url = format!("ws://127.0.0.1:{port}/");
    let behind = |header: &[u8], xff: &[(&'static str, &str)]| {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        stream.write_all(header).unwrap();
        Ws::handshake(stream, &url, &["text.ircv3.net"], xff)
    };
    let mut web = behind(b"PROXY TCP4 203.0.113.50 127.0.0.1 4000 8080\r\n", &[]).unwrap();
    web.register("relayed");
    // 203.0.113.50 is no trusted proxy: its X-Forwarded-For proves nothing.
    let spoof = [("X-Forwarded-For", "198.51.100.1")];
    let mut spoofer = behind(b"PROXY TCP4 203.0.113.51 127.0.0.1 4001 8080\r\n", &spoof).unwrap();
    spoofer.register("spoofer");
    let mut tcp = s.client("watcher");
    tcp.send("WHOIS relayed");
    let whois = until(&mut tcp, "318");
    assert!(whois.iter().any(|l| l.contains(" 311 watcher relayed ~relayed 203.0.113.50 ")), "{whois:?}");
    tcp.send("WHOIS spoofer");
    let whois = until(&mut tcp, "318");
    assert!(whois.iter().any(|l| l.contains(" 311 watcher spoofer ~spoofer 203.0.113.51 ")), "{whois:?}");
    // No header: closed before any HTTP is answered.
    assert!(behind(b"", &[]).is_err());
}

#[test]
fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let (s, port) = ws_server(PLAIN);
    let mut web =
        Ws::connect(port, &[], &[("X-Forwarded-For", "198.51.100.20"), ("X-Forwarded-Proto", "https")]).unwrap();
    web.register("direct");
    let mut tcp = s.client("watcher");
    tcp.send("WHOIS direct");
    let whois = until(&mut tcp, "318");
    assert!(whois.iter().any(|l| l.contains(" 311 watcher direct ~direct 127.0.0.1 ")), "{whois:?}");
    assert!(!whois.iter().any(|l| command_of(l) == "671"), "{whois:?}");
}

#[test]
fn flooding_over_websocket_is_delayed_then_disconnected() {
    let config = BASE_CONFIG
        .replace("exempt = [\"127.0.0.1\"]", "exempt = []")
        .replace("[flood]\nenabled = false", "[flood]\nenabled = true\nburst = 5\nper_second = 2\nmax_backlog = 50");
    let s = Server::start_with(&format!("{config}\n{PLAIN}"));
    let port = ws_port(&s);
    let mut web = Ws::open(port, &["binary.ircv3.net"]);
    web.register("flooder");
    let mut gentle = s.client("gentle");
    // a few commands over the burst are delayed, not dropped
    for i in 0..8 {
        web.send(&format!("PING :p{i}"));
    }
    for i in 0..8 {
        assert!(web.expect("PONG").ends_with(&format!("p{i}")));
    }
    // a real flood is cut off
    for i in 0..500 {
        web.send(&format!("PRIVMSG gentle :spam {i}"));
    }
    assert!(web.expect("ERROR").contains("Excess Flood"));
    gentle.send("PING :fine");
    gentle.expect("PONG");
}

#[test]
fn a_websocket_reader_that_never_reads_is_cut_off_at_the_sendq() {
    let config = BASE_CONFIG.replace("[limits]\n", "[limits]\nsendq = 65536\nwrite_interval_ms = 0\n");
    let s = Server::start_with(&format!("{config}\n{PLAIN}"));
    let port = ws_port(&s);
    let mut sender = s.client("sender");
    let mut reader = s.client("reader");
    let mut stuck = Ws::open(port, &["text.ircv3.net"]);
    stuck.register("stuck");
    stuck.send("JOIN #busy");
    stuck.expect("366");
    for c in [&mut sender, &mut reader] {
        c.send("JOIN #busy");
        c.expect("366");
    }
    reader.sync();
    // far more than the kernel's buffers and the 64 KiB sendq hold, sent in
    // closed-loop batches the reader keeps up with
    let payload = "z".repeat(300);
    let (total, batch) = (40_000, 50);
    let mut got = 0;
    let mut stuck_quit = false;
    while got < total && !stuck_quit {
        let lines: String = (got..got + batch).map(|i| format!("PRIVMSG #busy :{i} {payload}\r\n")).collect();
        sender.send_raw(lines.as_bytes());
        let target = got + batch;
        while got < target {
            let line = reader.recv();
            if command_of(&line) == "PRIVMSG" {
                got += 1;
            } else if command_of(&line) == "QUIT" {
                assert!(line.starts_with(":stuck!") && line.ends_with("SendQ exceeded"), "{line}");
                stuck_quit = true;
            }
        }
    }
    assert!(stuck_quit, "the WebSocket client that never reads was not disconnected");
}

#[test]
fn plain_http_and_bad_handshakes_get_http_errors() {
    let (_s, port) = ws_server(PLAIN);
    let get = |request: &str| {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    };
    let r = get("GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    // the web client's files, with their type, a cache validator and a policy
    let page = get("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("content-type: text/html"), "{page}");
    assert!(page.contains("content-security-policy: default-src 'none'") && page.contains("<script src=\"app.js\""));
    let etag = page.lines().find_map(|l| l.strip_prefix("etag: ")).expect("an etag").to_owned();
    let again = get(&format!("GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"));
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");
    let js = get("HEAD /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(js.starts_with("HTTP/1.1 200") && js.contains("text/javascript") && !js.contains("use strict"), "{js}");
    let post = get("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405") && post.contains("allow: GET, HEAD"), "{post}");
    // a WebSocket request without a key or with the wrong version
    let r = get(
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = get("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400") && r.contains("sec-websocket-version: 13"), "{r}");
    // garbage is not HTTP: the connection is closed
    let r = get("\x16\x03\x01 not http at all\r\n\r\n");
    assert!(!r.contains("101"), "{r}");
}

#[test]
fn web_client_false_serves_only_websockets() {
    let (_s, port) = ws_server(&format!("{PLAIN}web_client = false\n"));
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut r = String::new();
    let _ = c.read_to_string(&mut r);
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    Ws::open(port, &["text.ircv3.net"]).register("stillworks");
}

#[test]
fn wss_uses_the_tls_certificate_and_whois_shows_671() {
    use tokio_rustls::rustls;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let config = format!(
        "{BASE_CONFIG}\n[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n[[websocket]]\nlisten = \"127.0.0.1:0\"\ntls = true\n"
    );
    let s = Server::start_in(dir, &config);
    let port = ws_port(&s);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(tls), "localhost".try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let stream = rustls::StreamOwned::new(conn, tcp);
    let mut web = Ws::handshake(stream, &format!("wss://localhost:{port}/"), &["text.ircv3.net"], &[]).unwrap();
    web.register("secure");
    web.send("WHOIS secure");
    let mut whois = Vec::new();
    while whois.last().is_none_or(|l: &String| command_of(l) != "318") {
        whois.push(web.recv());
    }
    assert!(whois.iter().any(|l| command_of(l) == "671"), "{whois:?}");
    // a plain connection to the TLS listener gets no WebSocket
    assert!(Ws::connect(port, &[], &[]).is_err());
}
