//! Domain errors to msync `Status`, in one place and exhaustively: a new `Error` variant does
//! not compile until someone picks what the SDK should see. Internal causes are logged by the
//! caller and reach the client only as a generic failure.

use confab_core::{
    groups::GroupError, receipts::ReceiptError, rooms::RoomError, threads::ThreadError, Error,
};
use confab_proto::{
    pb::{status::ErrorCode, Status},
    status::{
        self, REASON_DATA_TOO_LARGE, REASON_EDIT_FORMAT, REASON_MESSAGE_NOT_FOUND,
        REASON_NO_PERMISSION, REASON_RECALL_DISABLED, REASON_RECALL_TIME_LIMIT,
        REASON_TOKEN_EXPIRED, REASON_TOKEN_MISMATCH, REASON_USER_DEACTIVATED,
        REASON_USER_NOT_FOUND,
    },
};
use confab_token::TokenError;

/// The `Provision` status for a failed login (PROTOCOL.md §3.4, TOKEN.md §8.1).
pub(crate) fn login_status(error: &Error) -> Status {
    match error {
        Error::Token(TokenError::Expired) => status::error(ErrorCode::Fail, REASON_TOKEN_EXPIRED),
        Error::Token(
            TokenError::Malformed
            | TokenError::UnsupportedVersion
            | TokenError::AppIdMismatch
            | TokenError::BadSignature
            | TokenError::NoChatService
            | TokenError::NoPrivilege
            | TokenError::UserMismatch,
        )
        | Error::TokenRevoked
        | Error::InvalidPassword
        | Error::WrongOldPassword
        | Error::BadClientCredentials => status::error(ErrorCode::Fail, REASON_TOKEN_MISMATCH),
        // Not reached at login (no password is checked there); "server busy" is a retryable FAIL.
        Error::TooManyRequests => status::error(ErrorCode::Fail, "server busy"),
        Error::UserNotFound(_) | Error::InvalidUsername(_) => {
            status::error(ErrorCode::Fail, REASON_USER_NOT_FOUND)
        }
        // No reason text of its own in the SDK: "anything else" with FAIL is type 2, Auth failed.
        Error::UserDeactivated(_) => status::error(ErrorCode::Fail, REASON_USER_DEACTIVATED),
        // SDK type 2 "Auth failed": the app key names no app here.
        Error::AppNotFound => status::error(ErrorCode::Unauthorized, "app not found"),
        Error::MissingField(_)
        | Error::MessageTooLarge { .. }
        | Error::RecipientNotFound(_)
        | Error::ImpersonatedParty(_)
        | Error::UserExists(_)
        | Error::AppExists(_)
        | Error::UnacceptablePassword
        | Error::RegistrationClosed
        | Error::InvalidArgument(_)
        | Error::Receipt(_)
        | Error::Blocked
        | Error::NotContact(_)
        | Error::Forbidden(_)
        | Error::ServiceNotOpen
        | Error::Group(_)
        | Error::Room(_)
        | Error::Thread(_)
        | Error::Unsupported(_) => status::error(ErrorCode::WrongParameter, error.to_string()),
        Error::Storage(_) | Error::Bus(_) | Error::Presence(_) | Error::Provider(_) => {
            status::error(ErrorCode::Fail, "server busy")
        }
    }
}

/// The `CommSyncDL` status for a failed send (PROTOCOL.md §4.1).
pub(crate) fn send_status(error: &Error) -> Status {
    match error {
        Error::MessageTooLarge { .. } => {
            status::error(ErrorCode::PermissionDenied, REASON_DATA_TOO_LARGE)
        }
        // The SDK maps "username … doesn't exist!" to USER_NOT_FOUND (204).
        Error::RecipientNotFound(name) => {
            status::error(ErrorCode::Fail, format!("username {name} doesn't exist!"))
        }
        Error::MissingField(field) => {
            status::error(ErrorCode::MissingParameter, format!("no {field}"))
        }
        Error::InvalidArgument(what) => status::error(ErrorCode::WrongParameter, what.clone()),
        // The SDK turns FAIL "blocked" into 603 with the message "blocked" (PROTOCOL.md §4.1).
        Error::Blocked => status::error(ErrorCode::Fail, "blocked"),
        // The SDK turns FAIL "nonroster" into 221 USER_NOT_FRIEND, "not contact".
        Error::NotContact(_) => status::error(ErrorCode::Fail, "nonroster"),
        Error::Forbidden(what) => status::error(ErrorCode::Fail, what.clone()),
        Error::ServiceNotOpen => status::error(ErrorCode::Fail, error.to_string()),
        Error::Unsupported(what) => {
            status::error(ErrorCode::Fail, format!("{what} is not supported"))
        }
        Error::Receipt(error) => status::error(ErrorCode::Fail, receipt_reason(error)),
        Error::Group(error) => group_status(error),
        Error::Room(error) => room_status(error, None),
        Error::Thread(error) => thread_status(error),
        // 603 PERMISSION_DENIED, as for a recall of someone else's message.
        Error::ImpersonatedParty(_) => status::error(ErrorCode::Fail, REASON_NO_PERMISSION),
        Error::AppNotFound
        | Error::AppExists(_)
        | Error::UserNotFound(_)
        | Error::UserDeactivated(_)
        | Error::UserExists(_)
        | Error::InvalidUsername(_)
        | Error::InvalidPassword
        | Error::UnacceptablePassword
        | Error::Token(_)
        | Error::TokenRevoked
        | Error::WrongOldPassword
        | Error::BadClientCredentials
        | Error::RegistrationClosed => {
            status::error(ErrorCode::PermissionDenied, error.to_string())
        }
        Error::TooManyRequests => status::error(ErrorCode::Fail, "server busy"),
        Error::Storage(_) | Error::Bus(_) | Error::Presence(_) | Error::Provider(_) => {
            status::error(ErrorCode::Fail, "server busy")
        }
    }
}

