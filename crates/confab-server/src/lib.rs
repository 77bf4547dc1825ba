//! Wiring: builds the store, bus, feature services (`Services`) and edges from a `Config`, serves them on the
//! plain listener and, with `[tls]`, on an https/wss one too, and shuts down in order. `main.rs` only parses arguments, sets up tracing and
//! passes the signal future in, so whole-server tests can call `run` directly.

pub mod config;
mod http;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{extract::Request, http::StatusCode, routing, Extension, Json, Router};
use confab_console::ConsoleState;
use confab_core::{
    admin::{AdminError, AdminService},
    app::{App, AppService, NewApp},
    bus::{InProcessBus, SessionRegistry},
    messages::MessageService,
    now_ms,
    password::PasswordWork,
    presence::LocalPresence,
    providers::Providers,
    rooms::RoomService,
    services::Services,
    store::{AdminStore, AppStore, StoreError},
};
use confab_gateway::Gateway;
use confab_rest::{ListenerInfo, RestState, Thumbnails, VideoFrames};
use confab_store_embedded::{DiskFileStore, EmbeddedStore};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
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
    run_with_providers(config, listeners, Providers::default(), ready, shutdown).await
}

/// `run`, with translation and speech providers (Confab ships none; a deployment that has one
/// builds its own binary around this).
pub async fn run_with_providers(
    config: Config,
    listeners: impl Into<Listeners>,
    providers: Providers,
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
    // One node: the bus delivers into this node's registry, and presence reads it.
    let registry = Arc::new(SessionRegistry::with_room_backlog(
        config.node_id,
        config.sessions.room_backlog,
    ));
    let bus = Arc::new(InProcessBus::new(registry.clone()));
    let presence = Arc::new(LocalPresence::new(registry.clone()));
    let services = Services::start(
        store.clone(),
        bus,
        presence,
        config.node_id,
        config.limits(),
    )
    .await?;

    let cancel = CancellationToken::new();
    let gateway = Gateway::new(
        services.accounts.clone(),
        services.messages.clone(),
        (services.presence.clone(), services.rooms.clone()),
        registry.clone(),
        config.gateway(),
        cancel.clone(),
    );
    let router = gateway
        .router()
        .merge(confab_rest::router(Arc::new(RestState {
            apps: services.apps.clone(),
            accounts: services.accounts.clone(),
            messages: services.messages.clone(),
            conversations: services.conversations.clone(),
            contacts: services.contacts.clone(),
            groups: services.groups.clone(),
            rooms: services.rooms.clone(),
            threads: services.threads.clone(),
            reports: services.reports.clone(),
            notifications: services.notifications.clone(),
            presence: services.presence.clone(),
            translator: providers.translator,
            speech: providers.speech,
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
            thumbnails: Thumbnails::new(config.thumbnail_max_pixels, config.thumbnail_concurrency),
            rate_limit: config.http.rest_rate(),
        })));
    let admin = Arc::new(AdminService::new(
        store.clone() as Arc<dyn AdminStore>,
        services.accounts.password_work().clone(),
        config.auth.throttle_policy(),
    ));
    let setup_token = admin.issue_setup_token().await?;
    let router = router.merge(confab_console::router(Arc::new(ConsoleState {
        apps: services.apps.clone(),
        accounts: services.accounts.clone(),
        overview: services.overview.clone(),
        reports: services.reports.clone(),
        admin,
    })));

    let address = listeners.http.local_addr()?;
    let connections = http::Connections::new(config.http.limits(), cancel.clone());
    let router = router.merge(health_router(services.apps.clone(), cancel.clone()));
    let http = http::serve(
        listeners.http,
        listener_service(router.clone(), false, address),
        None,
        connections.clone(),
    );
    tracing::info!(%address, version = env!("CARGO_PKG_VERSION"), build = env!("CONFAB_BUILD"), "serving REST and /websocket");
    let https = match tls {
        Some((listener, tls_config)) => {
            let tls_address = listener.local_addr()?;
            tracing::info!(address = %tls_address, "serving REST and /websocket over TLS");
            Some(http::serve(
                listener,
                listener_service(router, true, tls_address),
                Some(TlsAcceptor::from(tls_config)),
                connections.clone(),
            ))
        }
        None => None,
    };
    tokio::spawn(keep_rooms(
        services.rooms.clone(),
        services.apps.clone(),
        cancel.clone(),
    ));
    if config.sessions.device_retention_days > 0 {
        let retention =
            Duration::from_secs(u64::from(config.sessions.device_retention_days) * 86_400);
        tokio::spawn(reclaim_hourly(
            services.messages.clone(),
            retention,
            cancel.clone(),
        ));
    }
    ready(address);
    if let Some(token) = setup_token {
        // The one way in to a fresh deployment (or `confab admin create`); works once.
        tracing::warn!(
            "no console admin yet: open http://{address}/console/setup?token={} to create one",
            token.expose()
        );
    }
    // Both accept loops stop on the same token, which also closes the sessions and turns
    // `/readyz` to 503.
    let serving = async move {
        let https = async move {
            if let Some(server) = https {
                server.await;
            }
        };
        tokio::join!(http, https);
    };
    tokio::pin!(serving, shutdown);
    tokio::select! {
        () = &mut serving => {}
        () = &mut shutdown => {
            tracing::info!("shutting down");
            cancel.cancel();
            serving.await;
        }
    }
    cancel.cancel();
    tracing::info!("listeners closed; finishing requests in flight and draining sessions");
    let requests_deadline = Duration::from_secs(config.http.shutdown_timeout_secs);
    let sessions = tokio::time::timeout(SESSION_DRAIN, gateway.drained());
    let (requests_finished, sessions) =
        tokio::join!(connections.drain(requests_deadline), sessions);
    if !requests_finished {
        tracing::warn!("HTTP requests still open at the shutdown deadline were dropped");
    }
    if sessions.is_err() {
        tracing::warn!("sessions did not close in time");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Forgets devices unseen for `retention` and drops older entries from the delivery logs: a
/// minute after start, then hourly, until shutdown.
/// How often, at most, members absent from their rooms past the grace are looked for (half
/// the grace when that is shorter, so a member goes at most half a grace late).
const ROOM_SWEEP_EVERY: Duration = Duration::from_secs(15);

/// Reads who is in every room into this node's index, then removes the members absent past
/// the grace, every `ROOM_SWEEP_EVERY` (each sweep a batch; while sweeps remove some, the
/// next follows at once).
async fn keep_rooms(rooms: Arc<RoomService>, apps: Arc<AppService>, cancel: CancellationToken) {
    match apps.list_apps().await {
        Ok(apps) => {
            for app in apps {
                if let Err(error) = rooms.load_index(&app.key).await {
                    tracing::warn!(%error, app = %app.key, "room members not read");
                }
            }
        }
        Err(error) => tracing::warn!(%error, "apps not read for the room index"),
    }
    let every = (rooms.limits().absence_grace / 2).clamp(Duration::from_secs(1), ROOM_SWEEP_EVERY);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        loop {
            match rooms.sweep_absent().await {
                Ok(0) => break,
                Ok(removed) => tracing::info!(removed, "absent room members removed"),
                Err(error) => {
                    tracing::warn!(%error, "sweeping absent room members failed");
                    break;
                }
            }
            if cancel.is_cancelled() {
                return;
            }
        }
    }
}

async fn reclaim_hourly(
    messages: Arc<MessageService>,
    retention: Duration,
    cancel: CancellationToken,
) {
    let mut next = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        match messages.reclaim(retention).await {
            Ok(reclaimed) => tracing::info!(
                devices = reclaimed.devices,
                entries = reclaimed.entries,
                "delivery logs reclaimed"
            ),
            Err(error) => tracing::warn!(%error, "reclaiming delivery logs failed"),
        }
        next = tokio::time::Instant::now() + Duration::from_secs(3600);
    }
}

