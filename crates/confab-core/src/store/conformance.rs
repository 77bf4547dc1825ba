//! One behaviour suite for every `Store` backend: enable the `conformance` feature and call
//! `store_conformance_tests!` from the backend's tests, which makes one test per case, each
//! on a fresh store.

#![allow(clippy::unwrap_used)] // test support: a failed step should stop the suite loudly

use crate::{
    admin::{Admin, AdminSession},
    app::{App, NewApp, Secret},
    ids::{AppKey, MessageId, QueueName, UserName},
    store::{
        AppendEffect, Appended, ConversationChange, DayCount, HistoryQuery, NewMessage, QueueEntry,
        Store, StoreError,
    },
    user::User,
};

/// Declares one `#[tokio::test]` per case of the suite, in a module `store_conformance`, each
/// on a fresh store: `$fresh` is an async function returning `(store, guard)`, the guard kept
/// alive for the test (a temporary directory, say). A backend's tests call it once:
///
/// ```ignore
/// async fn fresh() -> (Arc<EmbeddedStore>, TempDir) { … }
/// confab_core::store_conformance_tests!(fresh);
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:ident) => {
        $crate::store_conformance_tests!(@cases $fresh;
            apps,
            users,
            messages,
            deleting_a_user_drops_their_queues,
            credential_rotation,
            user_listing_and_activation,
            daily_message_counts,
            only_one_first_admin,
            admins_and_sessions,
            history_and_conversations,
            recall_edit_and_read_markers,
            a_drained_queue_follows_every_change,
            health_checks_write
        );
    };
    (@cases $fresh:ident; $($case:ident),+ $(,)?) => {
        mod store_conformance {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _guard) = super::$fresh().await;
                    $crate::store::conformance::$case(&*store).await;
                }
            )+
        }
    };
}

pub async fn health_checks_write(store: &dyn Store) {
    store.record_health_check(1).await.unwrap();
    store.record_health_check(2).await.unwrap();
}

fn app(org: &str, name: &str) -> App {
    App::create(
        NewApp {
            key: AppKey::new(org, name).expect("valid key"),
            imported: None,
        },
        1,
    )
    .expect("app")
}

/// A user as the suite creates them (other stores' own tests use it too).
pub fn user(name: &str) -> User {
    User {
        name: UserName::parse(name).expect("valid name"),
        uuid: format!("uuid-{name}"),
        password_hash: "hash".into(),
        nickname: String::new(),
        activated: true,
        created_ms: 1,
        modified_ms: 1,
        tokens_issued_from: 1_700_000_000,
    }
}

fn name(text: &str) -> UserName {
    UserName::parse(text).expect("valid name")
}

pub async fn apps(store: &dyn Store) {
    let first = app("conf", "apps");
    store.create_app(&first).await.expect("create app");
    assert!(matches!(
        store.create_app(&first).await,
        Err(StoreError::Duplicate(_))
    ));
    let mut with_secondary = app("conf", "apps2");
    with_secondary
        .certificates
        .push(Secret::new("0123456789abcdef0123456789abcdef".into()));
    store.create_app(&with_secondary).await.expect("create app");
    assert_eq!(
        store.app_by_key(&first.key).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.app_by_app_id(&with_secondary.app_id).await.unwrap(),
        Some(with_secondary.clone())
    );
    assert_eq!(store.app_by_app_id("nope").await.unwrap(), None);
    let keys: Vec<AppKey> = store
        .list_apps()
        .await
        .unwrap()
        .into_iter()
        .map(|app| app.key)
        .collect();
    assert!(keys.contains(&first.key) && keys.contains(&with_secondary.key));
}

