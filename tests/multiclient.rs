//! Multiclient over real TCP: several connections logged in to one account
//! share one nick (ergo's bouncer mode): the attach burst, channel and direct
//! message delivery to every session, a session's own messages reaching the
//! others, QUIT of one session, nick changes, JOIN, read markers, and the
//! `accounts.multiclient = false` switch.

mod common;
use base64::Engine;
use common::*;

fn register(s: &Server, name: &str, password: &str) {
    let mut c = s.connect();
    c.send(&format!("REGISTER {name} * {password}"));
    let reply = c.expect("REGISTER");
    assert!(reply.contains("REGISTER SUCCESS"), "{reply}");
}

/// A connection that logs in to `account` with SASL PLAIN before NICK
/// `nick`, with `caps` too; returns it and its registration burst.
fn session(s: &Server, account: &str, nick: &str, caps: &str) -> (Client, Vec<String>) {
    let mut c = s.connect();
    c.send("CAP LS 302");
    c.send(&format!("CAP REQ :sasl {caps}"));
    c.expect_where("CAP ACK", |l| l.contains(" ACK "));
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE");
    let blob = format!("{account}\0{account}\0{account}-password");
    c.send(&format!("AUTHENTICATE {}", base64::engine::general_purpose::STANDARD.encode(blob)));
    c.expect("903");
    c.send(&format!("NICK {nick}"));
    c.send("USER u 0 * :u");
    c.send("CAP END");
    let (last, mut burst) = c.expect_where("end of MOTD", |l| matches!(command_of(l), "376" | "422"));
    burst.push(last);
    c.nick = nick.to_owned();
    (c, burst)
}

fn commands(lines: &[String], command: &str) -> Vec<String> {
    lines.iter().filter(|l| command_of(l) == command).cloned().collect()
}

/// A server with account `ann`, her first session in #c, and an observer in #c.
fn setup() -> (Server, Client, Client) {
    let s = Server::start();
    register(&s, "ann", "ann-password");
    let (mut a, _) = session(&s, "ann", "ann", "message-tags");
    a.send("JOIN #c");
    a.expect("366");
    a.send("TOPIC #c :the topic");
    a.expect("TOPIC");
    let mut o = with_caps(&s, "obs", "message-tags");
    o.send("JOIN #c");
    o.expect("366");
    a.expect("JOIN");
    (s, a, o)
}

#[test]
fn second_session_attaches_with_the_nick_and_channels() {
    let (s, mut a, mut o) = setup();
    let (mut b, burst) = session(&s, "ann", "ann", "message-tags");
    let welcome = commands(&burst, "001");
    assert_eq!(welcome.len(), 1, "{burst:#?}");
    assert!(welcome[0].starts_with(":test.banter 001 ann "), "{burst:#?}");
    assert!(commands(&burst, "433").is_empty(), "{burst:#?}");
    // the channel burst follows the welcome burst
    let more = b.sync();
    let join = commands(&more, "JOIN");
    assert_eq!(join.len(), 1, "{more:#?}");
    assert!(join[0].ends_with(" JOIN #c") && join[0].contains(":ann!"), "{more:#?}");
    assert!(commands(&more, "332")[0].ends_with("#c :the topic"), "{more:#?}");
    assert!(commands(&more, "353")[0].contains("ann") && commands(&more, "353")[0].contains("obs"), "{more:#?}");
    // nobody else sees anything of it
    assert!(o.sync().is_empty());
    assert!(a.sync().is_empty());
    o.send("WHOIS ann");
    let whois = o.collect_until("318");
    assert_eq!(commands(&whois, "311").len(), 1, "{whois:#?}");
}

#[test]
fn channel_and_direct_messages_reach_every_session() {
    let (s, mut a, mut o) = setup();
    let (mut b, _) = session(&s, "ann", "ann", "message-tags");
    b.sync();
    o.send("PRIVMSG #c :to the channel");
    o.send("PRIVMSG ann :to ann");
    o.sync();
    for c in [&mut a, &mut b] {
        let got = c.sync();
        let msgs = commands(&got, "PRIVMSG");
        assert_eq!(msgs.len(), 2, "{got:#?}");
        assert!(msgs[0].ends_with("PRIVMSG #c :to the channel"), "{got:#?}");
        assert!(msgs[1].ends_with("PRIVMSG ann :to ann"), "{got:#?}");
    }
}

