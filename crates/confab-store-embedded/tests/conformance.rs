//! The shared store conformance suite, on a fresh embedded database.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test loudly

use std::sync::Arc;

use confab_core::{ids::AppKey, store::AppStore};
use confab_store_embedded::EmbeddedStore;

async fn fresh_store() -> (Arc<EmbeddedStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    (store, dir)
}

confab_core::store_conformance_tests!(fresh_store);

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let key = AppKey::parse("org#reopen").unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let app = confab_core::app::App::create(
            confab_core::app::NewApp {
                key: key.clone(),
                imported: None,
            },
            1,
        )
        .unwrap();
        store.create_app(&app).await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert!(store.app_by_key(&key).await.unwrap().is_some());
}
