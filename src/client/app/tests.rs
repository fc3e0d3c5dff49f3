//! Drives the state machine line by line, without a network.

use super::*;
use crate::client::event::Input;
use crate::client::irc::Message;

fn sent(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(line) => Some(line.clone()),
            _ => None,
        })
        .collect()
}

fn shown(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Ui(UiEvent::Line(line)) => Some(line.text.clone()),
            Action::Ui(UiEvent::Prompt { text, .. }) => Some(format!("?{text}")),
            _ => None,
        })
        .collect()
}

fn server(app: &mut App, line: &str) -> Vec<Action> {
    app.on_message(&Message::parse(line).unwrap());
    app.take_actions()
}

fn typed(app: &mut App, line: &str) -> Vec<Action> {
    app.on_input(Input::Line(line.to_string()));
    app.take_actions()
}

/// A client logged in as alice over SASL, with the room list shown.
fn logged_in() -> App {
    let mut app = App::new("srv:6667", None);
    app.start();
    app.on_connected();
    let a = app.take_actions();
    assert!(sent(&a).contains(&"CAP LS 302".to_string()));
    let a = server(&mut app, ":srv CAP * LS :sasl server-time echo-message userhost-in-names");
    assert_eq!(sent(&a), vec!["CAP REQ :server-time sasl userhost-in-names echo-message"]);
    server(&mut app, ":srv CAP * ACK :server-time sasl userhost-in-names echo-message");
    typed(&mut app, "2");
    typed(&mut app, "alice");
    let a = typed(&mut app, "secret");
    assert_eq!(sent(&a), vec!["NICK alice", "USER alice 0 * alice", "AUTHENTICATE PLAIN"]);
    let a = server(&mut app, "AUTHENTICATE +");
    assert_eq!(sent(&a), vec!["AUTHENTICATE AGFsaWNlAHNlY3JldA=="]);
    server(&mut app, ":srv 900 alice alice!alice@h alice :You are now logged in");
    let a = server(&mut app, ":srv 903 alice :SASL authentication successful");
    assert_eq!(sent(&a), vec!["CAP END"]);
    let a = server(&mut app, ":srv 001 alice :Welcome");
    assert_eq!(sent(&a), vec!["LIST"]);
    server(&mut app, ":srv 322 alice #room1 2 :hello");
    let a = server(&mut app, ":srv 323 alice :End of LIST");
    assert_eq!(shown(&a), vec!["Rooms (1):", "  room1 (2 members)  hello", "?Join a Chat Room or Create New:"]);
    app
}

