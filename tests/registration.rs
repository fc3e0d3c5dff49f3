//! Connection registration over real TCP: orders, CAP suspension, PING, nick
//! rules and collisions, line limits, bad UTF-8, QUIT, and shutdown.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn nick_then_user_gets_the_welcome_burst() {
    let s = Server::start();
    let mut c = s.connect();
    let burst = c.register("alice");
    let cmds: Vec<&str> = burst.iter().map(|l| command_of(l)).collect();
    for n in ["001", "002", "003", "004", "005", "251", "252", "253", "254", "255"] {
        assert!(cmds.contains(&n), "missing {n} in {cmds:?}");
    }
    assert_eq!(*cmds.last().unwrap(), "376", "the built-in MOTD");
    assert!(burst[0].starts_with(":test.banter 001 alice :Welcome to the TestNet IRC Network alice!~alice@127.0.0.1"));
    let isupport: String = burst.iter().filter(|l| command_of(l) == "005").cloned().collect();
    for tok in [
        "CASEMAPPING=rfc1459",
        "CHANTYPES=#",
        "PREFIX=(ov)@+",
        "NETWORK=TestNet",
        "NICKLEN=30",
        "UTF8ONLY",
        "LINELEN=512",
    ] {
        assert!(isupport.contains(tok), "005 lacks {tok}");
    }
}

#[test]
fn user_then_nick_also_registers() {
    let s = Server::start();
    let mut c = s.connect();
    c.send("USER bob 0 * :Bob");
    c.send("NICK bob");
    assert!(c.expect("001").contains(" 001 bob "));
}

#[test]
fn pass_nick_user_order_with_an_account() {
    let s = Server::start();
    let mut a = s.connect();
    a.send("REGISTER carol * sekrit-password");
    a.expect("REGISTER");
    let mut c = s.connect();
    c.send("PASS carol:sekrit-password");
    c.send("USER carol 0 * :Carol");
    c.send("NICK carol");
    assert!(c.expect("900").contains("carol"));
    c.expect("001");
}

#[test]
fn cap_ls_302_suspends_registration_until_cap_end() {
    let s = Server::start();
    let mut c = s.connect();
    c.send("CAP LS 302");
    c.send("NICK dave");
    c.send("USER dave 0 * :Dave");
    // CAP LS 302 may span several lines; all but the last carry `*`
    let mut ls = String::new();
    loop {
        let line = c.expect("CAP");
        let params = params_of(&line);
        assert_eq!(params[1], "LS", "{line}");
        ls.push_str(params.last().unwrap());
        ls.push(' ');
        if params[2] != "*" {
            break;
        }
    }
    assert!(ls.contains("sasl=PLAIN,SCRAM-SHA-256,EXTERNAL "), "{ls}");
    let early = c.drain(Duration::from_millis(300));
    assert!(!early.iter().any(|l| command_of(l) == "001"), "registered during CAP: {early:?}");
    c.send("CAP REQ :server-time bogus-cap");
    assert!(c.expect("CAP").contains("NAK"));
    c.send("CAP REQ :server-time");
    assert_eq!(params_of(&c.expect("CAP")), ["dave", "ACK", "server-time"]);
    c.send("CAP END");
    c.expect("001");
}

#[test]
fn ping_is_answered_before_registration() {
    let s = Server::start();
    let mut c = s.connect();
    c.send("PING :early-bird");
    assert_eq!(c.recv(), ":test.banter PONG test.banter :early-bird");
    c.send("PING");
    assert!(c.recv().contains(" 409 "));
}

#[test]
fn commands_before_registration_get_451_and_unknown_get_421() {
    let s = Server::start();
    let mut c = s.connect();
    c.send("JOIN #x");
    assert_eq!(c.recv(), ":test.banter 451 * :You have not registered");
    c.register("erin");
    c.send("FROBNICATE now");
    assert_eq!(c.recv(), ":test.banter 421 erin FROBNICATE :Unknown command");
    c.send("JOIN");
    assert_eq!(c.recv(), ":test.banter 461 erin JOIN :Not enough parameters");
}

#[test]
fn nick_collision_is_case_insensitive() {
    let s = Server::start();
    let _a = s.client("Frank[1]");
    let mut b = s.connect();
    b.send("NICK frank{1}");
    assert!(b.recv().contains(" 433 * frank{1} :Nickname is already in use"));
    b.send("NICK fr@nk");
    assert!(b.recv().contains(" 432 * fr@nk "));
    b.register("frank2");
    b.send("NICK FRANK[1]");
    assert!(b.recv().contains(" 433 frank2 FRANK[1] "));
}

#[test]
fn nick_change_is_seen_by_the_user_and_channel_peers() {
    let s = Server::start();
    let mut a = s.client("gina");
    let mut b = s.client("hank");
    a.send("JOIN #room");
    a.expect("366");
    b.send("JOIN #room");
    b.expect("366");
    a.sync();
    b.send("NICK hank2");
    assert_eq!(b.expect("NICK"), ":hank!~hank@127.0.0.1 NICK hank2");
    assert_eq!(a.expect("NICK"), ":hank!~hank@127.0.0.1 NICK hank2");
    // the old nick is free again
    let mut c = s.connect();
    c.register("hank");
}

