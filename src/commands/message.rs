//! Messages: PRIVMSG, NOTICE, TAGMSG, and AWAY.

use super::channel::{is_banned, is_muted, member_modes};
use super::sequenced::{sequence_in_order, sequence_now, Change};
use super::{err, BoxFuture, Ctx, HandlerResult};
use crate::caps::Cap;
use crate::cluster::{Event, WireLine};
use crate::metrics::METRICS;
use crate::proto::line::Line;
use crate::proto::numeric::*;
use crate::proto::{tags, Message, OwnedMessage};
use crate::state::channel::Channel;
use crate::state::{fanout, sequencer};
use std::sync::atomic::Ordering;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Privmsg,
    Notice,
    Tagmsg,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
        }
    }
}

/// PRIVMSG `targets :text`.
pub fn privmsg(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    relay(ctx, msg, Kind::Privmsg)
}

/// NOTICE `targets :text`; errors are never sent back for NOTICE.
pub fn notice(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    relay(ctx, msg, Kind::Notice)
}

/// TAGMSG `targets` (message-tags): only tags, delivered to message-tags clients.
pub fn tagmsg(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    relay(ctx, msg, Kind::Tagmsg)
}

fn relay(ctx: &mut Ctx, msg: &Message<'_>, kind: Kind) -> HandlerResult {
    let targets = msg.param(0);
    if kind == Kind::Notice && (targets.is_empty() || msg.param(1).is_empty()) {
        return Ok(());
    }
    if targets.is_empty() {
        return err(ERR_NORECIPIENT, &[]);
    }
    let text = msg.param(1);
    if kind != Kind::Tagmsg && text.is_empty() {
        return err(ERR_NOTEXTTOSEND, &[]);
    }
    let cfg = ctx.server.config();
    let bot = ctx.client.info().modes.bot;
    let mut params = vec![String::new()];
    if kind != Kind::Tagmsg {
        params.push(text.to_owned());
    }
    let mut base = ctx.client.line(kind.name(), params);
    base.client_tags = msg.tags.and_then(tags::client_only);
    if bot {
        base = base.tag("bot", "", Cap::MessageTags);
    }
    if kind != Kind::Tagmsg {
        ctx.client.last_spoke.store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
    }
    let targets: Vec<&str> = targets.split(',').filter(|t| !t.is_empty()).collect();
    let at = base.time_ms();
    for (i, &target) in targets.iter().enumerate() {
        if i >= cfg.limits.max_targets {
            if kind != Kind::Notice {
                ctx.numeric(ERR_TOOMANYTARGETS, &[target]);
            }
            break;
        }
        // The last target takes the line itself; only earlier ones copy it.
        let mut line = if i + 1 == targets.len() { std::mem::take(&mut base) } else { base.clone() };
        line.params[0] = target.to_owned();
        line = line.tag("msgid", ctx.server.next_msgid_at(at), Cap::MessageTags);
        if let Err(e) = deliver(ctx, target, line, kind) {
            if kind != Kind::Notice {
                ctx.report(e);
            }
        }
    }
    Ok(())
}

/// Whether the client may speak in `ch`: `+n`, `+m`, bans and mutes (`m:`
/// extbans) apply unless it is voiced or an operator there.
pub fn check_channel_send(ctx: &Ctx, ch: &Channel) -> HandlerResult {
    let mine = member_modes(ch, &ctx.client);
    let st = ch.read();
    let privileged = mine.is_some_and(|m| m.op || m.voice);
    let blocked = (mine.is_none() && st.modes.no_external)
        || (st.modes.moderated && !privileged)
        || (!privileged && (is_banned(&ctx.server, &st, &ctx.client) || is_muted(&ctx.server, &st, &ctx.client)));
    if blocked {
        return err(ERR_CANNOTSENDTOCHAN, &[&ch.name]);
    }
    Ok(())
}

/// Whether `text` is a CTCP that `+C` refuses: any but ACTION (`/me`).
fn is_blocked_ctcp(text: &str) -> bool {
    text.strip_prefix('\x01').is_some_and(|ctcp| !(ctcp.starts_with("ACTION ") || ctcp == "ACTION\x01"))
}

