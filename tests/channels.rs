//! The seed's rooms over real TCP: create, join, list with counts, names with
//! addresses, chat, leave, logout, and the channel modes and queries around them.

mod common;
use common::*;

#[test]
fn seed_story_with_three_clients() {
    let s = Server::start();
    let mut a = s.client("ann");
    let mut b = s.client("ben");
    let mut c = s.client("cat");

    // ann creates the room and is its operator
    a.send("JOIN #room1");
    let burst = a.collect_until("366");
    assert_eq!(burst[0], ":ann!~ann@127.0.0.1 JOIN #room1");
    assert!(burst.iter().any(|l| l == ":test.banter 353 ann = #room1 :@ann"), "{burst:?}");

    // ben joins and sees ann; ann sees the join notice
    b.send("CAP REQ :userhost-in-names");
    b.expect("CAP");
    b.send("JOIN #Room1");
    let burst = b.collect_until("366");
    assert!(
        burst.iter().any(|l| l.contains(" 353 ben = #room1 :")
            && l.contains("@ann!~ann@127.0.0.1")
            && l.contains("ben!~ben@127.0.0.1")),
        "{burst:?}"
    );
    assert_eq!(a.expect("JOIN"), ":ben!~ben@127.0.0.1 JOIN #room1");

    // cat sees the room with 2 members in LIST
    c.send("LIST");
    let list = c.collect_until("323");
    assert!(list.iter().any(|l| params_of(l)[1..3] == ["#room1".to_owned(), "2".to_owned()]), "{list:?}");

    // WHO gives addresses
    c.send("WHO #room1");
    let who = c.collect_until("315");
    assert_eq!(who.iter().filter(|l| command_of(l) == "352").count(), 2);
    assert!(who.iter().any(|l| l.contains(" 352 cat #room1 ~ann 127.0.0.1 test.banter ann H@ :0 Real ann")), "{who:?}");

    // chat both ways, never echoed to the sender
    a.send("PRIVMSG #room1 :hello ben");
    assert_eq!(b.expect("PRIVMSG"), ":ann!~ann@127.0.0.1 PRIVMSG #room1 :hello ben");
    b.send("PRIVMSG #room1 :hi ann");
    assert_eq!(a.expect("PRIVMSG"), ":ben!~ben@127.0.0.1 PRIVMSG #room1 :hi ann");
    assert!(!b.sync().iter().any(|l| command_of(l) == "PRIVMSG"));

    // cat joins; ben leaves with a notice to the others
    c.send("JOIN #room1");
    c.expect("366");
    b.send("PART #room1 :see you");
    assert_eq!(a.expect("PART"), ":ben!~ben@127.0.0.1 PART #room1 :see you");
    assert_eq!(c.expect("PART"), ":ben!~ben@127.0.0.1 PART #room1 :see you");

    // cat logs out: ann sees exactly one QUIT even though they share two rooms
    a.send("JOIN #room2");
    a.expect("366");
    c.send("JOIN #room2");
    c.expect("366");
    a.sync();
    c.send("QUIT :bye all");
    assert_eq!(a.expect("QUIT"), ":cat!~cat@127.0.0.1 QUIT :Quit: bye all");
    // A second QUIT would have been queued with the first, before the PONG.
    let after = a.sync();
    assert!(!after.iter().any(|l| command_of(l) == "QUIT"), "{after:?}");

    // the room disappears when its last member leaves
    a.send("PART #room2");
    a.expect("PART");
    b.send("LIST");
    let list = b.collect_until("323");
    assert!(!list.iter().any(|l| l.contains("#room2")), "{list:?}");
    assert!(list.iter().any(|l| l.contains("#room1")), "{list:?}");
}

