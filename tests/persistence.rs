//! Registered and permanent channels on disk: ChanServ over real sockets, then
//! restarts of banterd (SIGTERM and kill -9) on the same data dir.

mod common;

use common::*;
use std::time::Duration;

/// A client logged in to a new account `nick` (REGISTER after connecting).
fn account(s: &Server, nick: &str) -> Client {
    let mut c = s.client(nick);
    c.send(&format!("REGISTER {nick} * {nick}-password"));
    let reply = c.expect("REGISTER");
    assert!(reply.contains("SUCCESS"), "{reply}");
    c
}

/// A client logged in to the existing account `nick`.
fn login(s: &Server, nick: &str) -> Client {
    let mut c = s.connect();
    c.send(&format!("PASS {nick}:{nick}-password"));
    c.register(nick);
    c
}

fn restart(s: Server, hard: bool) -> Server {
    let dir = if hard {
        s.crash()
    } else {
        s.signal("TERM");
        let mut s = s;
        assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
        s.crash()
    };
    Server::start_in(dir, BASE_CONFIG)
}

#[test]
fn chanserv_answers_with_what_to_do() {
    let s = Server::start();
    let mut anon = s.client("anon");
    anon.send("JOIN #room");
    anon.expect("366");
    let r = cs(&mut anon, "REGISTER #room");
    assert!(r[0].contains("logged in"), "{r:?}");
    let mut ann = account(&s, "ann");
    let r = cs(&mut ann, "REGISTER #room");
    assert!(r[0].contains("JOIN #room first"), "{r:?}");
    ann.send("JOIN #room");
    ann.expect("366");
    let r = cs(&mut ann, "REGISTER #room");
    assert!(r[0].contains("channel operator"), "{r:?}");
    let r = cs(&mut ann, "INFO #room");
    assert!(r[0].contains("is not registered"), "{r:?}");
    let r = cs(&mut ann, "FROB");
    assert!(r[0].contains("Unknown command FROB") && r[0].contains("HELP"), "{r:?}");
    let r = cs(&mut ann, "HELP");
    assert!(r.iter().any(|l| l.contains("AMODE <#channel>")), "{r:?}");
    let r = cs(&mut ann, "HELP TRANSFER");
    assert!(r[0].contains("TRANSFER <#channel> <account>"), "{r:?}");
    // The nick is the service's: nobody can take it, and WHOIS says what it is.
    anon.send("NICK ChanServ");
    assert_eq!(command_of(&anon.expect("433")), "433");
    anon.send("WHOIS chanserv");
    let lines = anon.collect_until("318");
    assert!(lines.iter().any(|l| command_of(l) == "311" && l.contains("Network service")), "{lines:?}");
}

#[test]
fn registration_rules_and_limits() {
    let s = Server::start_with(&format!("{BASE_CONFIG}\n[chanserv]\nmax_channels_per_account = 1\n"));
    let mut ann = account(&s, "ann");
    let mut bob = account(&s, "bob");
    ann.send("JOIN #a,#b");
    ann.expect("366");
    ann.expect("366");
    bob.send("JOIN #a");
    bob.expect("366");
    ann.send("CS REGISTER #a");
    let r = ann.expect("NOTICE");
    assert!(r.contains("#a is now registered to your account ann"), "{r}");
    let r = cs(&mut ann, "REGISTER #b");
    assert!(r[0].contains("the most allowed"), "{r:?}");
    let r = cs(&mut bob, "DROP #a");
    assert!(r[0].contains("Only the founder"), "{r:?}");
    let r = cs(&mut bob, "OP #a");
    assert!(r[0].contains("may not"), "{r:?}");
    let r = cs(&mut ann, "AMODE #a +v nobody");
    assert!(r[0].contains("no account nobody"), "{r:?}");
    let r = cs(&mut ann, "AMODE #a +v bob");
    assert!(r[0].contains("bob now gets +v"), "{r:?}");
    // bob is in the room: he gets +v now, from ChanServ.
    let (mode, _) = bob.expect_where("MODE", |l| command_of(l) == "MODE");
    assert!(mode.starts_with(":ChanServ!") && mode.ends_with("#a +v bob"), "{mode}");
    bob.send("CS DEVOICE #a");
    bob.expect_where("-v", |l| l.ends_with("#a -v bob"));
    bob.send("CS VOICE #a");
    bob.expect_where("+v", |l| l.ends_with("#a +v bob"));
    let r = cs(&mut ann, "TRANSFER #a bob");
    assert!(r[0].contains("now belongs to bob"), "{r:?}");
    let r = cs(&mut ann, "DROP #a");
    assert!(r[0].contains("Only the founder of #a (bob)"), "{r:?}");
    let r = cs(&mut bob, "DROP #a");
    assert!(r[0].contains("no longer registered"), "{r:?}");
    let r = cs(&mut ann, "REGISTER #b");
    assert!(r[0].contains("now registered"), "{r:?}");
}

