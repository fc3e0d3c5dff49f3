//! ChanServ: channel registration. `/msg ChanServ <command> ...` or `/CS ...`.
//!
//! A registered channel has a founder (an account) and an access list (AMODE)
//! of accounts that get `+o` or `+v` on join; it outlives its last member and
//! is kept on disk with its topic, modes and lists (see `state::persist`).
//! Every answer is a NOTICE from ChanServ; a change is answered once it is
//! committed to the store.

use super::notice;
use crate::commands::channel::member_modes;
use crate::commands::Ctx;
use crate::proto::line::Line;
use crate::state::channel::{Channel, MemberModes};
use crate::state::client::Client;
use crate::state::registration::RegistrationChange;
use crate::state::sequencer::{self, Outcome};
use crate::store::{AccessMode, ChangeOutcome, ChannelChange, Registration};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// ChanServ's nick.
pub const NICK: &str = "ChanServ";

type Reply = Result<(), String>;
type Handler = for<'a> fn(&'a mut Ctx, &'a [&'a str]) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

/// One ChanServ command: its name, parameters needed, usage and help.
struct Command {
    name: &'static str,
    min_params: usize,
    usage: &'static str,
    help: &'static str,
    handler: Handler,
}

/// ChanServ's command table.
static COMMANDS: &[Command] = &[
    Command {
        name: "REGISTER",
        min_params: 1,
        usage: "REGISTER <#channel>",
        help: "Registers a channel you are an operator of to your account; you become its founder. \
               It is kept, with its topic, modes and lists, when empty and across restarts.",
        handler: |c, a| Box::pin(register(c, a)),
    },
    Command {
        name: "DROP",
        min_params: 1,
        usage: "DROP <#channel>",
        help: "Unregisters a channel (founder or IRC operator). It is forgotten once empty.",
        handler: |c, a| Box::pin(drop_channel(c, a)),
    },
    Command {
        name: "INFO",
        min_params: 1,
        usage: "INFO <#channel>",
        help: "Shows a channel's founder and registration and creation times.",
        handler: |c, a| Box::pin(async move { info(c, a) }),
    },
    Command {
        name: "OP",
        min_params: 1,
        usage: "OP <#channel> [nick]",
        help: "Gives +o to you or to nick (founder or AMODE +o; yourself with AMODE +o).",
        handler: |c, a| Box::pin(status(c, a, 'o', true)),
    },
    Command {
        name: "DEOP",
        min_params: 1,
        usage: "DEOP <#channel> [nick]",
        help: "Takes +o from you or from nick (founder or AMODE +o; anyone for themselves).",
        handler: |c, a| Box::pin(status(c, a, 'o', false)),
    },
    Command {
        name: "VOICE",
        min_params: 1,
        usage: "VOICE <#channel> [nick]",
        help: "Gives +v to you or to nick (founder or AMODE +o; yourself with AMODE +v).",
        handler: |c, a| Box::pin(status(c, a, 'v', true)),
    },
    Command {
        name: "DEVOICE",
        min_params: 1,
        usage: "DEVOICE <#channel> [nick]",
        help: "Takes +v from you or from nick (founder or AMODE +o; anyone for themselves).",
        handler: |c, a| Box::pin(status(c, a, 'v', false)),
    },
    Command {
        name: "AMODE",
        min_params: 1,
        usage: "AMODE <#channel> [+o|+v|-o|-v account]",
        help: "Lists the accounts that get +o or +v on join, or (founder) adds or removes one.",
        handler: |c, a| Box::pin(amode(c, a)),
    },
    Command {
        name: "TRANSFER",
        min_params: 2,
        usage: "TRANSFER <#channel> <account>",
        help: "Makes another account the founder (founder or IRC operator).",
        handler: |c, a| Box::pin(transfer(c, a)),
    },
    Command {
        name: "HELP",
        min_params: 0,
        usage: "HELP [command]",
        help: "Lists the commands, or explains one.",
        handler: |c, a| Box::pin(async move { help(c, a) }),
    },
];

