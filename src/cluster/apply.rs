//! Applying the other nodes' events: one function per event, each the state
//! change and the lines this node's local users see, through the same
//! fan-out as a local command.

use super::{Cluster, Event, ModeChange, WireLine};
use crate::caps::{Cap, CapSet};
use crate::metrics::METRICS;
use crate::proto::line::{variants, Line};
use crate::state::channel::{self, ChannelState, ListEntry, MemberModes, Topic};
use crate::state::client::{Client, ClientId, UserModes};
use crate::state::registration::{self, RegistrationChange};
use crate::state::{fanout, membership, monitor, session, Server};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The QUIT reason of the users of a node that went down: the form clients
/// show as a netsplit.
pub const SPLIT_REASON: &str = "*.net *.split";

/// Applies one entry of the log, event by event; returns how many events
/// it held. A message of this node is not even decoded (it was delivered
/// here when its command ran, and it is the bulk of the log): it only
/// counts as read back.
pub fn apply_entry(server: &Arc<Server>, cluster: &Cluster, entry: &super::backplane::Entry, replaying: bool) -> u64 {
    let own = entry.node == cluster.node;
    cluster.applying(&entry.id);
    let mut n = 0;
    for json in entry.events() {
        n += 1;
        if own && json.starts_with(OWN_MESSAGE) {
            cluster.progress.read();
            continue;
        }
        apply_json(server, cluster, json, replaying);
    }
    cluster.through_applying();
    n
}

/// How a message event's JSON starts (see [`Event::Msg`]).
const OWN_MESSAGE: &str = r#"{"M":"#;

/// Applies one event. A sequenced change (JOIN, TOPIC, MODE, PART, KICK,
/// INVITE, NICK, AWAY, SETNAME, ACCOUNT, ChanServ's REGISTER, DROP, AMODE
/// and TRANSFER) is
/// applied here in the log's order whichever node made it ([`sequenced`]).
/// Other events of this node are skipped (applied when their command ran),
/// and so are those of a node after its NodeDown. While `replaying`
/// (start-up, before any client connects), messages and WALLOPS are
/// skipped.
pub fn apply_json(server: &Arc<Server>, cluster: &Cluster, json: &str, replaying: bool) {
    let event: Event = match serde_json::from_str(json) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "cluster: an event that does not parse was skipped");
            return;
        }
    };
    if event.node() == cluster.node {
        cluster.progress.read();
        match &event {
            Event::Quit { uid, reason, .. } => cluster.quit_confirmed(server, *uid, reason),
            _ if event.sequenced_id().is_some() => cluster.applied_own(server, &event),
            _ => {}
        }
        return;
    }
    match event {
        Event::User { node, uid, nick, user, host, realname, account, modes, server: name, info, signon, ip } => {
            if !name.is_empty() {
                cluster.homes.insert(node.clone(), Arc::new((name, info)));
            }
            let who = Identity { nick, user, host, realname, account, modes, signon, ip };
            introduce(server, cluster, node, uid, who)
        }
        Event::Quit { node, uid, reason } => {
            if let Some(c) = cluster.lookup(server, &node, uid) {
                membership::remove_now(server, &c, &reason);
                forget(server, cluster, &node, uid);
            }
        }
        Event::Join { node, uid, chan, op, voice, ts, id, .. } if id.is_empty() => {
            if let Some(c) = cluster.lookup(server, &node, uid) {
                join(server, &c, &chan, MemberModes { op, voice }, ts);
            }
        }
        Event::Join { .. }
        | Event::Topic { .. }
        | Event::Mode { .. }
        | Event::Kick { .. }
        | Event::Part { .. }
        | Event::Nick { .. }
        | Event::Registration { .. }
        | Event::Away { .. }
        | Event::Realname { .. }
        | Event::Account { .. } => {
            sequenced(server, &event, None);
        }
        Event::UserModes { node, uid, modes } => {
            if let Some(c) = cluster.lookup(server, &node, uid) {
                user_modes(server, &c, &modes);
            }
        }
        Event::Invite { .. } => {
            sequenced(server, &event, None);
        }
        Event::Kill { to: (to_node, to_uid), line, reason, .. } => {
            if to_node != cluster.node {
                return;
            }
            let Some(victim) = server.clients.get(&to_uid).map(|c| c.clone()) else { return };
            fanout::to_client(&victim, &line.to_line());
            session::close_all(&victim, &reason);
        }
        Event::Msg { .. } | Event::Multiline { .. } | Event::Redact { .. } if replaying => {}
        Event::Wallops { .. } | Event::Marker { .. } if replaying => {}
        Event::Wallops { line, .. } => {
            let targets: Vec<Arc<Client>> = server.clients.iter().map(|c| c.value().clone()).collect();
            fanout::to_clients(&targets, &line.to_line(), |c, _| c.is_registered() && c.info().modes.wallops);
        }
        Event::Msg { node, uid, to, lines } => {
            let from = cluster.remotes.get(&(node, uid)).map(|c| c.clone());
            if let Some(from) = &from {
                from.last_spoke.store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
            }
            match (to, from) {
                (Some((to_node, to_uid)), Some(from)) => private(server, cluster, &from, &to_node, to_uid, lines),
                (Some(_), None) => {}
                (None, _) => to_channel(server, lines),
            }
        }
        Event::Multiline { node, uid, to, first, lines } => {
            let from = cluster.remotes.get(&(node, uid)).map(|c| c.clone());
            multiline(server, cluster, from, to, &first.to_line(), &lines);
        }
        Event::Redact { node, uid, to, line } => redact(server, cluster, &node, uid, to, &line.to_line()),
        Event::Rename { chan, to, line, .. } => rename(server, &chan, &to, &line.to_line()),
        Event::Marker { who, target, ms, .. } => read_marker(server, &who, &target, ms),
        Event::Regain { to: (to_node, to_uid), nick, account, .. } => {
            if to_node != cluster.node {
                return;
            }
            let Some(holder) = server.clients.get(&to_uid).map(|c| c.clone()) else { return };
            // Unless it changed nick meanwhile.
            if server.fold(&holder.nick()) == server.fold(&nick) {
                let server = server.clone();
                tokio::spawn(async move { crate::commands::registration::to_guest(&server, &holder, &account).await });
            }
        }
        Event::Metadata { user, chan, changes, .. } => {
            use crate::commands::metadata::{apply_remote, Target};
            let target = match (user, chan) {
                (Some((node, uid)), _) => cluster.lookup(server, &node, uid).map(Target::User),
                (None, Some(chan)) => server.find_channel(&chan).map(Target::Channel),
                (None, None) => None,
            };
            if let Some(target) = target {
                apply_remote(server, &target, &changes);
            }
        }
        Event::Channel { chan, ts, .. } => begin_channel(server, &chan, ts),
        Event::NodeDown { node } => node_down(server, cluster, node),
    }
}

