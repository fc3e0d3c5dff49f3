//! IRCv3 capabilities over TCP: each behaves differently with and without the
//! capability, exactly as its spec says.

mod common;
use common::*;

#[test]
fn server_time_only_with_the_cap() {
    let s = Server::start();
    let mut timed = with_caps(&s, "timed", "server-time");
    let mut plain = s.client("plain");
    let mut sender = s.client("sender");
    for c in [&mut timed, &mut plain, &mut sender] {
        c.send("JOIN #t");
        c.expect("366");
    }
    timed.sync();
    plain.sync();
    sender.send("PRIVMSG #t :tick");
    let t = timed.expect("PRIVMSG");
    let time = tag(&t, "time").expect("time tag");
    assert!(time.len() == 24 && time.ends_with('Z') && time.contains('T'), "{time}");
    assert_eq!(plain.expect("PRIVMSG"), ":sender!~sender@127.0.0.1 PRIVMSG #t :tick");
}

#[test]
fn echo_message_echoes_with_the_same_msgid() {
    let s = Server::start();
    let mut a = with_caps(&s, "echoer", "echo-message message-tags");
    let mut b = with_caps(&s, "other", "message-tags");
    a.send("@+draft/react=x PRIVMSG other :hello");
    let echo = a.expect("PRIVMSG");
    let got = b.expect("PRIVMSG");
    let id = tag(&echo, "msgid").expect("msgid on echo");
    assert_eq!(tag(&got, "msgid"), Some(id));
    assert_eq!(tag(&got, "+draft/react"), Some("x"));
    let mut plain = s.client("noecho");
    plain.send("PRIVMSG other :hi");
    assert!(!plain.sync().iter().any(|l| command_of(l) == "PRIVMSG"));
}

#[test]
fn labeled_response_wraps_whois_in_a_batch_and_acks_silence() {
    let s = Server::start();
    let mut c = with_caps(&s, "labeler", "labeled-response batch");
    c.send("@label=abc WHOIS labeler");
    let start = c.expect("BATCH");
    assert_eq!(tag(&start, "label"), Some("abc"));
    let id = params_of(&start)[0].trim_start_matches('+').to_owned();
    assert_eq!(params_of(&start)[1], "labeled-response");
    let lines = c.collect_until("BATCH");
    assert!(lines.iter().filter(|l| command_of(l) != "BATCH").all(|l| tag(l, "batch") == Some(id.as_str())));
    assert!(lines.iter().any(|l| command_of(l) == "318"));
    assert_eq!(params_of(lines.last().unwrap())[0], format!("-{id}"));
    c.send("@label=one PING :x");
    assert_eq!(tag(&c.expect("PONG"), "label"), Some("one"));
    c.send("@label=quiet PONG :x");
    let ack = c.expect("ACK");
    assert_eq!(tag(&ack, "label"), Some("quiet"));
    // without the cap, no label
    let mut p = s.client("nolabel");
    p.send("@label=zzz PING :y");
    assert!(!p.expect("PONG").starts_with('@'));
}

#[test]
fn extended_join_account_tag_and_account_notify() {
    let s = Server::start();
    let mut watcher = with_caps(&s, "watcher", "extended-join account-tag account-notify");
    watcher.send("JOIN #acc");
    watcher.expect("366");
    let mut user = s.client("joiner");
    user.send("REGISTER * * joiner-password");
    user.expect("900");
    user.send("JOIN #acc");
    let join = watcher.expect("JOIN");
    assert!(join.ends_with(" JOIN #acc joiner :Real joiner"), "{join}");
    assert_eq!(tag(&join, "account"), Some("joiner"));
    user.send("PRIVMSG #acc :tagged");
    assert_eq!(tag(&watcher.expect("PRIVMSG"), "account"), Some("joiner"));
    // account-notify: a peer logging in is announced
    let mut late = s.client("late");
    late.send("JOIN #acc");
    late.expect("366");
    watcher.expect("JOIN");
    late.send("REGISTER * * late-password");
    let acct = watcher.expect("ACCOUNT");
    assert!(acct.ends_with("ACCOUNT late"), "{acct}");
}

