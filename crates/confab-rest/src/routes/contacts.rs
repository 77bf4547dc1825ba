//! Contacts and the blocklist (API-SURFACE.md section 4), with the user's own token (or an app
//! token). Every mutation names the acting device in `?resource=`: its user's other devices
//! hear of the change, that device does not.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, Method},
    Json,
};
use confab_core::{contacts::ContactService, ids::UserName, now_ms, Error};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    error::ApiError,
    extract::{app_for_admin, app_for_user, page_limit, parse_json, query_value},
    RestState,
};

type Pairs = Vec<(String, String)>;

/// Most contacts per page of `getContactsWithCursor`.
const MAX_PAGE: u32 = 50;
/// Most users one blocklist request names.
const MAX_USERS_PER_REQUEST: usize = 60;

fn answer(action: &str, data: Value) -> Json<Value> {
    Json(json!({ "action": action, "data": data, "timestamp": now_ms(), "duration": 0 }))
}

fn parse_user(text: &str) -> Result<UserName, ApiError> {
    UserName::parse(text).ok_or_else(|| Error::UserNotFound(text.to_owned()).into())
}

/// The hosted admin API's answer naming one user in `entities`.
fn user_entities(action: &str, user: &UserName) -> Json<Value> {
    Json(json!({
        "action": action,
        "entities": [{ "type": "user", "username": user.as_str(), "activated": true }],
        "timestamp": now_ms(),
        "duration": 0,
    }))
}

fn resource(query: &Pairs) -> &str {
    query_value(query, "resource").unwrap_or("")
}

fn service(state: &RestState) -> &ContactService {
    &state.contacts
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApplyBody {
    usernames: Vec<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// # `POST /{org}/{app}/users/{user}/contacts/apply?resource=` `{usernames: [to], reason}`
///
/// `addContact`: the invitee gets `onContactInvited` (now, or at their next login).
pub(crate) async fn apply_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let body: ApplyBody = parse_json(&body)?;
    let [invitee] = body.usernames.as_slice() else {
        return Err(Error::InvalidArgument("usernames must name one user".to_owned()).into());
    };
    let invitee = parse_user(invitee)?;
    service(&state)
        .request(
            &app.key,
            (&me, resource(&query)),
            &invitee,
            body.reason.as_deref().unwrap_or(""),
        )
        .await?;
    Ok(answer("post", json!({ "result": "ok" })))
}

/// # `POST /{org}/{app}/users/{user}/contacts/{accept|decline}/users/{from}?resource=`
///
/// `acceptContactInvite` (the inviter gets `onContactAgreed`, the user's other devices
/// `onContactAdded`) and `declineContactInvite` (`onContactRefuse` to both).
pub(crate) async fn answer_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user, verb, from)): Path<(String, String, String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let accept = match verb.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return Err(ApiError::NoSuchRoute),
    };
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let inviter = parse_user(&from)?;
    service(&state)
        .answer(&app.key, (&me, resource(&query)), &inviter, accept)
        .await?;
    Ok(answer("post", json!({ "result": "ok" })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RemarkBody {
    remark: String,
}

/// # `POST|DELETE|PUT /{org}/{app}/users/{user}/contacts/users/{contact}?resource=`
///
/// DELETE `deleteContact` (both get `onContactDeleted`); PUT `{remark}` `setContactRemark`;
/// POST, with an app token only (the hosted admin API): the two become contacts at once.
pub(crate) async fn contact_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user, contact)): Path<(String, String, String, String)>,
    Query(query): Query<Pairs>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if method == Method::POST {
        let app = app_for_admin(&state, &org, &app, &headers).await?;
        let owner = parse_user(&user)?;
        let contact = parse_user(&contact)?;
        service(&state).add(&app.key, &owner, &contact).await?;
        return Ok(user_entities("post", &contact));
    }
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let contact = parse_user(&contact)?;
    if method == Method::PUT {
        let body: RemarkBody = parse_json(&body)?;
        service(&state)
            .set_remark(&app.key, &me, &contact, &body.remark)
            .await?;
        return Ok(answer("put", json!({ "result": "ok" })));
    }
    service(&state)
        .delete(&app.key, (&me, resource(&query)), &contact)
        .await?;
    Ok(answer("delete", json!({ "result": "ok" })))
}