/// `client` set its away message (`line`, an AWAY, has it) or came back:
/// shown to its co-members and extended-monitor watchers with away-notify
/// (the maker's answer is `305`/`306`).
fn away(server: &Server, client: &Arc<Client>, line: Line) -> Line {
    client.info_mut().away = line.params.first().cloned();
    fanout::to_clients(&monitor::audience(server, client), &line, fanout::with_cap(Cap::AwayNotify));
    line
}

/// `client` logged in (`line`, its ACCOUNT, names the account): shown to
/// its co-members and extended-monitor watchers with account-notify. Its own
/// node knew the account at once (the user's next commands depend on it).
fn logged_in(server: &Server, client: &Arc<Client>, line: Line) -> Line {
    client.info_mut().account = line.params.first().filter(|a| a.as_str() != "*").cloned();
    fanout::to_clients(&monitor::audience(server, client), &line, fanout::with_cap(Cap::AccountNotify));
    line
}

/// `client` changed its real name (`line`, a SETNAME, has it): shown to its
/// co-members and extended-monitor watchers with setname (the maker's copy
/// is its reply).
fn realname(server: &Server, client: &Arc<Client>, line: Line) -> Option<Line> {
    client.info_mut().realname = line.params.first()?.clone();
    fanout::to_clients(&monitor::audience(server, client), &line, fanout::with_cap(Cap::Setname));
    Some(line)
}

/// Another node renamed channel `chan` to `to`: so does this one, merging in
/// a channel of the new name made here meanwhile (the log gave the name to
/// the rename), and tells its members as the origin told its own.
fn rename(server: &Server, chan: &str, to: &str, renamed: &Line) {
    let Some(ch) = server.find_channel(chan) else { return };
    match server.rename_channel(&ch, to, true) {
        Ok((fresh, joined)) => {
            if !joined.is_empty() {
                tracing::info!(chan, to, merged = joined.len(), "cluster: a rename took in a channel of its new name");
            }
            let server_name = server.config().server.name.clone();
            crate::commands::channel::announce_rename(&server_name, &ch.name, &fresh, renamed, &joined, None);
        }
        Err(e) => tracing::warn!(?e, chan, to, "cluster: a rename from the log could not be applied"),
    }
}

/// Another node moved an account's read marker: raised here too (in memory:
/// the origin saved it) and sent to the account's connections here.
fn read_marker(server: &Server, who: &str, target: &str, ms: i64) {
    let cfg = server.config();
    let (stored, changed) = server.history.raise_marker(&cfg.history, who, &server.fold(target), ms);
    if changed {
        let line = crate::commands::markread::marker_line(&cfg.server.name, target, Some(stored));
        crate::commands::markread::tell_account(server, who, &line, None);
    }
}

