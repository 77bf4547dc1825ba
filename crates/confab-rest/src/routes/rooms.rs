//! Chat rooms (API-SURFACE.md section 3), with a user's token or an app token (which may do
//! anything, and which `createChatRoom` / `destroyChatRoom` are usually given). Joining and
//! leaving are msync (`confab-gateway`); everything else is here. Answers follow the hosted
//! `{action, data, …}` form; easemob-websdk's `version=v3` reshapes the single block and
//! allowlist answers as for groups.

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::{multipart::MultipartRejection, Multipart, Path, Query, State},
    http::{HeaderMap, Method},
    Json,
};
use confab_core::{
    files::ChatFileError,
    groups::GroupCaller,
    ids::{RoomId, UserName},
    rooms::{refusal_text, NewRoom, RoomError, RoomService, DEFAULT_MAX_USERS},
    store::{Room, RoomMember, RoomRole, RoomSettings, RoomSettingsChange, SharedFile},
    Error,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::groups::{
    answer, caller, cursor_offset, expire, page_number, parse_names, parse_user, parse_users,
    single_row, Pairs, UsersBody,
};
use crate::{
    error::ApiError,
    extract::{app_for_user, page_limit, parse_json, query_value, resolve_app},
    RestState,
};

/// Largest page of rooms and members.
const MAX_PAGE: u32 = 500;
/// Largest page of `getChatRoomMembers` (cursor form).
const MAX_CURSOR_PAGE: u32 = 1000;

fn parse_room(text: &str) -> Result<RoomId, ApiError> {
    RoomId::parse(text).ok_or_else(|| Error::Room(RoomError::NotFound).into())
}

fn service(state: &RestState) -> &RoomService {
    &state.rooms
}

fn role_name(role: RoomRole) -> &'static str {
    match role {
        RoomRole::Owner => "owner",
        RoomRole::Admin => "admin",
        RoomRole::Member => "member",
    }
}

/// The calling user; an app token has none.
fn user_of(caller: &GroupCaller) -> Result<&UserName, ApiError> {
    caller
        .user
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("this call needs a user token".to_owned()).into())
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    maxusers: Option<u32>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    members: Option<Vec<String>>,
    #[serde(default)]
    custom: Option<String>,
}

/// # `POST /{org}/{app}/chatrooms?resource=` `{name, description, maxusers, owner, members}`
///
/// `createChatRoom` (and the admin API): answers `{id}`. A user's token creates a room the user
/// owns; an app token names the owner.
pub(crate) async fn create_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let body: CreateBody = parse_json(&body)?;
    let owner = match (body.owner.as_deref(), &caller.user) {
        (Some(owner), _) => parse_user(owner)?,
        (None, Some(user)) => user.clone(),
        (None, None) => return Err(Error::MissingField("owner").into()),
    };
    let settings = RoomSettings {
        name: body.name.unwrap_or_default(),
        description: body.description.unwrap_or_default(),
        max_users: body.maxusers.unwrap_or(DEFAULT_MAX_USERS),
        custom: body.custom.unwrap_or_default(),
    };
    let members = parse_names(&body.members.unwrap_or_default())?;
    let room = service(&state)
        .create(
            &caller,
            NewRoom {
                owner,
                settings,
                members,
            },
        )
        .await?;
    Ok(answer("post", json!({ "id": room.id.as_str() })))
}

/// # `GET /{org}/{app}/chatrooms?pagenum=&pagesize=`
///
/// `getChatRooms`: `[{id, name, owner, affiliations_count}]`, by id.
pub(crate) async fn list_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let page = page_number(&query, "pagenum", 1)?;
    let size = page_limit(&query, "pagesize", 10, MAX_PAGE)?;
    let (rooms, total) = service(&state)
        .list(&caller.app, (page - 1) * u64::from(size), size)
        .await?;
    let data: Vec<Value> = rooms
        .iter()
        .map(|room| {
            json!({
                "id": room.id.as_str(),
                "name": room.settings.name,
                "owner": room.owner.as_str(),
                "affiliations_count": room.member_count,
            })
        })
        .collect();
    let count = data.len();
    let mut body = answer("get", Value::Array(data));
    body.0["count"] = json!(count);
    body.0["total"] = json!(total);
    Ok(body)
}

