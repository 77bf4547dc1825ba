//! App settings the writer keeps in memory hold after a restart: it reads them at open.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test loudly

mod support;

use confab_core::{
    app::AppSettings,
    store::{AppStore, AppendStore, Appended},
};
use confab_store_embedded::EmbeddedStore;
use support::{close, name, store_with_users, text};

#[tokio::test]
async fn contacts_only_holds_after_a_restart_and_its_end_too() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    let only_contacts = AppSettings {
        contacts_only: true,
    };
    assert!(store
        .update_app_settings(&app, &only_contacts)
        .await
        .unwrap());
    close(store).await;

    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(
        store.append_message(text(&app, 1000)).await.unwrap(),
        Appended::NotContact(name("roy"))
    );
    store
        .update_app_settings(&app, &AppSettings::default())
        .await
        .unwrap();
    close(store).await;

    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert!(matches!(
        store.append_message(text(&app, 2000)).await.unwrap(),
        Appended::Stored { .. }
    ));
    close(store).await;
}
