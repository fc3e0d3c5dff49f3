//! Failed-attempt throttling for logins and OPER: refuse, never sleep.
//!
//! Failures are counted per account (or oper name), per address and per
//! (account, address) pair. After `free` failures a key is locked for a delay
//! that doubles with each further failure, counted from the last one; an
//! attempt while a key that applies to it is locked is refused at once with
//! the time left, so parallel connections gain nothing by waiting in line
//! (a delay that slept let 32 connections make 38 guesses a minute on one
//! account). One attempt per account and per address may be in progress at a
//! time; another is refused as busy. An address with a clean record is not
//! kept waiting by another address's attempt on the account, though: an
//! attacker who keeps guesses in flight on an account must not lock its owner
//! out (each fresh address has its few free failures either way, so letting it
//! run beside others adds no guesses).
//!
//! What applies to an attempt from address A on account N:
//! - A's own failures (on any account), unless A is exempt (a shared gateway);
//! - the failures of the pair (N, A);
//! - N's failures from everywhere, but only if A has failed before: an address
//!   with a clean record still gets its attempt, so failures from elsewhere do
//!   not lock the owner out of their account.
//!
//! A success clears N's count and the pair's, never A's: logging in to one's
//! own account between guesses must not wipe the address's record.

use crate::state::ipkey::IpKey;
use dashmap::DashMap;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Throttle settings (from `[accounts]`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures before any lock.
    pub free: u32,
    /// First lock.
    pub base: Duration,
    /// Longest lock.
    pub max: Duration,
}

/// Failures are forgotten after this long without a new one.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Failures recorded between two sweeps of forgotten records.
const PRUNE_EVERY: u32 = 1024;

/// Why an attempt was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Locked after failures: try again after this long.
    Locked(Duration),
    /// Another attempt for the same account or from the same address is in progress.
    Busy,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
}

impl Record {
    fn live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last) < FORGET_AFTER
    }

    /// How long this record still locks, if it does.
    fn locked_for(&self, policy: Policy, now: Instant) -> Option<Duration> {
        if !self.live(now) || self.failures < policy.free {
            return None;
        }
        let exp = (self.failures - policy.free).min(16);
        let until = self.last + (policy.base * 2u32.pow(exp)).min(policy.max);
        (until > now).then(|| until - now)
    }

    fn failed(&mut self, now: Instant) {
        if !self.live(now) {
            self.failures = 0;
        }
        self.failures += 1;
        self.last = now;
    }
}

/// Failure counts and the attempts in progress.
#[derive(Debug, Default)]
pub struct Throttle {
    accounts: DashMap<String, Record>,
    addresses: DashMap<IpKey, Record>,
    pairs: DashMap<(String, IpKey), Record>,
    in_progress: Mutex<InProgress>,
    since_prune: AtomicU32,
}

#[derive(Debug, Default)]
struct InProgress {
    accounts: HashSet<String>,
    addresses: HashSet<IpKey>,
}

/// An attempt that was let through; report its outcome with [`Attempt::finish`].
/// Dropped without it, it only ends (nothing is recorded).
#[derive(Debug)]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    account: String,
    from: IpKey,
    exempt: bool,
    /// Whether this attempt holds the account's in-progress slot.
    holds_account: bool,
    started: Instant,
}

