//! The `banter` client end to end: the real binary in plain mode, driven
//! through stdin/stdout, against a real `banterd` on an ephemeral port.

#[path = "client/harness.rs"]
mod harness;

use harness::{stamped, unstamped, Client, Server};

const PW: &str = "correct-horse-battery";

fn server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_at("127.0.0.1:0", dir.path());
    (server, dir)
}

#[test]
fn register_then_log_in_again() {
    let (srv, _dir) = server();
    let mut alice = Client::register(&srv.addr, "alice", PW);
    alice.send("LOGOUT");
    alice.expect("Bye, alice");
    assert_eq!(alice.wait_exit(), 0);

    let mut again = Client::login(&srv.addr, "alice", PW);
    again.send("LOGOUT");
    assert_eq!(again.wait_exit(), 0);
}

#[test]
fn wrong_password_is_refused_then_retry_works() {
    let (srv, _dir) = server();
    drop(Client::register(&srv.addr, "alice", PW));
    let mut c = Client::spawn(&srv.addr, &[]);
    c.menu("2", "alice", "not-the-password");
    c.expect("ERROR> Login failed: wrong name or password.");
    c.menu("2", "alice", PW);
    c.expect("Logged in as alice");
    c.expect("Join a Chat Room or Create New:");
}

#[test]
fn taken_name_and_weak_password_are_explained() {
    let (srv, _dir) = server();
    drop(Client::register(&srv.addr, "alice", PW));
    let mut c = Client::spawn(&srv.addr, &[]);
    c.menu("1", "alice", PW);
    c.expect("ERROR> The name alice is already taken");
    c.menu("1", "bob", "abc");
    c.expect("ERROR> Password not accepted");
    c.menu("1", "bob", PW);
    c.expect("Account bob registered");
    c.expect("Logged in as bob");
}

#[test]
fn connection_refused_is_explained() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut c = Client::spawn(&format!("127.0.0.1:{port}"), &[]);
    c.expect("connection refused");
    assert_eq!(c.wait_exit(), 1);
}

/// Writes a self-signed certificate for localhost as `cert.pem`/`key.pem`;
/// with `ca`, it is marked as a CA, as `openssl req -x509` makes them.
fn self_signed(dir: &std::path::Path, ca: bool) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let cert = params.self_signed(&key).expect("certificate");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key");
}

/// Writes `ca.pem`, and `cert.pem`/`key.pem` for localhost signed by it.
fn ca_signed(dir: &std::path::Path) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("certificate");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write CA");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key");
}

#[test]
fn tls_with_a_certificate_from_a_trusted_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    ca_signed(dir.path());
    let srv = Server::start_tls(dir.path());
    let tls_addr = srv.tls_addr.clone().expect("TLS listener");
    let ca = dir.path().join("ca.pem");
    let mut c = Client::spawn(&tls_addr, &["--tls-ca", ca.to_str().expect("utf-8 path")]);
    c.expect(&format!("Welcome to banter ({tls_addr}, TLS)"));
    c.menu("1", "alice", PW);
    c.expect("Logged in as alice");
    c.expect("Join a Chat Room or Create New:");
    c.join("room1");
    let mut bob = Client::register(&srv.addr, "bob", PW);
    bob.join("room1");
    c.send("hello over TLS");
    bob.expect("alice> hello over TLS");
}

#[test]
fn tls_with_a_pinned_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    self_signed(dir.path(), true);
    let srv = Server::start_tls(dir.path());
    // By address, not by the name in the certificate: pinning accepts it.
    let tls_addr = srv.tls_addr.clone().expect("TLS listener").replace("localhost", "127.0.0.1");
    let cert = dir.path().join("cert.pem");
    let mut c = Client::spawn(&tls_addr, &["--tls-ca", cert.to_str().expect("utf-8 path")]);
    c.menu("1", "alice", PW);
    c.expect("Logged in as alice");
}

