//! The chat database's WAL starts over under steady writes (`checkpoint.rs`). Before, a
//! checkpoint could never catch up with a writer that always had a commit in flight, and the
//! WAL grew without bound: past a gigabyte in a benchmark.

#![allow(clippy::unwrap_used)] // a failed step should stop the test loudly

mod support;

use std::collections::VecDeque;

use bytes::Bytes;
use confab_core::store::{MessageStore, NewMessage};
use support::{store_with_users, text};

#[tokio::test]
async fn the_wal_stays_bounded_while_the_writer_never_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    // 3,000 metas of 96 KiB (~280 MiB of WAL frames) with 32 always in flight, so the writer
    // has the next batch waiting whenever the checkpoint thread copies.
    let meta = Bytes::from(vec![b'x'; 96 << 10]);
    let submit = |ms: u64| {
        store.submit_append(NewMessage {
            meta: meta.clone(),
            ..text(&app, ms)
        })
    };
    let mut in_flight: VecDeque<_> = (1..=32).map(submit).collect();
    let wal = dir.path().join("confab.db-wal");
    let (mut largest, mut last, mut restarts) = (0, 0, 0);
    for ms in 33..=3032 {
        in_flight.pop_front().unwrap().await.unwrap();
        let size = std::fs::metadata(&wal).unwrap().len();
        // Only a restart makes the file shorter (`journal_size_limit` cuts it back).
        restarts += u32::from(size < last);
        (largest, last) = (largest.max(size), size);
        if ms <= 3000 {
            in_flight.push_back(submit(ms));
        }
    }
    // Written at ~250 MiB/s here, so it grows by up to ~60 MiB per 250 ms checkpoint pass
    // before the writer lets it start over; without the restarts it would end past 280 MiB.
    assert!(restarts >= 1, "the WAL never started over");
    assert!(largest < 220 << 20, "the WAL grew to {} MiB", largest >> 20);
}
