//! Groups (API-SURFACE.md section 1), with a user's token (or an app token, which may do
//! anything). Mutations name the acting device in `?resource=`; easemob-websdk adds
//! `version=v3`, which changes the shape of four answers (the joined and public lists, single
//! block and allowlist changes: `v3`). Answers follow the hosted `{action, data, …}` form.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Multipart, Path, Query, State},
    http::{HeaderMap, Uri},
    response::Response,
    Json,
};
use confab_core::{
    files::ChatFileError,
    groups::{
        Applied, GroupCaller, GroupError, GroupService, Invited, NewGroup, DEFAULT_MAX_USERS,
        UNTIL_UNMUTED_MS,
    },
    ids::{GroupId, UserName},
    now_ms,
    store::{Group, GroupMember, GroupRole, GroupSettings, GroupSettingsChange, SharedFile},
    Error,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{
    error::ApiError,
    extract::{app_for_user, caller_of_app, page_limit, parse_json, query_value, resolve_app},
    RestState,
};

pub(super) type Pairs = Vec<(String, String)>;

/// Largest page of members, joined or public groups.
const MAX_PAGE: u32 = 500;
/// Largest page of `getGroupMembers` (cursor form).
const MAX_CURSOR_PAGE: u32 = 1000;

pub(super) fn answer(action: &str, data: Value) -> Json<Value> {
    Json(json!({ "action": action, "data": data, "timestamp": now_ms(), "duration": 0 }))
}

pub(super) fn v3(query: &Pairs) -> bool {
    query_value(query, "version") == Some("v3")
}

fn parse_group(text: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(text).ok_or_else(|| Error::Group(GroupError::NotFound).into())
}

pub(super) fn parse_user(text: &str) -> Result<UserName, ApiError> {
    UserName::parse(text).ok_or_else(|| Error::UserNotFound(text.to_owned()).into())
}

/// Users named comma-joined in a path segment (`a,b,c`).
pub(super) fn parse_users(text: &str) -> Result<Vec<UserName>, ApiError> {
    text.split(',')
        .filter(|name| !name.is_empty())
        .map(parse_user)
        .collect()
}

pub(super) fn parse_names(names: &[String]) -> Result<Vec<UserName>, ApiError> {
    names.iter().map(|name| parse_user(name)).collect()
}

/// Who calls, from the bearer token, with the acting device from `?resource=`.
pub(super) async fn caller(
    state: &RestState,
    (org, app): (&str, &str),
    headers: &HeaderMap,
    query: &Pairs,
) -> Result<GroupCaller, ApiError> {
    let (app, user) = caller_of_app(state, org, app, headers).await?;
    Ok(GroupCaller {
        app: app.key.clone(),
        user: UserName::parse(&user),
        resource: query_value(query, "resource").unwrap_or("").to_owned(),
    })
}

/// The calling user; an app token has none.
fn user_of(caller: &GroupCaller) -> Result<&UserName, ApiError> {
    caller
        .user
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("this call needs a user token".to_owned()).into())
}

fn service(state: &RestState) -> &GroupService {
    &state.groups
}

/// A page number from the query (`first` is what the first page is called).
pub(super) fn page_number(query: &Pairs, key: &str, first: u64) -> Result<u64, ApiError> {
    match query_value(query, key) {
        None | Some("" | "null" | "undefined") => Ok(first),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|number| *number >= first && *number < 1_000_000)
            .ok_or_else(|| {
                Error::InvalidArgument(format!("{key} must be a number from {first}")).into()
            }),
    }
}

/// An opaque place in a list: the offset, in decimal (URL-safe, as the SDK sends it raw).
pub(super) fn cursor_offset(query: &Pairs) -> Result<u64, ApiError> {
    match query_value(query, "cursor") {
        None | Some("" | "null" | "undefined") => Ok(0),
        Some(text) => text.parse::<u64>().map_err(|_| {
            Error::InvalidArgument("cursor is not one this server gave".to_owned()).into()
        }),
    }
}

