//! PROVISION: authenticate the first frame, register the session, answer with the resource and
//! the token's absolute expiry (PROTOCOL.md §3.2–§3.4).

use std::sync::Arc;

use confab_core::{
    auth::{LoginGrant, LoginRequest},
    bus::{KickReason, LoginDevice, SessionInbox},
    escaped::Escaped,
    ids::SessionId,
    messages::SessionContext,
    now_ms, Error,
};
use confab_proto::{
    pb::{self, status::ErrorCode},
    status::{self, REASON_TOO_MANY_DEVICES},
    Outbound,
};
use rand::Rng;

use crate::{error::login_status, Gateway};

/// The SDK's timer API clamps at 2^31-1 ms; a longer remaining life would fire "expired" early,
/// so such expiries are not announced at all (TOKEN.md §7.1).
const MAX_ANNOUNCED_LIFETIME_MS: u64 = (1 << 31) - 1;

pub(crate) struct LoggedIn {
    pub(crate) context: SessionContext,
    pub(crate) id: SessionId,
    pub(crate) inbox: Arc<SessionInbox>,
    pub(crate) reply: Outbound,
}

/// Authenticates a PROVISION frame. `Err` carries the failure reply to send before closing.
pub(crate) async fn login(
    gateway: &Gateway,
    guid: &pb::Jid,
    auth: &str,
    body: &pb::Provision,
) -> Result<LoggedIn, Outbound> {
    let token = token_of(auth, body);
    let request = LoginRequest {
        app_key: guid.app_key.as_deref().unwrap_or(""),
        user: guid.name.as_deref().unwrap_or(""),
        token: &token,
    };
    let grant = match gateway.accounts.login(request).await {
        Ok(grant) => grant,
        Err(error) => {
            log_refusal(&error, guid);
            return Err(failure(login_status(&error)));
        }
    };
    let LoginGrant {
        app,
        user,
        expires_at_ms,
    } = grant;
    let resource = match body.resource.as_deref().or(guid.client_resource.as_deref()) {
        // The SDKs send `webim_<platform>_<ms>`-like resources; a control character is no SDK's
        // (and would end up in logs and REST answers).
        Some(resource) if resource.chars().any(char::is_control) => {
            tracing::info!(app = ?app.key.as_str(), user = ?user.name.as_str(), ?resource, "login refused: invalid resource");
            return Err(failure(status::error(
                ErrorCode::WrongParameter,
                "invalid resource",
            )));
        }
        Some(resource) if !resource.is_empty() && resource.len() <= 128 => resource.to_owned(),
        _ => format!("webim_confab_{}", rand::thread_rng().gen::<u32>()),
    };
    // What `GET …/users/{user}/resources` lists (`device_uuid`, `device_name`).
    let given = |field: &Option<String>| field.clone().filter(|value| !value.is_empty());
    let device = LoginDevice {
        resource: resource.clone(),
        uuid: given(&body.device_uuid),
        name: given(&body.device_name),
    };
    let registered = gateway.registry.register(
        &app.key,
        &user.name,
        device,
        gateway.config.max_sessions_per_user,
    );
    let (id, inbox) = match registered {
        Ok(registered) => registered,
        Err(error) => {
            tracing::info!(app = ?app.key.as_str(), user = ?user.name.as_str(), %error, "login refused");
            return Err(failure(status::error(
                ErrorCode::TooManyDevices,
                REASON_TOO_MANY_DEVICES,
            )));
        }
    };
    // A second login on the same resource replaces the first, on whichever node it lives:
    // every session there that logged in before this one. The kicked SDK gets this login's
    // `setLoginInfoCustomExt` (`Provision.reason`) as `loginInfoCustomExt`.
    if let Err(error) = gateway
        .accounts
        .kick(
            &app.key,
            &user.name,
            Some(resource.clone()),
            KickReason::LoginOnAnotherDevice {
                login_info_ext: given(&body.reason),
            },
            Some(id),
        )
        .await
    {
        tracing::warn!(error = %Escaped(&error), "older session on this resource was not kicked");
    }
    let context = SessionContext {
        app,
        user: user.name,
        resource: resource.clone(),
    };
    // Before anything is read: a device's first login decides where it starts reading.
    if let Err(error) = gateway.accounts.device_logged_in(&context).await {
        gateway
            .registry
            .unregister(&context.app.key, &context.user, id);
        log_refusal(&error, guid);
        return Err(failure(login_status(&error)));
    }
    let remaining = expires_at_ms.saturating_sub(now_ms());
    let auth_token = (remaining <= MAX_ANNOUNCED_LIFETIME_MS)
        .then(|| serde_json::json!({ "expires_in": expires_at_ms }).to_string());
    tracing::info!(app = ?context.app.key.as_str(), user = ?context.user.as_str(), ?resource, "logged in");
    Ok(LoggedIn {
        context,
        id,
        inbox,
        reply: Outbound::Provision(pb::Provision {
            status: Some(status::ok()),
            resource: Some(resource),
            auth_token,
            ..Default::default()
        }),
    })
}

/// A Provision reply carrying only a failure status.
pub(crate) fn failure(status: pb::Status) -> Outbound {
    Outbound::Provision(pb::Provision {
        status: Some(status),
        ..Default::default()
    })
}

/// The token travels as `"$t$" + token` in the envelope's `auth`, and again inside
/// `Provision.authToken` JSON (`{"token":"$t$…"}`); either will do.
fn token_of(auth: &str, body: &pb::Provision) -> String {
    let from_body = || {
        let json: serde_json::Value = serde_json::from_str(body.auth_token.as_deref()?).ok()?;
        json.get("token")?.as_str().map(str::to_owned)
    };
    let raw = if auth.is_empty() {
        from_body().unwrap_or_default()
    } else {
        auth.to_owned()
    };
    raw.strip_prefix("$t$").unwrap_or(&raw).to_owned()
}

fn log_refusal(error: &Error, guid: &pb::Jid) {
    let app = guid.app_key.as_deref().unwrap_or("");
    let user = guid.name.as_deref().unwrap_or("");
    if crate::error::is_internal(error) {
        tracing::error!(error = %Escaped(error), ?app, ?user, "login failed");
    } else {
        tracing::info!(error = %Escaped(error), ?app, ?user, "login refused");
    }
}
