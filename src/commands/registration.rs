//! Connection registration: NICK, USER, PASS, PING/PONG, QUIT, SETNAME and the
//! welcome burst.

use super::{err, err_because, fail, info, BoxFuture, CmdError, Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::line::Line;
use crate::proto::numeric::*;
use crate::proto::{Message, OwnedMessage};
use crate::state::client::Client;
use crate::state::{fanout, sequencer, NickError};
use std::sync::atomic::Ordering;

/// The version string in 002, 004 and VERSION.
pub const VERSION: &str = concat!("banter-", env!("CARGO_PKG_VERSION"));

pub use crate::proto::names::valid_nick;

/// NICK: claim a nick before registration, or change it after.
pub fn nick(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let new = msg.param(0);
    let Some(registered) = prepare_nick(ctx, new)? else { return Ok(()) };
    let claimed = sequencer::rename_now(&ctx.server, &ctx.client, new, Some(ctx.link.id));
    finish_nick(ctx, new, registered, claimed)
}

/// NICK on a node of a cluster: the claim is decided in Redis first, and a
/// registered user's change made in the log's order (see
/// [`crate::cluster::claim_nick`]), so the handler waits for it.
pub fn nick_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let new = msg.params.first().cloned().unwrap_or_default();
        let Some(registered) = prepare_nick(ctx, &new)? else { return Ok(()) };
        let claimed = crate::cluster::claim_nick(&ctx.server, &ctx.client, &new, Some(ctx.link.id)).await;
        finish_nick(ctx, &new, registered, claimed)
    })
}

/// The checks before a nick is claimed: whether the client is registered,
/// or `None` when there is nothing to claim.
fn prepare_nick(ctx: &mut Ctx, new: &str) -> Result<Option<bool>, CmdError> {
    if new.is_empty() {
        return err(ERR_NONICKNAMEGIVEN, &[]).map(|()| None);
    }
    let cfg = ctx.server.config();
    if let Some(why) = crate::proto::names::nick_problem(new, cfg.limits.nick_len) {
        return err_because(ERR_ERRONEUSNICKNAME, &[new], format!("Erroneous nickname: {why}")).map(|()| None);
    }
    if ctx.client.nick() == new {
        return Ok(None);
    }
    let registered = ctx.client.is_registered();
    if !registered {
        ctx.conn.pre().wanted_nick = Some(new.to_owned());
        ctx.conn.pre().reserved_nick = None;
        ctx.conn.pre().attach_nick = None;
        if ctx.server.accounts.nick_reserved_against(&ctx.server, new, &ctx.client) {
            // Remembered, not claimed: see `PreRegistration::reserved_nick`.
            ctx.conn.pre().reserved_nick = Some(new.to_owned());
            ctx.conn.has_nick = true;
            let text = format!("{new} belongs to a registered account: log in (SASL or PASS) to use it");
            ctx.standard_reply("WARN", "NICK", "NICKNAME_RESERVED", &[new.to_owned()], &text);
            return Ok(None);
        }
    }
    if registered && ctx.server.accounts.nick_reserved_against(&ctx.server, new, &ctx.client) {
        let context = [new.to_owned()];
        let text = "Nickname is reserved by a registered account";
        ctx.standard_reply("FAIL", "NICK", "NICKNAME_RESERVED", &context, text);
        return err(ERR_NICKNAMEINUSE, &[new]).map(|()| None);
    }
    if registered {
        if let Some(channel) = banned_in(ctx) {
            let text = "Cannot change nickname while banned on channel".to_owned();
            return err_because(ERR_BANNICKCHANGE, &[new, &channel], text).map(|()| None);
        }
    }
    Ok(Some(registered))
}

