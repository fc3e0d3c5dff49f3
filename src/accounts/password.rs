//! Password hashing: argon2id for login checks, and the SCRAM-SHA-256 keys
//! (RFC 5802 / RFC 7677) derived at the same time so SCRAM needs no clear text.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// SCRAM-SHA-256 server credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// Salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// H(ClientKey).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
}

/// HMAC-SHA-256.
pub fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// Hashes `password` with argon2id into a PHC string.
pub fn hash(password: &str, cost: Cost) -> Result<String, String> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).map_err(|e| e.to_string())?;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks `password` against a PHC string (parameters are read from the string).
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Whether a configured secret is an argon2id PHC hash rather than plain text.
pub fn is_phc_hash(configured: &str) -> bool {
    configured.starts_with("$argon2")
}

/// Checks `given` against a secret from the config file that is either an
/// argon2id hash (as `banterd hash-password` prints) or plain text, compared in
/// constant time. Hashing is slow: call it off the async threads.
pub fn check_configured(configured: &str, given: &str) -> bool {
    if is_phc_hash(configured) {
        verify(given, configured)
    } else {
        use subtle::ConstantTimeEq;
        configured.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

impl ScramKeys {
    /// No keys: stored when SCRAM is off (`accounts.scram = false`).
    pub fn none() -> ScramKeys {
        ScramKeys { salt: Vec::new(), iterations: 0, stored_key: Vec::new(), server_key: Vec::new() }
    }

    /// Whether these are real keys (not [`ScramKeys::none`]).
    pub fn is_some(&self) -> bool {
        self.iterations > 0 && !self.stored_key.is_empty()
    }
}

/// The SCRAM keys to store for `password` under `config`: none when SCRAM
/// is off, so that a stolen database holds nothing cheaper than argon2id.
pub fn stored_scram(password: &str, config: &crate::config::AccountsConfig) -> ScramKeys {
    if config.scram {
        scram_keys(password, config.scram_iterations)
    } else {
        ScramKeys::none()
    }
}

/// Derives SCRAM-SHA-256 keys for `password` with a fresh salt.
pub fn scram_keys(password: &str, iterations: u32) -> ScramKeys {
    let salt: [u8; 16] = rand::random();
    scram_keys_with_salt(password, &salt, iterations)
}

/// Derives SCRAM-SHA-256 keys with a given salt.
pub fn scram_keys_with_salt(password: &str, salt: &[u8], iterations: u32) -> ScramKeys {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    ScramKeys {
        salt: salt.to_vec(),
        iterations,
        stored_key: sha256(&client_key),
        server_key: hmac(&salted, b"Server Key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Cost = Cost { memory_kib: 64, iterations: 1, parallelism: 1 };

    #[test]
    fn argon2_round_trip() {
        let h = hash("correct horse", CHEAP).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("x", "not a hash"));
        assert!(check_configured(&h, "correct horse"));
        assert!(!check_configured(&h, "wrong"));
        assert!(check_configured("plain secret", "plain secret"));
        assert!(!check_configured("plain secret", "plain secreT"));
    }

    #[test]
    fn scram_rfc7677_vector() {
        // RFC 7677 section 3: user/pencil, salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let keys = scram_keys_with_salt("pencil", &salt, 4096);
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let server_sig = hmac(&keys.server_key, auth.as_bytes());
        assert_eq!(b64.encode(server_sig), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }
}
