//! The one `Config` of a Confab process. Sources, lowest precedence first: built-in defaults,
//! the TOML file (`--config`), `CONFAB_*` environment variables, command-line flags (the last
//! two through clap, in `main.rs`). `Default` is the README's one-command embedded setup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use confab_core::contacts::ContactLimits;
use confab_core::groups::GroupLimits;
use confab_core::password::{PasswordLimits, ThrottlePolicy};
use confab_core::presence::PresenceLimits;
use confab_core::rooms::RoomLimits;
use confab_core::services::Limits;
use confab_core::store::AttributeLimits;
use confab_gateway::{GatewayConfig, SendRate};
use confab_rest::{DataCenter, PublicHost, PublicUrlError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the one HTTP listener serving REST and `/websocket`.
    pub listen: SocketAddr,
    /// Directory of the embedded database.
    pub data_dir: PathBuf,
    /// This node's number, 0 to 1022 (1023 is reserved for imported messages): the node bits
    /// of the message and session ids it allocates. Each node of a cluster needs its own;
    /// a single node keeps the default, 0.
    pub node_id: u16,
    /// Let `POST /{org}/{app}/users` register users without an app token (the SDK's `registerUser`).
    pub open_registration: bool,
    /// Largest total text in one message, in bytes (hosted default: 5 KB).
    pub max_text_bytes: usize,
    /// Largest attachment accepted by `POST /{org}/{app}/chatfiles`, in bytes (hosted default:
    /// 10 MB). Files are kept under `<data_dir>/files/`.
    pub max_attachment_bytes: u64,
    /// The `ffmpeg` that extracts video first frames (`?vframe=true`): a path, or a name looked
    /// up in `PATH`; empty disables them (the URL then answers 404). Scratch copies of videos
    /// go to `<data_dir>/tmp/`.
    pub video_frame_tool: String,
    /// Largest image, in pixels (`width × height` as its header declares), that is decoded
    /// for a thumbnail or a video's first frame; a larger one is served as it is. A decode
    /// holds about 4 bytes per pixel.
    pub thumbnail_max_pixels: u64,
    /// Thumbnails and video first frames decoded at once; a request that finds none free
    /// within 5 s gets the original.
    pub thumbnail_concurrency: usize,
    /// Largest WebSocket frame accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Metas per pull reply.
    pub page_size: u32,
    /// Lifetime of tokens from `POST /token` without a `ttl`, in seconds.
    pub default_token_ttl_secs: u32,
    /// Seconds after sending during which the sender may recall a message (hosted default:
    /// 120); 0 disables recall ("message recall disabled").
    pub recall_window_secs: u64,
    /// Contacts one user may have (hosted default: 3,000); past it an acceptance fails with
    /// "Inviter's/Invitee's contact max count" (the SDK's 50).
    pub max_contacts: u32,
    /// Users one user may block (hosted default: 500).
    pub max_blocked_users: u32,
    /// Bytes of one user's attributes, keys and values together (hosted: 2 KB).
    pub max_user_attribute_bytes: usize,
    /// Live presence subscriptions one user may hold (hosted: 3,000).
    pub max_presence_subscriptions: u32,
    /// The largest `maxusers` a group may have, its owner counted (hosted default: 3,000).
    pub max_group_members: u32,
    /// Groups one user may be in, their own included (hosted default: 600).
    pub max_joined_groups: u32,
    /// Admins of one group, the owner not counted (hosted default: 99).
    pub max_group_admins: u32,
    /// The largest `maxusers` a chat room may have, its owner counted (default 10,000).
    pub max_room_members: u32,
    /// Chat rooms one user may be in at once (default 100); past it a join fails with
    /// "has joined too many chatrooms" (the SDK's 50).
    pub max_joined_rooms: u32,
    /// Seconds a chat-room member whose last connection dropped stays in their rooms (hosted:
    /// 5 minutes); then the room hears `memberAbsence`.
    pub room_absence_grace_secs: u64,
    /// Whether members read a chat room's history (history roaming; hosted: off unless
    /// enabled). Room messages are stored either way (recall needs them).
    pub room_history: bool,
    /// Chat-room messages and events queued for the node's delivery task at most; past it
    /// senders wait (default 4,096).
    pub room_delivery_queue: usize,
    /// Attributes one chat room holds at most (hosted: 100); past it a new key is refused
    /// with "… is exceeding maximum limit" (the SDK's 50).
    pub max_room_attributes: u32,
    /// Bytes of one chat-room attribute's value at most (hosted: 4,096); a longer one is
    /// refused with "… is not Legal" (-3).
    pub max_room_attribute_value_bytes: usize,
    /// Seconds without any client frame before a connection is closed (the SDK pings every ~60 s).
    pub idle_timeout_secs: u64,
    /// Concurrent WebSocket connections.
    pub max_connections: usize,
    /// `[http]`: timeouts and limits of the HTTP listeners (plain and TLS).
    pub http: HttpConfig,
    /// `[sessions]`: limits of each WebSocket session and of each user's sessions.
    pub sessions: SessionsConfig,
    /// `[tls]`: a second listener serving the same routes over https/wss.
    pub tls: Option<TlsConfig>,
    /// `[[data_centers]]`: the public addresses `GET /easemob/server.json` hands out; none:
    /// derived from each request's `Host` and listener.
    pub data_centers: Vec<DataCenterConfig>,
    /// `[auth]`: how much password hashing may run at once, and how wrong passwords are
    /// slowed (password grants, password changes, console sign-in).
    pub auth: AuthConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Argon2 hashes or verifications running at once, over password grants, user creation,
    /// password changes and console sign-in (default: the number of CPU cores).
    pub max_concurrent_hashes: usize,
    /// Requests waiting for a hashing slot; past this they are answered at once with 429
    /// `too_many_requests` (the console: 429 `throttled`).
    pub max_waiting_hashes: usize,
    /// Wrong passwords for one user (or console admin) from one client address before that
    /// address is locked out of that account. Without the client address, counted per user.
    pub failures_before_lock: u32,
    /// Wrong passwords from one client address over all accounts before the address is
    /// locked; 0 turns the per-address lock off (behind a reverse proxy every client has the
    /// proxy's address).
    pub address_failures_before_lock: u32,
    /// The first lock, in seconds; each further failure doubles it.
    pub first_lock_secs: u64,
    /// The longest lock, in seconds.
    pub max_lock_secs: u64,
    /// Seconds after which failures are forgotten.
    pub failure_window_secs: u64,
    /// Accounts and addresses remembered with failures (a bound on memory).
    pub max_tracked_failures: usize,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        let limits = PasswordLimits::default();
        let throttle = limits.throttle;
        AuthConfig {
            max_concurrent_hashes: limits.max_concurrent_hashes,
            max_waiting_hashes: limits.max_waiting_hashes,
            failures_before_lock: throttle.account_failures,
            address_failures_before_lock: throttle.address_failures,
            first_lock_secs: throttle.first_lock.as_secs(),
            max_lock_secs: throttle.max_lock.as_secs(),
            failure_window_secs: throttle.window.as_secs(),
            max_tracked_failures: throttle.max_tracked,
        }
    }
}

