//! Channel membership: JOIN, PART, KICK, INVITE, TOPIC.

use super::sequenced::{in_order_or_report, now_or_report, sequence_in_order, sequence_now, Change};
use super::{err, err_because, BoxFuture, CmdError, Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::line::Line;
use crate::proto::numeric::*;
use crate::proto::{Message, OwnedMessage};
use crate::state::channel::{Channel, ChannelState, MemberModes};
use crate::state::client::{Client, ClientId};
use crate::state::{extban, fanout, sequencer, RenameError, Server};
use std::sync::Arc;

pub use super::listing::{list, names};

pub use crate::proto::names::valid_channel;

/// Whether `client` matches any entry in `list` (masks and account extbans, or
/// with `mutes` only the `m:` mute extbans).
fn listed_as(server: &Server, list: &[crate::state::channel::ListEntry], client: &Client, mutes: bool) -> bool {
    let m = client.mask();
    let account = client.info().account.clone();
    list.iter().any(|e| extban::matches(server.casemap, &e.mask, &m, account.as_deref(), mutes))
}

fn listed(server: &Server, list: &[crate::state::channel::ListEntry], client: &Client) -> bool {
    listed_as(server, list, client, false)
}

/// Whether `client` is banned from a channel (a ban without a matching exception).
pub fn is_banned(server: &Server, st: &ChannelState, client: &Client) -> bool {
    !st.bans.is_empty() && listed(server, &st.bans, client) && !listed(server, &st.excepts, client)
}

/// Whether `client` is muted in a channel (an `m:` ban without a matching exception).
pub fn is_muted(server: &Server, st: &ChannelState, client: &Client) -> bool {
    !st.bans.is_empty()
        && listed_as(server, &st.bans, client, true)
        && !listed(server, &st.excepts, client)
        && !listed_as(server, &st.excepts, client, true)
}

/// JOIN `#a,#b [keys]`, or `JOIN 0` to leave every channel.
pub fn join(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let (targets, keys) = (msg.param(0), msg.param(1));
    if targets == "0" {
        let channels = ctx.client.info().channels.clone();
        for ch in channels {
            let decided = part_change(ctx, &ch.name, LEFT_ALL);
            now_or_report(ctx, decided);
        }
        return Ok(());
    }
    for (name, key) in join_targets(targets, keys) {
        match join_change(ctx, name, key) {
            Ok(Some((change, overridden))) => match sequence_now(ctx, change) {
                Ok(shown) => joined(ctx, shown, overridden),
                Err(e) => ctx.report(e),
            },
            Ok(None) => {}
            Err(e) => ctx.report(e),
        }
    }
    Ok(())
}

/// JOIN on a node of a cluster: each join waits until every change the log
/// holds before it is applied here (see [`sequencer`]); the first JOIN in
/// the log to find a channel empty creates it, with ops, on every node. A
/// channel new here is also claimed in Redis for this node (see
/// [`crate::cluster::claim_channel`]: RENAME keeps names unique by it).
pub fn join_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let (targets, keys) = (msg.params[0].as_str(), msg.params.get(1).map_or("", String::as_str));
        if targets == "0" {
            let channels = ctx.client.info().channels.clone();
            for ch in channels {
                let decided = part_change(ctx, &ch.name, LEFT_ALL);
                in_order_or_report(ctx, decided).await;
            }
            return Ok(());
        }
        let mut claimed: Vec<String> = Vec::new();
        for name in targets.split(',').filter(|n| n.starts_with('#')) {
            let fresh = ctx.server.find_channel(name).is_none_or(|ch| {
                let st = ch.read();
                st.members.is_empty() && !st.is_persistent()
            });
            if fresh && crate::cluster::claim_channel(&ctx.server, name).await {
                claimed.push(ctx.server.fold(name));
            }
        }
        for (name, key) in join_targets(targets, keys) {
            match join_change(ctx, name, key) {
                Ok(Some((change, overridden))) => match sequence_in_order(ctx, change).await {
                    Ok(shown) => joined(ctx, shown, overridden),
                    Err(e) => ctx.report(e),
                },
                Ok(None) => {}
                Err(e) => ctx.report(e),
            }
        }
        for folded in claimed {
            // Claimed but not made (refused, invalid): given back.
            if !ctx.server.channels.contains_key(&folded) {
                crate::cluster::channel_gone(&ctx.server, &folded);
            }
        }
        Ok(())
    })
}