#[test]
fn tls_with_an_unknown_certificate_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    self_signed(dir.path(), false);
    let srv = Server::start_tls(dir.path());
    // Trust only some other certificate, whatever the machine's CA bundle.
    let other = tempfile::tempdir().expect("tempdir");
    self_signed(other.path(), false);
    let bundle = other.path().join("cert.pem");
    let mut c = Client::spawn_env(&srv.tls_addr.clone().expect("TLS"), &["--tls"], &[("SSL_CERT_FILE", &bundle)]);
    let line = c.expect("TLS handshake with");
    assert!(line.contains("certificate") && line.contains("--tls-ca"), "{line}");
    assert_eq!(c.wait_exit(), 1);
    let mut missing = Client::spawn(&srv.addr, &["--tls-ca", "/nonexistent/ca.pem"]);
    missing.expect("stderr: banter: --tls: /nonexistent/ca.pem");
    assert_eq!(missing.wait_exit(), 2);
}

#[test]
fn room_list_shows_member_counts() {
    let (srv, _dir) = server();
    let mut alice = Client::register(&srv.addr, "alice", PW);
    alice.join("room1");
    let mut bob = Client::register(&srv.addr, "bob", PW);
    bob.join("room1");
    let mut carol = Client::register(&srv.addr, "carol", PW);
    carol.join("lobby");

    let mut dave = Client::spawn(&srv.addr, &[]);
    dave.menu("1", "dave", PW);
    dave.expect("Logged in as dave");
    // The server may have permanent rooms of its own; ours must be listed.
    dave.expect("Rooms (");
    assert_eq!(dave.expect("room1"), "  room1 (2 members)");
    assert_eq!(dave.expect("lobby"), "  lobby (1 member)");
    dave.expect("Join a Chat Room or Create New:");
}

#[test]
fn join_or_create_chat_list_leave_logout() {
    let (srv, _dir) = server();
    let mut alice = Client::register(&srv.addr, "alice", PW);
    assert!(!alice.seen.iter().any(|l| l.starts_with("  room1 (")), "{:?}", alice.seen);
    // Creating: the room did not exist.
    alice.join("room1");
    let mut bob = Client::register(&srv.addr, "bob", PW);
    bob.saw("  room1 (1 member)");
    // Joining an existing room, with the # accepted too.
    bob.send("#room1");
    bob.expect("You joined room [room1]");
    bob.expect("Room [room1] has 2 members: alice, bob");

    let joined = alice.expect("bob joined room [room1]");
    assert!(stamped(&joined), "{joined}");
    assert!(
        unstamped(&joined).starts_with("INFO> bob joined room [room1] from <") && joined.ends_with("@127.0.0.1>"),
        "{joined}"
    );

    // Chat both ways, with [HH:MM:SS] timestamps.
    alice.send("hello bob");
    let got = bob.expect("alice> hello bob");
    assert!(stamped(&got) && unstamped(&got) == "alice> hello bob", "{got}");
    bob.send("hi alice");
    let got = alice.expect("bob> hi alice");
    assert!(stamped(&got) && unstamped(&got) == "bob> hi alice", "{got}");

    // LIST: the people in the room with their addresses.
    alice.send("LIST");
    alice.expect("People in room [room1] (2):");
    let a = alice.expect_that("alice's address", |l| l.starts_with("  alice <"));
    let b = alice.expect_that("bob's address", |l| l.starts_with("  bob <"));
    assert!(a.ends_with("@127.0.0.1>") && b.ends_with("@127.0.0.1>"), "{a} / {b}");

    // LEAVE: back to the room list; the other side is told.
    bob.send("LEAVE");
    bob.expect("You left room [room1]");
    bob.expect("  room1 (1 member)");
    bob.expect("Join a Chat Room or Create New:");
    let left = alice.expect("bob left room [room1]");
    assert!(stamped(&left), "{left}");

    // LOGOUT: "Bye, name", exit 0, and the room hears about it.
    bob.join("room1");
    alice.expect("bob joined room [room1]");
    alice.send("LOGOUT");
    alice.expect("Bye, alice");
    assert_eq!(alice.wait_exit(), 0);
    bob.expect("alice left room [room1]");
}