pub async fn users(store: &dyn Store) {
    let app = app("conf", "users");
    store.create_app(&app).await.unwrap();
    store
        .create_users(&app.key, &[user("leo"), user("roy")])
        .await
        .expect("create users");
    // All or nothing: "amy" must not exist after the batch fails on "leo".
    assert!(matches!(
        store.create_users(&app.key, &[user("amy"), user("leo")]).await,
        Err(StoreError::Duplicate(name)) if name == "leo"
    ));
    assert_eq!(store.user(&app.key, &name("amy")).await.unwrap(), None);
    assert_eq!(
        store.user(&app.key, &name("leo")).await.unwrap(),
        Some(user("leo"))
    );
    // Users are per app.
    let other = AppKey::new("conf", "other").unwrap();
    assert_eq!(store.user(&other, &name("leo")).await.unwrap(), None);

    assert!(store
        .update_password(&app.key, &name("leo"), "new-hash", 1_800_000_000, 9)
        .await
        .unwrap());
    let updated = store.user(&app.key, &name("leo")).await.unwrap().unwrap();
    assert_eq!(
        (
            updated.password_hash.as_str(),
            updated.tokens_issued_from,
            updated.modified_ms
        ),
        ("new-hash", 1_800_000_000, 9)
    );
    // A second change in the same second still moves the bound past every token dated
    // before it; an earlier value never moves it back.
    for (given, stored) in [(1_800_000_000, 1_800_000_001), (5, 1_800_000_002)] {
        assert!(store
            .update_password(&app.key, &name("leo"), "new-hash", given, 10)
            .await
            .unwrap());
        let updated = store.user(&app.key, &name("leo")).await.unwrap().unwrap();
        assert_eq!(updated.tokens_issued_from, stored);
    }
    assert!(store
        .update_password(&app.key, &name("leo"), "new-hash", u32::MAX, 11)
        .await
        .unwrap());
    assert!(store
        .update_password(&app.key, &name("leo"), "new-hash", u32::MAX, 12)
        .await
        .unwrap());
    let updated = store.user(&app.key, &name("leo")).await.unwrap().unwrap();
    assert_eq!(updated.tokens_issued_from, u32::MAX);
    assert!(!store
        .update_password(&app.key, &name("ghost"), "x", 1, 1)
        .await
        .unwrap());
    assert_eq!(
        store.delete_user(&app.key, &name("roy")).await.unwrap(),
        Some(user("roy"))
    );
    assert_eq!(
        store.delete_user(&app.key, &name("roy")).await.unwrap(),
        None
    );
}

/// Where `message(…, "roy")` is queued.
fn roys_queue() -> Vec<QueueEntry> {
    vec![QueueEntry {
        owner: name("roy"),
        queue: QueueName::single_chat(&name("leo")),
    }]
}

fn message(app: &AppKey, id: u64, client_id: u64, to: &str) -> NewMessage {
    NewMessage {
        app: app.clone(),
        id: MessageId(id),
        sender: name("leo"),
        sender_resource: "web".into(),
        client_id,
        body_digest: 0,
        meta: bytes::Bytes::from(format!("meta-{id}")),
        deliveries: vec![QueueEntry {
            owner: name(to),
            queue: QueueName::single_chat(&name("leo")),
        }],
        kind: "",
        history: Vec::new(),
    }
}

