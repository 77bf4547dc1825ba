//! The shared store conformance suite, on a fresh embedded database.

use std::sync::Arc;

use confab_core::{ids::AppKey, store::AppStore};
use confab_store_embedded::EmbeddedStore;

#[tokio::test]
async fn embedded_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    confab_core::store::conformance::run(store).await;
}

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
