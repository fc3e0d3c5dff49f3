//! The web client in a real browser: headless Chromium (Debian's `chromium`)
//! driven through playwright-core by `tests/browser/driver.mjs`, against a real
//! banterd, with a raw TCP IRC client in the same room. The steps and the
//! assertions are here; the driver only clicks, types and reads the page.
//!
//! Needs `/usr/bin/chromium` (or `$CHROMIUM`) and Node.js; runs `npm ci` in
//! tests/browser when its node_modules is missing. A missing browser fails the
//! test: `.ci/run` installs it.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The browser: a Node process holding headless Chromium, killed on drop.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Browser {
    fn start() -> Browser {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            Path::new(&chromium).exists(),
            "no Chromium at {chromium}: apt-get install chromium (or set CHROMIUM); .ci/run does this"
        );
        if !dir.join("node_modules/playwright-core").exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm (Node.js) is needed for the browser test: apt-get install nodejs npm");
            assert!(status.success(), "npm ci in tests/browser failed");
        }
        let mut child = Command::new("node")
            .arg("driver.mjs")
            .current_dir(&dir)
            .env("CHROMIUM", &chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node (Node.js) is needed for the browser test");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Browser { child, stdin, stdout }
    }

    /// Runs one driver command; panics with the page's console on failure.
    fn run(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin, "{cmd}").expect("driver stdin");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("driver stdout");
        let answer: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("driver said {line:?} to {cmd}"));
        assert_eq!(answer["ok"], true, "{cmd} failed: {answer:#}");
        answer["value"].clone()
    }

    fn goto(&mut self, url: &str) {
        self.run(json!({"op": "goto", "url": url}));
    }
    fn fill(&mut self, sel: &str, text: &str) {
        self.run(json!({"op": "fill", "sel": sel, "text": text}));
    }
    fn click(&mut self, sel: &str) {
        self.run(json!({"op": "click", "sel": sel}));
    }
    fn press(&mut self, sel: &str, key: &str) {
        self.run(json!({"op": "press", "sel": sel, "key": key}));
    }
    /// Waits until the element's text contains all of `texts`; returns the text.
    fn wait_text(&mut self, sel: &str, texts: &[&str]) -> String {
        self.run(json!({"op": "wait_text", "sel": sel, "texts": texts})).as_str().unwrap_or_default().to_owned()
    }
    fn visible(&mut self, sel: &str) -> bool {
        self.run(json!({"op": "visible", "sel": sel})) == json!(true)
    }
    fn wait_visible(&mut self, sel: &str) {
        self.run(json!({"op": "wait_visible", "sel": sel}));
    }
    /// Types a line into the message box and sends it with Enter.
    fn say(&mut self, text: &str) {
        self.fill("#send-text", text);
        self.press("#send-text", "Enter");
    }
    fn screenshot(&mut self, path: &Path) {
        self.run(json!({"op": "screenshot", "path": path}));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "close"}));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A banterd with a WebSocket listener, and that listener's port.
fn web_server() -> (Server, u16) {
    let s = Server::start_with(&format!("{BASE_CONFIG}\n[[websocket]]\nlisten = \"127.0.0.1:0\"\n"));
    let port = loop {
        let line = s.log.recv_timeout(WAIT).expect("no WebSocket listener logged");
        if let Some(rest) = line.split("listening for WebSocket on 127.0.0.1:").nth(1) {
            break rest.trim().parse().unwrap();
        }
    };
    (s, port)
}

/// Where the screenshot of the chat view goes: `$BANTER_SCREENSHOT` (how
/// docs/web-client.png is made), else target/web-client.png.
fn screenshot_path() -> PathBuf {
    std::env::var_os("BANTER_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-client.png"))
}

