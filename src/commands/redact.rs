//! REDACT (draft/message-redaction): delete a message kept in history.
//!
//! The sender may redact their own messages (same connection or same account),
//! channel operators any message in their channel, IRC operators any message.
//! The message leaves the history, and the REDACT is relayed like the message
//! was (to the other nodes too), to recipients that negotiated the capability;
//! the redactor always gets it.

use super::channel::member_modes;
use super::chathistory::{is_ephemeral, read, target_for, Recipient};
use super::{fail, BoxFuture, Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::OwnedMessage;
use crate::state::fanout;
use crate::store::history::{Op, Scope};

/// REDACT `target msgid [:reason]`.
pub fn redact(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let [name, msgid, rest @ ..] = &msg.params[..] else { return Ok(()) };
        run(ctx, name, msgid, rest.first().map_or("", String::as_str)).await
    })
}

async fn run(ctx: &mut Ctx, name: &str, msgid: &str, reason: &str) -> HandlerResult {
    let Some(scope) = target_for(ctx, name) else {
        return fail("REDACT", "INVALID_TARGET", &[name], "You cannot redact messages in this target");
    };
    let unknown = || fail("REDACT", "UNKNOWN_MSGID", &[name, msgid], "This message does not exist or is too old");
    let in_memory = matches!(&scope, Scope::Target(t) if is_ephemeral(t));
    let found = if in_memory {
        Some(ctx.server.history.ephemeral.find(&scope, msgid))
    } else {
        let (s, id) = (scope.clone(), msgid.to_owned());
        read(ctx, move |st| st.find_message(&s, &id)).await
    };
    let Some(found) = found else {
        return fail("REDACT", "TEMPORARILY_UNAVAILABLE", &[name], "History could not be read; try again later");
    };
    let Some(entry) = found else { return unknown() };
    let channel = if name.starts_with('#') { ctx.server.find_channel(name) } else { None };
    // The same connection (ids are per run: the msgid says which run sent it), or the same account.
    let own = (entry.sender_conn == ctx.client.id && ctx.server.made_here(&entry.msgid)) || {
        let mine = ctx.client.info().account.as_deref().map(|a| ctx.server.fold(a));
        mine.is_some() && mine == entry.sender_account
    };
    let chanop = channel.as_ref().and_then(|ch| member_modes(ch, &ctx.client)).is_some_and(|m| m.op);
    if !(own || chanop || ctx.client.is_oper()) {
        return fail("REDACT", "REDACT_FORBIDDEN", &[name, msgid], "You are not authorised to delete this message");
    }
    let Scope::Target(key) = &scope else { return unknown() };
    if in_memory {
        ctx.server.history.ephemeral.redact(key, msgid);
    } else if let Some(w) = ctx.server.history.writer() {
        w.control(Op::Redact(key.clone(), msgid.to_owned()));
    }
    let mut params = vec![channel.as_ref().map_or(name, |c| c.name.as_str()).to_owned(), msgid.to_owned()];
    if !reason.is_empty() {
        params.push(reason.to_owned());
    }
    let line = ctx.client.line("REDACT", params).tag("msgid", ctx.server.next_msgid(), Cap::MessageTags);
    let has_cap = fanout::with_cap(Cap::MessageRedaction);
    match &channel {
        Some(ch) => {
            fanout::to_channel(ch, &line, ctx.me(), has_cap);
            crate::cluster::redacted(&ctx.server, &ctx.client, Recipient::Channel(ch), &line);
        }
        None => {
            if let Some(to) = ctx.server.find_user(name).filter(|c| c.id != ctx.client.id) {
                crate::cluster::redacted(&ctx.server, &ctx.client, Recipient::User(&to), &line);
                fanout::to_clients(&[to], &line, &has_cap);
            }
            let mut v = crate::proto::line::variants(&line);
            ctx.client.deliver(&mut v, ctx.me(), &has_cap);
        }
    }
    ctx.reply(line);
    Ok(())
}
