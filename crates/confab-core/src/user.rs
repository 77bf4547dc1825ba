//! IM users of an app, and their passwords (Argon2id, hashed off the async runtime).

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use crate::{ids::UserName, Error};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: UserName,
    pub uuid: String,
    /// PHC string; empty for users created without a password (token-only users).
    pub password_hash: String,
    pub nickname: String,
    pub activated: bool,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// User tokens issued before this Unix second are revoked (password change).
    pub tokens_valid_after: u32,
}

const MAX_PASSWORD_BYTES: usize = 128;

/// Hashes on the blocking pool: Argon2 takes tens of milliseconds by design.
pub async fn hash_password(password: String) -> Result<String, Error> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::UnacceptablePassword);
    }
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| Error::UnacceptablePassword)
    })
    .await
    .map_err(|_| Error::Unsupported("password hashing was interrupted"))?
}

/// Verifies on the blocking pool; any malformed stored hash counts as a mismatch.
pub async fn verify_password(password: String, stored_hash: String) -> bool {
    if password.len() > MAX_PASSWORD_BYTES || stored_hash.is_empty() {
        return false;
    }
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored_hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let hash = hash_password("secret".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("secret".into(), hash.clone()).await);
        assert!(!verify_password("Secret".into(), hash.clone()).await);
        assert!(!verify_password("secret".into(), "garbage".into()).await);
        assert!(hash_password(String::new()).await.is_err());
    }
}

/// A user to register, as `POST /users` names it.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub nickname: Option<String>,
}

impl crate::chat::ChatService {
    /// Registers users, all or none. Names are validated and lowercased; passwords hashed.
    pub async fn create_users(
        &self,
        app: &crate::ids::AppKey,
        new_users: Vec<NewUser>,
    ) -> Result<Vec<User>, Error> {
        if new_users.is_empty() || new_users.len() > 60 {
            return Err(Error::Unsupported("registering 1 to 60 users at a time"));
        }
        let now = crate::now_ms();
        let mut users = Vec::with_capacity(new_users.len());
        for new_user in new_users {
            let name = UserName::parse(&new_user.username)
                .ok_or_else(|| Error::InvalidUsername(new_user.username.clone()))?;
            let password_hash = hash_password(new_user.password).await?;
            users.push(User {
                name,
                uuid: uuid::Uuid::new_v4().to_string(),
                password_hash,
                nickname: new_user.nickname.unwrap_or_default(),
                activated: true,
                created_ms: now,
                modified_ms: now,
                tokens_valid_after: 0,
            });
        }
        self.store()
            .create_users(app, &users)
            .await
            .map_err(|error| match error {
                crate::store::StoreError::Duplicate(name) => Error::UserExists(name),
                other => Error::Storage(other),
            })?;
        Ok(users)
    }

    pub async fn user(&self, app: &crate::ids::AppKey, name: &UserName) -> Result<User, Error> {
        self.store()
            .user(app, name)
            .await?
            .ok_or_else(|| Error::UserNotFound(name.to_string()))
    }

    /// Sets a new password, revokes the user's older tokens and closes their sessions.
    pub async fn change_password(
        &self,
        app: &crate::ids::AppKey,
        name: &UserName,
        new_password: String,
    ) -> Result<(), Error> {
        let hash = hash_password(new_password).await?;
        let now = crate::now_ms();
        let valid_after = u32::try_from(now / 1000).unwrap_or(u32::MAX);
        if !self
            .store()
            .update_password(app, name, &hash, valid_after, now)
            .await?
        {
            return Err(Error::UserNotFound(name.to_string()));
        }
        self.kick(
            app,
            name,
            None,
            crate::bus::KickReason::PasswordChanged,
            None,
        )
        .await
    }

    /// Deletes the user with their queues and closes their sessions.
    pub async fn delete_user(
        &self,
        app: &crate::ids::AppKey,
        name: &UserName,
    ) -> Result<User, Error> {
        let user = self
            .store()
            .delete_user(app, name)
            .await?
            .ok_or_else(|| Error::UserNotFound(name.to_string()))?;
        self.kick(app, name, None, crate::bus::KickReason::UserRemoved, None)
            .await?;
        Ok(user)
    }
}

/// One page of `GET /users`; `cursor` fetches the next page and is `None` on the last.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    pub cursor: Option<String>,
}

/// Most users in one page of a listing.
pub const MAX_USER_PAGE: u32 = 100;

impl crate::chat::ChatService {
    /// Users in name order, optionally only those whose name starts with `prefix`. `cursor` is
    /// the opaque value of the previous page.
    pub async fn list_users(
        &self,
        app: &crate::ids::AppKey,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<UserPage, Error> {
        let limit = limit.clamp(1, MAX_USER_PAGE);
        let after = match cursor.filter(|cursor| !cursor.is_empty()) {
            Some(cursor) => Some(decode_cursor(cursor).ok_or(Error::Unsupported("this cursor"))?),
            None => None,
        };
        let prefix = prefix.to_ascii_lowercase();
        let mut users = self
            .store()
            .list_users(app, &prefix, after.as_ref(), limit + 1)
            .await?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let cursor = users
            .last()
            .filter(|_| more)
            .map(|last| hex::encode(last.name.as_str()));
        Ok(UserPage { users, cursor })
    }

    /// Deactivates (bans) or re-activates a user. A deactivated user cannot log in or get
    /// tokens, and their live sessions are closed.
    pub async fn set_user_activated(
        &self,
        app: &crate::ids::AppKey,
        name: &UserName,
        activated: bool,
    ) -> Result<User, Error> {
        if !self
            .store()
            .set_activated(app, name, activated, crate::now_ms())
            .await?
        {
            return Err(Error::UserNotFound(name.to_string()));
        }
        if !activated {
            self.kick(app, name, None, crate::bus::KickReason::ForcedLogout, None)
                .await?;
        }
        self.user(app, name).await
    }

    /// Closes every session of the user (they may log in again).
    pub async fn disconnect_user(
        &self,
        app: &crate::ids::AppKey,
        name: &UserName,
    ) -> Result<(), Error> {
        self.user(app, name).await?;
        self.kick(app, name, None, crate::bus::KickReason::ForcedLogout, None)
            .await
    }
}

fn decode_cursor(cursor: &str) -> Option<UserName> {
    let bytes = hex::decode(cursor).ok()?;
    UserName::parse(std::str::from_utf8(&bytes).ok()?)
}
