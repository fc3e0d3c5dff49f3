//! Configuration: serde structs with explicit defaults, unknown keys refused, and
//! validation at load. `config.toml` at the repository root documents every key.

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Identity and listeners.
    pub server: ServerConfig,
    /// Resource limits and timeouts.
    pub limits: LimitsConfig,
    /// Flood control (fake lag).
    pub flood: FloodConfig,
    /// Accounts and login.
    pub accounts: AccountsConfig,
    /// Channel defaults and permanent channels.
    pub channels: ChannelsConfig,
    /// TLS listeners.
    pub tls: TlsConfig,
    /// IRCv3 metadata limits.
    pub metadata: MetadataConfig,
    /// IRCv3 multiline limits.
    pub multiline: MultilineConfig,
    /// In-memory chat history and read markers.
    pub history: HistoryConfig,
    /// ChanServ: channel registration.
    pub chanserv: ChanServConfig,
    /// Log output format.
    pub log: LogConfig,
    /// Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
    /// Where accounts, channels and history are kept.
    pub store: StoreConfig,
    /// Several banterd nodes sharing one network through Redis (docs/cluster.md).
    pub cluster: ClusterConfig,
    /// IRC operators.
    #[serde(rename = "oper")]
    pub opers: Vec<OperConfig>,
    /// WebSocket listeners (IRCv3 WebSocket transport) that also serve the web client.
    #[serde(rename = "websocket")]
    pub websockets: Vec<WebsocketConfig>,
}

/// One `[[websocket]]` block: an HTTP listener that speaks IRC over WebSocket
/// (subprotocols `text.ircv3.net` and `binary.ircv3.net`) and serves the
/// bundled web client at `/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebsocketConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Speak TLS (`wss://`, `https://`) with the `[tls]` certificate and key.
    #[serde(default)]
    pub tls: bool,
    /// Web origins (`https://chat.example.org`) whose pages may connect, besides
    /// the listener's own; `"*"` allows any. Requests without an Origin header
    /// (non-browser clients) are always allowed.
    #[serde(default)]
    pub origins: Vec<String>,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` headers are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<crate::net::iprange::IpRange>,
    /// Load balancers (addresses or CIDR ranges) that begin every connection
    /// to this listener with a PROXY protocol header, as
    /// `server.proxy_protocol_from` does for the IRC listeners. The client it
    /// names stands for the peer, also when `trusted_proxies` is consulted.
    #[serde(default)]
    pub proxy_protocol_from: Vec<crate::net::iprange::IpRange>,
    /// Serve the bundled web client at `/`.
    #[serde(default = "enabled")]
    pub web_client: bool,
}

impl WebsocketConfig {
    /// A plain listener on `listen` with the default settings.
    pub fn on(listen: SocketAddr) -> Self {
        WebsocketConfig {
            listen,
            tls: false,
            origins: Vec::new(),
            trusted_proxies: Vec::new(),
            proxy_protocol_from: Vec::new(),
            web_client: true,
        }
    }
}

fn enabled() -> bool {
    true
}

/// `[tls]`: listeners that speak TLS, and the certificate they present.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Addresses for TLS (usually port 6697); empty: no TLS listener.
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain; relative to the config file.
    pub cert: Option<PathBuf>,
    /// PEM private key; relative to the config file.
    pub key: Option<PathBuf>,
}

/// `[server]`: who the server is and where it listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Server name shown as the source of server messages.
    pub name: String,
    /// Network name (ISUPPORT `NETWORK`).
    pub network: String,
    /// Free-form description (LINKS, ADMIN, INFO).
    pub description: String,
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Load balancers (addresses or CIDR ranges) that begin every connection
    /// to the IRC listeners, plain and TLS, with a PROXY protocol header (v1
    /// or v2) naming the client; the client's address then stands for theirs.
    /// A connection from one of them without a valid header is closed; from
    /// anyone else, a header is never looked for. Empty: off.
    pub proxy_protocol_from: Vec<crate::net::iprange::IpRange>,
    /// Message of the day file; relative to the config file. Missing file: `422`.
    pub motd_file: Option<PathBuf>,
    /// Where the account database lives.
    pub data_dir: PathBuf,
    /// Log filter when `RUST_LOG` is unset (e.g. `info`, `banter=debug`).
    pub log: String,
    /// `rfc1459` or `ascii`.
    pub casemapping: String,
    /// Administrative contact (ADMIN).
    pub admin_email: String,
    /// Allow the DIE command for operators.
    pub allow_die: bool,
    /// Allow the RESTART command for operators.
    pub allow_restart: bool,
    /// Worker threads of the async runtime; 0 means one per CPU core.
    pub worker_threads: usize,
    /// Threads of the blocking pool (password hashing and the account
    /// database); 0 means the hashing threads plus 8.
    pub blocking_threads: usize,
    /// Connection password every client must give with PASS before
    /// registering (`464` and a closed connection otherwise): plain text or an
    /// argon2id hash from `banterd hash-password`. None: no server password.
    pub password: Option<String>,
}

/// `[limits]`: sizes and timeouts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest nickname.
    pub nick_len: usize,
    /// Longest channel name, including the `#`.
    pub channel_len: usize,
    /// Longest topic.
    pub topic_len: usize,
    /// Longest kick reason.
    pub kick_len: usize,
    /// Longest away message.
    pub away_len: usize,
    /// Longest realname: SETNAME refuses a longer one, USER cuts it to this.
    pub realname_len: usize,
    /// Targets per PRIVMSG/NOTICE/JOIN etc.
    pub max_targets: usize,
    /// Channels one client may be in.
    pub max_channels_per_client: usize,
    /// Entries per ban/exception/invite list.
    pub max_list_entries: usize,
    /// Bytes queued for one client before it is disconnected (`SendQ exceeded`).
    pub sendq: usize,
    /// Milliseconds between two writes to a busy client's socket: after two
    /// writes in quick succession, output waits for the client's next write
    /// slot and goes out with everything queued by then. 0 writes at once.
    pub write_interval_ms: u64,
    /// Seconds a connection may take to register.
    pub registration_timeout: u64,
    /// Seconds of silence before the server sends PING.
    pub ping_interval: u64,
    /// Seconds to wait for any reply after that PING.
    pub ping_timeout: u64,
    /// Maximum simultaneous connections.
    pub max_clients: usize,
    /// Maximum simultaneous connections from one IP (on a node of a
    /// cluster, with the address's users on the other nodes).
    pub max_per_ip: usize,
    /// New connections per IP per minute.
    pub connects_per_minute: u32,
    /// Commands accepted before registration completes.
    pub max_prereg_commands: u32,
    /// WHOWAS entries kept.
    pub whowas_entries: usize,
    /// MONITOR entries per client.
    pub monitor_entries: usize,
    /// Users one WHO mask search may return (operators: no limit); beyond it,
    /// `416` and no list.
    pub max_who_results: usize,
    /// IPs exempt from the per-IP limits, connection rate and flood control.
    pub exempt: Vec<IpAddr>,
    /// IPv6 addresses count as one address per prefix of this many bits in
    /// every per-address limit, rate and throttle (IPv4: each address).
    pub ipv6_prefix: u8,
}