fn role_name(role: GroupRole) -> &'static str {
    match role {
        GroupRole::Owner => "owner",
        GroupRole::Admin => "admin",
        GroupRole::Member => "member",
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateBody {
    owner: Option<String>,
    #[serde(default)]
    groupname: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    #[serde(default)]
    desc: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    members: Option<Vec<String>>,
    #[serde(default)]
    public: Option<bool>,
    #[serde(default)]
    approval: Option<bool>,
    #[serde(default)]
    allowinvites: Option<bool>,
    #[serde(default)]
    invite_need_confirm: Option<bool>,
    #[serde(default)]
    maxusers: Option<u32>,
    #[serde(default)]
    custom: Option<String>,
}

/// # `POST /{org}/{app}/chatgroups?resource=`
///
/// `createGroup` / `createGroupVNext`: answers `{groupid}`.
pub(crate) async fn create_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let body: CreateBody = parse_json(&body)?;
    let owner = match (&caller.user, body.owner.as_deref()) {
        (Some(user), _) => user.clone(),
        (None, Some(owner)) => parse_user(owner)?,
        (None, None) => return Err(Error::MissingField("owner").into()),
    };
    let settings = GroupSettings {
        name: body.groupname.unwrap_or_default(),
        description: body.desc.or(body.description).unwrap_or_default(),
        avatar: body.avatar.unwrap_or_default(),
        public: body.public.unwrap_or(false),
        approval: body.approval.unwrap_or(false),
        allow_invites: body.allowinvites.unwrap_or(false),
        invite_need_confirm: body.invite_need_confirm.unwrap_or(false),
        max_users: body.maxusers.unwrap_or(DEFAULT_MAX_USERS),
        custom: body.custom.unwrap_or_default(),
    };
    let members = parse_names(&body.members.unwrap_or_default())?;
    let id = service(&state)
        .create(
            &caller,
            NewGroup {
                owner,
                settings,
                members,
            },
        )
        .await?;
    Ok(answer("post", json!({ "groupid": id.as_str() })))
}

fn details(group: &Group, members: &[GroupMember]) -> Value {
    let affiliations: Vec<Value> = members
        .iter()
        .map(|member| {
            let key = if member.role == GroupRole::Owner {
                "owner"
            } else {
                "member"
            };
            json!({ key: member.user.as_str(), "joined_time": member.joined_ms })
        })
        .collect();
    let settings = &group.settings;
    json!({
        "id": group.id.as_str(),
        "name": settings.name,
        "description": settings.description,
        "avatar": settings.avatar,
        "owner": group.owner.as_str(),
        "created": group.created_ms,
        "last_modified": group.modified_ms,
        "membersonly": settings.approval,
        "allowinvites": settings.allow_invites,
        "invite_need_confirm": settings.invite_need_confirm,
        "maxusers": settings.max_users,
        "public": settings.public,
        "custom": settings.custom,
        "mute": group.mute_all,
        "affiliations_count": group.member_count,
        "affiliations": affiliations,
        "disabled": false,
        "shieldgroup": false,
    })
}

/// # `GET /{org}/{app}/chatgroups/{g}` (or `g1,g2`)
///
/// `getGroupInfo`: one entry per group.
pub(crate) async fn info_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, groups)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let ids: Vec<GroupId> = groups
        .split(',')
        .filter(|id| !id.is_empty())
        .map(parse_group)
        .collect::<Result<_, _>>()?;
    if ids.is_empty() || ids.len() > 100 {
        return Err(Error::InvalidArgument("name 1 to 100 groups".to_owned()).into());
    }
    let found = service(&state).info(&caller, &ids).await?;
    let data: Vec<Value> = found
        .iter()
        .map(|(group, members)| details(group, members))
        .collect();
    let count = data.len();
    let mut body = answer("get", Value::Array(data));
    body.0["count"] = json!(count);
    Ok(body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ModifyBody {
    #[serde(default)]
    newowner: Option<String>,
    #[serde(default)]
    groupname: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    #[serde(default)]
    custom: Option<String>,
    #[serde(default)]
    public: Option<bool>,
    #[serde(default)]
    membersonly: Option<bool>,
    #[serde(default)]
    allowinvites: Option<bool>,
    #[serde(default)]
    invite_need_confirm: Option<bool>,
    #[serde(default)]
    maxusers: Option<u32>,
}

/// # `PUT /{org}/{app}/chatgroups/{g}?resource=`
///
/// `modifyGroup` (`{groupname, description, avatar, custom, …}`, answered with one `true` per
/// field changed) and `changeGroupOwner` (`{newowner}`), told apart by the body.
pub(crate) async fn modify_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: ModifyBody = parse_json(&body)?;
    if let Some(new_owner) = body.newowner {
        let new_owner = parse_user(&new_owner)?;
        service(&state)
            .change_owner(&caller, &group, &new_owner)
            .await?;
        return Ok(answer("put", json!({ "newowner": true })));
    }
    let change = GroupSettingsChange {
        name: body.groupname,
        description: body.description,
        avatar: body.avatar,
        public: body.public,
        approval: body.membersonly,
        allow_invites: body.allowinvites,
        invite_need_confirm: body.invite_need_confirm,
        max_users: body.maxusers,
        custom: body.custom,
    };
    let (_, changed) = service(&state).modify(&caller, &group, change).await?;
    let data: Map<String, Value> = changed
        .into_iter()
        .map(|field| (field.to_owned(), Value::Bool(true)))
        .collect();
    Ok(answer("put", Value::Object(data)))
}

/// # `DELETE /{org}/{app}/chatgroups/{g}?resource=`
///
/// `destroyGroup`: the owner only.
pub(crate) async fn destroy_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    service(&state).destroy(&caller, &group).await?;
    Ok(answer(
        "delete",
        json!({ "success": true, "id": group.as_str(), "groupid": group.as_str() }),
    ))
}

