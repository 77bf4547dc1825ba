//! What the store's integration tests share: an app with two users, and Leo's texts to Roy.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)] // each test file uses its own part

use std::path::Path;
use std::time::Duration;

use confab_core::{
    app::{App, NewApp},
    history::single_chat_entries,
    ids::{AppKey, LogId, UserName},
    store::{conformance, AppStore, Audience, EncodeMeta, NewMessage, UserStore},
    user::User,
};
use confab_store_embedded::EmbeddedStore;
use rusqlite::Connection;

pub fn name(text: &str) -> UserName {
    UserName::parse(text).unwrap()
}

pub async fn store_with_users(dir: &Path) -> (EmbeddedStore, AppKey) {
    let store = EmbeddedStore::open(dir).unwrap();
    let app = seed(&store).await;
    (store, app)
}

/// Creates the app `org#history` with the users leo and roy.
pub async fn seed(store: &EmbeddedStore) -> AppKey {
    let app = App::create(
        NewApp {
            key: AppKey::new("org", "history").unwrap(),
            imported: None,
        },
        1,
    )
    .unwrap();
    store.create_app(&app).await.unwrap();
    let users: Vec<User> = ["leo", "roy"].map(conformance::user).into();
    store.create_users(&app.key, &users).await.unwrap();
    app.key
}

/// Leo's text to Roy at `ms` (its id is `ms << 22` when sent in increasing `ms`).
pub fn text(app: &AppKey, ms: u64) -> NewMessage {
    text_with_meta(app, ms, bytes::Bytes::from(format!("meta-{ms}")))
}

pub fn text_with_meta(app: &AppKey, ms: u64, meta: bytes::Bytes) -> NewMessage {
    NewMessage {
        app: app.clone(),
        log: LogId::pair(&name("leo"), &name("roy")),
        audience: Audience::Members,
        sender: name("leo"),
        sender_resource: "web".into(),
        client_id: Some(ms),
        body_digest: 0,
        sent_ms: ms,
        meta: EncodeMeta::new(move |_, _| meta),
        kind: "txt",
        history: single_chat_entries("txt", &name("leo"), &name("roy")),
    }
}

/// Drops a store and waits for its threads to let go of the files.
pub async fn close(store: EmbeddedStore) {
    drop(store);
    tokio::time::sleep(Duration::from_millis(200)).await;
}

pub fn count(database: &Path, sql: &str) -> i64 {
    Connection::open(database)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}
