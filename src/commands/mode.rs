//! MODE for channels (flags, key, limit, member prefixes, lists) and users.

use super::channel::member_modes;
use super::{err, Ctx, HandlerResult};
use crate::proto::line::Line;
use crate::proto::numeric::*;
use crate::proto::Message;
use crate::state::channel::{mode_params, Channel, ListEntry, ModeChange};
use crate::state::{extban, fanout};
use std::sync::atomic::Ordering;

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
        return Ok(());
    }
    let is_op = mine.is_some_and(|m| m.op);
    let seen = ch.remote_changes.load(Ordering::Relaxed);
    let cfg = ctx.server.config();
    let mut args = msg.params[2..].iter().copied();
    let mut adding = true;
    let mut changes: Vec<ModeChange> = Vec::new();
    let change = |add, mode, arg: Option<String>| ModeChange { add, mode, arg, member: None };
    let mut param_modes = 0;
    let mut denied = false;
    let mut listed = String::new();
    let now = chrono::Utc::now().timestamp();
    let setter = ctx.client.mask();
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
                if !param_slot(is_op, &mut denied, &mut param_modes) {
                    continue;
                }
                let m = extban::normalize(arg);
                let mut st = ch.write();
                let max = cfg.limits.max_list_entries;
                let Some(list) = st.list_mut(c) else { continue };
                let pos = list.iter().position(|e| ctx.server.casemap.eq(&e.mask, &m));
                match (adding, pos) {
                    (true, None) if list.len() < max => {
                        list.push(ListEntry { mask: m.clone(), set_by: setter.clone(), set_at: now });
                        changes.push(change(true, c, Some(m)));
                    }
                    (false, Some(i)) => {
                        let e = list.remove(i);
                        changes.push(change(false, c, Some(e.mask)));
                    }
                    _ => {}
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
                let mut st = ch.write();
                let Some(m) = st.members.get_mut(&who.id) else {
                    drop(st);
                    ctx.numeric(ERR_USERNOTINCHANNEL, &[&who.nick(), &ch.name]);
                    continue;
                };
                let flag = if c == 'o' { &mut m.modes.op } else { &mut m.modes.voice };
                if *flag != adding {
                    *flag = adding;
                    changes.push(ModeChange { add: adding, mode: c, arg: Some(who.nick()), member: Some(who.id) });
                }
            }
            'k' => {
                let arg = args.next();
                if !is_op {
                    denied = true;
                    continue;
                }
                let mut st = ch.write();
                if adding {
                    let Some(k) = arg.filter(|k| !k.is_empty() && !k.contains(' ') && k.len() <= 23) else {
                        if arg.is_some() {
                            drop(st);
                            ctx.numeric(ERR_INVALIDKEY, &[&ch.name]);
                        }
                        continue;
                    };
                    st.modes.key = Some(k.to_owned());
                    changes.push(change(true, 'k', Some(k.to_owned())));
                } else if st.modes.key.take().is_some() {
                    changes.push(change(false, 'k', Some("*".into())));
                }
            }
            'l' => {
                let arg = if adding { args.next() } else { None };
                if !is_op {
                    denied = true;
                    continue;
                }
                let mut st = ch.write();
                if adding {
                    let Some(n) = arg.and_then(|a| a.parse::<usize>().ok()).filter(|n| *n > 0) else { continue };
                    st.modes.limit = Some(n);
                    changes.push(change(true, 'l', Some(n.to_string())));
                } else if st.modes.limit.take().is_some() {
                    changes.push(change(false, 'l', None));
                }
            }
            'C' | 'i' | 'm' | 'n' | 's' | 't' | 'P' => {
                if c == 'P' && !ctx.client.is_oper() {
                    ctx.numeric(ERR_NOPRIVILEGES, &[]);
                    continue;
                }
                if !(is_op || c == 'P') {
                    denied = true;
                    continue;
                }
                let mut st = ch.write();
                let Some(flag) = st.modes.flag_mut(c) else { continue };
                if *flag != adding {
                    *flag = adding;
                    changes.push(change(adding, c, None));
                }
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
        return Ok(());
    }
    // Member prefixes are not kept; anything else on a persistent channel (or
    // +P/-P itself) is saved before the MODE is answered.
    let kept = changes.iter().any(|c| !matches!(c.mode, 'o' | 'v'));
    if kept && (ch.read().is_persistent() || changes.iter().any(|c| c.mode == 'P')) {
        let ack = ctx.server.persist_channel(&ch);
        ctx.commit("MODE", ack);
    }
    let line = ctx.client.line("MODE", mode_params(&ch.name, &changes));
    fanout::to_channel(&ch, &line, ctx.me(), fanout::everyone);
    crate::cluster::channel_mode(&ctx.server, &ch, &line, now, &changes, seen);
    ctx.reply(line);
    ctx.server.remove_channel_if_empty(&ch);
    Ok(())
}
