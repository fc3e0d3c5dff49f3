//! The per-connection context every handler receives, and the typed errors
//! handlers return.

use crate::caps::Cap;
use crate::proto::line::{pack, room_for_text, Line};
use crate::proto::numeric::Numeric;
use crate::state::client::Client;
use crate::state::Server;
use std::sync::Arc;

/// Connection-local state that only the connection's own task touches.
#[derive(Debug, Default)]
pub struct Conn {
    /// CAP negotiation is open (registration suspended).
    pub cap_negotiating: bool,
    /// CAP version the client announced (0, 301 or 302).
    pub cap_version: u32,
    /// What USER, NICK and PASS left for registration (boxed, and dropped once
    /// registered: a registered client keeps none of it).
    pub pre: Option<Box<PreRegistration>>,
    /// Whether a nick has been claimed.
    pub has_nick: bool,
    /// An AUTHENTICATE exchange in progress (boxed: most connections never have one).
    pub sasl: Option<Box<crate::accounts::sasl::Exchange>>,
    /// Commands received before registration.
    pub prereg_commands: u32,
    /// Set when the connection must end after this command, with the reason.
    pub quit: Option<String>,
    /// Set once ACCOUNT_REQUIRED was sent, so it is not repeated.
    pub told_login_required: bool,
    /// A draft/multiline batch being received (boxed: rare, and idle clients stay small).
    pub multiline: Option<Box<super::multiline::Pending>>,
    /// Extra commands the command just handled counts as against flood control
    /// (a search over every user costs more than one line); taken by the read loop.
    pub cost: u32,
}

/// Connection state that only matters until registration completes.
#[derive(Debug, Default)]
pub struct PreRegistration {
    /// USER parameters once given: username and realname.
    pub user: Option<(String, String)>,
    /// The last nick asked for before registration, even if it was taken.
    pub wanted_nick: Option<String>,
    /// A PASS given before registration.
    pub pass: Option<String>,
    /// A reserved nick asked for before logging in: not claimed (an
    /// unregistered connection must not hold another account's nick), but
    /// taken at registration if the client has logged in to that account by
    /// then.
    pub reserved_nick: Option<String>,
    /// A nick held by a client of an account this connection logs in to
    /// (multiclient): not claimed; at registration the connection attaches
    /// to that client, or gets 433 if it cannot.
    pub attach_nick: Option<String>,
}

impl Conn {
    /// The pre-registration state, created on first use.
    pub fn pre(&mut self) -> &mut PreRegistration {
        self.pre.get_or_insert_with(Default::default)
    }

    /// Whether USER has been given.
    pub fn has_user(&self) -> bool {
        self.pre.as_ref().is_some_and(|p| p.user.is_some())
    }

    /// The nick asked for before registration, if any.
    pub fn wanted_nick(&self) -> Option<&str> {
        self.pre.as_ref().and_then(|p| p.wanted_nick.as_deref())
    }
}

/// What a handler returns when it cannot do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// A numeric reply with its parameters (the target nick is added in front).
    Numeric(Numeric, Vec<String>),
    /// An IRCv3 standard reply: `FAIL <command> <code> [context...] :<text>`.
    Fail {
        /// The command that failed.
        command: String,
        /// The machine-readable code.
        code: &'static str,
        /// Context parameters.
        context: Vec<String>,
        /// Human-readable text.
        text: String,
    },
}

/// A handler's result.
pub type HandlerResult = Result<(), CmdError>;

/// Shorthand for a numeric error.
pub fn err<T>(n: Numeric, params: &[&str]) -> Result<T, CmdError> {
    Err(CmdError::Numeric(n, params.iter().map(|s| (*s).to_owned()).collect()))
}

/// A numeric error whose text says more than the numeric's fixed one: which
/// rule was broken and what to do instead.
pub fn err_because(n: Numeric, params: &[&str], text: String) -> HandlerResult {
    let mut all: Vec<String> = params.iter().map(|s| (*s).to_owned()).collect();
    all.push(text);
    Err(CmdError::Numeric(Numeric { code: n.code, text: None }, all))
}

/// Shorthand for a FAIL reply.
pub fn fail(command: &str, code: &'static str, context: &[&str], text: &str) -> HandlerResult {
    Err(CmdError::Fail {
        command: command.to_owned(),
        code,
        context: context.iter().map(|s| (*s).to_owned()).collect(),
        text: text.to_owned(),
    })
}

