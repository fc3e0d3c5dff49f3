//! What flows between the session (network + logic) and a front end.

/// What kind of line this is; front ends pick the colour from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// `INFO>` notices: joins, leaves, status.
    Info,
    /// `ERROR>` lines: server errors, lost connection.
    Error,
    /// A chat message from `nick` (ourselves included).
    Message {
        /// Who spoke.
        nick: String,
    },
    /// A `/me` action by `nick`.
    Action {
        /// Who acted.
        nick: String,
    },
    /// A private message or notice, from or to `nick`.
    Private {
        /// The other party.
        nick: String,
    },
    /// Menus, room lists, help: shown as is, without timestamp.
    Text,
}

/// One line of output for the scrollback or stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `HH:MM:SS`, for timestamped events.
    pub time: Option<String>,
    /// What the line is, for colouring.
    pub kind: LineKind,
    /// The text after the timestamp, `INFO> ...`, `bob> hello`, ...
    pub text: String,
}

impl Line {
    /// The line as plain text, exactly as plain mode prints it.
    pub fn render(&self) -> String {
        match &self.time {
            Some(time) => format!("[{time}] {}", self.text),
            None => self.text.clone(),
        }
    }
}

/// What the status line shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// `host:port` of the server.
    pub server: String,
    /// Our nick, once logged in.
    pub nick: Option<String>,
    /// The current room, without `#`.
    pub room: Option<String>,
    /// Members of the current room.
    pub members: usize,
    /// Their nicks, for Tab completion.
    pub nicks: Vec<String>,
    /// A word about the connection: `connecting`, `connected`, `reconnecting in 4s`.
    pub link: String,
}

/// Sent by the session to the front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiEvent {
    /// Print one line.
    Line(Line),
    /// Ask the user for input; `secret` input must not be echoed.
    Prompt {
        /// The question, `Name:`, `Password:` ...
        text: String,
        /// True for passwords.
        secret: bool,
    },
    /// The status line changed.
    Status(Status),
    /// The session is over; exit with this code.
    Exit(i32),
}

/// Sent by the front end to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One line the user typed (without newline).
    Line(String),
    /// The user pressed Ctrl-C / Ctrl-D: quit now.
    Quit,
    /// Standard input ended: quit once the lines before it are handled.
    Eof,
}
