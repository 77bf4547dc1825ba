//! Codec tests: frames captured from the real SDKs (PROTOCOL.md §9.1), truncations and garbage.

use super::*;
use crate::{pb, status};
use prost::Message;

const LIMIT: usize = 64 * 1024;

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

// agora-chat 1.4.0 PROVISION for leo (transcript #01).
const PROVISION: &str = "080012360a096f726731236170703112036c656f1a0b656173656d6f622e636f6d2217776562696d5f7765625f313739353335343132373838361a14247424616e792d746f6b656e2d666f722d6c656f40034a7b08101205312e342e30280030004a117765625f313739353335343132373838366205776562696d6a17776562696d5f7765625f313739353335343132373838368a010476352e319201207b22746f6b656e223a22247424616e792d746f6b656e2d666f722d6c656f227da2010e313739353335343132373839313a50005800";
const UNREAD: &str = "080040015800";
const SEND: &str = "080040004a5a0a5808c6a4f9e4b70f1a1d0a096f72673123617070311203726f791a0b656173656d6f622e636f6d2801322c0801120512036c656f1a051203726f79221a0800121648692c20686f772061726520796f7520646f696e673f38005800";
const PULL_WITH_KEY: &str = "080040004a29108080809ab98fb7c0681a1d0a096f726731236170703112036c656f1a0b656173656d6f622e636f6d5800";

#[test]
fn decodes_captured_sdk_frames() {
    match decode_inbound(&unhex(PROVISION), LIMIT).unwrap() {
        Inbound::Provision { guid, auth, body } => {
            assert_eq!(guid.app_key.as_deref(), Some("org1#app1"));
            assert_eq!(guid.name.as_deref(), Some("leo"));
            assert_eq!(auth, "$t$any-token-for-leo");
            assert_eq!(body.resource.as_deref(), Some("webim_web_1795354127886"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        decode_inbound(&unhex(UNREAD), LIMIT).unwrap(),
        Inbound::Unread
    );
    match decode_inbound(&unhex(SEND), LIMIT).unwrap() {
        Inbound::Sync(ul) => {
            let meta = ul.meta.unwrap();
            assert_eq!(meta.id, Some(530371727942));
            assert_eq!(meta.to.unwrap().name.as_deref(), Some("roy"));
            let body = pb::MessageBody::decode(meta.payload.unwrap()).unwrap();
            assert_eq!(
                body.contents[0].text.as_deref(),
                Some("Hi, how are you doing?")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    match decode_inbound(&unhex(PULL_WITH_KEY), LIMIT).unwrap() {
        Inbound::Sync(ul) => {
            assert_eq!(ul.key, Some(7530261000273002496));
            assert_eq!(ul.queue.unwrap().name.as_deref(), Some("leo"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn encodes_the_transcript_ack_byte_for_byte() {
    // #08: CommSyncDL{status OK, metaId, serverId, timestamp}.
    let ack = Outbound::Sync(pb::CommSyncDl {
        status: Some(status::ok()),
        meta_id: Some(530371727942),
        server_id: Some(7530261000273002496),
        timestamp: Some(1795354127949),
        ..Default::default()
    });
    assert_eq!(
        encode_outbound(&ack).to_vec(),
        unhex("40004a1c0a02080010c6a4f9e4b70f188080809ab98fb7c06840cddcc79ba034")
    );
}

#[test]
fn a_stored_page_encodes_as_the_typed_sync_reply() {
    let metas: Vec<pb::Meta> = (1..=3)
        .map(|id| pb::Meta {
            id: Some(id),
            timestamp: Some(1795354127949 + id),
            ns: Some(1),
            payload: Some(unhex(SEND).into()),
            ..Default::default()
        })
        .collect();
    let queue = pb::Jid {
        app_key: Some("org1#app1".into()),
        name: Some("leo".into()),
        domain: Some(crate::USER_DOMAIN.into()),
        client_resource: None,
    };
    let typed = Outbound::Sync(pb::CommSyncDl {
        status: Some(status::ok()),
        metas: metas.clone(),
        next_key: Some(3),
        queue: Some(queue.clone()),
        timestamp: Some(1795354127999),
        ..Default::default()
    });
    let stored = Outbound::Page(StoredPage {
        is_last: None,
        status: Some(status::ok()),
        metas: metas
            .iter()
            .map(|meta| meta.encode_to_vec().into())
            .collect(),
        next_key: Some(3),
        queue: Some(queue),
        timestamp: Some(1795354127999),
    });
    assert_eq!(encode_outbound(&stored), encode_outbound(&typed));
}

#[test]
fn bad_frames_are_errors_not_panics() {
    let cases: Vec<(&str, Vec<u8>, Result<(), FrameError>)> = vec![
        (
            "garbage",
            b"\xff\xff\xff\xff".to_vec(),
            Err(FrameError::Envelope),
        ),
        (
            "oversized",
            vec![0u8; LIMIT + 1],
            Err(FrameError::TooLarge {
                size: LIMIT + 1,
                limit: LIMIT,
            }),
        ),
        (
            "unknown command",
            unhex("08004009"),
            Ok(()), // decoded as Inbound::Unknown, checked below
        ),
        (
            "sync with a broken payload",
            unhex("400042004a03ffffff"),
            Err(FrameError::Envelope),
        ),
        (
            "provision payload that is not a Provision",
            unhex("40034a020aff"),
            Err(FrameError::Payload {
                command: "PROVISION",
            }),
        ),
    ];
    for (name, bytes, expected) in cases {
        let got = decode_inbound(&bytes, LIMIT).map(|_| ());
        assert_eq!(got, expected, "{name}");
    }
    assert_eq!(
        decode_inbound(&unhex("08004009"), LIMIT).unwrap(),
        Inbound::Unknown { command: 9 }
    );
}

#[test]
fn every_truncation_of_real_frames_is_handled() {
    for frame in [PROVISION, SEND, PULL_WITH_KEY] {
        let bytes = unhex(frame);
        for end in 0..bytes.len() {
            // Must return (Ok or Err) without panicking.
            let _ = decode_inbound(&bytes[..end], LIMIT);
        }
    }
}

#[test]
fn outbound_round_trips() {
    let frames = [
        Outbound::Notice(pb::CommNotice {
            queue: Some(pb::Jid {
                name: Some("leo".into()),
                ..Default::default()
            }),
        }),
        Outbound::Unread(pb::CommUnreadDl {
            status: Some(status::ok()),
            unread: vec![],
            timestamp: Some(1),
        }),
    ];
    for frame in frames {
        let bytes = encode_outbound(&frame);
        let envelope = pb::MSync::decode(bytes).unwrap();
        assert!(envelope.payload.is_some());
    }
}
