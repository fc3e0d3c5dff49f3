//! Server state: clients, nicks and channels, and the one place uniqueness is enforced.
//!
//! Concurrency discipline: maps are `DashMap`s keyed by the casefolded name; a map
//! guard is never held while taking another map's guard or across an `.await`.
//! Lock order is map shard → channel → client info → outbox. Channel removal marks
//! the channel dead under its write lock, so a joiner holding a stale `Arc`
//! retries the lookup.

pub mod casemap;
pub mod channel;
pub mod client;
pub mod clock;
pub mod extban;
pub mod fanout;
pub mod history;
pub mod ipkey;
pub mod mask;
pub mod membership;
pub mod metadata;
pub mod monitor;
pub mod outbox;
pub mod persist;
pub mod rare;
pub mod ratelimit;
pub mod refresh;
pub mod registration;
pub mod sequencer;
pub mod session;
pub mod signal;
pub mod whowas;

use crate::accounts::Accounts;
use crate::config::Config;
use casemap::Casemap;
use channel::Channel;
use client::{Client, ClientId};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use ipkey::IpKey;
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use whowas::Whowas;

/// The whole server's shared state.
pub struct Server {
    config: RwLock<Arc<Config>>,
    /// Case mapping, fixed for the life of the process.
    pub casemap: Casemap,
    /// Every connection by id.
    pub clients: DashMap<ClientId, Arc<Client>>,
    /// Nick owners by folded nick (claimed at NICK, also before registration).
    pub nicks: DashMap<String, Arc<Client>>,
    /// Channels by folded name.
    pub channels: DashMap<String, Arc<Channel>>,
    /// Connections per address (IPv6 grouped by prefix), TLS handshakes included.
    pub per_ip: DashMap<IpKey, usize>,
    /// Connections admitted and not yet closed, TLS handshakes included
    /// (`limits.max_clients` counts these; `clients` only has connections
    /// past their handshake).
    pub connections: AtomicUsize,
    /// `limits.ipv6_prefix` as the server started: per-address counts taken
    /// under one prefix must be released under the same, so REHASH keeps it.
    ipv6_prefix: u8,
    /// Watchers per folded nick (MONITOR).
    pub monitors: DashMap<String, HashSet<ClientId>>,
    /// Set by RESTART: the process starts itself again after shutting down.
    pub restart_requested: AtomicBool,
    config_path: Option<PathBuf>,
    motd: RwLock<Option<Arc<Vec<String>>>>,
    /// What TLS listeners (IRC and WebSocket) hand each new connection:
    /// replaced on reload, so a renewed certificate serves the next handshake.
    tls: RwLock<crate::net::tls::Acceptors>,
    /// Recently used nicks.
    pub whowas: Whowas,
    /// The account store.
    pub accounts: Accounts,
    /// Chat history and read markers.
    pub history: history::History,
    /// Unix time the server started.
    pub started: i64,
    /// Human-readable start time (003).
    pub created_text: String,
    next_id: AtomicU64,
    msgid_counter: AtomicU64,
    msgid_prefix: String,
    /// Registered clients.
    pub registered_count: AtomicUsize,
    /// Opered clients.
    pub oper_count: AtomicUsize,
    /// Registered clients with user mode `+i` (LUSERS).
    pub invisible_count: AtomicUsize,
    /// Most registered clients seen at once (users of other nodes of a
    /// cluster included).
    pub max_registered: AtomicUsize,
    /// Most registered clients of this node's own seen at once.
    pub max_local: AtomicUsize,
    shutdown: watch::Sender<bool>,
    /// Every connection's task, from accept to its last flush, and the
    /// listeners while they accept: a shutdown waits for them all, so every
    /// connected client is told goodbye before the process exits.
    pub connection_tasks: TaskTracker,
    /// Where persistent channel changes go (see [`persist`]); unset without a store.
    committer: std::sync::OnceLock<crate::store::commit::Committer>,
    /// The network this node shares through Redis; unset for a single node.
    cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

/// Why a nick could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NickError {
    /// Someone else has it.
    InUse,
    /// The network could not be asked (Redis unreachable past the grace period).
    Unavailable,
}