/// # `GET /{org}/{app}/users/{user}/contacts/users[?needReturnRemark=true]`
///
/// `getContacts`: `data: [names]`; with `needReturnRemark=true` (`getAllContacts`) also
/// `entities: [{username, remark}]`.
pub(crate) async fn list_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let contacts = service(&state).all_contacts(&app.key, &me).await?;
    let names: Vec<&str> = contacts
        .iter()
        .map(|contact| contact.name.as_str())
        .collect();
    let entities: Vec<Value> = contacts
        .iter()
        .map(|contact| json!({ "username": contact.name.as_str(), "remark": contact.remark }))
        .collect();
    Ok(Json(json!({
        "action": "get",
        "data": names,
        "entities": entities,
        "count": names.len(),
        "timestamp": now_ms(),
        "duration": 0,
    })))
}

/// # `GET /{org}/{app}/users/{user}/contacts?needReturnRemark=true&limit=&cursor=`
///
/// `getContactsWithCursor`: `data: {contacts: [{username, remark}], cursor}`, `limit` (1 to
/// 50, default 20) at a time; `cursor` is the last name of the page before, `""` at the end.
pub(crate) async fn page_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let limit = page_limit(&query, "limit", 20, MAX_PAGE)?;
    let after = match query_value(&query, "cursor") {
        None | Some("" | "null" | "undefined") => None,
        Some(text) => Some(
            UserName::parse(text)
                .ok_or_else(|| Error::InvalidArgument("invalid cursor".to_owned()))?,
        ),
    };
    let page = service(&state)
        .contacts(&app.key, &me, after.as_ref(), limit + 1)
        .await?;
    let more = page.len() > limit as usize;
    let page = &page[..page.len().min(limit as usize)];
    let cursor = match page.last() {
        Some(last) if more => last.name.as_str(),
        _ => "",
    };
    let contacts: Vec<Value> = page
        .iter()
        .map(|contact| json!({ "username": contact.name.as_str(), "remark": contact.remark }))
        .collect();
    Ok(answer(
        "get",
        json!({ "contacts": contacts, "cursor": cursor }),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct BlocksBody {
    usernames: Vec<String>,
}

/// The users a blocklist request names (at most `MAX_USERS_PER_REQUEST`).
fn blocks_users(body: &BlocksBody) -> Result<Vec<UserName>, ApiError> {
    if body.usernames.len() > MAX_USERS_PER_REQUEST {
        return Err(Error::InvalidArgument(format!(
            "at most {MAX_USERS_PER_REQUEST} usernames at a time"
        ))
        .into());
    }
    body.usernames.iter().map(|name| parse_user(name)).collect()
}

/// # `POST|DELETE /{org}/{app}/sdk/user/{user}/blocks?resource=` `{usernames: […]}`
///
/// `addUsersToBlocklist` and `removeUserFromBlocklist`: `data` names the users.
pub(crate) async fn change_blocks_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let body: BlocksBody = parse_json(&body)?;
    let users = blocks_users(&body)?;
    let block = method == Method::POST;
    service(&state)
        .change_blocks(&app.key, &me, &users, block)
        .await?;
    Ok(answer(
        if block { "post" } else { "delete" },
        json!(body.usernames),
    ))
}

/// # `POST /{org}/{app}/users/{user}/blocks/users` `{usernames: […]}`
///
/// The hosted admin API (an app token): adds to the user's blocklist; `data` names them.
pub(crate) async fn admin_block_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let app = app_for_admin(&state, &org, &app, &headers).await?;
    let owner = parse_user(&user)?;
    let body: BlocksBody = parse_json(&body)?;
    let users = blocks_users(&body)?;
    service(&state)
        .change_blocks(&app.key, &owner, &users, true)
        .await?;
    Ok(answer("post", json!(body.usernames)))
}

/// # `DELETE /{org}/{app}/users/{user}/blocks/users/{blocked}`
///
/// The hosted admin API (an app token, or the user's own): removes one user from the
/// blocklist.
pub(crate) async fn unblock_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user, blocked)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let blocked = parse_user(&blocked)?;
    service(&state)
        .change_blocks(&app.key, &me, std::slice::from_ref(&blocked), false)
        .await?;
    Ok(user_entities("delete", &blocked))
}

/// # `GET /{org}/{app}/users/{user}/blocks/users`
///
/// `getBlocklist`: `data: [names]`.
pub(crate) async fn blocked_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let blocked = service(&state).blocked(&app.key, &me).await?;
    let names: Vec<&str> = blocked.iter().map(UserName::as_str).collect();
    Ok(answer("get", json!(names)))
}
