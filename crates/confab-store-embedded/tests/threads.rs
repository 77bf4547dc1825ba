//! What the embedded store does with threads beyond the shared suite: a deleted user leaves
//! their threads, and threads list by id as a number whatever its leading zeros.

#![allow(clippy::unwrap_used)] // a test: a failed step should stop it loudly

mod support;

use confab_core::{
    ids::{AppKey, GroupId, MessageId},
    store::{Thread, ThreadOutcome, ThreadStore, UserStore},
};
use confab_store_embedded::EmbeddedStore;
use support::{name, store_with_users};

fn group_id(text: &str) -> GroupId {
    GroupId::parse(text).unwrap()
}

/// Makes thread `id` of group `group` from message `parent`, owned by `owner`.
async fn create(store: &EmbeddedStore, app: &AppKey, (id, group): (&str, &str), parent: u64) {
    let thread = Thread {
        id: group_id(id),
        group: group_id(group),
        parent_message: MessageId(parent),
        name: format!("thread {id}"),
        owner: name("leo"),
        created_ms: 100,
        member_count: 0,
        message_count: 0,
        last_message: None,
    };
    let created = store.create_thread(app, &thread).await.unwrap();
    assert_eq!(created, ThreadOutcome::Done(()));
}

fn ids(threads: &[Thread]) -> Vec<&str> {
    threads.iter().map(|thread| thread.id.as_str()).collect()
}

#[tokio::test]
async fn a_deleted_user_leaves_their_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    let id = group_id("71");
    create(&store, &app, ("71", "5"), 1 << 22).await;
    let joined = store
        .add_thread_member(&app, &id, &name("roy"), 200)
        .await
        .unwrap();
    assert_eq!(joined, ThreadOutcome::Done(true));

    store.delete_user(&app, &name("roy")).await.unwrap();
    let after = store.thread(&app, &id).await.unwrap().unwrap();
    assert_eq!(after.member_count, 1);
    assert_eq!(
        store.thread_members(&app, &id, 0, 10).await.unwrap(),
        [name("leo")]
    );
    let roys = store
        .joined_threads(&app, &name("roy"), None, 0, 10)
        .await
        .unwrap();
    assert!(roys.is_empty());

    // The owner too leaves; the thread stays theirs, empty.
    store.delete_user(&app, &name("leo")).await.unwrap();
    let after = store.thread(&app, &id).await.unwrap().unwrap();
    assert_eq!((after.owner, after.member_count), (name("leo"), 0));
    assert!(store
        .thread_members(&app, &id, 0, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn threads_list_by_number_whatever_their_leading_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    let made = [
        "10",
        "007",
        "8",
        "18446744073709551616",
        "99999999999999999999",
    ];
    for (parent, id) in (1_u64..).zip(made) {
        create(&store, &app, (id, "5"), parent << 22).await;
    }
    let newest_first = [
        "99999999999999999999",
        "18446744073709551616",
        "10",
        "8",
        "007",
    ];
    let of_group = store
        .group_threads(&app, &group_id("5"), 0, 10)
        .await
        .unwrap();
    assert_eq!(ids(&of_group), newest_first);
    let joined = store
        .joined_threads(&app, &name("leo"), Some(&group_id("5")), 0, 10)
        .await
        .unwrap();
    assert_eq!(ids(&joined), newest_first);
    let page = store
        .group_threads(&app, &group_id("5"), 2, 2)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["10", "8"]);
}
