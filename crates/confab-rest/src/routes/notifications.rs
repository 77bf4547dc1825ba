//! Push-notification settings (API-SURFACE.md section 9), with the user's own token (or an
//! app token): silent mode for the account (`notification/user/{me}`) and per conversation
//! (`notification/user/{peer}`, `notification/chatgroup/{group}`), the push language.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, Method},
    Json,
};
use confab_core::{
    ids::UserName,
    notifications::{setting_json, NotificationService, SettingChange},
    now_ms,
    store::NotificationScope,
    Error,
};
use serde_json::{json, Map, Value};

use crate::{
    error::ApiError,
    extract::{app_for_user, page_limit, parse_json, query_value},
    RestState,
};

type Pairs = Vec<(String, String)>;

fn answer(data: Value) -> Json<Value> {
    Json(json!({ "data": data, "timestamp": now_ms(), "duration": 0 }))
}

fn service(state: &RestState) -> &NotificationService {
    &state.notifications
}

/// The scope a path names: `user/{me}` is the account.
fn scope(me: &UserName, kind: &str, id: &str) -> Result<NotificationScope, ApiError> {
    let bad = || {
        ApiError::from(Error::InvalidArgument(format!(
            "invalid conversation {kind}/{id}"
        )))
    };
    if id.is_empty() || id.len() > 128 || id.contains(',') {
        return Err(bad());
    }
    match kind {
        "user" if id == me.as_str() => Ok(NotificationScope::Account),
        "user" => Ok(NotificationScope::User(id.to_owned())),
        "chatgroup" => Ok(NotificationScope::Group(id.to_owned())),
        _ => Err(ApiError::NoSuchRoute),
    }
}

/// The one change a `PUT` body names: `{type}`, `{ignoreDuration}` or `{ignoreInterval}`.
fn change(body: &Value) -> Result<SettingChange, ApiError> {
    let bad = |what: &str| ApiError::from(Error::InvalidArgument(what.to_owned()));
    if let Some(kind) = body.get("type") {
        let kind = kind.as_str().ok_or_else(|| bad("type must be a string"))?;
        return Ok(match kind {
            "DEFAULT" => SettingChange::Clear,
            other => SettingChange::RemindType(other.to_owned()),
        });
    }
    if let Some(duration) = body.get("ignoreDuration") {
        let duration = match duration {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| bad("ignoreDuration must be a number of ms"))?;
        return Ok(SettingChange::IgnoreDuration(duration));
    }
    if let Some(interval) = body.get("ignoreInterval") {
        let interval = interval
            .as_str()
            .ok_or_else(|| bad("ignoreInterval must be a string"))?;
        return Ok(SettingChange::IgnoreInterval(interval.to_owned()));
    }
    Err(bad(
        "the body names no setting (type, ignoreDuration or ignoreInterval)",
    ))
}

/// # `GET|PUT /{org}/{app}/users/{user}/notification/{user|chatgroup}/{id}?resource=`
///
/// `setSilentModeForAll` / `getSilentModeForAll` (`user/{me}`), `setSilentModeForConversation`
/// / `getSilentModeForConversation` / `clearRemindTypeForConversation` (`{type:"DEFAULT"}`):
/// `data` is the setting now (`{type?, ignoreDuration?, ignoreInterval?}`).
pub(crate) async fn setting_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user, kind, id)): Path<(String, String, String, String, String)>,
    Query(query): Query<Pairs>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let scope = scope(&me, &kind, &id)?;
    if method == Method::PUT {
        let body: Value = parse_json(&body)?;
        let resource = query_value(&query, "resource").unwrap_or("");
        let setting = service(&state)
            .change(&app.key, (&me, resource), &scope, change(&body)?)
            .await?;
        return Ok(answer(setting_json(&setting)));
    }
    let found = service(&state)
        .settings(&app.key, &me, std::slice::from_ref(&scope))
        .await?;
    let data = found
        .first()
        .map_or_else(|| json!({}), |(_, setting)| setting_json(setting));
    Ok(answer(data))
}

