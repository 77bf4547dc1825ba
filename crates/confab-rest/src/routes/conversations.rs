//! Server-side conversations (PROTOCOL.md §2.8): the list (`getServerConversations`,
//! `getServerPinnedConversations`), pinning, marks, deletion, and one-way removal of history.
//! Every route takes the user's own token (or an app token) and works on single chats and groups.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, Method},
    Json,
};
use confab_core::{
    app::App,
    conversations::{
        group_conversation, parse_mark, parse_message_id, parse_message_id_list,
        rest_message_from_stored, single_chat_conversation, ConversationFilter,
    },
    ids::{AppKey, QueueName, RoomId, UserName},
    now_ms,
    reaction::MessagePlace,
    store::ConversationChange,
    Error,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    error::ApiError,
    extract::{app_for_user, parse_json, query_value},
    RestState,
};

type Pairs = Vec<(String, String)>;

/// A conversation named by `to` and `type` (`chat`, or a group's: `groupChat`, `groupchat`).
fn conversation(to: &str, conversation_type: &str) -> Result<QueueName, Error> {
    match conversation_type {
        "chat" | "singleChat" => single_chat_conversation(to),
        "groupChat" | "groupchat" => group_conversation(to),
        _ => Err(Error::InvalidArgument(format!(
            "invalid conversation type {conversation_type}"
        ))),
    }
}

/// The conversation of a pinned message as `to` and `type` name it.
fn message_place(to: &str, conversation_type: &str) -> Result<MessagePlace, Error> {
    let queue = conversation(to, conversation_type)?;
    if let Some(group) = queue.group_id() {
        return Ok(MessagePlace::Group(group));
    }
    UserName::parse(to)
        .map(MessagePlace::Peer)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid conversation {to}")))
}

fn ok(action: &str, data: Value) -> Json<Value> {
    Json(json!({ "action": action, "data": data, "timestamp": now_ms(), "duration": 0 }))
}

/// # `GET /{org}/{app}/sdk/user/{user}/user_channels/list?limit=&cursor=&need_mark=&is_top=`
///
/// The user's conversations, newest last message first (`is_top=true`: only pinned ones,
/// latest pinned first), `limit` (≤ 50, default 20) per page; `cursor` is opaque, `""` at the
/// end. Each entry carries the unread count of the matching queue and the last message in the
/// REST-JSON form with `payload` as a JSON string.
pub(crate) async fn list_conversations_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, owner) = app_for_user(&state, &org, &app, user, &headers).await?;
    let filter = if query_value(&query, "is_top") == Some("true") {
        ConversationFilter::Pinned
    } else {
        ConversationFilter::All
    };
    list_conversations(&state, &app, &owner, &query, filter).await
}

/// # `GET /{org}/{app}/sdk/user/{user}/user_channels/mark/search?limit=&cursor=&mark=mark_<n>`
///
/// `getServerConversationsByFilter`: the list of conversations carrying the mark.
pub(crate) async fn search_marked_conversations_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, owner) = app_for_user(&state, &org, &app, user, &headers).await?;
    let mark = parse_mark(query_value(&query, "mark").unwrap_or(""))?;
    list_conversations(
        &state,
        &app,
        &owner,
        &query,
        ConversationFilter::Marked(mark),
    )
    .await
}