fn details(room: &Room, members: &[RoomMember]) -> Value {
    let affiliations: Vec<Value> = members
        .iter()
        .map(|member| {
            let key = if member.role == RoomRole::Owner {
                "owner"
            } else {
                "member"
            };
            json!({ key: member.user.as_str() })
        })
        .collect();
    json!({
        "id": room.id.as_str(),
        "name": room.settings.name,
        "description": room.settings.description,
        "membersonly": false,
        "allowinvites": false,
        "maxusers": room.settings.max_users,
        "owner": room.owner.as_str(),
        "created": room.created_ms,
        "custom": room.settings.custom,
        "mute": room.mute_all,
        "announcement": room.announcement,
        "affiliations_count": room.member_count,
        "affiliations": affiliations,
        "public": true,
    })
}

/// # `GET /{org}/{app}/chatrooms/{r}`
///
/// `getChatRoomDetails`: one room, members listed (up to `MAX_PAGE`); anyone of the app.
pub(crate) async fn details_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let found = service(&state).room(&caller.app, &room).await?;
    let as_app = GroupCaller {
        user: None,
        ..caller.clone()
    };
    let members = service(&state).members(&as_app, &room, 0, MAX_PAGE).await?;
    Ok(answer("get", json!([details(&found, &members)])))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ModifyBody {
    #[serde(default)]
    groupname: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    maxusers: Option<u32>,
    #[serde(default)]
    custom: Option<String>,
}

/// # `PUT /{org}/{app}/chatrooms/{r}?resource=` `{groupname, description, maxusers}`
///
/// `modifyChatRoom`: the owner or an admin; `{groupname: true, …}` for each field set.
pub(crate) async fn modify_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let body: ModifyBody = parse_json(&body)?;
    let change = RoomSettingsChange {
        name: body.groupname.or(body.name),
        description: body.description,
        max_users: body.maxusers,
        custom: body.custom,
    };
    let mut fields = Map::new();
    for (set, name) in [
        (change.name.is_some(), "groupname"),
        (change.description.is_some(), "description"),
        (change.max_users.is_some(), "maxusers"),
        (change.custom.is_some(), "custom"),
    ] {
        if set {
            fields.insert(name.to_owned(), Value::Bool(true));
        }
    }
    if fields.is_empty() {
        return Err(Error::InvalidArgument("nothing to modify".to_owned()).into());
    }
    service(&state).modify(&caller, &room, change).await?;
    Ok(answer("put", Value::Object(fields)))
}

/// # `DELETE /{org}/{app}/chatrooms/{r}?resource=&version=v3`
///
/// `destroyChatRoom`: the owner or the app; `{success, id}`.
pub(crate) async fn destroy_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    service(&state).destroy(&caller, &room).await?;
    Ok(answer(
        "delete",
        json!({ "success": true, "id": room.as_str() }),
    ))
}

/// # `GET /{org}/{app}/users/{user}/joined_chatrooms?pagenum=&pagesize=&detail=true`
///
/// `getJoinedChatRooms`: `owner` is `{org}#{app}_{user}`, which the SDK splits.
pub(crate) async fn joined_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, user) = app_for_user(&state, &org, &app, user, &headers).await?;
    let page = page_number(&query, "pagenum", 1)?;
    let size = page_limit(&query, "pagesize", 10, MAX_PAGE)?;
    let rooms = service(&state)
        .joined(&app.key, &user, (page - 1) * u64::from(size), size)
        .await?;
    let data: Vec<Value> = rooms
        .iter()
        .map(|room| {
            json!({
                "id": room.id.as_str(),
                "title": room.settings.name,
                "owner": format!("{}_{}", app.key, room.owner),
                "created": room.created_ms,
                "description": room.settings.description,
                "max_users": room.settings.max_users,
            })
        })
        .collect();
    Ok(answer("get", Value::Array(data)))
}

