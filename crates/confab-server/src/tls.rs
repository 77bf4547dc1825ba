//! The https/wss listener: rustls (ring provider) in front of a `TcpListener`, plugged into
//! `axum::serve` as a `Listener`, so it serves the same router and shuts down with the plain one.
//!
//! Handshakes run in their own tasks with a deadline: a slow or failing client never holds up
//! the accept loop, and its failure is only logged at debug.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::{
    self,
    pki_types::{
        pem::{Error as PemError, PemObject},
        CertificateDer, PrivateKeyDer,
    },
    ServerConfig,
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Time a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for `axum::serve` to take them.
const ACCEPTED_BACKLOG: usize = 64;

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

/// Connections that completed their handshake. Dropping it (when `axum::serve` stops) ends the
/// accept loop and closes the port.
pub(crate) struct TlsListener {
    local_address: SocketAddr,
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    _stop_accepting: DropGuard,
}

impl TlsListener {
    pub(crate) fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<TlsListener> {
        let local_address = listener.local_addr()?;
        let (sender, accepted) = mpsc::channel(ACCEPTED_BACKLOG);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(config),
            sender,
            stop.clone(),
        ));
        Ok(TlsListener {
            local_address,
            accepted,
            _stop_accepting: stop.drop_guard(),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accept loop ends only once this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_address)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    accepted: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    stop: CancellationToken,
) {
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            result = listener.accept() => match result {
                Ok(connection) => connection,
                Err(error) => {
                    accept_error(error).await;
                    continue;
                }
            },
        };
        // Small frames must not wait for the peer's delayed ACK (Nagle): up to 40 ms each.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %peer, "TCP_NODELAY not set");
        }
        let acceptor = acceptor.clone();
        let accepted = accepted.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            let result = tokio::select! {
                () = stop.cancelled() => return,
                result = handshake => result,
            };
            match result {
                Ok(Ok(tls)) => {
                    // Fails only when the server stopped; the connection is then dropped.
                    let _ = accepted.send((tls, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// As axum does for plain TCP: a vanished client is nothing; anything else (such as running
/// out of file descriptors) is logged and followed by a pause instead of a busy loop.
async fn accept_error(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "TLS listener: accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