impl Throttle {
    /// Starts an attempt on `account` (folded) from `from`, or says why not.
    /// `exempt` addresses (`limits.exempt`, shared gateways) are judged by
    /// their pair and the account only, and may run attempts side by side.
    pub fn begin(
        &self,
        policy: Policy,
        account: &str,
        from: IpKey,
        exempt: bool,
        now: Instant,
    ) -> Result<Attempt<'_>, Refusal> {
        let (lock, clean) = self.judge(policy, account, from, exempt, now);
        if let Some(wait) = lock {
            return Err(Refusal::Locked(wait));
        }
        let mut busy = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        if (!clean && busy.accounts.contains(account)) || (!exempt && busy.addresses.contains(&from)) {
            return Err(Refusal::Busy);
        }
        // A clean address's attempt beside another takes no account slot.
        let holds_account = busy.accounts.insert(account.to_owned());
        if !exempt {
            busy.addresses.insert(from);
        }
        Ok(Attempt { throttle: self, account: account.to_owned(), from, exempt, holds_account, started: now })
    }

    /// How long an attempt on `account` from `from` would be refused for, if it would.
    pub fn locked_for(
        &self,
        policy: Policy,
        account: &str,
        from: IpKey,
        exempt: bool,
        now: Instant,
    ) -> Option<Duration> {
        self.judge(policy, account, from, exempt, now).0
    }

    /// How long an attempt would be refused for (if it would), and whether
    /// its address has a clean record (no failures of its own; for an exempt
    /// gateway, none of the pair).
    fn judge(
        &self,
        policy: Policy,
        account: &str,
        from: IpKey,
        exempt: bool,
        now: Instant,
    ) -> (Option<Duration>, bool) {
        let get = |r: Option<Record>| r.filter(|r| r.live(now));
        let address = if exempt { None } else { get(self.addresses.get(&from).map(|r| *r)) };
        let pair = get(self.pairs.get(&(account.to_owned(), from)).map(|r| *r));
        let clean = if exempt { pair.is_none() } else { address.is_none() };
        let account_rec = if clean { None } else { get(self.accounts.get(account).map(|r| *r)) };
        let lock = [address, pair, account_rec].into_iter().flatten().filter_map(|r| r.locked_for(policy, now)).max();
        (lock, clean)
    }

    fn record_failure(&self, account: &str, from: IpKey, exempt: bool, now: Instant) {
        let bump = |r: &mut Record| r.failed(now);
        let fresh = Record { failures: 0, last: now };
        bump(&mut self.accounts.entry(account.to_owned()).or_insert(fresh));
        bump(&mut self.pairs.entry((account.to_owned(), from)).or_insert(fresh));
        if !exempt {
            bump(&mut self.addresses.entry(from).or_insert(fresh));
        }
        if self.since_prune.fetch_add(1, Ordering::Relaxed) + 1 >= PRUNE_EVERY {
            self.since_prune.store(0, Ordering::Relaxed);
            self.accounts.retain(|_, r| r.live(now));
            self.addresses.retain(|_, r| r.live(now));
            self.pairs.retain(|_, r| r.live(now));
        }
    }

    fn record_success(&self, account: &str, from: IpKey) {
        self.accounts.remove(account);
        self.pairs.remove(&(account.to_owned(), from));
    }
}

impl Attempt<'_> {
    /// Records the outcome and ends the attempt.
    pub fn finish(self, ok: bool) {
        if ok {
            self.throttle.record_success(&self.account, self.from);
        } else {
            // Counted from when the attempt began (a hash earlier at most).
            self.throttle.record_failure(&self.account, self.from, self.exempt, self.started);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut busy = self.throttle.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        if self.holds_account {
            busy.accounts.remove(&self.account);
        }
        if !self.exempt {
            busy.addresses.remove(&self.from);
        }
    }
}

