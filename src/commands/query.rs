//! Queries about users: WHOIS, WHOWAS, ISON, USERHOST.

use super::listing::visible;
use super::{err, BoxFuture, Ctx, HandlerResult};
use crate::proto::numeric::*;
use crate::proto::{Message, OwnedMessage};

/// WHOIS `[server] nick`.
pub fn whois(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    whois_of(ctx, whois_target(&msg.params))
}

/// WHOIS on a node of a cluster: the idle time of a user of another node is
/// asked of that node first ([`crate::cluster::ask`]), as a classic network
/// forwards a remote WHOIS to the user's server.
pub fn whois_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let target = whois_target(&msg.params);
        if let (Some(cluster), Some(who)) = (ctx.server.cluster().cloned(), ctx.server.find_user(target)) {
            cluster.refresh_last_spoke(&who).await;
        }
        whois_of(ctx, target)
    })
}

/// The nick a WHOIS asks about: the last of its one or two parameters (the
/// first of two names a server), up to a comma.
fn whois_target<S: AsRef<str>>(params: &[S]) -> &str {
    let target = params.get(if params.len() >= 2 { 1 } else { 0 }).map_or("", AsRef::as_ref);
    target.split(',').next().unwrap_or("")
}

/// WHOIS of `target`.
fn whois_of(ctx: &mut Ctx, target: &str) -> HandlerResult {
    if let Some(service) = crate::services::lookup(&ctx.server, target) {
        let cfg = ctx.server.config();
        let host = format!("services.{}", cfg.server.name);
        ctx.numeric(RPL_WHOISUSER, &[service, service, &host, "*", "Network service"]);
        ctx.numeric(RPL_WHOISSERVER, &[service, &cfg.server.name, &cfg.server.description]);
        ctx.numeric(RPL_ENDOFWHOIS, &[service]);
        return Ok(());
    }
    let Some(who) = ctx.server.find_user(target) else {
        ctx.numeric(ERR_NOSUCHNICK, &[target]);
        ctx.numeric(RPL_ENDOFWHOIS, &[target]);
        return Ok(());
    };
    let cfg = ctx.server.config();
    let (nick, user, host, realname, away, account, modes, channels) = {
        let i = who.info();
        (
            i.nick.clone(),
            i.user.clone(),
            i.host.clone(),
            i.realname.clone(),
            i.away.clone(),
            i.account.clone(),
            i.modes,
            i.channels.clone(),
        )
    };
    ctx.numeric(RPL_WHOISUSER, &[&nick, &user, &host, "*", &realname]);
    let mut chans = Vec::new();
    for ch in &channels {
        if !visible(ctx, ch) {
            continue;
        }
        let prefix = ch.read().members.get(&who.id).map(|m| m.modes.prefixes(true)).unwrap_or("");
        chans.push(format!("{prefix}{}", ch.name));
    }
    ctx.numeric_list(RPL_WHOISCHANNELS, &[&nick], &chans, " ");
    let (server_name, server_info, _) = crate::cluster::server_of(&ctx.server, &who);
    ctx.numeric(RPL_WHOISSERVER, &[&nick, &server_name, &server_info]);
    if modes.oper {
        ctx.numeric(RPL_WHOISOPERATOR, &[&nick]);
    }
    if who.tls {
        ctx.numeric(RPL_WHOISSECURE, &[&nick]);
    }
    if let Some(fp) = who.certfp.as_deref().filter(|_| who.id == ctx.client.id || ctx.client.is_oper()) {
        let text = format!("has client certificate fingerprint {fp}");
        ctx.numeric(RPL_WHOISCERTFP, &[&nick, &text]);
    }
    if let Some(a) = &account {
        ctx.numeric(RPL_WHOISACCOUNT, &[&nick, a]);
    }
    if modes.bot {
        let text = format!("is a bot on {}", cfg.server.network);
        ctx.numeric(RPL_WHOISBOT, &[&nick, &text]);
    }
    // A user of another node of an earlier release came without its address.
    if (who.id == ctx.client.id || ctx.client.is_oper()) && !who.ip.is_unspecified() {
        let host_text = format!("is connecting from {user}@{host} {}", who.ip);
        ctx.numeric(RPL_WHOISHOST, &[&nick, &host_text]);
        let modes_text = format!("is using modes {}", modes.to_mode_string());
        ctx.numeric(RPL_WHOISMODES, &[&nick, &modes_text]);
    }
    if let Some(a) = &away {
        ctx.numeric(RPL_AWAY, &[&nick, a]);
    }
    let now = chrono::Utc::now().timestamp();
    let idle = (now - who.last_spoke.load(std::sync::atomic::Ordering::Relaxed)).max(0);
    ctx.numeric(RPL_WHOISIDLE, &[&nick, &idle.to_string(), &who.signon.to_string()]);
    super::metadata::whois(ctx, &who);
    ctx.numeric(RPL_ENDOFWHOIS, &[&nick]);
    Ok(())
}

/// WHOWAS `nick [count]`.
pub fn whowas(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let nick = msg.param(0);
    if nick.is_empty() {
        return err(ERR_NONICKNAMEGIVEN, &[]);
    }
    let count: i64 = msg.param(1).parse().unwrap_or(0);
    let cfg = ctx.server.config();
    let entries = ctx.server.whowas.find(ctx.server.casemap, nick, count.max(0) as usize);
    if entries.is_empty() {
        ctx.numeric(ERR_WASNOSUCHNICK, &[nick]);
    }
    for e in entries {
        ctx.numeric(RPL_WHOWASUSER, &[&e.nick, &e.user, &e.host, "*", &e.realname]);
        let when = chrono::DateTime::from_timestamp(e.when, 0).map(|t| t.to_rfc2822()).unwrap_or_default();
        ctx.numeric(RPL_WHOISSERVER, &[&e.nick, &cfg.server.name, &when]);
    }
    ctx.numeric(RPL_ENDOFWHOWAS, &[nick]);
    Ok(())
}

/// ISON `nick...`: which of the nicks are online.
pub fn ison(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let online: Vec<String> = msg
        .params
        .iter()
        .flat_map(|p| p.split(' '))
        .filter_map(|n| ctx.server.find_user(n).map(|c| c.nick()))
        .collect();
    if online.is_empty() {
        ctx.numeric(RPL_ISON, &[""]);
    }
    ctx.numeric_list(RPL_ISON, &[], &online, " ");
    Ok(())
}

/// USERHOST `nick...` (up to five).
pub fn userhost(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let replies: Vec<String> = msg
        .params
        .iter()
        .flat_map(|p| p.split(' '))
        .take(5)
        .filter_map(|n| ctx.server.find_user(n))
        .map(|c| {
            let i = c.info();
            let oper = if i.modes.oper { "*" } else { "" };
            let away = if i.away.is_some() { '-' } else { '+' };
            format!("{}{oper}={away}{}@{}", i.nick, i.user, i.host)
        })
        .collect();
    if replies.is_empty() {
        ctx.numeric(RPL_USERHOST, &[""]);
    }
    ctx.numeric_list(RPL_USERHOST, &[], &replies, " ");
    Ok(())
}