/// `[flood]`: a token bucket per client; excess commands are delayed (fake lag).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodConfig {
    /// Whether flood control is on.
    pub enabled: bool,
    /// Commands that may be sent in a burst without delay.
    pub burst: u32,
    /// Sustained commands per second.
    pub per_second: u32,
    /// Commands waiting behind the fake lag before the client is disconnected.
    pub max_backlog: u32,
    /// A WHO mask search reads every connected user: it counts as one more
    /// command for each this many users read (0: no extra cost).
    pub search_cost_users: usize,
}

/// `[accounts]`: registration and login.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// Whether REGISTER is offered.
    pub registration: bool,
    /// Whether REGISTER is allowed before connection registration completes.
    pub register_before_connect: bool,
    /// Whether an e-mail address is required by REGISTER.
    pub email_required: bool,
    /// Shortest acceptable password.
    pub min_password_len: usize,
    /// Refuse to complete connection registration without a login.
    pub require_login: bool,
    /// Only the owning account may use a nick equal to an account name.
    pub nick_protection: bool,
    /// Multiclient (as ergo's bouncer mode): a connection that logs in to an
    /// account whose nick is held by a client of the same account shares
    /// that client (nick, channels) instead of getting 433.
    pub multiclient: bool,
    /// Failed logins per account or IP before delays start.
    pub throttle_free_attempts: u32,
    /// First delay in seconds; it doubles per further failure.
    pub throttle_base_delay: u64,
    /// Longest delay in seconds.
    pub throttle_max_delay: u64,
    /// Argon2id memory cost in KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
    /// Whether SASL SCRAM-SHA-256 is offered and its keys stored; off, a
    /// stolen database holds only argon2id hashes.
    pub scram: bool,
    /// PBKDF2 iterations for the stored SCRAM-SHA-256 keys.
    pub scram_iterations: u32,
    /// Password hashes (REGISTER, logins, OPER) computed at once; 0 means
    /// one per CPU core.
    pub hash_threads: usize,
    /// Hashes waiting for a thread; more are refused (try again).
    pub hash_queue: usize,
    /// Accounts one address may REGISTER per `registration_window`.
    pub registrations_per_ip: u32,
    /// The sliding period of `registrations_per_ip`, in seconds.
    pub registration_window: u64,
    /// Days after the last login (or creation) when an account's name stops
    /// being reserved as a nick; 0 keeps it reserved for ever.
    pub nick_reservation_days: u32,
}

/// `[channels]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// Channels that always exist, even when empty.
    pub permanent: Vec<String>,
    /// Modes set on a newly created channel (e.g. `nt`).
    pub default_modes: String,
}

/// `[chanserv]`: channel registration (`/msg ChanServ REGISTER #channel`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChanServConfig {
    /// Whether ChanServ accepts commands (registered channels are kept either way).
    pub enabled: bool,
    /// Channels one account may found.
    pub max_channels_per_account: usize,
}

impl Default for ChanServConfig {
    fn default() -> Self {
        ChanServConfig { enabled: true, max_channels_per_account: 10 }
    }
}