#[test]
fn logs_in_lists_rooms_and_chats() {
    let mut app = logged_in();
    let a = typed(&mut app, "room1");
    assert_eq!(sent(&a), vec!["JOIN #room1"]);
    // Typed ahead while joining: queued until the JOIN and the member list
    // that follows it are in, so that a script sees them before what it does next.
    assert!(sent(&typed(&mut app, "hello all")).is_empty());
    let a = server(&mut app, ":alice!alice@127.0.0.1 JOIN #room1");
    assert!(sent(&a).is_empty());
    server(&mut app, ":srv 353 alice = #room1 :@bob!bob@10.0.0.1 alice!alice@127.0.0.1");
    let a = server(&mut app, ":srv 366 alice #room1 :End");
    assert_eq!(shown(&a), vec!["INFO> Room [room1] has 2 members: alice, bob"]);
    assert_eq!(sent(&a), vec!["PRIVMSG #room1 :hello all"]);
    // With echo-message our line is shown when it comes back; until then the
    // next typed line waits (a script's end of input would otherwise lose it).
    assert!(sent(&typed(&mut app, "second")).is_empty());
    let a = server(&mut app, ":alice!alice@127.0.0.1 PRIVMSG #room1 :hello all");
    assert_eq!(shown(&a), vec!["alice> hello all"]);
    assert_eq!(sent(&a), vec!["PRIVMSG #room1 second"]);
    server(&mut app, ":alice!alice@127.0.0.1 PRIVMSG #room1 second");
    let a = server(&mut app, "@time=2026-01-01T10:00:00Z :carol!c@1.2.3.4 JOIN #room1");
    assert_eq!(shown(&a), vec!["INFO> carol joined room [room1] from <c@1.2.3.4>"]);
    let a = server(&mut app, ":bob!bob@10.0.0.1 PRIVMSG #room1 :hi alice");
    assert_eq!(shown(&a), vec!["bob> hi alice"]);
    let a = typed(&mut app, "LIST");
    assert_eq!(sent(&a), vec!["NAMES #room1"]);
    server(&mut app, ":srv 353 alice = #room1 :@bob!bob@10.0.0.1 alice!alice@127.0.0.1 carol!c@1.2.3.4");
    let a = server(&mut app, ":srv 366 alice #room1 :End");
    assert_eq!(
        shown(&a),
        vec!["People in room [room1] (3):", "  alice <alice@127.0.0.1>", "  bob <bob@10.0.0.1>", "  carol <c@1.2.3.4>",]
    );
    let a = server(&mut app, ":carol!c@1.2.3.4 QUIT :gone");
    assert_eq!(shown(&a), vec!["INFO> carol left room [room1] (quit: gone)"]);
    let a = typed(&mut app, "LEAVE");
    assert_eq!(sent(&a), vec!["PART #room1 Leaving"]);
    let a = server(&mut app, ":alice!alice@127.0.0.1 PART #room1 :Leaving");
    assert_eq!(sent(&a), vec!["LIST"]);
    let a = typed(&mut app, "LOGOUT");
    assert!(sent(&a).is_empty(), "queued until the room list arrives");
    let a = server(&mut app, ":srv 323 alice :End of LIST");
    assert_eq!(sent(&a), vec!["QUIT :Logged out"]);
    assert!(shown(&a).contains(&"Bye, alice".to_string()));
    app.on_closed("closed");
    assert!(app.take_actions().contains(&Action::Ui(UiEvent::Exit(0))));
}

#[test]
fn wrong_password_goes_back_to_the_menu() {
    let mut app = App::new("srv:6667", Some("alice".into()));
    app.start();
    app.on_connected();
    server(&mut app, ":srv CAP * LS :sasl");
    server(&mut app, ":srv CAP * ACK :sasl");
    typed(&mut app, "2");
    typed(&mut app, "nope");
    server(&mut app, "AUTHENTICATE +");
    let a = server(&mut app, ":srv 904 alice :SASL authentication failed");
    let lines = shown(&a);
    assert_eq!(lines[0], "ERROR> Login failed: wrong name or password.");
    assert_eq!(lines.last().unwrap(), "?Choose 1, 2 or 3:");
    // Same connection, a second try.
    typed(&mut app, "2");
    let a = typed(&mut app, "right");
    assert_eq!(sent(&a), vec!["AUTHENTICATE PLAIN"]);
}

