//! Threads (API-SURFACE.md section 7), with a user's token: made from a group message, joined,
//! left, renamed, destroyed, listed. Lists page by an opaque `cursor` (an offset in decimal,
//! URL-safe as the SDK sends it raw) and answer `entities` with `properties.cursor`, which the
//! SDK renames (`groupId` → `parentId`, `msgId` → `messageId`).

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::HeaderMap,
    Json,
};
use confab_core::{
    conversations::parse_message_id,
    ids::GroupId,
    now_ms,
    store::Thread,
    threads::{ThreadError, ThreadService},
    Error,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::groups::{caller, cursor_offset, parse_user, Pairs};
use crate::{
    error::ApiError,
    extract::{page_limit, parse_json},
    RestState,
};

/// Largest page of threads or members.
const MAX_PAGE: u32 = 100;

fn service(state: &RestState) -> &ThreadService {
    &state.threads
}

fn parse_thread(text: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(text).ok_or_else(|| Error::Thread(ThreadError::NotFound).into())
}

fn parse_group(text: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(text)
        .ok_or_else(|| Error::Group(confab_core::groups::GroupError::NotFound).into())
}

fn answer(action: &str, data: Value) -> Json<Value> {
    Json(json!({ "action": action, "data": data, "timestamp": now_ms(), "duration": 0 }))
}

/// A thread as the lists and the detail give it.
fn thread_json(thread: &Thread) -> Value {
    json!({
        "id": thread.id.as_str(),
        "name": thread.name,
        "owner": thread.owner.as_str(),
        "msgId": thread.parent_message.0.to_string(),
        "groupId": thread.group.as_str(),
        "created": thread.created_ms,
        "affiliations_count": thread.member_count,
        "message_count": thread.message_count,
    })
}

/// `entities` with the next page's cursor while one may follow.
fn page(threads: &[Thread], offset: u64, limit: u32) -> Json<Value> {
    let entities: Vec<Value> = threads
        .iter()
        .map(|thread| {
            let mut row = thread_json(thread);
            if let Some(row) = row.as_object_mut() {
                row.remove("affiliations_count");
                row.remove("message_count");
            }
            row
        })
        .collect();
    let cursor = (threads.len() == limit as usize).then(|| (offset + u64::from(limit)).to_string());
    Json(json!({
        "action": "get",
        "entities": entities,
        "properties": { "cursor": cursor },
        "timestamp": now_ms(),
        "duration": 0,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateBody {
    name: String,
    msg_id: String,
    group_id: String,
}

/// # `POST /{org}/{app}/thread?resource=` `{name, msg_id, group_id, owner}`
///
/// `createChatThread`: answers `{thread_id}`.
pub(crate) async fn create_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let body: CreateBody = parse_json(&body)?;
    let group = parse_group(&body.group_id)?;
    let message = parse_message_id(&body.msg_id)?;
    let thread = service(&state)
        .create(&caller, &group, message, &body.name)
        .await?;
    Ok(answer("post", json!({ "thread_id": thread.id.as_str() })))
}

/// # `GET /{org}/{app}/thread/{t}`
///
/// `getChatThreadDetail`.
pub(crate) async fn detail_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, thread)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let thread = service(&state)
        .detail(&caller, &parse_thread(&thread)?)
        .await?;
    Ok(answer("get", thread_json(&thread)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RenameBody {
    name: String,
}

/// # `PUT /{org}/{app}/thread/{t}?resource=` `{name}`
///
/// `changeChatThreadName`: the thread's owner or the group's owner and admins.
pub(crate) async fn rename_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, thread)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let body: RenameBody = parse_json(&body)?;
    service(&state)
        .rename(&caller, &parse_thread(&thread)?, &body.name)
        .await?;
    Ok(answer("put", json!({ "result": true })))
}

/// # `DELETE /{org}/{app}/thread/{t}?resource=`
///
/// `destroyChatThread`.
pub(crate) async fn destroy_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, thread)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    service(&state)
        .destroy(&caller, &parse_thread(&thread)?)
        .await?;
    Ok(answer("delete", json!({ "result": true })))
}

/// The path's user must be the caller: a user joins and leaves for themself.
fn check_self(caller: &confab_core::groups::GroupCaller, user: &str) -> Result<(), ApiError> {
    if caller.user.as_ref().map(|me| me.as_str()) != Some(user) {
        return Err(
            Error::InvalidArgument("a user joins and leaves for themself".to_owned()).into(),
        );
    }
    Ok(())
}

/// # `POST /{org}/{app}/thread/{t}/user/{me}/join?resource=`
///
/// `joinChatThread`: `{detail}` (the SDK renames its `msgId` and `groupId`).
pub(crate) async fn join_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, thread, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    check_self(&caller, &user)?;
    let thread = service(&state)
        .join(&caller, &parse_thread(&thread)?)
        .await?;
    Ok(answer("post", json!({ "detail": thread_json(&thread) })))
}