/// A relayed message from `from` to user `to_uid` of `to_node`: delivered
/// if that is a user of this node, and kept for its CHATHISTORY when either
/// side is not logged in.
fn private(server: &Server, cluster: &Cluster, from: &Client, to_node: &str, to_uid: u64, lines: Vec<WireLine>) {
    if to_node != cluster.node {
        return;
    }
    let Some(to) = server.clients.get(&to_uid).map(|c| c.clone()) else { return };
    for wire in lines {
        let line = wire.into_line();
        let filter = tags_filter(&line);
        if to.deliver(&mut variants(&line), None, &filter) > 0 {
            METRICS.relayed(1, 1);
        }
        crate::commands::chathistory::record_relayed_direct(server, from, &to, line, None);
    }
}

/// A draft/multiline message of a user of another node, to a channel or to
/// a user of this node: delivered as its origin delivered it (see
/// [`crate::commands::multiline::assemble`]); a direct one with a side not
/// logged in is kept in this node's memory history too, as a single line is.
fn multiline(
    server: &Server,
    cluster: &Cluster,
    from: Option<Arc<Client>>,
    to: Option<(String, u64)>,
    first: &Line,
    lines: &[(String, bool)],
) {
    use crate::commands::multiline::{assemble, deliver_to_channel, deliver_to_client};
    if let Some(from) = from.as_ref().filter(|_| first.command == "PRIVMSG") {
        from.last_spoke.store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
    }
    // Built only once it is known to go somewhere here (not for a message to
    // a user of a third node).
    let msgid = first.tags.iter().find(|t| t.key == "msgid").map_or("", |t| t.value.as_str());
    let build = || assemble(first, lines, &format!("r{msgid}"));
    match to {
        Some((to_node, to_uid)) => {
            let (Some(from), true) = (from, to_node == cluster.node) else { return };
            let Some(to) = server.clients.get(&to_uid).map(|c| c.clone()) else { return };
            let (block, fallback) = build();
            deliver_to_client(&to, &block, &fallback, None);
            crate::commands::chathistory::record_relayed_direct(server, &from, &to, first.clone(), Some(lines));
        }
        None => {
            let Some(ch) = server.find_channel(first.params.first().map_or("", String::as_str)) else { return };
            let (block, fallback) = build();
            deliver_to_channel(&ch, &block, &fallback, None);
        }
    }
}

/// A user of another node redacted a message: the REDACT goes to the
/// members here that take it (or to the other side of the conversation,
/// here), and a conversation this node keeps in memory (a side not logged
/// in) loses the message here too.
fn redact(server: &Server, cluster: &Cluster, node: &str, uid: u64, to: Option<(String, u64)>, line: &Line) {
    let has_cap = fanout::with_cap(Cap::MessageRedaction);
    match to {
        None => {
            let target = line.params.first().map_or("", String::as_str);
            if let Some(ch) = server.find_channel(target) {
                fanout::to_channel(&ch, line, None, has_cap);
            }
        }
        Some((to_node, to_uid)) => {
            let (Some(from), true) = (cluster.lookup(server, node, uid), to_node == cluster.node) else { return };
            let Some(to) = server.clients.get(&to_uid).map(|c| c.clone()) else { return };
            let msgid = line.params.get(1).map_or("", String::as_str);
            crate::commands::chathistory::redact_relayed_direct(server, &from, &to, msgid);
            fanout::to_clients(&[to], line, &has_cap);
        }
    }
}

/// What a User event says of a user.
struct Identity {
    nick: String,
    user: String,
    host: String,
    realname: String,
    account: Option<String>,
    modes: String,
    /// Unix time it connected on its node (0: unknown, now is taken).
    signon: i64,
    /// Its address (None from a node of an earlier release).
    ip: Option<IpAddr>,
}

/// A user of another node: a [`Client`] with no connection here, in the
/// client and nick maps like a local one.
///
/// A user known already is left as it is but for its nick: a snapshot had
/// it, and its introduction came after the snapshot's entry in the log (its
/// later changes follow in the log, applied again harmlessly).
fn introduce(server: &Arc<Server>, cluster: &Cluster, node: String, uid: u64, who: Identity) {
    if let Some(known) = cluster.remotes.get(&(node.clone(), uid)).map(|c| c.clone()) {
        hold_nick(server, cluster, &known, &who.nick);
        return;
    }
    let id = server.next_client_id();
    let now = chrono::Utc::now().timestamp();
    let signon = if who.signon > 0 { who.signon } else { now };
    let ip = who.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let client = Arc::new(Client::new(id, ip, 0, false, 8192, signon));
    if !ip.is_unspecified() {
        cluster.count_remote_ip(server.ip_key(ip));
    }
    // Idle counts from the last message of it this node relayed (see `Msg`).
    client.last_spoke.store(now, Ordering::Relaxed);
    let modes = UserModes {
        invisible: who.modes.contains('i'),
        wallops: who.modes.contains('w'),
        oper: who.modes.contains('o'),
        bot: who.modes.contains('B'),
    };
    {
        let mut info = client.info_mut();
        info.user = who.user;
        info.host = who.host;
        info.realname = who.realname;
        info.account = who.account;
        info.modes = modes;
    }
    session::mark_remote(&client);
    client.close_outbox(b"");
    client.set_registered();
    cluster.origins.insert(id, (node.clone(), uid));
    cluster.remotes.insert((node, uid), client.clone());
    server.clients.insert(id, client.clone());
    take_nick(server, cluster, &client, &who.nick);
    let n = server.registered_count.fetch_add(1, Ordering::Relaxed) + 1;
    server.max_registered.fetch_max(n, Ordering::Relaxed);
    if modes.invisible {
        server.invisible_count.fetch_add(1, Ordering::Relaxed);
    }
    if modes.oper {
        server.oper_count.fetch_add(1, Ordering::Relaxed);
    }
    monitor::notify_online(server, &client);
}

