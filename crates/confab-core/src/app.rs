//! Apps: the unit of tenancy. Each has an app key (`org#app`), Agora credentials (App ID and
//! certificates, for 007 tokens) and Easemob client credentials (for app tokens). `AppService`
//! owns the `AppStore` and this node's cache of apps: lookups, creation and rotations.

use std::fmt;

use rand::{rngs::OsRng, RngCore};

use crate::{
    bus::{AppListener, Bus},
    ids::AppKey,
    store::AppStore,
};

/// A string that must never reach a log or a listing. `Debug`/`Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub key: AppKey,
    /// Easemob's application UUID, returned as `application` by the token endpoint.
    pub uuid: String,
    /// Agora App ID: 32 hex characters, inside every 007 token.
    pub app_id: String,
    /// Primary certificate, then an optional secondary one (TOKEN.md §6, §8 step 3).
    pub certificates: Vec<Secret>,
    /// When the secondary certificate stops being accepted (epoch ms); `None`: it does not
    /// expire (an imported pair). Set by a rotation, which keeps the old primary for a grace.
    pub secondary_until_ms: Option<u64>,
    pub client_id: String,
    pub client_secret: Secret,
    pub created_ms: u64,
    pub settings: AppSettings,
}

/// What an app's administrator decides for its users (the console's app page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSettings {
    /// Users may send messages only to their contacts: a message to anyone else is refused
    /// with "nonroster" (the SDK's 221, "not contact"). Contact requests, receipts and server
    /// notices are not messages and still pass.
    pub contacts_only: bool,
}

/// What `confab app create` asks for; credentials are generated unless imported.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub key: AppKey,
    pub imported: Option<(String, Secret)>,
}

impl App {
    /// Builds an app with fresh credentials from the OS RNG, or with an existing App ID and
    /// certificate imported from the hosted service (so tokens minted there keep working).
    pub fn create(new: NewApp, now_ms: u64) -> Result<App, crate::Error> {
        let (app_id, certificate) = match new.imported {
            Some((app_id, certificate)) => {
                if !is_hex32(&app_id) || !is_hex32(certificate.expose()) {
                    return Err(crate::Error::Unsupported(
                        "app id and certificate must be 32 hexadecimal characters",
                    ));
                }
                (app_id, certificate)
            }
            None => (random_hex(16), Secret::new(random_hex(16))),
        };
        Ok(App {
            key: new.key,
            uuid: uuid::Uuid::new_v4().to_string(),
            app_id,
            certificates: vec![certificate],
            secondary_until_ms: None,
            client_id: format!("YXA6{}", random_base62(22)),
            client_secret: Secret::new(format!("YXA6{}", random_base62(27))),
            created_ms: now_ms,
            settings: AppSettings::default(),
        })
    }

    /// The certificates a token may be signed with at `now_ms`: the primary, and the
    /// secondary until its grace period ends.
    pub fn certificate_texts(&self, now_ms: u64) -> Vec<&str> {
        let secondary_valid = self.secondary_until_ms.is_none_or(|until| now_ms < until);
        self.certificates
            .iter()
            .take(if secondary_valid { 2 } else { 1 })
            .map(Secret::expose)
            .collect()
    }

    /// A new primary certificate; the old one becomes the secondary, accepted until
    /// `now_ms + grace_ms` so tokens already handed out keep working (TOKEN.md §8 step 3).
    pub fn rotate_certificate(&mut self, now_ms: u64, grace_ms: u64) {
        let old = self.certificates.first().cloned();
        self.certificates = std::iter::once(Secret::new(random_hex(16)))
            .chain(old)
            .collect();
        self.secondary_until_ms = Some(now_ms.saturating_add(grace_ms));
    }

    /// A new client secret; app tokens already issued stay valid (they are signed with the
    /// certificate, not the secret).
    pub fn rotate_client_secret(&mut self) {
        self.client_secret = Secret::new(format!("YXA6{}", random_base62(27)));
    }

    /// Primary certificate, used to sign the tokens Confab issues.
    pub fn signing_certificate(&self) -> &str {
        self.certificates.first().map(Secret::expose).unwrap_or("")
    }
}

fn is_hex32(text: &str) -> bool {
    text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit())
}

fn random_hex(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_base62(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let byte = (OsRng.next_u32() & 0xff) as usize;
        // Rejection sampling keeps every character equally likely.
        if byte < 62 * 4 {
            out.push(char::from(ALPHABET[byte % 62]));
        }
    }
    out
}

