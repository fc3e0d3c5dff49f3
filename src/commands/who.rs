//! WHO, with the WHOX extension (`WHO mask %fields[,token]`).

use super::{Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::numeric::*;
use crate::proto::Message;
use crate::state::channel::Channel;
use crate::state::client::Client;
use crate::state::mask;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
    let results: Vec<(Arc<Client>, Option<Arc<Channel>>)> = if mask_text.starts_with('#') {
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
        let cm = ctx.server.casemap;
        let server_name = ctx.server_name();
        let all = mask_text == "*" || mask_text == "0";
        let me = ctx.client.clone();
        let clients: Vec<Arc<Client>> = ctx.server.clients.iter().map(|c| c.value().clone()).collect();
        clients
            .into_iter()
            .filter(|c| c.is_registered())
            .filter(|c| {
                let i = c.info();
                let matched = all
                    || mask::matches(cm, mask_text, &i.nick)
                    || mask::matches(cm, mask_text, &i.mask())
                    || mask::matches(cm, mask_text, &i.host)
                    || mask::matches(cm, mask_text, &i.user)
                    || mask::matches(cm, mask_text, &i.realname)
                    || mask::matches(cm, mask_text, &server_name);
                // +i hides a user from mask searches, not from a lookup by exact nick
                let exact = !mask_text.contains(['*', '?']) && cm.eq(mask_text, &i.nick);
                matched && (exact || c.id == me.id || !i.modes.invisible || shares_channel(&me, c) || me.is_oper())
            })
            .map(|c| {
                let ch = first_visible_channel(ctx, &c);
                (c, ch)
            })
            .collect()
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

fn shares_channel(a: &Client, b: &Client) -> bool {
    a.info().channels.iter().any(|ch| ch.read().members.contains_key(&b.id))
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
    let server = ctx.server_name();
    let f = flags(ctx, c, ch);
    let (user, host, nick, realname) = {
        let i = c.info();
        (i.user.clone(), i.host.clone(), i.nick.clone(), i.realname.clone())
    };
    let chan = ch.map(|c| c.name.clone()).unwrap_or_else(|| "*".into());
    ctx.numeric(RPL_WHOREPLY, &[&chan, &user, &host, &server, &nick, &f, &format!("0 {realname}")]);
}

fn whox_reply(ctx: &mut Ctx, c: &Client, ch: Option<&Channel>, fields: &str, token: Option<&str>) {
    let server = ctx.server_name();
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
            'd' => "0".into(),
            'l' => (now - c.last_spoke.load(Ordering::Relaxed)).max(0).to_string(),
            'a' => i.account.clone().unwrap_or_else(|| "0".into()),
            'o' => "n/a".into(),
            _ => i.realname.clone(),
        });
    }
    drop(i);
    ctx.numeric_owned(RPL_WHOSPCRPL, out);
}
