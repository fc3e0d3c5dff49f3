//! Accounts: the SQLite store, argon2id hashing, SASL mechanisms and login
//! throttling. Every blocking call (database, hashing) runs on tokio's blocking
//! pool so the async workers keep serving other clients.

pub mod password;
pub mod sasl;
pub mod store;
pub mod throttle;

use crate::config::Config;
use crate::state::casemap::Casemap;
use crate::state::client::Client;
use crate::state::Server;
use dashmap::DashMap;
use password::{Cost, ScramKeys};
use std::net::IpAddr;
use std::sync::Arc;
use store::{AccountRow, Store};

/// Why an account operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountError {
    /// The name is taken.
    Exists,
    /// The store failed; details are logged.
    Unavailable,
}

/// The account service.
pub struct Accounts {
    store: Option<Arc<Store>>,
    /// Folded name → name as registered; the in-memory index for nick protection.
    names: DashMap<String, String>,
    /// Failed-login throttle.
    pub throttle: throttle::Throttle,
    casemap: Casemap,
    decoy_secret: [u8; 32],
}

impl Accounts {
    /// Opens the store in `data_dir` and loads the name index.
    pub fn open(config: &Config) -> Result<Accounts, String> {
        let store = Store::open(&config.server.data_dir)?;
        let accounts = Self::with_store(Some(Arc::new(store)), config);
        Ok(accounts)
    }

    /// A service over `store` (`None`: accounts disabled, every call fails as unavailable).
    pub fn with_store(store: Option<Arc<Store>>, config: &Config) -> Accounts {
        let names = DashMap::new();
        let casemap = Casemap::from_name(&config.server.casemapping);
        if let Some(s) = &store {
            if let Ok(list) = s.list() {
                for (name, ..) in list {
                    names.insert(casemap.fold(&name), name);
                }
            }
        }
        Accounts { store, names, throttle: Default::default(), casemap, decoy_secret: rand::random() }
    }

    /// Re-reads the account names from the database, for accounts that
    /// `banterd account` created or deleted while the server ran: nick
    /// protection and REGISTER see the change afterwards. Blocking (SQLite):
    /// run it on the blocking pool. Returns (added, removed).
    pub fn reload_names(&self) -> Result<(usize, usize), String> {
        let store = self.store.as_ref().ok_or("accounts are unavailable")?;
        let listed: std::collections::HashMap<String, String> =
            store.list()?.into_iter().map(|(name, ..)| (self.casemap.fold(&name), name)).collect();
        let mut added = 0;
        for (folded, name) in &listed {
            if !self.names.contains_key(folded) {
                self.names.insert(folded.clone(), name.clone());
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
        if !self.names.contains_key(&folded) {
            return false;
        }
        client.info().account.as_deref().map(|a| self.casemap.fold(a)) != Some(folded)
    }

    fn store(&self) -> Result<Arc<Store>, AccountError> {
        self.store.clone().ok_or(AccountError::Unavailable)
    }

    /// Creates an account (hashing on the blocking pool).
    pub async fn register(
        &self,
        config: &Config,
        name: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<(), AccountError> {
        let folded = self.casemap.fold(name);
        if self.names.contains_key(&folded) {
            return Err(AccountError::Exists);
        }
        let store = self.store()?;
        let a = &config.accounts;
        let cost = Cost {
            memory_kib: a.argon2_memory_kib,
            iterations: a.argon2_iterations,
            parallelism: a.argon2_parallelism,
        };
        let iterations = a.scram_iterations;
        let (name_o, email_o, password_o, folded_o) =
            (name.to_owned(), email.map(str::to_owned), password.to_owned(), folded.clone());
        let inserted = blocking(move || {
            let hash = password::hash(&password_o, cost)?;
            let scram = password::scram_keys(&password_o, iterations);
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
        self.names.insert(folded, name.to_owned());
        tracing::info!(account = name, "account registered");
        Ok(())
    }

    /// Checks a password, with the throttle delay first. `Ok(Some(name))` on success.
    pub async fn check_password(
        &self,
        config: &Config,
        name: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<Option<String>, AccountError> {
        let folded = self.casemap.fold(name);
        let delay = self.throttle.delay(policy(config), &folded, ip);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let store = self.store()?;
        let (f, pw) = (folded.clone(), password.to_owned());
        let result = blocking(move || -> Result<Option<String>, String> {
            let Some(row) = store.get(&f)? else { return Ok(None) };
            if password::verify(&pw, &row.password_hash) {
                let _ = store.touch(&f, chrono::Utc::now().timestamp());
                Ok(Some(row.name))
            } else {
                Ok(None)
            }
        })
        .await?;
        self.record(&folded, ip, result.is_some());
        Ok(result)
    }

    /// Records a login attempt's outcome for the throttle.
    pub fn record(&self, folded: &str, ip: IpAddr, ok: bool) {
        if ok {
            self.throttle.succeeded(folded, ip);
        } else {
            tracing::info!(account = folded, %ip, "failed login");
            self.throttle.failed(folded, ip);
        }
    }

    /// The throttle delay for an account and IP under `config`.
    pub fn delay(&self, config: &Config, name: &str, ip: IpAddr) -> std::time::Duration {
        self.throttle.delay(policy(config), &self.casemap.fold(name), ip)
    }

    /// SCRAM keys for `name`, or decoy keys when it does not exist; with the name as registered.
    pub async fn scram_keys(&self, config: &Config, name: &str) -> Result<(Option<String>, ScramKeys), AccountError> {
        let store = self.store()?;
        let folded = self.casemap.fold(name);
        let row = blocking(move || store.get(&folded)).await?;
        Ok(match row {
            Some(r) => (Some(r.name), r.scram),
            None => (None, sasl::decoy_keys(name, config.accounts.scram_iterations, &self.decoy_secret)),
        })
    }

    /// Links certificate fingerprint `fp` to account `name`, which may have at
    /// most `max`.
    pub async fn add_certfp(&self, name: &str, fp: &str, max: usize) -> Result<store::CertfpAdd, AccountError> {
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

/// The throttle policy from config.
fn policy(config: &Config) -> throttle::Policy {
    let a = &config.accounts;
    throttle::Policy {
        free: a.throttle_free_attempts,
        base: std::time::Duration::from_secs(a.throttle_base_delay),
        max: std::time::Duration::from_secs(a.throttle_max_delay),
    }
}
