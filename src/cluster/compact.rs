//! Keeping the log short: snapshots in Redis and trimming (docs/cluster.md).
//!
//! Every `[cluster] snapshot_every` events (or, on a network whose snapshot
//! holds more events, as many as it holds: [`threshold`]) one node (the one that takes
//! `banter:snapshot:lock`) writes its state, as of the entry it just applied,
//! to `banter:snapshot`, and in the same script trims `banter:log` up to the
//! oldest of that entry and every live node's position (`banter:pos`, renewed
//! with each heartbeat): a node that lags is never trimmed past. The newest
//! entry a trim removed is kept in `banter:trimmed`, which the reader reads
//! with each batch, so a node can tell that entries it has not applied are
//! gone (then it restarts, as when it lost its place). A joining node loads
//! the snapshot and takes its id as its position in one step, so no trim
//! passes it while it replays the rest.

use super::backplane::{LOG, NODES};
use super::{snapshot, Cluster};
use crate::state::Server;
use redis::aio::ConnectionManager;

/// The newest snapshot: a hash of `id` (the log entry it is as of), `data`
/// (its events, one JSON a line) and `events` (how many).
pub const SNAPSHOT: &str = "banter:snapshot";
/// Held by the node writing a snapshot (its name, with a TTL).
pub const SNAPSHOT_LOCK: &str = "banter:snapshot:lock";
/// Each live node → the id of the last log entry it applied.
pub const POSITIONS: &str = "banter:pos";
/// The id of the newest entry trimmed from the log.
pub const TRIMMED: &str = "banter:trimmed";

/// How long a snapshot lock lasts if its node does not give it back.
const LOCK_MS: u64 = 60_000;

/// Lua: whether stream id `a` comes before `b`.
const OLDER_FN: &str = r#"
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local function older(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  return am < bm or (am == bm and as < bs)
end
"#;

/// Loads the snapshot and makes its id (or `0-0`) this node's position, in
/// one step. KEYS: snapshot, positions, trimmed; ARGV: node. Returns
/// [id or '', data or '', trimmed or ''].
fn load_script() -> redis::Script {
    redis::Script::new(
        r#"
local snap = redis.call('HMGET', KEYS[1], 'id', 'data')
redis.call('HSET', KEYS[2], ARGV[1], snap[1] or '0-0')
return {snap[1] or '', snap[2] or '', redis.call('GET', KEYS[3]) or ''}
"#,
    )
}

/// Takes the snapshot lock, unless another node holds it or a snapshot
/// newer than the one this node knows (ARGV[3]) was written. KEYS: lock,
/// snapshot; ARGV: node, lock TTL in ms, known snapshot id (or ''). Returns
/// [1 if taken, the current snapshot id or '', the events it holds].
fn lock_script() -> redis::Script {
    redis::Script::new(
        r#"
local snap = redis.call('HMGET', KEYS[2], 'id', 'events')
local cur, events = snap[1] or '', tonumber(snap[2]) or 0
if cur ~= ARGV[3] then return {0, cur, events} end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0, cur, events} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, cur, events}
"#,
    )
}

/// Writes a snapshot (unless a newer one is there), gives the lock back, and
/// trims the log up to the oldest of the snapshot and every live node's
/// position (not at all while a live node has none: it is loading).
/// KEYS: snapshot, lock, nodes, positions, log, trimmed; ARGV: node, id,
/// data, the events it holds. Returns [1 if written, entries trimmed].
fn write_script() -> redis::Script {
    redis::Script::new(&format!(
        r#"{OLDER_FN}
local cur = redis.call('HGET', KEYS[1], 'id')
local wrote = 0
if not cur or older(cur, ARGV[2]) then
  redis.call('HSET', KEYS[1], 'id', ARGV[2], 'data', ARGV[3], 'events', ARGV[4])
  cur = ARGV[2]
  wrote = 1
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
local upto = cur
for _, node in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local at = redis.call('HGET', KEYS[4], node)
  if not at then return {{wrote, 0}} end
  if older(at, upto) then upto = at end
end
if upto == '0-0' then return {{wrote, 0}} end
local gone = redis.call('XREVRANGE', KEYS[5], '(' .. upto, '-', 'COUNT', 1)
if #gone == 0 then return {{wrote, 0}} end
local n = redis.call('XTRIM', KEYS[5], 'MINID', upto)
local before = redis.call('GET', KEYS[6])
if not before or older(before, gone[1][1]) then redis.call('SET', KEYS[6], gone[1][1]) end
return {{wrote, n}}
"#
    ))
}