/// The nick change once the claim is decided: a registered client's change
/// is made (its co-members and other connections saw `claimed`'s line), and
/// the line is its reply.
fn finish_nick(ctx: &mut Ctx, new: &str, registered: bool, claimed: Result<Option<Line>, NickError>) -> HandlerResult {
    let shown = match claimed {
        Ok(shown) => shown,
        Err(NickError::Unavailable) => {
            let text = "The network cannot be reached to claim the nick: try again shortly";
            return fail("NICK", "TEMPORARILY_UNAVAILABLE", &[new], text);
        }
        Err(NickError::InUse) => {
            if !registered && super::attach::may_attach_later(ctx, new) {
                ctx.conn.pre().attach_nick = Some(new.to_owned());
                ctx.conn.has_nick = true;
                return Ok(());
            }
            return err(ERR_NICKNAMEINUSE, &[new]);
        }
    };
    ctx.conn.has_nick = true;
    if let Some(line) = shown {
        ctx.reply(line);
    }
    Ok(())
}

/// The first channel where this client is banned or muted and neither voiced
/// nor an operator: a new nick would no longer match a `nick!*@*` ban, so
/// changing it would be a way out of the ban (InspIRCd and Solanum refuse it).
fn banned_in(ctx: &Ctx) -> Option<String> {
    let channels = ctx.client.info().channels.clone();
    channels.into_iter().find_map(|ch| {
        if super::channel::member_modes(&ch, &ctx.client).is_some_and(|m| m.op || m.voice) {
            return None;
        }
        let st = ch.read();
        let stuck = super::channel::is_banned(&ctx.server, &st, &ctx.client)
            || super::channel::is_muted(&ctx.server, &st, &ctx.client);
        stuck.then(|| ch.name.clone())
    })
}

/// REGAIN `<nick>`: the owner of an account takes its nick back from whoever
/// uses it (an unregistered squatter, or anyone who took it while it was not
/// reserved). The holder is renamed to `Guest<N>` and told why; then the
/// caller changes nick as with NICK.
pub fn regain(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let wanted = msg.param(0);
    let account = may_regain(ctx, wanted)?;
    if let Some(holder) = ctx.server.find_nick(wanted).filter(|h| h.id != ctx.client.id) {
        let (old, guest) = (holder.nick(), format!("Guest{}", holder.id));
        if sequencer::rename_now(&ctx.server, &holder, &guest, None).is_ok() {
            made_guest(&ctx.server, &holder, &old, &account);
        }
    }
    nick(ctx, msg)
}

/// REGAIN on a node of a cluster. A holder on this node becomes a guest
/// through the network's nick claims (so every node sees its NICK); one on
/// another node is renamed by its own node, told by a Regain event. Then
/// the nick is claimed as NICK does, tried again (up to `cluster.grace_ms`)
/// while the holder's node has not let it go yet.
pub fn regain_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let wanted = msg.params.first().cloned().unwrap_or_default();
        let account = may_regain(ctx, &wanted)?;
        if let Some(holder) = ctx.server.find_nick(&wanted).filter(|h| h.id != ctx.client.id) {
            let server = ctx.server.clone();
            if !crate::cluster::regain_remote(&server, &holder, &wanted, &account) {
                to_guest(&server, &holder, &account).await;
            }
        }
        let grace = std::time::Duration::from_millis(ctx.server.config().cluster.grace_ms);
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let Some(registered) = prepare_nick(ctx, &wanted)? else { return Ok(()) };
            let claimed = crate::cluster::claim_nick(&ctx.server, &ctx.client, &wanted, Some(ctx.link.id)).await;
            if matches!(claimed, Err(NickError::InUse)) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
            return finish_nick(ctx, &wanted, registered, claimed);
        }
    })
}

/// The account the client may regain `wanted` for, or the refusal.
fn may_regain(ctx: &Ctx, wanted: &str) -> Result<String, CmdError> {
    let Some(account) = ctx.client.info().account.clone() else {
        return fail("REGAIN", "ACCOUNT_REQUIRED", &[wanted], "Log in to the account that owns the nick first")
            .map(|()| String::new());
    };
    if !ctx.server.casemap.eq(wanted, &account) || !ctx.server.config().accounts.nick_protection {
        let text = "You can only regain the nick of the account you are logged in to";
        return fail("REGAIN", "NOT_YOURS", &[wanted], text).map(|()| String::new());
    }
    Ok(account)
}