#[test]
fn overlong_line_gets_417_and_the_connection_stays_usable() {
    let s = Server::start();
    let mut c = s.client("ivan");
    c.send(&format!("PRIVMSG ivan :{}", "x".repeat(600)));
    assert_eq!(c.recv(), ":test.banter 417 ivan :Input line was too long");
    c.send("PING :still-here");
    assert!(c.recv().ends_with("still-here"));
}

#[test]
fn bad_utf8_line_is_refused_and_the_next_line_works() {
    let s = Server::start();
    let mut a = s.client("judy");
    let mut b = s.client("kim");
    a.send_raw(b"PRIVMSG kim :caf\xe9\r\n");
    let fail = a.recv();
    assert!(fail.contains("FAIL PRIVMSG INVALID_UTF8"), "{fail}");
    a.send("PRIVMSG kim :caf\u{e9} ok");
    assert_eq!(b.expect("PRIVMSG"), ":judy!~judy@127.0.0.1 PRIVMSG kim :caf\u{e9} ok");
}

#[test]
fn quit_answers_error_and_closes() {
    let s = Server::start();
    let mut c = s.client("leo");
    c.send("QUIT :gone fishing");
    assert_eq!(c.recv(), "ERROR :Closing Link: 127.0.0.1 (Quit: gone fishing)");
    assert!(c.closed());
}

#[test]
fn sigterm_says_goodbye_to_everyone_and_exits_zero() {
    let mut s = Server::start();
    let mut a = s.client("mia");
    // Connected just before the signal: some still in the listen backlog or
    // starting up when the shutdown begins, and told goodbye all the same.
    let mut late: Vec<Client> = (0..8).map(|_| s.connect()).collect();
    s.signal("TERM");
    assert_eq!(a.expect("ERROR"), "ERROR :Closing Link: 127.0.0.1 (Server shutting down)");
    for c in &mut late {
        assert_eq!(c.expect("ERROR"), "ERROR :Closing Link: 127.0.0.1 (Server shutting down)");
    }
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn registration_timeout_closes_silent_connections() {
    let config = format!("{BASE_CONFIG}\n").replace("[limits]\n", "[limits]\nregistration_timeout = 1\n");
    let s = Server::start_with(&config);
    let mut c = s.connect();
    assert!(c.expect("ERROR").contains("Registration timed out"));
}

#[test]
fn idle_clients_are_pinged_and_dropped_when_silent() {
    let config = BASE_CONFIG.replace("[limits]\n", "[limits]\nping_interval = 1\nping_timeout = 1\n");
    let s = Server::start_with(&config);
    let mut c = s.client("ned");
    assert_eq!(c.expect("PING"), "PING :test.banter");
    c.send("PONG :test.banter");
    assert_eq!(c.expect("PING"), "PING :test.banter");
    assert!(c.expect("ERROR").contains("Ping timeout"));
}

/// Keep-alive follows the monotonic clock, not the wall clock: a wall clock
/// that jumps ahead (an NTP step; here faketime running it 30 times fast)
/// must not PING or time out anyone who is not actually quiet.
#[test]
fn a_wall_clock_jump_does_not_ping_or_time_out_clients() {
    // libfaketime preloaded into banterd itself: the `faketime` wrapper forks,
    // and killing it would leave banterd running after the test.
    let lib = std::fs::read_dir("/usr/lib")
        .unwrap()
        .map(|dir| dir.unwrap().path().join("faketime/libfaketime.so.1"))
        .find(|lib| lib.exists())
        .expect("no libfaketime under /usr/lib: apt-get install faketime (.ci/run does this)");
    let mut faketime = std::process::Command::new(env!("CARGO_BIN_EXE_banterd"));
    faketime.env("LD_PRELOAD", lib).env("FAKETIME", "+0 x30").env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    let config = BASE_CONFIG
        .replace("[limits]\n", "[limits]\nping_interval = 20\nping_timeout = 20\nregistration_timeout = 20\n");
    let s = Server::start_command(tempfile::tempdir().unwrap(), &config, faketime);
    let mut c = s.client("wes");
    let mut unregistered = s.connect();
    // Two real seconds are a minute of wall clock under faketime: past the
    // interval, the timeout and the registration timeout.
    let seen = c.drain(Duration::from_secs(2));
    assert!(!seen.iter().any(|l| l.starts_with("PING") || l.starts_with("ERROR")), "{seen:?}");
    assert!(unregistered.drain(Duration::from_millis(100)).iter().all(|l| !l.starts_with("ERROR")));
    c.send("PING :still-here");
    c.expect("PONG");
}

#[test]
fn unknown_config_key_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nname = \"a.b\"\nlisten_on = 1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_banterd")).arg("--config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen_on") && err.contains("line 3"), "{err}");
}

