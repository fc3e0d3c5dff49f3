//! Redis I/O: the publisher (one task appends this node's events in the order
//! they were made, pipelined, with nick claims in line as Lua scripts), the
//! reader (XREAD BLOCK from where it is), and the heartbeat and reaper.
//!
//! Keys: `banter:log` (the stream), `banter:nicks` (folded nick → `NODE UID`),
//! `banter:nodes` (the set of live nodes), `banter:alive:NODE` (the liveness
//! key, with a TTL), `banter:claims:NODE` (the nicks a node holds),
//! `banter:chans` (folded channel name → the node that created it, while it
//! exists) and `banter:chanclaims:NODE` (the channels a node created); the
//! snapshot and trimming keys are in [`super::compact`], the channels of
//! questions between nodes in [`super::ask`].

use super::compact::{self, POSITIONS};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::AsyncConnectionConfig;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The stream: the network's ordered event log.
pub const LOG: &str = "banter:log";
/// Nick claims: folded nick → `NODE UID`.
pub const NICKS: &str = "banter:nicks";
/// The nodes that are up.
pub const NODES: &str = "banter:nodes";
/// Prefix of a node's liveness key.
pub const ALIVE: &str = "banter:alive:";
/// Prefix of the set of nicks a node holds.
pub const CLAIMS: &str = "banter:claims:";
/// Channel claims: folded channel name → the node that created it.
pub const CHANS: &str = "banter:chans";
/// Prefix of the set of channels a node claimed.
pub const CHAN_CLAIMS: &str = "banter:chanclaims:";
/// Each node → its server name and description (`NAME\tDESCRIPTION`), for
/// LINKS and LUSERS.
pub const SERVERS: &str = "banter:servers";
/// The settings every node of the network must share: name → value, as
/// the first node to join had them.
pub const NETWORK: &str = "banter:network";

/// The log's identity: a random id, made by the first node to join a Redis
/// that has none (a new network, or one whose Redis lost its data).
pub const EPOCH: &str = "banter:epoch";

/// Most events appended in one entry.
const BATCH: usize = 256;
/// Most entries one read takes.
const READ_COUNT: usize = 512;

/// Takes a node down: frees its claims, forgets it, appends one NodeDown. A
/// node already gone is left alone (so NodeDown is appended once).
const DOWN_FN: &str = r#"
local function down(node)
  if redis.call('SREM', KEYS[1], node) == 0 then return 0 end
  local claims = ARGV[1] .. node
  local mine = node .. ' '
  for _, nick in ipairs(redis.call('SMEMBERS', claims)) do
    local owner = redis.call('HGET', KEYS[3], nick)
    if owner and string.sub(owner, 1, #mine) == mine then redis.call('HDEL', KEYS[3], nick) end
  end
  local chans = ARGV[4] .. node
  for _, chan in ipairs(redis.call('SMEMBERS', chans)) do
    if redis.call('HGET', KEYS[4], chan) == node then redis.call('HDEL', KEYS[4], chan) end
  end
  redis.call('DEL', claims, chans, ARGV[2] .. node)
  redis.call('HDEL', KEYS[5], node)
  redis.call('XADD', KEYS[2], '*', 'e', cjson.encode({D = {node = node}}))
  return 1
end
"#;

/// The reaper: every node whose liveness key expired goes down.
/// KEYS: nodes, log, nicks, chans, positions; ARGV: claims prefix, alive
/// prefix, '', channel claims prefix.
fn reap_script() -> redis::Script {
    redis::Script::new(&format!(
        "{DOWN_FN}
local n = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[2] .. node) == 0 then n = n + down(node) end
end
return n"
    ))
}

/// Runs the reaper (`script`, a [`reap_script`]): every node past its
/// deadline goes down, its NodeDown appended and its claims freed.
async fn reap(con: &mut ConnectionManager, script: &redis::Script) {
    let mut inv = script.key(NODES);
    inv.key(LOG).key(NICKS).key(CHANS).key(POSITIONS).arg(CLAIMS).arg(ALIVE).arg("").arg(CHAN_CLAIMS);
    match inv.invoke_async::<i64>(con).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(nodes = n, "cluster: reaped nodes that missed their deadline"),
        Err(e) => tracing::warn!(error = %e, "cluster: reaper failed"),
    }
}

