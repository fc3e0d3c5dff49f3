//! Server information: LUSERS, MOTD, VERSION, TIME, INFO, ADMIN, LINKS, STATS (HELP is in help.rs).

use super::{err, Ctx, HandlerResult};
use crate::proto::numeric::*;
use crate::proto::Message;
use std::sync::atomic::Ordering;

/// Replies `402` when a server parameter names another server.
fn local_only(ctx: &Ctx, msg: &Message<'_>, idx: usize) -> HandlerResult {
    let target = msg.param(idx);
    let name = ctx.server_name();
    if target.is_empty()
        || ctx.server.casemap.eq(target, &name)
        || crate::state::mask::matches(ctx.server.casemap, target, &name)
    {
        Ok(())
    } else {
        err(ERR_NOSUCHSERVER, &[target])
    }
}

/// Sends 251-255 and 265/266.
pub fn send_lusers(ctx: &mut Ctx) {
    let s = &ctx.server;
    let users = s.registered_count.load(Ordering::Relaxed);
    let invisible = s.invisible_count.load(Ordering::Relaxed).min(users);
    let opers = s.oper_count.load(Ordering::Relaxed);
    let unknown = s.unknown_count();
    let channels = s.channels.len();
    let max = s.max_registered.load(Ordering::Relaxed);
    // On a node of a cluster, users of the other nodes count in the
    // network's figures, not in this node's.
    let local = s.local_count();
    let max_local = s.max_local.load(Ordering::Relaxed).max(local);
    let servers = s.cluster().map_or(1, |c| c.node_count());
    ctx.numeric_owned(
        RPL_LUSERCLIENT,
        vec![format!("There are {} users and {invisible} invisible on {servers} servers", users - invisible)],
    );
    ctx.numeric(RPL_LUSEROP, &[&opers.to_string()]);
    ctx.numeric(RPL_LUSERUNKNOWN, &[&unknown.to_string()]);
    ctx.numeric(RPL_LUSERCHANNELS, &[&channels.to_string()]);
    ctx.numeric_owned(RPL_LUSERME, vec![format!("I have {local} clients and {} servers", servers - 1)]);
    // The optional numeric arguments are left out: the text carries the figures.
    ctx.numeric_owned(RPL_LOCALUSERS, vec![format!("Current local users {local}, max {max_local}")]);
    ctx.numeric_owned(RPL_GLOBALUSERS, vec![format!("Current global users {users}, max {max}")]);
}

/// Sends the MOTD (375/372/376) or `422`.
pub fn send_motd(ctx: &mut Ctx) {
    match ctx.server.motd() {
        Some(lines) => {
            let name = ctx.server_name();
            ctx.numeric_owned(RPL_MOTDSTART, vec![format!("- {name} Message of the day - ")]);
            for l in lines.iter() {
                ctx.numeric_owned(RPL_MOTD, vec![format!("- {l}")]);
            }
            ctx.numeric(RPL_ENDOFMOTD, &[]);
        }
        None => ctx.numeric(ERR_NOMOTD, &[]),
    }
}

/// LUSERS.
pub fn lusers(ctx: &mut Ctx, _msg: &Message<'_>) -> HandlerResult {
    send_lusers(ctx);
    Ok(())
}

/// MOTD `[server]`.
pub fn motd(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    local_only(ctx, msg, 0)?;
    send_motd(ctx);
    Ok(())
}

/// VERSION `[server]`: 351 then the ISUPPORT lines.
pub fn version(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    local_only(ctx, msg, 0)?;
    let cfg = ctx.server.config();
    let v = super::registration::VERSION;
    ctx.numeric(RPL_VERSION, &[v, &cfg.server.name, "banter IRC server"]);
    for tokens in crate::isupport::lines(&cfg) {
        ctx.numeric_params(RPL_ISUPPORT, &[], &tokens);
    }
    Ok(())
}

/// TIME `[server]`.
pub fn time(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    local_only(ctx, msg, 0)?;
    let name = ctx.server_name();
    let now = chrono::Utc::now().format("%A %B %d %Y -- %H:%M:%S +00:00").to_string();
    ctx.numeric(RPL_TIME, &[&name, &now]);
    Ok(())
}

/// INFO `[server]`.
pub fn info(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    local_only(ctx, msg, 0)?;
    let started = chrono::DateTime::from_timestamp(ctx.server.started, 0).map(|t| t.to_rfc2822()).unwrap_or_default();
    for line in [
        format!("{} - an IRC-compatible chat server written in Rust", super::registration::VERSION),
        "Source and documentation: see README.md and docs/ in the banter repository.".to_owned(),
        format!("Up since {started}"),
    ] {
        ctx.numeric(RPL_INFO, &[&line]);
    }
    ctx.numeric(RPL_ENDOFINFO, &[]);
    Ok(())
}

/// ADMIN `[server]`.
pub fn admin(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    local_only(ctx, msg, 0)?;
    let cfg = ctx.server.config();
    ctx.numeric(RPL_ADMINME, &[&cfg.server.name]);
    ctx.numeric(RPL_ADMINLOC1, &[&cfg.server.description]);
    ctx.numeric(RPL_ADMINLOC2, &[&format!("Network {}", cfg.server.network)]);
    ctx.numeric(RPL_ADMINEMAIL, &[&cfg.server.admin_email]);
    Ok(())
}

/// LINKS: this server, and the other nodes of its cluster.
pub fn links(ctx: &mut Ctx, _msg: &Message<'_>) -> HandlerResult {
    let cfg = ctx.server.config();
    let name = cfg.server.name.clone();
    ctx.numeric(RPL_LINKS, &[&name, &name, &format!("0 {}", cfg.server.description)]);
    // The other nodes of a cluster, one hop away (through Redis).
    let others = ctx.server.cluster().map(|c| c.other_servers()).unwrap_or_default();
    for (other, description) in others {
        ctx.numeric(RPL_LINKS, &[&other, &name, &format!("1 {description}")]);
    }
    ctx.numeric(RPL_ENDOFLINKS, &["*"]);
    Ok(())
}

/// STATS `letter`: `u` uptime; other letters just end the report.
pub fn stats(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let letter = msg.param(0).chars().next().unwrap_or('*');
    if letter == 'u' {
        let up = chrono::Utc::now().timestamp() - ctx.server.started;
        let text =
            format!("Server Up {} days {}:{:02}:{:02}", up / 86400, (up % 86400) / 3600, (up % 3600) / 60, up % 60);
        ctx.numeric(RPL_STATSUPTIME, &[&text]);
    }
    ctx.numeric(RPL_ENDOFSTATS, &[&letter.to_string()]);
    Ok(())
}