/// Gives `nick` to a remote client: Redis already decided, so a holder here
/// (a remote user whose change is not applied yet cannot be: the log is in
/// order) loses it.
fn take_nick(server: &Server, cluster: &Cluster, client: &Arc<Client>, nick: &str) {
    if server.claim_nick(client, nick).is_ok() {
        return;
    }
    let folded = server.fold(nick);
    if let Some(holder) = server.nicks.get(&folded).map(|h| h.clone()) {
        tracing::warn!(nick, holder = holder.id, remote = cluster.is_remote(holder.id), "cluster: nick held here too");
    }
    server.nicks.remove(&folded);
    let _ = server.claim_nick(client, nick);
}

/// A user's nick, as an event applied again over a snapshot that has it
/// says: the user may hold another one there, or another user's events
/// applied again may have taken it meanwhile (in log order it was free).
fn hold_nick(server: &Server, cluster: &Cluster, client: &Arc<Client>, nick: &str) {
    if server.nicks.get(&server.fold(nick)).is_none_or(|h| h.id != client.id) || client.nick() != nick {
        take_nick(server, cluster, client, nick);
    }
}

/// `client` takes `nick` in the log's order. In a cluster Redis gave it the
/// nick when the change was appended (a holder here has left by this place
/// in the log); alone, a nick taken is refused here. Its co-members and
/// connections but `except` see the NICK, its MONITOR watchers the change.
fn renamed(server: &Server, client: &Arc<Client>, nick: &str, except: Option<ClientId>) -> Applied {
    let old = client.nick();
    if old == nick {
        // Applied again over a snapshot that has it.
        if let Some(cluster) = server.cluster() {
            hold_nick(server, cluster, client, nick);
        }
        return Applied::Nothing;
    }
    let line = client.line("NICK", vec![nick.to_owned()]);
    match server.cluster() {
        Some(cluster) => take_nick(server, cluster, client, nick),
        None if server.claim_nick(client, nick).is_err() => {
            return Applied::Refused(crate::proto::numeric::ERR_NICKNAMEINUSE);
        }
        None => {}
    }
    server.remember(&old, &client.info());
    fanout::to_clients(&fanout::peers(client), &line, fanout::everyone);
    client.deliver(&mut variants(&line), except, &|_, _| true);
    if server.fold(&old) != server.fold(nick) {
        monitor::notify_offline(server, &old);
        monitor::notify_online(server, client);
    }
    Applied::Shown(line)
}

/// Takes a remote user out of the cluster's maps.
fn forget(server: &Server, cluster: &Cluster, node: &str, uid: u64) -> Option<Arc<Client>> {
    let (_, client) = cluster.remotes.remove(&(node.to_owned(), uid))?;
    cluster.origins.remove(&client.id);
    if !client.ip.is_unspecified() {
        cluster.uncount_remote_ip(server.ip_key(client.ip));
    }
    Some(client)
}

/// A remote user joins `name` (created here if new, with the default modes
/// and the creation time `created` its creator's node gave it).
fn join(server: &Server, client: &Arc<Client>, name: &str, modes: MemberModes, created: i64) {
    let created = if created > 0 { created } else { chrono::Utc::now().timestamp() };
    let channel = loop {
        let ch = server.channel_or_create_at(name, created);
        let mut st = ch.write();
        if st.dead {
            continue;
        }
        // An invitation ends with the JOIN, also one applied again over a
        // snapshot that has the member (and, applied again, the invitation).
        st.invited.remove(&client.id);
        if st.members.contains_key(&client.id) {
            return;
        }
        if st.members.is_empty() && !st.is_persistent() {
            st.modes.apply_defaults(&server.config().channels.default_modes);
        }
        st.add(client.clone(), modes);
        break ch.clone();
    };
    client.info_mut().channels.push(channel.clone());
    crate::commands::channel::broadcast_join(&channel, client, None);
}

