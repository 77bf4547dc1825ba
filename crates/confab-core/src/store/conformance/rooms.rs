//! Conformance cases of the chat-room aggregate (`RoomStore`) and of room logs
//! (`LogId::Room`): kept for history and recall, read by nobody.

use super::{app, device, name, stored, user};
use crate::{
    ids::{AppKey, LogId, QueueName, RoomId, UserName},
    store::{
        AbsentMember, AppendEffect, AttributeChange, AttributeLimits, AttributeRefusal, Audience,
        ConversationFilter, ConversationQuery, EncodeMeta, HistoryEntry, HistoryQuery, NewMessage,
        Pulled, Room, RoomAttribute, RoomChange, RoomDeparture, RoomMember, RoomOutcome, RoomQuota,
        RoomRole, RoomSettings, RoomSettingsChange, SharedFile, Store, StoredMessage,
    },
};

fn rid(text: &str) -> RoomId {
    RoomId::parse(text).expect("valid room id")
}

/// A room of `owner` created at `created_ms`, for at most `max_users`.
fn room(id: &str, owner: &str, created_ms: u64, max_users: u32) -> Room {
    Room {
        id: rid(id),
        owner: name(owner),
        settings: RoomSettings {
            name: format!("room {id}"),
            description: "about".into(),
            max_users,
            custom: "ext".into(),
        },
        created_ms,
        // Ignored by the store: it counts the members itself.
        member_count: 99,
        mute_all: false,
        announcement: String::new(),
    }
}

/// `room` as read back with `member_count` members.
fn counted(room: Room, member_count: u32) -> Room {
    Room {
        member_count,
        ..room
    }
}

/// A fresh app with these users.
async fn app_with(store: &dyn Store, app_name: &str, users: &[&str]) -> AppKey {
    let created = app("conf", app_name);
    store.create_app(&created).await.unwrap();
    let users: Vec<_> = users.iter().map(|text| user(text)).collect();
    store.create_users(&created.key, &users).await.unwrap();
    created.key
}

/// Creates room `id` of `owner` (at `created_ms`, for 10) with `members`; it must succeed.
async fn create(
    store: &dyn Store,
    app: &AppKey,
    (id, owner, created_ms): (&str, &str, u64),
    members: &[&str],
) {
    let members: Vec<UserName> = members.iter().map(|text| name(text)).collect();
    let created = store
        .create_room(
            app,
            &room(id, owner, created_ms, 10),
            &members,
            RoomQuota::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(created, RoomOutcome::Done(()), "room {id}");
}

fn names(users: &[&str]) -> Vec<UserName> {
    users.iter().map(|text| name(text)).collect()
}

/// Users in name order: for answers whose order the port leaves open.
fn sorted(mut users: Vec<UserName>) -> Vec<UserName> {
    users.sort();
    users
}

fn sorted_outcome(outcome: RoomOutcome<Vec<UserName>>) -> RoomOutcome<Vec<UserName>> {
    match outcome {
        RoomOutcome::Done(users) => RoomOutcome::Done(sorted(users)),
        other => other,
    }
}

/// Departures by user, each with its keys in order: for answers whose order the port leaves
/// open.
fn sorted_departures(outcome: RoomOutcome<Vec<RoomDeparture>>) -> RoomOutcome<Vec<RoomDeparture>> {
    match outcome {
        RoomOutcome::Done(mut departures) => {
            for departure in &mut departures {
                departure.attributes_removed.sort();
            }
            departures.sort_by(|a, b| a.user.cmp(&b.user));
            RoomOutcome::Done(departures)
        }
        other => other,
    }
}

fn departure(user: &str, keys: &[&str]) -> RoomDeparture {
    RoomDeparture {
        user: name(user),
        attributes_removed: strings(keys),
    }
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|text| (*text).to_owned()).collect()
}

fn ids_of(rooms: &[Room]) -> Vec<&str> {
    rooms.iter().map(|room| room.id.as_str()).collect()
}

fn member(user: &str, role: RoomRole, joined_ms: u64, muted_until_ms: Option<u64>) -> RoomMember {
    RoomMember {
        user: name(user),
        role,
        joined_ms,
        muted_until_ms,
    }
}

async fn member_names(store: &dyn Store, app: &AppKey, id: &RoomId) -> Vec<UserName> {
    sorted(store.room_member_names(app, id).await.unwrap())
}

async fn all_members(store: &dyn Store, app: &AppKey, id: &RoomId, now_ms: u64) -> Vec<RoomMember> {
    store.room_members(app, id, now_ms, 0, 100).await.unwrap()
}

async fn joined(store: &dyn Store, app: &AppKey, user: &str) -> Vec<String> {
    let rooms = store.joined_rooms(app, &name(user), 0, 100).await.unwrap();
    rooms.iter().map(|room| room.id.to_string()).collect()
}

/// Generous attribute limits.
const LIMITS: AttributeLimits = AttributeLimits {
    max_count: 100,
    max_key_bytes: 128,
    max_value_bytes: 4096,
};

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn attribute(key: &str, value: &str, owner: &str, auto_delete: bool) -> RoomAttribute {
    RoomAttribute {
        key: key.into(),
        value: value.into(),
        owner: name(owner),
        auto_delete,
    }
}

fn change(done: &[&str], refused: &[(&str, AttributeRefusal)]) -> RoomOutcome<AttributeChange> {
    RoomOutcome::Done(AttributeChange {
        done: strings(done),
        refused: refused
            .iter()
            .map(|(key, refusal)| ((*key).to_owned(), *refusal))
            .collect(),
    })
}

/// Sets `attributes` in room `id` as `user`, `(forced, auto_delete)`.
async fn set_attributes(
    store: &dyn Store,
    app: &AppKey,
    (id, user): (&RoomId, &str),
    attributes: &[(&str, &str)],
    flags: (bool, bool),
    limits: AttributeLimits,
) -> RoomOutcome<AttributeChange> {
    store
        .set_room_attributes(app, id, &name(user), &pairs(attributes), flags, limits)
        .await
        .unwrap()
}

/// `set_attributes`, which must set every key.
async fn assert_all_set(
    store: &dyn Store,
    app: &AppKey,
    (id, user): (&RoomId, &str),
    attributes: &[(&str, &str)],
    flags: (bool, bool),
    limits: AttributeLimits,
) {
    let keys: Vec<&str> = attributes.iter().map(|(key, _)| *key).collect();
    assert_eq!(
        set_attributes(store, app, (id, user), attributes, flags, limits).await,
        change(&keys, &[])
    );
}

async fn attributes(store: &dyn Store, app: &AppKey, id: &RoomId) -> Vec<RoomAttribute> {
    store.room_attributes(app, id, &[]).await.unwrap()
}

fn absent(app: &AppKey, room: &str, user: &str, since_ms: u64) -> AbsentMember {
    AbsentMember {
        app: app.clone(),
        room: rid(room),
        user: name(user),
        since_ms,
    }
}