impl Server {
    /// Builds the state for `config` (read from `config_path`, if any), with the
    /// account store opened by the caller.
    pub fn new(config: Config, config_path: Option<PathBuf>, accounts: Accounts) -> Arc<Server> {
        let now = chrono::Utc::now();
        let motd = RwLock::new(load_motd(&config));
        let ipv6_prefix = config.limits.ipv6_prefix;
        let server = Server {
            monitors: DashMap::new(),
            restart_requested: AtomicBool::new(false),
            config_path,
            motd,
            tls: RwLock::new(Default::default()),
            casemap: Casemap::from_name(&config.server.casemapping),
            whowas: Whowas::new(config.limits.whowas_entries),
            config: RwLock::new(Arc::new(config)),
            clients: DashMap::new(),
            nicks: DashMap::new(),
            channels: DashMap::new(),
            per_ip: DashMap::new(),
            connections: AtomicUsize::new(0),
            ipv6_prefix,
            accounts,
            history: history::History::new(),
            started: now.timestamp(),
            created_text: now.format("%a %b %d %Y at %H:%M:%S UTC").to_string(),
            next_id: AtomicU64::new(1),
            msgid_counter: AtomicU64::new(0),
            msgid_prefix: format!("{:08x}", rand::random::<u32>()),
            registered_count: AtomicUsize::new(0),
            oper_count: AtomicUsize::new(0),
            invisible_count: AtomicUsize::new(0),
            max_registered: AtomicUsize::new(0),
            max_local: AtomicUsize::new(0),
            shutdown: watch::channel(false).0,
            connection_tasks: TaskTracker::new(),
            committer: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
        };
        server.ensure_permanent_channels();
        Arc::new(server)
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Swaps in a new configuration (REHASH); settings that cannot change at run
    /// time (listeners, casemapping) keep their old values.
    pub fn set_config(&self, config: Config) {
        *self.motd.write().unwrap_or_else(|e| e.into_inner()) = load_motd(&config);
        if let Some(w) = self.history.writer() {
            w.set_settings(config.history.writer_settings());
        }
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        self.ensure_permanent_channels();
    }

    /// The cluster this node belongs to, if `[cluster] redis_url` is set.
    #[inline]
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.cluster.get()
    }

    /// Makes this server a node of `cluster` (once, at start-up).
    pub fn set_cluster(&self, cluster: Arc<crate::cluster::Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    /// The config file in use, if the server was started with one.
    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }

    /// Reloads the config file (REHASH, SIGHUP): settings, MOTD, operators, and
    /// the TLS certificate and key (the next handshake uses them, so a renewed
    /// certificate is picked up). Settings that need a restart (listeners,
    /// casemapping, data_dir, store.url, ipv6_prefix, `[[websocket]]` blocks,
    /// and on a node of a cluster `[cluster]`, `[channels]`, server.network and the
    /// [shared limits](crate::config::LimitsConfig::shared)) keep their running
    /// values. An invalid
    /// file, or TLS files that do not load, change nothing: the error says why.
    pub fn rehash(self: &Arc<Self>) -> Result<(), String> {
        let result = self.reload_config();
        let m = &crate::metrics::METRICS;
        if result.is_ok() {
            m.reloads.inc()
        } else {
            m.reload_failures.inc()
        }
        result
    }

