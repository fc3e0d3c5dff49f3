//! Leaving channels and leaving the server: the state changes shared by PART,
//! KICK, JOIN 0, QUIT, KILL and lost connections.

use super::channel::Channel;
use super::client::Client;
use super::fanout;
use super::session::{self, Detached};
use super::Server;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Removes `client` from `channel` (and the channel from the client's list);
/// removes the channel if it is now empty. Returns whether it was a member.
pub fn leave(server: &Server, client: &Client, channel: &Arc<Channel>) -> bool {
    let was = channel.write().members.remove(&client.id).is_some();
    client.info_mut().channels.retain(|c| !Arc::ptr_eq(c, channel));
    if was {
        server.remove_channel_if_empty(channel);
    }
    was
}

/// Ends connection `link` of `client` (the client itself for its own
/// connection) and gives back its address slot. When other connections of
/// the client remain (multiclient), only this one goes: it sees its own QUIT,
/// nobody else sees anything, and this returns [`Detached::Others`] (a shared
/// client's last session sees its QUIT too); otherwise
/// the caller removes the client ([`remove_client`]).
pub fn detach(server: &Server, client: &Arc<Client>, link: &Arc<Client>, reason: &str) -> Detached {
    server.release_ip(link.ip);
    let shared = client.sessions_any();
    let left = session::detach(client, link);
    if shared && client.is_registered() {
        // A session sees its own QUIT (the last one, too, as on ergo).
        let line = client.line("QUIT", vec![reason.to_owned()]);
        fanout::to_connection(link, &line);
    }
    if left == Detached::Others {
        if link.id != client.id {
            server.history.forget_client(link.id);
        }
        tracing::info!(client = client.id, connection = link.id, "session detached");
    }
    left
}

/// Removes a client from the server ([`remove_now`]): at once on a single
/// node; on a node of a cluster, a registered user of this node leaves its
/// channels when its QUIT comes back in the log (see
/// [`crate::cluster::quit`]), so that every node, this one included, shows
/// its QUIT at the same place in the log, and lets go of its nick here at
/// once ([`let_go`]: the nick was given back in Redis ahead of any later
/// claim). Safe to call twice; only the first call does anything.
pub fn remove_client(server: &Server, client: &Arc<Client>, reason: &str) {
    if !server.clients.contains_key(&client.id) {
        return;
    }
    match crate::cluster::quit(server, client, reason) {
        crate::cluster::Leaving::Now => remove_now(server, client, reason),
        crate::cluster::Leaving::InOrder => {
            let_go(server, client);
            count_out(server, client);
        }
        crate::cluster::Leaving::Already => {}
    }
}

/// Removes a client from the server now: leaves its channels
/// ([`leave_all`]) and lets go of its nick ([`let_go`]).
pub fn remove_now(server: &Server, client: &Arc<Client>, reason: &str) {
    if leave_all(server, client, reason) {
        let_go(server, client);
    }
}

/// Takes a client out of the server's clients and its channels, sending
/// `QUIT :reason` once to everyone who shared a channel, and out of the
/// user counts; false if it was gone already.
pub fn leave_all(server: &Server, client: &Arc<Client>, reason: &str) -> bool {
    let left = leave_all_quit(server, client, reason);
    if left {
        count_out(server, client);
    }
    left
}

/// [`leave_all`] but for the counts: for a user of this node whose QUIT
/// came back in the log, counted out when it quit.
pub fn leave_all_quit(server: &Server, client: &Arc<Client>, reason: &str) -> bool {
    if server.clients.remove(&client.id).is_none() {
        return false;
    }
    if client.is_registered() {
        let line = client.line("QUIT", vec![reason.to_owned()]);
        fanout::to_clients(&fanout::peers(client), &line, fanout::everyone);
    }
    let channels = std::mem::take(&mut client.info_mut().channels);
    for ch in &channels {
        ch.write().members.remove(&client.id);
        server.remove_channel_if_empty(ch);
    }
    true
}

/// Takes a registered user out of LUSERS's counts: at once when it quits,
/// also on a node of a cluster where it leaves its channels only when its
/// QUIT comes back in the log (its connection is gone already).
fn count_out(server: &Server, client: &Client) {
    if !client.is_registered() {
        return;
    }
    server.registered_count.fetch_sub(1, Ordering::Relaxed);
    if client.is_oper() {
        server.oper_count.fetch_sub(1, Ordering::Relaxed);
    }
    if client.info().modes.invisible {
        server.invisible_count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a leaving client lets go of at once, wherever it leaves its
/// channels: its nick (free to be claimed again), its WHOWAS entry, its
/// MONITOR list, and the watchers of its nick are told it is offline.
fn let_go(server: &Server, client: &Client) {
    let nick = client.nick();
    if client.is_registered() {
        server.remember(&nick, &client.info());
    }
    server.release_nick(client);
    super::monitor::clear(server, client);
    server.history.forget_client(client.id);
    if client.is_registered() {
        super::monitor::notify_offline(server, &nick);
    }
}