/// # `GET /{org}/{app}/chatrooms/{r}/users?pagenum=&pagesize=` or `?cursor=&limit=&joined_time=true`
///
/// `listChatRoomMembers` (`[{owner}|{member}]`) and `getChatRoomMembers` (rows keyed by role
/// with `joined_time`, and a `cursor` while more follow): members only.
pub(crate) async fn members_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    if query_value(&query, "pagenum").is_some() {
        let page = page_number(&query, "pagenum", 1)?;
        let size = page_limit(&query, "pagesize", MAX_PAGE, MAX_PAGE)?;
        let members = service(&state)
            .members(&caller, &room, (page - 1) * u64::from(size), size)
            .await?;
        let data: Vec<Value> = members
            .iter()
            .map(|member| {
                let key = if member.role == RoomRole::Owner {
                    "owner"
                } else {
                    "member"
                };
                json!({ key: member.user.as_str() })
            })
            .collect();
        let count = data.len();
        let mut body = answer("get", Value::Array(data));
        body.0["count"] = json!(count);
        return Ok(body);
    }
    let offset = cursor_offset(&query)?;
    let limit = page_limit(&query, "limit", 50, MAX_CURSOR_PAGE)?;
    let members = service(&state)
        .members(&caller, &room, offset, limit)
        .await?;
    let data: Vec<Value> = members
        .iter()
        .map(|member| {
            json!({ role_name(member.role): member.user.as_str(), "joined_time": member.joined_ms })
        })
        .collect();
    let mut body = answer("get", Value::Array(data));
    if members.len() == limit as usize {
        body.0["cursor"] = json!((offset + u64::from(limit)).to_string());
    }
    Ok(body)
}

/// # `POST /{org}/{app}/chatrooms/{r}/users?resource=` `{usernames}`
///
/// `addUsersToChatRoom`: owner, admins or the app; `{newmembers, action, id}`.
pub(crate) async fn add_members_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let body: UsersBody = parse_json(&body)?;
    let users = parse_names(&body.usernames)?;
    let added = service(&state).add_members(&caller, &room, &users).await?;
    let names: Vec<&str> = added.iter().map(UserName::as_str).collect();
    Ok(answer(
        "post",
        json!({ "newmembers": names, "action": "add_member", "id": room.as_str() }),
    ))
}

/// Rows of a change to a list of users: one per user named, `result` whether it changed.
fn rows(action: &str, room: &RoomId, named: &[UserName], changed: &[UserName]) -> Vec<Value> {
    named
        .iter()
        .map(|user| {
            json!({
                "result": changed.contains(user),
                "action": action,
                "user": user.as_str(),
                "id": room.as_str(),
            })
        })
        .collect()
}

/// A batch named in the path (`a,b`) answers an array; one user, `single_row`'s shape.
fn path_answer(action: &str, users: &str, rows: Vec<Value>, query: &Pairs) -> Json<Value> {
    if users.contains(',') {
        answer(action, Value::Array(rows))
    } else {
        answer(action, single_row(query, rows))
    }
}

/// # `DELETE /{org}/{app}/chatrooms/{r}/users/{user}` (or `a,b`)`?resource=`
///
/// `removeChatRoomMember(s)`: owner, admins or the app.
pub(crate) async fn remove_members_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, users)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let named = parse_users(&users)?;
    let removed = service(&state)
        .remove_members(&caller, &room, &named)
        .await?;
    let rows = rows("remove_member", &room, &named, &removed);
    Ok(path_answer("delete", &users, rows, &query))
}

