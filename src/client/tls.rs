//! `--tls`: the rustls client configuration. Trusts the system's CA bundle
//! (or `SSL_CERT_FILE`) plus any `--tls-ca FILE`, so a self-signed server
//! works once its certificate is passed with `--tls-ca`.
//!
//! A `--tls-ca` certificate that is byte for byte the server's own is
//! accepted as pinned, without the chain and name rules: webpki refuses a
//! self-signed certificate marked as a CA (what `openssl req -x509` makes by
//! default) as a server certificate, yet the user said to trust exactly it.
//! The handshake signature is still checked against it, so only the holder of
//! its private key gets through.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where Linux and BSD distributions keep the CA bundle.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// Builds the client configuration, or says why it cannot.
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let env_bundle = std::env::var_os("SSL_CERT_FILE");
    let bundles = env_bundle.iter().map(Path::new).chain(SYSTEM_BUNDLES.iter().map(Path::new));
    if let Some(bundle) = bundles.into_iter().find(|p| p.is_file()) {
        // A bad certificate in the system bundle should not stop us.
        for cert in read_pem(bundle).unwrap_or_default() {
            let _ = roots.add(cert);
        }
    }
    let mut pinned = Vec::new();
    if let Some(path) = extra_ca {
        pinned = read_pem(path)?;
        if pinned.is_empty() {
            return Err(format!("{}: no PEM certificates in it", path.display()));
        }
        for cert in &pinned {
            // A certificate webpki cannot use as an anchor may still be pinned.
            let _ = roots.add(cert.clone());
        }
    }
    if roots.is_empty() {
        return Err("no trusted CA certificates found; pass --tls-ca FILE".to_string());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let verifier = Arc::new(PinnedOrWebPki { pinned, webpki });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts a pinned certificate as is; everything else goes through webpki.
#[derive(Debug)]
struct PinnedOrWebPki {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pinned.iter().any(|cert| cert.as_ref() == end_entity.as_ref()) {
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Reads every certificate in a PEM file.
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}
