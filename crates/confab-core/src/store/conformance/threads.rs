//! Conformance cases of the thread aggregate (`ThreadStore`): threads made from a group
//! message, one per message, with their members, their count and last of messages, and the
//! listings of a group's threads and of a user's.

use super::{app, name, user};
use crate::{
    ids::{AppKey, GroupId, MessageId, UserName},
    store::{Group, GroupOutcome, GroupQuota, GroupSettings, Store, Thread, ThreadOutcome},
};

fn tid(text: &str) -> GroupId {
    GroupId::parse(text).expect("valid thread id")
}

/// Thread `id` of group `group`, made by `owner` at `created_ms` from message `parent`.
fn thread(id: &str, group: &str, parent: u64, owner: &str, created_ms: u64) -> Thread {
    Thread {
        id: tid(id),
        group: tid(group),
        parent_message: MessageId(parent),
        name: format!("thread {id}"),
        owner: name(owner),
        created_ms,
        // Ignored by the store: it counts the members and the messages itself.
        member_count: 99,
        message_count: 99,
        last_message: None,
    }
}

/// `thread` as read back with `member_count` members and no message.
fn counted(thread: Thread, member_count: u32) -> Thread {
    Thread {
        member_count,
        message_count: 0,
        ..thread
    }
}

/// Group `id` of `owner` (its members are given to `create_group`).
fn group(id: &str, owner: &str) -> Group {
    Group {
        id: tid(id),
        owner: name(owner),
        settings: GroupSettings {
            name: format!("group {id}"),
            description: String::new(),
            avatar: String::new(),
            public: false,
            approval: true,
            allow_invites: false,
            invite_need_confirm: false,
            max_users: 100,
            custom: String::new(),
        },
        created_ms: 1,
        modified_ms: 1,
        member_count: 0,
        mute_all: false,
        announcement: String::new(),
    }
}

/// A fresh app with these users and these groups, each owned by the first user with the
/// others as members (a thread's group must exist when it is made).
async fn app_with(store: &dyn Store, app_name: &str, users: &[&str], groups: &[&str]) -> AppKey {
    let created = app("conf", app_name);
    store.create_app(&created).await.unwrap();
    let all: Vec<_> = users.iter().map(|text| user(text)).collect();
    store.create_users(&created.key, &all).await.unwrap();
    let members = names(&users[1..]);
    for id in groups {
        let outcome = store
            .create_group(
                &created.key,
                &group(id, users[0]),
                &members,
                GroupQuota::UNLIMITED,
            )
            .await
            .unwrap();
        assert_eq!(outcome, GroupOutcome::Done(()), "group {id}");
    }
    created.key
}

/// Makes `thread`; it must succeed.
async fn create(store: &dyn Store, app: &AppKey, thread: &Thread) {
    assert_eq!(
        store.create_thread(app, thread).await.unwrap(),
        ThreadOutcome::Done(()),
        "thread {}",
        thread.id
    );
}

/// Adds `user` to thread `id` at `now_ms`; they must be new to it.
async fn join(store: &dyn Store, app: &AppKey, (id, user): (&str, &str), now_ms: u64) {
    assert_eq!(
        store
            .add_thread_member(app, &tid(id), &name(user), now_ms)
            .await
            .unwrap(),
        ThreadOutcome::Done(true),
        "{user} joins {id}"
    );
}

fn names(users: &[&str]) -> Vec<UserName> {
    users.iter().map(|text| name(text)).collect()
}

/// Users in name order: for answers whose order the port leaves open.
fn sorted(mut users: Vec<UserName>) -> Vec<UserName> {
    users.sort();
    users
}

fn ids_of(threads: &[Thread]) -> Vec<&str> {
    threads.iter().map(|thread| thread.id.as_str()).collect()
}

/// Every member of thread `id`, in the port's order.
async fn members(store: &dyn Store, app: &AppKey, id: &str) -> Vec<UserName> {
    store.thread_members(app, &tid(id), 0, 100).await.unwrap()
}

async fn is_member(store: &dyn Store, app: &AppKey, id: &str, user: &str) -> bool {
    store
        .is_thread_member(app, &tid(id), &name(user))
        .await
        .unwrap()
}