#[test]
fn registers_before_connect_and_reports_taken_names() {
    let mut app = App::new("srv:6667", None);
    app.start();
    app.on_connected();
    server(&mut app, ":srv CAP * LS * :sasl");
    server(&mut app, ":srv CAP * LS :draft/account-registration=before-connect");
    server(&mut app, ":srv CAP * ACK :sasl draft/account-registration");
    typed(&mut app, "1");
    typed(&mut app, "bob");
    // Registering asks for the password twice; a mismatch asks again.
    let a = typed(&mut app, "pw pw");
    assert!(sent(&a).is_empty());
    assert_eq!(shown(&a), vec!["?Password again:"]);
    let a = typed(&mut app, "pw-pw");
    assert_eq!(shown(&a), vec!["ERROR> The two passwords differ; type it again.", "?Password:"]);
    typed(&mut app, "pw pw");
    let a = typed(&mut app, "pw pw");
    assert_eq!(sent(&a), vec!["NICK bob", "USER bob 0 * bob", "REGISTER bob * :pw pw"]);
    let a = server(&mut app, "FAIL REGISTER ACCOUNT_EXISTS bob :Account already exists");
    assert_eq!(shown(&a)[0], "ERROR> The name bob is already taken: choose another, or log in.");
    typed(&mut app, "1");
    typed(&mut app, "bob2");
    typed(&mut app, "pw");
    let a = typed(&mut app, "pw");
    assert_eq!(sent(&a), vec!["NICK bob2", "REGISTER bob2 * pw"]);
    let a = server(&mut app, "REGISTER SUCCESS bob2 :Account created");
    assert_eq!(sent(&a), vec!["CAP END"]);
    let a = server(&mut app, ":srv 001 bob2 :Welcome");
    assert_eq!(sent(&a), vec!["LIST"]);
}

#[test]
fn reconnects_and_rejoins() {
    let mut app = logged_in();
    typed(&mut app, "room1");
    server(&mut app, ":alice!alice@127.0.0.1 JOIN #room1");
    app.on_closed("the server closed the connection");
    let a = app.take_actions();
    assert!(a.contains(&Action::Connect(Duration::from_secs(1))));
    app.on_connect_failed("refused");
    assert!(app.take_actions().contains(&Action::Connect(Duration::from_secs(2))));
    app.on_connected();
    server(&mut app, ":srv CAP * LS :sasl");
    let a = server(&mut app, ":srv CAP * ACK :sasl");
    assert_eq!(sent(&a), vec!["NICK alice", "USER alice 0 * alice", "AUTHENTICATE PLAIN"]);
    server(&mut app, "AUTHENTICATE +");
    server(&mut app, ":srv 903 alice :ok");
    let a = server(&mut app, ":srv 001 alice :Welcome");
    assert_eq!(sent(&a), vec!["JOIN #room1"]);
}

#[test]
fn pass_login_without_sasl_and_connection_refused() {
    let mut app = App::new("srv:6667", None);
    app.start();
    app.on_connected();
    server(&mut app, ":srv CAP * LS :multi-prefix");
    server(&mut app, ":srv CAP * ACK :multi-prefix");
    typed(&mut app, "2");
    typed(&mut app, "carol");
    let a = typed(&mut app, "pw");
    assert_eq!(sent(&a), vec!["PASS carol:pw", "NICK carol", "USER carol 0 * carol", "CAP END"]);

    // A server that lets a failed PASS connect (no 900 before 001): not logged in.
    server(&mut app, ":srv NOTICE carol :PASS did not log you in");
    let a = server(&mut app, ":srv 001 carol :Welcome");
    let lines = shown(&a);
    assert_eq!(lines[0], "ERROR> Login failed: wrong name or password.");
    assert_eq!(sent(&a), vec!["QUIT Reconnecting"]);
    assert!(a.contains(&Action::Connect(Duration::ZERO)));
    // With 900 first, the same 001 is a login.
    let mut ok = App::new("srv:6667", None);
    ok.start();
    ok.on_connected();
    server(&mut ok, ":srv CAP * LS :multi-prefix");
    typed(&mut ok, "2");
    typed(&mut ok, "carol");
    typed(&mut ok, "pw");
    server(&mut ok, ":srv 900 carol carol!~carol@h carol :You are now logged in as carol");
    let a = server(&mut ok, ":srv 001 carol :Welcome");
    assert!(shown(&a).iter().any(|l| l.contains("Logged in as carol")), "{:?}", shown(&a));

    let mut refused = App::new("srv:6667", None);
    refused.start();
    refused.take_actions();
    refused.on_connect_failed("cannot connect to srv:6667: connection refused");
    assert!(refused.take_actions().contains(&Action::Ui(UiEvent::Exit(1))));
}

