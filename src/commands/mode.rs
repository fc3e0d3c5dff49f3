//! MODE for channels (flags, key, limit, member prefixes, lists) and users.

use super::channel::member_modes;
use super::sequenced::{sequence_in_order, sequence_now, Change};
use super::{err, BoxFuture, CmdError, Ctx, HandlerResult};
use crate::cluster::Event;
use crate::proto::line::Line;
use crate::proto::numeric::*;
use crate::proto::{Message, OwnedMessage};
use crate::state::channel::{Channel, ChannelState};
use crate::state::{extban, sequencer};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Parameter-taking mode changes accepted per MODE command (ISUPPORT MODES).
pub const MAX_PARAM_MODES: usize = 4;

/// MODE `target [modes [params...]]`.
pub fn mode(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let target = msg.param(0);
    if target.starts_with('#') {
        channel_mode(ctx, msg)
    } else {
        user_mode(ctx, msg)
    }
}

fn user_mode(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let target = msg.param(0);
    match ctx.server.find_user(target) {
        None => return err(ERR_NOSUCHNICK, &[target]),
        Some(c) if c.id != ctx.client.id => return err(ERR_USERSDONTMATCH, &[]),
        _ => {}
    }
    if msg.params.len() < 2 {
        let modes = ctx.client.info().modes.to_mode_string();
        ctx.numeric(RPL_UMODEIS, &[&modes]);
        return Ok(());
    }
    let mut adding = true;
    let mut applied = String::new();
    let mut last_sign = None;
    let mut unknown = false;
    {
        let mut info = ctx.client.info_mut();
        for c in msg.param(1).chars() {
            let flag = match c {
                '+' | '-' => {
                    adding = c == '+';
                    continue;
                }
                'i' => &mut info.modes.invisible,
                'w' => &mut info.modes.wallops,
                'B' => &mut info.modes.bot,
                'o' if !adding => &mut info.modes.oper,
                'o' => continue,
                _ => {
                    unknown = true;
                    continue;
                }
            };
            if *flag == adding {
                continue;
            }
            *flag = adding;
            if c == 'o' {
                info.oper_name = None;
                ctx.server.oper_count.fetch_sub(1, Ordering::Relaxed);
            }
            if c == 'i' {
                let count = &ctx.server.invisible_count;
                if adding {
                    count.fetch_add(1, Ordering::Relaxed);
                } else {
                    count.fetch_sub(1, Ordering::Relaxed);
                }
            }
            if last_sign != Some(adding) {
                applied.push(if adding { '+' } else { '-' });
                last_sign = Some(adding);
            }
            applied.push(c);
        }
    }
    if unknown {
        ctx.numeric(ERR_UMODEUNKNOWNFLAG, &[]);
    }
    if !applied.is_empty() {
        crate::cluster::user_modes(&ctx.server, &ctx.client, &applied);
        let nick = ctx.client.nick();
        ctx.reply(Line::new(nick.clone(), "MODE", vec![nick, applied]));
    }
    Ok(())
}

fn send_list(ctx: &mut Ctx, ch: &Channel, c: char) {
    let entries = ch.write().list_mut(c).cloned().unwrap_or_default();
    let (item, end) = match c {
        'b' => (RPL_BANLIST, RPL_ENDOFBANLIST),
        'e' => (RPL_EXCEPTLIST, RPL_ENDOFEXCEPTLIST),
        _ => (RPL_INVITELIST, RPL_ENDOFINVITELIST),
    };
    for e in entries {
        ctx.numeric(item, &[&ch.name, &e.mask, &e.set_by, &e.set_at.to_string()]);
    }
    ctx.numeric(end, &[&ch.name]);
}

/// Whether a parameter mode may be applied: the sender is an op (else `denied`
/// is set) and fewer than [`MAX_PARAM_MODES`] were applied by this command.
fn param_slot(is_op: bool, denied: &mut bool, used: &mut usize) -> bool {
    if !is_op {
        *denied = true;
        return false;
    }
    *used += 1;
    *used <= MAX_PARAM_MODES
}

fn channel_mode(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let Some((ch, change)) = channel_mode_change(ctx, msg)? else { return Ok(()) };
    let kept = kept(&change);
    if sequence_now(ctx, change)?.is_some() {
        persist(ctx, &ch, kept);
    }
    Ok(())
}

/// MODE on a node of a cluster: a channel's changes wait until every change
/// the log holds before them is applied here (see [`sequencer`]).
pub fn mode_clustered(ctx: &mut Ctx, owned: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let msg = owned.without_tags();
        if !msg.param(0).starts_with('#') {
            return user_mode(ctx, &msg);
        }
        let Some((ch, change)) = channel_mode_change(ctx, &msg)? else { return Ok(()) };
        let kept = kept(&change);
        if sequence_in_order(ctx, change).await?.is_some() {
            persist(ctx, &ch, kept);
        }
        Ok(())
    })
}

/// Whether `change` (a MODE) holds a change a persistent channel keeps (all
/// but member prefixes), and whether it sets or clears `+P` itself.
fn kept(change: &Change) -> (bool, bool) {
    let Event::Mode { changes, .. } = &change.event else { return (false, false) };
    (changes.iter().any(|c| !matches!(c.mode, 'o' | 'v')), changes.iter().any(|c| c.mode == 'P'))
}

/// Saves a persistent channel (or one whose `+P` changed) after a MODE
/// that changed more than member prefixes, before the MODE is answered.
fn persist(ctx: &mut Ctx, ch: &Channel, (kept, permanence): (bool, bool)) {
    if kept && (ch.read().is_persistent() || permanence) {
        let ack = ctx.server.persist_channel(ch);
        ctx.commit("MODE", ack);
    }
}

