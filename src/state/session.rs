//! Multiclient: several connections of one account sharing one client (nick,
//! channels, modes), as ergo's bouncer mode.
//!
//! The [`Client`] in the nick map and the channels is the identity; it is
//! also the first connection's (its outbox, capabilities, socket). Connections
//! that attach later are clients of their own (outbox, capabilities, flood
//! state, socket) kept in the identity's [`Sessions`], and are not in
//! [`super::Server::clients`]. Fan-out reaches them through
//! [`Client::deliver`]: the narrow place where "deliver to a client" becomes
//! "deliver to each of its connections". When the first connection ends while
//! others stay, the identity lives on with its own outbox closed.

use super::client::{Client, ClientId};
use crate::caps::CapSet;
use crate::proto::line::Variants;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The connections attached to a client beyond its own.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Set while there is anything to look at: attached connections, or the
    /// own connection gone. Read on every delivery, hence outside the lock.
    any: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    links: Vec<Arc<Client>>,
    /// The identity's own connection has ended (the others keep it online).
    own_gone: bool,
    /// The last connection has ended: the client is leaving, nothing attaches.
    ended: bool,
}

impl Sessions {
    /// Whether the client has attached connections (or lost its own).
    #[inline]
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// [`Client::deliver`] for a client with attached connections: the identity's
/// own connection (unless it ended) and each attached one, but `except`;
/// `filter` sees the identity and each connection's capabilities.
#[cold]
pub fn deliver_all<M: Fn(CapSet) -> Vec<u8>>(
    client: &Client,
    variants: &mut Variants<M>,
    except: Option<ClientId>,
    filter: &impl Fn(&Client, CapSet) -> bool,
) -> usize {
    let g = client.sessions.lock();
    let mut sent = 0;
    if !g.own_gone && Some(client.id) != except && filter(client, client.caps()) {
        client.send(variants.for_caps(client.caps()));
        sent += 1;
    }
    for link in &g.links {
        let caps = link.caps();
        if Some(link.id) != except && filter(client, caps) {
            link.send(variants.for_caps(caps));
            sent += 1;
        }
    }
    sent
}

/// Attaches connection `link` to `client`; false if the client is leaving.
pub fn attach(client: &Client, link: Arc<Client>) -> bool {
    let mut g = client.sessions.lock();
    if g.ended || (g.own_gone && g.links.is_empty()) {
        return false;
    }
    g.links.push(link);
    client.sessions.any.store(true, Ordering::Relaxed);
    true
}

/// What ending one connection of a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detached {
    /// Other connections remain: the client stays online, nobody else sees it.
    Others,
    /// It was the last one: the client quits as usual.
    Last,
}

/// Ends connection `link` of `client` (the identity itself for its own).
pub fn detach(client: &Client, link: &Client) -> Detached {
    let mut g = client.sessions.lock();
    if link.id == client.id {
        g.own_gone = true;
    } else {
        g.links.retain(|l| l.id != link.id);
    }
    if g.links.is_empty() {
        client.sessions.any.store(g.own_gone, Ordering::Relaxed);
        if g.own_gone {
            g.ended = true;
            return Detached::Last;
        }
    }
    Detached::Others
}

/// Every live connection of `client`: its own (unless ended) and the attached ones.
pub fn connections(client: &Arc<Client>) -> Vec<Arc<Client>> {
    if !client.sessions.any() {
        return vec![client.clone()];
    }
    let g = client.sessions.lock();
    let own = (!g.own_gone).then(|| client.clone());
    own.into_iter().chain(g.links.iter().cloned()).collect()
}

/// The live connections of `client` other than `conn`.
pub fn links_but(client: &Arc<Client>, conn: ClientId) -> Vec<Arc<Client>> {
    if !client.sessions.any() {
        return Vec::new();
    }
    connections(client).into_iter().filter(|c| c.id != conn).collect()
}

/// Asks every connection of `client` to close (KILL, shutdown, REGAIN).
pub fn close_all(client: &Arc<Client>, reason: &str) {
    for c in connections(client) {
        c.request_close(reason);
    }
}

/// Marks `client` as a user of another node (see [`crate::cluster`]): it has
/// no connection here, so delivering to it does nothing (its own node
/// delivers), and no connection can attach to it.
pub fn mark_remote(client: &Client) {
    let mut g = client.sessions.lock();
    g.own_gone = true;
    g.ended = true;
    drop(g);
    client.sessions.any.store(true, Ordering::Relaxed);
}
