//! Accounts: the SQLite store, argon2id hashing, SASL mechanisms and login
//! throttling. Every blocking call (database, hashing) runs on tokio's blocking
//! pool so the async workers keep serving other clients.

pub mod hashing;
pub mod password;
pub mod sasl;
pub mod throttle;

use crate::config::Config;
use crate::state::casemap::Casemap;
use crate::state::client::Client;
use crate::state::ipkey::IpKey;
use crate::state::ratelimit::SlidingWindow;
use crate::state::Server;
use crate::store::{AccountRow, Store};
use dashmap::DashMap;
use password::{Cost, ScramKeys};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why an account operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountError {
    /// The name is taken.
    Exists,
    /// The store failed; details are logged.
    Unavailable,
    /// The hashing limit refused the work: try again shortly.
    Busy(hashing::Busy),
    /// The throttle refused the attempt.
    Refused(throttle::Refusal),
    /// The address registered `accounts.registrations_per_ip` accounts
    /// recently: one more after this long.
    TooManyRegistrations(std::time::Duration),
}

impl AccountError {
    /// What to tell the client, saying when to try again where that applies.
    pub fn text(&self) -> String {
        match self {
            AccountError::Exists => "That name is taken".into(),
            AccountError::Unavailable => "The account service is unavailable, try again later".into(),
            AccountError::Busy(hashing::Busy::Full) => {
                "The server is busy checking passwords, try again in a few seconds".into()
            }
            AccountError::Busy(hashing::Busy::Address) => {
                "Another password check from your address is in progress, try again in a second".into()
            }
            AccountError::Refused(throttle::Refusal::Locked(wait)) => {
                format!("Too many failed attempts, try again in {}", throttle::wait_text(*wait))
            }
            AccountError::TooManyRegistrations(wait) => {
                format!("Too many accounts registered from your address, try again in {}", throttle::wait_text(*wait))
            }
            AccountError::Refused(throttle::Refusal::Busy) => {
                "Another attempt for this name or from your address is in progress, try again in a second".into()
            }
        }
    }
}

/// Where a login or OPER attempt comes from.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// The address as per-address limits count it.
    pub key: IpKey,
    /// Whether the address is in `limits.exempt` (a trusted gateway): not
    /// throttled or limited as an address, only per account.
    pub exempt: bool,
}

/// The account service.
pub struct Accounts {
    store: Option<Arc<dyn Store>>,
    /// Folded name → when the account was last logged into (or created),
    /// Unix time: the in-memory index for nick protection and its expiry.
    names: DashMap<String, i64>,
    /// Folded names of the accounts that turned multiclient off (`NS SET
    /// MULTICLIENT OFF`), read at start-up.
    multiclient_off: dashmap::DashSet<String>,
    /// Accounts registered per address (`accounts.registrations_per_ip` per
    /// `accounts.registration_window`, read at start-up).
    registrations: SlidingWindow<IpKey>,
    /// Registrations counted since `registrations` last forgot quiet addresses.
    registered_since_prune: AtomicU32,
    /// Failed-login throttle.
    pub throttle: throttle::Throttle,
    /// Failed-OPER throttle, per oper name and address.
    pub oper_throttle: throttle::Throttle,
    /// The global limit on password hashing.
    pub hashing: hashing::HashPool,
    /// A hash of a random password at the configured cost, checked instead
    /// when an account or oper name does not exist, so that a wrong name takes
    /// as long as a wrong password.
    dummy_hash: Arc<DummyHash>,
    casemap: Casemap,
    decoy_secret: [u8; 32],
}

impl Accounts {
    /// How many accounts exist (the name index the server keeps in memory).
    pub fn count(&self) -> usize {
        self.names.len()
    }

    /// Opens the configured store and loads the name index.
    pub fn open(config: &Config) -> Result<Accounts, String> {
        Self::open_with(crate::store::location::Location::of(config).open()?, config)
    }

    /// The service over the server's `store`: removes stored SCRAM keys when
    /// SCRAM is off, and loads the name index.
    pub fn open_with(store: Arc<dyn Store>, config: &Config) -> Result<Accounts, String> {
        if !config.accounts.scram {
            let cleared = store.clear_scram()?;
            if cleared > 0 {
                tracing::warn!(accounts = cleared, "SCRAM is off (accounts.scram = false): stored SCRAM keys removed");
            }
        }
        let accounts = Self::with_store(Some(store), config);
        // Made now rather than at the first unknown name, which would
        // otherwise take a hash longer than the others.
        accounts.dummy_hash.get(cost(config));
        Ok(accounts)
    }

