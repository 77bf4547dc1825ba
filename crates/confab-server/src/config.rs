//! The one `Config` of a Confab process. Sources, lowest precedence first: built-in defaults,
//! the TOML file (`--config`), `CONFAB_*` environment variables, command-line flags (the last
//! two through clap, in `main.rs`). `Default` is the README's one-command embedded setup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use confab_core::chat::Limits;
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
    /// Largest WebSocket frame accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Metas per pull reply.
    pub page_size: u32,
    /// Lifetime of tokens from `POST /token` without a `ttl`, in seconds.
    pub default_token_ttl_secs: u32,
    /// Seconds after sending during which the sender may recall a message (hosted default:
    /// 120); 0 disables recall ("message recall disabled").
    pub recall_window_secs: u64,
    /// Seconds without any client frame before a connection is closed (the SDK pings every ~60 s).
    pub idle_timeout_secs: u64,
    /// Concurrent WebSocket connections.
    pub max_connections: usize,
    /// `[sessions]`: limits of each WebSocket session and of each user's sessions.
    pub sessions: SessionsConfig,
    /// `[tls]`: a second listener serving the same routes over https/wss.
    pub tls: Option<TlsConfig>,
    /// `[[data_centers]]`: the public addresses `GET /easemob/server.json` hands out; none:
    /// derived from each request's `Host` and listener.
    pub data_centers: Vec<DataCenterConfig>,
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
    /// (1 to 3: with the close handshake it must fit in the 5 s sessions get).
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
        // The close handshake after the flush takes up to one more second.
        if self.shutdown_flush_secs == 0 || self.shutdown_flush_secs >= SESSION_DRAIN_SECS - 1 {
            return Err(ConfigError::Invalid(
                "sessions.shutdown_flush_secs must be 1 to 3: sessions get 5 s to close",
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

/// The hosted service's attachment limit: 10 MB.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

impl Default for Config {
    fn default() -> Config {
        let limits = Limits::default();
        let gateway = GatewayConfig::default();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5280)),
            data_dir: PathBuf::from("./confab-data"),
            open_registration: limits.open_registration,
            max_text_bytes: limits.max_text_bytes,
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
            video_frame_tool: "ffmpeg".to_owned(),
            max_frame_bytes: gateway.max_frame_bytes,
            page_size: limits.page_size,
            default_token_ttl_secs: limits.default_token_ttl_secs,
            recall_window_secs: limits.recall_window_secs,
            idle_timeout_secs: gateway.idle_timeout.as_secs(),
            max_connections: gateway.max_connections,
            sessions: SessionsConfig::default(),
            tls: None,
            data_centers: Vec::new(),
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
        if self.max_text_bytes == 0 || self.max_text_bytes >= self.max_frame_bytes {
            return Err(ConfigError::Invalid(
                "max_text_bytes must be positive and below max_frame_bytes",
            ));
        }
        if self.page_size == 0 || self.page_size > 1000 {
            return Err(ConfigError::Invalid("page_size must be 1 to 1000"));
        }
        if self.idle_timeout_secs < 70 {
            return Err(ConfigError::Invalid(
                "idle_timeout_secs must be at least 70: the SDK pings about every 60 s",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid("max_connections must be positive"));
        }
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
