//! What one session, and one user's sessions, may cost the server (`[sessions]`): a client that
//! does not read is disconnected, shutdown acknowledges what it stored, client strings cannot
//! forge log lines, a user's sessions are capped, and sends are rate limited.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{text_frame, Client, Received, TestServer, APP, APP_KEY, ORG, WAIT};
use confab_proto::pb::{self, m_sync::Command};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio_tungstenite::tungstenite::Message;

#[allow(clippy::unwrap_used)] // test helper
async fn presence(server: &TestServer, token: &str, user: &str) -> String {
    let (status, body) = server
        .http(
            "GET",
            &format!("/{ORG}/{APP}/users/{user}/status"),
            Some(token),
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"][user].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_that_does_not_read_is_disconnected_and_shown_offline() {
    let server = TestServer::start_with(|config| {
        config.sessions.write_timeout_secs = 2;
        config.sessions.outbound_queue_bytes = 64 * 1024;
    })
    .await;
    let app_token = server.app_token().await;
    // Leo reads nothing, and keeps the kernel's buffers for him small.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.address).await.unwrap();
    let url = format!("ws://{}/websocket", server.address);
    let (socket, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let mut leo = Client { socket };
    let reply = leo
        .provision(APP_KEY, "leo", &server.user_token("leo", 3600), "web")
        .await;
    assert_eq!(reply.status.unwrap().error_code, Some(0));
    assert_eq!(presence(&server, &app_token, "leo").await, "online");

    // Roy floods him with large messages, and leo asks for pages of them again and again
    // (no key: the same first page each time), far more than any buffer holds.
    let mut roy = server.login("roy", "web").await;
    let text = "x".repeat(4000);
    for i in 0..300u64 {
        let ack = roy.send_text(i + 1, "leo", "roy", &text).await;
        assert_eq!(ack.status.unwrap().error_code, Some(0));
    }
    let pull = pb::CommSyncUl {
        queue: Some(pb::Jid {
            app_key: Some(APP_KEY.into()),
            name: Some("roy".into()),
            domain: Some("easemob.com".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    for _ in 0..64 {
        leo.send_frame(Command::Sync, pull.encode_to_vec()).await;
    }
    let flooded = Instant::now();

    // The write deadline (2 s) ends the session: offline, and the socket is closed.
    let mut offline = false;
    while flooded.elapsed() < Duration::from_secs(12) {
        if presence(&server, &app_token, "leo").await == "offline" {
            offline = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        offline,
        "still online {:?} after the flood",
        flooded.elapsed()
    );
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(Ok(_)) = leo.socket.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the server closed the socket");
    // Roy's session is unharmed.
    let ack = roy.send_text(1000, "leo", "roy", "still here").await;
    assert_eq!(ack.status.unwrap().error_code, Some(0));
}

#[tokio::test]
async fn shutdown_acknowledges_every_message_it_stored() {
    let mut server = TestServer::start().await;
    let leo = server.login("leo", "web").await;
    let (mut sink, mut stream) = leo.socket.split();
    const SENDS: u64 = 5000;
    // Leo pipelines sends as fast as the socket takes them...
    let writer = tokio::spawn(async move {
        for id in 1..=SENDS {
            let frame = text_frame(id, "roy", "leo", &format!("s{id}"));
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                break;
            }
        }
    });
    // ... and reads acks until the server closes.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let mut started = Some(started_tx);
        let mut acked = BTreeSet::new();
        let mut close_code = None;
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Binary(bytes) => {
                    let envelope = pb::MSync::decode(bytes).unwrap();
                    assert_eq!(envelope.command, Some(Command::Sync as i32));
                    let ack = pb::CommSyncDl::decode(envelope.payload.unwrap()).unwrap();
                    if ack.status.unwrap().error_code == Some(0) {
                        acked.insert(ack.meta_id.unwrap());
                    }
                    if acked.len() == 300 {
                        if let Some(started) = started.take() {
                            let _ = started.send(());
                        }
                    }
                }
                Message::Close(frame) => {
                    close_code = frame.map(|frame| u16::from(frame.code));
                    break;
                }
                _ => {}
            }
        }
        (acked, close_code)
    });
    // Shutdown in the middle of the burst.
    tokio::time::timeout(WAIT, started_rx)
        .await
        .unwrap()
        .unwrap();
    server.shutdown().await;
    let (acked, close_code) = tokio::time::timeout(WAIT, reader).await.unwrap().unwrap();
    writer.abort();
    assert_eq!(close_code, Some(1001), "closed as going away");
    assert!(acked.len() < SENDS as usize, "shutdown came mid-burst");

    server.restart().await;
    let mut roy = server.login("roy", "web").await;
    let stored: BTreeSet<u64> = roy
        .drain("leo")
        .await
        .iter()
        .map(|text| text[1..].parse().unwrap())
        .collect();
    let stored_unacked: Vec<_> = stored.difference(&acked).collect();
    let acked_unstored: Vec<_> = acked.difference(&stored).collect();
    assert!(
        stored_unacked.is_empty() && acked_unstored.is_empty(),
        "stored but not acknowledged: {stored_unacked:?}; acknowledged but not stored: \
         {acked_unstored:?} ({} acknowledged)",
        acked.len()
    );
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

#[allow(clippy::unwrap_used)] // test helper
impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn client_strings_cannot_forge_log_lines() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    // The server's text format (`main.rs`), on this thread, which runs the server's tasks.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start().await;
    let forged = "\nINJECTED level=ERROR forged line";
    let token = server.user_token("leo", 3600);

    // In the resource: refused (the SDKs send `webim_…`-like resources only).
    let mut client = server.connect().await;
    let reply = client
        .provision(APP_KEY, "leo", &token, &format!("web{forged}"))
        .await;
    let resource_status = reply.status.unwrap();
    drop(client);
    // In the user name and the app key: refused too, and logged.
    for (app_key, user) in [
        (APP_KEY.to_owned(), format!("leo{forged}")),
        (format!("{APP_KEY}{forged}"), "leo".to_owned()),
    ] {
        let mut client = server.connect().await;
        let reply = client.provision(&app_key, &user, &token, "web").await;
        assert_ne!(reply.status.unwrap().error_code, Some(0));
    }
    // A session with an ordinary resource, then a send to a user named with a newline.
    let mut leo = server.login("leo", "web").await;
    let ack = leo.send_text(1, &format!("roy{forged}"), "leo", "hi").await;
    assert_ne!(ack.status.unwrap().error_code, Some(0));
    drop(leo);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("login refused"), "captured: {text}");
    for line in text.lines() {
        assert!(!line.starts_with("INJECTED"), "forged line in:\n{text}");
    }
    assert_eq!(
        (
            resource_status.error_code,
            resource_status.reason.as_deref()
        ),
        (Some(4), Some("invalid resource")),
        "WRONG_PARAMETER"
    );
}

#[tokio::test]
async fn a_user_has_at_most_max_per_user_sessions() {
    let server = TestServer::start_with(|config| config.sessions.max_per_user = 2).await;
    let token = server.user_token("leo", 3600);
    let mut first = server.login("leo", "one").await;
    let _second = server.login("leo", "two").await;

    let mut third = server.connect().await;
    let reply = third.provision(APP_KEY, "leo", &token, "three").await;
    let status = reply.status.unwrap();
    assert_eq!(
        (status.error_code, status.reason.as_deref()),
        (Some(13), Some("Sorry, you devices is overflow?")),
        "TOO_MANY_DEVICES, the hosted text"
    );
    assert!(matches!(third.receive().await, Received::Closed(_)));

    // A login on a resource already logged in replaces it, so it does not count twice.
    let _again = server.login("leo", "two").await;
    // Others are not affected.
    let _roy = server.login("roy", "three").await;

    // Once a session ends, there is room again.
    first.socket.close(None).await.unwrap();
    assert!(matches!(first.receive().await, Received::Closed(_)));
    let mut retried = false;
    for _ in 0..50 {
        let mut client = server.connect().await;
        let reply = client.provision(APP_KEY, "leo", &token, "three").await;
        if reply.status.unwrap().error_code == Some(0) {
            retried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(retried, "room for a session once one ended");
}

#[tokio::test]
async fn sends_over_the_rate_are_refused_with_traffic_control_and_pass_after_a_refill() {
    let server = TestServer::start_with(|config| {
        config.sessions.connection_sends_per_sec = 1;
        config.sessions.connection_send_burst = 3;
        config.sessions.user_sends_per_sec = 1;
        config.sessions.user_send_burst = 5;
    })
    .await;
    let mut leo = server.login("leo", "web").await;
    let traffic_control = |ack: &pb::CommSyncDl| {
        let status = ack.status.clone().unwrap();
        (status.error_code, status.reason)
            == (
                Some(1),
                Some("traffic control happened, retry later".into()),
            )
    };
    // The connection's burst: 3, then refused.
    for id in 1..=3 {
        let ack = leo.send_text(id, "roy", "leo", "burst").await;
        assert_eq!(ack.status.unwrap().error_code, Some(0), "send {id}");
    }
    let refused = leo.send_text(4, "roy", "leo", "one too many").await;
    assert!(traffic_control(&refused), "{refused:?}");
    assert_eq!(refused.meta_id, Some(4));
    // The user's burst (5) also spans a second session of the same user.
    let mut phone = server.login("leo", "phone").await;
    for id in 10..12 {
        let ack = phone.send_text(id, "roy", "leo", "burst").await;
        assert_eq!(ack.status.unwrap().error_code, Some(0), "send {id}");
    }
    let refused = phone.send_text(12, "roy", "leo", "user over").await;
    assert!(traffic_control(&refused), "{refused:?}");
    // Refilled after a pause (one a second). (The web session has the phone's sends pushed to
    // it now, multi-device sync: the phone, which has nothing pushed, sends.)
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ack = phone.send_text(13, "roy", "leo", "after the pause").await;
    assert_eq!(ack.status.unwrap().error_code, Some(0));
    let mut roy = server.login("roy", "web").await;
    assert_eq!(
        roy.drain("leo").await,
        [
            "burst",
            "burst",
            "burst",
            "burst",
            "burst",
            "after the pause"
        ]
    );
}
