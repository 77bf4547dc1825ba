//! Tokens: the grants of `POST /token`, and the expiry check the SDK's `renewToken` calls.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{
    extract::{ConnectInfo, Path, State},
    http::HeaderMap,
    Extension, Json,
};
use confab_core::{auth::RestScope, ids::UserName, Error};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    error::ApiError,
    extract::{bearer, resolve_app, AppJson},
    routes::users::user_entity,
    RestState,
};

#[derive(Debug, Deserialize)]
pub(crate) struct TokenRequest {
    grant_type: String,
    username: Option<String>,
    password: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Seconds; a number or a numeric string. 0 = never expires.
    ttl: Option<Value>,
}

/// # `POST /{org}/{app}/token`
///
/// No auth. `grant_type` `password` (the SDK's `open({user, pwd})`) returns a user token;
/// `client_credentials` returns an app token for the admin routes; `inherit` (Bearer: an app
/// token) returns a user token for an existing user. `expires_in` is seconds. User tokens name
/// the user's UUID. Password checks are bounded in concurrency and wrong passwords throttled
/// per user and client address: both answer 429 `too_many_requests`.
pub(crate) async fn token_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    AppJson(request): AppJson<TokenRequest>,
) -> Result<Json<Value>, ApiError> {
    let app = resolve_app(&state.apps, &org, &app, &headers).await?;
    let ttl = match &request.ttl {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.parse().ok(),
        Some(_) => None,
    };
    match request.grant_type.as_str() {
        "password" => {
            let (token, user) = state
                .accounts
                .password_grant(
                    &app,
                    request.username.as_deref().unwrap_or(""),
                    request.password.unwrap_or_default(),
                    ttl,
                    client_ip(connect),
                )
                .await?;
            Ok(Json(json!({
                "access_token": token.access_token,
                "expires_in": token.expires_in,
                "user": user_entity(&user),
            })))
        }
        "client_credentials" => {
            let token = state.accounts.client_credentials_grant(
                &app,
                request.client_id.as_deref().unwrap_or(""),
                request.client_secret.as_deref().unwrap_or(""),
                ttl,
            )?;
            Ok(Json(json!({
                "access_token": token.access_token,
                "expires_in": token.expires_in,
                "application": app.uuid,
            })))
        }
        // Easemob's "inherit": a user token for an existing user, for the holder of an app token.
        "inherit" => {
            state
                .accounts
                .authorize(&app, bearer(&headers), RestScope::App)
                .await?;
            let (token, user) = state
                .accounts
                .inherit_grant(&app, request.username.as_deref().unwrap_or(""), ttl)
                .await?;
            Ok(Json(json!({
                "access_token": token.access_token,
                "expires_in": token.expires_in,
                "user": user_entity(&user),
            })))
        }
        _ => Err(Error::Unsupported("this grant_type").into()),
    }
}

/// # `GET /{org}/{app}/sdk/users/{user}/token/expires`
///
/// Bearer: the user's (new) token or an app token. Answers the token's deadline in epoch ms,
/// which the SDK's `renewToken` re-arms its expiry timers from (PROTOCOL.md §2.6). A user token
/// of a deleted or recreated user is refused as revoked; an app token for a user that does
/// not exist gets 404.
pub(crate) async fn token_expires_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = resolve_app(&state.apps, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    let verified = state
        .accounts
        .authorize(&app, bearer(&headers), RestScope::User(&name))
        .await?;
    state.accounts.user(&app.key, &name).await?;
    Ok(Json(
        json!({ "expire_timestamp": verified.expires_at_ms() }),
    ))
}

/// The client's address, when the listener provides it (`ConnectInfo`).
pub(crate) fn client_ip(
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Option<std::net::IpAddr> {
    connect.map(|Extension(ConnectInfo(address))| address.ip())
}