/// Handles one message to ChanServ.
pub async fn handle(ctx: &mut Ctx, text: &str) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(name) = words.first() else {
        notice(ctx, NICK, "Say /msg ChanServ HELP for the commands.");
        return;
    };
    let Some(cmd) = COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name)) else {
        let text = format!("Unknown command {name}. Say /msg ChanServ HELP for the commands.");
        notice(ctx, NICK, &text);
        return;
    };
    let args = &words[1..];
    if args.len() < cmd.min_params {
        notice(ctx, NICK, &format!("Not enough parameters. Usage: {}", cmd.usage));
        return;
    }
    if !ctx.server.config().chanserv.enabled && cmd.name != "HELP" {
        notice(ctx, NICK, "Channel registration is turned off on this server.");
        return;
    }
    if let Err(text) = (cmd.handler)(ctx, args).await {
        notice(ctx, NICK, &text);
    }
}

fn help(ctx: &mut Ctx, args: &[&str]) -> Reply {
    if let Some(name) = args.first() {
        let Some(cmd) = COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name)) else {
            return Err(format!("No help for {name}. Say /msg ChanServ HELP for the commands."));
        };
        notice(ctx, NICK, &format!("Usage: {}", cmd.usage));
        notice(ctx, NICK, cmd.help);
        return Ok(());
    }
    notice(ctx, NICK, "ChanServ registers channels: a registered channel keeps its topic, modes and lists");
    notice(ctx, NICK, "when empty and across restarts, and gives its founder and AMODE accounts their status.");
    for cmd in COMMANDS {
        notice(ctx, NICK, &format!("  {:<40} {}", cmd.usage, first_sentence(cmd.help)));
    }
    notice(ctx, NICK, "Say /msg ChanServ HELP <command> for more; /CS <command> works too.");
    Ok(())
}

fn first_sentence(text: &str) -> &str {
    text.split_once(". ").map_or(text, |(s, _)| s)
}

/// The logged-in account of the client, or an error telling how to log in.
fn account_of(client: &Client) -> Result<String, String> {
    client.info().account.clone().ok_or_else(|| {
        "You must be logged in to do that: log in with SASL or PASS account:password, \
         or create an account with REGISTER <name> * <password>."
            .to_owned()
    })
}

/// The channel named by `name`, or an error.
fn channel(ctx: &Ctx, name: &str) -> Result<Arc<Channel>, String> {
    ctx.server.find_channel(name).ok_or_else(|| format!("{name} does not exist. JOIN it first to create it."))
}

/// The registration of `ch`, or an error saying it is not registered.
fn registration(ch: &Channel) -> Result<Registration, String> {
    ch.read().registration.as_deref().cloned().ok_or_else(|| {
        format!("{} is not registered. An operator can register it with /msg ChanServ REGISTER {}.", ch.name, ch.name)
    })
}

/// Whether the client is the founder (or an IRC operator, who may act as one).
fn is_founder(ctx: &Ctx, reg: &Registration) -> bool {
    ctx.client.is_oper() || ctx.client.info().account.as_deref().is_some_and(|a| ctx.server.casemap.eq(a, &reg.founder))
}

/// The client's AMODE standing in a registration (the founder counts as `+o`).
fn standing(ctx: &Ctx, reg: &Registration) -> Option<AccessMode> {
    if is_founder(ctx, reg) {
        return Some(AccessMode::Op);
    }
    let account = ctx.client.info().account.clone()?;
    reg.access.iter().find(|a| ctx.server.casemap.eq(&a.account, &account)).map(|a| a.mode)
}

/// Channels founded by `account`.
fn founded_by(ctx: &Ctx, account: &str) -> usize {
    ctx.server
        .channels
        .iter()
        .filter(|e| {
            let st = e.value().read();
            st.registration.as_ref().is_some_and(|r| ctx.server.casemap.eq(&r.founder, account))
        })
        .count()
}