    fn reload_config(self: &Arc<Self>) -> Result<(), String> {
        let path = self.config_path.as_deref().ok_or("no config file")?;
        let mut fresh = Config::load(path).map_err(|e| one_line(&e.to_string()))?;
        let old = self.config();
        fresh.server.listen = old.server.listen.clone();
        fresh.server.casemapping = old.server.casemapping.clone();
        fresh.server.data_dir = old.server.data_dir.clone();
        if fresh.store.url != old.store.url {
            tracing::warn!("store.url changed: the store in use stays until banterd restarts");
        }
        fresh.store = old.store.clone();
        fresh.cluster = old.cluster.clone();
        // A node of a cluster shares these with the network (checked when it
        // joins): changing them on one node would split it.
        if old.cluster.redis_url.is_some() {
            if fresh.channels != old.channels {
                tracing::warn!(
                    "[channels] changed: on a node of a cluster it stays as the network has it until a restart"
                );
                fresh.channels = old.channels.clone();
            }
            if fresh.limits.keep_shared(&old.limits) {
                tracing::warn!(
                    "[limits] lengths or max_list_entries changed: on a node of a cluster they stay as the network has \
                     them until a restart"
                );
            }
            if fresh.server.network != old.server.network {
                tracing::warn!("server.network changed: on a node of a cluster it stays until a restart");
                fresh.server.network = old.server.network.clone();
            }
        }
        fresh.server.worker_threads = old.server.worker_threads;
        fresh.limits.ipv6_prefix = old.limits.ipv6_prefix;
        fresh.tls.listen = old.tls.listen.clone();
        fresh.websockets = old.websockets.clone();
        let tls = crate::net::tls::acceptors(&fresh).map_err(|e| one_line(&e))?;
        let before = crate::caps::ls_entries(&old, true);
        let after = crate::caps::ls_entries(&fresh, true);
        self.set_config(fresh);
        self.set_tls_acceptors(tls);
        self.notify_cap_changes(&before, &after);
        // Accounts made or deleted with `banterd account` while running.
        let server = self.clone();
        tokio::task::spawn_blocking(move || match server.accounts.reload_names() {
            Ok((added, removed)) => tracing::info!(added, removed, "account names reloaded"),
            Err(e) => tracing::warn!(error = %e, "account names not reloaded"),
        });
        Ok(())
    }

