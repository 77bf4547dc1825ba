//! Every REST failure as the hosted service shapes it:
//! `{"error", "exception", "timestamp", "duration", "error_description"}` (PROTOCOL.md §2.1).
//! The SDK keys off the status and the exact `error_description` (TOKEN.md §8.1, PROTOCOL.md §2.3).

use axum::{
    http::{
        header::{CONTENT_LENGTH, CONTENT_TYPE},
        StatusCode,
    },
    response::{IntoResponse, Response},
    Json,
};
use confab_core::{
    files::ChatFileError, groups::GroupError, now_ms, rooms::RoomError, threads::ThreadError, Error,
};
use confab_token::TokenError;

#[derive(Debug)]
pub(crate) enum ApiError {
    Domain(Error),
    /// The body is not the JSON the route takes.
    BadBody(String),
    /// The body is over the route's limit (axum's 2 MB by default).
    BodyTooLarge(String),
    NoSuchRoute,
    /// Attachment upload and download (`routes/chatfiles.rs`).
    ChatFile(ChatFileError),
}

impl ApiError {
    /// A body that could not be read: too large (413), or cut off (400).
    pub(crate) fn from_body_rejection(
        rejection: axum::extract::rejection::BytesRejection,
    ) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge(rejection.body_text())
        } else {
            ApiError::BadBody(rejection.body_text())
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        ApiError::Domain(error)
    }
}

struct Body {
    status: StatusCode,
    error: &'static str,
    description: String,
    exception: Option<&'static str>,
}

impl Body {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Body {
        Body {
            status,
            error,
            description: description.into(),
            exception: None,
        }
    }
}

fn domain_body(error: &Error) -> Body {
    use StatusCode as S;
    match error {
        Error::AppNotFound => Body::new(
            S::NOT_FOUND,
            "organization_application_not_found",
            "Could not find application for this org/app",
        ),
        Error::UserNotFound(_) => Body {
            exception: Some("UserNotFoundException"),
            ..Body::new(S::NOT_FOUND, "service_resource_not_found", "user not found")
        },
        Error::AppExists(key) => Body::new(
            S::BAD_REQUEST,
            "duplicate_unique_property_exists",
            format!("Application {key} already exists"),
        ),
        // Easemob answers a banned user's password grant with 401 "user not activated".
        Error::UserDeactivated(_) => {
            Body::new(S::UNAUTHORIZED, "unauthorized", "user not activated")
        }
        Error::UserExists(name) => Body::new(
            S::BAD_REQUEST,
            "duplicate_unique_property_exists",
            format!("Entity user requires that property named username be unique, value of {name} exists"),
        ),
        Error::InvalidUsername(name) => Body::new(
            S::BAD_REQUEST,
            "illegal_argument",
            format!("username [{name}] is not legal"),
        ),
        Error::InvalidPassword => Body::new(S::BAD_REQUEST, "invalid_grant", "invalid password"),
        Error::UnacceptablePassword => {
            Body::new(S::BAD_REQUEST, "illegal_argument", "password is not legal")
        }
        Error::BadClientCredentials => Body::new(
            S::UNAUTHORIZED,
            "invalid_client",
            "invalid client_id or client_secret",
        ),
        Error::Token(TokenError::Expired) => Body::new(
            S::UNAUTHORIZED,
            "unauthorized",
            "Unable to authenticate due to expired access token",
        ),
        Error::Token(TokenError::Malformed | TokenError::UnsupportedVersion) => Body::new(
            S::UNAUTHORIZED,
            "auth_bad_access_token",
            "Unable to authenticate due to corrupt access token",
        ),
        Error::Token(
            TokenError::AppIdMismatch | TokenError::BadSignature | TokenError::NoChatService,
        ) => Body::new(S::UNAUTHORIZED, "auth_bad_access_token", "Unable to authenticate"),
        Error::Token(TokenError::NoPrivilege | TokenError::UserMismatch) | Error::TokenRevoked => {
            Body::new(S::UNAUTHORIZED, "unauthorized", "Unable to authenticate (OAuth)")
        }
        // A user changing their own password must give the old one (routes/users.rs).
        Error::WrongOldPassword => Body::new(
            S::UNAUTHORIZED,
            "unauthorized",
            "old password is missing or wrong",
        ),
        // The hosted rate-limit answer; the SDK maps this text to type 50 (PROTOCOL.md §2.11).
        Error::TooManyRequests => Body::new(
            S::TOO_MANY_REQUESTS,
            "too_many_requests",
            "The request has reached the maximum limit",
        ),
        Error::RegistrationClosed => Body::new(
            S::UNAUTHORIZED,
            "unauthorized",
            "Open registration doesn't allow, so register user need token",
        ),
        Error::MessageTooLarge { .. }
        | Error::MissingField(_)
        | Error::RecipientNotFound(_)
        | Error::ImpersonatedParty(_)
        | Error::InvalidArgument(_)
        | Error::Receipt(_)
        | Error::Unsupported(_) => Body::new(S::BAD_REQUEST, "illegal_argument", error.to_string()),
        // 403 with a hosted text the SDK maps (PROTOCOL.md §2.11): "blocked" stays 603, the
        // contact limits become 50.
        Error::Blocked | Error::Forbidden(_) | Error::ServiceNotOpen => {
            Body::new(S::FORBIDDEN, "forbidden_op", error.to_string())
        }
        // The msync reason, as a REST send gets it.
        Error::NotContact(_) => Body::new(S::FORBIDDEN, "forbidden_op", "nonroster"),
        Error::Group(error) => group_body(error),
        Error::Room(error) => room_body(error),
        Error::Thread(error) => thread_body(error),
        // The provider's detail is logged by `into_response`, never sent.
        Error::Provider(_) => Body::new(
            S::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the provider did not answer; retry later",
        ),
        // Detail is logged by `into_response`, never sent.
        Error::Storage(_) | Error::Bus(_) | Error::Presence(_) => Body::new(
            S::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "internal server error",
        ),
    }
}