/// What a sequenced change did on a node.
#[derive(Debug)]
pub enum Applied {
    /// Made, and shown to the members as this line.
    Shown(Line),
    /// Refused where it was applied (a JOIN the channel's modes keep out, a
    /// change its maker may no longer make there): why.
    Refused(crate::proto::numeric::Numeric),
    /// Made, with no line to show (a ChanServ registration change).
    Made,
    /// Nothing: what it changes is gone, or it changes nothing there.
    Nothing,
}

/// Applies a sequenced change (see [`crate::state::sequencer`]): the same
/// call on a single node, on the node that made it when it comes back from
/// the log, and on every other node; the line goes to this node's members
/// except connection `except` (whose copy is its command's reply).
pub fn sequenced(server: &Server, event: &Event, except: Option<ClientId>) -> Applied {
    let shown = match event {
        Event::Join { node, uid, chan, ts, key, .. } => {
            let Some(joiner) = user(server, node, *uid) else { return Applied::Nothing };
            return join_in_order(server, &joiner, chan, key.as_deref(), *ts, except);
        }
        Event::Topic { node, uid, chan, line, set_at } => {
            let Ok(setter) = maker(server, node, Some(*uid)) else { return Applied::Nothing };
            return topic(server, chan, setter.as_deref(), line, *set_at, except);
        }
        Event::Invite { node, uid, chan, to: (to_node, to_uid), line, .. } => {
            let (Ok(inviter), Some(victim)) = (maker(server, node, Some(*uid)), user(server, to_node, *to_uid)) else {
                return Applied::Nothing;
            };
            return invite(server, chan, inviter.as_deref(), &victim, &line.to_line(), except);
        }
        Event::Mode { node, uid, chan, line, at, changes } => {
            let Ok(setter) = maker(server, node, *uid) else { return Applied::Nothing };
            return mode(server, chan, setter.as_deref(), line, *at, changes.clone(), except);
        }
        Event::Part { node, uid, chan, reason, .. } => {
            user(server, node, *uid).and_then(|c| part(server, &c, chan, reason, except))
        }
        Event::Registration { chan, change, .. } => return registration(server, chan, change),
        Event::Away { node, uid, line, .. } => user(server, node, *uid).map(|c| away(server, &c, line.to_line())),
        Event::Account { node, uid, line, .. } => {
            user(server, node, *uid).map(|c| logged_in(server, &c, line.to_line()))
        }
        Event::Realname { node, uid, line, .. } => {
            user(server, node, *uid).and_then(|c| realname(server, &c, line.to_line()))
        }
        Event::Nick { node, uid, nick, .. } => {
            let Some(client) = user(server, node, *uid) else { return Applied::Nothing };
            return renamed(server, &client, nick, except);
        }
        Event::Kick { node, uid, chan, to_node, to_uid, reason, .. } => {
            let (Some(kicker), Some(victim)) = (user(server, node, *uid), user(server, to_node, *to_uid)) else {
                return Applied::Nothing;
            };
            return kick(server, &kicker, chan, &victim, reason, except);
        }
        other => {
            tracing::warn!(?other, "not a sequenced change; skipped");
            None
        }
    };
    shown.map_or(Applied::Nothing, Applied::Shown)
}

/// The user who made a change to a channel, whose standing there is checked
/// again where the log has the change: `None` for a change no user made
/// (ChanServ's, a snapshot's), `Err` if the user is gone by then.
fn maker(server: &Server, node: &str, uid: Option<u64>) -> Result<Option<Arc<Client>>, ()> {
    match uid {
        Some(uid) if node != super::snapshot::SOURCE => user(server, node, uid).map(Some).ok_or(()),
        _ => Ok(None),
    }
}