/// The ids of every thread `user` is in (of `group` only, when given), in the port's order.
async fn joined(store: &dyn Store, app: &AppKey, user: &str, group: Option<&str>) -> Vec<String> {
    let group = group.map(tid);
    let threads = store
        .joined_threads(app, &name(user), group.as_ref(), 0, 100)
        .await
        .unwrap();
    threads.iter().map(|thread| thread.id.to_string()).collect()
}

/// The ids of every thread of `group`, in the port's order.
async fn of_group(store: &dyn Store, app: &AppKey, group: &str) -> Vec<String> {
    let threads = store.group_threads(app, &tid(group), 0, 100).await.unwrap();
    threads.iter().map(|thread| thread.id.to_string()).collect()
}

/// Every change of thread `id` answers `NoThread`, and every read of it finds nothing.
async fn assert_no_thread(store: &dyn Store, app: &AppKey, id: &str) {
    let (id, amy) = (&tid(id), &name("amy"));
    assert_eq!(store.thread(app, id).await.unwrap(), None, "thread {id}");
    assert!(store
        .threads(app, std::slice::from_ref(id))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.rename_thread(app, id, "renamed").await.unwrap(),
        ThreadOutcome::NoThread
    );
    assert_eq!(
        store
            .record_thread_message(app, id, MessageId(9001))
            .await
            .unwrap(),
        ThreadOutcome::NoThread
    );
    assert_eq!(
        store.add_thread_member(app, id, amy, 9000).await.unwrap(),
        ThreadOutcome::NoThread
    );
    assert_eq!(
        store.remove_thread_member(app, id, amy).await.unwrap(),
        ThreadOutcome::NoThread
    );
    assert!(!store.is_thread_member(app, id, amy).await.unwrap());
    assert!(store
        .thread_members(app, id, 0, 100)
        .await
        .unwrap()
        .is_empty());
    // Nothing was made by the calls above.
    assert_eq!(store.thread(app, id).await.unwrap(), None, "thread {id}");
}

