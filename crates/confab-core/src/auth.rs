//! Who is calling: socket logins, REST bearer tokens, and the token grants of `POST /token`.
//!
//! Every token Confab accepts or issues is an Agora AccessToken2 (`007…`), so there is one
//! verification path (TOKEN.md §9 "Recommendation").

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use confab_token::{TokenUse, VerifiedToken};

use crate::{
    accounts::AccountService,
    admin::constant_time_eq,
    app::App,
    bus::{Event, KickReason},
    ids::{AppKey, SessionId, UserName},
    now_ms,
    user::{now_secs, password_attempt, User},
    Error,
};

/// The SDK's login, as read from `PROVISION`.
#[derive(Debug, Clone)]
pub struct LoginRequest<'a> {
    /// `guid.appKey`; empty when the SDK was initialised with `appId` only (PROTOCOL.md §2.2).
    pub app_key: &'a str,
    pub user: &'a str,
    pub token: &'a str,
}

#[derive(Debug, Clone)]
pub struct LoginGrant {
    pub app: Arc<App>,
    pub user: User,
    /// The token's deadline in epoch milliseconds (`Provision.authToken` `expires_in`).
    pub expires_at_ms: u64,
}

/// What a REST route requires of its bearer token.
#[derive(Debug, Clone, Copy)]
pub enum RestScope<'a> {
    /// Administrator routes: an app token.
    App,
    /// The SDK's own routes for one user: that user's token, or an app token.
    User(&'a UserName),
}

/// A token from `POST /token`.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    /// Seconds, as the REST API reports it.
    pub expires_in: u64,
}

const NEVER_EXPIRES: u32 = u32::MAX;

impl AccountService {
    /// Resolves the app (by key, or by the token's App ID), verifies the token for the user
    /// (TOKEN.md §8 order: token checks first, then the user's existence).
    pub async fn login(&self, request: LoginRequest<'_>) -> Result<LoginGrant, Error> {
        let app = if request.app_key.is_empty() {
            let app_id = confab_token::peek_app_id(request.token)?;
            self.apps.app_by_app_id(&app_id).await?
        } else {
            let key = AppKey::parse(request.app_key).ok_or(Error::AppNotFound)?;
            self.apps.app(&key).await?
        };
        let user = match UserName::parse(request.user) {
            Some(name) => self.users.user(&app.key, &name).await?,
            None => None,
        };
        let verified = confab_token::verify(
            request.token,
            &app.app_id,
            &app.certificate_texts(now_ms()),
            TokenUse::Login {
                user: request.user,
                user_uuid: user.as_ref().map(|user| user.uuid.as_str()),
            },
            now_ms() / 1000,
        )?;
        let user = user.ok_or_else(|| Error::UserNotFound(request.user.to_owned()))?;
        if verified.issue_ts < user.tokens_issued_from {
            return Err(Error::TokenRevoked);
        }
        if !user.activated {
            return Err(Error::UserDeactivated(user.name.to_string()));
        }
        Ok(LoginGrant {
            app,
            user,
            expires_at_ms: verified.expires_at_ms(),
        })
    }

    /// Checks a REST bearer token against the route's scope.
    pub async fn authorize(
        &self,
        app: &App,
        bearer: Option<&str>,
        scope: RestScope<'_>,
    ) -> Result<VerifiedToken, Error> {
        let token = bearer.ok_or(Error::Token(confab_token::TokenError::Expired))?;
        let now = now_ms() / 1000;
        let certificates = app.certificate_texts(now_ms());
        let verified = match scope {
            RestScope::App => confab_token::verify(
                token,
                &app.app_id,
                &certificates,
                confab_token::TokenUse::RestApp,
                now,
            )?,
            RestScope::User(name) => {
                let user = self.users.user(&app.key, name).await?;
                let verified = confab_token::verify(
                    token,
                    &app.app_id,
                    &certificates,
                    TokenUse::RestUser {
                        user: name.as_str(),
                        user_uuid: user.as_ref().map(|user| user.uuid.as_str()),
                    },
                    now,
                )?;
                if verified.privilege == confab_token::Privilege::User {
                    // A user token for a user who is gone (deleted, or recreated: then
                    // `tokens_issued_from` is the new user's creation second) is revoked.
                    let user = user.ok_or(Error::TokenRevoked)?;
                    if verified.issue_ts < user.tokens_issued_from {
                        return Err(Error::TokenRevoked);
                    }
                    if !user.activated {
                        return Err(Error::UserDeactivated(user.name.to_string()));
                    }
                }
                verified
            }
        };
        Ok(verified)
    }