async fn register(ctx: &mut Ctx, args: &[&str]) -> Reply {
    let account = account_of(&ctx.client)?;
    let ch = channel(ctx, args[0])?;
    let name = ch.name.clone();
    let modes = ch.read().members.get(&ctx.client.id).map(|m| m.modes);
    match modes {
        None => return Err(format!("You must be in {name} to register it: JOIN {name} first.")),
        Some(m) if !m.op => return Err(format!("You must be a channel operator (@) in {name} to register it.")),
        Some(_) => {}
    }
    let max = ctx.server.config().chanserv.max_channels_per_account;
    if founded_by(ctx, &account) >= max {
        return Err(too_many(max));
    }
    let registered_at = chrono::Utc::now().timestamp();
    let ack = {
        let mut st = ch.write();
        if let Some(r) = &st.registration {
            return Err(format!("{name} is already registered to {}.", r.founder));
        }
        if st.registering {
            return Err(being_registered(&name));
        }
        st.registering = true;
        // The store decides the registration; the channel is registered here
        // (and on the other nodes) only once it has, where the log puts it.
        // Queued under the write lock: no other change to this channel can
        // reach the store before the registration does.
        let at = ctx.server.log_at();
        let mut record = crate::state::persist::record_of(&ch, &st, ctx.server.fold(&name), at);
        record.registration = Some(Registration { founder: account.clone(), registered_at, access: Vec::new() });
        ctx.server.submit_channel_change(ChannelChange::Register { record, max_per_account: max })
    };
    // Made with no await since the flag was set: it is cleared however this
    // ends, after the registration is applied (no AMODE, TRANSFER or DROP of
    // this channel goes into the log before it).
    let _pending = Registering(ch.clone());
    let outcome = match ack {
        Some(ack) => ack.await.unwrap_or_else(|_| Err("the channel store stopped".into())),
        None => Ok(ChangeOutcome::Done),
    };
    if outcome != Ok(ChangeOutcome::Done) {
        return Err(match outcome {
            Ok(ChangeOutcome::TooMany) => too_many(max),
            Ok(_) => format!("{name} is already registered."),
            Err(_) => format!("{name} could not be registered: the database failed. Try again later."),
        });
    }
    in_order(ctx, &ch, RegistrationChange::Register { founder: account.clone(), at: registered_at }).await?;
    // Saved again as it is now: a TOPIC or MODE made while the store decided
    // was not saved then (the channel was not yet registered). Looked up
    // again: emptied meanwhile, it was made anew by the registration.
    if let Some(ch) = ctx.server.find_channel(&name) {
        let ack = ctx.server.persist_channel(&ch);
        ctx.commit("CS", ack);
    }
    tracing::info!(channel = %name, %account, "channel registered");
    notice(ctx, NICK, &format!("{name} is now registered to your account {account}."));
    Ok(())
}

/// Makes `change` of `ch`'s registration (REGISTER once the store took it,
/// DROP, AMODE, TRANSFER) through the
/// sequencer: at once on a single node; on a node of a cluster where the
/// log has it, on every node alike (an access grant lets its account's
/// JOINs past the channel's modes, so it must be decided in the same place
/// everywhere). The caller then saves the channel.
async fn in_order(ctx: &Ctx, ch: &Channel, change: RegistrationChange) -> Result<(), String> {
    let event = crate::cluster::Event::Registration {
        node: sequencer::origin(&ctx.server),
        chan: ch.name.clone(),
        change,
        id: sequencer::token(&ctx.server),
    };
    match sequencer::in_order(&ctx.server, event, None).await {
        Outcome::Unconfirmed => {
            Err(format!("The network did not confirm the change to {} in time: try again shortly.", ch.name))
        }
        _ => Ok(()),
    }
}

/// Clears [`crate::state::channel::ChannelState::registering`] when dropped,
/// however REGISTER ends (the client's connection may close while it waits
/// for the store).
struct Registering(Arc<Channel>);

impl Drop for Registering {
    fn drop(&mut self) {
        self.0.write().registering = false;
    }
}

/// The refusal of a registration change while REGISTER waits for the store.
fn being_registered(name: &str) -> String {
    format!("{name} is being registered right now. Try again in a moment.")
}

fn too_many(max: usize) -> String {
    format!("You have registered {max} channels, the most allowed. DROP one first (/msg ChanServ DROP <#channel>).")
}

async fn drop_channel(ctx: &mut Ctx, args: &[&str]) -> Reply {
    let ch = channel(ctx, args[0])?;
    let reg = registration(&ch)?;
    if !is_founder(ctx, &reg) {
        return Err(format!("Only the founder of {} ({}) can drop it.", ch.name, reg.founder));
    }
    if ch.read().registering {
        return Err(being_registered(&ch.name));
    }
    in_order(ctx, &ch, RegistrationChange::Drop).await?;
    let ack = ctx.server.persist_channel(&ch);
    ctx.commit("CS", ack);
    ctx.server.remove_channel_if_empty(&ch);
    tracing::info!(channel = %ch.name, "channel dropped");
    notice(ctx, NICK, &format!("{} is no longer registered.", ch.name));
    Ok(())
}