    /// The acceptors for the next TLS connection (IRC, WebSocket), for the
    /// listeners that run.
    pub fn tls_acceptors(&self) -> crate::net::tls::Acceptors {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Installs the acceptors TLS listeners use from now on.
    pub fn set_tls_acceptors(&self, acceptors: crate::net::tls::Acceptors) {
        *self.tls.write().unwrap_or_else(|e| e.into_inner()) = acceptors;
    }

    /// Sends `CAP DEL` / `CAP NEW` to cap-notify clients when the offered
    /// capabilities (or their values) changed, and drops deleted caps from them.
    fn notify_cap_changes(&self, before: &[String], after: &[String]) {
        let del: Vec<&String> = before.iter().filter(|c| !after.contains(c)).collect();
        let new: Vec<&String> = after.iter().filter(|c| !before.contains(c)).collect();
        if del.is_empty() && new.is_empty() {
            return;
        }
        let name = self.config().server.name.clone();
        let gone: Vec<crate::caps::Cap> = del
            .iter()
            .filter_map(|e| crate::caps::Cap::from_name(e.split('=').next().unwrap_or("")))
            .filter(|c| !after.iter().any(|a| a.split('=').next() == Some(c.name())))
            .collect();
        // Each connection (multiclient: each session) with its client's nick.
        let conns: Vec<(Arc<Client>, String)> = self
            .clients
            .iter()
            .flat_map(|e| {
                let nick = e.value().nick();
                session::connections(e.value()).into_iter().map(move |c| (c, nick.clone()))
            })
            .collect();
        for (c, nick) in &conns {
            if !c.caps().has(crate::caps::Cap::CapNotify) {
                continue;
            }
            let mut caps = c.caps();
            for g in &gone {
                caps = caps.without(*g);
            }
            c.set_caps(caps);
            for (sub, list) in [("DEL", &del), ("NEW", &new)] {
                // Split to fit a line, like every list reply.
                let room = crate::proto::line::room_for_text(&name, "CAP", [nick.as_str(), sub]);
                for group in crate::proto::line::pack(list, " ", room) {
                    let line =
                        crate::proto::line::Line::new(name.clone(), "CAP", vec![nick.clone(), sub.into(), group]);
                    fanout::to_connection(c, &line);
                }
            }
        }
    }

    /// The MOTD lines: the configured file's, or the built-in ones; `None` if the file cannot be read.
    pub fn motd(&self) -> Option<Arc<Vec<String>>> {
        self.motd.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Creates the configured permanent channels that do not exist yet, and
    /// saves the ones that were not persistent.
    fn ensure_permanent_channels(&self) {
        let cfg = self.config();
        for name in &cfg.channels.permanent {
            let ch = self.channel_or_create(name);
            let mut st = ch.write();
            if !st.modes.permanent {
                st.modes.permanent = true;
                st.modes.apply_defaults(&cfg.channels.default_modes);
                drop(st);
                // Nobody waits on this: it is saved in order with later changes.
                drop(self.persist_channel(&ch));
            }
        }
    }

    /// A fresh connection id.
    pub fn next_client_id(&self) -> ClientId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh, unique message id, carrying the current time.
    pub fn next_msgid(&self) -> String {
        self.next_msgid_at(crate::proto::time::now_ms())
    }

    /// A fresh, unique message id for a message stamped `time_ms` (its `time`
    /// tag): the id carries that time (see [`crate::proto::msgid`]).
    pub fn next_msgid_at(&self, time_ms: i64) -> String {
        let n = self.msgid_counter.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(self.msgid_prefix.len() + 16);
        id.push_str(&self.msgid_prefix);
        crate::proto::msgid::push(&mut id, time_ms, n);
        id
    }

    /// Whether `msgid` was made by this process (ids are unique per run: a
    /// stored message from an earlier run was sent by another connection).
    pub fn made_here(&self, msgid: &str) -> bool {
        msgid.starts_with(&self.msgid_prefix)
    }

    /// Folds a nick or channel name with the server's case mapping.
    pub fn fold(&self, name: &str) -> String {
        self.casemap.fold(name)
    }

    /// Claims `nick` for `client`, releasing its old nick. Atomic on the folded key.
    pub fn claim_nick(&self, client: &Arc<Client>, nick: &str) -> Result<(), NickError> {
        if crate::services::lookup(self, nick).is_some() {
            return Err(NickError::InUse);
        }
        let key = self.fold(nick);
        match self.nicks.entry(key.clone()) {
            Entry::Occupied(e) if e.get().id != client.id => return Err(NickError::InUse),
            Entry::Occupied(_) => {}
            Entry::Vacant(v) => {
                v.insert(client.clone());
            }
        }
        let old = std::mem::replace(&mut client.info_mut().nick, nick.to_owned());
        let old_key = self.fold(&old);
        if old != "*" && old_key != key {
            self.nicks.remove_if(&old_key, |_, c| c.id == client.id);
        }
        Ok(())
    }

    /// Records a user as `nick` in the WHOWAS history (the nick is passed
    /// because on a nick change `info` already carries the new one).
    pub fn remember(&self, nick: &str, info: &client::UserInfo) {
        self.whowas.push(whowas::WhowasEntry {
            folded: self.fold(nick),
            nick: nick.to_owned(),
            user: info.user.clone(),
            host: info.host.clone(),
            realname: info.realname.clone(),
            account: info.account.clone(),
            when: chrono::Utc::now().timestamp(),
        });
    }

    /// The unit per-address limits count `ip` in (IPv6 cut to `limits.ipv6_prefix`).
    pub fn ip_key(&self, ip: IpAddr) -> IpKey {
        IpKey::new(ip, self.ipv6_prefix)
    }

    /// Gives back one admitted connection's slots: in the per-address count
    /// and in the total.
    pub fn release_ip(&self, ip: IpAddr) {
        ipkey::count_down(&self.per_ip, self.ip_key(ip));
        let _ = self.connections.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Releases `client`'s nick.
    pub fn release_nick(&self, client: &Client) {
        let key = self.fold(&client.nick());
        self.nicks.remove_if(&key, |_, c| c.id == client.id);
    }

    /// The client using `nick`, registered or not.
    pub fn find_nick(&self, nick: &str) -> Option<Arc<Client>> {
        self.nicks.get(&self.fold(nick)).map(|c| c.clone())
    }

    /// The registered client using `nick`.
    pub fn find_user(&self, nick: &str) -> Option<Arc<Client>> {
        self.find_nick(nick).filter(|c| c.is_registered())
    }

    /// The channel named `name`.
    pub fn find_channel(&self, name: &str) -> Option<Arc<Channel>> {
        self.channels.get(&self.fold(name)).map(|c| c.clone())
    }

    /// The channel named `name`, created empty if it does not exist.
    pub fn channel_or_create(&self, name: &str) -> Arc<Channel> {
        self.channel_or_create_at(name, chrono::Utc::now().timestamp())
    }

    /// The channel named `name`, created empty with creation time `created`
    /// (Unix time) if it does not exist: a channel another node of a
    /// cluster created keeps its creation time here.
    pub fn channel_or_create_at(&self, name: &str, created: i64) -> Arc<Channel> {
        let ch = self.channels.entry(self.fold(name)).or_insert_with(|| Arc::new(Channel::new(name, created)));
        ch.clone()
    }

    /// Renames `old` to `new_name`, keeping all its state (members, modes,
    /// lists, topic, history): the state moves to a new [`Channel`] under the
    /// new name and `old` is marked dead, so holders of the old handle look the
    /// name up again. Every member's channel list is updated.
    ///
    /// A channel that already has the new name is refused, unless `merge`:
    /// then its members join the renamed channel (keeping their status) and
    /// are returned. A node of a cluster merges when the network's log has
    /// given the name to the rename: a channel of that name made here
    /// meanwhile (a joiner whose creation claim lost to the rename) is the same
    /// room by then on every other node.
    ///
    /// Locking: the new channel is locked before it is published in the map,
    /// so nobody can join it half-made; no map guard is held while `old` is
    /// locked (the order stays map shard, then channel).
    pub fn rename_channel(
        &self,
        old: &Arc<Channel>,
        new_name: &str,
        merge: bool,
    ) -> Result<(Arc<Channel>, Vec<Arc<Client>>), RenameError> {
        let (old_key, new_key) = (self.fold(&old.name), self.fold(new_name));
        let fresh = Arc::new(Channel::new(new_name, old.created));
        let mut fresh_st = fresh.write();
        let mut merged = None;
        if old_key == new_key {
            // only the case changes: swap the entry in place
            let mut entry = self.channels.get_mut(&old_key).ok_or(RenameError::NoSuchChannel)?;
            if !Arc::ptr_eq(entry.value(), old) {
                return Err(RenameError::NoSuchChannel);
            }
            let mut old_st = old.write();
            if old_st.dead {
                return Err(RenameError::NoSuchChannel);
            }
            *fresh_st = std::mem::take(&mut *old_st);
            old_st.dead = true;
            *entry.value_mut() = fresh.clone();
        } else {
            match self.channels.entry(new_key.clone()) {
                Entry::Occupied(mut there) if merge && !there.get().read().is_persistent() => {
                    let mut st = there.get().write();
                    let taken = std::mem::take(&mut st.members);
                    st.dead = true;
                    drop(st);
                    merged = Some((there.get().clone(), taken));
                    there.insert(fresh.clone());
                }
                Entry::Occupied(_) => return Err(RenameError::NameInUse),
                Entry::Vacant(v) => {
                    v.insert(fresh.clone());
                }
            }
            let mut old_st = old.write();
            if old_st.dead {
                drop(old_st);
                drop(fresh_st);
                self.channels.remove_if(&new_key, |_, c| Arc::ptr_eq(c, &fresh));
                return Err(RenameError::NoSuchChannel);
            }
            *fresh_st = std::mem::take(&mut *old_st);
            old_st.dead = true;
            drop(old_st);
            self.channels.remove_if(&old_key, |_, c| Arc::ptr_eq(c, old));
            self.history.rename_channel(&old_key, &new_key);
        }
        let mut joined = Vec::new();
        if let Some((_, members)) = &merged {
            for (id, m) in members {
                if !fresh_st.members.contains_key(id) {
                    joined.push(m.client.clone());
                    fresh_st.members.insert(*id, m.clone());
                }
            }
        }
        let members: Vec<Arc<Client>> = fresh_st.members.values().map(|m| m.client.clone()).collect();
        drop(fresh_st);
        let gone: Vec<&Arc<Channel>> = std::iter::once(old).chain(merged.as_ref().map(|(ch, _)| ch)).collect();
        for c in members {
            let mut info = c.info_mut();
            for ch in info.channels.iter_mut() {
                if gone.iter().any(|g| Arc::ptr_eq(ch, g)) {
                    *ch = fresh.clone();
                }
            }
            // A member of both is listed once.
            let mut seen = false;
            info.channels.retain(|ch| !Arc::ptr_eq(ch, &fresh) || !std::mem::replace(&mut seen, true));
        }
        Ok((fresh, joined))
    }

    /// Removes `channel` if it is empty and not persistent, marking it dead.
    pub fn remove_channel_if_empty(&self, channel: &Arc<Channel>) {
        let key = self.fold(&channel.name);
        // Its history stays on disk (`history.unregistered_channels`).
        let removed = self.channels.remove_if(&key, |_, c| {
            if !Arc::ptr_eq(c, channel) {
                return false;
            }
            let mut st = c.write();
            if st.members.is_empty() && !st.is_persistent() {
                st.dead = true;
                true
            } else {
                false
            }
        });
        if removed.is_some() {
            crate::cluster::channel_gone(self, &key);
        }
    }

    /// A watch that turns true when the server shuts down. Its `changed()`
    /// also fires for a shutdown that began before the call: a task that
    /// subscribes late (a listener spawned just before a SIGTERM, first polled
    /// after it) would otherwise wait for a change that already happened, and
    /// hold the shutdown for its whole grace period.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        let mut rx = self.shutdown.subscribe();
        if *rx.borrow() {
            rx.mark_changed();
        }
        rx
    }

    /// Starts a graceful shutdown.
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Whether a shutdown has begun: a connection that starts now is closed
    /// at once, with the shutdown's goodbye.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Clients connected but not registered.
    pub fn unknown_count(&self) -> usize {
        self.clients.len().saturating_sub(self.registered_count.load(Ordering::Relaxed))
    }

    /// Registered clients of this node's own: the users of other nodes of a
    /// cluster are registered clients here too, and are left out.
    pub fn local_count(&self) -> usize {
        let remote = self.cluster().map_or(0, |c| c.remote_count());
        self.registered_count.load(Ordering::Relaxed).saturating_sub(remote)
    }
}

/// The MOTD when no `server.motd_file` is configured: the repository's motd.txt.
pub const BUILT_IN_MOTD: &str = include_str!("../../motd.txt");

/// An error message on one line, for a log line or an IRC reply: TOML's
/// multi-line parse errors lose their source excerpt and keep their text.
fn one_line(message: &str) -> String {
    let excerpt = |l: &&str| l.starts_with('|') || l.split_once(" |").is_some_and(|(n, _)| n.parse::<u32>().is_ok());
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).filter(|l| !excerpt(l)).collect();
    lines.join(": ")
}

fn load_motd(config: &Config) -> Option<Arc<Vec<String>>> {
    let Some(path) = config.server.motd_file.as_ref() else {
        return Some(Arc::new(BUILT_IN_MOTD.lines().map(str::to_owned).collect()));
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Some(Arc::new(text.lines().map(str::to_owned).collect())),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read MOTD file");
            None
        }
    }
}