/// The PART reason of `JOIN 0`.
const LEFT_ALL: &str = "Left all channels";

/// Each channel of `JOIN targets keys` with its key, if any.
fn join_targets<'a>(targets: &'a str, keys: &'a str) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
    let keys: Vec<&str> = keys.split(',').collect();
    let names = targets.split(',').filter(|n| !n.is_empty()).enumerate();
    names.map(move |(i, name)| (name, keys.get(i).copied().filter(|k| !k.is_empty())))
}

/// Decides a JOIN of `name` with `key` (none if already a member): a valid
/// name, room for one more channel, and (on a node of a cluster, or for an
/// IRC operator) the channel's modes letting the joiner in as things stand
/// here; they are checked where it is applied in any case. An operator
/// passes them, and which it passed is returned.
fn join_change(ctx: &mut Ctx, name: &str, key: Option<&str>) -> Result<Option<(Change, Option<Numeric>)>, CmdError> {
    let cfg = ctx.server.config();
    if !name.starts_with('#') {
        let hint = match name.trim_start_matches(['&', '+', '!']) {
            rest if valid_channel(&format!("#{rest}"), cfg.limits.channel_len) => format!(": try JOIN #{rest}"),
            _ => String::new(),
        };
        return err_because(ERR_NOSUCHCHANNEL, &[name], format!("No such channel: channel names start with #{hint}"))
            .map(|()| None);
    }
    if !valid_channel(name, cfg.limits.channel_len) {
        return err(ERR_BADCHANNAME, &[name]);
    }
    if ctx.client.info().channels.len() >= cfg.limits.max_channels_per_client {
        return err(ERR_TOOMANYCHANNELS, &[name]);
    }
    let mut target = name.to_owned();
    let mut created = chrono::Utc::now().timestamp();
    let mut overridden = None;
    if let Some(ch) = ctx.server.find_channel(name) {
        let st = ch.read();
        if st.members.contains_key(&ctx.client.id) {
            return Ok(None);
        }
        (target, created) = (ch.name.clone(), ch.created);
        let fresh = st.members.is_empty() && !st.is_persistent();
        // Alone, the apply follows at once and answers a refusal itself; an
        // operator's override is found here, to tell it. In a cluster the
        // refusal is answered here without a round trip through the log.
        let precheck = ctx.server.cluster().is_some() || ctx.client.is_oper();
        if precheck && !fresh && st.access_of(ctx.server.casemap, ctx.client.info().account.as_deref()).is_none() {
            if let Some(refusal) = join_refusal(&ctx.server, &st, &ctx.client, key) {
                if !ctx.client.is_oper() {
                    return err(refusal, &[&ch.name]);
                }
                overridden = Some(refusal);
            }
        }
    }
    let event = crate::cluster::Event::Join {
        node: sequencer::origin(&ctx.server),
        uid: ctx.client.id,
        chan: name.to_owned(),
        op: false,
        voice: false,
        ts: created,
        key: key.map(str::to_owned),
        id: sequencer::token(&ctx.server),
    };
    Ok(Some((Change { target, gone: None, command: "JOIN", reply: false, event }, overridden)))
}