/// Rooms are created with their owner and members, whole or not at all, read per app and
/// listed by id as a number, a page at a time, with the app's total.
pub async fn rooms_are_created_whole_or_not_at_all_and_listed_by_number(store: &dyn Store) {
    let users = ["own", "amy", "bob", "cal"];
    let app = &app_with(store, "rooms", &users).await;
    let [own, amy, bob, cal] = users.map(name);
    let ghost = name("ghost");
    let (r1, r2) = (rid("1001"), rid("1002"));

    // The owner among the members, or repeated, counts once.
    assert_eq!(
        store
            .create_room(
                app,
                &room("1001", "own", 100, 10),
                &[amy.clone(), bob.clone(), own.clone(), amy.clone()],
                RoomQuota::UNLIMITED
            )
            .await
            .unwrap(),
        RoomOutcome::Done(())
    );
    assert_eq!(
        store.room(app, &r1).await.unwrap(),
        Some(counted(room("1001", "own", 100, 10), 3))
    );
    assert_eq!(
        member_names(store, app, &r1).await,
        [amy.clone(), bob.clone(), own.clone()]
    );
    // Everyone joined at the room's creation; the owner is its owner.
    assert_eq!(
        all_members(store, app, &r1, 100).await,
        [
            member("own", RoomRole::Owner, 100, None),
            member("amy", RoomRole::Member, 100, None),
            member("bob", RoomRole::Member, 100, None),
        ]
    );

    // Nothing is written for a member (or an owner) who is no user, past `max_users`, or in
    // as many rooms as they may be.
    let one_room = RoomQuota {
        max_joined_rooms: 1,
        max_admins: 10,
    };
    for (owner, members, max_users, quota, outcome) in [
        (
            "cal",
            vec![own.clone(), ghost.clone()],
            10,
            RoomQuota::UNLIMITED,
            RoomOutcome::NoUser(ghost.clone()),
        ),
        (
            "ghost",
            vec![cal.clone()],
            10,
            RoomQuota::UNLIMITED,
            RoomOutcome::NoUser(ghost.clone()),
        ),
        (
            "cal",
            vec![own.clone(), cal.clone(), bob.clone()],
            2,
            RoomQuota::UNLIMITED,
            RoomOutcome::Full,
        ),
        (
            "cal",
            vec![own.clone()],
            10,
            one_room,
            RoomOutcome::TooManyRooms(own.clone()),
        ),
    ] {
        assert_eq!(
            store
                .create_room(app, &room("1002", owner, 200, max_users), &members, quota)
                .await
                .unwrap(),
            outcome
        );
        assert_eq!(store.room(app, &r2).await.unwrap(), None);
        assert!(store.room_member_names(app, &r2).await.unwrap().is_empty());
        assert!(joined(store, app, "cal").await.is_empty());
        assert_eq!(joined(store, app, "own").await, ["1001"]);
    }
    // Exactly `max_users` fit, the owner named again among them; Own's second room is
    // within a quota of two.
    assert_eq!(
        store
            .create_room(
                app,
                &room("1002", "cal", 200, 2),
                &[cal.clone(), own.clone()],
                RoomQuota {
                    max_joined_rooms: 2,
                    max_admins: 0
                }
            )
            .await
            .unwrap(),
        RoomOutcome::Done(())
    );
    assert_eq!(
        store.room(app, &r2).await.unwrap(),
        Some(counted(room("1002", "cal", 200, 2), 2))
    );
    for (id, owner) in [("30", "bob"), ("999", "bob"), ("1003", "amy")] {
        create(store, app, (id, owner, 300), &[]).await;
    }

    // By id as a number (30 before 999 before 1001), paged; the total is the app's.
    let (first, total) = store.list_rooms(app, 0, 2).await.unwrap();
    assert_eq!((ids_of(&first), total), (vec!["30", "999"], 5));
    assert_eq!(first[0], counted(room("30", "bob", 300, 10), 1));
    let (second, total) = store.list_rooms(app, 2, 2).await.unwrap();
    assert_eq!((ids_of(&second), total), (vec!["1001", "1002"], 5));
    assert_eq!(
        second,
        [
            counted(room("1001", "own", 100, 10), 3),
            counted(room("1002", "cal", 200, 2), 2)
        ]
    );
    let (last, total) = store.list_rooms(app, 4, 10).await.unwrap();
    assert_eq!((ids_of(&last), total), (vec!["1003"], 5));
    let (beyond, total) = store.list_rooms(app, 5, 10).await.unwrap();
    assert_eq!((ids_of(&beyond), total), (vec![], 5));

    // Rooms are per app.
    let elsewhere = &app_with(store, "elsewhere", &["own"]).await;
    assert_eq!(store.room(elsewhere, &r1).await.unwrap(), None);
    assert_eq!(
        store.list_rooms(elsewhere, 0, 10).await.unwrap(),
        (vec![], 0)
    );
    assert!(joined(store, elsewhere, "own").await.is_empty());
    assert!(store
        .room_member_names(elsewhere, &r1)
        .await
        .unwrap()
        .is_empty());
}

/// A change of settings sets only what it names, and never `max_users` below the members;
/// muting all and the announcement are changes of their own; each answers the room after it.
pub async fn a_room_changes_its_settings_within_its_member_count(store: &dyn Store) {
    let app = &app_with(store, "roomchange", &["own", "amy", "bob"]).await;
    let id = &rid("2001");
    create(store, app, ("2001", "own", 100), &["amy", "bob"]).await;
    let mut expected = counted(room("2001", "own", 100, 10), 3);

    let renamed = RoomChange::Settings(RoomSettingsChange {
        name: Some("renamed".into()),
        ..RoomSettingsChange::default()
    });
    expected.settings.name = "renamed".into();
    assert_eq!(
        store.change_room(app, id, &renamed).await.unwrap(),
        RoomOutcome::Done(expected.clone())
    );
    // Down to exactly the member count.
    let rest = RoomChange::Settings(RoomSettingsChange {
        name: None,
        description: Some("new about".into()),
        max_users: Some(3),
        custom: Some("new ext".into()),
    });
    expected.settings = RoomSettings {
        name: "renamed".into(),
        description: "new about".into(),
        max_users: 3,
        custom: "new ext".into(),
    };
    assert_eq!(
        store.change_room(app, id, &rest).await.unwrap(),
        RoomOutcome::Done(expected.clone())
    );
    assert_eq!(store.room(app, id).await.unwrap(), Some(expected.clone()));
    // Below it: nothing changes, the name neither.
    let too_small = RoomChange::Settings(RoomSettingsChange {
        name: Some("lost".into()),
        max_users: Some(2),
        ..RoomSettingsChange::default()
    });
    assert_eq!(
        store.change_room(app, id, &too_small).await.unwrap(),
        RoomOutcome::Full
    );
    assert_eq!(store.room(app, id).await.unwrap(), Some(expected.clone()));

    expected.mute_all = true;
    assert_eq!(
        store
            .change_room(app, id, &RoomChange::MuteAll(true))
            .await
            .unwrap(),
        RoomOutcome::Done(expected.clone())
    );
    expected.announcement = "welcome".into();
    assert_eq!(
        store
            .change_room(app, id, &RoomChange::Announcement("welcome".into()))
            .await
            .unwrap(),
        RoomOutcome::Done(expected.clone())
    );
    expected.mute_all = false;
    assert_eq!(
        store
            .change_room(app, id, &RoomChange::MuteAll(false))
            .await
            .unwrap(),
        RoomOutcome::Done(expected.clone())
    );
    assert_eq!(store.room(app, id).await.unwrap(), Some(expected));
    assert_eq!(
        store
            .change_room(app, &rid("2999"), &RoomChange::MuteAll(true))
            .await
            .unwrap(),
        RoomOutcome::NoRoom
    );
}

