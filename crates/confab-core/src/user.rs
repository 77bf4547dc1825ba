//! IM users of an app, and their passwords (Argon2id through `password.rs`'s bounded slots).

use std::net::IpAddr;

use crate::{ids::UserName, password::Attempt, Error};

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
    /// User tokens issued (`issue_ts`) before this Unix second are refused: it is the user's
    /// creation second, so a token made for an earlier user of the same name does not work,
    /// and after a password change at second S it is S + 1 (or one more than before, if that
    /// is later), so every token issued up to and including S is revoked. Tokens Confab
    /// issues are never dated before it, so they can be up to a second ahead of the clock
    /// (more only after several changes within one second).
    pub tokens_issued_from: u32,
}

/// The current Unix second, as tokens carry it.
pub(crate) fn now_secs() -> u32 {
    u32::try_from(crate::now_ms() / 1000).unwrap_or(u32::MAX)
}

/// The throttle's account key for a user of an app.
pub(crate) fn password_attempt(
    app: &crate::ids::AppKey,
    name: &UserName,
    client: Option<IpAddr>,
) -> Attempt {
    Attempt::new(format!("{app}/{name}"), client)
}

/// A user to register, as `POST /users` names it.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub nickname: Option<String>,
}

impl crate::accounts::AccountService {
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
        let created_secs = u32::try_from(now / 1000).unwrap_or(u32::MAX);
        let mut users = Vec::with_capacity(new_users.len());
        for new_user in new_users {
            let name = UserName::parse(&new_user.username)
                .ok_or_else(|| Error::InvalidUsername(new_user.username.clone()))?;
            let password_hash = self.password_work.hash(new_user.password).await?;
            users.push(User {
                name,
                uuid: uuid::Uuid::new_v4().to_string(),
                password_hash,
                nickname: new_user.nickname.unwrap_or_default(),
                activated: true,
                created_ms: now,
                modified_ms: now,
                tokens_issued_from: created_secs,
            });
        }
        self.users
            .create_users(app, &users)
            .await
            .map_err(|error| match error {
                crate::store::StoreError::Duplicate(name) => Error::UserExists(name),
                other => Error::Storage(other),
            })?;
        Ok(users)
    }

    pub async fn user(&self, app: &crate::ids::AppKey, name: &UserName) -> Result<User, Error> {
        self.users
            .user(app, name)
            .await?
            .ok_or_else(|| Error::UserNotFound(name.to_string()))
    }

    /// Sets a new password, revokes the user's tokens issued up to now and closes their
    /// sessions. `old_password` is checked when given (a user changing their own password):
    /// wrong ones are throttled like password grants, per user and client address.
    pub async fn change_password(
        &self,
        app: &crate::ids::AppKey,
        name: &UserName,
        old_password: Option<String>,
        new_password: String,
        client: Option<IpAddr>,
    ) -> Result<(), Error> {
        if let Some(old_password) = old_password {
            let user = self.user(app, name).await?;
            let attempt = password_attempt(app, name, client);
            self.password_failures
                .check(&attempt, std::time::Instant::now())?;
            if !self
                .password_work
                .verify(old_password, user.password_hash)
                .await?
            {
                self.password_failures
                    .record_failure(&attempt, std::time::Instant::now());
                return Err(Error::WrongOldPassword);
            }
            self.password_failures.record_success(&attempt);
        }
        let hash = self.password_work.hash(new_password).await?;
        let now = crate::now_ms();
        // Tokens are dated in whole seconds: one issued earlier in this second must go too
        // (and the store moves the bound past tokens dated ahead by an earlier change).
        let issued_from = now_secs().saturating_add(1);
        if !self
            .users
            .update_password(app, name, &hash, issued_from, now)
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
            .users
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

impl crate::accounts::AccountService {
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
            .users
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
            .users
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
