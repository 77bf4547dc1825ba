//! Chat rooms over real sockets: a member who stops reading costs the others nothing, loses
//! low-priority messages first and holds a bounded backlog; garbage in a join gets the error
//! the SDK understands.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test loudly

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Client, Received, TestServer, APP, APP_KEY, ORG};
use confab_proto::pb::{self, m_sync::Command};
use prost::Message as _;

/// Room metas a session holds for a client that does not read (`sessions.room_backlog`):
/// room enough for a reader that keeps up to absorb the scheduling of a loaded test machine.
const BACKLOG: usize = 500;

fn jid(name: &str, domain: &str) -> pb::Jid {
    pb::Jid {
        app_key: Some(APP_KEY.into()),
        name: Some(name.into()),
        domain: Some(domain.into()),
        client_resource: None,
    }
}

/// A room join (or leave) as the SDK sends it: no resource, `isChatroom`.
fn membership_frame(client_id: u64, user: &str, room: &str, operation: i32) -> Vec<u8> {
    let body = pb::MucBody {
        muc_id: Some(jid(room, "conference.easemob.com")),
        operation: Some(operation),
        from: Some(pb::Jid {
            name: Some(user.into()),
            ..Default::default()
        }),
        is_chatroom: Some(true),
        ..Default::default()
    };
    let meta = pb::Meta {
        id: Some(client_id),
        from: Some(jid(user, "easemob.com")),
        to: Some(pb::Jid {
            domain: Some("easemob.com".into()),
            ..Default::default()
        }),
        ns: Some(2),
        payload: Some(body.encode_to_vec().into()),
        ..Default::default()
    };
    pb::CommSyncUl {
        meta: Some(meta),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A room text as the SDK sends it, with its `chatroom_msg_tag` (0 high, 2 low).
fn room_text(client_id: u64, from: &str, room: &str, text: &str, tag: i64) -> Vec<u8> {
    let body = pb::MessageBody {
        r#type: Some(3),
        from: Some(pb::Jid {
            name: Some(from.into()),
            ..Default::default()
        }),
        to: Some(pb::Jid {
            name: Some(room.into()),
            ..Default::default()
        }),
        contents: vec![pb::message_body::Content {
            r#type: Some(0),
            text: Some(text.into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let meta = pb::Meta {
        id: Some(client_id),
        to: Some(jid(room, "conference.easemob.com")),
        ns: Some(1),
        payload: Some(body.encode_to_vec().into()),
        ext: vec![pb::KeyValue {
            key: Some("chatroom_msg_tag".into()),
            r#type: Some(2),
            value: Some(pb::key_value::Value::VarintValue(tag)),
        }],
        ..Default::default()
    };
    pb::CommSyncUl {
        meta: Some(meta),
        ..Default::default()
    }
    .encode_to_vec()
}

async fn join(client: &mut Client, user: &str, room: &str) -> pb::CommSyncDl {
    client
        .send_frame(Command::Sync, membership_frame(7, user, room, 2))
        .await;
    client.expect(Command::Sync).await
}

/// The texts of room messages in a pushed page (events left out).
fn room_texts(page: &pb::CommSyncDl) -> Vec<String> {
    page.metas
        .iter()
        .filter(|meta| meta.ns == Some(1))
        .filter_map(|meta| {
            let body = pb::MessageBody::decode(meta.payload.clone()?).ok()?;
            body.contents.first()?.text.clone()
        })
        .collect()
}

/// Frames until `deadline`: the room texts received, in order.
async fn read_until(
    client: &mut Client,
    deadline: Instant,
    mut done: impl FnMut(&[String]) -> bool,
) -> Vec<String> {
    let mut texts = Vec::new();
    while Instant::now() < deadline && !done(&texts) {
        // `receive` gives up (panics) after 10 s of nothing; stop before.
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(5));
        let Ok(received) = tokio::time::timeout(left, client.receive()).await else {
            break;
        };
        match received {
            Received::Frame { command, payload } if command == Command::Sync as i32 => {
                let page = pb::CommSyncDl::decode(payload).unwrap();
                texts.extend(room_texts(&page));
            }
            Received::Frame { .. } => {}
            Received::Closed(code) => panic!("closed ({code:?})"),
        }
    }
    texts
}

async fn room_with(server: &TestServer, owner: &str, members: &[&str]) -> String {
    let token = server.app_token().await;
    let (status, body) = server
        .http(
            "POST",
            &format!("/{ORG}/{APP}/chatrooms"),
            Some(&token),
            &serde_json::json!({
                "name": "busy", "description": "", "maxusers": 100,
                "owner": owner, "members": members,
            })
            .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_stops_reading_loses_low_priority_first_and_the_others_keep_up() {
    let server = TestServer::start_with(|config| {
        config.sessions.room_backlog = BACKLOG;
        config.sessions.outbound_queue_bytes = 64 * 1024;
    })
    .await;
    // leo owns the room; roy reads everything, amy stops reading.
    let mut owner = server.login("leo", "web").await;
    let mut fast = server.login("roy", "web").await;
    let mut slow = server.login("amy", "web").await;
    let room = room_with(&server, "leo", &["roy", "amy"]).await;
    for (client, user) in [(&mut fast, "roy"), (&mut slow, "amy")] {
        // As the SDK: UNREAD first (until it is answered a session pushes nothing unasked).
        client.unread().await;
        let joined = join(client, user, &room).await;
        assert_eq!(joined.status.unwrap().error_code, Some(0));
    }
    // Slow stops reading now. Messages of 4 KiB, one in twenty high (fewer than the backlog
    // holds: past it the oldest high would go too), at about 1,500 a second,
    // fill the socket's buffers (megabytes on loopback), the session's outbox and then its
    // backlog, while a reader that keeps up gets them all.
    let filler = "x".repeat(4000);
    let total: u64 = 6000;
    let high = |n: u64| n.is_multiple_of(20);
    let to = room.clone();
    let sender = tokio::spawn(async move {
        for n in 0..total {
            if n % 30 == 29 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let tag = if high(n) { 0 } else { 2 };
            let text = format!("{n} {filler}");
            owner
                .send_raw(envelope(room_text(100 + n, "leo", &to, &text, tag)))
                .await;
        }
        // The acks: every send was stored.
        let mut acked = 0;
        while acked < total {
            let ack: pb::CommSyncDl = owner.expect(Command::Sync).await;
            if ack.meta_id.is_some() {
                assert_eq!(ack.status.unwrap().error_code, Some(0));
                acked += 1;
            }
        }
        owner
    });
    // The reader keeps up: every message, in order, while slow reads nothing.
    let started = Instant::now();
    let texts = read_until(&mut fast, started + Duration::from_secs(60), |texts| {
        texts.len() as u64 == total
    })
    .await;
    let numbers: Vec<u64> = texts.iter().map(|text| number(text)).collect();
    assert_eq!(
        numbers.len() as u64,
        total,
        "the reader got everything: {:?}",
        numbers.last()
    );
    assert_eq!(
        numbers,
        (0..total).collect::<Vec<_>>(),
        "the reader got everything in order"
    );
    let owner = sender.await.unwrap();
    drop(owner);

    // Now slow reads: what was in flight before it stalled, then what its backlog kept.
    let got = read_until(&mut slow, Instant::now() + Duration::from_secs(5), |_| {
        false
    })
    .await;
    let got: HashSet<u64> = got.iter().map(|text| number(text)).collect();
    let lost: Vec<u64> = (0..total).filter(|n| !got.contains(n)).collect();
    assert!(
        !lost.is_empty(),
        "a reader that stalled this long loses some"
    );
    let lost_high: Vec<u64> = lost.iter().copied().filter(|n| high(*n)).collect();
    assert!(
        lost_high.is_empty(),
        "no high-priority message is lost: {lost_high:?} of {} lost",
        lost.len()
    );
    // The backlog never held more than its bound: what came after the stall is at most that.
    let last_lost = *lost.last().unwrap();
    let kept_after = got.iter().filter(|n| **n > last_lost).count();
    assert!(
        kept_after <= BACKLOG,
        "{kept_after} kept after the last loss"
    );
}

fn number(text: &str) -> u64 {
    text.split(' ').next().unwrap().parse().unwrap()
}

fn envelope(payload: Vec<u8>) -> Vec<u8> {
    pb::MSync {
        version: Some(0),
        command: Some(Command::Sync as i32),
        payload: Some(payload.into()),
        encrypt_type: vec![0],
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test]
async fn garbage_in_a_room_join_gets_the_error_the_sdk_maps() {
    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    let room = room_with(&server, "leo", &[]).await;
    let status = |reply: pb::CommSyncDl| {
        let status = reply.status.unwrap();
        (
            status.error_code.unwrap_or(0),
            status.reason.unwrap_or_default(),
        )
    };
    // An unknown room: the hosted text (705 "The chat room dose not exist.").
    let unknown = format!("{room}9");
    assert_eq!(
        status(join(&mut leo, "leo", &unknown).await),
        (1, format!("grpID {unknown} does not exist!"))
    );
    // An id that is not one (-3).
    assert_eq!(
        status(join(&mut leo, "leo", "room-1").await),
        (1, "group ID illegal, please check it".to_owned())
    );
    // A join in someone else's name (603).
    leo.send_frame(Command::Sync, membership_frame(8, "roy", &room, 2))
        .await;
    let reply: pb::CommSyncDl = leo.expect(Command::Sync).await;
    assert_eq!(
        status(reply),
        (1, "Sorry, You do not have permission".to_owned())
    );
    // A MUC body that does not decode, and an operation that is not a join or a leave.
    let mut garbage =
        pb::CommSyncUl::decode(membership_frame(9, "leo", &room, 2).as_slice()).unwrap();
    garbage.meta.as_mut().unwrap().payload = Some(vec![0xff, 0xff, 0xff].into());
    leo.send_frame(Command::Sync, garbage.encode_to_vec()).await;
    let reply: pb::CommSyncDl = leo.expect(Command::Sync).await;
    assert_eq!(status(reply), (4, "no MUC body".to_owned()));
    leo.send_frame(Command::Sync, membership_frame(10, "leo", &room, 14))
        .await;
    let reply: pb::CommSyncDl = leo.expect(Command::Sync).await;
    assert_eq!(status(reply), (4, "unknown MUC operation".to_owned()));
    // The session is still good: a real join works.
    let joined = join(&mut leo, "leo", &room).await;
    assert_eq!(joined.status.unwrap().error_code, Some(0));
    let info = pb::MucBody::decode(joined.metas[0].payload.clone().unwrap()).unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&info.status.unwrap().chatroom_info.unwrap()).unwrap();
    assert_eq!(info["leo"]["member_count"], 1);
}