/// "1 second", "12 seconds", "3 minutes": how long to wait, for a reply.
pub fn wait_text(wait: Duration) -> String {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    match secs {
        0 | 1 => "1 second".to_owned(),
        s if s < 120 => format!("{s} seconds"),
        s => format!("{} minutes", s.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy { free: 2, base: Duration::from_secs(1), max: Duration::from_secs(5) };

    fn ip(i: u8) -> IpKey {
        IpKey::new([192, 0, 2, i].into(), 64)
    }

    fn fail(t: &Throttle, account: &str, from: IpKey, now: Instant) {
        t.begin(P, account, from, false, now).expect("let through").finish(false);
    }

    #[test]
    fn locks_after_free_failures_and_doubles() {
        let t = Throttle::default();
        let t0 = Instant::now();
        fail(&t, "a", ip(1), t0);
        fail(&t, "a", ip(1), t0);
        assert_eq!(t.begin(P, "a", ip(1), false, t0).unwrap_err(), Refusal::Locked(Duration::from_secs(1)));
        let t1 = t0 + Duration::from_secs(1);
        fail(&t, "a", ip(1), t1);
        assert_eq!(t.begin(P, "a", ip(1), false, t1).unwrap_err(), Refusal::Locked(Duration::from_secs(2)));
        // The address is locked for every account.
        assert!(matches!(t.begin(P, "b", ip(1), false, t1), Err(Refusal::Locked(_))));
        // A clean address still gets its attempt on the locked account.
        assert!(t.begin(P, "a", ip(2), false, t1).is_ok());
        // After the lock, one more attempt.
        assert!(t.begin(P, "a", ip(1), false, t1 + Duration::from_secs(2)).is_ok());
    }

    #[test]
    fn one_attempt_at_a_time_per_account_and_address() {
        let t = Throttle::default();
        let now = Instant::now();
        fail(&t, "x", ip(2), now);
        let first = t.begin(P, "a", ip(1), false, now).unwrap();
        // ip(2) has failed before: it waits for ip(1)'s attempt on "a".
        assert_eq!(t.begin(P, "a", ip(2), false, now).unwrap_err(), Refusal::Busy);
        assert_eq!(t.begin(P, "b", ip(1), false, now).unwrap_err(), Refusal::Busy);
        // Exempt addresses share no address slot.
        assert!(t.begin(P, "c", ip(9), true, now).is_ok());
        drop(first);
        assert!(t.begin(P, "a", ip(2), false, now).is_ok());
    }

    #[test]
    fn attempts_in_flight_do_not_lock_out_a_clean_address() {
        let t = Throttle::default();
        let now = Instant::now();
        let guess = t.begin(P, "owner", ip(1), false, now).unwrap();
        // The owner, from an address that never failed, is let through beside it...
        let owner = t.begin(P, "owner", ip(2), false, now).unwrap();
        // ...and takes no slot of the account: once the guess ends, an
        // address that has failed before may try while the owner's runs.
        drop(guess);
        fail(&t, "x", ip(3), now);
        assert!(t.begin(P, "owner", ip(3), false, now).is_ok());
        owner.finish(true);
    }

    #[test]
    fn success_clears_the_account_and_pair_but_not_the_address() {
        let t = Throttle::default();
        let t0 = Instant::now();
        fail(&t, "victim", ip(1), t0);
        fail(&t, "victim", ip(1), t0);
        let later = t0 + Duration::from_secs(1);
        // Logging in to one's own account from the same address...
        t.begin(P, "own", ip(1), false, later).unwrap().finish(true);
        // ...does not reset the address's record: its next failure locks again.
        fail(&t, "victim", ip(1), later);
        assert_eq!(t.begin(P, "other", ip(1), false, later).unwrap_err(), Refusal::Locked(Duration::from_secs(2)));
    }

    #[test]
    fn the_owners_success_unlocks_the_account() {
        let t = Throttle::default();
        let t0 = Instant::now();
        fail(&t, "victim", ip(1), t0);
        fail(&t, "victim", ip(1), t0);
        fail(&t, "x", ip(3), t0);
        // ip(3) has failed before, so the account's lock applies to it.
        assert!(matches!(t.begin(P, "victim", ip(3), false, t0), Err(Refusal::Locked(_))));
        t.begin(P, "victim", ip(2), false, t0).unwrap().finish(true);
        assert!(t.begin(P, "victim", ip(3), false, t0).is_ok());
    }

    #[test]
    fn wait_texts() {
        assert_eq!(wait_text(Duration::from_millis(300)), "1 second");
        assert_eq!(wait_text(Duration::from_millis(7300)), "8 seconds");
        assert_eq!(wait_text(Duration::from_secs(600)), "10 minutes");
    }
}