    /// A service over `store` (`None`: accounts disabled, every call fails as unavailable).
    pub fn with_store(store: Option<Arc<dyn Store>>, config: &Config) -> Accounts {
        let names = DashMap::new();
        let multiclient_off = dashmap::DashSet::new();
        let casemap = Casemap::from_name(&config.server.casemapping);
        if let Some(s) = &store {
            for folded in s.multiclient_off().unwrap_or_default() {
                multiclient_off.insert(folded);
            }
            if let Ok(list) = s.list() {
                for (name, created, last_seen, _) in list {
                    names.insert(casemap.fold(&name), last_seen.unwrap_or(created));
                }
            }
        }
        let hashing = hashing::HashPool::new(config.accounts.hash_threads, config.accounts.hash_queue);
        Accounts {
            store,
            names,
            multiclient_off,
            registrations: SlidingWindow::new(Duration::from_secs(config.accounts.registration_window.max(1))),
            registered_since_prune: AtomicU32::new(0),
            throttle: Default::default(),
            oper_throttle: Default::default(),
            hashing,
            dummy_hash: Arc::default(),
            casemap,
            decoy_secret: rand::random(),
        }
    }

    /// Re-reads the account names from the database, for accounts that
    /// `banterd account` created or deleted while the server ran: nick
    /// protection and REGISTER see the change afterwards. Blocking (SQLite):
    /// run it on the blocking pool. Returns (added, removed).
    pub fn reload_names(&self) -> Result<(usize, usize), String> {
        let store = self.store.as_ref().ok_or("accounts are unavailable")?;
        let listed: std::collections::HashMap<String, i64> = store
            .list()?
            .into_iter()
            .map(|(name, created, last_seen, _)| (self.casemap.fold(&name), last_seen.unwrap_or(created)))
            .collect();
        let mut added = 0;
        for (folded, last) in &listed {
            if !self.names.contains_key(folded) {
                self.names.insert(folded.clone(), *last);
                added += 1;
            }
        }
        // A name missing from the list is checked again on its own: an account
        // REGISTERed after the list was read must stay.
        let missing: Vec<String> =
            self.names.iter().filter(|e| !listed.contains_key(e.key())).map(|e| e.key().clone()).collect();
        let mut removed = 0;
        for folded in missing {
            if matches!(store.get(&folded), Ok(None)) {
                self.names.remove(&folded);
                removed += 1;
            }
        }
        Ok((added, removed))
    }

    /// Re-reads one account (created or deleted by another process) into the
    /// name index. Blocking: run it on the blocking pool.
    pub fn refresh_name(&self, folded: &str) -> Result<(), String> {
        let store = self.store.as_ref().ok_or("accounts are unavailable")?;
        match store.get(folded)? {
            Some(row) => {
                self.names.entry(folded.to_owned()).or_insert(row.last_seen.unwrap_or(row.created_at));
            }
            None => {
                self.names.remove(folded);
            }
        }
        Ok(())
    }

    /// Whether an account with this name exists.
    pub fn exists(&self, name: &str) -> bool {
        self.names.contains_key(&self.casemap.fold(name))
    }

    /// Whether `nick` is an account name that `client` may not use (nick protection on,
    /// and the client is not logged in to that account).
    pub fn nick_reserved_against(&self, server: &Server, nick: &str, client: &Client) -> bool {
        if !server.config().accounts.nick_protection {
            return false;
        }
        let folded = self.casemap.fold(nick);
        if !self.reserves(server, &folded) {
            return false;
        }
        client.info().account.as_deref().map(|a| self.casemap.fold(a)) != Some(folded)
    }

    /// Whether the account `folded` (if it exists) still reserves its name as
    /// a nick: not when nobody logged into it for `accounts.nick_reservation_days`.
    fn reserves(&self, server: &Server, folded: &str) -> bool {
        let Some(last) = self.names.get(folded).map(|e| *e) else { return false };
        match server.config().accounts.nick_reservation_days {
            0 => true,
            days => chrono::Utc::now().timestamp() - last < i64::from(days) * 86_400,
        }
    }