/// The joiner's part once its JOIN is applied (`shown` its plain JOIN line;
/// none if it was a member already): told of an operator's override, its
/// JOIN as its capabilities show it, then the join burst, to each of its
/// connections.
fn joined(ctx: &mut Ctx, shown: Option<Line>, overridden: Option<Numeric>) {
    let Some(plain) = shown else { return };
    let Some(channel) = ctx.server.find_channel(&plain.params[0]) else { return };
    if let Some(refusal) = overridden {
        let mode = match refusal {
            ERR_BADCHANNELKEY => "+k",
            ERR_CHANNELISFULL => "+l",
            ERR_INVITEONLYCHAN => "+i",
            _ => "+b",
        };
        let text = format!("Oper override: you joined {} past {mode}", channel.name);
        ctx.reply(Line::new(ctx.server_name(), "NOTICE", vec![ctx.client.nick(), text]));
    }
    let line = if ctx.has_cap(Cap::ExtendedJoin) { extended_join(&plain, &ctx.client) } else { plain };
    ctx.reply(line);
    channel_burst(ctx, &channel);
    // The client's other sessions (multiclient) got the JOIN from the apply: the rest too.
    for other in crate::state::session::links_but(&ctx.client, ctx.link.id) {
        ctx.on_connection(other, |ctx| channel_burst(ctx, &channel));
    }
}

/// Why `client` may not join a channel in state `st` with `key`, if it may
/// not (checked where a JOIN is decided, and again where it is applied).
pub fn join_refusal(server: &Server, st: &ChannelState, client: &Client, key: Option<&str>) -> Option<Numeric> {
    let invited = st.invited.contains(&client.id) || listed(server, &st.invex, client);
    if st.modes.key.as_deref().is_some_and(|k| key != Some(k)) && !invited {
        return Some(ERR_BADCHANNELKEY);
    }
    if st.modes.limit.is_some_and(|limit| st.members.len() >= limit) && !invited {
        return Some(ERR_CHANNELISFULL);
    }
    if st.modes.invite_only && !invited {
        return Some(ERR_INVITEONLYCHAN);
    }
    if is_banned(server, st, client) && !st.invited.contains(&client.id) {
        return Some(ERR_BANNEDFROMCHAN);
    }
    None
}

/// `plain` (a JOIN) as extended-join shows it: with `client`'s account (`*`
/// if none) and real name.
fn extended_join(plain: &Line, client: &Client) -> Line {
    let (account, realname) = {
        let i = client.info();
        (i.account.clone(), i.realname.clone())
    };
    let mut extended = plain.clone();
    extended.params.push(account.unwrap_or_else(|| "*".into()));
    extended.params.push(realname);
    extended
}

/// Sends `client`'s JOIN to the members of `channel` but `except` (with
/// extended-join's account and realname to those that asked, and its away
/// message to away-notify ones); returns the plain and the extended JOIN.
pub fn broadcast_join(channel: &Channel, client: &Client, except: Option<ClientId>) -> (Line, Line) {
    let (mask, account, away) = {
        let i = client.info();
        (i.mask(), i.account.clone(), i.away.clone())
    };
    let plain = Line::from_user(mask.clone(), account.as_deref(), "JOIN", vec![channel.name.clone()]);
    let extended = extended_join(&plain, client);
    fanout::to_channel(channel, &plain, except, fanout::without_cap(Cap::ExtendedJoin));
    fanout::to_channel(channel, &extended, except, fanout::with_cap(Cap::ExtendedJoin));
    if let Some(away) = away {
        let line = Line::from_user(mask, account.as_deref(), "AWAY", vec![away]);
        fanout::to_channel(channel, &line, except, fanout::with_cap(Cap::AwayNotify));
    }
    (plain, extended)
}

/// What a joiner gets after its JOIN: topic, read marker, names, metadata.
fn channel_burst(ctx: &mut Ctx, channel: &Arc<Channel>) {
    send_topic(ctx, channel, false);
    super::markread::on_join(ctx, channel);
    super::listing::send_names(ctx, channel);
    super::metadata::join_sync(ctx, channel);
}

/// A connection attaching to a client (multiclient) sees itself join each of
/// the client's channels: JOIN, topic, names.
pub fn attach_burst(ctx: &mut Ctx) {
    let channels = ctx.client.info().channels.clone();
    let (mask, account, realname) = {
        let i = ctx.client.info();
        (i.mask(), i.account.clone(), i.realname.clone())
    };
    for channel in channels {
        let mut line = Line::from_user(mask.clone(), account.as_deref(), "JOIN", vec![channel.name.clone()]);
        if ctx.has_cap(Cap::ExtendedJoin) {
            line.params.push(account.clone().unwrap_or_else(|| "*".into()));
            line.params.push(realname.clone());
        }
        ctx.reply(line);
        channel_burst(ctx, &channel);
    }
}