/// Members read in order (the owner, admins, members, each by joining time, then by name),
/// a page at a time; a user's rooms read the latest joined first.
pub async fn room_lifecycle_members_roles_and_paging(store: &dyn Store) {
    let users = ["own", "amy", "bob", "cal", "dan", "eve", "fay"];
    let app = &app_with(store, "roommembers", &users).await;
    let id = &rid("3001");
    create(store, app, ("3001", "own", 100), &["dan", "amy"]).await;
    assert_eq!(
        sorted_outcome(
            store
                .add_room_members(app, id, &names(&["cal", "bob"]), 200, RoomQuota::UNLIMITED)
                .await
                .unwrap()
        ),
        RoomOutcome::Done(names(&["bob", "cal"]))
    );
    assert_eq!(
        store
            .add_room_members(app, id, &names(&["eve"]), 300, RoomQuota::UNLIMITED)
            .await
            .unwrap(),
        RoomOutcome::Done(names(&["eve"]))
    );
    for admin in ["eve", "dan"] {
        assert_eq!(
            store
                .set_room_admin(app, id, &name(admin), true, RoomQuota::UNLIMITED)
                .await
                .unwrap(),
            RoomOutcome::Done(true)
        );
    }
    let everyone = [
        member("own", RoomRole::Owner, 100, None),
        member("dan", RoomRole::Admin, 100, None),
        member("eve", RoomRole::Admin, 300, None),
        member("amy", RoomRole::Member, 100, None),
        member("bob", RoomRole::Member, 200, None),
        member("cal", RoomRole::Member, 200, None),
    ];
    assert_eq!(all_members(store, app, id, 400).await, everyone);
    assert_eq!(
        store.room_members(app, id, 400, 2, 3).await.unwrap(),
        everyone[2..5]
    );
    assert_eq!(
        store.room_members(app, id, 400, 5, 3).await.unwrap(),
        everyone[5..]
    );
    assert!(store
        .room_members(app, id, 400, 6, 3)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .room_members(app, &rid("3999"), 400, 0, 3)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.room_member(app, id, &name("eve"), 400).await.unwrap(),
        Some(member("eve", RoomRole::Admin, 300, None))
    );
    assert_eq!(
        store.room_member(app, id, &name("fay"), 400).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .room_member(app, &rid("3999"), &name("eve"), 400)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        member_names(store, app, id).await,
        names(&["amy", "bob", "cal", "dan", "eve", "own"])
    );
    assert_eq!(store.room(app, id).await.unwrap().unwrap().member_count, 6);

    // Amy's rooms, the latest joined first, each with its members counted.
    create(store, app, ("3002", "bob", 400), &[]).await;
    store
        .add_room_members(
            app,
            &rid("3002"),
            &names(&["amy"]),
            450,
            RoomQuota::UNLIMITED,
        )
        .await
        .unwrap();
    create(store, app, ("3003", "amy", 500), &[]).await;
    assert_eq!(joined(store, app, "amy").await, ["3003", "3002", "3001"]);
    let page = store.joined_rooms(app, &name("amy"), 1, 1).await.unwrap();
    assert_eq!(page, [counted(room("3002", "bob", 400, 10), 2)]);
    assert_eq!(
        ids_of(&store.joined_rooms(app, &name("amy"), 2, 5).await.unwrap()),
        ["3001"]
    );
    assert!(store
        .joined_rooms(app, &name("amy"), 3, 5)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(joined(store, app, "bob").await, ["3002", "3001"]);
    assert!(joined(store, app, "fay").await.is_empty());
}

/// An admin is a member other than the owner, within the room's number of admins; setting a
/// role a member has already is no change.
pub async fn room_admins_are_members_within_a_quota(store: &dyn Store) {
    let app = &app_with(store, "roomadmins", &["own", "amy", "bob", "cal", "dan"]).await;
    let id = &rid("4001");
    create(store, app, ("4001", "own", 100), &["amy", "bob", "cal"]).await;
    let quota = RoomQuota {
        max_joined_rooms: 10,
        max_admins: 2,
    };
    let set = |user: &'static str, admin: bool| async move {
        store
            .set_room_admin(app, id, &name(user), admin, quota)
            .await
            .unwrap()
    };
    let role = |user: &'static str| async move {
        let member = store.room_member(app, id, &name(user), 100).await.unwrap();
        member.map(|member| member.role)
    };
    assert_eq!(set("amy", true).await, RoomOutcome::Done(true));
    assert_eq!(set("amy", true).await, RoomOutcome::Done(false));
    assert_eq!(set("bob", false).await, RoomOutcome::Done(false));
    assert_eq!(set("bob", true).await, RoomOutcome::Done(true));
    // Two admins: a third is refused.
    assert_eq!(set("cal", true).await, RoomOutcome::TooManyAdmins);
    assert_eq!(role("cal").await, Some(RoomRole::Member));
    // Neither a non-member nor the owner.
    assert_eq!(set("dan", true).await, RoomOutcome::NotMember(name("dan")));
    assert_eq!(role("dan").await, None);
    assert_eq!(set("own", true).await, RoomOutcome::NotMember(name("own")));
    assert_eq!(set("own", false).await, RoomOutcome::NotMember(name("own")));
    assert_eq!(role("own").await, Some(RoomRole::Owner));
    // One steps down: there is room for another.
    assert_eq!(set("bob", false).await, RoomOutcome::Done(true));
    assert_eq!(role("bob").await, Some(RoomRole::Member));
    assert_eq!(set("cal", true).await, RoomOutcome::Done(true));
    assert_eq!(role("cal").await, Some(RoomRole::Admin));
    // An admin who leaves and comes back is a plain member.
    store
        .remove_room_members(app, id, &names(&["amy"]))
        .await
        .unwrap();
    store
        .add_room_members(app, id, &names(&["amy"]), 200, quota)
        .await
        .unwrap();
    assert_eq!(role("amy").await, Some(RoomRole::Member));
    assert_eq!(
        store
            .set_room_admin(app, &rid("4999"), &name("amy"), true, quota)
            .await
            .unwrap(),
        RoomOutcome::NoRoom
    );
}