/// # `GET /{org}/{app}/users/{user}/joined_chatgroups?pagenum=&pagesize=`
///
/// `getJoinedGroups` (and `getGroup`, unpaged): 1-based pages; `uri` names the request, as
/// the SDK picks its mapping by it.
pub(crate) async fn joined_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let (app, user) = app_for_user(&state, &org, &app, user, &headers).await?;
    let page = page_number(&query, "pagenum", 1)?;
    let size = page_limit(&query, "pagesize", MAX_PAGE, MAX_PAGE)?;
    let groups = service(&state)
        .joined(&app.key, &user, (page - 1) * u64::from(size), size)
        .await?;
    let data: Vec<Value> = groups
        .iter()
        .map(|(group, role)| {
            if v3(&query) {
                json!({
                    "id": group.id.as_str(),
                    "name": group.settings.name,
                    "disabled": false,
                    "permission": role_name(*role),
                })
            } else {
                json!({ "groupid": group.id.as_str(), "groupname": group.settings.name })
            }
        })
        .collect();
    let count = data.len();
    let mut body = answer("get", Value::Array(data));
    body.0["uri"] = json!(uri.to_string());
    body.0["count"] = json!(count);
    Ok(body)
}

/// # `GET /{org}/{app}/chatgroups/user/{user}?pagenum=&pagesize=&needAffiliations=&needRole=`
///
/// `getJoinedGroups` with affiliations or roles: 0-based pages, answered in `entities`.
pub(crate) async fn joined_entities_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let (app, user) = app_for_user(&state, &org, &app, user, &headers).await?;
    let page = page_number(&query, "pagenum", 0)?;
    let size = page_limit(&query, "pagesize", 20, MAX_PAGE)?;
    let groups = service(&state)
        .joined(&app.key, &user, page * u64::from(size), size)
        .await?;
    let total = service(&state).joined_count(&app.key, &user).await?;
    let entities: Vec<Value> = groups
        .iter()
        .map(|(group, role)| {
            let settings = &group.settings;
            json!({
                "groupId": group.id.as_str(),
                "id": group.id.as_str(),
                "name": settings.name,
                "description": settings.description,
                "avatar": settings.avatar,
                "owner": group.owner.as_str(),
                "created": group.created_ms,
                "public": settings.public,
                "membersonly": settings.approval,
                "allowinvites": settings.allow_invites,
                "maxusers": settings.max_users,
                "disabled": false,
                "affiliations_count": group.member_count,
                "permission": role_name(*role),
            })
        })
        .collect();
    Ok(Json(json!({
        "action": "get",
        "uri": uri.to_string(),
        "entities": entities,
        "total": total,
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `GET /{org}/{app}/chatgroups/user/{user}/joined_count`
pub(crate) async fn joined_count_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, user) = app_for_user(&state, &org, &app, user, &headers).await?;
    let count = service(&state).joined_count(&app.key, &user).await?;
    Ok(answer("get", json!(count)))
}

/// # `GET /{org}/{app}/publicchatgroups?limit=&cursor=`
///
/// `getPublicGroups`: by id; `cursor` (the last id) only while more may follow.
pub(crate) async fn public_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let limit = page_limit(&query, "limit", 20, MAX_PAGE)?;
    let after = match query_value(&query, "cursor") {
        None | Some("" | "null" | "undefined") => None,
        Some(text) => Some(GroupId::parse(text).ok_or_else(|| {
            ApiError::from(Error::InvalidArgument(
                "cursor is not one this server gave".to_owned(),
            ))
        })?),
    };
    let groups = service(&state)
        .list(&caller.app, true, after.as_ref(), limit)
        .await?;
    let data: Vec<Value> = groups
        .iter()
        .map(|group| {
            if v3(&query) {
                json!({ "id": group.id.as_str(), "name": group.settings.name })
            } else {
                json!({
                    "groupid": group.id.as_str(),
                    "groupname": group.settings.name,
                    "owner": group.owner.as_str(),
                    "affiliations": group.member_count,
                    "type": "group",
                    "last_modified": group.modified_ms,
                })
            }
        })
        .collect();
    let mut body = answer("get", Value::Array(data));
    if groups.len() == limit as usize {
        if let Some(last) = groups.last() {
            body.0["cursor"] = json!(last.id.as_str());
        }
    }
    Ok(body)
}

/// # `GET /{org}/{app}/chatgroups?limit=&cursor=`
///
/// Bearer: an app token. Every group of the app, public and private, by id (so oldest first,
/// where the hosted service lists newest first); `limit` 1 to 1000 (default 10, more is
/// 1000), `cursor` (the last id) only when more follow. Rows as the hosted admin API's
/// (`owner` as `{org}#{app}_{user}`); `created` and `public` are Confab's additions, for the
/// console's Groups page.
pub(crate) async fn list_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    const DEFAULT_LIST_PAGE: u32 = 10;
    const MAX_LIST_PAGE: u32 = 1000;
    let app = crate::extract::app_for_admin(&state, &org, &app, &headers).await?;
    let limit = match query_value(&query, "limit") {
        None | Some("" | "null" | "undefined") => DEFAULT_LIST_PAGE,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|limit| *limit >= 1)
            .map(|limit| limit.min(u64::from(MAX_LIST_PAGE)) as u32)
            .ok_or_else(|| {
                ApiError::from(Error::InvalidArgument(format!(
                    "limit must be 1 to {MAX_LIST_PAGE}"
                )))
            })?,
    };
    let after = match query_value(&query, "cursor") {
        None | Some("" | "null" | "undefined") => None,
        Some(text) => Some(GroupId::parse(text).ok_or_else(|| {
            ApiError::from(Error::InvalidArgument(
                "cursor is not one this server gave".to_owned(),
            ))
        })?),
    };
    // One more than asked: whether a next page exists.
    let mut groups = service(&state)
        .list(&app.key, false, after.as_ref(), limit + 1)
        .await?;
    let more = groups.len() > limit as usize;
    groups.truncate(limit as usize);
    let data: Vec<Value> = groups
        .iter()
        .map(|group| {
            json!({
                "owner": format!("{}_{}", app.key, group.owner.as_str()),
                "groupid": group.id.as_str(),
                "affiliations": group.member_count,
                "type": "group",
                "last_modified": group.modified_ms,
                "groupname": group.settings.name,
                "created": group.created_ms,
                "public": group.settings.public,
            })
        })
        .collect();
    let count = data.len();
    let mut body = answer("get", Value::Array(data));
    body.0["params"] = json!({ "limit": [limit.to_string()] });
    body.0["uri"] = json!(uri.path());
    body.0["entities"] = json!([]);
    body.0["count"] = json!(count);
    if let (true, Some(last)) = (more, groups.last()) {
        body.0["cursor"] = json!(last.id.as_str());
    }
    Ok(body)
}