/// A node joining takes down the nodes past their deadline first (an
/// earlier life of its own, say), so that their users' nicks are free and
/// their NodeDown is in the log it replays before it opens its listeners.
pub async fn reap_lapsed(con: &mut ConnectionManager) {
    reap(con, &reap_script()).await;
}

/// A node leaving on purpose. KEYS and ARGV as the reaper, ARGV[3] the node.
fn down_script() -> redis::Script {
    redis::Script::new(&format!("{DOWN_FN}\nreturn down(ARGV[3])"))
}

/// Appends events, only while this node is a member of the network: a node
/// taken down (reaped while paused, say) cannot append anything after its
/// NodeDown, so no node ever sees a departed node's late events. All the
/// events of one call go into one entry (see [`Entry`]): one XADD, and one
/// entry for every reader to take, however many events the publisher had
/// queued. KEYS: nodes, log; ARGV: node, the events one per line. Returns 1
/// when appended, or -1 when this node is not (or no longer) a member.
fn append_script() -> redis::Script {
    redis::Script::new(
        r#"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[2], 'n', ARGV[1])
return 1
"#,
    )
}

/// A nick claim and its event as one step. KEYS: nodes, log, nicks, this
/// node's claims; ARGV: node, owner (`NODE UID`), new folded nick (or ''),
/// old folded nick to give back (or ''), event JSON (or ''). Returns 1 when
/// done, 0 when the nick is someone else's, -1 when this node is not (or no
/// longer) a member of the network.
fn claim_script() -> redis::Script {
    redis::Script::new(
        r#"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return -1 end
if ARGV[3] ~= '' then
  local cur = redis.call('HGET', KEYS[3], ARGV[3])
  if cur and cur ~= ARGV[2] then return 0 end
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[2])
  redis.call('SADD', KEYS[4], ARGV[3])
end
if ARGV[4] ~= '' and ARGV[4] ~= ARGV[3] and redis.call('HGET', KEYS[3], ARGV[4]) == ARGV[2] then
  redis.call('HDEL', KEYS[3], ARGV[4])
  redis.call('SREM', KEYS[4], ARGV[4])
end
if ARGV[5] ~= '' then redis.call('XADD', KEYS[2], '*', 'e', ARGV[5]) end
return 1
"#,
    )
}

/// Claims a channel name for a node (RENAME's uniqueness): KEYS: nodes, chans,
/// this node's channel claims; ARGV: node, folded name. 1: won, 0: another
/// node created it, -1: this node is not a member of the network.
fn chan_claim_script() -> redis::Script {
    redis::Script::new(
        r#"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[1]) == 0 then return 0 end
redis.call('SADD', KEYS[3], ARGV[2])
return 1
"#,
    )
}

/// A channel rename as one step: the new name's claim (refused if another
/// node holds it), the old name's claim given up by whoever held it, and
/// the Rename event appended. KEYS: nodes, chans, log; ARGV: node, old
/// folded name, new folded name, event JSON, channel claims prefix. 1: done,
/// 0: another node holds the new name, -1: this node is not a member.
fn rename_script() -> redis::Script {
    redis::Script::new(
        r#"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return -1 end
if ARGV[2] ~= ARGV[3] then
  local holder = redis.call('HGET', KEYS[2], ARGV[3])
  if holder and holder ~= ARGV[1] then return 0 end
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
  redis.call('SADD', ARGV[5] .. ARGV[1], ARGV[3])
  local old = redis.call('HGET', KEYS[2], ARGV[2])
  if old then
    redis.call('HDEL', KEYS[2], ARGV[2])
    redis.call('SREM', ARGV[5] .. old, ARGV[2])
  end
end
redis.call('XADD', KEYS[3], '*', 'e', ARGV[4])
return 1
"#,
    )
}