/// Renames `holder`, a user of this node of a cluster, to a guest nick
/// claimed in the network (its NICK reaches every node), because `account`
/// took its nick back; tells it and its co-members. A guest nick another
/// node's user holds is tried again with a random suffix.
pub async fn to_guest(server: &std::sync::Arc<crate::state::Server>, holder: &std::sync::Arc<Client>, account: &str) {
    let old = holder.nick();
    for attempt in 0..3 {
        let guest = match attempt {
            0 => format!("Guest{}", holder.id),
            _ => format!("Guest{}-{:04x}", holder.id, rand::random::<u16>()),
        };
        match crate::cluster::claim_nick(server, holder, &guest, None).await {
            Ok(_) => return made_guest(server, holder, &old, account),
            Err(NickError::InUse) => continue,
            Err(NickError::Unavailable) => return,
        }
    }
}

/// `holder` is now a guest (from `old`: its co-members, connections and
/// MONITOR watchers saw the NICK where it was applied) because `account`
/// regained its nick: it gets a NOTE saying why.
fn made_guest(server: &crate::state::Server, holder: &Client, old: &str, account: &str) {
    let guest = holder.nick();
    let text = format!("{account} took back the nick {old}; you are now {guest}");
    let server_name = server.config().server.name.clone();
    let note = Line::new(server_name, "NOTE", vec!["NICK".into(), "REGAINED".into(), old.to_owned(), text]);
    fanout::to_client(holder, &note);
    tracing::info!(by = account, nick = %old, holder = holder.id, "REGAIN");
}

/// USER: username and realname, once, before registration.
pub fn user(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    if ctx.client.is_registered() || ctx.conn.has_user() {
        return err(ERR_ALREADYREGISTERED, &[]);
    }
    let (username, realname) = (msg.param(0), msg.param(3));
    if username.is_empty() || realname.is_empty() {
        return err(ERR_NEEDMOREPARAMS, &["USER"]);
    }
    let clean: String = username.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).take(10).collect();
    let clean = if clean.is_empty() { "user".to_owned() } else { clean };
    // The same limit as SETNAME; cut rather than refused, as a client cannot
    // register without USER and most never retry it.
    let max = ctx.server.config().limits.realname_len;
    let realname = &realname[..realname.floor_char_boundary(max)];
    ctx.conn.pre().user = Some((format!("~{clean}"), realname.to_owned()));
    Ok(())
}

/// PASS: remembered for login at registration (`account:password`, or the
/// password of the account named like the nick).
pub fn pass(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    if ctx.client.is_registered() {
        return err(ERR_ALREADYREGISTERED, &[]);
    }
    ctx.conn.pre().pass = Some(msg.param(0).to_owned());
    Ok(())
}

/// PING: answered at any time.
pub fn ping(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    if msg.params.is_empty() {
        return err(ERR_NOORIGIN, &[]);
    }
    let name = ctx.server_name();
    ctx.reply(Line::new(name.clone(), "PONG", vec![name, msg.param(0).to_owned()]));
    Ok(())
}

/// PONG: only refreshes the activity time (done for every line).
pub fn pong(_ctx: &mut Ctx, _msg: &Message<'_>) -> HandlerResult {
    Ok(())
}

/// QUIT: the connection task sends `ERROR` and closes after this command.
pub fn quit(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let reason = match msg.params.first() {
        Some(r) if !r.is_empty() => format!("Quit: {r}"),
        _ => "Client Quit".to_owned(),
    };
    ctx.quit(&reason);
    Ok(())
}