impl AuthConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrent_hashes == 0 {
            return Err(ConfigError::Invalid(
                "auth.max_concurrent_hashes must be positive",
            ));
        }
        if self.failures_before_lock == 0 {
            return Err(ConfigError::Invalid(
                "auth.failures_before_lock must be positive",
            ));
        }
        if self.first_lock_secs == 0 || self.first_lock_secs > self.max_lock_secs {
            return Err(ConfigError::Invalid(
                "auth.first_lock_secs must be positive and at most auth.max_lock_secs",
            ));
        }
        if self.failure_window_secs == 0 {
            return Err(ConfigError::Invalid(
                "auth.failure_window_secs must be positive",
            ));
        }
        if self.max_tracked_failures < 2 {
            return Err(ConfigError::Invalid(
                "auth.max_tracked_failures must be at least 2",
            ));
        }
        Ok(())
    }

    pub(crate) fn password_limits(&self) -> PasswordLimits {
        PasswordLimits {
            max_concurrent_hashes: self.max_concurrent_hashes,
            max_waiting_hashes: self.max_waiting_hashes,
            throttle: self.throttle_policy(),
        }
    }

    pub(crate) fn throttle_policy(&self) -> ThrottlePolicy {
        ThrottlePolicy {
            account_failures: self.failures_before_lock,
            address_failures: self.address_failures_before_lock,
            first_lock: Duration::from_secs(self.first_lock_secs),
            max_lock: Duration::from_secs(self.max_lock_secs),
            window: Duration::from_secs(self.failure_window_secs),
            max_tracked: self.max_tracked_failures,
        }
    }
}

