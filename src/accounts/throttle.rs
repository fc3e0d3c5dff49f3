//! Login throttling: after a few free failures per account and per IP, each
//! attempt waits a delay that doubles with every further failure.

use dashmap::DashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failure counts and when they were last touched.
#[derive(Debug, Default)]
pub struct Throttle {
    by_account: DashMap<String, (u32, Instant)>,
    by_ip: DashMap<IpAddr, (u32, Instant)>,
}

/// Throttle settings (from `[accounts]`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures before any delay.
    pub free: u32,
    /// First delay.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

/// Failures are forgotten after this long without a new one.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

impl Throttle {
    /// The delay to impose before checking a login for `account` from `ip`.
    pub fn delay(&self, policy: Policy, account: &str, ip: IpAddr) -> Duration {
        let count = |e: Option<(u32, Instant)>| match e {
            Some((n, at)) if at.elapsed() < FORGET_AFTER => n,
            _ => 0,
        };
        let a = count(self.by_account.get(account).map(|e| *e));
        let i = count(self.by_ip.get(&ip).map(|e| *e));
        let failures = a.max(i);
        if failures < policy.free {
            return Duration::ZERO;
        }
        let exp = (failures - policy.free).min(16);
        (policy.base * 2u32.pow(exp)).min(policy.max)
    }

    /// Records a failed login.
    pub fn failed(&self, account: &str, ip: IpAddr) {
        let now = Instant::now();
        let bump = |e: &mut (u32, Instant)| {
            if e.1.elapsed() >= FORGET_AFTER {
                e.0 = 0;
            }
            e.0 += 1;
            e.1 = now;
        };
        bump(&mut self.by_account.entry(account.to_owned()).or_insert((0, now)));
        bump(&mut self.by_ip.entry(ip).or_insert((0, now)));
    }

    /// Records a successful login: the account's and IP's failures are cleared.
    pub fn succeeded(&self, account: &str, ip: IpAddr) {
        self.by_account.remove(account);
        self.by_ip.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_after_free_attempts() {
        let t = Throttle::default();
        let p = Policy { free: 2, base: Duration::from_secs(1), max: Duration::from_secs(5) };
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(t.delay(p, "a", ip), Duration::ZERO);
        t.failed("a", ip);
        t.failed("a", ip);
        assert_eq!(t.delay(p, "a", ip), Duration::from_secs(1));
        t.failed("a", ip);
        assert_eq!(t.delay(p, "a", ip), Duration::from_secs(2));
        for _ in 0..10 {
            t.failed("a", ip);
        }
        assert_eq!(t.delay(p, "a", ip), Duration::from_secs(5));
        // another account from the same IP is throttled too
        assert_eq!(t.delay(p, "b", ip), Duration::from_secs(5));
        t.succeeded("a", ip);
        assert_eq!(t.delay(p, "a", ip), Duration::ZERO);
    }
}
