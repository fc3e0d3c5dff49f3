//! Several banterd nodes sharing one network through Redis (docs/cluster.md).
//!
//! Every change the other nodes must see is an [`Event`] appended to one Redis
//! stream; each node reads the stream in order and applies the events of the
//! other nodes with one function ([`apply`]). A node applies its own changes
//! when the command runs, as a single node does, and skips them in the stream
//! (a topic or mode change that another node's may have overtaken is applied
//! again, so every node ends with the log's order).
//! Users of other nodes are [`Client`]s without a connection here: they sit
//! in the nick map and in channel member lists, so every command sees them,
//! and delivering to them does nothing (their own node delivers).
//!
//! Every `[cluster] snapshot_every` events one node writes a snapshot of the
//! state ([`snapshot`]) to Redis and trims the log up to it, never past a live
//! node's position ([`compact`]); a joining node loads the snapshot and
//! replays only the rest of the log.
//!
//! Without `[cluster] redis_url` nothing here runs: [`Server::cluster`] is
//! `None` and each hook returns at its first line.

pub mod apply;
pub mod ask;
pub mod backplane;
pub mod compact;
pub mod event;
pub mod packed;
pub mod snapshot;

use crate::commands::chathistory::Recipient;
use crate::proto::line::Line;
use crate::state::channel::Channel;
use crate::state::client::{Client, ClientId};
use crate::state::sequencer::{self, Outcome};
use crate::state::{NickError, Server};
use crate::store::LogAt;
use backplane::{Claim, Job};
use dashmap::DashMap;
pub use event::{Event, ModeChange, WireLine};
use redis::aio::ConnectionManager;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// This node's part in the network.
pub struct Cluster {
    /// This process's name in the network: `NAME:RANDOM` (a restarted node
    /// is a new member; its earlier life is reaped).
    pub node: String,
    /// The configured (or default) node name.
    pub name: String,
    jobs: mpsc::UnboundedSender<Job>,
    /// Users of other nodes by (node, uid).
    remotes: DashMap<(String, u64), Arc<Client>>,
    /// (node, uid) of each user of another node, by its id here.
    origins: DashMap<ClientId, (String, u64)>,
    /// Each node's server name and description, as its users' WHOIS shows.
    homes: DashMap<String, Arc<(String, String)>>,
    /// Users of other nodes by the unit of address `limits.max_per_ip`
    /// counts (their User event's address).
    remote_ips: DashMap<crate::state::ipkey::IpKey, usize>,
    /// Stops the heartbeat.
    stop: watch::Sender<bool>,
    /// Set once this node announced its departure.
    left: AtomicBool,
    /// Nick claims and renames sent to Redis whose change is not made here yet (see
    /// [`Cluster::claims_in_flight`]).
    claims: AtomicUsize,
    /// The id of the last log entry this node applied (its heartbeat records
    /// it as the node's position, which no trim passes).
    applied: watch::Sender<String>,
    /// Where the reader is in the log, for the channel records this node
    /// saves (see [`crate::store::LogAt`]).
    place: std::sync::Mutex<Place>,
    /// How far this node's own events are on their way to the log.
    progress: Arc<backplane::Progress>,
    /// The nodes of the network, this one included, as of the last heartbeat.
    servers: Arc<std::sync::RwLock<Vec<backplane::Link>>>,
    /// Events read from the log since start-up (this node's own included).
    events_read: std::sync::atomic::AtomicU64,
    /// Whether the network's Redis may evict keys, as the heartbeat last
    /// found (see [`evicting`]).
    may_evict: Arc<AtomicBool>,
    /// Questions to other nodes waiting for answers ([`ask`]).
    asks: ask::Asks,
    /// This node's users who quit, until their QUIT comes back in the log
    /// and they are removed here too (see [`quit`]).
    quitting: dashmap::DashSet<ClientId>,
    /// Connections waiting for their user's QUIT to come back (see
    /// [`Cluster::quit_applied`]).
    quit_waiters: DashMap<ClientId, oneshot::Sender<()>>,
    /// This node's sequenced changes on their way through the log, by
    /// [`Event::sequenced_id`] (see [`crate::state::sequencer`]).
    sequenced: DashMap<String, Waiter>,
}

/// A command waiting for its change to come back from the log.
struct Waiter {
    /// The connection that made it (its copy is the command's reply; none
    /// for ChanServ's).
    by: Option<ClientId>,
    /// Told what the change did.
    done: oneshot::Sender<apply::Applied>,
}

/// A sequenced change of this node on its way through the log (see
/// [`Cluster::append_sequenced`]).
pub struct Applying {
    cluster: Arc<Cluster>,
    id: String,
    applied: oneshot::Receiver<apply::Applied>,
}

impl Applying {
    /// Waits (at most `wait`) until this node has applied the change: what
    /// it did, or `Err` if that did not happen in time.
    pub async fn done(self, wait: Duration) -> Result<apply::Applied, ()> {
        self.cluster.outcome(&self.id, self.applied, wait).await
    }
}

/// How this node's part in the network is going, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Nodes of the network, this one included (as of the last heartbeat).
    pub nodes: usize,
    /// Users of the other nodes.
    pub remote_users: usize,
    /// This node's events appended to the log.
    pub published: u64,
    /// This node's events not yet appended (waiting for Redis).
    pub unpublished: u64,
    /// Events read from the log, this node's own included.
    pub read: u64,
    /// Whether Redis may evict keys when full.
    pub may_evict: bool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.node).field("remotes", &self.remotes.len()).finish()
    }
}

/// A new log begins (this node is the first to join a Redis with no log
/// identity): the store forgets where in the old log its channels were
/// saved, since the new log's entry ids (from Redis's clock) say nothing
/// about the old one's: a Redis restarted empty on a machine whose clock is
/// behind would otherwise have every later save taken as older than the
/// stored ones.
async fn forget_log_positions(server: &Server) {
    let Some(store) = server.history.store() else { return };
    match tokio::task::spawn_blocking(move || store.forget_log_positions()).await {
        Ok(Ok(())) => tracing::info!("cluster: a new log begins; the store's channel log positions are forgotten"),
        Ok(Err(e)) => tracing::warn!(error = %e, "cluster: the store's channel log positions were not forgotten"),
        Err(e) => tracing::warn!(error = %e, "cluster: forgetting the store's channel log positions failed"),
    }
}

