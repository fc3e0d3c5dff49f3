//! Durable state: what survives a restart.
//!
//! One [`Store`] interface (accounts, channels, history), one implementation
//! per engine: [`sqlite`] is the embedded default (two files in the data dir:
//! `banter.db` for accounts and registered channels, `history.db` for chat
//! history); [`postgres`] is one database that several nodes share
//! (`[store] url`, see [`location`]). Every method blocks;
//! callers run them on the blocking pool or on one of the store's own threads,
//! never on the async workers.
//!
//! Writes reach the engine through two ordered queues, each drained by one
//! thread: [`commit::Committer`] for persistent channel state (a change is
//! acknowledged only once committed) and [`writer::HistoryWriter`] for chat
//! history (batched, bounded, never blocking a sender).

pub mod accounts;
pub mod backup;
pub mod commit;
pub mod copy;
pub mod history;
pub mod location;
pub mod postgres;
pub mod record;
pub mod sqlite;
pub mod writer;

use crate::state::channel::{ChannelModes, ListEntry, Topic};
pub use accounts::{AccountRow, AccountStore, AccountSummary, CertfpAdd};

/// A store error, as text for logs and start-up messages.
pub type StoreResult<T> = Result<T, String>;

/// How the error of a store that cannot reach its database begins (the
/// PostgreSQL engine, while the server is down or the network is cut): the
/// history writer keeps such a batch and tries again with back-off.
pub const UNREACHABLE: &str = "cannot reach the database ";

/// Whether `error` says the database could not be reached (see [`UNREACHABLE`]).
pub fn is_unreachable(error: &str) -> bool {
    error.starts_with(UNREACHABLE)
}

/// A change another process made to the store, as [`Store::watch`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An account (folded name) was created or deleted.
    Account(String),
    /// A persistent channel (folded name) was saved or deleted.
    Channel(String),
    /// Changes may have been missed (the listener reconnected): read everything again.
    Resync,
}

/// An account's standing in a registered channel's access list (AMODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMode {
    /// Gets `+o` on join.
    Op,
    /// Gets `+v` on join.
    Voice,
}

impl AccessMode {
    /// The mode letter.
    pub fn letter(self) -> char {
        match self {
            AccessMode::Op => 'o',
            AccessMode::Voice => 'v',
        }
    }

    /// The mode for a letter.
    pub fn from_letter(c: char) -> Option<AccessMode> {
        match c {
            'o' => Some(AccessMode::Op),
            'v' => Some(AccessMode::Voice),
            _ => None,
        }
    }
}

/// One AMODE entry: an account and the status it gets on join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The account, as its name was given.
    pub account: String,
    /// The status.
    pub mode: AccessMode,
}

/// A channel's registration with ChanServ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The founder's account name.
    pub founder: String,
    /// Unix time of registration.
    pub registered_at: i64,
    /// Accounts that get a status on join (AMODE).
    pub access: Vec<Access>,
}

/// Everything kept of a persistent channel (registered, or `+P`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// Folded name (the key).
    pub folded: String,
    /// Display name.
    pub name: String,
    /// Unix time of creation.
    pub created: i64,
    /// The registration, if registered.
    pub registration: Option<Registration>,
    /// Topic with setter and time.
    pub topic: Option<Topic>,
    /// Flag modes (`+P` included), key and limit.
    pub modes: ChannelModes,
    /// `+b`, `+e` and `+I` entries.
    pub bans: Vec<ListEntry>,
    /// `+e`.
    pub excepts: Vec<ListEntry>,
    /// `+I`.
    pub invex: Vec<ListEntry>,
    /// Channel metadata (draft/metadata-3).
    pub metadata: Vec<(String, String)>,
    /// Where in a cluster's log the record was taken (see [`LogAt`]).
    pub at: LogAt,
}

/// The SQL of [`Store::forget_log_positions`], the same on both engines.
const FORGET_LOG_POSITIONS: &str =
    "UPDATE channels SET log_ms = 0, log_seq = 0 WHERE log_ms <> 0 OR log_seq <> 0; DELETE FROM channels_gone;";

/// Where in a cluster's log a channel record was taken: the id (`ms-seq`)
/// of a log entry the taking node had applied, every change the log holds
/// up to it included in the record. A shared store keeps a channel's
/// registration, topic, modes and lists from the record taken furthest in
/// the log (two nodes' saves can reach it in either order); zero on a single
/// node, whose saves reach the store in the order they were made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogAt {
    /// The entry id's milliseconds.
    pub ms: i64,
    /// The entry id's sequence number.
    pub seq: i64,
}

impl LogAt {
    /// The position of log entry `id` (`ms-seq`); zero if it is not one.
    pub fn of_entry(id: &str) -> LogAt {
        let parse = |s: &str| s.parse::<i64>().ok();
        match id.split_once('-').and_then(|(ms, seq)| Some((parse(ms)?, parse(seq)?))) {
            Some((ms, seq)) => LogAt { ms, seq },
            None => LogAt::default(),
        }
    }
}

/// A change to persistent channel state.
#[derive(Debug, Clone)]
pub enum ChannelChange {
    /// Register a channel (the record carries the registration): refused when
    /// it is registered already or the founder has `max_per_account` channels.
    Register {
        /// The channel as it is now, with its registration.
        record: ChannelRecord,
        /// Most channels one account may found.
        max_per_account: usize,
    },
    /// Write the channel as it is now (insert or replace).
    Save(ChannelRecord),
    /// Forget the channel (dropped and not permanent), as of `at` in a
    /// cluster's log.
    Delete {
        /// The channel's folded name.
        folded: String,
        /// Where in the log it stopped being persistent.
        at: LogAt,
    },
}

