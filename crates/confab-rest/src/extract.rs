//! Request parts every route needs: the JSON body (whose rejection is our error shape), the
//! bearer token, and the addressed app.

use std::sync::Arc;

use axum::{
    extract::{FromRequest, Request},
    http::{header::AUTHORIZATION, HeaderMap},
};
use confab_core::{
    app::{App, AppService},
    auth::RestScope,
    ids::{AppKey, UserName},
    Error,
};
use serde::de::DeserializeOwned;

use crate::{error::ApiError, path::FROM_TOKEN, RestState};

/// `axum::Json`, except that a body that does not parse answers with our JSON error. The
/// content type is not checked: the SDK's mini-program build does not always send one.
pub(crate) struct AppJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(ApiError::from_body_rejection)?;
        serde_json::from_slice(&bytes)
            .map(AppJson)
            .map_err(|error| ApiError::BadBody(error.to_string()))
    }
}

/// The token of `Authorization: Bearer <token>`, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The app a request addresses: by `org`/`app` in the path, or, for the appId-only form, by
/// the bearer token's App ID; without a token, the only app of a single-app deployment.
pub(crate) async fn resolve_app(
    apps: &AppService,
    org: &str,
    app: &str,
    headers: &HeaderMap,
) -> Result<Arc<App>, ApiError> {
    if org == FROM_TOKEN && app == FROM_TOKEN {
        if let Some(token) = bearer(headers) {
            let app_id = confab_token::peek_app_id(token).map_err(Error::Token)?;
            return Ok(apps.app_by_app_id(&app_id).await?);
        }
        let mut listed = apps.list_apps().await?;
        return match (listed.pop(), listed.is_empty()) {
            (Some(only), true) => Ok(apps.app(&only.key).await?),
            _ => Err(Error::AppNotFound.into()),
        };
    }
    let key = AppKey::new(org, app).ok_or(Error::AppNotFound)?;
    Ok(apps.app(&key).await?)
}

/// The app of an admin route, once the bearer holds an app token for it.
pub(crate) async fn app_for_admin(
    state: &RestState,
    org: &str,
    app: &str,
    headers: &HeaderMap,
) -> Result<Arc<App>, ApiError> {
    let app = resolve_app(&state.apps, org, app, headers).await?;
    state
        .accounts
        .authorize(&app, bearer(headers), RestScope::App)
        .await?;
    Ok(app)
}

/// The app and the user a `…/user/{user}/…` route is for, once the token allows it (the
/// user's own token, or an app token).
pub(crate) async fn app_for_user(
    state: &RestState,
    org: &str,
    app: &str,
    user: String,
    headers: &HeaderMap,
) -> Result<(Arc<App>, UserName), ApiError> {
    let app = resolve_app(&state.apps, org, app, headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    state
        .accounts
        .authorize(&app, bearer(headers), RestScope::User(&name))
        .await?;
    Ok((app, name))
}

/// The first value of `key` in a query's pairs. Pairs rather than a struct: the mini-program
/// SDK repeats keys, which a struct would reject.
pub(crate) fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// A page size from the query: `key`'s value, `default` when it is absent or empty (the SDKs
/// send `""`, `null` or `undefined` for "not given"), else 1 to `max`.
pub(crate) fn page_limit(
    pairs: &[(String, String)],
    key: &str,
    default: u32,
    max: u32,
) -> Result<u32, ApiError> {
    match query_value(pairs, key) {
        None | Some("" | "null" | "undefined") => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=max).contains(limit))
            .ok_or_else(|| Error::InvalidArgument(format!("{key} must be 1 to {max}")).into()),
    }
}

/// Parses a body read as bytes, for routes that check the token before looking at the body.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| ApiError::BadBody(error.to_string()))
}

/// The app of a route open to every user of the app (an upload, `fetchUserInfoById`), and
/// who calls it: the token's user, or `""` for an app token.
pub(crate) async fn caller_of_app(
    state: &RestState,
    org: &str,
    app: &str,
    headers: &HeaderMap,
) -> Result<(Arc<App>, String), ApiError> {
    let app = resolve_app(&state.apps, org, app, headers).await?;
    let caller = caller(state, &app, headers).await?;
    Ok((app, caller))
}

async fn caller(state: &RestState, app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = bearer(headers);
    let user_id = token
        .and_then(|token| confab_token::decode(token).ok())
        .and_then(|decoded| {
            decoded
                .chat()
                .filter(|chat| chat.user_privilege().is_some() && chat.app_privilege().is_none())
                .map(|chat| String::from_utf8_lossy(chat.user_id()).into_owned())
        });
    match user_id.as_deref().and_then(UserName::parse) {
        Some(name) => {
            state
                .accounts
                .authorize(app, token, RestScope::User(&name))
                .await?;
            Ok(name.as_str().to_owned())
        }
        None => {
            state.accounts.authorize(app, token, RestScope::App).await?;
            Ok(String::new())
        }
    }
}