pub async fn threads_are_made_once_per_message_with_their_owner_as_first_member(store: &dyn Store) {
    let app = &app_with(store, "threads", &["own", "amy", "bob"], &["1001", "1002"]).await;
    let made = thread("900", "1001", 7001, "own", 100);
    create(store, app, &made).await;
    // The counts given are ignored: the owner alone, no message.
    let expected = counted(made.clone(), 1);
    assert_eq!(
        store.thread(app, &tid("900")).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(members(store, app, "900").await, names(&["own"]));
    assert!(is_member(store, app, "900", "own").await);
    assert!(!is_member(store, app, "900", "amy").await);
    assert_eq!(joined(store, app, "own", None).await, ["900"]);
    assert_eq!(
        store.thread_of_message(app, MessageId(7001)).await.unwrap(),
        Some(expected.clone())
    );

    // One thread per message, whatever the group named: the second is refused with the first's
    // id, and nothing of it is written.
    for group in ["1001", "1002"] {
        let second = thread("901", group, 7001, "amy", 200);
        assert_eq!(
            store.create_thread(app, &second).await.unwrap(),
            ThreadOutcome::Taken(tid("900")),
            "in group {group}"
        );
        assert_no_thread(store, app, "901").await;
        assert!(joined(store, app, "amy", None).await.is_empty());
    }
    assert_eq!(of_group(store, app, "1001").await, ["900"]);
    assert!(of_group(store, app, "1002").await.is_empty());
    assert_eq!(
        store.thread(app, &tid("900")).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        store.thread_of_message(app, MessageId(7001)).await.unwrap(),
        Some(expected.clone())
    );
    // The refused id is free for a thread of another message.
    let other = thread("901", "1001", 7002, "amy", 300);
    create(store, app, &other).await;
    let third = thread("902", "1002", 7003, "bob", 400);
    create(store, app, &third).await;
    assert_eq!(
        store.thread_of_message(app, MessageId(7002)).await.unwrap(),
        Some(counted(other.clone(), 1))
    );
    assert_eq!(members(store, app, "901").await, names(&["amy"]));
    assert_eq!(store.thread(app, &tid("9999")).await.unwrap(), None);
    assert_eq!(
        store.thread_of_message(app, MessageId(7999)).await.unwrap(),
        None
    );

    // Those that exist, in the order asked.
    assert_eq!(
        store
            .threads(app, &[tid("902"), tid("9999"), tid("900"), tid("901")])
            .await
            .unwrap(),
        [
            counted(third.clone(), 1),
            expected.clone(),
            counted(other.clone(), 1)
        ]
    );
    assert_eq!(
        store.threads(app, &[tid("901"), tid("900")]).await.unwrap(),
        [counted(other, 1), expected]
    );
    assert!(store.threads(app, &[]).await.unwrap().is_empty());
    assert!(store.threads(app, &[tid("9999")]).await.unwrap().is_empty());
}

pub async fn a_thread_is_renamed_and_counts_its_messages(store: &dyn Store) {
    let app = &app_with(store, "thread-renames", &["own", "amy"], &["1001"]).await;
    let id = &tid("900");
    create(store, app, &thread("900", "1001", 7001, "own", 100)).await;
    join(store, app, ("900", "amy"), 150).await;
    let before = counted(thread("900", "1001", 7001, "own", 100), 2);

    let renamed = Thread {
        name: "new name".into(),
        ..before.clone()
    };
    assert_eq!(
        store.rename_thread(app, id, "new name").await.unwrap(),
        ThreadOutcome::Done(renamed.clone())
    );
    assert_eq!(store.thread(app, id).await.unwrap(), Some(renamed.clone()));

    // Each message counts and is the newest, in the order recorded.
    let once = Thread {
        message_count: 1,
        last_message: Some(MessageId(8001)),
        ..renamed.clone()
    };
    assert_eq!(
        store
            .record_thread_message(app, id, MessageId(8001))
            .await
            .unwrap(),
        ThreadOutcome::Done(once.clone())
    );
    assert_eq!(store.thread(app, id).await.unwrap(), Some(once));
    let twice = Thread {
        message_count: 2,
        last_message: Some(MessageId(8002)),
        ..renamed
    };
    assert_eq!(
        store
            .record_thread_message(app, id, MessageId(8002))
            .await
            .unwrap(),
        ThreadOutcome::Done(twice.clone())
    );
    // Every read shows the counts.
    assert_eq!(store.thread(app, id).await.unwrap(), Some(twice.clone()));
    assert_eq!(
        store.thread_of_message(app, MessageId(7001)).await.unwrap(),
        Some(twice.clone())
    );
    let listed = [
        store.threads(app, std::slice::from_ref(id)).await.unwrap(),
        store.group_threads(app, &tid("1001"), 0, 10).await.unwrap(),
        store
            .joined_threads(app, &name("amy"), None, 0, 10)
            .await
            .unwrap(),
    ];
    for threads in listed {
        assert_eq!(threads, std::slice::from_ref(&twice));
    }

    // A rename keeps the counts, and a member leaving keeps the messages.
    let again = Thread {
        name: "again".into(),
        ..twice
    };
    assert_eq!(
        store.rename_thread(app, id, "again").await.unwrap(),
        ThreadOutcome::Done(again.clone())
    );
    assert_eq!(
        store
            .remove_thread_member(app, id, &name("amy"))
            .await
            .unwrap(),
        ThreadOutcome::Done(true)
    );
    assert_eq!(
        store.thread(app, id).await.unwrap(),
        Some(Thread {
            member_count: 1,
            ..again
        })
    );

    // No such thread.
    let unknown = &tid("9999");
    assert_eq!(
        store.rename_thread(app, unknown, "x").await.unwrap(),
        ThreadOutcome::NoThread
    );
    assert_eq!(
        store
            .record_thread_message(app, unknown, MessageId(8003))
            .await
            .unwrap(),
        ThreadOutcome::NoThread
    );
    assert_eq!(store.thread(app, unknown).await.unwrap(), None);
}

pub async fn thread_members_are_listed_by_joining_time_then_name(store: &dyn Store) {
    let users = ["own", "amy", "bob", "cal", "dan"];
    let app = &app_with(store, "thread-members", &users, &["1001"]).await;
    let id = &tid("900");
    create(store, app, &thread("900", "1001", 7001, "own", 100)).await;
    // The owner joined when the thread was made: bob, joining then too, sorts before them by
    // name, amy a millisecond later after them.
    join(store, app, ("900", "bob"), 100).await;
    join(store, app, ("900", "amy"), 101).await;
    join(store, app, ("900", "dan"), 300).await;
    join(store, app, ("900", "cal"), 200).await;
    let everyone = names(&["bob", "own", "amy", "cal", "dan"]);
    assert_eq!(members(store, app, "900").await, everyone);
    // Adding a member again changes nothing, their joining time included.
    for (user, now_ms) in [("bob", 50), ("own", 1), ("dan", 400)] {
        assert_eq!(
            store
                .add_thread_member(app, id, &name(user), now_ms)
                .await
                .unwrap(),
            ThreadOutcome::Done(false),
            "{user}"
        );
    }
    assert_eq!(members(store, app, "900").await, everyone);
    assert_eq!(
        store.thread(app, id).await.unwrap().unwrap().member_count,
        5
    );
    for user in users {
        assert!(is_member(store, app, "900", user).await, "{user}");
    }
    assert!(!is_member(store, app, "900", "ghost").await);

    // Pages from an offset.
    for (offset, limit, expected) in [
        (0, 2, vec!["bob", "own"]),
        (2, 2, vec!["amy", "cal"]),
        (4, 2, vec!["dan"]),
        (1, 3, vec!["own", "amy", "cal"]),
        (5, 2, vec![]),
        (1, 0, vec![]),
    ] {
        assert_eq!(
            store.thread_members(app, id, offset, limit).await.unwrap(),
            names(&expected),
            "offset {offset}, limit {limit}"
        );
    }

    // Leaving: `false` when not a member.
    let remove = |user: &'static str| async move {
        store
            .remove_thread_member(app, &tid("900"), &name(user))
            .await
            .unwrap()
    };
    assert_eq!(remove("cal").await, ThreadOutcome::Done(true));
    assert_eq!(remove("cal").await, ThreadOutcome::Done(false));
    assert_eq!(remove("ghost").await, ThreadOutcome::Done(false));
    assert!(!is_member(store, app, "900", "cal").await);
    assert_eq!(
        members(store, app, "900").await,
        names(&["bob", "own", "amy", "dan"])
    );
    assert_eq!(
        store.thread(app, id).await.unwrap().unwrap().member_count,
        4
    );
    // The owner may leave too: the thread stays theirs.
    assert_eq!(remove("own").await, ThreadOutcome::Done(true));
    assert_eq!(
        store.thread(app, id).await.unwrap(),
        Some(counted(thread("900", "1001", 7001, "own", 100), 3))
    );
    assert!(joined(store, app, "own", None).await.is_empty());
    // Back again, each joins at the new time.
    join(store, app, ("900", "own"), 500).await;
    join(store, app, ("900", "cal"), 400).await;
    assert_eq!(
        members(store, app, "900").await,
        names(&["bob", "amy", "dan", "cal", "own"])
    );

    // No such thread.
    let unknown = &tid("9999");
    assert_eq!(
        store
            .add_thread_member(app, unknown, &name("amy"), 600)
            .await
            .unwrap(),
        ThreadOutcome::NoThread
    );
    assert_eq!(
        store
            .remove_thread_member(app, unknown, &name("amy"))
            .await
            .unwrap(),
        ThreadOutcome::NoThread
    );
    assert!(!is_member(store, app, "9999", "amy").await);
    assert!(members(store, app, "9999").await.is_empty());
    assert_eq!(store.thread(app, unknown).await.unwrap(), None);
}