/// Gives a channel claim back (the channel is gone): KEYS: chans, this
/// node's channel claims; ARGV: node, folded name.
fn chan_release_script() -> redis::Script {
    redis::Script::new(
        r#"
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[2]) end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"#,
    )
}

/// A nick claim (or release) to run in line with the events.
#[derive(Debug)]
pub struct Claim {
    /// The folded nick to take, or empty.
    pub take: String,
    /// The folded nick to give back, or empty.
    pub give_back: String,
    /// The owner: the user's id on this node.
    pub uid: u64,
    /// The event appended with it, if any.
    pub event: String,
}

/// How far this node's own events are on their way to the log, counted
/// to tell when every one it made is in the log at or before the entry its
/// reader just applied (a snapshot taken then has no change of this node
/// that the log has later; see `super::compact`).
#[derive(Debug, Default)]
pub struct Progress {
    /// Events handed to the publisher.
    sent: AtomicU64,
    /// Of those, the ones the publisher is done with (appended, or a claim
    /// that failed).
    settled: AtomicU64,
    /// Of those, the ones appended to the log.
    appended: AtomicU64,
    /// This node's events its reader has read back from the log.
    read: AtomicU64,
}

impl Progress {
    /// An event is handed to the publisher.
    pub fn sent(&self) {
        self.sent.fetch_add(1, Ordering::SeqCst);
    }

    /// The reader read one of this node's events back.
    pub fn read(&self) {
        self.read.fetch_add(1, Ordering::SeqCst);
    }

    /// The publisher is done with `n` events, `appended` of them in the log.
    fn settled(&self, n: u64, appended: u64) {
        self.appended.fetch_add(appended, Ordering::SeqCst);
        self.settled.fetch_add(n, Ordering::SeqCst);
    }

    /// Events appended to the log so far.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::SeqCst)
    }

    /// Events handed to the publisher that it is not done with.
    pub fn unsettled(&self) -> u64 {
        self.sent.load(Ordering::SeqCst).saturating_sub(self.settled.load(Ordering::SeqCst))
    }

    /// Whether every event handed to the publisher is settled, and every
    /// one appended has been read back.
    pub fn caught_up(&self) -> bool {
        let (sent, settled) = (self.sent.load(Ordering::SeqCst), self.settled.load(Ordering::SeqCst));
        sent == settled && self.read.load(Ordering::SeqCst) >= self.appended.load(Ordering::SeqCst)
    }
}

/// What the publisher does, in order.
#[derive(Debug)]
pub enum Job {
    /// Append an event.
    Publish(String),
    /// Run a claim; the answer is 1 (done), 0 (taken) or -1 (not a member).
    Claim(Claim, Option<oneshot::Sender<Result<i64, String>>>),
    /// Claim the creation of a channel (folded name); the answer as for a claim.
    ChanClaim(String, oneshot::Sender<Result<i64, String>>),
    /// Give back the claim of a channel that is gone (folded name).
    ChanRelease(String),
    /// Rename a channel: (old folded name, new folded name, the Rename
    /// event); the answer as for a claim.
    Rename(String, String, String, oneshot::Sender<Result<i64, String>>),
    /// Take this node down (SIGTERM), then answer.
    Down(oneshot::Sender<()>),
}

/// The client for `url` (only parsed: nothing is reached yet).
pub fn open(url: &str) -> Result<redis::Client, String> {
    redis::Client::open(url).map_err(|e| format!("cluster.redis_url: {e}"))
}

/// A connection for commands that reconnects by itself; fails if Redis does
/// not answer now.
pub async fn manager(client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(5)));
    client.get_connection_manager_with_config(config).await
}

/// A connection for blocking reads (no response timeout: XREAD BLOCK waits).
pub async fn reader_connection(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new().set_response_timeout(None);
    client.get_multiplexed_async_connection_with_config(&config).await
}

/// How Redis frees memory when full, as `INFO memory` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eviction {
    /// `maxmemory` in bytes; 0: no limit.
    pub limit: u64,
    /// `maxmemory-policy`.
    pub policy: String,
}

