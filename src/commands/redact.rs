//! REDACT (draft/message-redaction): delete a message kept in history.
//!
//! The sender may redact their own messages (same connection or same account),
//! channel operators any message in their channel, IRC operators any message.
//! The message leaves the history, and the REDACT is relayed like the message
//! was, to recipients that negotiated the capability; the redactor always gets it.

use super::channel::member_modes;
use super::chathistory::target_for;
use super::{fail, Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::Message;
use crate::state::fanout;
use crate::state::history::Target;

/// REDACT `target msgid [:reason]`.
pub fn redact(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let (name, msgid, reason) = (msg.param(0), msg.param(1), msg.param(2));
    let Some(target) = target_for(ctx, name) else {
        return fail("REDACT", "INVALID_TARGET", &[name], "You cannot redact messages in this target");
    };
    let unknown = || fail("REDACT", "UNKNOWN_MSGID", &[name, msgid], "This message does not exist or is too old");
    let Some(entry) = ctx.server.history.find(&target, msgid) else { return unknown() };
    let channel = match &target {
        Target::Channel(_) => ctx.server.find_channel(name),
        Target::Direct(..) | Target::AllDirect(_) => None,
    };
    let own = entry.sender == ctx.client.id || {
        let mine = ctx.client.info().account.as_deref().map(|a| ctx.server.fold(a));
        mine.is_some() && mine == entry.sender_account
    };
    let chanop = channel.as_ref().and_then(|ch| member_modes(ch, &ctx.client)).is_some_and(|m| m.op);
    if !(own || chanop || ctx.client.is_oper()) {
        return fail("REDACT", "REDACT_FORBIDDEN", &[name, msgid], "You are not authorised to delete this message");
    }
    if ctx.server.history.remove(&target, msgid).is_none() {
        return unknown();
    }
    let mut params = vec![channel.as_ref().map_or(name, |c| c.name.as_str()).to_owned(), msgid.to_owned()];
    if !reason.is_empty() {
        params.push(reason.to_owned());
    }
    let line = ctx.client.line("REDACT", params).tag("msgid", ctx.server.next_msgid(), Cap::MessageTags);
    let has_cap = fanout::with_cap(Cap::MessageRedaction);
    match &channel {
        Some(ch) => fanout::to_channel(ch, &line, Some(ctx.client.id), has_cap),
        None => {
            if let Some(to) = ctx.server.find_user(name).filter(|c| c.id != ctx.client.id && has_cap(c)) {
                fanout::to_client(&to, &line);
            }
        }
    }
    ctx.reply(line);
    Ok(())
}