#[test]
fn join_zero_parts_everything_and_bad_names_are_refused() {
    let s = Server::start();
    let mut a = s.client("dan");
    a.send("JOIN #a,#b");
    a.expect("366");
    a.expect("366");
    a.send("JOIN 0");
    assert_eq!(a.expect("PART"), ":dan!~dan@127.0.0.1 PART #a :Left all channels");
    assert_eq!(a.expect("PART"), ":dan!~dan@127.0.0.1 PART #b :Left all channels");
    a.send("JOIN nohash");
    assert!(a.recv().contains(" 403 dan nohash "));
    a.send("JOIN #bad\x07bell");
    assert!(a.recv().contains(" 479 dan "));
}

#[test]
fn topic_and_modes() {
    let s = Server::start();
    let mut op = s.client("olga");
    let mut u = s.client("ugo");
    op.send("JOIN #t");
    op.expect("366");
    u.send("JOIN #t");
    u.expect("366");
    u.send("TOPIC #t :not allowed");
    assert!(u.recv().contains(" 482 ugo #t "));
    op.send("TOPIC #t :welcome all");
    assert_eq!(u.expect("TOPIC"), ":olga!~olga@127.0.0.1 TOPIC #t :welcome all");
    u.send("TOPIC #t");
    assert_eq!(u.recv(), ":test.banter 332 ugo #t :welcome all");
    assert!(u.recv().starts_with(":test.banter 333 ugo #t olga!~olga@127.0.0.1 "));
    op.send("MODE #t +m");
    op.expect("MODE");
    u.send("PRIVMSG #t :muted?");
    assert!(u.expect("404").contains(" 404 ugo #t "));
    op.send("MODE #t +v ugo");
    assert_eq!(u.expect("MODE"), ":olga!~olga@127.0.0.1 MODE #t +v ugo");
    u.send("PRIVMSG #t :now I speak");
    assert_eq!(op.expect("PRIVMSG"), ":ugo!~ugo@127.0.0.1 PRIVMSG #t :now I speak");
    op.send("MODE #t +kl secret 5");
    op.expect("MODE");
    op.send("MODE #t");
    assert_eq!(params_of(&op.recv()), ["olga", "#t", "+mntkl", "secret", "5"]);
    op.send("MODE #t +b bad!*@*");
    op.expect("MODE");
    op.send("MODE #t b");
    assert!(op.recv().contains(" 367 olga #t bad!*@* olga!~olga@127.0.0.1 "));
    assert!(op.recv().contains(" 368 olga #t "));
    let mut bad = s.client("bad");
    bad.send("JOIN #t secret");
    assert!(bad.recv().contains(" 474 bad #t "));
    op.send("MODE #t +z");
    assert!(op.recv().contains(" 472 olga z "));
}

#[test]
fn kick_and_invite() {
    let s = Server::start();
    let mut op = s.client("pia");
    let mut v = s.client("vic");
    op.send("JOIN #k");
    op.expect("366");
    v.send("JOIN #k");
    v.expect("366");
    op.send("KICK #k vic :behave");
    assert_eq!(v.expect("KICK"), ":pia!~pia@127.0.0.1 KICK #k vic :behave");
    // several channels pair with several nicks
    op.send("JOIN #k2");
    op.expect("366");
    for ch in ["#k", "#k2"] {
        v.send(&format!("JOIN {ch}"));
        v.expect("366");
    }
    op.send("KICK #k,#k2 vic,vic :twice");
    assert!(v.expect("KICK").contains("KICK #k vic :twice"));
    assert!(v.expect("KICK").contains("KICK #k2 vic :twice"));
    op.send("MODE #k +i");
    op.expect("MODE");
    v.send("JOIN #k");
    assert!(v.recv().contains(" 473 vic #k "));
    op.send("INVITE vic #k");
    assert_eq!(params_of(&op.expect("341")), ["pia", "vic", "#k"]);
    assert_eq!(v.expect("INVITE"), ":pia!~pia@127.0.0.1 INVITE vic #k");
    v.send("JOIN #k");
    v.expect("366");
    v.send("KICK #k pia");
    assert!(v.recv().contains(" 482 vic #k "));
}