/// The hosted texts the SDK maps for groups (API-SURFACE.md, detail 7): 605 for a missing
/// group, 602 for a non-member, 601 already in, 606 full, 607 too many for `maxusers`, any
/// other 403 603.
fn group_body(error: &GroupError) -> Body {
    use StatusCode as S;
    match error {
        GroupError::NotFound => {
            Body::new(S::NOT_FOUND, "resource_not_found", "do not find this group")
        }
        GroupError::NotMember(_) => Body::new(S::FORBIDDEN, "forbidden_op", error.to_string()),
        GroupError::AlreadyMember(user) => Body::new(
            S::FORBIDDEN,
            "forbidden_op",
            format!("invite users to join group failed, {user} already in group"),
        ),
        GroupError::Full => Body::new(S::FORBIDDEN, "forbidden_op", "group member list is full!"),
        GroupError::TooManyMembers => Body::new(
            S::FORBIDDEN,
            "forbidden_op",
            "members size is greater than max user size !",
        ),
        // Any other 403 is the SDK's 603.
        GroupError::Muted
        | GroupError::NotAllowed(_)
        | GroupError::Blocked(_)
        | GroupError::TooManyGroups(_)
        | GroupError::TooManyAdmins => Body::new(S::FORBIDDEN, "forbidden_op", error.to_string()),
        GroupError::NoRequest => Body::new(
            S::FORBIDDEN,
            "forbidden_op",
            "no pending request or invitation to answer",
        ),
        GroupError::Invalid(what) => Body::new(S::BAD_REQUEST, "illegal_argument", what.clone()),
    }
}

/// The hosted texts the SDK maps for chat rooms (API-SURFACE.md, detail 7; the URL says
/// `chatrooms`, so "not members" is 702, a missing room 705, a full one 704).
fn room_body(error: &RoomError) -> Body {
    use StatusCode as S;
    match error {
        RoomError::NotFound => Body::new(
            S::NOT_FOUND,
            "resource_not_found",
            "the chat room does not exist",
        ),
        RoomError::NotMember(_) => Body::new(S::FORBIDDEN, "forbidden_op", error.to_string()),
        RoomError::Full => Body::new(S::FORBIDDEN, "forbidden_op", "group member list is full!"),
        RoomError::TooManyMembers => Body::new(
            S::FORBIDDEN,
            "forbidden_op",
            "members size is greater than max user size !",
        ),
        // Any other 403 is the SDK's 603.
        RoomError::Muted
        | RoomError::NotAllowed(_)
        | RoomError::Blocked(_)
        | RoomError::TooManyRooms(_)
        | RoomError::TooManyAdmins => Body::new(S::FORBIDDEN, "forbidden_op", error.to_string()),
        RoomError::Invalid(what) => Body::new(S::BAD_REQUEST, "illegal_argument", what.clone()),
    }
}

/// Threads: a missing one is a 400 the SDK reads as 17 with the text (its 404 handling would
/// show the whole body); a member's refusals are 403 (603).
fn thread_body(error: &ThreadError) -> Body {
    use StatusCode as S;
    match error {
        ThreadError::NotMember(_) | ThreadError::Taken(_) => {
            Body::new(S::FORBIDDEN, "forbidden_op", error.to_string())
        }
        ThreadError::NotFound | ThreadError::NoParent(_) | ThreadError::Invalid(_) => {
            Body::new(S::BAD_REQUEST, "illegal_argument", error.to_string())
        }
    }
}

