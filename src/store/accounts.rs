//! Accounts as every engine keeps them: the rows, and the [`AccountStore`]
//! interface (part of [`super::Store`]).

use super::StoreResult;

/// One stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// Name as registered.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// SCRAM-SHA-256 credentials.
    pub scram: crate::accounts::password::ScramKeys,
    /// E-mail, if given.
    pub email: Option<String>,
    /// Unix time of creation.
    pub created_at: i64,
    /// Unix time of the last login.
    pub last_seen: Option<i64>,
}

/// What `list` shows of an account: name, created_at, last_seen, email.
pub type AccountSummary = (String, i64, Option<i64>, Option<String>);

/// What linking a certificate fingerprint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertfpAdd {
    /// Linked.
    Added,
    /// It was linked to this account already.
    Already,
    /// It is linked to another account.
    Taken,
    /// The account has the most fingerprints allowed.
    Full,
}

/// Accounts and their certificate fingerprints. Blocking, like all of
/// [`super::Store`]; keys are folded account names.
pub trait AccountStore: Send + Sync {
    /// Inserts an account; `Ok(false)` when the folded name is taken.
    fn insert(&self, folded: &str, row: &AccountRow) -> StoreResult<bool>;
    /// Looks an account up by folded name.
    fn get(&self, folded: &str) -> StoreResult<Option<AccountRow>>;
    /// Replaces the password of an account; `Ok(false)` if it does not exist.
    fn set_password(&self, folded: &str, hash: &str, scram: &crate::accounts::password::ScramKeys)
        -> StoreResult<bool>;
    /// Stores SCRAM keys for an account (derived at a password login, for an
    /// account that had none).
    fn set_scram(&self, folded: &str, scram: &crate::accounts::password::ScramKeys) -> StoreResult<()>;
    /// Removes every account's SCRAM keys (when SCRAM is turned off); returns
    /// how many accounts had some.
    fn clear_scram(&self) -> StoreResult<usize>;
    /// Deletes an account and its fingerprints; `Ok(false)` if it did not exist.
    fn delete(&self, folded: &str) -> StoreResult<bool>;
    /// Links a certificate fingerprint to an account that has fewer than `max`
    /// (checked and inserted at once, so concurrent adds cannot pass it).
    fn add_certfp(&self, folded: &str, fp: &str, max: usize) -> StoreResult<CertfpAdd>;
    /// Unlinks a fingerprint from an account; false if it was not linked to it.
    fn remove_certfp(&self, folded: &str, fp: &str) -> StoreResult<bool>;
    /// The fingerprints linked to an account, sorted.
    fn certfps(&self, folded: &str) -> StoreResult<Vec<String>>;
    /// The account (name as registered) a fingerprint is linked to.
    fn account_for_certfp(&self, fp: &str) -> StoreResult<Option<String>>;
    /// Records a login time.
    fn touch(&self, folded: &str, when: i64) -> StoreResult<()>;
    /// Every account, by name.
    fn list(&self) -> StoreResult<Vec<AccountSummary>>;
    /// Turns multiclient (several connections sharing the nick) on or off
    /// for an account; `Ok(false)` if it does not exist.
    fn set_multiclient(&self, folded: &str, on: bool) -> StoreResult<bool>;
    /// The accounts (folded names) that turned multiclient off.
    fn multiclient_off(&self) -> StoreResult<Vec<String>>;
}
