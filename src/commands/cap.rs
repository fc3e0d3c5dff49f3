//! CAP negotiation (IRCv3 capability negotiation, versions 301 and 302).

use super::{err, Ctx, HandlerResult};
use crate::caps::{self, Cap};
use crate::proto::line::{pack, room_for_text, Line};
use crate::proto::numeric::ERR_INVALIDCAPCMD;
use crate::proto::Message;

/// CAP LS / LIST / REQ / END.
pub fn cap(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let sub = msg.param(0).to_ascii_uppercase();
    let registered = ctx.client.is_registered();
    match sub.as_str() {
        "LS" => {
            if !registered {
                ctx.conn.cap_negotiating = true;
            }
            let version: u32 = msg.param(1).parse().unwrap_or(0);
            if version >= 302 {
                ctx.conn.cap_version = 302;
                // cap-notify is implied by 302
                ctx.link.set_caps(ctx.link.caps().with(Cap::CapNotify));
            } else if ctx.conn.cap_version == 0 {
                ctx.conn.cap_version = 301;
            }
            let cfg = ctx.server.config();
            let entries = caps::ls_entries(&cfg, ctx.conn.cap_version >= 302);
            send_list(ctx, "LS", &entries);
        }
        "LIST" => {
            let names: Vec<String> = ctx.link.caps().iter().map(|c| c.name().to_owned()).collect();
            send_list(ctx, "LIST", &names);
        }
        "REQ" => {
            if !registered {
                ctx.conn.cap_negotiating = true;
            }
            let requested = msg.param(1);
            let cfg = ctx.server.config();
            let mut set = ctx.link.caps();
            let mut ok = true;
            for word in requested.split(' ').filter(|w| !w.is_empty()) {
                let (remove, name) = match word.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, word),
                };
                match Cap::from_name(name) {
                    Some(c) if c.offered(&cfg) => {
                        if remove && c == Cap::CapNotify && ctx.conn.cap_version >= 302 {
                            ok = false;
                            break;
                        }
                        set = if remove { set.without(c) } else { set.with(c) };
                    }
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
            let verdict = if ok { "ACK" } else { "NAK" };
            if ok {
                ctx.link.set_caps(set);
                if !set.has(Cap::Metadata) {
                    // draft/metadata-3: dropping the capability drops the subscriptions.
                    ctx.client.info_mut().metadata.subs.clear();
                }
            }
            reply(ctx, vec![verdict.to_owned(), requested.to_owned()]);
        }
        "END" => {
            ctx.conn.cap_negotiating = false;
            if !registered && ctx.conn.sasl.take().is_some() {
                ctx.numeric(crate::proto::numeric::ERR_SASLABORTED, &[]);
            }
        }
        _ => return err(ERR_INVALIDCAPCMD, &[msg.param(0)]),
    }
    Ok(())
}

fn reply(ctx: &mut Ctx, params: Vec<String>) {
    let mut all = vec![ctx.client.nick()];
    all.extend(params);
    let line = Line::new(ctx.server_name(), "CAP", all);
    ctx.reply(line);
}

/// Sends a CAP LS/LIST reply, split over several lines with `*` for 302
/// clients (older ones get one line: they know no continuation).
fn send_list(ctx: &mut Ctx, sub: &str, entries: &[String]) {
    let nick = ctx.client.nick();
    let room = room_for_text(&ctx.server_name(), "CAP", [nick.as_str(), sub, "*"]);
    let mut chunks = pack(entries, " ", room);
    if chunks.is_empty() {
        chunks.push(String::new());
    }
    let multi = ctx.conn.cap_version >= 302;
    let n = chunks.len();
    if !multi {
        reply(ctx, vec![sub.to_owned(), chunks.join(" ")]);
        return;
    }
    for (i, c) in chunks.into_iter().enumerate() {
        let mut p = vec![sub.to_owned()];
        if i + 1 < n {
            p.push("*".to_owned());
        }
        p.push(c);
        reply(ctx, p);
    }
}
