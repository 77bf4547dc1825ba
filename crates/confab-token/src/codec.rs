//! Byte layout of AccessToken2 ("007"): lenient base64, capped zlib, and the service walk (TOKEN.md §3–§5).

use std::io::{Read, Write};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use flate2::bufread::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use crate::TokenError;

/// Longest token text accepted, in bytes.
pub(crate) const MAX_TOKEN_CHARS: usize = 16 * 1024;
/// Largest inflated payload accepted (zip-bomb guard).
pub(crate) const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

const VERSION: &str = "007";

const SERVICE_RTC: u16 = 1;
const SERVICE_RTM: u16 = 2;
const SERVICE_STREAMING: u16 = 3;
const SERVICE_FPA: u16 = 4;
pub(crate) const SERVICE_CHAT: u16 = 5;
const SERVICE_FCDN: u16 = 6;
const SERVICE_APAAS: u16 = 7;
const SERVICE_RTM2: u16 = 8;
const SERVICE_CONVOAI: u16 = 9;
const SERVICE_STT: u16 = 10;

const PRIVILEGE_USER: u16 = 1;
const PRIVILEGE_APP: u16 = 2;

// Padding optional and non-zero trailing bits allowed, as in every official decoder (§3).
const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Every field of a 007 token, read without checking the signature or the clock.
///
/// `Debug` leaves out the signature and the raw payload: together they are the bearer token.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodedToken {
    payload: Vec<u8>,
    signed_info_start: usize,
    app_id: Vec<u8>,
    issue_ts: u32,
    expire: u32,
    salt: u32,
    service_count: u16,
    chat: Option<ChatService>,
}

/// The first Chat service (type 5) of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatService {
    user_id: Vec<u8>,
    user_privilege: Option<u32>,
    app_privilege: Option<u32>,
}

impl DecodedToken {
    /// The inflated content: `bytes(signature)` followed by the signed info.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub fn signature(&self) -> &[u8] {
        self.payload
            .get(2..self.signed_info_start)
            .unwrap_or_default()
    }

    /// The bytes the signature covers, exactly as received (trailing bytes included).
    pub fn signed_info(&self) -> &[u8] {
        self.payload
            .get(self.signed_info_start..)
            .unwrap_or_default()
    }

    /// Raw bytes: a hand-built token need not carry UTF-8 here.
    pub fn app_id(&self) -> &[u8] {
        &self.app_id
    }

    pub fn issue_ts(&self) -> u32 {
        self.issue_ts
    }

    /// Seconds after `issue_ts`.
    pub fn expire(&self) -> u32 {
        self.expire
    }

    pub fn salt(&self) -> u32 {
        self.salt
    }

    /// The service count the token declares (the walk stops earlier only at an unknown type).
    pub fn service_count(&self) -> u16 {
        self.service_count
    }

    /// `None` when no Chat service precedes the end or an unknown service type.
    pub fn chat(&self) -> Option<&ChatService> {
        self.chat.as_ref()
    }
}

impl std::fmt::Debug for DecodedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedToken")
            .field("app_id", &String::from_utf8_lossy(&self.app_id))
            .field("issue_ts", &self.issue_ts)
            .field("expire", &self.expire)
            .field("salt", &self.salt)
            .field("service_count", &self.service_count)
            .field("chat", &self.chat)
            .finish_non_exhaustive()
    }
}

impl ChatService {
    /// Raw bytes; empty in app tokens.
    pub fn user_id(&self) -> &[u8] {
        &self.user_id
    }

    /// Value of privilege 1 (user), seconds after `issue_ts`; 0 = bounded by the token expiry.
    pub fn user_privilege(&self) -> Option<u32> {
        self.user_privilege
    }

    /// Value of privilege 2 (app), seconds after `issue_ts`; 0 = bounded by the token expiry.
    pub fn app_privilege(&self) -> Option<u32> {
        self.app_privilege
    }
}

/// TOKEN.md §8 step 1: size, version, base64, zlib, field layout.
pub(crate) fn decode(token: &str) -> Result<DecodedToken, TokenError> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(TokenError::Malformed);
    }
    let (Some(version), Some(body)) = (token.get(..3), token.get(3..)) else {
        return Err(TokenError::Malformed);
    };
    if version != VERSION {
        return Err(if version.bytes().all(|b| b.is_ascii_digit()) {
            TokenError::UnsupportedVersion
        } else {
            TokenError::Malformed
        });
    }
    let compressed = decode_base64(body)?;
    let payload = inflate(&compressed)?;
    parse_payload(payload)
}

/// Standard or URL-safe alphabet, never both: the URL-safe engine rejects `+` and `/`.
fn decode_base64(body: &str) -> Result<Vec<u8>, TokenError> {
    let url_safe = body.bytes().any(|b| b == b'-' || b == b'_');
    let engine = if url_safe {
        &URL_SAFE_LENIENT
    } else {
        &STANDARD_LENIENT
    };
    engine.decode(body).map_err(|_| TokenError::Malformed)
}

/// Bytes after the end of the zlib stream are ignored, as the official decoders do; the
/// signature covers the inflated content only.
fn inflate(compressed: &[u8]) -> Result<Vec<u8>, TokenError> {
    let mut payload = Vec::new();
    // One byte over the cap tells "exactly at the cap" from "too big".
    let limit = MAX_PAYLOAD_BYTES as u64 + 1;
    ZlibDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut payload)
        .map_err(|_| TokenError::Malformed)?;
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(TokenError::Malformed);
    }
    Ok(payload)
}

