//! TLS: a second listener with a certificate generated at test time; TLS users
//! get 671 in WHOIS.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

#[test]
fn tls_listener_registers_clients_and_whois_shows_671() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let config = format!("{BASE_CONFIG}\n[tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n");
    let s = Server::start_in(dir, &config);
    let tls_port: u16 = loop {
        let line = s.log.recv_timeout(WAIT).expect("no TLS listener logged");
        if let Some(rest) = line.split("listening for TLS on 127.0.0.1:").nth(1) {
            break rest.trim().parse().unwrap();
        }
    };

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = rustls::ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap()).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"NICK secure\r\nUSER secure 0 * :Secure\r\nWHOIS secure\r\n").unwrap();
    let mut reader = BufReader::new(tls);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let line = line.trim_end().to_owned();
        let end = command_of(&line) == "318";
        lines.push(line);
        if end {
            break;
        }
    }
    assert!(lines.iter().any(|l| command_of(l) == "001"), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains(" 671 secure secure :is using a secure connection")), "{lines:?}");

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
