//! The one `Config` of a Confab process. Sources, lowest precedence first: built-in defaults,
//! the TOML file (`--config`), `CONFAB_*` environment variables, command-line flags (the last
//! two through clap, in `main.rs`). `Default` is the README's one-command embedded setup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use confab_core::chat::Limits;
use confab_gateway::GatewayConfig;
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
    /// Largest WebSocket frame accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Metas per pull reply.
    pub page_size: u32,
    /// Lifetime of tokens from `POST /token` without a `ttl`, in seconds.
    pub default_token_ttl_secs: u32,
    /// Seconds without any client frame before a connection is closed (the SDK pings every ~60 s).
    pub idle_timeout_secs: u64,
    /// Concurrent WebSocket connections.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Config {
        let limits = Limits::default();
        let gateway = GatewayConfig::default();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5280)),
            data_dir: PathBuf::from("./confab-data"),
            open_registration: limits.open_registration,
            max_text_bytes: limits.max_text_bytes,
            max_frame_bytes: gateway.max_frame_bytes,
            page_size: limits.page_size,
            default_token_ttl_secs: limits.default_token_ttl_secs,
            idle_timeout_secs: gateway.idle_timeout.as_secs(),
            max_connections: gateway.max_connections,
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
        Ok(())
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_text_bytes: self.max_text_bytes,
            page_size: self.page_size,
            default_token_ttl_secs: self.default_token_ttl_secs,
            open_registration: self.open_registration,
        }
    }

    pub(crate) fn gateway(&self) -> GatewayConfig {
        GatewayConfig {
            max_frame_bytes: self.max_frame_bytes,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
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
        assert!(checked >= 3);
    }
}
