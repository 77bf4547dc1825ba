//! Conformance cases of the group aggregate (`GroupStore`) and of group logs
//! (`LogId::Group`): who reads them, from when, and what an append checks.

use super::{app, device, list, name, stored, unread, user};
use crate::{
    ids::{AppKey, GroupId, LogId, MessageId, QueueName, UserName},
    store::{
        AppendEffect, Appended, Audience, ConversationChange, ConversationFilter,
        ConversationQuery, ConversationSummary, Device, EncodeMeta, Group, GroupChange,
        GroupMember, GroupOutcome, GroupQuota, GroupRequest, GroupRequestKind, GroupRole,
        GroupSettings, GroupSettingsChange, HistoryQuery, NewMessage, Pulled, SharedFile, Store,
        MAX_GROUP_UNREAD,
    },
};

fn gid(text: &str) -> GroupId {
    GroupId::parse(text).expect("valid group id")
}

/// A private group of `owner` created at `created_ms`, for at most `max_users`.
fn group(id: &str, owner: &str, created_ms: u64, max_users: u32) -> Group {
    Group {
        id: gid(id),
        owner: name(owner),
        settings: GroupSettings {
            name: format!("group {id}"),
            description: "about".into(),
            avatar: String::new(),
            public: false,
            approval: true,
            allow_invites: false,
            invite_need_confirm: false,
            max_users,
            custom: "ext".into(),
        },
        created_ms,
        modified_ms: created_ms,
        // Ignored by the store: it counts the members itself.
        member_count: 99,
        mute_all: false,
        announcement: String::new(),
    }
}

fn public(mut group: Group) -> Group {
    group.settings.public = true;
    group
}

/// A fresh app with these users.
async fn app_with(store: &dyn Store, app_name: &str, users: &[&str]) -> AppKey {
    let created = app("conf", app_name);
    store.create_app(&created).await.unwrap();
    let users: Vec<_> = users.iter().map(|text| user(text)).collect();
    store.create_users(&created.key, &users).await.unwrap();
    created.key
}

/// `sender`'s text (`kind` "txt") from `resource` to every member of group `to`, sent at
/// `sent_ms`; its meta is `group-<client_id>`.
fn group_message(
    app: &AppKey,
    to: &str,
    (sender, resource): (&str, &str),
    sent_ms: u64,
    client_id: u64,
) -> NewMessage {
    NewMessage {
        app: app.clone(),
        log: LogId::Group(gid(to)),
        audience: Audience::Members,
        sender: name(sender),
        sender_resource: resource.into(),
        client_id: Some(client_id),
        body_digest: 0,
        sent_ms,
        meta: EncodeMeta::new(move |_, _| bytes::Bytes::from(format!("group-{client_id}"))),
        kind: "txt",
        history: Vec::new(),
    }
}

/// A server meta (no `kind`, no client id) in group `to`'s log for `audience`, "sent" by
/// `sender`.
fn group_notice(
    app: &AppKey,
    to: &str,
    sender: &str,
    sent_ms: u64,
    audience: Audience,
) -> NewMessage {
    NewMessage {
        client_id: None,
        kind: "",
        audience,
        sender_resource: String::new(),
        ..group_message(app, to, (sender, ""), sent_ms, 0)
    }
}

async fn group_pull_page(
    store: &dyn Store,
    app: &AppKey,
    device: &Device,
    group: &str,
    key: Option<MessageId>,
) -> Pulled {
    let log = LogId::Group(gid(group));
    store
        .submit_pull(app, device, &log, key, 100)
        .await
        .unwrap()
}

/// One pull of `device`'s view of group `group`'s log: the page's ids.
async fn group_pull(
    store: &dyn Store,
    app: &AppKey,
    device: &Device,
    group: &str,
    key: Option<MessageId>,
) -> Vec<MessageId> {
    match group_pull_page(store, app, device, group, key).await {
        Pulled::Page(page) => page.iter().map(|message| message.id).collect(),
        Pulled::KeyBeyondEnd => panic!("key beyond the end"),
    }
}

fn member_names(members: &[GroupMember]) -> Vec<&str> {
    members.iter().map(|member| member.user.as_str()).collect()
}

fn ids_of(groups: &[Group]) -> Vec<&str> {
    groups.iter().map(|group| group.id.as_str()).collect()
}

fn sorted(mut users: Vec<UserName>) -> Vec<UserName> {
    users.sort();
    users
}