impl Eviction {
    /// Whether Redis may evict keys when full: a limit, with a policy other
    /// than `noeviction`.
    pub fn may_evict(&self) -> bool {
        self.limit > 0 && self.policy != "noeviction"
    }
}

/// How Redis frees memory when full. INFO is read rather than CONFIG GET,
/// which hosted Redis services often disable.
pub async fn eviction(con: &mut ConnectionManager) -> redis::RedisResult<Eviction> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(con).await?;
    Ok(parse_eviction(&info))
}

/// The eviction settings in the text of `INFO memory`; a field missing
/// reads as no limit and `noeviction`.
fn parse_eviction(info: &str) -> Eviction {
    let field = |name: &str| {
        info.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':'))).map(str::trim)
    };
    let limit = field("maxmemory").and_then(|v| v.parse().ok()).unwrap_or(0);
    let policy = field("maxmemory_policy").unwrap_or("noeviction").to_owned();
    Eviction { limit, policy }
}

/// Whether this node begins the log: the first to join a Redis with no
/// [`EPOCH`] makes one (`SET NX`: of nodes joining at once, exactly one).
pub async fn begins_log(con: &mut ConnectionManager) -> redis::RedisResult<bool> {
    let id = format!("{:016x}", rand::random::<u64>());
    let made: Option<String> = redis::cmd("SET").arg(EPOCH).arg(id).arg("NX").query_async(con).await?;
    Ok(made.is_some())
}

/// Records `settings` (name, value) as the network's where it has none
/// yet, in one step, and returns those the network has with another value:
/// (name, the network's value).
pub async fn agree(
    con: &mut ConnectionManager,
    settings: &[(&str, String)],
) -> redis::RedisResult<Vec<(String, String)>> {
    let script = redis::Script::new(
        r#"
local differ = {}
for i = 1, #ARGV, 2 do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  local theirs = redis.call('HGET', KEYS[1], ARGV[i])
  if theirs ~= ARGV[i + 1] then
    table.insert(differ, ARGV[i])
    table.insert(differ, theirs)
  end
end
return differ
"#,
    );
    let mut inv = script.key(NETWORK);
    for (name, value) in settings {
        inv.arg(*name).arg(value);
    }
    let flat: Vec<String> = inv.invoke_async(con).await?;
    Ok(flat.chunks(2).map(|pair| (pair[0].clone(), pair.get(1).cloned().unwrap_or_default())).collect())
}

/// Registers `node` as up (its liveness key and its membership) with its
/// `server` name and description (see [`SERVERS`]), in one step (a
/// heartbeat's [`servers_script`] between them would drop the entry of a
/// node not yet a member). With `sole` (the network's store is one node's
/// SQLite file) a live node of another name refuses it instead: that node
/// is returned, and nothing is registered.
pub async fn register(
    con: &mut ConnectionManager,
    node: &str,
    ttl_ms: u64,
    server: &(String, String),
    sole: bool,
) -> redis::RedisResult<Option<String>> {
    let script = redis::Script::new(
        r#"
if ARGV[4] == '1' then
  local mine = string.match(ARGV[1], '^(.*):[^:]*$')
  for _, other in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    if string.match(other, '^(.*):[^:]*$') ~= mine and redis.call('EXISTS', ARGV[5] .. other) == 1 then
      return other
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SET', ARGV[5] .. ARGV[1], 1, 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return false
"#,
    );
    script
        .key(SERVERS)
        .key(NODES)
        .arg(node)
        .arg(ttl_ms)
        .arg(format!("{}\t{}", server.0, server.1))
        .arg(if sole { "1" } else { "0" })
        .arg(ALIVE)
        .invoke_async(con)
        .await
}

/// One entry of the log: the events of one append, one JSON object per
/// line, and the node that appended them (empty for the entries the Lua
/// scripts write: a claim's or rename's single event, a NodeDown).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stream id.
    pub id: String,
    /// The appending node, or empty.
    pub node: String,
    /// The events, one per line.
    pub events: String,
}

