//! Services: pseudo-clients that users talk to with `PRIVMSG`, as on other
//! networks: [`chanserv`] and [`nickserv`]. A service is not a connection: its nick
//! is reserved (nobody can take it, so it cannot be killed or kicked either),
//! WHOIS describes it, and messages to it are handled after the command that
//! carried them, asynchronously (`Ctx::settle`), so a service may wait on the
//! store before it answers.

pub mod chanserv;
pub mod nickserv;

use crate::commands::{Ctx, HandlerResult};
use crate::proto::line::Line;
use crate::proto::Message;
use crate::state::Server;

/// The services, by nick.
pub const SERVICES: &[&str] = &[chanserv::NICK, nickserv::NICK];

/// The service called `nick` (any case), if there is one.
pub fn lookup(server: &Server, nick: &str) -> Option<&'static str> {
    SERVICES.iter().copied().find(|s| server.casemap.eq(s, nick))
}

/// The `nick!user@host` a service speaks as.
pub fn source(server: &Server, nick: &str) -> String {
    format!("{nick}!{nick}@services.{}", server.config().server.name)
}

/// Queues a NOTICE from `service` to the client.
pub fn notice(ctx: &mut Ctx, service: &str, text: &str) {
    let line = Line::new(source(&ctx.server, service), "NOTICE", vec![ctx.client.nick(), text.to_owned()]);
    ctx.reply(line);
}

/// Queues `text` for `service`; it runs once the current command is handled.
pub fn queue(ctx: &mut Ctx, service: &'static str, text: &str) {
    ctx.waits.get_or_insert_with(Default::default).services.push((service.to_owned(), text.to_owned()));
}

/// Runs a message `text` sent to `service`.
pub async fn handle(ctx: &mut Ctx, service: &str, text: &str) {
    if service == chanserv::NICK {
        chanserv::handle(ctx, text).await;
    } else if service == nickserv::NICK {
        nickserv::handle(ctx, text).await;
    }
}

/// `NS` / `NICKSERV <command> [params]`: the same as `PRIVMSG NickServ :...`.
pub fn ns(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    queue(ctx, nickserv::NICK, &msg.params.join(" "));
    Ok(())
}

/// `CS` / `CHANSERV <command> [params]`: the same as `PRIVMSG ChanServ :...`.
pub fn cs(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    queue(ctx, chanserv::NICK, &msg.params.join(" "));
    Ok(())
}
