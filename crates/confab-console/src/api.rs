//! The console JSON API: sign-in and setup, apps, credentials (revealed only on request),
//! rotation, app tokens, overview figures. Reads need a session; writes need the session and
//! its CSRF token (`CheckedPost`). The certificate and client secret appear only in the answer
//! of `POST …/credentials`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{
    extract::{ConnectInfo, FromRequest, Path, Query, Request, State},
    http::{header::CONTENT_TYPE, header::HOST, HeaderMap},
    response::{IntoResponse, Response},
    Extension, Json,
};
use confab_core::{
    admin::SignedIn,
    app::{App, AppSettings, NewApp},
    ids::AppKey,
    Error,
};
use confab_rest::ListenerInfo;
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use crate::{
    chart,
    error::ConsoleError,
    session::{check_origin, set_cookie, CheckedPost, SignedInAdmin},
    ConsoleState,
};

/// App tokens the console page uses for the REST admin routes live this long.
const CONSOLE_APP_TOKEN_TTL_SECS: u64 = 3600;
/// Longest certificate grace period the console offers: a week.
const MAX_GRACE_SECS: u64 = 7 * 24 * 3600;

/// JSON body whose rejection is our error shape; it must be sent as `application/json`, which
/// a cross-site form cannot do without a CORS preflight this API never grants.
pub(crate) struct ConsoleJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ConsoleJson<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        if !is_json {
            return Err(ConsoleError::BadBody("send JSON (application/json)".into()));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ConsoleError::BadBody(rejection.body_text()))?;
        let bytes = if bytes.is_empty() {
            axum::body::Bytes::from_static(b"{}")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes)
            .map(ConsoleJson)
            .map_err(|error| ConsoleError::BadBody(error.to_string()))
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginBody {
    username: String,
    password: String,
}

#[derive(Deserialize)]
pub(crate) struct SetupBody {
    token: String,
    username: String,
    password: String,
}

#[derive(Deserialize)]
pub(crate) struct NewAppBody {
    org: String,
    name: String,
}

/// The app settings, all of them (`AppSettings`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SettingsBody {
    contacts_only: bool,
}

#[derive(Deserialize)]
pub(crate) struct RotateBody {
    /// How long the old certificate keeps working, in seconds.
    #[serde(default)]
    grace_secs: u64,
}

#[derive(Deserialize)]
pub(crate) struct TokenBody {
    ttl_secs: Option<u64>,
}

