//! Fan-out: every state change that others must see leaves through here, serialized
//! once per capability variant and appended to each recipient's outbox.
//!
//! Keeping delivery in one layer means a later multi-node mode can publish these
//! same events to other servers without touching the command handlers.

use super::channel::Channel;
use super::client::{Client, ClientId};
use crate::caps::Cap;
use crate::proto::line::{Line, Variants};
use std::collections::HashSet;
use std::sync::Arc;

/// Sends `line` to every member of `channel` except `except`; `filter` decides per recipient.
pub fn to_channel(channel: &Channel, line: &Line, except: Option<ClientId>, filter: impl Fn(&Client) -> bool) {
    let mut variants = Variants::new(line);
    let st = channel.read();
    for m in st.members.values() {
        if Some(m.client.id) == except || !filter(&m.client) {
            continue;
        }
        m.client.send(variants.for_caps(m.client.caps()));
    }
}

/// Sends `line` to every member of `channel` (except `except`) with at least the
/// given prefix (`@` ops only, `+` voiced and ops): STATUSMSG.
pub fn to_channel_status(channel: &Channel, line: &Line, except: Option<ClientId>, min_voice: bool) {
    let mut variants = Variants::new(line);
    let st = channel.read();
    for m in st.members.values() {
        let ok = m.modes.op || (min_voice && m.modes.voice);
        if Some(m.client.id) == except || !ok {
            continue;
        }
        m.client.send(variants.for_caps(m.client.caps()));
    }
}

/// Everyone who shares a channel with `client`, once each, without `client` itself.
pub fn peers(client: &Client) -> Vec<Arc<Client>> {
    let channels = client.info().channels.clone();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for ch in channels {
        for m in ch.read().members.values() {
            if m.client.id != client.id && seen.insert(m.client.id) {
                out.push(m.client.clone());
            }
        }
    }
    out
}

/// Sends `line` once to each client in `to` for which `filter` holds.
pub fn to_clients(to: &[Arc<Client>], line: &Line, filter: impl Fn(&Client) -> bool) {
    let mut variants = Variants::new(line);
    for c in to {
        if filter(c) {
            c.send(variants.for_caps(c.caps()));
        }
    }
}

/// Sends `line` to one client.
pub fn to_client(client: &Client, line: &Line) {
    client.send(&line.serialize(client.caps(), &[]));
}

/// A filter for recipients that negotiated `cap`.
pub fn with_cap(cap: Cap) -> impl Fn(&Client) -> bool {
    move |c| c.caps().has(cap)
}

/// A filter for recipients that did not negotiate `cap`.
pub fn without_cap(cap: Cap) -> impl Fn(&Client) -> bool {
    move |c| !c.caps().has(cap)
}

/// A filter that accepts everyone.
pub fn everyone(_: &Client) -> bool {
    true
}
