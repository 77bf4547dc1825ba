//! User attributes (API-SURFACE.md section 6): `updateUserInfo` / `updateOwnUserInfo` and
//! `fetchUserInfoById`.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    Json,
};
use confab_core::{ids::UserName, now_ms, Error};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{
    error::ApiError,
    extract::{app_for_user, caller_of_app, parse_json},
    RestState,
};

/// # `PUT /{org}/{app}/metadata/user/{user}` (`application/x-www-form-urlencoded`, `k=v&…`)
///
/// The user's own token or an app token. `data`: the attributes as set.
pub(crate) async fn update_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, name) = app_for_user(&state, &org, &app, user, &headers).await?;
    let changes: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|error| ApiError::BadBody(error.to_string()))?;
    let set = state
        .accounts
        .update_user_attributes(&app.key, &name, changes)
        .await?;
    Ok(Json(
        json!({ "timestamp": now_ms(), "data": set, "duration": 0 }),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct FetchBody {
    targets: Vec<String>,
    #[serde(default)]
    properties: Vec<String>,
}

/// # `POST /{org}/{app}/metadata/user/get` `{targets: [users], properties: [keys]}`
///
/// Any user of the app (or an app token). `data`: `{user: {key: value}}` for each target that
/// exists, with the keys asked for (all of them when `properties` is empty).
pub(crate) async fn fetch_route(
    State(state): State<Arc<RestState>>,
    Path((org, app)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, _) = caller_of_app(&state, &org, &app, &headers).await?;
    let body: FetchBody = parse_json(&body)?;
    // A name that cannot exist is a user that does not: left out, as one not found.
    let names: Vec<UserName> = body
        .targets
        .iter()
        .filter_map(|t| UserName::parse(t))
        .collect();
    if names.is_empty() {
        return Err(Error::InvalidArgument("targets names no user".to_owned()).into());
    }
    let found = state
        .accounts
        .user_attributes(&app.key, &names, &body.properties)
        .await?;
    let data: Map<String, Value> = found
        .into_iter()
        .map(|(name, attributes)| (name.to_string(), json!(attributes)))
        .collect();
    Ok(Json(
        json!({ "timestamp": now_ms(), "data": data, "duration": 0 }),
    ))
}
