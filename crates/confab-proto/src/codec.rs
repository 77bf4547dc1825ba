//! Bytes <-> typed frames. One WebSocket binary message carries exactly one `MSync`.

use bytes::{Bytes, BytesMut};
use prost::Message;

use crate::pb::{self, m_sync::Command};

/// A client frame, decoded down to the payload its command implies.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Login: the first frame of every connection.
    Provision {
        guid: pb::Jid,
        auth: String,
        body: pb::Provision,
    },
    /// "What is waiting for me": after login and as the heartbeat. The payload is ignored.
    Unread,
    /// Send a meta and/or pull a queue.
    Sync(pb::CommSyncUl),
    /// easemob-websdk sends this before closing the socket.
    Logout(pb::Logout),
    /// A command number the server does not handle (including NOTICE, which only flows downstream).
    Unknown { command: i32 },
}

/// A server frame. Short-lived (built, encoded, dropped), so variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    Provision(pb::Provision),
    Unread(pb::CommUnreadDl),
    Sync(pb::CommSyncDl),
    /// A `SYNC` reply to a pull whose metas are the bytes they were stored as.
    Page(StoredPage),
    Notice(pb::CommNotice),
    Logout(pb::Logout),
}

/// `CommSyncDL` with its metas as encoded bytes. On the wire an embedded message and a bytes
/// field are both length-delimited, so this encodes exactly as `pb::CommSyncDl` with the metas
/// decoded would; a pull relays what was stored without decoding and re-encoding each meta.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredPage {
    #[prost(message, optional, tag = "1")]
    pub status: Option<pb::Status>,
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub metas: Vec<Bytes>,
    #[prost(uint64, optional, tag = "5")]
    pub next_key: Option<u64>,
    #[prost(message, optional, tag = "6")]
    pub queue: Option<pb::Jid>,
    /// Set only on pages the SDK did not ask for (room metas): a pull's page with metas never
    /// says it is the last (PROTOCOL.md §4.4).
    #[prost(bool, optional, tag = "7")]
    pub is_last: Option<bool>,
    #[prost(uint64, optional, tag = "8")]
    pub timestamp: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("frame is not a valid MSync envelope")]
    Envelope,
    #[error("{command} payload does not decode")]
    Payload { command: &'static str },
}

/// Decodes one client frame. Never panics; any protobuf error becomes a `FrameError`.
pub fn decode_inbound(frame: &[u8], max_frame_bytes: usize) -> Result<Inbound, FrameError> {
    if frame.len() > max_frame_bytes {
        return Err(FrameError::TooLarge {
            size: frame.len(),
            limit: max_frame_bytes,
        });
    }
    let envelope = pb::MSync::decode(frame).map_err(|_| FrameError::Envelope)?;
    let payload = envelope.payload.clone().unwrap_or_default();
    let command = envelope.command.unwrap_or(Command::Sync as i32);
    match Command::try_from(command) {
        Ok(Command::Provision) => {
            let body = pb::Provision::decode(payload).map_err(|_| FrameError::Payload {
                command: "PROVISION",
            })?;
            Ok(Inbound::Provision {
                guid: envelope.guid.unwrap_or_default(),
                auth: envelope.auth.unwrap_or_default(),
                body,
            })
        }
        Ok(Command::Unread) => Ok(Inbound::Unread),
        Ok(Command::Sync) => pb::CommSyncUl::decode(payload)
            .map(Inbound::Sync)
            .map_err(|_| FrameError::Payload { command: "SYNC" }),
        Ok(Command::Logout) => pb::Logout::decode(payload)
            .map(Inbound::Logout)
            .map_err(|_| FrameError::Payload { command: "LOGOUT" }),
        Ok(Command::Notice) | Err(_) => Ok(Inbound::Unknown { command }),
    }
}

/// Encodes one server frame. Servers send only `command` and `payload`: the SDKs ignore the rest.
pub fn encode_outbound(frame: &Outbound) -> Bytes {
    let (command, payload) = match frame {
        Outbound::Provision(body) => (Command::Provision, body.encode_to_vec()),
        Outbound::Unread(body) => (Command::Unread, body.encode_to_vec()),
        Outbound::Sync(body) => (Command::Sync, body.encode_to_vec()),
        Outbound::Page(body) => (Command::Sync, body.encode_to_vec()),
        Outbound::Notice(body) => (Command::Notice, body.encode_to_vec()),
        Outbound::Logout(body) => (Command::Logout, body.encode_to_vec()),
    };
    encode_raw(command as i32, payload.into())
}

/// Encodes an envelope with an arbitrary command number (used to answer unknown commands in kind).
pub fn encode_raw(command: i32, payload: Bytes) -> Bytes {
    let envelope = pb::MSync {
        command: Some(command),
        payload: Some(payload),
        ..Default::default()
    };
    let mut buffer = BytesMut::with_capacity(envelope.encoded_len());
    // Encoding into a buffer with enough capacity cannot fail.
    let _ = envelope.encode(&mut buffer);
    buffer.freeze()
}

#[cfg(test)]
mod tests;
