//! MONITOR bookkeeping: who watches which nick, and the notifications.

use super::client::{Client, ClientId};
use super::Server;
use crate::proto::line::Line;
use crate::proto::numeric::*;

/// Removes one watcher of a folded nick.
pub fn unwatch(server: &Server, folded: &str, id: ClientId) {
    if let Some(mut set) = server.monitors.get_mut(folded) {
        set.remove(&id);
    }
    server.monitors.remove_if(folded, |_, s| s.is_empty());
}

/// Drops every MONITOR entry of `client` (MONITOR C, and on quit).
pub fn clear(server: &Server, client: &Client) {
    let list: Vec<String> = client.info_mut().monitoring.drain().collect();
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