impl Entry {
    /// The events, one JSON object each.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.events.split('\n').filter(|e| !e.is_empty())
    }

    /// Builds an entry from a stream reply's id and fields (`e` the events,
    /// `n` the node; unknown fields are ignored).
    fn from_fields(id: String, fields: Vec<String>) -> Entry {
        let mut entry = Entry { id, ..Entry::default() };
        let mut fields = fields.into_iter();
        while let (Some(key), Some(value)) = (fields.next(), fields.next()) {
            match key.as_str() {
                "e" => entry.events = value,
                "n" => entry.node = value,
                _ => {}
            }
        }
        entry
    }
}

/// What one read of the log brought.
#[derive(Debug, Default)]
pub struct Batch {
    /// The entries, in log order.
    pub entries: Vec<Entry>,
    /// Set when entries after the place read from were trimmed (see
    /// [`compact`]): the reader cannot follow the log from there.
    pub gap: bool,
}

/// Entries after `after` (at most [`READ_COUNT`]), waiting up to `block_ms`
/// for one when `block_ms` is set, and, read right after them, whether the
/// log was trimmed past `after`.
pub async fn read(con: &mut MultiplexedConnection, after: &str, block_ms: Option<u64>) -> redis::RedisResult<Batch> {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT").arg(READ_COUNT);
    if let Some(ms) = block_ms {
        cmd.arg("BLOCK").arg(ms);
    }
    cmd.arg("STREAMS").arg(LOG).arg(after);
    type Reply = Option<Vec<(String, Vec<(String, Vec<String>)>)>>;
    let (reply, trimmed): (Reply, Option<String>) =
        redis::pipe().add_command(cmd).cmd("GET").arg(compact::TRIMMED).query_async(con).await?;
    let mut out = Vec::new();
    for (_, entries) in reply.unwrap_or_default() {
        out.extend(entries.into_iter().map(|(id, fields)| Entry::from_fields(id, fields)));
    }
    let gap = trimmed.is_some_and(|t| compact::older(after, &t));
    Ok(Batch { entries: out, gap })
}

/// The publisher: appends events in the order they were queued, pipelining
/// what is queued together; a claim runs in its place in that order. While
/// Redis is away it retries (the queue waits in memory); a claim not done
/// within `grace` fails.
pub async fn publish(
    mut con: ConnectionManager,
    node: String,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    grace: Duration,
    progress: Arc<Progress>,
) {
    let claim = claim_script();
    let down = down_script();
    let (chan_claim, chan_release, rename) = (chan_claim_script(), chan_release_script(), rename_script());
    let appender = Appender { script: append_script(), node: node.clone() };
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut events: Vec<String> = Vec::new();
        for job in batch.drain(..) {
            match job {
                Job::Publish(json) => events.push(json),
                Job::Claim(c, reply) => {
                    appender.append(&mut con, &mut events, &progress).await;
                    let result = run_claim(&mut con, &claim, &node, &c, grace).await;
                    if !c.event.is_empty() {
                        progress.settled(1, u64::from(matches!(result, Ok(1))));
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                }
                Job::ChanClaim(chan, reply) => {
                    appender.append(&mut con, &mut events, &progress).await;
                    let mut inv = chan_claim.key(NODES);
                    inv.key(CHANS).key(format!("{CHAN_CLAIMS}{node}")).arg(&node).arg(&chan);
                    let _ = reply.send(invoke_within(&inv, &mut con, grace).await);
                }
                Job::Rename(old, new, event, reply) => {
                    appender.append(&mut con, &mut events, &progress).await;
                    let mut inv = rename.key(NODES);
                    inv.key(CHANS).key(LOG).arg(&node).arg(&old).arg(&new).arg(&event).arg(CHAN_CLAIMS);
                    let result = invoke_within(&inv, &mut con, grace).await;
                    progress.settled(1, u64::from(matches!(result, Ok(1))));
                    let _ = reply.send(result);
                }
                Job::ChanRelease(chan) => {
                    appender.append(&mut con, &mut events, &progress).await;
                    let mut inv = chan_release.key(CHANS);
                    inv.key(format!("{CHAN_CLAIMS}{node}")).arg(&node).arg(&chan);
                    if let Err(e) = inv.invoke_async::<i64>(&mut con).await {
                        tracing::warn!(error = %e, %chan, "cluster: a channel claim was not given back");
                    }
                }
                Job::Down(reply) => {
                    appender.append(&mut con, &mut events, &progress).await;
                    let mut inv = down.key(NODES);
                    inv.key(LOG).key(NICKS).key(CHANS).key(POSITIONS);
                    inv.arg(CLAIMS).arg(ALIVE).arg(&node).arg(CHAN_CLAIMS);
                    let done = tokio::time::timeout(grace, inv.invoke_async::<i64>(&mut con)).await;
                    if !matches!(done, Ok(Ok(_))) {
                        tracing::warn!(?done, "cluster: could not announce this node's departure");
                    }
                    let _ = reply.send(());
                    // Nothing more from this node.
                    jobs.close();
                }
            }
        }
        appender.append(&mut con, &mut events, &progress).await;
    }
}

