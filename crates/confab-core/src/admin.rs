//! Console administrators: accounts (Argon2id), the one-time setup token of a fresh
//! deployment, signed-in sessions with their CSRF token, and the back-off that slows
//! password guessing. The console edge only carries cookies and headers to and from here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{rngs::OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::{
    app::Secret,
    ids::UserName,
    now_ms,
    store::{Store, StoreError},
    user::{hash_password, verify_password},
};

/// How long a console session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed sign-ins allowed per username and per client address before the back-off starts.
const FREE_FAILURES: u32 = 3;
/// First lock after the free failures; it doubles with each further failure.
const FIRST_LOCK: Duration = Duration::from_secs(2);
const MAX_LOCK: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const FAILURE_MEMORY: Duration = Duration::from_secs(900);
const MAX_TRACKED_KEYS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub username: String,
    /// PHC string (Argon2id).
    pub password_hash: String,
    pub created_ms: u64,
}

/// A signed-in console session as stored: only the hash of its id is kept, so a copy of the
/// database does not sign anyone in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub id_hash: String,
    pub username: String,
    pub csrf_token: Secret,
    pub created_ms: u64,
    pub expires_ms: u64,
}

impl AdminSession {
    /// Constant-time comparison with the token a form or request carried.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        constant_time_eq(self.csrf_token.expose().as_bytes(), presented.as_bytes())
    }
}

/// What a successful sign-in hands the edge: the cookie value and the CSRF token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_id: Secret,
    pub session: AdminSession,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin usernames are 1-64 characters of letters, digits, - _ .")]
    InvalidUsername,
    #[error("password must be 8 to 128 bytes")]
    UnacceptablePassword,
    #[error("an admin named {0} already exists")]
    AdminExists(String),
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed sign-ins; retry in {} s", retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration },
    #[error("not signed in")]
    NotSignedIn,
    #[error("the setup link is invalid or was already used")]
    BadSetupToken,
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// Console accounts and sessions over the store.
pub struct AdminService {
    store: Arc<dyn Store>,
    throttle: LoginThrottle,
    // std Mutex: held for a swap, never across an await.
    setup_token: Mutex<Option<Secret>>,
}

impl AdminService {
    pub fn new(store: Arc<dyn Store>) -> AdminService {
        AdminService {
            store,
            throttle: LoginThrottle::default(),
            setup_token: Mutex::new(None),
        }
    }

    /// When no admin exists yet, makes a one-time setup token (to print as a link) and
    /// returns it; otherwise `None`.
    pub async fn issue_setup_token(&self) -> Result<Option<Secret>, AdminError> {
        if self.store.count_admins().await? > 0 {
            return Ok(None);
        }
        let token = Secret::new(random_token());
        *lock(&self.setup_token) = Some(token.clone());
        Ok(Some(token))
    }

    /// Whether the deployment still waits for its first admin.
    pub async fn needs_setup(&self) -> Result<bool, AdminError> {
        Ok(self.store.count_admins().await? == 0)
    }

    /// `confab admin create` and the setup page: stores a new admin.
    pub async fn create_admin(&self, username: &str, password: String) -> Result<(), AdminError> {
        let name = UserName::parse(username).ok_or(AdminError::InvalidUsername)?;
        if password.len() < 8 || password.len() > 128 {
            return Err(AdminError::UnacceptablePassword);
        }
        let password_hash = hash_password(password)
            .await
            .map_err(|_| AdminError::UnacceptablePassword)?;
        let admin = Admin {
            username: name.to_string(),
            password_hash,
            created_ms: now_ms(),
        };
        self.store
            .create_admin(&admin)
            .await
            .map_err(|error| match error {
                StoreError::Duplicate(_) => AdminError::AdminExists(admin.username.clone()),
                other => AdminError::Storage(other),
            })
    }

    /// The setup link's form: creates the first admin and signs them in. The token works once.
    pub async fn set_up(
        &self,
        token: &str,
        username: &str,
        password: String,
    ) -> Result<SignedIn, AdminError> {
        let expected = lock(&self.setup_token).clone();
        let valid = expected.as_ref().is_some_and(|expected| {
            constant_time_eq(expected.expose().as_bytes(), token.as_bytes())
        });
        if !valid || !self.needs_setup().await? {
            return Err(AdminError::BadSetupToken);
        }
        self.create_admin(username, password).await?;
        *lock(&self.setup_token) = None;
        self.open_session(username).await
    }

