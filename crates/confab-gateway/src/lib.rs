//! The msync WebSocket endpoint (`GET /websocket`): binary frames, one `MSync` each.
//!
//! One task per connection runs the session loop (`session.rs`); the frames it understands are
//! handled in `login.rs` (PROVISION) and `sync.rs` (SYNC, UNREAD); `traffic.rs` limits send
//! rates; `error.rs` maps domain errors to the status texts the SDKs match on.

mod error;
mod login;
mod presence;
mod pulls;
mod session;
mod sync;
mod traffic;

use std::sync::Arc;
use std::time::Duration;

use axum::{
    extract::{State, WebSocketUpgrade},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use confab_core::{
    accounts::AccountService, bus::SessionRegistry, messages::MessageService,
    presence::PresenceService, rooms::RoomService,
};
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Limits and timers of the socket edge.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest binary frame accepted; a larger one closes the connection with 1009.
    pub max_frame_bytes: usize,
    /// Time allowed between the upgrade and the PROVISION frame.
    pub provision_timeout: Duration,
    /// A connection with no inbound frame and no completed write for this long is closed. The
    /// SDK's heartbeat is an UNREAD after 30 s without a frame from the server (PROTOCOL.md
    /// §6.1), so a client that is written to (a chat-room member) may send nothing for long.
    pub idle_timeout: Duration,
    /// Concurrent connections; more are refused with 503 at the upgrade.
    pub max_connections: usize,
    /// Concurrent sessions of one user on this node; a login beyond it is refused with
    /// `TOO_MANY_DEVICES`. A login on a resource that already has a session replaces that one
    /// and does not count it.
    pub max_sessions_per_user: usize,
    /// Bytes of frames a session holds for its client (queued and being written). Past it the
    /// session stops producing more (no replies taken from its pipeline, no inbox events) until
    /// the client drains some; a client that does not is closed by `write_timeout`.
    pub outbound_queue_bytes: usize,
    /// A write to the client that has not completed for this long closes the session.
    pub write_timeout: Duration,
    /// At shutdown, how long a session keeps writing the replies it owes (acks of messages it
    /// stored) before it closes with 1001.
    pub shutdown_flush_timeout: Duration,
    /// Sends (metas) one connection may make.
    pub connection_send_rate: SendRate,
    /// Sends one user may make, over all its sessions on this node.
    pub user_send_rate: SendRate,
}

/// A token bucket: `per_second` tokens a second, at most `burst` saved up; `per_second` 0 is
/// no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRate {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            max_frame_bytes: 64 * 1024,
            provision_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 100_000,
            max_sessions_per_user: 16,
            outbound_queue_bytes: 1024 * 1024,
            write_timeout: Duration::from_secs(30),
            shutdown_flush_timeout: Duration::from_secs(2),
            // Generous: the benchmark's offline scenario sends 10,000 messages at once on one
            // connection, and its pingpong about 200 a second on each.
            connection_send_rate: SendRate {
                per_second: 1_000,
                burst: 10_000,
            },
            user_send_rate: SendRate {
                per_second: 2_000,
                burst: 20_000,
            },
        }
    }
}

/// Shared by every session of this node.
pub struct Gateway {
    /// Logins, kicks and the devices they record.
    accounts: Arc<AccountService>,
    /// Sends, pulls and unread counts.
    messages: Arc<MessageService>,
    /// Told of each device that comes online or goes offline.
    presence: Arc<PresenceService>,
    /// Chat-room joins and leaves (msync), and the absence of a user whose last session ends.
    rooms: Arc<RoomService>,
    registry: Arc<SessionRegistry>,
    config: GatewayConfig,
    connections: Arc<Semaphore>,
    shutdown: CancellationToken,
    sessions: TaskTracker,
    /// Send rates per user, shared by the user's sessions on this node.
    user_buckets: traffic::UserBuckets,
}

impl Gateway {
    pub fn new(
        accounts: Arc<AccountService>,
        messages: Arc<MessageService>,
        (presence, rooms): (Arc<PresenceService>, Arc<RoomService>),
        registry: Arc<SessionRegistry>,
        config: GatewayConfig,
        shutdown: CancellationToken,
    ) -> Arc<Gateway> {
        Arc::new(Gateway {
            connections: Arc::new(Semaphore::new(config.max_connections)),
            accounts,
            messages,
            presence,
            rooms,
            registry,
            config,
            shutdown,
            sessions: TaskTracker::new(),
            user_buckets: traffic::UserBuckets::default(),
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