/// `joiner` joins `name` in the log's order, where the channel's modes let
/// it in with `key` (an IRC operator passes them; its own node logs that):
/// the channel is created (with the default modes and creation time
/// `created`) if it does not exist, and the first to join it while it is
/// empty is its operator; a registered channel gives the status of its
/// access list. The JOIN goes to the members but connection `except`.
fn join_in_order(
    server: &Server,
    joiner: &Arc<Client>,
    name: &str,
    key: Option<&str>,
    created: i64,
    except: Option<ClientId>,
) -> Applied {
    let created = if created > 0 { created } else { chrono::Utc::now().timestamp() };
    let local = server.cluster().is_none_or(|c| !c.is_remote(joiner.id));
    let account = joiner.info().account.clone();
    let channel = loop {
        let ch = server.channel_or_create_at(name, created);
        let mut st = ch.write();
        if st.dead {
            continue;
        }
        if st.members.contains_key(&joiner.id) {
            return Applied::Nothing;
        }
        let first = st.members.is_empty();
        let fresh = first && !st.is_persistent();
        let oper = joiner.is_oper();
        if fresh {
            st.modes.apply_defaults(&server.config().channels.default_modes);
        } else if st.access_of(server.casemap, account.as_deref()).is_none() {
            // The founder and access-list accounts of a registered channel
            // are let in; operators pass +k/+l/+i/+b.
            if let Some(refusal) = crate::commands::channel::join_refusal(server, &st, joiner, key) {
                if !oper {
                    drop(st);
                    server.remove_channel_if_empty(&ch);
                    return Applied::Refused(refusal);
                }
                if local {
                    let numeric = refusal.code;
                    tracing::warn!(who = %joiner.mask(), channel = %ch.name, numeric, "oper override: JOIN");
                }
            }
        }
        st.invited.remove(&joiner.id);
        // A registered channel's status follows its founder and access list.
        // Otherwise ops go to whoever creates the channel (the first JOIN in
        // the log to find it empty), never to the first into an empty
        // permanent one (that let anyone take it over with +ik and leave),
        // except an operator, so that it can be looked after.
        let op_by_oper = first && !fresh && oper && st.registration.is_none();
        let modes = match &st.registration {
            Some(_) => st.access_of(server.casemap, account.as_deref()).unwrap_or_default(),
            None => MemberModes { op: fresh || op_by_oper, voice: false },
        };
        if op_by_oper && local {
            tracing::warn!(who = %joiner.mask(), channel = %ch.name, "oper took ops in an empty permanent channel");
        }
        st.add(joiner.clone(), modes);
        break ch.clone();
    };
    joiner.info_mut().channels.push(channel.clone());
    let (plain, _) = crate::commands::channel::broadcast_join(&channel, joiner, except);
    Applied::Shown(plain)
}

/// The user `uid` of `node`: on a single node, a client of this server.
fn user(server: &Server, node: &str, uid: u64) -> Option<Arc<Client>> {
    match server.cluster() {
        Some(cluster) => cluster.lookup(server, node, uid),
        None => server.clients.get(&uid).map(|c| c.clone()),
    }
}

/// Sets `chan`'s topic as `wire` (a TOPIC line) says, where `setter` (if a
/// user set it) may still set it, and shows the line to the members.
fn topic(
    server: &Server,
    chan: &str,
    setter: Option<&Client>,
    wire: &WireLine,
    set_at: i64,
    except: Option<ClientId>,
) -> Applied {
    let Some(ch) = server.find_channel(chan) else { return Applied::Nothing };
    let line = wire.to_line();
    {
        let mut st = ch.write();
        // Its standing may be gone: a KICK or deop ahead of it in the log.
        if let Some(Err(why)) = setter.map(|s| st.may_change(s.id, st.modes.topic_ops)) {
            return Applied::Refused(why);
        }
        let text = line.params.get(1).cloned().unwrap_or_default();
        st.topic = if text.is_empty() { None } else { Some(Topic { text, set_by: line.source.clone(), set_at }) };
    }
    fanout::to_channel(&ch, &line, except, fanout::everyone);
    Applied::Shown(line)
}

/// `client` leaves `chan`, if it is still there (a PART applied again over a
/// snapshot that has it gone, or overtaken by a KICK, is not): the PART
/// line goes to the members.
fn part(server: &Server, client: &Client, chan: &str, reason: &str, except: Option<ClientId>) -> Option<Line> {
    depart(server, chan, client, except, |name| {
        let mut params = vec![name.to_owned()];
        if !reason.is_empty() {
            params.push(reason.to_owned());
        }
        client.line("PART", params)
    })
}

/// `kicker` removes `victim` from `chan`, if the kicker is still an
/// operator there and the victim still a member: the KICK line goes to the
/// members, the victim included.
fn kick(
    server: &Server,
    kicker: &Client,
    chan: &str,
    victim: &Client,
    reason: &str,
    except: Option<ClientId>,
) -> Applied {
    let Some(ch) = server.find_channel(chan) else { return Applied::Nothing };
    if let Err(why) = ch.read().may_change(kicker.id, true) {
        return Applied::Refused(why);
    }
    let kicked = depart(server, chan, victim, except, |name| {
        kicker.line("KICK", vec![name.to_owned(), victim.nick(), reason.to_owned()])
    });
    kicked.map_or(Applied::Nothing, Applied::Shown)
}

/// `who` leaves `chan` if it is a member there: `line` (given the
/// channel's name) goes to the members but connection `except`, then `who`
/// is gone from the channel. The line, if so.
fn depart(
    server: &Server,
    chan: &str,
    who: &Client,
    except: Option<ClientId>,
    line: impl FnOnce(&str) -> Line,
) -> Option<Line> {
    let ch = server.find_channel(chan)?;
    if !ch.read().members.contains_key(&who.id) {
        return None;
    }
    let line = line(&ch.name);
    fanout::to_channel(&ch, &line, except, fanout::everyone);
    membership::leave(server, who, &ch);
    Some(line)
}

