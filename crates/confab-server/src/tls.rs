//! The https/wss listener's rustls (ring provider) configuration. `http.rs` serves it: each
//! handshake runs in its connection's own task with a deadline, so a slow or failing client
//! never holds up the accept loop, and its failure is only logged at debug.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::{
    self,
    pki_types::{
        pem::{Error as PemError, PemObject},
        CertificateDer, PrivateKeyDer,
    },
    ServerConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS certificate file {path}: {source}")]
    Certificate { path: PathBuf, source: PemError },
    #[error("TLS certificate file {path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("cannot read TLS key file {path}: {source}")]
    Key { path: PathBuf, source: PemError },
    #[error("TLS key file {path} holds no PEM private key (PKCS#8, RSA or SEC1)")]
    NoKey { path: PathBuf },
    #[error("TLS certificate {cert} with key {key}: {source}")]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// Reads the PEM chain and key and builds the server side of rustls (HTTP/1.1 only: axum is
/// built without HTTP/2, and WebSocket upgrades need HTTP/1.1 anyway).
pub(crate) fn server_config(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certificate_error = |source| TlsError::Certificate {
        path: cert_file.to_owned(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(certificate_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(certificate_error)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_file.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|source| match source {
        PemError::NoItemsFound => TlsError::NoKey {
            path: key_file.to_owned(),
        },
        source => TlsError::Key {
            path: key_file.to_owned(),
            source,
        },
    })?;
    let rejected = |source| TlsError::Rejected {
        cert: cert_file.to_owned(),
        key: key_file.to_owned(),
        source,
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(rejected)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(rejected)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
