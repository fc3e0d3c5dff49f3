//! A snapshot: this node's copy of the network's state, written as the
//! events that rebuild it (one JSON event a line), so that a joining node
//! loads it with the same apply function as the log ([`super::apply`]).
//!
//! Taken in the reader right after it applied log entry X: the state is then
//! the log through X, plus this node's own changes it applied at once whose
//! events come after X. A joiner applies those again on top of the snapshot;
//! every apply of the log is written to make that harmless (a user or member
//! already there, a mode already set, a nick already held).

use super::{Cluster, Event, ModeChange, WireLine};
use crate::state::channel::{Channel, ChannelState};
use crate::state::client::{Client, ClientId};
use crate::state::registration::RegistrationChange;
use crate::state::Server;
use std::collections::HashMap;
use std::sync::Arc;

/// The `node` of a snapshot's channel events: never the name of a node of
/// the network (theirs are `NAME:RANDOM`), so it is never skipped as a
/// joiner's own.
pub const SOURCE: &str = "snapshot";

/// The flag modes a snapshot sets or clears, every one of them.
const FLAGS: &str = "CimnstP";

/// The users a snapshot has: by their id here, their node and id there, and nick.
type Users = HashMap<ClientId, ((String, u64), String)>;

/// This node's state as snapshot data: one event JSON a line: every user
/// with its away message and METADATA, then every channel. (Departed nodes
/// need no record: none can append after its NodeDown.)
pub fn encode(server: &Server, cluster: &Cluster) -> String {
    let mut out = String::new();
    let mut push = |event: Event| {
        out.push_str(&event.to_json());
        out.push('\n');
    };
    let clients: Vec<Arc<Client>> = server.clients.iter().map(|c| c.value().clone()).collect();
    let mut users: Users = HashMap::new();
    for client in clients.iter().filter(|c| is_user(server, c)) {
        let (node, uid) = cluster.address(client);
        for event in user_events(server, client, &node, uid) {
            push(event);
        }
        users.insert(client.id, ((node, uid), client.nick()));
    }
    let channels: Vec<Arc<Channel>> = server.channels.iter().map(|c| c.value().clone()).collect();
    let me = &server.config().server.name;
    for ch in &channels {
        let st = ch.read();
        if !st.dead {
            for event in channel_events(ch, &st, &users, me) {
                push(event);
            }
        }
    }
    out
}

/// A registered user of the network: a registered client holding its own
/// nick (a session attached to another client's identity holds none).
fn is_user(server: &Server, client: &Client) -> bool {
    client.is_registered() && server.nicks.get(&server.fold(&client.nick())).is_some_and(|h| h.id == client.id)
}

/// A user's introduction, its away message if it has one, and its METADATA.
fn user_events(server: &Server, client: &Client, node: &str, uid: u64) -> Vec<Event> {
    let mut events = vec![super::user_event(server, client, node, uid)];
    let away = {
        let info = client.info();
        info.away.clone().map(|text| (info.mask(), text))
    };
    if let Some((mask, text)) = away {
        let (line, id) = (wire(mask, "AWAY", vec![text]), String::new());
        events.push(Event::Away { node: node.to_owned(), uid, line, id });
    }
    events.extend(super::user_metadata_event(SOURCE, client, node, uid));
    events
}

/// One channel: its start ([`Event::Channel`]), its registration, its
/// members in join order with their prefixes, its flags, key and limit, each
/// list entry with its setter and time, its topic, its invitations. `users`
/// are the users the snapshot has (a member not among them is leaving).
fn channel_events(ch: &Channel, st: &ChannelState, users: &Users, me: &str) -> Vec<Event> {
    let chan = ch.name.clone();
    let source = || SOURCE.to_owned();
    let mut events = vec![Event::Channel { node: source(), chan: chan.clone(), ts: ch.created }];
    if let Some(reg) = &st.registration {
        let mut changes = vec![RegistrationChange::Register { founder: reg.founder.clone(), at: reg.registered_at }];
        changes.extend(
            reg.access
                .iter()
                .map(|a| RegistrationChange::Access { account: a.account.clone(), mode: Some(a.mode.letter()) }),
        );
        events.extend(changes.into_iter().map(|change| Event::Registration {
            node: source(),
            chan: chan.clone(),
            change,
            id: String::new(),
        }));
    }
    for m in st.members_ordered() {
        if let Some(((node, uid), _)) = users.get(&m.client.id) {
            let (node, uid, op, voice) = (node.clone(), *uid, m.modes.op, m.modes.voice);
            let (key, id) = (None, String::new());
            events.push(Event::Join { node, uid, chan: chan.clone(), op, voice, ts: ch.created, key, id });
        }
    }
    let set = st.modes.flags();
    let mut changes: Vec<ModeChange> =
        FLAGS.chars().map(|mode| ModeChange { add: set.contains(mode), mode, arg: None, to: None }).collect();
    if let Some(key) = &st.modes.key {
        changes.push(ModeChange { add: true, mode: 'k', arg: Some(key.clone()), to: None });
    }
    if let Some(limit) = st.modes.limit {
        changes.push(ModeChange { add: true, mode: 'l', arg: Some(limit.to_string()), to: None });
    }
    events.push(mode_event(&chan, me.to_owned(), 0, changes));
    for (mode, list) in [('b', &st.bans), ('e', &st.excepts), ('I', &st.invex)] {
        for entry in list {
            let change = ModeChange { add: true, mode, arg: Some(entry.mask.clone()), to: None };
            events.push(mode_event(&chan, entry.set_by.clone(), entry.set_at, vec![change]));
        }
    }
    if !st.metadata.is_empty() {
        events.push(Event::Metadata {
            node: source(),
            user: None,
            chan: Some(chan.clone()),
            changes: super::all_keys(&st.metadata),
        });
    }
    if let Some(topic) = &st.topic {
        let line = wire(topic.set_by.clone(), "TOPIC", vec![chan.clone(), topic.text.clone()]);
        events.push(Event::Topic { node: source(), uid: 0, chan: chan.clone(), line, set_at: topic.set_at });
    }
    for id in &st.invited {
        if let Some((to, nick)) = users.get(id) {
            let line = wire(me.to_owned(), "INVITE", vec![nick.clone(), chan.clone()]);
            let (to, id) = (to.clone(), String::new());
            events.push(Event::Invite { node: source(), uid: 0, chan: chan.clone(), to, line, id });
        }
    }
    events
}

/// A Mode event of a snapshot: `changes` by `setter` at Unix time `at` (the
/// setter and time of the list entries it adds).
fn mode_event(chan: &str, setter: String, at: i64, changes: Vec<ModeChange>) -> Event {
    let line = wire(setter, "MODE", vec![chan.to_owned()]);
    Event::Mode { node: SOURCE.to_owned(), uid: None, chan: chan.to_owned(), line, at, changes }
}

/// A line with no tags.
fn wire(src: String, cmd: &str, params: Vec<String>) -> WireLine {
    WireLine { tags: Vec::new(), ctags: None, src, cmd: cmd.to_owned(), params }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
