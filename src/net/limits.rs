//! Admission: maximum clients, connections per IP and connection rate per IP.

use crate::config::Config;
use crate::state::Server;
use dashmap::DashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Recent connection counts per IP, for the rate limit.
#[derive(Debug, Default)]
pub struct RateTable {
    windows: DashMap<IpAddr, (Instant, u32)>,
}

impl RateTable {
    /// Counts a connection; false when `ip` is over `per_minute`.
    pub fn allow(&self, ip: IpAddr, per_minute: u32, now: Instant) -> bool {
        let mut e = self.windows.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(e.0) >= Duration::from_secs(60) {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 <= per_minute
    }

    /// Forgets windows older than a minute.
    pub fn prune(&self, now: Instant) {
        self.windows.retain(|_, (start, _)| now.saturating_duration_since(*start) < Duration::from_secs(60));
    }
}

/// Decides whether a new connection from `ip` is admitted; on success the
/// per-IP count is taken (released by `membership::remove_client`).
pub fn admit(server: &Server, cfg: &Config, rates: &RateTable, ip: IpAddr) -> Result<(), &'static str> {
    if server.clients.len() >= cfg.limits.max_clients {
        return Err("Server is full, try again later");
    }
    let exempt = cfg.is_exempt(ip);
    if !exempt && !rates.allow(ip, cfg.limits.connects_per_minute, Instant::now()) {
        return Err("Too many connections from your address in the last minute, try again later");
    }
    let mut n = server.per_ip.entry(ip).or_insert(0);
    if !exempt && *n >= cfg.limits.max_per_ip {
        return Err("Too many connections from your address");
    }
    *n += 1;
    Ok(())
}
