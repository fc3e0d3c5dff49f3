//! Keeping the in-memory copies of stored things right when another process
//! changes the store: the account name index (nick protection, REGISTER's
//! first check) and the persistent channels.
//!
//! - PostgreSQL: LISTEN/NOTIFY ([`Store::watch`]). Every account created or
//!   deleted and every persistent channel saved or deleted, by another banterd
//!   or by the admin CLI, is re-read here within moments; after the listening
//!   connection is remade, everything is re-read.
//! - SQLite (one node): only the admin CLI can change the files beside the
//!   server, and only accounts; the name index is re-read every
//!   [`SQLITE_REFRESH`] (and at REHASH).
//!
//! On a node of a cluster, a channel's registration, topic, modes and lists
//! come from the log instead, in its order (`cluster::apply`): a snapshot
//! re-read from the store may be older than what the log already applied, or
//! hold the value that lost there to another node's simultaneous change, and
//! taking it would leave the nodes disagreeing. Only a channel's metadata,
//! which does not travel in the log, is taken from the store there.

use super::channel::Channel;
use super::persist::apply_record;
use super::Server;
use crate::store::{Change, ChannelRecord, Store};
use std::sync::Arc;
use std::time::Duration;

/// How often a server on SQLite re-reads the account names.
pub const SQLITE_REFRESH: Duration = Duration::from_secs(30);

/// Starts following the store's changes for `server` (called once at start-up,
/// inside the runtime, before the listeners open: with PostgreSQL it returns
/// once the store listens and has been read again).
pub fn start(server: &Arc<Server>, store: &Arc<dyn Store>) {
    let handle = tokio::runtime::Handle::current();
    let weak = Arc::downgrade(server);
    let watching = store.watch(Box::new(move |change| {
        if let Some(server) = weak.upgrade() {
            handle.spawn_blocking(move || server.store_changed(change));
        }
    }));
    if watching {
        tracing::info!("following changes by other processes (LISTEN/NOTIFY)");
        // What other processes changed between start-up's read of the store
        // and the first LISTEN was not heard: read again now, before the
        // listeners open (on a thread of its own: the database client cannot
        // block inside this runtime).
        let again = server.clone();
        let resync = std::thread::Builder::new().name("store-resync".into()).spawn(move || {
            again.store_changed(Change::Resync);
        });
        if !matches!(resync.map(|t| t.join()), Ok(Ok(()))) {
            tracing::warn!("could not read the store again after starting to listen");
        }
        return;
    }
    let weak = Arc::downgrade(server);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SQLITE_REFRESH);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(server) = weak.upgrade() else { return };
            let reload = tokio::task::spawn_blocking(move || server.accounts.reload_names()).await;
            match reload {
                Ok(Ok((added, removed))) if added + removed > 0 => {
                    tracing::info!(added, removed, "account names reloaded")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "account names not reloaded"),
                _ => {}
            }
        }
    });
}

impl Server {
    /// Brings the in-memory copies up to date with `change` (blocking: reads
    /// the store; run it on the blocking pool).
    pub fn store_changed(&self, change: Change) {
        let Some(store) = self.history.store() else { return };
        match change {
            Change::Account(folded) => {
                if let Err(e) = self.accounts.refresh_name(&folded) {
                    tracing::warn!(error = %e, account = %folded, "account not re-read");
                }
            }
            Change::Channel(folded) => match store.load_channel(&folded) {
                Ok(record) => self.refresh_channel(&folded, record),
                Err(e) => tracing::warn!(error = %e, channel = %folded, "channel not re-read"),
            },
            Change::Resync => {
                match self.accounts.reload_names() {
                    Ok((added, removed)) if added + removed > 0 => {
                        tracing::info!(added, removed, "account names reloaded")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "account names not reloaded"),
                }
                match store.load_channels() {
                    Ok(records) => {
                        let stored: std::collections::HashSet<String> =
                            records.iter().map(|r| r.folded.clone()).collect();
                        let gone: Vec<String> = self
                            .channels
                            .iter()
                            .filter(|e| e.value().read().is_persistent() && !stored.contains(e.key()))
                            .map(|e| e.key().clone())
                            .collect();
                        for r in records {
                            let folded = r.folded.clone();
                            self.refresh_channel(&folded, Some(r));
                        }
                        for folded in gone {
                            self.refresh_channel(&folded, None);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "channels not reloaded"),
                }
            }
        }
    }

    /// Takes what the store keeps of channel `folded` (None: no longer kept)
    /// into memory: registration, topic, modes, lists, metadata (on a node of
    /// a cluster, metadata only: see the module's docs). Members stay.
    pub fn refresh_channel(&self, folded: &str, record: Option<ChannelRecord>) {
        let existing = self.channels.get(folded).map(|c| c.value().clone());
        if self.cluster().is_some() {
            // The log carries the rest (see the module's docs).
            if let (Some(channel), Some(r)) = (existing, record) {
                channel.write().metadata = r.metadata.into_iter().collect();
            }
            return;
        }
        match (existing, record) {
            (Some(channel), Some(r)) => apply_record(&mut channel.write(), r),
            (None, Some(r)) => {
                let channel = Arc::new(Channel::new(&r.name, r.created));
                apply_record(&mut channel.write(), r);
                self.channels.entry(folded.to_owned()).or_insert(channel);
            }
            (Some(channel), None) => {
                {
                    let mut st = channel.write();
                    st.registration = None;
                    st.modes.permanent = false;
                }
                self.remove_channel_if_empty(&channel);
            }
            (None, None) => {}
        }
    }
}