/// A refused group message, as the SDK's send path reads it (API-SURFACE.md, detail 6).
fn group_status(error: &GroupError) -> Status {
    match error {
        // 605 GROUP_NOT_EXIST.
        GroupError::NotFound => status::error(ErrorCode::Fail, "group not found"),
        // 602 GROUP_NOT_JOINED.
        GroupError::NotMember(_) => status::error(ErrorCode::Fail, "not in group or chatroom"),
        // 507 SERVICE_NOT_ALLOW_MESSAGING_MUTE, "you were muted".
        GroupError::Muted => status::error(ErrorCode::UserMuted, "you were muted"),
        GroupError::Blocked(_) => status::error(ErrorCode::Fail, "blocked"),
        GroupError::NotAllowed(_)
        | GroupError::AlreadyMember(_)
        | GroupError::Full
        | GroupError::TooManyMembers
        | GroupError::NoRequest
        | GroupError::TooManyGroups(_)
        | GroupError::TooManyAdmins
        | GroupError::Invalid(_) => status::error(ErrorCode::Fail, error.to_string()),
    }
}

/// A refused room message, join or leave, as the SDK reads it (API-SURFACE.md, detail 6):
/// `room` names the room in the texts that carry its id.
pub(crate) fn room_status(error: &RoomError, room: Option<&str>) -> Status {
    match error {
        // 705 "The chat room dose not exist." (join, leave); 605 on a send.
        RoomError::NotFound => match room {
            Some(room) => status::error(ErrorCode::Fail, format!("grpID {room} does not exist!")),
            None => status::error(ErrorCode::Fail, "group not found"),
        },
        // 602 GROUP_NOT_JOINED.
        RoomError::NotMember(_) => status::error(ErrorCode::Fail, "not in group or chatroom"),
        // 507 "you were muted".
        RoomError::Muted => status::error(ErrorCode::UserMuted, "you were muted"),
        // 704 CHATROOM_MEMBERS_FULL.
        RoomError::Full | RoomError::TooManyMembers => {
            status::error(ErrorCode::Fail, "group member list is full!")
        }
        // 603 PERMISSION_DENIED.
        RoomError::Blocked(user) => status::error(
            ErrorCode::Fail,
            format!("can not join this group, {user} is in the blacklist"),
        ),
        // 50 MAX_LIMIT.
        RoomError::TooManyRooms(user) => status::error(
            ErrorCode::Fail,
            format!("user {user} has joined too many chatrooms"),
        ),
        RoomError::NotAllowed(_) | RoomError::TooManyAdmins | RoomError::Invalid(_) => {
            status::error(ErrorCode::Fail, error.to_string())
        }
    }
}

/// A refused thread message: the SDK maps "not in group or chatroom" to 602, any other FAIL
/// to its generic error with the text.
fn thread_status(error: &ThreadError) -> Status {
    match error {
        ThreadError::NotMember(_) => status::error(ErrorCode::Fail, "not in group or chatroom"),
        ThreadError::NotFound
        | ThreadError::NoParent(_)
        | ThreadError::Taken(_)
        | ThreadError::Invalid(_) => status::error(ErrorCode::Fail, error.to_string()),
    }
}

/// The reason texts the SDK maps for recall and edit (PROTOCOL.md §4.1), all with `FAIL`.
fn receipt_reason(error: &ReceiptError) -> &'static str {
    match error {
        // 1302 MODIFY_MESSAGE_NOT_EXIST.
        ReceiptError::MessageNotFound(_) => REASON_MESSAGE_NOT_FOUND,
        // 603 PERMISSION_DENIED.
        ReceiptError::NotSender => REASON_NO_PERMISSION,
        // 504 MESSAGE_RECALL_TIME_LIMIT.
        ReceiptError::RecallWindowExceeded => REASON_RECALL_TIME_LIMIT,
        // 505 SERVICE_NOT_ENABLED.
        ReceiptError::RecallDisabled => REASON_RECALL_DISABLED,
        // 1303 MODIFY_MESSAGE_FORMAT_ERROR.
        ReceiptError::EditFormat => REASON_EDIT_FORMAT,
    }
}

/// Whether the cause is ours rather than the client's, so it is worth an error log.
pub(crate) fn is_internal(error: &Error) -> bool {
    matches!(
        error,
        Error::Storage(_) | Error::Bus(_) | Error::Presence(_)
    )
}