async fn list_conversations(
    state: &RestState,
    app: &App,
    owner: &UserName,
    query: &Pairs,
    filter: ConversationFilter,
) -> Result<Json<Value>, ApiError> {
    let limit = match query_value(query, "limit") {
        None | Some("") => 20,
        Some(text) => text
            .parse()
            .map_err(|_| Error::InvalidArgument(format!("invalid limit {text}")))?,
    };
    let cursor = query_value(query, "cursor").unwrap_or("");
    let page = state
        .conversations
        .conversations(&app.key, owner, cursor, limit, filter)
        .await?;
    let channel_infos: Vec<Value> = page
        .conversations
        .iter()
        .map(|conversation| {
            let (peer, _) = conversation.conversation.jid_parts();
            let meta = rest_message_from_stored(&conversation.last.meta)
                .map(|mut message| {
                    message["payload"] = json!(message["payload"].to_string());
                    message
                })
                .unwrap_or_else(|| json!({}));
            // The SDK reads anything but `chat` as a group.
            let session_type = if conversation.conversation.is_group() {
                "groupchat"
            } else {
                "chat"
            };
            json!({
                "session_to": peer,
                "session_type": session_type,
                "unread_num": conversation.unread,
                "is_top": conversation.pinned_ms.is_some(),
                "update_top_status_time": conversation.pinned_ms.unwrap_or(0),
                "marks": conversation.marks.iter().map(|mark| format!("mark_{mark}")).collect::<Vec<_>>(),
                "meta": meta,
            })
        })
        .collect();
    Ok(ok(
        "get",
        json!({ "cursor": page.cursor, "channel_infos": channel_infos }),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PinBody {
    to: String,
    #[serde(rename = "type")]
    conversation_type: String,
}

/// # `POST|DELETE /{org}/{app}/sdk/user/{user}/user_channel/top?resource=`
///
/// `pinConversation`: POST with body `{type, to}` pins, DELETE with `?type=&to=` unpins.
/// Answers `{data: {is_top, update_top_status_time}}`.
pub(crate) async fn pin_conversation_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, owner) = app_for_user(&state, &org, &app, user, &headers).await?;
    let pinned = method == Method::POST;
    let target = if pinned {
        let body: PinBody = parse_json(&body)?;
        conversation(&body.to, &body.conversation_type)?
    } else {
        let to = query_value(&query, "to").unwrap_or("");
        conversation(to, query_value(&query, "type").unwrap_or("chat"))?
    };
    let time = state
        .conversations
        .pin_conversation(
            &app.key,
            &owner,
            &target,
            pinned,
            query_value(&query, "resource").unwrap_or(""),
        )
        .await?;
    Ok(ok(
        if pinned { "post" } else { "delete" },
        json!({ "is_top": pinned, "update_top_status_time": if pinned { time } else { 0 } }),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MarkBody {
    mark: String,
    targets: Vec<PinBody>,
}

/// # `POST|DELETE /{org}/{app}/sdk/user/{user}/user_channels/mark?resource=`
///
/// `markConversation`: body `{mark: "mark_<0…19>", targets: [{to, type}]}`; POST adds the
/// mark, DELETE removes it. Answers `{data: {ignore: []}}`.
pub(crate) async fn mark_conversations_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, owner) = app_for_user(&state, &org, &app, user, &headers).await?;
    let body: MarkBody = parse_json(&body)?;
    let mark = parse_mark(&body.mark)?;
    let add = method == Method::POST;
    for target in &body.targets {
        let target = conversation(&target.to, &target.conversation_type)?;
        let change = if add {
            ConversationChange::AddMarks(vec![mark])
        } else {
            ConversationChange::RemoveMarks(vec![mark])
        };
        state
            .conversations
            .change_conversation(
                &app.key,
                &owner,
                &target,
                change,
                query_value(&query, "resource").unwrap_or(""),
            )
            .await?;
    }
    Ok(ok(
        if add { "post" } else { "delete" },
        json!({ "ignore": [] }),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteBody {
    channel: String,
    #[serde(rename = "type")]
    conversation_type: String,
    #[serde(default)]
    delete_roam: bool,
}

/// # `DELETE /{org}/{app}/user/{user}/user_channel?resource=`
///
/// `deleteConversation`: body `{channel, type, delete_roam}`. The conversation leaves the
/// list until a newer message, its waiting messages are dropped, and with `delete_roam` the
/// user's history of it too (the peer's is untouched).
pub(crate) async fn delete_conversation_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, owner) = app_for_user(&state, &org, &app, user, &headers).await?;
    let body: DeleteBody = parse_json(&body)?;
    let target = conversation(&body.channel, &body.conversation_type)?;
    state
        .conversations
        .change_conversation(
            &app.key,
            &owner,
            &target,
            ConversationChange::Delete {
                history: body.delete_roam,
            },
            query_value(&query, "resource").unwrap_or(""),
        )
        .await?;
    Ok(ok("delete", json!({ "result": "ok" })))
}

/// Whose history a removal route names: `chat` routes name the peer (`userId`), `group`
/// routes the group (`groupId`), whose history only a member removes from (for themselves).
async fn removal_target(
    state: &RestState,
    app: &AppKey,
    owner: &UserName,
    kind: &str,
    query: &Pairs,
) -> Result<QueueName, ApiError> {
    match kind {
        "chat" => Ok(single_chat_conversation(
            query_value(query, "userId").unwrap_or(""),
        )?),
        "group" => {
            let conversation = group_conversation(query_value(query, "groupId").unwrap_or(""))?;
            if let Some(group) = conversation.group_id() {
                // A chat room's history is removed from by the same route.
                match RoomId::parse(group.as_str()) {
                    Some(room) if state.rooms.exists(app, &room).await? => {
                        state.rooms.check_history_reader(app, &room, owner).await?;
                    }
                    // A thread's history too.
                    _ if state.threads.exists(app, &group).await? => {
                        state
                            .threads
                            .check_history_reader(app, &group, owner)
                            .await?;
                    }
                    _ => state.groups.check_member(app, &group, owner).await?,
                }
            }
            Ok(conversation)
        }
        _ => Err(Error::InvalidArgument(format!("invalid conversation type {kind}")).into()),
    }
}

/// # `DELETE /{org}/{app}/sdk/message/roaming/{chat|group}/user/{user}?userId=|groupId=&msgIdList=&resource=`
///
/// `removeHistoryMessages` by ids (comma-separated, ≤ 20): gone from this user's history only
/// (of a group: from what this member reads of it).
pub(crate) async fn remove_history_messages_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, kind, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, owner) = app_for_user(&state, &org, &app, user, &headers).await?;
    let target = removal_target(&state, &app.key, &owner, &kind, &query).await?;
    let ids = parse_message_id_list(query_value(&query, "msgIdList").unwrap_or(""))?;
    if ids.is_empty() || ids.len() > 20 {
        return Err(Error::InvalidArgument("msgIdList must name 1 to 20 messages".into()).into());
    }
    state
        .conversations
        .change_conversation(
            &app.key,
            &owner,
            &target,
            ConversationChange::RemoveMessages(ids),
            query_value(&query, "resource").unwrap_or(""),
        )
        .await?;
    Ok(ok("delete", json!({ "result": "ok" })))
}

/// # `DELETE /{org}/{app}/sdk/message/roaming/{chat|group}/user/{user}/time?userId=|groupId=&delTime=&resource=`
///
/// `removeHistoryMessages` by time: every message older than `delTime` (epoch ms) leaves this
/// user's history.
pub(crate) async fn remove_history_before_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, kind, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, owner) = app_for_user(&state, &org, &app, user, &headers).await?;
    let target = removal_target(&state, &app.key, &owner, &kind, &query).await?;
    let time_text = query_value(&query, "delTime").unwrap_or("");
    let time_ms: u64 = time_text
        .parse()
        .map_err(|_| Error::InvalidArgument(format!("invalid delTime {time_text}")))?;
    state
        .conversations
        .change_conversation(
            &app.key,
            &owner,
            &target,
            ConversationChange::RemoveBefore(time_ms),
            query_value(&query, "resource").unwrap_or(""),
        )
        .await?;
    Ok(ok("delete", json!({ "result": "ok" })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PinMessageBody {
    to: String,
    #[serde(rename = "type")]
    conversation_type: String,
    pin_msg_id: String,
}

/// # `GET|POST|DELETE /{org}/{app}/sdk/user/{user}/user_channel/pin`
///
/// Pinned messages. POST / DELETE `?resource=` with body `{to, type, pin_msg_id}`
/// (`pinMessage` / `unpinMessage`): the other party gets `onMessagePinEvent`. GET
/// `?to=&type=chat&limit=&cursor=` (`getServerPinnedMessages`): `{data: {msg_infos: [{message,
/// pin_opt_at, pin_operator}], cursor}}`, latest pin first, `message` in the REST-JSON form.
pub(crate) async fn pinned_messages_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, owner) = app_for_user(&state, &org, &app, user, &headers).await?;
    if method == Method::GET {
        let to = query_value(&query, "to").unwrap_or("");
        let place = message_place(to, query_value(&query, "type").unwrap_or("chat"))?;
        let limit: usize = match query_value(&query, "limit") {
            None | Some("") => 10,
            Some(text) => text
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("invalid limit {text}")))?,
        };
        let start: usize = match query_value(&query, "cursor") {
            None | Some("") => 0,
            Some(text) => text
                .parse()
                .map_err(|_| Error::InvalidArgument("invalid cursor".to_owned()))?,
        };
        let pinned = state
            .messages
            .pinned_messages(&app.key, &owner, &place)
            .await?;
        let end = start.saturating_add(limit.clamp(1, 50)).min(pinned.len());
        let msg_infos: Vec<Value> = pinned
            .get(start.min(end)..end)
            .unwrap_or_default()
            .iter()
            .filter_map(|pin| {
                let mut message = rest_message_from_stored(&pin.message.meta)?;
                message["payload"] = json!(message["payload"].to_string());
                Some(json!({
                    "message": message,
                    "pin_opt_at": pin.pinned_ms,
                    "pin_operator": pin.operator.as_str(),
                }))
            })
            .collect();
        let cursor = if end < pinned.len() {
            end.to_string()
        } else {
            String::new()
        };
        return Ok(ok(
            "get",
            json!({ "msg_infos": msg_infos, "cursor": cursor }),
        ));
    }
    let body: PinMessageBody = parse_json(&body)?;
    let place = message_place(&body.to, &body.conversation_type)?;
    let message = parse_message_id(&body.pin_msg_id)?;
    let pin = method == Method::POST;
    let resource = query_value(&query, "resource").unwrap_or("");
    state
        .messages
        .pin_message(&app.key, &owner, &place, message, (pin, resource))
        .await?;
    Ok(ok(
        if pin { "post" } else { "delete" },
        json!({ "result": "ok" }),
    ))
}