/// Runs a script, failing if Redis does not answer within `grace`.
async fn invoke_within(
    inv: &redis::ScriptInvocation<'_>,
    con: &mut ConnectionManager,
    grace: Duration,
) -> Result<i64, String> {
    match tokio::time::timeout(grace, inv.invoke_async::<i64>(con)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("Redis did not answer in time".into()),
    }
}

/// Appends this node's plain events (see [`append_script`]).
struct Appender {
    script: redis::Script,
    node: String,
}

impl Appender {
    /// Appends `events` in one script call, retrying until Redis takes them;
    /// dropped (and logged) if this node is no longer a member: its heartbeat
    /// then finds that out and restarts it.
    async fn append(&self, con: &mut ConnectionManager, events: &mut Vec<String>, progress: &Progress) {
        if events.is_empty() {
            return;
        }
        let mut inv = self.script.key(NODES);
        inv.key(LOG).arg(&self.node).arg(events.join("\n"));
        let mut delay = Duration::from_millis(50);
        let appended = loop {
            match inv.invoke_async::<i64>(con).await {
                Ok(n) if n >= 0 => break events.len() as u64,
                Ok(_) => {
                    tracing::error!(events = events.len(), "cluster: not a member of the network: events dropped");
                    break 0;
                }
                Err(e) => {
                    tracing::warn!(error = %e, events = events.len(), "cluster: appending to the log failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        };
        progress.settled(events.len() as u64, appended);
        events.clear();
    }
}

async fn run_claim(
    con: &mut ConnectionManager,
    script: &redis::Script,
    node: &str,
    c: &Claim,
    grace: Duration,
) -> Result<i64, String> {
    let owner = format!("{node} {}", c.uid);
    let mut inv = script.key(NODES);
    inv.key(LOG)
        .key(NICKS)
        .key(format!("{CLAIMS}{node}"))
        .arg(node)
        .arg(&owner)
        .arg(&c.take)
        .arg(&c.give_back)
        .arg(&c.event);
    let deadline = tokio::time::Instant::now() + grace;
    let mut delay = Duration::from_millis(50);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, inv.invoke_async::<i64>(con)).await {
            Ok(Ok(n)) => return Ok(n),
            Ok(Err(e)) if tokio::time::Instant::now() + delay < deadline => {
                tracing::warn!(error = %e, "cluster: nick claim failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("Redis did not answer in time".into()),
        }
    }
}

/// Why the heartbeat gave up on this node's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// This node is not in `banter:nodes` (any more): it was reaped while
    /// alive, or Redis lost its data.
    Reaped,
    /// Redis did not answer for longer than the grace period.
    Unreachable,
}

/// How a node heartbeats.
#[derive(Debug)]
pub struct Heartbeat {
    /// How often.
    pub every: Duration,
    /// The liveness key's TTL, in ms.
    pub ttl_ms: u64,
    /// How long Redis may go without answering before the node gives up.
    pub grace: Duration,
    /// The last log entry the node applied: recorded as its position.
    pub applied: tokio::sync::watch::Receiver<String>,
    /// Set to every node's server name and description at each beat.
    pub servers: Arc<std::sync::RwLock<Vec<Link>>>,
    /// Set every [`EVICTION_EVERY`] beats to whether Redis may evict keys.
    pub may_evict: Arc<std::sync::atomic::AtomicBool>,
}

/// Every how many heartbeats the eviction policy is read again: a node
/// joins only through a Redis that never evicts, but an operator may change
/// it later (CONFIG SET), and a node then says so loudly.
pub const EVICTION_EVERY: u64 = 10;

/// A node of the network as LINKS shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The node (`NAME:RANDOM`).
    pub node: String,
    /// Its `server.name`.
    pub name: String,
    /// Its `server.description`.
    pub description: String,
}

/// Lua: the server of every member node (flat: node, `NAME\tDESCRIPTION`),
/// forgetting those of nodes that are gone. KEYS: servers, nodes.
fn servers_script() -> redis::Script {
    redis::Script::new(
        r#"
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if redis.call('SISMEMBER', KEYS[2], all[i]) == 1 then
    table.insert(out, all[i])
    table.insert(out, all[i + 1])
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
"#,
    )
}

/// The servers of the network (see [`servers_script`]), sorted by name.
async fn servers(con: &mut ConnectionManager, script: &redis::Script) -> redis::RedisResult<Vec<Link>> {
    let flat: Vec<String> = script.key(SERVERS).key(NODES).invoke_async(con).await?;
    let mut all: Vec<Link> = flat
        .chunks(2)
        .map(|pair| {
            let line = pair.get(1).map(String::as_str).unwrap_or_default();
            let (name, description) = line.split_once('\t').unwrap_or((line, ""));
            Link { node: pair[0].clone(), name: name.to_owned(), description: description.to_owned() }
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.node.cmp(&b.node)));
    Ok(all)
}

/// Renews this node's liveness key, records its position in the log (see
/// [`compact`]) and runs the reaper every `beat.every`, until `stop` turns
/// true (None is returned) or this node's membership is lost: it is no
/// longer a member of the network, or Redis has not answered a renewal for
/// longer than `beat.grace` (whether the others reaped it meanwhile cannot be
/// known until Redis answers, and carrying on alone could hand out nicks
/// they hold).
pub async fn heartbeat(
    mut con: ConnectionManager,
    node: String,
    beat: Heartbeat,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<Lost> {
    let Heartbeat { every, ttl_ms, grace, applied, servers: known, may_evict } = beat;
    let list = servers_script();
    let reap = reap_script();
    let position = compact::position_script();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut answered = tokio::time::Instant::now();
    let mut beats = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return None,
        }
        if *stop.borrow() {
            return None;
        }
        let mut renewal = redis::pipe();
        renewal.cmd("SET").arg(format!("{ALIVE}{node}")).arg(1).arg("PX").arg(ttl_ms);
        renewal.cmd("SISMEMBER").arg(NODES).arg(&node);
        let renewed = match tokio::time::timeout(grace, renewal.query_async::<((), bool)>(&mut con)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("no answer".to_owned()),
        };
        match renewed {
            Ok((_, true)) => answered = tokio::time::Instant::now(),
            // Not a member: unless this node is leaving (its own departure
            // may have run between the renewal and now).
            Ok((_, false)) => return (!*stop.borrow()).then_some(Lost::Reaped),
            Err(e) if answered.elapsed() >= grace => {
                tracing::error!(error = %e, ?grace, "cluster: Redis has not answered for longer than the grace period");
                return (!*stop.borrow()).then_some(Lost::Unreachable);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster: heartbeat failed");
                continue;
            }
        }
        // The rest of the beat is bounded by `grace` as a whole: a Redis
        // gone in the middle of it delays the next renewal, which notices,
        // by one grace period at most (the calls' own timeouts, added up,
        // took longer than a test's patience once).
        beats += 1;
        let evictions = beats.is_multiple_of(EVICTION_EVERY).then_some(may_evict.as_ref());
        let chores = Chores { list: &list, reap: &reap, position: &position, node: &node };
        if tokio::time::timeout(grace, chores.run(&mut con, &known, &applied, evictions)).await.is_err() {
            tracing::warn!(?grace, "cluster: Redis did not answer the rest of the heartbeat within the grace period");
        }
    }
}

/// What a heartbeat does after renewing the node's liveness, with the
/// scripts it runs.
struct Chores<'a> {
    list: &'a redis::Script,
    reap: &'a redis::Script,
    position: &'a redis::Script,
    node: &'a str,
}

