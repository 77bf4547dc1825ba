//! IM users: register (one or a batch), read, delete, change password, ban; their presence,
//! their online devices (`resources`), and forcing all or one of them offline.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{
    extract::{ConnectInfo, Path, Query, State},
    http::HeaderMap,
    Extension, Json,
};
use confab_core::{
    app::App,
    auth::RestScope,
    ids::UserName,
    now_ms,
    user::{NewUser, User, MAX_USER_PAGE},
    Error,
};
use confab_token::Privilege;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    error::ApiError,
    extract::{app_for_admin, app_for_user, bearer, query_value, resolve_app, AppJson},
    routes::token::client_ip,
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
    /// Required when the bearer is the user's own token.
    oldpassword: Option<String>,
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
    let app = resolve_app(&state.apps, &org, &app, &headers).await?;
    if !state.accounts.limits().open_registration || bearer(&headers).is_some() {
        if bearer(&headers).is_none() {
            return Err(Error::RegistrationClosed.into());
        }
        state
            .accounts
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
    let users = state.accounts.create_users(&app.key, new_users).await?;
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
    let (app, name) = app_for_user(&state, &org, &app, user, &headers).await?;
    let user = state.accounts.user(&app.key, &name).await?;
    let mut body = envelope(&app, "get", "/users", std::slice::from_ref(&user));
    body["count"] = json!(1);
    Ok(Json(body))
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct UpdateUserBody {
    nickname: Option<String>,
    device_id: Option<String>,
    device_token: Option<String>,
    notifier_name: Option<String>,
    /// `blockGroup`: `[{"notification_ignore_<group>": true}]`.
    entities: Option<Vec<serde_json::Map<String, Value>>>,
}

/// The groups a `blockGroup` body ignores (`true`) or no longer ignores (`false`) in push.
fn ignored_groups(
    entities: &[serde_json::Map<String, Value>],
) -> Result<Vec<(confab_core::ids::GroupId, bool)>, Error> {
    let mut groups = Vec::new();
    for (key, value) in entities.iter().flatten() {
        let group = key
            .strip_prefix("notification_ignore_")
            .and_then(confab_core::ids::GroupId::parse)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown user field {key}")))?;
        let ignore = match value {
            Value::Bool(flag) => *flag,
            Value::String(text) => text == "true",
            _ => return Err(Error::InvalidArgument(format!("{key} must be a boolean"))),
        };
        groups.push((group, ignore));
    }
    Ok(groups)
}

/// # `PUT /{org}/{app}/users/{user}` `{nickname}` or `{device_id, device_token, notifier_name}`
///
/// `updateCurrentUserNick` (the user's own token) or the admin API (an app token): sets the
/// nickname, the name push notifications show. `uploadPushToken` / `unbindPushToken` (an
/// empty `device_token`): binds the device's push token. `entities[0]` is the user.
pub(crate) async fn update_user_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, name) = app_for_user(&state, &org, &app, user, &headers).await?;
    let body: UpdateUserBody = crate::extract::parse_json(&body)?;
    let ignored = ignored_groups(body.entities.as_deref().unwrap_or_default())?;
    if body.nickname.is_none() && body.device_id.is_none() && ignored.is_empty() {
        return Err(Error::InvalidArgument("nothing to update".to_owned()).into());
    }
    // An app token may name a user that does not exist: nothing is stored for them.
    state.accounts.user(&app.key, &name).await?;
    // Only a member ignores a group; all are checked before any is changed.
    for (group, _) in &ignored {
        state.groups.check_member(&app.key, group, &name).await?;
    }
    if let Some(nickname) = &body.nickname {
        state
            .accounts
            .set_nickname(&app.key, &name, nickname)
            .await?;
    }
    if let Some(device_id) = &body.device_id {
        let token = confab_core::store::PushToken {
            device_id: device_id.clone(),
            device_token: body.device_token.clone().unwrap_or_default(),
            notifier: body.notifier_name.clone().unwrap_or_default(),
        };
        state
            .notifications
            .set_push_token(&app.key, &name, &token)
            .await?;
    }
    // A group whose pushes the user ignores is a group in silent mode ("NONE").
    for (group, ignore) in ignored {
        let change = if ignore {
            confab_core::notifications::SettingChange::RemindType("NONE".to_owned())
        } else {
            confab_core::notifications::SettingChange::Clear
        };
        let scope = confab_core::store::NotificationScope::Group(group.to_string());
        state
            .notifications
            .change(&app.key, (&name, ""), &scope, change)
            .await?;
    }
    let user = state.accounts.user(&app.key, &name).await?;
    Ok(Json(envelope(
        &app,
        "put",
        "/users",
        std::slice::from_ref(&user),
    )))
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
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    let deleted = state.accounts.delete_user(&app.key, &name).await?;
    Ok(Json(envelope(&app, "delete", "/users", &[deleted])))
}

