//! Who is online, cluster-wide: the `Presence` port (and, in `service.rs`, the presence users
//! publish and subscribe to, built on it). Is a user (or one of their devices)
//! online, on which node, since when; how many users of an app are online.
//!
//! Every edge that asks "is … online" asks this port, never a node's `SessionRegistry`:
//! `deliverOnlineOnly` sends, REST `users/{user}/status` and `users/{user}/resources`, the
//! one-device disconnect, the console overview. `LocalPresence` answers for a single node
//! from its registry; a cluster's implementation answers for every node.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    bus::SessionRegistry,
    ids::{AppKey, SessionId, UserName},
};

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod service;

pub use service::{PresenceLimits, PresenceService, PresenceView, OFFLINE, ONLINE};

/// One live session of a user, as presence reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineDevice {
    /// The SDK's device id (`res` in REST answers).
    pub resource: String,
    /// The node the session lives on.
    pub node: u16,
    pub session: SessionId,
    /// When it logged in, in epoch milliseconds.
    pub login_ms: u64,
    /// `Provision.deviceUuid` (`device_uuid`).
    pub device_uuid: Option<String>,
    /// `Provision.deviceName` (`device_name`).
    pub device_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    #[error("presence unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Presence: Send + Sync {
    /// The user's live sessions on every node, oldest login first. A session being kicked
    /// is not listed.
    async fn devices(
        &self,
        app: &AppKey,
        user: &UserName,
    ) -> Result<Vec<OnlineDevice>, PresenceError>;

    /// Whether the user has a live session on any node (a `deliverOnlineOnly` send is queued
    /// only then).
    async fn is_online(&self, app: &AppKey, user: &UserName) -> Result<bool, PresenceError> {
        Ok(!self.devices(app, user).await?.is_empty())
    }

    /// The user's live session on `resource`, if any.
    async fn device(
        &self,
        app: &AppKey,
        user: &UserName,
        resource: &str,
    ) -> Result<Option<OnlineDevice>, PresenceError> {
        Ok(self
            .devices(app, user)
            .await?
            .into_iter()
            .find(|device| device.resource == resource))
    }

    /// Users of the app with at least one live session on any node.
    async fn online_users(&self, app: &AppKey) -> Result<u64, PresenceError>;
}

/// Presence of a single-node deployment: this node's registry is everyone.
pub struct LocalPresence {
    registry: Arc<SessionRegistry>,
}

impl LocalPresence {
    pub fn new(registry: Arc<SessionRegistry>) -> LocalPresence {
        LocalPresence { registry }
    }
}

#[async_trait]
impl Presence for LocalPresence {
    async fn devices(
        &self,
        app: &AppKey,
        user: &UserName,
    ) -> Result<Vec<OnlineDevice>, PresenceError> {
        Ok(self.registry.devices(app, user))
    }

    async fn online_users(&self, app: &AppKey) -> Result<u64, PresenceError> {
        Ok(self.registry.online_users(app) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fresh() -> (Vec<conformance::PresenceNode>, ()) {
        let registry = Arc::new(SessionRegistry::new(3));
        let node = conformance::PresenceNode {
            presence: Arc::new(LocalPresence::new(registry.clone())),
            registry,
        };
        (vec![node], ())
    }

    crate::presence_conformance_tests!(fresh);
}
