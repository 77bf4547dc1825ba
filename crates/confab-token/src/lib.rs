//! Agora AccessToken2 ("007") Chat tokens: verify them by the server rules of TOKEN.md §8, and issue them.
//!
//! Certificates are only ever borrowed, never stored, so no `Debug` output or error can show one.

mod codec;

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::Rng;
use sha2::Sha256;

pub use codec::{ChatService, DecodedToken};

type HmacSha256 = Hmac<Sha256>;

/// Chat privilege 1: log in and act as the token's user.
pub const PRIVILEGE_USER: u16 = 1;
/// Chat privilege 2: administrator of the app.
pub const PRIVILEGE_APP: u16 = 2;

/// What a token is being used for (TOKEN.md §8 "use").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse<'a> {
    /// Diagnostics: whichever Chat privilege the token carries.
    Parse,
    /// Socket login as `user` (privilege 1). `user_uuid` is the user's internal UUID, also accepted as the token's user id.
    Login {
        user: &'a str,
        user_uuid: Option<&'a str>,
    },
    /// REST call acting for `user`: privilege 1 for that user, or privilege 2.
    RestUser {
        user: &'a str,
        user_uuid: Option<&'a str>,
    },
    /// Administrator REST call: privilege 2.
    RestApp,
}

/// Which privilege a verified token was accepted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    User,
    App,
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub app_id: String,
    /// Unix seconds.
    pub issue_ts: u32,
    pub privilege: Privilege,
    /// The token's Chat user id; `""` when accepted with the app privilege.
    pub user_id: String,
    /// Effective deadline in Unix seconds: `issue_ts + min(expire, privilege value if non-zero)`.
    pub expires_at: u64,
}

impl VerifiedToken {
    /// The deadline in epoch milliseconds, as the SDK wants it (`expires_in`, `expire_timestamp`).
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at.saturating_mul(1000)
    }
}

/// Why a token was refused; `code()` gives the result codes of `vectors.json`.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is not a well-formed 007 token")]
    Malformed,
    #[error("token version is not 007")]
    UnsupportedVersion,
    #[error("token belongs to another app")]
    AppIdMismatch,
    #[error("token signature does not match the app certificate")]
    BadSignature,
    #[error("token has no chat service")]
    NoChatService,
    #[error("token lacks the chat privilege this use needs")]
    NoPrivilege,
    #[error("token expired")]
    Expired,
    #[error("token is for another user")]
    UserMismatch,
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::UnsupportedVersion => "unsupported_version",
            TokenError::AppIdMismatch => "app_id_mismatch",
            TokenError::BadSignature => "bad_signature",
            TokenError::NoChatService => "no_chat_service",
            TokenError::NoPrivilege => "no_privilege",
            TokenError::Expired => "expired",
            TokenError::UserMismatch => "user_mismatch",
        }
    }
}

/// Reads every field without verifying anything (diagnostics, tests). Err(Malformed/UnsupportedVersion) if it does not parse.
pub fn decode(token: &str) -> Result<DecodedToken, TokenError> {
    codec::decode(token)
}

/// Reads the app id from a token without verifying anything (used to route an appId-only SDK login to its app).
/// Err(Malformed/UnsupportedVersion) if it does not parse; a non-UTF-8 app id is `Malformed`, as no app can have it.
pub fn peek_app_id(token: &str) -> Result<String, TokenError> {
    let decoded = codec::decode(token)?;
    String::from_utf8(decoded.app_id().to_vec()).map_err(|_| TokenError::Malformed)
}

/// Full verification, TOKEN.md §8 steps 1–7, in that order; the first failure decides.
/// `certificates` = primary then optional secondary (empty entries are skipped). `now` = unix seconds.
pub fn verify(
    token: &str,
    app_id: &str,
    certificates: &[&str],
    token_use: TokenUse<'_>,
    now: u64,
) -> Result<VerifiedToken, TokenError> {
    let decoded = codec::decode(token)?;

    if decoded.app_id() != app_id.as_bytes() {
        return Err(TokenError::AppIdMismatch);
    }

    let signed_by_any = certificates
        .iter()
        .filter(|certificate| !certificate.is_empty())
        .any(|certificate| signature_matches(&decoded, certificate));
    if !signed_by_any {
        return Err(TokenError::BadSignature);
    }

    let chat = decoded.chat().ok_or(TokenError::NoChatService)?;

    let deadline = |value: u32| privilege_deadline(decoded.issue_ts(), decoded.expire(), value);
    let (privilege, expires_at) = match token_use {
        // The later of the two deadlines: diagnostics report the longest-lived privilege.
        TokenUse::Parse => match (chat.user_privilege(), chat.app_privilege()) {
            (Some(user), Some(app)) if deadline(app) > deadline(user) => {
                (Privilege::App, deadline(app))
            }
            (Some(user), _) => (Privilege::User, deadline(user)),
            (None, Some(app)) => (Privilege::App, deadline(app)),
            (None, None) => return Err(TokenError::NoPrivilege),
        },
        TokenUse::Login { .. } => {
            let value = chat.user_privilege().ok_or(TokenError::NoPrivilege)?;
            (Privilege::User, deadline(value))
        }
        // The app privilege, when present, is used even if the user one would also do.
        TokenUse::RestUser { .. } => match (chat.app_privilege(), chat.user_privilege()) {
            (Some(app), _) => (Privilege::App, deadline(app)),
            (None, Some(user)) => (Privilege::User, deadline(user)),
            (None, None) => return Err(TokenError::NoPrivilege),
        },
        TokenUse::RestApp => {
            let value = chat.app_privilege().ok_or(TokenError::NoPrivilege)?;
            (Privilege::App, deadline(value))
        }
    };

    if now >= expires_at {
        return Err(TokenError::Expired);
    }

    let user_id = match privilege {
        Privilege::App => String::new(),
        Privilege::User => {
            if let TokenUse::Login { user, user_uuid } | TokenUse::RestUser { user, user_uuid } =
                token_use
            {
                if !same_user(chat.user_id(), user, user_uuid) {
                    return Err(TokenError::UserMismatch);
                }
            }
            String::from_utf8_lossy(chat.user_id()).into_owned()
        }
    };

    Ok(VerifiedToken {
        app_id: app_id.to_owned(),
        issue_ts: decoded.issue_ts(),
        privilege,
        user_id,
        expires_at,
    })
}

