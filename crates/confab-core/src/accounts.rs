//! Accounts: an app's IM users and their passwords (`user.rs`, `password.rs`), who is calling
//! (`auth.rs`: logins, tokens, REST scopes, kicks), and the devices users log in on.

use std::sync::Arc;

use crate::{
    app::AppService,
    bus::Bus,
    ids::{AppKey, UserName},
    messages::SessionContext,
    now_ms,
    password::{FailureThrottle, PasswordWork},
    presence::{OnlineDevice, Presence},
    services::Limits,
    store::{DeviceStore, UserStore},
    Error,
};

/// Users, their credentials and sessions.
pub struct AccountService {
    /// Logins and tokens name their app.
    pub(crate) apps: Arc<AppService>,
    pub(crate) users: Arc<dyn UserStore>,
    /// Where each device starts reading, recorded at its logins.
    devices: Arc<dyn DeviceStore>,
    /// Kicks reach the sessions on every node.
    pub(crate) bus: Arc<dyn Bus>,
    /// Who is online, on every node.
    presence: Arc<dyn Presence>,
    pub(crate) limits: Limits,
    /// Argon2 slots, shared with the console (`AdminService`).
    pub(crate) password_work: Arc<PasswordWork>,
    /// Wrong passwords of password grants and password changes.
    pub(crate) password_failures: FailureThrottle,
}

impl AccountService {
    pub fn new(
        apps: Arc<AppService>,
        users: Arc<dyn UserStore>,
        devices: Arc<dyn DeviceStore>,
        bus: Arc<dyn Bus>,
        presence: Arc<dyn Presence>,
        limits: Limits,
    ) -> AccountService {
        AccountService {
            apps,
            users,
            devices,
            bus,
            presence,
            password_work: Arc::new(PasswordWork::new(&limits.passwords)),
            password_failures: FailureThrottle::new(limits.passwords.throttle.clone()),
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The process's Argon2 slots, for the console to share.
    pub fn password_work(&self) -> &Arc<PasswordWork> {
        &self.password_work
    }

    /// Records the session's device as seen (its first login decides where it starts reading;
    /// see `DeviceStore::device_seen`). Called at every login, before anything is read.
    pub async fn device_logged_in(&self, session: &SessionContext) -> Result<(), Error> {
        Ok(self
            .devices
            .device_seen(&session.app.key, &session.device(), now_ms())
            .await?)
    }

    /// The user's devices online now, on every node, oldest login first (`GET
    /// …/users/{user}/resources`).
    pub async fn online_devices(
        &self,
        app: &AppKey,
        name: &UserName,
    ) -> Result<Vec<OnlineDevice>, Error> {
        self.user(app, name).await?;
        Ok(self.presence.devices(app, name).await?)
    }

    /// Whether the user has a live session on any node.
    pub async fn is_online(&self, app: &AppKey, name: &UserName) -> Result<bool, Error> {
        Ok(self.presence.is_online(app, name).await?)
    }

    /// Closes the user's session on `resource`, on whichever node it lives (the SDK sees 217,
    /// as for every administrative logout, and does not reconnect). `false`: no session of
    /// the user was on that resource.
    pub async fn disconnect_device(
        &self,
        app: &AppKey,
        name: &UserName,
        resource: &str,
    ) -> Result<bool, Error> {
        self.user(app, name).await?;
        if self.presence.device(app, name, resource).await?.is_none() {
            return Ok(false);
        }
        self.kick(
            app,
            name,
            Some(resource.to_owned()),
            crate::bus::KickReason::ForcedLogout,
            None,
        )
        .await?;
        Ok(true)
    }
}
