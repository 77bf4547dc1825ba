//! Wiring: builds the store, bus, domain service and edges from a `Config`, serves them on the
//! plain listener and, with `[tls]`, on an https/wss one too, and shuts down in order. `main.rs` only parses arguments, sets up tracing and
//! passes the signal future in, so whole-server tests can call `run` directly.

pub mod config;
mod tls;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use axum::{extract::Request, routing::IntoMakeService, Extension, Router, ServiceExt};
use confab_console::ConsoleState;
use confab_core::{
    admin::{AdminError, AdminService},
    app::{App, NewApp},
    bus::{InProcessBus, SessionRegistry},
    chat::ChatService,
    now_ms,
    store::{AppStore, StoreError},
};
use confab_gateway::Gateway;
use confab_rest::{ListenerInfo, RestState, VideoFrames};
use confab_store_embedded::{DiskFileStore, EmbeddedStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::util::{MapRequest, MapRequestLayer};
use tower::Layer;

pub use config::Config;
pub use tls::TlsError;

/// How long sessions get to close after shutdown starts.
const SESSION_DRAIN: Duration = Duration::from_secs(config::SESSION_DRAIN_SECS);

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
    #[error("console admin: {0}")]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The bound sockets `run` serves: the plain one, and the TLS one when `config.tls` is set.
pub struct Listeners {
    pub http: TcpListener,
    pub tls: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(http: TcpListener) -> Listeners {
        Listeners { http, tls: None }
    }
}

/// Serves until `shutdown` resolves. `ready` is called with the plain listener's address once
/// both listeners accept requests (tests and the CLI's readiness lines use it).
pub async fn run(
    config: Config,
    listeners: impl Into<Listeners>,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    let listeners = listeners.into();
    // Certificate problems surface before anything else starts.
    let tls = match (&config.tls, listeners.tls) {
        (Some(tls), Some(listener)) => {
            Some((listener, tls::server_config(&tls.cert_file, &tls.key_file)?))
        }
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(config::ConfigError::Invalid(
                "a TLS listener needs [tls] in the config, and [tls] needs a TLS listener",
            )
            .into())
        }
    };
    tracing::info!(data_dir = %config.data_dir.display(), "opening embedded store");
    let store = Arc::new(EmbeddedStore::open(&config.data_dir)?);
    let registry = Arc::new(SessionRegistry::new());
    let bus = Arc::new(InProcessBus::new(registry.clone()));
    let chat = Arc::new(ChatService::start(store.clone(), bus, 0, config.limits()).await?);

    let cancel = CancellationToken::new();
    let gateway = Gateway::new(
        chat.clone(),
        registry.clone(),
        config.gateway(),
        cancel.clone(),
    );
    let router = gateway
        .router()
        .merge(confab_rest::router(Arc::new(RestState {
            chat: chat.clone(),
            registry: registry.clone(),
            data_centers: config.data_centers()?,
            chat_files: store.clone(),
            file_store: Arc::new(DiskFileStore::open(&config.data_dir.join("files"))?),
            max_attachment_bytes: config.max_attachment_bytes,
            part_uploads: Default::default(),
            video_frames: VideoFrames::new(
                (!config.video_frame_tool.is_empty())
                    .then(|| config.video_frame_tool.clone().into()),
                config.data_dir.join("tmp"),
            ),
        })));
    let admin = Arc::new(AdminService::new(chat.store().clone()));
    let setup_token = admin.issue_setup_token().await?;
    let router = router.merge(confab_console::router(Arc::new(ConsoleState {
        chat: chat.clone(),
        registry: registry.clone(),
        admin,
    })));

    let address = listeners.http.local_addr()?;
    // Small frames must not wait for the peer's delayed ACK (Nagle): up to 40 ms each.
    let http_listener = listeners.http.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    });
    let http = axum::serve(
        http_listener,
        listener_service(router.clone(), false, address),
    )
    .with_graceful_shutdown(cancel.clone().cancelled_owned());
    tracing::info!(%address, "serving REST and /websocket");
    let https = match tls {
        Some((listener, tls_config)) => {
            let tls_address = listener.local_addr()?;
            let listener = tls::TlsListener::new(listener, tls_config)?;
            tracing::info!(address = %tls_address, "serving REST and /websocket over TLS");
            Some(
                axum::serve(listener, listener_service(router, true, tls_address))
                    .with_graceful_shutdown(cancel.clone().cancelled_owned()),
            )
        }
        None => None,
    };
    ready(address);
    if let Some(token) = setup_token {
        // The one way in to a fresh deployment (or `confab admin create`); works once.
        tracing::warn!(
            "no console admin yet: open http://{address}/console/setup?token={} to create one",
            token.expose()
        );
    }
    // Both listeners stop accepting on the same token, which also closes the sessions.
    let serving = async move {
        let https = async move {
            match https {
                Some(server) => server.await,
                None => Ok(()),
            }
        };
        tokio::try_join!(http.into_future(), https).map(|_| ())
    };
    tokio::pin!(serving, shutdown);
    tokio::select! {
        result = &mut serving => result?,
        () = &mut shutdown => {
            tracing::info!("shutting down");
            cancel.cancel();
            serving.await?;
        }
    }
    tracing::info!("listeners closed; draining sessions");
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

type ListenerService = IntoMakeService<MapRequest<Router, fn(Request) -> Request>>;

/// One listener's service: the shared router behind path normalisation (which must see the
/// request before routing), with the listener recorded for `server.json`.
fn listener_service(router: Router, tls: bool, local_address: SocketAddr) -> ListenerService {
    let normalize: fn(Request) -> Request = confab_rest::normalize_path;
    let router = router.layer(Extension(ListenerInfo { tls, local_address }));
    ServiceExt::<Request>::into_make_service(MapRequestLayer::new(normalize).layer(router))
}

/// `confab app create`: stores a new app (or imports hosted credentials) and returns it.
pub async fn create_app(config: &Config, new_app: NewApp) -> Result<App, ServerError> {
    let store = EmbeddedStore::open(&config.data_dir)?;
    let app = App::create(new_app, now_ms())?;
    store.create_app(&app).await?;
    Ok(app)
}

/// `confab admin create`: stores a console administrator.
pub async fn create_admin(
    config: &Config,
    username: &str,
    password: String,
) -> Result<(), ServerError> {
    let store = Arc::new(EmbeddedStore::open(&config.data_dir)?);
    AdminService::new(store)
        .create_admin(username, password)
        .await?;
    Ok(())
}

/// `confab app list`.
pub async fn list_apps(config: &Config) -> Result<Vec<App>, ServerError> {
    let store = EmbeddedStore::open(&config.data_dir)?;
    Ok(store.list_apps().await?)
}