/// Appends `n` in lower-case hexadecimal (what `{:x}` prints, without the
/// formatting machinery: message ids are made for every message).
#[cfg(test)]
mod tests {
    #[test]
    fn config_errors_become_one_line() {
        let err = crate::config::Config::parse("[server\nname = ").unwrap_err().to_string();
        assert!(err.contains('\n'), "{err}");
        let line = super::one_line(&err);
        assert!(!line.contains('\n') && line.starts_with("TOML parse error at line 1"), "{line}");
        assert!(!line.contains(" | "), "{line}");
    }

    /// A task that subscribes after the shutdown began (a listener first
    /// polled after a SIGTERM) still sees it; before, it waited out the whole
    /// shutdown grace (15 s) in about half of `startup.rs`'s early-SIGTERM rounds.
    #[tokio::test]
    async fn a_late_subscriber_sees_the_shutdown() {
        let config = crate::config::Config::default();
        let accounts = crate::accounts::Accounts::with_store(None, &config);
        let server = super::Server::new(config, None, accounts);
        let mut early = server.shutdown_signal();
        server.begin_shutdown();
        let mut late = server.shutdown_signal();
        use futures_util::FutureExt;
        assert!(early.changed().now_or_never().is_some_and(|r| r.is_ok()));
        assert!(late.changed().now_or_never().is_some_and(|r| r.is_ok()));
    }

