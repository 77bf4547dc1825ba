//! The chat database's WAL starts over under steady writes (`checkpoint.rs`). Before, a
//! checkpoint could never catch up with a writer that always had a commit in flight, and the
//! WAL grew without bound: past a gigabyte in a benchmark.

#![allow(clippy::unwrap_used)] // a failed step should stop the test loudly

mod support;

use std::collections::VecDeque;

use bytes::Bytes;
use confab_core::store::AppendStore;
use support::{store_with_users, text_with_meta};

#[tokio::test]
async fn the_wal_starts_over_again_and_again_while_the_writer_never_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    // Metas of 96 KiB with 32 always in flight, so the writer has the next batch waiting
    // whenever the checkpoint thread copies. How far the WAL grows between two restarts
    // depends on the disk's speed (110–340 MiB at ~450 MiB/s here), so the test counts restarts:
    // without them, the file only grows.
    let meta = Bytes::from(vec![b'x'; 96 << 10]);
    let submit = |ms: u64| store.submit_append(text_with_meta(&app, ms, meta.clone()));
    const MOST: u64 = 12_000; // ~1.1 GiB of frames; stops at the third restart
    let mut in_flight: VecDeque<_> = (1..=32).map(submit).collect();
    let wal = dir.path().join("confab.db-wal");
    let (mut last, mut restarts, mut next) = (0, 0, 33);
    while let Some(appended) = in_flight.pop_front() {
        appended.await.unwrap();
        let size = std::fs::metadata(&wal).unwrap().len();
        // Only a restart makes the file shorter (`journal_size_limit` cuts it back).
        restarts += u32::from(size < last);
        last = size;
        if restarts < 3 && next <= MOST {
            in_flight.push_back(submit(next));
            next += 1;
        }
    }
    assert!(
        restarts >= 3,
        "the WAL started over {restarts} times in {} appends",
        next - 1
    );
}