/// Mode changes to `chan` (a MODE, or ChanServ's): applied here in order,
/// those `setter` (if a user made them) may still make (an operator of the
/// channel all, an IRC operator `+P`), and the MODE line showing what
/// changed here sent to this node's members except connection `except`.
/// The line, if anything changed.
fn mode(
    server: &Server,
    chan: &str,
    setter: Option<&Client>,
    wire: &WireLine,
    at: i64,
    mut changes: Vec<ModeChange>,
    except: Option<ClientId>,
) -> Applied {
    let Some(ch) = server.find_channel(chan) else { return Applied::Nothing };
    let max = server.config().limits.max_list_entries;
    let applied: Vec<channel::ModeChange> = {
        let mut st = ch.write();
        if let Some((setter, Err(why))) = setter.map(|s| (s, st.may_change(s.id, true))) {
            // An IRC operator keeps what needs no channel operator (+P).
            if setter.is_oper() {
                changes.retain(|c| !ChannelState::needs_op(c.mode));
            }
            if !setter.is_oper() || changes.is_empty() {
                return Applied::Refused(why);
            }
        }
        let by = &wire.src;
        changes.into_iter().filter_map(|c| mode_change(server, &mut st, (by, at, max), c)).collect()
    };
    let shown = (!applied.is_empty()).then(|| {
        let mut line = wire.to_line();
        line.params = channel::mode_params(&ch.name, &applied);
        fanout::to_channel(&ch, &line, except, fanout::everyone);
        line
    });
    // An empty channel that lost +P ends here.
    server.remove_channel_if_empty(&ch);
    shown.map_or(Applied::Nothing, Applied::Shown)
}

/// Applies one mode change to a channel's state; what it changed, with the
/// parameter to show, or None when it changed nothing here. A key or limit
/// set again to the value it has counts as a change (as IRC servers show
/// it). A list takes a new entry only below `limits.max_list_entries` (the
/// same on every node).
fn mode_change(
    server: &Server,
    st: &mut ChannelState,
    (setter, at, max): (&str, i64, usize),
    c: ModeChange,
) -> Option<channel::ModeChange> {
    let (add, mode) = (c.add, c.mode);
    let shown = |arg: Option<String>| Some(channel::ModeChange { add, mode, arg, member: None });
    match mode {
        'o' | 'v' => {
            let (node, uid) = c.to?;
            let who = user(server, &node, uid)?;
            let member = st.members.get_mut(&who.id)?;
            let flag = if mode == 'o' { &mut member.modes.op } else { &mut member.modes.voice };
            if *flag == add {
                return None;
            }
            *flag = add;
            Some(channel::ModeChange { add, mode, arg: Some(who.nick()), member: Some(who.id) })
        }
        'k' if add => {
            let key = c.arg?;
            st.modes.key = Some(key.clone());
            shown(Some(key))
        }
        'k' => st.modes.key.take().and_then(|_| shown(Some("*".into()))),
        'l' if add => {
            let limit = c.arg.as_deref()?.parse::<usize>().ok()?;
            st.modes.limit = Some(limit);
            shown(c.arg)
        }
        'l' => st.modes.limit.take().and_then(|_| shown(None)),
        'b' | 'e' | 'I' => {
            let mask = c.arg?;
            let list = st.list_mut(mode)?;
            let pos = list.iter().position(|e| server.casemap.eq(&e.mask, &mask));
            match (add, pos) {
                (true, None) if list.len() < max => {
                    list.push(ListEntry { mask: mask.clone(), set_by: setter.to_owned(), set_at: at });
                    shown(Some(mask))
                }
                // Shown as listed (the case it was set with).
                (false, Some(i)) => shown(Some(list.remove(i).mask)),
                _ => None,
            }
        }
        _ => {
            let flag = st.modes.flag_mut(mode)?;
            if *flag == add {
                return None;
            }
            *flag = add;
            shown(None)
        }
    }
}