/// Sends 332/333 for a channel, or 331 when `say_none` and there is no topic.
pub fn send_topic(ctx: &mut Ctx, channel: &Channel, say_none: bool) {
    let topic = channel.read().topic.clone();
    match topic {
        Some(t) => {
            ctx.numeric(RPL_TOPIC, &[&channel.name, &t.text]);
            ctx.numeric(RPL_TOPICWHOTIME, &[&channel.name, &t.set_by, &t.set_at.to_string()]);
        }
        None if say_none => ctx.numeric(RPL_NOTOPIC, &[&channel.name]),
        None => {}
    }
}

/// PART `#a,#b [reason]`.
pub fn part(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let reason = msg.param(1);
    for name in msg.param(0).split(',').filter(|n| !n.is_empty()) {
        let decided = part_change(ctx, name, reason);
        now_or_report(ctx, decided);
    }
    Ok(())
}

/// PART on a node of a cluster: each departure waits until every change
/// the log holds before it is applied here (see [`sequencer`]).
pub fn part_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let reason = msg.params.get(1).map_or("", String::as_str);
        for name in msg.params[0].split(',').filter(|n| !n.is_empty()) {
            let decided = part_change(ctx, name, reason);
            in_order_or_report(ctx, decided).await;
        }
        Ok(())
    })
}

/// Decides a departure from channel `name`: the client must be on it.
fn part_change(ctx: &mut Ctx, name: &str, reason: &str) -> Result<Change, CmdError> {
    let Some(ch) = ctx.server.find_channel(name) else { return err(ERR_NOSUCHCHANNEL, &[name]) };
    if !ch.read().members.contains_key(&ctx.client.id) {
        return err(ERR_NOTONCHANNEL, &[&ch.name]);
    }
    let event = crate::cluster::Event::Part {
        node: sequencer::origin(&ctx.server),
        uid: ctx.client.id,
        chan: ch.name.clone(),
        reason: reason.to_owned(),
        id: sequencer::token(&ctx.server),
    };
    let gone = Some((ERR_NOTONCHANNEL, vec![ch.name.clone()]));
    Ok(Change { target: ch.name.clone(), gone, command: "PART", reply: true, event })
}

/// RENAME `#old #new [:reason]` (IRCv3 draft/channel-rename): a channel
/// operator gives the channel a new name, keeping members, modes, lists and
/// topic. Members with the capability see `RENAME`; the others see themselves
/// leave the old name and join the new one (PART, JOIN, topic, NAMES).
/// Registered and permanent channels keep their name: ChanServ and the
/// channel store know them by it.
pub fn rename(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let (ch, new_name, reason) = match may_rename(ctx, msg.param(0), msg.param(1)) {
        Ok(ch) => (ch, msg.param(1), msg.param(2)),
        Err(refused) => return refused,
    };
    let renamed = ctx.client.line("RENAME", vec![ch.name.clone(), new_name.to_owned(), reason.to_owned()]);
    finish_rename(ctx, &ch, &renamed, false)
}

/// RENAME on a node of a cluster: the new name is claimed in Redis and the
/// rename appended to the network's log in one step
/// ([`crate::cluster::rename`]) before this node renames its copy; another
/// node holding the name refuses it as a local channel would.
pub fn rename_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let param = |i: usize| msg.params.get(i).map_or("", String::as_str);
        let (old_name, new_name, reason) = (param(0), param(1), param(2));
        let ch = match may_rename(ctx, old_name, new_name) {
            Ok(ch) => ch,
            Err(refused) => return refused,
        };
        let renamed = ctx.client.line("RENAME", vec![ch.name.clone(), new_name.to_owned(), reason.to_owned()]);
        let server = ctx.server.clone();
        let local = || finish_rename(ctx, &ch, &renamed, true);
        match crate::cluster::rename(&server, &ch.name, new_name, &renamed, local).await {
            Ok(done) => done,
            Err(crate::cluster::RenameRefused::NameInUse) => name_in_use(&ch.name, new_name),
            Err(crate::cluster::RenameRefused::Unavailable) => super::fail(
                "RENAME",
                "CANNOT_RENAME",
                &[&ch.name, new_name],
                "The network cannot be reached right now; try again",
            ),
        }
    })
}

