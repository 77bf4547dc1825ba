//! Server-side message routes of the hosted REST API: send as a user (`POST /messages/users`)
//! and recall (`POST /messages/msg_recall`), and the history export of an hour
//! (`GET /chatmessages/{YYYYMMDDHH}`).

use std::sync::Arc;

use std::io::Write;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    Extension, Json,
};
use confab_core::{
    bus::RoomPriority, conversations::parse_message_id, ids::UserName, messages::RestSend, now_ms,
    store::StoreError, Error,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{
    error::ApiError,
    extract::{app_for_admin, parse_json},
    routes::dns::{request_host, ListenerInfo},
    RestState,
};

/// Most recipients per request (the hosted service's limit).
const MAX_RECIPIENTS: usize = 600;

#[derive(Debug, Deserialize)]
pub(crate) struct SendBody {
    #[serde(default)]
    from: Option<String>,
    to: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
    body: Value,
    #[serde(default)]
    ext: Value,
}

/// # `POST /{org}/{app}/messages/users`
///
/// Bearer: an app token. Body `{from?, to: [user…], type, body, ext?}` in the hosted form
/// (`type` txt/img/audio/video/file/loc/cmd/custom; `from` defaults to `admin`). Each recipient
/// gets the message over msync like one an SDK sent; answers `{data: {<user>: "<server id>"}}`.
/// Recipients are served in order and the first unknown one fails the request.
pub(crate) async fn send_as_user_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let body: SendBody = parse_json(&body)?;
    let from_text = body.from.unwrap_or_else(|| "admin".to_owned());
    let from = UserName::parse(&from_text)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid from {from_text}")))?;
    if body.to.is_empty() || body.to.len() > MAX_RECIPIENTS {
        return Err(
            Error::InvalidArgument(format!("to must name 1 to {MAX_RECIPIENTS} users")).into(),
        );
    }
    let sent = state
        .messages
        .send_as_user(
            app.clone(),
            RestSend {
                from,
                to: body.to,
                kind: body.kind,
                body: body.body,
                ext: body.ext,
            },
        )
        .await?;
    let mut data = Map::new();
    for (recipient, id) in sent {
        data.insert(recipient, json!(id.0.to_string()));
    }
    Ok(Json(json!({
        "path": "/messages/users",
        "uri": format!("/{}/{}/messages/users", app.key.org(), app.key.app()),
        "timestamp": now_ms(),
        "organization": app.key.org(),
        "application": app.uuid,
        "applicationName": app.key.app(),
        "action": "post",
        "data": data,
        "duration": 0,
    })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RoomSendBody {
    #[serde(default)]
    from: Option<String>,
    to: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
    body: Value,
    #[serde(default)]
    ext: Value,
    /// `high`, `normal` (the default) or `low`: what a slow member drops first.
    #[serde(default)]
    chatroom_msg_level: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BroadcastBody {
    #[serde(default)]
    from: Option<String>,
    /// `{type, msg | …}`: the message in the REST form, its type inside.
    msg: Value,
    #[serde(default)]
    ext: Value,
    #[serde(default)]
    chatroom_msg_level: Option<String>,
}

fn room_priority(level: Option<&str>) -> Result<RoomPriority, ApiError> {
    match level {
        None | Some("normal") => Ok(RoomPriority::Normal),
        Some("high") => Ok(RoomPriority::High),
        Some("low") => Ok(RoomPriority::Low),
        Some(other) => {
            Err(Error::InvalidArgument(format!("invalid chatroom_msg_level {other}")).into())
        }
    }
}

fn sender(from: Option<String>) -> Result<UserName, ApiError> {
    let from_text = from.unwrap_or_else(|| "admin".to_owned());
    UserName::parse(&from_text)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid from {from_text}")).into())
}

/// # `POST /{org}/{app}/messages/chatrooms`
///
/// Bearer: an app token. Body `{from?, to: [room…], type, body, ext?, chatroom_msg_level?}`:
/// each room's members online get the message like one a member sent (`from` need not be in
/// the room); answers `{data: {<room>: "<server id>"}}`.
pub(crate) async fn send_to_rooms_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let body: RoomSendBody = parse_json(&body)?;
    if body.to.is_empty() || body.to.len() > MAX_RECIPIENTS {
        return Err(
            Error::InvalidArgument(format!("to must name 1 to {MAX_RECIPIENTS} rooms")).into(),
        );
    }
    let priority = room_priority(body.chatroom_msg_level.as_deref())?;
    let message = RestSend {
        from: sender(body.from)?,
        to: body.to,
        kind: body.kind,
        body: body.body,
        ext: body.ext,
    };
    let sent = state
        .messages
        .send_to_rooms(app.clone(), message, priority, false)
        .await?;
    let mut data = Map::new();
    for (room, id) in sent {
        data.insert(room, json!(id.0.to_string()));
    }
    Ok(Json(
        json!({ "action": "post", "data": data, "timestamp": now_ms(), "duration": 0 }),
    ))
}

/// # `POST /{org}/{app}/messages/chatrooms/broadcast`
///
/// Bearer: an app token. Body `{from?, msg: {type, …}, ext?, chatroom_msg_level?}`: to every
/// room of the app, marked `is_broadcast` (the SDK's `broadcast: true`); answers `{data: {id}}`
/// with the first room's server id.
pub(crate) async fn broadcast_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let body: BroadcastBody = parse_json(&body)?;
    let kind = body
        .msg
        .get("type")
        .and_then(Value::as_str)
        .ok_or(Error::MissingField("msg.type"))?
        .to_owned();
    let priority = room_priority(body.chatroom_msg_level.as_deref())?;
    let message = RestSend {
        from: sender(body.from)?,
        to: Vec::new(),
        kind,
        body: body.msg,
        ext: body.ext,
    };
    let sent = state
        .messages
        .send_to_rooms(app.clone(), message, priority, true)
        .await?;
    let first = sent.first().map(|(_, id)| id.0.to_string());
    Ok(Json(json!({
        "action": "post",
        "data": { "id": first, "rooms": sent.len() },
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ImportBody {
    target: String,
    from: String,
    #[serde(rename = "type")]
    kind: String,
    body: Value,
    #[serde(default)]
    ext: Value,
    msg_timestamp: Option<u64>,
}

/// # `POST /{org}/{app}/messages/users/import`
///
/// Bearer: an app token. Body `{from, target, type, body, ext?, msg_timestamp?}` (one message,
/// single chat; `is_ack_read` and `need_download` are accepted and ignored). The message goes
/// into both parties' history with its own time (default: now) and is delivered to no one.
/// Answers `{data: {msg_id}}`.
pub(crate) async fn import_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let body: ImportBody = parse_json(&body)?;
    let from = UserName::parse(&body.from)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid from {}", body.from)))?;
    let id = state
        .messages
        .import_message(
            &app,
            RestSend {
                from,
                to: vec![body.target],
                kind: body.kind,
                body: body.body,
                ext: body.ext,
            },
            body.msg_timestamp.unwrap_or_else(now_ms),
        )
        .await?;
    Ok(Json(json!({
        "path": "/messages/users/import",
        "uri": format!("/{}/{}/messages/users/import", app.key.org(), app.key.app()),
        "timestamp": now_ms(),
        "organization": app.key.org(),
        "application": app.uuid,
        "applicationName": app.key.app(),
        "action": "post",
        "data": { "msg_id": id.0.to_string() },
        "duration": 0,
    })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RecallBody {
    msg_id: String,
    to: String,
    from: String,
    #[serde(default)]
    chat_type: Option<String>,
}

/// # `POST /{org}/{app}/messages/msg_recall`
///
/// Bearer: an app token. Body `{msg_id, to, from, chat_type?}` (single chat). Recalls as the
/// sender's `recallMessage` would, with the same checks (only the sender's own message, within
/// the recall window); the recipient gets `onRecallMessage`. Answers
/// `{data: {recalled: "yes", msg_id, from, to, chattype}}`.
pub(crate) async fn recall_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let body: RecallBody = parse_json(&body)?;
    if !matches!(body.chat_type.as_deref(), None | Some("chat")) {
        return Err(Error::Unsupported("group and chat-room recall").into());
    }
    let message = parse_message_id(&body.msg_id)?;
    let from = UserName::parse(&body.from)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid from {}", body.from)))?;
    let to = UserName::parse(&body.to).ok_or_else(|| Error::RecipientNotFound(body.to.clone()))?;
    state
        .messages
        .recall_as_user(app.clone(), from, to, message)
        .await?;
    Ok(Json(json!({
        "path": "/messages/msg_recall",
        "uri": format!("/{}/{}/messages/msg_recall", app.key.org(), app.key.app()),
        "timestamp": now_ms(),
        "organization": app.key.org(),
        "application": app.uuid,
        "applicationName": app.key.app(),
        "action": "post",
        "data": {
            "recalled": "yes",
            "chattype": "chat",
            "from": body.from,
            "to": body.to,
            "msg_id": body.msg_id,
        },
        "duration": 0,
    })))
}

/// # `GET /{org}/{app}/chatmessages/{YYYYMMDDHH}`
///
/// Bearer: an app token. As hosted, answers `{data: [{url}]}` with a download URL of the
/// hour's (UTC) messages; here the URL is `…/chatmessages/{hour}/download` on this server and
/// takes the same app token. The hour is checked here so a bad one fails before any download.
pub(crate) async fn export_hour_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, hour)): Path<(String, String, String)>,
    listener: Option<Extension<ListenerInfo>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    if confab_core::history::parse_hour(&hour).is_none() {
        return Err(Error::InvalidArgument(format!("invalid time {hour}")).into());
    }
    let host = request_host(&headers, listener.map(|Extension(info)| info));
    let scheme = if host.tls { "https" } else { "http" };
    let url = format!(
        "{scheme}://{}:{}/{}/{}/chatmessages/{hour}/download",
        host.host,
        host.port,
        app.key.org(),
        app.key.app()
    );
    Ok(Json(json!({
        "action": "get",
        "uri": format!("/{}/{}/chatmessages/{hour}", app.key.org(), app.key.app()),
        "entities": [],
        "data": [{ "url": url }],
        "timestamp": now_ms(),
        "duration": 0,
        "organization": app.key.org(),
        "application": app.uuid,
        "applicationName": app.key.app(),
    })))
}

/// # `GET /{org}/{app}/chatmessages/{YYYYMMDDHH}/download`
///
/// Bearer: an app token. The hour's messages as gzip-compressed JSON lines, oldest first, one
/// `{msg_id, timestamp, direction, from, to, chat_type, payload}` per line (receipts and
/// recalled messages left out).
pub(crate) async fn export_download_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, hour)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let lines = state.messages.export_hour(&app.key, &hour).await?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let gzip = encoder
        .write_all(&lines)
        .and_then(|()| encoder.finish())
        // Writes to memory: this fails only if allocation does.
        .map_err(|error| Error::Storage(StoreError::Backend(format!("gzip: {error}"))))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{hour}.gz\""),
            ),
        ],
        gzip,
    )
        .into_response())
}