/// A join adds those not in yet and answers them alone; a user who is no user, is blocked,
/// would overfill the room or is in too many rooms makes the whole join write nothing. A
/// member who joins again is back: their absence mark ends.
pub async fn room_joins_are_all_or_nothing_and_end_an_absence(store: &dyn Store) {
    let users = ["own", "amy", "bob", "cal", "dan", "eve"];
    let app = &app_with(store, "roomjoins", &users).await;
    let id = &rid("5001");
    store
        .create_room(
            app,
            &room("5001", "own", 100, 4),
            &names(&["amy"]),
            RoomQuota::UNLIMITED,
        )
        .await
        .unwrap();
    let add = |users: &'static [&'static str], now_ms: u64, quota: RoomQuota| async move {
        sorted_outcome(
            store
                .add_room_members(app, id, &names(users), now_ms, quota)
                .await
                .unwrap(),
        )
    };
    let unlimited = RoomQuota::UNLIMITED;
    // Amy is in already: only Bob is answered.
    assert_eq!(
        add(&["amy", "bob", "bob"], 200, unlimited).await,
        RoomOutcome::Done(names(&["bob"]))
    );
    assert_eq!(
        add(&["amy"], 200, unlimited).await,
        RoomOutcome::Done(vec![])
    );
    assert_eq!(
        store.room_member(app, id, &name("amy"), 200).await.unwrap(),
        Some(member("amy", RoomRole::Member, 100, None))
    );
    assert_eq!(
        store
            .change_room_blocks(app, id, &names(&["dan"]), true)
            .await
            .unwrap(),
        RoomOutcome::Done(names(&["dan"]))
    );

    // Amy's connection dropped; each refused join leaves everything as it was, her mark too.
    store
        .mark_room_absence(app, &name("amy"), Some(250))
        .await
        .unwrap();
    let marked = vec![absent(app, "5001", "amy", 250)];
    create(store, app, ("5002", "eve", 100), &[]).await;
    let one_room = RoomQuota {
        max_joined_rooms: 1,
        max_admins: 10,
    };
    for (users, quota, outcome) in [
        (
            &["amy", "cal", "ghost"][..],
            unlimited,
            RoomOutcome::NoUser(name("ghost")),
        ),
        (
            &["amy", "cal", "dan"][..],
            unlimited,
            RoomOutcome::Blocked(name("dan")),
        ),
        // Four at most: own, amy, bob and two more.
        (&["amy", "cal", "eve"][..], unlimited, RoomOutcome::Full),
        // Eve is in 5002.
        (
            &["amy", "eve"][..],
            one_room,
            RoomOutcome::TooManyRooms(name("eve")),
        ),
    ] {
        assert_eq!(add(users, 300, quota).await, outcome, "{users:?}");
        assert_eq!(
            member_names(store, app, id).await,
            names(&["amy", "bob", "own"])
        );
        assert_eq!(store.room(app, id).await.unwrap().unwrap().member_count, 3);
        assert_eq!(store.absent_room_members(1000, 10).await.unwrap(), marked);
    }
    // Within the quota of two rooms, and the room fills up exactly.
    let two_rooms = RoomQuota {
        max_joined_rooms: 2,
        max_admins: 10,
    };
    assert_eq!(
        add(&["eve"], 400, two_rooms).await,
        RoomOutcome::Done(names(&["eve"]))
    );
    assert_eq!(joined(store, app, "eve").await, ["5001", "5002"]);
    assert_eq!(store.room(app, id).await.unwrap().unwrap().member_count, 4);
    assert_eq!(add(&["cal"], 500, unlimited).await, RoomOutcome::Full);
    // A member joining again adds no one, so a full room lets them; their absence ends.
    assert_eq!(
        add(&["amy"], 500, unlimited).await,
        RoomOutcome::Done(vec![])
    );
    assert!(store
        .absent_room_members(1000, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.room_member(app, id, &name("amy"), 500).await.unwrap(),
        Some(member("amy", RoomRole::Member, 100, None))
    );
    assert_eq!(
        store
            .add_room_members(app, &rid("5999"), &names(&["cal"]), 500, unlimited)
            .await
            .unwrap(),
        RoomOutcome::NoRoom
    );
}

/// Removal answers those who were members, each with the attributes they set with
/// auto-delete, which go with them. The owner can be removed: they stay the owner, count in
/// no room quota while out, and come back as the owner.
pub async fn room_departures_take_auto_delete_attributes_and_the_owner_stays_owner(
    store: &dyn Store,
) {
    let app = &app_with(store, "roomleave", &["own", "amy", "bob", "cal", "dan"]).await;
    let id = &rid("6001");
    create(store, app, ("6001", "own", 100), &["amy", "bob", "cal"]).await;
    for (user, attributes, auto_delete) in [
        ("amy", &[("a1", "1"), ("a2", "2")][..], true),
        ("amy", &[("kept", "k")][..], false),
        ("bob", &[("b1", "1")][..], true),
    ] {
        let flags = (false, auto_delete);
        assert_all_set(store, app, (id, user), attributes, flags, LIMITS).await;
    }
    let remove = |users: &'static [&'static str]| async move {
        sorted_departures(
            store
                .remove_room_members(app, id, &names(users))
                .await
                .unwrap(),
        )
    };
    assert_eq!(
        remove(&["amy", "dan", "amy", "bob"]).await,
        RoomOutcome::Done(vec![
            departure("amy", &["a1", "a2"]),
            departure("bob", &["b1"])
        ])
    );
    assert_eq!(
        attributes(store, app, id).await,
        [attribute("kept", "k", "amy", false)]
    );
    assert_eq!(member_names(store, app, id).await, names(&["cal", "own"]));
    assert_eq!(store.room(app, id).await.unwrap().unwrap().member_count, 2);
    assert!(joined(store, app, "amy").await.is_empty());
    assert_eq!(remove(&["amy"]).await, RoomOutcome::Done(vec![]));

    // The owner in one room: a second is past a quota of one.
    let one_room = RoomQuota {
        max_joined_rooms: 1,
        max_admins: 10,
    };
    let second = room("6002", "own", 200, 10);
    assert_eq!(
        store
            .create_room(app, &second, &[], one_room)
            .await
            .unwrap(),
        RoomOutcome::TooManyRooms(name("own"))
    );
    // Out of it, still its owner, in no room.
    assert_eq!(
        remove(&["own"]).await,
        RoomOutcome::Done(vec![departure("own", &[])])
    );
    let after = store.room(app, id).await.unwrap().unwrap();
    assert_eq!((after.owner, after.member_count), (name("own"), 1));
    assert_eq!(
        store.room_member(app, id, &name("own"), 300).await.unwrap(),
        None
    );
    assert!(joined(store, app, "own").await.is_empty());
    assert_eq!(
        store
            .create_room(app, &second, &[], one_room)
            .await
            .unwrap(),
        RoomOutcome::Done(())
    );
    // Back in, as the owner.
    assert_eq!(
        store
            .add_room_members(app, id, &names(&["own"]), 400, RoomQuota::UNLIMITED)
            .await
            .unwrap(),
        RoomOutcome::Done(names(&["own"]))
    );
    assert_eq!(
        all_members(store, app, id, 400).await,
        [
            member("own", RoomRole::Owner, 400, None),
            member("cal", RoomRole::Member, 100, None),
        ]
    );
    assert_eq!(
        store
            .remove_room_members(app, &rid("6999"), &names(&["cal"]))
            .await
            .unwrap(),
        RoomOutcome::NoRoom
    );
}