/// The channel `old_name` if the client may rename it to `new_name`, or the
/// refusal.
fn may_rename(ctx: &Ctx, old_name: &str, new_name: &str) -> Result<Arc<Channel>, HandlerResult> {
    let Some(ch) = ctx.server.find_channel(old_name) else { return Err(err(ERR_NOSUCHCHANNEL, &[old_name])) };
    if let Err(why) = ch.read().may_change(ctx.client.id, true) {
        return Err(err(why, &[&ch.name]));
    }
    let cannot = |text: &str| Err(super::fail("RENAME", "CANNOT_RENAME", &[&ch.name, new_name], text));
    if !valid_channel(new_name, ctx.server.config().limits.channel_len) {
        return cannot("Not a valid channel name");
    }
    if new_name == ch.name {
        return cannot("That is already the channel's name");
    }
    if ch.read().is_persistent() {
        return cannot("Registered and permanent channels keep their name");
    }
    if ctx.server.find_channel(new_name).is_some_and(|other| !Arc::ptr_eq(&other, &ch)) {
        return Err(name_in_use(&ch.name, new_name));
    }
    Ok(ch)
}

fn name_in_use(old_name: &str, new_name: &str) -> HandlerResult {
    super::fail("RENAME", "CHANNEL_NAME_IN_USE", &[old_name, new_name], "Channel name is in use")
}

/// Renames this server's copy of `ch` as `renamed` (the RENAME line) says
/// and tells its members; `merge` as for [`crate::state::Server::rename_channel`].
fn finish_rename(ctx: &mut Ctx, ch: &Arc<Channel>, renamed: &Line, merge: bool) -> HandlerResult {
    let (fresh, joined) = match ctx.server.rename_channel(ch, &renamed.params[1], merge) {
        Ok(done) => done,
        Err(RenameError::NameInUse) => return name_in_use(&ch.name, &renamed.params[1]),
        Err(RenameError::NoSuchChannel) => return err(ERR_NOSUCHCHANNEL, &[&ch.name]),
    };
    let server_name = ctx.server_name();
    for line in announce_rename(&server_name, &ch.name, &fresh, renamed, &joined, Some(ctx.client.id)) {
        ctx.reply(line);
    }
    Ok(())
}

/// Tells the members of `fresh`, just renamed from `old_name` by `renamed`
/// (the RENAME line, its last parameter the reason): members with
/// draft/channel-rename get it, the others leave the old name and join the
/// new one (with the join burst). Members merged in from a channel that
/// already had the new name (`joined`, see
/// [`crate::state::Server::rename_channel`]) get the join burst of the new
/// name, and the capability holders see them join. The lines for `me` are
/// returned (the caller replies with them) rather than queued.
pub fn announce_rename(
    server_name: &str,
    old_name: &str,
    fresh: &Channel,
    renamed: &Line,
    joined: &[Arc<Client>],
    me: Option<ClientId>,
) -> Vec<Line> {
    let reason = renamed.params.get(2).map_or("", String::as_str);
    let members: Vec<Arc<Client>> = fresh.read().members.values().map(|m| m.client.clone()).collect();
    let mut mine = Vec::new();
    for c in &members {
        let merged = joined.iter().any(|j| j.id == c.id);
        let mut lines = if merged {
            rejoin_lines(server_name, c, &fresh.name, fresh, reason)
        } else if c.caps().has(Cap::ChannelRename) {
            let mut lines = vec![renamed.clone()];
            lines.extend(joined.iter().map(|j| join_line(j, &fresh.name, c.caps().has(Cap::ExtendedJoin))));
            lines
        } else {
            rejoin_lines(server_name, c, old_name, fresh, reason)
        };
        if Some(c.id) == me {
            mine.append(&mut lines);
        } else {
            for line in &lines {
                fanout::to_client(c, line);
            }
        }
    }
    mine
}

