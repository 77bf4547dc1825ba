//! Multi-device over real sockets: each device of a user reads through its own cursor, gets
//! its user's sends from other devices, and a pull naming what it cannot read moves nothing.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test loudly

mod common;

use common::{page_texts as texts, Client, TestServer, APP_KEY};
use confab_proto::pb::{self, m_sync::Command};
use prost::Message as _;

async fn send(client: &mut Client, id: u64, to: &str, from: &str, text: &str) {
    let ack = client.send_text(id, to, from, text).await;
    assert_eq!(ack.status.unwrap().error_code, Some(0), "send {text}");
}

#[tokio::test]
async fn each_device_reads_every_message_and_its_users_other_sends_once() {
    let server = TestServer::start().await;
    // Both devices have logged in before anything is sent. (Offline, so that nothing is pushed
    // to them between a request and its answer.)
    drop(server.login("leo", "phone").await);
    let mut web = server.login("leo", "web").await;
    send(&mut web, 1, "roy", "leo", "from leo's web").await;
    drop(web);
    let mut roy = server.login("roy", "pad").await;
    send(&mut roy, 2, "leo", "roy", "from roy").await;
    let mut phone = server.login("leo", "phone").await;
    assert_eq!(phone.drain("roy").await, ["from leo's web", "from roy"]);
    drop(phone);
    let mut web = server.login("leo", "web").await;
    assert_eq!(web.drain("roy").await, ["from roy"]);
    drop(web);
    // Each acknowledged for itself only; neither has anything left.
    let mut phone = server.login("leo", "phone").await;
    assert!(phone.unread().await.unread.is_empty());
    drop(phone);
    // The phone reads roy's next message; the web still gets it.
    send(&mut roy, 3, "leo", "roy", "again").await;
    let mut phone = server.login("leo", "phone").await;
    assert_eq!(phone.drain("roy").await, ["again"]);
    drop(phone);
    let mut web = server.login("leo", "web").await;
    assert_eq!(web.unread().await.unread[0].n, Some(1));
    assert_eq!(web.drain("roy").await, ["again"]);
}

#[tokio::test]
async fn a_pull_naming_what_the_device_cannot_read_moves_nothing() {
    let server = TestServer::start().await;
    let mut roy = server.login("roy", "pad").await;
    let leo = server.login("leo", "web").await;
    send(&mut roy, 1, "leo", "roy", "one").await;
    send(&mut roy, 2, "leo", "roy", "two").await;
    drop(leo);
    let mut leo = server.login("leo", "web").await;
    let first = leo.pull("roy", None).await;
    assert_eq!(texts(&first), ["one", "two"]);
    let last = first.next_key.unwrap();
    // A key past the end of the device's view of the queue.
    let refused = leo.pull("roy", Some(last + 1)).await;
    let status = refused.status.unwrap();
    assert_eq!(
        (status.error_code, status.reason.as_deref()),
        (
            Some(pb::status::ErrorCode::WrongParameter as i32),
            Some("key is past the end of the queue")
        )
    );
    // A group's queue the user reads nothing of (no such group, not a member): the key is
    // past the end of their view of it.
    let queue = |name: &str, domain: &str| pb::CommSyncUl {
        queue: Some(pb::Jid {
            app_key: Some(APP_KEY.into()),
            name: Some(name.into()),
            domain: Some(domain.into()),
            ..Default::default()
        }),
        key: Some(last),
        ..Default::default()
    };
    for (pull, reason) in [
        (
            queue("1234567890", "conference.easemob.com"),
            "key is past the end of the queue",
        ),
        // A queue that names no conversation at all.
        (queue("roy", "chatroom.example"), "no such queue"),
    ] {
        leo.send_frame(Command::Sync, pull.encode_to_vec()).await;
        let refused: pb::CommSyncDl = leo.expect(Command::Sync).await;
        let status = refused.status.unwrap();
        assert_eq!(
            (status.error_code, status.reason.as_deref()),
            (
                Some(pb::status::ErrorCode::WrongParameter as i32),
                Some(reason)
            )
        );
    }
    // Nothing moved: the unread count and the page are what they were.
    let unread = leo.unread().await;
    assert_eq!(unread.unread.len(), 1);
    assert_eq!(unread.unread[0].n, Some(2));
    assert_eq!(texts(&leo.pull("roy", None).await), ["one", "two"]);
    // The right key drains it.
    assert!(leo.pull("roy", Some(last)).await.metas.is_empty());
    assert!(leo.unread().await.unread.is_empty());
}