/// # `GET /{org}/{app}/chatgroups/{g}/users?pagenum=&pagesize=` or `?cursor=&limit=&joined_time=true`
///
/// `listGroupMembers` (1-based pages, `{owner}` / `{member}` rows) and `getGroupMembers`
/// (`{owner|admin|member, joined_time}` rows and a `cursor` while more follow).
pub(crate) async fn members_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    if query_value(&query, "pagenum").is_some() {
        let page = page_number(&query, "pagenum", 1)?;
        let size = page_limit(&query, "pagesize", MAX_PAGE, MAX_PAGE)?;
        let members = service(&state)
            .members(&caller, &group, (page - 1) * u64::from(size), size)
            .await?;
        let data: Vec<Value> = members
            .iter()
            .map(|member| {
                let key = if member.role == GroupRole::Owner {
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
        .members(&caller, &group, offset, limit)
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

/// # `POST /{org}/{app}/chatgroups/{g}/users` `{usernames}` (the admin API)
///
/// Members added at once by an owner, an admin or the app: `{newmembers, groupid, action}`.
pub(crate) async fn add_members_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: UsersBody = parse_json(&body)?;
    let users = parse_names(&body.usernames)?;
    let added = service(&state).add_members(&caller, &group, &users).await?;
    let names: Vec<&str> = added.iter().map(UserName::as_str).collect();
    Ok(answer(
        "post",
        json!({ "newmembers": names, "groupid": group.as_str(), "action": "add_member" }),
    ))
}

/// # `POST /{org}/{app}/chatgroups/{g}/users/{user}` (the admin API)
///
/// One member added at once: `{result, groupid, action, user}` (`result` false when they
/// already were a member).
pub(crate) async fn add_member_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let user = parse_user(&user)?;
    let added = service(&state)
        .add_members(&caller, &group, std::slice::from_ref(&user))
        .await?;
    Ok(answer(
        "post",
        json!({
            "result": added.contains(&user),
            "groupid": group.as_str(),
            "action": "add_member",
            "user": user.as_str(),
        }),
    ))
}

/// # `DELETE /{org}/{app}/chatgroups/{g}/users/{user}` (or `a,b,c`)`?resource=`
///
/// `removeGroupMember` (one: an object) and `removeGroupMembers` (a list: an array).
pub(crate) async fn remove_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, users)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let named = parse_users(&users)?;
    let removed = service(&state).remove(&caller, &group, &named).await?;
    let rows: Vec<Value> = named
        .iter()
        .map(|user| {
            json!({
                "result": removed.contains(user),
                "action": "remove_member",
                "user": user.as_str(),
                "groupid": group.as_str(),
            })
        })
        .collect();
    Ok(match (users.contains(','), rows.as_slice()) {
        (false, [one]) => answer("delete", one.clone()),
        _ => answer("delete", Value::Array(rows)),
    })
}