/// A remote user's modes changed (`+i-w` style), with the server's counts.
fn user_modes(server: &Server, client: &Client, modes: &str) {
    let mut info = client.info_mut();
    let mut adding = true;
    for c in modes.chars() {
        let flag = match c {
            '+' | '-' => {
                adding = c == '+';
                continue;
            }
            'i' => &mut info.modes.invisible,
            'w' => &mut info.modes.wallops,
            'B' => &mut info.modes.bot,
            'o' => &mut info.modes.oper,
            _ => continue,
        };
        if *flag == adding {
            continue;
        }
        *flag = adding;
        let count = match c {
            'i' => &server.invisible_count,
            'o' => &server.oper_count,
            _ => continue,
        };
        if adding {
            count.fetch_add(1, Ordering::Relaxed);
        } else {
            count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// `victim` is invited to `chan` (not if it is a member there, or the
/// channel is gone), where `inviter` (if a user invited it) may still
/// invite (a member, an operator where `+i` is set): it gets the INVITE
/// `line` (from its own node), and so do the channel's operators that asked
/// for invite-notify, but connection `except` (the inviter's: its answer is
/// `341`).
fn invite(
    server: &Server,
    chan: &str,
    inviter: Option<&Client>,
    victim: &Arc<Client>,
    line: &Line,
    except: Option<ClientId>,
) -> Applied {
    let Some(ch) = server.find_channel(chan) else { return Applied::Nothing };
    let ops: std::collections::HashSet<ClientId> = {
        let mut st = ch.write();
        if let Some(Err(why)) = inviter.map(|i| st.may_change(i.id, st.modes.invite_only)) {
            return Applied::Refused(why);
        }
        if st.members.contains_key(&victim.id) {
            return Applied::Nothing;
        }
        st.invited.insert(victim.id);
        st.members.values().filter(|m| m.modes.op).map(|m| m.client.id).collect()
    };
    {
        let mut info = victim.info_mut();
        if info.invited_to.len() < crate::state::client::MAX_INVITES_KEPT {
            info.invited_to.insert(ch.name.clone());
        }
    }
    fanout::to_client(victim, line);
    // The ops are read before the fan-out, which holds the channel's lock.
    fanout::to_channel(&ch, line, except, |c, caps| caps.has(Cap::InviteNotify) && ops.contains(&c.id));
    Applied::Shown(line.clone())
}

/// TAGMSG only reaches message-tags clients.
fn tags_filter(line: &Line) -> impl Fn(&Client, CapSet) -> bool {
    let tags_only = line.command == "TAGMSG";
    move |_, caps| !tags_only || caps.has(Cap::MessageTags)
}

/// Channel messages of a remote user, delivered to this node's members:
/// in one block, or to the ops/voiced ones for `@#chan` and `+#chan`.
fn to_channel(server: &Server, lines: Vec<WireLine>) {
    let Some(first) = lines.first() else { return };
    let target = first.params.first().map(String::as_str).unwrap_or("");
    let status: String = target.chars().take_while(|c| *c == '@' || *c == '+').collect();
    let Some(ch) = server.find_channel(&target[status.len()..]) else { return };
    let lines: Vec<Line> = lines.into_iter().map(WireLine::into_line).collect();
    if status.is_empty() {
        let filter = tags_filter(&lines[0]);
        let block: Vec<fanout::BlockLine> = lines.into_iter().map(|l| (l, Vec::new())).collect();
        let sent = fanout::block_to_channel(&ch, &block, None, filter);
        METRICS.relayed(block.len(), sent * block.len());
    } else {
        for line in &lines {
            let sent = fanout::to_channel_status(&ch, line, None, !status.contains('@'));
            METRICS.relayed(1, sent);
        }
    }
}

/// A change of a channel's ChanServ registration, where the log has it (the
/// origin saves it): a channel registered after its last member left is made
/// again, empty, as a registered channel is after a restart; a channel
/// dropped while empty ends here as on its origin.
fn registration(server: &Server, chan: &str, change: &RegistrationChange) -> Applied {
    let (ch, changed) = loop {
        let ch = match change {
            RegistrationChange::Register { at, .. } => server.channel_or_create_at(chan, *at),
            _ => match server.find_channel(chan) {
                Some(ch) => ch,
                None => return Applied::Nothing,
            },
        };
        let mut st = ch.write();
        if st.dead {
            continue;
        }
        let changed = registration::apply(&mut st, server.casemap, change);
        drop(st);
        break (ch, changed);
    };
    if matches!(change, RegistrationChange::Drop) {
        server.remove_channel_if_empty(&ch);
    }
    if changed {
        Applied::Made
    } else {
        Applied::Nothing
    }
}

/// A channel as a snapshot has it begins ([`Event::Channel`]): made with
/// creation time `ts` if new here, else (a registered channel restored from
/// the store at start) what the store gave it of the log's state goes, so
/// the snapshot's events that follow set it exactly.
fn begin_channel(server: &Server, chan: &str, ts: i64) {
    loop {
        let ch = server.channel_or_create_at(chan, ts);
        let mut st = ch.write();
        if st.dead {
            continue;
        }
        st.topic = None;
        st.modes = Default::default();
        st.bans.clear();
        st.excepts.clear();
        st.invex.clear();
        st.invited.clear();
        st.registration = None;
        return;
    }
}

/// A node went down: each of its users quits, as in a netsplit.
fn node_down(server: &Server, cluster: &Cluster, node: String) {
    let users: Vec<(String, u64)> =
        cluster.remotes.iter().filter(|e| e.key().0 == node).map(|e| e.key().clone()).collect();
    tracing::info!(%node, users = users.len(), "cluster: a node left the network");
    cluster.homes.remove(&node);
    for (node, uid) in users {
        if let Some(c) = cluster.lookup(server, &node, uid) {
            membership::remove_now(server, &c, SPLIT_REASON);
            forget(server, cluster, &node, uid);
        }
    }
}
