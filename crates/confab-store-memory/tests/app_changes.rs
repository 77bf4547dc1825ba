//! Two nodes' `Services` on one store and one bus, as two nodes of a cluster would be: an app
//! rotated through one is seen rotated by the other (`Event::AppChanged` drops its cached
//! copy), so a rotated-out client secret stops working everywhere.

use std::sync::Arc;

use confab_core::{
    app::NewApp,
    bus::{InProcessBus, SessionRegistry},
    ids::AppKey,
    presence::LocalPresence,
    services::{Limits, Services},
    Error,
};
use confab_store_memory::MemoryStore;

async fn node(
    store: &Arc<MemoryStore>,
    bus: &Arc<InProcessBus>,
    registry: &Arc<SessionRegistry>,
    node: u16,
) -> Services {
    Services::start(
        store.clone(),
        bus.clone(),
        Arc::new(LocalPresence::new(registry.clone())),
        node,
        Limits::default(),
    )
    .await
    .expect("start")
}

#[tokio::test]
async fn a_rotation_through_one_service_is_seen_by_the_other() {
    let store = Arc::new(MemoryStore::new());
    let registry = Arc::new(SessionRegistry::new(0));
    let bus = Arc::new(InProcessBus::new(registry.clone()));
    let (first, second) = (
        node(&store, &bus, &registry, 1).await,
        node(&store, &bus, &registry, 2).await,
    );
    let key = AppKey::parse("org#rotated").unwrap();
    first
        .apps
        .create_app(NewApp {
            key: key.clone(),
            imported: None,
        })
        .await
        .unwrap();
    // The second node reads the app once and caches it.
    let before = second.apps.app(&key).await.unwrap();
    let old_secret = before.client_secret.expose().to_owned();
    assert!(second
        .accounts
        .client_credentials_grant(&before, &before.client_id, &old_secret, None)
        .is_ok());

    let rotated = first.apps.rotate_client_secret(&key).await.unwrap();
    assert_ne!(rotated.client_secret.expose(), old_secret);
    let seen = second.apps.app(&key).await.unwrap();
    assert_eq!(seen.client_secret.expose(), rotated.client_secret.expose());
    assert!(matches!(
        second
            .accounts
            .client_credentials_grant(&seen, &seen.client_id, &old_secret, None),
        Err(Error::BadClientCredentials)
    ));

    // And the certificate: the second node signs with the new one at once.
    let rotated = first.apps.rotate_certificate(&key, 0).await.unwrap();
    let seen = second.apps.app(&key).await.unwrap();
    assert_eq!(seen.signing_certificate(), rotated.signing_certificate());
}
