//! History roaming (`getHistoryMessages`, PROTOCOL.md §2.8): pages of stored downlink metas,
//! base64-encoded, exactly as the recipient pulled them.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    Json,
};
use base64::Engine;
use confab_core::{
    groups::GroupError,
    ids::{MessageId, QueueName, RoomId, UserName},
    now_ms,
    store::HistoryQuery,
    Error,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    error::ApiError,
    extract::{app_for_user, parse_json},
    RestState,
};

/// What the SDK posts (observed: `{queue, start, pull_number, is_positive, msgType, end,
/// startTime, endTime, userId}`).
#[derive(Debug, Deserialize)]
pub(crate) struct RoamingBody {
    queue: String,
    #[serde(default)]
    start: Value,
    pull_number: Option<u32>,
    #[serde(default)]
    is_positive: bool,
    #[serde(default, rename = "msgType")]
    msg_type: Option<String>,
    #[serde(default, rename = "startTime")]
    start_time: Option<u64>,
    #[serde(default, rename = "endTime")]
    end_time: Option<u64>,
    #[serde(default, rename = "userId")]
    user_id: Option<String>,
}

/// # `POST /{org}/{app}/users/{user}/messageroaming`
///
/// Bearer: the user's own token (or an app token). Body as `RoamingBody`; `start` is `-1` (or
/// absent) for the newest/oldest end, else the previous page's `next_key`. `is_positive`:
/// oldest first. `msgType`: comma-separated SDK kinds. `userId`: only messages from that user.
/// Answers `{data: {msgs: [{msg: <base64 Meta>}], next_key, is_last}}`; recalled messages and
/// messages the user removed are left out.
pub(crate) async fn message_roaming_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, owner) = app_for_user(&state, &org, &app, user, &headers).await?;
    let body: RoamingBody = parse_json(&body)?;
    let request = history_request(body)?;
    if request.conversation.is_group() {
        let group = request
            .conversation
            .group_id()
            .ok_or(Error::Group(GroupError::NotFound))?;
        // Rooms and groups share the conference domain and one id space.
        let room = RoomId::parse(group.as_str());
        match room {
            Some(room) if state.rooms.exists(&app.key, &room).await? => {
                state
                    .rooms
                    .check_history_reader(&app.key, &room, &owner)
                    .await?;
            }
            // A thread's history is read by its group's members.
            _ if state.threads.exists(&app.key, &group).await? => {
                state
                    .threads
                    .check_history_reader(&app.key, &group, &owner)
                    .await?;
            }
            _ => state.groups.check_member(&app.key, &group, &owner).await?,
        }
    }
    let page = state.messages.history(&app.key, &owner, request).await?;
    let base64 = base64::engine::general_purpose::STANDARD;
    let msgs: Vec<Value> = page
        .metas
        .iter()
        .map(|meta| json!({ "msg": base64.encode(meta) }))
        .collect();
    Ok(Json(json!({
        "action": "post",
        "data": {
            "msgs": msgs,
            "next_key": page.next_key.map(|id| id.0.to_string()),
            "is_last": page.is_last,
        },
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

fn history_request(body: RoamingBody) -> Result<HistoryQuery, Error> {
    let (name, domain) = body.queue.split_once('@').unwrap_or((&body.queue, ""));
    let conversation = QueueName::from_jid(name, domain)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid queue {}", body.queue)))?;
    let from = match body.user_id.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            UserName::parse(text)
                .ok_or_else(|| Error::InvalidArgument(format!("invalid userId {text}")))?,
        ),
    };
    let kinds = body
        .msg_type
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|kind| !kind.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(HistoryQuery {
        conversation,
        cursor: cursor(&body.start)?,
        newest_first: !body.is_positive,
        limit: body.pull_number.unwrap_or(20),
        from,
        kinds,
        start_ms: body.start_time,
        end_ms: body.end_time,
    })
}

/// `-1`, `null`, `""` or absent: from the start; otherwise a message id (number or string).
fn cursor(start: &Value) -> Result<Option<MessageId>, Error> {
    let bad = || Error::InvalidArgument("invalid cursor".to_owned());
    match start {
        Value::Null => Ok(None),
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(-1), _) => Ok(None),
            (_, Some(id)) => Ok(Some(MessageId(id))),
            _ => Err(bad()),
        },
        Value::String(text) if text.is_empty() || text == "-1" => Ok(None),
        Value::String(text) => text
            .parse()
            .map(|id| Some(MessageId(id)))
            .map_err(|_| bad()),
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(bad()),
    }
}