    /// Records a login to `account` now, for nick-reservation expiry: in
    /// memory, and in the database (off the async threads) when the last
    /// record is over an hour old: day-scale expiry needs no finer record,
    /// and most logins then write nothing (a REGISTER's login never does).
    pub fn seen(&self, account: &str) {
        const GRANULARITY: i64 = 3600;
        let folded = self.casemap.fold(account);
        let now = chrono::Utc::now().timestamp();
        let stale = match self.names.entry(folded.clone()) {
            dashmap::mapref::entry::Entry::Occupied(mut last) if now - *last.get() >= GRANULARITY => {
                last.insert(now);
                true
            }
            dashmap::mapref::entry::Entry::Occupied(_) => false,
            // Made with `banterd account` and not yet seen by a REHASH: known now.
            dashmap::mapref::entry::Entry::Vacant(slot) => {
                slot.insert(now);
                true
            }
        };
        if let Some(store) = self.store.clone().filter(|_| stale) {
            tokio::task::spawn_blocking(move || store.touch(&folded, now));
        }
    }

    fn store(&self) -> Result<Arc<dyn Store>, AccountError> {
        self.store.clone().ok_or(AccountError::Unavailable)
    }

    /// Creates an account (hashing under the hashing limit, for `from`).
    pub async fn register(
        &self,
        config: &Config,
        name: &str,
        email: Option<&str>,
        password: &str,
        from: Origin,
    ) -> Result<(), AccountError> {
        let folded = self.casemap.fold(name);
        if self.names.contains_key(&folded) {
            return Err(AccountError::Exists);
        }
        // Counted before hashing, and given back unless the account is made:
        // two REGISTERs from one address cannot both pass on the last place.
        let mut place = None;
        if !from.exempt {
            let limit = config.accounts.registrations_per_ip;
            self.registrations.hit(from.key, limit, Instant::now()).map_err(AccountError::TooManyRegistrations)?;
            place = Some(Place { window: &self.registrations, key: from.key, kept: false });
            if self.registered_since_prune.fetch_add(1, Ordering::Relaxed) + 1 >= PRUNE_EVERY {
                self.registered_since_prune.store(0, Ordering::Relaxed);
                self.registrations.prune(Instant::now());
            }
        }
        let store = self.store()?;
        let a = &config.accounts;
        let cost = cost(config);
        let (password_o, a) = (password.to_owned(), a.clone());
        let (hash, scram) = self
            .hash_job(from, move || {
                let hash = password::hash(&password_o, cost);
                (hash, password::stored_scram(&password_o, &a))
            })
            .await?;
        let hash = hash.map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AccountError::Unavailable
        })?;
        let (name_o, email_o, folded_o) = (name.to_owned(), email.map(str::to_owned), folded.clone());
        let inserted = blocking(move || {
            let row = AccountRow {
                name: name_o,
                password_hash: hash,
                scram,
                email: email_o,
                created_at: chrono::Utc::now().timestamp(),
                last_seen: None,
            };
            store.insert(&folded_o, &row)
        })
        .await?;
        if !inserted {
            return Err(AccountError::Exists);
        }
        if let Some(p) = place.as_mut() {
            p.kept = true;
        }
        self.names.insert(folded, chrono::Utc::now().timestamp());
        tracing::info!(account = name, from = %from.key, "account registered");
        crate::metrics::METRICS.registrations.inc();
        Ok(())
    }

    /// Checks a password under the login throttle: `Ok(Some(name))` on
    /// success, `Ok(None)` for a wrong password or an unknown account (which
    /// takes as long: it is checked against a dummy hash).
    pub async fn check_password(
        &self,
        config: &Config,
        name: &str,
        password: &str,
        from: Origin,
    ) -> Result<Option<String>, AccountError> {
        let folded = self.casemap.fold(name);
        let attempt = self
            .throttle
            .begin(policy(config), &folded, from.key, from.exempt, Instant::now())
            .map_err(AccountError::Refused)?;
        let store = self.store()?;
        let f = folded.clone();
        let row = blocking(move || store.get(&f)).await?;
        let (stored, found, has_scram) = match row {
            Some(r) => (r.password_hash, Some(r.name), r.scram.is_some()),
            None => (String::new(), None, false),
        };
        let known = found.is_some();
        // SCRAM is on but this account has no keys (made while it was off):
        // derive them from the password now, while it is at hand.
        let derive = known && !has_scram && config.accounts.scram;
        let (pw, dummy, cost, a) =
            (password.to_owned(), self.dummy_hash.clone(), cost(config), config.accounts.clone());
        let (ok, scram) = self
            .hash_job(from, move || {
                let dummy = (!known).then(|| dummy.get(cost));
                let ok = password::verify(&pw, dummy.as_deref().unwrap_or(&stored)) && known;
                (ok, (ok && derive).then(|| password::stored_scram(&pw, &a)))
            })
            .await?;
        attempt.finish(ok);
        if !ok {
            tracing::info!(account = %folded, from = %from.key, "failed login");
            crate::metrics::METRICS.login_failures.inc();
            return Ok(None);
        }
        if let Some(keys) = scram {
            let (store, f) = (self.store()?, folded.clone());
            let _ = blocking(move || store.set_scram(&f, &keys)).await;
        }
        Ok(found)
    }

    /// Checks an OPER attempt under the OPER throttle (per oper name and
    /// address). An unknown name, and a block with a plain-text password,
    /// are checked against the dummy hash too, so the time taken tells nothing.
    pub async fn check_oper(
        &self,
        config: &Config,
        name: &str,
        password: &str,
        from: Origin,
    ) -> Result<bool, AccountError> {
        let attempt = self
            .oper_throttle
            .begin(policy(config), name, from.key, from.exempt, Instant::now())
            .map_err(AccountError::Refused)?;
        let block = config.opers.iter().find(|o| o.name == name).cloned();
        let (pw, dummy, cost) = (password.to_owned(), self.dummy_hash.clone(), cost(config));
        let ok = self
            .hash_job(from, move || {
                let hash = block.as_ref().and_then(|b| b.password_hash.clone());
                let against = hash.map_or_else(|| dummy.get(cost), Arc::from);
                let hashed = password::verify(&pw, &against);
                match block {
                    Some(b) if b.password_hash.is_some() => hashed,
                    Some(b) => b.password.as_deref().is_some_and(|plain| password::check_configured(plain, &pw)),
                    None => false,
                }
            })
            .await?;
        attempt.finish(ok);
        Ok(ok)
    }

    /// Checks the connection password (`[server] password`) under the hashing limit.
    pub async fn check_server_password(
        &self,
        expected: String,
        given: String,
        from: Origin,
    ) -> Result<bool, AccountError> {
        self.hash_job(from, move || password::check_configured(&expected, &given)).await
    }

    /// Runs hashing work under the global limit; `from` may have one at a time
    /// unless it is exempt.
    async fn hash_job<T: Send + 'static>(
        &self,
        from: Origin,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AccountError> {
        let who = (!from.exempt).then_some(from.key);
        self.hashing.run(who, work).await.map_err(|busy| {
            tracing::info!(from = %from.key, ?busy, "password hashing refused");
            AccountError::Busy(busy)
        })
    }

    /// SCRAM keys for `name`, or decoy keys when it does not exist; with the name as registered.
    pub async fn scram_keys(&self, config: &Config, name: &str) -> Result<(Option<String>, ScramKeys), AccountError> {
        let store = self.store()?;
        let folded = self.casemap.fold(name);
        let row = blocking(move || store.get(&folded)).await?;
        Ok(match row {
            Some(r) if r.scram.is_some() => (Some(r.name), r.scram),
            _ => (None, sasl::decoy_keys(name, config.accounts.scram_iterations, &self.decoy_secret)),
        })
    }

    /// Links certificate fingerprint `fp` to account `name`, which may have at
    /// most `max`.
    pub async fn add_certfp(&self, name: &str, fp: &str, max: usize) -> Result<crate::store::CertfpAdd, AccountError> {
        let store = self.store()?;
        let (folded, fp) = (self.casemap.fold(name), fp.to_owned());
        blocking(move || store.add_certfp(&folded, &fp, max)).await
    }

    /// Unlinks `fp` from account `name`; false if it was not linked to it.
    pub async fn remove_certfp(&self, name: &str, fp: &str) -> Result<bool, AccountError> {
        let store = self.store()?;
        let (folded, fp) = (self.casemap.fold(name), fp.to_owned());
        blocking(move || store.remove_certfp(&folded, &fp)).await
    }

    /// Whether account `name` allows several connections to share its nick
    /// (on unless turned off with `NS SET MULTICLIENT OFF`).
    pub fn multiclient(&self, name: &str) -> bool {
        !self.multiclient_off.contains(&self.casemap.fold(name))
    }

    /// Turns multiclient on or off for account `name`, in the store and then
    /// in memory; false if the account does not exist.
    pub async fn set_multiclient(&self, name: &str, on: bool) -> Result<bool, AccountError> {
        let store = self.store()?;
        let folded = self.casemap.fold(name);
        let key = folded.clone();
        let found = blocking(move || store.set_multiclient(&key, on)).await?;
        if found && on {
            self.multiclient_off.remove(&folded);
        } else if found {
            self.multiclient_off.insert(folded);
        }
        Ok(found)
    }

    /// The fingerprints linked to account `name`.
    pub async fn certfps(&self, name: &str) -> Result<Vec<String>, AccountError> {
        let store = self.store()?;
        let folded = self.casemap.fold(name);
        blocking(move || store.certfps(&folded)).await
    }

    /// The account (name as registered) that certificate fingerprint `fp` logs in to.
    pub async fn account_for_certfp(&self, fp: &str) -> Result<Option<String>, AccountError> {
        let store = self.store()?;
        let fp = fp.to_owned();
        blocking(move || store.account_for_certfp(&fp)).await
    }

    /// Folds an account name.
    pub fn fold(&self, name: &str) -> String {
        self.casemap.fold(name)
    }
}