/// Registers #keep with everything a registered channel keeps, and returns the clients.
fn populate(s: &Server) -> (Client, Client) {
    let mut ann = account(s, "ann");
    let mut bob = account(s, "bob");
    let _cat = account(s, "cat");
    ann.send("JOIN #keep");
    ann.expect("366");
    ann.send("CS REGISTER #keep");
    ann.expect("NOTICE");
    ann.send("CS AMODE #keep +o bob");
    ann.expect("NOTICE");
    ann.send("CS AMODE #keep +v cat");
    ann.expect("NOTICE");
    ann.send("TOPIC #keep :kept across restarts");
    ann.expect("TOPIC");
    ann.send("MODE #keep +imk-n sesame");
    ann.expect("MODE");
    ann.send("MODE #keep +l 42");
    ann.expect("MODE");
    ann.send("MODE #keep +b-b+e+I bad!*@* bad!*@* good!*@* friend!*@*");
    ann.expect("MODE");
    ann.send("MODE #keep +b troll!*@*");
    ann.expect("MODE");
    ann.send("METADATA #keep SET url :https://example.org");
    ann.expect("761");
    // Not registered: gone with its last member.
    bob.send("JOIN #gone");
    bob.expect("366");
    bob.send("TOPIC #gone :lost");
    bob.expect("TOPIC");
    (ann, bob)
}

fn check_kept(s: &Server) -> Client {
    let mut obs = s.client("observer");
    obs.send("LIST");
    let list = obs.collect_until("323");
    assert!(list.iter().any(|l| command_of(l) == "322" && l.contains("#keep 0 :")), "{list:?}");
    assert!(!list.iter().any(|l| l.contains("#gone")), "{list:?}");
    // Its founder gets ops on joining the empty room, with the key.
    let mut ann = login(s, "ann");
    ann.send("JOIN #keep sesame");
    let burst = ann.collect_until("366");
    assert!(burst.iter().any(|l| command_of(l) == "332" && l.ends_with(":kept across restarts")), "{burst:?}");
    assert!(burst.iter().any(|l| command_of(l) == "333" && l.contains(" ann!")), "{burst:?}");
    assert!(burst.iter().any(|l| command_of(l) == "353" && l.contains("@ann")), "{burst:?}");
    ann.send("MODE #keep");
    let modes = ann.expect("324");
    assert_eq!(params_of(&modes)[1..], ["#keep", "+imtkl", "sesame", "42"], "{modes}");
    ann.send("MODE #keep b");
    let bans = ann.collect_until("368");
    let masks: Vec<String> = bans.iter().filter(|l| command_of(l) == "367").map(|l| params_of(l)[2].clone()).collect();
    assert_eq!(masks, ["troll!*@*"]);
    assert!(bans.iter().any(|l| command_of(l) == "367" && l.contains(" ann!")), "setter kept: {bans:?}");
    ann.send("MODE #keep e");
    assert!(ann.collect_until("349").iter().any(|l| l.contains("good!*@*")));
    ann.send("MODE #keep I");
    assert!(ann.collect_until("347").iter().any(|l| l.contains("friend!*@*")));
    ann.send("METADATA #keep GET url");
    assert!(ann.expect("761").ends_with(":https://example.org"));
    // AMODE accounts get their status; others get none.
    let mut bob = login(s, "bob");
    bob.send("JOIN #keep sesame");
    assert!(bob.collect_until("366").iter().any(|l| command_of(l) == "353" && l.contains("@bob")));
    let mut cat = login(s, "cat");
    cat.send("JOIN #keep sesame");
    assert!(cat.collect_until("366").iter().any(|l| command_of(l) == "353" && l.contains("+cat")));
    ann.send("INVITE observer #keep");
    ann.expect("341");
    obs.send("JOIN #keep sesame");
    let names = obs.collect_until("366");
    assert!(names.iter().any(|l| command_of(l) == "353" && l.contains(" observer") && !l.contains("@observer")));
    let r = cs(&mut obs, "INFO #keep");
    assert!(r.iter().any(|l| l == "Founder: ann"), "{r:?}");
    ann
}

#[test]
fn registered_channel_survives_sigterm() {
    let s = Server::start();
    let _clients = populate(&s);
    let s = restart(s, false);
    let _ann = check_kept(&s);
}