/// INVITE with no parameters lists the invitations still pending (336/337):
/// joining the channel ends one.
#[test]
fn invite_without_parameters_lists_pending_invitations() {
    let s = Server::start();
    let mut op = s.client("ivy");
    let mut v = s.client("guest");
    for ch in ["#one", "#two"] {
        op.send(&format!("JOIN {ch}"));
        op.expect("366");
        op.send(&format!("INVITE guest {ch}"));
        op.expect("341");
        v.expect("INVITE");
    }
    v.send("INVITE");
    assert_eq!(params_of(&v.expect("336")), ["guest", "#one"]);
    assert_eq!(params_of(&v.expect("336")), ["guest", "#two"]);
    assert_eq!(params_of(&v.expect("337")), ["guest", "End of /INVITE list"]);
    v.send("JOIN #one");
    v.expect("366");
    v.send("INVITE");
    assert_eq!(params_of(&v.expect("336")), ["guest", "#two"]);
    v.expect("337");
    v.send("INVITE guest");
    assert!(v.recv().contains(" 461 guest INVITE "));
}

/// `+C` refuses CTCPs to the channel with 404, except ACTION.
#[test]
fn no_ctcp_mode_blocks_ctcp_but_not_action() {
    let s = Server::start();
    let mut op = s.client("cop");
    let mut u = s.client("user");
    op.send("JOIN #quiet");
    op.expect("366");
    u.send("JOIN #quiet");
    u.expect("366");
    op.expect("JOIN");
    op.send("MODE #quiet +C");
    assert!(op.expect("MODE").ends_with("MODE #quiet +C"));
    u.expect("MODE");
    u.send("PRIVMSG #quiet :\x01VERSION\x01");
    assert!(u.recv().contains(" 404 user #quiet "));
    u.send("PRIVMSG #quiet :\x01ACTION waves\x01");
    u.send("PRIVMSG #quiet :plain text");
    assert!(op.expect("PRIVMSG").ends_with(":\x01ACTION waves\x01"));
    assert!(op.expect("PRIVMSG").ends_with(":plain text"));
    op.send("MODE #quiet");
    assert!(params_of(&op.expect("324"))[2].contains('C'));
}

/// RENAME (draft/channel-rename) keeps the channel's state under the new name;
/// a member with the capability sees RENAME, one without sees PART + JOIN +
/// NAMES; the old name is free; taken names and non-operators are refused.
#[test]
fn rename_keeps_the_channel_under_a_new_name() {
    let s = Server::start();
    let mut op = with_caps(&s, "renamer", "draft/channel-rename");
    let mut old = s.client("legacy");
    op.send("JOIN #before");
    op.expect("366");
    op.send("TOPIC #before :kept");
    op.expect("TOPIC");
    old.send("JOIN #before");
    old.expect("366");
    op.expect("JOIN");
    op.send("JOIN #taken");
    op.expect("366");
    op.send("RENAME #before #taken :why not");
    assert_eq!(
        params_of(&op.expect("FAIL")),
        ["RENAME", "CHANNEL_NAME_IN_USE", "#before", "#taken", "Channel name is in use"]
    );
    old.send("RENAME #before #after");
    assert!(old.recv().contains(" 482 legacy #before "));

    op.send("RENAME #before #after :tidy up");
    assert_eq!(op.expect("RENAME"), ":renamer!~renamer@127.0.0.1 RENAME #before #after :tidy up");
    assert_eq!(old.expect("PART"), ":legacy!~legacy@127.0.0.1 PART #before :tidy up");
    assert_eq!(old.expect("JOIN"), ":legacy!~legacy@127.0.0.1 JOIN #after");
    assert_eq!(params_of(&old.expect("332")), ["legacy", "#after", "kept"]);
    assert_eq!(params_of(&old.expect("353")), ["legacy", "=", "#after", "@renamer legacy"]);
    old.expect("366");

    old.send("PRIVMSG #after :still here");
    assert!(op.expect("PRIVMSG").ends_with("PRIVMSG #after :still here"));
    op.send("TOPIC #after");
    assert_eq!(params_of(&op.expect("332")), ["renamer", "#after", "kept"]);
    op.send("JOIN #before");
    assert!(op.expect("JOIN").ends_with("JOIN #before"), "the old name is a new, empty channel");
    op.expect("366");

    op.send("MODE #after +P");
    op.expect("481");
    let mut admin = s.client("boss");
    admin.send("OPER admin adminpass");
    admin.expect("381");
    admin.send("JOIN #perm");
    admin.expect("366");
    admin.send("MODE #perm +P");
    admin.expect("MODE");
    admin.send("RENAME #perm #moved");
    assert_eq!(params_of(&admin.expect("FAIL"))[..4], ["RENAME", "CANNOT_RENAME", "#perm", "#moved"]);
}

