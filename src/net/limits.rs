//! Admission: maximum connections, connections per address and connection
//! rate per address. Addresses are counted as [`IpKey`]s: IPv6 grouped by
//! `limits.ipv6_prefix`.

use crate::config::Config;
use crate::state::ipkey::IpKey;
use crate::state::ratelimit::SlidingWindow;
use crate::state::Server;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Recent connections per address, for `limits.connects_per_minute`.
#[derive(Debug)]
pub struct RateTable {
    window: SlidingWindow<IpKey>,
}

impl Default for RateTable {
    fn default() -> Self {
        RateTable { window: SlidingWindow::new(Duration::from_secs(60)) }
    }
}

impl RateTable {
    /// Counts a connection; false when `key` already made `per_minute` in
    /// the last minute (a sliding minute: refused connections are not counted).
    pub fn allow(&self, key: IpKey, per_minute: u32, now: Instant) -> bool {
        self.window.hit(key, per_minute, now).is_ok()
    }

    /// Forgets addresses with no connection in the last minute.
    pub fn prune(&self, now: Instant) {
        self.window.prune(now);
    }
}

/// Decides whether a new connection from `ip` is admitted; on success the
/// per-address and total counts are taken (released by `Server::release_ip`,
/// when the connection ends or its TLS handshake fails).
pub fn admit(server: &Server, cfg: &Config, rates: &RateTable, ip: IpAddr) -> Result<(), &'static str> {
    // Taken first and given back on refusal, so that connections accepted
    // at once (on several listeners) cannot all pass the check together.
    if server.connections.fetch_add(1, Ordering::Relaxed) >= cfg.limits.max_clients {
        server.connections.fetch_sub(1, Ordering::Relaxed);
        return Err("Server is full, try again later");
    }
    let refuse = |why| {
        server.connections.fetch_sub(1, Ordering::Relaxed);
        Err(why)
    };
    let key = server.ip_key(ip);
    let exempt = cfg.is_exempt(ip);
    if !exempt && !rates.allow(key, cfg.limits.connects_per_minute, Instant::now()) {
        return refuse("Too many connections from your address in the last minute, try again later");
    }
    // On a node of a cluster the address's users on the other nodes count
    // too (as of the log: two nodes admitting at the same instant may each
    // take the last place).
    let elsewhere = if exempt { 0 } else { server.cluster().map_or(0, |c| c.remote_users_at(key)) };
    let mut n = server.per_ip.entry(key).or_insert(0);
    if !exempt && *n + elsewhere >= cfg.limits.max_per_ip {
        drop(n);
        return refuse("Too many connections from your address");
    }
    *n += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_rate_slides() {
        let rates = RateTable::default();
        let key = IpKey::new("192.0.2.7".parse().unwrap(), 64);
        let t0 = Instant::now();
        assert!(rates.allow(key, 3, t0));
        for _ in 0..2 {
            assert!(rates.allow(key, 3, t0 + Duration::from_secs(59)));
        }
        // A window that reset after a minute would take three more here.
        assert!(!rates.allow(key, 3, t0 + Duration::from_secs(60)));
        assert!(!rates.allow(key, 3, t0 + Duration::from_secs(61)));
    }

    fn server(config: &Config) -> std::sync::Arc<Server> {
        let accounts = crate::accounts::Accounts::with_store(None, config);
        Server::new(config.clone(), None, accounts)
    }

    #[test]
    fn an_ipv6_prefix_counts_as_one_address() {
        let mut cfg = Config::default();
        cfg.limits.max_per_ip = 2;
        let s = server(&cfg);
        let rates = RateTable::default();
        let v6 = |i: u16| IpAddr::from(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 7, i, i, i, i));
        assert!(admit(&s, &cfg, &rates, v6(1)).is_ok());
        assert!(admit(&s, &cfg, &rates, v6(2)).is_ok());
        assert_eq!(admit(&s, &cfg, &rates, v6(3)), Err("Too many connections from your address"));
        // Another /64 is another address; a /128 prefix counts each address.
        assert!(admit(&s, &cfg, &rates, "2001:db8:0:8::1".parse().unwrap()).is_ok());
        s.release_ip(v6(9));
        assert!(admit(&s, &cfg, &rates, v6(4)).is_ok());
        cfg.limits.ipv6_prefix = 128;
        let s = server(&cfg);
        for i in 1..=3 {
            assert!(admit(&s, &cfg, &rates, v6(i + 10)).is_ok());
        }
    }

    #[test]
    fn max_clients_counts_admitted_connections() {
        let mut cfg = Config::default();
        cfg.limits.max_clients = 2;
        let s = server(&cfg);
        let rates = RateTable::default();
        let ip = |i: u8| IpAddr::from([192, 0, 2, i]);
        assert!(admit(&s, &cfg, &rates, ip(1)).is_ok());
        assert!(admit(&s, &cfg, &rates, ip(2)).is_ok());
        assert_eq!(admit(&s, &cfg, &rates, ip(3)), Err("Server is full, try again later"));
        s.release_ip(ip(1));
        assert!(admit(&s, &cfg, &rates, ip(3)).is_ok());
    }

    #[test]
    fn an_ipv6_prefix_shares_one_rate() {
        let rates = RateTable::default();
        let t0 = Instant::now();
        for i in 1..=3u16 {
            let ip = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i);
            assert!(rates.allow(IpKey::new(ip.into(), 64), 3, t0));
        }
        let other = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0xffff, 0, 0, 9);
        assert!(!rates.allow(IpKey::new(other.into(), 64), 3, t0));
        let next = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1);
        assert!(rates.allow(IpKey::new(next.into(), 64), 3, t0));
    }
}
