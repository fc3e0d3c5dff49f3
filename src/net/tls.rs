//! TLS: loading the certificate and key into a rustls acceptor, and the
//! client certificate a connection may present (CertFP, for SASL EXTERNAL).

use crate::config::{Config, TlsConfig};
use std::sync::Arc;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use tokio_rustls::TlsAcceptor;

/// The acceptors the configured listeners need, built from the PEM files named
/// in `[tls]`: one for IRC over TLS, one for secure WebSocket. Built at start
/// and again on every reload, so a renewed certificate is read from disk.
#[derive(Clone, Default)]
pub struct Acceptors {
    /// For `tls.listen`; `None` without TLS listeners.
    pub irc: Option<TlsAcceptor>,
    /// For `[[websocket]]` blocks with `tls = true`; `None` without them.
    pub web: Option<TlsAcceptor>,
}

/// Loads the certificate and key for every TLS listener `config` has.
pub fn acceptors(config: &Config) -> Result<Acceptors, String> {
    let irc = if config.tls.listen.is_empty() { None } else { Some(acceptor(&config.tls)?) };
    let web = if config.websockets.iter().any(|w| w.tls) { Some(web_acceptor(&config.tls)?) } else { None };
    Ok(Acceptors { irc, web })
}

/// Builds the acceptor from the PEM files named in `[tls]`. It asks every
/// client for a certificate (CertFP).
pub fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, String> {
    build(cfg, true, Vec::new())
}

/// The acceptor of a WebSocket listener: the same certificate, HTTP/1.1 by
/// ALPN, and no request for a client certificate (a browser would ask its
/// user to pick one).
pub fn web_acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, String> {
    build(cfg, false, vec![b"http/1.1".to_vec()])
}

fn build(cfg: &TlsConfig, client_certs: bool, alpn: Vec<Vec<u8>>) -> Result<TlsAcceptor, String> {
    let (Some(cert_path), Some(key_path)) = (&cfg.cert, &cfg.key) else {
        return Err("tls.cert and tls.key are required for TLS listeners".into());
    };
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert_path.display()));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("{}: {e}", key_path.display()))?
        .ok_or_else(|| format!("{}: no private key found", key_path.display()))?;
    let provider: Arc<CryptoProvider> = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if client_certs {
        builder.with_client_cert_verifier(Arc::new(AnyClientCert(provider)))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls.cert {} and tls.key {}: {e}", cert_path.display(), key_path.display()))?;
    config.alpn_protocols = alpn;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The SHA-256 fingerprint of a DER certificate, as lowercase hex (the form
/// IRC servers and clients show as CertFP).
pub fn fingerprint(cert: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(cert);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    hex
}

/// Asks every client for a certificate and accepts any, self-signed
/// included: it is not trusted as a name, only remembered by fingerprint
/// (an account links the fingerprints it accepts). The handshake signature
/// is still checked, so the client holds the certificate's key. Clients
/// without one connect as before.
#[derive(Debug)]
struct AnyClientCert(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, tokio_rustls::rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(super::fingerprint(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
