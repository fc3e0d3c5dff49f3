//! MARKREAD (draft/read-marker): the last message a user has read, per target.
//!
//! Markers belong to the account when logged in (shared by all its connections,
//! saved in history.db and read back at login), else to the connection. A marker only
//! ever moves forward, and never past the present. One is only stored for a
//! target the user can see: a channel it is in, or a user who is online or with
//! whom it has history; at most `history.read_markers` per user.

use super::{fail, Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::line::Line;
use crate::proto::time::{format as format_time, parse as parse_time};
use crate::proto::Message;
use crate::state::channel::Channel;
use crate::state::client::ClientId;
use crate::state::{history, Server};

/// The `MARKREAD` line for `target` with the stored marker (or `*`).
pub fn marker_line(server_name: &str, target: &str, time_ms: Option<i64>) -> Line {
    let value = time_ms.map_or_else(|| "*".to_owned(), |t| format!("timestamp={}", format_time(t)));
    Line::new(server_name, "MARKREAD", vec![target.to_owned(), value])
}

/// Sends `line` (a moved marker) to every read-marker connection of this
/// server logged in to the account `who` (`a:ACCOUNT`) but `except`: other
/// clients, and the other sessions of one (multiclient).
pub fn tell_account(server: &Server, who: &str, line: &Line, except: Option<ClientId>) {
    for c in server.clients.iter() {
        if history::identity(server, c.value()) != who {
            continue;
        }
        for conn in crate::state::session::connections(c.value()) {
            if Some(conn.id) != except && conn.caps().has(Cap::ReadMarker) {
                crate::state::fanout::to_connection(&conn, line);
            }
        }
    }
}

/// MARKREAD `target [timestamp=...]`: get or set the read marker.
pub fn markread(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let target = msg.param(0);
    if target.is_empty() {
        return fail("MARKREAD", "NEED_MORE_PARAMS", &[], "Missing parameters");
    }
    if target.len() > 200 || target.contains(['*', '?', ',']) {
        return fail("MARKREAD", "INVALID_PARAMS", &[target], "Invalid target");
    }
    let who = history::identity(&ctx.server, &ctx.client);
    let folded = ctx.server.fold(target);
    if msg.params.len() < 2 {
        let stored = ctx.server.history.marker(&who, &folded);
        ctx.reply(marker_line(&ctx.server_name(), target, stored));
        return Ok(());
    }
    let value = msg.param(1);
    let Some(time_ms) = value.strip_prefix("timestamp=").and_then(parse_time) else {
        return fail("MARKREAD", "INVALID_PARAMS", &[value], "Invalid timestamp");
    };
    let time_ms = time_ms.min(chrono::Utc::now().timestamp_millis());
    if !can_see(ctx, target, &who) {
        return fail("MARKREAD", "INVALID_PARAMS", &[target], "You cannot set a read marker for this target");
    }
    let cfg = ctx.server.config();
    let (stored, changed) = ctx.server.history.set_marker(&cfg.history, &who, &folded, time_ms);
    let line = marker_line(&ctx.server_name(), target, Some(stored));
    if changed && who.starts_with("a:") {
        tell_account(&ctx.server, &who, &line, Some(ctx.link.id));
        crate::cluster::read_marker(&ctx.server, &who, target, stored);
    }
    ctx.reply(line);
    Ok(())
}

/// Whether `target` is something the user (`who`) can have read: a channel it
/// is in, a user who is online, or (for an account) another account, with whom
/// it may have direct-message history on disk. Anything else (a made-up name)
/// would only take memory.
fn can_see(ctx: &Ctx, target: &str, who: &str) -> bool {
    if target.starts_with('#') {
        return ctx.server.find_channel(target).is_some_and(|ch| ch.read().members.contains_key(&ctx.client.id));
    }
    ctx.server.find_user(target).is_some() || (who.starts_with("a:") && ctx.server.accounts.exists(target))
}

/// Queues the `MARKREAD` a read-marker client gets after joining `channel`.
pub fn on_join(ctx: &mut Ctx, channel: &Channel) {
    if !ctx.has_cap(Cap::ReadMarker) {
        return;
    }
    let who = history::identity(&ctx.server, &ctx.client);
    let stored = ctx.server.history.marker(&who, &ctx.server.fold(&channel.name));
    ctx.reply(marker_line(&ctx.server_name(), &channel.name, stored));
}
