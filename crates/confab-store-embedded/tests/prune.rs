//! What every device has read leaves `log_entries` as cursors pass it (`logs::prune`), also
//! while the sender's own device, which never reads its own sends, stays at the start.

#![allow(clippy::unwrap_used)] // a failed step should stop the test loudly

mod support;

use confab_core::{
    ids::{LogId, MessageId},
    store::{AppendStore, Device, DeviceStore, LogStore, Pulled},
};
use support::{close, count, name, store_with_users, text};

const SENT: u64 = 1000;

#[tokio::test]
async fn entries_every_device_has_read_leave_the_log_while_the_sender_stays_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    let leo = Device {
        user: name("leo"),
        resource: "web".into(),
    };
    let roy = Device {
        user: name("roy"),
        resource: "phone".into(),
    };
    store.device_seen(&app, &leo, 1).await.unwrap();
    store.device_seen(&app, &roy, 1).await.unwrap();
    for ms in 1..=SENT {
        store.submit_append(text(&app, ms)).await.unwrap();
    }
    let database = dir.path().join("confab.db");
    let entries = || count(&database, "SELECT COUNT(*) FROM log_entries");
    assert_eq!(entries(), SENT as i64);

    // Roy drains in pages of 100, each pull acknowledging the page before it.
    let log = LogId::pair(&name("leo"), &name("roy"));
    let (mut key, mut received) = (None::<MessageId>, 0);
    loop {
        let Pulled::Page(page) = store.submit_pull(&app, &roy, &log, key, 100).await.unwrap()
        else {
            panic!("a key from the page before is within the log");
        };
        let Some(last) = page.last() else { break };
        received += page.len();
        key = Some(last.id);
    }
    assert_eq!(received, SENT as usize);

    // Leo's device never read a thing, yet nothing is left for it: every entry is its own.
    // Up to a few pages stay between two prunes (one every few cursor moves).
    let left = entries();
    assert!(
        left <= 400,
        "{left} of {SENT} entries left after every device read them"
    );
    close(store).await;
}
