//! Wiring: builds the store, bus, domain service and edges from a `Config`, serves them on one
//! listener, and shuts down in order. `main.rs` only parses arguments, sets up tracing and
//! passes the signal future in, so whole-server tests can call `run` directly.

pub mod config;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{extract::Request, ServiceExt};
use confab_core::{
    app::{App, NewApp},
    bus::{InProcessBus, SessionRegistry},
    chat::ChatService,
    now_ms,
    store::{AppStore, StoreError},
};
use confab_gateway::Gateway;
use confab_rest::RestState;
use confab_store_embedded::EmbeddedStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;

pub use config::Config;

/// How long sessions get to close after shutdown starts.
const SESSION_DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    #[error("startup: {0}")]
    Startup(#[from] confab_core::Error),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves until `shutdown` resolves. `ready` is called with the bound address once requests
/// are accepted (tests and the CLI's readiness line use it).
pub async fn run(
    config: Config,
    listener: TcpListener,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    tracing::info!(data_dir = %config.data_dir.display(), "opening embedded store");
    let store = Arc::new(EmbeddedStore::open(&config.data_dir)?);
    let registry = Arc::new(SessionRegistry::new());
    let bus = Arc::new(InProcessBus::new(registry.clone()));
    let chat = Arc::new(ChatService::start(store, bus, 0, config.limits()).await?);

    let cancel = CancellationToken::new();
    let gateway = Gateway::new(chat.clone(), registry, config.gateway(), cancel.clone());
    let router = gateway
        .router()
        .merge(confab_rest::router(Arc::new(RestState {
            chat: chat.clone(),
        })));
    // Path normalisation must see the request before the router does.
    let service =
        tower::util::MapRequestLayer::new(confab_rest::normalize_path::<axum::body::Body>)
            .layer(router);

    let address = listener.local_addr()?;
    tracing::info!(%address, "serving REST and /websocket");
    ready(address);
    let stop = cancel.clone();
    axum::serve(listener, ServiceExt::<Request>::into_make_service(service))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop.cancel();
        })
        .await?;
    tracing::info!("listener closed; draining sessions");
    cancel.cancel();
    if tokio::time::timeout(SESSION_DRAIN, gateway.drained())
        .await
        .is_err()
    {
        tracing::warn!("sessions did not close in time");
    }
    tracing::info!("stopped");
    Ok(())
}

/// `confab app create`: stores a new app (or imports hosted credentials) and returns it.
pub async fn create_app(config: &Config, new_app: NewApp) -> Result<App, ServerError> {
    let store = EmbeddedStore::open(&config.data_dir)?;
    let app = App::create(new_app, now_ms())?;
    store.create_app(&app).await?;
    Ok(app)
}

/// `confab app list`.
pub async fn list_apps(config: &Config) -> Result<Vec<App>, ServerError> {
    let store = EmbeddedStore::open(&config.data_dir)?;
    Ok(store.list_apps().await?)
}
