//! The command table and the dispatcher.
//!
//! Preconditions (registered or not, minimum parameters, oper privilege) are
//! declared in [`COMMANDS`] and checked here once; handlers only do their work
//! and return typed errors, which [`Ctx::report`] turns into numerics or FAIL.

pub mod account;
pub mod attach;
pub mod cap;
pub mod certfp;
pub mod channel;
pub mod chathistory;
pub mod ctx;
pub mod help;
pub mod info;
pub mod listing;
pub mod markread;
pub mod message;
pub mod metadata;
pub mod mode;
pub mod monitor;
pub mod multiline;
pub mod oper;
pub mod query;
pub mod redact;
pub mod registration;
pub mod response;
pub mod sequenced;
pub mod who;

pub use ctx::{err, err_because, fail, CmdError, Conn, Ctx, HandlerResult};

use crate::proto::numeric::*;
use crate::proto::{Frame, Message, OwnedMessage};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;

/// When a command may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before and after registration.
    Any,
    /// Only after registration (`451` before).
    Registered,
}

/// A boxed future returned by asynchronous handlers.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'a>>;

/// How a command is run.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs to completion without waiting.
    Sync(fn(&mut Ctx, &Message<'_>) -> HandlerResult),
    /// Waits on blocking work (password hashing, the database).
    Async(for<'a> fn(&'a mut Ctx, OwnedMessage) -> BoxFuture<'a>),
    /// The first on a single node; the second, which waits for Redis, on a
    /// node of a cluster (see [`crate::cluster`]).
    Clustered(fn(&mut Ctx, &Message<'_>) -> HandlerResult, for<'a> fn(&'a mut Ctx, OwnedMessage) -> BoxFuture<'a>),
}

/// One row of the command table.
pub struct Command {
    /// Upper-case name.
    pub name: &'static str,
    /// Parameters required (`461` below).
    pub min_params: usize,
    /// When it may be used.
    pub when: When,
    /// Requires IRC operator status (`481`).
    pub oper: bool,
    /// The handler.
    pub handler: Handler,
}

const fn cmd(name: &'static str, min_params: usize, when: When, handler: Handler) -> Command {
    Command { name, min_params, when, oper: false, handler }
}

const fn oper_cmd(name: &'static str, min_params: usize, handler: Handler) -> Command {
    Command { name, min_params, when: When::Registered, oper: true, handler }
}

use Handler::{Async, Clustered, Sync};
use When::{Any, Registered};

/// Every command the server understands.
pub static COMMANDS: &[Command] = &[
    cmd("ADMIN", 0, Registered, Sync(info::admin)),
    cmd("AUTHENTICATE", 1, Any, Async(account::authenticate)),
    cmd("AWAY", 0, Registered, Clustered(message::away, message::away_clustered)),
    cmd("CAP", 1, Any, Sync(cap::cap)),
    cmd("CERTFP", 0, Registered, Async(certfp::certfp)),
    cmd("CS", 1, Registered, Sync(crate::services::cs)),
    cmd("CHANSERV", 1, Registered, Sync(crate::services::cs)),
    cmd("CHATHISTORY", 1, Registered, Async(chathistory::chathistory)),
    oper_cmd("DIE", 0, Sync(oper::die)),
    cmd("HELP", 0, Registered, Sync(help::help)),
    cmd("HELPOP", 0, Registered, Sync(help::help)),
    cmd("INFO", 0, Registered, Sync(info::info)),
    cmd("INVITE", 0, Registered, Clustered(channel::invite, channel::invite_clustered)),
    cmd("ISON", 1, Registered, Sync(query::ison)),
    cmd("JOIN", 1, Registered, Clustered(channel::join, channel::join_clustered)),
    cmd("KICK", 2, Registered, Clustered(channel::kick, channel::kick_clustered)),
    oper_cmd("KILL", 1, Sync(oper::kill)),
    cmd("LINKS", 0, Registered, Sync(info::links)),
    cmd("LIST", 0, Registered, Sync(channel::list)),
    cmd("LUSERS", 0, Registered, Sync(info::lusers)),
    cmd("MARKREAD", 0, Registered, Sync(markread::markread)),
    cmd("METADATA", 0, Any, Sync(metadata::metadata)),
    cmd("MODE", 1, Registered, Clustered(mode::mode, mode::mode_clustered)),
    cmd("MONITOR", 1, Registered, Sync(monitor::monitor)),
    cmd("MOTD", 0, Registered, Sync(info::motd)),
    cmd("NAMES", 0, Registered, Sync(channel::names)),
    cmd("NICK", 0, Any, Clustered(registration::nick, registration::nick_clustered)),
    cmd("NICKSERV", 0, Registered, Sync(crate::services::ns)),
    cmd("NOTICE", 0, Registered, Sync(message::notice)),
    cmd("NS", 0, Registered, Sync(crate::services::ns)),
    cmd("OPER", 2, Registered, Async(oper::oper)),
    cmd("PART", 1, Registered, Clustered(channel::part, channel::part_clustered)),
    cmd("RENAME", 2, Registered, Clustered(channel::rename, channel::rename_clustered)),
    cmd("PASS", 1, Any, Sync(registration::pass)),
    cmd("PING", 0, Any, Sync(registration::ping)),
    cmd("PONG", 0, Any, Sync(registration::pong)),
    cmd("PRIVMSG", 0, Registered, Sync(message::privmsg)),
    cmd("QUIT", 0, Any, Sync(registration::quit)),
    oper_cmd("REHASH", 0, Sync(oper::rehash)),
    cmd("REDACT", 2, Registered, Async(redact::redact)),
    cmd("REGAIN", 1, Registered, Clustered(registration::regain, registration::regain_clustered)),
    cmd("REGISTER", 3, Any, Async(account::register)),
    oper_cmd("RESTART", 0, Sync(oper::restart)),
    cmd("SETNAME", 1, Registered, Clustered(registration::setname, registration::setname_clustered)),
    cmd("STATS", 0, Registered, Sync(info::stats)),
    cmd("TAGMSG", 1, Registered, Sync(message::tagmsg)),
    cmd("TIME", 0, Registered, Sync(info::time)),
    cmd("TOPIC", 1, Registered, Clustered(channel::topic, channel::topic_clustered)),
    cmd("USER", 4, Any, Sync(registration::user)),
    cmd("USERHOST", 1, Registered, Sync(query::userhost)),
    cmd("VERIFY", 2, Any, Sync(account::verify)),
    cmd("VERSION", 0, Registered, Sync(info::version)),
    oper_cmd("WALLOPS", 1, Sync(oper::wallops)),
    cmd("WHO", 0, Registered, Sync(who::who)),
    cmd("WHOIS", 1, Registered, Clustered(query::whois, query::whois_clustered)),
    cmd("WHOWAS", 0, Registered, Sync(query::whowas)),
];

/// Looks a command up by name, ASCII case-insensitively.
pub fn lookup(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Handles one framed line from the client, then flushes the replies.
pub async fn handle_frame(ctx: &mut Ctx, frame: Frame) {
    ctx.link.last_active.store(crate::state::clock::mono_secs(), Ordering::Relaxed);
    ctx.link.ping_pending.store(false, Ordering::Relaxed);
    match frame {
        Frame::Line(line) => handle_line(ctx, &line).await,
        Frame::TooLong => {
            ctx.numeric(ERR_INPUTTOOLONG, &[]);
            response::flush(ctx, None);
        }
        Frame::Nul => {
            ctx.standard_reply("FAIL", "*", "INVALID_LINE", &[], "Line contains a NUL or CR byte; it was ignored");
            response::flush(ctx, None);
        }
        Frame::InvalidUtf8(lossy) => {
            let (command, label) = match Message::parse(&lossy) {
                Ok(m) => (m.command.to_ascii_uppercase(), m.tag("label").map(|l| l.into_owned())),
                Err(_) => ("*".to_owned(), None),
            };
            ctx.standard_reply("FAIL", &command, "INVALID_UTF8", &[], "Message rejected: it is not valid UTF-8");
            response::flush(ctx, label.as_deref());
        }
    }
}

async fn handle_line(ctx: &mut Ctx, line: &str) {
    let Ok(msg) = Message::parse(line) else { return };
    if !message::is_relay(msg.command) || msg.tag("batch").is_some() {
        // Anything but a plain message delivers the held ones first, so that
        // nothing the client does overtakes them.
        message::flush_held(ctx);
    }
    // Client batches (draft/multiline) frame other commands, so they are taken
    // before the table; the batch decides which label its reply carries.
    if let Some(label) = multiline::intercept(ctx, &msg) {
        response::flush(ctx, label.as_deref());
        return;
    }
    let label = msg.tag("label").map(|l| l.into_owned());
    let registered = ctx.client.is_registered();
    if !registered {
        ctx.conn.prereg_commands += 1;
        if ctx.conn.prereg_commands > ctx.server.config().limits.max_prereg_commands {
            ctx.quit("Too many commands before registration");
            return;
        }
    }
    let result = match lookup(msg.command) {
        None if registered => err(ERR_UNKNOWNCOMMAND, &[msg.command]),
        None => err(ERR_NOTREGISTERED, &[]),
        Some(c) if c.when == When::Registered && !registered => err(ERR_NOTREGISTERED, &[]),
        Some(c) if msg.params.len() < c.min_params => err(ERR_NEEDMOREPARAMS, &[c.name]),
        Some(c) if c.oper && !ctx.client.is_oper() => err(ERR_NOPRIVILEGES, &[]),
        Some(c) => match c.handler {
            Handler::Sync(f) => f(ctx, &msg),
            Handler::Async(f) => f(ctx, msg.to_owned_message()).await,
            Handler::Clustered(_, f) if ctx.server.cluster().is_some() => f(ctx, msg.to_owned_message()).await,
            Handler::Clustered(f, _) => f(ctx, &msg),
        },
    };
    if let Err(e) = result {
        ctx.report(e);
    }
    ctx.settle().await;
    if !ctx.client.is_registered() && ctx.conn.quit.is_none() {
        registration::maybe_complete(ctx).await;
        ctx.settle().await;
    }
    response::flush(ctx, label.as_deref());
}
