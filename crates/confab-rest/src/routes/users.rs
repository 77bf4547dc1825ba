//! IM users: register (one or a batch), read, delete, change password.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::HeaderMap,
    Json,
};
use confab_core::{
    app::App,
    auth::RestScope,
    ids::UserName,
    now_ms,
    user::{NewUser, User},
    Error,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    error::ApiError,
    extract::{bearer, resolve_app, AppJson},
    RestState,
};

#[derive(Debug, Deserialize)]
pub(crate) struct UserBody {
    username: String,
    password: String,
    nickname: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(UserBody),
    Many(Vec<UserBody>),
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordBody {
    newpassword: String,
}

/// # `POST /{org}/{app}/users`
///
/// Bearer: an app token, unless open registration is on (then no auth, as the SDK's
/// `registerUser` sends). Body: one `{username, password, nickname?}` or an array (≤ 60);
/// all are created or none.
pub(crate) async fn create_users_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    AppJson(body): AppJson<OneOrMany>,
) -> Result<Json<Value>, ApiError> {
    let app = resolve_app(&state.chat, &org, &app, &headers).await?;
    if !state.chat.limits().open_registration || bearer(&headers).is_some() {
        if bearer(&headers).is_none() {
            return Err(Error::RegistrationClosed.into());
        }
        state
            .chat
            .authorize(&app, bearer(&headers), RestScope::App)
            .await?;
    }
    let bodies = match body {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    };
    let new_users = bodies
        .into_iter()
        .map(|body| NewUser {
            username: body.username,
            password: body.password,
            nickname: body.nickname,
        })
        .collect();
    let users = state.chat.create_users(&app.key, new_users).await?;
    Ok(Json(envelope(&app, "post", "/users", &users)))
}

/// # `GET /{org}/{app}/users/{user}`
///
/// Bearer: an app token, or the user's own token.
pub(crate) async fn get_user_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = resolve_app(&state.chat, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    state
        .chat
        .authorize(&app, bearer(&headers), RestScope::User(&name))
        .await?;
    let user = state.chat.user(&app.key, &name).await?;
    let mut body = envelope(&app, "get", "/users", std::slice::from_ref(&user));
    body["count"] = json!(1);
    Ok(Json(body))
}

/// # `DELETE /{org}/{app}/users/{user}`
///
/// Bearer: an app token. Deletes the user and their waiting messages, and disconnects them
/// (their SDK sees `USER_REMOVED`, 207).
pub(crate) async fn delete_user_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = resolve_app(&state.chat, &org, &app, &headers).await?;
    state
        .chat
        .authorize(&app, bearer(&headers), RestScope::App)
        .await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    let deleted = state.chat.delete_user(&app.key, &name).await?;
    Ok(Json(envelope(&app, "delete", "/users", &[deleted])))
}

/// # `PUT /{org}/{app}/users/{user}/password`
///
/// Bearer: an app token, or the user's own token. Body `{newpassword}`. Revokes the user's
/// older tokens and disconnects their sessions (`USER_KICKED_BY_CHANGE_PASSWORD`, 216).
pub(crate) async fn change_password_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    AppJson(body): AppJson<PasswordBody>,
) -> Result<Json<Value>, ApiError> {
    let app = resolve_app(&state.chat, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    state
        .chat
        .authorize(&app, bearer(&headers), RestScope::User(&name))
        .await?;
    state
        .chat
        .change_password(&app.key, &name, body.newpassword)
        .await?;
    Ok(Json(json!({
        "action": "set user password",
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// A user as the hosted API lists it in `entities`.
pub(crate) fn user_entity(user: &User) -> Value {
    json!({
        "uuid": user.uuid,
        "type": "user",
        "created": user.created_ms,
        "modified": user.modified_ms,
        "username": user.name.as_str(),
        "activated": user.activated,
        "nickname": user.nickname,
    })
}

fn envelope(app: &App, action: &str, path: &str, users: &[User]) -> Value {
    json!({
        "action": action,
        "application": app.uuid,
        "path": path,
        "uri": format!("/{}/{}{}", app.key.org(), app.key.app(), path),
        "entities": users.iter().map(user_entity).collect::<Vec<_>>(),
        "timestamp": now_ms(),
        "duration": 0,
        "organization": app.key.org(),
        "applicationName": app.key.app(),
    })
}
