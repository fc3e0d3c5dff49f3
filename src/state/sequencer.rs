//! The one path a sequenced change takes to the state, alone or in a cluster.
//!
//! A command that makes such a change (today JOIN, TOPIC, channel MODE,
//! PART, KICK, INVITE, AWAY, SETNAME, a registered user's NICK, a login's
//! ACCOUNT and ChanServ's REGISTER, DROP, AMODE and TRANSFER) decides it and builds its [`Event`]; the change itself is
//! made by one function,
//! [`crate::cluster::apply::sequenced`], which sets the state and shows the
//! line to this node's members:
//! - on a single node the event goes through an in-process sequencer: the
//!   apply is a plain call, made at once ([`now`]);
//! - on a node of a cluster the event is appended to the log and the
//!   command waits until this node's reader has applied it in the log's
//!   order, after every change the log holds before it ([`in_order`]). Every
//!   node applies it at the same place in the log, so all see the same
//!   sequence of changes.
//!
//! Either way the connection that made the change is skipped by the apply:
//! its copy is the command's reply (with its label, if it sent one).

use super::client::{Client, ClientId};
use super::{NickError, Server};
use crate::cluster::apply::{self, Applied};
use crate::cluster::Event;
use crate::proto::line::Line;
use crate::proto::numeric::Numeric;
use std::sync::Arc;

/// What became of a sequenced change.
#[derive(Debug)]
pub enum Outcome {
    /// Applied: the members saw this line (the maker's copy is its reply).
    Applied(Line),
    /// Applied, with no line to show (a ChanServ registration change).
    Made,
    /// Not applied: what it changes was gone when its turn came (the
    /// channel ended, or the user had already left it), or it changed
    /// nothing.
    Gone,
    /// Refused where it was applied (a JOIN the channel's modes keep out, a
    /// change by a maker no longer allowed to make it there).
    Refused(Numeric),
    /// The network did not confirm it in time (Redis away); it may still be
    /// applied later, when the connection that made it gets its line too.
    Unconfirmed,
}

impl Outcome {
    /// What a change the log's reader applied did, or `Err` if it was not
    /// applied in time.
    pub fn confirmed(applied: Result<Applied, ()>) -> Outcome {
        applied.map_or(Outcome::Unconfirmed, Outcome::of)
    }

    fn of(applied: Applied) -> Outcome {
        match applied {
            Applied::Shown(line) => Outcome::Applied(line),
            Applied::Refused(why) => Outcome::Refused(why),
            Applied::Made => Outcome::Made,
            Applied::Nothing => Outcome::Gone,
        }
    }
}

/// The in-process sequencer of a single node: applies `event`, made by
/// connection `by` (none: by ChanServ), at once.
pub fn now(server: &Server, event: &Event, by: Option<ClientId>) -> Outcome {
    Outcome::of(apply::sequenced(server, event, by))
}

/// Sequences `event`, made by connection `by` (none: by ChanServ, whose
/// line every member gets from the apply): applied at once on a single
/// node ([`now`]); on a node of a cluster, appended to the log and waited
/// for until it is applied here in the log's order.
pub async fn in_order(server: &Arc<Server>, event: Event, by: Option<ClientId>) -> Outcome {
    match server.cluster() {
        None => now(server, &event, by),
        Some(cluster) => {
            let wait = server.config().cluster.sequenced_wait();
            Outcome::confirmed(cluster.sequence(event, by, wait).await)
        }
    }
}

/// Sequences `event` without holding its maker up (a login's ACCOUNT: the
/// client knows its account at once): applied at once on a single node; on
/// a node of a cluster, appended to the log and applied here too when the
/// log has it. The command's reply then waits for that ([`applied`]), so
/// that everyone on this node was shown the change before its maker's
/// reply, and before anything the maker does next, as on a single node.
pub fn in_turn(server: &Arc<Server>, event: Event) -> Option<crate::cluster::Applying> {
    match server.cluster() {
        None => {
            now(server, &event, None);
            None
        }
        Some(cluster) => cluster.append_sequenced(event, None),
    }
}

/// Waits until a change [`in_turn`] appended is applied on this node, as
/// long as [`in_order`] waits at most.
pub async fn applied(server: &Server, applying: crate::cluster::Applying) {
    let _ = applying.done(server.config().cluster.sequenced_wait()).await;
}

/// The id a sequenced JOIN, PART or KICK carries so that its node knows it
/// again in the log (a msgid its line does not show): none on a single
/// node, where it is applied at once.
pub fn token(server: &Server) -> String {
    match server.cluster() {
        Some(_) => server.next_msgid_at(crate::proto::time::now_ms()),
        None => String::new(),
    }
}

/// The name a sequenced event gives its origin: this node's in the network,
/// or (single node) the server's.
pub fn origin(server: &Server) -> String {
    match server.cluster() {
        Some(cluster) => cluster.node.clone(),
        None => server.config().server.name.clone(),
    }
}

/// Where `client` lives, as an event names a user: (node, id there).
pub fn address(server: &Server, client: &Client) -> (String, u64) {
    match server.cluster() {
        Some(cluster) => cluster.address(client),
        None => (origin(server), client.id),
    }
}

/// The change of registered `client`'s nick to `nick` (see [`renamed`]).
pub fn nick_change(server: &Server, client: &Client, nick: &str) -> Event {
    let (node, uid) = address(server, client);
    Event::Nick { node, uid, nick: nick.to_owned(), id: token(server) }
}

/// Changes `client`'s nick to `nick` on a single node, made by connection
/// `by` (none: every connection of the client gets the NICK): claimed
/// here, and for a registered user applied through the in-process
/// sequencer; its NICK line as shown, if it was shown.
pub fn rename_now(
    server: &Server,
    client: &Arc<Client>,
    nick: &str,
    by: Option<ClientId>,
) -> Result<Option<Line>, NickError> {
    if !client.is_registered() {
        return server.claim_nick(client, nick).map(|()| None);
    }
    renamed(now(server, &nick_change(server, client, nick), by))
}

/// A sequenced nick change's outcome as a claim tells it: the NICK line
/// shown (none if nothing changed), or why the nick was not taken.
pub fn renamed(outcome: Outcome) -> Result<Option<Line>, NickError> {
    match outcome {
        Outcome::Applied(line) => Ok(Some(line)),
        Outcome::Gone | Outcome::Made => Ok(None),
        Outcome::Refused(_) => Err(NickError::InUse),
        Outcome::Unconfirmed => Err(NickError::Unavailable),
    }
}