/// Apps and their credentials: the store's apps behind this node's cache, kept current across
/// nodes by `Event::AppChanged`.
pub struct AppService {
    store: std::sync::Arc<dyn AppStore>,
    bus: std::sync::Arc<dyn Bus>,
    /// Told of app changes by the bus (`Event::AppChanged`).
    apps: std::sync::Arc<AppCache>,
}

impl AppService {
    pub fn new(store: std::sync::Arc<dyn AppStore>, bus: std::sync::Arc<dyn Bus>) -> AppService {
        let apps = std::sync::Arc::new(AppCache::default());
        bus.watch_apps(std::sync::Arc::downgrade(&apps) as std::sync::Weak<dyn AppListener>);
        AppService { store, bus, apps }
    }

    pub async fn app(&self, key: &AppKey) -> Result<std::sync::Arc<App>, crate::Error> {
        if let Some(app) = self.apps.get(key) {
            return Ok(app);
        }
        let seen = self.apps.changes();
        let app = self
            .store
            .app_by_key(key)
            .await?
            .ok_or(crate::Error::AppNotFound)?;
        Ok(self.apps.insert_read(app, seen))
    }

    pub async fn app_by_app_id(&self, app_id: &str) -> Result<std::sync::Arc<App>, crate::Error> {
        let seen = self.apps.changes();
        let app = self
            .store
            .app_by_app_id(app_id)
            .await?
            .ok_or(crate::Error::AppNotFound)?;
        Ok(self.apps.insert_read(app, seen))
    }

    /// A small durable write (`GET /healthz`).
    pub async fn record_health_check(&self) -> Result<(), crate::Error> {
        Ok(self.store.record_health_check(crate::now_ms()).await?)
    }

    /// Creates an app with fresh credentials.
    pub async fn create_app(&self, new_app: NewApp) -> Result<std::sync::Arc<App>, crate::Error> {
        let app = App::create(new_app, crate::now_ms())?;
        self.store
            .create_app(&app)
            .await
            .map_err(|error| match error {
                crate::store::StoreError::Duplicate(key) => crate::Error::AppExists(key),
                other => crate::Error::Storage(other),
            })?;
        self.app(&app.key).await
    }

    pub async fn list_apps(&self) -> Result<Vec<App>, crate::Error> {
        Ok(self.store.list_apps().await?)
    }

    /// Rotates the certificate; the old one stays valid for `grace_ms` (0: not at all).
    pub async fn rotate_certificate(
        &self,
        key: &AppKey,
        grace_ms: u64,
    ) -> Result<std::sync::Arc<App>, crate::Error> {
        let mut app = App::clone(&*self.app(key).await?);
        app.rotate_certificate(crate::now_ms(), grace_ms);
        self.save_credentials(app).await
    }

    pub async fn rotate_client_secret(
        &self,
        key: &AppKey,
    ) -> Result<std::sync::Arc<App>, crate::Error> {
        let mut app = App::clone(&*self.app(key).await?);
        app.rotate_client_secret();
        self.save_credentials(app).await
    }

    /// Replaces the app's settings, then tells every node to drop its cached copy.
    pub async fn change_settings(
        &self,
        key: &AppKey,
        settings: AppSettings,
    ) -> Result<std::sync::Arc<App>, crate::Error> {
        let mut app = App::clone(&*self.app(key).await?);
        if !self.store.update_app_settings(key, &settings).await? {
            return Err(crate::Error::AppNotFound);
        }
        tracing::info!(app = %key, ?settings, "app settings changed");
        app.settings = settings;
        let app = self.apps.replace(app);
        self.bus
            .publish(crate::bus::Event::AppChanged { app: key.clone() })
            .await?;
        Ok(app)
    }

    /// Stores the app's new credentials, then tells every node (this one included) to drop
    /// its cached copy. A bus failure is returned: the rotation is stored, but some node may
    /// still accept the old credentials until it restarts (rotating again publishes again).
    async fn save_credentials(&self, app: App) -> Result<std::sync::Arc<App>, crate::Error> {
        if !self.store.update_app_credentials(&app).await? {
            return Err(crate::Error::AppNotFound);
        }
        tracing::info!(app = %app.key, "app credentials rotated");
        let key = app.key.clone();
        // This node's cached copy is replaced now; the other nodes drop theirs on the event.
        let app = self.apps.replace(app);
        self.bus
            .publish(crate::bus::Event::AppChanged { app: key })
            .await?;
        Ok(app)
    }
}