/// WHO with a mask matches nicks, user@host masks, hosts, usernames and realnames.
#[test]
fn who_mask_matches_username_and_realname() {
    let s = Server::start();
    let mut asker = s.client("asker");
    let mut other = s.connect();
    other.send("NICK otherNick");
    other.send("USER myusernam 0 * :My UniqueReal Name");
    other.expect("001");
    for mask in ["*usernam", "*UniqueReal*", "otherNick"] {
        asker.send(&format!("WHO {mask}"));
        let (end, found) = asker.expect_where("315", |l| command_of(l) == "315");
        assert_eq!(params_of(&end)[1], mask);
        assert!(found.iter().any(|l| command_of(l) == "352" && l.contains(" otherNick ")), "{mask}: {found:?}");
    }
    asker.send("WHO *nobody*");
    let (_, found) = asker.expect_where("315", |l| command_of(l) == "315");
    assert!(!found.iter().any(|l| command_of(l) == "352"));
}

#[test]
fn privmsg_errors_and_away() {
    let s = Server::start();
    let mut a = s.client("amy");
    let mut b = s.client("bob");
    a.send("PRIVMSG nobody :hi");
    assert_eq!(a.recv(), ":test.banter 401 amy nobody :No such nick/channel");
    a.send("PRIVMSG #nowhere :hi");
    assert!(a.recv().contains(" 403 amy #nowhere "));
    a.send("PRIVMSG bob");
    assert!(a.recv().contains(" 412 amy "));
    a.send("NOTICE nobody :hi");
    assert!(a.sync().is_empty(), "NOTICE errors must not be answered");
    b.send("AWAY :lunch");
    assert_eq!(b.recv(), ":test.banter 306 bob :You have been marked as being away");
    a.send("PRIVMSG bob :there?");
    assert_eq!(a.recv(), ":test.banter 301 amy bob :lunch");
    a.send("WHOIS bob");
    let whois = a.collect_until("318");
    assert!(whois.iter().any(|l| l.contains(" 311 amy bob ~bob 127.0.0.1 * :Real bob")));
    assert!(whois.iter().any(|l| l.contains(" 301 amy bob :lunch")));
    assert!(whois.iter().any(|l| command_of(l) == "317"));
}