/// Records this node's position (with its heartbeat), unless it is no
/// longer a member (its position must not come back after the reaper took
/// it). KEYS: nodes, positions; ARGV: node, id. Returns 1, or 0 for a node
/// that is not a member.
pub fn position_script() -> redis::Script {
    redis::Script::new(
        r#"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"#,
    )
}

/// Records `at` as the position of `node` (see [`position_script`] for
/// the answer).
pub async fn record_position(
    con: &mut ConnectionManager,
    script: &redis::Script,
    node: &str,
    at: &str,
) -> redis::RedisResult<i64> {
    let mut inv = script.key(NODES);
    inv.key(POSITIONS).arg(node).arg(at);
    inv.invoke_async(con).await
}

/// What a joining node loaded.
#[derive(Debug)]
pub struct Loaded {
    /// The snapshot's log entry, if there is a snapshot.
    pub id: Option<String>,
    /// Its events, one JSON a line.
    pub data: String,
    /// The newest entry trimmed from the log, if any was.
    pub trimmed: Option<String>,
}

impl Loaded {
    /// The entry to read the log after: the snapshot's, or the start.
    pub fn start(&self) -> &str {
        self.id.as_deref().unwrap_or("0-0")
    }

    /// Whether entries after [`Loaded::start`] were trimmed: the log cannot
    /// be followed from here (the snapshot was lost, say).
    pub fn has_gap(&self) -> bool {
        self.trimmed.as_deref().is_some_and(|t| older(self.start(), t))
    }
}

/// Loads the snapshot for a joining `node` and records its id as the node's
/// position (see [`load_script`]).
pub async fn load(con: &mut ConnectionManager, node: &str) -> redis::RedisResult<Loaded> {
    let script = load_script();
    let mut inv = script.key(SNAPSHOT);
    inv.key(POSITIONS).key(TRIMMED).arg(node);
    let (id, data, trimmed): (String, String, String) = inv.invoke_async(con).await?;
    let some = |s: String| (!s.is_empty()).then_some(s);
    Ok(Loaded { id: some(id), data, trimmed: some(trimmed) })
}

/// Whether stream id `a` comes before `b` (`MS-SEQ`).
pub fn older(a: &str, b: &str) -> bool {
    let parts = |id: &str| {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (ms.parse::<u64>().unwrap_or(0), seq.parse::<u64>().unwrap_or(0))
    };
    parts(a) < parts(b)
}

/// How many events after a snapshot the next one is due: `every`, or, for a
/// network whose snapshot holds more events than that (`held`), as many as
/// the snapshot holds. Encoding a snapshot stops the reader for a while
/// (about 50 ms for 10,000 users on the Speed machine), so on a large
/// network snapshots come no more often than the log grows by a snapshot's
/// worth: writing them costs at most about as much as applying the log, and
/// Redis holds at most about twice the snapshot.
pub fn threshold(every: u64, held: u64) -> u64 {
    every.max(held)
}

/// The events of a snapshot's `data` (one a line).
fn events_in(data: &str) -> u64 {
    data.bytes().filter(|&b| b == b'\n').count() as u64
}

/// Decides, in the reader, when this node writes a snapshot, and writes it.
pub struct Compactor {
    con: ConnectionManager,
    node: String,
    every: u64,
    /// Events applied since the last snapshot this node knows of.
    since: u64,
    /// How many events the last snapshot this node wrote or loaded held.
    held: u64,
    /// The id of that snapshot ('' for none).
    known: String,
    lock: redis::Script,
    write: redis::Script,
}

impl Compactor {
    /// For `node`, which loaded `loaded` and has applied `since` events
    /// after it; a snapshot every `every` events (0: never), see
    /// [`threshold`].
    pub fn new(con: ConnectionManager, node: String, every: u64, loaded: &Loaded, since: u64) -> Compactor {
        let (known, held) = (loaded.id.clone().unwrap_or_default(), events_in(&loaded.data));
        Compactor { con, node, every, since, held, known, lock: lock_script(), write: write_script() }
    }

    /// One more entry applied, holding `events` events: whether a snapshot
    /// is due.
    #[inline]
    pub fn count(&mut self, events: u64) -> bool {
        self.since += events;
        self.every > 0 && self.since >= threshold(self.every, self.held)
    }

