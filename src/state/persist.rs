//! Persistent channels: the one place their changes go to the store, and
//! their restoration at start-up.
//!
//! A channel is persistent while it is registered with ChanServ or `+P`
//! (which includes `channels.permanent`). Whatever changes its kept state
//! (topic, modes, lists, metadata, registration) calls
//! [`Server::persist_channel`] after the change; the command's reply waits
//! for the returned acknowledgement (`Ctx::commit`).

use super::channel::{Channel, ChannelState};
use super::Server;
use crate::store::commit::{Ack, Committer};
use crate::store::{ChannelChange, ChannelRecord, LogAt};
use std::sync::Arc;

/// The snapshot of `st` that the store keeps, taken at `at` in a cluster's
/// log ([`Server::log_at`], read before or while `st` is locked).
pub fn record_of(channel: &Channel, st: &ChannelState, folded: String, at: LogAt) -> ChannelRecord {
    ChannelRecord {
        folded,
        name: channel.name.clone(),
        created: channel.created,
        registration: st.registration.as_deref().cloned(),
        topic: st.topic.clone(),
        modes: st.modes.clone(),
        bans: st.bans.clone(),
        excepts: st.excepts.clone(),
        invex: st.invex.clone(),
        metadata: st.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        at,
    }
}

/// Takes what the store keeps of a channel into `st` (the inverse of
/// [`record_of`]); members and everything not kept stay as they are.
pub fn apply_record(st: &mut ChannelState, r: ChannelRecord) {
    st.registration = r.registration.map(Box::new);
    st.topic = r.topic;
    st.modes = r.modes;
    st.bans = r.bans;
    st.excepts = r.excepts;
    st.invex = r.invex;
    st.metadata = r.metadata.into_iter().collect();
}

impl Server {
    /// Starts writing persistent channels through `committer` and recreates
    /// the stored ones (empty, with everything they kept). Called once, before
    /// the listeners open.
    pub fn restore_channels(&self, committer: Committer, records: Vec<ChannelRecord>) {
        let count = records.len();
        for r in records {
            let channel = Arc::new(Channel::new(&r.name, r.created));
            let folded = self.fold(&r.name);
            apply_record(&mut channel.write(), r);
            self.channels.insert(folded, channel);
        }
        if self.committer.set(committer).is_err() {
            tracing::warn!("channel store attached twice");
        }
        if count > 0 {
            tracing::info!(channels = count, "restored persistent channels");
        }
        self.ensure_permanent_channels();
    }

    /// Queues `channel`'s kept state to be saved when it is persistent, or its
    /// removal when it no longer is. Call it after every change to a channel
    /// that is, or just stopped being, persistent; wait on the [`Ack`] before
    /// answering. `None` without a store (unit tests, fuzzing).
    pub fn persist_channel(&self, channel: &Channel) -> Option<Ack> {
        let committer = self.committer.get()?;
        let folded = self.fold(&channel.name);
        // Read-locked while queueing: the state cannot change in between, so
        // snapshots reach the queue in the order the changes were made.
        let st = channel.read();
        let at = self.log_at();
        let change = if st.is_persistent() {
            ChannelChange::Save(record_of(channel, &st, folded, at))
        } else {
            ChannelChange::Delete { folded, at }
        };
        Some(committer.submit(change))
    }

    /// Where in the network's log this node's state is: every change the log
    /// holds up to there is applied here (zero on a single node; see
    /// [`LogAt`]).
    pub fn log_at(&self) -> LogAt {
        self.cluster().map_or_else(LogAt::default, |c| c.log_at())
    }

    /// Queues a change prepared by the caller (ChanServ REGISTER).
    pub fn submit_channel_change(&self, change: ChannelChange) -> Option<Ack> {
        Some(self.committer.get()?.submit(change))
    }
}