#[test]
fn registered_channel_survives_kill_9_right_after_the_replies() {
    let s = Server::start();
    let _clients = populate(&s);
    let s = restart(s, true);
    // And a second time, with changes made after the first restart.
    let mut ann = check_kept(&s);
    ann.send("TOPIC #keep :second topic");
    ann.expect("TOPIC");
    ann.send("CS DROP #keep");
    ann.expect("NOTICE");
    let s = restart(s, true);
    let mut obs = s.client("observer");
    obs.send("LIST");
    assert!(!obs.collect_until("323").iter().any(|l| l.contains("#keep")));
}

#[test]
fn permanent_channels_persist_without_a_founder() {
    let s = Server::start();
    let mut op = s.client("op");
    op.send("OPER admin adminpass");
    op.expect("381");
    op.send("JOIN #perm");
    op.expect("366");
    op.send("MODE #perm +P");
    op.expect_where("+P", |l| l.ends_with("#perm +P"));
    op.send("TOPIC #perm :permanent topic");
    op.expect("TOPIC");
    let s = restart(s, true);
    let mut c = s.client("someone");
    c.send("JOIN #perm");
    let burst = c.collect_until("366");
    assert!(burst.iter().any(|l| l.ends_with(":permanent topic")), "{burst:?}");
    let mut op = s.client("op");
    op.send("OPER admin adminpass");
    op.expect("381");
    op.send("MODE #perm -P");
    op.expect_where("-P", |l| l.ends_with("#perm -P"));
    drop(c);
    drop(op);
    let s = restart(s, true);
    let mut c = s.client("someone");
    c.send("LIST");
    assert!(!c.collect_until("323").iter().any(|l| l.contains("#perm")));
}

#[test]
fn unusable_data_dir_stops_banterd_with_a_clear_message() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_banterd"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(file.join("data"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot create the data directory"), "{err}");
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("banter.db"), vec![0x42u8; 8192]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_banterd"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&corrupt)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("banter.db") && err.contains("restore it from a backup"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn version_2_data_dir_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A data dir as the previous banterd left it: schema version 2, one account.
        let s = Server::start_in(dir, BASE_CONFIG);
        drop(account(&s, "old"));
        let dir = s.crash();
        let conn = rusqlite::Connection::open(dir.path().join("banter.db")).unwrap();
        conn.execute_batch(
            "DROP TABLE channels; DROP TABLE channel_lists; DROP TABLE channel_access;
             DROP TABLE channel_metadata; ALTER TABLE accounts DROP COLUMN multiclient_off;
             DROP TABLE store_identity; DROP TABLE channels_gone; UPDATE schema_version SET version = 2;",
        )
        .unwrap();
        drop(conn);
        let s = Server::start_in(dir, BASE_CONFIG);
        let mut old = login(&s, "old");
        old.send("JOIN #new");
        old.expect("366");
        let r = cs(&mut old, "REGISTER #new");
        assert!(r[0].contains("now registered"), "{r:?}");
        let dir = s.crash();
        let conn = rusqlite::Connection::open(dir.path().join("banter.db")).unwrap();
        let v: i64 = conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, 6);
        let id: String = conn.query_row("SELECT id FROM store_identity", [], |r| r.get(0)).unwrap();
        assert_eq!(id.len(), 32, "{id}");
    }
}

#[test]
fn backup_while_running_holds_the_data() {
    let s = Server::start();
    let _clients = populate(&s);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_banterd"))
        .arg("backup")
        .arg("--data-dir")
        .arg(s.dir.path())
        .arg(&target)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let conn = rusqlite::Connection::open(target.join("banter.db")).unwrap();
    let founder: String =
        conn.query_row("SELECT founder FROM channels WHERE folded = '#keep'", [], |r| r.get(0)).unwrap();
    assert_eq!(founder, "ann");
    let accounts: i64 = conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get(0)).unwrap();
    assert_eq!(accounts, 3);
    drop(conn);
    // Restoring is copying the files into an empty data dir.
    let restored = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&target).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), restored.path().join(f.file_name())).unwrap();
    }
    drop(s);
    let s = Server::start_in(restored, BASE_CONFIG);
    let _ann = check_kept(&s);
}

const HISTORY_CAPS: &str = "batch message-tags server-time echo-message draft/chathistory draft/event-playback \
                            draft/read-marker draft/message-redaction";

/// A client with the history caps, logged in to `nick` (created when `new`).
fn history_client(s: &Server, nick: &str, new: bool) -> Client {
    if new {
        drop(account(s, nick));
    }
    with_caps_and_pass(s, &format!("{nick}_"), HISTORY_CAPS, Some(&format!("{nick}:{nick}-password")))
}