    /// Checks the password, slowed per username and per client address after repeated
    /// failures. The same work is done for unknown usernames, so timing does not tell them apart.
    pub async fn sign_in(
        &self,
        username: &str,
        password: String,
        client: Option<&str>,
    ) -> Result<SignedIn, AdminError> {
        let mut keys = vec![format!("user:{}", username.to_ascii_lowercase())];
        keys.extend(client.map(|client| format!("client:{client}")));
        self.throttle.check(&keys, Instant::now())?;
        let admin = match UserName::parse(username) {
            Some(name) => self.store.admin(name.as_str()).await?,
            None => None,
        };
        let stored_hash = admin.as_ref().map_or_else(
            || DUMMY_HASH.to_owned(),
            |admin| admin.password_hash.clone(),
        );
        let matches = verify_password(password, stored_hash).await;
        match admin {
            Some(admin) if matches => {
                self.throttle.forget(&keys);
                tracing::info!(admin = ?admin.username, "console sign-in");
                self.open_session(&admin.username).await
            }
            _ => {
                self.throttle.record_failure(&keys, Instant::now());
                tracing::info!(
                    client = client.unwrap_or("unknown"),
                    "console sign-in refused"
                );
                Err(AdminError::BadCredentials)
            }
        }
    }

    /// The live session for a cookie value; expired or unknown ones are `NotSignedIn`.
    pub async fn session(&self, session_id: &str) -> Result<AdminSession, AdminError> {
        let id_hash = hash_session_id(session_id);
        let session = self
            .store
            .admin_session(&id_hash)
            .await?
            .ok_or(AdminError::NotSignedIn)?;
        if session.expires_ms <= now_ms() {
            self.store.delete_admin_session(&id_hash).await?;
            return Err(AdminError::NotSignedIn);
        }
        Ok(session)
    }

    pub async fn sign_out(&self, session_id: &str) -> Result<(), AdminError> {
        Ok(self
            .store
            .delete_admin_session(&hash_session_id(session_id))
            .await?)
    }

    async fn open_session(&self, username: &str) -> Result<SignedIn, AdminError> {
        let session_id = random_token();
        let now = now_ms();
        let session = AdminSession {
            id_hash: hash_session_id(&session_id),
            username: username.to_owned(),
            csrf_token: Secret::new(random_token()),
            created_ms: now,
            expires_ms: now + SESSION_TTL.as_millis() as u64,
        };
        self.store.create_admin_session(&session).await?;
        Ok(SignedIn {
            session_id: Secret::new(session_id),
            session,
        })
    }
}

/// An Argon2id hash of a random password, verified against when the username is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Kd9Q2f5JY8rVn6b1Kx3kq9y8vS6yN2mTqH1yXfJ5hE";

/// Per-key failure counts with exponential lock-outs (std `Mutex`: never held across await).
#[derive(Default)]
struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

impl LoginThrottle {
    fn check(&self, keys: &[String], now: Instant) -> Result<(), AdminError> {
        let failures = lock(&self.failures);
        let retry_after = keys
            .iter()
            .filter_map(|key| failures.get(key)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match retry_after {
            Some(retry_after) => Err(AdminError::Throttled { retry_after }),
            None => Ok(()),
        }
    }

    fn record_failure(&self, keys: &[String], now: Instant) {
        let mut failures = lock(&self.failures);
        if failures.len() > MAX_TRACKED_KEYS {
            failures.retain(|_, entry| now.duration_since(entry.last) < FAILURE_MEMORY);
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(entry.last) >= FAILURE_MEMORY {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            if entry.count >= FREE_FAILURES {
                let doublings = (entry.count - FREE_FAILURES).min(16);
                let lock = FIRST_LOCK.saturating_mul(1 << doublings).min(MAX_LOCK);
                entry.locked_until = Some(now + lock);
            }
        }
    }

    fn forget(&self, keys: &[String]) {
        let mut failures = lock(&self.failures);
        for key in keys {
            failures.remove(key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash_session_id(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_after_the_free_ones_and_the_lock_doubles() {
        let throttle = LoginThrottle::default();
        let keys = ["user:root".to_owned(), "client:1.2.3.4".to_owned()];
        let start = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.record_failure(&keys, start);
            assert!(throttle.check(&keys, start).is_ok());
        }
        throttle.record_failure(&keys, start);
        match throttle.check(&keys, start) {
            Err(AdminError::Throttled { retry_after }) => assert_eq!(retry_after, FIRST_LOCK),
            other => panic!("expected a lock, got {other:?}"),
        }
        assert!(throttle.check(&keys, start + FIRST_LOCK).is_ok());
        throttle.record_failure(&keys, start + FIRST_LOCK);
        match throttle.check(&keys, start + FIRST_LOCK) {
            Err(AdminError::Throttled { retry_after }) => assert_eq!(retry_after, FIRST_LOCK * 2),
            other => panic!("expected a longer lock, got {other:?}"),
        }
        // Another username from another address is not affected.
        let other = ["user:amy".to_owned(), "client:5.6.7.8".to_owned()];
        assert!(throttle.check(&other, start).is_ok());
        throttle.forget(&keys);
        assert!(throttle.check(&keys, start).is_ok());
    }

    #[test]
    fn session_ids_are_stored_hashed() {
        let hash = hash_session_id("abc");
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, "abc");
    }
}