/// `[metadata]`: draft/metadata-3 key/value pairs on users and channels (in memory).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// Whether METADATA may be used before connection registration completes.
    pub before_connect: bool,
    /// Keys one user or one channel may have.
    pub max_keys: usize,
    /// Keys one client may subscribe to.
    pub max_subs: usize,
    /// Longest key name, in bytes.
    pub max_key_bytes: usize,
    /// Longest value, in bytes.
    pub max_value_bytes: usize,
}

/// `[multiline]`: draft/multiline batch limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultilineConfig {
    /// Bytes of text in one batch (line separators count one each).
    pub max_bytes: usize,
    /// Lines in one batch.
    pub max_lines: usize,
}

/// `[history]`: chat history on disk (CHATHISTORY, REDACT) and read markers
/// (MARKREAD), in `history.db` in the data dir.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Whether messages are kept (and draft/chathistory, draft/message-redaction offered).
    pub enabled: bool,
    /// Whether channels nobody registered (and not `+P`) have their history kept.
    pub unregistered_channels: bool,
    /// Messages older than this many days are deleted; 0 keeps them forever.
    pub max_age_days: u64,
    /// Messages kept per channel or conversation; the oldest go first; 0: no limit.
    pub max_per_target: u64,
    /// Most messages or targets one CHATHISTORY request returns (ISUPPORT `CHATHISTORY`).
    pub query_limit: usize,
    /// Read markers kept per user; the oldest is dropped beyond it.
    pub read_markers: usize,
    /// Bytes of client-only tags (`+draft/reply` etc.) kept with a message; the
    /// tags beyond it are relayed but not kept.
    pub client_tag_bytes: usize,
    /// Most messages written in one transaction.
    pub batch_rows: usize,
    /// Longest a message waits for its transaction, in milliseconds (what a
    /// crash can lose).
    pub batch_ms: u64,
    /// Bytes of messages waiting to be written at most; beyond it, messages
    /// are relayed but not kept (counted and logged).
    pub queue_bytes: usize,
    /// Messages of conversations with unregistered users kept in memory, in
    /// all; past it, conversations of the users holding the most go first.
    pub unregistered_dm_messages: u64,
    /// Messages kept per conversation with an unregistered user.
    pub unregistered_dm_per_conversation: u64,
}

impl HistoryConfig {
    /// What the in-memory store of conversations with unregistered users keeps.
    pub fn unregistered_dm_limits(&self) -> crate::store::sqlite::ephemeral::Limits {
        crate::store::sqlite::ephemeral::Limits {
            total: self.unregistered_dm_messages,
            per_conversation: self.unregistered_dm_per_conversation,
        }
    }

    /// The history writer's settings.
    pub fn writer_settings(&self) -> crate::store::writer::Settings {
        crate::store::writer::Settings {
            batch_rows: self.batch_rows,
            batch_ms: self.batch_ms,
            queue_bytes: self.queue_bytes,
            retention: crate::store::history::Retention {
                max_age_days: self.max_age_days,
                max_per_target: self.max_per_target,
            },
        }
    }
}

/// `[log]`: how log lines are written to standard error. The level is
/// `server.log` (or `RUST_LOG`, which wins).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Text lines for people, or one JSON object per line for log collectors.
    pub format: LogFormat,
}

/// `[metrics]`: Prometheus metrics over HTTP at `/metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where to serve them; None (the default) serves none. An address that is
    /// also a `[[websocket]]` listener's serves them there, beside WebSocket.
    pub listen: Option<SocketAddr>,
}

/// `[store]`: where accounts, registered channels and history are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// A PostgreSQL URL (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`),
    /// one database shared by every node; None (the default): SQLite files in
    /// `server.data_dir`.
    pub url: Option<String>,
}

/// `[cluster]`: nodes sharing one network through a Redis stream (see
/// docs/cluster.md). Without `redis_url` (the default) the server is a single
/// node and none of the cluster code runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The Redis 7 server every node shares (`redis://HOST:PORT/DB`); None:
    /// a single node.
    pub redis_url: Option<String>,
    /// This node's name in logs, QUIT messages and Redis keys; None: the host
    /// name and the process id.
    pub node_name: Option<String>,
    /// How often the node renews its liveness key and runs the reaper, in ms.
    pub heartbeat_ms: u64,
    /// How long a node's liveness key lives without renewal, in ms: a node
    /// silent that long is declared down and its users quit.
    pub ttl_ms: u64,
    /// How long Redis may be away, in ms: meanwhile changes wait in memory
    /// (a nick or channel-creation claim fails past it); past it the node
    /// disconnects its clients and restarts, joining again once Redis is back.
    pub grace_ms: u64,
    /// How many events of the log a node applies between two snapshots of the
    /// network's state, at least (a network whose snapshot holds more events
    /// waits for as many); each snapshot lets the log be trimmed. 0: no
    /// snapshots, and the log is never trimmed.
    pub snapshot_every: u64,
    /// Whether this node may join with a store other than the network's (its
    /// own SQLite file): for benchmarks and trials on one machine only, since
    /// accounts, registered channels and history are then per node. false:
    /// a node whose store is not the network's is refused.
    pub separate_stores: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis_url: None,
            node_name: None,
            heartbeat_ms: 1000,
            ttl_ms: 5000,
            grace_ms: 5000,
            snapshot_every: 10_000,
            separate_stores: false,
        }
    }
}