/// # `GET /{org}/{app}/chatgroups/{g}/admin`
pub(crate) async fn admins_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let admins = service(&state).admins(&caller, &group).await?;
    let names: Vec<&str> = admins.iter().map(UserName::as_str).collect();
    Ok(answer("get", json!(names)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AdminBody {
    newadmin: String,
}

/// # `POST /{org}/{app}/chatgroups/{g}/admin?resource=` `{newadmin}`
pub(crate) async fn add_admin_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: AdminBody = parse_json(&body)?;
    let user = parse_user(&body.newadmin)?;
    service(&state)
        .set_admin(&caller, &group, &user, true)
        .await?;
    Ok(answer(
        "post",
        json!({ "result": "success", "newadmin": user.as_str() }),
    ))
}

/// # `DELETE /{org}/{app}/chatgroups/{g}/admin/{user}?resource=`
pub(crate) async fn remove_admin_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let user = parse_user(&user)?;
    service(&state)
        .set_admin(&caller, &group, &user, false)
        .await?;
    Ok(answer(
        "delete",
        json!({ "result": "success", "oldadmin": user.as_str() }),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct UsersBody {
    pub(super) usernames: Vec<String>,
}

/// # `POST /{org}/{app}/chatgroups/{g}/invite?resource=` `{usernames}`
///
/// `inviteUsersToGroup`: one row per invitee.
pub(crate) async fn invite_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: UsersBody = parse_json(&body)?;
    let users = parse_names(&body.usernames)?;
    let invited = match service(&state).invite(&caller, &group, &users).await? {
        Invited::Joined(users) | Invited::Asked(users) => users,
    };
    let rows: Vec<Value> = invited
        .iter()
        .map(|user| json!({ "action": "invite", "id": group.as_str(), "result": true, "user": user.as_str() }))
        .collect();
    Ok(answer("post", Value::Array(rows)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApplyBody {
    #[serde(default)]
    message: Option<String>,
}

/// # `POST /{org}/{app}/chatgroups/{g}/apply?resource=` `{message}`
///
/// `joinGroup`: a public group; with approval the owner and admins are asked.
pub(crate) async fn apply_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let user = user_of(&caller)?.clone();
    let group = parse_group(&group)?;
    let body: ApplyBody = parse_json(&body)?;
    let applied = service(&state)
        .apply(
            &caller,
            &group,
            &user,
            body.message.as_deref().unwrap_or(""),
        )
        .await?;
    Ok(answer(
        "post",
        json!({
            "result": true,
            "action": "apply",
            "id": group.as_str(),
            "user": user.as_str(),
            "joined": applied == Applied::Joined,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyBody {
    #[serde(default)]
    applicant: Option<String>,
    #[serde(default)]
    invitee: Option<String>,
    verify_result: bool,
    #[serde(default)]
    reason: Option<String>,
}

/// # `POST /{org}/{app}/chatgroups/{g}/apply_verify?resource=` `{applicant, verifyResult, reason}`
///
/// `acceptGroupJoinRequest` / `rejectGroupJoinRequest`.
pub(crate) async fn apply_verify_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: VerifyBody = parse_json(&body)?;
    let applicant = parse_user(body.applicant.as_deref().unwrap_or(""))?;
    service(&state)
        .answer_application(
            &caller,
            &group,
            &applicant,
            body.verify_result,
            body.reason.as_deref().unwrap_or(""),
        )
        .await?;
    Ok(answer(
        "post",
        json!({ "result": true, "action": "apply_verify", "id": group.as_str(), "user": applicant.as_str() }),
    ))
}

/// # `POST /{org}/{app}/chatgroups/{g}/invite_verify?resource=` `{invitee, verifyResult}`
///
/// `acceptGroupInvite` / `rejectGroupInvite`: the invitee answers.
pub(crate) async fn invite_verify_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: VerifyBody = parse_json(&body)?;
    let invitee = parse_user(body.invitee.as_deref().unwrap_or(""))?;
    service(&state)
        .answer_invitation(&caller, &group, &invitee, body.verify_result)
        .await?;
    Ok(answer(
        "post",
        json!({ "result": true, "action": "invite_verify", "id": group.as_str(), "user": invitee.as_str() }),
    ))
}

/// # `DELETE /{org}/{app}/chatgroups/{g}/quit?resource=`
///
/// `leaveGroup`: any member but the owner.
pub(crate) async fn quit_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    service(&state).leave(&caller, &group).await?;
    Ok(answer("delete", json!({ "result": true })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MuteBody {
    usernames: Vec<String>,
    /// Milliseconds; -1 (or absent): until unmuted.
    #[serde(default)]
    mute_duration: Option<i64>,
}

/// # `POST /{org}/{app}/chatgroups/{g}/mute?resource=` `{usernames, mute_duration}`
///
/// `muteGroupMember`: `expire` is when the mute ends (epoch ms), -1 for never.
pub(crate) async fn mute_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: MuteBody = parse_json(&body)?;
    let users = parse_names(&body.usernames)?;
    let duration = match body.mute_duration {
        None | Some(-1) => None,
        Some(ms) if ms > 0 => Some(ms as u64),
        Some(_) => {
            return Err(
                Error::InvalidArgument("mute_duration must be positive or -1".to_owned()).into(),
            )
        }
    };
    let muted = service(&state)
        .mute(&caller, &group, &users, Some(duration))
        .await?;
    let rows: Vec<Value> = muted
        .iter()
        .map(|(user, until)| {
            let expire = if duration.is_none() {
                -1
            } else {
                *until as i64
            };
            json!({ "result": true, "expire": expire, "user": user.as_str() })
        })
        .collect();
    Ok(answer("post", Value::Array(rows)))
}

/// # `DELETE /{org}/{app}/chatgroups/{g}/mute/{user}` (or `a,b`)`?resource=`
pub(crate) async fn unmute_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, users)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let users = parse_users(&users)?;
    let unmuted = service(&state).mute(&caller, &group, &users, None).await?;
    let rows: Vec<Value> = unmuted
        .iter()
        .map(|(user, _)| json!({ "result": true, "user": user.as_str() }))
        .collect();
    Ok(answer("delete", Value::Array(rows)))
}

/// # `GET /{org}/{app}/chatgroups/{g}/mute`
///
/// `getGroupMuteList`: `[{user, expire}]`, -1 for a mute without end.
pub(crate) async fn muted_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let muted = service(&state).muted(&caller, &group).await?;
    let rows: Vec<Value> = muted
        .iter()
        .map(|(user, until)| json!({ "user": user.as_str(), "expire": expire(*until) }))
        .collect();
    Ok(answer("get", Value::Array(rows)))
}

/// A mute's end as the hosted answers give it: -1 for one without end.
pub(super) fn expire(until_ms: u64) -> i64 {
    if until_ms >= UNTIL_UNMUTED_MS {
        -1
    } else {
        until_ms as i64
    }
}

/// # `GET /{org}/{app}/sdk/chatgroups/{g}/mute/{user}`
///
/// `isInGroupMutelist`: `data` is whether the user is muted now.
pub(crate) async fn is_muted_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let user = parse_user(&user)?;
    let muted = service(&state).is_muted(&caller, &group, &user).await?;
    Ok(answer("get", json!(muted)))
}

/// # `POST` / `DELETE /{org}/{app}/chatgroups/{g}/ban?resource=`
///
/// `disableSendGroupMsg` / `enableSendGroupMsg`.
pub(crate) async fn ban_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let mute = method == axum::http::Method::POST;
    service(&state).mute_all(&caller, &group, mute).await?;
    Ok(answer(
        if mute { "post" } else { "delete" },
        json!({ "mute": mute }),
    ))
}

/// Rows of a block or allowlist change: one per user named, `result` whether it changed.
fn list_rows(
    action: &str,
    group: &GroupId,
    named: &[UserName],
    changed: &[UserName],
) -> Vec<Value> {
    named
        .iter()
        .map(|user| {
            json!({
                "result": changed.contains(user),
                "action": action,
                "user": user.as_str(),
                "groupid": group.as_str(),
            })
        })
        .collect()
}

/// One user's row: an object, or with `version=v3` a one-row array.
pub(super) fn single_row(query: &Pairs, mut rows: Vec<Value>) -> Value {
    match (v3(query), rows.pop()) {
        (false, Some(row)) => row,
        (true, Some(row)) => Value::Array(vec![row]),
        (_, None) => Value::Array(Vec::new()),
    }
}

/// The answer of a removal from a list named in the path: a batch (`a,b`) is an array, one
/// user as `single_row` shapes it.
fn removal_answer(users: &str, rows: Vec<Value>, query: &Pairs) -> Json<Value> {
    if users.contains(',') {
        answer("delete", Value::Array(rows))
    } else {
        answer("delete", single_row(query, rows))
    }
}

/// # `POST /{org}/{app}/chatgroups/{g}/blocks/users/{user}?resource=`
///
/// `blockGroupMember`: the member leaves the group and cannot join again.
pub(crate) async fn block_one_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let named = vec![parse_user(&user)?];
    let changed = service(&state).block(&caller, &group, &named, true).await?;
    let rows = list_rows("add_blocks", &group, &named, &changed);
    Ok(answer("post", single_row(&query, rows)))
}

/// # `POST /{org}/{app}/chatgroups/{g}/blocks/users?resource=` `{usernames}`
pub(crate) async fn block_many_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: UsersBody = parse_json(&body)?;
    let named = parse_names(&body.usernames)?;
    let changed = service(&state).block(&caller, &group, &named, true).await?;
    Ok(answer(
        "post",
        Value::Array(list_rows("add_blocks", &group, &named, &changed)),
    ))
}

/// # `DELETE /{org}/{app}/chatgroups/{g}/blocks/users/{user}` (or `a,b`)`?resource=`
pub(crate) async fn unblock_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, users)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let named = parse_users(&users)?;
    let changed = service(&state)
        .block(&caller, &group, &named, false)
        .await?;
    let rows = list_rows("remove_blocks", &group, &named, &changed);
    Ok(removal_answer(&users, rows, &query))
}