#[test]
fn away_notify_multi_prefix_and_userhost_in_names() {
    let s = Server::start();
    let mut w = with_caps(&s, "w", "away-notify multi-prefix userhost-in-names");
    w.send("JOIN #n");
    w.expect("366");
    w.send("MODE #n +v w");
    w.expect("MODE");
    w.send("NAMES #n");
    assert_eq!(params_of(&w.expect("353"))[3], "@+w!~w@127.0.0.1");
    let mut a = s.client("a");
    a.send("JOIN #n");
    a.expect("366");
    w.expect("JOIN");
    a.send("AWAY :brb");
    assert!(w.expect("AWAY").ends_with("AWAY :brb"));
    a.send("AWAY");
    assert!(w.expect("AWAY").ends_with("AWAY"));
    a.send("NAMES #n");
    assert_eq!(params_of(&a.expect("353"))[3], "@w a");
}

#[test]
fn invite_notify_and_setname() {
    let s = Server::start();
    let mut op = s.client("op");
    let mut peer = with_caps(&s, "peer", "invite-notify setname");
    op.send("JOIN #i");
    op.expect("366");
    op.send("MODE #i +o-n peer");
    // Handled before peer joins (two connections are not ordered): else the
    // +o could reach peer inside its JOIN burst and the later +o be a no-op.
    op.sync();
    peer.send("JOIN #i");
    peer.expect("366");
    op.send("MODE #i +o peer");
    peer.expect("MODE");
    let _guest = s.client("guest");
    op.send("INVITE guest #i");
    assert!(peer.expect("INVITE").ends_with("INVITE guest #i"));
    op.send("SETNAME :New Name");
    assert!(peer.expect("SETNAME").ends_with("SETNAME :New Name"));
}

#[test]
fn tagmsg_only_reaches_message_tags_clients() {
    let s = Server::start();
    let mut tagger = with_caps(&s, "tagger", "message-tags");
    let mut mt = with_caps(&s, "mt", "message-tags");
    let mut plain = s.client("plainer");
    for c in [&mut tagger, &mut mt, &mut plain] {
        c.send("JOIN #tags");
        c.expect("366");
    }
    plain.sync();
    tagger.send("@+typing=active;serveronly=x TAGMSG #tags");
    let got = mt.expect("TAGMSG");
    assert_eq!(tag(&got, "+typing"), Some("active"));
    assert_eq!(tag(&got, "serveronly"), None);
    assert!(!plain.sync().iter().any(|l| command_of(l) == "TAGMSG"));
}

#[test]
fn monitor_online_offline() {
    let s = Server::start();
    let mut m = s.client("mon");
    m.send("MONITOR + target1,target2");
    assert!(m.expect("731").ends_with("target1,target2"));
    let t = s.client("target1");
    assert!(m.expect("730").contains("target1!~target1@127.0.0.1"));
    drop(t);
    assert!(m.expect("731").ends_with(":target1"));
    m.send("MONITOR L");
    let list = m.collect_until("733");
    assert!(list.iter().any(|l| l.contains("target1") && l.contains("target2")));
}

#[test]
fn bot_mode_tag_and_whois() {
    let s = Server::start();
    let mut bot = s.client("robot");
    let mut h = with_caps(&s, "human", "message-tags");
    bot.send("MODE robot +B");
    bot.expect("MODE");
    bot.send("PRIVMSG human :beep");
    assert_eq!(tag(&h.expect("PRIVMSG"), "bot"), Some(""));
    h.send("WHOIS robot");
    assert!(h.collect_until("318").iter().any(|l| command_of(l) == "335"));
}

#[test]
fn utf8only_is_advertised_and_enforced() {
    let s = Server::start();
    let mut c = s.connect();
    let burst = c.register("utf");
    assert!(burst.iter().any(|l| command_of(l) == "005" && l.contains(" UTF8ONLY")));
    c.send_raw(b"PRIVMSG utf :\xff\r\n");
    assert!(c.expect("FAIL").contains("PRIVMSG INVALID_UTF8"));
}
