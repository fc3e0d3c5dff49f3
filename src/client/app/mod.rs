//! The client's brain: a synchronous state machine fed with user input and
//! server lines, answering with [`Action`]s (lines to send, things to show).
//!
//! Keeping it free of I/O lets the session drive it from one `select!` loop
//! and lets unit tests drive it line by line.

mod chat;
mod input;
mod login;
mod rooms;
mod watchdog;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use super::event::{Input, Line, LineKind, Status, UiEvent};
use super::timefmt;

pub use rooms::{Member, Room};

/// The longest back-off between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Something the session must do on the app's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send one IRC line on the current connection.
    Send(String),
    /// Show something.
    Ui(UiEvent),
    /// Drop the current connection (if any) and connect again after `delay`.
    Connect(Duration),
    /// Exit after the server closed the connection, or after a short grace.
    QuitSoon,
}

/// Register a new account or log in to an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `REGISTER` (IRCv3 draft/account-registration).
    Register,
    /// SASL PLAIN, or `PASS name:password` without SASL.
    Login,
}

/// Where the conversation with the user stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first connection.
    Connecting,
    /// The register / log in / quit menu.
    Menu,
    /// Asking for the account name.
    Name(Mode),
    /// Asking for the password.
    Password(Mode, String),
    /// Registering: asking for the password a second time (name, first entry).
    Confirm(String, String),
    /// Waiting for the server to accept or refuse the login.
    Auth(login::Step),
    /// Waiting for the room list.
    Listing,
    /// "Join a Chat Room or Create New".
    Choosing,
    /// Waiting for our JOIN to come back.
    Joining(String),
    /// Waiting for our PART to come back (LEAVE).
    Leaving(String),
    /// In a room (or several), chatting.
    Chat,
    /// Lost the connection, trying again.
    Reconnecting,
    /// Sent QUIT, waiting to exit.
    Quitting,
}

/// Capability negotiation state for the current connection.
#[derive(Debug, Default)]
struct Caps {
    /// Offered caps and their values, collected from `CAP LS`.
    offered: HashMap<String, String>,
    /// Caps the server acknowledged.
    acked: HashSet<String>,
    /// True once LS (and our REQ, if any) has been answered.
    done: bool,
    /// True while a `CAP REQ` waits for ACK/NAK.
    req_pending: bool,
}

/// Exit code when input ended (or the user quit) after a refused login or
/// registration, with no successful login since: scripts can tell.
pub const EXIT_LOGIN_FAILED: i32 = 3;

/// Per-connection registration progress.
#[derive(Debug, Default)]
struct Conn {
    /// A connection is open (the session holds its writer).
    open: bool,
    /// The nick we sent with NICK on this connection.
    nick_sent: Option<String>,
    /// USER was sent on this connection.
    user_sent: bool,
    /// CAP END (or PASS/NICK/USER without caps) was sent: the server will
    /// finish registration, so a retry needs a fresh connection.
    cap_end_sent: bool,
    /// We got 001.
    registered: bool,
    /// PASS account:password was sent on this connection.
    pass_sent: bool,
    /// The server said we are logged in (900).
    logged_in: bool,
    /// Copies of our own messages the server still owes us (echo-message,
    /// and a message to ourselves): shown before the next typed line runs.
    echoes_due: u32,
    /// Of those, copies of messages to ourselves to skip: with echo-message
    /// the server sends one as the recipient's and one as the echo.
    self_copies_to_skip: u32,
    /// The server's `ERROR` text, shown when the connection closes.
    error: Option<String>,
}

/// The name and password to log in with (kept for reconnects).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Credentials {
    name: String,
    password: String,
}

/// A pending `LIST`/`/who` whose replies are being collected.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Query {
    /// NAMES with userhost-in-names for this channel (folded).
    Names(String),
    /// WHO for this target; the entries collected so far.
    Who(String, Vec<(String, String)>),
}

/// The client state machine. See the module docs.
#[derive(Debug)]
pub struct App {
    server: String,
    preset_user: Option<String>,
    out: Vec<Action>,
    phase: Phase,
    caps: Caps,
    conn: Conn,
    creds: Option<Credentials>,
    nick: Option<String>,
    rooms: BTreeMap<String, Room>,
    current: Option<String>,
    room_list: Option<Vec<(String, usize, String)>>,
    queries: VecDeque<Query>,
    backoff: Duration,
    connecting: bool,
    auto_login: bool,
    ever_connected: bool,
    ever_logged_in: bool,
    /// The last login or registration was refused, and none succeeded since:
    /// the exit code says so ([`EXIT_LOGIN_FAILED`]).
    login_refused: bool,
    /// Seconds the app has waited on replies it asked for while chatting.
    replies_age: u32,
    queue: VecDeque<Input>,
    status: Status,
    /// The phase `phase_age` counts seconds for.
    watched_phase: Phase,
    /// Seconds spent in the current phase.
    phase_age: u32,
    /// Seconds since the server last sent anything.
    idle: u32,
}

