//! Connecting and logging in: CAP negotiation, REGISTER, SASL PLAIN or PASS,
//! and what to do when the connection drops.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{Action, App, Caps, Conn, Mode, Phase};
use crate::client::event::UiEvent;
use crate::client::irc::{build, Message};

/// The capabilities the client uses, when the server offers them.
const WANTED_CAPS: &[&str] =
    &["server-time", "sasl", "draft/account-registration", "userhost-in-names", "multi-prefix", "echo-message"];

/// SASL payloads are sent in chunks of this many base64 bytes.
const SASL_CHUNK: usize = 400;

/// How far a login attempt has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Waiting for the connection and CAP LS before starting.
    Waiting(Mode),
    /// Sent `AUTHENTICATE PLAIN`.
    Sasl,
    /// Sent `REGISTER` before `CAP END`.
    Register,
    /// Sent `CAP END`; waiting for 001, then `REGISTER` if `register_after`.
    Welcome {
        /// Register once connection registration completes.
        register_after: bool,
    },
    /// Sent `REGISTER` after 001.
    RegisterAfter,
}

impl App {
    /// Starts logging in (or registering) with the stored credentials.
    pub(super) fn begin_login(&mut self, mode: Mode) {
        self.phase = Phase::Auth(Step::Waiting(mode));
        if !self.conn.open || self.conn.cap_end_sent || self.conn.registered {
            if !self.connecting {
                self.reconnect(Duration::ZERO);
            }
        } else if self.caps.done {
            self.start_auth(mode);
        }
    }

    /// Drops the current connection (politely) and asks for a new one.
    pub(super) fn reconnect(&mut self, delay: Duration) {
        if self.conn.open {
            self.send(build("QUIT", &["Reconnecting"]));
        }
        self.conn = Conn::default();
        self.caps = Caps::default();
        self.connecting = true;
        self.out.push(Action::Connect(delay));
    }

    /// The TCP connection is up.
    pub fn on_connected(&mut self) {
        self.connecting = false;
        self.conn = Conn { open: true, ..Conn::default() };
        self.idle = 0;
        self.caps = Caps::default();
        self.ever_connected = true;
        self.send("CAP LS 302".to_string());
        match self.phase {
            Phase::Connecting => self.show_menu(),
            Phase::Reconnecting => {
                self.info("Reconnected; logging in again...");
                self.auto_login = true;
                self.phase = Phase::Auth(Step::Waiting(Mode::Login));
            }
            _ => {}
        }
        self.settle();
    }

    /// Connecting failed.
    pub fn on_connect_failed(&mut self, error: &str) {
        self.connecting = false;
        if !self.ever_connected {
            self.error(sentence(error));
            self.phase = Phase::Quitting;
            self.out.push(Action::Ui(UiEvent::Exit(1)));
        } else if self.phase == Phase::Reconnecting || self.auto_login {
            self.phase = Phase::Reconnecting;
            let delay = self.next_backoff();
            self.error(format!("Reconnect failed: {error}. Retrying in {}s...", delay.as_secs()));
            self.reconnect(delay);
        } else if self.phase != Phase::Quitting {
            self.error(sentence(error));
            if matches!(self.phase, Phase::Auth(_)) {
                self.show_menu();
            }
        }
        self.settle();
    }

    /// The connection closed.
    pub fn on_closed(&mut self, reason: &str) {
        let reason = self.conn.error.take().unwrap_or_else(|| reason.to_string());
        self.conn = Conn::default();
        self.caps = Caps::default();
        match self.phase.clone() {
            Phase::Quitting => self.out.push(Action::Ui(UiEvent::Exit(self.exit_code()))),
            Phase::Connecting | Phase::Menu | Phase::Name(_) | Phase::Password(..) | Phase::Confirm(..) => {}
            Phase::Auth(_) if !self.auto_login => {
                self.error(format!("Login failed: {reason}"));
                self.drop_typed_ahead();
                self.show_menu();
            }
            _ => {
                self.phase = Phase::Reconnecting;
                for room in self.rooms.values_mut() {
                    room.members.clear();
                }
                self.queries.clear();
                self.room_list = None;
                let delay = self.next_backoff();
                self.error(format!(
                    "Lost connection to the server ({reason}). Reconnecting in {}s...",
                    delay.as_secs()
                ));
                self.reconnect(delay);
            }
        }
        self.settle();
    }