pub async fn messages(store: &dyn Store) {
    let messages_app = self::app("conf", "messages");
    store.create_app(&messages_app).await.unwrap();
    store
        .create_users(&messages_app.key, &[user("roy")])
        .await
        .unwrap();
    let app = messages_app.key;
    let queue = QueueName::single_chat(&name("leo"));
    let roy = name("roy");

    // A recipient that does not exist: refused, and nothing is written.
    assert_eq!(
        store
            .append_message(message(&app, 50, 50, "nobody"))
            .await
            .unwrap(),
        Appended::UnknownRecipient(name("nobody"))
    );
    assert!(store
        .unread_counts(&app, &name("nobody"))
        .await
        .unwrap()
        .is_empty());
    for (id, client_id) in [(100, 1), (200, 2), (300, 3)] {
        assert_eq!(
            store
                .append_message(message(&app, id, client_id, "roy"))
                .await
                .unwrap(),
            Appended::Stored
        );
    }
    // A resend of client id 2 from the same resource is answered with the stored id.
    assert_eq!(
        store
            .append_message(message(&app, 400, 2, "roy"))
            .await
            .unwrap(),
        Appended::Duplicate(MessageId(200))
    );
    // Another body under client id 2 is another message (the SDK reuses ids, see `body_digest`).
    let mut other_body = message(&app, 250, 2, "roy");
    other_body.body_digest = 1;
    assert_eq!(
        store.append_message(other_body).await.unwrap(),
        Appended::Stored
    );
    assert!(store.max_message_id().await.unwrap() >= MessageId(300));

    let counts = store.unread_counts(&app, &roy).await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (counts[0].queue.clone(), counts[0].count),
        (queue.clone(), 4)
    );

    let page = store
        .queue_page(&app, &roy, &queue, MessageId(0), 2)
        .await
        .unwrap();
    let ids: Vec<u64> = page.iter().map(|m| m.id.0).collect();
    assert_eq!(ids, vec![100, 200]);
    assert_eq!(page[0].meta, bytes::Bytes::from("meta-100"));

    store
        .ack_queue(&app, &roy, &queue, MessageId(200))
        .await
        .unwrap();
    let rest = store
        .queue_page(&app, &roy, &queue, MessageId(0), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        vec![250, 300]
    );
    store
        .ack_queue(&app, &roy, &queue, MessageId(300))
        .await
        .unwrap();
    assert!(store.unread_counts(&app, &roy).await.unwrap().is_empty());

    // Concurrent appends all land, each exactly once.
    let store_ref = store;
    let mut pending = Vec::new();
    for i in 0..50u64 {
        pending.push(store_ref.append_message(message(&app, 1000 + i, 1000 + i, "roy")));
    }
    for result in futures_join_all(pending).await {
        assert_eq!(result.unwrap(), Appended::Stored);
    }
    let page = store
        .queue_page(&app, &roy, &queue, MessageId(0), 100)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        (1000..1050).collect::<Vec<_>>()
    );

    // Submissions apply in call order: an ack submitted right after an append, before the
    // append is awaited, removes it.
    let appended = store.submit_append(message(&app, 2000, 2000, "roy"));
    let acked = store.submit_ack(&app, &roy, &queue, MessageId(2000));
    assert_eq!(appended.await.unwrap(), Appended::Stored);
    acked.await.unwrap();
    assert!(store.unread_counts(&app, &roy).await.unwrap().is_empty());
}

