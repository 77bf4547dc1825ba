//! Status codes and the exact reason texts the SDKs map to their error types.
//!
//! The texts are part of the contract (PROTOCOL.md §3.4, §4.1; TOKEN.md §8.1): the SDKs compare
//! them byte for byte, so they live here once.

use crate::pb::{status::ErrorCode, Status};

/// PROVISION: the token expired (SDK type 56).
pub const REASON_TOKEN_EXPIRED: &str = "Sorry, token expired";
/// PROVISION: the token is malformed, of another app, badly signed or for another user (SDK type 28).
pub const REASON_TOKEN_MISMATCH: &str = "Sorry, token or password does not match login info";
/// PROVISION: the user does not exist (SDK type 204).
pub const REASON_USER_NOT_FOUND: &str = "Sorry, user not found";
/// PROVISION: the user is deactivated (banned). The SDK has no type for it: FAIL with any
/// other text is type 2, "Auth failed" (PROTOCOL.md §3.4).
pub const REASON_USER_DEACTIVATED: &str = "Sorry, user is deactivated";
/// SYNC send: the message is over the size limit (SDK type 511, with `PERMISSION_DENIED`).
pub const REASON_DATA_TOO_LARGE: &str = "Sorry, data is too large";
/// SYNC recall: past the recall window (SDK type 504).
pub const REASON_RECALL_TIME_LIMIT: &str = "exceed recall time limit";
/// SYNC recall: recall is off (SDK type 505).
pub const REASON_RECALL_DISABLED: &str = "message recall disabled";
/// SYNC recall or edit: no such message of this conversation (SDK type 1302).
pub const REASON_MESSAGE_NOT_FOUND: &str = "Sorry, message does not exist";
/// SYNC recall or edit: not the sender's message (SDK type 603).
pub const REASON_NO_PERMISSION: &str = "Sorry, You do not have permission";
/// SYNC edit: not a text or custom message, or of another kind than the original (SDK type 1303).
pub const REASON_EDIT_FORMAT: &str = "Sorry, format is incorrect";
/// PROVISION: the user has as many sessions as allowed, with `TOO_MANY_DEVICES` (the hosted
/// text; SDK type 214 in easemob, 2 with this message in agora).
pub const REASON_TOO_MANY_DEVICES: &str = "Sorry, you devices is overflow?";
/// SYNC send: over the send rate, with `FAIL` (the hosted text; SDK type 503, message = this).
pub const REASON_TRAFFIC_CONTROL: &str = "traffic control happened, retry later";
/// SYNC send: the meta has no id.
pub const REASON_NO_META_ID: &str = "no meta id";
/// SYNC send: the meta has no recipient.
pub const REASON_NO_META_TO: &str = "no meta to";

pub fn ok() -> Status {
    Status {
        error_code: Some(ErrorCode::Ok as i32),
        ..Default::default()
    }
}

pub fn error(code: ErrorCode, reason: impl Into<String>) -> Status {
    Status {
        error_code: Some(code as i32),
        reason: Some(reason.into()),
        ..Default::default()
    }
}
