//! MONITOR bookkeeping: who watches which nick, and the notifications.

use super::client::{Client, ClientId};
use super::Server;
use crate::caps::Cap;
use crate::proto::line::Line;
use crate::proto::numeric::*;
use std::collections::HashSet;
use std::sync::Arc;

/// Removes one watcher of a folded nick.
pub fn unwatch(server: &Server, folded: &str, id: ClientId) {
    if let Some(mut set) = server.monitors.get_mut(folded) {
        set.remove(&id);
    }
    server.monitors.remove_if(folded, |_, s| s.is_empty());
}

/// Drops every MONITOR entry of `client` (MONITOR C, and on quit).
pub fn clear(server: &Server, client: &Client) {
    let list: Vec<String> = std::mem::take(&mut *client.info_mut().monitoring).into_iter().collect();
    for folded in list {
        unwatch(server, &folded, client.id);
    }
}

fn notify(server: &Server, nick: &str, numeric: Numeric, what: String) {
    let Some(watchers) = server.monitors.get(&server.fold(nick)).map(|s| s.clone()) else { return };
    let name = server.config().server.name.clone();
    for id in watchers {
        if let Some(c) = server.clients.get(&id).map(|c| c.clone()) {
            let line = Line::new(name.clone(), numeric.code, vec![c.nick(), what.clone()]);
            crate::state::fanout::to_client(&c, &line);
            if numeric == RPL_MONONLINE && c.caps().has(Cap::Metadata) {
                // draft/metadata-3: a metadata-aware watcher is told to SYNC the newcomer.
                let text = RPL_METADATASYNCLATER.text.unwrap_or_default().to_owned();
                let params = vec![c.nick(), nick.to_owned(), "0".into(), text];
                crate::state::fanout::to_client(&c, &Line::new(name.clone(), RPL_METADATASYNCLATER.code, params));
            }
        }
    }
}

/// Tells watchers that `client` is online.
pub fn notify_online(server: &Server, client: &Client) {
    notify(server, &client.nick(), RPL_MONONLINE, client.mask());
}

/// Tells watchers that `nick` went offline.
pub fn notify_offline(server: &Server, nick: &str) {
    notify(server, nick, RPL_MONOFFLINE, nick.to_owned());
}

/// The registered clients watching `nick` with MONITOR.
pub fn watchers(server: &Server, nick: &str) -> Vec<Arc<Client>> {
    let Some(ids) = server.monitors.get(&server.fold(nick)).map(|s| s.clone()) else { return Vec::new() };
    ids.into_iter().filter_map(|id| server.clients.get(&id).map(|c| c.clone())).collect()
}

/// Who sees `client`'s AWAY, ACCOUNT and SETNAME changes: its channel peers and,
/// once each, the clients monitoring it with extended-monitor (each still
/// filtered by the matching notify capability at the call site).
pub fn audience(server: &Server, client: &Client) -> Vec<Arc<Client>> {
    let mut out = crate::state::fanout::peers(client);
    let mut seen: HashSet<_> = out.iter().map(|c| c.id).collect();
    seen.insert(client.id);
    for w in watchers(server, &client.nick()) {
        if w.caps().has(Cap::ExtendedMonitor) && seen.insert(w.id) {
            out.push(w);
        }
    }
    out
}
