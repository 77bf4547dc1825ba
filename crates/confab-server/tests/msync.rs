//! The msync surface over a real socket: login, send/ack, notices, offline pull with key
//! acknowledgement, kicks, and every kind of bad input with the exact status the SDK maps.

mod common;

use common::{page_texts as texts, Client, Received, TestServer, APP_KEY};
use confab_proto::pb::{self, m_sync::Command};
use prost::Message as _;

#[tokio::test]
async fn login_announces_resource_and_absolute_expiry() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let token = server.user_token("Leo", 600);
    let reply = client
        .provision(APP_KEY, "Leo", &token, "webim_web_1")
        .await;
    assert_eq!(reply.status.unwrap().error_code, Some(0));
    assert_eq!(reply.resource.as_deref(), Some("webim_web_1"));
    let auth: serde_json::Value = serde_json::from_str(&reply.auth_token.unwrap()).unwrap();
    let expires = auth["expires_in"].as_u64().unwrap();
    let now = confab_core::now_ms();
    assert!(
        expires > now + 590_000 && expires <= now + 600_000,
        "{expires}"
    );
}

#[tokio::test]
async fn login_failures_use_the_sdk_reason_texts() {
    let server = TestServer::start().await;
    let other_app = confab_token::build_user_token(
        "0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef",
        "leo",
        (confab_core::now_ms() / 1000) as u32,
        600,
    );
    let expired =
        confab_token::build_user_token(&server.app_id, &server.certificate, "leo", 1_000_000, 10);
    let cases = [
        (
            "leo",
            server.user_token("leo", 0),
            1,
            "Sorry, token expired",
        ),
        ("leo", expired, 1, "Sorry, token expired"),
        (
            "leo",
            "007garbage".to_owned(),
            1,
            "Sorry, token or password does not match login info",
        ),
        (
            "leo",
            server.user_token("roy", 600),
            1,
            "Sorry, token or password does not match login info",
        ),
        (
            "leo",
            other_app,
            1,
            "Sorry, token or password does not match login info",
        ),
        (
            "ghost",
            server.user_token("ghost", 600),
            1,
            "Sorry, user not found",
        ),
    ];
    for (user, token, code, reason) in cases {
        let mut client = server.connect().await;
        let reply = client.provision(APP_KEY, user, &token, "r").await;
        let status = reply.status.unwrap();
        assert_eq!(
            (status.error_code, status.reason.as_deref()),
            (Some(code), Some(reason)),
            "{user}"
        );
        assert!(matches!(client.receive().await, Received::Closed(_)));
    }
}

#[tokio::test]
async fn app_id_only_login_resolves_the_app_from_the_token() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let reply = client
        .provision("", "leo", &server.user_token("leo", 600), "qq")
        .await;
    assert_eq!(reply.status.unwrap().error_code, Some(0));
}

#[tokio::test]
async fn offline_messages_arrive_in_order_once_and_survive_a_restart() {
    let mut server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    let mut acked = Vec::new();
    for i in 0..120u64 {
        let ack = leo
            .send_text(1000 + i, "roy", "leo", &format!("m{i}"))
            .await;
        assert_eq!(ack.status.unwrap().error_code, Some(0));
        assert_eq!(ack.meta_id, Some(1000 + i));
        acked.push(ack.server_id.unwrap());
    }
    assert!(
        acked.windows(2).all(|pair| pair[0] < pair[1]),
        "server ids increase"
    );
    drop(leo);
    server.restart().await;

    let mut roy = server.login("roy", "web").await;
    let unread = roy.unread().await;
    assert_eq!(unread.unread.len(), 1);
    assert_eq!(unread.unread[0].n, Some(120));
    assert_eq!(
        unread.unread[0].queue.as_ref().unwrap().name.as_deref(),
        Some("leo")
    );
    let texts = roy.drain("leo").await;
    assert_eq!(texts, (0..120).map(|i| format!("m{i}")).collect::<Vec<_>>());
    // Acknowledged by key: nothing comes back.
    assert!(roy.unread().await.unread.is_empty());
    assert!(roy.drain("leo").await.is_empty());
}