/// `[http]`. Upgraded WebSocket connections leave these timeouts behind (the gateway has its
/// own idle timer) but still count against `max_connections_per_ip` while open.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Seconds a connection gets to send a complete request head, counted from its first byte
    /// (or from accept, for a connection that sends nothing).
    pub header_read_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept between two requests.
    pub keep_alive_timeout_secs: u64,
    /// Seconds a client gets to finish the TLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// A request body must deliver at least this many bytes per `body_rate_window_secs`, or it
    /// is cut off with 408 (uploads included).
    pub body_min_bytes_per_window: u64,
    /// The window of `body_min_bytes_per_window`, in seconds.
    pub body_rate_window_secs: u64,
    /// Concurrent connections from one source address (HTTP and WebSocket); further ones are
    /// closed at accept.
    pub max_connections_per_ip: usize,
    /// Seconds that requests in flight get to finish after shutdown starts; connections still
    /// open then are dropped.
    pub shutdown_timeout_secs: u64,
    /// REST requests per second per app (a token bucket, per process); 0 disables the limit.
    pub rest_requests_per_sec: u32,
    /// Requests an app may make at once above the rate (the bucket's size).
    pub rest_burst: u32,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            header_read_timeout_secs: 10,
            keep_alive_timeout_secs: 60,
            tls_handshake_timeout_secs: 10,
            body_min_bytes_per_window: 1024,
            body_rate_window_secs: 10,
            max_connections_per_ip: 256,
            shutdown_timeout_secs: 10,
            rest_requests_per_sec: 2000,
            rest_burst: 4000,
        }
    }
}

impl HttpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let must_be_positive = [
            self.header_read_timeout_secs,
            self.keep_alive_timeout_secs,
            self.tls_handshake_timeout_secs,
            self.body_rate_window_secs,
            self.max_connections_per_ip as u64,
        ];
        if must_be_positive.contains(&0) {
            return Err(ConfigError::Invalid(
                "the [http] timeouts, body_rate_window_secs and max_connections_per_ip must be positive",
            ));
        }
        if self.rest_requests_per_sec > 0 && self.rest_burst == 0 {
            return Err(ConfigError::Invalid(
                "http.rest_burst must be positive while http.rest_requests_per_sec is set",
            ));
        }
        Ok(())
    }

    pub(crate) fn limits(&self) -> crate::http::HttpLimits {
        crate::http::HttpLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            keep_alive_timeout: Duration::from_secs(self.keep_alive_timeout_secs),
            tls_handshake_timeout: Duration::from_secs(self.tls_handshake_timeout_secs),
            body_min_bytes: self.body_min_bytes_per_window,
            body_window: Duration::from_secs(self.body_rate_window_secs),
            max_connections_per_ip: self.max_connections_per_ip,
        }
    }

    pub(crate) fn rest_rate(&self) -> confab_rest::RateLimit {
        confab_rest::RateLimit {
            per_second: self.rest_requests_per_sec,
            burst: self.rest_burst,
        }
    }
}

/// `[sessions]`: what one WebSocket session, and one user's sessions, may hold and send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// Concurrent sessions of one user (on this node). A login beyond it is refused with
    /// `TOO_MANY_DEVICES` (SDK: agora 2, easemob 214); a login on a resource already logged in
    /// replaces that session and does not count it.
    pub max_per_user: usize,
    /// Bytes of frames a session holds for its client; past it the session produces nothing
    /// more until the client reads.
    pub outbound_queue_bytes: usize,
    /// Seconds a write to the client may take; a client that does not read for longer is
    /// disconnected (and shown offline).
    pub write_timeout_secs: u64,
    /// Seconds a session keeps writing the acks it owes once shutdown starts, before closing
    /// (1 to 2: with a second for the SDK to take the acks in and one for the close handshake, it
    /// must fit in the 5 s sessions get).
    pub shutdown_flush_secs: u64,
    /// Messages one connection may send a second; 0: no limit. Beyond it a send is answered
    /// `FAIL "traffic control happened, retry later"`.
    pub connection_sends_per_sec: u32,
    /// Messages one connection may send at once after a pause (the bucket's size).
    pub connection_send_burst: u32,
    /// Messages one user may send a second over all its sessions (on this node); 0: no limit.
    pub user_sends_per_sec: u32,
    /// Messages one user may send at once after a pause.
    pub user_send_burst: u32,
    /// Days a device may stay away and still be delivered, at its next login, everything it
    /// missed. A device unseen for longer is forgotten (its next login is a new device's), and
    /// messages older than this leave the delivery logs (history roaming keeps them); checked
    /// hourly. 0: never. Default 7.
    pub device_retention_days: u32,
    /// Chat-room messages and events a session holds for a client that cannot take them as
    /// fast as they come; past it the lowest priority, oldest first, is dropped. Default 256.
    pub room_backlog: usize,
}