#[test]
fn names_and_list_filters() {
    let s = Server::start();
    let mut a = s.client("eve");
    a.send("JOIN #one,#two");
    a.expect("366");
    a.expect("366");
    let mut b = s.client("fay");
    b.send("JOIN #two");
    b.expect("366");
    b.send("LIST >1");
    let list = b.collect_until("323");
    let chans: Vec<String> = list.iter().filter(|l| command_of(l) == "322").map(|l| params_of(l)[1].clone()).collect();
    assert_eq!(chans, ["#two"]);
    b.send("LIST C<5,C>-1");
    let list = b.collect_until("323");
    assert_eq!(list.iter().filter(|l| command_of(l) == "322").count(), 2, "{list:?}");
    b.send("LIST C>5");
    assert!(!b.collect_until("323").iter().any(|l| command_of(l) == "322"));
    b.send("LIST !#tw*");
    let list = b.collect_until("323");
    let chans: Vec<String> = list.iter().filter(|l| command_of(l) == "322").map(|l| params_of(l)[1].clone()).collect();
    assert_eq!(chans, ["#one"]);
    b.send("NAMES #one");
    assert_eq!(b.recv(), ":test.banter 353 fay = #one :@eve");
    assert_eq!(b.recv(), ":test.banter 366 fay #one :End of /NAMES list");
    b.send("NAMES #one,#two");
    assert_eq!(b.recv(), ":test.banter 353 fay = #one :@eve");
    assert_eq!(b.recv(), ":test.banter 353 fay = #two :@eve fay");
    assert_eq!(b.recv(), ":test.banter 366 fay #one,#two :End of /NAMES list");
    a.send("MODE #one +s");
    a.expect("MODE");
    b.send("LIST");
    let list = b.collect_until("323");
    assert!(!list.iter().any(|l| l.contains("#one")), "secret channel listed: {list:?}");
}

#[test]
fn permanent_rooms_exist_empty_and_survive() {
    let config = format!("{BASE_CONFIG}\n[channels]\npermanent = [\"#default\"]\n");
    let s = Server::start_with(&config);
    let mut a = s.client("gus");
    a.send("LIST");
    let list = a.collect_until("323");
    assert!(list.iter().any(|l| params_of(l).get(1..3) == Some(&["#default".to_owned(), "0".to_owned()])), "{list:?}");
    // Joining an empty permanent channel gives no ops (issue 14: the first
    // user could take it over), except to an operator, who may set its topic.
    a.send("OPER admin adminpass");
    a.expect("381");
    a.send("JOIN #default");
    a.expect("366");
    a.send("TOPIC #default :stays");
    a.expect("TOPIC");
    a.send("PART #default");
    a.expect("PART");
    a.send("LIST #default");
    let list = a.collect_until("323");
    assert!(list.iter().any(|l| l.ends_with("#default 0 :[+ntP] stays")), "{list:?}");
    // opers can make any channel permanent with +P
    a.send("JOIN #keep");
    a.expect("366");
    a.send("MODE #keep +P");
    a.expect("MODE");
    a.send("PART #keep");
    a.expect("PART");
    a.send("LIST #keep");
    assert!(a.collect_until("323").iter().any(|l| l.contains("#keep 0")));
}

#[test]
fn oper_kill_and_wallops() {
    let s = Server::start();
    let mut o = s.client("root");
    let mut v = s.client("victim");
    o.send("KILL victim :nope");
    assert!(o.recv().contains(" 481 root "));
    o.send("OPER admin wrong");
    assert!(o.recv().contains(" 464 root "));
    o.send("OPER admin adminpass");
    assert_eq!(o.expect("381"), ":test.banter 381 root :You are now an IRC operator");
    v.send("MODE victim +w");
    v.expect("MODE");
    o.send("WALLOPS :maintenance soon");
    assert_eq!(v.expect("WALLOPS"), ":root!~root@127.0.0.1 WALLOPS :maintenance soon");
    o.send("KILL victim :bad behaviour");
    assert!(v.expect("ERROR").contains("Killed (root (bad behaviour))"));
    assert!(v.closed());
}

#[test]
fn rehash_reloads_the_motd() {
    let s = Server::start();
    let motd = s.dir.path().join("motd.txt");
    std::fs::write(&motd, "first line\n").unwrap();
    let cfg = std::fs::read_to_string(s.dir.path().join("banterd.toml")).unwrap();
    std::fs::write(
        s.dir.path().join("banterd.toml"),
        cfg.replace("network = \"TestNet\"", &format!("network = \"TestNet\"\nmotd_file = {:?}", motd)),
    )
    .unwrap();
    let mut o = s.client("opal");
    o.send("OPER admin adminpass");
    o.expect("381");
    o.send("REHASH");
    o.expect("382");
    o.send("MOTD");
    let lines = o.collect_until("376");
    assert!(lines.iter().any(|l| l.ends_with(":- first line")), "{lines:?}");
}