#[test]
fn garbage_from_the_server_does_not_panic() {
    let mut app = logged_in();
    typed(&mut app, "room1");
    for line in [
        "353",
        "366",
        "322",
        "JOIN",
        "PART",
        "KICK",
        "NICK",
        "PRIVMSG",
        ":x PRIVMSG #room1",
        ":x!y@z PRIVMSG #room1 :\u{1}ACTION",
        "QUIT",
        "CAP",
        "CAP * LS",
        "AUTHENTICATE",
        "FAIL",
        "352",
        "315",
        "323",
        "001",
        "433",
        "REGISTER",
        ":a!b@c JOIN",
        "PING",
        "ERROR",
    ] {
        server(&mut app, line);
    }
}

#[test]
fn joining_a_room_we_are_in_just_switches_to_it() {
    let mut app = logged_in();
    typed(&mut app, "room1");
    server(&mut app, ":alice!alice@127.0.0.1 JOIN #room1");
    server(&mut app, ":srv 366 alice #room1 :End");
    typed(&mut app, "/join lobby");
    server(&mut app, ":alice!alice@127.0.0.1 JOIN #lobby");
    server(&mut app, ":srv 366 alice #lobby :End");
    let a = server(&mut app, ":bob!b@h PRIVMSG #room1 :over here");
    assert_eq!(shown(&a), vec!["[room1] bob> over here"]);
    let a = typed(&mut app, "/join #room1");
    assert!(sent(&a).is_empty());
    assert_eq!(shown(&a), vec!["INFO> Now talking in room [room1]"]);
    assert_eq!(sent(&typed(&mut app, "hi")), vec!["PRIVMSG #room1 hi"]);
}

#[test]
fn a_server_without_cap_still_logs_in() {
    let mut app = App::new("srv:6667", Some("old".into()));
    app.start();
    app.on_connected();
    server(&mut app, ":srv 421 * CAP :Unknown command");
    typed(&mut app, "2");
    let a = typed(&mut app, "pw");
    assert_eq!(sent(&a), vec!["PASS old:pw", "NICK old", "USER old 0 * old", "CAP END"]);
    let a = server(&mut app, ":srv 001 old :Welcome");
    assert_eq!(sent(&a), vec!["LIST"]);
}

#[test]
fn a_reconnect_takes_a_stand_in_nick_while_the_old_one_lingers() {
    let mut app = logged_in();
    app.on_closed("reset");
    app.take_actions();
    app.on_connected();
    server(&mut app, ":srv CAP * LS :sasl");
    server(&mut app, ":srv CAP * ACK :sasl");
    let a = server(&mut app, ":srv 433 * alice :Nickname is already in use");
    assert_eq!(sent(&a), vec!["NICK alice_"]);
    server(&mut app, "AUTHENTICATE +");
    server(&mut app, ":srv 903 alice_ :ok");
    let a = server(&mut app, ":srv 001 alice_ :Welcome");
    assert_eq!(sent(&a), vec!["LIST"]);
    assert_eq!(app.me(), "alice_");
}

#[test]
fn the_watchdog_pings_a_quiet_server_and_gives_up_on_missing_replies() {
    let mut app = logged_in();
    typed(&mut app, "room1");
    let mut all = Vec::new();
    for _ in 0..20 {
        app.on_tick();
        all.extend(app.take_actions());
    }
    assert!(shown(&all).contains(&"ERROR> The server did not answer the JOIN.".to_string()));
    assert!(shown(&all).contains(&"?Join a Chat Room or Create New:".to_string()));
    for _ in 0..40 {
        app.on_tick();
        all.extend(app.take_actions());
    }
    assert!(sent(&all).contains(&"PING banter".to_string()));
    for _ in 0..60 {
        app.on_tick();
        all.extend(app.take_actions());
    }
    assert!(all.contains(&Action::Connect(Duration::from_secs(1))));
}