/// SETNAME: change the realname (IRCv3 setname).
pub fn setname(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let change = setname_change(ctx, msg.param(0))?;
    super::sequenced::sequence_now(ctx, change).map(drop)
}

/// SETNAME on a node of a cluster: the change waits for its turn in the
/// log (see [`sequencer`]), so every node shows it in one order with the
/// other changes.
pub fn setname_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let change = setname_change(ctx, msg.params.first().map_or("", String::as_str))?;
        super::sequenced::sequence_in_order(ctx, change).await.map(drop)
    })
}

/// The realname change to `name`, if valid; the maker's reply is its
/// SETNAME line if it asked for setname.
fn setname_change(ctx: &Ctx, name: &str) -> Result<super::sequenced::Change, CmdError> {
    if name.is_empty() || name.len() > ctx.server.config().limits.realname_len {
        return Err(fail("SETNAME", "INVALID_REALNAME", &[], "Realname is not valid").unwrap_err());
    }
    let line = ctx.client.line("SETNAME", vec![name.to_owned()]);
    let (node, uid) = sequencer::address(&ctx.server, &ctx.client);
    let id = sequencer::token(&ctx.server);
    let event = crate::cluster::Event::Realname { node, uid, line: crate::cluster::WireLine::of(&line), id };
    let reply = ctx.has_cap(Cap::Setname);
    Ok(super::sequenced::Change { target: ctx.client.nick(), gone: None, command: "SETNAME", reply, event })
}