#[test]
fn casemapping_makes_channels_and_nicks_unique() {
    let s = Server::start();
    let mut a = s.client("x[1]");
    let mut b = s.client("y");
    a.send("JOIN #Chan[A]");
    a.expect("366");
    b.send("JOIN #chan{a}");
    assert_eq!(b.expect("JOIN"), ":y!~y@127.0.0.1 JOIN #Chan[A]");
    b.send("PRIVMSG X{1} :case-folded nick");
    assert_eq!(a.expect("PRIVMSG"), ":y!~y@127.0.0.1 PRIVMSG X{1} :case-folded nick");
}

#[test]
fn rehash_announces_capability_changes_with_cap_notify() {
    let s = Server::start();
    let mut o = with_caps(&s, "capper", "draft/account-registration");
    o.send("OPER admin adminpass");
    o.expect("381");
    let path = s.dir.path().join("banterd.toml");
    let cfg = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, cfg.replace("[accounts]\n", "[accounts]\nregistration = false\n")).unwrap();
    o.send("REHASH");
    let del = o.expect("CAP");
    assert_eq!(params_of(&del), ["capper", "DEL", "draft/account-registration=before-connect,custom-account-name"]);
    o.send("CAP LIST");
    assert!(!o.expect("CAP").contains("account-registration"));
    std::fs::write(&path, cfg).unwrap();
    o.send("REHASH");
    assert_eq!(
        params_of(&o.expect("CAP"))[1..],
        ["NEW", "draft/account-registration=before-connect,custom-account-name"]
    );
}

/// Messages a client sends to a channel in one write are held and delivered
/// together; whatever the client does next (a direct message, PART, NICK, a
/// message to another channel) must still reach everyone after them.
#[test]
fn one_write_of_mixed_commands_arrives_in_order() {
    let s = Server::start();
    let mut a = s.client("ann");
    let mut b = s.client("ben");
    for c in [&mut a, &mut b] {
        c.send("JOIN #one,#two");
        c.expect("366");
        c.expect("366");
    }
    a.sync();
    b.sync();
    let mut batch = String::new();
    for i in 0..5 {
        batch.push_str(&format!("PRIVMSG #one :m{i}\r\n"));
    }
    batch.push_str("PRIVMSG ben :direct\r\nPRIVMSG #one :m5\r\nPRIVMSG #two :other\r\nPRIVMSG #one :m6\r\n");
    batch.push_str("NICK anne\r\nPRIVMSG #one :m7\r\nPART #one :bye\r\n");
    a.send_raw(batch.as_bytes());
    let (_, before) = b.expect_where("PART", |l| command_of(l) == "PART");
    let seen: Vec<String> = before
        .iter()
        .filter(|l| matches!(command_of(l), "PRIVMSG" | "NICK"))
        .map(|l| format!("{} {}", command_of(l), params_of(l).last().cloned().unwrap_or_default()))
        .collect();
    let want = [
        "PRIVMSG m0",
        "PRIVMSG m1",
        "PRIVMSG m2",
        "PRIVMSG m3",
        "PRIVMSG m4",
        "PRIVMSG direct",
        "PRIVMSG m5",
        "PRIVMSG other",
        "PRIVMSG m6",
        "NICK anne",
        "PRIVMSG m7",
    ];
    assert_eq!(seen, want);
}

/// With a write interval, channel traffic for a client that was just written to
/// waits for the next write; a reply to the client's own command goes out at
/// once and takes the waiting lines with it, in order.
#[test]
fn replies_are_not_held_by_the_write_interval() {
    let (_s, mut a, mut b) = two_members_with_interval(60_000, "#held");
    a.send("PRIVMSG #held :one");
    a.send("PRIVMSG #held :two");
    a.sync();
    // ben's last write (the JOIN replies) was just now: "one" and "two" wait,
    // until ben's PING is answered, which sends them first
    let before = b.sync();
    let texts: Vec<String> =
        before.iter().filter(|l| command_of(l) == "PRIVMSG").map(|l| params_of(l)[1].clone()).collect();
    assert_eq!(texts, ["one", "two"]);
}