/// Runs blocking store or hashing work on tokio's blocking pool; a failure is
/// logged and reported as `Unavailable`.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, AccountError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "account store failed");
            Err(AccountError::Unavailable)
        }
        Err(_) => Err(AccountError::Unavailable),
    }
}

/// The argon2id cost from config.
fn cost(config: &Config) -> Cost {
    let a = &config.accounts;
    Cost { memory_kib: a.argon2_memory_kib, iterations: a.argon2_iterations, parallelism: a.argon2_parallelism }
}

/// Registrations counted between two sweeps of quiet addresses.
const PRUNE_EVERY: u32 = 256;

/// A place taken in the registration rate; given back on drop unless kept
/// (the REGISTER failed, or the client left before it ended).
struct Place<'a> {
    window: &'a SlidingWindow<IpKey>,
    key: IpKey,
    kept: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.window.undo(self.key, Instant::now());
        }
    }
}

/// The hash checked for names that do not exist: of a random password nobody
/// knows, at the cost new passwords are hashed with, so that checking it takes
/// as long as checking a real account's. Made again if REHASH changes the cost.
#[derive(Debug, Default)]
struct DummyHash(Mutex<Option<(Cost, Arc<str>)>>);

impl DummyHash {
    /// The dummy hash at `cost`, made first if needed (blocking: a hash).
    fn get(&self, cost: Cost) -> Arc<str> {
        if let Some((made, hash)) = &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            if *made == cost {
                return hash.clone();
            }
        }
        let secret: [u8; 16] = rand::random();
        let text: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let hash: Arc<str> = password::hash(&text, cost).unwrap_or_default().into();
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((cost, hash.clone()));
        hash
    }
}

/// The throttle policy from config.
pub fn policy(config: &Config) -> throttle::Policy {
    let a = &config.accounts;
    throttle::Policy {
        free: a.throttle_free_attempts,
        base: std::time::Duration::from_secs(a.throttle_base_delay),
        max: std::time::Duration::from_secs(a.throttle_max_delay),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dummy hash has the cost of the configuration (so checking it takes
    /// as long as checking an account made under it), and follows a change.
    #[test]
    fn the_dummy_hash_has_the_configured_cost() {
        let dummy = DummyHash::default();
        let cheap = Cost { memory_kib: 64, iterations: 1, parallelism: 1 };
        let first = dummy.get(cheap);
        assert!(first.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{first}");
        assert!(Arc::ptr_eq(&first, &dummy.get(cheap)), "made once per cost");
        let dearer = Cost { memory_kib: 128, iterations: 2, parallelism: 1 };
        assert!(dummy.get(dearer).starts_with("$argon2id$v=19$m=128,t=2,p=1$"));
        let real = password::hash("a real password", dearer).unwrap();
        let params = |phc: &str| phc.split('$').nth(3).map(str::to_owned);
        assert_eq!(params(&dummy.get(dearer)), params(&real));
    }
}