    /// `CAP` replies: collect LS, request what we want, note ACK/NAK.
    pub(super) fn on_cap(&mut self, msg: &Message) {
        match msg.param(1).to_ascii_uppercase().as_str() {
            "LS" => {
                let more = msg.param(2) == "*" && msg.params.len() > 3;
                for token in msg.trailing().split_whitespace() {
                    let (name, value) = token.split_once('=').unwrap_or((token, ""));
                    self.caps.offered.insert(name.to_string(), value.to_string());
                }
                if more || self.caps.done || self.caps.req_pending {
                    return;
                }
                let wanted: Vec<&str> =
                    WANTED_CAPS.iter().copied().filter(|cap| self.caps.offered.contains_key(*cap)).collect();
                if wanted.is_empty() {
                    self.caps_done();
                } else {
                    self.caps.req_pending = true;
                    self.send(build("CAP", &["REQ", &wanted.join(" ")]));
                }
            }
            "ACK" => {
                for cap in msg.trailing().split_whitespace() {
                    match cap.strip_prefix('-') {
                        Some(removed) => self.caps.acked.remove(removed),
                        None => self.caps.acked.insert(cap.to_string()),
                    };
                }
                if self.caps.req_pending {
                    self.caps_done();
                }
            }
            "NAK" if self.caps.req_pending => self.caps_done(),
            "DEL" => {
                for cap in msg.trailing().split_whitespace() {
                    self.caps.acked.remove(cap);
                }
            }
            _ => {}
        }
    }

    /// Capability negotiation is over; start a waiting login.
    pub(super) fn caps_done(&mut self) {
        self.caps.req_pending = false;
        self.caps.done = true;
        if let Phase::Auth(Step::Waiting(mode)) = self.phase {
            self.start_auth(mode);
        }
    }

    /// Sends NICK and USER for `name` unless already sent.
    fn nick_user(&mut self, name: &str) {
        if self.conn.nick_sent.as_deref() != Some(name) {
            self.send(build("NICK", &[name]));
            self.conn.nick_sent = Some(name.to_string());
        }
        if !self.conn.user_sent {
            self.send(build("USER", &[name, "0", "*", name]));
            self.conn.user_sent = true;
        }
    }

    fn cap_end(&mut self) {
        self.send("CAP END".to_string());
        self.conn.cap_end_sent = true;
    }

    fn send_register(&mut self) {
        let Some(creds) = self.creds.clone() else {
            return;
        };
        self.send(build("REGISTER", &[&creds.name, "*", &creds.password]));
    }

    /// Caps are known and credentials typed: talk to the server.
    fn start_auth(&mut self, mode: Mode) {
        let Some(creds) = self.creds.clone() else {
            return self.show_menu();
        };
        let step = match mode {
            Mode::Login if self.caps.acked.contains("sasl") => {
                self.nick_user(&creds.name);
                self.send("AUTHENTICATE PLAIN".to_string());
                Step::Sasl
            }
            Mode::Login => {
                if self.conn.nick_sent.is_some() {
                    // PASS must come before NICK: only a new connection will do.
                    return self.reconnect(Duration::ZERO);
                }
                self.send(build("PASS", &[&format!("{}:{}", creds.name, creds.password)]));
                self.conn.pass_sent = true;
                self.nick_user(&creds.name);
                self.cap_end();
                Step::Welcome { register_after: false }
            }
            Mode::Register => {
                self.nick_user(&creds.name);
                let before_connect = self
                    .caps
                    .offered
                    .get("draft/account-registration")
                    .is_some_and(|v| v.split(',').any(|k| k == "before-connect"));
                if before_connect {
                    self.send_register();
                    Step::Register
                } else {
                    self.cap_end();
                    Step::Welcome { register_after: true }
                }
            }
        };
        self.phase = Phase::Auth(step);
    }

    /// Handles a line while logging in. Returns false when it was not a
    /// login reply, so the chat handlers may look at it.
    pub(super) fn on_auth_message(&mut self, step: Step, msg: &Message) -> bool {
        let name = self.creds.as_ref().map(|c| c.name.clone()).unwrap_or_default();
        match msg.command.as_str() {
            "AUTHENTICATE" if step == Step::Sasl && msg.param(0) == "+" => self.sasl_payload(),
            "903" | "907" if step == Step::Sasl => {
                self.cap_end();
                self.phase = Phase::Auth(Step::Welcome { register_after: false });
            }
            "904" | "905" => self.login_failed("Login failed: wrong name or password.".into()),
            "902" | "906" => self.login_failed(format!("Login failed: {}", msg.trailing())),
            "464" => self.login_failed("Login failed: wrong name or password.".into()),
            "465" => self.login_failed(format!("Login refused: {}", msg.trailing())),
            "433" if self.auto_login && self.conn.nick_sent.as_ref().is_some_and(|n| n.len() < 28) => {
                // Our old connection may not have timed out yet: take a
                // stand-in nick rather than giving up the reconnect.
                let alt = format!("{}_", self.conn.nick_sent.clone().unwrap_or_default());
                self.info(format!("{name} is still connected from before; using {alt} for now."));
                self.send(build("NICK", &[&alt]));
                self.conn.nick_sent = Some(alt);
            }
            // Registering a name someone is using: the name is taken (it is an
            // account, or someone's nick), whoever holds it.
            "433" if matches!(step, Step::Register | Step::Welcome { register_after: true }) => {
                self.conn.nick_sent = None;
                self.login_failed(taken(&name));
            }
            "433" => {
                self.conn.nick_sent = None;
                self.login_failed(format!("The name {name} is in use right now (already logged in elsewhere?)."));
            }
            "432" => {
                self.conn.nick_sent = None;
                self.login_failed(format!("\"{name}\" is not a valid name here: {}", msg.trailing()));
            }
            "421" if msg.param(1).eq_ignore_ascii_case("REGISTER") => {
                self.login_failed("This server does not support registering accounts.".into())
            }
            "421" if msg.param(1).eq_ignore_ascii_case("CAP") => self.caps_done(),
            "REGISTER" => self.on_register_reply(step, msg),
            "FAIL" if msg.param(0).eq_ignore_ascii_case("REGISTER") => self.on_register_fail(msg),
            "900" => self.conn.logged_in = true,
            // An IRCv3 server (one that answered CAP LS) may let a failed PASS
            // connect without an account (banterd does, with a NOTICE): no 900
            // before 001 means no login. Servers without CAP never send 900.
            "001" if self.conn.pass_sent && !self.conn.logged_in && !self.caps.offered.is_empty() => {
                self.conn.registered = true;
                self.login_failed("Login failed: wrong name or password.".into());
            }
            "001" => {
                self.conn.registered = true;
                self.nick = Some(msg.param(0).to_string()).filter(|n| !n.is_empty()).or(Some(name));
                if step == (Step::Welcome { register_after: true }) {
                    self.send_register();
                    self.phase = Phase::Auth(Step::RegisterAfter);
                } else {
                    self.logged_in();
                }
            }
            _ => return false,
        }
        true
    }