/// Everything a handler works with.
pub struct Ctx {
    /// The server state.
    pub server: Arc<Server>,
    /// The client this connection acts as: its own, or (multiclient) the one
    /// it attached to, whose nick, channels and modes it shares.
    pub client: Arc<Client>,
    /// This connection: its outbox and capabilities (the same as `client`
    /// unless attached; see [`crate::state::session`]). Replies go here.
    pub link: Arc<Client>,
    /// Connection-local state.
    pub conn: Conn,
    /// Replies to this command, flushed (and labeled) after the handler returns.
    pub out: Vec<Line>,
    /// Channel messages held back until this read batch is handled (boxed:
    /// idle clients stay small).
    pub pending: Option<Box<crate::state::fanout::Pending>>,
    /// What the reply to this command waits for (boxed: rare).
    pub waits: Option<Box<Waits>>,
}

/// Work a command's reply waits for: store commits, changes on their way
/// through a cluster's log, and requests to services (`PRIVMSG ChanServ`),
/// which run after the handler, asynchronously.
#[derive(Default)]
pub struct Waits {
    /// Persistent changes being committed, with the command that made them.
    pub commits: Vec<(String, crate::store::commit::Ack)>,
    /// Messages to a service: (service nick, text).
    pub services: Vec<(String, String)>,
    /// An identity that just logged in, whose read markers are read from the store.
    pub load_markers: Option<String>,
    /// Sequenced changes on their way through a cluster's log, until this
    /// node has applied them (see [`crate::state::sequencer::in_turn`]).
    pub applying: Vec<crate::cluster::Applying>,
}

impl Ctx {
    /// A context for a new connection.
    pub fn new(server: Arc<Server>, client: Arc<Client>) -> Ctx {
        let link = client.clone();
        Ctx { server, client, link, conn: Conn::default(), out: Vec::new(), pending: None, waits: None }
    }

    /// Reads the read markers of `who` from the store into memory (once per
    /// identity and process).
    async fn load_markers(&mut self, who: String) {
        let history = &self.server.history;
        if history.has_markers(&who) {
            return;
        }
        let Some(store) = history.store() else { return };
        let w = who.clone();
        match tokio::task::spawn_blocking(move || store.markers(&w)).await {
            Ok(Ok(stored)) => history.load_markers(&self.server.config().history, &who, stored),
            Ok(Err(e)) => tracing::error!(error = %e, "reading read markers failed"),
            Err(_) => {}
        }
    }

    /// Makes this command's reply wait until `ack` (a change made by
    /// `command`) is committed; a failure is reported to the client.
    pub fn commit(&mut self, command: &str, ack: Option<crate::store::commit::Ack>) {
        if let Some(ack) = ack {
            self.waits.get_or_insert_with(Default::default).commits.push((command.to_owned(), ack));
        }
    }

    /// Runs the service requests and waits for the changes this command made:
    /// applied on this node (a cluster's log), and committed.
    pub async fn settle(&mut self) {
        let Some(mut waits) = self.waits.take() else { return };
        for (service, text) in std::mem::take(&mut waits.services) {
            crate::services::handle(self, &service, &text).await;
        }
        // A service may have queued more.
        if let Some(more) = self.waits.take() {
            waits.commits.extend(more.commits);
            waits.applying.extend(more.applying);
        }
        for applying in std::mem::take(&mut waits.applying) {
            crate::state::sequencer::applied(&self.server, applying).await;
        }
        if let Some(who) = waits.load_markers.take() {
            self.load_markers(who).await;
        }
        for (command, ack) in waits.commits {
            let failed = match ack.await {
                Ok(Ok(_)) => false,
                Ok(Err(_)) | Err(_) => true,
            };
            if failed {
                self.standard_reply(
                    "FAIL",
                    &command,
                    "TEMPORARILY_UNAVAILABLE",
                    &[],
                    "The change was made but could not be saved: it will be lost if the server restarts",
                );
            }
        }
    }

    /// The server's name (the source of numerics).
    pub fn server_name(&self) -> String {
        self.server.config().server.name.clone()
    }

    /// Queues a reply line.
    pub fn reply(&mut self, line: Line) {
        self.out.push(line);
    }