impl Chores<'_> {
    /// Reads the network's servers into `known`, records this node's
    /// position (`applied`), reaps the nodes past their deadline and, when
    /// `evictions` is given, reads the eviction policy again into it.
    async fn run(
        &self,
        con: &mut ConnectionManager,
        known: &std::sync::RwLock<Vec<Link>>,
        applied: &tokio::sync::watch::Receiver<String>,
        evictions: Option<&std::sync::atomic::AtomicBool>,
    ) {
        match servers(con, self.list).await {
            Ok(all) => *known.write().unwrap_or_else(|e| e.into_inner()) = all,
            Err(e) => tracing::warn!(error = %e, "cluster: reading the network's servers failed"),
        }
        let at = applied.borrow().clone();
        if let Err(e) = compact::record_position(con, self.position, self.node, &at).await {
            tracing::warn!(error = %e, "cluster: recording this node's position failed");
        }
        reap(con, self.reap).await;
        if let Some(may_evict) = evictions {
            check_eviction(con, may_evict).await;
        }
    }
}

/// Reads the eviction policy again and records it in `may_evict`; logs an
/// error when Redis starts to allow eviction (and each time it is found so
/// on a later beat: every [`EVICTION_EVERY`] beats), and when it stops.
async fn check_eviction(con: &mut ConnectionManager, may_evict: &std::sync::atomic::AtomicBool) {
    let Ok(eviction) = eviction(con).await else { return };
    let now = eviction.may_evict();
    let before = may_evict.swap(now, Ordering::Relaxed);
    if now {
        tracing::error!(
            maxmemory = eviction.limit,
            policy = %eviction.policy,
            "cluster: the network's Redis may now evict keys when full: a claim, a liveness key or the log \
             evicted would split the network; set maxmemory-policy noeviction"
        );
    } else if before {
        tracing::info!("cluster: the network's Redis no longer evicts keys");
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_eviction, Entry, Eviction};

    #[test]
    fn the_eviction_policy_is_read_from_info_memory() {
        let info = "# Memory\r\nused_memory:1000\r\nmaxmemory:104857600\r\nmaxmemory_human:100.00M\r\n\
                    maxmemory_policy:allkeys-lru\r\n";
        assert_eq!(parse_eviction(info), Eviction { limit: 104_857_600, policy: "allkeys-lru".to_owned() });
        let none = Eviction { limit: 0, policy: "noeviction".to_owned() };
        assert_eq!(parse_eviction("# Memory\r\nused_memory:1\r\n"), none);
    }

    fn fields(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_appended_entry_holds_its_node_and_one_event_per_line() {
        let entry = Entry::from_fields("5-0".into(), fields(&["e", "{\"M\":1}\n{\"J\":2}", "n", "a:1"]));
        assert_eq!((entry.id.as_str(), entry.node.as_str()), ("5-0", "a:1"));
        assert_eq!(entry.events().collect::<Vec<_>>(), ["{\"M\":1}", "{\"J\":2}"]);
    }

    #[test]
    fn a_script_entry_has_no_node_and_unknown_fields_are_ignored() {
        let entry = Entry::from_fields("6-0".into(), fields(&["x", "y", "e", "{\"D\":{}}", "odd"]));
        assert_eq!(entry.node, "");
        assert_eq!(entry.events().collect::<Vec<_>>(), ["{\"D\":{}}"]);
        assert_eq!(Entry::from_fields("7-0".into(), Vec::new()).events().count(), 0);
    }
}
