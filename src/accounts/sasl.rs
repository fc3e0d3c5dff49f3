//! SASL mechanisms: PLAIN and SCRAM-SHA-256, as server-side state machines,
//! and EXTERNAL (the TLS client certificate's fingerprint, linked to an
//! account with `CERTFP ADD`).
//!
//! SCRAM is written here rather than taken from rsasl: the server side is three
//! small message parsers and two HMACs over keys we already store, and owning it
//! lets the database lookup and the throttle run between the steps without
//! blocking an async worker (rsasl's callbacks are synchronous).

use super::password::{hmac, sha256, ScramKeys};
use base64::Engine;
use subtle::ConstantTimeEq;

/// Mechanisms offered, in `sasl=` order.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "EXTERNAL"];

/// The mechanisms offered under `config`: SCRAM-SHA-256 only while
/// `accounts.scram` is on.
pub fn mechanisms(config: &crate::config::Config) -> Vec<&'static str> {
    MECHANISMS.iter().copied().filter(|m| config.accounts.scram || *m != "SCRAM-SHA-256").collect()
}

/// Largest decoded SASL payload accepted.
pub const MAX_PAYLOAD: usize = 8192;

/// The mechanism of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// RFC 7677.
    ScramSha256,
    /// RFC 4422 appendix A: the identity the TLS layer established.
    External,
}

impl Mechanism {
    /// Parses a mechanism name (case-insensitively).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            "EXTERNAL" => Some(Mechanism::External),
            _ => None,
        }
    }
}

/// Where a SCRAM exchange stands.
#[derive(Debug, Clone)]
pub enum ScramStage {
    /// Waiting for client-first.
    Start,
    /// Server-first sent; waiting for client-final.
    Sent {
        /// The name the client gave: failures are counted under it, whether
        /// or not such an account exists (as for PLAIN).
        user: String,
        /// The account asked for, if it exists.
        account: Option<String>,
        /// Its keys (made-up keys for unknown accounts, so the reply looks the same).
        keys: ScramKeys,
        /// `client-first-message-bare,server-first-message`.
        auth_prefix: String,
        /// The combined nonce.
        nonce: String,
        /// The GS2 header, for the channel-binding check.
        gs2: String,
    },
    /// Server-final sent; waiting for the client's empty response.
    Verified {
        /// The authenticated account.
        account: String,
    },
}

/// An AUTHENTICATE exchange in progress.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Base64 received so far for the current message (sent in 400-byte chunks).
    pub buffer: String,
    /// SCRAM progress.
    pub scram: ScramStage,
}

impl Exchange {
    /// A new exchange.
    pub fn new(mechanism: Mechanism) -> Exchange {
        Exchange { mechanism, buffer: String::new(), scram: ScramStage::Start }
    }
}

/// Decodes base64.
pub fn decode(b64: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Encodes base64.
pub fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Parses a PLAIN message into (authzid, authcid, password).
pub fn parse_plain(data: &[u8]) -> Option<(String, String, String)> {
    let s = std::str::from_utf8(data).ok()?;
    let mut parts = s.split('\0');
    let (authz, authc, pass) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || authc.is_empty() {
        return None;
    }
    Some((authz.to_owned(), authc.to_owned(), pass.to_owned()))
}

/// A parsed client-first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The GS2 header (`n,,` or `y,,`, with any authzid).
    pub gs2: String,
    /// The user name, unescaped.
    pub user: String,
    /// The client nonce.
    pub nonce: String,
    /// The message without the GS2 header.
    pub bare: String,
}

/// Parses client-first (`n,,n=user,r=nonce`); channel binding (`p=`) is refused.
pub fn parse_client_first(data: &[u8]) -> Option<ClientFirst> {
    let s = std::str::from_utf8(data).ok()?;
    let (flag, rest) = s.split_once(',')?;
    if flag != "n" && flag != "y" {
        return None;
    }
    let (authz, bare) = rest.split_once(',')?;
    let gs2 = format!("{flag},{authz},");
    let mut user = None;
    let mut nonce = None;
    for attr in bare.split(',') {
        if let Some(u) = attr.strip_prefix("n=") {
            user = Some(u.replace("=2C", ",").replace("=3D", "="));
        } else if let Some(r) = attr.strip_prefix("r=") {
            nonce = Some(r.to_owned());
        } else if attr.starts_with("m=") {
            return None;
        }
    }
    let (user, nonce) = (user?, nonce?);
    if user.is_empty() || nonce.is_empty() {
        return None;
    }
    Some(ClientFirst { gs2, user, nonce, bare: bare.to_owned() })
}