fn info(ctx: &mut Ctx, args: &[&str]) -> Reply {
    let ch = channel(ctx, args[0])?;
    let hidden = {
        let st = ch.read();
        st.modes.secret && !st.members.contains_key(&ctx.client.id) && !ctx.client.is_oper()
    };
    if hidden {
        return Err(format!("{} does not exist. JOIN it first to create it.", args[0]));
    }
    let reg = registration(&ch)?;
    let date = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc2822()).unwrap_or_default();
    notice(ctx, NICK, &format!("Information on {}:", ch.name));
    notice(ctx, NICK, &format!("Founder: {}", reg.founder));
    notice(ctx, NICK, &format!("Registered: {}", date(reg.registered_at)));
    notice(ctx, NICK, &format!("Created: {}", date(ch.created)));
    let ops = reg.access.iter().filter(|a| a.mode == AccessMode::Op).count();
    notice(
        ctx,
        NICK,
        &format!("Access list: {ops} +o, {} +v (/msg ChanServ AMODE {})", reg.access.len() - ops, ch.name),
    );
    Ok(())
}

/// OP/DEOP/VOICE/DEVOICE: gives or takes `mode` (`o` or `v`).
async fn status(ctx: &mut Ctx, args: &[&str], mode: char, give: bool) -> Reply {
    let ch = channel(ctx, args[0])?;
    let reg = registration(&ch)?;
    let target = match args.get(1) {
        Some(nick) => ctx.server.find_user(nick).ok_or_else(|| format!("{nick} is not online."))?,
        None => ctx.client.clone(),
    };
    let me = target.id == ctx.client.id;
    let standing = standing(ctx, &reg);
    let allowed = match (standing, me, give) {
        (Some(AccessMode::Op), _, _) => true,
        (_, true, false) => true,
        (Some(AccessMode::Voice), true, true) => mode == 'v',
        _ => false,
    };
    if !allowed {
        return Err(format!(
            "You may not do that in {}: it needs the founder or an AMODE +o account{}.",
            ch.name,
            if mode == 'v' && me { " (or AMODE +v for yourself)" } else { "" }
        ));
    }
    let nick = target.nick();
    let Some(now) = member_modes(&ch, &target) else { return Err(format!("{nick} is not in {}.", ch.name)) };
    if (if mode == 'o' { now.op } else { now.voice }) != give {
        set_mode(ctx, &ch, give, mode, &target).await;
    }
    Ok(())
}

/// `MODE #channel +o|-o|+v|-v <nick>` from ChanServ, a sequenced change
/// (see [`crate::state::sequencer`]): every member sees it, on every node of
/// a cluster in the log's order.
async fn set_mode(ctx: &Ctx, ch: &Channel, add: bool, mode: char, member: &Client) {
    let to = Some(sequencer::address(&ctx.server, member));
    let changes = vec![crate::cluster::ModeChange { add, mode, arg: Some(member.nick()), to }];
    let line = Line::new(super::source(&ctx.server, NICK), "MODE", Vec::new()).timed();
    let msgid = ctx.server.next_msgid_at(line.time_ms());
    let line = line.tag("msgid", msgid, crate::caps::Cap::MessageTags);
    let event = crate::cluster::Event::Mode {
        node: sequencer::origin(&ctx.server),
        uid: None,
        chan: ch.name.clone(),
        line: crate::cluster::WireLine::of(&line),
        at: chrono::Utc::now().timestamp(),
        changes,
    };
    if let sequencer::Outcome::Unconfirmed = sequencer::in_order(&ctx.server, event, None).await {
        tracing::warn!(channel = %ch.name, "ChanServ: a mode change was not confirmed by the network in time");
    }
}

