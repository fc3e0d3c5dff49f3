//! WHO, with the WHOX extension (`WHO mask %fields[,token]`).

use super::{Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::numeric::*;
use crate::proto::Message;
use crate::state::channel::Channel;
use crate::state::client::Client;
use crate::state::mask::Pattern;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A user to list, with the channel shown for it.
type Found = (Arc<Client>, Option<Arc<Channel>>);

/// WHOX fields in the order they are sent.
const WHOX_ORDER: &str = "tcuihsnfdlaor";

/// WHO `mask [o][%fields[,token]]`.
pub fn who(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let raw_mask = msg.param(0);
    let mask_text = if raw_mask.is_empty() { "*" } else { raw_mask };
    let opts = msg.param(1);
    let (flags, whox) = match opts.split_once('%') {
        Some((f, w)) => (f, Some(w)),
        None => (opts, None),
    };
    let only_opers = flags.contains('o');
    let (fields, token) = match whox {
        Some(w) => match w.split_once(',') {
            Some((f, t)) => (f.to_owned(), Some(t.to_owned())),
            None => (w.to_owned(), None),
        },
        None => (String::new(), None),
    };
    let results: Vec<Found> = if mask_text.starts_with('#') {
        match ctx.server.find_channel(mask_text) {
            Some(ch) => {
                let st = ch.read();
                let member = st.members.contains_key(&ctx.client.id);
                if st.modes.secret && !member && !ctx.client.is_oper() {
                    Vec::new()
                } else {
                    st.members_ordered()
                        .into_iter()
                        .filter(|m| member || !m.client.info().modes.invisible)
                        .map(|m| (m.client.clone(), Some(ch.clone())))
                        .collect()
                }
            }
            None => Vec::new(),
        }
    } else {
        match search(ctx, mask_text, only_opers) {
            Some(found) => found,
            None => {
                ctx.numeric(ERR_TOOMANYMATCHES, &["WHO", "Output too large, truncated"]);
                ctx.numeric(RPL_ENDOFWHO, &[mask_text]);
                return Ok(());
            }
        }
    };
    for (c, ch) in results {
        if only_opers && !c.is_oper() {
            continue;
        }
        if whox.is_some() {
            whox_reply(ctx, &c, ch.as_deref(), &fields, token.as_deref());
        } else {
            who_reply(ctx, &c, ch.as_deref());
        }
    }
    ctx.numeric(RPL_ENDOFWHO, &[mask_text]);
    Ok(())
}

/// The users a mask search finds (only operators with `only_opers`): every
/// registered user whose nick, `nick!user@host`, host, username or realname
/// matches (or all of them when the server's name does), without the invisible
/// ones the searcher does not share a channel with. `None` when more than
/// `limits.max_who_results` match.
///
/// The mask is compiled once and the users are read in place, so a search costs
/// a few field comparisons per user and allocates only for the matches; it is
/// charged against the searcher's flood control in proportion to the users
/// read (`flood.search_cost_users`).
fn search(ctx: &mut Ctx, mask_text: &str, only_opers: bool) -> Option<Vec<Found>> {
    let cfg = ctx.server.config();
    let pattern = Pattern::new(ctx.server.casemap, mask_text);
    let all = mask_text == "*" || mask_text == "0" || pattern.matches(&cfg.server.name);
    let exact_nick = !mask_text.contains(['*', '?']);
    let me = ctx.client.clone();
    let oper = me.is_oper();
    let my_channels = me.info().channels.clone();
    let max = if oper { usize::MAX } else { cfg.limits.max_who_results };
    let mut scratch = String::new();
    let mut scanned = 0usize;
    let mut found = Vec::new();
    for entry in ctx.server.clients.iter() {
        let c = entry.value();
        if !c.is_registered() {
            continue;
        }
        scanned += 1;
        if only_opers && !c.is_oper() {
            continue;
        }
        let hidden = {
            let i = c.info();
            let matched = all
                || pattern.matches(&i.nick)
                || pattern.matches(&i.host)
                || pattern.matches(&i.user)
                || pattern.matches(&i.realname)
                || {
                    scratch.clear();
                    scratch.push_str(&i.nick);
                    scratch.push('!');
                    scratch.push_str(if i.user.is_empty() { "*" } else { &i.user });
                    scratch.push('@');
                    scratch.push_str(&i.host);
                    pattern.matches(&scratch)
                };
            if !matched {
                continue;
            }
            // +i hides a user from mask searches, not from a lookup by exact nick.
            i.modes.invisible && !(exact_nick && ctx.server.casemap.eq(mask_text, &i.nick))
        };
        let shares = || my_channels.iter().any(|ch| ch.read().members.contains_key(&c.id));
        if hidden && c.id != me.id && !oper && !shares() {
            continue;
        }
        if found.len() == max {
            ctx.conn.cost += cost_of(scanned, cfg.flood.search_cost_users);
            return None;
        }
        found.push(c.clone());
    }
    ctx.conn.cost += cost_of(scanned, cfg.flood.search_cost_users);
    let with_channel = |c: Arc<Client>| {
        let ch = first_visible_channel(ctx, &c);
        (c, ch)
    };
    Some(found.into_iter().map(with_channel).collect())
}

/// Extra commands a search over `scanned` users counts as (one per `per`).
fn cost_of(scanned: usize, per: usize) -> u32 {
    if per == 0 {
        return 0;
    }
    u32::try_from(scanned / per).unwrap_or(u32::MAX)
}

fn first_visible_channel(ctx: &Ctx, c: &Client) -> Option<Arc<Channel>> {
    c.info().channels.iter().find(|ch| super::listing::visible(ctx, ch)).cloned()
}

/// The WHO flags: `H`/`G`, `*` for opers, channel prefixes, `B` for bots.
fn flags(ctx: &Ctx, c: &Client, ch: Option<&Channel>) -> String {
    let i = c.info();
    let mut f = String::from(if i.away.is_some() { "G" } else { "H" });
    if i.modes.oper {
        f.push('*');
    }
    if let Some(ch) = ch {
        if let Some(m) = ch.read().members.get(&c.id) {
            f.push_str(m.modes.prefixes(ctx.has_cap(Cap::MultiPrefix)));
        }
    }
    if i.modes.bot {
        f.push('B');
    }
    f
}

fn who_reply(ctx: &mut Ctx, c: &Client, ch: Option<&Channel>) {
    let (server, _, hops) = crate::cluster::server_of(&ctx.server, c);
    let f = flags(ctx, c, ch);
    let (user, host, nick, realname) = {
        let i = c.info();
        (i.user.clone(), i.host.clone(), i.nick.clone(), i.realname.clone())
    };
    let chan = ch.map(|c| c.name.clone()).unwrap_or_else(|| "*".into());
    ctx.numeric(RPL_WHOREPLY, &[&chan, &user, &host, &server, &nick, &f, &format!("{hops} {realname}")]);
}

fn whox_reply(ctx: &mut Ctx, c: &Client, ch: Option<&Channel>, fields: &str, token: Option<&str>) {
    let (server, _, hops) = crate::cluster::server_of(&ctx.server, c);
    let f = flags(ctx, c, ch);
    let i = c.info();
    let now = chrono::Utc::now().timestamp();
    let mut out = Vec::new();
    for field in WHOX_ORDER.chars().filter(|f| fields.contains(*f)) {
        out.push(match field {
            't' => token.unwrap_or("0").to_owned(),
            'c' => ch.map(|c| c.name.clone()).unwrap_or_else(|| "*".into()),
            'u' => i.user.clone(),
            'i' => {
                if ctx.client.is_oper() || c.id == ctx.client.id {
                    c.ip.to_string()
                } else {
                    "255.255.255.255".into()
                }
            }
            'h' => i.host.clone(),
            's' => server.clone(),
            'n' => i.nick.clone(),
            'f' => f.clone(),
            'd' => hops.to_string(),
            'l' => (now - c.last_spoke.load(Ordering::Relaxed)).max(0).to_string(),
            'a' => i.account.clone().unwrap_or_else(|| "0".into()),
            'o' => "n/a".into(),
            _ => i.realname.clone(),
        });
    }
    drop(i);
    ctx.numeric_owned(RPL_WHOSPCRPL, out);
}