/// # `DELETE /{org}/{app}/thread/{t}/user/{me}/quit?resource=`
pub(crate) async fn quit_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, thread, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    check_self(&caller, &user)?;
    service(&state)
        .leave(&caller, &parse_thread(&thread)?)
        .await?;
    Ok(answer("delete", json!({ "result": true })))
}

/// # `GET /{org}/{app}/thread/{t}/users?limit=&cursor=`
///
/// `getChatThreadMembers`: `{affiliations}` and `properties.cursor`.
pub(crate) async fn members_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, thread)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let offset = cursor_offset(&query)?;
    let limit = page_limit(&query, "limit", 20, MAX_PAGE)?;
    let members = service(&state)
        .members(&caller, &parse_thread(&thread)?, offset, limit)
        .await?;
    let names: Vec<&str> = members.iter().map(|user| user.as_str()).collect();
    let cursor = (members.len() == limit as usize).then(|| (offset + u64::from(limit)).to_string());
    Ok(Json(json!({
        "action": "get",
        "data": { "affiliations": names },
        "properties": { "cursor": cursor },
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `DELETE /{org}/{app}/thread/{t}/users/{user}?resource=`
///
/// `removeChatThreadMember`: the group's owner or an admin.
pub(crate) async fn remove_member_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, thread, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let user = parse_user(&user)?;
    service(&state)
        .remove_member(&caller, &parse_thread(&thread)?, &user)
        .await?;
    Ok(answer(
        "delete",
        json!({ "result": true, "user": user.as_str() }),
    ))
}

/// # `GET /{org}/{app}/threads/user/{me}?limit=&cursor=`
///
/// `getJoinedChatThreads` without a group.
pub(crate) async fn joined_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    joined(&state, (org, app, None, user), &query, &headers).await
}

/// # `GET /{org}/{app}/threads/chatgroups/{g}/user/{me}?limit=&cursor=`
///
/// `getJoinedChatThreads` of one group.
pub(crate) async fn joined_in_group_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    joined(&state, (org, app, Some(group), user), &query, &headers).await
}

async fn joined(
    state: &RestState,
    (org, app, group, user): (String, String, Option<String>, String),
    query: &Pairs,
    headers: &HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(state, (&org, &app), headers, query).await?;
    check_self(&caller, &user)?;
    let group = group.as_deref().map(parse_group).transpose()?;
    let offset = cursor_offset(query)?;
    let limit = page_limit(query, "limit", 20, MAX_PAGE)?;
    let threads = service(state)
        .joined(&caller, group.as_ref(), offset, limit)
        .await?;
    Ok(page(&threads, offset, limit))
}

/// # `GET /{org}/{app}/threads/chatgroups/{g}?cursor=&limit=`
///
/// `getChatThreads`: a group's threads, newest first.
pub(crate) async fn group_threads_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let offset = cursor_offset(&query)?;
    let limit = page_limit(&query, "limit", 20, MAX_PAGE)?;
    let threads = service(&state)
        .of_group(&caller, &parse_group(&group)?, offset, limit)
        .await?;
    Ok(page(&threads, offset, limit))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LastMessagesBody {
    #[serde(rename = "threadIds")]
    thread_ids: Vec<String>,
}

/// # `POST /{org}/{app}/thread/message` `{threadIds}`
///
/// `getChatThreadLastMessage`: `entities[{thread_id, last_message}]` (`{}` for none).
pub(crate) async fn last_messages_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let body: LastMessagesBody = parse_json(&body)?;
    if body.thread_ids.is_empty() || body.thread_ids.len() > 20 {
        return Err(
            Error::InvalidArgument("threadIds must name 1 to 20 threads".to_owned()).into(),
        );
    }
    let ids = body
        .thread_ids
        .iter()
        .map(|id| parse_thread(id))
        .collect::<Result<Vec<_>, _>>()?;
    let found = service(&state).last_messages(&caller, &ids).await?;
    let entities: Vec<Value> = found
        .into_iter()
        .map(|(thread, last)| {
            json!({
                "thread_id": thread.id.as_str(),
                "last_message": last.unwrap_or_else(|| json!({})),
            })
        })
        .collect();
    Ok(Json(json!({
        "action": "post",
        "entities": entities,
        "timestamp": now_ms(),
        "duration": 0,
    })))
}