/// # `GET /{org}/{app}/chatrooms/{r}/admin`
pub(crate) async fn admins_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let admins = service(&state).admins(&caller, &room).await?;
    let names: Vec<&str> = admins.iter().map(UserName::as_str).collect();
    Ok(answer("get", json!(names)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AdminBody {
    newadmin: String,
}

/// # `POST /{org}/{app}/chatrooms/{r}/admin?resource=` `{newadmin}`
pub(crate) async fn add_admin_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let body: AdminBody = parse_json(&body)?;
    let user = parse_user(&body.newadmin)?;
    service(&state)
        .set_admin(&caller, &room, &user, true)
        .await?;
    Ok(answer(
        "post",
        json!({ "result": "success", "newadmin": user.as_str() }),
    ))
}

/// # `DELETE /{org}/{app}/chatrooms/{r}/admin/{user}?resource=`
pub(crate) async fn remove_admin_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let user = parse_user(&user)?;
    service(&state)
        .set_admin(&caller, &room, &user, false)
        .await?;
    Ok(answer(
        "delete",
        json!({ "result": "success", "oldadmin": user.as_str() }),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MuteBody {
    usernames: Vec<String>,
    #[serde(default)]
    mute_duration: Option<i64>,
}

/// # `POST /{org}/{app}/chatrooms/{r}/mute?resource=` `{usernames, mute_duration}`
///
/// `muteChatRoomMember`: `mute_duration` in ms, -1 for ever; `[{result, expire, user}]`.
pub(crate) async fn mute_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let body: MuteBody = parse_json(&body)?;
    let users = parse_names(&body.usernames)?;
    let duration = body.mute_duration.unwrap_or(-1);
    let (muted, until) = service(&state)
        .mute(&caller, &room, &users, Some(duration))
        .await?;
    let data: Vec<Value> = muted
        .iter()
        .map(|user| json!({ "result": true, "expire": expire(until), "user": user.as_str() }))
        .collect();
    Ok(answer("post", Value::Array(data)))
}

/// # `DELETE /{org}/{app}/chatrooms/{r}/mute/{user}` (or `a,b`)`?resource=`
pub(crate) async fn unmute_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, users)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let named = parse_users(&users)?;
    let (unmuted, _) = service(&state).mute(&caller, &room, &named, None).await?;
    let data: Vec<Value> = unmuted
        .iter()
        .map(|user| json!({ "result": true, "user": user.as_str() }))
        .collect();
    Ok(answer("delete", Value::Array(data)))
}

/// # `GET /{org}/{app}/chatrooms/{r}/mute`
///
/// `getChatRoomMuteList`: `[{user, expire}]` (owner and admins).
pub(crate) async fn muted_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let muted = service(&state).mutes(&caller, &room).await?;
    let data: Vec<Value> = muted
        .iter()
        .map(|member| {
            json!({
                "user": member.user.as_str(),
                "expire": expire(member.muted_until_ms.unwrap_or(0)),
            })
        })
        .collect();
    Ok(answer("get", Value::Array(data)))
}

/// # `GET /{org}/{app}/sdk/chatrooms/{r}/mute/{user}`
///
/// `isInChatRoomMutelist`: whether the caller is muted now (the path names the caller).
pub(crate) async fn is_muted_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let user = parse_user(&user)?;
    if caller.user.as_ref().is_some_and(|me| *me != user) {
        return Err(Error::InvalidArgument("a user asks about themself".to_owned()).into());
    }
    let muted = service(&state).own_mute(&caller, &room).await?;
    Ok(answer("get", json!(muted.is_some())))
}

/// # `POST` / `DELETE /{org}/{app}/chatrooms/{r}/ban?resource=`
///
/// `disableSendChatRoomMsg` / `enableSendChatRoomMsg`.
pub(crate) async fn ban_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let mute = method == Method::POST;
    service(&state).mute_all(&caller, &room, mute).await?;
    Ok(answer(
        if mute { "post" } else { "delete" },
        json!({ "mute": mute }),
    ))
}

/// # `POST /{org}/{app}/chatrooms/{r}/blocks/users/{user}?resource=`
///
/// `blockChatRoomMember`: the member leaves the room and cannot join again.
pub(crate) async fn block_one_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let named = vec![parse_user(&user)?];
    let changed = service(&state).block(&caller, &room, &named, true).await?;
    let rows = rows("add_blocks", &room, &named, &changed);
    Ok(answer("post", single_row(&query, rows)))
}

