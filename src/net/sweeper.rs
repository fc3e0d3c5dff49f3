//! The keep-alive sweeper: once a second it closes connections that did not
//! register in time, PINGs quiet clients and closes those that never answer.

use crate::state::client::Client;
use crate::state::{session, Server};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Runs until shutdown.
pub async fn run(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut shutdown = server.shutdown_signal();
    loop {
        tokio::select! {
            _ = tick.tick() => sweep(&server),
            _ = shutdown.changed() => return,
        }
    }
}

fn sweep(server: &Server) {
    let cfg = server.config();
    let now = crate::state::clock::mono_secs();
    let reg_timeout = cfg.limits.registration_timeout as i64;
    let interval = cfg.limits.ping_interval as i64;
    let timeout = cfg.limits.ping_timeout as i64;
    let name = &cfg.server.name;
    for entry in server.clients.iter() {
        let c = entry.value();
        if c.sessions_any() {
            // Multiclient: each live connection is kept alive on its own.
            for conn in session::connections(c) {
                keep_alive(&conn, now, interval, timeout, name);
            }
            continue;
        }
        if !c.is_registered() {
            if now - c.connected >= reg_timeout {
                c.request_close("Registration timed out");
            }
            continue;
        }
        keep_alive(c, now, interval, timeout, name);
    }
}

/// PINGs a registered connection quiet for `interval` seconds, and closes it
/// when it has not answered `timeout` seconds later.
fn keep_alive(c: &Client, now: i64, interval: i64, timeout: i64, name: &str) {
    let quiet = now - c.last_active.load(Ordering::Relaxed);
    if c.ping_pending.load(Ordering::Relaxed) {
        if quiet >= interval + timeout {
            c.request_close(&format!("Ping timeout: {quiet} seconds"));
        }
    } else if quiet >= interval {
        c.ping_pending.store(true, Ordering::Relaxed);
        c.send(format!("PING :{name}\r\n").as_bytes());
    }
}
