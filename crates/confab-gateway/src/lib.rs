//! The msync WebSocket endpoint (`GET /websocket`): binary frames, one `MSync` each.
//!
//! One task per connection runs the session loop (`session.rs`); the frames it understands are
//! handled in `login.rs` (PROVISION) and `sync.rs` (SYNC, UNREAD); `error.rs` maps domain errors
//! to the status texts the SDKs match on.

mod error;
mod login;
mod pulls;
mod session;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use axum::{
    extract::{State, WebSocketUpgrade},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use confab_core::{bus::SessionRegistry, chat::ChatService};
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Limits and timers of the socket edge.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest binary frame accepted; a larger one closes the connection with 1009.
    pub max_frame_bytes: usize,
    /// Time allowed between the upgrade and the PROVISION frame.
    pub provision_timeout: Duration,
    /// A connection with no inbound frame for this long is closed. The SDK's heartbeat is an
    /// UNREAD about every 60 s of silence (PROTOCOL.md §6.1).
    pub idle_timeout: Duration,
    /// Concurrent connections; more are refused with 503 at the upgrade.
    pub max_connections: usize,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            max_frame_bytes: 64 * 1024,
            provision_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 100_000,
        }
    }
}

/// Shared by every session of this node.
pub struct Gateway {
    chat: Arc<ChatService>,
    registry: Arc<SessionRegistry>,
    config: GatewayConfig,
    connections: Arc<Semaphore>,
    shutdown: CancellationToken,
    sessions: TaskTracker,
}

impl Gateway {
    pub fn new(
        chat: Arc<ChatService>,
        registry: Arc<SessionRegistry>,
        config: GatewayConfig,
        shutdown: CancellationToken,
    ) -> Arc<Gateway> {
        Arc::new(Gateway {
            connections: Arc::new(Semaphore::new(config.max_connections)),
            chat,
            registry,
            config,
            shutdown,
            sessions: TaskTracker::new(),
        })
    }

    /// Waits for every session task to finish (after the shutdown token is cancelled).
    pub async fn drained(&self) {
        self.sessions.close();
        self.sessions.wait().await;
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/websocket", get(websocket_route))
            .with_state(self.clone())
    }
}

const READ_BUFFER_BYTES: usize = 2048;

/// # `GET /websocket`
///
/// No authentication on the upgrade: the SDK authenticates in its first frame (PROTOCOL.md §1.2).
async fn websocket_route(
    State(gateway): State<Arc<Gateway>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Ok(permit) = gateway.connections.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    // Frames a little over the limit still reach the session, which closes with a clear code;
    // far larger ones are cut off by the WebSocket layer itself.
    let transport_limit = gateway.config.max_frame_bytes.saturating_mul(4);
    upgrade
        // tungstenite's 128 KiB default read buffer is allocated per connection; msync
        // frames are small, and a large one is simply read in several chunks.
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(transport_limit)
        .max_frame_size(transport_limit)
        .on_upgrade(move |socket| {
            let tracker = gateway.sessions.clone();
            async move {
                tracker
                    .track_future(async move {
                        session::run(gateway, socket).await;
                        drop(permit);
                    })
                    .await;
            }
        })
}