impl ChannelChange {
    /// The folded name of the channel it changes.
    pub fn folded(&self) -> &str {
        match self {
            ChannelChange::Register { record, .. } | ChannelChange::Save(record) => &record.folded,
            ChannelChange::Delete { folded, .. } => folded,
        }
    }
}

/// What a [`ChannelChange`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Written.
    Done,
    /// `Register`: the channel is registered already.
    Taken,
    /// `Register`: the founder has the most channels allowed.
    TooMany,
}

/// How a SQLite store's [identity](Store::identity) begins.
pub const SQLITE_IDENTITY: &str = "SQLite";

/// The durable store: accounts ([`AccountStore`]), persistent channels,
/// history. Blocking; see the module docs.
pub trait Store: AccountStore {
    /// Every persistent channel, for start-up.
    fn load_channels(&self) -> StoreResult<Vec<ChannelRecord>>;

    /// One persistent channel by folded name (after another process changed it).
    fn load_channel(&self, folded: &str) -> StoreResult<Option<ChannelRecord>>;

    /// Applies `changes` in order in one transaction; one outcome per change.
    fn apply_channel_changes(&self, changes: &[ChannelChange]) -> StoreResult<Vec<ChangeOutcome>>;

    /// Forgets where in a cluster's log each channel was saved and removed
    /// ([`LogAt`]): the network starts a new log (its Redis lost its data),
    /// whose positions say nothing about the old one's.
    fn forget_log_positions(&self) -> StoreResult<()>;

    /// Applies history operations in order, in one transaction; returns the
    /// rows inserted (a msgid seen before is skipped).
    fn write_history(&self, ops: &[history::Op]) -> StoreResult<usize>;

    /// Whether this engine keeps channel rows packed, and so takes them as
    /// [`history::Op::Packed`] (encoded by the sender) rather than as rows.
    fn packs_history(&self) -> bool {
        false
    }

    /// The rows `query` selects in `scope`, oldest first; events (TAGMSG,
    /// TOPIC) only with `events`.
    fn select_history(
        &self,
        scope: &history::Scope,
        query: &history::Query,
        events: bool,
    ) -> StoreResult<Vec<history::Stored>>;

    /// The row with `msgid` in `scope`.
    fn find_message(&self, scope: &history::Scope, msgid: &str) -> StoreResult<Option<history::Stored>>;

    /// The time of the latest row of `target` (events too with `events`).
    fn latest_message(&self, target: &str, events: bool) -> StoreResult<Option<i64>>;

    /// The conversations of identity `party` whose latest row falls strictly
    /// between `from` and `to` (ms): (the other side's nick, time), oldest first.
    fn conversations(
        &self,
        party: &str,
        events: bool,
        from: i64,
        to: i64,
        limit: usize,
    ) -> StoreResult<Vec<(String, i64)>>;

    /// The read markers of identity `who`: (folded target, time in ms).
    fn markers(&self, who: &str) -> StoreResult<Vec<(String, i64)>>;

    /// Deletes at most `chunk` rows that `policy` no longer keeps, in one
    /// short transaction; returns how many (0: nothing left to prune).
    fn prune_history(&self, policy: &history::Retention, now_ms: i64, chunk: usize) -> StoreResult<usize>;

    /// Writes a consistent copy of every database file into `out_dir`, which
    /// must exist and hold none of them; returns the files written.
    fn backup(&self, out_dir: &std::path::Path) -> StoreResult<Vec<std::path::PathBuf>>;

    /// Reads every row of every table ([`copy::TABLES`], in that order), from
    /// one consistent snapshot per database, and hands each to `each`.
    fn export(
        &self,
        each: &mut dyn FnMut(&'static copy::Table, Vec<copy::Value>) -> StoreResult<()>,
    ) -> StoreResult<()>;

    /// Writes rows read by another store's [`Store::export`] into `table`.
    fn import(&self, table: &copy::Table, rows: &[Vec<copy::Value>]) -> StoreResult<()>;

    /// Called once after the last [`Store::import`] (new message ids follow the copied ones).
    fn finish_import(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Whether the store holds no account, channel, message or read marker.
    fn is_empty(&self) -> StoreResult<bool>;

    /// What tells this store from every other: its engine and the random id
    /// made when its schema was created (kept by backups, not by a copy to
    /// another store). Nodes of one cluster must show the same.
    fn identity(&self) -> StoreResult<String>;

    /// Reports the changes other processes make (accounts, channels) to
    /// `on_change`, from a thread of the store's; false when this engine
    /// cannot tell (SQLite: the caller refreshes periodically instead).
    /// PostgreSQL returns once it listens (up to 10 s): from then on nothing
    /// is missed, and the caller reads again what changed before.
    fn watch(&self, on_change: Box<dyn Fn(Change) + Send + Sync>) -> bool {
        let _ = on_change;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::LogAt;

    #[test]
    fn a_log_position_is_read_from_an_entry_id_and_orders_by_time_then_sequence() {
        assert_eq!(LogAt::of_entry("1733300000000-7"), LogAt { ms: 1_733_300_000_000, seq: 7 });
        assert_eq!(LogAt::of_entry("0-0"), LogAt::default());
        assert_eq!(LogAt::of_entry("snapshot"), LogAt::default(), "not an entry id");
        assert!(LogAt::of_entry("10-2") < LogAt::of_entry("11-0"));
        assert!(LogAt::of_entry("10-2") < LogAt::of_entry("10-10"));
    }
}