impl App {
    /// A new client for `server` (`host:port`); `user` pre-fills the name.
    /// Call [`App::start`] next.
    pub fn new(server: &str, user: Option<String>) -> App {
        App {
            server: server.to_string(),
            preset_user: user,
            out: Vec::new(),
            phase: Phase::Connecting,
            caps: Caps::default(),
            conn: Conn::default(),
            creds: None,
            nick: None,
            rooms: BTreeMap::new(),
            current: None,
            room_list: None,
            queries: VecDeque::new(),
            backoff: Duration::from_secs(1),
            connecting: false,
            auto_login: false,
            ever_connected: false,
            ever_logged_in: false,
            login_refused: false,
            replies_age: 0,
            queue: VecDeque::new(),
            status: Status::default(),
            watched_phase: Phase::Connecting,
            phase_age: 0,
            idle: 0,
        }
    }

    /// Begins: asks the session to connect.
    pub fn start(&mut self) {
        self.info(format!("Connecting to {}...", self.server));
        self.connecting = true;
        self.out.push(Action::Connect(Duration::ZERO));
        self.update_status();
    }

    /// Takes the actions produced so far.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    /// True while the app waits on the server; typed lines (and the end of
    /// input, and LOGOUT) are queued then, so that whatever the server owes is
    /// shown before the next line runs: a room's member list after a JOIN, the
    /// answer to LIST or /who.
    fn busy(&self) -> bool {
        matches!(
            self.phase,
            Phase::Connecting
                | Phase::Auth(_)
                | Phase::Listing
                | Phase::Joining(_)
                | Phase::Leaving(_)
                | Phase::Quitting
        ) || (matches!(self.phase, Phase::Chat | Phase::Choosing) && self.replies_due())
    }

    /// Whether replies we asked for are still coming: a pending LIST or /who,
    /// or the member list that follows our JOIN.
    fn replies_due(&self) -> bool {
        !self.queries.is_empty() || self.rooms.values().any(|r| !r.announced) || self.conn.echoes_due > 0
    }

    /// The process exit code once the session ends: 0, or
    /// [`EXIT_LOGIN_FAILED`] when the last login or registration was refused.
    pub fn exit_code(&self) -> i32 {
        if self.login_refused {
            EXIT_LOGIN_FAILED
        } else {
            0
        }
    }

    /// Runs queued input once the app is ready for it, then refreshes the
    /// status line. Every entry point ends here.
    fn settle(&mut self) {
        while !self.busy() {
            match self.queue.pop_front() {
                Some(Input::Line(line)) => self.handle_line(line),
                Some(Input::Quit | Input::Eof) => self.logout(None),
                None => break,
            }
        }
        self.update_status();
    }

    /// Drops lines typed ahead (they assumed the login would work), keeping
    /// a pending end of input so a script still ends.
    fn drop_typed_ahead(&mut self) {
        self.queue.retain(|input| !matches!(input, Input::Line(_)));
    }

    /// Emits a status event when something on the status line changed.
    fn update_status(&mut self) {
        let room = self.current.as_ref().and_then(|key| self.rooms.get(key));
        let link = match (&self.phase, self.conn.open) {
            (Phase::Reconnecting, _) => "reconnecting".to_string(),
            (Phase::Quitting, _) => "quitting".to_string(),
            (_, true) if self.conn.registered => "connected".to_string(),
            (Phase::Auth(_), true) => "logging in".to_string(),
            (_, true) => "connected".to_string(),
            (_, false) => "not connected".to_string(),
        };
        let status = Status {
            server: self.server.clone(),
            nick: self.nick.clone(),
            room: room.map(|r| super::commands::room_label(&r.name).to_string()),
            members: room.map_or(0, |r| r.members.len()),
            nicks: room.map(|r| r.members.values().map(|m| m.nick.clone()).collect()).unwrap_or_default(),
            link,
        };
        if status != self.status {
            self.status = status.clone();
            self.out.push(Action::Ui(UiEvent::Status(status)));
        }
    }

    /// Queues a line to the server.
    fn send(&mut self, line: String) {
        self.out.push(Action::Send(line));
    }

    /// Shows a line.
    fn show(&mut self, time: Option<String>, kind: LineKind, text: String) {
        self.out.push(Action::Ui(UiEvent::Line(Line { time, kind, text })));
    }

    /// Shows `INFO> text` stamped now.
    fn info(&mut self, text: impl Into<String>) {
        self.show(Some(timefmt::now()), LineKind::Info, format!("INFO> {}", text.into()));
    }

    /// Shows `ERROR> text` stamped now.
    fn error(&mut self, text: impl Into<String>) {
        self.show(Some(timefmt::now()), LineKind::Error, format!("ERROR> {}", text.into()));
    }

    /// Shows a plain text line (menus, lists, help).
    fn text(&mut self, text: impl Into<String>) {
        self.show(None, LineKind::Text, text.into());
    }

    /// Asks the user something.
    fn prompt(&mut self, text: &str, secret: bool) {
        self.out.push(Action::Ui(UiEvent::Prompt { text: text.to_string(), secret }));
    }

    /// The next reconnect delay, doubling up to [`MAX_BACKOFF`].
    fn next_backoff(&mut self) -> Duration {
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        delay
    }

    /// Our nick, or `""` before login.
    fn me(&self) -> &str {
        self.nick.as_deref().unwrap_or("")
    }

    /// True when `nick` is us.
    fn is_me(&self, nick: &str) -> bool {
        self.nick.as_deref().is_some_and(|me| super::irc::fold(me) == super::irc::fold(nick))
    }
}

#[cfg(test)]
mod tests;