    /// `grant_type: password`: a user token for a user whose password matches. Wrong
    /// passwords lock the user for the client's address (and, past a higher count, the
    /// address) for a while; a lock refuses the right password too (`TooManyRequests`).
    pub async fn password_grant(
        &self,
        app: &App,
        username: &str,
        password: String,
        ttl_secs: Option<u64>,
        client: Option<IpAddr>,
    ) -> Result<(IssuedToken, User), Error> {
        let name =
            UserName::parse(username).ok_or_else(|| Error::UserNotFound(username.to_owned()))?;
        let user = self
            .users
            .user(&app.key, &name)
            .await?
            .ok_or_else(|| Error::UserNotFound(name.to_string()))?;
        let attempt = password_attempt(&app.key, &name, client);
        self.password_failures.check(&attempt, Instant::now())?;
        if !self
            .password_work
            .verify(password, user.password_hash.clone())
            .await?
        {
            self.password_failures
                .record_failure(&attempt, Instant::now());
            tracing::info!(app = %app.key, user = ?name.as_str(), ?client, "password grant refused");
            return Err(Error::InvalidPassword);
        }
        self.password_failures.record_success(&attempt);
        if !user.activated {
            return Err(Error::UserDeactivated(user.name.to_string()));
        }
        Ok((self.issue_user_token(app, &user, ttl_secs), user))
    }

    /// A user token for an existing user, for holders of an app token (`grant_type: inherit`)
    /// and the console. Deactivated users get none.
    pub async fn inherit_grant(
        &self,
        app: &App,
        username: &str,
        ttl_secs: Option<u64>,
    ) -> Result<(IssuedToken, User), Error> {
        let name =
            UserName::parse(username).ok_or_else(|| Error::UserNotFound(username.to_owned()))?;
        let user = self
            .users
            .user(&app.key, &name)
            .await?
            .ok_or_else(|| Error::UserNotFound(name.to_string()))?;
        if !user.activated {
            return Err(Error::UserDeactivated(user.name.to_string()));
        }
        Ok((self.issue_user_token(app, &user, ttl_secs), user))
    }

    /// An app token signed with the primary certificate; the caller has authorised the holder.
    pub fn issue_app_token(&self, app: &App, ttl_secs: Option<u64>) -> IssuedToken {
        let (issue_ts, expire) = self.lifetime(ttl_secs);
        IssuedToken {
            access_token: confab_token::build_app_token(
                &app.app_id,
                app.signing_certificate(),
                issue_ts,
                expire,
            ),
            expires_in: u64::from(expire),
        }
    }

    /// A user token naming the user's UUID, as Agora Chat's `buildUserToken(appId, cert,
    /// userUuid, …)` does: a later user of the same name has another UUID and does not accept
    /// it. Dated no earlier than `tokens_issued_from`, so a token issued in the second of a
    /// password change (up to a second ahead of the clock) still works.
    fn issue_user_token(&self, app: &App, user: &User, ttl_secs: Option<u64>) -> IssuedToken {
        let (_, expire) = self.lifetime(ttl_secs);
        let issue_ts = now_secs().max(user.tokens_issued_from);
        let access_token = confab_token::build_user_token(
            &app.app_id,
            app.signing_certificate(),
            &user.uuid,
            issue_ts,
            expire,
        );
        IssuedToken {
            access_token,
            expires_in: u64::from(expire),
        }
    }

    /// `grant_type: client_credentials`: an app token for the holder of the client secret.
    pub fn client_credentials_grant(
        &self,
        app: &App,
        client_id: &str,
        client_secret: &str,
        ttl_secs: Option<u64>,
    ) -> Result<IssuedToken, Error> {
        let id_matches = constant_time_eq(client_id.as_bytes(), app.client_id.as_bytes());
        let secret_matches = constant_time_eq(
            client_secret.as_bytes(),
            app.client_secret.expose().as_bytes(),
        );
        if !(id_matches & secret_matches) {
            return Err(Error::BadClientCredentials);
        }
        Ok(self.issue_app_token(app, ttl_secs))
    }

    /// Closes the user's sessions on `resource` (every resource when `None`), on every node;
    /// with `older_than` (a new login's session), only the sessions that logged in before it.
    pub async fn kick(
        &self,
        app: &AppKey,
        user: &UserName,
        resource: Option<String>,
        reason: KickReason,
        older_than: Option<SessionId>,
    ) -> Result<(), Error> {
        self.bus
            .publish(Event::Kick {
                app: app.clone(),
                user: user.clone(),
                resource,
                reason,
                older_than,
            })
            .await?;
        Ok(())
    }

    /// `ttl` 0 means "never expires" (TOKEN.md §9); absent means the configured default.
    fn lifetime(&self, ttl_secs: Option<u64>) -> (u32, u32) {
        let issue_ts = now_secs();
        let expire = match ttl_secs {
            None => self.limits.default_token_ttl_secs,
            Some(0) => NEVER_EXPIRES,
            Some(ttl) => u32::try_from(ttl).unwrap_or(NEVER_EXPIRES),
        };
        (issue_ts, expire)
    }
}