/// Completes registration once NICK and USER are in, CAP negotiation is closed
/// and any login requirement is met; sends the welcome burst.
pub async fn maybe_complete(ctx: &mut Ctx) {
    if !ctx.conn.has_nick || !ctx.conn.has_user() || ctx.conn.cap_negotiating {
        return;
    }
    let server_password = ctx.server.config().server.password.clone();
    if let Some(expected) = server_password {
        // With a connection password, PASS carries it and nothing else: accounts
        // log in with SASL.
        let given = ctx.conn.pre.as_mut().and_then(|p| p.pass.take());
        let origin = ctx.origin();
        let ok = match given {
            Some(given) => match ctx.server.accounts.check_server_password(expected, given, origin).await {
                Ok(ok) => ok,
                Err(e) => {
                    ctx.standard_reply("FAIL", "PASS", "TEMPORARILY_UNAVAILABLE", &[], &e.text());
                    false
                }
            },
            None => false,
        };
        if !ok {
            ctx.numeric(ERR_PASSWDMISMATCH, &[]);
            ctx.quit("Bad password");
            return;
        }
    }
    let cfg = ctx.server.config();
    if let Some(pass) = ctx.conn.pre.as_mut().and_then(|p| p.pass.take()) {
        if let Err(why) = super::account::login_with_pass(ctx, &pass).await {
            if cfg.accounts.require_login {
                ctx.numeric(ERR_PASSWDMISMATCH, &[]);
                ctx.quit("Bad password");
                return;
            }
            // Many clients send PASS out of habit (from servers with connection
            // passwords): a PASS that is not a login is said, not fatal.
            let text = format!(
                "PASS did not log you in ({why}; the form is PASS account:password): you are connected \
                 without an account. Log in with SASL, or create one with REGISTER <name> * <password>"
            );
            let line = Line::new(ctx.server_name(), "NOTICE", vec![ctx.client.nick(), text]);
            ctx.reply(line);
        }
    }
    let account = ctx.client.info().account.clone();
    if cfg.accounts.require_login && account.is_none() {
        if !ctx.conn.told_login_required {
            ctx.conn.told_login_required = true;
            ctx.standard_reply(
                "FAIL",
                "*",
                "ACCOUNT_REQUIRED",
                &[],
                "You must log in (SASL or PASS account:password) or create an account with REGISTER <name> * <password> before connecting",
            );
        }
        return;
    }
    // Multiclient: a nick held by a client of the account just logged in to.
    let attach_nick = ctx.conn.pre.as_ref().and_then(|p| p.attach_nick.clone());
    let candidate = attach_nick.clone().or_else(|| ctx.conn.pre.as_ref().and_then(|p| p.reserved_nick.clone()));
    if let Some(target) = candidate.and_then(|nick| super::attach::target(ctx, &nick)) {
        if super::attach::attach(ctx, target) {
            return;
        }
    }
    let mut nick = ctx.client.nick();
    if let Some(wanted) = attach_nick {
        // Held by a client this connection could not attach to.
        if crate::cluster::claim_nick(&ctx.server, &ctx.client, &wanted, None).await.is_err() {
            ctx.conn.has_nick = false;
            ctx.conn.pre().attach_nick = None;
            ctx.numeric(ERR_NICKNAMEINUSE, &[&wanted]);
            return;
        }
        nick = wanted;
    }
    if let Some(wanted) = ctx.conn.pre.as_mut().and_then(|p| p.reserved_nick.take()) {
        // A reserved nick asked for before logging in: taken now if the client
        // has logged in to its account since, otherwise a guest nick below.
        if !ctx.server.accounts.nick_reserved_against(&ctx.server, &wanted, &ctx.client)
            && crate::cluster::claim_nick(&ctx.server, &ctx.client, &wanted, None).await.is_err()
        {
            // In use (by the owner's other session): the client picks another.
            ctx.conn.has_nick = false;
            ctx.numeric(ERR_NICKNAMEINUSE, &[&wanted]);
            return;
        }
        nick = wanted;
    }
    if ctx.server.accounts.nick_reserved_against(&ctx.server, &nick, &ctx.client) {
        let guest = format!("Guest{}", ctx.client.id);
        if crate::cluster::claim_nick(&ctx.server, &ctx.client, &guest, None).await.is_err() {
            ctx.quit("Nickname is reserved");
            return;
        }
        let text = format!("{nick} is reserved by a registered account; you are now {guest}");
        ctx.standard_reply("WARN", "NICK", "NICKNAME_RESERVED", std::slice::from_ref(&nick), &text);
    }
    let (user, realname) = ctx.conn.pre.take().and_then(|p| p.user).unwrap_or_default();
    {
        let mut info = ctx.client.info_mut();
        info.user = user;
        info.realname = realname;
    }
    ctx.client.set_registered();
    let n = ctx.server.registered_count.fetch_add(1, Ordering::Relaxed) + 1;
    ctx.server.max_registered.fetch_max(n, Ordering::Relaxed);
    ctx.server.max_local.fetch_max(ctx.server.local_count(), Ordering::Relaxed);
    tracing::info!(client = ctx.client.id, mask = %ctx.client.mask(), "registered");
    crate::cluster::registered(&ctx.server, &ctx.client);
    welcome(ctx);
    crate::state::monitor::notify_online(&ctx.server, &ctx.client);
}

/// The welcome burst: 001-005, LUSERS, MOTD.
pub fn welcome(ctx: &mut Ctx) {
    let cfg = ctx.server.config();
    let mask = ctx.client.mask();
    ctx.numeric_owned(RPL_WELCOME, vec![format!("Welcome to the {} IRC Network {mask}", cfg.server.network)]);
    ctx.numeric_owned(RPL_YOURHOST, vec![format!("Your host is {}, running version {VERSION}", cfg.server.name)]);
    ctx.numeric_owned(RPL_CREATED, vec![format!("This server was created {}", ctx.server.created_text)]);
    ctx.numeric(
        RPL_MYINFO,
        &[&cfg.server.name, VERSION, crate::isupport::USER_MODES, crate::isupport::CHANNEL_MODES, "Ikbelov"],
    );
    for tokens in crate::isupport::lines(&cfg) {
        ctx.numeric_params(RPL_ISUPPORT, &[], &tokens);
    }
    info::send_lusers(ctx);
    super::metadata::registration_burst(ctx);
    info::send_motd(ctx);
}
