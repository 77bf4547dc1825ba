//! The msync wire: generated protobuf types, the frame codec, and the status texts the SDKs match on.
//!
//! No I/O and no runtime here; the gateway feeds bytes in and writes bytes out.

pub mod codec;
pub mod status;

/// Types generated from `proto/msync.proto` (package `easemob.pb`).
#[allow(clippy::all, unreachable_pub, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/easemob.pb.rs"));
}

pub use codec::{decode_inbound, encode_outbound, FrameError, Inbound, Outbound, StoredPage};

/// JID domain of users and of the single-chat queues named after a peer.
pub const USER_DOMAIN: &str = "easemob.com";
/// JID domain of groups and chat rooms.
pub const CONFERENCE_DOMAIN: &str = "conference.easemob.com";
