//! The writer hands each batch's answers to a task in the runtime the store was opened in
//! (`writer.rs`, `Answers`). Callers still hear back when there is no such runtime: the store
//! was opened outside any, or that runtime is gone.

#![allow(clippy::unwrap_used)] // a failed step should stop the test loudly

mod support;

use confab_core::store::AppendStore;
use confab_store_embedded::EmbeddedStore;
use support::{seed, store_with_users, text};
use tokio::runtime::{Builder, Runtime};

fn runtime() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_store_whose_runtime_is_gone_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let first = runtime();
    let (store, app) = first.block_on(store_with_users(dir.path()));
    drop(first);
    runtime().block_on(async {
        store.append_message(text(&app, 1)).await.unwrap();
        store.append_message(text(&app, 2)).await.unwrap();
    });
}

#[test]
fn a_store_opened_outside_a_runtime_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    runtime().block_on(async {
        let app = seed(&store).await;
        store.append_message(text(&app, 1)).await.unwrap();
    });
}
