//! Running banterd as a service: SIGHUP reloads the configuration (good and
//! bad files, a renewed TLS certificate), systemd readiness notices, JSON log
//! lines, and logs without secrets.

mod common;
use base64::Engine;
use common::*;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;
use tokio_rustls::rustls;

/// Waits for a log line containing `what`; returns it.
fn log_line(s: &Server, what: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match s.log.recv_timeout(left) {
            Ok(line) if line.contains(what) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no log line with {what:?}; saw {seen:#?}");
}

/// Rewrites the running server's config file.
fn write_config(s: &Server, text: &str) {
    std::fs::write(s.dir.path().join("banterd.toml"), text).unwrap();
}

/// The MOTD lines (372) a new client gets.
fn motd_of(s: &Server) -> Vec<String> {
    let mut c = s.connect();
    let lines = c.register("motdreader");
    c.send("QUIT");
    lines.iter().filter(|l| command_of(l) == "372").map(|l| params_of(l)[1].clone()).collect()
}

/// Whether OPER `name password` succeeds on a fresh client.
fn can_oper(s: &Server, name: &str, password: &str) -> bool {
    let mut c = s.client("operator");
    c.send(&format!("OPER {name} {password}"));
    let (reply, _) = c.expect_where("OPER reply", |l| matches!(command_of(l), "381" | "464" | "491"));
    c.send("QUIT");
    command_of(&reply) == "381"
}

#[test]
fn sighup_reloads_a_good_config_and_refuses_a_bad_one() {
    let base = BASE_CONFIG.replace("network = \"TestNet\"\n", "network = \"TestNet\"\nmotd_file = \"motd.txt\"\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("motd.txt"), "first motd\n").unwrap();
    let s = Server::start_in(dir, &base);
    assert_eq!(motd_of(&s), ["- first motd"]);
    assert!(!can_oper(&s, "night", "owl-password"));

    // A good file: the new MOTD and a new operator block apply without a restart.
    std::fs::write(s.dir.path().join("motd.txt"), "second motd\n").unwrap();
    write_config(&s, &format!("{base}\n[[oper]]\nname = \"night\"\npassword = \"owl-password\"\n"));
    s.signal("HUP");
    log_line(&s, "configuration reloaded (SIGHUP)");
    assert_eq!(motd_of(&s), ["- second motd"]);
    assert!(can_oper(&s, "night", "owl-password"));

    // A bad file: refused with the reason, the running configuration stays.
    std::fs::write(s.dir.path().join("motd.txt"), "third motd\n").unwrap();
    write_config(&s, &format!("{base}\n[history]\nquery_limit = 0\n"));
    s.signal("HUP");
    let refusal = log_line(&s, "new configuration rejected");
    assert!(refusal.contains("history.query_limit") && refusal.contains("ERROR"), "{refusal}");
    assert_eq!(motd_of(&s), ["- second motd"], "the MOTD of the rejected file must not be read");
    assert!(can_oper(&s, "night", "owl-password"), "the operators of the old file stay");

    // A file that does not parse, then one that does again.
    write_config(&s, "[server\nname = ");
    s.signal("HUP");
    log_line(&s, "new configuration rejected");
    write_config(&s, &base);
    s.signal("HUP");
    log_line(&s, "configuration reloaded (SIGHUP)");
    assert!(!can_oper(&s, "night", "owl-password"), "an operator block removed from the file is gone");
    assert_eq!(motd_of(&s), ["- third motd"]);
}

/// A TLS client that trusts only `trusted`: whether the handshake (and the
/// welcome) succeeds on `port`.
fn tls_welcome(port: u16, trusted: &rcgen::CertifiedKey) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"NICK tlsuser\r\nUSER u 0 * :u\r\n").map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(" 001 ") {
        let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed".into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

#[test]
fn sighup_picks_up_a_renewed_tls_certificate() {
    let old = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let new = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), old.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), old.key_pair.serialize_pem()).unwrap();
    let config = format!("{BASE_CONFIG}\n[tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n");
    let s = Server::start_in(dir, &config);
    let port: u16 = {
        let line = log_line(&s, "listening for TLS on 127.0.0.1:");
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    };
    tls_welcome(port, &old).unwrap();
    assert!(tls_welcome(port, &new).is_err());

    // Renewal, as certbot's deploy hook does it: new files, then SIGHUP.
    std::fs::write(s.dir.path().join("cert.pem"), new.cert.pem()).unwrap();
    std::fs::write(s.dir.path().join("key.pem"), new.key_pair.serialize_pem()).unwrap();
    s.signal("HUP");
    log_line(&s, "configuration reloaded (SIGHUP)");
    tls_welcome(port, &new).unwrap();
    assert!(tls_welcome(port, &old).is_err(), "the old certificate is no longer served");

    // A key that does not load: refused, the renewed certificate stays in use.
    std::fs::write(s.dir.path().join("key.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        .unwrap();
    s.signal("HUP");
    let refusal = log_line(&s, "new configuration rejected");
    assert!(refusal.contains("key.pem"), "{refusal}");
    tls_welcome(port, &new).unwrap();
}

/// systemd's `Type=notify`: READY=1 once listening, RELOADING=1 and READY=1
/// around a SIGHUP, STOPPING=1 at shutdown.
#[test]
fn systemd_notifications_follow_the_life_of_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    // Through the harness: banterd is killed when the test ends, also when it fails.
    let mut banterd = std::process::Command::new(env!("CARGO_BIN_EXE_banterd"));
    banterd.env("NOTIFY_SOCKET", &socket_path);
    let mut s = Server::start_command(dir, BASE_CONFIG, banterd);
    let next = || {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(next().lines().any(|l| l == "READY=1"));
    s.signal("HUP");
    assert!(next().lines().any(|l| l == "RELOADING=1"));
    assert!(next().lines().any(|l| l == "READY=1"));
    s.signal("TERM");
    assert!(next().lines().any(|l| l == "STOPPING=1"));
    assert_eq!(s.wait_exit(WAIT), Some(0));
}

#[test]
fn json_log_lines_parse() {
    let s = Server::start_with(&format!("{BASE_CONFIG}\n[log]\nformat = \"json\"\n"));
    let mut c = s.client("jsonuser");
    c.send("JOIN #json");
    c.expect("366");
    c.send("QUIT :bye");
    let line = log_line(&s, "\"disconnected\"");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["fields"]["message"], "disconnected");
    assert_eq!(v["fields"]["reason"], "Quit");
    assert!(v["timestamp"].as_str().is_some_and(|t| t.contains('T')), "{line}");
    assert!(v["spans"][0]["id"].is_number(), "the connection id is in the span: {line}");
    drop(s);
}

/// Every line of a session full of secrets, at info: no password (plain or
/// inside SASL's base64), no message text, no quit message.
#[test]
fn logs_hold_no_passwords_or_message_texts() {
    let config = BASE_CONFIG.replace("password = \"adminpass\"", "password = \"oper-secret-7\"");
    let mut s = Server::start_with(&config);
    let plain = base64::engine::general_purpose::STANDARD.encode(b"\0carol\0sasl-secret-1");

    let mut a = s.connect();
    a.send("REGISTER carol * sasl-secret-1");
    a.expect("REGISTER");
    a.register("carol");
    a.send("JOIN #room");
    a.expect("366");
    a.send("OPER admin wrong-secret-2");
    a.expect("464");
    a.send("OPER admin oper-secret-7");
    a.expect("381");

    let mut b = s.connect();
    b.send("CAP LS 302");
    b.send("CAP REQ :sasl");
    b.expect_where("CAP ACK", |l| l.contains(" ACK "));
    b.send("AUTHENTICATE PLAIN");
    b.expect("AUTHENTICATE");
    b.send(&format!("AUTHENTICATE {plain}"));
    b.expect("903");
    b.send("CAP END");
    b.register("carol2");
    b.send("JOIN #room");
    b.expect("366");
    b.send("PRIVMSG #room :the-launch-code-is-0000");
    b.send("PRIVMSG carol :a-private-whisper");
    a.expect_where("whisper", |l| l.contains("a-private-whisper"));

    let mut c = s.connect();
    c.send("PASS carol:sasl-secret-1");
    c.register("carol3");
    c.send("PASS wrong-secret-3");
    c.send("QUIT :my-quit-message-text");
    assert!(c.closed());
    b.send("QUIT");
    a.send("QUIT");
    assert!(a.closed() && b.closed());

    s.signal("TERM");
    assert_eq!(s.wait_exit(WAIT), Some(0));
    // The child has exited: the log ends at its standard error's end.
    let lines: Vec<String> = s.log.iter().collect();
    assert!(lines.iter().any(|l| l.contains("opered up")), "the session was logged: {lines:#?}");
    for secret in [
        "sasl-secret-1",
        "oper-secret-7",
        "wrong-secret-2",
        "wrong-secret-3",
        plain.as_str(),
        "the-launch-code",
        "a-private-whisper",
        "my-quit-message-text",
    ] {
        let leaks: Vec<_> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} logged: {leaks:#?}");
    }
}