impl Default for SessionsConfig {
    fn default() -> SessionsConfig {
        let gateway = GatewayConfig::default();
        SessionsConfig {
            max_per_user: gateway.max_sessions_per_user,
            outbound_queue_bytes: gateway.outbound_queue_bytes,
            write_timeout_secs: gateway.write_timeout.as_secs(),
            shutdown_flush_secs: gateway.shutdown_flush_timeout.as_secs(),
            connection_sends_per_sec: gateway.connection_send_rate.per_second,
            connection_send_burst: gateway.connection_send_rate.burst,
            user_sends_per_sec: gateway.user_send_rate.per_second,
            user_send_burst: gateway.user_send_rate.burst,
            device_retention_days: 7,
            room_backlog: confab_core::bus::DEFAULT_ROOM_BACKLOG,
        }
    }
}

/// Sessions get this long to close once shutdown starts (`lib.rs`); their flush must fit in it.
pub(crate) const SESSION_DRAIN_SECS: u64 = 5;

impl SessionsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_per_user == 0 {
            return Err(ConfigError::Invalid(
                "sessions.max_per_user must be positive",
            ));
        }
        if !(1..=100_000).contains(&self.room_backlog) {
            return Err(ConfigError::Invalid(
                "sessions.room_backlog must be 1 to 100000",
            ));
        }
        if self.outbound_queue_bytes < 64 * 1024 {
            return Err(ConfigError::Invalid(
                "sessions.outbound_queue_bytes must be at least 65536",
            ));
        }
        if self.write_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "sessions.write_timeout_secs must be positive",
            ));
        }
        // After the flush, a second for the SDK to take the acks in and one for the close
        // handshake (session.rs).
        if self.shutdown_flush_secs == 0 || self.shutdown_flush_secs > SESSION_DRAIN_SECS - 3 {
            return Err(ConfigError::Invalid(
                "sessions.shutdown_flush_secs must be 1 to 2: sessions get 5 s to close",
            ));
        }
        if self.connection_sends_per_sec > 0 && self.connection_send_burst == 0 {
            return Err(ConfigError::Invalid(
                "sessions.connection_send_burst must be positive when connection_sends_per_sec is",
            ));
        }
        if self.user_sends_per_sec > 0 && self.user_send_burst == 0 {
            return Err(ConfigError::Invalid(
                "sessions.user_send_burst must be positive when user_sends_per_sec is",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Address of the https/wss listener.
    pub listen: SocketAddr,
    /// PEM certificate chain, leaf first (certbot's `fullchain.pem`).
    pub cert_file: PathBuf,
    /// PEM private key: PKCS#8, RSA (PKCS#1) or SEC1 (certbot's `privkey.pem`).
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataCenterConfig {
    /// Free text, for operators.
    pub name: String,
    /// Public REST base, `scheme://host[:port]` (port defaults to 443 / 80).
    pub rest: String,
    /// Public WebSocket URL, `wss://host[:port]/websocket` or `ws://…`.
    pub websocket: String,
}

/// 32 megapixels: a 24 MP camera's photo (6000 × 4000) is thumbnailed; a decode holds at
/// most ~128 MiB.
pub const DEFAULT_THUMBNAIL_MAX_PIXELS: u64 = 32_000_000;
/// Two decodes at once: ~256 MiB at most, and a core left for messages on a small host.
pub const DEFAULT_THUMBNAIL_CONCURRENCY: usize = 2;

/// The hosted service's attachment limit: 10 MB.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

impl Default for Config {
    fn default() -> Config {
        let limits = Limits::default();
        let gateway = GatewayConfig::default();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5280)),
            data_dir: PathBuf::from("./confab-data"),
            node_id: 0,
            open_registration: limits.open_registration,
            max_text_bytes: limits.max_text_bytes,
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
            video_frame_tool: "ffmpeg".to_owned(),
            thumbnail_max_pixels: DEFAULT_THUMBNAIL_MAX_PIXELS,
            thumbnail_concurrency: DEFAULT_THUMBNAIL_CONCURRENCY,
            max_frame_bytes: gateway.max_frame_bytes,
            page_size: limits.page_size,
            default_token_ttl_secs: limits.default_token_ttl_secs,
            recall_window_secs: limits.recall_window_secs,
            max_contacts: limits.contacts.max_contacts,
            max_blocked_users: limits.contacts.max_blocked,
            max_user_attribute_bytes: limits.max_user_attribute_bytes,
            max_presence_subscriptions: limits.presence.max_subscriptions,
            max_group_members: limits.groups.max_members,
            max_joined_groups: limits.groups.max_joined_groups,
            max_group_admins: limits.groups.max_admins,
            max_room_members: limits.rooms.max_members,
            max_joined_rooms: limits.rooms.max_joined_rooms,
            room_absence_grace_secs: limits.rooms.absence_grace.as_secs(),
            room_history: limits.rooms.history,
            room_delivery_queue: limits.rooms.delivery_queue,
            max_room_attributes: limits.rooms.attributes.max_count,
            max_room_attribute_value_bytes: limits.rooms.attributes.max_value_bytes,
            idle_timeout_secs: gateway.idle_timeout.as_secs(),
            max_connections: gateway.max_connections,
            http: HttpConfig::default(),
            sessions: SessionsConfig::default(),
            tls: None,
            data_centers: Vec::new(),
            auth: AuthConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid config: {0}")]
    Invalid(&'static str),
    #[error("invalid config: data center {name:?}: {source}")]
    DataCenter {
        name: String,
        source: PublicUrlError,
    },
}

impl Config {
    /// Defaults overlaid with the TOML file, if any.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if u64::from(self.node_id) >= confab_core::ids::IMPORT_NODE {
            return Err(ConfigError::Invalid(
                "node_id must be 0 to 1022 (1023 is reserved for imported messages)",
            ));
        }
        if self.max_frame_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_frame_bytes must be at least 1024",
            ));
        }
        if self.max_attachment_bytes == 0 {
            return Err(ConfigError::Invalid(
                "max_attachment_bytes must be positive",
            ));
        }
        if self.thumbnail_concurrency == 0 {
            return Err(ConfigError::Invalid(
                "thumbnail_concurrency must be positive",
            ));
        }
        if self.max_text_bytes == 0 || self.max_text_bytes >= self.max_frame_bytes {
            return Err(ConfigError::Invalid(
                "max_text_bytes must be positive and below max_frame_bytes",
            ));
        }
        if self.page_size == 0 || self.page_size > 1000 {
            return Err(ConfigError::Invalid("page_size must be 1 to 1000"));
        }
        if !(1..=100_000).contains(&self.max_contacts) {
            return Err(ConfigError::Invalid("max_contacts must be 1 to 100000"));
        }
        if !(1..=10_000).contains(&self.max_blocked_users) {
            return Err(ConfigError::Invalid("max_blocked_users must be 1 to 10000"));
        }
        if !(2..=100_000).contains(&self.max_group_members) {
            return Err(ConfigError::Invalid(
                "max_group_members must be 2 to 100000",
            ));
        }
        if !(1..=100_000).contains(&self.max_joined_groups) {
            return Err(ConfigError::Invalid(
                "max_joined_groups must be 1 to 100000",
            ));
        }
        if !(1..=10_000).contains(&self.max_group_admins) {
            return Err(ConfigError::Invalid("max_group_admins must be 1 to 10000"));
        }
        if !(2..=1_000_000).contains(&self.max_room_members) {
            return Err(ConfigError::Invalid(
                "max_room_members must be 2 to 1000000",
            ));
        }
        if !(1..=10_000).contains(&self.max_joined_rooms) {
            return Err(ConfigError::Invalid("max_joined_rooms must be 1 to 10000"));
        }
        if !(1..=10_000).contains(&self.max_room_attributes) {
            return Err(ConfigError::Invalid(
                "max_room_attributes must be 1 to 10000",
            ));
        }
        if !(1..=1_048_576).contains(&self.max_room_attribute_value_bytes) {
            return Err(ConfigError::Invalid(
                "max_room_attribute_value_bytes must be 1 to 1048576",
            ));
        }
        if !(1..=1_000_000).contains(&self.room_delivery_queue) {
            return Err(ConfigError::Invalid(
                "room_delivery_queue must be 1 to 1000000",
            ));
        }
        if !(1..=86_400).contains(&self.room_absence_grace_secs) {
            return Err(ConfigError::Invalid(
                "room_absence_grace_secs must be 1 to 86400",
            ));
        }
        if !(1..=100_000).contains(&self.max_presence_subscriptions) {
            return Err(ConfigError::Invalid(
                "max_presence_subscriptions must be 1 to 100000",
            ));
        }
        if !(1..=1 << 20).contains(&self.max_user_attribute_bytes) {
            return Err(ConfigError::Invalid(
                "max_user_attribute_bytes must be 1 to 1048576",
            ));
        }
        if self.idle_timeout_secs < 70 {
            return Err(ConfigError::Invalid(
                "idle_timeout_secs must be at least 70: the SDK pings about every 60 s",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid("max_connections must be positive"));
        }
        self.http.validate()?;
        self.sessions.validate()?;
        // Port 0 picks a free port for each listener.
        if self
            .tls
            .as_ref()
            .is_some_and(|tls| tls.listen == self.listen && self.listen.port() != 0)
        {
            return Err(ConfigError::Invalid(
                "tls.listen must differ from listen: each listener needs its own port",
            ));
        }
        self.auth.validate()?;
        self.data_centers()?;
        Ok(())
    }

    /// The `[[data_centers]]`, parsed into HttpDNS host entries.
    pub(crate) fn data_centers(&self) -> Result<Vec<DataCenter>, ConfigError> {
        self.data_centers
            .iter()
            .map(|center| {
                let invalid = |source| ConfigError::DataCenter {
                    name: center.name.clone(),
                    source,
                };
                Ok(DataCenter {
                    name: center.name.clone(),
                    rest: PublicHost::rest(&center.rest).map_err(invalid)?,
                    websocket: PublicHost::websocket(&center.websocket).map_err(invalid)?,
                })
            })
            .collect()
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_text_bytes: self.max_text_bytes,
            page_size: self.page_size,
            default_token_ttl_secs: self.default_token_ttl_secs,
            open_registration: self.open_registration,
            recall_window_secs: self.recall_window_secs,
            passwords: self.auth.password_limits(),
            contacts: ContactLimits {
                max_contacts: self.max_contacts,
                max_blocked: self.max_blocked_users,
            },
            max_user_attribute_bytes: self.max_user_attribute_bytes,
            presence: PresenceLimits {
                max_subscriptions: self.max_presence_subscriptions,
                ..PresenceLimits::default()
            },
            groups: GroupLimits {
                max_members: self.max_group_members,
                max_joined_groups: self.max_joined_groups,
                max_admins: self.max_group_admins,
                ..GroupLimits::default()
            },
            rooms: RoomLimits {
                max_members: self.max_room_members,
                max_joined_rooms: self.max_joined_rooms,
                absence_grace: Duration::from_secs(self.room_absence_grace_secs),
                history: self.room_history,
                delivery_queue: self.room_delivery_queue,
                attributes: AttributeLimits {
                    max_count: self.max_room_attributes,
                    max_value_bytes: self.max_room_attribute_value_bytes,
                    ..RoomLimits::default().attributes
                },
                ..RoomLimits::default()
            },
        }
    }

    pub(crate) fn gateway(&self) -> GatewayConfig {
        GatewayConfig {
            max_frame_bytes: self.max_frame_bytes,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
            max_sessions_per_user: self.sessions.max_per_user,
            outbound_queue_bytes: self.sessions.outbound_queue_bytes,
            write_timeout: Duration::from_secs(self.sessions.write_timeout_secs),
            shutdown_flush_timeout: Duration::from_secs(self.sessions.shutdown_flush_secs),
            connection_send_rate: SendRate {
                per_second: self.sessions.connection_sends_per_sec,
                burst: self.sessions.connection_send_burst,
            },
            user_send_rate: SendRate {
                per_second: self.sessions.user_sends_per_sec,
                burst: self.sessions.user_send_burst,
            },
            ..GatewayConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_toml_overrides_them() {
        Config::default().validate().unwrap();
        let config =
            Config::from_toml("listen = \"0.0.0.0:9000\"\nopen_registration = true").unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert!(config.open_registration);
        assert_eq!(config.max_text_bytes, 5 * 1024);
    }

    #[test]
    fn recall_window_defaults_to_the_hosted_two_minutes() {
        assert_eq!(Config::default().limits().recall_window_secs, 120);
        let config = Config::from_toml("recall_window_secs = 0").unwrap();
        assert_eq!(config.limits().recall_window_secs, 0);
    }

    #[test]
    fn auth_limits_default_and_come_from_their_section() {
        let defaults = Config::default();
        assert!(defaults.auth.max_concurrent_hashes >= 1);
        assert_eq!(defaults.auth.max_waiting_hashes, 64);
        assert_eq!(defaults.auth.failures_before_lock, 5);
        let config = Config::from_toml(
            "[auth]\nmax_concurrent_hashes = 2\naddress_failures_before_lock = 0\nfirst_lock_secs = 1",
        )
        .unwrap();
        config.validate().unwrap();
        let limits = config.limits().passwords;
        assert_eq!(limits.max_concurrent_hashes, 2);
        assert_eq!(limits.max_waiting_hashes, 64);
        assert_eq!(limits.throttle.address_failures, 0);
        assert_eq!(limits.throttle.first_lock, Duration::from_secs(1));
        assert_eq!(limits.throttle.max_lock, Duration::from_secs(300));
    }

    #[test]
    fn sessions_section_sets_the_gateway_limits_and_keeps_the_other_defaults() {
        let config = Config::from_toml(
            "[sessions]\nmax_per_user = 4\nwrite_timeout_secs = 5\nuser_sends_per_sec = 0",
        )
        .unwrap();
        config.validate().unwrap();
        let gateway = config.gateway();
        assert_eq!(gateway.max_sessions_per_user, 4);
        assert_eq!(gateway.write_timeout, Duration::from_secs(5));
        assert_eq!(gateway.user_send_rate.per_second, 0);
        let defaults = GatewayConfig::default();
        assert_eq!(gateway.outbound_queue_bytes, defaults.outbound_queue_bytes);
        assert_eq!(gateway.connection_send_rate, defaults.connection_send_rate);
        assert_eq!(
            Config::default().gateway().shutdown_flush_timeout,
            defaults.shutdown_flush_timeout
        );
    }

    #[test]
    fn tls_and_data_centers() {
        let config = Config::from_toml(
            r#"
            [tls]
            listen = "0.0.0.0:5443"
            cert_file = "/etc/letsencrypt/live/im.example.com/fullchain.pem"
            key_file = "/etc/letsencrypt/live/im.example.com/privkey.pem"

            [[data_centers]]
            name = "cn-east"
            rest = "https://im.example.com"
            websocket = "wss://im.example.com/websocket"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.tls.as_ref().unwrap().listen.port(), 5443);
        let centers = config.data_centers().unwrap();
        assert_eq!(centers[0].websocket.host, "im.example.com");
        assert_eq!(centers[0].rest.port, 443);

        let config = Config::from_toml(
            "[[data_centers]]\nname = \"x\"\nrest = \"https://a.test\"\nwebsocket = \"wss://a.test/ws\"",
        )
        .unwrap();
        let message = config.validate().unwrap_err().to_string();
        assert!(
            message.contains("\"x\"") && message.contains("/websocket"),
            "{message}"
        );
    }

    #[test]
    fn invalid_configs_fail_with_a_clear_message() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config/invalid");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let result = Config::load(Some(&path)).and_then(|config| config.validate());
            let message = result.expect_err(&path.display().to_string()).to_string();
            assert!(!message.is_empty());
            checked += 1;
        }
        assert!(checked >= 9);
    }
}