impl ClusterConfig {
    /// How long a command waits for its sequenced change to be applied on
    /// its node (the grace period, then a TTL: Redis away, or a node that
    /// stopped answering, is given up on by then).
    pub fn sequenced_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.grace_ms + self.ttl_ms)
    }
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-11-28T02:04:00.123Z  INFO conn{id=7}: connected peer=...`
    #[default]
    Text,
    /// `{"timestamp":"...","level":"INFO","fields":{...},"target":"...","spans":[...]}`
    Json,
}

/// One `[[oper]]` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperConfig {
    /// Name given to OPER.
    pub name: String,
    /// Argon2id PHC hash of the password (`banterd hash-password` prints one).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Plain-text password; accepted for test setups, hashed at load.
    #[serde(default)]
    pub password: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: "banter.local".into(),
            network: "banter".into(),
            description: "banter IRC server".into(),
            listen: vec!["127.0.0.1:6667".parse().expect("static address")],
            proxy_protocol_from: Vec::new(),
            motd_file: None,
            data_dir: PathBuf::from("data"),
            log: "info".into(),
            casemapping: "rfc1459".into(),
            admin_email: "admin@banter.local".into(),
            allow_die: false,
            allow_restart: false,
            worker_threads: 0,
            blocking_threads: 0,
            password: None,
        }
    }
}

impl LimitsConfig {
    /// The limits every node of a cluster must share, by config name: what
    /// the network's names, texts and lists may hold (clients read them in
    /// ISUPPORT, and a node applies what another allowed).
    pub fn shared(&self) -> [(&'static str, usize); 7] {
        let mut copy = self.clone();
        SHARED_LIMITS.map(|(name, field)| (name, *field(&mut copy)))
    }

    /// Takes `other`'s [`shared`](Self::shared) limits (REHASH on a node of
    /// a cluster); returns whether any differed.
    pub fn keep_shared(&mut self, other: &LimitsConfig) -> bool {
        let theirs = other.shared();
        let differed = self.shared() != theirs;
        for ((_, field), (_, value)) in SHARED_LIMITS.iter().zip(theirs) {
            *field(self) = value;
        }
        differed
    }
}

/// One limit of a [`LimitsConfig`].
type Limit = fn(&mut LimitsConfig) -> &mut usize;

/// The limits of [`LimitsConfig::shared`], each by its config name and field.
const SHARED_LIMITS: [(&str, Limit); 7] = [
    ("limits.nick_len", |l| &mut l.nick_len),
    ("limits.channel_len", |l| &mut l.channel_len),
    ("limits.topic_len", |l| &mut l.topic_len),
    ("limits.kick_len", |l| &mut l.kick_len),
    ("limits.away_len", |l| &mut l.away_len),
    ("limits.realname_len", |l| &mut l.realname_len),
    ("limits.max_list_entries", |l| &mut l.max_list_entries),
];

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            nick_len: 30,
            channel_len: 64,
            topic_len: 390,
            kick_len: 390,
            away_len: 390,
            realname_len: 200,
            max_targets: 4,
            max_channels_per_client: 100,
            max_list_entries: 100,
            sendq: 1 << 20,
            write_interval_ms: 8,
            registration_timeout: 60,
            ping_interval: 120,
            ping_timeout: 60,
            max_clients: 10_000,
            max_per_ip: 16,
            connects_per_minute: 60,
            max_prereg_commands: 64,
            whowas_entries: 1000,
            monitor_entries: 100,
            max_who_results: 500,
            exempt: Vec::new(),
            ipv6_prefix: 64,
        }
    }
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig { enabled: true, burst: 20, per_second: 4, max_backlog: 100, search_cost_users: 1000 }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            registration: true,
            register_before_connect: true,
            email_required: false,
            min_password_len: 8,
            require_login: false,
            nick_protection: true,
            multiclient: true,
            throttle_free_attempts: 3,
            throttle_base_delay: 1,
            throttle_max_delay: 60,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            scram: true,
            scram_iterations: 15_000,
            hash_threads: 0,
            hash_queue: 64,
            registrations_per_ip: 3,
            registration_window: 3600,
            nick_reservation_days: 30,
        }
    }
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            unregistered_channels: true,
            max_age_days: 365,
            max_per_target: 100_000,
            query_limit: 100,
            read_markers: 1000,
            client_tag_bytes: 512,
            batch_rows: 4000,
            batch_ms: 20,
            queue_bytes: 16 << 20,
            unregistered_dm_messages: 50_000,
            unregistered_dm_per_conversation: 200,
        }
    }
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        ChannelsConfig { permanent: Vec::new(), default_modes: "nt".into() }
    }
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig { before_connect: true, max_keys: 20, max_subs: 50, max_key_bytes: 64, max_value_bytes: 300 }
    }
}

impl Default for MultilineConfig {
    fn default() -> Self {
        MultilineConfig { max_bytes: 4096, max_lines: 32 }
    }
}

/// Whether `origin` is `*` or a web origin as browsers send it: `http://` or
/// `https://`, a host, an optional port, no path.
fn valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some(host) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
        return false;
    };
    !host.is_empty() && !host.contains(['/', ' ', '?', '#'])
}