fn parse_payload(payload: Vec<u8>) -> Result<DecodedToken, TokenError> {
    let mut reader = Reader(&payload);
    let signature_len = reader.bytes()?.len();
    let signed_info_start = 2 + signature_len;
    let app_id = reader.bytes()?.to_vec();
    let issue_ts = reader.u32()?;
    let expire = reader.u32()?;
    let salt = reader.u32()?;
    let service_count = reader.u16()?;
    let chat = find_chat(&mut reader, service_count)?;
    Ok(DecodedToken {
        payload,
        signed_info_start,
        app_id,
        issue_ts,
        expire,
        salt,
        service_count,
        chat,
    })
}

/// Walks every declared service, as the official parsers do, and keeps the first Chat service.
/// A declared service that is not there (a count of 2 or 65 535 over one service) is a
/// truncation, so `Malformed`, even after Chat was found. An unknown type ends the walk without
/// error, as in the official parsers (Chat is then found only if it came before); bytes after
/// the last service are not read (the signature covers them).
fn find_chat(
    reader: &mut Reader<'_>,
    service_count: u16,
) -> Result<Option<ChatService>, TokenError> {
    let mut first_chat = None;
    for _ in 0..service_count {
        let service_type = reader.u16()?;
        if !(SERVICE_RTC..=SERVICE_STT).contains(&service_type) {
            break;
        }
        let (mut user_privilege, mut app_privilege) = (None, None);
        for _ in 0..reader.u16()? {
            let (id, value) = (reader.u16()?, reader.u32()?);
            // A repeated id overwrites the earlier one, as the official map readers do.
            match id {
                PRIVILEGE_USER => user_privilege = Some(value),
                PRIVILEGE_APP => app_privilege = Some(value),
                _ => {}
            }
        }
        match service_type {
            SERVICE_CHAT => {
                let user_id = reader.bytes()?.to_vec();
                first_chat.get_or_insert(ChatService {
                    user_id,
                    user_privilege,
                    app_privilege,
                });
            }
            SERVICE_RTC | SERVICE_STREAMING | SERVICE_FCDN => {
                reader.bytes()?;
                reader.bytes()?;
            }
            SERVICE_RTM => {
                reader.bytes()?;
            }
            SERVICE_APAAS => {
                reader.bytes()?;
                reader.bytes()?;
                reader.take(2)?; // i16 role
            }
            SERVICE_RTM2 => skip_rtm2_body(reader)?,
            SERVICE_FPA | SERVICE_CONVOAI | SERVICE_STT => {}
            _ => break,
        }
    }
    Ok(first_chat)
}

/// string user_id, u16 n, n × (u16 resource_type, u16 m, m × (u16 permission, u16 k, k × string)).
fn skip_rtm2_body(reader: &mut Reader<'_>) -> Result<(), TokenError> {
    reader.bytes()?;
    for _ in 0..reader.u16()? {
        reader.u16()?;
        for _ in 0..reader.u16()? {
            reader.u16()?;
            for _ in 0..reader.u16()? {
                reader.bytes()?;
            }
        }
    }
    Ok(())
}

/// Bounds-checked little-endian reader; running short is always `Malformed`.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TokenError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(TokenError::Malformed)?;
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TokenError> {
        self.take(N)?.try_into().map_err(|_| TokenError::Malformed)
    }

    fn u16(&mut self) -> Result<u16, TokenError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, TokenError> {
        self.array().map(u32::from_le_bytes)
    }

    fn bytes(&mut self) -> Result<&'a [u8], TokenError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }
}

/// Signed info of a single-Chat-service token. Privileges are written in ascending id order.
pub(crate) fn chat_signed_info(
    app_id: &str,
    issue_ts: u32,
    expire: u32,
    salt: u32,
    user_id: &str,
    privileges: &[(u16, u32)],
) -> Vec<u8> {
    let mut privileges = privileges.to_vec();
    privileges.sort_by_key(|&(id, _)| id);
    privileges.truncate(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(64 + app_id.len() + user_id.len() + 6 * privileges.len());
    put_bytes(&mut out, app_id.as_bytes());
    out.extend_from_slice(&issue_ts.to_le_bytes());
    out.extend_from_slice(&expire.to_le_bytes());
    out.extend_from_slice(&salt.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&SERVICE_CHAT.to_le_bytes());
    put_u16_len(&mut out, privileges.len());
    for (id, value) in privileges {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    put_bytes(&mut out, user_id.as_bytes());
    out
}

/// `"007"` + standard base64 (padded) of zlib(`bytes(signature)` ‖ signed info).
/// `None` only if compressing into memory fails, which it does not.
pub(crate) fn seal(signature: &[u8], signed_info: &[u8]) -> Option<String> {
    let mut content = Vec::with_capacity(2 + signature.len() + signed_info.len());
    put_bytes(&mut content, signature);
    content.extend_from_slice(signed_info);
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&content).ok()?;
    let compressed = encoder.finish().ok()?;
    Some(format!("{VERSION}{}", STANDARD.encode(compressed)))
}

/// Strings longer than the u16 length prefix allows are cut at 65 535 bytes: such a token
/// exceeds the 64 KiB payload cap, so it fails verification instead of naming someone else.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = bytes.get(..usize::from(u16::MAX)).unwrap_or(bytes);
    put_u16_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_u16_len(out: &mut Vec<u8>, len: usize) {
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}