/// The changes receipts commit with their own message (`submit_append_with`).
pub async fn recall_edit_and_read_markers(store: &dyn Store) {
    let receipts_app = self::app("conf", "receipts");
    store.create_app(&receipts_app).await.unwrap();
    store
        .create_users(&receipts_app.key, &[user("roy")])
        .await
        .unwrap();
    let app = receipts_app.key;
    let roy = name("roy");
    let queue = QueueName::single_chat(&name("leo"));
    // Message ids are unique across apps: keep clear of the other cases'.
    const BASE: u64 = 77_000;
    let append_with = |id: u64, client_id: u64, effect: AppendEffect| {
        store.submit_append_with(message(&app, BASE + id, client_id, "roy"), effect)
    };
    for id in [100, 200] {
        assert_eq!(
            append_with(id, id, AppendEffect::None).await.unwrap(),
            Appended::Stored
        );
    }
    let stored = store
        .stored_message(&app, MessageId(BASE + 100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.sender, name("leo"));
    assert_eq!(
        stored.meta,
        bytes::Bytes::from(format!("meta-{}", BASE + 100))
    );
    assert!(!stored.recalled);
    assert!(store
        .stored_message(&app, MessageId(BASE + 999))
        .await
        .unwrap()
        .is_none());

    // An edit replaces the target's stored meta.
    let edit = AppendEffect::Edit {
        target: MessageId(BASE + 100),
        meta: bytes::Bytes::from("edited"),
        queued_in: roys_queue(),
    };
    assert_eq!(append_with(300, 300, edit).await.unwrap(), Appended::Stored);
    let edited = store
        .stored_message(&app, MessageId(BASE + 100))
        .await
        .unwrap();
    assert_eq!(edited.unwrap().meta, bytes::Bytes::from("edited"));

    // A recall marks the target and takes it out of the queue it waits in.
    let recall = AppendEffect::Recall {
        target: MessageId(BASE + 200),
        queued_in: roys_queue(),
    };
    assert_eq!(
        append_with(400, 400, recall).await.unwrap(),
        Appended::Stored
    );
    let recalled = store
        .stored_message(&app, MessageId(BASE + 200))
        .await
        .unwrap();
    assert!(recalled.unwrap().recalled);
    let page = store
        .queue_page(&app, &roy, &queue, MessageId(BASE), 10)
        .await
        .unwrap();
    let ids: Vec<u64> = page.iter().map(|message| message.id.0).collect();
    assert_eq!(ids, vec![BASE + 100, BASE + 300, BASE + 400]);

    // A resend is a duplicate and applies nothing.
    let again = AppendEffect::Recall {
        target: MessageId(BASE + 100),
        queued_in: roys_queue(),
    };
    assert_eq!(
        append_with(500, 400, again).await.unwrap(),
        Appended::Duplicate(MessageId(BASE + 400))
    );
    let kept = store
        .stored_message(&app, MessageId(BASE + 100))
        .await
        .unwrap();
    assert!(!kept.unwrap().recalled);

    // Channel acks move the reader's marker forward only.
    assert_eq!(
        store
            .conversation_read_up_to(&app, &roy, &queue)
            .await
            .unwrap(),
        None
    );
    for id in [600, 550] {
        let read = AppendEffect::ConversationRead {
            owner: roy.clone(),
            conversation: queue.clone(),
        };
        append_with(id, id, read).await.unwrap();
    }
    assert_eq!(
        store
            .conversation_read_up_to(&app, &roy, &queue)
            .await
            .unwrap(),
        Some(MessageId(BASE + 600))
    );
}

/// A store may serve a queue that its reader keeps drained from memory: every change to the
/// queue must show in its pages all the same.
pub async fn a_drained_queue_follows_every_change(store: &dyn Store) {
    let drained_app = self::app("conf", "drained");
    store.create_app(&drained_app).await.unwrap();
    store
        .create_users(&drained_app.key, &[user("roy")])
        .await
        .unwrap();
    let app = drained_app.key;
    let roy = name("roy");
    let queue = QueueName::single_chat(&name("leo"));
    const BASE: u64 = 88_000;
    let page_ids = || async {
        store
            .queue_page(&app, &roy, &queue, MessageId(0), 50)
            .await
            .unwrap()
            .iter()
            .map(|message| message.id.0 - BASE)
            .collect::<Vec<_>>()
    };
    let append = |id: u64, effect: AppendEffect| {
        store.submit_append_with(message(&app, BASE + id, BASE + id, "roy"), effect)
    };
    let ack = |up_to: u64| store.ack_queue(&app, &roy, &queue, MessageId(BASE + up_to));
    // What UNREAD reports must follow every change too (an implementation may answer it from
    // memory).
    let unread = || async {
        store
            .unread_counts(&app, &roy)
            .await
            .unwrap()
            .iter()
            .map(|count| count.count)
            .sum::<u32>()
    };
    // Delivered and acknowledged: the queue is empty, as for a reader who keeps up.
    append(1, AppendEffect::None).await.unwrap();
    assert_eq!(page_ids().await, vec![1]);
    ack(1).await.unwrap();
    assert!(page_ids().await.is_empty());

    for id in [2, 3, 4] {
        append(id, AppendEffect::None).await.unwrap();
    }
    assert_eq!(page_ids().await, vec![2, 3, 4]);
    let edit = AppendEffect::Edit {
        target: MessageId(BASE + 2),
        meta: bytes::Bytes::from("edited"),
        queued_in: roys_queue(),
    };
    append(5, edit).await.unwrap();
    let page = store
        .queue_page(&app, &roy, &queue, MessageId(0), 50)
        .await
        .unwrap();
    assert_eq!(page[0].meta, bytes::Bytes::from("edited"));
    ack(5).await.unwrap();
    assert!(page_ids().await.is_empty());

    for id in [6, 7] {
        append(id, AppendEffect::None).await.unwrap();
    }
    let recall = AppendEffect::Recall {
        target: MessageId(BASE + 6),
        queued_in: roys_queue(),
    };
    append(8, recall).await.unwrap();
    assert_eq!(page_ids().await, vec![7, 8]);
    assert_eq!(unread().await, 2);
    ack(7).await.unwrap();
    assert_eq!(page_ids().await, vec![8]);
    assert_eq!(unread().await, 1);
    ack(8).await.unwrap();
    assert_eq!(unread().await, 0);

    for id in [9, 10] {
        append(id, AppendEffect::None).await.unwrap();
    }
    ack(9).await.unwrap();
    assert_eq!(page_ids().await, vec![10]);
    assert_eq!(store.unread_counts(&app, &roy).await.unwrap()[0].count, 1);

    store
        .change_conversation(
            &app,
            &roy,
            &queue,
            ConversationChange::Delete { history: false },
        )
        .await
        .unwrap();
    assert!(page_ids().await.is_empty());
    assert_eq!(unread().await, 0);
    append(11, AppendEffect::None).await.unwrap();
    assert_eq!(page_ids().await, vec![11]);
    assert_eq!(unread().await, 1);

    store.delete_user(&app, &roy).await.unwrap();
    assert!(page_ids().await.is_empty());
    assert_eq!(unread().await, 0);
    store.create_users(&app, &[user("roy")]).await.unwrap();
    append(12, AppendEffect::None).await.unwrap();
    assert_eq!(unread().await, 1);
}

pub async fn deleting_a_user_drops_their_queues(store: &dyn Store) {
    let app = app("conf", "deletes");
    store.create_app(&app).await.unwrap();
    store.create_users(&app.key, &[user("roy")]).await.unwrap();
    store
        .append_message(message(&app.key, 5000, 5000, "roy"))
        .await
        .unwrap();
    store.delete_user(&app.key, &name("roy")).await.unwrap();
    assert!(store
        .unread_counts(&app.key, &name("roy"))
        .await
        .unwrap()
        .is_empty());
    // Roy is gone (and was just seen as a recipient): new messages to him are refused; a resend
    // of one he had still gets its id.
    assert_eq!(
        store
            .append_message(message(&app.key, 5001, 5001, "roy"))
            .await
            .unwrap(),
        Appended::UnknownRecipient(name("roy"))
    );
    assert_eq!(
        store
            .append_message(message(&app.key, 5002, 5000, "roy"))
            .await
            .unwrap(),
        Appended::Duplicate(MessageId(5000))
    );
}

pub async fn credential_rotation(store: &dyn Store) {
    let mut rotated = app("conf", "rotate");
    store.create_app(&rotated).await.unwrap();
    rotated.rotate_certificate(1_000, 5_000);
    rotated.rotate_client_secret();
    assert!(store.update_app_credentials(&rotated).await.unwrap());
    let stored = store.app_by_key(&rotated.key).await.unwrap().unwrap();
    assert_eq!(stored, rotated);
    assert_eq!(stored.certificates.len(), 2);
    assert_eq!(stored.secondary_until_ms, Some(6_000));
    let ghost = app("conf", "ghost");
    assert!(!store.update_app_credentials(&ghost).await.unwrap());
}

pub async fn user_listing_and_activation(store: &dyn Store) {
    let app = app("conf", "listing");
    store.create_app(&app).await.unwrap();
    let names = ["amy", "bob", "bea", "carl", "ben"];
    let users: Vec<User> = names.iter().map(|n| user(n)).collect();
    store.create_users(&app.key, &users).await.unwrap();
    assert_eq!(store.count_users(&app.key).await.unwrap(), 5);
    let listed = |users: Vec<User>| -> Vec<String> {
        users.into_iter().map(|u| u.name.to_string()).collect()
    };
    let first = store.list_users(&app.key, "", None, 2).await.unwrap();
    assert_eq!(listed(first), vec!["amy", "bea"]);
    let next = store
        .list_users(&app.key, "", Some(&name("bea")), 2)
        .await
        .unwrap();
    assert_eq!(listed(next), vec!["ben", "bob"]);
    let b = store.list_users(&app.key, "b", None, 10).await.unwrap();
    assert_eq!(listed(b), vec!["bea", "ben", "bob"]);
    // A prefix is literal: LIKE wildcards match nothing special.
    assert!(store
        .list_users(&app.key, "%", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .list_users(&app.key, "_", None, 10)
        .await
        .unwrap()
        .is_empty());

    assert!(store
        .set_activated(&app.key, &name("bob"), false, 42)
        .await
        .unwrap());
    let bob = store.user(&app.key, &name("bob")).await.unwrap().unwrap();
    assert!(!bob.activated);
    assert_eq!(bob.modified_ms, 42);
    assert!(store
        .set_activated(&app.key, &name("bob"), true, 43)
        .await
        .unwrap());
    assert!(
        store
            .user(&app.key, &name("bob"))
            .await
            .unwrap()
            .unwrap()
            .activated
    );
    assert!(!store
        .set_activated(&app.key, &name("ghost"), false, 1)
        .await
        .unwrap());
}

pub async fn daily_message_counts(store: &dyn Store) {
    let daily = self::app("conf", "daily");
    store.create_app(&daily).await.unwrap();
    store
        .create_users(&daily.key, &[user("roy")])
        .await
        .unwrap();
    let app = daily.key;
    const DAY: u64 = 86_400_000;
    let day0 = 20_000 * DAY;
    for (n, at) in [day0 + 5, day0 + 6, day0 + DAY + 1, day0 + 3 * DAY]
        .into_iter()
        .enumerate()
    {
        let id = at << 22 | n as u64;
        let appended = store
            .append_message(message(&app, id, 9_000 + n as u64, "roy"))
            .await
            .unwrap();
        assert_eq!(appended, Appended::Stored);
    }
    let counts = store.daily_message_counts(&app, day0 + DAY).await.unwrap();
    assert_eq!(
        counts,
        vec![
            DayCount {
                day_start_ms: day0 + DAY,
                count: 1
            },
            DayCount {
                day_start_ms: day0 + 3 * DAY,
                count: 1
            }
        ]
    );
    let all = store.daily_message_counts(&app, 0).await.unwrap();
    assert_eq!(all[0].count, 2);
    let other = AppKey::new("conf", "nodaily").unwrap();
    assert!(store
        .daily_message_counts(&other, 0)
        .await
        .unwrap()
        .is_empty());
}

/// The setup link: of concurrent first-admin creations exactly one succeeds, and none once an
/// admin exists. Needs a store without admins (the suite runs it before `admins_and_sessions`).
pub async fn only_one_first_admin(store: &dyn Store) {
    assert_eq!(store.count_admins().await.unwrap(), 0);
    let candidates: Vec<Admin> = (0..5)
        .map(|index| Admin {
            username: format!("first{index}"),
            password_hash: "hash".into(),
            created_ms: 1,
        })
        .collect();
    let outcomes = futures_join_all(
        candidates
            .iter()
            .map(|admin| store.create_first_admin(admin))
            .collect(),
    )
    .await;
    let created: Vec<&Admin> = candidates
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| matches!(outcome, Ok(true)))
        .map(|(admin, _)| admin)
        .collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(store.count_admins().await.unwrap(), 1);
    assert_eq!(
        store.admin(&created[0].username).await.unwrap(),
        Some(created[0].clone())
    );
    let late = Admin {
        username: "late".into(),
        password_hash: "hash".into(),
        created_ms: 2,
    };
    assert!(!store.create_first_admin(&late).await.unwrap());
    assert_eq!(store.admin("late").await.unwrap(), None);
}

pub async fn admins_and_sessions(store: &dyn Store) {
    let admin = Admin {
        username: "root".into(),
        password_hash: "hash".into(),
        created_ms: 1,
    };
    let before = store.count_admins().await.unwrap();
    store.create_admin(&admin).await.unwrap();
    assert!(matches!(
        store.create_admin(&admin).await,
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(store.count_admins().await.unwrap(), before + 1);
    assert_eq!(store.admin("root").await.unwrap(), Some(admin));
    assert_eq!(store.admin("nobody").await.unwrap(), None);

    let session = AdminSession {
        id_hash: "h1".into(),
        username: "root".into(),
        csrf_token: Secret::new("csrf".into()),
        created_ms: 10,
        expires_ms: 20,
    };
    store.create_admin_session(&session).await.unwrap();
    assert_eq!(
        store.admin_session("h1").await.unwrap(),
        Some(session.clone())
    );
    // A session created after h1 expired may clean h1 up; a live one is kept.
    let later = AdminSession {
        id_hash: "h2".into(),
        created_ms: 15,
        expires_ms: 100,
        ..session
    };
    store.create_admin_session(&later).await.unwrap();
    assert_eq!(store.admin_session("h2").await.unwrap(), Some(later));
    store.delete_admin_session("h2").await.unwrap();
    assert_eq!(store.admin_session("h2").await.unwrap(), None);
    store.delete_admin_session("never").await.unwrap();
}

/// Polls every future concurrently (the suite avoids a dependency on `futures`).
/// A text from leo to roy at `ms`, in both parties' history.
fn chat_message(app: &AppKey, ms: u64, client_id: u64, kind: &'static str) -> NewMessage {
    let mut message = message(app, ms << 22, client_id, "roy");
    message.kind = kind;
    message.history = crate::history::single_chat_entries(kind, &name("leo"), &name("roy"));
    message
}

pub async fn history_and_conversations(store: &dyn Store) {
    let app = app("conf", "history");
    store.create_app(&app).await.unwrap();
    store
        .create_users(&app.key, &[user("leo"), user("roy")])
        .await
        .unwrap();
    let key = &app.key;
    for (ms, kind) in [(1000, "txt"), (2000, "img"), (3000, "txt"), (4000, "")] {
        assert_eq!(
            store
                .append_message(chat_message(key, ms, ms, kind))
                .await
                .unwrap(),
            Appended::Stored
        );
    }
    let roy_view = QueueName::single_chat(&name("leo"));
    let query = |newest_first: bool| HistoryQuery {
        conversation: roy_view.clone(),
        cursor: None,
        newest_first,
        limit: 10,
        from: None,
        kinds: Vec::new(),
        start_ms: None,
        end_ms: None,
    };
    let ids = |page: Vec<crate::store::QueuedMessage>| -> Vec<u64> {
        page.into_iter().map(|message| message.id.0 >> 22).collect()
    };
    let page = |query: HistoryQuery, owner: &'static str| async move {
        ids(store.history_page(key, &name(owner), &query).await.unwrap())
    };
    // Receipts (kind "") are not history; both directions; both parties.
    assert_eq!(page(query(false), "roy").await, [1000, 2000, 3000]);
    assert_eq!(page(query(true), "roy").await, [3000, 2000, 1000]);
    let leo_view = HistoryQuery {
        conversation: QueueName::single_chat(&name("roy")),
        ..query(false)
    };
    assert_eq!(page(leo_view.clone(), "leo").await, [1000, 2000, 3000]);
    // Cursor, limit, kinds, sender, time range.
    let after_first = HistoryQuery {
        cursor: Some(MessageId(1000 << 22)),
        limit: 1,
        ..query(false)
    };
    assert_eq!(page(after_first, "roy").await, [2000]);
    let before_last = HistoryQuery {
        cursor: Some(MessageId(3000 << 22)),
        ..query(true)
    };
    assert_eq!(page(before_last, "roy").await, [2000, 1000]);
    let images = HistoryQuery {
        kinds: vec!["img".into()],
        ..query(false)
    };
    assert_eq!(page(images, "roy").await, [2000]);
    let from_roy = HistoryQuery {
        from: Some(name("roy")),
        ..query(false)
    };
    assert!(page(from_roy, "roy").await.is_empty());
    let timed = HistoryQuery {
        start_ms: Some(2000),
        end_ms: Some(3000),
        ..query(false)
    };
    assert_eq!(page(timed, "roy").await, [2000, 3000]);

    // The list: last message, unread count (receipts not counted), pin, marks.
    let list = store.conversations(key, &name("roy")).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (
            list[0].conversation.clone(),
            list[0].last.id.0 >> 22,
            list[0].unread
        ),
        (roy_view.clone(), 3000, 3)
    );
    for change in [
        ConversationChange::Pin(Some(77)),
        ConversationChange::AddMarks(vec![2, 0]),
        ConversationChange::RemoveMarks(vec![2]),
    ] {
        store
            .change_conversation(key, &name("roy"), &roy_view, change)
            .await
            .unwrap();
    }
    let list = store.conversations(key, &name("roy")).await.unwrap();
    assert_eq!(
        (list[0].pinned_ms, list[0].marks.clone()),
        (Some(77), vec![0])
    );
    // Roy's conversation read ack clears the count; leo's own messages never count for leo.
    let mut read_ack = message(key, 3500 << 22, 3500, "leo");
    read_ack.sender = name("roy");
    let read = store.submit_append_with(
        read_ack,
        crate::store::AppendEffect::ConversationRead {
            owner: name("roy"),
            conversation: roy_view.clone(),
        },
    );
    assert_eq!(read.await.unwrap(), Appended::Stored);
    assert_eq!(
        store.conversations(key, &name("roy")).await.unwrap()[0].unread,
        0
    );
    assert_eq!(
        store.conversations(key, &name("leo")).await.unwrap()[0].unread,
        0
    );

    // One-way removal: roy's history loses them, leo's keeps them.
    store
        .change_conversation(
            key,
            &name("roy"),
            &roy_view,
            ConversationChange::RemoveMessages(vec![MessageId(3000 << 22)]),
        )
        .await
        .unwrap();
    store
        .change_conversation(
            key,
            &name("roy"),
            &roy_view,
            ConversationChange::RemoveBefore(2000),
        )
        .await
        .unwrap();
    assert_eq!(page(query(false), "roy").await, [2000]);
    assert_eq!(page(leo_view.clone(), "leo").await, [1000, 2000, 3000]);

    // Deleting the conversation hides it (and its queue) until a newer message arrives.
    store
        .change_conversation(
            key,
            &name("roy"),
            &roy_view,
            ConversationChange::Delete { history: true },
        )
        .await
        .unwrap();
    assert!(store
        .conversations(key, &name("roy"))
        .await
        .unwrap()
        .is_empty());
    assert!(page(query(false), "roy").await.is_empty());
    assert!(store
        .unread_counts(key, &name("roy"))
        .await
        .unwrap()
        .is_empty());
    store
        .append_message(chat_message(key, 5000, 5000, "txt"))
        .await
        .unwrap();
    let list = store.conversations(key, &name("roy")).await.unwrap();
    assert_eq!((list[0].last.id.0 >> 22, list[0].unread), (5000, 1));
    // Reactions: idempotent add and remove, listed by first use of each reaction.
    let reaction = |text: &str, user: &str, at: u64| crate::store::Reaction {
        message: MessageId(1000 << 22),
        reaction: text.into(),
        user: name(user),
        created_ms: at,
    };
    for (change, add, changed) in [
        (reaction("b", "roy", 1), true, true),
        (reaction("a", "leo", 2), true, true),
        (reaction("b", "leo", 3), true, true),
        (reaction("b", "leo", 4), true, false),
        (reaction("a", "leo", 5), false, true),
        (reaction("a", "leo", 6), false, false),
    ] {
        assert_eq!(
            store.change_reaction(key, &change, add).await.unwrap(),
            changed
        );
    }
    let listed = store
        .reactions(key, &[MessageId(1000 << 22), MessageId(7)])
        .await
        .unwrap();
    assert_eq!(listed, [reaction("b", "roy", 1), reaction("b", "leo", 3)]);
    // Pins: one per message, seen in the history of the party that still has the message.
    let first = MessageId(1000 << 22);
    assert!(store
        .change_pin(key, first, Some((&name("roy"), 9)))
        .await
        .unwrap());
    assert!(!store
        .change_pin(key, first, Some((&name("leo"), 10)))
        .await
        .unwrap());
    let pinned = store
        .pinned_messages(key, &name("leo"), &QueueName::single_chat(&name("roy")))
        .await
        .unwrap();
    assert_eq!(
        pinned
            .iter()
            .map(|pin| (pin.message.id, pin.operator.clone(), pin.pinned_ms))
            .collect::<Vec<_>>(),
        [(first, name("roy"), 9)]
    );
    assert!(store.change_pin(key, first, None).await.unwrap());
    assert!(!store.change_pin(key, first, None).await.unwrap());
    // Imports: under a chosen past id, into history only; a taken id is refused.
    let mut imported = chat_message(key, 1500, 1500, "txt");
    imported.deliveries.clear();
    store.import_message(imported.clone()).await.unwrap();
    assert!(matches!(
        store.import_message(imported).await,
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(
        page(leo_view.clone(), "leo").await,
        [1000, 1500, 2000, 3000, 5000]
    );
    // The export sees every message of the app in the range, whatever the parties removed.
    let exported = store.messages_between(key, 1000, 5000).await.unwrap();
    assert_eq!(ids(exported), [1000, 1500, 2000, 3000]);
    assert_eq!(
        store.conversations(key, &name("leo")).await.unwrap().len(),
        1
    );
}

async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut outputs = Vec::with_capacity(futures.len());
    let mut handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    // Each future is first polled once so all are in flight, then awaited in order.
    let waker = std::task::Waker::noop();
    let mut context = std::task::Context::from_waker(waker);
    let mut ready: Vec<Option<F::Output>> = Vec::with_capacity(handles.len());
    for handle in handles.iter_mut() {
        ready.push(match handle.as_mut().poll(&mut context) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        });
    }
    for (handle, early) in handles.into_iter().zip(ready) {
        outputs.push(match early {
            Some(output) => output,
            None => handle.await,
        });
    }
    outputs
}
