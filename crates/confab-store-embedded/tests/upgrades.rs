//! Stores written by earlier releases open with what they held: waiting queue entries become
//! unread log entries (migration 10, then `log_entries` in 12), and the conversation list's
//! rows are filled from history (migration 11).

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test loudly

mod support;

use confab_core::{
    ids::{LogId, MessageId, QueueName},
    store::{
        AppendStore, ConversationFilter, ConversationQuery, ConversationStore, Device, DeviceStore,
        LogStore, Pulled,
    },
};
use confab_store_embedded::EmbeddedStore;
use rusqlite::Connection;
use support::{close, name, store_with_users, text};

fn device(user: &str) -> Device {
    Device {
        user: name(user),
        resource: "phone".into(),
    }
}

fn whole_list() -> ConversationQuery {
    ConversationQuery {
        filter: ConversationFilter::All,
        after: None,
        limit: 100,
    }
}

/// Drops what the migrations after version 12 made, so a test can set an older version and
/// have them made again.
const TABLES_AFTER_12: &str = "DROP TABLE contacts;
    DROP TABLE contact_requests;
    DROP TABLE blocks;
    DROP TABLE user_attributes;
    DROP TABLE reports;
    DROP TABLE notification_settings;
    DROP TABLE push_languages;
    DROP TABLE push_tokens;
    DROP TABLE presence_users;
    DROP TABLE presence_devices;
    DROP TABLE presence_subscriptions;
    ALTER TABLE apps DROP COLUMN contacts_only;
    DROP TABLE groups;
    DROP TABLE group_members;
    DROP TABLE group_blocks;
    DROP TABLE group_allowlist;
    DROP TABLE group_requests;
    DROP TABLE group_message_reads;
    DROP TABLE group_member_attributes;
    DROP TABLE group_files;
    DROP TABLE rooms;
    DROP TABLE room_members;
    DROP TABLE room_blocks;
    DROP TABLE room_allowlist;
    DROP TABLE room_attributes;
    DROP TABLE threads;
    DROP TABLE thread_members;
    DROP TABLE room_files;
";

#[tokio::test]
async fn the_list_rows_of_an_older_store_are_filled_from_history() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    for ms in [1000, 2000, 3000] {
        store.append_message(text(&app, ms)).await.unwrap();
    }
    close(store).await;
    // As a release before the list rows left it.
    Connection::open(dir.path().join("confab.db"))
        .unwrap()
        .execute_batch(
            &(TABLES_AFTER_12.to_owned()
                + "ALTER TABLE conversations DROP COLUMN version;
             ALTER TABLE conversations DROP COLUMN unread;
             ALTER TABLE conversations DROP COLUMN last_message_id;
             DROP TABLE log_entries;
             CREATE INDEX messages_by_log ON messages (app_key, log, id) WHERE log IS NOT NULL;
             PRAGMA user_version = 10;"),
        )
        .unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let roys = store
        .conversations(&app, &name("roy"), &whole_list())
        .await
        .unwrap();
    assert_eq!(roys.len(), 1);
    assert_eq!(
        (roys[0].last.id, roys[0].unread),
        (MessageId(3000 << 22), 3)
    );
    let leos = store
        .conversations(&app, &name("leo"), &whole_list())
        .await
        .unwrap();
    assert_eq!(
        (leos[0].last.id, leos[0].unread),
        (MessageId(3000 << 22), 0)
    );
}

#[tokio::test]
async fn waiting_queue_entries_become_unread_log_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    close(store).await;
    // As a release with per-user queues left it: two messages from leo waiting for roy, one
    // already acknowledged.
    let database = Connection::open(dir.path().join("confab.db")).unwrap();
    database
        .execute_batch(
            &(TABLES_AFTER_12.to_owned()
                + "ALTER TABLE conversations DROP COLUMN version;
             ALTER TABLE conversations DROP COLUMN unread;
             ALTER TABLE conversations DROP COLUMN last_message_id;
             ALTER TABLE conversations DROP COLUMN cleared_up_to;
             ALTER TABLE conversations DROP COLUMN last_id;
             ALTER TABLE conversations DROP COLUMN log;
             DROP TABLE log_entries;
             ALTER TABLE messages DROP COLUMN audience;
             ALTER TABLE messages DROP COLUMN log;
             DROP TABLE cursors;
             DROP TABLE devices;
             CREATE TABLE queue_entries (
                 app_key    TEXT NOT NULL,
                 owner      TEXT NOT NULL,
                 queue      TEXT NOT NULL,
                 message_id INTEGER NOT NULL,
                 PRIMARY KEY (app_key, owner, queue, message_id)
             ) WITHOUT ROWID;
             PRAGMA user_version = 9;"),
        )
        .unwrap();
    for (ms, waiting) in [(1000_i64, false), (2000, true), (3000, true)] {
        let id = ms << 22;
        database
            .execute(
                "INSERT INTO messages (id, app_key, sender, sender_resource, client_id, meta, kind)
                 VALUES (?1, ?2, 'leo', 'web', ?3, ?4, 'txt')",
                rusqlite::params![id, app.as_str(), ms, format!("meta-{ms}").into_bytes()],
            )
            .unwrap();
        if waiting {
            database
                .execute(
                    "INSERT INTO queue_entries VALUES (?1, 'roy', 'leo@easemob.com', ?2)",
                    rusqlite::params![app.as_str(), id],
                )
                .unwrap();
        }
    }
    drop(database);
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let roy = device("roy");
    store.device_seen(&app, &roy, 1).await.unwrap();
    let counts = store.unread_counts(&app, &roy).await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (counts[0].log.view_of(&name("roy")), counts[0].count),
        (Some(QueueName::single_chat(&name("leo"))), 2)
    );
    let log = LogId::pair(&name("leo"), &name("roy"));
    let Pulled::Page(page) = store.submit_pull(&app, &roy, &log, None, 10).await.unwrap() else {
        panic!("a page");
    };
    let ids: Vec<MessageId> = page.iter().map(|message| message.id).collect();
    assert_eq!(ids, [MessageId(2000 << 22), MessageId(3000 << 22)]);
    // They waited for roy alone: leo's devices have nothing new.
    let leo = device("leo");
    store.device_seen(&app, &leo, 1).await.unwrap();
    assert!(store.unread_counts(&app, &leo).await.unwrap().is_empty());
    // New messages go on after them, in the same log.
    store.append_message(text(&app, 4000)).await.unwrap();
    let key = Some(MessageId(3000 << 22));
    let Pulled::Page(page) = store.submit_pull(&app, &roy, &log, key, 10).await.unwrap() else {
        panic!("a page");
    };
    assert_eq!(page.len(), 1);
}