/// `client`'s JOIN of `chan`, extended (account, real name) or plain.
fn join_line(client: &Client, chan: &str, extended: bool) -> Line {
    let mut join = client.line("JOIN", vec![chan.to_owned()]);
    if extended {
        let info = client.info();
        join.params.push(info.account.clone().unwrap_or_else(|| "*".into()));
        join.params.push(info.realname.clone());
    }
    join
}

/// What a client without draft/channel-rename sees of a rename: it leaves the
/// old name and joins the new one, with the join burst.
fn rejoin_lines(server_name: &str, c: &Client, old_name: &str, ch: &Channel, reason: &str) -> Vec<Line> {
    let text = if reason.is_empty() { format!("Channel renamed to {}", ch.name) } else { reason.to_owned() };
    let mut lines = vec![c.line("PART", vec![old_name.to_owned(), text])];
    lines.push(join_line(c, &ch.name, c.caps().has(Cap::ExtendedJoin)));
    let nick = c.nick();
    if let Some(t) = ch.read().topic.clone() {
        lines.push(Line::new(server_name, RPL_TOPIC.code, vec![nick.clone(), ch.name.clone(), t.text]));
        let who_time = vec![nick.clone(), ch.name.clone(), t.set_by, t.set_at.to_string()];
        lines.push(Line::new(server_name, RPL_TOPICWHOTIME.code, who_time));
    }
    lines.extend(super::listing::name_lines(server_name, c, c.caps(), ch));
    let end = vec![nick, ch.name.clone(), RPL_ENDOFNAMES.text.unwrap_or_default().to_owned()];
    lines.push(Line::new(server_name, RPL_ENDOFNAMES.code, end));
    lines
}

/// The member modes of `client` in `channel`, if it is a member.
pub fn member_modes(channel: &Channel, client: &Client) -> Option<MemberModes> {
    channel.read().members.get(&client.id).map(|m| m.modes)
}

/// KICK `#chan nick[,nick] [reason]`, or `#a,#b nick1,nick2` (pairwise).
pub fn kick(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    for (name, target, reason) in kicks(ctx, &msg.params)? {
        let decided = kick_change(ctx, &name, &target, reason);
        now_or_report(ctx, decided);
    }
    Ok(())
}

/// KICK on a node of a cluster: each removal waits until every change the
/// log holds before it is applied here (see [`sequencer`]).
pub fn kick_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let params: Vec<&str> = msg.params.iter().map(String::as_str).collect();
        for (name, target, reason) in kicks(ctx, &params)? {
            let decided = kick_change(ctx, &name, &target, reason);
            in_order_or_report(ctx, decided).await;
        }
        Ok(())
    })
}

/// The removals `KICK #a,#b nick1,nick2 [reason]` asks for: (channel,
/// nick, reason) each, one channel for all nicks or one per nick.
fn kicks(ctx: &Ctx, params: &[&str]) -> Result<Vec<(String, String, String)>, CmdError> {
    let param = |i: usize| params.get(i).copied().unwrap_or("");
    let channels: Vec<&str> = param(0).split(',').filter(|n| !n.is_empty()).collect();
    let targets: Vec<&str> = param(1).split(',').filter(|n| !n.is_empty()).collect();
    let mut reason = match param(2) {
        "" => ctx.client.nick(),
        r => r.to_owned(),
    };
    reason.truncate(reason.floor_char_boundary(ctx.server.config().limits.kick_len));
    if channels.len() > 1 && channels.len() != targets.len() {
        return err(ERR_NEEDMOREPARAMS, &["KICK"]);
    }
    let channel = |i: usize| if channels.len() > 1 { channels[i] } else { channels.first().copied().unwrap_or("") };
    Ok(targets.iter().enumerate().map(|(i, t)| (channel(i).to_owned(), (*t).to_owned(), reason.clone())).collect())
}