/// The node name when none is configured: `HOSTNAME-PID`.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    format!("{}-{}", if host.is_empty() { "banterd" } else { host }, std::process::id())
}

/// Joins the network named by `[cluster]`, if any, before the listeners
/// open: registers this node, replays the stream to learn the users and
/// channels of the others, then follows it, publishes and heartbeats in
/// tasks of their own. `store` is this node's [`crate::store::Store::identity`]:
/// every node of the network must share one store (unless `separate_stores`).
pub async fn start(server: &Arc<Server>, store: &str) -> Result<(), String> {
    let cfg = server.config().cluster.clone();
    let Some(url) = cfg.redis_url.clone() else { return Ok(()) };
    let name = cfg.node_name.clone().unwrap_or_else(default_name);
    let node = format!("{name}:{:08x}", rand::random::<u32>());
    let config = server.config();
    let settings = shared_settings(server, store);
    let me = (config.server.name.clone(), config.server.description.clone());
    let (client, mut manager) = join(&url, &node, cfg.ttl_ms, &settings, &me).await?;
    let (jobs, queue) = mpsc::unbounded_channel();
    let cluster = Arc::new(Cluster::new(node.clone(), name, jobs));
    server.set_cluster(cluster.clone());
    if backplane::begins_log(&mut manager).await.map_err(|e| format!("cannot reach Redis: {e}"))? {
        forget_log_positions(server).await;
    }
    let mut reader = backplane::reader_connection(&client).await.map_err(|e| format!("cannot reach Redis: {e}"))?;
    let began = std::time::Instant::now();
    let loaded = load(&mut manager, &node).await?;
    let fetched = began.elapsed();
    for json in loaded.data.lines() {
        apply::apply_json(server, &cluster, json, true);
    }
    // A channel whose only members were leaving as the snapshot was taken.
    let channels: Vec<_> = server.channels.iter().map(|c| c.value().clone()).collect();
    for ch in &channels {
        server.remove_channel_if_empty(ch);
    }
    let restored = began.elapsed();
    let mut last = loaded.start().to_owned();
    let mut replayed = 0u64;
    loop {
        let batch = backplane::read(&mut reader, &last, None).await.map_err(|e| format!("reading the log: {e}"))?;
        if batch.gap {
            return Err(format!("the log was trimmed past {last} while this node replayed it"));
        }
        if batch.entries.is_empty() {
            break;
        }
        for entry in batch.entries {
            replayed += apply::apply_entry(server, &cluster, &entry, true);
            last = entry.id;
        }
    }
    tracing::info!(
        node = %cluster.node,
        snapshot = loaded.id.as_deref().unwrap_or("none"),
        snapshot_bytes = loaded.data.len(),
        fetch_ms = fetched.as_millis() as u64,
        restore_ms = (restored - fetched).as_millis() as u64,
        replay_ms = (began.elapsed() - restored).as_millis() as u64,
        replayed,
        users = cluster.remotes.len(),
        channels = server.channels.len(),
        "cluster: joined the network"
    );
    cluster.applied.send_replace(last.clone());
    let compactor = compact::Compactor::new(manager.clone(), node.clone(), cfg.snapshot_every, &loaded, replayed);
    let grace = Duration::from_millis(cfg.grace_ms);
    tokio::spawn(backplane::publish(manager.clone(), node.clone(), queue, grace, cluster.progress.clone()));
    ask::listen(server.clone(), cluster.clone(), client.clone(), manager.clone());
    let every = Duration::from_millis(cfg.heartbeat_ms);
    let applied = cluster.applied.subscribe();
    let servers = cluster.servers.clone();
    let may_evict = cluster.may_evict.clone();
    let beat = backplane::Heartbeat { every, ttl_ms: cfg.ttl_ms, grace, applied, servers, may_evict };
    let beat = backplane::heartbeat(manager, node, beat, cluster.stop.subscribe());
    let (for_beat, cluster_for_beat) = (server.clone(), cluster.clone());
    tokio::spawn(async move {
        if let Some(why) = beat.await {
            lost(&for_beat, &cluster_for_beat, why);
        }
    });
    let reading = Reading { client, reader, last, compactor };
    tokio::spawn(follow(server.clone(), cluster, reading));
    Ok(())
}