#[test]
fn parting_or_being_kicked_moves_to_another_room_or_the_list() {
    let mut app = logged_in();
    typed(&mut app, "room1");
    server(&mut app, ":alice!alice@127.0.0.1 JOIN #room1");
    server(&mut app, ":srv 366 alice #room1 :End");
    typed(&mut app, "/join lobby");
    server(&mut app, ":alice!alice@127.0.0.1 JOIN #lobby");
    server(&mut app, ":srv 366 alice #lobby :End");
    assert_eq!(sent(&typed(&mut app, "/part")), vec!["PART #lobby"]);
    let a = server(&mut app, ":alice!alice@127.0.0.1 PART #lobby");
    assert_eq!(shown(&a), vec!["INFO> You left room [lobby]", "INFO> Now talking in room [room1]"]);
    let a = server(&mut app, ":op!o@h KICK #room1 alice :behave");
    assert_eq!(shown(&a), vec!["ERROR> You were kicked from [room1] by op (behave)"]);
    assert_eq!(sent(&a), vec!["LIST"]);
    let a = server(&mut app, ":srv 323 alice :End of LIST");
    assert!(shown(&a).contains(&"?Join a Chat Room or Create New:".to_string()));
}

proptest::proptest! {
    /// Whatever the server sends, in whatever phase, the client never panics.
    #[test]
    fn arbitrary_server_lines_never_panic(
        lines in proptest::collection::vec(
            (
                proptest::option::of("@[a-z=;\\\\:.0-9T-]{0,30} "),
                proptest::option::of(":[a-z!@.~]{0,12} "),
                proptest::sample::select(vec![
                    "001", "353", "366", "352", "315", "322", "323", "433", "904", "903", "JOIN",
                    "PART", "QUIT", "KICK", "NICK", "PRIVMSG", "NOTICE", "CAP", "REGISTER", "FAIL",
                    "AUTHENTICATE", "PING", "ERROR", "263", "421", "TOPIC", "332",
                ]),
                "( [#&@+a-z!*=:\u{1}\u{3}0-9]{0,10}){0,6}",
            ),
            0..40,
        ),
        typed_first in proptest::bool::ANY,
    ) {
        let mut app = if typed_first { logged_in() } else { App::new("srv:6667", None) };
        if typed_first {
            typed(&mut app, "room1");
        }
        for (tags, prefix, command, rest) in lines {
            let line = format!("{}{}{command}{rest}", tags.unwrap_or_default(), prefix.unwrap_or_default());
            if let Some(msg) = Message::parse(&line) {
                app.on_message(&msg);
            }
            app.on_tick();
            app.take_actions();
        }
    }
}

#[test]
fn a_room_name_with_spaces_is_refused_and_an_online_name_is_taken() {
    let mut app = logged_in();
    typed(&mut app, "room1");
    server(&mut app, ":alice!alice@127.0.0.1 JOIN #room1");
    server(&mut app, ":srv 366 alice #room1 :End");
    let a = typed(&mut app, "/join bad room name");
    assert!(sent(&a).is_empty(), "{:?}", sent(&a));
    assert_eq!(shown(&a), vec!["ERROR> Room names cannot contain spaces, commas or control characters."]);

    // Registering a name someone is online with: 433 to our NICK.
    let mut app = App::new("srv:6667", None);
    app.start();
    app.on_connected();
    server(&mut app, ":srv CAP * LS :draft/account-registration=before-connect");
    server(&mut app, ":srv CAP * ACK :draft/account-registration");
    typed(&mut app, "1");
    typed(&mut app, "irene");
    typed(&mut app, "pw pw");
    typed(&mut app, "pw pw");
    let a = server(&mut app, ":srv 433 * irene :Nickname is already in use");
    assert_eq!(shown(&a)[0], "ERROR> The name irene is already taken: choose another, or log in.");
}