pub async fn joined_and_group_threads_list_the_newest_first_by_id_as_a_number(store: &dyn Store) {
    let app = &app_with(
        store,
        "thread-lists",
        &["own", "amy", "bob"],
        &["1001", "1002", "1003"],
    )
    .await;
    // Made in an order that is neither the ids' as numbers nor as text.
    for (id, group, parent, owner, created_ms) in [
        ("1000", "1001", 7001, "own", 100),
        ("900", "1001", 7002, "own", 200),
        ("20000", "1001", 7003, "bob", 300),
        ("3000", "1002", 7004, "bob", 400),
        ("950", "1002", 7005, "own", 500),
    ] {
        create(store, app, &thread(id, group, parent, owner, created_ms)).await;
    }
    // Joined in yet another order.
    for (id, now_ms) in [("950", 600), ("1000", 700), ("3000", 800), ("900", 900)] {
        join(store, app, (id, "amy"), now_ms).await;
    }

    assert_eq!(of_group(store, app, "1001").await, ["20000", "1000", "900"]);
    assert_eq!(of_group(store, app, "1002").await, ["3000", "950"]);
    assert!(of_group(store, app, "1003").await.is_empty());
    assert!(of_group(store, app, "4444").await.is_empty());
    for (offset, limit, expected) in [
        (0, 2, vec!["20000", "1000"]),
        (1, 1, vec!["1000"]),
        (2, 5, vec!["900"]),
        (3, 5, vec![]),
        (0, 0, vec![]),
    ] {
        let page = store
            .group_threads(app, &tid("1001"), offset, limit)
            .await
            .unwrap();
        assert_eq!(ids_of(&page), expected, "offset {offset}, limit {limit}");
    }
    assert_eq!(
        store.group_threads(app, &tid("1001"), 1, 1).await.unwrap(),
        [counted(thread("1000", "1001", 7001, "own", 100), 2)]
    );

    assert_eq!(
        joined(store, app, "amy", None).await,
        ["3000", "1000", "950", "900"]
    );
    assert_eq!(
        joined(store, app, "own", None).await,
        ["1000", "950", "900"]
    );
    assert_eq!(joined(store, app, "bob", None).await, ["20000", "3000"]);
    assert_eq!(
        joined(store, app, "amy", Some("1001")).await,
        ["1000", "900"]
    );
    assert_eq!(
        joined(store, app, "amy", Some("1002")).await,
        ["3000", "950"]
    );
    assert_eq!(joined(store, app, "bob", Some("1002")).await, ["3000"]);
    assert!(joined(store, app, "amy", Some("1003")).await.is_empty());
    assert!(joined(store, app, "ghost", None).await.is_empty());
    for (group, offset, limit, expected) in [
        (None, 0, 2, vec!["3000", "1000"]),
        (None, 1, 2, vec!["1000", "950"]),
        (None, 3, 5, vec!["900"]),
        (None, 4, 5, vec![]),
        (None, 0, 0, vec![]),
        (Some("1001"), 1, 5, vec!["900"]),
        (Some("1002"), 0, 1, vec!["3000"]),
        (Some("1002"), 2, 1, vec![]),
    ] {
        let group = group.map(tid);
        let page = store
            .joined_threads(app, &name("amy"), group.as_ref(), offset, limit)
            .await
            .unwrap();
        assert_eq!(
            ids_of(&page),
            expected,
            "group {group:?}, offset {offset}, limit {limit}"
        );
    }
    assert_eq!(
        store
            .joined_threads(app, &name("amy"), Some(&tid("1002")), 1, 1)
            .await
            .unwrap(),
        [counted(thread("950", "1002", 7005, "own", 500), 2)]
    );
}

