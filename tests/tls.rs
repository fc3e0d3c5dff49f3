//! TLS: a second listener with a certificate generated at test time; TLS users
//! get 671 in WHOIS; client certificates (CertFP) log in with SASL EXTERNAL.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use tokio_rustls::rustls;

#[test]
fn tls_listener_registers_clients_and_whois_shows_671() {
    let (s, port, server_cert) = tls_server();
    let mut tls = TlsClient::connect(port, &server_cert, None);
    tls.send("NICK secure");
    tls.send("USER secure 0 * :Secure");
    tls.send("WHOIS secure");
    let lines = tls.until("318");
    assert!(lines.iter().any(|l| command_of(l) == "001"), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains(" 671 secure secure :is using a secure connection")), "{lines:?}");
    // no client certificate, no 276
    assert!(!lines.iter().any(|l| command_of(l) == "276"), "{lines:?}");

    // a plain client sees no 671 for itself, and can WHOIS the TLS user
    let mut plain = s.client("plain");
    plain.send("WHOIS plain");
    assert!(!plain.collect_until("318").iter().any(|l| command_of(l) == "671"));
    plain.send("WHOIS secure");
    assert!(plain.collect_until("318").iter().any(|l| command_of(l) == "671"));
}

#[test]
fn tls_without_certificate_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[tls]\nlisten = [\"127.0.0.1:0\"]\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_banterd")).arg("--config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls"));
}

/// A banterd with a TLS listener: the server, the listener's port and its
/// certificate.
fn tls_server() -> (Server, u16, rcgen::CertifiedKey) {
    tls_server_with(BASE_CONFIG)
}

/// [`tls_server`] with `base` as the config before the `[tls]` section.
fn tls_server_with(base: &str) -> (Server, u16, rcgen::CertifiedKey) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let config = format!("{base}\n[tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n");
    let s = Server::start_in(dir, &config);
    let port = loop {
        let line = s.log.recv_timeout(WAIT).expect("no TLS listener logged");
        if let Some(rest) = line.split("listening for TLS on 127.0.0.1:").nth(1) {
            break rest.trim().parse().unwrap();
        }
    };
    (s, port, cert)
}

/// A blocking IRC connection over TLS, optionally showing a client certificate.
struct TlsClient {
    reader: BufReader<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>>,
}

impl TlsClient {
    fn connect(port: u16, server: &rcgen::CertifiedKey, client: Option<&rcgen::CertifiedKey>) -> TlsClient {
        Self::connect_after(port, server, client, b"")
    }

    /// [`TlsClient::connect`] sending `prefix` (a PROXY header, say) in the
    /// same write as the ClientHello, before it.
    fn connect_after(
        port: u16,
        server: &rcgen::CertifiedKey,
        client: Option<&rcgen::CertifiedKey>,
        prefix: &[u8],
    ) -> TlsClient {
        let config = client_config(server, client);
        let mut conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let mut first = prefix.to_vec();
        conn.write_tls(&mut first).unwrap();
        tcp.write_all(&first).unwrap();
        TlsClient { reader: BufReader::new(rustls::StreamOwned::new(conn, tcp)) }
    }

    fn send(&mut self, line: &str) {
        self.reader.get_mut().write_all(format!("{line}\r\n").as_bytes()).unwrap();
    }

    /// Lines up to and including the first whose command is `command`.
    fn until(&mut self, command: &str) -> Vec<String> {
        self.until_any(&[command])
    }

    /// SASL EXTERNAL before registration; the numeric that ends it (903 or 904).
    fn sasl_external(&mut self) -> String {
        self.send("CAP REQ :sasl");
        self.until("CAP");
        self.send("AUTHENTICATE EXTERNAL");
        self.until("AUTHENTICATE");
        self.send("AUTHENTICATE +");
        let lines = self.until_any(&["903", "904"]);
        command_of(lines.last().unwrap()).to_owned()
    }

