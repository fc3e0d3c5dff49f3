//! The PROXY protocol: a load balancer in `server.proxy_protocol_from` puts a
//! v1 or v2 header before each connection, and the client address it names is
//! the one banterd shows and counts; from other addresses a header is an
//! unknown command like any other line.

mod common;
use common::*;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// [`BASE_CONFIG`] with 127.0.0.1 (the tests' own address) as the balancer.
fn behind_balancer() -> String {
    BASE_CONFIG.replace("[server]\n", "[server]\nproxy_protocol_from = [\"127.0.0.1\", \"10.0.0.0/8\"]\n")
}

/// A v1 header for a client at `client` (IPv4) talking to 127.0.0.1:6667.
fn v1(client: &str, port: u16) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 {port} 6667\r\n").into_bytes()
}

/// A v2 header: `PROXY` for a client at `client`, or `LOCAL` (a health check) with `None`.
fn v2(client: Option<SocketAddr>) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    let body = match client {
        None => {
            h.extend_from_slice(&[0x20, 0x00]);
            Vec::new()
        }
        Some(SocketAddr::V4(a)) => {
            h.extend_from_slice(&[0x21, 0x11]);
            let mut b = a.ip().octets().to_vec();
            b.extend_from_slice(&[127, 0, 0, 1]);
            b.extend_from_slice(&a.port().to_be_bytes());
            b.extend_from_slice(&6667u16.to_be_bytes());
            b
        }
        Some(SocketAddr::V6(a)) => {
            h.extend_from_slice(&[0x21, 0x21]);
            let mut b = a.ip().octets().to_vec();
            b.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
            b.extend_from_slice(&a.port().to_be_bytes());
            b.extend_from_slice(&6667u16.to_be_bytes());
            // A TLV, as HAProxy may add (type 0x04, NOOP): part of the header.
            b.extend_from_slice(&[0x04, 0x00, 0x01, 0x00]);
            b
        }
    };
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(&body);
    h
}

/// Sends `header` and the registration of `nick` in one write, as a
/// balancer relaying a quick client does; returns the welcome burst.
fn register_after(c: &mut Client, header: &[u8], nick: &str) -> Vec<String> {
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(format!("NICK {nick}\r\nUSER {nick} 0 * :Real {nick}\r\n").as_bytes());
    c.send_raw(&bytes);
    c.nick = nick.to_owned();
    let (last, mut before) = c.expect_where("end of MOTD", |l| matches!(command_of(l), "376" | "422"));
    before.push(last);
    before
}

/// The host WHOIS shows for `nick`, asked by `asker`.
fn whois_host(asker: &mut Client, nick: &str) -> String {
    asker.send(&format!("WHOIS {nick}"));
    let lines = asker.collect_until("318");
    let line = lines.iter().find(|l| command_of(l) == "311").unwrap_or_else(|| panic!("no 311: {lines:?}"));
    params_of(line)[3].clone()
}

#[test]
fn a_v1_header_names_the_client() {
    let s = Server::start_with(&behind_balancer());
    let mut c = s.connect();
    let burst = register_after(&mut c, &v1("203.0.113.7", 5555), "alice");
    assert!(burst.iter().any(|l| command_of(l) == "001"), "{burst:?}");
    assert_eq!(whois_host(&mut c, "alice"), "203.0.113.7");
    // Others see it too, in WHOIS and WHO.
    let mut bob = s.connect();
    register_after(&mut bob, &v1("203.0.113.8", 5556), "bob");
    assert_eq!(whois_host(&mut bob, "alice"), "203.0.113.7");
    bob.send("WHO alice");
    let who = bob.collect_until("315");
    assert!(who.iter().any(|l| command_of(l) == "352" && params_of(l)[3] == "203.0.113.7"), "{who:?}");
    // The log names the client, not the balancer (the line may still be on
    // its way from banterd's stderr: read until it comes).
    let named = |l: &String| l.contains("connected") && l.contains("203.0.113.7:5555");
    let logged = std::iter::from_fn(|| s.log.recv_timeout(WAIT).ok()).any(|l| named(&l));
    assert!(logged);
}

#[test]
fn v2_headers_name_ipv4_and_ipv6_clients() {
    let s = Server::start_with(&behind_balancer());
    let mut c = s.connect();
    register_after(&mut c, &v2(Some("198.51.100.9:4321".parse().unwrap())), "carol");
    assert_eq!(whois_host(&mut c, "carol"), "198.51.100.9");
    let mut d = s.connect();
    register_after(&mut d, &v2(Some("[2001:db8::7]:4000".parse().unwrap())), "dave");
    assert_eq!(whois_host(&mut d, "dave"), "2001:db8::7");
    assert_eq!(whois_host(&mut d, "carol"), "198.51.100.9");
}

