//! A connected client as the rest of the server sees it: identity, capabilities,
//! its output buffer, and how to ask its connection task to close it.

use super::channel::Channel;
use super::outbox::{Outbox, Push};
use super::signal::Signal;
use crate::caps::CapSet;
use crate::proto::line::Variants;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::Context;

/// Pending invitations remembered per client for INVITE with no parameters;
/// more are still honoured by JOIN, only not listed.
pub const MAX_INVITES_KEPT: usize = 100;

/// A connection's unique id for the life of the process.
pub type ClientId = u64;

/// User modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserModes {
    /// `+i` invisible.
    pub invisible: bool,
    /// `+w` receives WALLOPS.
    pub wallops: bool,
    /// `+o` IRC operator.
    pub oper: bool,
    /// `+B` bot.
    pub bot: bool,
}

impl UserModes {
    /// The `+modes` string (`+` alone when none are set).
    pub fn to_mode_string(self) -> String {
        let mut s = String::from("+");
        for (on, c) in [(self.bot, 'B'), (self.invisible, 'i'), (self.oper, 'o'), (self.wallops, 'w')] {
            if on {
                s.push(c);
            }
        }
        s
    }
}

/// The parts of a client that change over its life, behind one lock.
#[derive(Debug, Default)]
pub struct UserInfo {
    /// Current nick (`*` before one is set).
    pub nick: String,
    /// Username from USER (prefixed `~`: there is no ident lookup).
    pub user: String,
    /// Real name from USER or SETNAME.
    pub realname: String,
    /// Displayed host.
    pub host: String,
    /// User modes.
    pub modes: UserModes,
    /// Away message, if away.
    pub away: Option<String>,
    /// Logged-in account name.
    pub account: Option<String>,
    /// Channels the client is in.
    pub channels: Vec<Arc<Channel>>,
    /// Oper block name, when opered.
    pub oper_name: Option<String>,
    /// Folded nicks this client MONITORs.
    pub monitoring: super::rare::Rare<BTreeSet<String>>,
    /// Channels this client was invited to (INVITE with no parameters lists
    /// the ones still pending); at most [`MAX_INVITES_KEPT`].
    pub invited_to: super::rare::Rare<BTreeSet<String>>,
    /// IRCv3 metadata on this user, and its subscriptions.
    pub metadata: super::rare::Rare<super::metadata::UserMetadata>,
}

impl UserInfo {
    /// `nick!user@host`.
    pub fn mask(&self) -> String {
        // Built by hand: this is on every relayed message's path.
        let user = if self.user.is_empty() { "*" } else { &self.user };
        let mut mask = String::with_capacity(self.nick.len() + user.len() + self.host.len() + 2);
        mask.push_str(&self.nick);
        mask.push('!');
        mask.push_str(user);
        mask.push('@');
        mask.push_str(&self.host);
        mask
    }
}

/// One connection.
#[derive(Debug)]
pub struct Client {
    /// Unique id.
    pub id: ClientId,
    /// Remote address.
    pub ip: IpAddr,
    /// Remote port.
    pub port: u16,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// SHA-256 fingerprint (hex) of the TLS client certificate, if one was shown.
    pub certfp: Option<Box<str>>,
    /// Unix time of connection (WHOIS).
    pub signon: i64,
    /// When it connected on the monotonic clock ([`super::clock`]), for the
    /// registration timeout.
    pub connected: i64,
    /// Bytes waiting to be written.
    pub outbox: Outbox,
    caps: AtomicU32,
    info: RwLock<UserInfo>,
    registered: AtomicBool,
    /// When the last line was received, on the monotonic clock
    /// ([`super::clock`]), for PING timeouts.
    pub last_active: AtomicI64,
    /// Unix time of the last PRIVMSG/NOTICE sent (for WHOIS idle).
    pub last_spoke: AtomicI64,
    /// Whether a keep-alive PING is outstanding.
    pub ping_pending: AtomicBool,
    close_reason: Mutex<Option<String>>,
    /// Wakes the connection task: output queued, or a close requested.
    signal: Signal,
    /// Other connections sharing this client (multiclient); see [`super::session`].
    pub(super) sessions: super::session::Sessions,
}