/// Mutes hold until their time and then read `None`; unmuting ends them at once; only
/// members are muted.
pub async fn room_mutes_end_on_their_own_or_when_lifted(store: &dyn Store) {
    let app = &app_with(store, "roommutes", &["own", "amy", "bob", "cal"]).await;
    let id = &rid("7001");
    create(store, app, ("7001", "own", 100), &["amy", "bob"]).await;
    assert_eq!(
        sorted_outcome(
            store
                .mute_room_members(app, id, &names(&["amy", "cal", "own", "ghost"]), Some(1000))
                .await
                .unwrap()
        ),
        RoomOutcome::Done(names(&["amy", "own"]))
    );
    let muted_until = |user: &'static str, now_ms: u64| async move {
        let member = store
            .room_member(app, id, &name(user), now_ms)
            .await
            .unwrap();
        member.unwrap().muted_until_ms
    };
    assert_eq!(muted_until("amy", 500).await, Some(1000));
    assert_eq!(muted_until("own", 999).await, Some(1000));
    assert_eq!(muted_until("bob", 500).await, None);
    // Ended: read as not muted.
    assert_eq!(muted_until("amy", 1001).await, None);
    assert_eq!(
        all_members(store, app, id, 500).await,
        [
            member("own", RoomRole::Owner, 100, Some(1000)),
            member("amy", RoomRole::Member, 100, Some(1000)),
            member("bob", RoomRole::Member, 100, None),
        ]
    );
    assert_eq!(
        all_members(store, app, id, 2000).await,
        [
            member("own", RoomRole::Owner, 100, None),
            member("amy", RoomRole::Member, 100, None),
            member("bob", RoomRole::Member, 100, None),
        ]
    );
    // Muted longer, then lifted.
    store
        .mute_room_members(app, id, &names(&["bob"]), Some(5000))
        .await
        .unwrap();
    assert_eq!(muted_until("bob", 2000).await, Some(5000));
    assert_eq!(
        store
            .mute_room_members(app, id, &names(&["bob", "cal"]), None)
            .await
            .unwrap(),
        RoomOutcome::Done(names(&["bob"]))
    );
    assert_eq!(muted_until("bob", 2000).await, None);
    assert_eq!(muted_until("amy", 500).await, Some(1000));
    assert_eq!(
        store
            .mute_room_members(app, &rid("7999"), &names(&["amy"]), Some(1000))
            .await
            .unwrap(),
        RoomOutcome::NoRoom
    );
}

/// A blocked user stops being a member (their auto-delete attributes go) and cannot join
/// until unblocked; the owner is never blocked. The allowlist adds and removes; each answers
/// those whose state changed.
pub async fn room_blocks_remove_members_but_never_the_owner_and_the_allowlist_changes(
    store: &dyn Store,
) {
    let app = &app_with(store, "roomblocks", &["own", "amy", "bob", "cal"]).await;
    let id = &rid("8001");
    create(store, app, ("8001", "own", 100), &["amy", "bob"]).await;
    assert_all_set(
        store,
        app,
        (id, "amy"),
        &[("gone", "g")],
        (false, true),
        LIMITS,
    )
    .await;
    assert_all_set(
        store,
        app,
        (id, "amy"),
        &[("stays", "s")],
        (false, false),
        LIMITS,
    )
    .await;
    let blocks = |users: &'static [&'static str], block: bool| async move {
        sorted_outcome(
            store
                .change_room_blocks(app, id, &names(users), block)
                .await
                .unwrap(),
        )
    };

    // Cal is no member: blocked all the same. The owner is left out.
    assert_eq!(
        blocks(&["amy", "own", "cal", "amy"], true).await,
        RoomOutcome::Done(names(&["amy", "cal"]))
    );
    assert_eq!(
        store.room_blocks(app, id).await.unwrap(),
        names(&["amy", "cal"])
    );
    assert_eq!(member_names(store, app, id).await, names(&["bob", "own"]));
    assert_eq!(store.room(app, id).await.unwrap().unwrap().member_count, 2);
    assert_eq!(
        attributes(store, app, id).await,
        [attribute("stays", "s", "amy", false)]
    );
    assert_eq!(blocks(&["amy"], true).await, RoomOutcome::Done(vec![]));
    assert_eq!(
        store
            .add_room_members(app, id, &names(&["amy"]), 200, RoomQuota::UNLIMITED)
            .await
            .unwrap(),
        RoomOutcome::Blocked(name("amy"))
    );
    // Out of the room, the owner is still never blocked.
    store
        .remove_room_members(app, id, &names(&["own"]))
        .await
        .unwrap();
    assert_eq!(blocks(&["own"], true).await, RoomOutcome::Done(vec![]));
    assert_eq!(
        store.room_blocks(app, id).await.unwrap(),
        names(&["amy", "cal"])
    );
    // Unblocked: free to join again.
    assert_eq!(
        blocks(&["amy", "bob"], false).await,
        RoomOutcome::Done(names(&["amy"]))
    );
    assert_eq!(store.room_blocks(app, id).await.unwrap(), names(&["cal"]));
    assert_eq!(
        store
            .add_room_members(app, id, &names(&["amy"]), 300, RoomQuota::UNLIMITED)
            .await
            .unwrap(),
        RoomOutcome::Done(names(&["amy"]))
    );

    let allow = |users: &'static [&'static str], add: bool| async move {
        sorted_outcome(
            store
                .change_room_allowlist(app, id, &names(users), add)
                .await
                .unwrap(),
        )
    };
    assert_eq!(
        allow(&["cal", "bob", "cal"], true).await,
        RoomOutcome::Done(names(&["bob", "cal"]))
    );
    assert_eq!(allow(&["bob"], true).await, RoomOutcome::Done(vec![]));
    assert_eq!(
        store.room_allowlist(app, id).await.unwrap(),
        names(&["bob", "cal"])
    );
    assert_eq!(
        allow(&["cal", "amy"], false).await,
        RoomOutcome::Done(names(&["cal"]))
    );
    assert_eq!(
        store.room_allowlist(app, id).await.unwrap(),
        names(&["bob"])
    );

    let missing = &rid("8999");
    let no_room = store
        .change_room_blocks(app, missing, &names(&["amy"]), true)
        .await
        .unwrap();
    assert_eq!(no_room, RoomOutcome::NoRoom);
    let no_room = store
        .change_room_allowlist(app, missing, &names(&["amy"]), true)
        .await
        .unwrap();
    assert_eq!(no_room, RoomOutcome::NoRoom);
    assert!(store.room_blocks(app, missing).await.unwrap().is_empty());
    assert!(store.room_allowlist(app, missing).await.unwrap().is_empty());
}