/// The lines inside one CHATHISTORY batch.
fn batch(c: &mut Client, request: &str) -> Vec<String> {
    history_batch(c, request)
}

#[test]
fn history_survives_sigterm_and_kill_9_with_original_ids_and_times() {
    for hard in [false, true] {
        let s = Server::start();
        let mut ann = history_client(&s, "ann", true);
        let mut bob = history_client(&s, "bob", true);
        for c in [&mut ann, &mut bob] {
            c.send("JOIN #h");
            c.expect("366");
        }
        let mut sent = Vec::new();
        for i in 0..5 {
            ann.send(&format!("PRIVMSG #h :line {i}"));
            sent.push(ann.expect("PRIVMSG"));
        }
        ann.send("TOPIC #h :a topic event");
        ann.expect("TOPIC");
        ann.send("PRIVMSG bob_ :a direct message");
        let dm = ann.expect("PRIVMSG");
        bob.expect("PRIVMSG");
        ann.send("MARKREAD #h timestamp=2021-05-20T08:30:00.000Z");
        ann.expect("MARKREAD");
        // A read makes the writer commit what is queued: nothing after it is at risk.
        assert_eq!(batch(&mut bob, "CHATHISTORY LATEST #h * 10").len(), 6);
        drop((ann, bob));
        let s = restart(s, hard);
        let mut ann = history_client(&s, "ann", false);
        ann.send("JOIN #h");
        let burst = ann.collect_until("366");
        let marker = burst.iter().find(|l| command_of(l) == "MARKREAD").expect("MARKREAD on join");
        assert_eq!(params_of(marker), ["#h", "timestamp=2021-05-20T08:30:00.000Z"], "hard={hard}");
        let got = batch(&mut ann, "CHATHISTORY LATEST #h * 10");
        assert_eq!(got.len(), 6, "hard={hard}: {got:?}");
        for (want, got) in sent.iter().zip(&got) {
            assert_eq!(tag(got, "msgid"), tag(want, "msgid"));
            assert_eq!(tag(got, "time"), tag(want, "time"));
            assert_eq!(params_of(got), params_of(want));
        }
        assert_eq!(command_of(&got[5]), "TOPIC");
        let dms = batch(&mut ann, "CHATHISTORY LATEST bob * 10");
        assert_eq!(dms.len(), 1);
        assert_eq!(tag(&dms[0], "msgid"), tag(&dm, "msgid"));
        assert_eq!(batch(&mut ann, "CHATHISTORY LATEST * * 10").len(), 1);
        // Older messages than the ring used to hold are there: BEFORE from the first reply.
        let first = tag(&got[1], "msgid").unwrap().to_owned();
        let before = batch(&mut ann, &format!("CHATHISTORY BEFORE #h msgid={first} 10"));
        assert_eq!(before.len(), 1);
        assert_eq!(params_of(&before[0])[1], "line 0");
    }
}

#[test]
fn unregistered_channels_history_can_be_left_out() {
    let s = Server::start_with(&format!("{BASE_CONFIG}\n[history]\nunregistered_channels = false\n"));
    let mut ann = history_client(&s, "ann", true);
    ann.send("JOIN #plain,#reg");
    ann.expect("366");
    ann.expect("366");
    ann.send("CS REGISTER #reg");
    ann.expect("NOTICE");
    for ch in ["#plain", "#reg"] {
        ann.send(&format!("PRIVMSG {ch} :hello"));
        ann.expect("PRIVMSG");
    }
    assert!(batch(&mut ann, "CHATHISTORY LATEST #plain * 10").is_empty());
    assert_eq!(batch(&mut ann, "CHATHISTORY LATEST #reg * 10").len(), 1);
}

#[test]
fn backup_holds_history() {
    let s = Server::start();
    let mut ann = history_client(&s, "ann", true);
    ann.send("JOIN #b");
    ann.expect("366");
    for i in 0..3 {
        ann.send(&format!("PRIVMSG #b :kept {i}"));
        ann.expect("PRIVMSG");
    }
    assert_eq!(batch(&mut ann, "CHATHISTORY LATEST #b * 10").len(), 3);
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_banterd"))
        .arg("backup")
        .arg("--data-dir")
        .arg(s.dir.path())
        .arg(out.path())
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let conn = rusqlite::Connection::open(out.path().join("history.db")).unwrap();
    // Channel rows are packed per batch (history.db version 4); others are one row each.
    let n: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM messages WHERE target = '#b')
                  + (SELECT coalesce(sum(rows), 0) FROM packs WHERE target = '#b')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3);
}
