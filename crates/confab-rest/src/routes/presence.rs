//! Presence (API-SURFACE.md section 5), with the user's own token or an app token. Answers are
//! read from a top-level `result`, times are seconds as strings (the hosted shapes).

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::HeaderMap,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    error::ApiError,
    extract::{app_for_user, page_limit, parse_json, query_value},
    RestState,
};

type Pairs = Vec<(String, String)>;

/// Largest page of `presence/sublist` (hosted: 500).
const MAX_SUBLIST_PAGE: u32 = 500;

fn ok() -> Json<Value> {
    Json(json!({ "result": "ok" }))
}

fn views_answer(views: &[confab_core::presence::PresenceView]) -> Json<Value> {
    let result: Vec<Value> = views.iter().map(|view| view.to_json()).collect();
    Json(json!({ "result": result }))
}

#[derive(Deserialize)]
struct PublishBody {
    #[serde(default)]
    ext: String,
}

#[derive(Deserialize)]
struct UsersBody {
    usernames: Vec<String>,
}

/// # `POST /{org}/{app}/users/{user}/presence/{resource}/{status}`
///
/// `publishPresence({description})`: body `{ext}`; the SDK's status is always `1`.
pub(crate) async fn publish_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user, resource, status)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let body: PublishBody = parse_json(&body)?;
    state
        .presence
        .publish(&app.key, (&me, &resource), &status, &body.ext)
        .await?;
    Ok(ok())
}

/// # `POST /{org}/{app}/users/{user}/presence/{expiry}`
///
/// `subscribePresence({usernames, expiry})`: `result` is their presence now, with `expiry`.
pub(crate) async fn subscribe_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user, expiry)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let expiry: u64 = expiry.parse().map_err(|_| {
        ApiError::from(confab_core::Error::InvalidArgument(
            "expiry must be a number of seconds".into(),
        ))
    })?;
    let body: UsersBody = parse_json(&body)?;
    let views = state
        .presence
        .subscribe(&app.key, &me, &body.usernames, expiry)
        .await?;
    Ok(views_answer(&views))
}

/// # `POST|DELETE /{org}/{app}/users/{user}/presence`
///
/// `getPresenceStatus({usernames})` (POST, body `{usernames}`) and
/// `unsubscribePresence({usernames})` (DELETE, the body a bare JSON array of names).
pub(crate) async fn query_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let body: UsersBody = parse_json(&body)?;
    let views = state.presence.query(&app.key, &me, &body.usernames).await?;
    Ok(views_answer(&views))
}

pub(crate) async fn unsubscribe_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let names: Vec<String> = parse_json(&body)?;
    state.presence.unsubscribe(&app.key, &me, &names).await?;
    Ok(ok())
}

/// # `GET /{org}/{app}/users/{user}/presence/sublist?pageNum=&pageSize=`
///
/// `getSubscribedPresenceList`: `result: {totalnum, sublist[]{uid, expiry}}`. `pageNum` counts
/// from 1 (0 is taken as 1, as the SDK lets it through).
pub(crate) async fn sublist_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let page_num = match query_value(&query, "pageNum") {
        None | Some("") | Some("undefined") => 1,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::from(confab_core::Error::InvalidArgument(
                "pageNum must be a number".into(),
            ))
        })?,
    };
    let page_size = page_limit(&query, "pageSize", 1, MAX_SUBLIST_PAGE)?;
    let (page, total) = state
        .presence
        .subscriptions(&app.key, &me, page_num, page_size)
        .await?;
    let sublist: Vec<Value> = page
        .iter()
        .map(|subscription| {
            json!({
                "uid": subscription.user.as_str(),
                "expiry": (subscription.expires_ms / 1000).to_string(),
            })
        })
        .collect();
    Ok(Json(json!({
        "result": { "totalnum": total.to_string(), "sublist": sublist }
    })))
}
