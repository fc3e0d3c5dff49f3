//! Fan-out: every state change that others must see leaves through here, serialized
//! once per capability variant and appended to each recipient's outbox.
//!
//! Keeping delivery in one layer means a later multi-node mode can publish these
//! same events to other servers without touching the command handlers.

use super::channel::Channel;
use super::client::{Client, ClientId};
use crate::caps::{Cap, CapSet};
use crate::proto::line::{variants, Line, Variants};
use std::collections::HashSet;
use std::sync::Arc;

/// Sends `line` to every member of `channel` except `except`; `filter` decides per recipient.
///
/// `except` is a connection: the sender's other connections (multiclient) still
/// get the line. A filter sees the member and the capabilities of the
/// connection the line would go to.
pub fn to_channel(channel: &Channel, line: &Line, except: Option<ClientId>, filter: impl Fn(&Client, CapSet) -> bool) {
    let mut variants = variants(line);
    let st = channel.read();
    for m in st.members.values() {
        m.client.deliver(&mut variants, except, &filter);
    }
}

/// Sends `line` to every member of `channel` (except `except`) with at least the
/// given prefix (`@` ops only, `+` voiced and ops): STATUSMSG. Returns how
/// many got it.
pub fn to_channel_status(channel: &Channel, line: &Line, except: Option<ClientId>, min_voice: bool) -> usize {
    let mut variants = variants(line);
    let st = channel.read();
    let mut sent = 0;
    for m in st.members.values() {
        let ok = m.modes.op || (min_voice && m.modes.voice);
        if ok {
            sent += m.client.deliver(&mut variants, except, &everyone);
        }
    }
    sent
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

/// Sends `line` once to each client in `to` (each of its connections) for
/// which `filter` holds.
pub fn to_clients(to: &[Arc<Client>], line: &Line, filter: impl Fn(&Client, CapSet) -> bool) {
    let mut variants = variants(line);
    for c in to {
        c.deliver(&mut variants, None, &filter);
    }
}

/// Sends `line` to one client (each of its connections).
pub fn to_client(client: &Client, line: &Line) {
    if client.sessions_any() {
        client.deliver(&mut variants(line), None, &everyone);
    } else {
        client.send(&line.serialize(client.caps(), &[]));
    }
}

/// Sends `line` to one connection only (what it alone asked for).
pub fn to_connection(conn: &Client, line: &Line) {
    conn.send(&line.serialize(conn.caps(), &[]));
}

/// A filter for recipients that negotiated `cap`.
pub fn with_cap(cap: Cap) -> impl Fn(&Client, CapSet) -> bool {
    move |_, caps| caps.has(cap)
}

/// A filter for recipients that did not negotiate `cap`.
pub fn without_cap(cap: Cap) -> impl Fn(&Client, CapSet) -> bool {
    move |_, caps| !caps.has(cap)
}

/// A filter that accepts everyone.
pub fn everyone(_: &Client, _: CapSet) -> bool {
    true
}

/// One line of a block that is delivered as a unit (a batch), with extra tags
/// (such as `batch=`) that every recipient sees.
pub type BlockLine = (Line, Vec<(&'static str, String)>);

/// Serializes a block for a recipient with `caps`.
pub fn serialize_block(block: &[BlockLine], caps: crate::caps::CapSet) -> Vec<u8> {
    let mut out = String::new();
    for (line, extra) in block {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        line.serialize_into(caps, &extra, &mut out);
    }
    out.into_bytes()
}

/// Sends `block` in one append to every member of `channel` except `except`
/// for which `filter` holds, serialized once per capability variant. Returns
/// how many members got it.
pub fn block_to_channel(
    channel: &Channel,
    block: &[BlockLine],
    except: Option<ClientId>,
    filter: impl Fn(&Client, CapSet) -> bool,
) -> usize {
    let mut variants = Variants::with(|caps| serialize_block(block, caps));
    let st = channel.read();
    let mut sent = 0;
    for m in st.members.values() {
        sent += m.client.deliver(&mut variants, except, &filter);
    }
    sent
}

/// Consecutive messages from one client to one channel, held back until the
/// client's read batch is handled (or until the client does anything else),
/// then appended to each member's outbox in one piece. A sender's read often
/// holds many lines; relaying them together costs one lock and one copy per
/// member instead of one per member and line. Every recipient still sees the
/// messages in order, and nothing the sender does later can overtake them,
/// because anything else the sender does delivers the held lines first.
#[derive(Debug)]
pub struct Pending {
    channel: Arc<Channel>,
    except: ClientId,
    tags_only: bool,
    block: Vec<BlockLine>,
    bytes: usize,
}

impl Pending {
    /// Most lines held at once.
    const MAX_LINES: usize = 64;
    /// Most (approximate) bytes held at once.
    const MAX_BYTES: usize = 16 * 1024;

    /// Starts holding messages from `except` to `channel`; `tags_only` (TAGMSG)
    /// limits delivery to message-tags clients.
    pub fn new(channel: Arc<Channel>, except: ClientId, tags_only: bool) -> Pending {
        Pending { channel, except, tags_only, block: Vec::new(), bytes: 0 }
    }

    /// Whether a message to `channel` of this kind can join the held ones.
    pub fn matches(&self, channel: &Arc<Channel>, tags_only: bool) -> bool {
        Arc::ptr_eq(&self.channel, channel) && self.tags_only == tags_only
    }

    /// Holds one more line; true when the holder should deliver now.
    pub fn push(&mut self, line: Line) -> bool {
        self.bytes += line.params.iter().map(String::len).sum::<usize>() + line.source.len() + 64;
        self.block.push((line, Vec::new()));
        self.block.len() >= Self::MAX_LINES || self.bytes >= Self::MAX_BYTES
    }

    /// Delivers the held lines; returns the channel and the lines (for history).
    /// Counts the messages and their deliveries ([`crate::metrics`]) in one add each.
    pub fn deliver(self) -> (Arc<Channel>, Vec<Line>) {
        let tags_only = self.tags_only;
        let recipients = block_to_channel(&self.channel, &self.block, Some(self.except), |_, caps| {
            !tags_only || caps.has(Cap::MessageTags)
        });
        crate::metrics::METRICS.relayed(self.block.len(), recipients * self.block.len());
        (self.channel, self.block.into_iter().map(|(line, _)| line).collect())
    }
}

/// Sends `block` to one client (each of its connections but `except`, and for
/// which `filter` holds) in one append.
pub fn block_to_client(
    client: &Client,
    block: &[BlockLine],
    except: Option<ClientId>,
    filter: impl Fn(&Client, CapSet) -> bool,
) -> usize {
    client.deliver(&mut Variants::with(|caps| serialize_block(block, caps)), except, &filter)
}