/// `GET /healthz` (the process answers and the store takes a write) and `GET /readyz` (503
/// once shutdown began, so a load balancer stops sending). No auth: load balancers call them.
fn health_router(apps: Arc<AppService>, shutdown: CancellationToken) -> Router {
    let healthz = move || {
        let apps = apps.clone();
        async move {
            match apps.record_health_check().await {
                Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
                Err(error) => {
                    tracing::error!(%error, "health check: the store is not writable");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(json!({ "status": "store_unwritable" })),
                    )
                }
            }
        }
    };
    let readyz = move || {
        let draining = shutdown.is_cancelled();
        async move {
            if draining {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "status": "draining" })),
                )
            } else {
                (StatusCode::OK, Json(json!({ "status": "ok" })))
            }
        }
    };
    Router::new()
        .route("/healthz", routing::get(healthz))
        .route("/readyz", routing::get(readyz))
}

type ListenerService = MapRequest<Router, fn(Request) -> Request>;

/// One listener's service: the shared router behind path normalisation (which must see the
/// request before routing), with the listener recorded for `server.json`.
fn listener_service(router: Router, tls: bool, local_address: SocketAddr) -> ListenerService {
    let normalize: fn(Request) -> Request = confab_rest::normalize_path;
    let router = router.layer(Extension(ListenerInfo { tls, local_address }));
    MapRequestLayer::new(normalize).layer(router)
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
    let work = Arc::new(PasswordWork::new(&config.auth.password_limits()));
    AdminService::new(store, work, config.auth.throttle_policy())
        .create_admin(username, password)
        .await?;
    Ok(())
}

/// `confab app list`.
pub async fn list_apps(config: &Config) -> Result<Vec<App>, ServerError> {
    let store = EmbeddedStore::open(&config.data_dir)?;
    Ok(store.list_apps().await?)
}