/// `max_per_ip` counts the clients the balancer relays, each by its own address.
#[test]
fn per_address_limits_count_the_relayed_address() {
    let config = behind_balancer().replace("exempt = [\"127.0.0.1\"]", "exempt = []\nmax_per_ip = 1");
    let s = Server::start_with(&config);
    let mut a = s.connect();
    register_after(&mut a, &v1("203.0.113.7", 1000), "one");
    let mut b = s.connect();
    register_after(&mut b, &v2(Some("203.0.113.8:1001".parse().unwrap())), "two");
    // The same client address again, by either version: refused as any
    // second connection from one address is, and told so under its address.
    for header in [v1("203.0.113.7", 1002), v2(Some("203.0.113.7:1003".parse().unwrap()))] {
        let mut c = s.connect();
        c.send_raw(&header);
        let line = c.recv();
        assert_eq!(line, "ERROR :Closing Link: 203.0.113.7 (Too many connections from your address)");
        assert!(c.closed());
    }
    // Once the first leaves, its address may come back.
    a.send("QUIT");
    assert!(a.closed());
    let mut again = s.connect();
    register_after(&mut again, &v1("203.0.113.7", 1004), "three");
}

/// From a listed address, anything but a valid header closes the connection
/// without a word (and is logged); a health check (`LOCAL`) is closed too.
#[test]
fn a_balancer_without_a_valid_header_is_closed() {
    let s = Server::start_with(&behind_balancer());
    let bad: [&[u8]; 4] = [
        b"NICK mallory\r\nUSER m 0 * :m\r\n",
        b"PROXY TCP4 203.0.113.7\r\nNICK mallory\r\n",
        b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 6667\nNICK mallory\r\n",
        b"\x16\x03\x01\x00\x05hello",
    ];
    for bytes in bad {
        let mut c = s.connect();
        c.send_raw(bytes);
        assert_eq!(c.recv_within(Duration::from_secs(2)), None, "{:?}", String::from_utf8_lossy(bytes));
        assert!(c.closed());
    }
    let mut logged = 0;
    while let Ok(line) = s.log.recv_timeout(Duration::from_secs(2)) {
        if line.contains("connection from a PROXY source closed") {
            logged += 1;
        }
    }
    assert_eq!(logged, bad.len());

    // LOCAL: closed once the header is read, nothing said, nobody connected.
    let mut check = s.connect();
    check.send_raw(&v2(None));
    assert_eq!(check.recv_within(Duration::from_millis(500)), None);
    assert!(check.closed());

    // Silence: closed after the header timeout (5 s).
    let mut quiet = s.connect();
    let started = std::time::Instant::now();
    assert!(quiet.closed());
    assert!(started.elapsed() >= Duration::from_secs(4), "{:?}", started.elapsed());

    // None of these became a client: no connection was logged under the
    // balancer's address (a client's log lines name it as `peer`). The log
    // is read up to the silent one's line (it may arrive after the close).
    let mut lines = Vec::new();
    while let Ok(line) = s.log.recv_timeout(Duration::from_secs(5)) {
        let timed_out = line.contains("no complete PROXY header within 5 s");
        lines.push(line);
        if timed_out {
            break;
        }
    }
    assert!(!lines.iter().any(|l| l.contains("peer=127.0.0.1")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("no complete PROXY header within 5 s")), "{lines:#?}");
    let mut me = s.connect();
    register_after(&mut me, &v1("203.0.113.9", 7), "me");
}

/// An address not in the list is never asked for a header: a PROXY line from
/// it is an unknown command, and the peer's own address is shown.
#[test]
fn a_header_from_anyone_else_is_not_believed() {
    let s = Server::start_with(&behind_balancer());
    let mut c = s.connect_from("127.0.0.2");
    c.send_raw(&v1("203.0.113.7", 5555));
    let reply = c.recv();
    assert!(matches!(command_of(&reply), "421" | "451"), "{reply}");
    c.register("eve");
    assert_eq!(whois_host(&mut c, "eve"), "127.0.0.2");

    // Without proxy_protocol_from, from the balancer's address too.
    let s = Server::start();
    let mut c = s.connect();
    c.send_raw(&v1("203.0.113.7", 5555));
    let reply = c.recv();
    assert!(matches!(command_of(&reply), "421" | "451"), "{reply}");
    c.register("eve");
    let host = whois_host(&mut c, "eve");
    assert_eq!(host.parse::<IpAddr>().unwrap(), IpAddr::from([127, 0, 0, 1]));
}

/// A header still to come does not hold up a shutdown (it would wait out the
/// 5 s header timeout otherwise).
#[test]
fn a_shutdown_does_not_wait_for_a_header() {
    let mut s = Server::start_with(&behind_balancer());
    let mut quiet = s.connect();
    let mut me = s.connect();
    register_after(&mut me, &v1("203.0.113.9", 7), "me");
    let started = std::time::Instant::now();
    s.signal("TERM");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(quiet.closed());
}