/// # `POST /{org}/{app}/chatrooms/{r}/blocks/users?resource=` `{usernames}`
pub(crate) async fn block_many_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let body: UsersBody = parse_json(&body)?;
    let named = parse_names(&body.usernames)?;
    let changed = service(&state).block(&caller, &room, &named, true).await?;
    Ok(answer(
        "post",
        Value::Array(rows("add_blocks", &room, &named, &changed)),
    ))
}

/// # `DELETE /{org}/{app}/chatrooms/{r}/blocks/users/{user}` (or `a,b`)`?resource=`
pub(crate) async fn unblock_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, users)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let named = parse_users(&users)?;
    let changed = service(&state).block(&caller, &room, &named, false).await?;
    let rows = rows("remove_blocks", &room, &named, &changed);
    Ok(path_answer("delete", &users, rows, &query))
}

/// # `GET /{org}/{app}/chatrooms/{r}/blocks/users`
pub(crate) async fn blocked_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let blocked = service(&state).blocked(&caller, &room).await?;
    let names: Vec<&str> = blocked.iter().map(UserName::as_str).collect();
    Ok(answer("get", json!(names)))
}

/// # `POST /{org}/{app}/chatrooms/{r}/white/users?resource=` `{usernames}`
pub(crate) async fn allow_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let body: UsersBody = parse_json(&body)?;
    let named = parse_names(&body.usernames)?;
    let changed = service(&state).allow(&caller, &room, &named, true).await?;
    Ok(answer(
        "post",
        Value::Array(rows("add_user_whitelist", &room, &named, &changed)),
    ))
}

/// # `DELETE /{org}/{app}/chatrooms/{r}/white/users/{user}` (or `a,b`)`?resource=`
pub(crate) async fn disallow_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, users)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let named = parse_users(&users)?;
    let changed = service(&state).allow(&caller, &room, &named, false).await?;
    let rows = rows("remove_user_whitelist", &room, &named, &changed);
    Ok(path_answer("delete", &users, rows, &query))
}

/// # `GET /{org}/{app}/chatrooms/{r}/white/users`
pub(crate) async fn allowlist_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let listed = service(&state).allowlist(&caller, &room).await?;
    let names: Vec<&str> = listed.iter().map(UserName::as_str).collect();
    Ok(answer("get", json!(names)))
}

/// # `GET /{org}/{app}/chatrooms/{r}/white/users/{user}`
///
/// `isInChatRoomAllowlist`: `{white, member}`.
pub(crate) async fn allowlisted_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let user = parse_user(&user)?;
    let white = service(&state).allowlisted(&caller, &room, &user).await?;
    Ok(answer(
        "get",
        json!({ "white": white, "member": user.as_str() }),
    ))
}