/// Groups are created with their members, read, changed, paged and deleted.
pub async fn group_lifecycle_members_roles_and_paging(store: &dyn Store) {
    let users = ["own", "amy", "bob", "cal", "dan", "eve", "fay"];
    let app = &app_with(store, "groups", &users).await;
    let [own, amy, bob, cal, dan, eve, fay] = users.map(name);
    let ghost = name("ghost");
    let (g1, g2) = (gid("1001"), gid("1002"));

    // The owner among the members, or repeated, counts once.
    assert_eq!(
        store
            .create_group(
                app,
                &group("1001", "own", 100, 10),
                &[amy.clone(), bob.clone(), own.clone(), amy.clone()],
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(())
    );
    let created = store.group(app, &g1).await.unwrap().unwrap();
    assert_eq!(
        created,
        Group {
            member_count: 3,
            ..group("1001", "own", 100, 10)
        }
    );
    // Nothing is written for a member (or an owner) who is no user, or past `max_users`.
    for (owner, members, max_users, outcome) in [
        (
            "amy",
            vec![own.clone(), ghost.clone()],
            10,
            GroupOutcome::NoUser(ghost.clone()),
        ),
        (
            "ghost",
            vec![amy.clone()],
            10,
            GroupOutcome::NoUser(ghost.clone()),
        ),
        ("amy", vec![own.clone(), bob.clone()], 2, GroupOutcome::Full),
    ] {
        assert_eq!(
            store
                .create_group(
                    app,
                    &group("1002", owner, 200, max_users),
                    &members,
                    GroupQuota::UNLIMITED
                )
                .await
                .unwrap(),
            outcome
        );
        assert_eq!(store.group(app, &g2).await.unwrap(), None);
        assert_eq!(store.joined_group_count(app, &own).await.unwrap(), 1);
    }
    // Exactly `max_users` fit.
    assert_eq!(
        store
            .create_group(
                app,
                &public(group("1002", "amy", 200, 2)),
                std::slice::from_ref(&own),
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(())
    );
    for (id, owner, created_ms) in [
        ("1003", "bob", 300),
        ("1004", "bob", 300),
        ("30", "cal", 400),
    ] {
        let created = public(group(id, owner, created_ms, 10));
        assert_eq!(
            store
                .create_group(app, &created, &[], GroupQuota::UNLIMITED)
                .await
                .unwrap(),
            GroupOutcome::Done(())
        );
    }
    // Those that exist, in the order asked; groups are per app.
    assert_eq!(
        ids_of(
            &store
                .groups(app, &[gid("1003"), gid("9999"), g1.clone()])
                .await
                .unwrap()
        ),
        ["1003", "1001"]
    );
    assert_eq!(store.group(app, &gid("9999")).await.unwrap(), None);
    let elsewhere = &AppKey::new("conf", "elsewhere").unwrap();
    assert_eq!(store.group(elsewhere, &g1).await.unwrap(), None);
    assert!(store
        .list_groups(elsewhere, true, None, 10)
        .await
        .unwrap()
        .is_empty());

    // Public groups by id, as numbers (30 before 1002), paged after an id.
    let first = store.list_groups(app, true, None, 2).await.unwrap();
    assert_eq!(ids_of(&first), ["30", "1002"]);
    assert_eq!(first[1].member_count, 2);
    assert_eq!(
        ids_of(
            &store
                .list_groups(app, true, Some(&first[1].id), 5)
                .await
                .unwrap()
        ),
        ["1003", "1004"]
    );
    assert!(store
        .list_groups(app, true, Some(&gid("1004")), 5)
        .await
        .unwrap()
        .is_empty());
    // Every group, for the app: the private 1001 too.
    assert_eq!(
        ids_of(&store.list_groups(app, false, None, 3).await.unwrap()),
        ["30", "1001", "1002"]
    );

    // Settings: a `max_users` below the member count is refused whole.
    let too_small = GroupSettingsChange {
        name: Some("renamed".into()),
        max_users: Some(2),
        ..GroupSettingsChange::default()
    };
    assert_eq!(
        store
            .change_group(app, &g1, &GroupChange::Settings(too_small), 500)
            .await
            .unwrap(),
        GroupOutcome::Full
    );
    assert_eq!(store.group(app, &g1).await.unwrap(), Some(created.clone()));
    let rename = GroupSettingsChange {
        name: Some("renamed".into()),
        public: Some(true),
        max_users: Some(3),
        ..GroupSettingsChange::default()
    };
    let GroupOutcome::Done(renamed) = store
        .change_group(app, &g1, &GroupChange::Settings(rename), 600)
        .await
        .unwrap()
    else {
        panic!("renamed");
    };
    let mut expected = created.clone();
    expected.settings.name = "renamed".into();
    expected.settings.public = true;
    expected.settings.max_users = 3;
    expected.modified_ms = 600;
    assert_eq!(renamed, expected);
    assert_eq!(store.group(app, &g1).await.unwrap(), Some(expected));
    let GroupOutcome::Done(muted) = store
        .change_group(app, &g1, &GroupChange::MuteAll(true), 700)
        .await
        .unwrap()
    else {
        panic!("muted");
    };
    assert!(muted.mute_all);
    assert_eq!(muted.modified_ms, 700);
    let GroupOutcome::Done(announced) = store
        .change_group(app, &g1, &GroupChange::Announcement("hello".into()), 800)
        .await
        .unwrap()
    else {
        panic!("announced");
    };
    assert_eq!(
        (
            announced.announcement.as_str(),
            announced.mute_all,
            announced.modified_ms,
            announced.settings.name.as_str()
        ),
        ("hello", true, 800, "renamed")
    );
    assert_eq!(
        store
            .change_group(app, &gid("9999"), &GroupChange::MuteAll(false), 800)
            .await
            .unwrap(),
        GroupOutcome::NoGroup
    );
    // The group is full (3 of 3): nothing is added.
    assert_eq!(
        store
            .add_group_members(
                app,
                &g1,
                std::slice::from_ref(&dan),
                850,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Full
    );

    // A new owner must be a member; the old one stays, as a member.
    assert_eq!(
        store
            .change_group(app, &g1, &GroupChange::Owner(dan.clone()), 900)
            .await
            .unwrap(),
        GroupOutcome::NotMember(dan.clone())
    );
    let GroupOutcome::Done(handed_over) = store
        .change_group(app, &g1, &GroupChange::Owner(amy.clone()), 900)
        .await
        .unwrap()
    else {
        panic!("new owner");
    };
    assert_eq!(
        (
            &handed_over.owner,
            handed_over.member_count,
            handed_over.modified_ms
        ),
        (&amy, 3, 900)
    );
    let role = |user: &UserName| {
        let user = user.clone();
        let g1 = g1.clone();
        async move {
            store
                .group_member(app, &g1, &user)
                .await
                .unwrap()
                .map(|member| member.role)
        }
    };
    assert_eq!(role(&own).await, Some(GroupRole::Member));
    assert_eq!(role(&amy).await, Some(GroupRole::Owner));
    assert_eq!(role(&dan).await, None);

    // Members join; those already members are left out of the answer; all or nothing.
    let more_room = GroupSettingsChange {
        max_users: Some(7),
        ..GroupSettingsChange::default()
    };
    assert!(matches!(
        store
            .change_group(app, &g1, &GroupChange::Settings(more_room), 950)
            .await
            .unwrap(),
        GroupOutcome::Done(_)
    ));
    assert_eq!(
        store
            .add_group_members(
                app,
                &g1,
                &[dan.clone(), ghost.clone()],
                1000,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::NoUser(ghost.clone())
    );
    assert_eq!(role(&dan).await, None);
    assert_eq!(
        store
            .add_group_members(
                app,
                &g1,
                &[dan.clone(), cal.clone(), bob.clone()],
                1000,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![dan.clone(), cal.clone()])
    );
    assert_eq!(
        store
            .add_group_members(
                app,
                &g1,
                std::slice::from_ref(&eve),
                1100,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![eve.clone()])
    );
    let added = store.group_member(app, &g1, &eve).await.unwrap().unwrap();
    assert_eq!(
        added,
        GroupMember {
            user: eve.clone(),
            role: GroupRole::Member,
            joined_ms: 1100,
            muted_until_ms: None,
        }
    );
    assert_eq!(
        store
            .add_group_members(
                app,
                &g1,
                &[fay.clone(), fay.clone()],
                1150,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![fay.clone()])
    );
    assert_eq!(
        store
            .remove_group_members(app, &g1, std::slice::from_ref(&fay))
            .await
            .unwrap(),
        GroupOutcome::Done(vec![fay.clone()])
    );

    // Admins: only members other than the owner; `false` when already so.
    let admin = |user: &UserName, admin: bool| {
        let user = user.clone();
        let g1 = g1.clone();
        async move {
            store
                .set_group_admin(app, &g1, &user, admin, GroupQuota::UNLIMITED)
                .await
                .unwrap()
        }
    };
    assert_eq!(admin(&cal, true).await, GroupOutcome::Done(true));
    assert_eq!(admin(&cal, true).await, GroupOutcome::Done(false));
    assert_eq!(admin(&own, true).await, GroupOutcome::Done(true));
    assert_eq!(admin(&eve, true).await, GroupOutcome::Done(true));
    assert_eq!(admin(&eve, false).await, GroupOutcome::Done(true));
    assert_eq!(
        admin(&amy, true).await,
        GroupOutcome::NotMember(amy.clone())
    );
    assert_eq!(
        admin(&fay, true).await,
        GroupOutcome::NotMember(fay.clone())
    );
    assert_eq!(
        store
            .set_group_admin(app, &gid("9999"), &cal, true, GroupQuota::UNLIMITED)
            .await
            .unwrap(),
        GroupOutcome::NoGroup
    );

    // The owner, admins, members: each by joining time, then by name.
    let members = store.group_members(app, &g1, 2000, 0, 100).await.unwrap();
    assert_eq!(
        member_names(&members),
        ["amy", "own", "cal", "bob", "dan", "eve"]
    );
    assert_eq!(
        members.iter().map(|member| member.role).collect::<Vec<_>>(),
        [
            GroupRole::Owner,
            GroupRole::Admin,
            GroupRole::Admin,
            GroupRole::Member,
            GroupRole::Member,
            GroupRole::Member
        ]
    );
    assert_eq!(
        members
            .iter()
            .map(|member| member.joined_ms)
            .collect::<Vec<_>>(),
        [100, 100, 1000, 100, 1000, 1100]
    );
    assert_eq!(
        member_names(&store.group_members(app, &g1, 2000, 2, 2).await.unwrap()),
        ["cal", "bob"]
    );
    assert!(store
        .group_members(app, &g1, 2000, 6, 2)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .group_members(app, &gid("9999"), 2000, 0, 10)
        .await
        .unwrap()
        .is_empty());

    // Removal: never the owner; an admin removed and added again is a plain member.
    assert_eq!(
        store
            .remove_group_members(
                app,
                &g1,
                &[bob.clone(), amy.clone(), ghost.clone(), cal.clone()]
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![bob.clone(), cal.clone()])
    );
    assert_eq!(
        store
            .remove_group_members(app, &gid("9999"), std::slice::from_ref(&bob))
            .await
            .unwrap(),
        GroupOutcome::NoGroup
    );
    assert_eq!(role(&amy).await, Some(GroupRole::Owner));
    assert_eq!(
        store
            .add_group_members(
                app,
                &g1,
                std::slice::from_ref(&cal),
                1300,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![cal.clone()])
    );
    assert_eq!(role(&cal).await, Some(GroupRole::Member));
    assert_eq!(
        store.group(app, &g1).await.unwrap().unwrap().member_count,
        5
    );

    // A user's groups: the latest joined first, then the newest group (the larger id) first,
    // with their role.
    assert_eq!(
        store
            .add_group_members(
                app,
                &gid("1004"),
                std::slice::from_ref(&own),
                1200,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![own.clone()])
    );
    assert_eq!(
        store
            .add_group_members(
                app,
                &gid("1003"),
                std::slice::from_ref(&own),
                1200,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![own.clone()])
    );
    let joined = store.joined_groups(app, &own, 0, 10).await.unwrap();
    assert_eq!(
        joined
            .iter()
            .map(|(group, role)| (group.id.as_str(), *role, group.member_count))
            .collect::<Vec<_>>(),
        [
            ("1004", GroupRole::Member, 2),
            ("1003", GroupRole::Member, 2),
            ("1002", GroupRole::Member, 2),
            ("1001", GroupRole::Admin, 5)
        ]
    );
    let page = store.joined_groups(app, &own, 1, 2).await.unwrap();
    assert_eq!(
        page.iter()
            .map(|(group, _)| group.id.as_str())
            .collect::<Vec<_>>(),
        ["1003", "1002"]
    );
    assert_eq!(store.joined_group_count(app, &own).await.unwrap(), 4);
    assert_eq!(store.joined_group_count(app, &fay).await.unwrap(), 0);
    assert!(store
        .joined_groups(app, &fay, 0, 10)
        .await
        .unwrap()
        .is_empty());

    // Deleting answers with the members just before, once.
    assert_eq!(
        store.delete_group(app, &g2).await.unwrap().map(sorted),
        Some(vec![amy.clone(), own.clone()])
    );
    assert_eq!(store.delete_group(app, &g2).await.unwrap(), None);
    assert_eq!(store.group(app, &g2).await.unwrap(), None);
    assert!(store
        .group_members(app, &g2, 2000, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.joined_group_count(app, &own).await.unwrap(), 3);
    assert_eq!(
        ids_of(&store.list_groups(app, true, None, 10).await.unwrap()),
        ["30", "1001", "1003", "1004"]
    );
}

/// Mutes with an expiry, blocklists that end memberships and refuse additions, allowlists,
/// and requests that a joining ends; a deleted user leaves them all.
pub async fn group_moderation_mutes_blocks_allowlist_and_requests(store: &dyn Store) {
    let users = ["own", "amy", "bob", "cal", "dan", "eve", "fay"];
    let app = &app_with(store, "moderation", &users).await;
    let [own, amy, bob, cal, dan, eve, fay] = users.map(name);
    let (g, nowhere) = (&gid("2001"), &gid("9999"));
    store
        .create_group(
            app,
            &group("2001", "own", 100, 10),
            &[amy.clone(), bob.clone(), cal.clone()],
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();

    // Mutes: members only; until a time; `group_members` leaves out a mute that ended,
    // `group_member` answers as stored.
    assert_eq!(
        store
            .mute_group_members(
                app,
                g,
                &[amy.clone(), dan.clone(), name("ghost")],
                Some(5000)
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![amy.clone()])
    );
    let muted_until = |now_ms: u64| async move {
        store
            .group_members(app, g, now_ms, 0, 10)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|member| Some((member.user.to_string(), member.muted_until_ms?)))
            .collect::<Vec<_>>()
    };
    assert_eq!(muted_until(4999).await, [("amy".to_owned(), 5000)]);
    assert!(muted_until(5000).await.is_empty());
    assert_eq!(
        store
            .group_member(app, g, &amy)
            .await
            .unwrap()
            .unwrap()
            .muted_until_ms,
        Some(5000)
    );
    assert_eq!(
        store
            .mute_group_members(app, g, std::slice::from_ref(&amy), None)
            .await
            .unwrap(),
        GroupOutcome::Done(vec![amy.clone()])
    );
    assert_eq!(
        store
            .group_member(app, g, &amy)
            .await
            .unwrap()
            .unwrap()
            .muted_until_ms,
        None
    );
    assert_eq!(
        store
            .mute_group_members(app, nowhere, std::slice::from_ref(&amy), Some(1))
            .await
            .unwrap(),
        GroupOutcome::NoGroup
    );

    // Blocking ends a membership (and an admin's role), never touches the owner, and may name
    // a user who is no member.
    assert_eq!(
        store
            .set_group_admin(app, g, &cal, true, GroupQuota::UNLIMITED)
            .await
            .unwrap(),
        GroupOutcome::Done(true)
    );
    assert_eq!(
        store
            .change_group_blocks(
                app,
                g,
                &[bob.clone(), own.clone(), dan.clone(), cal.clone()],
                true
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![bob.clone(), dan.clone(), cal.clone()])
    );
    assert_eq!(
        store.group_blocks(app, g).await.unwrap(),
        [bob.clone(), cal.clone(), dan.clone()]
    );
    assert_eq!(store.group_member(app, g, &bob).await.unwrap(), None);
    assert_eq!(store.group_member(app, g, &cal).await.unwrap(), None);
    assert_eq!(
        store
            .group_member(app, g, &own)
            .await
            .unwrap()
            .map(|member| member.role),
        Some(GroupRole::Owner)
    );
    let group_now = store.group(app, g).await.unwrap().unwrap();
    assert_eq!(group_now.member_count, 2);
    assert_eq!(
        store
            .change_group_blocks(app, g, std::slice::from_ref(&bob), true)
            .await
            .unwrap(),
        GroupOutcome::Done(Vec::new())
    );
    // A blocked user is not added, and neither is anyone else of the batch.
    assert_eq!(
        store
            .add_group_members(
                app,
                g,
                &[eve.clone(), bob.clone()],
                200,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Blocked(bob.clone())
    );
    assert_eq!(store.group_member(app, g, &eve).await.unwrap(), None);
    assert_eq!(
        store
            .change_group_blocks(app, g, &[cal.clone(), eve.clone()], false)
            .await
            .unwrap(),
        GroupOutcome::Done(vec![cal.clone()])
    );
    assert_eq!(
        store
            .add_group_members(
                app,
                g,
                std::slice::from_ref(&cal),
                300,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![cal.clone()])
    );
    assert_eq!(
        store
            .group_member(app, g, &cal)
            .await
            .unwrap()
            .map(|member| member.role),
        Some(GroupRole::Member)
    );
    assert_eq!(
        store
            .change_group_blocks(app, nowhere, std::slice::from_ref(&bob), false)
            .await
            .unwrap(),
        GroupOutcome::NoGroup
    );
    assert!(store.group_blocks(app, nowhere).await.unwrap().is_empty());

    // The allowlist, by name; only changes are answered.
    assert_eq!(
        store
            .change_group_allowlist(app, g, &[cal.clone(), amy.clone()], true)
            .await
            .unwrap(),
        GroupOutcome::Done(vec![cal.clone(), amy.clone()])
    );
    assert_eq!(
        store
            .change_group_allowlist(app, g, std::slice::from_ref(&amy), true)
            .await
            .unwrap(),
        GroupOutcome::Done(Vec::new())
    );
    assert_eq!(
        store.group_allowlist(app, g).await.unwrap(),
        [amy.clone(), cal.clone()]
    );
    assert_eq!(
        store
            .change_group_allowlist(app, g, &[cal.clone(), eve.clone()], false)
            .await
            .unwrap(),
        GroupOutcome::Done(vec![cal.clone()])
    );
    assert_eq!(
        store.group_allowlist(app, g).await.unwrap(),
        std::slice::from_ref(&amy)
    );
    assert_eq!(
        store
            .change_group_allowlist(app, nowhere, std::slice::from_ref(&amy), true)
            .await
            .unwrap(),
        GroupOutcome::NoGroup
    );

    // Requests: one per kind and user, a repeat replaces it; taking one ends it.
    let request = |kind, user: &UserName, from: &UserName, reason: &str, created_ms| GroupRequest {
        kind,
        user: user.clone(),
        from: from.clone(),
        reason: reason.into(),
        created_ms,
    };
    let application = |reason: &str, created_ms| {
        request(
            GroupRequestKind::Application,
            &eve,
            &eve,
            reason,
            created_ms,
        )
    };
    for sent in [
        application("let me in", 400),
        application("please", 410),
        request(GroupRequestKind::Invitation, &eve, &amy, "join us", 420),
        request(GroupRequestKind::Application, &fay, &fay, "me too", 430),
        request(GroupRequestKind::Invitation, &dan, &own, "", 440),
    ] {
        assert_eq!(
            store.add_group_request(app, g, &sent).await.unwrap(),
            GroupOutcome::Done(())
        );
    }
    assert_eq!(
        store
            .add_group_request(app, nowhere, &application("x", 1))
            .await
            .unwrap(),
        GroupOutcome::NoGroup
    );
    assert_eq!(
        store
            .take_group_request(app, g, GroupRequestKind::Application, &eve)
            .await
            .unwrap(),
        Some(application("please", 410))
    );
    assert_eq!(
        store
            .take_group_request(app, g, GroupRequestKind::Application, &eve)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_group_request(app, nowhere, GroupRequestKind::Invitation, &eve)
            .await
            .unwrap(),
        None
    );
    // Joining ends the joiner's pending requests (here: eve's invitation).
    assert_eq!(
        store
            .add_group_members(
                app,
                g,
                std::slice::from_ref(&eve),
                500,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![eve.clone()])
    );
    assert_eq!(
        store
            .take_group_request(app, g, GroupRequestKind::Invitation, &eve)
            .await
            .unwrap(),
        None
    );

    // A deleted user leaves the groups they do not own, the lists and the requests.
    store.delete_user(app, &amy).await.unwrap();
    store.delete_user(app, &dan).await.unwrap();
    store.delete_user(app, &fay).await.unwrap();
    assert_eq!(store.group_member(app, g, &amy).await.unwrap(), None);
    assert!(store.group_allowlist(app, g).await.unwrap().is_empty());
    assert_eq!(store.group_blocks(app, g).await.unwrap(), [bob]);
    assert_eq!(
        store
            .take_group_request(app, g, GroupRequestKind::Application, &fay)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_group_request(app, g, GroupRequestKind::Invitation, &dan)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        member_names(&store.group_members(app, g, 0, 0, 10).await.unwrap()),
        ["own", "cal", "eve"]
    );
    assert_eq!(store.joined_group_count(app, &amy).await.unwrap(), 0);
}

/// Who reads a group's log: each member from when they joined, while they are a member,
/// every device but the sending one; an entry for one user, whether a member or not.
pub async fn group_log_members_read_from_joining(store: &dyn Store) {
    let users = ["own", "amy", "bob", "cal", "dan"];
    let app = &app_with(store, "grouplog", &users).await;
    let [_own, amy, bob, cal, _dan] = users.map(name);
    let g = &gid("3001");
    let queue = QueueName::group(g);
    let (own_web, amy_phone, amy_pad, bob_phone) = (
        device("own", "web"),
        device("amy", "phone"),
        device("amy", "pad"),
        device("bob", "phone"),
    );
    for device in [&own_web, &amy_phone, &amy_pad, &bob_phone] {
        store.device_seen(app, device, 1).await.unwrap();
    }
    store
        .create_group(
            app,
            &group("3001", "own", 100, 10),
            &[amy.clone(), bob.clone()],
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    let send = |sender: (&str, &str), sent_ms: u64| {
        store.append_message(group_message(app, "3001", sender, sent_ms, sent_ms))
    };
    let m1 = stored(send(("own", "web"), 1000).await.unwrap());
    let m2 = stored(send(("amy", "phone"), 1100).await.unwrap());
    let m3 = stored(send(("bob", "phone"), 1200).await.unwrap());

    // Every device of every member but the sending one.
    assert_eq!(unread(store, app, &amy_phone).await, [(queue.clone(), 2)]);
    assert_eq!(unread(store, app, &amy_pad).await, [(queue.clone(), 3)]);
    assert_eq!(
        group_pull(store, app, &amy_phone, "3001", None).await,
        [m1, m3]
    );
    assert_eq!(
        group_pull(store, app, &amy_pad, "3001", None).await,
        [m1, m2, m3]
    );
    assert_eq!(
        group_pull(store, app, &own_web, "3001", None).await,
        [m2, m3]
    );
    assert_eq!(
        group_pull(store, app, &bob_phone, "3001", None).await,
        [m1, m2]
    );
    let Pulled::Page(page) = group_pull_page(store, app, &bob_phone, "3001", None).await else {
        panic!("a page");
    };
    assert_eq!(page[0].meta, bytes::Bytes::from("group-1000"));
    // Keys move each device's cursor alone.
    assert_eq!(
        group_pull(store, app, &amy_phone, "3001", Some(m1)).await,
        [m3]
    );
    assert_eq!(unread(store, app, &amy_phone).await, [(queue.clone(), 1)]);
    assert_eq!(unread(store, app, &amy_pad).await, [(queue.clone(), 3)]);
    assert_eq!(
        group_pull(store, app, &bob_phone, "3001", Some(m3)).await,
        []
    );
    assert!(unread(store, app, &bob_phone).await.is_empty());

    // Cal joins later: he reads what comes after, his first device included.
    assert_eq!(
        store
            .add_group_members(
                app,
                g,
                std::slice::from_ref(&cal),
                1300,
                GroupQuota::UNLIMITED
            )
            .await
            .unwrap(),
        GroupOutcome::Done(vec![cal.clone()])
    );
    let m4 = stored(send(("own", "web"), 1400).await.unwrap());
    let cal_phone = device("cal", "phone");
    store.device_seen(app, &cal_phone, 1450).await.unwrap();
    assert_eq!(unread(store, app, &cal_phone).await, [(queue.clone(), 1)]);
    assert_eq!(group_pull(store, app, &cal_phone, "3001", None).await, [m4]);
    // A key before his joining is within his view's end: nothing moves back or skips.
    assert_eq!(
        group_pull(store, app, &cal_phone, "3001", Some(m1)).await,
        [m4]
    );

    // Bob leaves: he reads no entry for every member any more, even one he had not read
    // (m4), but the notice addressed to him.
    assert_eq!(
        store
            .remove_group_members(app, g, std::slice::from_ref(&bob))
            .await
            .unwrap(),
        GroupOutcome::Done(vec![bob.clone()])
    );
    let removed = stored(
        store
            .append_message(group_notice(
                app,
                "3001",
                "own",
                1500,
                Audience::Member(bob.clone()),
            ))
            .await
            .unwrap(),
    );
    let m5 = stored(send(("amy", "phone"), 1600).await.unwrap());
    assert_eq!(unread(store, app, &bob_phone).await, [(queue.clone(), 1)]);
    assert_eq!(
        group_pull(store, app, &bob_phone, "3001", None).await,
        [removed]
    );
    // The others never see the notice for bob.
    assert_eq!(
        group_pull(store, app, &cal_phone, "3001", Some(m4)).await,
        [m5]
    );
    // A key past the newest entry of the device's view: refused, nothing moves. For bob,
    // m5 is past his view's end now.
    assert_eq!(
        group_pull_page(store, app, &bob_phone, "3001", Some(m5)).await,
        Pulled::KeyBeyondEnd
    );
    assert_eq!(
        group_pull_page(store, app, &cal_phone, "3001", Some(MessageId(m5.0 + 1))).await,
        Pulled::KeyBeyondEnd
    );
    assert_eq!(group_pull(store, app, &cal_phone, "3001", None).await, [m5]);
    assert_eq!(
        group_pull(store, app, &bob_phone, "3001", Some(removed)).await,
        []
    );
    assert!(unread(store, app, &bob_phone).await.is_empty());

    // An invitation to a user who is no member: theirs alone, readable from their first
    // device.
    let invitation = stored(
        store
            .append_message(group_notice(
                app,
                "3001",
                "own",
                1700,
                Audience::Member(name("dan")),
            ))
            .await
            .unwrap(),
    );
    let dan_phone = device("dan", "phone");
    store.device_seen(app, &dan_phone, 1750).await.unwrap();
    assert_eq!(unread(store, app, &dan_phone).await, [(queue.clone(), 1)]);
    assert_eq!(
        group_pull(store, app, &dan_phone, "3001", None).await,
        [invitation]
    );
    assert_eq!(
        group_pull(store, app, &amy_pad, "3001", None).await,
        [m1, m2, m3, m4, m5]
    );

    // A new device of amy's starts where the furthest of her devices is: the pad has read up
    // to m4, the phone up to m1 (m5 is its own).
    assert_eq!(
        group_pull(store, app, &amy_pad, "3001", Some(m4)).await,
        [m5]
    );
    let amy_web = device("amy", "web");
    store.device_seen(app, &amy_web, 1800).await.unwrap();
    assert_eq!(unread(store, app, &amy_web).await, [(queue.clone(), 1)]);
    assert_eq!(group_pull(store, app, &amy_web, "3001", None).await, [m5]);
    // Once one device has read it all, a new one has nothing to read.
    assert_eq!(group_pull(store, app, &amy_web, "3001", Some(m5)).await, []);
    let amy_tab = device("amy", "tab");
    store.device_seen(app, &amy_tab, 1850).await.unwrap();
    assert!(unread(store, app, &amy_tab).await.is_empty());
    assert_eq!(group_pull(store, app, &amy_tab, "3001", None).await, []);

    // Bob joins again: he reads from his new joining on, not what was said meanwhile.
    store
        .add_group_members(
            app,
            g,
            std::slice::from_ref(&bob),
            1900,
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    assert!(unread(store, app, &bob_phone).await.is_empty());
    let m6 = stored(send(("own", "web"), 2000).await.unwrap());
    assert_eq!(group_pull(store, app, &bob_phone, "3001", None).await, [m6]);

    // Blocked, cal stops reading too.
    store
        .change_group_blocks(app, g, std::slice::from_ref(&cal), true)
        .await
        .unwrap();
    assert!(unread(store, app, &cal_phone).await.is_empty());
    assert_eq!(group_pull(store, app, &cal_phone, "3001", None).await, []);

    // The group deleted: its members read nothing more for every member, but what was
    // addressed to them.
    let deleted = stored(
        store
            .append_message(group_notice(
                app,
                "3001",
                "own",
                2100,
                Audience::Member(amy.clone()),
            ))
            .await
            .unwrap(),
    );
    assert_eq!(unread(store, app, &amy_phone).await, [(queue.clone(), 4)]);
    store.delete_group(app, g).await.unwrap();
    assert_eq!(unread(store, app, &amy_phone).await, [(queue.clone(), 1)]);
    assert_eq!(
        group_pull(store, app, &amy_phone, "3001", None).await,
        [deleted]
    );
    assert!(unread(store, app, &bob_phone).await.is_empty());

    // Reclaiming takes out of a group's log only what is older than the cutoff (here with
    // every device): amy's next first device still reads the notice.
    let reclaimed = store.reclaim(2_050, 100).await.unwrap();
    assert!(reclaimed.entries >= 6);
    store.device_seen(app, &amy_phone, 3_000).await.unwrap();
    assert_eq!(unread(store, app, &amy_phone).await, [(queue.clone(), 1)]);
    assert_eq!(
        group_pull(store, app, &amy_phone, "3001", None).await,
        [deleted]
    );
}

/// What the append of a group's log checks, in its own step: the group, and for a message
/// its sender's membership and mutes; server metas pass whoever "sends" them.
pub async fn group_sends_are_checked_in_the_append(store: &dyn Store) {
    let users = ["own", "amy", "bob", "cal", "dan"];
    let app = &app_with(store, "groupsend", &users).await;
    let [own, amy, bob, cal, dan] = users.map(name);
    let g = &gid("4001");
    store
        .create_group(
            app,
            &group("4001", "own", 100, 10),
            &[amy.clone(), bob.clone(), cal.clone()],
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    let own_pad = device("own", "pad");
    store.device_seen(app, &own_pad, 1).await.unwrap();
    let mut kept = Vec::new();
    let send = |to: &str, sender: &str, sent_ms: u64| {
        store.append_message(group_message(app, to, (sender, "phone"), sent_ms, sent_ms))
    };

    // No such group: refused, messages and server metas alike.
    assert_eq!(send("4999", "own", 1000).await.unwrap(), Appended::NoGroup);
    assert_eq!(
        store
            .append_message(group_notice(app, "4999", "own", 1010, Audience::Members))
            .await
            .unwrap(),
        Appended::NoGroup
    );
    // A sender who is not a member, then one who is muted (at the time sent).
    assert_eq!(
        send("4001", "dan", 1100).await.unwrap(),
        Appended::NotGroupMember
    );
    kept.push(stored(send("4001", "amy", 1200).await.unwrap()));
    store
        .mute_group_members(app, g, std::slice::from_ref(&amy), Some(3000))
        .await
        .unwrap();
    assert_eq!(send("4001", "amy", 2000).await.unwrap(), Appended::Muted);
    // Server metas are not checked against membership or mutes.
    for (sender, audience) in [
        ("dan", Audience::Member(amy.clone())),
        ("amy", Audience::Members),
    ] {
        let notice = group_notice(app, "4001", sender, 2100, audience);
        kept.push(stored(store.append_message(notice).await.unwrap()));
    }
    // Once the mute has ended, amy sends again.
    kept.push(stored(send("4001", "amy", 3500).await.unwrap()));

    // All muted: the owner, admins and the allowlisted still send; a muted member does not,
    // allowlisted or not.
    store
        .set_group_admin(app, g, &cal, true, GroupQuota::UNLIMITED)
        .await
        .unwrap();
    store
        .change_group(app, g, &GroupChange::MuteAll(true), 4000)
        .await
        .unwrap();
    assert_eq!(send("4001", "bob", 4100).await.unwrap(), Appended::Muted);
    assert_eq!(send("4001", "amy", 4200).await.unwrap(), Appended::Muted);
    kept.push(stored(send("4001", "own", 4300).await.unwrap()));
    kept.push(stored(send("4001", "cal", 4400).await.unwrap()));
    store
        .change_group_allowlist(app, g, &[bob.clone(), amy.clone()], true)
        .await
        .unwrap();
    kept.push(stored(send("4001", "bob", 4500).await.unwrap()));
    kept.push(stored(send("4001", "amy", 4600).await.unwrap()));
    store
        .mute_group_members(app, g, std::slice::from_ref(&amy), Some(9000))
        .await
        .unwrap();
    assert_eq!(send("4001", "amy", 4700).await.unwrap(), Appended::Muted);
    let notice = group_notice(app, "4001", "amy", 4750, Audience::Members);
    kept.push(stored(store.append_message(notice).await.unwrap()));
    store
        .change_group(app, g, &GroupChange::MuteAll(false), 4800)
        .await
        .unwrap();
    kept.push(stored(send("4001", "bob", 4900).await.unwrap()));

    // A resend keeps the answer of the send it repeats, whatever changed since.
    let resent_id = kept[kept.len() - 1];
    assert_eq!(
        send("4001", "bob", 4900).await.unwrap(),
        Appended::Duplicate(resent_id)
    );
    store
        .mute_group_members(app, g, std::slice::from_ref(&bob), Some(9000))
        .await
        .unwrap();
    assert_eq!(
        send("4001", "bob", 4900).await.unwrap(),
        Appended::Duplicate(resent_id)
    );
    store
        .mute_group_members(app, g, std::slice::from_ref(&bob), None)
        .await
        .unwrap();

    // Contacts and user blocklists concern pairs: a member who blocked the sender still
    // reads them in the group.
    store
        .change_blocks(app, &dan, (std::slice::from_ref(&own), true), 100, 5000)
        .await
        .unwrap();
    store
        .change_blocks(app, &amy, (std::slice::from_ref(&own), true), 100, 5000)
        .await
        .unwrap();
    kept.push(stored(send("4001", "own", 5100).await.unwrap()));

    // What was refused was never written: own's pad reads exactly what was kept, but the
    // notice for amy alone.
    let for_own: Vec<MessageId> = kept.iter().copied().filter(|id| *id != kept[1]).collect();
    assert_eq!(
        group_pull(store, app, &own_pad, "4001", None).await,
        for_own
    );

    // Deleted, the group takes nothing more.
    store.delete_group(app, g).await.unwrap();
    assert_eq!(send("4001", "own", 6000).await.unwrap(), Appended::NoGroup);
    assert_eq!(
        store
            .append_message(group_notice(
                app,
                "4001",
                "own",
                6100,
                Audience::Member(amy.clone())
            ))
            .await
            .unwrap(),
        Appended::NoGroup
    );
    assert_eq!(group_pull(store, app, &own_pad, "4001", None).await, []);
}

/// `sender`'s text to every member of group `to` at `sent_ms`, in the group's shared history
/// as `submit_to_group` puts it; its meta is `group-<sent_ms>`.
fn group_text(app: &AppKey, to: &str, sender: &str, sent_ms: u64) -> NewMessage {
    NewMessage {
        history: crate::history::group_entries("txt", &gid(to)),
        ..group_message(app, to, (sender, "phone"), sent_ms, sent_ms)
    }
}

/// A receipt (a channel ack, a recall: no `kind`, not history) from `sender` in group `to`.
fn group_receipt(
    app: &AppKey,
    to: &str,
    sender: &str,
    sent_ms: u64,
    audience: Audience,
) -> NewMessage {
    NewMessage {
        kind: "",
        audience,
        ..group_message(app, to, (sender, "phone"), sent_ms, sent_ms)
    }
}

/// `from`'s text to `to` at `sent_ms`, in both parties' history.
fn pair_text(app: &AppKey, from: &str, to: &str, sent_ms: u64) -> NewMessage {
    let (sender, recipient) = (name(from), name(to));
    NewMessage {
        app: app.clone(),
        log: LogId::pair(&sender, &recipient),
        audience: Audience::Members,
        sender_resource: "phone".into(),
        client_id: Some(sent_ms),
        body_digest: 0,
        sent_ms,
        meta: EncodeMeta::new(move |_, _| bytes::Bytes::from(format!("pair-{sent_ms}"))),
        kind: "txt",
        history: crate::history::single_chat_entries("txt", &sender, &recipient),
        sender,
    }
}

/// A list row as the case compares them: the peer's or group's name, last message, unread.
fn row(name: &str, last: MessageId, unread: u32) -> (String, MessageId, u32) {
    (name.to_owned(), last, unread)
}

/// `owner`'s whole list as `row`s, in its order.
async fn rows(store: &dyn Store, app: &AppKey, owner: &str) -> Vec<(String, MessageId, u32)> {
    list(store, app, owner)
        .await
        .iter()
        .map(|summary| {
            let (name, _) = summary.conversation.jid_parts();
            row(name, summary.last.id, summary.unread)
        })
        .collect()
}

/// `owner`'s list with `filter`, walked `limit` at a time from each page's last place: the
/// names on each page.
async fn pages(
    store: &dyn Store,
    app: &AppKey,
    owner: &str,
    filter: ConversationFilter,
    limit: u32,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let query = ConversationQuery {
            filter,
            after,
            limit,
        };
        let page: Vec<ConversationSummary> = store
            .conversations(app, &name(owner), &query)
            .await
            .unwrap();
        assert!(
            page.len() <= limit as usize,
            "a page holds at most its limit"
        );
        let Some(last) = page.last() else {
            return pages;
        };
        after = Some(last.place(filter));
        pages.push(
            page.iter()
                .map(|summary| summary.conversation.jid_parts().0.to_owned())
                .collect(),
        );
    }
}

/// The conversation list shows the groups a user is a member of beside their pair
/// conversations, in one order and one paging: a group's last message is the newest of the
/// history its members share; its unread count, the others' messages after the user's read
/// marker, deletion point and joining, whichever is last, up to `MAX_GROUP_UNREAD`; pins and
/// marks are the user's own. A group the user left, or that was deleted, is not listed.
pub async fn group_conversations_list_with_pairs_and_unread_counts(store: &dyn Store) {
    use ConversationFilter::{All, Marked, Pinned};
    let users = ["ann", "bob", "cal", "dan"];
    let app = &app_with(store, "grouplist", &users).await;
    let [ann, bob, cal, dan] = users.map(name);
    let (g1, g2) = (gid("5001"), gid("5002"));
    let (q1, q2) = (QueueName::group(&g1), QueueName::group(&g2));
    let with_dan = QueueName::single_chat(&dan);
    store
        .create_group(
            app,
            &group("5001", "bob", 100, 10),
            &[ann.clone(), cal.clone()],
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    store
        .create_group(
            app,
            &group("5002", "cal", 100, 10),
            std::slice::from_ref(&bob),
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    let say = |to: &'static str, sender: &'static str, sent_ms: u64| async move {
        stored(
            store
                .append_message(group_text(app, to, sender, sent_ms))
                .await
                .unwrap(),
        )
    };

    // Before ann is in 5002. In 5001 since its creation, her own message does not count.
    let _g2a = say("5002", "cal", 1000).await;
    let g2b = say("5002", "bob", 1100).await;
    let g1a = say("5001", "bob", 1200).await;
    let g1b = say("5001", "ann", 1300).await;
    let g1c = say("5001", "cal", 1400).await;
    assert_eq!(rows(store, app, "ann").await, [row("5001", g1c, 2)]);
    // Once she joins 5002, it is listed at once, with what was said before her as its last
    // message but not unread.
    store
        .add_group_members(
            app,
            &g2,
            std::slice::from_ref(&ann),
            1500,
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(
        rows(store, app, "ann").await,
        [row("5001", g1c, 2), row("5002", g2b, 0)]
    );
    let p1 = stored(
        store
            .append_message(pair_text(app, "dan", "ann", 1600))
            .await
            .unwrap(),
    );
    let _g2c = say("5002", "cal", 1700).await;
    let _g2d = say("5002", "ann", 1800).await;
    let g2e = say("5002", "bob", 1900).await;
    let listed = list(store, app, "ann").await;
    assert_eq!(listed[0].last.meta, bytes::Bytes::from("group-1900"));
    assert_eq!(listed[1].last.meta, bytes::Bytes::from("pair-1600"));
    assert_eq!(
        rows(store, app, "ann").await,
        [row("5002", g2e, 2), row("dan", p1, 1), row("5001", g1c, 2)]
    );
    // Bob, in both from their creation: every message of others counts.
    assert_eq!(
        rows(store, app, "bob").await,
        [row("5002", g2e, 3), row("5001", g1c, 2)]
    );

    // Pages mix both kinds, in one order, from any place.
    assert_eq!(
        pages(store, app, "ann", All, 1).await,
        [vec!["5002"], vec!["dan"], vec!["5001"]]
    );
    assert_eq!(
        pages(store, app, "ann", All, 2).await,
        [vec!["5002", "dan"], vec!["5001"]]
    );

    // Ann's channel ack of 5002 (to her other devices) reads it all, for her alone.
    let read = AppendEffect::ConversationRead {
        owner: ann.clone(),
        conversation: q2.clone(),
    };
    let ack = group_receipt(app, "5002", "ann", 2000, Audience::Member(ann.clone()));
    let ack = stored(store.submit_append_with(ack, read).await.unwrap());
    assert_eq!(
        store.conversation_read_up_to(app, &ann, &q2).await.unwrap(),
        Some(ack)
    );
    assert_eq!(
        rows(store, app, "ann").await,
        [row("5002", g2e, 0), row("dan", p1, 1), row("5001", g1c, 2)]
    );
    assert_eq!(
        rows(store, app, "bob").await,
        [row("5002", g2e, 3), row("5001", g1c, 2)]
    );

    // Pins and marks on group conversations as on pairs; equal pins by name.
    for (conversation, change) in [
        (&q1, ConversationChange::Pin(Some(50))),
        (&with_dan, ConversationChange::Pin(Some(50))),
        (&q2, ConversationChange::Pin(Some(70))),
        (&q1, ConversationChange::AddMarks(vec![1, 4])),
        (&with_dan, ConversationChange::AddMarks(vec![1])),
        (&q1, ConversationChange::RemoveMarks(vec![4])),
    ] {
        store
            .change_conversation(app, &ann, conversation, change)
            .await
            .unwrap();
    }
    let listed = list(store, app, "ann").await;
    let settings: Vec<(Option<u64>, Vec<u8>)> = listed
        .iter()
        .map(|summary| (summary.pinned_ms, summary.marks.clone()))
        .collect();
    assert_eq!(
        settings,
        [(Some(70), vec![]), (Some(50), vec![1]), (Some(50), vec![1])]
    );
    assert_eq!(
        pages(store, app, "ann", Pinned, 1).await,
        [vec!["5002"], vec!["5001"], vec!["dan"]]
    );
    assert_eq!(
        pages(store, app, "ann", Pinned, 2).await,
        [vec!["5002", "5001"], vec!["dan"]]
    );
    assert_eq!(
        pages(store, app, "ann", Marked(1), 1).await,
        [vec!["dan"], vec!["5001"]]
    );
    assert!(pages(store, app, "ann", Marked(4), 5).await.is_empty());
    // Bob's settings of the same groups are his own.
    assert!(pages(store, app, "bob", Pinned, 5).await.is_empty());
    for (conversation, change) in [
        (&q1, ConversationChange::Pin(None)),
        (&with_dan, ConversationChange::Pin(None)),
        (&q1, ConversationChange::RemoveMarks(vec![1])),
    ] {
        store
            .change_conversation(app, &ann, conversation, change)
            .await
            .unwrap();
    }
    assert_eq!(pages(store, app, "ann", Pinned, 5).await, [vec!["5002"]]);
    assert_eq!(pages(store, app, "ann", Marked(1), 5).await, [vec!["dan"]]);

    // Deleting 5001 hides it from ann's list alone. Her one-way removals and the deletion
    // with history take messages out of what she reads of the shared history; the shared
    // history itself, and what bob reads of it, stay whole.
    let reads = |owner: &'static str| {
        let query = HistoryQuery {
            conversation: q1.clone(),
            cursor: None,
            newest_first: false,
            limit: 100,
            from: None,
            kinds: Vec::new(),
            start_ms: None,
            end_ms: None,
        };
        async move {
            let owner = if owner == "#" {
                UserName::group_history()
            } else {
                UserName::parse(owner).unwrap()
            };
            let page = store.history_page(app, &owner, &query).await.unwrap();
            page.iter().map(|message| message.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(reads("ann").await, [g1a, g1b, g1c]);
    for (change, left) in [
        (
            ConversationChange::RemoveMessages(vec![g1b]),
            vec![g1a, g1c],
        ),
        // Older than g1b's time: g1a goes, g1b was gone already.
        (ConversationChange::RemoveBefore(1300), vec![g1c]),
        (ConversationChange::Delete { history: true }, vec![]),
    ] {
        store
            .change_conversation(app, &ann, &q1, change)
            .await
            .unwrap();
        assert_eq!(reads("ann").await, left);
        assert_eq!(reads("bob").await, [g1a, g1b, g1c]);
        assert_eq!(reads("#").await, [g1a, g1b, g1c]);
    }
    assert_eq!(
        rows(store, app, "ann").await,
        [row("5002", g2e, 0), row("dan", p1, 1)]
    );
    assert_eq!(
        rows(store, app, "bob").await,
        [row("5002", g2e, 3), row("5001", g1c, 2)]
    );
    // A newer message brings it back, with only what came after the deletion unread.
    let g1d = say("5001", "cal", 2100).await;
    assert_eq!(
        rows(store, app, "ann").await,
        [row("5001", g1d, 1), row("5002", g2e, 0), row("dan", p1, 1)]
    );
    // What she removed stays removed; what came after she reads.
    assert_eq!(reads("ann").await, [g1d]);

    // Recalling the newest message makes the one before it the last again, and it no longer
    // counts.
    let g1e = say("5001", "bob", 2200).await;
    assert_eq!(rows(store, app, "ann").await[0], row("5001", g1e, 2));
    let recall = group_receipt(app, "5001", "bob", 2300, Audience::Members);
    let recall = store.submit_append_with(recall, AppendEffect::Recall { target: g1e });
    stored(recall.await.unwrap());
    assert_eq!(
        rows(store, app, "ann").await,
        [row("5001", g1d, 1), row("5002", g2e, 0), row("dan", p1, 1)]
    );
    assert_eq!(
        rows(store, app, "bob").await,
        [row("5001", g1d, 3), row("5002", g2e, 3)]
    );

    // The count stops at `MAX_GROUP_UNREAD` (sent at once, awaited after).
    let sent: Vec<_> = (0..u64::from(MAX_GROUP_UNREAD) + 5)
        .map(|n| store.submit_append(group_text(app, "5002", "bob", 10_000 + n)))
        .collect();
    let mut newest = MessageId(0);
    for appended in sent {
        newest = stored(appended.await.unwrap());
    }
    assert_eq!(
        rows(store, app, "ann").await,
        [
            row("5002", newest, MAX_GROUP_UNREAD),
            row("5001", g1d, 1),
            row("dan", p1, 1)
        ]
    );
    assert_eq!(
        rows(store, app, "cal").await,
        [row("5002", newest, MAX_GROUP_UNREAD), row("5001", g1d, 2)]
    );

    // Ann leaves 5001: no longer hers to list, the others still list it. Back in it, she
    // reads from her new joining.
    store
        .remove_group_members(app, &g1, std::slice::from_ref(&ann))
        .await
        .unwrap();
    assert_eq!(
        rows(store, app, "ann").await,
        [row("5002", newest, MAX_GROUP_UNREAD), row("dan", p1, 1)]
    );
    assert_eq!(rows(store, app, "bob").await[1], row("5001", g1d, 3));
    store
        .add_group_members(
            app,
            &g1,
            std::slice::from_ref(&ann),
            30_000,
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(
        rows(store, app, "ann").await,
        [
            row("5002", newest, MAX_GROUP_UNREAD),
            row("5001", g1d, 0),
            row("dan", p1, 1)
        ]
    );

    // 5002 deleted: listed by no one, under no filter.
    store.delete_group(app, &g2).await.unwrap();
    assert_eq!(
        rows(store, app, "ann").await,
        [row("5001", g1d, 0), row("dan", p1, 1)]
    );
    assert!(pages(store, app, "ann", Pinned, 5).await.is_empty());
    assert_eq!(rows(store, app, "bob").await, [row("5001", g1d, 3)]);
}

/// Group read receipts: each reader counts once per message, per group; the readers page by
/// name; a deleted group keeps none.
pub async fn group_read_receipts_count_each_reader_once(store: &dyn Store) {
    let app = &app_with(store, "reads", &["amy", "bob", "cal", "dan"]).await;
    let members = [name("bob"), name("cal"), name("dan")];
    let created = store
        .create_group(
            app,
            &group("2001", "amy", 100, 10),
            &members,
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(created, GroupOutcome::Done(()));
    let (one, two) = (MessageId(1 << 22), MessageId(2 << 22));
    for (reader, expected) in [("cal", 1), ("bob", 2), ("cal", 2), ("dan", 3)] {
        let count = store
            .record_group_read(app, &gid("2001"), one, &name(reader), 200)
            .await
            .unwrap();
        assert_eq!(count, expected, "{reader}");
    }
    assert_eq!(
        store
            .record_group_read(app, &gid("2001"), two, &name("bob"), 200)
            .await
            .unwrap(),
        1
    );
    let (first, total) = store
        .group_readers(app, &gid("2001"), one, None, 2)
        .await
        .unwrap();
    assert_eq!((first, total), (vec![name("bob"), name("cal")], 3));
    let (rest, _) = store
        .group_readers(app, &gid("2001"), one, Some(&name("cal")), 2)
        .await
        .unwrap();
    assert_eq!(rest, vec![name("dan")]);
    // Another group's message of the same id has readers of its own: none.
    assert_eq!(
        store
            .group_readers(app, &gid("2002"), one, None, 10)
            .await
            .unwrap(),
        (Vec::new(), 0)
    );
    // No such group: nothing recorded.
    assert_eq!(
        store
            .record_group_read(app, &gid("2002"), one, &name("bob"), 200)
            .await
            .unwrap(),
        0
    );
    store.delete_group(app, &gid("2001")).await.unwrap();
    assert_eq!(
        store
            .group_readers(app, &gid("2001"), one, None, 10)
            .await
            .unwrap(),
        (Vec::new(), 0)
    );
}

/// The deployment's quotas hold in the step that would pass them: groups per user (at
/// creation and when members are added) and admins per group.
pub async fn group_quotas_hold_in_the_same_step(store: &dyn Store) {
    let app = &app_with(store, "quotas", &["amy", "bob", "cal", "dan"]).await;
    let quota = GroupQuota {
        max_joined_groups: 2,
        max_admins: 1,
    };
    for id in ["3001", "3002"] {
        let created = store
            .create_group(app, &group(id, "amy", 100, 10), &[name("bob")], quota)
            .await
            .unwrap();
        assert_eq!(created, GroupOutcome::Done(()), "{id}");
    }
    // Amy (and Bob) are in two groups: a third is refused whole.
    assert_eq!(
        store
            .create_group(app, &group("3003", "cal", 100, 10), &[name("bob")], quota)
            .await
            .unwrap(),
        GroupOutcome::TooManyGroups(name("bob"))
    );
    assert_eq!(store.group(app, &gid("3003")).await.unwrap(), None);
    let created = store
        .create_group(app, &group("3003", "cal", 100, 10), &[name("dan")], quota)
        .await
        .unwrap();
    assert_eq!(created, GroupOutcome::Done(()));
    assert_eq!(
        store
            .add_group_members(app, &gid("3003"), &[name("amy")], 200, quota)
            .await
            .unwrap(),
        GroupOutcome::TooManyGroups(name("amy"))
    );
    assert_eq!(
        store
            .group_member(app, &gid("3003"), &name("amy"))
            .await
            .unwrap(),
        None
    );
    // Admins: one allowed; setting the same one again changes nothing and is no error.
    assert_eq!(
        store
            .set_group_admin(app, &gid("3001"), &name("bob"), true, quota)
            .await
            .unwrap(),
        GroupOutcome::Done(true)
    );
    assert_eq!(
        store
            .set_group_admin(app, &gid("3001"), &name("bob"), true, quota)
            .await
            .unwrap(),
        GroupOutcome::Done(false)
    );
    store
        .add_group_members(
            app,
            &gid("3003"),
            &[name("bob")],
            200,
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    store
        .add_group_members(app, &gid("3001"), &[name("cal")], 200, quota)
        .await
        .unwrap();
    assert_eq!(
        store
            .set_group_admin(app, &gid("3001"), &name("cal"), true, quota)
            .await
            .unwrap(),
        GroupOutcome::TooManyAdmins
    );
}

/// Member attributes: merged per member within a size, read for many, gone with the member.
pub async fn group_member_attributes_merge_within_a_limit_and_leave_with_the_member(
    store: &dyn Store,
) {
    let app = &app_with(store, "attrs", &["amy", "bob", "cal"]).await;
    let g = gid("4001");
    store
        .create_group(
            app,
            &group("4001", "amy", 100, 10),
            &[name("bob")],
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    let set = |user: &str, changes: Vec<(&str, &str)>, max: usize| {
        let changes: Vec<(String, String)> = changes
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        let (user, g) = (name(user), g.clone());
        async move {
            store
                .set_group_member_attributes(app, &g, &user, (&changes, max))
                .await
                .unwrap()
        }
    };
    let attributes = |pairs: &[(&str, &str)]| -> crate::store::MemberAttributes {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    };
    assert_eq!(
        set("bob", vec![("nick", "B"), ("role", "dev")], 100).await,
        GroupOutcome::Done(attributes(&[("nick", "B"), ("role", "dev")]))
    );
    // Merged; an empty value removes the key.
    assert_eq!(
        set("bob", vec![("nick", "Bobby"), ("role", "")], 100).await,
        GroupOutcome::Done(attributes(&[("nick", "Bobby")]))
    );
    // Past the size (keys and values): nothing written.
    assert_eq!(
        set("bob", vec![("bio", "x".repeat(40).as_str())], 20).await,
        GroupOutcome::Full
    );
    assert_eq!(
        set("cal", vec![("nick", "C")], 100).await,
        GroupOutcome::NotMember(name("cal"))
    );
    assert_eq!(
        store
            .set_group_member_attributes(app, &gid("4999"), &name("bob"), (&[], 100))
            .await
            .unwrap(),
        GroupOutcome::NoGroup
    );
    set("amy", vec![("nick", "A")], 100).await;
    let read = store
        .group_member_attributes(app, &g, &[name("bob"), name("cal"), name("amy")], &[])
        .await
        .unwrap();
    assert_eq!(
        read,
        vec![
            (name("bob"), attributes(&[("nick", "Bobby")])),
            (name("amy"), attributes(&[("nick", "A")])),
        ]
    );
    let only = store
        .group_member_attributes(app, &g, &[name("bob")], &["role".to_owned()])
        .await
        .unwrap();
    assert_eq!(only, vec![(name("bob"), attributes(&[]))]);
    // Bob leaves and comes back: he starts with none.
    store
        .remove_group_members(app, &g, &[name("bob")])
        .await
        .unwrap();
    store
        .add_group_members(app, &g, &[name("bob")], 200, GroupQuota::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(
        store
            .group_member_attributes(app, &g, &[name("bob")], &[])
            .await
            .unwrap(),
        vec![(name("bob"), attributes(&[]))]
    );
}

/// A listed audience (`receiverList`): only those users read the entry (not the sending
/// device), it counts as unread for them alone, and members outside the list never see it.
pub async fn a_listed_group_entry_is_read_by_the_listed_only(store: &dyn Store) {
    let app = &app_with(store, "listed", &["amy", "bob", "cal"]).await;
    store
        .create_group(
            app,
            &group("5001", "amy", 100, 10),
            &[name("bob"), name("cal")],
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    let (bob, cal) = (device("bob", "web"), device("cal", "web"));
    let (amy_phone, amy_web) = (device("amy", "phone"), device("amy", "web"));
    for device in [&bob, &cal, &amy_phone, &amy_web] {
        store.device_seen(app, device, 100).await.unwrap();
    }
    let listed = NewMessage {
        audience: Audience::Listed(vec![name("amy"), name("bob")]),
        ..group_message(app, "5001", ("amy", "phone"), 200, 1)
    };
    let id = stored(store.append_message(listed).await.unwrap());
    let everyone = stored(
        store
            .append_message(group_message(app, "5001", ("amy", "phone"), 210, 2))
            .await
            .unwrap(),
    );
    assert_eq!(
        group_pull(store, app, &bob, "5001", None).await,
        [id, everyone]
    );
    assert_eq!(group_pull(store, app, &cal, "5001", None).await, [everyone]);
    assert_eq!(
        group_pull(store, app, &amy_web, "5001", None).await,
        [id, everyone]
    );
    assert!(group_pull(store, app, &amy_phone, "5001", None)
        .await
        .is_empty());
    let queue = QueueName::group(&gid("5001"));
    assert_eq!(unread(store, app, &bob).await, [(queue.clone(), 2)]);
    assert_eq!(unread(store, app, &cal).await, [(queue, 1)]);
}

/// Shared files: listed latest first and paged, found by id in their group only, removed once,
/// gone with the group.
pub async fn group_files_list_latest_first_and_leave_with_the_group(store: &dyn Store) {
    let app = &app_with(store, "files", &["amy", "bob"]).await;
    store
        .create_group(
            app,
            &group("6001", "amy", 100, 10),
            &[name("bob")],
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    let file = |id: &str, owner: &str, created_ms: u64| SharedFile {
        id: id.to_owned(),
        name: format!("{id}.txt"),
        owner: name(owner),
        size: 10,
        created_ms,
    };
    for shared in [
        file("f1", "amy", 100),
        file("f2", "bob", 300),
        file("f3", "bob", 200),
    ] {
        let added = store
            .add_group_file(app, &gid("6001"), &shared)
            .await
            .unwrap();
        assert_eq!(added, GroupOutcome::Done(()));
    }
    assert_eq!(
        store
            .add_group_file(app, &gid("6999"), &file("f9", "amy", 1))
            .await
            .unwrap(),
        GroupOutcome::NoGroup
    );
    let ids = |files: Vec<SharedFile>| files.into_iter().map(|f| f.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.group_files(app, &gid("6001"), 0, 2).await.unwrap()),
        ["f2", "f3"]
    );
    assert_eq!(
        ids(store.group_files(app, &gid("6001"), 2, 2).await.unwrap()),
        ["f1"]
    );
    assert_eq!(
        store.group_file(app, &gid("6001"), "f3").await.unwrap(),
        Some(file("f3", "bob", 200))
    );
    assert_eq!(
        store.group_file(app, &gid("6999"), "f3").await.unwrap(),
        None
    );
    assert!(store
        .remove_group_file(app, &gid("6001"), "f3")
        .await
        .unwrap());
    assert!(!store
        .remove_group_file(app, &gid("6001"), "f3")
        .await
        .unwrap());
    store.delete_group(app, &gid("6001")).await.unwrap();
    assert!(store
        .group_files(app, &gid("6001"), 0, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A member who blocks the group's messages reads none of its entries for every member, while
/// they block; what is addressed to them still comes; unblocking brings the newer ones.
pub async fn a_member_who_blocks_the_group_reads_only_what_is_addressed_to_them(store: &dyn Store) {
    let app = &app_with(store, "shield", &["amy", "bob"]).await;
    store
        .create_group(
            app,
            &group("7001", "amy", 100, 10),
            &[name("bob")],
            GroupQuota::UNLIMITED,
        )
        .await
        .unwrap();
    let bob = device("bob", "web");
    store.device_seen(app, &bob, 100).await.unwrap();
    let shield = |on: bool| async move {
        store
            .set_group_shield(app, &gid("7001"), &name("bob"), on)
            .await
            .unwrap()
    };
    assert_eq!(shield(true).await, GroupOutcome::Done(true));
    assert_eq!(shield(true).await, GroupOutcome::Done(false));
    let hidden = stored(
        store
            .append_message(group_message(app, "7001", ("amy", "phone"), 200, 1))
            .await
            .unwrap(),
    );
    let addressed = stored(
        store
            .append_message(group_notice(
                app,
                "7001",
                "amy",
                210,
                Audience::Member(name("bob")),
            ))
            .await
            .unwrap(),
    );
    assert_eq!(
        group_pull(store, app, &bob, "7001", None).await,
        [addressed]
    );
    assert_ne!(hidden, addressed);
    assert_eq!(shield(false).await, GroupOutcome::Done(true));
    let seen = stored(
        store
            .append_message(group_message(app, "7001", ("amy", "phone"), 220, 2))
            .await
            .unwrap(),
    );
    assert!(group_pull(store, app, &bob, "7001", None)
        .await
        .contains(&seen));
    assert_eq!(
        store
            .set_group_shield(app, &gid("7001"), &name("cal"), true)
            .await
            .unwrap(),
        GroupOutcome::NotMember(name("cal"))
    );
}