/// The apps an `AppService` has read, by key. Apps change rarely and are read on every login
/// and REST call; a change on any node reaches every node's cache as `Event::AppChanged`,
/// which drops the copy.
#[derive(Default)]
pub(crate) struct AppCache {
    apps: std::sync::RwLock<std::collections::HashMap<AppKey, std::sync::Arc<App>>>,
    /// Changes heard of so far: a copy read from the store before a change is not cached
    /// after it (it may be the old one).
    changes: std::sync::atomic::AtomicU64,
}

impl AppCache {
    pub(crate) fn get(&self, key: &AppKey) -> Option<std::sync::Arc<App>> {
        match self.apps.read() {
            Ok(apps) => apps.get(key).cloned(),
            Err(poisoned) => poisoned.into_inner().get(key).cloned(),
        }
    }

    /// Read before reading the store; hand it to `insert_read`.
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Caches a copy read from the store when `changes` was `seen`, unless a change has been
    /// heard of since; returns it either way.
    pub(crate) fn insert_read(&self, app: App, seen: u64) -> std::sync::Arc<App> {
        let app = std::sync::Arc::new(app);
        let mut apps = match self.apps.write() {
            Ok(apps) => apps,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Under the lock: a change bumps the count before it takes the lock to remove, so
        // either this sees the bump, or the removal comes after this insert.
        if self.changes() == seen {
            apps.insert(app.key.clone(), app.clone());
        }
        app
    }

    /// Caches the copy this node just stored.
    pub(crate) fn replace(&self, app: App) -> std::sync::Arc<App> {
        let app = std::sync::Arc::new(app);
        match self.apps.write() {
            Ok(mut apps) => apps.insert(app.key.clone(), app.clone()),
            Err(poisoned) => poisoned.into_inner().insert(app.key.clone(), app.clone()),
        };
        app
    }
}

impl crate::bus::AppListener for AppCache {
    fn app_changed(&self, key: &AppKey) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match self.apps.write() {
            Ok(mut apps) => apps.remove(key),
            Err(poisoned) => poisoned.into_inner().remove(key),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let app = App::create(
            NewApp {
                key: AppKey::parse("org#app").unwrap(),
                imported: None,
            },
            0,
        )
        .unwrap();
        let printed = format!("{app:?}");
        assert!(!printed.contains(app.signing_certificate()));
        assert!(!printed.contains(app.client_secret.expose()));
        assert!(is_hex32(&app.app_id) && is_hex32(app.signing_certificate()));
    }

    #[test]
    fn a_copy_read_before_a_change_is_not_cached_after_it() {
        use crate::bus::AppListener;
        let app = App::create(
            NewApp {
                key: AppKey::parse("org#app").unwrap(),
                imported: None,
            },
            0,
        )
        .unwrap();
        let cache = AppCache::default();
        let seen = cache.changes();
        // The store read raced a change heard of meanwhile: returned, not kept.
        cache.app_changed(&app.key);
        cache.insert_read(app.clone(), seen);
        assert!(cache.get(&app.key).is_none());
        cache.insert_read(app.clone(), cache.changes());
        assert!(cache.get(&app.key).is_some());
        cache.app_changed(&app.key);
        assert!(cache.get(&app.key).is_none());
    }

    #[test]
    fn rotation_keeps_the_old_certificate_for_the_grace_period() {
        let mut app = App::create(
            NewApp {
                key: AppKey::parse("org#app").unwrap(),
                imported: None,
            },
            0,
        )
        .unwrap();
        let old = app.signing_certificate().to_owned();
        app.rotate_certificate(1_000, 500);
        assert_ne!(app.signing_certificate(), old);
        assert_eq!(
            app.certificate_texts(1_499),
            vec![app.signing_certificate(), &old]
        );
        assert_eq!(
            app.certificate_texts(1_500),
            vec![app.signing_certificate()]
        );
    }

    #[test]
    fn imported_credentials_are_checked() {
        let key = AppKey::parse("org#app").unwrap();
        let bad = NewApp {
            key: key.clone(),
            imported: Some(("xyz".into(), Secret::new("abc".into()))),
        };
        assert!(App::create(bad, 0).is_err());
        let good = NewApp {
            key,
            imported: Some((
                "970CA35de60c44645bbae8a215061b33".into(),
                Secret::new("5CFd2fd1755d40ecb72977518be15d3b".into()),
            )),
        };
        assert_eq!(
            App::create(good, 0).unwrap().app_id,
            "970CA35de60c44645bbae8a215061b33"
        );
    }
}
