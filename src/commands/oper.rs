//! Operator commands: OPER, KILL, WALLOPS, REHASH, DIE, RESTART.

use super::{err, fail, BoxFuture, Ctx, HandlerResult};
use crate::proto::line::Line;
use crate::proto::numeric::*;
use crate::proto::{Message, OwnedMessage};
use crate::state::fanout;
use std::sync::atomic::Ordering;

/// OPER `name password`: checked against the `[[oper]]` blocks (argon2id off-thread).
pub fn oper(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let cfg = ctx.server.config();
        let (name, password) = (msg.params[0].clone(), msg.params[1].clone());
        let origin = ctx.origin();
        let who = ctx.client.mask();
        match ctx.server.accounts.check_oper(&cfg, &name, &password, origin).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(client = ctx.client.id, %who, from = %origin.key, oper = %name, "failed OPER");
                return err(ERR_PASSWDMISMATCH, &[]);
            }
            Err(e) => {
                tracing::warn!(client = ctx.client.id, %who, from = %origin.key, oper = %name, reason = %e.text(), "OPER refused");
                return fail("OPER", "TEMPORARILY_UNAVAILABLE", &[&name], &e.text());
            }
        }
        let was = {
            let mut info = ctx.client.info_mut();
            let was = info.modes.oper;
            info.modes.oper = true;
            info.oper_name = Some(name.clone());
            was
        };
        if !was {
            ctx.server.oper_count.fetch_add(1, Ordering::Relaxed);
            crate::cluster::user_modes(&ctx.server, &ctx.client, "+o");
        }
        ctx.numeric(RPL_YOUREOPER, &[]);
        let nick = ctx.client.nick();
        ctx.reply(Line::new(nick.clone(), "MODE", vec![nick, "+o".into()]));
        tracing::info!(client = ctx.client.id, oper = %name, "opered up");
        Ok(())
    })
}

/// KILL `nick [:reason]`.
pub fn kill(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let target = msg.param(0);
    let Some(victim) = ctx.server.find_user(target) else { return err(ERR_NOSUCHNICK, &[target]) };
    let killer = ctx.client.nick();
    let reason = if msg.param(1).is_empty() { "No reason given" } else { msg.param(1) };
    let line = ctx.client.line("KILL", vec![victim.nick(), reason.to_owned()]);
    let quit = format!("Killed ({killer} ({reason}))");
    if !crate::cluster::killed(&ctx.server, &ctx.client, &victim, &line, &quit) {
        fanout::to_client(&victim, &line);
        crate::state::session::close_all(&victim, &quit);
    }
    tracing::info!(by = %killer, victim = %victim.nick(), reason, "KILL");
    Ok(())
}

/// WALLOPS `:text`: to every user with `+w`.
pub fn wallops(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let line = ctx.client.line("WALLOPS", vec![msg.param(0).to_owned()]);
    let targets: Vec<_> = ctx.server.clients.iter().map(|c| c.value().clone()).collect();
    fanout::to_clients(&targets, &line, |c, _| c.is_registered() && c.info().modes.wallops);
    crate::cluster::wallops(&ctx.server, &ctx.client, &line);
    Ok(())
}

/// REHASH: reload the config file.
pub fn rehash(ctx: &mut Ctx, _msg: &Message<'_>) -> HandlerResult {
    let Some(path) = ctx.server.config_path().map(std::path::Path::to_path_buf) else {
        ctx.standard_reply("FAIL", "REHASH", "NO_CONFIG_FILE", &[], "The server runs on built-in defaults");
        return Ok(());
    };
    match ctx.server.rehash() {
        Ok(()) => {
            ctx.numeric(RPL_REHASHING, &[&path.display().to_string()]);
            tracing::info!(by = %ctx.client.nick(), path = %path.display(), "configuration reloaded (REHASH)");
        }
        Err(e) => {
            tracing::warn!(by = %ctx.client.nick(), error = %e, "REHASH rejected the new configuration; the old one stays");
            ctx.standard_reply("FAIL", "REHASH", "INVALID_CONFIG", &[], &e);
        }
    }
    Ok(())
}

/// DIE: shut down, when `server.allow_die` is set.
pub fn die(ctx: &mut Ctx, _msg: &Message<'_>) -> HandlerResult {
    if !ctx.server.config().server.allow_die {
        return err(ERR_NOPRIVILEGES, &[]);
    }
    tracing::warn!(by = %ctx.client.nick(), "DIE");
    ctx.server.begin_shutdown();
    Ok(())
}

/// RESTART: shut down and start again, when `server.allow_restart` is set.
pub fn restart(ctx: &mut Ctx, _msg: &Message<'_>) -> HandlerResult {
    if !ctx.server.config().server.allow_restart {
        return err(ERR_NOPRIVILEGES, &[]);
    }
    tracing::warn!(by = %ctx.client.nick(), "RESTART");
    ctx.server.restart_requested.store(true, Ordering::Relaxed);
    ctx.server.begin_shutdown();
    Ok(())
}