pub async fn deleting_threads_takes_their_members_and_frees_their_messages(store: &dyn Store) {
    let app = &app_with(
        store,
        "thread-deletes",
        &["own", "amy", "bob"],
        &["1001", "1002"],
    )
    .await;
    create(store, app, &thread("900", "1001", 7001, "own", 100)).await;
    join(store, app, ("900", "amy"), 200).await;
    join(store, app, ("900", "bob"), 300).await;
    create(store, app, &thread("901", "1001", 7002, "amy", 400)).await;
    create(store, app, &thread("902", "1002", 7003, "own", 500)).await;
    join(store, app, ("902", "amy"), 600).await;
    let ThreadOutcome::Done(_) = store
        .record_thread_message(app, &tid("900"), MessageId(8001))
        .await
        .unwrap()
    else {
        panic!("recorded");
    };

    // Its members just before, and then it is gone everywhere.
    let deleted = store.delete_thread(app, &tid("900")).await.unwrap();
    assert_eq!(deleted.map(sorted), Some(names(&["amy", "bob", "own"])));
    assert_no_thread(store, app, "900").await;
    assert_eq!(
        store.thread_of_message(app, MessageId(7001)).await.unwrap(),
        None
    );
    assert_eq!(
        ids_of(&store.threads(app, &[tid("900"), tid("901")]).await.unwrap()),
        ["901"]
    );
    assert_eq!(of_group(store, app, "1001").await, ["901"]);
    assert_eq!(joined(store, app, "amy", None).await, ["902", "901"]);
    assert!(joined(store, app, "bob", None).await.is_empty());
    assert_eq!(joined(store, app, "own", None).await, ["902"]);
    assert_eq!(store.delete_thread(app, &tid("900")).await.unwrap(), None);
    // Its message is free again: a new thread of it, even under the same id, starts with its
    // owner alone and no message.
    let remade = thread("900", "1001", 7001, "bob", 700);
    create(store, app, &remade).await;
    assert_eq!(
        store.thread(app, &tid("900")).await.unwrap(),
        Some(counted(remade, 1))
    );
    assert_eq!(members(store, app, "900").await, names(&["bob"]));
    assert!(!is_member(store, app, "900", "amy").await);

    // A group's threads go together; those of other groups stay as they were.
    let kept = store.thread(app, &tid("902")).await.unwrap();
    assert_eq!(
        kept,
        Some(counted(thread("902", "1002", 7003, "own", 500), 2))
    );
    store.delete_group_threads(app, &tid("1001")).await.unwrap();
    for id in ["900", "901"] {
        assert_no_thread(store, app, id).await;
    }
    for message in [7001, 7002] {
        assert_eq!(
            store
                .thread_of_message(app, MessageId(message))
                .await
                .unwrap(),
            None
        );
    }
    assert!(of_group(store, app, "1001").await.is_empty());
    assert_eq!(of_group(store, app, "1002").await, ["902"]);
    assert_eq!(joined(store, app, "amy", None).await, ["902"]);
    assert!(joined(store, app, "bob", None).await.is_empty());
    assert_eq!(store.thread(app, &tid("902")).await.unwrap(), kept);
    assert_eq!(members(store, app, "902").await, names(&["own", "amy"]));
    // Their messages are free again too.
    create(store, app, &thread("903", "1001", 7002, "bob", 800)).await;
    assert_eq!(members(store, app, "903").await, names(&["bob"]));
    // A group without threads: nothing to do.
    store.delete_group_threads(app, &tid("4444")).await.unwrap();
    assert_eq!(of_group(store, app, "1001").await, ["903"]);
    assert_eq!(of_group(store, app, "1002").await, ["902"]);
}

