//! The appends of one batch write each conversation row once (`logs::RowChanges`): a backlog
//! queued at once must still count every message.

#![allow(clippy::unwrap_used)] // a failed step should stop the test loudly

mod support;

use confab_core::store::{AppendStore, Appended};
use support::{close, count, store_with_users, text};

const BACKLOG: u64 = 300;

#[tokio::test]
async fn a_backlog_queued_at_once_counts_every_message_in_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    // Queued before the first is awaited: the writer takes them in a few batches.
    let pending: Vec<_> = (1..=BACKLOG)
        .map(|ms| store.submit_append(text(&app, ms)))
        .collect();
    let mut last = 0;
    for appended in pending {
        match appended.await.unwrap() {
            Appended::Stored { id, .. } => last = last.max(id.0 as i64),
            other => panic!("not stored: {other:?}"),
        }
    }
    let database = dir.path().join("confab.db");
    let row = |owner: &str, column: &str| {
        count(
            &database,
            &format!("SELECT {column} FROM conversations WHERE owner = '{owner}'"),
        )
    };
    assert_eq!(row("roy", "unread"), BACKLOG as i64);
    assert_eq!(row("leo", "unread"), 0);
    for owner in ["roy", "leo"] {
        assert_eq!(
            row(owner, "last_id"),
            last,
            "{owner}'s view ends at the last"
        );
        assert_eq!(
            row(owner, "last_message_id"),
            last,
            "{owner}'s list shows the last"
        );
    }
    close(store).await;
}