/// Relays `line` to `target`, echoes it (echo-message) and records it in history.
fn deliver(ctx: &mut Ctx, target: &str, line: Line, kind: Kind) -> HandlerResult {
    let only_tags = |_: &crate::state::client::Client, caps: crate::caps::CapSet| {
        kind != Kind::Tagmsg || caps.has(Cap::MessageTags)
    };
    let status = target.chars().take_while(|c| *c == '@' || *c == '+').collect::<String>();
    let chan_name = &target[status.len()..];
    if chan_name.starts_with('#') {
        let Some(ch) = ctx.server.find_channel(chan_name) else { return err(ERR_NOSUCHCHANNEL, &[chan_name]) };
        check_channel_send(ctx, &ch)?;
        if kind != Kind::Tagmsg
            && ch.read().modes.no_ctcp
            && is_blocked_ctcp(line.params.last().map_or("", |t| t.as_str()))
        {
            return err(ERR_CANNOTSENDTOCHAN, &[&ch.name]);
        }
        if status.is_empty() {
            echo(ctx, &line);
            hold(ctx, ch, line, kind == Kind::Tagmsg);
        } else {
            flush_held(ctx);
            let sent = fanout::to_channel_status(&ch, &line, ctx.me(), !status.contains('@'));
            METRICS.relayed(1, sent);
            crate::cluster::channel_lines(&ctx.server, &ctx.client, &ch, [&line]);
            echo(ctx, &line);
        }
    } else {
        flush_held(ctx);
        if let Some(service) = crate::services::lookup(&ctx.server, target) {
            if kind == Kind::Privmsg {
                crate::services::queue(ctx, service, line.params.last().map_or("", String::as_str));
            }
            return Ok(());
        }
        let Some(to) = ctx.server.find_user(target) else { return err(ERR_NOSUCHNICK, &[target]) };
        {
            let mut variants = crate::proto::line::variants(&line);
            if to.deliver(&mut variants, None, &only_tags) > 0 {
                METRICS.relayed(1, 1);
            } else if to.sessions_any() {
                // A user of another node: its node delivers.
                crate::cluster::private_line(&ctx.server, &ctx.client, &to, &line);
            }
            if to.id != ctx.client.id {
                // The sender's other sessions (multiclient) see what it said.
                ctx.client.deliver(&mut variants, ctx.me(), &only_tags);
            }
        }
        if kind == Kind::Privmsg {
            if let Some(away) = to.info().away.clone() {
                ctx.numeric(RPL_AWAY, &[&to.nick(), &away]);
            }
        }
        echo(ctx, &line);
        super::chathistory::record_direct(ctx, &to, line);
    }
    Ok(())
}

/// Holds a channel message with the ones before it (see [`fanout::Pending`]).
fn hold(ctx: &mut Ctx, ch: std::sync::Arc<Channel>, line: Line, tags_only: bool) {
    if !ctx.pending.as_ref().is_some_and(|p| p.matches(&ch, tags_only)) {
        flush_held(ctx);
        ctx.pending = Some(Box::new(fanout::Pending::new(ch, ctx.link.id, tags_only)));
    }
    if ctx.pending.as_mut().is_some_and(|p| p.push(line)) {
        flush_held(ctx);
    }
}

/// Delivers the channel messages held back so far and records them in history.
/// Called before anything else the client does, at the end of each read batch,
/// and when the connection ends.
pub fn flush_held(ctx: &mut Ctx) {
    let Some(pending) = ctx.pending.take() else { return };
    let (channel, lines) = pending.deliver();
    crate::cluster::channel_lines(&ctx.server, &ctx.client, &channel, &lines);
    super::chathistory::record_channel(ctx, &channel, lines);
}

/// Whether `command` relays a message (and may be held with the ones before it).
pub fn is_relay(command: &str) -> bool {
    ["PRIVMSG", "NOTICE", "TAGMSG"].iter().any(|c| command.eq_ignore_ascii_case(c))
}

/// Sends the sender its own message back when it negotiated echo-message.
fn echo(ctx: &mut Ctx, line: &Line) {
    if ctx.has_cap(Cap::EchoMessage) {
        ctx.reply(line.clone());
    }
}

/// AWAY `[:message]`: sets the away message, or clears it.
pub fn away(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let (change, set) = away_change(ctx, msg.param(0));
    sequence_now(ctx, change)?;
    away_answer(ctx, set);
    Ok(())
}

/// AWAY on a node of a cluster: the change waits for its turn in the log
/// (see [`crate::state::sequencer`]), so every node shows it in one order
/// with the other changes.
pub fn away_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let (change, set) = away_change(ctx, msg.params.first().map_or("", String::as_str));
        sequence_in_order(ctx, change).await?;
        away_answer(ctx, set);
        Ok(())
    })
}

/// The away change `text` asks for (cut to `limits.away_len`; empty clears
/// it), and whether it sets a message.
fn away_change(ctx: &Ctx, text: &str) -> (Change, bool) {
    let cfg = ctx.server.config();
    let away =
        if text.is_empty() { None } else { Some(text[..text.floor_char_boundary(cfg.limits.away_len)].to_owned()) };
    let set = away.is_some();
    let line = ctx.client.line("AWAY", away.into_iter().collect());
    let (node, uid) = sequencer::address(&ctx.server, &ctx.client);
    let event = Event::Away { node, uid, line: WireLine::of(&line), id: sequencer::token(&ctx.server) };
    (Change { target: ctx.client.nick(), gone: None, command: "AWAY", reply: false, event }, set)
}

/// The maker's answer to its AWAY: `306` (now away) or `305` (back).
fn away_answer(ctx: &mut Ctx, set: bool) {
    if set {
        ctx.numeric(RPL_NOWAWAY, &[]);
    } else {
        ctx.numeric(RPL_UNAWAY, &[]);
    }
}