/// # `GET /{org}/{app}/chatrooms/{r}/announcement`
pub(crate) async fn announcement_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let text = service(&state).announcement(&caller, &room).await?;
    Ok(answer("get", json!({ "announcement": text })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnnouncementBody {
    announcement: String,
}

/// # `POST /{org}/{app}/chatrooms/{r}/announcement?resource=` `{announcement}`
pub(crate) async fn set_announcement_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let body: AnnouncementBody = parse_json(&body)?;
    service(&state)
        .set_announcement(&caller, &room, &body.announcement)
        .await?;
    Ok(answer(
        "post",
        json!({ "id": room.as_str(), "result": true }),
    ))
}

/// # `POST /{org}/{app}/chatrooms/{r}/share_files?resource=` (multipart `file`)
///
/// `uploadChatRoomSharedFile`: a member's file, stored like an attachment
/// (`max_attachment_bytes`; a non-member is refused before the body is read); answers
/// `{data: {id, file_id, file_name, file_size, created}}` and the members online hear
/// `uploadFile`. Neither SDK downloads a room's shared file, so no `file_url` is given.
pub(crate) async fn share_file_route(
    State(state): State<Arc<RestState>>,
    Path((org, app_name, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app_name), &headers, &query).await?;
    let room = parse_room(&room)?;
    let owner = service(&state).check_sharer(&caller, &room).await?;
    let app = resolve_app(&state.apps, &org, &app_name, &headers).await?;
    let uploaded = crate::routes::chatfiles::receive_upload(
        &state,
        &app,
        owner.to_string(),
        &headers,
        multipart,
    )
    .await?;
    let file = SharedFile {
        id: uploaded.uuid,
        name: uploaded.filename,
        owner,
        size: uploaded.length,
        created_ms: uploaded.created_ms,
    };
    service(&state).share_file(&caller, &room, &file).await?;
    Ok(answer(
        "post",
        json!({
            "id": room.as_str(),
            "file_id": file.id,
            "file_name": file.name,
            "file_size": file.size,
            "created": file.created_ms,
        }),
    ))
}

/// # `GET /{org}/{app}/chatrooms/{r}/share_files`
///
/// `fetchChatRoomSharedFileList`: `[{file_id, file_name, file_owner, file_size, created}]`,
/// the latest shared first, for members. The SDK asks for no page: the first `MAX_PAGE` come
/// unless `pagenum` / `pagesize` say otherwise.
pub(crate) async fn files_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let page = page_number(&query, "pagenum", 1)?;
    let size = page_limit(&query, "pagesize", MAX_PAGE, MAX_PAGE)?;
    let files = service(&state)
        .files(&caller, &room, (page - 1) * u64::from(size), size)
        .await?;
    let rows: Vec<Value> = files
        .iter()
        .map(|file| {
            json!({
                "file_id": file.id,
                "file_name": file.name,
                "file_owner": file.owner.as_str(),
                "file_size": file.size,
                "created": file.created_ms,
            })
        })
        .collect();
    Ok(answer("get", Value::Array(rows)))
}