/// Replies go out at once but still count against the write interval; many of
/// them must not push a later channel message back by more than one interval.
/// Before the debt was bounded, 1500 answered PINGs held the next message for
/// 1500 × 8 ms = 12 s, past `expect`'s deadline.
#[test]
fn answered_commands_do_not_hold_later_relays() {
    let (_s, mut a, mut b) = two_members_with_interval(8, "#debt");
    for i in 0..1500 {
        b.send(&format!("PING :p{i}"));
        b.expect("PONG");
    }
    a.send("PRIVMSG #debt :after the pings");
    let got = b.expect("PRIVMSG");
    assert!(got.ends_with(":after the pings"), "{got}");
}

/// A server with `limits.write_interval_ms = ms` and two clients, ann and ben,
/// in `chan`.
fn two_members_with_interval(ms: u64, chan: &str) -> (Server, Client, Client) {
    let s = Server::start_with(&BASE_CONFIG.replace("[limits]\n", &format!("[limits]\nwrite_interval_ms = {ms}\n")));
    let mut a = s.client("ann");
    let mut b = s.client("ben");
    for c in [&mut a, &mut b] {
        c.send(&format!("JOIN {chan}"));
        c.expect("366");
    }
    (s, a, b)
}

/// Issue 14, item 19: a member banned (or muted) by nick cannot change nick to
/// get out of the ban (435, as InspIRCd and Solanum refuse it), unless voiced.
#[test]
fn no_nick_change_while_banned() {
    let s = Server::start();
    let mut op = s.client("boss");
    op.send("JOIN #room");
    op.expect("366");
    let mut pest = s.client("pest");
    pest.send("JOIN #room");
    pest.expect("366");
    op.send("MODE #room +b pest!*@*");
    op.expect("MODE");
    pest.expect("MODE");
    pest.send("NICK pest2");
    let refused = pest.expect("435");
    assert_eq!(params_of(&refused), ["pest", "pest2", "#room", "Cannot change nickname while banned on channel"]);
    pest.send("PRIVMSG #room :still banned");
    pest.expect("404");
    op.send("MODE #room +v pest");
    op.expect("MODE");
    pest.expect("MODE");
    pest.send("NICK pest2");
    assert_eq!(params_of(&pest.expect("NICK")), ["pest2"], "a voiced member may");
}

/// Issue 14, item 19: INVITE to a channel that does not exist is 403; it
/// relayed any text as a channel name.
#[test]
fn invite_to_a_missing_channel_is_403() {
    let s = Server::start();
    let mut a = s.client("inviter");
    let mut b = s.client("invitee");
    a.send("INVITE invitee #nowhere-at-all");
    assert_eq!(params_of(&a.expect("403"))[1], "#nowhere-at-all");
    assert!(!b.sync().iter().any(|l| command_of(l) == "INVITE"), "nothing relayed");
}

/// Issue 14, item 19: USER's realname is cut to `limits.realname_len`, the
/// length SETNAME refuses past (450 bytes were kept).
#[test]
fn user_realname_is_cut_like_setname() {
    let s = Server::start();
    let mut op = s.client("asker");
    let mut long = s.connect();
    long.send("NICK longname");
    long.send(&format!("USER u 0 * :{}", "r".repeat(450)));
    long.expect("001");
    op.send("WHOIS longname");
    let whois = op.expect("311");
    assert_eq!(params_of(&whois)[5].len(), 200, "cut to limits.realname_len");
    long.send(&format!("SETNAME :{}", "s".repeat(201)));
    assert_eq!(params_of(&long.expect("FAIL"))[..2], ["SETNAME", "INVALID_REALNAME"]);
}