/// Builds server-first and the next stage for `first`, given the account's keys.
pub fn server_first(first: &ClientFirst, account: Option<String>, keys: ScramKeys) -> (String, ScramStage) {
    let server_nonce: [u8; 18] = rand::random();
    let nonce = format!("{}{}", first.nonce, encode(&server_nonce));
    let msg = format!("r={nonce},s={},i={}", encode(&keys.salt), keys.iterations);
    let auth_prefix = format!("{},{msg}", first.bare);
    (msg, ScramStage::Sent { user: first.user.clone(), account, keys, auth_prefix, nonce, gs2: first.gs2.clone() })
}

/// Checks client-final; on success returns the account and server-final.
pub fn verify_client_final(stage: &ScramStage, data: &[u8]) -> Option<(String, String)> {
    let ScramStage::Sent { account, keys, auth_prefix, nonce, gs2, .. } = stage else { return None };
    let s = std::str::from_utf8(data).ok()?;
    let (without_proof, proof_b64) = s.rsplit_once(",p=")?;
    let mut cbind = None;
    let mut r = None;
    for attr in without_proof.split(',') {
        if let Some(c) = attr.strip_prefix("c=") {
            cbind = Some(c);
        } else if let Some(v) = attr.strip_prefix("r=") {
            r = Some(v);
        }
    }
    if cbind? != encode(gs2.as_bytes()) || r? != nonce {
        return None;
    }
    let proof = decode(proof_b64)?;
    let auth_message = format!("{auth_prefix},{without_proof}");
    let client_sig = hmac(&keys.stored_key, auth_message.as_bytes());
    if proof.len() != client_sig.len() {
        return None;
    }
    let client_key: Vec<u8> = proof.iter().zip(&client_sig).map(|(a, b)| a ^ b).collect();
    let ok: bool = sha256(&client_key).ct_eq(&keys.stored_key).into();
    let account = account.clone()?;
    if !ok {
        return None;
    }
    let server_sig = hmac(&keys.server_key, auth_message.as_bytes());
    Some((account, format!("v={}", encode(&server_sig))))
}

/// Keys for an account that does not exist: deterministic per name, so probing
/// cannot tell a missing account from a wrong password.
pub fn decoy_keys(name: &str, iterations: u32, secret: &[u8]) -> ScramKeys {
    let salt = hmac(secret, name.as_bytes())[..16].to_vec();
    ScramKeys { salt, iterations, stored_key: vec![0; 32], server_key: vec![0; 32] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::password::scram_keys_with_salt;

    /// A minimal SCRAM-SHA-256 client for the test.
    fn client_final(password: &str, server_first: &str, client_first_bare: &str) -> String {
        let attrs: Vec<&str> = server_first.split(',').collect();
        let nonce = attrs[0].strip_prefix("r=").unwrap();
        let salt = decode(attrs[1].strip_prefix("s=").unwrap()).unwrap();
        let iters: u32 = attrs[2].strip_prefix("i=").unwrap().parse().unwrap();
        let keys = scram_keys_with_salt(password, &salt, iters);
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, iters, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = hmac(&keys.stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", encode(&proof))
    }

    #[test]
    fn scram_full_exchange() {
        let keys = scram_keys_with_salt("pencil", b"0123456789abcdef", 4096);
        let first = parse_client_first(b"n,,n=user,r=abc").unwrap();
        assert_eq!(first.user, "user");
        let (sf, stage) = server_first(&first, Some("user".into()), keys.clone());
        let cf = client_final("pencil", &sf, &first.bare);
        let (acct, v) = verify_client_final(&stage, cf.as_bytes()).unwrap();
        assert_eq!(acct, "user");
        assert!(v.starts_with("v="));
        let bad = client_final("pencil2", &sf, &first.bare);
        assert!(verify_client_final(&stage, bad.as_bytes()).is_none());
    }

    #[test]
    fn plain_parsing() {
        assert_eq!(parse_plain(b"\0jilles\0sesame").unwrap().1, "jilles");
        assert!(parse_plain(b"nonul").is_none());
        assert!(parse_plain(b"\0\0pw").is_none());
    }

    #[test]
    fn channel_binding_refused() {
        assert!(parse_client_first(b"p=tls-unique,,n=u,r=x").is_none());
    }
}