    /// Sends the SASL PLAIN payload, chunked as the spec requires.
    fn sasl_payload(&mut self) {
        let Some(creds) = self.creds.clone() else {
            return;
        };
        let encoded = STANDARD.encode(format!("\0{}\0{}", creds.name, creds.password));
        let bytes = encoded.as_bytes();
        for chunk in bytes.chunks(SASL_CHUNK) {
            self.send(format!("AUTHENTICATE {}", String::from_utf8_lossy(chunk)));
        }
        if bytes.len() % SASL_CHUNK == 0 {
            self.send("AUTHENTICATE +".to_string());
        }
    }

    fn on_register_reply(&mut self, step: Step, msg: &Message) {
        match msg.param(0).to_ascii_uppercase().as_str() {
            "SUCCESS" => {
                self.info(format!("Account {} registered.", msg.param(1)));
                if step == Step::RegisterAfter {
                    self.logged_in();
                } else {
                    self.cap_end();
                    self.phase = Phase::Auth(Step::Welcome { register_after: false });
                }
            }
            "VERIFICATION_REQUIRED" => {
                self.login_failed(format!("Registration needs verification: {}", msg.trailing()))
            }
            _ => {}
        }
    }

    fn on_register_fail(&mut self, msg: &Message) {
        let name = self.creds.as_ref().map(|c| c.name.clone()).unwrap_or_default();
        let text = msg.trailing().to_string();
        let why = match msg.param(1).to_ascii_uppercase().as_str() {
            "ACCOUNT_EXISTS" => taken(&name),
            "WEAK_PASSWORD" | "UNACCEPTABLE_PASSWORD" => format!("Password not accepted: {text}"),
            "BAD_ACCOUNT_NAME" | "ACCOUNT_NAME_MUST_BE_NICK" => {
                format!("\"{name}\" cannot be an account name: {text}")
            }
            "COMPLETE_CONNECTION_REQUIRED" => {
                self.cap_end();
                self.phase = Phase::Auth(Step::Welcome { register_after: true });
                return;
            }
            "TEMPORARILY_UNAVAILABLE" => format!("Registration is unavailable right now: {text}"),
            _ => format!("Registration failed: {text}"),
        };
        self.login_failed(why);
    }

    /// Shows why the login failed and goes back to the menu; a connection
    /// that went past `CAP END` is replaced, the others are reused.
    fn login_failed(&mut self, why: String) {
        self.error(why);
        self.login_refused = true;
        self.auto_login = false;
        self.drop_typed_ahead();
        if self.conn.cap_end_sent || self.conn.registered {
            self.reconnect(Duration::ZERO);
        }
        self.show_menu();
    }

    /// The server accepted us: show the rooms, or rejoin after a reconnect.
    fn logged_in(&mut self) {
        self.backoff = Duration::from_secs(1);
        self.ever_logged_in = true;
        self.login_refused = false;
        self.auto_login = false;
        let nick = self.me().to_string();
        let rooms: Vec<String> = self.rooms.values().map(|r| r.name.clone()).collect();
        if rooms.is_empty() {
            self.info(format!("Logged in as {nick}"));
            self.list_rooms(true);
            return;
        }
        let labels: Vec<String> = rooms.iter().map(|r| format!("[{}]", label(r))).collect();
        self.info(format!("Logged in as {nick}; rejoining {}", labels.join(" ")));
        self.send(build("JOIN", &[&rooms.join(",")]));
        if self.current.is_some() {
            self.phase = Phase::Chat;
        } else {
            self.list_rooms(true);
        }
    }
}

fn label(channel: &str) -> &str {
    crate::client::commands::room_label(channel)
}

/// `cannot connect...` as a sentence of its own: `Cannot connect...`.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Why registering `name` failed when the name is not free.
fn taken(name: &str) -> String {
    format!("The name {name} is already taken: choose another, or log in.")
}