/// A configuration error, with the file and what is wrong.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The `section.key` a validation error names, if any.
    fn key(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("invalid value for `")?;
        rest.split('`').next()
    }
}

/// The 1-based line where `section.key` is set in `text`, if it is (and, for an
/// array of tables such as `[[oper]]`, only when there is one such table).
fn line_of(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = dotted.split_once('.')?;
    let mut current = "";
    let mut found = None;
    let mut tables = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim_matches(|c| c == '[' || c == ']').trim();
            tables += usize::from(current == section);
        } else if current == section && line.split('=').next().map(str::trim) == Some(key) {
            found = found.or(Some(i + 1));
        }
    }
    found.filter(|_| tables <= 1)
}

/// `err` with the line of the key it names in `text`, when that line is known.
fn with_line(text: &str, err: ConfigError) -> ConfigError {
    match err.key().and_then(|k| line_of(text, k)) {
        Some(line) => ConfigError(format!("line {line}: {}", err.0)),
        None => err,
    }
}

/// Levels a log directive may name.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Checks a log filter such as `info` or `info,banter::net=debug`. A bare word
/// must be a level: tracing would take `verbose` as the name of a module to
/// trace, so a typo would silently log nothing at all.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    let levels = LOG_LEVELS.join(", ");
    for directive in filter.split(',').map(str::trim) {
        let level = match directive.rsplit_once('=') {
            Some((target, level)) if !target.trim().is_empty() => level.trim(),
            Some(_) => return Err(format!("`{directive}` names no module before `=`")),
            None => directive,
        };
        if !LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
            return Err(format!("`{level}` is not a log level: use one of {levels}, or MODULE=LEVEL"));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter).map(drop).map_err(|e| e.to_string())
}

/// Checks that `path` (the value of `key`) is a PEM file holding what `want` finds.
fn check_pem(
    key: &str,
    path: &Path,
    what: &str,
    want: impl Fn(&mut &[u8]) -> Result<bool, std::io::Error>,
) -> Result<(), ConfigError> {
    let bad = |why: String| Err(ConfigError(format!("invalid value for `{key}`: {}: {why}", path.display())));
    match std::fs::read(path) {
        Err(e) => bad(e.to_string()),
        Ok(pem) => match want(&mut pem.as_slice()) {
            Ok(true) => Ok(()),
            Ok(false) => bad(format!("no {what} found in it (PEM expected)")),
            Err(e) => bad(e.to_string()),
        },
    }
}