/// # `GET /console/api/session`
///
/// The signed-in admin and the CSRF token the page sends back on every POST; 401 otherwise
/// (with `setup: true` while the deployment has no admin yet).
pub(crate) async fn session_route(
    State(state): State<Arc<ConsoleState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ConsoleError> {
    match crate::session::signed_in(&headers, &state).await {
        Ok(session) => Ok(Json(json!({
            "username": session.username,
            "csrf": session.csrf_token.expose(),
        }))),
        Err(error) => {
            if state.admin.needs_setup().await? {
                return Ok(Json(json!({ "setup": true })));
            }
            Err(error)
        }
    }
}

/// # `POST /console/api/login`
///
/// Body `{username, password}`. Sets the session cookie (`HttpOnly`, `SameSite=Strict`,
/// `Secure` over TLS). Failures are slowed per username from the client's address, and per
/// address (429 + Retry-After); without `ConnectInfo`, per username alone.
pub(crate) async fn login_route(
    State(state): State<Arc<ConsoleState>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    listener: Option<Extension<ListenerInfo>>,
    headers: HeaderMap,
    ConsoleJson(body): ConsoleJson<LoginBody>,
) -> Result<Response, ConsoleError> {
    check_origin(&headers)?;
    let client = connect.map(|Extension(ConnectInfo(address))| address.ip());
    let signed_in = state
        .admin
        .sign_in(&body.username, body.password, client)
        .await?;
    Ok(signed_in_response(signed_in, listener.as_ref()))
}

/// # `POST /console/api/setup`
///
/// Body `{token, username, password}`: the one-time link printed by `confab serve` while no
/// admin exists. Creates the first admin and signs them in.
pub(crate) async fn setup_route(
    State(state): State<Arc<ConsoleState>>,
    listener: Option<Extension<ListenerInfo>>,
    headers: HeaderMap,
    ConsoleJson(body): ConsoleJson<SetupBody>,
) -> Result<Response, ConsoleError> {
    check_origin(&headers)?;
    let signed_in = state
        .admin
        .set_up(&body.token, &body.username, body.password)
        .await?;
    tracing::info!(admin = ?signed_in.session.username, "first console admin created");
    Ok(signed_in_response(signed_in, listener.as_ref()))
}

/// # `POST /console/api/logout`
///
/// Ends the session and clears the cookie.
pub(crate) async fn logout_route(
    State(state): State<Arc<ConsoleState>>,
    listener: Option<Extension<ListenerInfo>>,
    post: CheckedPost,
) -> Result<Response, ConsoleError> {
    state.admin.sign_out(&post.session_id).await?;
    tracing::info!(admin = ?post.session.username, "console sign-out");
    Ok((
        [set_cookie(None, listener.as_ref())],
        Json(json!({ "signedOut": true })),
    )
        .into_response())
}

/// # `GET /console/api/apps`
///
/// Every app, without secrets.
pub(crate) async fn list_apps_route(
    State(state): State<Arc<ConsoleState>>,
    _admin: SignedInAdmin,
) -> Result<Json<Value>, ConsoleError> {
    let apps = state.apps.list_apps().await?;
    Ok(Json(
        json!({ "apps": apps.iter().map(app_summary).collect::<Vec<_>>() }),
    ))
}

/// # `POST /console/api/apps`
///
/// Body `{org, name}`. Creates an app with fresh credentials; answers its summary (no secrets).
pub(crate) async fn create_app_route(
    State(state): State<Arc<ConsoleState>>,
    post: CheckedPost,
    ConsoleJson(body): ConsoleJson<NewAppBody>,
) -> Result<Json<Value>, ConsoleError> {
    let key = AppKey::new(body.org.trim(), body.name.trim()).ok_or(Error::Unsupported(
        "org and app names are 1-64 characters of letters, digits, - _ .",
    ))?;
    let app = state
        .apps
        .create_app(NewApp {
            key,
            imported: None,
        })
        .await?;
    tracing::info!(admin = ?post.session.username, app = %app.key, "app created");
    Ok(Json(app_summary(&app)))
}

/// # `GET /console/api/apps/{org}/{app}`
///
/// The app's identifiers and the addresses to configure in the SDK, as seen from this request.
pub(crate) async fn app_route(
    State(state): State<Arc<ConsoleState>>,
    Path((org, app)): Path<(String, String)>,
    listener: Option<Extension<ListenerInfo>>,
    headers: HeaderMap,
    _admin: SignedInAdmin,
) -> Result<Json<Value>, ConsoleError> {
    let app = find_app(&state, &org, &app).await?;
    let host = headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("localhost");
    let tls = listener.is_some_and(|Extension(info)| info.tls);
    let (http, ws) = if tls {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let mut body = app_summary(&app);
    body["restUrl"] = json!(format!("{http}://{host}"));
    body["websocketUrl"] = json!(format!("{ws}://{host}/websocket"));
    body["secondaryCertificateUntil"] = match (app.certificates.len(), app.secondary_until_ms) {
        (2.., until) => json!(until),
        _ => Value::Null,
    };
    body["hasSecondaryCertificate"] = json!(app.certificates.len() > 1);
    Ok(Json(body))
}

/// # `GET /console/api/apps/{org}/{app}/overview`
///
/// Users, users online now, messages today and per day (the last seven UTC days).
pub(crate) async fn overview_route(
    State(state): State<Arc<ConsoleState>>,
    Path((org, app)): Path<(String, String)>,
    _admin: SignedInAdmin,
) -> Result<Json<Value>, ConsoleError> {
    let app = find_app(&state, &org, &app).await?;
    let overview = state.overview.overview(&app.key).await?;
    Ok(Json(json!({
        "users": overview.users,
        "onlineNow": overview.online_now,
        "messagesToday": overview.messages_today,
        "dailyMessages": overview.daily_messages.iter().map(|day| json!({
            "dayStart": day.day_start_ms,
            "count": day.count,
        })).collect::<Vec<_>>(),
    })))
}

/// # `GET /console/api/apps/{org}/{app}/reports?before=`
///
/// Message reports, newest first, 50 a page: `{reports: [{id, reporter, messageId, type,
/// reason, created}], before}` (`before`: the next page's parameter, absent at the end).
pub(crate) async fn reports_route(
    State(state): State<Arc<ConsoleState>>,
    Path((org, app)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    _admin: SignedInAdmin,
) -> Result<Json<Value>, ConsoleError> {
    const PAGE: u32 = 50;
    let app = find_app(&state, &org, &app).await?;
    let before = match query.iter().find(|(key, _)| key == "before") {
        None => None,
        Some((_, value)) => Some(value.parse::<u64>().map_err(|_| {
            ConsoleError::Domain(confab_core::Error::InvalidArgument(
                "before must be a report id".to_owned(),
            ))
        })?),
    };
    let page = state.reports.reports(&app.key, before, PAGE + 1).await?;
    let more = page.len() > PAGE as usize;
    let page = &page[..page.len().min(PAGE as usize)];
    let reports: Vec<Value> = page
        .iter()
        .map(|report| {
            json!({
                "id": report.id,
                "reporter": report.reporter.as_str(),
                "messageId": report.message.0.to_string(),
                "type": report.report_type,
                "reason": report.reason,
                "created": report.created_ms,
            })
        })
        .collect();
    let mut answer = json!({ "reports": reports });
    if let (true, Some(last)) = (more, page.last()) {
        answer["before"] = json!(last.id);
    }
    Ok(Json(answer))
}

/// # `GET /console/api/apps/{org}/{app}/chart.svg`
///
/// Messages per day as an SVG bar chart, drawn here so the page needs no chart library.
pub(crate) async fn chart_route(
    State(state): State<Arc<ConsoleState>>,
    Path((org, app)): Path<(String, String)>,
    _admin: SignedInAdmin,
) -> Result<Response, ConsoleError> {
    let app = find_app(&state, &org, &app).await?;
    let overview = state.overview.overview(&app.key).await?;
    Ok((
        [(CONTENT_TYPE, "image/svg+xml")],
        chart::daily_messages_svg(&overview.daily_messages),
    )
        .into_response())
}

/// # `POST /console/api/apps/{org}/{app}/credentials`
///
/// Reveals the certificate(s) and client secret. The only answer that carries them.
pub(crate) async fn reveal_credentials_route(
    State(state): State<Arc<ConsoleState>>,
    Path((org, app)): Path<(String, String)>,
    post: CheckedPost,
) -> Result<Json<Value>, ConsoleError> {
    let app = find_app(&state, &org, &app).await?;
    tracing::info!(admin = ?post.session.username, app = %app.key, "credentials revealed");
    Ok(Json(json!({
        "appCertificate": app.signing_certificate(),
        "secondaryCertificate": app.certificates.get(1).map(|secret| secret.expose()),
        "secondaryCertificateUntil": app.secondary_until_ms,
        "clientId": app.client_id,
        "clientSecret": app.client_secret.expose(),
    })))
}

/// # `POST /console/api/apps/{org}/{app}/certificate/rotate`
///
/// Body `{grace_secs}` (0 to a week): a new primary certificate; the old one keeps verifying
/// tokens for the grace period (TOKEN.md §8 step 3). Answers the summary, not the secret.
pub(crate) async fn rotate_certificate_route(
    State(state): State<Arc<ConsoleState>>,
    Path((org, app)): Path<(String, String)>,
    post: CheckedPost,
    ConsoleJson(body): ConsoleJson<RotateBody>,
) -> Result<Json<Value>, ConsoleError> {
    let app = find_app(&state, &org, &app).await?;
    let grace_secs = body.grace_secs.min(MAX_GRACE_SECS);
    let app = state
        .apps
        .rotate_certificate(&app.key, grace_secs * 1000)
        .await?;
    tracing::info!(admin = ?post.session.username, app = %app.key, grace_secs, "certificate rotated");
    Ok(Json(app_summary(&app)))
}

/// # `POST /console/api/apps/{org}/{app}/settings`
///
/// Body `{contactsOnly}`: every setting of the app. Answers the summary with the settings now.
pub(crate) async fn settings_route(
    State(state): State<Arc<ConsoleState>>,
    Path((org, app)): Path<(String, String)>,
    post: CheckedPost,
    ConsoleJson(body): ConsoleJson<SettingsBody>,
) -> Result<Json<Value>, ConsoleError> {
    let app = find_app(&state, &org, &app).await?;
    let settings = AppSettings {
        contacts_only: body.contacts_only,
    };
    let app = state.apps.change_settings(&app.key, settings).await?;
    tracing::info!(admin = ?post.session.username, app = %app.key, contacts_only = body.contacts_only, "app settings changed");
    Ok(Json(app_summary(&app)))
}

/// # `POST /console/api/apps/{org}/{app}/client-secret/rotate`
///
/// A new client secret; the old one stops working at once.
pub(crate) async fn rotate_client_secret_route(
    State(state): State<Arc<ConsoleState>>,
    Path((org, app)): Path<(String, String)>,
    post: CheckedPost,
) -> Result<Json<Value>, ConsoleError> {
    let app = find_app(&state, &org, &app).await?;
    let app = state.apps.rotate_client_secret(&app.key).await?;
    tracing::info!(admin = ?post.session.username, app = %app.key, "client secret rotated");
    Ok(Json(app_summary(&app)))
}

/// # `POST /console/api/apps/{org}/{app}/app-token`
///
/// Body `{ttl_secs?}` (default one hour; 0: never expires). An app token for the REST admin
/// routes, which the console page itself uses for IM-user actions.
pub(crate) async fn app_token_route(
    State(state): State<Arc<ConsoleState>>,
    Path((org, app)): Path<(String, String)>,
    post: CheckedPost,
    ConsoleJson(body): ConsoleJson<TokenBody>,
) -> Result<Json<Value>, ConsoleError> {
    let app = find_app(&state, &org, &app).await?;
    let ttl = body.ttl_secs.unwrap_or(CONSOLE_APP_TOKEN_TTL_SECS);
    let token = state.accounts.issue_app_token(&app, Some(ttl));
    tracing::info!(admin = ?post.session.username, app = %app.key, ttl, "app token issued");
    Ok(Json(json!({
        "access_token": token.access_token,
        "expires_in": token.expires_in,
    })))
}

/// Anything else under `/console/api/`: refused without a session, 404 with one.
pub(crate) async fn no_such_api_route(_admin: SignedInAdmin) -> ConsoleError {
    ConsoleError::NoSuchApi
}

fn signed_in_response(signed_in: SignedIn, listener: Option<&Extension<ListenerInfo>>) -> Response {
    (
        [set_cookie(Some(signed_in.session_id.expose()), listener)],
        Json(json!({
            "username": signed_in.session.username,
            "csrf": signed_in.session.csrf_token.expose(),
        })),
    )
        .into_response()
}

async fn find_app(state: &ConsoleState, org: &str, app: &str) -> Result<Arc<App>, ConsoleError> {
    let key = AppKey::new(org, app).ok_or(Error::AppNotFound)?;
    Ok(state.apps.app(&key).await?)
}

/// An app without its secrets: what listings and pages show.
fn app_summary(app: &App) -> Value {
    json!({
        "orgName": app.key.org(),
        "appName": app.key.app(),
        "appKey": app.key.to_string(),
        "appId": app.app_id,
        "clientId": app.client_id,
        "created": app.created_ms,
        "settings": { "contactsOnly": app.settings.contacts_only },
    })
}
