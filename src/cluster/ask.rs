//! Questions one node asks another about one of its users, as a server of a
//! classic network forwards a remote WHOIS to the user's server: how long
//! the user has been idle is known only where the user is connected (the
//! log carries the messages other nodes deliver, not those that stay on
//! the user's own node).
//!
//! Each node subscribes to its own Redis channel, `banter:to:NODE`, and
//! reads two kinds of message there: `Q ID ASKER UID` (what is the
//! last-spoke time of user UID here? answer to ASKER) and `A ID TIME` (the
//! answer to question ID; `-` for a user gone). Pub/sub suits a question:
//! one lost while a node reconnects is answered by nobody, and the asker
//! falls back on what it knew after [`WAIT`]. Nothing of the network's
//! state goes this way.

use crate::state::client::Client;
use crate::state::Server;
use dashmap::DashMap;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;

/// Prefix of a node's channel.
pub const TO: &str = "banter:to:";

/// How long an asker waits for the answer.
pub const WAIT: Duration = Duration::from_millis(500);

/// This node's questions waiting for answers, and its connection to ask
/// and answer with.
#[derive(Default)]
pub struct Asks {
    /// Question id → where its answer goes.
    waiting: DashMap<u64, oneshot::Sender<Option<i64>>>,
    /// The next question's id.
    next: AtomicU64,
    /// Set once the node is in the network.
    con: OnceLock<ConnectionManager>,
}

impl std::fmt::Debug for Asks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asks").field("waiting", &self.waiting.len()).finish()
    }
}

impl Asks {
    /// The last-spoke time (Unix seconds) of user `uid` of node `node`, as
    /// that node has it; None if it did not answer within [`WAIT`] or the
    /// user is gone there. `me` is this node.
    pub async fn last_spoke(&self, me: &str, node: &str, uid: u64) -> Option<i64> {
        let mut con = self.con.get()?.clone();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(id, tx);
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(format!("{TO}{node}")).arg(format!("Q {id} {me} {uid}"));
        let answer = async {
            // 0 subscribers: that node is not listening (gone, or of an
            // earlier release).
            if publish.query_async::<i64>(&mut con).await.ok()? == 0 {
                return None;
            }
            rx.await.ok().flatten()
        };
        let answer = tokio::time::timeout(WAIT, answer).await.ok().flatten();
        self.waiting.remove(&id);
        answer
    }

    /// Records an answer.
    fn answered(&self, id: u64, time: Option<i64>) {
        if let Some((_, tx)) = self.waiting.remove(&id) {
            let _ = tx.send(time);
        }
    }
}

/// Listens on this node's channel for the node's life: answers questions
/// about its users from `server` and hands answers to the askers. Starts
/// asking once subscribed; reconnects when Redis goes away.
pub fn listen(server: Arc<Server>, cluster: Arc<super::Cluster>, client: redis::Client, con: ConnectionManager) {
    tokio::spawn(async move {
        let channel = format!("{TO}{}", cluster.node);
        loop {
            let mut pubsub = match client.get_async_pubsub().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(error = %e, "cluster: cannot listen for questions yet");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if pubsub.subscribe(&channel).await.is_err() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let _ = cluster.asks.con.set(con.clone());
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                let Ok(text) = msg.get_payload::<String>() else { continue };
                handle(&server, &cluster, &con, &text);
            }
            drop(messages);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

/// One message on this node's channel.
fn handle(server: &Server, cluster: &super::Cluster, con: &ConnectionManager, text: &str) {
    let mut words = text.split(' ');
    match (words.next(), words.next().and_then(|id| id.parse::<u64>().ok())) {
        (Some("Q"), Some(id)) => {
            let (Some(asker), Some(uid)) = (words.next(), words.next().and_then(|u| u.parse().ok())) else { return };
            let local = server.clients.get(&uid).map(|c| c.clone()).filter(|c| !cluster.is_remote(c.id));
            let time = local.as_deref().map_or("-".to_owned(), |c: &Client| last_spoke(c).to_string());
            let mut con = con.clone();
            let to = format!("{TO}{asker}");
            let answer = format!("A {id} {time}");
            tokio::spawn(async move {
                let _: redis::RedisResult<i64> = redis::cmd("PUBLISH").arg(to).arg(answer).query_async(&mut con).await;
            });
        }
        (Some("A"), Some(id)) => cluster.asks.answered(id, words.next().and_then(|t| t.parse().ok())),
        _ => {}
    }
}

/// When `client` last spoke (its idle time counts from then).
fn last_spoke(client: &Client) -> i64 {
    client.last_spoke.load(Ordering::Relaxed)
}
