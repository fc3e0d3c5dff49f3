//! MONITOR: online/offline notifications for a list of nicks.

use super::{Ctx, HandlerResult};
use crate::proto::numeric::*;
use crate::proto::Message;
use crate::state::monitor::{clear, unwatch};

/// MONITOR `+ nicks` | `- nicks` | `C` | `L` | `S`.
pub fn monitor(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let sub = msg.param(0);
    let limit = ctx.server.config().limits.monitor_entries;
    match sub {
        "+" => {
            let mut online = Vec::new();
            let mut offline = Vec::new();
            for nick in msg.param(1).split(',').filter(|n| !n.is_empty()) {
                let folded = ctx.server.fold(nick);
                let added = {
                    let mut info = ctx.client.info_mut();
                    if info.monitoring.len() >= limit && !info.monitoring.contains(&folded) {
                        false
                    } else {
                        info.monitoring.insert(folded.clone());
                        true
                    }
                };
                if !added {
                    let rest = msg.param(1);
                    ctx.numeric(ERR_MONLISTFULL, &[&limit.to_string(), rest]);
                    break;
                }
                ctx.server.monitors.entry(folded).or_default().insert(ctx.client.id);
                match ctx.server.find_user(nick) {
                    Some(c) => online.push(c),
                    None => offline.push(nick.to_owned()),
                }
            }
            let masks: Vec<String> = online.iter().map(|c| c.mask()).collect();
            ctx.numeric_list(RPL_MONONLINE, &[], &masks, ",");
            for c in &online {
                super::metadata::monitor_sync(ctx, c);
            }
            ctx.numeric_list(RPL_MONOFFLINE, &[], &offline, ",");
        }
        "-" => {
            for nick in msg.param(1).split(',').filter(|n| !n.is_empty()) {
                let folded = ctx.server.fold(nick);
                ctx.client.info_mut().monitoring.remove(&folded);
                unwatch(&ctx.server, &folded, ctx.client.id);
            }
        }
        "C" | "c" => clear(&ctx.server, &ctx.client),
        "L" | "l" => {
            let list: Vec<String> = ctx.client.info().monitoring.iter().cloned().collect();
            ctx.numeric_list(RPL_MONLIST, &[], &list, ",");
            ctx.numeric(RPL_ENDOFMONLIST, &[]);
        }
        "S" | "s" => {
            let list: Vec<String> = ctx.client.info().monitoring.iter().cloned().collect();
            let (mut on, mut off) = (Vec::new(), Vec::new());
            for n in list {
                match ctx.server.find_user(&n) {
                    Some(c) => on.push(c.mask()),
                    None => off.push(n),
                }
            }
            ctx.numeric_list(RPL_MONONLINE, &[], &on, ",");
            ctx.numeric_list(RPL_MONOFFLINE, &[], &off, ",");
        }
        _ => {}
    }
    Ok(())
}
