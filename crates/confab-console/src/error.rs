//! Console API failures as `{"error": <code>, "message": <text>}` with an HTTP status, mapped
//! once and exhaustively from the domain's errors. Storage causes are logged, never sent.

use axum::{
    http::{header::RETRY_AFTER, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use confab_core::{admin::AdminError, Error};

#[derive(Debug)]
pub(crate) enum ConsoleError {
    Admin(AdminError),
    Domain(Error),
    /// A state-changing request without the session's CSRF token.
    BadCsrf,
    /// A request whose `Origin` is not this server.
    ForeignOrigin,
    BadBody(String),
    NoSuchApi,
}

impl From<AdminError> for ConsoleError {
    fn from(error: AdminError) -> ConsoleError {
        ConsoleError::Admin(error)
    }
}

impl From<Error> for ConsoleError {
    fn from(error: Error) -> ConsoleError {
        ConsoleError::Domain(error)
    }
}

fn admin_status(error: &AdminError) -> (StatusCode, &'static str) {
    match error {
        AdminError::InvalidUsername | AdminError::UnacceptablePassword => {
            (StatusCode::BAD_REQUEST, "invalid_input")
        }
        AdminError::AdminExists(_) => (StatusCode::CONFLICT, "exists"),
        AdminError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
        AdminError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        AdminError::NotSignedIn => (StatusCode::UNAUTHORIZED, "not_signed_in"),
        AdminError::BadSetupToken => (StatusCode::FORBIDDEN, "bad_setup_token"),
        AdminError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

fn domain_status(error: &Error) -> (StatusCode, &'static str) {
    match error {
        Error::AppNotFound | Error::UserNotFound(_) | Error::RecipientNotFound(_) => {
            (StatusCode::NOT_FOUND, "not_found")
        }
        Error::AppExists(_) | Error::UserExists(_) => (StatusCode::CONFLICT, "exists"),
        Error::UserDeactivated(_) => (StatusCode::FORBIDDEN, "deactivated"),
        Error::InvalidUsername(_)
        | Error::InvalidPassword
        | Error::UnacceptablePassword
        | Error::MessageTooLarge { .. }
        | Error::ImpersonatedParty(_)
        | Error::MissingField(_)
        | Error::InvalidArgument(_)
        | Error::Receipt(_)
        | Error::Unsupported(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
        Error::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        Error::Token(_)
        | Error::TokenRevoked
        | Error::WrongOldPassword
        | Error::BadClientCredentials
        | Error::RegistrationClosed
        | Error::Blocked
        | Error::NotContact(_)
        | Error::Forbidden(_)
        | Error::Group(_)
        | Error::Room(_)
        | Error::Thread(_)
        | Error::ServiceNotOpen => (StatusCode::FORBIDDEN, "forbidden"),
        Error::Storage(_) | Error::Bus(_) | Error::Presence(_) | Error::Provider(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            ConsoleError::Admin(error) => {
                let (status, code) = admin_status(error);
                (status, code, error.to_string())
            }
            ConsoleError::Domain(error) => {
                let (status, code) = domain_status(error);
                (status, code, error.to_string())
            }
            ConsoleError::BadCsrf => (
                StatusCode::FORBIDDEN,
                "bad_csrf",
                "missing or wrong CSRF token".to_owned(),
            ),
            ConsoleError::ForeignOrigin => (
                StatusCode::FORBIDDEN,
                "foreign_origin",
                "cross-origin request refused".to_owned(),
            ),
            ConsoleError::BadBody(detail) => {
                (StatusCode::BAD_REQUEST, "invalid_input", detail.clone())
            }
            ConsoleError::NoSuchApi => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such console API".to_owned(),
            ),
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %message, "console request failed");
            "internal error".to_owned()
        } else {
            message
        };
        let mut response = (
            status,
            Json(serde_json::json!({ "error": code, "message": message })),
        )
            .into_response();
        if let ConsoleError::Admin(AdminError::Throttled { retry_after }) = &self {
            let seconds = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
        }
        response
    }
}