/// # `DELETE /{org}/{app}/chatrooms/{r}/share_files/{file}?resource=`
///
/// `deleteChatRoomSharedFile`: the member who shared it, the owner or an admin;
/// `{id, file_id, result}`, and the members online hear `deleteFile`. A file the room does not
/// share is 404 `file_expired`.
pub(crate) async fn delete_file_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, file)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    if !service(&state).remove_file(&caller, &room, &file).await? {
        return Err(ChatFileError::NotFound.into());
    }
    Ok(answer(
        "delete",
        json!({ "id": room.as_str(), "file_id": file, "result": true }),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeysBody {
    #[serde(default)]
    keys: Option<Vec<String>>,
}

/// # `POST /{org}/{app}/metadata/chatroom/{r}` `{keys}`
///
/// `getChatRoomAttributes`: `data` is `{key: value}` (all of them when `keys` is absent).
pub(crate) async fn attributes_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let room = parse_room(&room)?;
    let body: KeysBody = if body.is_empty() {
        KeysBody { keys: None }
    } else {
        parse_json(&body)?
    };
    let keys = body.keys.unwrap_or_default();
    let attributes = service(&state).attributes(&caller, &room, &keys).await?;
    let data: Map<String, Value> = attributes
        .into_iter()
        .map(|attribute| (attribute.key, Value::String(attribute.value)))
        .collect();
    Ok(answer("post", Value::Object(data)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SetAttributesBody {
    #[serde(rename = "metaData")]
    meta_data: InOrder,
    #[serde(rename = "autoDelete", default)]
    auto_delete: Option<String>,
}

/// A JSON object's members in the order sent (a `Map` sorts them): attribute keys are set one
/// by one in that order, which decides which ones pass the room's limit, and `successKeys`
/// follows it. A key sent twice keeps its first place and its last value.
#[derive(Debug)]
pub(crate) struct InOrder(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for InOrder {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<InOrder, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = InOrder;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<InOrder, A::Error> {
                let mut members: Vec<(String, Value)> = Vec::new();
                let mut places: HashMap<String, usize> = HashMap::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    match places.get(&key).and_then(|&place| members.get_mut(place)) {
                        Some(member) => member.1 = value,
                        None => {
                            places.insert(key.clone(), members.len());
                            members.push((key, value));
                        }
                    }
                }
                Ok(InOrder(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// `{successKeys, errorKeys: {key: text}}`, the texts the SDK matches (`refusal_text`).
fn attribute_answer(action: &str, change: confab_core::store::AttributeChange) -> Json<Value> {
    let errors: Map<String, Value> = change
        .refused
        .iter()
        .map(|(key, refusal)| (key.clone(), Value::String(refusal_text(key, *refusal))))
        .collect();
    answer(
        action,
        json!({ "successKeys": change.done, "errorKeys": errors }),
    )
}

/// # `PUT /{org}/{app}/metadata/chatroom/{r}/user/{me}[/forced]` `{metaData, autoDelete}`
///
/// `setChatRoomAttribute(s)`: as the calling member; `autoDelete` `DELETE` (the default) makes
/// the keys leave with them.
pub(crate) async fn set_attributes_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    set_attributes(
        &state,
        (org, app, room, user),
        &query,
        &headers,
        &body,
        false,
    )
    .await
}

/// # `PUT /{org}/{app}/metadata/chatroom/{r}/user/{me}/forced`
pub(crate) async fn force_attributes_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    set_attributes(
        &state,
        (org, app, room, user),
        &query,
        &headers,
        &body,
        true,
    )
    .await
}

async fn set_attributes(
    state: &RestState,
    (org, app, room, user): (String, String, String, String),
    query: &Pairs,
    headers: &HeaderMap,
    body: &Bytes,
    forced: bool,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(state, (&org, &app), headers, query).await?;
    let room = parse_room(&room)?;
    if *user_of(&caller)? != parse_user(&user)? {
        return Err(Error::InvalidArgument("attributes are set as oneself".to_owned()).into());
    }
    let body: SetAttributesBody = parse_json(body)?;
    let mut attributes = Vec::with_capacity(body.meta_data.0.len());
    for (key, value) in body.meta_data.0 {
        let Value::String(value) = value else {
            return Err(
                Error::InvalidArgument(format!("the value of {key} is not a string")).into(),
            );
        };
        attributes.push((key, value));
    }
    let auto_delete = match body.auto_delete.as_deref() {
        None | Some("DELETE") => true,
        Some("NO_DELETE") => false,
        Some(other) => {
            return Err(Error::InvalidArgument(format!("invalid autoDelete {other}")).into())
        }
    };
    let change = state
        .rooms
        .set_attributes(&caller, &room, &attributes, (forced, auto_delete))
        .await?;
    Ok(attribute_answer("put", change))
}

/// # `DELETE /{org}/{app}/metadata/chatroom/{r}/user/{me}[/forced]` `{keys}`
pub(crate) async fn remove_attributes_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    remove_attributes(
        &state,
        (org, app, room, user),
        &query,
        &headers,
        &body,
        false,
    )
    .await
}

/// # `DELETE /{org}/{app}/metadata/chatroom/{r}/user/{me}/forced` `{keys}`
pub(crate) async fn force_remove_attributes_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, room, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    remove_attributes(
        &state,
        (org, app, room, user),
        &query,
        &headers,
        &body,
        true,
    )
    .await
}

async fn remove_attributes(
    state: &RestState,
    (org, app, room, user): (String, String, String, String),
    query: &Pairs,
    headers: &HeaderMap,
    body: &Bytes,
    forced: bool,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(state, (&org, &app), headers, query).await?;
    let room = parse_room(&room)?;
    if *user_of(&caller)? != parse_user(&user)? {
        return Err(Error::InvalidArgument("attributes are removed as oneself".to_owned()).into());
    }
    let body: KeysBody = parse_json(body)?;
    let keys = body.keys.unwrap_or_default();
    let change = state
        .rooms
        .remove_attributes(&caller, &room, &keys, forced)
        .await?;
    Ok(attribute_answer("delete", change))
}