/// Attributes are set by members, key by key in the order given: another member's key only
/// when forced (it becomes the setter's), a new key only below `max_count`, a key and value
/// only within their sizes. They read by key, all or those asked for.
pub async fn room_attributes_are_set_key_by_key_within_limits(store: &dyn Store) {
    use AttributeRefusal::{Illegal, NotYours, TooMany};
    let app = &app_with(store, "roomattrs", &["own", "amy", "bob", "cal"]).await;
    let id = &rid("9001");
    create(store, app, ("9001", "own", 100), &["amy", "bob"]).await;
    let limits = AttributeLimits {
        max_count: 3,
        max_key_bytes: 8,
        max_value_bytes: 10,
    };
    let set = |user: &'static str, attributes: &'static [(&'static str, &'static str)], flags| async move {
        set_attributes(store, app, (id, user), attributes, flags, limits).await
    };

    assert_eq!(
        set("cal", &[("k1", "v1")], (false, false)).await,
        RoomOutcome::NotMember(name("cal"))
    );
    assert_eq!(
        set_attributes(
            store,
            app,
            (&rid("9999"), "amy"),
            &[("k1", "v1")],
            (false, false),
            limits
        )
        .await,
        RoomOutcome::NoRoom
    );
    // An empty or too long key, a too long value: each refused alone.
    assert_eq!(
        set(
            "amy",
            &[
                ("", "v"),
                ("k1", "v1"),
                ("ninebytes", "v"),
                ("k2", "elevenbytes"),
                ("eightbyt", "tenbytes.."),
            ],
            (false, false)
        )
        .await,
        change(
            &["k1", "eightbyt"],
            &[("", Illegal), ("ninebytes", Illegal), ("k2", Illegal)]
        )
    );
    // Bob's own key is his; Amy's is not, unforced. Three keys now: a fourth is too many,
    // while keys the room has can still be set.
    assert_eq!(
        set(
            "bob",
            &[("k1", "bob"), ("b1", "one"), ("b2", "two"), ("b1", "uno")],
            (false, true)
        )
        .await,
        change(&["b1", "b1"], &[("k1", NotYours), ("b2", TooMany)])
    );
    assert_eq!(
        attributes(store, app, id).await,
        [
            attribute("b1", "uno", "bob", true),
            attribute("eightbyt", "tenbytes..", "amy", false),
            attribute("k1", "v1", "amy", false),
        ]
    );
    // Forced, Amy's key becomes Bob's, with Bob's auto-delete.
    assert_eq!(
        set("bob", &[("k1", "bob")], (true, true)).await,
        change(&["k1"], &[])
    );
    // Setting one's own key again changes its auto-delete too.
    assert_eq!(
        set("amy", &[("eightbyt", "again")], (false, true)).await,
        change(&["eightbyt"], &[])
    );
    assert_eq!(
        attributes(store, app, id).await,
        [
            attribute("b1", "uno", "bob", true),
            attribute("eightbyt", "again", "amy", true),
            attribute("k1", "bob", "bob", true),
        ]
    );
    // Only the keys asked for (those the room has), by key.
    assert_eq!(
        store
            .room_attributes(app, id, &strings(&["k1", "nope", "b1"]))
            .await
            .unwrap(),
        [
            attribute("b1", "uno", "bob", true),
            attribute("k1", "bob", "bob", true),
        ]
    );
    assert!(store
        .room_attributes(app, id, &strings(&["nope"]))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .room_attributes(app, &rid("9999"), &[])
        .await
        .unwrap()
        .is_empty());
    // Bob leaves with his auto-delete keys, the one he took from Amy among them.
    assert_eq!(
        sorted_departures(
            store
                .remove_room_members(app, id, &names(&["bob"]))
                .await
                .unwrap()
        ),
        RoomOutcome::Done(vec![departure("bob", &["b1", "k1"])])
    );
    assert_eq!(
        attributes(store, app, id).await,
        [attribute("eightbyt", "again", "amy", true)]
    );
    // Room again for new keys.
    assert_eq!(
        set(
            "amy",
            &[("n1", "1"), ("n2", "2"), ("n3", "3")],
            (false, false)
        )
        .await,
        change(&["n1", "n2"], &[("n3", TooMany)])
    );
}

/// Attributes are removed key by key: a key the room lacks is `Missing`, another member's is
/// `NotYours` unless forced; only members remove.
pub async fn room_attributes_are_removed_by_their_owner_unless_forced(store: &dyn Store) {
    use AttributeRefusal::{Missing, NotYours};
    let app = &app_with(store, "roomunset", &["own", "amy", "bob", "cal"]).await;
    let id = &rid("10001");
    create(store, app, ("10001", "own", 100), &["amy", "bob"]).await;
    assert_all_set(
        store,
        app,
        (id, "amy"),
        &[("a", "1"), ("b", "2")],
        (false, false),
        LIMITS,
    )
    .await;
    assert_all_set(
        store,
        app,
        (id, "bob"),
        &[("c", "3")],
        (false, false),
        LIMITS,
    )
    .await;
    let remove = |user: &'static str, keys: &'static [&'static str], forced: bool| async move {
        store
            .remove_room_attributes(app, id, &name(user), &strings(keys), forced)
            .await
            .unwrap()
    };
    assert_eq!(
        remove("bob", &["a", "zz", "c"], false).await,
        change(&["c"], &[("a", NotYours), ("zz", Missing)])
    );
    assert_eq!(
        attributes(store, app, id).await,
        [
            attribute("a", "1", "amy", false),
            attribute("b", "2", "amy", false),
        ]
    );
    assert_eq!(
        remove("bob", &["a", "c"], true).await,
        change(&["a"], &[("c", Missing)])
    );
    assert_eq!(
        remove("cal", &["b"], true).await,
        RoomOutcome::NotMember(name("cal"))
    );
    assert_eq!(
        attributes(store, app, id).await,
        [attribute("b", "2", "amy", false)]
    );
    assert_eq!(remove("amy", &["b"], false).await, change(&["b"], &[]));
    assert!(attributes(store, app, id).await.is_empty());
    assert_eq!(
        store
            .remove_room_attributes(app, &rid("10999"), &name("amy"), &strings(&["b"]), true)
            .await
            .unwrap(),
        RoomOutcome::NoRoom
    );
}

/// A user's dropped connection marks them absent in each room of the app they are in, until
/// they are back; the marks of every app are read the longest absent first, before a time,
/// up to a limit. A member who leaves is no longer absent from the room.
pub async fn room_absence_marks_list_the_longest_absent_first(store: &dyn Store) {
    let app_a = &app_with(store, "absent-a", &["own", "amy", "bob", "cal"]).await;
    let app_b = &app_with(store, "absent-b", &["own", "amy"]).await;
    create(store, app_a, ("11001", "own", 100), &["amy", "bob"]).await;
    create(store, app_a, ("11002", "own", 100), &["amy"]).await;
    create(store, app_b, ("11001", "own", 100), &["amy"]).await;
    let absentees = |before_ms: u64, limit: u32| async move {
        store.absent_room_members(before_ms, limit).await.unwrap()
    };
    // Absent from no room: nothing to mark.
    mark(store, app_a, "cal", Some(50)).await;
    assert!(absentees(10_000, 10).await.is_empty());

    mark(store, app_a, "amy", Some(300)).await;
    mark(store, app_a, "bob", Some(200)).await;
    mark(store, app_b, "amy", Some(100)).await;
    let all = absentees(10_000, 10).await;
    assert_eq!(all.len(), 4);
    assert_eq!(
        all[..2],
        [
            absent(app_b, "11001", "amy", 100),
            absent(app_a, "11001", "bob", 200)
        ]
    );
    // Amy's two rooms at one time, in either order.
    let mut amy_in_a = all[2..].to_vec();
    amy_in_a.sort_by(|a, b| a.room.cmp(&b.room));
    assert_eq!(
        amy_in_a,
        [
            absent(app_a, "11001", "amy", 300),
            absent(app_a, "11002", "amy", 300)
        ]
    );
    assert_eq!(
        absentees(10_000, 2).await,
        [
            absent(app_b, "11001", "amy", 100),
            absent(app_a, "11001", "bob", 200)
        ]
    );
    assert_eq!(
        absentees(250, 10).await,
        [
            absent(app_b, "11001", "amy", 100),
            absent(app_a, "11001", "bob", 200)
        ]
    );
    assert_eq!(
        absentees(150, 10).await,
        [absent(app_b, "11001", "amy", 100)]
    );
    assert!(absentees(100, 10).await.is_empty());

    // Back in app A: her marks there end, not those of app B.
    mark(store, app_a, "amy", None).await;
    assert_eq!(
        absentees(10_000, 10).await,
        [
            absent(app_b, "11001", "amy", 100),
            absent(app_a, "11001", "bob", 200)
        ]
    );
    // Bob leaves: no longer absent from it; back in, he is present.
    store
        .remove_room_members(app_a, &rid("11001"), &names(&["bob"]))
        .await
        .unwrap();
    assert_eq!(
        absentees(10_000, 10).await,
        [absent(app_b, "11001", "amy", 100)]
    );
    store
        .add_room_members(
            app_a,
            &rid("11001"),
            &names(&["bob"]),
            400,
            RoomQuota::UNLIMITED,
        )
        .await
        .unwrap();
    assert_eq!(
        absentees(10_000, 10).await,
        [absent(app_b, "11001", "amy", 100)]
    );
    // A block takes the member, and the mark, out.
    mark(store, app_b, "amy", Some(500)).await;
    store
        .change_room_blocks(app_b, &rid("11001"), &names(&["amy"]), true)
        .await
        .unwrap();
    assert!(absentees(10_000, 10).await.is_empty());
}