/// Issues a Chat user token: service 5, privilege 1 = `expire_secs`, salt from the OS RNG.
pub fn build_user_token(
    app_id: &str,
    certificate: &str,
    user: &str,
    issue_ts: u32,
    expire_secs: u32,
) -> String {
    build_chat_token_with_salt(
        app_id,
        certificate,
        user,
        &[(PRIVILEGE_USER, expire_secs)],
        issue_ts,
        expire_secs,
        random_salt(),
    )
}

/// Issues a Chat app token: service 5, privilege 2 = `expire_secs`, empty user id, salt from the OS RNG.
pub fn build_app_token(app_id: &str, certificate: &str, issue_ts: u32, expire_secs: u32) -> String {
    build_chat_token_with_salt(
        app_id,
        certificate,
        "",
        &[(PRIVILEGE_APP, expire_secs)],
        issue_ts,
        expire_secs,
        random_salt(),
    )
}

/// Deterministic builder behind the two above: one Chat service with the given privileges
/// (id, seconds after `issue_ts`), written in ascending id order.
///
/// App id and certificate are not checked for the 32-hex shape the official builders demand.
/// Strings over 65 535 bytes give a token that never verifies. Returns `""` only if signing or
/// compressing in memory fails, which does not happen (the official builders' failure value).
pub fn build_chat_token_with_salt(
    app_id: &str,
    certificate: &str,
    user_id: &str,
    privileges: &[(u16, u32)],
    issue_ts: u32,
    expire_secs: u32,
    salt: u32,
) -> String {
    let signed_info =
        codec::chat_signed_info(app_id, issue_ts, expire_secs, salt, user_id, privileges);
    signing_mac(certificate, issue_ts, salt)
        .and_then(|mut mac| {
            mac.update(&signed_info);
            codec::seal(&mac.finalize().into_bytes(), &signed_info)
        })
        .unwrap_or_default()
}

/// Builders in Node, Python and Go draw the salt from 1..=99 999 999; verifiers accept any u32.
fn random_salt() -> u32 {
    OsRng.gen_range(1..=99_999_999)
}

/// `k = HMAC(u32le(salt), HMAC(u32le(issue_ts), certificate text))`: note the timestamp and salt are the keys.
fn signing_key(certificate: &str, issue_ts: u32, salt: u32) -> Option<[u8; 32]> {
    let mut by_time = HmacSha256::new_from_slice(&issue_ts.to_le_bytes()).ok()?;
    by_time.update(certificate.as_bytes());
    let mut by_salt = HmacSha256::new_from_slice(&salt.to_le_bytes()).ok()?;
    by_salt.update(&by_time.finalize().into_bytes());
    Some(by_salt.finalize().into_bytes().into())
}

/// HMAC keyed with `k`, ready for the signed info.
fn signing_mac(certificate: &str, issue_ts: u32, salt: u32) -> Option<HmacSha256> {
    let key = signing_key(certificate, issue_ts, salt)?;
    HmacSha256::new_from_slice(&key).ok()
}

/// Constant-time compare (`verify_slice`) over the signed bytes as received.
fn signature_matches(decoded: &DecodedToken, certificate: &str) -> bool {
    signing_mac(certificate, decoded.issue_ts(), decoded.salt()).is_some_and(|mut mac| {
        mac.update(decoded.signed_info());
        mac.verify_slice(decoded.signature()).is_ok()
    })
}

/// §7: privilege value 0 means "bounded by the token expiry"; u64 because the sum passes 2³².
fn privilege_deadline(issue_ts: u32, expire: u32, privilege_value: u32) -> u64 {
    let lifetime = match privilege_value {
        0 => expire,
        value => expire.min(value),
    };
    u64::from(issue_ts) + u64::from(lifetime)
}

/// Chat user ids are case-insensitive, and early Agora guides minted tokens for the user's UUID.
fn same_user(token_user: &[u8], user: &str, user_uuid: Option<&str>) -> bool {
    !token_user.is_empty()
        && (token_user.eq_ignore_ascii_case(user.as_bytes())
            || user_uuid.is_some_and(|uuid| token_user.eq_ignore_ascii_case(uuid.as_bytes())))
}

#[cfg(test)]
mod tests;