pub async fn threads_are_kept_apart_per_app(store: &dyn Store) {
    let one = &app_with(store, "threads-one", &["own", "amy"], &["1001"]).await;
    let other = &app_with(store, "threads-other", &["own", "amy"], &["1001"]).await;
    let id = &tid("900");
    create(store, one, &thread("900", "1001", 7001, "own", 100)).await;
    join(store, one, ("900", "amy"), 200).await;
    let ThreadOutcome::Done(in_one) = store
        .record_thread_message(one, id, MessageId(8001))
        .await
        .unwrap()
    else {
        panic!("recorded");
    };

    // The other app sees none of it, and cannot change it.
    assert_no_thread(store, other, "900").await;
    assert_eq!(
        store
            .thread_of_message(other, MessageId(7001))
            .await
            .unwrap(),
        None
    );
    assert!(of_group(store, other, "1001").await.is_empty());
    assert!(joined(store, other, "own", None).await.is_empty());
    assert_eq!(store.delete_thread(other, id).await.unwrap(), None);
    store
        .delete_group_threads(other, &tid("1001"))
        .await
        .unwrap();
    assert_eq!(store.thread(one, id).await.unwrap(), Some(in_one.clone()));

    // The same id of the same message is free there, and changes there stay there.
    let there = thread("900", "1001", 7001, "amy", 300);
    create(store, other, &there).await;
    assert_eq!(
        store.thread(other, id).await.unwrap(),
        Some(counted(there, 1))
    );
    assert_eq!(members(store, other, "900").await, names(&["amy"]));
    let ThreadOutcome::Done(_) = store.rename_thread(other, id, "there").await.unwrap() else {
        panic!("renamed");
    };
    let ThreadOutcome::Done(_) = store
        .record_thread_message(other, id, MessageId(8002))
        .await
        .unwrap()
    else {
        panic!("recorded");
    };
    join(store, other, ("900", "own"), 400).await;
    assert_eq!(
        store
            .remove_thread_member(other, id, &name("amy"))
            .await
            .unwrap(),
        ThreadOutcome::Done(true)
    );
    assert_eq!(store.thread(one, id).await.unwrap(), Some(in_one.clone()));
    assert_eq!(members(store, one, "900").await, names(&["own", "amy"]));
    assert_eq!(joined(store, one, "amy", None).await, ["900"]);
    assert_eq!(
        store.delete_thread(other, id).await.unwrap(),
        Some(names(&["own"]))
    );
    assert_eq!(store.thread(one, id).await.unwrap(), Some(in_one));
    assert_eq!(members(store, one, "900").await, names(&["own", "amy"]));
}

