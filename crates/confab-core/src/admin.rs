//! Console administrators: accounts (Argon2id), the one-time setup token of a fresh
//! deployment, signed-in sessions with their CSRF token, and the back-off that slows
//! password guessing. The console edge only carries cookies and headers to and from here.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{rngs::OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::{
    app::Secret,
    ids::UserName,
    now_ms,
    password::{Attempt, FailureThrottle, PasswordError, PasswordWork, ThrottlePolicy},
    store::{AdminStore, StoreError},
};

/// How long a console session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

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
    store: Arc<dyn AdminStore>,
    /// Argon2 slots, shared with the chat service.
    password_work: Arc<PasswordWork>,
    /// Wrong sign-ins: a failure from address X locks (username, X) and, past a higher count,
    /// X; never the username from other addresses, so nobody can lock an administrator out
    /// from elsewhere (`password.rs`, `Attempt`).
    throttle: FailureThrottle,
    // std Mutex: held for a swap, never across an await.
    setup_token: Mutex<Option<Secret>>,
}

impl AdminService {
    pub fn new(
        store: Arc<dyn AdminStore>,
        password_work: Arc<PasswordWork>,
        throttle: ThrottlePolicy,
    ) -> AdminService {
        AdminService {
            store,
            password_work,
            throttle: FailureThrottle::new(throttle),
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

    /// `confab admin create`: stores a new admin.
    pub async fn create_admin(&self, username: &str, password: String) -> Result<(), AdminError> {
        let admin = self.new_admin(username, password).await?;
        self.store
            .create_admin(&admin)
            .await
            .map_err(|error| match error {
                StoreError::Duplicate(_) => AdminError::AdminExists(admin.username.clone()),
                other => AdminError::Storage(other),
            })
    }

    /// A checked username and a hashed password.
    async fn new_admin(&self, username: &str, password: String) -> Result<Admin, AdminError> {
        let name = UserName::parse(username).ok_or(AdminError::InvalidUsername)?;
        check_admin_password(&password)?;
        let password_hash = self
            .password_work
            .hash(password)
            .await
            .map_err(password_error)?;
        Ok(Admin {
            username: name.to_string(),
            password_hash,
            created_ms: now_ms(),
        })
    }

    /// The setup link's form: creates the first admin and signs them in. The token is taken
    /// out before the (slow) hashing, so of concurrent requests with it only one goes on, and
    /// the store creates the admin only if there is none yet, so it works once even against
    /// `confab admin create` running beside it. A request refused for its input (a short
    /// password) or for a busy server leaves the token usable.
    pub async fn set_up(
        &self,
        token: &str,
        username: &str,
        password: String,
    ) -> Result<SignedIn, AdminError> {
        UserName::parse(username).ok_or(AdminError::InvalidUsername)?;
        check_admin_password(&password)?;
        let taken = {
            let mut expected = lock(&self.setup_token);
            let valid = expected.as_ref().is_some_and(|expected| {
                constant_time_eq(expected.expose().as_bytes(), token.as_bytes())
            });
            if valid {
                expected.take()
            } else {
                None
            }
        };
        let Some(taken) = taken else {
            return Err(AdminError::BadSetupToken);
        };
        let created = match self.new_admin(username, password).await {
            Ok(admin) => self
                .store
                .create_first_admin(&admin)
                .await
                .map(|created| (created, admin)),
            Err(error) => {
                *lock(&self.setup_token) = Some(taken);
                return Err(error);
            }
        };
        match created {
            Ok((true, admin)) => self.open_session(&admin.username).await,
            // Someone else was first: the link has served its purpose.
            Ok((false, _)) => Err(AdminError::BadSetupToken),
            Err(error) => {
                *lock(&self.setup_token) = Some(taken);
                Err(error.into())
            }
        }
    }

    /// Checks the password, slowed per username and client address after repeated failures
    /// (per username alone when the address is unknown). The same work is done for unknown
    /// usernames, so timing does not tell them apart.
    pub async fn sign_in(
        &self,
        username: &str,
        password: String,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, AdminError> {
        let attempt = sign_in_attempt(username, client);
        self.throttle
            .check(&attempt, Instant::now())
            .map_err(password_error)?;
        let admin = match UserName::parse(username) {
            Some(name) => self.store.admin(name.as_str()).await?,
            None => None,
        };
        let stored_hash = admin.as_ref().map_or_else(
            || DUMMY_HASH.to_owned(),
            |admin| admin.password_hash.clone(),
        );
        let matches = self
            .password_work
            .verify(password, stored_hash)
            .await
            .map_err(password_error)?;
        match admin {
            Some(admin) if matches => {
                self.throttle.record_success(&attempt);
                tracing::info!(admin = ?admin.username, "console sign-in");
                self.open_session(&admin.username).await
            }
            _ => {
                self.throttle.record_failure(&attempt, Instant::now());
                tracing::info!(?client, "console sign-in refused");
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

/// What a sign-in is counted against: the username (case-folded, as it is stored) from the
/// client's address.
fn sign_in_attempt(username: &str, client: Option<IpAddr>) -> Attempt {
    Attempt::new(username.to_ascii_lowercase(), client)
}

/// Console passwords are 8 to 128 bytes.
fn check_admin_password(password: &str) -> Result<(), AdminError> {
    if password.len() < 8 || password.len() > 128 {
        return Err(AdminError::UnacceptablePassword);
    }
    Ok(())
}

fn password_error(error: PasswordError) -> AdminError {
    match error {
        PasswordError::Locked { retry_after } => AdminError::Throttled { retry_after },
        // Every slot taken: try again shortly.
        PasswordError::Busy => AdminError::Throttled {
            retry_after: Duration::from_secs(1),
        },
        PasswordError::Unacceptable => AdminError::UnacceptablePassword,
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

    fn address(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    fn locked(throttle: &FailureThrottle, username: &str, client: Option<IpAddr>) -> bool {
        throttle
            .check(&sign_in_attempt(username, client), Instant::now())
            .is_err()
    }

    /// Issue 15, defect 9: failures from one address lock that address out of the username
    /// (whatever its case), never the administrator signing in from another address.
    #[test]
    fn wrong_passwords_from_one_address_do_not_lock_the_admin_out_elsewhere() {
        let throttle = FailureThrottle::new(ThrottlePolicy {
            account_failures: 3,
            address_failures: 10,
            ..ThrottlePolicy::default()
        });
        let now = Instant::now();
        for username in ["root", "Root", "ROOT"] {
            assert!(!locked(&throttle, "root", address(1)));
            throttle.record_failure(&sign_in_attempt(username, address(1)), now);
        }
        assert!(locked(&throttle, "root", address(1)));
        assert!(locked(&throttle, "Root", address(1)));
        assert!(!locked(&throttle, "root", address(2)));
        assert!(!locked(&throttle, "root", None));
        // Guessing many usernames from one address locks the address.
        for user in 0..7 {
            throttle.record_failure(&sign_in_attempt(&format!("u{user}"), address(1)), now);
        }
        assert!(locked(&throttle, "amy", address(1)));
        assert!(!locked(&throttle, "amy", address(2)));
        // Without an address (no `ConnectInfo`) the username alone is counted.
        for _ in 0..3 {
            throttle.record_failure(&sign_in_attempt("amy", None), now);
        }
        assert!(locked(&throttle, "amy", None));
        assert!(!locked(&throttle, "amy", address(3)));
    }

    #[test]
    fn a_busy_server_asks_to_retry_and_a_lock_gives_its_time() {
        assert!(matches!(
            password_error(PasswordError::Busy),
            AdminError::Throttled { retry_after } if retry_after == Duration::from_secs(1)
        ));
        assert!(matches!(
            password_error(PasswordError::Locked { retry_after: Duration::from_secs(8) }),
            AdminError::Throttled { retry_after } if retry_after == Duration::from_secs(8)
        ));
    }

    #[test]
    fn session_ids_are_stored_hashed() {
        let hash = hash_session_id("abc");
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, "abc");
    }
}