#[tokio::test]
async fn pipelined_sends_are_acknowledged_and_delivered_in_order() {
    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    // More than a session keeps in flight, all written before reading any ack.
    for i in 0..200u64 {
        leo.submit_text(5000 + i, "roy", "leo", &format!("p{i}"))
            .await;
    }
    let mut server_ids = Vec::new();
    for i in 0..200u64 {
        let ack: pb::CommSyncDl = leo.expect(Command::Sync).await;
        assert_eq!(ack.status.unwrap().error_code, Some(0));
        assert_eq!(ack.meta_id, Some(5000 + i), "acks come in submission order");
        server_ids.push(ack.server_id.unwrap());
    }
    assert!(server_ids.windows(2).all(|pair| pair[0] < pair[1]));
    let mut roy = server.login("roy", "web").await;
    let texts = roy.drain("leo").await;
    assert_eq!(texts, (0..200).map(|i| format!("p{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn resending_a_client_id_is_idempotent() {
    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    let first = leo.send_text(7, "roy", "leo", "once").await;
    let again = leo.send_text(7, "roy", "leo", "once").await;
    assert_eq!(first.server_id, again.server_id);
    let mut roy = server.login("roy", "web").await;
    assert_eq!(roy.drain("leo").await, vec!["once".to_owned()]);
}

#[tokio::test]
async fn another_body_under_a_reused_client_id_is_another_message() {
    // The SDK draws message ids and a connection's own ids (a recall's) from two counters,
    // each added to the clock, so two different sends can share an id.
    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    let first = leo.send_text(7, "roy", "leo", "kept").await;
    let second = leo.send_text(7, "roy", "leo", "also kept").await;
    assert_ne!(first.server_id, second.server_id);
    let mut roy = server.login("roy", "web").await;
    assert_eq!(roy.drain("leo").await, vec!["kept", "also kept"]);
}

#[tokio::test]
async fn online_recipients_get_a_notice_and_the_downlink_meta() {
    let server = TestServer::start().await;
    let mut roy = server.login("roy", "phone").await;
    let mut leo = server.login("leo", "web").await;
    let ack = leo.send_text(1, "roy", "leo", "hello").await;
    let notice: pb::CommNotice = roy.expect(Command::Notice).await;
    assert_eq!(notice.queue.unwrap().name.as_deref(), Some("leo"));
    let page = roy.pull("leo", None).await;
    let meta = &page.metas[0];
    assert_eq!(meta.id, ack.server_id);
    assert_eq!(meta.timestamp, ack.timestamp);
    let from = meta.from.as_ref().unwrap();
    assert_eq!(
        (from.name.as_deref(), from.client_resource.as_deref()),
        (Some("leo"), Some("web"))
    );
    assert_eq!(page.queue.unwrap().name.as_deref(), Some("leo"));
    assert_eq!(page.next_key, ack.server_id);
}

#[tokio::test]
async fn a_recipient_pulling_nothing_gets_the_page_without_a_notice() {
    let server = TestServer::start().await;
    let mut roy = server.login("roy", "phone").await;
    // Once UNREAD is answered and nothing is being pulled, a message comes as a page.
    assert!(roy.unread().await.unread.is_empty());
    let mut leo = server.login("leo", "web").await;
    let mut amy = server.login("amy", "web").await;
    let first = leo.send_text(1, "roy", "leo", "first").await;
    let page: pb::CommSyncDl = roy.expect(Command::Sync).await;
    assert_eq!(texts(&page), ["first"]);
    assert_eq!(page.queue.unwrap().name.as_deref(), Some("leo"));
    assert_eq!((page.next_key, page.is_last), (first.server_id, None));
    // Until the SDK acknowledges that page, the next message waits for its pull: no notice.
    leo.send_text(2, "roy", "leo", "second").await;
    let page = roy.pull("leo", page.next_key).await;
    assert_eq!(texts(&page), ["second"]);
    let drained = roy.pull("leo", page.next_key).await;
    assert_eq!((drained.metas.len(), drained.is_last), (0, Some(true)));
    // While a pushed page is unacknowledged, another queue gets a notice.
    leo.send_text(3, "roy", "leo", "third").await;
    let page: pb::CommSyncDl = roy.expect(Command::Sync).await;
    assert_eq!(texts(&page), ["third"]);
    amy.send_text(1, "roy", "amy", "from amy").await;
    let notice: pb::CommNotice = roy.expect(Command::Notice).await;
    assert_eq!(notice.queue.unwrap().name.as_deref(), Some("amy"));
    assert_eq!(roy.drain("amy").await, ["from amy"]);
    let drained = roy.pull("leo", page.next_key).await;
    assert_eq!(drained.is_last, Some(true));
    // Everything was acknowledged: nothing waits for the next login.
    drop(roy);
    let mut phone = server.login("roy", "phone").await;
    assert!(phone.unread().await.unread.is_empty());
}

#[tokio::test]
async fn a_sync_with_nothing_to_do_or_no_queue_is_answered_and_the_connection_stays() {
    let server = TestServer::start().await;
    let mut roy = server.login("roy", "web").await;
    assert!(roy.unread().await.unread.is_empty());
    // Neither a meta to send nor a queue to pull.
    roy.send_frame(Command::Sync, pb::CommSyncUl::default().encode_to_vec())
        .await;
    let refused: pb::CommSyncDl = roy.expect(Command::Sync).await;
    let status = refused.status.unwrap();
    assert_eq!(
        (status.error_code, status.reason.as_deref()),
        (Some(3), Some("no meta or queue")),
        "MISSING_PARAMETER"
    );
    // A queue JID that names no queue: drained at once.
    let nowhere = pb::CommSyncUl {
        queue: Some(pb::Jid {
            name: Some("a@b".into()),
            domain: Some("easemob.com".into()),
            ..Default::default()
        }),
        key: Some(42),
        ..Default::default()
    };
    roy.send_frame(Command::Sync, nowhere.encode_to_vec()).await;
    let drained: pb::CommSyncDl = roy.expect(Command::Sync).await;
    assert_eq!(
        (drained.status.unwrap().error_code, drained.is_last),
        (Some(0), Some(true))
    );
    // The session still works, and still gets a message as a page.
    let mut leo = server.login("leo", "web").await;
    leo.send_text(1, "roy", "leo", "still here").await;
    let page: pb::CommSyncDl = roy.expect(Command::Sync).await;
    assert_eq!(texts(&page), ["still here"]);
}

#[tokio::test]
async fn a_second_login_on_the_same_resource_kicks_the_first() {
    let server = TestServer::start().await;
    let mut first = server.login("leo", "web").await;
    let mut second = server.login("leo", "web").await;
    let kick: pb::CommSyncDl = first.expect(Command::Sync).await;
    let body = pb::StatisticsBody::decode(kick.metas[0].payload.clone().unwrap()).unwrap();
    assert_eq!(body.operation, Some(2), "USER_LOGIN_ANOTHER_DEVICE");
    assert!(matches!(first.receive().await, Received::Closed(_)));
    assert_eq!(second.unread().await.status.unwrap().error_code, Some(0));
    // Another resource is not affected.
    let mut phone = server.login("leo", "phone").await;
    assert_eq!(phone.unread().await.status.unwrap().error_code, Some(0));
    assert_eq!(second.unread().await.status.unwrap().error_code, Some(0));
}

#[tokio::test]
async fn send_errors_carry_the_texts_the_sdk_maps() {
    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    let too_long = leo
        .send_text(1, "roy", "leo", &"x".repeat(5 * 1024 + 1))
        .await;
    let status = too_long.status.unwrap();
    assert_eq!(
        (status.error_code, status.reason.as_deref()),
        (Some(7), Some("Sorry, data is too large"))
    );
    assert_eq!(too_long.meta_id, Some(1));
    let nobody = leo.send_text(2, "nobody", "leo", "hi").await;
    let status = nobody.status.unwrap();
    assert_eq!(
        (status.error_code, status.reason.as_deref()),
        (Some(1), Some("username nobody doesn't exist!"))
    );
    // Nothing was stored for either.
    let mut roy = server.login("roy", "web").await;
    assert!(roy.unread().await.unread.is_empty());
}

#[allow(clippy::unwrap_used)] // test helper
async fn assert_still_serving(server: &TestServer, witness: &mut Client) {
    let ack = witness.send_text(99, "roy", "amy", "still here").await;
    assert_eq!(ack.status.unwrap().error_code, Some(0));
    let mut roy = server.login("roy", "check").await;
    assert!(roy.drain("amy").await.contains(&"still here".to_owned()));
}

#[tokio::test]
async fn garbage_closes_only_the_connection_that_sent_it() {
    let server = TestServer::start().await;
    let mut witness = server.login("amy", "web").await;

    // Before login: a malformed first frame is refused with a Provision status, then closed.
    let mut client = server.connect().await;
    client.send_raw(vec![0xff, 0xff, 0xff]).await;
    let reply: pb::Provision = client.expect(Command::Provision).await;
    assert_eq!(reply.status.unwrap().error_code, Some(4), "WRONG_PARAMETER");
    assert!(matches!(client.receive().await, Received::Closed(_)));

    // After login: a truncated protobuf closes with 1007.
    let mut leo = server.login("leo", "a").await;
    let mut frame = pb::MSync {
        command: Some(0),
        payload: Some(
            pb::CommSyncUl {
                key: Some(5),
                ..Default::default()
            }
            .encode_to_vec()
            .into(),
        ),
        ..Default::default()
    }
    .encode_to_vec();
    frame.truncate(frame.len() - 1);
    leo.send_raw(frame).await;
    assert!(matches!(leo.receive().await, Received::Closed(Some(1007))));

    // An oversized frame closes with 1009.
    let mut leo = server.login("leo", "b").await;
    leo.send_raw(vec![0u8; 70 * 1024]).await;
    assert!(matches!(leo.receive().await, Received::Closed(Some(1009))));

    // A text frame closes with 1003.
    let mut leo = server.login("leo", "c").await;
    leo.socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            "hello".into(),
        ))
        .await
        .unwrap();
    assert!(matches!(leo.receive().await, Received::Closed(Some(1003))));

    assert_still_serving(&server, &mut witness).await;
}

#[tokio::test]
async fn an_unknown_command_is_answered_and_the_connection_stays() {
    let server = TestServer::start().await;
    let mut leo = server.login("leo", "web").await;
    leo.send_raw(
        pb::MSync {
            command: Some(9),
            ..Default::default()
        }
        .encode_to_vec(),
    )
    .await;
    match leo.receive().await {
        Received::Frame { command, payload } => {
            assert_eq!(command, 9);
            let answer = pb::CommSyncDl::decode(payload).unwrap();
            assert_eq!(
                answer.status.unwrap().error_code,
                Some(9),
                "UNKNOWN_COMMAND"
            );
        }
        Received::Closed(code) => panic!("closed {code:?}"),
    }
    assert_eq!(leo.unread().await.status.unwrap().error_code, Some(0));
}

use futures_util::SinkExt as _;