pub async fn a_deleted_user_leaves_every_thread_they_are_in(store: &dyn Store) {
    let app = &app_with(
        store,
        "thread-users",
        &["own", "amy", "bob"],
        &["1001", "1002"],
    )
    .await;
    let elsewhere = &app_with(store, "thread-users-elsewhere", &["own", "amy"], &["1001"]).await;
    create(store, app, &thread("900", "1001", 7001, "amy", 100)).await;
    join(store, app, ("900", "own"), 200).await;
    join(store, app, ("900", "bob"), 300).await;
    create(store, app, &thread("901", "1001", 7002, "own", 400)).await;
    join(store, app, ("901", "amy"), 500).await;
    create(store, app, &thread("902", "1002", 7003, "bob", 600)).await;
    join(store, app, ("902", "amy"), 700).await;
    create(store, app, &thread("903", "1002", 7004, "own", 800)).await;
    create(store, elsewhere, &thread("900", "1001", 7001, "own", 100)).await;
    join(store, elsewhere, ("900", "amy"), 200).await;

    assert!(store
        .delete_user(app, &name("amy"))
        .await
        .unwrap()
        .is_some());
    // Out of every thread; the one they made stays, theirs.
    for (id, left) in [
        ("900", vec!["own", "bob"]),
        ("901", vec!["own"]),
        ("902", vec!["bob"]),
        ("903", vec!["own"]),
    ] {
        assert_eq!(members(store, app, id).await, names(&left), "thread {id}");
        assert!(!is_member(store, app, id, "amy").await, "thread {id}");
    }
    assert_eq!(
        store.thread(app, &tid("900")).await.unwrap(),
        Some(counted(thread("900", "1001", 7001, "amy", 100), 2))
    );
    assert_eq!(
        store.threads(app, &[tid("901"), tid("902")]).await.unwrap(),
        [
            counted(thread("901", "1001", 7002, "own", 400), 1),
            counted(thread("902", "1002", 7003, "bob", 600), 1)
        ]
    );
    assert!(joined(store, app, "amy", None).await.is_empty());
    assert_eq!(joined(store, app, "own", None).await, ["903", "901", "900"]);
    // The same name in another app is another user.
    assert!(is_member(store, elsewhere, "900", "amy").await);
    assert_eq!(joined(store, elsewhere, "amy", None).await, ["900"]);
    // The next user of the name is in no thread.
    store.create_users(app, &[user("amy")]).await.unwrap();
    assert!(joined(store, app, "amy", None).await.is_empty());
    assert!(!is_member(store, app, "900", "amy").await);
}
