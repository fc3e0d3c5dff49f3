//! `--tls`: the rustls client configuration. Trusts the system's CA bundle
//! (or `SSL_CERT_FILE`) plus any `--tls-ca FILE`, so a self-signed server
//! works once its certificate is passed with `--tls-ca`.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::{self, pki_types::CertificateDer, ClientConfig, RootCertStore};

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
    if let Some(path) = extra_ca {
        let certs = read_pem(path)?;
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificates in it", path.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    if roots.is_empty() {
        return Err("no trusted CA certificates found; pass --tls-ca FILE".to_string());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads every certificate in a PEM file.
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}