/// `server.worker_threads` sizes the runtime; a single worker still serves
/// clients, and chat between them works.
#[test]
fn one_worker_thread_serves() {
    let s = Server::start_with(&BASE_CONFIG.replace("[server]\n", "[server]\nworker_threads = 1\n"));
    let workers = std::fs::read_dir(format!("/proc/{}/task", s.child.id()))
        .expect("task list")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "tokio-rt-worker")
        .count();
    assert_eq!(workers, 1, "worker threads of the runtime");
    let mut a = s.client("ann");
    let mut b = s.client("ben");
    a.send("PRIVMSG ben :hello");
    let line = b.expect("PRIVMSG");
    assert!(line.ends_with(":hello"), "{line}");
}

/// LUSERS counts invisible (`+i`) users apart from the visible ones, and stops
/// counting them when they go visible again or leave.
#[test]
fn lusers_counts_invisible_users() {
    let s = Server::start();
    let mut a = s.client("ann");
    let mut b = s.client("ben");
    let lusers = |c: &mut Client| {
        c.send("LUSERS");
        let line = c.expect("251");
        params_of(&line).last().cloned().unwrap_or_default()
    };
    assert_eq!(lusers(&mut a), "There are 2 users and 0 invisible on 1 servers");
    b.send("MODE ben +i");
    b.expect("MODE");
    assert_eq!(lusers(&mut a), "There are 1 users and 1 invisible on 1 servers");
    b.send("MODE ben +i");
    b.send("MODE ben -i");
    b.expect("MODE");
    assert_eq!(lusers(&mut a), "There are 2 users and 0 invisible on 1 servers");
    b.send("MODE ben +i");
    b.expect("MODE");
    b.send("QUIT");
    b.expect("ERROR");
    assert_eq!(lusers(&mut a), "There are 1 users and 0 invisible on 1 servers");
}

/// `[server] password`: PASS must carry it before registration; a missing or
/// wrong one gets 464 and ERROR; an argon2id hash works as well as plain text.
#[test]
fn server_password_is_required_before_registration() {
    let hash = banter::accounts::password::hash(
        "letmein",
        banter::accounts::password::Cost { memory_kib: 1024, iterations: 1, parallelism: 1 },
    )
    .unwrap();
    for configured in ["letmein".to_owned(), hash] {
        let cfg = BASE_CONFIG.replace("[server]\n", &format!("[server]\npassword = \"{configured}\"\n"));
        let s = Server::start_with(&cfg);

        let mut ok = s.connect();
        ok.send("PASS letmein");
        ok.register("alice");

        let mut none = s.connect();
        none.send("NICK bob");
        none.send("USER bob 0 * :Bob");
        none.expect("464");
        assert!(none.expect("ERROR").contains("Bad password"));
        assert!(none.closed());

        let mut wrong = s.connect();
        wrong.send("PASS letmeout");
        wrong.send("NICK carol");
        wrong.send("USER carol 0 * :Carol");
        wrong.expect("464");
        assert!(wrong.closed());

        // too late: PASS after NICK and USER finds the connection already refused
        let mut late = s.connect();
        late.send("NICK dave");
        late.send("USER dave 0 * :Dave");
        late.send("PASS letmein");
        late.expect("464");
        assert!(late.closed());
    }
}

/// Error replies say what rule was broken and what to do: 432 names the nick
/// rule, 403 for a name without `#` suggests the channel name, and HELP lists
/// every command of the table (it used to omit AUTHENTICATE, CHATHISTORY, METADATA...).
#[test]
fn errors_and_help_tell_a_newcomer_what_to_do() {
    let s = Server::start();
    let mut c = s.connect();
    c.send("NICK 1abc");
    assert_eq!(
        c.expect("432"),
        ":test.banter 432 * 1abc :Erroneous nickname: it cannot start with '1'; start with a letter"
    );
    let long = "a".repeat(31);
    c.send(&format!("NICK {long}"));
    assert!(c.expect("432").ends_with(":Erroneous nickname: it is too long: at most 30 characters"));
    c.send("NICK al!ce");
    assert!(c.expect("432").contains("the character '!' is not allowed"));
    c.register("newbie");
    c.send("JOIN room1");
    assert_eq!(
        c.expect("403"),
        ":test.banter 403 newbie room1 :No such channel: channel names start with #: try JOIN #room1"
    );
    c.send("HELP");
    let index = c.collect_until("706").join("\n");
    for cmd in ["AUTHENTICATE", "CHATHISTORY", "METADATA", "JOIN", "REGISTER", "MARKREAD", "REDACT", "WHOWAS"] {
        assert!(index.contains(cmd), "HELP lacks {cmd}: {index}");
    }
    c.send("HELP chathistory");
    let topic = c.collect_until("706");
    assert!(topic[0].starts_with(":test.banter 704 newbie CHATHISTORY :CHATHISTORY "), "{topic:?}");
    c.send("HELP FROB");
    assert!(c.expect("524").contains(" FROB "));
}
