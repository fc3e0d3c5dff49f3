//! Leaving channels and leaving the server: the state changes shared by PART,
//! KICK, JOIN 0, QUIT, KILL and lost connections.

use super::channel::Channel;
use super::client::Client;
use super::fanout;
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

/// Removes a client from the server: sends `QUIT :reason` once to everyone who
/// shared a channel, leaves every channel, frees the nick and records WHOWAS.
/// Safe to call twice; only the first call does anything.
pub fn remove_client(server: &Server, client: &Arc<Client>, reason: &str) {
    if server.clients.remove(&client.id).is_none() {
        return;
    }
    server.release_ip(client.ip);
    if client.is_registered() {
        let line = client.line("QUIT", vec![reason.to_owned()]);
        fanout::to_clients(&fanout::peers(client), &line, fanout::everyone);
        server.registered_count.fetch_sub(1, Ordering::Relaxed);
        if client.is_oper() {
            server.oper_count.fetch_sub(1, Ordering::Relaxed);
        }
        let info = client.info();
        if info.modes.invisible {
            server.invisible_count.fetch_sub(1, Ordering::Relaxed);
        }
        server.remember(&info.nick, &info);
    }
    let channels = std::mem::take(&mut client.info_mut().channels);
    for ch in &channels {
        ch.write().members.remove(&client.id);
        server.remove_channel_if_empty(ch);
    }
    let nick = client.nick();
    server.release_nick(client);
    super::monitor::clear(server, client);
    server.history.forget_client(client.id);
    if client.is_registered() {
        super::monitor::notify_offline(server, &nick);
    }
}