/// Answers a mode query, a list query or a refusal, and decides the changes
/// of a MODE on a channel: each one the sender may make, as requested (the
/// apply keeps those that change something, in order).
fn channel_mode_change(ctx: &mut Ctx, msg: &Message<'_>) -> Result<Option<(Arc<Channel>, Change)>, CmdError> {
    let name = msg.param(0);
    let Some(ch) = ctx.server.find_channel(name) else { return err(ERR_NOSUCHCHANNEL, &[name]) };
    let mine = member_modes(&ch, &ctx.client);
    let oper = ctx.client.is_oper();
    // A secret channel shows nothing to those outside it: not its modes, its
    // creation time or its lists (as TOPIC, NAMES, WHO and LIST hide it).
    if mine.is_none() && !oper && ch.read().modes.secret {
        return err(ERR_NOTONCHANNEL, &[&ch.name]);
    }
    if msg.params.len() < 2 {
        let (modes, args) = ch.read().mode_string(mine.is_some());
        let mut p = vec![ch.name.clone(), modes];
        p.extend(args);
        ctx.numeric_owned(RPL_CHANNELMODEIS, p);
        ctx.numeric(RPL_CREATIONTIME, &[&ch.name, &ch.created.to_string()]);
        return Ok(None);
    }
    let is_op = mine.is_some_and(|m| m.op);
    let mut args = msg.params[2..].iter().copied();
    let mut adding = true;
    let mut changes: Vec<crate::cluster::ModeChange> = Vec::new();
    let change = |add, mode, arg: Option<String>| crate::cluster::ModeChange { add, mode, arg, to: None };
    let mut param_modes = 0;
    let mut denied = false;
    let mut listed = String::new();
    for c in msg.param(1).chars() {
        match c {
            '+' | '-' => {
                adding = c == '+';
                continue;
            }
            'b' | 'e' | 'I' => {
                let Some(arg) = args.next() else {
                    // Each list at most once per command, and a list query
                    // counts against the mode limit like a change.
                    if listed.contains(c) {
                        continue;
                    }
                    listed.push(c);
                    param_modes += 1;
                    if param_modes > MAX_PARAM_MODES {
                        continue;
                    }
                    // Bans to members, exceptions and invite exceptions to
                    // channel operators (IRC operators see all).
                    let allowed = oper || mine.is_some_and(|m| c == 'b' || m.op);
                    if allowed {
                        send_list(ctx, &ch, c);
                    } else {
                        denied = true;
                    }
                    continue;
                };
                if param_slot(is_op, &mut denied, &mut param_modes) {
                    changes.push(change(adding, c, Some(extban::normalize(arg))));
                }
            }
            'o' | 'v' => {
                let Some(arg) = args.next() else { continue };
                if !param_slot(is_op, &mut denied, &mut param_modes) {
                    continue;
                }
                let Some(who) = ctx.server.find_user(arg) else {
                    ctx.numeric(ERR_NOSUCHNICK, &[arg]);
                    continue;
                };
                if member_modes(&ch, &who).is_none() {
                    ctx.numeric(ERR_USERNOTINCHANNEL, &[&who.nick(), &ch.name]);
                    continue;
                }
                let to = Some(sequencer::address(&ctx.server, &who));
                changes.push(crate::cluster::ModeChange { add: adding, mode: c, arg: Some(who.nick()), to });
            }
            'k' => {
                let arg = args.next();
                if !is_op {
                    denied = true;
                    continue;
                }
                if !adding {
                    changes.push(change(false, 'k', None));
                    continue;
                }
                match arg.filter(|k| !k.is_empty() && !k.contains(' ') && k.len() <= 23) {
                    Some(k) => changes.push(change(true, 'k', Some(k.to_owned()))),
                    None if arg.is_some() => ctx.numeric(ERR_INVALIDKEY, &[&ch.name]),
                    None => {}
                }
            }
            'l' => {
                let arg = if adding { args.next() } else { None };
                if !is_op {
                    denied = true;
                    continue;
                }
                if !adding {
                    changes.push(change(false, 'l', None));
                } else if let Some(n) = arg.and_then(|a| a.parse::<usize>().ok()).filter(|n| *n > 0) {
                    changes.push(change(true, 'l', Some(n.to_string())));
                }
            }
            'C' | 'i' | 'm' | 'n' | 's' | 't' | 'P' => {
                if c == 'P' && !ctx.client.is_oper() {
                    ctx.numeric(ERR_NOPRIVILEGES, &[]);
                    continue;
                }
                if !is_op && ChannelState::needs_op(c) {
                    denied = true;
                    continue;
                }
                changes.push(change(adding, c, None));
            }
            _ => ctx.numeric(ERR_UNKNOWNMODE, &[&c.to_string()]),
        }
    }
    if denied {
        if mine.is_none() {
            ctx.numeric(ERR_NOTONCHANNEL, &[&ch.name]);
        } else {
            ctx.numeric(ERR_CHANOPRIVSNEEDED, &[&ch.name]);
        }
    }
    if changes.is_empty() {
        ctx.server.remove_channel_if_empty(&ch);
        return Ok(None);
    }
    let line = ctx.client.line("MODE", Vec::new());
    let msgid = ctx.server.next_msgid_at(line.time_ms());
    let line = line.tag("msgid", msgid, crate::caps::Cap::MessageTags);
    let event = Event::Mode {
        node: sequencer::origin(&ctx.server),
        uid: Some(ctx.client.id),
        chan: ch.name.clone(),
        line: crate::cluster::WireLine::of(&line),
        at: chrono::Utc::now().timestamp(),
        changes,
    };
    Ok(Some((ch.clone(), Change { target: ch.name.clone(), gone: None, command: "MODE", reply: true, event })))
}
