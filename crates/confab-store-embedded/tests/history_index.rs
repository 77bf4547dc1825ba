//! History rows live in `history.db`, indexed behind the writer from `history_log`
//! (`history_index.rs`): what a store from before holds is adopted, a restart loses nothing,
//! and the writer drops the log rows once they are indexed.

#![allow(clippy::unwrap_used)] // test helpers: a failed step should stop the test loudly

use std::time::Duration;

mod support;

use confab_core::{
    ids::{AppKey, QueueName},
    store::{AppendStore, HistoryQuery, LogStore},
};
use confab_store_embedded::EmbeddedStore;
use rusqlite::Connection;
use support::{close, count, name, store_with_users, text};

/// Every id (as its ms) in `owner`'s history with the other party, oldest first.
async fn history(store: &EmbeddedStore, app: &AppKey, owner: &str) -> Vec<u64> {
    let peer = if owner == "leo" { "roy" } else { "leo" };
    let query = HistoryQuery {
        conversation: QueueName::single_chat(&name(peer)),
        cursor: None,
        newest_first: false,
        limit: 100_000,
        from: None,
        kinds: Vec::new(),
        start_ms: None,
        end_ms: None,
    };
    let page = store.history_page(app, &name(owner), &query).await.unwrap();
    page.into_iter().map(|message| message.id.0 >> 22).collect()
}

#[tokio::test]
async fn history_written_just_before_a_restart_is_there_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    for ms in 1..=300 {
        store.append_message(text(&app, ms)).await.unwrap();
    }
    // No read asked for a catch-up: the index may be behind when the store goes.
    close(store).await;
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let expected: Vec<u64> = (1..=300).collect();
    assert_eq!(history(&store, &app, "roy").await, expected);
    assert_eq!(history(&store, &app, "leo").await, expected);
}

#[tokio::test]
async fn the_writer_drops_log_rows_once_they_are_indexed_and_synced() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    // Submitted at once, so they commit in batches.
    let appends: Vec<_> = (1..=5000)
        .map(|ms| store.submit_append(text(&app, ms)))
        .collect();
    for appended in appends {
        appended.await.unwrap();
    }
    let database = dir.path().join("confab.db");
    assert_eq!(count(&database, "SELECT COUNT(*) FROM history_log"), 5000);
    // The index syncs about once a second; the next batch after that drops what it covers.
    let (mut logged, mut last) = (5000, 5000);
    while logged >= 1000 && last < 5100 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        last += 1;
        store.append_message(text(&app, last)).await.unwrap();
        logged = count(&database, "SELECT COUNT(*) FROM history_log");
    }
    assert!(logged < 1000, "{logged} log rows left");
    assert!(history(&store, &app, "roy").await.into_iter().eq(1..=last));
    // Row numbers go on after the rows dropped, so a restart indexes only what is new.
    close(store).await;
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store.append_message(text(&app, 6000)).await.unwrap();
    let leo = history(&store, &app, "leo").await;
    assert!(leo.into_iter().eq((1..=last).chain([6000])));
}

#[tokio::test]
async fn history_of_a_store_from_before_the_index_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    for ms in 1..=3 {
        store.append_message(text(&app, ms)).await.unwrap();
    }
    assert_eq!(history(&store, &app, "roy").await, [1, 2, 3]);
    close(store).await;
    // Put the rows back where a store from before kept them: merged ones and staged ones.
    let history_file = dir.path().join("history.db");
    let main = Connection::open(dir.path().join("confab.db")).unwrap();
    main.execute(
        "ATTACH DATABASE ?1 AS old",
        [history_file.to_string_lossy()],
    )
    .unwrap();
    main.execute_batch(
        "CREATE TABLE conversation_messages (
             app_key TEXT NOT NULL, owner TEXT NOT NULL, conversation TEXT NOT NULL,
             message_id INTEGER NOT NULL,
             PRIMARY KEY (app_key, owner, conversation, message_id)) WITHOUT ROWID;
         CREATE TABLE history_staged (
             app_key TEXT NOT NULL, owner TEXT NOT NULL, conversation TEXT NOT NULL,
             message_id INTEGER NOT NULL);
         INSERT INTO conversation_messages
             SELECT * FROM old.conversation_messages WHERE message_id < 3 << 22;
         INSERT INTO history_staged
             SELECT * FROM old.conversation_messages WHERE message_id = 3 << 22;
         DELETE FROM history_log;",
    )
    .unwrap();
    main.execute_batch("DETACH DATABASE old").unwrap();
    drop(main);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("history.db{suffix}")));
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(history(&store, &app, "roy").await, [1, 2, 3]);
    assert_eq!(history(&store, &app, "leo").await, [1, 2, 3]);
    let legacy = count(
        &dir.path().join("confab.db"),
        "SELECT COUNT(*) FROM sqlite_master
         WHERE name IN ('conversation_messages', 'history_staged')",
    );
    assert_eq!(legacy, 0, "the old tables are dropped");
}