#[test]
fn private_messages_actions_and_who() {
    let (srv, _dir) = server();
    let mut alice = Client::register(&srv.addr, "alice", PW);
    alice.join("room1");
    let mut bob = Client::register(&srv.addr, "bob", PW);
    bob.join("room1");
    alice.send("/me waves");
    bob.expect("* alice waves");
    alice.send("/msg bob psst");
    bob.expect("*alice* psst");
    bob.send("/who alice");
    bob.expect("Who is alice:");
    bob.expect_that("alice's address", |l| l.starts_with("  alice <") && l.ends_with("@127.0.0.1>"));
    bob.send("/bogus");
    bob.expect("ERROR> Unknown command /bogus");
}

#[test]
fn a_whole_script_on_stdin_runs_in_order() {
    let (srv, _dir) = server();
    let mut alice = Client::register(&srv.addr, "alice", PW);
    alice.join("room1");
    let mut bob = Client::spawn(&srv.addr, &["--user", "bob"]);
    // Everything at once, then end of input: lines wait for the server.
    for line in ["1", PW, PW, "room1", "hello from a script", "LEAVE", "LOGOUT"] {
        bob.send(line);
    }
    bob.close_stdin();
    alice.expect("bob> hello from a script");
    alice.expect("bob left room [room1]");
    bob.expect("Bye, bob");
    assert_eq!(bob.wait_exit(), 0);
}

/// The seed's script from issue 15: everything due before end of input is
/// printed (the member count after the join and the LIST answer used to be
/// lost: the end of input logged out first), with and without an explicit
/// LOGOUT; a message to ourselves is shown once; a wrong password exits 3.
#[test]
fn a_script_sees_every_reply_and_a_failed_login_exits_non_zero() {
    let (srv, _dir) = server();
    drop(Client::register(&srv.addr, "paul", PW));
    for logout in [false, true] {
        let mut c = Client::spawn(&srv.addr, &[]);
        for line in ["2", "paul", PW, "room1", "LIST", "/msg paul note to self"] {
            c.send(line);
        }
        if logout {
            c.send("LOGOUT");
        }
        c.close_stdin();
        c.expect("You joined room [room1]");
        c.expect("Room [room1] has 1 member: paul");
        c.expect("People in room [room1] (1):");
        c.expect("paul <~paul@127.0.0.1>");
        c.expect("-> *paul* note to self");
        c.expect("Bye, paul");
        assert_eq!(c.wait_exit(), 0);
        assert_eq!(c.seen.iter().filter(|l| l.contains("note to self")).count(), 1, "{:#?}", c.seen);
    }
    let mut bad = Client::spawn(&srv.addr, &[]);
    for line in ["2", "paul", "wrong-password", "room1", "LIST"] {
        bad.send(line);
    }
    bad.close_stdin();
    bad.expect("ERROR> Login failed: wrong name or password.");
    assert_eq!(bad.wait_exit(), 3);
}

#[test]
fn reconnects_and_rejoins_after_a_server_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut srv = Server::start_at("127.0.0.1:0", dir.path());
    let addr = srv.addr.clone();
    let mut alice = Client::register(&addr, "alice", PW);
    alice.join("room1");
    srv.kill();
    alice.expect("ERROR> Lost connection to the server");
    let _srv = Server::start_at(&addr, dir.path());
    alice.expect("Logged in as alice; rejoining [room1]");
    alice.expect("You joined room [room1]");
    let mut bob = Client::register(&addr, "bob", PW);
    bob.saw("  room1 (1 member)");
    bob.join("room1");
    alice.expect("bob joined room [room1]");
}

/// The TUI under tmux: scripts/tui-check.sh with the binaries under test.
/// tmux is a Debian package `.ci/run` installs; without it this test fails.
#[test]
fn tui_under_tmux() {
    let tmux = std::process::Command::new("tmux").arg("-V").output();
    assert!(
        tmux.is_ok_and(|o| o.status.success()),
        "tui_under_tmux needs tmux, which is not installed: `apt-get install tmux` (.ci/run does)"
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/tui-check.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .env("BANTER", env!("CARGO_BIN_EXE_banter"))
        .env("BANTERD", env!("CARGO_BIN_EXE_banterd"))
        .env("TZ", "UTC")
        .output()
        .expect("run scripts/tui-check.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("tui-check: OK"), "tui-check failed:\n{stdout}\n{stderr}");
}