#[test]
fn the_web_client_registers_chats_with_a_tcp_client_leaves_and_logs_out() {
    let (s, port) = web_server();
    let url = format!("http://127.0.0.1:{port}/");
    // bob, on plain TCP, is in #lobby and has said something before alice comes
    let mut bob = s.client("bob");
    bob.send("JOIN #lobby");
    bob.expect("366");
    bob.send("TOPIC #lobby :Anything goes, be nice");
    bob.send("PRIVMSG #lobby :said before alice came");
    bob.sync();

    let mut web = Browser::start();
    web.goto(&url);
    web.wait_visible("#login-form");
    assert_eq!(web.run(json!({"op": "attr", "sel": "#login-password", "name": "type"})), "password");

    // register
    web.click("#tab-register");
    web.fill("#login-name", "alice");
    web.fill("#login-password", "correct-horse-battery");
    web.click("#login-submit");
    web.wait_text("#me-name", &["alice"]);
    // the rooms, with their member counts
    web.wait_text("#room-list", &["#lobby", "1 member"]);

    // join #lobby: the backlog from CHATHISTORY, the members with their status
    web.fill("#join-name", "lobby");
    web.click("#join-submit");
    web.wait_text("#title", &["#lobby"]);
    web.wait_text("#topic", &["Anything goes, be nice"]);
    let (join, _) = bob.expect_where("alice's JOIN", |l| command_of(l) == "JOIN");
    assert!(join.starts_with(":alice!~alice@127.0.0.1 JOIN #lobby"), "{join}");
    web.wait_text("#messages", &["said before alice came"]);
    let members = web.wait_text("#member-list", &["alice", "bob"]);
    assert!(members.contains("operator"), "bob created #lobby, so he is its operator: {members}");
    web.wait_text("#members-title", &["2 members"]);

    // messages both ways, with [HH:MM] timestamps
    web.say("hello from the browser");
    assert_eq!(bob.expect("PRIVMSG"), ":alice!~alice@127.0.0.1 PRIVMSG #lobby :hello from the browser");
    bob.send("PRIVMSG #lobby :hi alice, from TCP");
    let messages = web.wait_text("#messages", &["hi alice, from TCP"]);
    let line = messages.lines().find(|l| l.contains("hi alice, from TCP")).unwrap();
    assert!(is_timestamped(line, "bob hi alice, from TCP"), "{line:?}");

    // someone joins and quits: notices, and the member list follows
    let mut carol = s.client("carol");
    carol.send("JOIN #lobby");
    carol.expect("366");
    web.wait_text("#messages", &["carol joined"]);
    web.wait_text("#members-title", &["3 members"]);
    web.wait_text("#room-list", &["#lobby", "3 members"]);
    web.screenshot(&screenshot_path());
    carol.send("QUIT :off to lunch");
    web.wait_text("#messages", &["carol quit (", "off to lunch)"]);
    web.wait_text("#members-title", &["2 members"]);

    // a private message from bob opens a chat; the answer reaches him
    bob.send("PRIVMSG alice :psst, privately");
    web.wait_text("#open-list", &["@ bob"]);
    web.click("#open-list button[data-key='bob']");
    web.wait_text("#messages", &["psst, privately"]);
    web.say("private answer");
    assert_eq!(bob.expect("PRIVMSG"), ":alice!~alice@127.0.0.1 PRIVMSG bob :private answer");

    // leave the room
    web.click("#open-list button[data-key='#lobby']");
    web.wait_text("#title", &["#lobby"]);
    web.click("#leave");
    let (part, _) = bob.expect_where("alice's PART", |l| command_of(l) == "PART");
    assert_eq!(params_of(&part), ["#lobby"], "{part}");
    assert!(part.starts_with(":alice!~alice@127.0.0.1 PART "), "{part}");
    web.run(json!({"op": "wait_no_text", "sel": "#open-list", "texts": ["#lobby"]}));

    // log out: alice quits, and the log-in form is back
    web.click("#logout");
    bob.send("WHOIS alice");
    let (_, _) = bob.expect_where("WHOIS alice ends", |l| command_of(l) == "318");
    web.wait_visible("#login-form");
    assert!(!web.visible("#chat"));
}

#[test]
fn the_web_client_logs_in_explains_errors_and_reconnects_by_itself() {
    let (s, port) = web_server();
    let url = format!("http://127.0.0.1:{port}/");
    let mut tcp = s.connect();
    tcp.send("REGISTER dana * secret-password-1");
    tcp.expect("REGISTER");
    tcp.send("QUIT");
    let mut oper = s.client("oper");
    oper.send("OPER admin adminpass");
    oper.expect("381");
    oper.send("JOIN #room");
    oper.expect("366");

    let mut web = Browser::start();
    web.goto(&url);
    // a wrong password, in plain words
    web.fill("#login-name", "dana");
    web.fill("#login-password", "not-the-password");
    web.click("#login-submit");
    web.wait_text("#login-error", &["Wrong name or password."]);
    // a taken name when creating an account
    web.click("#tab-register");
    web.fill("#login-password", "whatever-password");
    web.click("#login-submit");
    web.wait_text("#login-error", &["That name is already taken."]);
    // log in with SASL
    web.click("#tab-login");
    web.fill("#login-password", "secret-password-1");
    web.click("#login-submit");
    web.wait_text("#me-name", &["dana"]);
    web.fill("#join-name", "#room");
    web.press("#join-name", "Enter");
    oper.expect_where("dana's JOIN", |l| command_of(l) == "JOIN");
    // an unknown nick in a /msg gets a plain answer too
    web.say("/msg nobody-here hello?");
    web.wait_text("#banner", &["No one called nobody-here is online."]);

    // the connection is cut: the page logs in again and rejoins by itself
    oper.send("KILL dana :testing reconnection");
    oper.expect_where("dana's QUIT", |l| command_of(l) == "QUIT");
    let (rejoin, _) = oper.expect_where("dana's JOIN again", |l| command_of(l) == "JOIN");
    assert!(rejoin.starts_with(":dana!"), "{rejoin}");
    oper.send("WHOIS dana");
    let whois = oper.collect_until("318");
    assert!(whois.iter().any(|l| command_of(l) == "330" && l.contains(" dana dana ")), "logged in again: {whois:?}");
    oper.send("PRIVMSG #room :welcome back");
    web.wait_text("#messages", &["welcome back"]);
}

#[test]
fn the_web_client_fits_a_phone_screen() {
    let (s, port) = web_server();
    let mut bob = s.client("bob");
    bob.send("JOIN #small");
    bob.expect("366");
    let mut web = Browser::start();
    web.run(json!({"op": "viewport", "width": 375, "height": 667}));
    web.goto(&format!("http://127.0.0.1:{port}/"));
    web.click("#tab-register");
    web.fill("#login-name", "erin");
    web.fill("#login-password", "phone-password");
    web.click("#login-submit");
    web.wait_text("#me-name", &["erin"]);
    // the side panels are drawers: the room list opens from the top bar
    assert!(web.visible("#toggle-rooms"));
    web.click("#toggle-rooms");
    web.wait_text("#room-list", &["#small"]);
    web.click("#room-list button");
    web.wait_text("#title", &["#small"]);
    assert!(web.visible("#send-text"));
    web.say("from a phone");
    assert!(bob.expect("PRIVMSG").ends_with("PRIVMSG #small :from a phone"));
    web.click("#toggle-members");
    web.wait_text("#member-list", &["bob", "erin"]);
}

/// Whether a message line reads `[HH:MM] rest`.
fn is_timestamped(line: &str, rest: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 8
        && b[0] == b'['
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b':'
        && b[4..6].iter().all(u8::is_ascii_digit)
        && &line[6..8] == "] "
        && line[8..].trim() == rest
}