    /// A snapshot is due and the reader has just applied entry `at`: unless
    /// another node writes one, the state is encoded here and now, and
    /// written (and the log trimmed) in a task of its own.
    ///
    /// It waits for a later entry while a nick claim of this node is on its
    /// way (the claim's event may be in the log already, its change not yet
    /// made here), and, for up to `every` more events, while events of this
    /// node are not all in the log up to `at` yet: a snapshot taken then has
    /// changes whose events come later in the log, which a joiner applies
    /// again on top of it (harmless as a rule, but a channel that such a
    /// change emptied would end on the joiner before it does in the log).
    pub async fn snapshot(&mut self, server: &Server, cluster: &Cluster, at: &str) {
        let overdue = self.since >= threshold(self.every, self.held).saturating_mul(2);
        if cluster.claims_in_flight() || !(overdue || cluster.own_events_caught_up()) {
            return;
        }
        let mut inv = self.lock.key(SNAPSHOT_LOCK);
        inv.key(SNAPSHOT).arg(&self.node).arg(LOCK_MS).arg(&self.known);
        match inv.invoke_async::<(i64, String, u64)>(&mut self.con).await {
            Ok((1, _, _)) => {}
            Ok((_, current, held)) => {
                self.known = current;
                self.held = held;
                self.since = 0;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster: could not take the snapshot lock");
                self.since = 0;
                return;
            }
        }
        if cluster.claims_in_flight() || !(overdue || cluster.own_events_caught_up()) {
            // The lock is this node's until it writes (or the lock expires).
            return;
        }
        let began = std::time::Instant::now();
        let data = snapshot::encode(server, cluster);
        let encode_ms = began.elapsed().as_millis() as u64;
        self.held = events_in(&data);
        self.known = at.to_owned();
        self.since = 0;
        let (mut con, script, node, at, held) =
            (self.con.clone(), self.write.clone(), self.node.clone(), at.to_owned(), self.held);
        tokio::spawn(async move {
            let (bytes, began) = (data.len(), std::time::Instant::now());
            let mut inv = script.key(SNAPSHOT);
            inv.key(SNAPSHOT_LOCK).key(NODES).key(POSITIONS).key(LOG).key(TRIMMED).arg(&node).arg(&at).arg(data);
            inv.arg(held);
            match inv.invoke_async::<(i64, i64)>(&mut con).await {
                Ok((written, trimmed)) => {
                    let write_ms = began.elapsed().as_millis() as u64;
                    let written = written == 1;
                    tracing::info!(%at, bytes, events = held, encode_ms, write_ms, written, trimmed, "cluster: snapshot written, log trimmed")
                }
                Err(e) => tracing::warn!(error = %e, %at, "cluster: writing a snapshot failed"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_compare_by_time_then_sequence() {
        assert!(older("1700000000000-5", "1700000000001-0"));
        assert!(older("1700000000000-5", "1700000000000-12"), "numbers, not text");
        assert!(older("999-0", "1000-0"), "numbers, not text");
        assert!(!older("5-1", "5-1"));
        assert!(older("0-0", "1-0"));
    }

    #[test]
    fn a_large_network_snapshots_once_the_log_holds_a_snapshot_s_worth() {
        assert_eq!(threshold(10_000, 0), 10_000, "no snapshot yet");
        assert_eq!(threshold(10_000, 2_500), 10_000, "a small network: every snapshot_every events");
        assert_eq!(threshold(10_000, 60_000), 60_000, "a large one: as many events as its snapshot holds");
        assert_eq!(events_in("{\"U\":{}}\n{\"J\":{}}\n"), 2);
        assert_eq!(events_in(""), 0);
    }

    #[test]
    fn a_snapshot_older_than_the_trim_cannot_be_followed() {
        let loaded = |id: Option<&str>, trimmed: Option<&str>| Loaded {
            id: id.map(str::to_owned),
            data: String::new(),
            trimmed: trimmed.map(str::to_owned),
        };
        assert!(!loaded(None, None).has_gap(), "a log never trimmed: from its start");
        assert!(loaded(None, Some("7-0")).has_gap(), "trimmed, and no snapshot");
        assert!(!loaded(Some("9-0"), Some("7-0")).has_gap());
        assert!(!loaded(Some("7-0"), Some("7-0")).has_gap(), "every entry after the snapshot's is there");
        assert!(loaded(Some("5-3"), Some("7-0")).has_gap());
    }
}
