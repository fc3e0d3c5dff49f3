//! banterd on PostgreSQL over real sockets: two processes sharing one
//! database race to register the same names, see each other's accounts and
//! channels, the admin CLI works against it, and the database going away
//! (at start-up, while running) is handled as docs/persistence.md says.

mod common;

use common::pg;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The test config on database `url`.
fn config(url: &str) -> String {
    let base = BASE_CONFIG.replace("[accounts]\n", "[accounts]\nhash_queue = 200\n");
    format!("{base}\n[store]\nurl = \"{url}\"\n")
}

fn node(url: &str) -> Server {
    Server::start_with(&config(url))
}

/// Retries `check` until it holds (another process's change arrives by
/// NOTIFY, or the database comes back), failing after 30 s (a bound for a
/// loaded machine, not a measure).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `c` is refused `nick` as an account's; when it got it (the change
/// has not arrived yet), it goes back to `own` for the next try.
fn reserved(c: &mut Client, nick: &str, own: &str) -> bool {
    c.send(&format!("NICK {nick}"));
    if c.sync().iter().any(|l| l.contains("NICKNAME_RESERVED")) {
        return true;
    }
    c.send(&format!("NICK {own}"));
    c.sync();
    false
}

/// 20 pairs of connections, one of each pair on each of two banterd
/// processes sharing one database, register the same 20 names at once:
/// exactly one success per name, the other gets ACCOUNT_EXISTS.
#[test]
fn two_nodes_race_to_register_the_same_names() {
    let url = pg::database();
    let (a, b) = (node(&url), node(&url));
    let mut pairs: Vec<(Client, Client)> =
        (0..20).map(|i| (a.client(&format!("a{i}")), b.client(&format!("b{i}")))).collect();
    for (i, (x, y)) in pairs.iter_mut().enumerate() {
        x.send(&format!("REGISTER racer{i} * racer{i}-password"));
        y.send(&format!("REGISTER racer{i} * racer{i}-password"));
    }
    for (i, (x, y)) in pairs.iter_mut().enumerate() {
        let replies = [
            x.expect_where("REGISTER reply", |l| l.contains("REGISTER")).0,
            y.expect_where("REGISTER reply", |l| l.contains("REGISTER")).0,
        ];
        let won = replies.iter().filter(|r| r.contains("REGISTER SUCCESS")).count();
        let lost = replies.iter().filter(|r| r.contains("FAIL REGISTER ACCOUNT_EXISTS")).count();
        assert_eq!((won, lost), (1, 1), "racer{i}: {replies:?}");
    }
    let mut c = pg::pg().client(pg::db_name(&url)).unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM accounts WHERE folded LIKE 'racer%'", &[]).unwrap().get(0);
    assert_eq!(n, 20);
}