    /// Queues a numeric: `:server CODE nick params... [:text]`.
    pub fn numeric(&mut self, n: Numeric, params: &[&str]) {
        let owned: Vec<String> = params.iter().map(|s| (*s).to_owned()).collect();
        self.numeric_owned(n, owned);
    }

    /// [`Ctx::numeric`] with owned parameters.
    pub fn numeric_owned(&mut self, n: Numeric, params: Vec<String>) {
        let mut all = Vec::with_capacity(params.len() + 2);
        all.push(self.client.nick());
        all.extend(params);
        if let Some(t) = n.text {
            all.push(t.to_owned());
        }
        let line = Line::new(self.server_name(), n.code, all);
        self.out.push(line);
    }

    /// Queues numeric `n` with `params`, then `items` joined by `sep` as the last
    /// parameter, over as many lines as the 512-byte limit takes (a list
    /// numeric: MONITOR, WHOIS channels, ISON...). No items, no line.
    pub fn numeric_list<S: AsRef<str>>(&mut self, n: Numeric, params: &[&str], items: &[S], sep: &str) {
        let nick = self.client.nick();
        let room =
            room_for_text(&self.server_name(), n.code, [nick.as_str()].into_iter().chain(params.iter().copied()));
        for group in pack(items, sep, room) {
            let mut all: Vec<String> = params.iter().map(|p| (*p).to_owned()).collect();
            all.push(group);
            self.numeric_owned(n, all);
        }
    }

    /// Queues numeric `n` with `params`, then `items` as further parameters,
    /// over as many lines as the 512-byte limit takes (each line ends with the
    /// numeric's fixed text, if it has one). No items, no line.
    pub fn numeric_params<S: AsRef<str>>(&mut self, n: Numeric, params: &[&str], items: &[S]) {
        let nick = self.client.nick();
        let fixed = [nick.as_str()].into_iter().chain(params.iter().copied());
        let mut room = room_for_text(&self.server_name(), n.code, fixed);
        if let Some(text) = n.text {
            // The items are then middle parameters, and the text follows them.
            room = room.saturating_sub(1 + text.len());
        }
        for group in pack(items, " ", room) {
            let mut all: Vec<String> = params.iter().map(|p| (*p).to_owned()).collect();
            all.extend(group.split(' ').map(str::to_owned));
            self.numeric_owned(n, all);
        }
    }

    /// Queues a standard reply (`FAIL`, `WARN` or `NOTE`).
    pub fn standard_reply(&mut self, kind: &'static str, command: &str, code: &str, context: &[String], text: &str) {
        let mut params = vec![command.to_owned(), code.to_owned()];
        params.extend(context.iter().cloned());
        params.push(text.to_owned());
        let line = Line::new(self.server_name(), kind, params);
        self.out.push(line);
    }

    /// Turns a handler error into its reply.
    pub fn report(&mut self, e: CmdError) {
        match e {
            CmdError::Numeric(n, params) => self.numeric_owned(n, params),
            CmdError::Fail { command, code, context, text } => {
                self.standard_reply("FAIL", &command, code, &context, &text)
            }
        }
    }

    /// Where this client's login and OPER attempts come from, for the
    /// throttles and the hashing limit.
    pub fn origin(&self) -> crate::accounts::Origin {
        let ip = self.client.ip;
        crate::accounts::Origin { key: self.server.ip_key(ip), exempt: self.server.config().is_exempt(ip) }
    }

    /// Whether this connection negotiated `cap`.
    pub fn has_cap(&self, cap: Cap) -> bool {
        self.link.caps().has(cap)
    }

    /// This connection, as the `except` of a fan-out: the client's other
    /// connections (multiclient) see what this one did.
    pub fn me(&self) -> Option<crate::state::client::ClientId> {
        Some(self.link.id)
    }

    /// Runs `f` as if on connection `other` of the same client (multiclient)
    /// and sends it what `f` queued: a burst the other sessions need too.
    pub fn on_connection(&mut self, other: Arc<Client>, f: impl FnOnce(&mut Ctx)) {
        let link = std::mem::replace(&mut self.link, other);
        let out = std::mem::take(&mut self.out);
        f(self);
        super::response::flush(self, None);
        self.out = out;
        self.link = link;
    }

    /// Ends the connection after this command.
    pub fn quit(&mut self, reason: &str) {
        self.conn.quit = Some(reason.to_owned());
    }
}