    /// Lines up to and including the first whose command is one of `commands`.
    fn until_any(&mut self, commands: &[&str]) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(self.reader.read_line(&mut line).unwrap() > 0, "closed before {commands:?}: {lines:?}");
            let line = line.trim_end().to_owned();
            let done = commands.contains(&command_of(&line));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

/// Behind a load balancer in `server.proxy_protocol_from` that passes TLS
/// through (HAProxy `send-proxy` in TCP mode): the PROXY header comes before
/// the handshake, in the same packet as the ClientHello, and names the user's
/// host; the connection is still a secure one.
#[test]
fn a_proxy_header_comes_before_the_handshake() {
    let base = BASE_CONFIG.replace("[server]\n", "[server]\nproxy_protocol_from = [\"127.0.0.1\"]\n");
    let (_s, port, server_cert) = tls_server_with(&base);
    let header = b"PROXY TCP6 2001:db8::5 ::1 40000 6697\r\n";
    let mut tls = TlsClient::connect_after(port, &server_cert, None, header);
    tls.send("NICK hidden");
    tls.send("USER hidden 0 * :Hidden");
    tls.send("WHOIS hidden");
    let lines = tls.until("318");
    let whois = lines.iter().find(|l| command_of(l) == "311").unwrap();
    assert_eq!(params_of(whois)[3], "2001:db8::5", "{lines:?}");
    assert!(lines.iter().any(|l| command_of(l) == "671"), "{lines:?}");

    // No header: the handshake never starts, the connection is closed (reset,
    // as the ClientHello is left unread).
    let mut bare = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    bare.set_read_timeout(Some(WAIT)).unwrap();
    let mut conn =
        rustls::ClientConnection::new(client_config(&server_cert, None), "localhost".try_into().unwrap()).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    bare.write_all(&hello).unwrap();
    let mut buf = [0u8; 64];
    match std::io::Read::read(&mut bare, &mut buf) {
        Ok(n) => assert_eq!(n, 0, "{:?}", &buf[..n]),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

/// A client config that trusts `server`'s certificate and shows `client`'s, if any.
fn client_config(server: &rcgen::CertifiedKey, client: Option<&rcgen::CertifiedKey>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(c) => {
            let key = rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into());
            builder.with_client_auth_cert(vec![c.cert.der().clone()], key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

fn sha256_hex(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

/// CertFP: a certificate linked with CERTFP ADD logs its account in with SASL
/// EXTERNAL; another certificate, none, or an unlinked one does not.
#[test]
fn certfp_links_certificates_for_sasl_external() {
    let (s, port, server_cert) = tls_server();
    let cert_a = rcgen::generate_simple_self_signed(vec!["carol".into()]).unwrap();
    let cert_b = rcgen::generate_simple_self_signed(vec!["mallory".into()]).unwrap();
    let fp_a = sha256_hex(cert_a.cert.der());

    // carol registers over TLS with certificate A and links it
    let mut c = TlsClient::connect(port, &server_cert, Some(&cert_a));
    c.send("NICK carol");
    c.send("USER carol 0 * :Carol");
    c.until("001");
    c.send("CERTFP ADD");
    assert!(c.until("FAIL").last().unwrap().contains("FAIL CERTFP ACCOUNT_REQUIRED"));
    c.send("REGISTER carol * carol-password");
    c.until("900");
    c.send("CERTFP ADD");
    assert!(c.until("NOTE").last().unwrap().contains(&format!("NOTE CERTFP ADDED {fp_a} ")));
    c.send("CERTFP LIST");
    let listed = c.until("NOTE");
    assert!(listed.last().unwrap().contains(&format!("NOTE CERTFP FINGERPRINT {fp_a} ")), "{listed:?}");
    c.send("WHOIS carol");
    let whois = c.until("318");
    assert!(whois.iter().any(|l| l.contains(&format!(" 276 carol carol :has client certificate fingerprint {fp_a}"))));
    c.send("QUIT");

    // certificate A logs in with SASL EXTERNAL, B and no certificate do not
    let mut again = TlsClient::connect(port, &server_cert, Some(&cert_a));
    assert_eq!(again.sasl_external(), "903");
    again.send("CAP END");
    again.send("NICK carol2");
    again.send("USER carol 0 * :Carol");
    again.until("001");
    again.send("WHOIS carol2");
    assert!(again.until("318").iter().any(|l| l.contains(" 330 carol2 carol2 carol ")));
    assert_eq!(TlsClient::connect(port, &server_cert, Some(&cert_b)).sasl_external(), "904");
    assert_eq!(TlsClient::connect(port, &server_cert, None).sasl_external(), "904");

    // a fingerprint belongs to one account; a plain connection has none to add
    let mut dave = s.client("dave");
    dave.send("REGISTER dave * dave-password");
    dave.expect("900");
    // (Naming a fingerprint that is not this connection's is refused before
    // anything else: see certfp_add_links_only_this_connections_certificate.)
    dave.send(&format!("CERTFP ADD {}", fp_a.to_uppercase()));
    assert!(dave.expect("FAIL").contains(&format!("FAIL CERTFP NOT_YOUR_CERTIFICATE {fp_a} ")));
    dave.send("CERTFP ADD");
    assert!(dave.expect("FAIL").contains("FAIL CERTFP NO_CERTIFICATE"));

    // carol unlinks A from a plain connection; A no longer logs in
    let mut plain = s.connect();
    plain.send("PASS carol:carol-password");
    plain.register("carol3");
    plain.send(&format!("CERTFP DEL {fp_a}"));
    assert!(plain.expect("NOTE").contains(&format!("NOTE CERTFP REMOVED {fp_a} ")));
    plain.send("CERTFP LIST");
    assert!(plain.expect("NOTE").contains("NOTE CERTFP LISTED 0 "));
    assert_eq!(TlsClient::connect(port, &server_cert, Some(&cert_a)).sasl_external(), "904");
}

/// Connections still in their TLS handshake count toward `max_clients`:
/// before, a few TCP connections to the TLS port that never started their
/// handshake held no place, so any number of them could be open at once.
#[test]
fn tls_handshakes_in_progress_count_toward_max_clients() {
    let (s, port, server_cert) = tls_server_with(&BASE_CONFIG.replace("[limits]\n", "[limits]\nmax_clients = 2\n"));
    let silent: Vec<std::net::TcpStream> =
        (0..2).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    // One accept loop takes a listener's connections in order: when a third
    // one to the TLS port is refused, both silent ones hold their places.
    let full = "ERROR :Closing Link: 127.0.0.1 (Server is full, try again later)";
    assert_eq!(Client::connect(port).recv(), full);
    let mut plain = s.connect();
    assert_eq!(plain.recv(), full);
    drop(silent);
    // Their places are given back when the handshakes fail (logged once given back).
    let mut failed = 0;
    while failed < 2 {
        let line = s.log.recv_timeout(WAIT).expect("the abandoned handshakes were not logged as failed");
        failed += usize::from(line.contains("TLS handshake failed"));
    }
    let mut tls = TlsClient::connect(port, &server_cert, None);
    tls.send("NICK late");
    tls.send("USER late 0 * :Late");
    tls.until("001");
}

/// A user can link only the certificate of the connection it is on. Before,
/// `CERTFP ADD <fingerprint>` linked any fingerprint (WHOIS shows them), so an
/// attacker could link a victim's certificate to the attacker's account: the
/// victim's SASL EXTERNAL then logged into the attacker's account, and the
/// victim's own CERTFP ADD was refused as taken. Operators may still link a
/// given fingerprint, to any account, and it is logged.
#[test]
fn certfp_add_links_only_this_connections_certificate() {
    let (s, port, server_cert) = tls_server();
    let victim_cert = rcgen::generate_simple_self_signed(vec!["victim".into()]).unwrap();
    let victim_fp = sha256_hex(victim_cert.cert.der());

    let mut attacker = s.client("attacker");
    attacker.send("REGISTER attacker * attacker-password");
    attacker.expect("900");
    attacker.send(&format!("CERTFP ADD {victim_fp}"));
    let refused = attacker.expect("FAIL");
    assert!(refused.contains(&format!("FAIL CERTFP NOT_YOUR_CERTIFICATE {victim_fp} ")), "{refused}");

    // The victim links its own certificate, and EXTERNAL logs into its own account.
    let mut victim = TlsClient::connect(port, &server_cert, Some(&victim_cert));
    victim.send("NICK victim");
    victim.send("USER victim 0 * :Victim");
    victim.until("001");
    victim.send("REGISTER victim * victim-password");
    victim.until("900");
    victim.send(&format!("CERTFP ADD {victim_fp}"));
    assert!(victim.until("NOTE").last().unwrap().contains(&format!("NOTE CERTFP ADDED {victim_fp} ")));
    let mut again = TlsClient::connect(port, &server_cert, Some(&victim_cert));
    assert_eq!(again.sasl_external(), "903");
    again.send("CAP END");
    again.send("NICK victim2");
    again.send("USER v 0 * :V");
    again.send("WHOIS victim2");
    assert!(again.until("318").iter().any(|l| l.contains(" 330 victim2 victim2 victim ")));

    // An operator may link a named fingerprint to a named account; it is logged.
    let other_fp = "ab".repeat(32);
    let mut oper = s.client("helper");
    oper.send("REGISTER helper * helper-password");
    oper.expect("900");
    oper.send("OPER admin adminpass");
    oper.expect("381");
    oper.send(&format!("CERTFP ADD {other_fp} attacker"));
    assert!(oper.expect("NOTE").contains(&format!("NOTE CERTFP ADDED {other_fp} ")));
    oper.send("CERTFP LIST attacker");
    assert!(oper.expect("NOTE").contains(&format!("NOTE CERTFP FINGERPRINT {other_fp} ")));
    let logged = std::iter::from_fn(|| s.log.recv_timeout(WAIT).ok()).find(|l| l.contains("added by an operator"));
    let logged = logged.expect("logged");
    assert!(logged.contains("attacker") && logged.contains("helper!"), "{logged}");
    // A user may not name another account.
    attacker.send(&format!("CERTFP DEL {other_fp} helper"));
    assert!(attacker.expect("FAIL").contains("FAIL CERTFP NO_PRIVILEGES helper "));
}

/// Over TLS, a client that floods long lines while fake-lagged is cut off
/// with Excess Flood, as over plain TCP (docs/security.md). Before, nothing
/// more was read from a TLS connection while it was lagged, so with long
/// lines (a few dozen per TLS record) the backlog never looked long and the
/// flood was worked through at the lag rate.
#[test]
fn a_tls_flood_of_long_lines_is_cut_off() {
    let config = BASE_CONFIG
        .replace("exempt = [\"127.0.0.1\"]", "exempt = []")
        .replace("[flood]\nenabled = false", "[flood]\nenabled = true\nburst = 5\nper_second = 2\nmax_backlog = 50");
    let (s, port, server_cert) = tls_server_with(&config);
    let mut c = TlsClient::connect(port, &server_cert, None);
    c.send("NICK flooder");
    c.send("USER f 0 * :F");
    c.until("001");
    let text = "x".repeat(420);
    let flood: String = (0..300).map(|i| format!("PRIVMSG nobody{i} :{text}\r\n")).collect();
    c.reader.get_mut().write_all(flood.as_bytes()).unwrap();
    let lines = c.until("ERROR");
    assert!(lines.last().unwrap().contains("(Excess Flood)"), "{:?}", lines.last());
    let mut other = s.client("bystander");
    other.send("PING :still-here");
    other.expect("PONG");
}