/// Decides a removal: the kicker is an operator of the channel and the
/// victim is on it.
fn kick_change(ctx: &mut Ctx, name: &str, target: &str, reason: String) -> Result<Change, CmdError> {
    let Some(ch) = ctx.server.find_channel(name) else { return err(ERR_NOSUCHCHANNEL, &[name]) };
    if let Err(why) = ch.read().may_change(ctx.client.id, true) {
        return err(why, &[&ch.name]);
    }
    let Some(victim) = ctx.server.find_user(target) else { return err(ERR_NOSUCHNICK, &[target]) };
    if member_modes(&ch, &victim).is_none() {
        return err(ERR_USERNOTINCHANNEL, &[&victim.nick(), &ch.name]);
    }
    let (to_node, to_uid) = sequencer::address(&ctx.server, &victim);
    let event = crate::cluster::Event::Kick {
        node: sequencer::origin(&ctx.server),
        uid: ctx.client.id,
        chan: ch.name.clone(),
        to_node,
        to_uid,
        reason,
        id: sequencer::token(&ctx.server),
    };
    let gone = Some((ERR_USERNOTINCHANNEL, vec![victim.nick(), ch.name.clone()]));
    Ok(Change { target: ch.name.clone(), gone, command: "KICK", reply: true, event })
}

/// INVITE `nick #chan`.
pub fn invite(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let Some((change, victim)) = invite_change(ctx, &msg.params)? else { return Ok(()) };
    if sequence_now(ctx, change)?.is_some() {
        inviting(ctx, &victim);
    }
    Ok(())
}

/// INVITE on a node of a cluster: the invitation waits until every change
/// the log holds before it is applied here (see [`sequencer`]), so a JOIN
/// of the invited user is decided alike on every node.
pub fn invite_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let params: Vec<&str> = msg.params.iter().map(String::as_str).collect();
        let Some((change, victim)) = invite_change(ctx, &params)? else { return Ok(()) };
        if sequence_in_order(ctx, change).await?.is_some() {
            inviting(ctx, &victim);
        }
        Ok(())
    })
}

/// An invited user's nick and the channel's name.
type Invitation = (String, String);

/// Decides an invitation (`None`: the list was asked for): the inviter is
/// on the channel (an operator where `+i` is set) and the invited user is
/// not.
fn invite_change(ctx: &mut Ctx, params: &[&str]) -> Result<Option<(Change, Invitation)>, CmdError> {
    match params.len() {
        0 => return list_invites(ctx).map(|()| None),
        1 => return err(ERR_NEEDMOREPARAMS, &["INVITE"]),
        _ => {}
    }
    let (target, name) = (params[0], params[1]);
    let Some(victim) = ctx.server.find_user(target) else { return err(ERR_NOSUCHNICK, &[target]) };
    let vnick = victim.nick();
    // RFC 2812 let an invitation to a channel that does not exist through, any
    // text as its name; like InspIRCd, there is nothing to invite to.
    let Some(ch) = ctx.server.find_channel(name) else { return err(ERR_NOSUCHCHANNEL, &[name]) };
    let standing = {
        let st = ch.read();
        st.may_change(ctx.client.id, st.modes.invite_only)
    };
    if let Err(why) = standing {
        return err(why, &[&ch.name]);
    }
    if member_modes(&ch, &victim).is_some() {
        return err(ERR_USERONCHANNEL, &[&vnick, &ch.name]);
    }
    let line = ctx.client.line("INVITE", vec![vnick.clone(), ch.name.clone()]);
    let event = crate::cluster::Event::Invite {
        node: sequencer::origin(&ctx.server),
        uid: ctx.client.id,
        chan: ch.name.clone(),
        to: sequencer::address(&ctx.server, &victim),
        line: crate::cluster::WireLine::of(&line),
        id: sequencer::token(&ctx.server),
    };
    let gone = Some((ERR_USERONCHANNEL, vec![vnick.clone(), ch.name.clone()]));
    let change = Change { target: ch.name.clone(), gone, command: "INVITE", reply: false, event };
    Ok(Some((change, (vnick, ch.name.clone()))))
}

