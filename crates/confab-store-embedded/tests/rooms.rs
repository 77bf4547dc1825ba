//! What the embedded store does with rooms beyond the shared suite: a room's log is kept for
//! history only (no entry, list row or cursor per message; an entry that got in anyway leaves
//! at the retention cutoff, never at a prune), a deleted user leaves their rooms, and rooms
//! list by id as a number whatever its leading zeros.

#![allow(clippy::unwrap_used)] // a test: a failed step should stop it loudly

mod support;

use confab_core::{
    ids::{AppKey, LogId, QueueName, RoomId, UserName},
    store::{
        AppendStore, AttributeLimits, Audience, EncodeMeta, HistoryEntry, LogStore, NewMessage,
        Room, RoomOutcome, RoomQuota, RoomSettings, RoomStore, UserStore,
    },
};
use confab_store_embedded::EmbeddedStore;
use support::{count, name, store_with_users};

fn room(id: &str, owner: &str) -> Room {
    Room {
        id: RoomId::parse(id).unwrap(),
        owner: name(owner),
        settings: RoomSettings {
            name: "room".into(),
            description: String::new(),
            max_users: 100,
            custom: String::new(),
        },
        created_ms: 100,
        member_count: 0,
        mute_all: false,
        announcement: String::new(),
    }
}

async fn create(store: &EmbeddedStore, app: &AppKey, id: &str, owner: &str, members: &[&str]) {
    let members: Vec<UserName> = members.iter().map(|text| name(text)).collect();
    let created = store
        .create_room(app, &room(id, owner), &members, RoomQuota::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(created, RoomOutcome::Done(()));
}

/// Leo's message to room `id` at `sent_ms`, for `audience`.
fn room_message(app: &AppKey, id: &str, sent_ms: u64, audience: Audience) -> NewMessage {
    let room = RoomId::parse(id).unwrap();
    NewMessage {
        app: app.clone(),
        log: LogId::Room(room.clone()),
        audience,
        sender: name("leo"),
        sender_resource: "web".into(),
        client_id: Some(sent_ms),
        body_digest: 0,
        sent_ms,
        meta: EncodeMeta::new(|_, _| bytes::Bytes::from_static(b"hello")),
        kind: "txt",
        history: vec![HistoryEntry {
            owner: UserName::group_history(),
            conversation: QueueName::room(&room),
        }],
    }
}

#[tokio::test]
async fn a_room_message_writes_its_message_and_nothing_any_reader_follows() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    create(&store, &app, "501", "leo", &["roy"]).await;
    for ms in [1000, 2000] {
        store
            .append_message(room_message(&app, "501", ms, Audience::Nobody))
            .await
            .unwrap();
    }
    let database = dir.path().join("confab.db");
    let rows = |table: &str| count(&database, &format!("SELECT COUNT(*) FROM {table}"));
    assert_eq!(
        ["messages", "log_entries", "conversations", "cursors"].map(|table| (table, rows(table))),
        [
            ("messages", 2),
            ("log_entries", 0),
            ("conversations", 0),
            ("cursors", 0)
        ]
    );
    assert_eq!(
        count(&database, "SELECT COUNT(*) FROM messages WHERE log IS NULL"),
        2
    );
}

#[tokio::test]
async fn a_room_log_entry_leaves_at_the_retention_cutoff_only() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    create(&store, &app, "502", "leo", &["roy"]).await;
    // Not how rooms send (`Audience::Nobody`), but a room log with entries must not lose
    // them to a prune, which finds no reader of it.
    for ms in [1000, 2000] {
        store
            .append_message(room_message(&app, "502", ms, Audience::Members))
            .await
            .unwrap();
    }
    let entries = || {
        count(
            &dir.path().join("confab.db"),
            "SELECT COUNT(*) FROM log_entries WHERE log = 'r:502'",
        )
    };
    assert_eq!(entries(), 2);
    store.reclaim(500, 100).await.unwrap();
    assert_eq!(entries(), 2);
    store.reclaim(1500, 100).await.unwrap();
    assert_eq!(entries(), 1);
    store.reclaim(2500, 100).await.unwrap();
    assert_eq!(entries(), 0);
}

#[tokio::test]
async fn a_deleted_user_leaves_their_rooms_with_their_auto_delete_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    let id = RoomId::parse("503").unwrap();
    create(&store, &app, "503", "leo", &["roy"]).await;
    let limits = AttributeLimits {
        max_count: 10,
        max_key_bytes: 16,
        max_value_bytes: 16,
    };
    for (key, auto_delete) in [("goes", true), ("stays", false)] {
        let attribute = [(key.to_owned(), "v".to_owned())];
        store
            .set_room_attributes(
                &app,
                &id,
                &name("roy"),
                &attribute,
                (false, auto_delete),
                limits,
            )
            .await
            .unwrap();
    }
    store
        .change_room_allowlist(&app, &id, &[name("roy")], true)
        .await
        .unwrap();

    store.delete_user(&app, &name("roy")).await.unwrap();
    let after = store.room(&app, &id).await.unwrap().unwrap();
    assert_eq!(after.member_count, 1);
    assert_eq!(
        store.room_member_names(&app, &id).await.unwrap(),
        [name("leo")]
    );
    let keys: Vec<String> = store
        .room_attributes(&app, &id, &[])
        .await
        .unwrap()
        .into_iter()
        .map(|attribute| attribute.key)
        .collect();
    assert_eq!(keys, ["stays"]);
    assert!(store.room_allowlist(&app, &id).await.unwrap().is_empty());

    // The owner too leaves; the room stays theirs, empty.
    store.delete_user(&app, &name("leo")).await.unwrap();
    let after = store.room(&app, &id).await.unwrap().unwrap();
    assert_eq!((after.owner, after.member_count), (name("leo"), 0));
    assert!(store.room_member_names(&app, &id).await.unwrap().is_empty());
}

#[tokio::test]
async fn rooms_list_by_number_whatever_their_leading_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    for id in [
        "10",
        "007",
        "8",
        "18446744073709551616",
        "99999999999999999999",
    ] {
        create(&store, &app, id, "leo", &[]).await;
    }
    let (rooms, total) = store.list_rooms(&app, 0, 10).await.unwrap();
    let ids: Vec<&str> = rooms.iter().map(|room| room.id.as_str()).collect();
    assert_eq!(
        (ids, total),
        (
            vec![
                "007",
                "8",
                "10",
                "18446744073709551616",
                "99999999999999999999"
            ],
            5
        )
    );
    // Latest joined first, then the larger number.
    let joined: Vec<String> = store
        .joined_rooms(&app, &name("leo"), 0, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|room| room.id.to_string())
        .collect();
    assert_eq!(joined, ["99999999999999999999", "18446744073709551616"]);
}