/// # `GET /{org}/{app}/chatgroups/{g}/blocks/users`
pub(crate) async fn blocked_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let blocked = service(&state).blocked(&caller, &group).await?;
    let names: Vec<&str> = blocked.iter().map(UserName::as_str).collect();
    let count = names.len();
    let mut body = answer("get", json!(names));
    body.0["count"] = json!(count);
    Ok(body)
}

/// # `POST /{org}/{app}/chatgroups/{g}/white/users?resource=` `{usernames}`
pub(crate) async fn allow_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: UsersBody = parse_json(&body)?;
    let named = parse_names(&body.usernames)?;
    let changed = service(&state).allow(&caller, &group, &named, true).await?;
    Ok(answer(
        "post",
        Value::Array(list_rows("add_user_whitelist", &group, &named, &changed)),
    ))
}

/// # `DELETE /{org}/{app}/chatgroups/{g}/white/users/{user}` (or `a,b`)`?resource=`
pub(crate) async fn disallow_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, users)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let named = parse_users(&users)?;
    let changed = service(&state)
        .allow(&caller, &group, &named, false)
        .await?;
    let rows = list_rows("remove_user_whitelist", &group, &named, &changed);
    Ok(removal_answer(&users, rows, &query))
}

/// # `GET /{org}/{app}/chatgroups/{g}/white/users`
pub(crate) async fn allowlist_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let listed = service(&state).allowlist(&caller, &group).await?;
    let names: Vec<&str> = listed.iter().map(UserName::as_str).collect();
    Ok(answer("get", json!(names)))
}