#[test]
fn what_one_session_says_reaches_the_others() {
    let (s, mut a, mut o) = setup();
    let (mut b, _) = session(&s, "ann", "ann", "message-tags");
    let (mut e, _) = session(&s, "ann", "ann", "message-tags echo-message");
    b.sync();
    e.sync();
    // without echo-message the sender does not get its own line; the others do
    a.send("PRIVMSG #c :from a");
    a.send("PRIVMSG obs :dm from a");
    assert!(commands(&a.sync(), "PRIVMSG").is_empty());
    let to_obs = commands(&o.sync(), "PRIVMSG");
    assert_eq!(to_obs.len(), 2, "{to_obs:#?}");
    for c in [&mut b, &mut e] {
        let got = commands(&c.sync(), "PRIVMSG");
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].ends_with(":ann!~u@127.0.0.1 PRIVMSG #c :from a"), "{got:#?}");
        assert!(got[1].ends_with(":ann!~u@127.0.0.1 PRIVMSG obs :dm from a"), "{got:#?}");
        // the same message: the same msgid as the recipient's copy
        assert_eq!(tag(&got[1], "msgid"), tag(&to_obs[1], "msgid"));
    }
    // with echo-message the sender gets it once, as everyone else
    e.send("PRIVMSG #c :from e");
    assert_eq!(commands(&e.sync(), "PRIVMSG").len(), 1);
    assert_eq!(commands(&a.sync(), "PRIVMSG").len(), 1);
    assert_eq!(commands(&b.sync(), "PRIVMSG").len(), 1);
    assert_eq!(commands(&o.sync(), "PRIVMSG").len(), 1);
}

#[test]
fn quit_of_one_session_detaches_only_it() {
    let (s, mut a, mut o) = setup();
    let (mut b, _) = session(&s, "ann", "ann", "");
    b.sync();
    // the first session (the one that made the client) leaves
    a.send("QUIT :a out");
    let quit = a.expect("QUIT");
    assert!(quit.ends_with("QUIT :Quit: a out"), "{quit}");
    a.expect("ERROR");
    assert!(a.closed());
    assert!(commands(&o.sync(), "QUIT").is_empty());
    assert!(commands(&b.sync(), "QUIT").is_empty());
    // b carries on in the channel and keeps the nick
    o.send("PRIVMSG #c :still there?");
    o.sync();
    assert!(b.sync().iter().any(|l| l.ends_with("PRIVMSG #c :still there?")));
    o.send("WHOIS ann");
    o.expect("311");
    o.expect("318");
    // a third session comes and goes; then the last one's QUIT is a real quit
    let (mut c, _) = session(&s, "ann", "ann", "");
    c.sync();
    c.send("QUIT :c out");
    c.expect("ERROR");
    assert!(commands(&o.sync(), "QUIT").is_empty());
    b.send("QUIT :b out");
    assert!(b.expect("QUIT").ends_with("QUIT :Quit: b out"));
    let quit = o.expect("QUIT");
    assert!(quit.starts_with(":ann!") && quit.ends_with(":Quit: b out"), "{quit}");
    // the client is gone
    o.send("WHOIS ann");
    o.expect("401");
}

#[test]
fn nick_changes_and_joins_apply_to_every_session() {
    let (s, mut a, mut o) = setup();
    let (mut b, _) = session(&s, "ann", "ann", "");
    b.sync();
    b.send("NICK annie");
    for c in [&mut a, &mut b, &mut o] {
        let nick = c.expect("NICK");
        assert!(nick.starts_with(":ann!") && nick.ends_with("NICK annie"), "{nick}");
    }
    a.send("JOIN #d");
    a.expect("366");
    let got = b.collect_until("366");
    assert!(commands(&got, "JOIN")[0].starts_with(":annie!"), "{got:#?}");
    b.send("PART #d :bye");
    assert!(a.expect("PART").ends_with("PART #d :bye"));
    b.expect("PART");
    o.send("WHOIS annie");
    let whois = o.collect_until("318");
    let chans = commands(&whois, "319");
    assert!(chans.iter().all(|l| !l.contains("#d")) && chans[0].contains("#c"), "{whois:#?}");
}