/// A node sees accounts made on the other node or by the admin CLI (nick
/// protection), and channels registered on the other node, without a restart.
#[test]
fn nodes_see_each_others_accounts_and_channels() {
    let url = pg::database();
    let (a, b) = (node(&url), node(&url));
    let mut ann = a.client("ann");
    ann.send("REGISTER ann * ann-password");
    assert!(ann.expect("REGISTER").contains("SUCCESS"));
    // On b, the nick is protected once the change has arrived.
    let mut other = b.client("other");
    eventually("b protects ann's nick", || reserved(&mut other, "ann", "other"));
    // And ann logs in on b with the password stored by a.
    let mut ann_b = b.connect();
    ann_b.send("PASS ann:ann-password");
    let burst = ann_b.register("ann");
    assert!(burst.iter().any(|l| command_of(l) == "900"), "{burst:?}");
    // An account made with the admin CLI is protected on both.
    let cfg = a.dir.path().join("banterd.toml");
    let mut cli = Command::new(env!("CARGO_BIN_EXE_banterd"))
        .args(["--config"])
        .arg(&cfg)
        .args(["account", "create", "cli"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    cli.stdin.take().unwrap().write_all(b"cli-password\n").unwrap();
    let out = cli.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for s in [&a, &b] {
        let mut c = s.client("probe");
        eventually("the CLI's account is protected", || reserved(&mut c, "cli", "probe"));
    }
    // A channel registered on a is registered on b.
    ann.send("JOIN #shared");
    ann.expect("366");
    let r = cs(&mut ann, "REGISTER #shared");
    assert!(r[0].contains("registered"), "{r:?}");
    let mut probe = b.client("probe2");
    eventually("b knows #shared is registered", || cs(&mut probe, "INFO #shared").iter().any(|l| l.contains("ann")));
    // Registering it on b too is refused (whatever b had heard).
    ann_b.send("JOIN #shared");
    ann_b.expect("366");
    let r = cs(&mut ann_b, "REGISTER #shared");
    assert!(r[0].contains("already registered"), "{r:?}");
}

/// An unreachable database at start-up: exit 1, naming the URL without its password.
#[test]
fn an_unreachable_database_stops_start_up_without_showing_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://banter:s3cret@127.0.0.1:{port}/nowhere");
    let cfg = dir.path().join("banterd.toml");
    std::fs::write(&cfg, config(&url)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_banterd"))
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("postgres://banter:***@127.0.0.1:{port}/nowhere")), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

/// The database goes away while banterd runs: commands that need it get a
/// FAIL, chat goes on, and once it is back, registration works again and the
/// history of the outage was kept.
#[test]
fn chat_goes_on_while_the_database_is_away() {
    let url = pg::database();
    let db = pg::db_name(&url).to_owned();
    let s = node(&url);
    let mut x = with_caps(&s, "x", "batch server-time message-tags draft/chathistory");
    let mut y = s.client("y");
    x.send("JOIN #c");
    x.expect("366");
    y.send("JOIN #c");
    y.expect("366");
    pg::pg().cut_off(&db);
    y.send("REGISTER yaccount * y-password");
    let reply = y.expect_where("REGISTER reply", |l| l.contains("REGISTER"));
    assert!(reply.0.contains("FAIL REGISTER TEMPORARILY_UNAVAILABLE"), "{reply:?}");
    for i in 0..5 {
        y.send(&format!("PRIVMSG #c :during the outage {i}"));
        let got = x.expect("PRIVMSG");
        assert!(got.ends_with(&format!("during the outage {i}")), "{got}");
    }
    pg::pg().reopen(&db);
    eventually("registration works again", || {
        y.send("REGISTER yaccount * y-password");
        y.expect_where("REGISTER reply", |l| l.contains("REGISTER")).0.contains("SUCCESS")
    });
    // The history readers' pool may still be backing off (up to 10 s) when
    // REGISTER is served again: a FAIL MESSAGE_ERROR then is an answer too.
    eventually("the outage's messages are in history", || {
        x.send("CHATHISTORY LATEST #c * 10");
        let (first, _) = x.expect_where("a BATCH or a FAIL", |l| matches!(command_of(l), "BATCH" | "FAIL"));
        if command_of(&first) == "FAIL" {
            assert!(first.contains("FAIL CHATHISTORY MESSAGE_ERROR"), "{first}");
            return false;
        }
        let mut inner = Vec::new();
        loop {
            let l = x.recv();
            if command_of(&l) == "BATCH" {
                break;
            }
            inner.push(l);
        }
        inner.iter().filter(|l| l.contains("during the outage")).count() == 5
    });
}

/// `banterd account`, `backup` and `store copy` against PostgreSQL: a backup
/// is a data dir's files, which copy into a new database that a node serves.
#[test]
fn admin_commands_work_against_postgres() {
    let url = pg::database();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("banterd.toml");
    std::fs::write(&cfg, config(&url)).unwrap();
    let banterd = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut c = Command::new(env!("CARGO_BIN_EXE_banterd"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, text) = banterd(&["migrate"], "");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("schema up to date") && text.contains("PostgreSQL"), "{text}");
    assert_eq!(banterd(&["account", "create", "dora"], "dora-password\n").0, Some(0));
    let (code, text) = banterd(&["account", "create", "DORA"], "dora-password\n");
    assert_eq!(code, Some(1), "{text}");
    let (_, list) = banterd(&["account", "list"], "");
    assert!(list.starts_with("dora\t"), "{list}");
    let out = dir.path().join("backup");
    let (code, text) = banterd(&["backup", out.to_str().unwrap()], "");
    assert_eq!(code, Some(0), "{text}");
    assert!(out.join("banter.db").exists() && out.join("history.db").exists());
    let copy = pg::database();
    let from = format!("sqlite:{}", out.display());
    let (code, text) = banterd(&["store", "copy", "--from", &from, "--to", &copy], "");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("accounts: 1 rows"), "{text}");
    let (code, text) = banterd(&["store", "copy", "--from", &from, "--to", &copy], "");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not empty"), "{text}");
    let s = node(&copy);
    let mut c = s.connect();
    c.send("PASS dora:dora-password");
    let burst = c.register("dora");
    assert!(burst.iter().any(|l| command_of(l) == "900"), "{burst:?}");
}

/// RESTART on a server on PostgreSQL: it starts itself again, without a
/// panic on the way (closing a pooled connection on an async thread panics,
/// see `store::postgres::pool`), and serves.
#[test]
fn a_server_on_postgres_restarts_itself() {
    let db = pg::database();
    let server = Server::start_with(&config(&db).replace("[server]\n", "[server]\nallow_restart = true\n"));
    let mut alice = server.client("alice");
    alice.send("JOIN #again");
    alice.expect("366");
    alice.send("OPER admin adminpass");
    alice.expect("381");
    alice.send("RESTART");
    let mut logged = Vec::new();
    let port = loop {
        let line = server.log.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}: {logged:#?}"));
        assert!(!line.contains("panicked"), "{line}");
        // The first start's "listening on" was read by Server::start.
        if let Some(port) = listening_port(&line) {
            break port;
        }
        logged.push(line);
    };
    let mut bob = Client::connect(port);
    bob.register("bob");
    bob.send("LIST #again");
    bob.expect("323");
}