/// # `GET /{org}/{app}/chatgroups/{g}/white/users/{user}`
///
/// `isInGroupAllowlist`: `{white, member}`.
pub(crate) async fn allowlisted_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let user = parse_user(&user)?;
    let (white, _) = service(&state).allowlisted(&caller, &group, &user).await?;
    Ok(answer(
        "get",
        json!({ "white": white, "member": user.as_str() }),
    ))
}

/// # `GET /{org}/{app}/chatgroups/{g}/acks/{message}?limit=&key=`
///
/// `getGroupMsgReadUser`: the members who read the message (a group read ack), by name;
/// `key` (the SDK sends `undefined` for none) continues after a page, `next_key` while more.
pub(crate) async fn readers_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, message)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let message = confab_core::conversations::parse_message_id(&message)?;
    let limit = page_limit(&query, "limit", MAX_PAGE, MAX_PAGE)?;
    let after = match query_value(&query, "key") {
        None | Some("" | "null" | "undefined") => None,
        Some(text) => Some(parse_user(text)?),
    };
    let (readers, total) = service(&state)
        .readers(&caller, &group, message, (after.as_ref(), limit))
        .await?;
    let is_last = readers.len() < limit as usize;
    let next_key = match (is_last, readers.last()) {
        (false, Some(last)) => last.as_str().to_owned(),
        _ => String::new(),
    };
    let userlist: Vec<&str> = readers.iter().map(UserName::as_str).collect();
    Ok(answer(
        "get",
        json!({
            "ackmid": message.0.to_string(),
            "is_last": is_last,
            "next_key": next_key,
            "timestamp": now_ms(),
            "total": total,
            "userlist": userlist,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemberAttributesBody {
    meta_data: Map<String, Value>,
}

/// # `PUT /{org}/{app}/sdk/metadata/chatgroup/{g}/user/{user}?resource=` `{metaData: {k: v}}`
///
/// `setGroupMemberAttributes`: values are strings (an empty one removes the key); answers the
/// member's attributes after the change.
pub(crate) async fn set_member_attributes_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, user)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let user = parse_user(&user)?;
    let body: MemberAttributesBody = parse_json(&body)?;
    let changes = body
        .meta_data
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            _ => Err(Error::InvalidArgument(format!(
                "metaData.{key} must be a string"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let attributes = service(&state)
        .set_member_attributes(&caller, &group, &user, &changes)
        .await?;
    Ok(answer("put", json!(attributes)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct GetMemberAttributesBody {
    targets: Vec<String>,
    #[serde(default)]
    properties: Vec<String>,
}

/// # `POST /{org}/{app}/sdk/metadata/chatgroup/{g}/get` `{targets: [user], properties: [key]}`
///
/// `getGroupMemberAttributes` / `getGroupMembersAttributes`: `data: {user: {k: v}}` for the
/// targets who are members (`properties` empty: every key).
pub(crate) async fn member_attributes_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: GetMemberAttributesBody = parse_json(&body)?;
    let users = parse_names(&body.targets)?;
    let found = service(&state)
        .member_attributes(&caller, &group, &users, &body.properties)
        .await?;
    let data: Map<String, Value> = found
        .into_iter()
        .map(|(user, attributes)| (user.to_string(), json!(attributes)))
        .collect();
    Ok(answer("post", Value::Object(data)))
}

/// # `POST /{org}/{app}/chatgroups/{g}/share_files?resource=` (multipart `file`)
///
/// `uploadGroupSharedFile`: a member's file, stored like an attachment (`max_attachment_bytes`);
/// answers `{data: {file_url, group_id, file_name, created, file_id, file_size}}` and every
/// member hears `uploadFile`.
pub(crate) async fn share_file_route(
    State(state): State<Arc<RestState>>,
    Path((org, app_name, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    uri: Uri,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app_name), &headers, &query).await?;
    let group = parse_group(&group)?;
    // Who may share is known before the bytes are read.
    service(&state).check_sharer(&caller, &group).await?;
    let app = resolve_app(&state.apps, &org, &app_name, &headers).await?;
    let owner = caller.user.clone().unwrap_or_else(UserName::group_history);
    let uploaded = crate::routes::chatfiles::receive_upload(
        &state,
        &app,
        owner.to_string(),
        &headers,
        multipart,
    )
    .await?;
    let file = SharedFile {
        id: uploaded.uuid.clone(),
        name: uploaded.filename.clone(),
        owner,
        size: uploaded.length,
        created_ms: uploaded.created_ms,
    };
    service(&state).share_file(&caller, &group, &file).await?;
    Ok(answer(
        "post",
        json!({
            "file_url": format!("{}/{}", uri.path(), file.id),
            "group_id": group.as_str(),
            "file_name": file.name,
            "created": file.created_ms,
            "file_id": file.id,
            "file_size": file.size,
        }),
    ))
}

/// # `GET /{org}/{app}/chatgroups/{g}/share_files?pagenum=&pagesize=`
///
/// `fetchGroupSharedFileList`: `[{file_id, file_name, file_owner, file_size, created}]`,
/// the latest shared first, 1-based pages.
pub(crate) async fn files_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let page = page_number(&query, "pagenum", 1)?;
    let size = page_limit(&query, "pagesize", 10, MAX_PAGE)?;
    let files = service(&state)
        .files(&caller, &group, (page - 1) * u64::from(size), size)
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

/// # `GET /{org}/{app}/chatgroups/{g}/share_files/{file}`
///
/// `downloadGroupSharedFile`: the bytes, for members (404 `file_expired` for a file the group
/// does not share).
pub(crate) async fn file_route(
    State(state): State<Arc<RestState>>,
    Path((org, app_name, group, file)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(&state, (&org, &app_name), &headers, &query).await?;
    let group = parse_group(&group)?;
    let shared = service(&state)
        .file(&caller, &group, &file)
        .await?
        .ok_or(ChatFileError::NotFound)?;
    let app = resolve_app(&state.apps, &org, &app_name, &headers).await?;
    crate::routes::chatfiles::serve_original(&state, &app, &shared.id).await
}

/// # `DELETE /{org}/{app}/chatgroups/{g}/share_files/{file}?resource=`
///
/// `deleteGroupSharedFile`: `{group_id, file_id, result}`; every member hears `deleteFile`.
pub(crate) async fn delete_file_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group, file)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    if !service(&state).remove_file(&caller, &group, &file).await? {
        return Err(ChatFileError::NotFound.into());
    }
    Ok(answer(
        "delete",
        json!({ "group_id": group.as_str(), "file_id": file, "result": true }),
    ))
}

/// # `POST` / `DELETE /{org}/{app}/chatgroups/{g}/shield?resource=`
///
/// `blockGroupMessage` / `unblockGroupMessage`: the calling member stops (starts again)
/// getting the group's messages. `{result, user, groupid}`.
pub(crate) async fn shield_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let shield = method == axum::http::Method::POST;
    service(&state).shield(&caller, &group, shield).await?;
    let user = caller.user.as_ref().map(UserName::as_str).unwrap_or("");
    Ok(answer(
        if shield { "post" } else { "delete" },
        json!({ "result": true, "user": user, "groupid": group.as_str() }),
    ))
}

/// # `GET /{org}/{app}/chatgroups/{g}/announcement`
pub(crate) async fn announcement_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let text = service(&state).announcement(&caller, &group).await?;
    Ok(answer("get", json!({ "announcement": text })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct AnnouncementBody {
    announcement: String,
}

/// # `POST /{org}/{app}/chatgroups/{g}/announcement?resource=` `{announcement}`
pub(crate) async fn set_announcement_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, group)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, (&org, &app), &headers, &query).await?;
    let group = parse_group(&group)?;
    let body: AnnouncementBody = parse_json(&body)?;
    service(&state)
        .set_announcement(&caller, &group, &body.announcement)
        .await?;
    Ok(answer(
        "post",
        json!({ "id": group.as_str(), "result": true }),
    ))
}