/// The inviter's answer once its invitation is made: `341`, and the invited
/// user's away message if it has one.
fn inviting(ctx: &mut Ctx, (nick, chan): &Invitation) {
    ctx.numeric(RPL_INVITING, &[nick, chan]);
    if let Some(away) = ctx.server.find_user(nick).and_then(|v| v.info().away.clone()) {
        ctx.numeric(RPL_AWAY, &[nick, &away]);
    }
}

/// INVITE with no parameters: the channels the client is invited to and has
/// not joined (`336` each, then `337`). Invitations that ended (joined, or the
/// channel is gone) are forgotten on the way.
fn list_invites(ctx: &mut Ctx) -> HandlerResult {
    let names: Vec<String> = ctx.client.info().invited_to.iter().cloned().collect();
    let mut ended = Vec::new();
    for name in names {
        match ctx.server.find_channel(&name) {
            Some(ch) if ch.read().invited.contains(&ctx.client.id) => ctx.numeric(RPL_INVITEDLIST, &[&ch.name]),
            _ => ended.push(name),
        }
    }
    if !ended.is_empty() {
        let mut info = ctx.client.info_mut();
        for name in ended {
            info.invited_to.remove(&name);
        }
    }
    ctx.numeric(RPL_ENDOFINVITEDLIST, &[]);
    Ok(())
}

/// TOPIC `#chan [:text]`.
pub fn topic(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let text = msg.params.get(1).copied();
    let Some((ch, change)) = topic_change(ctx, msg.param(0), text)? else { return Ok(()) };
    if let Some(line) = sequence_now(ctx, change)? {
        topic_kept(ctx, &ch, line);
    }
    Ok(())
}

/// TOPIC on a node of a cluster: a change waits until every change the log
/// holds before it is applied here (see [`sequencer`]).
pub fn topic_clustered(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let text = msg.params.get(1).map(String::as_str);
        let Some((ch, change)) = topic_change(ctx, &msg.params[0], text)? else { return Ok(()) };
        if let Some(line) = sequence_in_order(ctx, change).await? {
            topic_kept(ctx, &ch, line);
        }
        Ok(())
    })
}

/// Answers a TOPIC query (`None`), or decides a change: the setter must be
/// on the channel, and an operator where `+t` is set.
fn topic_change(ctx: &mut Ctx, name: &str, text: Option<&str>) -> Result<Option<(Arc<Channel>, Change)>, CmdError> {
    let Some(ch) = ctx.server.find_channel(name) else { return err(ERR_NOSUCHCHANNEL, &[name]) };
    let mine = member_modes(&ch, &ctx.client);
    let Some(param) = text else {
        if mine.is_none() && ch.read().modes.secret {
            return err(ERR_NOTONCHANNEL, &[&ch.name]);
        }
        send_topic(ctx, &ch, true);
        return Ok(None);
    };
    let standing = {
        let st = ch.read();
        st.may_change(ctx.client.id, st.modes.topic_ops)
    };
    if let Err(why) = standing {
        return err(why, &[&ch.name]);
    }
    let text = param[..param.floor_char_boundary(ctx.server.config().limits.topic_len)].to_owned();
    let line = ctx.client.line("TOPIC", vec![ch.name.clone(), text]);
    let msgid = ctx.server.next_msgid_at(line.time_ms());
    let line = line.tag("msgid", msgid, Cap::MessageTags);
    let event = crate::cluster::Event::Topic {
        node: sequencer::origin(&ctx.server),
        uid: ctx.client.id,
        chan: ch.name.clone(),
        line: crate::cluster::WireLine::of(&line),
        set_at: chrono::Utc::now().timestamp(),
    };
    let gone = Some((ERR_NOSUCHCHANNEL, vec![ch.name.clone()]));
    Ok(Some((ch.clone(), Change { target: ch.name.clone(), gone, command: "TOPIC", reply: true, event })))
}

/// After a topic change: the registered channel saved, the line kept in
/// history.
fn topic_kept(ctx: &mut Ctx, ch: &Channel, line: Line) {
    if ch.read().is_persistent() {
        let ack = ctx.server.persist_channel(ch);
        ctx.commit("TOPIC", ack);
    }
    super::chathistory::record_channel(ctx, ch, [line]);
}