/// # `GET /{org}/{app}/users/{user}/notification?user=a,b&group=c,d`
///
/// `getSilentModeForConversations`: `data: {user: {a: setting}, group: {c: setting}}` for the
/// conversations that have one.
pub(crate) async fn settings_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let ids = |key: &str| -> Vec<String> {
        query_value(&query, key)
            .unwrap_or("")
            .split(',')
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut scopes = Vec::new();
    for id in ids("user") {
        scopes.push(scope(&me, "user", &id)?);
    }
    for id in ids("group") {
        scopes.push(scope(&me, "chatgroup", &id)?);
    }
    let found = service(&state).settings(&app.key, &me, &scopes).await?;
    let (mut users, mut groups) = (Map::new(), Map::new());
    for (scope, setting) in found {
        match scope {
            NotificationScope::Account => {
                users.insert(me.to_string(), setting_json(&setting));
            }
            NotificationScope::User(id) => {
                users.insert(id, setting_json(&setting));
            }
            NotificationScope::Group(id) => {
                groups.insert(id, setting_json(&setting));
            }
        }
    }
    Ok(answer(json!({ "user": users, "group": groups })))
}

/// # `GET /{org}/{app}/users/{user}/notification/mute/type?limit=&cursor=`
///
/// `getSilentModeRemindTypeConversations`: `data: [{user or group, value}]`, `limit` (1 to
/// 100, default 10) at a time; `cursor` is opaque, `""` at the end.
pub(crate) async fn remind_types_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    Query(query): Query<Pairs>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    let bad = |what: &str| ApiError::from(Error::InvalidArgument(what.to_owned()));
    let limit = page_limit(&query, "limit", 10, 100)?;
    let after = match query_value(&query, "cursor") {
        None | Some("" | "undefined") => None,
        Some(text) => Some(match text.split_once(':') {
            Some(("u", id)) => scope(&me, "user", id)?,
            Some(("g", id)) => scope(&me, "chatgroup", id)?,
            _ => return Err(bad("invalid cursor")),
        }),
    };
    let page = service(&state)
        .remind_types(&app.key, &me, after.as_ref(), limit + 1)
        .await?;
    let more = page.len() > limit as usize;
    let page = &page[..page.len().min(limit as usize)];
    let data: Vec<Value> = page
        .iter()
        .filter_map(|(scope, setting)| {
            let value = setting.remind_type.as_deref()?;
            Some(match scope {
                NotificationScope::User(id) => json!({ "user": id, "value": value }),
                NotificationScope::Group(id) => json!({ "group": id, "value": value }),
                NotificationScope::Account => return None,
            })
        })
        .collect();
    let cursor = match page.last() {
        Some((NotificationScope::User(id), _)) if more => format!("u:{id}"),
        Some((NotificationScope::Group(id), _)) if more => format!("g:{id}"),
        _ => String::new(),
    };
    Ok(Json(
        json!({ "data": data, "cursor": cursor, "timestamp": now_ms(), "duration": 0 }),
    ))
}

/// # `GET|PUT /{org}/{app}/users/{user}/notification/language` `{translationLanguage}`
///
/// `setPushPerformLanguage` / `getPushPerformLanguage`: `data: {language}`.
pub(crate) async fn language_route(
    State(state): State<Arc<RestState>>,
    Path((org, app, user)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (app, me) = app_for_user(&state, &org, &app, user, &headers).await?;
    if method == Method::PUT {
        let body: Value = parse_json(&body)?;
        let language = body
            .get("translationLanguage")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::InvalidArgument("no translationLanguage".to_owned()))?;
        service(&state)
            .set_language(&app.key, &me, language)
            .await?;
        return Ok(answer(json!({ "language": language })));
    }
    let language = service(&state).language(&app.key, &me).await?;
    Ok(answer(json!({ "language": language.unwrap_or_default() })))
}