async fn mark(store: &dyn Store, app: &AppKey, user: &str, since_ms: Option<u64>) {
    store
        .mark_room_absence(app, &name(user), since_ms)
        .await
        .unwrap();
}

/// Deleting a room answers its members just before and takes them with its lists,
/// attributes and absence marks; a room made again under its id starts empty.
pub async fn deleting_a_room_takes_its_members_lists_attributes_and_marks(store: &dyn Store) {
    let app = &app_with(store, "roomdelete", &["own", "amy", "bob", "cal"]).await;
    let id = &rid("12001");
    create(store, app, ("12001", "own", 100), &["amy", "bob"]).await;
    create(store, app, ("12002", "amy", 200), &[]).await;
    store
        .set_room_admin(app, id, &name("bob"), true, RoomQuota::UNLIMITED)
        .await
        .unwrap();
    store
        .change_room_blocks(app, id, &names(&["cal"]), true)
        .await
        .unwrap();
    store
        .change_room_allowlist(app, id, &names(&["bob"]), true)
        .await
        .unwrap();
    assert_all_set(
        store,
        app,
        (id, "amy"),
        &[("k", "v")],
        (false, false),
        LIMITS,
    )
    .await;
    store
        .mark_room_absence(app, &name("bob"), Some(300))
        .await
        .unwrap();
    assert_eq!(store.absent_room_members(1000, 10).await.unwrap().len(), 1);

    let deleted = store.delete_room(app, id).await.unwrap().map(sorted);
    assert_eq!(deleted, Some(names(&["amy", "bob", "own"])));
    assert_eq!(store.room(app, id).await.unwrap(), None);
    assert!(store.room_member_names(app, id).await.unwrap().is_empty());
    assert!(all_members(store, app, id, 400).await.is_empty());
    assert!(store.room_blocks(app, id).await.unwrap().is_empty());
    assert!(store.room_allowlist(app, id).await.unwrap().is_empty());
    assert!(attributes(store, app, id).await.is_empty());
    assert!(store
        .absent_room_members(1000, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(joined(store, app, "amy").await, ["12002"]);
    assert!(joined(store, app, "bob").await.is_empty());
    let (rooms, total) = store.list_rooms(app, 0, 10).await.unwrap();
    assert_eq!((ids_of(&rooms), total), (vec!["12002"], 1));
    assert_eq!(store.delete_room(app, id).await.unwrap(), None);
    assert_eq!(
        store
            .change_room(app, id, &RoomChange::MuteAll(true))
            .await
            .unwrap(),
        RoomOutcome::NoRoom
    );

    // Made again: Cal is not blocked, Bob no admin, nothing is set.
    create(store, app, ("12001", "own", 500), &["bob"]).await;
    assert_eq!(
        store
            .add_room_members(app, id, &names(&["cal"]), 600, RoomQuota::UNLIMITED)
            .await
            .unwrap(),
        RoomOutcome::Done(names(&["cal"]))
    );
    assert_eq!(
        all_members(store, app, id, 600).await,
        [
            member("own", RoomRole::Owner, 500, None),
            member("bob", RoomRole::Member, 500, None),
            member("cal", RoomRole::Member, 600, None),
        ]
    );
    assert!(store.room_allowlist(app, id).await.unwrap().is_empty());
    assert!(attributes(store, app, id).await.is_empty());
}

/// A room message from `sender` to room `to` at `sent_ms` as `RoomService` appends it: for
/// nobody, in the room's shared history; its meta is `room-<sent_ms>`.
fn room_message(app: &AppKey, to: &str, sender: &str, sent_ms: u64) -> NewMessage {
    NewMessage {
        app: app.clone(),
        log: LogId::Room(rid(to)),
        audience: Audience::Nobody,
        sender: name(sender),
        sender_resource: "phone".into(),
        client_id: Some(sent_ms),
        body_digest: 0,
        sent_ms,
        meta: EncodeMeta::new(move |_, _| bytes::Bytes::from(format!("room-{sent_ms}"))),
        kind: "txt",
        history: vec![HistoryEntry {
            owner: UserName::group_history(),
            conversation: QueueName::room(&rid(to)),
        }],
    }
}

/// A room message is stored whoever sends it (membership is the service's to check), kept in
/// the room's history under `UserName::group_history` and recallable; nobody reads the log,
/// and it lists no conversation for anyone.
pub async fn a_room_message_is_kept_for_history_and_recall_alone(store: &dyn Store) {
    let app = &app_with(store, "roomlog", &["own", "amy", "cal"]).await;
    let id = &rid("13001");
    create(store, app, ("13001", "own", 100), &["amy"]).await;
    let amy_phone = device("amy", "phone");
    store.device_seen(app, &amy_phone, 500).await.unwrap();
    let say = |sender: &'static str, sent_ms: u64| async move {
        stored(
            store
                .append_message(room_message(app, "13001", sender, sent_ms))
                .await
                .unwrap(),
        )
    };
    let m1 = say("amy", 1000).await;
    // Cal is no member: the store stores it all the same.
    let m2 = say("cal", 1100).await;
    let m3 = say("own", 1200).await;
    assert!(m1 < m2 && m2 < m3);
    assert_eq!(
        store.stored_message(app, m2).await.unwrap(),
        Some(StoredMessage {
            id: m2,
            sender: name("cal"),
            meta: bytes::Bytes::from("room-1100"),
            recalled: false,
        })
    );
    let query = HistoryQuery {
        conversation: QueueName::room(id),
        cursor: None,
        newest_first: false,
        limit: 100,
        from: None,
        kinds: Vec::new(),
        start_ms: None,
        end_ms: None,
    };
    let history = || async {
        let page = store
            .history_page(app, &UserName::group_history(), &query)
            .await
            .unwrap();
        page.iter()
            .map(|message| (message.id, message.meta.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        history().await,
        [
            (m1, bytes::Bytes::from("room-1000")),
            (m2, bytes::Bytes::from("room-1100")),
            (m3, bytes::Bytes::from("room-1200")),
        ]
    );
    let nobody_lists_it = || async {
        let query = ConversationQuery {
            filter: ConversationFilter::All,
            after: None,
            limit: 100,
        };
        for owner in ["own", "amy", "cal"]
            .map(name)
            .into_iter()
            .chain([UserName::group_history()])
        {
            let listed = store.conversations(app, &owner, &query).await.unwrap();
            assert!(listed.is_empty(), "{owner} lists {listed:?}");
        }
    };
    nobody_lists_it().await;
    // Nobody pulls it: nothing unread, an empty page.
    assert!(store
        .unread_counts(app, &amy_phone)
        .await
        .unwrap()
        .is_empty());
    let pulled = store
        .submit_pull(app, &amy_phone, &LogId::Room(id.clone()), None, 100)
        .await
        .unwrap();
    assert_eq!(pulled, Pulled::Page(vec![]));

    // Recalled, it leaves history and is marked so.
    let recall = NewMessage {
        kind: "",
        history: Vec::new(),
        ..room_message(app, "13001", "amy", 1300)
    };
    let recall = store.submit_append_with(recall, AppendEffect::Recall { target: m1 });
    stored(recall.await.unwrap());
    assert!(
        store
            .stored_message(app, m1)
            .await
            .unwrap()
            .unwrap()
            .recalled
    );
    assert_eq!(
        history().await,
        [
            (m2, bytes::Bytes::from("room-1100")),
            (m3, bytes::Bytes::from("room-1200")),
        ]
    );
    nobody_lists_it().await;
    // The room deleted, its history stays.
    store.delete_room(app, id).await.unwrap();
    assert_eq!(history().await.len(), 2);
    nobody_lists_it().await;
}

pub async fn a_deleted_user_leaves_every_room_with_their_auto_delete_attributes(store: &dyn Store) {
    let app = &app_with(store, "roomgone", &["amy", "bob", "cal"]).await;
    create(store, app, ("7001", "amy", 1000), &["bob", "cal"]).await;
    create(store, app, ("7002", "bob", 1100), &["cal"]).await;
    let (r1, r2) = (rid("7001"), rid("7002"));
    let limits = AttributeLimits {
        max_count: 10,
        max_key_bytes: 16,
        max_value_bytes: 16,
    };
    assert_all_set(
        store,
        app,
        (&r1, "bob"),
        &[("gone", "1")],
        (false, true),
        limits,
    )
    .await;
    assert_all_set(
        store,
        app,
        (&r1, "bob"),
        &[("kept", "1")],
        (false, false),
        limits,
    )
    .await;
    let allowed = store
        .change_room_allowlist(app, &r1, &names(&["bob"]), true)
        .await
        .unwrap();
    assert_eq!(allowed, RoomOutcome::Done(names(&["bob"])));

    store.delete_user(app, &name("bob")).await.unwrap();
    assert_eq!(
        sorted(member_names(store, app, &r1).await),
        names(&["amy", "cal"])
    );
    assert_eq!(sorted(member_names(store, app, &r2).await), names(&["cal"]));
    assert_eq!(store.room(app, &r1).await.unwrap().unwrap().member_count, 2);
    // The room bob owns stays his, with him out of it.
    let owned = store.room(app, &r2).await.unwrap().unwrap();
    assert_eq!((owned.owner.as_str(), owned.member_count), ("bob", 1));
    let left: Vec<String> = attributes(store, app, &r1)
        .await
        .into_iter()
        .map(|attribute| attribute.key)
        .collect();
    assert_eq!(left, ["kept"]);
    assert!(store.room_allowlist(app, &r1).await.unwrap().is_empty());
    assert!(joined(store, app, "bob").await.is_empty());
}

/// Shared files: listed latest first and paged, found by id in their room only, replaced by a
/// file of the same id, removed once, gone with the room (and not back when it is made again).
pub async fn room_files_list_latest_first_and_leave_with_the_room(store: &dyn Store) {
    let app = &app_with(store, "roomfiles", &["amy", "bob"]).await;
    let (id, other) = (&rid("13001"), &rid("13002"));
    create(store, app, ("13001", "amy", 100), &["bob"]).await;
    create(store, app, ("13002", "amy", 100), &[]).await;
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
        file("f4", "amy", 200),
    ] {
        let added = store.add_room_file(app, id, &shared).await.unwrap();
        assert_eq!(added, RoomOutcome::Done(()));
    }
    assert_eq!(
        store
            .add_room_file(app, other, &file("f9", "amy", 50))
            .await
            .unwrap(),
        RoomOutcome::Done(())
    );
    assert_eq!(
        store
            .add_room_file(app, &rid("13999"), &file("f8", "amy", 1))
            .await
            .unwrap(),
        RoomOutcome::NoRoom
    );
    let ids = |files: Vec<SharedFile>| files.into_iter().map(|f| f.id).collect::<Vec<_>>();
    // The latest first; files of the same time by id.
    assert_eq!(
        ids(store.room_files(app, id, 0, 3).await.unwrap()),
        ["f2", "f3", "f4"]
    );
    assert_eq!(ids(store.room_files(app, id, 3, 3).await.unwrap()), ["f1"]);
    assert_eq!(
        ids(store.room_files(app, other, 0, 10).await.unwrap()),
        ["f9"]
    );
    assert!(store
        .room_files(app, &rid("13999"), 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.room_file(app, id, "f3").await.unwrap(),
        Some(file("f3", "bob", 200))
    );
    assert_eq!(store.room_file(app, other, "f3").await.unwrap(), None);
    assert_eq!(store.room_file(app, id, "f9").await.unwrap(), None);

    // The same id again replaces the file.
    let renamed = SharedFile {
        name: "renamed.txt".into(),
        ..file("f1", "amy", 400)
    };
    store.add_room_file(app, id, &renamed).await.unwrap();
    assert_eq!(
        ids(store.room_files(app, id, 0, 10).await.unwrap()),
        ["f1", "f2", "f3", "f4"]
    );
    assert_eq!(store.room_file(app, id, "f1").await.unwrap(), Some(renamed));

    assert!(store.remove_room_file(app, id, "f3").await.unwrap());
    assert!(!store.remove_room_file(app, id, "f3").await.unwrap());
    assert!(!store.remove_room_file(app, other, "f2").await.unwrap());
    assert!(!store
        .remove_room_file(app, &rid("13999"), "f2")
        .await
        .unwrap());
    assert_eq!(
        ids(store.room_files(app, id, 0, 10).await.unwrap()),
        ["f1", "f2", "f4"]
    );

    store.delete_room(app, id).await.unwrap();
    assert!(store.room_files(app, id, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.room_file(app, id, "f2").await.unwrap(), None);
    assert_eq!(
        ids(store.room_files(app, other, 0, 10).await.unwrap()),
        ["f9"]
    );
    create(store, app, ("13001", "amy", 500), &[]).await;
    assert!(store.room_files(app, id, 0, 10).await.unwrap().is_empty());
}
