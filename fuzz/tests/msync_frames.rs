//! The msync frame decoder, on every frame the SDKs sent in the captured transcripts
//! (`corpus/msync/`) mutated, and on random bytes: it never panics, refuses what is over the
//! limit before decoding, and a SYNC's message body decodes or fails without panicking too.

use confab_fuzz::{config, corpus, inputs};
use confab_proto::{decode_inbound, pb, FrameError, Inbound};
use proptest::prelude::*;
use prost::Message;

const LIMIT: usize = 64 * 1024;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_frame_decodes_or_is_refused(frame in inputs(corpus("msync"), 1024)) {
        match decode_inbound(&frame, LIMIT) {
            Ok(Inbound::Sync(sync)) => {
                if let Some(payload) = sync.meta.and_then(|meta| meta.payload) {
                    let _ = pb::MessageBody::decode(payload);
                }
            }
            Ok(Inbound::Provision { body, .. }) => {
                let _ = body.encode_to_vec();
            }
            Ok(Inbound::Unread | Inbound::Logout(_) | Inbound::Unknown { .. }) => {}
            Err(FrameError::TooLarge { .. }) => prop_assert!(frame.len() > LIMIT),
            Err(FrameError::Envelope | FrameError::Payload { .. }) => {}
        }
        // Anything over the limit is refused unread, whatever it holds.
        let over_the_limit = decode_inbound(&frame, frame.len().saturating_sub(1));
        let refused_unread = matches!(over_the_limit, Err(FrameError::TooLarge { .. }));
        prop_assert!(refused_unread || frame.is_empty());
    }
}