/// # `PUT /{org}/{app}/users/{user}/password`
///
/// Bearer: an app token (the hosted document's form: body `{newpassword}`), or the user's own
/// token with `{oldpassword, newpassword}`: a stolen user token alone must not take over the
/// account, so a missing or wrong old password is 401, and wrong ones are throttled like
/// password grants (429). Revokes the user's tokens issued up to now and disconnects their
/// sessions (`USER_KICKED_BY_CHANGE_PASSWORD`, 216).
pub(crate) async fn change_password_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    AppJson(body): AppJson<PasswordBody>,
) -> Result<Json<Value>, ApiError> {
    let app = resolve_app(&state.apps, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    let verified = state
        .accounts
        .authorize(&app, bearer(&headers), RestScope::User(&name))
        .await?;
    let old_password = match verified.privilege {
        Privilege::App => None,
        Privilege::User => Some(body.oldpassword.ok_or(Error::WrongOldPassword)?),
    };
    state
        .accounts
        .change_password(
            &app.key,
            &name,
            old_password,
            body.newpassword,
            client_ip(connect),
        )
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

/// The hosted service's default page size for `GET /users`.
const DEFAULT_USER_PAGE: u32 = 10;

/// # `GET /{org}/{app}/users?limit=&cursor=`
///
/// Bearer: an app token. Users in name order; the response's `cursor` fetches the next page
/// and is absent on the last one. `limit` is 1–100 (default 10). Confab extension: `q=<prefix>`.
pub(crate) async fn list_users_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let limit = query_value(&query, "limit")
        .and_then(|limit| limit.parse::<u32>().ok())
        .unwrap_or(DEFAULT_USER_PAGE)
        .clamp(1, MAX_USER_PAGE);
    // `q` is a Confab extension: only names starting with it (the console's search box).
    let page = state
        .accounts
        .list_users(
            &app.key,
            query_value(&query, "q").unwrap_or(""),
            query_value(&query, "cursor"),
            limit,
        )
        .await?;
    let mut body = envelope(&app, "get", "/users", &page.users);
    body["params"] = json!({ "limit": [limit.to_string()] });
    body["count"] = json!(page.users.len());
    if let Some(cursor) = page.cursor {
        body["cursor"] = json!(cursor);
    }
    Ok(Json(body))
}

/// # `POST /{org}/{app}/users/{user}/deactivate`
///
/// Bearer: an app token. Bans the user: logins and token grants are refused until
/// `activate`, and live sessions are closed (the SDK sees 217 and does not reconnect).
pub(crate) async fn deactivate_user_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    let user = state
        .accounts
        .set_user_activated(&app.key, &name, false)
        .await?;
    Ok(Json(json!({
        "action": "Deactivate user",
        "entities": [user_entity(&user)],
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `POST /{org}/{app}/users/{user}/activate`
///
/// Bearer: an app token. Lifts a ban; the user may log in again.
pub(crate) async fn activate_user_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    state
        .accounts
        .set_user_activated(&app.key, &name, true)
        .await?;
    Ok(Json(json!({
        "action": "activate user",
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `GET /{org}/{app}/users/{user}/disconnect`
///
/// Bearer: an app token. Closes every session of the user; they may log in again.
pub(crate) async fn disconnect_user_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    state.accounts.disconnect_user(&app.key, &name).await?;
    Ok(Json(json!({
        "action": "get",
        "uri": format!("/{}/{}/users/{}/disconnect", app.key.org(), app.key.app(), name),
        "entities": [],
        "data": { "result": true },
        "timestamp": now_ms(),
        "duration": 0,
        "count": 0,
    })))
}

/// # `DELETE /{org}/{app}/users/{user}/disconnect/{resource}`
///
/// Bearer: an app token. Closes the user's session on that resource, on whichever node it
/// lives; the SDK sees 217 (`USER_KICKED_BY_OTHER_DEVICE`, as the hosted service sends for
/// an administrative logout) and does not reconnect. `data.result` is `false` when no session
/// of the user is on that resource (the user must exist: else 404).
pub(crate) async fn disconnect_device_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user, resource)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    let result = state
        .accounts
        .disconnect_device(&app.key, &name, &resource)
        .await?;
    Ok(Json(json!({
        "action": "delete",
        "uri": format!("/{}/{}/users/{}/disconnect/{}", app.key.org(), app.key.app(), name, resource),
        "organization": app.key.org(),
        "application": app.uuid,
        "applicationName": app.key.app(),
        "entities": [],
        "data": { "result": result },
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `GET /{org}/{app}/users/{user}/resources`
///
/// Bearer: the user's own token (the SDK's `getSelfIdsOnOtherPlatform`) or an app token.
/// `data` lists the user's live sessions on every node, oldest login first, as
/// `{res, device_uuid?, device_name?}` (the `Provision` of each session; absent when its SDK
/// sent none). The SDK leaves out its own resource and shows `user/res`.
pub(crate) async fn resources_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, name) = app_for_user(&state, &org, &app, user, &headers).await?;
    let devices = state.accounts.online_devices(&app.key, &name).await?;
    let data: Vec<Value> = devices
        .into_iter()
        .map(|device| {
            let mut entry = json!({ "res": device.resource });
            if let Some(uuid) = device.device_uuid {
                entry["device_uuid"] = json!(uuid);
            }
            if let Some(device_name) = device.device_name {
                entry["device_name"] = json!(device_name);
            }
            entry
        })
        .collect();
    let path = format!("/users/{name}/resources");
    Ok(Json(json!({
        "path": path,
        "uri": format!("/{}/{}{}", app.key.org(), app.key.app(), path),
        "organization": app.key.org(),
        "application": app.uuid,
        "applicationName": app.key.app(),
        "entities": [],
        "action": "get",
        "data": data,
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `GET /{org}/{app}/users/{user}/status`
///
/// Bearer: an app token. `data` is `{"<user>": "online" | "offline"}`: online when the user
/// has a live session.
pub(crate) async fn user_status_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let name = UserName::parse(&user).ok_or(Error::UserNotFound(user))?;
    let user = state.accounts.user(&app.key, &name).await?;
    Ok(Json(json!({
        "action": "get",
        "uri": format!("/{}/{}/users/{}/status", app.key.org(), app.key.app(), user.name),
        "entities": [],
        "data": { user.name.as_str(): presence(&state, &app, &user.name).await? },
        "timestamp": now_ms(),
        "duration": 0,
        "count": 0,
    })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct BatchStatusBody {
    usernames: Vec<String>,
}

/// # `POST /{org}/{app}/users/batch/status`
///
/// Bearer: an app token. Body `{"usernames": [...]}` (at most 100). `data` is
/// `[{"<user>": "online" | "offline"}, …]` in request order; names that are not users are
/// reported offline, as presence is not a lookup of the user table.
pub(crate) async fn batch_status_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    AppJson(body): AppJson<BatchStatusBody>,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    if body.usernames.len() > MAX_USER_PAGE as usize {
        return Err(Error::Unsupported("more than 100 usernames at a time").into());
    }
    let mut data = Vec::with_capacity(body.usernames.len());
    for raw in &body.usernames {
        let status = match UserName::parse(raw) {
            Some(name) => presence(&state, &app, &name).await?,
            None => "offline",
        };
        data.push(json!({ raw.as_str(): status }));
    }
    Ok(Json(json!({
        "action": "post",
        "uri": format!("/{}/{}/users/batch/status", app.key.org(), app.key.app()),
        "entities": [],
        "data": data,
        "timestamp": now_ms(),
        "duration": 0,
        "count": 0,
    })))
}

/// Online when the user has a live session on any node (`Presence`).
async fn presence(state: &RestState, app: &App, name: &UserName) -> Result<&'static str, Error> {
    Ok(if state.accounts.is_online(&app.key, name).await? {
        "online"
    } else {
        "offline"
    })
}
