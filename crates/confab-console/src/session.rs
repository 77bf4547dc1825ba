//! The session cookie and the extractors that guard console routes: `SignedInAdmin` for
//! reads, `CheckedPost` for anything that changes state (session + CSRF header + same origin).

use std::sync::Arc;

use axum::{
    extract::FromRequestParts,
    http::{
        header::{COOKIE, HOST, ORIGIN, SET_COOKIE},
        request::Parts,
        HeaderMap, HeaderValue,
    },
    Extension,
};
use confab_core::admin::{AdminError, AdminSession, SESSION_TTL};
use confab_rest::ListenerInfo;

use crate::{error::ConsoleError, ConsoleState};

pub(crate) const COOKIE_NAME: &str = "confab_console";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// Proof that the request comes from a signed-in administrator.
pub(crate) struct SignedInAdmin;

impl FromRequestParts<Arc<ConsoleState>> for SignedInAdmin {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ConsoleState>,
    ) -> Result<Self, Self::Rejection> {
        signed_in(&parts.headers, state).await?;
        Ok(SignedInAdmin)
    }
}

/// A state-changing request from a signed-in administrator, with the session's CSRF token
/// in `X-CSRF-Token` and no foreign `Origin`.
pub(crate) struct CheckedPost {
    pub(crate) session: AdminSession,
    pub(crate) session_id: String,
}

impl FromRequestParts<Arc<ConsoleState>> for CheckedPost {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ConsoleState>,
    ) -> Result<Self, Self::Rejection> {
        check_origin(&parts.headers)?;
        let session_id = cookie(&parts.headers).ok_or(AdminError::NotSignedIn)?;
        let session = state.admin.session(&session_id).await?;
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if !session.csrf_matches(presented) {
            tracing::info!(admin = ?session.username, "console request without a valid CSRF token");
            return Err(ConsoleError::BadCsrf);
        }
        Ok(CheckedPost {
            session,
            session_id,
        })
    }
}

/// The session of the request's cookie, if it is live.
pub(crate) async fn signed_in(
    headers: &HeaderMap,
    state: &ConsoleState,
) -> Result<AdminSession, ConsoleError> {
    let session_id = cookie(headers).ok_or(AdminError::NotSignedIn)?;
    Ok(state.admin.session(&session_id).await?)
}

/// Refuses a request whose `Origin` names another host (browsers send it on every POST).
pub(crate) fn check_origin(headers: &HeaderMap) -> Result<(), ConsoleError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(HOST).and_then(|host| host.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(origin_host), Some(host)) if origin_host.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(ConsoleError::ForeignOrigin),
    }
}

/// The console cookie's value, if the request carries one.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a new session (or, with `None`, one that clears it). `Secure` when the
/// request came over TLS.
pub(crate) fn set_cookie(
    session_id: Option<&str>,
    listener: Option<&Extension<ListenerInfo>>,
) -> (axum::http::HeaderName, HeaderValue) {
    let secure = if listener.is_some_and(|info| info.tls) {
        "; Secure"
    } else {
        ""
    };
    let (value, max_age) = match session_id {
        Some(id) => (id, SESSION_TTL.as_secs()),
        None => ("", 0),
    };
    let cookie = format!(
        "{COOKIE_NAME}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    // Session ids are hex, so the value is always a valid header.
    let header = HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(""));
    (SET_COOKIE, header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; confab_console=abc; b=2"),
        );
        assert_eq!(cookie(&headers).as_deref(), Some("abc"));
        headers.insert(COOKIE, HeaderValue::from_static("confab_console="));
        assert_eq!(cookie(&headers), None);
    }

    #[test]
    fn foreign_origins_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:5280"));
        assert!(check_origin(&headers).is_ok());
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:5280"));
        assert!(check_origin(&headers).is_ok());
        headers.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(check_origin(&headers).is_err());
        headers.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(check_origin(&headers).is_err());
    }
}