impl Client {
    /// A new, unregistered client.
    pub fn new(id: ClientId, ip: IpAddr, port: u16, tls: bool, sendq: usize, now: i64) -> Self {
        let host = match ip {
            IpAddr::V6(v6) if v6.to_string().starts_with(':') => format!("0{v6}"),
            ip => ip.to_string(),
        };
        Client {
            id,
            ip,
            port,
            tls,
            certfp: None,
            signon: now,
            connected: super::clock::mono_secs(),
            outbox: Outbox::new(sendq),
            caps: AtomicU32::new(0),
            info: RwLock::new(UserInfo { nick: "*".into(), host, ..UserInfo::default() }),
            registered: AtomicBool::new(false),
            last_active: AtomicI64::new(super::clock::mono_secs()),
            last_spoke: AtomicI64::new(now),
            ping_pending: AtomicBool::new(false),
            close_reason: Mutex::new(None),
            signal: Signal::default(),
            sessions: Default::default(),
        }
    }

    /// The client with the fingerprint of its TLS client certificate.
    pub fn with_certfp(mut self, certfp: Option<String>) -> Self {
        self.certfp = certfp.map(String::into_boxed_str);
        self
    }

    /// Reads the mutable parts.
    pub fn info(&self) -> RwLockReadGuard<'_, UserInfo> {
        self.info.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the mutable parts; keep the guard short and never await with it.
    pub fn info_mut(&self) -> RwLockWriteGuard<'_, UserInfo> {
        self.info.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The current nick.
    pub fn nick(&self) -> String {
        self.info().nick.clone()
    }

    /// `nick!user@host`.
    pub fn mask(&self) -> String {
        self.info().mask()
    }

    /// A line with this client as source (time and account tags included).
    pub fn line(&self, command: &'static str, params: Vec<String>) -> crate::proto::line::Line {
        let info = self.info();
        crate::proto::line::Line::from_user(info.mask(), info.account.as_deref(), command, params)
    }

    /// Negotiated capabilities.
    pub fn caps(&self) -> CapSet {
        CapSet(self.caps.load(Ordering::Relaxed))
    }

    /// Replaces the negotiated capabilities.
    pub fn set_caps(&self, caps: CapSet) {
        self.caps.store(caps.0, Ordering::Relaxed)
    }

    /// Whether connection registration has completed.
    pub fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Acquire)
    }

    /// Marks connection registration complete.
    pub fn set_registered(&self) {
        self.registered.store(true, Ordering::Release)
    }

    /// Whether the client is an IRC operator.
    pub fn is_oper(&self) -> bool {
        self.info().modes.oper
    }

    /// Sends a fan-out line to every connection of this client (its own, unless
    /// it has ended, and the attached ones) but `except`, for which `filter`
    /// holds, serialized per connection's capabilities from `variants`.
    /// Returns how many connections got it. The single-connection case (almost
    /// every client) costs one relaxed load more than a plain send.
    #[inline]
    pub fn deliver<M: Fn(CapSet) -> Vec<u8>>(
        &self,
        variants: &mut Variants<M>,
        except: Option<ClientId>,
        filter: &impl Fn(&Client, CapSet) -> bool,
    ) -> usize {
        if self.sessions.any() {
            return super::session::deliver_all(self, variants, except, filter);
        }
        let caps = self.caps();
        if Some(self.id) == except || !filter(self, caps) {
            return 0;
        }
        self.send(variants.for_caps(caps));
        1
    }

    /// Whether other connections are attached (or its own has ended): see
    /// [`super::session`].
    #[inline]
    pub fn sessions_any(&self) -> bool {
        self.sessions.any()
    }

    /// Queues bytes; on sendq overflow the client is asked to close.
    pub fn send(&self, bytes: &[u8]) {
        match self.outbox.push(bytes) {
            Push::Woke => self.signal.raise(),
            Push::Overflow => self.request_close("SendQ exceeded"),
            Push::Queued | Push::Closed => {}
        }
    }

    /// Queues a last line and closes the outbox (see [`Outbox::close_with`]).
    pub fn close_outbox(&self, last: &[u8]) {
        self.outbox.close_with(last);
        self.signal.raise();
    }

    /// Asks the connection task to quit this client with `reason` (first reason wins).
    pub fn request_close(&self, reason: &str) {
        let mut g = self.close_reason.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(reason.to_owned());
        }
        drop(g);
        self.signal.raise();
    }

    /// The pending close reason, if one was requested.
    pub fn close_requested(&self) -> Option<String> {
        self.close_reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Consumes the wake-up flag; true if output was queued or a close requested since.
    pub fn take_signal(&self) -> bool {
        self.signal.take()
    }

    /// Registers the connection task for the next wake-up; true if one already happened.
    pub fn register_waker(&self, cx: &Context<'_>) -> bool {
        self.signal.register(cx)
    }
}
