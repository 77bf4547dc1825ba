//! Confab's domain: apps, users, messages and queues, the rules for login, send, pull and ack,
//! and the ports (`Store`, `Bus`, `Presence`) that backends implement.
//!
//! Knows nothing of axum, WebSocket, SQL or NATS: edges call in with typed values.

pub mod accounts;
pub mod admin;
pub mod app;
pub mod appender;
pub mod attributes;
pub mod auth;
pub mod bus;
pub mod contacts;
pub mod conversations;
mod error;
pub mod escaped;
pub mod files;
pub mod groups;
pub mod history;
pub mod ids;
pub mod messages;
pub mod moderation;
pub mod notifications;
pub mod overview;
pub mod password;
pub mod pin;
pub mod presence;
pub mod providers;
pub mod reaction;
pub mod receipts;
pub mod rooms;
pub mod services;
pub mod store;
pub mod threads;
pub mod user;

pub use error::Error;

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}