async fn amode(ctx: &mut Ctx, args: &[&str]) -> Reply {
    let ch = channel(ctx, args[0])?;
    let reg = registration(&ch)?;
    let Some(change) = args.get(1) else {
        notice(ctx, NICK, &format!("Access list of {}:", ch.name));
        notice(ctx, NICK, &format!("  {} +o (founder)", reg.founder));
        for a in &reg.access {
            notice(ctx, NICK, &format!("  {} +{}", a.account, a.mode.letter()));
        }
        notice(ctx, NICK, "End of the access list.");
        return Ok(());
    };
    let usage = || "Usage: AMODE <#channel> [+o|+v|-o|-v account]".to_owned();
    let mut chars = change.chars();
    let (sign, letter) = (chars.next(), chars.next().and_then(AccessMode::from_letter));
    let (Some(sign @ ('+' | '-')), Some(mode), None) = (sign, letter, chars.next()) else { return Err(usage()) };
    let Some(account) = args.get(2) else { return Err(usage()) };
    if !is_founder(ctx, &reg) {
        return Err(format!("Only the founder of {} ({}) can change its access list.", ch.name, reg.founder));
    }
    if sign == '+' && !ctx.server.accounts.exists(account) {
        return Err(format!("There is no account {account}."));
    }
    let max = ctx.server.config().limits.max_list_entries;
    let casemap = ctx.server.casemap;
    let change =
        RegistrationChange::Access { account: (*account).to_owned(), mode: (sign == '+').then(|| mode.letter()) };
    {
        let st = ch.read();
        if st.registering {
            return Err(being_registered(&ch.name));
        }
        let Some(reg) = st.registration.as_ref() else { return Err(format!("{} is not registered.", ch.name)) };
        let pos = reg.access.iter().position(|a| casemap.eq(&a.account, account));
        match (sign, pos) {
            ('+', None) if reg.access.len() >= max => {
                return Err(format!("The access list of {} is full ({max}).", ch.name))
            }
            ('+', _) => {}
            (_, Some(i)) if reg.access[i].mode == mode => {}
            _ => return Err(format!("{account} does not have +{} in {}.", mode.letter(), ch.name)),
        }
    }
    in_order(ctx, &ch, change).await?;
    let ack = ctx.server.persist_channel(&ch);
    ctx.commit("CS", ack);
    if sign == '+' {
        apply_to_members(ctx, &ch, account, mode).await;
    }
    let text = if sign == '+' {
        format!("{account} now gets +{} on joining {}.", mode.letter(), ch.name)
    } else {
        format!("{account} no longer gets +{} on joining {}.", mode.letter(), ch.name)
    };
    notice(ctx, NICK, &text);
    Ok(())
}

/// Gives `mode` now to the members logged in as `account`.
async fn apply_to_members(ctx: &Ctx, ch: &Channel, account: &str, mode: AccessMode) {
    let casemap = ctx.server.casemap;
    let lacking: Vec<Arc<Client>> = {
        let st = ch.read();
        let lacks = |m: &MemberModes| match mode {
            AccessMode::Op => !m.op,
            AccessMode::Voice => !m.voice,
        };
        st.members
            .values()
            .filter(|m| lacks(&m.modes) && m.client.info().account.as_deref().is_some_and(|a| casemap.eq(a, account)))
            .map(|m| m.client.clone())
            .collect()
    };
    for member in lacking {
        set_mode(ctx, ch, true, mode.letter(), &member).await;
    }
}

async fn transfer(ctx: &mut Ctx, args: &[&str]) -> Reply {
    let ch = channel(ctx, args[0])?;
    let reg = registration(&ch)?;
    let account = args[1];
    if !is_founder(ctx, &reg) {
        return Err(format!("Only the founder of {} ({}) can transfer it.", ch.name, reg.founder));
    }
    if !ctx.server.accounts.exists(account) {
        return Err(format!("There is no account {account}."));
    }
    let max = ctx.server.config().chanserv.max_channels_per_account;
    if founded_by(ctx, account) >= max {
        return Err(format!("{account} has registered {max} channels, the most allowed."));
    }
    let change = RegistrationChange::Founder { account: (*account).to_owned() };
    {
        let st = ch.read();
        if st.registration.is_none() {
            return Err(format!("{} is not registered.", ch.name));
        }
        if st.registering {
            return Err(being_registered(&ch.name));
        }
    }
    in_order(ctx, &ch, change).await?;
    let ack = ctx.server.persist_channel(&ch);
    ctx.commit("CS", ack);
    tracing::info!(channel = %ch.name, founder = account, "channel transferred");
    notice(ctx, NICK, &format!("{} now belongs to {account}.", ch.name));
    Ok(())
}