impl Config {
    /// Reads and validates a config file: every relative path in it is resolved
    /// against the file's folder, and the files it names are checked, so that a
    /// bad value stops the server before anything is bound. Errors name the
    /// file, the key and (when known) the line.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let (cfg, problems) = Self::load_checked(path)?;
        problems.into_iter().next().map_or(Ok(cfg), Err)
    }

    /// Reads a config file as [`Config::load`] does, but lists every problem
    /// (bad values, unreadable files) instead of stopping at the first: what
    /// `banterd check-config` prints. Err only when the file cannot be read or
    /// is not valid TOML for these settings (unknown key, wrong type).
    pub fn load_checked(path: &Path) -> Result<(Config, Vec<ConfigError>), ConfigError> {
        let in_file = |e: ConfigError| ConfigError(format!("{}: {}", path.display(), e.0));
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| in_file(ConfigError(e.to_string())))?;
        let mut problems = cfg.problems();
        let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        cfg.resolve_paths(file.parent().unwrap_or(Path::new("/")));
        problems.extend(cfg.file_problems());
        let problems = problems.into_iter().map(|e| in_file(with_line(&text, e))).collect();
        Ok((cfg, problems))
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        cfg.validate().map_err(|e| with_line(text, e))?;
        Ok(cfg)
    }

    /// Every path setting. A key that names a file or folder belongs here, so
    /// that a config file's relative paths all mean "next to this file", whatever
    /// the working directory (systemd starts services in `/`).
    fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        let mut paths = vec![&mut self.server.data_dir];
        paths.extend([&mut self.server.motd_file, &mut self.tls.cert, &mut self.tls.key].into_iter().flatten());
        paths
    }

    /// Makes every relative path absolute against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in self.paths_mut() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Checks that the files the configuration names can be read: the MOTD, and
    /// the TLS certificate chain and key (which must hold a certificate and a key).
    pub fn check_files(&self) -> Result<(), ConfigError> {
        self.file_problems().into_iter().next().map_or(Ok(()), Err)
    }

    /// Every file the configuration names that cannot be used, each naming its key.
    pub fn file_problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        if let Some(path) = &self.server.motd_file {
            if let Err(e) = std::fs::read_to_string(path) {
                let why = format!("invalid value for `server.motd_file`: {}: {e}", path.display());
                problems.push(ConfigError(why));
            }
        }
        if let Some(cert) = &self.tls.cert {
            problems.extend(
                check_pem("tls.cert", cert, "certificate", |pem| {
                    rustls_pemfile::certs(pem).next().transpose().map(|c| c.is_some())
                })
                .err(),
            );
        }
        if let Some(key) = &self.tls.key {
            problems.extend(
                check_pem("tls.key", key, "private key", |pem| rustls_pemfile::private_key(pem).map(|k| k.is_some()))
                    .err(),
            );
        }
        problems
    }

    /// Checks values that serde cannot; the first problem, if any.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.problems().into_iter().next().map_or(Ok(()), Err)
    }

    /// Every value serde cannot check that is wrong, each naming its key
    /// (`banterd check-config` lists them all; start-up stops at the first).
    pub fn problems(&self) -> Vec<ConfigError> {
        // Each check records its problem with `bad(key, why)` and goes on (no
        // `return`): `banterd check-config` lists them all at once.
        let mut problems = Vec::new();
        let mut bad = |key: &str, why: &str| problems.push(ConfigError(format!("invalid value for `{key}`: {why}")));
        if self.server.name.is_empty() || self.server.name.contains(' ') || !self.server.name.contains('.') {
            bad("server.name", "must be a host-like name with a dot and no spaces");
        }
        if self.server.network.is_empty() || self.server.network.contains(' ') {
            bad("server.network", "must be non-empty without spaces");
        }
        if let Err(why) = check_log_filter(&self.server.log) {
            bad("server.log", &why);
        }
        if self.store.url.as_deref().is_some_and(|u| !crate::store::location::is_postgres_url(u)) {
            bad("store.url", "must be a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE), or absent for SQLite");
        }
        if self.cluster.redis_url.as_deref().is_some_and(|u| !(u.starts_with("redis://") || u.starts_with("unix://"))) {
            bad("cluster.redis_url", "must be a Redis URL (redis://HOST:PORT/DB), or absent for a single node");
        }
        if self.cluster.node_name.as_deref().is_some_and(|n| n.is_empty() || n.contains([' ', ':', ','])) {
            bad("cluster.node_name", "must be non-empty, without spaces, colons or commas");
        }
        if self.cluster.heartbeat_ms == 0 || self.cluster.ttl_ms < 2 * self.cluster.heartbeat_ms {
            bad("cluster", "heartbeat_ms must be at least 1 and ttl_ms at least twice heartbeat_ms");
        }
        if !matches!(self.server.casemapping.as_str(), "rfc1459" | "ascii") {
            bad("server.casemapping", "must be \"rfc1459\" or \"ascii\"");
        }
        if !(9..=64).contains(&self.limits.nick_len) {
            bad("limits.nick_len", "must be between 9 and 64");
        }
        if !(2..=200).contains(&self.limits.channel_len) {
            bad("limits.channel_len", "must be between 2 and 200");
        }
        if !(1..=400).contains(&self.limits.realname_len) {
            bad("limits.realname_len", "must be between 1 and 400");
        }
        if self.limits.sendq < 8192 {
            bad("limits.sendq", "must be at least 8192 bytes");
        }
        if !(16..=128).contains(&self.limits.ipv6_prefix) {
            bad("limits.ipv6_prefix", "must be between 16 and 128");
        }
        if self.limits.max_targets == 0 {
            bad("limits.max_targets", "must be at least 1");
        }
        if self.flood.enabled && (self.flood.per_second == 0 || self.flood.burst == 0) {
            bad("flood", "burst and per_second must be at least 1");
        }
        if self.accounts.argon2_memory_kib < 8 * self.accounts.argon2_parallelism.max(1) {
            bad("accounts.argon2_memory_kib", "too small for argon2");
        }
        if self.accounts.scram_iterations < 4096 {
            bad("accounts.scram_iterations", "must be at least 4096 (RFC 7677)");
        }
        for flag in self.channels.default_modes.chars() {
            if !"imnst".contains(flag) {
                bad("channels.default_modes", "only i, m, n, s and t may be defaults");
            }
        }
        if !self.tls.listen.is_empty() && (self.tls.cert.is_none() || self.tls.key.is_none()) {
            bad("tls", "tls.listen needs tls.cert and tls.key");
        }
        if self.metadata.max_key_bytes == 0 || self.metadata.max_value_bytes > 400 {
            bad("metadata", "max_key_bytes must be at least 1 and max_value_bytes at most 400");
        }
        if self.multiline.max_lines == 0 || self.multiline.max_bytes < 512 {
            bad("multiline", "max_lines must be at least 1 and max_bytes at least 512");
        }
        if self.history.query_limit == 0 {
            bad("history.query_limit", "must be at least 1");
        }
        if let Some(p) = &self.server.password {
            if p.is_empty() {
                bad("server.password", "must not be empty (remove the key for no password)");
            }
            if crate::accounts::password::is_phc_hash(p) && argon2::password_hash::PasswordHash::new(p).is_err() {
                bad("server.password", "starts like an argon2 hash but is not one");
            }
        }
        if self.history.batch_rows == 0 {
            bad("history.batch_rows", "must be at least 1");
        }
        if self.history.unregistered_dm_messages == 0 || self.history.unregistered_dm_per_conversation == 0 {
            bad("history.unregistered_dm_messages", "this and unregistered_dm_per_conversation must be at least 1");
        }
        if self.history.queue_bytes < 65536 {
            bad("history.queue_bytes", "must be at least 65536");
        }
        if self.history.batch_ms > 1000 {
            bad("history.batch_ms", "must be at most 1000 (it is what a crash can lose)");
        }
        for ws in &self.websockets {
            if ws.tls && (self.tls.cert.is_none() || self.tls.key.is_none()) {
                bad("websocket", "tls = true needs tls.cert and tls.key");
            }
            for origin in &ws.origins {
                if !valid_origin(origin) {
                    bad("websocket", &format!("origins: {origin:?} is not \"*\" or scheme://host[:port] (no path)"));
                }
            }
        }
        for o in &self.opers {
            if o.password.is_none() && o.password_hash.is_none() {
                bad("oper", "each [[oper]] needs password_hash (or password)");
            }
            if let Some(hash) = &o.password_hash {
                if !is_argon2_phc(hash) {
                    let why = format!(
                        "the [[oper]] named {:?} has a password_hash that is not an argon2 hash \
                         (\"$argon2id$v=19$...\"): run `banterd hash-password` to make one",
                        o.name
                    );
                    bad("oper.password_hash", &why);
                }
            }
        }
        for name in &self.channels.permanent {
            if !crate::proto::names::valid_channel(name, self.limits.channel_len) {
                let why = format!("{name:?} is not a channel name: it must start with # and have no spaces or commas");
                bad("channels.permanent", &why);
            }
        }
        problems
    }

    /// Where the settings come from, for the start-up log: the file, or the built-in defaults.
    pub fn describe_source(path: Option<&Path>) -> String {
        match path {
            Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string(),
            None => "built-in defaults (no config.toml in the working directory)".into(),
        }
    }

    /// Whether an address is exempt from per-IP limits and flood control.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        self.limits.exempt.contains(&ip)
    }

    /// Whether a connection from `ip` must begin with a PROXY protocol header.
    pub fn sends_proxy_header(&self, ip: IpAddr) -> bool {
        self.server.proxy_protocol_from.iter().any(|r| r.contains(ip))
    }
}