#[test]
fn read_markers_reach_the_other_sessions() {
    let s = Server::start();
    register(&s, "ann", "ann-password");
    let (mut a, _) = session(&s, "ann", "ann", "draft/read-marker");
    a.send("JOIN #c");
    a.expect("366");
    let (mut b, _) = session(&s, "ann", "ann", "draft/read-marker");
    b.sync();
    a.send("MARKREAD #c timestamp=2022-11-11T11:11:11.111Z");
    a.expect("MARKREAD");
    let marker = b.expect("MARKREAD");
    assert!(marker.ends_with("MARKREAD #c timestamp=2022-11-11T11:11:11.111Z"), "{marker}");
}

#[test]
fn pass_login_attaches_too() {
    let (s, mut a, _o) = setup();
    let mut b = s.connect();
    b.send("PASS ann:ann-password");
    let burst = b.register("ann");
    assert!(commands(&burst, "001")[0].starts_with(":test.banter 001 ann "), "{burst:#?}");
    assert_eq!(commands(&b.sync(), "JOIN").len(), 1);
    assert!(a.sync().is_empty());
}

#[test]
fn disabled_by_config_the_nick_is_in_use() {
    let s = Server::start_with(&BASE_CONFIG.replace("[accounts]\n", "[accounts]\nmulticlient = false\n"));
    register(&s, "ann", "ann-password");
    let (_a, _) = session(&s, "ann", "ann", "");
    let mut b = s.connect();
    b.send("CAP LS 302");
    b.send("CAP REQ :sasl");
    b.expect_where("CAP ACK", |l| l.contains(" ACK "));
    b.send("AUTHENTICATE PLAIN");
    b.expect("AUTHENTICATE");
    b.send(&format!("AUTHENTICATE {}", base64::engine::general_purpose::STANDARD.encode("ann\0ann\0ann-password")));
    b.expect("903");
    b.send("NICK ann");
    let in_use = b.expect("433");
    assert!(in_use.contains(" ann "), "{in_use}");
}

/// A connection that logs in to `ann` and asks for her nick: the numerics it gets.
fn second_login(s: &Server) -> Vec<String> {
    let mut b = s.connect();
    b.send("CAP LS 302");
    b.send("CAP REQ :sasl");
    b.expect_where("CAP ACK", |l| l.contains(" ACK "));
    b.send("AUTHENTICATE PLAIN");
    b.expect("AUTHENTICATE");
    b.send(&format!("AUTHENTICATE {}", base64::engine::general_purpose::STANDARD.encode("ann\0ann\0ann-password")));
    b.expect("903");
    b.send("NICK ann");
    b.send("USER u 0 * :u");
    b.send("CAP END");
    b.sync()
}

#[test]
fn an_account_can_turn_multiclient_off_and_it_is_kept() {
    let s = Server::start();
    register(&s, "ann", "ann-password");
    let (mut a, _) = session(&s, "ann", "ann", "");
    a.send("NS SET MULTICLIENT OFF");
    let (note, _) = a.expect_where("NickServ's answer", |l| l.starts_with(":NickServ!"));
    assert!(note.contains("Multiclient is now off for ann"), "{note}");
    let got = second_login(&s);
    assert_eq!(commands(&got, "433").len(), 1, "{got:#?}");
    assert!(commands(&got, "001").is_empty(), "{got:#?}");
    // kept across a restart
    drop(a);
    let s = Server::start_in(s.crash(), BASE_CONFIG);
    let (mut a, _) = session(&s, "ann", "ann", "");
    assert_eq!(commands(&second_login(&s), "433").len(), 1);
    a.send("PRIVMSG NickServ :SET MULTICLIENT ON");
    let (note, _) = a.expect_where("NickServ's answer", |l| l.starts_with(":NickServ!"));
    assert!(note.contains("Multiclient is now on for ann"), "{note}");
    assert_eq!(commands(&second_login(&s), "001").len(), 1);
}