/// PROTOCOL.md §2.7: the SDK turns a failed upload into `WEBIM_UPLOADFILE_ERROR` (101), a
/// download 403 into 222 and a 404 into 223.
fn chat_file_body(error: &ChatFileError) -> Body {
    use StatusCode as S;
    match error {
        // 413, not 400: agora-chat 1.4.0 recurses forever in its upload-error callback (a 400
        // goes there) and never settles `send()`; any other status reaches its "upload
        // complete" path, which both SDKs reject with WEBIM_UPLOADFILE_ERROR (101).
        ChatFileError::TooLarge { limit } => Body::new(
            S::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!("file size exceeds the limit of {limit} bytes"),
        ),
        ChatFileError::NoFile | ChatFileError::Malformed(_) => {
            Body::new(S::BAD_REQUEST, "illegal_argument", error.to_string())
        }
        ChatFileError::NotFound => {
            Body::new(S::NOT_FOUND, "file_expired", "file not found or expired")
        }
        ChatFileError::NoPermission => {
            Body::new(S::FORBIDDEN, "forbidden_op", "chatfile no permission")
        }
        ChatFileError::NoVideoFrame => Body::new(
            S::NOT_FOUND,
            "video_frame_not_available",
            "no first frame is available for this video",
        ),
        // Detail is logged by `into_response`, never sent.
        ChatFileError::Storage(_) | ChatFileError::Files(_) => Body::new(
            S::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "internal server error",
        ),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self {
            ApiError::Domain(error) => {
                if matches!(
                    error,
                    Error::Storage(_) | Error::Bus(_) | Error::Presence(_) | Error::Provider(_)
                ) {
                    tracing::error!(%error, "request failed");
                }
                domain_body(error)
            }
            ApiError::BadBody(detail) => Body {
                exception: Some("com.fasterxml.jackson.core.JsonParseException"),
                ..Body::new(StatusCode::BAD_REQUEST, "json_parse", detail.clone())
            },
            ApiError::BodyTooLarge(detail) => Body::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_entity_too_large",
                detail.clone(),
            ),
            ApiError::ChatFile(error) => {
                if matches!(error, ChatFileError::Storage(_) | ChatFileError::Files(_)) {
                    tracing::error!(%error, "attachment request failed");
                }
                chat_file_body(error)
            }
            ApiError::NoSuchRoute => Body::new(
                StatusCode::NOT_FOUND,
                "service_resource_not_found",
                "Service resource not found",
            ),
        };
        json_response(body)
    }
}

fn json_response(body: Body) -> Response {
    let mut json = serde_json::json!({
        "error": body.error,
        "timestamp": now_ms(),
        "duration": 0,
        "error_description": body.description,
    });
    if let (Some(exception), Some(object)) = (body.exception, json.as_object_mut()) {
        object.insert("exception".into(), exception.into());
    }
    (body.status, Json(json)).into_response()
}

/// An error in the shape above, for the edges outside the routes (the listener's 408 for a
/// body that arrives too slowly).
pub fn error_response(
    status: StatusCode,
    error: &'static str,
    description: impl Into<String>,
) -> Response {
    json_response(Body::new(status, error, description))
}

/// Longest text of a plain error answer that is carried over into `error_description`.
const PLAIN_TEXT_LIMIT: usize = 1024;

/// Router-wide: an error answer that is not JSON (axum's extractor rejections: a path or query
/// that does not decode, a body over its limit, a wrong method) is turned into the shape above,
/// with a status the SDK understands: 400 `illegal_argument` for what the request got wrong,
/// 413 for a body too large. Successes and our own JSON errors pass untouched.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, PLAIN_TEXT_LIMIT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    use StatusCode as S;
    let body = match status {
        S::PAYLOAD_TOO_LARGE => Body::new(S::PAYLOAD_TOO_LARGE, "request_entity_too_large", text),
        S::NOT_FOUND => Body::new(
            S::NOT_FOUND,
            "service_resource_not_found",
            "Service resource not found",
        ),
        S::METHOD_NOT_ALLOWED => Body::new(S::METHOD_NOT_ALLOWED, "method_not_allowed", text),
        S::REQUEST_TIMEOUT => Body::new(S::REQUEST_TIMEOUT, "request_timeout", text),
        S::TOO_MANY_REQUESTS => Body::new(
            S::TOO_MANY_REQUESTS,
            "too_many_requests",
            "The request has reached the maximum limit",
        ),
        status if status.is_server_error() => {
            tracing::error!(%status, detail = ?text, "plain error answer from a route");
            Body::new(status, "internal_server_error", "internal server error")
        }
        // 400, 415, 422 and the rest: what the request got wrong, as the SDK's 400.
        _ => Body::new(S::BAD_REQUEST, "illegal_argument", text),
    };
    let mut response = json_response(body);
    // CORS and the like stay; length and type are the new body's.
    for (name, value) in parts.headers.iter() {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}
