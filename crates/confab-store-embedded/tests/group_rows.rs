//! A message to a group costs the same rows whatever the number of members (issue 18): one
//! `messages` row, one `log_entries` row (and one `history_log` row, which the history index
//! consumes behind the writer, so it is not counted here) and the group's head, and no row per
//! member.

#![allow(clippy::unwrap_used)] // a test: a failed step should stop it loudly

mod support;

use confab_core::{
    history::group_entries,
    ids::{GroupId, LogId},
    store::{
        conformance, AppendStore, Audience, EncodeMeta, Group, GroupQuota, GroupSettings,
        GroupStore, NewMessage, UserStore,
    },
    user::User,
};
use rusqlite::Connection;
use support::{name, store_with_users};

/// Rows of every table that can grow with a message.
fn counts(connection: &Connection) -> Vec<(&'static str, i64)> {
    [
        "messages",
        "log_entries",
        "conversations",
        "cursors",
        "group_members",
    ]
    .into_iter()
    .map(|table| {
        let count = connection
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap();
        (table, count)
    })
    .collect()
}

#[tokio::test]
async fn a_group_message_writes_the_same_rows_for_3_and_for_1500_members() {
    let dir = tempfile::tempdir().unwrap();
    let (store, app) = store_with_users(dir.path()).await;
    let members: Vec<User> = (0..1500)
        .map(|index| conformance::user(&format!("m{index}")))
        .collect();
    store.create_users(&app, &members).await.unwrap();
    let names: Vec<_> = members.iter().map(|user| user.name.clone()).collect();
    let mut added_rows = Vec::new();
    for (id, size) in [("101", 3usize), ("102", 1500)] {
        let group = Group {
            id: GroupId::parse(id).unwrap(),
            owner: name("leo"),
            settings: GroupSettings {
                name: "big".into(),
                description: String::new(),
                avatar: String::new(),
                public: false,
                approval: false,
                allow_invites: false,
                invite_need_confirm: false,
                max_users: 2000,
                custom: String::new(),
            },
            created_ms: 1000,
            modified_ms: 1000,
            member_count: 0,
            mute_all: false,
            announcement: String::new(),
        };
        store
            .create_group(&app, &group, &names[..size - 1], GroupQuota::UNLIMITED)
            .await
            .unwrap();
        let connection = Connection::open(dir.path().join("confab.db")).unwrap();
        let before = counts(&connection);
        let sent = NewMessage {
            app: app.clone(),
            log: LogId::Group(group.id.clone()),
            audience: Audience::Members,
            sender: name("leo"),
            sender_resource: "web".into(),
            client_id: Some(size as u64),
            body_digest: 0,
            sent_ms: 2000,
            meta: EncodeMeta::new(|_, _| bytes::Bytes::from_static(b"hello")),
            kind: "txt",
            history: group_entries("txt", &group.id),
        };
        store.append_message(sent).await.unwrap();
        let after = counts(&connection);
        let added: Vec<(&str, i64)> = before
            .iter()
            .zip(&after)
            .map(|((table, was), (_, is))| (*table, is - was))
            .collect();
        added_rows.push(added);
    }
    // The same for 3 members as for 1,500: one message, one entry.
    assert_eq!(added_rows[0], added_rows[1]);
    assert_eq!(
        added_rows[1],
        [
            ("messages", 1),
            ("log_entries", 1),
            ("conversations", 0),
            ("cursors", 0),
            ("group_members", 0),
        ]
    );
}