/// Whether `hash` is a PHC string of an argon2 variant, as password::verify reads.
fn is_argon2_phc(hash: &str) -> bool {
    argon2::password_hash::PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rehash_keeps_the_networks_shared_limits_and_takes_the_rest() {
        let network = LimitsConfig::default();
        let mut fresh = LimitsConfig { nick_len: 9, max_list_entries: 5, max_targets: 7, ..LimitsConfig::default() };
        assert!(fresh.keep_shared(&network), "two shared limits differed");
        assert_eq!(fresh.shared(), network.shared());
        assert_eq!((fresh.nick_len, fresh.max_list_entries, fresh.max_targets), (30, 100, 7));
        assert!(!fresh.keep_shared(&network), "nothing differs any more");
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
        Config::parse("").unwrap();
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = Config::parse("[server]\nname = \"a.b\"\nbogus = 1\n").unwrap_err();
        assert!(err.0.contains("bogus"), "{err}");
        assert!(err.0.contains("line 3"), "{err}");
    }

    #[test]
    fn bad_value_is_refused() {
        let err = Config::parse("[server]\n\ncasemapping = \"utf8\"\n").unwrap_err();
        assert!(err.0.contains("server.casemapping"), "{err}");
        assert!(err.0.starts_with("line 3:"), "{err}");
    }

    #[test]
    fn websocket_blocks() {
        let cfg = Config::parse(
            "[[websocket]]\nlisten = \"127.0.0.1:8080\"\norigins = [\"https://chat.example.org\"]\n\
             trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n[[websocket]]\nlisten = \"[::1]:8081\"\nweb_client = false\n",
        )
        .unwrap();
        assert_eq!(cfg.websockets.len(), 2);
        assert!(cfg.websockets[0].web_client && !cfg.websockets[1].web_client);
        assert!(cfg.websockets[0].trusted_proxies[0].contains("10.1.2.3".parse().unwrap()));
        let err =
            Config::parse("[[websocket]]\nlisten = \"127.0.0.1:8080\"\norigins = [\"example.org\"]\n").unwrap_err();
        assert!(err.0.contains("origins"), "{err}");
        let err = Config::parse("[[websocket]]\nlisten = \"127.0.0.1:8080\"\ntls = true\n").unwrap_err();
        assert!(err.0.contains("tls"), "{err}");
        let err =
            Config::parse("[[websocket]]\nlisten = \"127.0.0.1:8080\"\ntrusted_proxies = [\"10/8\"]\n").unwrap_err();
        assert!(err.0.contains("10/8"), "{err}");
    }

    #[test]
    fn proxy_protocol_sources() {
        let cfg = Config::parse("[server]\nproxy_protocol_from = [\"10.0.0.0/8\", \"::1\"]\n").unwrap();
        assert!(cfg.sends_proxy_header("10.1.2.3".parse().unwrap()));
        assert!(cfg.sends_proxy_header("::1".parse().unwrap()));
        assert!(!cfg.sends_proxy_header("127.0.0.1".parse().unwrap()));
        assert!(!Config::default().sends_proxy_header("127.0.0.1".parse().unwrap()));
        let err = Config::parse("[server]\nproxy_protocol_from = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert!(err.0.contains("proxy_protocol_from") && err.0.contains("10.0.0.0/33"), "{err}");
    }

    #[test]
    fn shipped_config_parses() {
        let text = include_str!("../config.toml");
        Config::parse(text).unwrap();
    }

    /// config.toml is the documentation of the defaults: loading it must give
    /// exactly `Config::default()`, every field of every section included (the
    /// comparison is of the whole struct's Debug form, so a key added to the
    /// code with another default, or left out of the file, fails here).
    #[test]
    fn shipped_config_is_exactly_the_defaults() {
        let text = include_str!("../config.toml");
        let shipped = format!("{:#?}", Config::parse(text).unwrap());
        let default = format!("{:#?}", Config::default());
        let diff: Vec<String> = default
            .lines()
            .zip(shipped.lines())
            .filter(|(d, s)| d != s)
            .map(|(d, s)| format!("default {} / config.toml {}", d.trim(), s.trim()))
            .collect();
        assert!(diff.is_empty() && shipped == default, "config.toml differs from Config::default(): {diff:#?}");
    }

    /// Every key of every section appears in config.toml, set to its default or
    /// as a commented-out example (`# key = ...`) in its section.
    #[test]
    fn shipped_config_documents_every_key() {
        let text = include_str!("../config.toml");
        let pretty = format!("{:#?}", Config::default());
        let mut section = "";
        let mut missing = Vec::new();
        for line in pretty.lines() {
            let depth = line.len() - line.trim_start().len();
            let Some((field, _)) = line.trim().split_once(": ") else { continue };
            match depth {
                4 => section = field,
                8 => {
                    let documented = keys_in(text).any(|(s, key)| s == section && key == field);
                    if !documented {
                        missing.push(format!("{section}.{field}"));
                    }
                }
                _ => {}
            }
        }
        assert!(missing.is_empty(), "keys not in config.toml: {missing:?}");
    }

    /// Each `(section, key)` set or shown commented out (`# key = ...`) in `text`.
    fn keys_in(text: &str) -> impl Iterator<Item = (&str, &str)> {
        let mut current = "";
        text.lines().filter_map(move |l| {
            let l = l.trim();
            if let Some(name) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = name.trim_matches(|c| c == '[' || c == ']');
                return None;
            }
            let (key, _) = l.trim_start_matches("# ").split_once(" = ")?;
            Some((current, key))
        })
    }

    #[test]
    fn log_filters_must_name_levels() {
        for good in ["info", "warn,banter::net=debug", "banter=trace", "OFF"] {
            check_log_filter(good).unwrap();
        }
        for bad in ["verbose", "inf", "info,banter=loud", "=info", ""] {
            assert!(check_log_filter(bad).is_err(), "{bad}");
        }
        let err = Config::parse("[server]\nlog = \"verbose\"\n").unwrap_err();
        assert!(err.0.starts_with("line 2: invalid value for `server.log`"), "{err}");
        assert!(err.0.contains("`verbose` is not a log level"), "{err}");
    }

    #[test]
    fn oper_hash_must_be_argon2() {
        let err = Config::parse("[[oper]]\nname = \"a\"\npassword_hash = \"plaintext\"\n").unwrap_err();
        assert!(err.0.starts_with("line 3: invalid value for `oper.password_hash`"), "{err}");
        assert!(err.0.contains("banterd hash-password"), "{err}");
        let hash = crate::accounts::password::hash(
            "pw",
            crate::accounts::password::Cost { memory_kib: 1024, iterations: 1, parallelism: 1 },
        )
        .unwrap();
        Config::parse(&format!("[[oper]]\nname = \"a\"\npassword_hash = {hash:?}\n")).unwrap();
    }

    #[test]
    fn permanent_channels_must_be_channel_names() {
        let err = Config::parse("[channels]\npermanent = [\"lobby\"]\n").unwrap_err();
        assert!(err.0.contains("`channels.permanent`") && err.0.contains("must start with #"), "{err}");
    }

    #[test]
    fn relative_paths_are_resolved_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.txt"), "hi\n").unwrap();
        let path = dir.path().join("b.toml");
        std::fs::write(&path, "[server]\ndata_dir = \"d\"\nmotd_file = \"m.txt\"\n").unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.server.data_dir, dir.path().join("d"));
        assert_eq!(cfg.server.motd_file, Some(dir.path().join("m.txt")));
    }

    #[test]
    fn missing_files_are_named_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.toml");
        std::fs::write(&path, "[tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"nope.pem\"\nkey = \"nope.key\"\n").unwrap();
        let err = Config::load(&path).unwrap_err().0;
        assert!(err.starts_with(&format!("{}: line 3: invalid value for `tls.cert`", path.display())), "{err}");
        assert!(err.contains("nope.pem: No such file"), "{err}");
        std::fs::write(&path, "[server]\nmotd_file = \"gone.txt\"\n").unwrap();
        let err = Config::load(&path).unwrap_err().0;
        assert!(err.contains("line 2: invalid value for `server.motd_file`"), "{err}");
    }
}