/// Connects to Redis and registers `node` as up, waiting for Redis as long as
/// it takes: a node never runs outside the network, and its listeners open
/// only once it is in (the stop signals end the wait, see `server::run`).
/// Each failed try is logged and tried again after a pause growing to 5 s.
/// A `redis_url` that cannot be parsed fails, and so does a node whose
/// [`shared_settings`] differ from the network's (it never registers).
async fn join(
    url: &str,
    node: &str,
    ttl_ms: u64,
    settings: &[(&str, String)],
    me: &(String, String),
) -> Result<(redis::Client, ConnectionManager), String> {
    let client = backplane::open(url)?;
    let mut pause = Duration::from_millis(250);
    let lapse = Duration::from_millis(ttl_ms) + Duration::from_secs(1);
    let sole = sole_store(settings);
    let mut sole_since = None;
    loop {
        let tried = async {
            let mut manager = backplane::manager(&client).await?;
            if let Some(refused) = evicting(backplane::eviction(&mut manager).await?) {
                return Ok((manager, Err(Refused::Settings(refused))));
            }
            let differ = backplane::agree(&mut manager, settings).await?;
            if !differ.is_empty() {
                return Ok((manager, Err(Refused::Settings(disagreement(settings, &differ)))));
            }
            match backplane::register(&mut manager, node, ttl_ms, me, sole).await? {
                None => {
                    backplane::reap_lapsed(&mut manager).await;
                    Ok::<_, redis::RedisError>((manager, Ok(())))
                }
                Some(other) => Ok((manager, Err(Refused::SharedSqlite(other)))),
            }
        };
        match tried.await {
            Ok((manager, Ok(()))) => return Ok((client, manager)),
            // The earlier life of a node restarted under another name (the
            // default one has the pid) lapses within its TTL; a copy of the
            // data dir stays.
            Ok((_, Err(Refused::SharedSqlite(other))))
                if sole_since.get_or_insert_with(Instant::now).elapsed() < lapse =>
            {
                tracing::warn!(%other, "cluster: another node is up on this node's SQLite store; waiting for it to lapse");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            Ok((_, Err(Refused::Settings(why)))) => return Err(why),
            Ok((_, Err(Refused::SharedSqlite(other)))) => return Err(shared_sqlite(&other)),
            Err(e) => tracing::warn!(error = %e, %url, "cluster: cannot join the network yet; trying again"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// What keeps a node that reached Redis from joining.
enum Refused {
    /// Its settings or the Redis (the reason): it never will.
    Settings(String),
    /// Another node, named, is up on its SQLite store.
    SharedSqlite(String),
}

/// Whether the network's store is this node's SQLite file (no
/// `separate_stores`, and the store's check passed): then no other node may
/// be up on it, since SQLite is one file that one banterd opens.
fn sole_store(settings: &[(&str, String)]) -> bool {
    settings.iter().any(|(name, value)| *name == "store" && value.starts_with(crate::store::SQLITE_IDENTITY))
}

/// Why a node cannot join while `other`, of another name, is up on the
/// same SQLite store.
fn shared_sqlite(other: &str) -> String {
    format!(
        "this node cannot join the network: node {other} is up on the same SQLite store (a copy of its data \
         dir keeps the store's identity, and two nodes on two copies would each register the same account \
         names); a network of several nodes shares one PostgreSQL database ([store] url)"
    )
}

/// Why this node will not join through a Redis that may evict keys when full
/// (`maxmemory` set with a policy other than `noeviction`): a nick claim, a
/// channel claim or the log evicted would let two users hold one name or
/// lose events, and a liveness key evicted (the `volatile-*` policies take
/// keys with a TTL first) would have a live node reaped. None: it never
/// evicts.
fn evicting(eviction: backplane::Eviction) -> Option<String> {
    let backplane::Eviction { limit, policy } = &eviction;
    eviction.may_evict().then(|| {
        format!(
            "this node cannot join the network: Redis may evict keys when full (maxmemory {limit} bytes, \
             maxmemory-policy {policy}), and a claim, a liveness key or the log evicted would split the network; \
             set maxmemory-policy noeviction (or no maxmemory) on the network's Redis"
        )
    })
}

/// The settings every node of one network must share, as this node has
/// them: nicks and channel names are claimed in Redis case-folded, so a
/// node folding otherwise would let two users hold one nick; and accounts
/// and registered channels are decided by the store, so a node with a store
/// of its own would let two people register one account name (and the one
/// on this node be taken for the other's channels' founder). Each node also
/// gives a channel it learns of from the log its own `default_modes`, and
/// keeps or drops an empty one by its own `permanent` list, so nodes that
/// differ there would disagree about a channel's modes (`+s` on one node
/// hid from LIST and NAMES a channel public on the other, tried). The
/// network's name and the [shared limits](crate::config::LimitsConfig::shared)
/// are what every client reads in ISUPPORT: with `nick_len` 30 on one node
/// and 12 on the other, the second showed 21-character nicks under
/// `NICKLEN=12`, and held 6 bans under `MAXLIST=beI:3` that its own ops
/// could not add to (tried). `events` is the encoding of the log
/// ([`event::FORMAT`]). A node
/// with `separate_stores` skips the store's check. Values are compared in
/// a canonical form (flags sorted, names folded and sorted).
fn shared_settings(server: &Server, store: &str) -> Vec<(&'static str, String)> {
    let config = server.config();
    let mut flags: Vec<char> = config.channels.default_modes.chars().collect();
    flags.sort_unstable();
    flags.dedup();
    let mut permanent: Vec<String> = config.channels.permanent.iter().map(|c| server.fold(c)).collect();
    permanent.sort();
    permanent.dedup();
    let mut settings = vec![
        ("events", event::FORMAT.to_owned()),
        ("server.network", config.server.network.clone()),
        ("server.casemapping", config.server.casemapping.clone()),
        ("channels.default_modes", flags.into_iter().collect()),
        ("channels.permanent", permanent.join(" ")),
    ];
    settings.extend(config.limits.shared().map(|(name, value)| (name, value.to_string())));
    if !config.cluster.separate_stores {
        settings.push(("store", store.to_owned()));
    }
    settings
}

/// Why a node whose settings differ from the network's cannot join.
fn disagreement(settings: &[(&str, String)], differ: &[(String, String)]) -> String {
    let each: Vec<String> = differ
        .iter()
        .map(|(name, theirs)| {
            let ours = settings.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default();
            format!("{name} is \"{ours}\" here but \"{theirs}\" on the network")
        })
        .collect();
    let store = if differ.iter().any(|(name, _)| name == "store") {
        "; the store is the [store] url, one PostgreSQL database for every node ([cluster] separate_stores = \
         true lets a node of a trial on one machine keep its own)"
    } else {
        ""
    };
    format!(
        "this node cannot join the network: {} (every node must use the same{store}; to change the network's, \
         stop every node and delete the network's keys, banter:*, in Redis)",
        each.join("; ")
    )
}

/// The log entry the reader is applying, and the last one it wholly applied
/// (or, of an entry of this node, applied up to one of its sequenced
/// changes).
#[derive(Default)]
struct Place {
    applying: LogAt,
    applied: LogAt,
}

/// Where the reader is: its connection, the last entry it applied, and
/// when it writes the next snapshot.
struct Reading {
    client: redis::Client,
    reader: redis::aio::MultiplexedConnection,
    last: String,
    compactor: compact::Compactor,
}

/// Loads the snapshot for joining `node`. One older than the trimmed part
/// of the log (someone deleted the newer one) cannot be followed by the log:
/// it waits a little for a node to write a newer one, then gives up.
async fn load(manager: &mut redis::aio::ConnectionManager, node: &str) -> Result<compact::Loaded, String> {
    for _ in 0..10 {
        let loaded = compact::load(manager, node).await.map_err(|e| format!("loading the snapshot: {e}"))?;
        if !loaded.has_gap() {
            return Ok(loaded);
        }
        let trimmed = loaded.trimmed.as_deref().unwrap_or_default();
        tracing::warn!(
            snapshot = loaded.start(),
            trimmed,
            "cluster: the snapshot is older than the trimmed log; waiting for a newer one"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err("the snapshot in Redis is older than the trimmed part of the log: this node cannot learn the network".into())
}

/// Reads the stream on from where `reading` is, applying each event, for the
/// life of the process (and writing a snapshot when one is due, right after
/// applying an entry); reconnects when Redis goes away.
async fn follow(server: Arc<Server>, cluster: Arc<Cluster>, reading: Reading) {
    let Reading { client, mut reader, mut last, mut compactor } = reading;
    loop {
        match backplane::read(&mut reader, &last, Some(2000)).await {
            Ok(batch) if batch.gap => return gap(&server, &cluster, &last).await,
            Ok(batch) => {
                let read = !batch.entries.is_empty();
                for entry in batch.entries {
                    let events = apply::apply_entry(&server, &cluster, &entry, false);
                    cluster.events_read.fetch_add(events, Ordering::Relaxed);
                    last = entry.id;
                    if compactor.count(events) {
                        compactor.snapshot(&server, &cluster, &last).await;
                    }
                }
                if read {
                    cluster.applied.send_replace(last.clone());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster: reading the log failed; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(fresh) = backplane::reader_connection(&client).await {
                    reader = fresh;
                }
            }
        }
    }
}

/// A node named `node` that is not connected to any Redis (what it publishes
/// goes nowhere): for tests of applying the log.
#[cfg(test)]
pub(crate) fn unconnected(node: &str) -> Arc<Cluster> {
    Arc::new(Cluster::new(node.to_owned(), node.to_owned(), mpsc::unbounded_channel().0))
}

/// The ERROR of the clients of a node that lost its place in the network.
pub const LOST_REASON: &str = "This server lost its place in the network and restarts; please reconnect";
/// The ERROR of the clients of a node whose Redis stayed away past the grace period.
pub const UNREACHABLE_REASON: &str =
    "This server lost contact with the rest of the network and restarts; please reconnect";

/// This node's membership is lost: it was reaped while alive (silent longer
/// than `ttl_ms`), Redis lost its data, or Redis stayed away longer than
/// `grace_ms` (the others may have reaped it meanwhile). Carrying on could
/// hand out nicks that others hold, so it publishes nothing more,
/// disconnects its clients with an ERROR saying so, and restarts itself (as
/// RESTART does): the new process waits for Redis, joins the network afresh,
/// replays the log and only then accepts clients again.
fn lost(server: &Server, cluster: &Cluster, why: backplane::Lost) {
    if cluster.left.swap(true, Ordering::Relaxed) {
        // Leaving on purpose (SIGTERM, DIE, RESTART): its own departure took
        // it out of the set; nothing to restart for.
        return;
    }
    let reason = match why {
        backplane::Lost::Reaped => {
            tracing::error!(
                node = %cluster.node,
                "cluster: this node is no longer a member of the network (reaped while alive, or Redis lost its \
                 data); disconnecting its clients and restarting to join again"
            );
            LOST_REASON
        }
        backplane::Lost::Unreachable => {
            tracing::error!(
                node = %cluster.node,
                "cluster: Redis stayed away longer than grace_ms; disconnecting this node's clients and restarting \
                 to join again once Redis is back"
            );
            UNREACHABLE_REASON
        }
    };
    restart(server, cluster, reason);
}

/// Entries after this node's place in the log were trimmed before it
/// applied them: it cannot follow the log any more. It leaves the network
/// (its users quit everywhere at once) and restarts as [`lost`] does; the
/// new process loads the snapshot.
async fn gap(server: &Server, cluster: &Cluster, place: &str) {
    tracing::error!(
        node = %cluster.node,
        %place,
        "cluster: log entries this node had not applied were trimmed; leaving and restarting to join again"
    );
    cluster.leave().await;
    restart(server, cluster, LOST_REASON);
}

/// Disconnects this node's clients with the ERROR `reason` and restarts the
/// process.
fn restart(server: &Server, cluster: &Cluster, reason: &str) {
    for c in server.clients.iter() {
        if !cluster.is_remote(c.id) {
            crate::state::session::close_all(c.value(), reason);
        }
    }
    server.restart_requested.store(true, Ordering::Relaxed);
    server.begin_shutdown();
}

impl Cluster {
    /// Node `node` (named `name` in the config), publishing through `jobs`,
    /// knowing no other node yet.
    fn new(node: String, name: String, jobs: mpsc::UnboundedSender<Job>) -> Cluster {
        Cluster {
            node,
            name,
            jobs,
            remotes: DashMap::new(),
            origins: DashMap::new(),
            homes: DashMap::new(),
            remote_ips: DashMap::new(),
            stop: watch::channel(false).0,
            left: AtomicBool::new(false),
            claims: AtomicUsize::new(0),
            applied: watch::channel(String::new()).0,
            place: Default::default(),
            progress: Arc::default(),
            servers: Arc::default(),
            events_read: Default::default(),
            may_evict: Arc::default(),
            asks: ask::Asks::default(),
            sequenced: DashMap::new(),
            quitting: dashmap::DashSet::new(),
            quit_waiters: DashMap::new(),
        }
    }

    /// One of this node's users' QUIT, back from the log: the user leaves
    /// its channels here now, in the log's order, as on every other node
    /// (its nick was let go when it quit).
    fn quit_confirmed(&self, server: &Server, uid: ClientId, reason: &str) {
        if !self.quitting.contains(&uid) {
            return;
        }
        if let Some(client) = server.clients.get(&uid).map(|c| c.clone()) {
            crate::state::membership::leave_all_quit(server, &client, reason);
        }
        // Only the reader confirms QUITs: not pending from here on.
        self.quitting.remove(&uid);
        if let Some((_, waiter)) = self.quit_waiters.remove(&uid) {
            let _ = waiter.send(());
        }
    }

    /// Waits (at most `within`) until the QUIT of this node's user `uid`
    /// is back from the log and its co-members here were shown it; at once
    /// if none is on its way. Its connection closes after that, so that a
    /// client that saw the connection end and then asks another connection
    /// anything finds the QUIT shown there, as on a single node.
    pub async fn quit_applied(&self, uid: ClientId, within: Duration) {
        let (done, applied) = oneshot::channel();
        self.quit_waiters.insert(uid, done);
        if self.quitting.contains(&uid) {
            let _ = tokio::time::timeout(within, applied).await;
        }
        self.quit_waiters.remove(&uid);
    }

    /// Appends `event`, a sequenced change made by connection `by`, to the
    /// log and waits (up to `wait`) until this node's reader has applied it
    /// in the log's order: what it did, or `Err` if that did not happen in
    /// time (Redis away, or this node left the network).
    pub(crate) async fn sequence(
        self: &Arc<Self>,
        event: Event,
        by: Option<ClientId>,
        wait: Duration,
    ) -> Result<apply::Applied, ()> {
        self.append_sequenced(event, by).ok_or(())?.done(wait).await
    }

    /// Appends `event`, a sequenced change made by connection `by`, to the
    /// log without waiting: the returned [`Applying`] tells when this node's
    /// reader has applied it in the log's order. `None`, and nothing
    /// appended, once this node left the network.
    pub fn append_sequenced(self: &Arc<Self>, event: Event, by: Option<ClientId>) -> Option<Applying> {
        let Some(id) = event.sequenced_id().map(str::to_owned) else {
            debug_assert!(false, "not a sequenced event: {event:?}");
            return None;
        };
        if self.left.load(Ordering::Relaxed) {
            return None;
        }
        let (id, applied) = self.wait_for(id, by);
        self.publish(event);
        Some(Applying { cluster: self.clone(), id, applied })
    }

    /// Waits for the sequenced change `id`, made by connection `by`, to be
    /// applied here (call before it is appended: the reader may apply it
    /// before the append is answered).
    fn wait_for(&self, id: String, by: Option<ClientId>) -> (String, oneshot::Receiver<apply::Applied>) {
        let (done, applied) = oneshot::channel();
        self.sequenced.insert(id.clone(), Waiter { by, done });
        (id, applied)
    }

    /// What the sequenced change `id` did once applied here, or `Err` if
    /// that did not happen within `wait`.
    async fn outcome(
        &self,
        id: &str,
        applied: oneshot::Receiver<apply::Applied>,
        wait: Duration,
    ) -> Result<apply::Applied, ()> {
        match tokio::time::timeout(wait, applied).await {
            Ok(Ok(applied)) => Ok(applied),
            _ => {
                // Applied later, if ever, with the line for every connection.
                self.sequenced.remove(id);
                Err(())
            }
        }
    }

    /// One of this node's sequenced changes, back from the log: applied
    /// now, in the log's order, and the command that made it told (once the
    /// entry counts as applied: the channel it saves then is taken there).
    fn applied_own(&self, server: &Server, event: &Event) {
        let waiter = event.sequenced_id().and_then(|id| self.sequenced.remove(id)).map(|(_, w)| w);
        let applied = apply::sequenced(server, event, waiter.as_ref().and_then(|w| w.by));
        self.through_applying();
        if let Some(w) = waiter {
            let _ = w.done.send(applied);
        }
    }

    /// Where in the log this node's state is: every change up to there is
    /// applied here.
    pub(crate) fn log_at(&self) -> LogAt {
        self.place.lock().unwrap_or_else(|e| e.into_inner()).applied
    }

    /// The reader starts applying log entry `id`.
    fn applying(&self, id: &str) {
        self.place.lock().unwrap_or_else(|e| e.into_inner()).applying = LogAt::of_entry(id);
    }

    /// The entry being applied counts as applied: the rest of it is this
    /// node's own events (an entry is one node's append), whose commands
    /// save what they change after them.
    fn through_applying(&self) {
        let mut place = self.place.lock().unwrap_or_else(|e| e.into_inner());
        place.applied = place.applying;
    }

    /// Asks the node of `who`, a user of another node, when `who` last spoke
    /// (messages that stay on that node are not in the log) and records the
    /// answer; `who`'s time stays as relayed if the node does not answer
    /// within [`ask::WAIT`]. Local users are left as they are.
    pub async fn refresh_last_spoke(&self, who: &Client) {
        let Some((node, uid)) = self.origin_of(who.id) else { return };
        if let Some(time) = self.asks.last_spoke(&self.node, &node, uid).await {
            who.last_spoke.fetch_max(time, Ordering::Relaxed);
        }
    }

    /// How this node's part in the network is going.
    pub fn health(&self) -> Health {
        Health {
            nodes: self.node_count(),
            remote_users: self.remote_count(),
            published: self.progress.appended(),
            unpublished: self.progress.unsettled(),
            read: self.events_read.load(Ordering::Relaxed),
            may_evict: self.may_evict.load(Ordering::Relaxed),
        }
    }

    /// How many users of other nodes connected from `key`.
    pub fn remote_users_at(&self, key: crate::state::ipkey::IpKey) -> usize {
        self.remote_ips.get(&key).map_or(0, |n| *n)
    }

    /// Counts a user of another node at `key`.
    fn count_remote_ip(&self, key: crate::state::ipkey::IpKey) {
        *self.remote_ips.entry(key).or_insert(0) += 1;
    }

    /// A user of another node at `key` is gone.
    fn uncount_remote_ip(&self, key: crate::state::ipkey::IpKey) {
        crate::state::ipkey::count_down(&self.remote_ips, key);
    }

    /// Whether `id` is a user of another node.
    #[inline]
    pub fn is_remote(&self, id: ClientId) -> bool {
        self.origins.contains_key(&id)
    }

    /// The (node, uid) of a user of another node.
    pub fn origin_of(&self, id: ClientId) -> Option<(String, u64)> {
        self.origins.get(&id).map(|o| o.clone())
    }

    /// The server name and description of the node a user of another node
    /// is on, if that node said.
    pub fn home_of(&self, id: ClientId) -> Option<Arc<(String, String)>> {
        let node = self.origins.get(&id)?.0.clone();
        self.homes.get(&node).map(|h| h.clone())
    }

    /// Whether a nick claim of this node was sent to Redis and its change is
    /// not made here yet: its NICK may be in the log already, so a snapshot
    /// taken now could miss it.
    pub fn claims_in_flight(&self) -> bool {
        self.claims.load(Ordering::SeqCst) > 0
    }

    /// Whether every event of this node is in the log at or before the
    /// entry the reader applied last (see [`backplane::Progress`]).
    pub fn own_events_caught_up(&self) -> bool {
        self.progress.caught_up()
    }

    /// How many users of other nodes this node knows.
    pub fn remote_count(&self) -> usize {
        self.remotes.len()
    }

    /// How many nodes the network has, this one included (as of the last
    /// heartbeat).
    pub fn node_count(&self) -> usize {
        self.servers.read().unwrap_or_else(|e| e.into_inner()).len().max(1)
    }

    /// The server name and description of every other node of the network
    /// (as of the last heartbeat), sorted by name.
    pub fn other_servers(&self) -> Vec<(String, String)> {
        let all = self.servers.read().unwrap_or_else(|e| e.into_inner());
        all.iter().filter(|s| s.node != self.node).map(|s| (s.name.clone(), s.description.clone())).collect()
    }

    /// The user `uid` of `node`: one of ours, or a remote one.
    pub(crate) fn lookup(&self, server: &Server, node: &str, uid: u64) -> Option<Arc<Client>> {
        if node == self.node {
            server.clients.get(&uid).map(|c| c.clone())
        } else {
            self.remotes.get(&(node.to_owned(), uid)).map(|c| c.clone())
        }
    }

    /// Where `client` lives: (node, uid).
    pub(crate) fn address(&self, client: &Client) -> (String, u64) {
        self.origin_of(client.id).unwrap_or_else(|| (self.node.clone(), client.id))
    }

    fn publish(&self, event: Event) {
        if !self.left.load(Ordering::Relaxed) {
            self.progress.sent();
            let _ = self.jobs.send(Job::Publish(event.to_json()));
        }
    }

    /// Announces that this node leaves (SIGTERM, DIE): one NodeDown, its
    /// nicks freed; waits (up to the grace period) for Redis to take it.
    pub async fn leave(&self) {
        if self.left.swap(true, Ordering::Relaxed) {
            return;
        }
        let _ = self.stop.send(true);
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Down(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
        }
        tracing::info!(node = %self.node, "cluster: left the network");
    }
}

/// The server `client` is on, as WHOIS (`312`) and WHO show it: (name,
/// description) of its node for a user of another node, this server's for
/// the others; and the hop count WHO shows (1 for another node's user).
pub fn server_of(server: &Server, client: &Client) -> (String, String, u8) {
    if let Some(home) = server.cluster().and_then(|c| c.home_of(client.id)) {
        return (home.0.clone(), home.1.clone(), 1);
    }
    let cfg = server.config();
    (cfg.server.name.clone(), cfg.server.description.clone(), 0)
}

/// Claims `nick` for the local `client`, a change made by connection `by`
/// (none: every connection of the client gets the NICK): in Redis first
/// (the first claim in the log wins), then here. A registered client's
/// NICK event is appended in the same step and, as a sequenced change, made
/// here when this node's reader applies it in the log's order: its NICK
/// line as shown is returned. On a single node, [`sequencer::rename_now`].
pub async fn claim_nick(
    server: &Arc<Server>,
    client: &Arc<Client>,
    nick: &str,
    by: Option<ClientId>,
) -> Result<Option<Line>, NickError> {
    let Some(cluster) = server.cluster() else { return sequencer::rename_now(server, client, nick, by) };
    if crate::services::lookup(server, nick).is_some() {
        return Err(NickError::InUse);
    }
    let folded = server.fold(nick);
    let holder = server.nicks.get(&folded).map(|h| h.clone());
    match holder {
        Some(h) if h.id == client.id && !client.is_registered() => {
            return server.claim_nick(client, nick).map(|()| None)
        }
        Some(h) if h.id != client.id && !cluster.is_remote(h.id) => return Err(NickError::InUse),
        _ => {}
    }
    let old = client.nick();
    let give_back = if old == "*" { String::new() } else { server.fold(&old) };
    let event = client.is_registered().then(|| sequencer::nick_change(server, client, nick));
    let waiting = event.as_ref().and_then(Event::sequenced_id).map(|id| cluster.wait_for(id.to_owned(), by));
    let claim = Claim {
        take: folded.clone(),
        give_back,
        uid: client.id,
        event: event.as_ref().map(Event::to_json).unwrap_or_default(),
    };
    let (tx, rx) = oneshot::channel();
    // A sequenced change is made by the reader in the log's order: nothing
    // of it can be missing from a snapshot the reader takes meanwhile.
    let _in_flight = waiting.is_none().then(|| InFlight::new(&cluster.claims));
    if !claim.event.is_empty() {
        cluster.progress.sent();
    }
    let claimed = match cluster.jobs.send(Job::Claim(claim, Some(tx))) {
        Err(_) => Err(NickError::Unavailable),
        Ok(()) => match rx.await {
            Ok(Ok(1)) => Ok(()),
            Ok(Ok(0)) => Err(NickError::InUse),
            Ok(Ok(_)) => {
                tracing::error!(node = %cluster.node, "cluster: this node is no longer a member of the network");
                Err(NickError::Unavailable)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cluster: nick claim failed");
                Err(NickError::Unavailable)
            }
            Err(_) => Err(NickError::Unavailable),
        },
    };
    if let Some((id, applied)) = waiting {
        if let Err(e) = claimed {
            cluster.sequenced.remove(&id);
            return Err(e);
        }
        let wait = server.config().cluster.sequenced_wait();
        return sequencer::renamed(Outcome::confirmed(cluster.outcome(&id, applied, wait).await));
    }
    claimed?;
    // Redis gave it: a user of another node still holding it here has left
    // (its QUIT or NICK is on its way in the log).
    server.nicks.remove_if(&folded, |_, h| h.id != client.id && cluster.is_remote(h.id));
    server.claim_nick(client, nick).map(|()| None)
}

/// Counts a nick claim in flight from before it is sent until it is dropped,
/// after its change is made here (or it failed).
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(count: &'a AtomicUsize) -> InFlight<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Claims channel `name`, new here, for this node in Redis (RENAME keeps
/// names unique across nodes by these claims; who gets ops is decided by
/// the log, see [`crate::state::sequencer`]): true when this node now holds
/// the claim (always on a single node), false when another node holds it or
/// Redis cannot be reached in time.
pub async fn claim_channel(server: &Server, name: &str) -> bool {
    let Some(cluster) = server.cluster() else { return true };
    let (tx, rx) = oneshot::channel();
    if cluster.jobs.send(Job::ChanClaim(server.fold(name), tx)).is_err() {
        return false;
    }
    match rx.await {
        Ok(Ok(1)) => true,
        Ok(Ok(_)) => false,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, channel = name, "cluster: channel claim failed");
            false
        }
        Err(_) => false,
    }
}

/// Why a rename on a node of a cluster did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameRefused {
    /// Another node holds the new name (its channel exists there, or is
    /// being created or renamed to it at the same instant).
    NameInUse,
    /// Redis could not be reached in time, or this node is no longer a member.
    Unavailable,
}

/// Renames channel `old` to `new` across the network: the new name is
/// claimed in Redis and the Rename event (with the RENAME `line` the members
/// see) appended in one step, in line with this node's other events; then
/// `local` renames this node's copy (while the rename counts as in flight,
/// so no snapshot is taken between the two). On a single node only `local`
/// runs.
pub async fn rename<T>(
    server: &Server,
    old: &str,
    new: &str,
    line: &Line,
    local: impl FnOnce() -> T,
) -> Result<T, RenameRefused> {
    let Some(cluster) = server.cluster() else { return Ok(local()) };
    let event = Event::Rename {
        node: cluster.node.clone(),
        chan: old.to_owned(),
        to: new.to_owned(),
        line: WireLine::of(line),
    };
    let (tx, rx) = oneshot::channel();
    let job = Job::Rename(server.fold(old), server.fold(new), event.to_json(), tx);
    let _in_flight = InFlight::new(&cluster.claims);
    cluster.progress.sent();
    if cluster.jobs.send(job).is_err() {
        return Err(RenameRefused::Unavailable);
    }
    match rx.await {
        Ok(Ok(1)) => Ok(local()),
        Ok(Ok(0)) => Err(RenameRefused::NameInUse),
        other => {
            tracing::warn!(?other, old, new, "cluster: channel rename not claimed");
            Err(RenameRefused::Unavailable)
        }
    }
}

/// METADATA `changes` made here to a registered user (of any node) or a
/// channel: the other nodes apply them and tell their subscribers.
pub fn metadata(server: &Server, target: &crate::commands::metadata::Target, changes: &[(String, Option<String>)]) {
    use crate::commands::metadata::Target;
    let Some(cluster) = server.cluster() else { return };
    let (user, chan) = match target {
        // Before registration the others do not know the user: its keys
        // follow its User event (see `registered`).
        Target::User(c) if !c.is_registered() => return,
        Target::User(c) => (Some(cluster.address(c)), None),
        Target::Channel(ch) => (None, Some(ch.name.clone())),
    };
    cluster.publish(Event::Metadata { node: cluster.node.clone(), user, chan, changes: changes.to_vec() });
}

/// REGAIN of `nick` by `account` from `holder`: when the holder is a user of
/// another node, that node is told to rename it (true); false for a user of
/// this node (the caller renames it) or on a single node.
pub fn regain_remote(server: &Server, holder: &Client, nick: &str, account: &str) -> bool {
    let Some(cluster) = server.cluster() else { return false };
    let Some(to) = cluster.origin_of(holder.id) else { return false };
    cluster.publish(Event::Regain {
        node: cluster.node.clone(),
        to,
        nick: nick.to_owned(),
        account: account.to_owned(),
    });
    true
}

/// An account's read marker moved forward here (`who` is `a:ACCOUNT`): the
/// other nodes raise theirs and tell the account's connections there.
pub fn read_marker(server: &Server, who: &str, target: &str, ms: i64) {
    let Some(cluster) = server.cluster() else { return };
    cluster.publish(Event::Marker { node: cluster.node.clone(), who: who.to_owned(), target: target.to_owned(), ms });
}

/// Channel `folded` no longer exists here (its last member left, in log
/// order): if this node claimed its creation, the claim is given back.
pub fn channel_gone(server: &Server, folded: &str) {
    let Some(cluster) = server.cluster() else { return };
    if !cluster.left.load(Ordering::Relaxed) {
        let _ = cluster.jobs.send(Job::ChanRelease(folded.to_owned()));
    }
}

/// A local client completed registration: the others learn of it.
pub fn registered(server: &Server, client: &Client) {
    let Some(cluster) = server.cluster() else { return };
    cluster.publish(user_event(server, client, &cluster.node, client.id));
    // Keys set before registration (metadata before_connect).
    if let Some(keys) = user_metadata_event(&cluster.node, client, &cluster.node, client.id) {
        cluster.publish(keys);
    }
}

/// The User event introducing `client`, user `uid` of `node`, as it is now.
fn user_event(server: &Server, client: &Client, node: &str, uid: u64) -> Event {
    let (home, home_info, _) = server_of(server, client);
    let info = client.info();
    Event::User {
        node: node.to_owned(),
        uid,
        nick: info.nick.clone(),
        user: info.user.clone(),
        host: info.host.clone(),
        realname: info.realname.clone(),
        account: info.account.clone(),
        modes: info.modes.to_mode_string(),
        server: home,
        info: home_info,
        signon: client.signon,
        ip: (!client.ip.is_unspecified()).then_some(client.ip),
    }
}

/// The METADATA event (from `source`) setting every key `client`, user
/// `uid` of `node`, has; None without keys.
fn user_metadata_event(source: &str, client: &Client, node: &str, uid: u64) -> Option<Event> {
    let info = client.info();
    let values = &info.metadata.values;
    (!values.is_empty()).then(|| Event::Metadata {
        node: source.to_owned(),
        user: Some((node.to_owned(), uid)),
        chan: None,
        changes: all_keys(values),
    })
}

/// Every key of `values`, as METADATA changes that set them.
pub(crate) fn all_keys(values: &crate::state::metadata::Values) -> Vec<(String, Option<String>)> {
    values.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect()
}

/// How a client leaving is made here (see [`quit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    /// At once: a single node, a user of another node, an unregistered
    /// connection, or a node no longer in the network.
    Now,
    /// When its QUIT comes back in the log (already on its way, or sent
    /// now): the user stays in its channels here until then, as it does on
    /// every other node.
    InOrder,
    /// Asked again while its QUIT is on its way: nothing more to do.
    Already,
}

/// A local client is leaving (registered or not): its nick given back in
/// Redis and, for a registered user, its QUIT appended in the same step;
/// the user then leaves its channels here when the QUIT comes back in the
/// log, in its order, as on every other node.
pub fn quit(server: &Server, client: &Client, reason: &str) -> Leaving {
    let Some(cluster) = server.cluster() else { return Leaving::Now };
    if cluster.is_remote(client.id) || cluster.left.load(Ordering::Relaxed) {
        return Leaving::Now;
    }
    let registered = client.is_registered();
    if registered && !cluster.quitting.insert(client.id) {
        return Leaving::Already;
    }
    let nick = client.nick();
    if nick == "*" && !registered {
        return Leaving::Now;
    }
    let event = registered
        .then(|| Event::Quit { node: cluster.node.clone(), uid: client.id, reason: reason.to_owned() }.to_json());
    let give_back = if nick == "*" { String::new() } else { server.fold(&nick) };
    let claim = Claim { take: String::new(), give_back, uid: client.id, event: event.unwrap_or_default() };
    if !claim.event.is_empty() {
        cluster.progress.sent();
    }
    if cluster.jobs.send(Job::Claim(claim, None)).is_err() {
        cluster.quitting.remove(&client.id);
        return Leaving::Now;
    }
    if registered {
        Leaving::InOrder
    } else {
        Leaving::Now
    }
}

/// A local client's user modes changed: `modes` as applied (`+i-w`).
pub fn user_modes(server: &Server, client: &Client, modes: &str) {
    let Some(cluster) = server.cluster() else { return };
    cluster.publish(Event::UserModes { node: cluster.node.clone(), uid: client.id, modes: modes.to_owned() });
}

/// An operator of this node killed `victim`: when it is a user of another
/// node, that node is told to disconnect it (with `line`, the KILL, and the
/// QUIT `reason`); true then, false for a local victim.
pub fn killed(server: &Server, killer: &Client, victim: &Client, line: &Line, reason: &str) -> bool {
    let Some(cluster) = server.cluster() else { return false };
    let Some(to) = cluster.origin_of(victim.id) else { return false };
    cluster.publish(Event::Kill {
        node: cluster.node.clone(),
        uid: killer.id,
        to,
        line: WireLine::of(line),
        reason: reason.to_owned(),
    });
    true
}

/// An operator of this node sent WALLOPS (`line`): the other nodes send it
/// to their `+w` users.
pub fn wallops(server: &Server, client: &Client, line: &Line) {
    let Some(cluster) = server.cluster() else { return };
    cluster.publish(Event::Wallops { node: cluster.node.clone(), uid: client.id, line: WireLine::of(line) });
}

/// Messages a local client sent to `channel`: published once, for the
/// nodes of its remote members, when it has any.
pub fn channel_lines<'a>(
    server: &Server,
    client: &Client,
    channel: &Channel,
    lines: impl IntoIterator<Item = &'a Line>,
) {
    let Some(cluster) = server.cluster() else { return };
    if has_remote_members(cluster, channel) {
        let lines = lines.into_iter().map(WireLine::of).collect();
        cluster.publish(Event::Msg { node: cluster.node.clone(), uid: client.id, to: None, lines });
    }
}

/// Where a local client's message to `to` goes in the network: `Some(None)`
/// to every node (a channel with members elsewhere), `Some(Some(address))`
/// to the node of a user of another node, `None` nowhere (all here).
fn destination(cluster: &Cluster, to: Recipient<'_>) -> Option<Option<(String, u64)>> {
    match to {
        Recipient::Channel(ch) => has_remote_members(cluster, ch).then_some(None),
        Recipient::User(u) => cluster.origin_of(u.id).map(Some),
    }
}

/// A draft/multiline message of a local client (see
/// [`crate::commands::multiline::assemble`] for `first` and `lines`),
/// published for the nodes that deliver it.
pub fn multiline(server: &Server, client: &Client, to: Recipient<'_>, first: &Line, lines: &[(String, bool)]) {
    let Some(cluster) = server.cluster() else { return };
    let Some(to) = destination(cluster, to) else { return };
    let (first, lines) = (WireLine::of(first), lines.to_vec());
    cluster.publish(Event::Multiline { node: cluster.node.clone(), uid: client.id, to, first, lines });
}

/// A local client's REDACT `line` of a message in a channel or in its
/// conversation with a user, published for the nodes that deliver it.
pub fn redacted(server: &Server, client: &Client, to: Recipient<'_>, line: &Line) {
    let Some(cluster) = server.cluster() else { return };
    let Some(to) = destination(cluster, to) else { return };
    cluster.publish(Event::Redact { node: cluster.node.clone(), uid: client.id, to, line: WireLine::of(line) });
}

/// Whether `channel` has members on other nodes.
fn has_remote_members(cluster: &Cluster, channel: &Channel) -> bool {
    // A remote client has no connection of its own: `sessions_any` sorts out
    // almost every local member without a map lookup.
    channel.read().members.values().any(|m| m.client.sessions_any() && cluster.is_remote(m.client.id))
}

/// A message from a local client to `to`: published for `to`'s node when
/// `to` is a remote user; false (deliver it here) otherwise.
pub fn private_line(server: &Server, client: &Client, to: &Client, line: &Line) -> bool {
    let Some(cluster) = server.cluster() else { return false };
    let Some(address) = cluster.origin_of(to.id) else { return false };
    let lines = vec![WireLine::of(line)];
    cluster.publish(Event::Msg { node: cluster.node.clone(), uid: client.id, to: Some(address), lines });
    true
}
