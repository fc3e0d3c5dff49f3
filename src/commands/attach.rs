//! Multiclient attach: a connection that logs in to an account and asks for
//! the nick a client of that account holds becomes another session of that
//! client (see [`crate::state::session`]) instead of getting 433.

use super::Ctx;
use crate::state::client::Client;
use crate::state::session;
use std::sync::Arc;

/// Whether a NICK for `nick`, held by someone else, should wait for the end of
/// registration rather than get 433: the holder is logged in, and this
/// connection is logged in to the same account or may still log in with PASS.
pub fn may_attach_later(ctx: &mut Ctx, nick: &str) -> bool {
    if !ctx.server.config().accounts.multiclient {
        return false;
    }
    let Some(holder) = ctx.server.find_user(nick) else { return false };
    let Some(theirs) = holder.info().account.clone() else { return false };
    match ctx.client.info().account.as_deref() {
        Some(mine) => ctx.server.casemap.eq(mine, &theirs),
        None => ctx.conn.pre.as_ref().is_some_and(|p| p.pass.is_some()),
    }
}

/// The client holding `nick` that this (logged-in, registering) connection
/// may attach to: one logged in to the same account, with multiclient on
/// (server-wide, and for the account: `NS SET MULTICLIENT`).
pub fn target(ctx: &Ctx, nick: &str) -> Option<Arc<Client>> {
    if !ctx.server.config().accounts.multiclient {
        return None;
    }
    let mine = ctx.client.info().account.clone()?;
    let holder = ctx.server.find_user(nick).filter(|h| h.id != ctx.client.id)?;
    let theirs = holder.info().account.clone()?;
    if !ctx.server.casemap.eq(&mine, &theirs) || !ctx.server.accounts.multiclient(&mine) {
        return None;
    }
    Some(holder)
}

/// Attaches this connection to `target`: from now on it acts as that client
/// and gets what is sent to it. Sends the welcome burst with the client's nick
/// and a JOIN, topic and names for each of its channels. False (nothing done)
/// if the client is leaving.
pub fn attach(ctx: &mut Ctx, target: Arc<Client>) -> bool {
    let me = ctx.link.clone();
    if !Arc::ptr_eq(&me, &ctx.client) || !session::attach(&target, me.clone()) {
        return false;
    }
    ctx.server.release_nick(&me);
    ctx.server.clients.remove(&me.id);
    {
        let theirs = target.info();
        let mut info = me.info_mut();
        info.nick = theirs.nick.clone();
        info.user = theirs.user.clone();
        info.host = theirs.host.clone();
        info.realname = theirs.realname.clone();
    }
    me.set_registered();
    ctx.conn.pre = None;
    ctx.client = target;
    tracing::info!(client = ctx.client.id, connection = me.id, mask = %ctx.client.mask(), "session attached");
    super::registration::welcome(ctx);
    super::channel::attach_burst(ctx);
    true
}