    fn member_of(server: &super::Server, name: &str, client: &std::sync::Arc<super::Client>, op: bool) {
        let ch = server.channel_or_create(name);
        ch.write().add(client.clone(), super::channel::MemberModes { op, voice: false });
        client.info_mut().channels.push(ch);
    }

    /// A rename onto a name a channel already has: refused, or with `merge`
    /// (a cluster node whose log gave the name to the rename) that channel's
    /// members join the renamed one with their status, the one in both is
    /// kept once, and every member's channel list names only the result.
    #[test]
    fn a_rename_merges_a_channel_of_the_new_name_only_when_asked() {
        use std::sync::Arc;
        let config = crate::config::Config::default();
        let accounts = crate::accounts::Accounts::with_store(None, &config);
        let server = super::Server::new(config, None, accounts);
        let client = |id| Arc::new(super::Client::new(id, "127.0.0.1".parse().unwrap(), 1, false, 1024, 0));
        let (alice, bob, carol) = (client(1), client(2), client(3));
        member_of(&server, "#old", &alice, true);
        member_of(&server, "#old", &carol, false);
        member_of(&server, "#new", &bob, false);
        member_of(&server, "#new", &carol, true);
        let (old, racing) = (server.find_channel("#old").unwrap(), server.find_channel("#new").unwrap());
        assert_eq!(server.rename_channel(&old, "#new", false).unwrap_err(), super::RenameError::NameInUse);
        let (fresh, joined) = server.rename_channel(&old, "#NEW", true).expect("merged");
        assert_eq!(joined.iter().map(|c| c.id).collect::<Vec<_>>(), [2]);
        assert!(Arc::ptr_eq(&server.find_channel("#new").unwrap(), &fresh) && fresh.name == "#NEW");
        assert!(server.find_channel("#old").is_none() && old.read().dead && racing.read().dead);
        let st = fresh.read();
        let modes = |id| st.members.get(&id).map(|m| (m.modes.op, m.modes.voice));
        assert_eq!((modes(1), modes(2), modes(3)), (Some((true, false)), Some((false, false)), Some((false, false))));
        for c in [&alice, &bob, &carol] {
            let channels = &c.info().channels;
            assert!(channels.len() == 1 && Arc::ptr_eq(&channels[0], &fresh), "client {}", c.id);
        }
    }
}

/// Why [`Server::rename_channel`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameError {
    /// Another channel has the new name.
    NameInUse,
    /// The channel ended meanwhile.
    NoSuchChannel,
}
