//! One behaviour suite for every `Store` backend: enable the `conformance` feature and call
//! `store_conformance_tests!` from the backend's tests, which makes one test per case, each
//! on a fresh store.

#![allow(clippy::unwrap_used)] // test support: a failed step should stop the suite loudly

mod groups;
pub use groups::*;
mod rooms;
pub use rooms::*;
mod threads;
pub use threads::*;

use crate::{
    admin::{Admin, AdminSession},
    app::{App, NewApp, Secret},
    ids::{AppKey, LogId, MessageId, QueueName, UserName},
    store::{
        AppendEffect, Appended, Audience, ContactChange, ConversationChange, DayCount, Device,
        EncodeMeta, HistoryQuery, NewMessage, Pulled, Store, StoreError,
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
            a_device_view_follows_every_change,
            devices_read_independently,
            a_new_device_starts_where_the_others_are,
            what_one_device_still_needs_outlives_every_other_read,
            audiences_and_bad_keys,
            reclaiming_drops_stale_devices_and_old_entries,
            the_conversation_list_pages_filters_and_recounts,
            contact_requests_answers_and_removal,
            contact_lists_page_by_name_with_remarks,
            blocklists_are_each_users_own,
            contact_and_blocklist_limits_hold_in_the_same_step,
            a_blocked_sender_is_refused_until_unblocked,
            a_contacts_only_app_refuses_messages_to_non_contacts,
            user_attributes_merge_within_a_limit_and_go_with_the_user,
            reports_list_newest_first_per_app,
            notification_settings_per_scope_language_and_tokens,
            presence_records_devices_newest_first_within_a_bound,
            presence_subscriptions_expire_page_and_stay_within_a_limit,
            blocking_hides_presence_and_a_deleted_user_takes_theirs_along,
            group_lifecycle_members_roles_and_paging,
            group_moderation_mutes_blocks_allowlist_and_requests,
            group_log_members_read_from_joining,
            group_sends_are_checked_in_the_append,
            group_conversations_list_with_pairs_and_unread_counts,
            group_read_receipts_count_each_reader_once,
            group_quotas_hold_in_the_same_step,
            group_member_attributes_merge_within_a_limit_and_leave_with_the_member,
            a_listed_group_entry_is_read_by_the_listed_only,
            group_files_list_latest_first_and_leave_with_the_group,
            a_member_who_blocks_the_group_reads_only_what_is_addressed_to_them,
            rooms_are_created_whole_or_not_at_all_and_listed_by_number,
            a_room_changes_its_settings_within_its_member_count,
            room_lifecycle_members_roles_and_paging,
            room_admins_are_members_within_a_quota,
            room_joins_are_all_or_nothing_and_end_an_absence,
            room_departures_take_auto_delete_attributes_and_the_owner_stays_owner,
            room_mutes_end_on_their_own_or_when_lifted,
            room_blocks_remove_members_but_never_the_owner_and_the_allowlist_changes,
            room_attributes_are_set_key_by_key_within_limits,
            room_attributes_are_removed_by_their_owner_unless_forced,
            room_absence_marks_list_the_longest_absent_first,
            deleting_a_room_takes_its_members_lists_attributes_and_marks,
            a_room_message_is_kept_for_history_and_recall_alone,
            a_deleted_user_leaves_every_room_with_their_auto_delete_attributes,
            room_files_list_latest_first_and_leave_with_the_room,
            threads_are_made_once_per_message_with_their_owner_as_first_member,
            a_thread_is_renamed_and_counts_its_messages,
            thread_members_are_listed_by_joining_time_then_name,
            joined_and_group_threads_list_the_newest_first_by_id_as_a_number,
            deleting_threads_takes_their_members_and_frees_their_messages,
            threads_are_kept_apart_per_app,
            a_deleted_user_leaves_every_thread_they_are_in,
            health_checks_write
        );
        mod chat_on_the_store {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn two_services_on_one_store_keep_each_log_in_id_order() {
                let (store, _guard) = super::$fresh().await;
                $crate::store::conformance::two_services_on_one_store_keep_each_log_in_id_order(
                    store,
                )
                .await;
            }
        }
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

pub async fn contact_requests_answers_and_removal(store: &dyn Store) {
    let key = &AppKey::new("conf", "contacts").unwrap();
    let (amy, bob, cal) = (name("amy"), name("bob"), name("cal"));
    // An answer without a request changes nothing.
    assert!(
        store
            .answer_contact_request(key, (&bob, &amy), true, 100, 1)
            .await
            .unwrap()
            != ContactChange::Done
    );
    assert!(store
        .request_contact(key, &amy, &bob, "hi", 2)
        .await
        .unwrap());
    // Repeated: the reason is replaced, still one request.
    assert!(store
        .request_contact(key, &amy, &bob, "hi again", 3)
        .await
        .unwrap());
    assert!(store
        .contacts(key, &amy, None, 10)
        .await
        .unwrap()
        .is_empty());
    // Only the invitee answers it.
    assert!(
        store
            .answer_contact_request(key, (&amy, &bob), true, 100, 4)
            .await
            .unwrap()
            != ContactChange::Done
    );
    assert!(
        store
            .answer_contact_request(key, (&bob, &amy), true, 100, 5)
            .await
            .unwrap()
            == ContactChange::Done
    );
    assert!(
        store
            .answer_contact_request(key, (&bob, &amy), true, 100, 6)
            .await
            .unwrap()
            != ContactChange::Done
    );
    let names = |contacts: Vec<crate::store::Contact>| -> Vec<String> {
        contacts.into_iter().map(|c| c.name.to_string()).collect()
    };
    assert_eq!(
        names(store.contacts(key, &amy, None, 10).await.unwrap()),
        ["bob"]
    );
    assert_eq!(
        names(store.contacts(key, &bob, None, 10).await.unwrap()),
        ["amy"]
    );
    // Contacts already: another request is refused.
    assert!(!store
        .request_contact(key, &bob, &amy, "again?", 7)
        .await
        .unwrap());
    // A declined request ends without a contact.
    assert!(store
        .request_contact(key, &cal, &amy, "me too", 8)
        .await
        .unwrap());
    assert!(
        store
            .answer_contact_request(key, (&amy, &cal), false, 100, 9)
            .await
            .unwrap()
            == ContactChange::Done
    );
    assert!(
        store
            .answer_contact_request(key, (&amy, &cal), true, 100, 10)
            .await
            .unwrap()
            != ContactChange::Done
    );
    assert_eq!(
        names(store.contacts(key, &amy, None, 10).await.unwrap()),
        ["bob"]
    );
    // Either side ends it for both.
    assert!(store.delete_contact(key, &bob, &amy).await.unwrap());
    assert!(!store.delete_contact(key, &amy, &bob).await.unwrap());
    assert!(store
        .contacts(key, &amy, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .contacts(key, &bob, None, 10)
        .await
        .unwrap()
        .is_empty());
    // Requests both ways: accepting one answers the other too.
    assert!(store
        .request_contact(key, &amy, &cal, "x", 11)
        .await
        .unwrap());
    assert!(store
        .request_contact(key, &cal, &amy, "y", 12)
        .await
        .unwrap());
    assert!(
        store
            .answer_contact_request(key, (&cal, &amy), true, 100, 13)
            .await
            .unwrap()
            == ContactChange::Done
    );
    assert!(
        store
            .answer_contact_request(key, (&amy, &cal), true, 100, 14)
            .await
            .unwrap()
            != ContactChange::Done
    );
    // Added at once (the admin API): pending requests between them go.
    let dan = name("dan");
    assert!(store
        .request_contact(key, &dan, &amy, "", 15)
        .await
        .unwrap());
    assert_eq!(
        store.add_contact(key, (&amy, &dan), 100, 16).await.unwrap(),
        ContactChange::Done
    );
    assert_eq!(
        store.add_contact(key, (&dan, &amy), 100, 17).await.unwrap(),
        ContactChange::Unchanged
    );
    assert!(
        store
            .answer_contact_request(key, (&amy, &dan), true, 100, 18)
            .await
            .unwrap()
            != ContactChange::Done
    );
    assert!(store.delete_contact(key, &dan, &amy).await.unwrap());
    // Another app is another world.
    let other = &AppKey::new("conf", "other").unwrap();
    assert!(store
        .contacts(other, &amy, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(!store.delete_contact(other, &amy, &cal).await.unwrap());
    assert_eq!(
        names(store.contacts(key, &amy, None, 10).await.unwrap()),
        ["cal"]
    );
}

pub async fn contact_lists_page_by_name_with_remarks(store: &dyn Store) {
    let key = &AppKey::new("conf", "contacts").unwrap();
    let owner = name("own");
    for peer in ["dan", "ann", "cat", "bea"] {
        let peer = name(peer);
        assert!(store
            .request_contact(key, &peer, &owner, "", 1)
            .await
            .unwrap());
        assert!(
            store
                .answer_contact_request(key, (&owner, &peer), true, 100, 2)
                .await
                .unwrap()
                == ContactChange::Done
        );
    }
    assert!(store
        .set_contact_remark(key, &owner, &name("cat"), "Kitty")
        .await
        .unwrap());
    assert!(!store
        .set_contact_remark(key, &owner, &name("eve"), "no")
        .await
        .unwrap());
    let first = store.contacts(key, &owner, None, 2).await.unwrap();
    assert_eq!(
        first
            .iter()
            .map(|c| (c.name.as_str(), c.remark.as_str()))
            .collect::<Vec<_>>(),
        [("ann", ""), ("bea", "")]
    );
    let second = store
        .contacts(key, &owner, Some(&first[1].name), 2)
        .await
        .unwrap();
    assert_eq!(
        second
            .iter()
            .map(|c| (c.name.as_str(), c.remark.as_str()))
            .collect::<Vec<_>>(),
        [("cat", "Kitty"), ("dan", "")]
    );
    assert!(store
        .contacts(key, &owner, Some(&second[1].name), 2)
        .await
        .unwrap()
        .is_empty());
    // The remark is the owner's alone.
    let cats = store.contacts(key, &name("cat"), None, 10).await.unwrap();
    assert_eq!(cats[0].remark, "");
}

pub async fn contact_and_blocklist_limits_hold_in_the_same_step(store: &dyn Store) {
    let key = &AppKey::new("conf", "limits").unwrap();
    let (own, a, b, c) = (name("own"), name("aaa"), name("bbb"), name("ccc"));
    assert_eq!(
        store.add_contact(key, (&own, &a), 2, 1).await.unwrap(),
        ContactChange::Done
    );
    assert_eq!(
        store.add_contact(key, (&b, &own), 2, 2).await.unwrap(),
        ContactChange::Done
    );
    // `own` has 2 of 2: neither an addition nor an acceptance on either side goes through.
    assert_eq!(
        store.add_contact(key, (&c, &own), 2, 3).await.unwrap(),
        ContactChange::Full(own.clone())
    );
    assert!(store.request_contact(key, &c, &own, "", 4).await.unwrap());
    assert_eq!(
        store
            .answer_contact_request(key, (&own, &c), true, 2, 5)
            .await
            .unwrap(),
        ContactChange::Full(own.clone())
    );
    // The request is still there: with room (a larger limit) it is accepted.
    assert_eq!(
        store
            .answer_contact_request(key, (&own, &c), true, 3, 6)
            .await
            .unwrap(),
        ContactChange::Done
    );
    assert_eq!(store.contacts(key, &own, None, 10).await.unwrap().len(), 3);
    // A decline needs no room.
    assert!(store
        .request_contact(key, &own, &name("ddd"), "", 7)
        .await
        .unwrap());
    assert_eq!(
        store
            .answer_contact_request(key, (&name("ddd"), &own), false, 1, 8)
            .await
            .unwrap(),
        ContactChange::Done
    );

    // Blocklists: the users already blocked do not count twice; past the limit nothing is
    // added at all.
    let blocker = name("blk");
    assert_eq!(
        store
            .change_blocks(key, &blocker, (&[a.clone(), b.clone()], true), 3, 9)
            .await
            .unwrap(),
        ContactChange::Done
    );
    assert_eq!(
        store
            .change_blocks(key, &blocker, (&[b.clone(), c.clone()], true), 3, 10)
            .await
            .unwrap(),
        ContactChange::Done
    );
    assert_eq!(
        store
            .change_blocks(key, &blocker, (&[own.clone(), name("eee")], true), 4, 11)
            .await
            .unwrap(),
        ContactChange::Full(blocker.clone())
    );
    assert_eq!(
        store.blocked_users(key, &blocker, 10).await.unwrap(),
        [a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(
        store
            .change_blocks(key, &blocker, (std::slice::from_ref(&a), true), 3, 12)
            .await
            .unwrap(),
        ContactChange::Unchanged
    );
}

pub async fn blocklists_are_each_users_own(store: &dyn Store) {
    let key = &AppKey::new("conf", "blocks").unwrap();
    let (amy, bob, cal) = (name("amy"), name("bob"), name("cal"));
    store
        .change_blocks(key, &amy, (&[cal.clone(), bob.clone()], true), 100, 1)
        .await
        .unwrap();
    store
        .change_blocks(key, &amy, (std::slice::from_ref(&bob), true), 100, 2)
        .await
        .unwrap();
    assert_eq!(
        store.blocked_users(key, &amy, 10).await.unwrap(),
        [bob.clone(), cal.clone()]
    );
    assert_eq!(
        store.blocked_users(key, &amy, 1).await.unwrap(),
        std::slice::from_ref(&bob)
    );
    assert!(store.is_blocked(key, &amy, &bob).await.unwrap());
    assert!(!store.is_blocked(key, &bob, &amy).await.unwrap());
    assert!(store.blocked_users(key, &bob, 10).await.unwrap().is_empty());
    store
        .change_blocks(key, &amy, (&[bob.clone(), name("zed")], false), 100, 3)
        .await
        .unwrap();
    assert!(!store.is_blocked(key, &amy, &bob).await.unwrap());
    assert_eq!(
        store.blocked_users(key, &amy, 10).await.unwrap(),
        std::slice::from_ref(&cal)
    );
    let other = &AppKey::new("conf", "other").unwrap();
    assert!(!store.is_blocked(other, &amy, &cal).await.unwrap());
}

pub async fn a_blocked_sender_is_refused_until_unblocked(store: &dyn Store) {
    let blocks_app = self::app("conf", "blocked");
    store.create_app(&blocks_app).await.unwrap();
    let app = blocks_app.key;
    store
        .create_users(&app, &[user("roy"), user("leo")])
        .await
        .unwrap();
    let roy = device("roy", "phone");
    store.device_seen(&app, &roy, 1).await.unwrap();
    store
        .change_blocks(&app, &name("roy"), (&[name("leo")], true), 100, 2)
        .await
        .unwrap();
    assert_eq!(
        store
            .append_message(message(&app, 100, 1, "roy"))
            .await
            .unwrap(),
        Appended::Blocked(name("roy"))
    );
    assert!(unread(store, &app, &roy).await.is_empty());
    // The blocker still writes to the blocked user, and anyone writes to themself.
    stored(
        store
            .append_message(message(&app, 150, 2, "leo"))
            .await
            .unwrap(),
    );
    store
        .change_blocks(&app, &name("roy"), (&[name("leo")], false), 100, 3)
        .await
        .unwrap();
    // The refused message was not stored: the same client id is a new message now.
    stored(
        store
            .append_message(message(&app, 200, 1, "roy"))
            .await
            .unwrap(),
    );
    assert_eq!(
        unread(store, &app, &roy).await,
        [(QueueName::single_chat(&name("leo")), 1)]
    );
}

pub async fn a_contacts_only_app_refuses_messages_to_non_contacts(store: &dyn Store) {
    use crate::app::AppSettings;
    let strict_app = self::app("conf", "strict");
    let open_app = self::app("conf", "open");
    for created in [&strict_app, &open_app] {
        store.create_app(created).await.unwrap();
        store
            .create_users(&created.key, &[user("roy"), user("leo"), user("amy")])
            .await
            .unwrap();
    }
    let (app, open) = (strict_app.key, open_app.key);
    let only_contacts = AppSettings {
        contacts_only: true,
    };
    assert!(store
        .update_app_settings(&app, &only_contacts)
        .await
        .unwrap());
    assert!(!store
        .update_app_settings(&AppKey::new("conf", "nowhere").unwrap(), &only_contacts)
        .await
        .unwrap());
    assert_eq!(
        store.app_by_key(&app).await.unwrap().unwrap().settings,
        only_contacts
    );
    let roy = device("roy", "phone");
    store.device_seen(&app, &roy, 1).await.unwrap();
    let text = |ms: u64, client_id: u64, to: &str| {
        let mut message = message(&app, ms, client_id, to);
        message.kind = "txt";
        message
    };
    assert_eq!(
        store.append_message(text(100, 1, "roy")).await.unwrap(),
        Appended::NotContact(name("roy"))
    );
    assert!(unread(store, &app, &roy).await.is_empty());
    // Not messages (a receipt, a server notice): they pass; so does a message to oneself, and
    // any message in another app.
    stored(
        store
            .append_message(message(&app, 110, 2, "roy"))
            .await
            .unwrap(),
    );
    stored(store.append_message(text(120, 3, "leo")).await.unwrap());
    let mut elsewhere = text(130, 4, "roy");
    elsewhere.app = open.clone();
    stored(store.append_message(elsewhere).await.unwrap());
    store
        .add_contact(&app, (&name("leo"), &name("roy")), 100, 140)
        .await
        .unwrap();
    stored(store.append_message(text(150, 1, "roy")).await.unwrap());
    // Amy is still no contact of Leo's; and with the setting off again anyone writes.
    assert_eq!(
        store.append_message(text(160, 5, "amy")).await.unwrap(),
        Appended::NotContact(name("amy"))
    );
    store
        .update_app_settings(&app, &AppSettings::default())
        .await
        .unwrap();
    stored(store.append_message(text(170, 5, "amy")).await.unwrap());
}

pub async fn user_attributes_merge_within_a_limit_and_go_with_the_user(store: &dyn Store) {
    use crate::store::{AttributesUpdate, UserAttributes};
    let attributes_app = self::app("conf", "attributes");
    store.create_app(&attributes_app).await.unwrap();
    let app = attributes_app.key;
    store
        .create_users(&app, &[user("amy"), user("bob")])
        .await
        .unwrap();
    let (amy, bob) = (name("amy"), name("bob"));
    let map = |pairs: &[(&str, &str)]| -> UserAttributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let changes = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        store
            .update_user_attributes(
                &app,
                &amy,
                &changes(&[("nickname", "Amy"), ("mail", "a@x")]),
                20
            )
            .await
            .unwrap(),
        AttributesUpdate::Updated(map(&[("mail", "a@x"), ("nickname", "Amy")]))
    );
    // A change keeps the other keys.
    assert_eq!(
        store
            .update_user_attributes(&app, &amy, &changes(&[("nickname", "Amelia")]), 22)
            .await
            .unwrap(),
        AttributesUpdate::Updated(map(&[("mail", "a@x"), ("nickname", "Amelia")]))
    );
    // 4 + 3 + 8 + 9 = 24 bytes > 22: nothing written.
    assert_eq!(
        store
            .update_user_attributes(&app, &amy, &changes(&[("nickname", "Amelia B.")]), 22)
            .await
            .unwrap(),
        AttributesUpdate::TooLarge
    );
    assert_eq!(
        store
            .update_user_attributes(&app, &name("ghost"), &changes(&[("a", "b")]), 22)
            .await
            .unwrap(),
        AttributesUpdate::NoUser
    );
    assert_eq!(
        store
            .user_attributes(&app, &[bob.clone(), name("ghost"), amy.clone()])
            .await
            .unwrap(),
        [
            (bob.clone(), map(&[])),
            (amy.clone(), map(&[("mail", "a@x"), ("nickname", "Amelia")]))
        ]
    );
    assert!(store.set_nickname(&app, &bob, "Bobby", 5).await.unwrap());
    assert!(!store
        .set_nickname(&app, &name("ghost"), "x", 5)
        .await
        .unwrap());
    let bob_now = store.user(&app, &bob).await.unwrap().unwrap();
    assert_eq!(
        (bob_now.nickname.as_str(), bob_now.modified_ms),
        ("Bobby", 5)
    );

    // A deleted user takes their attributes, contacts and blocklist entries along.
    assert!(store
        .request_contact(&app, &amy, &bob, "", 6)
        .await
        .unwrap());
    assert!(
        store
            .answer_contact_request(&app, (&bob, &amy), true, 100, 7)
            .await
            .unwrap()
            == ContactChange::Done
    );
    store
        .change_blocks(&app, &bob, (std::slice::from_ref(&amy), true), 100, 8)
        .await
        .unwrap();
    store.delete_user(&app, &amy).await.unwrap().unwrap();
    assert!(store
        .contacts(&app, &bob, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(!store.is_blocked(&app, &bob, &amy).await.unwrap());
    store.create_users(&app, &[user("amy")]).await.unwrap();
    assert_eq!(
        store
            .user_attributes(&app, std::slice::from_ref(&amy))
            .await
            .unwrap(),
        [(amy, map(&[]))]
    );
}

pub async fn reports_list_newest_first_per_app(store: &dyn Store) {
    use crate::store::Report;
    let key = &AppKey::new("conf", "reports").unwrap();
    let other = &AppKey::new("conf", "other").unwrap();
    let report = |n: u64| Report {
        id: 0,
        reporter: name("amy"),
        message: MessageId(n),
        report_type: format!("type {n}"),
        reason: format!("reason {n}"),
        created_ms: n,
    };
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(store.add_report(key, &report(n)).await.unwrap());
        store.add_report(other, &report(10 + n)).await.unwrap();
    }
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids grow: {ids:?}"
    );
    let newest = store.reports(key, None, 2).await.unwrap();
    assert_eq!(
        newest.iter().map(|r| r.message.0).collect::<Vec<_>>(),
        [3, 2]
    );
    assert_eq!(newest[0].id, ids[2]);
    assert_eq!(
        (
            newest[0].reporter.as_str(),
            newest[0].report_type.as_str(),
            newest[0].reason.as_str(),
            newest[0].created_ms
        ),
        ("amy", "type 3", "reason 3", 3)
    );
    let rest = store.reports(key, Some(newest[1].id), 2).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.message.0).collect::<Vec<_>>(), [1]);
}

fn presence_update(
    resource: &str,
    status: &str,
    ext: Option<&str>,
) -> crate::store::PresenceUpdate {
    crate::store::PresenceUpdate {
        resource: resource.to_owned(),
        status: status.to_owned(),
        ext: ext.map(str::to_owned),
    }
}

fn statuses(presence: &crate::store::StoredPresence) -> Vec<(&str, &str)> {
    presence
        .devices
        .iter()
        .map(|device| (device.resource.as_str(), device.status.as_str()))
        .collect()
}

pub async fn presence_records_devices_newest_first_within_a_bound(store: &dyn Store) {
    use crate::store::MAX_PRESENCE_DEVICES;
    let presence_app = self::app("conf", "presence");
    store.create_app(&presence_app).await.unwrap();
    let app = presence_app.key;
    store
        .create_users(&app, &[user("amy"), user("bob")])
        .await
        .unwrap();
    let (amy, bob) = (name("amy"), name("bob"));
    assert_eq!(
        store
            .presences(&app, &[amy.clone(), bob.clone()], &bob)
            .await
            .unwrap(),
        [(amy.clone(), None), (bob.clone(), None)],
        "nothing stored yet"
    );
    let first = store
        .record_presence(&app, &amy, &presence_update("web", "1", None), 1_000)
        .await
        .unwrap();
    assert_eq!((first.ext.as_str(), first.changed_ms), ("", 1_000));
    assert_eq!(statuses(&first), [("web", "1")]);
    // A description, then a second device; a clock that went back still moves the time on.
    let described = store
        .record_presence(
            &app,
            &amy,
            &presence_update("web", "busy", Some("in a call")),
            2_000,
        )
        .await
        .unwrap();
    assert_eq!(described.ext, "in a call");
    let phone = store
        .record_presence(&app, &amy, &presence_update("phone", "1", None), 1_500)
        .await
        .unwrap();
    assert!(phone.changed_ms > described.changed_ms, "{phone:?}");
    assert_eq!(
        phone.ext, "in a call",
        "a status alone keeps the description"
    );
    assert_eq!(statuses(&phone), [("phone", "1"), ("web", "busy")]);
    let read = store
        .presences(&app, &[bob.clone(), amy.clone()], &bob)
        .await
        .unwrap();
    assert_eq!(
        read,
        [(bob.clone(), None), (amy.clone(), Some(phone.clone()))]
    );
    // Only the most recently changed devices are kept.
    let mut last = phone;
    for n in 0..MAX_PRESENCE_DEVICES + 2 {
        last = store
            .record_presence(
                &app,
                &amy,
                &presence_update(&format!("pad{n}"), "0", None),
                3_000 + n as u64,
            )
            .await
            .unwrap();
    }
    assert_eq!(last.devices.len(), MAX_PRESENCE_DEVICES);
    assert_eq!(
        last.devices[0].resource,
        format!("pad{}", MAX_PRESENCE_DEVICES + 1)
    );
    assert!(!last.devices.iter().any(|device| device.resource == "web"));
    assert_eq!(
        store
            .presences(&app, std::slice::from_ref(&amy), &bob)
            .await
            .unwrap(),
        [(amy, Some(last))]
    );
}

pub async fn presence_subscriptions_expire_page_and_stay_within_a_limit(store: &dyn Store) {
    use crate::store::{PresenceSubscription, SubscribeChange};
    let presence_app = self::app("conf", "presubs");
    store.create_app(&presence_app).await.unwrap();
    let app = presence_app.key;
    let names = ["amy", "bob", "cal", "dan", "eve"];
    store.create_users(&app, &names.map(user)).await.unwrap();
    let [amy, bob, cal, dan, eve] = names.map(name);
    let sub = |user: &UserName, expires_ms: u64| PresenceSubscription {
        user: user.clone(),
        expires_ms,
    };
    assert_eq!(
        store
            .subscribe_presence(&app, &amy, &[cal.clone(), bob.clone()], 5_000, 1_000, 3)
            .await
            .unwrap(),
        SubscribeChange::Done
    );
    // Again with a later expiry, and one more: three in all, the limit.
    assert_eq!(
        store
            .subscribe_presence(&app, &amy, &[bob.clone(), dan.clone()], 9_000, 1_000, 3)
            .await
            .unwrap(),
        SubscribeChange::Done
    );
    assert_eq!(
        store
            .subscribe_presence(&app, &amy, std::slice::from_ref(&eve), 9_000, 1_000, 3)
            .await
            .unwrap(),
        SubscribeChange::Full
    );
    assert_eq!(
        store
            .presence_subscriptions(&app, &amy, 1_000, 0, 10)
            .await
            .unwrap(),
        (
            vec![sub(&bob, 9_000), sub(&cal, 5_000), sub(&dan, 9_000)],
            3
        )
    );
    assert_eq!(
        store
            .presence_subscriptions(&app, &amy, 1_000, 1, 1)
            .await
            .unwrap(),
        (vec![sub(&cal, 5_000)], 3)
    );
    store
        .subscribe_presence(&app, &eve, std::slice::from_ref(&bob), 7_000, 1_000, 3)
        .await
        .unwrap();
    assert_eq!(
        store
            .presence_subscribers(&app, &bob, 1_000, None, 100)
            .await
            .unwrap(),
        [sub(&amy, 9_000), sub(&eve, 7_000)]
    );
    // Who is watched at all, in one read.
    assert_eq!(
        store
            .watched_users(&app, &[eve.clone(), bob.clone(), cal.clone()], 1_000)
            .await
            .unwrap(),
        [bob.clone(), cal.clone()]
    );
    // Paged by name.
    assert_eq!(
        store
            .presence_subscribers(&app, &bob, 1_000, None, 1)
            .await
            .unwrap(),
        [sub(&amy, 9_000)]
    );
    assert_eq!(
        store
            .presence_subscribers(&app, &bob, 1_000, Some(&amy), 1)
            .await
            .unwrap(),
        [sub(&eve, 7_000)]
    );
    // Past cal's expiry: gone from every read, and no longer counted against the limit.
    assert_eq!(
        store
            .presence_subscriptions(&app, &amy, 6_000, 0, 10)
            .await
            .unwrap(),
        (vec![sub(&bob, 9_000), sub(&dan, 9_000)], 2)
    );
    assert_eq!(
        store
            .presence_subscribers(&app, &cal, 6_000, None, 100)
            .await
            .unwrap(),
        []
    );
    assert_eq!(
        store
            .subscribe_presence(&app, &amy, std::slice::from_ref(&eve), 9_000, 6_000, 3)
            .await
            .unwrap(),
        SubscribeChange::Done
    );
    store
        .unsubscribe_presence(&app, &amy, &[bob.clone(), cal.clone()])
        .await
        .unwrap();
    assert_eq!(
        store
            .presence_subscriptions(&app, &amy, 6_000, 0, 10)
            .await
            .unwrap(),
        (vec![sub(&dan, 9_000), sub(&eve, 9_000)], 2)
    );
    assert_eq!(
        store
            .presence_subscribers(&app, &bob, 6_000, None, 100)
            .await
            .unwrap(),
        [sub(&eve, 7_000)]
    );
}

pub async fn blocking_hides_presence_and_a_deleted_user_takes_theirs_along(store: &dyn Store) {
    use crate::store::{ContactChange, PresenceSubscription};
    let presence_app = self::app("conf", "preblock");
    store.create_app(&presence_app).await.unwrap();
    let app = presence_app.key;
    store
        .create_users(&app, &[user("amy"), user("bob"), user("cal")])
        .await
        .unwrap();
    let (amy, bob, cal) = (name("amy"), name("bob"), name("cal"));
    for subscriber in [&bob, &cal] {
        store
            .subscribe_presence(
                &app,
                subscriber,
                std::slice::from_ref(&amy),
                9_000,
                1_000,
                10,
            )
            .await
            .unwrap();
    }
    store
        .record_presence(&app, &amy, &presence_update("web", "1", Some("hi")), 1_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .change_blocks(&app, &amy, (std::slice::from_ref(&bob), true), 10, 1_000)
            .await
            .unwrap(),
        ContactChange::Done
    );
    // Amy blocked Bob: he sees nothing of hers and is not among those told of her changes.
    assert_eq!(
        store
            .presences(&app, std::slice::from_ref(&amy), &bob)
            .await
            .unwrap(),
        []
    );
    assert_eq!(
        store
            .presences(&app, std::slice::from_ref(&amy), &cal)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .presence_subscribers(&app, &amy, 1_000, None, 100)
            .await
            .unwrap(),
        [PresenceSubscription {
            user: cal.clone(),
            expires_ms: 9_000
        }]
    );
    // Watched by Cal, not by Bob: watched still; once Cal goes too, not.
    assert_eq!(
        store
            .watched_users(&app, std::slice::from_ref(&amy), 1_000)
            .await
            .unwrap(),
        std::slice::from_ref(&amy)
    );
    store
        .unsubscribe_presence(&app, &cal, std::slice::from_ref(&amy))
        .await
        .unwrap();
    assert_eq!(
        store
            .watched_users(&app, std::slice::from_ref(&amy), 1_000)
            .await
            .unwrap(),
        []
    );
    store
        .subscribe_presence(&app, &cal, std::slice::from_ref(&amy), 9_000, 1_000, 10)
        .await
        .unwrap();
    // A deleted user's presence and subscriptions, both ways, go with them.
    store
        .subscribe_presence(&app, &amy, std::slice::from_ref(&cal), 9_000, 1_000, 10)
        .await
        .unwrap();
    store.delete_user(&app, &amy).await.unwrap();
    // Her last session closing after the deletion leaves nothing behind.
    let gone = store
        .record_presence(&app, &amy, &presence_update("web", "0", None), 2_000)
        .await
        .unwrap();
    assert!(gone.devices.is_empty() && gone.ext.is_empty(), "{gone:?}");
    store.create_users(&app, &[user("amy")]).await.unwrap();
    assert_eq!(
        store
            .presences(&app, std::slice::from_ref(&amy), &cal)
            .await
            .unwrap(),
        [(amy.clone(), None)]
    );
    assert_eq!(
        store
            .presence_subscribers(&app, &amy, 1_000, None, 100)
            .await
            .unwrap(),
        []
    );
    assert_eq!(
        store
            .presence_subscribers(&app, &cal, 1_000, None, 100)
            .await
            .unwrap(),
        []
    );
    assert_eq!(
        store
            .presence_subscriptions(&app, &cal, 1_000, 0, 10)
            .await
            .unwrap(),
        (vec![], 0)
    );
}

pub async fn notification_settings_per_scope_language_and_tokens(store: &dyn Store) {
    use crate::store::{NotificationScope as Scope, NotificationSetting, PushToken};
    let settings_app = self::app("conf", "settings");
    store.create_app(&settings_app).await.unwrap();
    let app = settings_app.key;
    store.create_users(&app, &[user("amy")]).await.unwrap();
    let amy = name("amy");
    let remind = |kind: &str| NotificationSetting {
        remind_type: Some(kind.to_owned()),
        ..Default::default()
    };
    let quiet = NotificationSetting {
        ignore_until_ms: Some(99),
        ignore_interval: Some("21:30-8:0".into()),
        ..Default::default()
    };
    store
        .set_notification_setting(&app, &amy, &Scope::Account, Some(&quiet))
        .await
        .unwrap();
    for (scope, kind) in [
        (Scope::User("zed".into()), "NONE"),
        (Scope::Group("g1".into()), "AT"),
        (Scope::User("bob".into()), "ALL"),
    ] {
        store
            .set_notification_setting(&app, &amy, &scope, Some(&remind(kind)))
            .await
            .unwrap();
    }
    // A conversation setting without a remind type is not in the remind-type list.
    store
        .set_notification_setting(&app, &amy, &Scope::User("cal".into()), Some(&quiet))
        .await
        .unwrap();
    assert_eq!(
        store
            .notification_settings(
                &app,
                &amy,
                &[
                    Scope::User("bob".into()),
                    Scope::User("nobody".into()),
                    Scope::Account
                ]
            )
            .await
            .unwrap(),
        [
            (Scope::User("bob".into()), remind("ALL")),
            (Scope::Account, quiet.clone())
        ]
    );
    let first = store
        .conversations_with_remind_type(&app, &amy, None, 2)
        .await
        .unwrap();
    assert_eq!(
        first,
        [
            (Scope::Group("g1".into()), remind("AT")),
            (Scope::User("bob".into()), remind("ALL"))
        ]
    );
    let rest = store
        .conversations_with_remind_type(&app, &amy, Some(&first[1].0), 2)
        .await
        .unwrap();
    assert_eq!(rest, [(Scope::User("zed".into()), remind("NONE"))]);
    // Removed: gone from both reads.
    store
        .set_notification_setting(&app, &amy, &Scope::User("zed".into()), None)
        .await
        .unwrap();
    assert!(store
        .conversations_with_remind_type(&app, &amy, Some(&first[1].0), 2)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(store.push_language(&app, &amy).await.unwrap(), None);
    store
        .set_push_language(&app, &amy, Some("fr"))
        .await
        .unwrap();
    assert_eq!(
        store.push_language(&app, &amy).await.unwrap().as_deref(),
        Some("fr")
    );
    let token = |device: &str, value: &str| PushToken {
        device_id: device.into(),
        device_token: value.into(),
        notifier: "fcm".into(),
    };
    store
        .set_push_token(&app, &amy, &token("web1", "t1"))
        .await
        .unwrap();
    store
        .set_push_token(&app, &amy, &token("web2", "t2"))
        .await
        .unwrap();
    store
        .set_push_token(&app, &amy, &token("web1", ""))
        .await
        .unwrap();
    assert_eq!(
        store.push_tokens(&app, &amy).await.unwrap(),
        [token("web2", "t2")]
    );
    // They go with the user.
    store.delete_user(&app, &amy).await.unwrap().unwrap();
    assert!(store.push_tokens(&app, &amy).await.unwrap().is_empty());
    assert_eq!(store.push_language(&app, &amy).await.unwrap(), None);
    assert!(store
        .notification_settings(&app, &amy, &[Scope::Account])
        .await
        .unwrap()
        .is_empty());
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

/// Leo's message to `to` (leo himself: his own log), sent at `sent_ms` from his device "web";
/// its meta is `meta-<client_id>`. On a fresh store, increasing `sent_ms` make ids `sent_ms << 22`.
fn message(app: &AppKey, sent_ms: u64, client_id: u64, to: &str) -> NewMessage {
    NewMessage {
        app: app.clone(),
        log: LogId::pair(&name("leo"), &name(to)),
        audience: Audience::Members,
        sender: name("leo"),
        sender_resource: "web".into(),
        client_id: Some(client_id),
        body_digest: 0,
        sent_ms,
        meta: EncodeMeta::new(move |_, _| bytes::Bytes::from(format!("meta-{client_id}"))),
        kind: "",
        history: Vec::new(),
    }
}

/// The id a stored append got.
fn stored(appended: Appended) -> MessageId {
    match appended {
        Appended::Stored { id, timestamp_ms } => {
            assert_eq!(timestamp_ms, id.timestamp_ms());
            id
        }
        other => panic!("not stored: {other:?}"),
    }
}

fn device(user: &str, resource: &str) -> Device {
    Device {
        user: name(user),
        resource: resource.into(),
    }
}

/// `owner`'s whole conversation list, newest last message first.
async fn list(
    store: &dyn Store,
    app: &AppKey,
    owner: &str,
) -> Vec<crate::store::ConversationSummary> {
    let query = crate::store::ConversationQuery {
        filter: crate::store::ConversationFilter::All,
        after: None,
        limit: 1000,
    };
    store
        .conversations(app, &name(owner), &query)
        .await
        .unwrap()
}

/// One pull of `device`'s view of its conversation with `peer`: the page's ids.
async fn pull(
    store: &dyn Store,
    app: &AppKey,
    device: &Device,
    peer: &str,
    key: Option<MessageId>,
) -> Vec<MessageId> {
    match pull_page(store, app, device, peer, key).await {
        Pulled::Page(page) => page.iter().map(|message| message.id).collect(),
        Pulled::KeyBeyondEnd => panic!("key beyond the end"),
    }
}

async fn pull_page(
    store: &dyn Store,
    app: &AppKey,
    device: &Device,
    peer: &str,
    key: Option<MessageId>,
) -> Pulled {
    let log = LogId::pair(&device.user, &name(peer));
    store
        .submit_pull(app, device, &log, key, 100)
        .await
        .unwrap()
}

/// `device`'s unread count per peer.
async fn unread(store: &dyn Store, app: &AppKey, device: &Device) -> Vec<(QueueName, u32)> {
    store
        .unread_counts(app, device)
        .await
        .unwrap()
        .into_iter()
        .map(|count| (count.log.view_of(&device.user).unwrap(), count.count))
        .collect()
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
    let roy = device("roy", "phone");
    store.device_seen(&app, &roy, 1).await.unwrap();

    // A recipient that does not exist: refused, and nothing is written.
    assert_eq!(
        store
            .append_message(message(&app, 50, 50, "nobody"))
            .await
            .unwrap(),
        Appended::UnknownRecipient(name("nobody"))
    );
    assert!(unread(store, &app, &device("nobody", "web"))
        .await
        .is_empty());
    let mut ids = Vec::new();
    for (sent_ms, client_id) in [(100, 1), (200, 2), (300, 3)] {
        let appended = store
            .append_message(message(&app, sent_ms, client_id, "roy"))
            .await
            .unwrap();
        ids.push(stored(appended));
    }
    // Ids are the store's, increasing, with the time they were sent at (or later).
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(ids[0].timestamp_ms() >= 100);
    // A resend of client id 2 from the same resource is answered with the stored id.
    assert_eq!(
        store
            .append_message(message(&app, 400, 2, "roy"))
            .await
            .unwrap(),
        Appended::Duplicate(ids[1])
    );
    // Another body under client id 2 is another message (the SDK reuses ids, see `body_digest`).
    let mut other_body = message(&app, 250, 2, "roy");
    other_body.body_digest = 1;
    let fourth = stored(store.append_message(other_body).await.unwrap());
    // Sent "earlier" than the last, it still comes after it: order is commit order.
    assert!(fourth > ids[2]);
    ids.push(fourth);

    assert_eq!(unread(store, &app, &roy).await, vec![(queue.clone(), 4)]);
    let log = LogId::pair(&name("leo"), &name("roy"));
    let Pulled::Page(page) = store.submit_pull(&app, &roy, &log, None, 2).await.unwrap() else {
        panic!("a page");
    };
    assert_eq!(
        page.iter().map(|message| message.id).collect::<Vec<_>>(),
        ids[..2]
    );
    assert_eq!(page[0].meta, bytes::Bytes::from("meta-1"));
    // The key moves the cursor; the next page starts after it.
    assert_eq!(pull(store, &app, &roy, "leo", Some(ids[1])).await, ids[2..]);
    assert_eq!(pull(store, &app, &roy, "leo", Some(ids[3])).await, []);
    assert!(unread(store, &app, &roy).await.is_empty());
    // The cursor never moves back.
    assert_eq!(pull(store, &app, &roy, "leo", Some(ids[0])).await, []);

    // Concurrent appends all land, each exactly once, in the order they were submitted.
    let mut pending = Vec::new();
    for i in 0..50u64 {
        pending.push(store.submit_append(message(&app, 1000 + i, 1000 + i, "roy")));
    }
    let mut appended = Vec::new();
    for result in futures_join_all(pending).await {
        appended.push(stored(result.unwrap()));
    }
    assert!(appended.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(pull(store, &app, &roy, "leo", None).await, appended);

    // Submissions apply in call order: a pull submitted right after an append, before the
    // append is awaited, sees it.
    let last = appended[49];
    let appended = store.submit_append(message(&app, 2000, 2000, "roy"));
    let pulled = store.submit_pull(&app, &roy, &log, Some(last), 100);
    let id = stored(appended.await.unwrap());
    match pulled.await.unwrap() {
        Pulled::Page(page) => assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), [id]),
        other => panic!("{other:?}"),
    }
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
    let roy_phone = device("roy", "phone");
    store.device_seen(&app, &roy_phone, 1).await.unwrap();
    let queue = QueueName::single_chat(&name("leo"));
    let append_with = |sent_ms: u64, client_id: u64, effect: AppendEffect| {
        store.submit_append_with(message(&app, sent_ms, client_id, "roy"), effect)
    };
    let first = stored(append_with(100, 100, AppendEffect::None).await.unwrap());
    let second = stored(append_with(200, 200, AppendEffect::None).await.unwrap());
    let found = store.stored_message(&app, first).await.unwrap().unwrap();
    assert_eq!(found.sender, name("leo"));
    assert_eq!(found.meta, bytes::Bytes::from("meta-100"));
    assert!(!found.recalled);
    assert!(store
        .stored_message(&app, MessageId(second.0 + 999))
        .await
        .unwrap()
        .is_none());

    // An edit replaces the target's stored meta.
    let edit = AppendEffect::Edit {
        target: first,
        meta: bytes::Bytes::from("edited"),
    };
    let third = stored(append_with(300, 300, edit).await.unwrap());
    let edited = store.stored_message(&app, first).await.unwrap();
    assert_eq!(edited.unwrap().meta, bytes::Bytes::from("edited"));

    // A recall marks the target and takes it out of its log: unread devices never see it.
    let recall = AppendEffect::Recall { target: second };
    let fourth = stored(append_with(400, 400, recall).await.unwrap());
    let recalled = store.stored_message(&app, second).await.unwrap();
    assert!(recalled.unwrap().recalled);
    assert_eq!(
        pull(store, &app, &roy_phone, "leo", None).await,
        [first, third, fourth]
    );

    // A resend is a duplicate and applies nothing.
    let again = AppendEffect::Recall { target: first };
    assert_eq!(
        append_with(500, 400, again).await.unwrap(),
        Appended::Duplicate(fourth)
    );
    let kept = store.stored_message(&app, first).await.unwrap();
    assert!(!kept.unwrap().recalled);

    // Channel acks move the reader's marker forward only.
    assert_eq!(
        store
            .conversation_read_up_to(&app, &roy, &queue)
            .await
            .unwrap(),
        None
    );
    let mut read_ids = Vec::new();
    for sent_ms in [600, 550] {
        let read = AppendEffect::ConversationRead {
            owner: roy.clone(),
            conversation: queue.clone(),
        };
        read_ids.push(stored(append_with(sent_ms, sent_ms, read).await.unwrap()));
    }
    assert_eq!(
        store
            .conversation_read_up_to(&app, &roy, &queue)
            .await
            .unwrap(),
        Some(read_ids[1].max(read_ids[0]))
    );
}

/// Every change to a log shows in a device's pages and unread count at once (a store may
/// keep what a device keeps up with in memory).
pub async fn a_device_view_follows_every_change(store: &dyn Store) {
    let drained_app = self::app("conf", "drained");
    store.create_app(&drained_app).await.unwrap();
    store
        .create_users(&drained_app.key, &[user("roy")])
        .await
        .unwrap();
    let app = drained_app.key;
    let roy = name("roy");
    let phone = device("roy", "phone");
    store.device_seen(&app, &phone, 1).await.unwrap();
    let queue = QueueName::single_chat(&name("leo"));
    let mut sent_ms = 0;
    let mut append = |effect: AppendEffect| {
        sent_ms += 1;
        store.submit_append_with(message(&app, sent_ms, sent_ms, "roy"), effect)
    };
    let unread_total = || async {
        unread(store, &app, &phone)
            .await
            .iter()
            .map(|(_, count)| *count)
            .sum::<u32>()
    };
    // Delivered and acknowledged: nothing left, as for a reader who keeps up.
    let one = stored(append(AppendEffect::None).await.unwrap());
    assert_eq!(pull(store, &app, &phone, "leo", None).await, [one]);
    assert_eq!(pull(store, &app, &phone, "leo", Some(one)).await, []);

    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(stored(append(AppendEffect::None).await.unwrap()));
    }
    assert_eq!(pull(store, &app, &phone, "leo", None).await, ids);
    let edit = AppendEffect::Edit {
        target: ids[0],
        meta: bytes::Bytes::from("edited"),
    };
    let five = stored(append(edit).await.unwrap());
    let log = LogId::pair(&name("leo"), &roy);
    let Pulled::Page(page) = store
        .submit_pull(&app, &phone, &log, None, 50)
        .await
        .unwrap()
    else {
        panic!("a page");
    };
    assert_eq!(page[0].meta, bytes::Bytes::from("edited"));
    assert_eq!(pull(store, &app, &phone, "leo", Some(five)).await, []);

    let six = stored(append(AppendEffect::None).await.unwrap());
    let seven = stored(append(AppendEffect::None).await.unwrap());
    let eight = stored(append(AppendEffect::Recall { target: six }).await.unwrap());
    assert_eq!(pull(store, &app, &phone, "leo", None).await, [seven, eight]);
    assert_eq!(unread_total().await, 2);
    assert_eq!(pull(store, &app, &phone, "leo", Some(seven)).await, [eight]);
    assert_eq!(unread_total().await, 1);
    pull(store, &app, &phone, "leo", Some(eight)).await;
    assert_eq!(unread_total().await, 0);

    let nine = stored(append(AppendEffect::None).await.unwrap());
    let ten = stored(append(AppendEffect::None).await.unwrap());
    assert_eq!(pull(store, &app, &phone, "leo", Some(nine)).await, [ten]);
    assert_eq!(unread(store, &app, &phone).await, vec![(queue.clone(), 1)]);

    // Deleting the conversation: every device of roy has read it.
    store
        .change_conversation(
            &app,
            &roy,
            &queue,
            ConversationChange::Delete { history: false },
        )
        .await
        .unwrap();
    assert_eq!(pull(store, &app, &phone, "leo", None).await, []);
    assert_eq!(unread_total().await, 0);
    let eleven = stored(append(AppendEffect::None).await.unwrap());
    assert_eq!(pull(store, &app, &phone, "leo", None).await, [eleven]);
    assert_eq!(unread_total().await, 1);

    // A deleted user leaves nothing unread to the next user of the name.
    store.delete_user(&app, &roy).await.unwrap();
    store.create_users(&app, &[user("roy")]).await.unwrap();
    store.device_seen(&app, &phone, 2).await.unwrap();
    assert_eq!(unread_total().await, 0);
    assert_eq!(pull(store, &app, &phone, "leo", None).await, []);
    let twelve = stored(append(AppendEffect::None).await.unwrap());
    assert_eq!(unread_total().await, 1);
    assert_eq!(pull(store, &app, &phone, "leo", None).await, [twelve]);
}

/// Each device reads through its own cursor: one device's key takes nothing from another, and
/// a device's view holds the messages its user sent from other devices, not its own.
pub async fn devices_read_independently(store: &dyn Store) {
    let multi = self::app("conf", "multi");
    store.create_app(&multi).await.unwrap();
    store
        .create_users(&multi.key, &[user("leo"), user("roy")])
        .await
        .unwrap();
    let app = multi.key;
    let (leo_web, leo_phone) = (device("leo", "web"), device("leo", "phone"));
    let (roy_phone, roy_pad) = (device("roy", "phone"), device("roy", "pad"));
    for device in [&leo_web, &leo_phone, &roy_phone, &roy_pad] {
        store.device_seen(&app, device, 1).await.unwrap();
    }
    // Leo sends from "web": roy's devices and leo's phone read it, leo's web does not.
    let sent = stored(
        store
            .append_message(message(&app, 10, 1, "roy"))
            .await
            .unwrap(),
    );
    let mut from_roy = message(&app, 11, 2, "leo");
    from_roy.sender = name("roy");
    from_roy.sender_resource = "phone".into();
    from_roy.log = LogId::pair(&name("leo"), &name("roy"));
    let reply = stored(store.append_message(from_roy).await.unwrap());
    assert_eq!(
        pull(store, &app, &roy_pad, "leo", None).await,
        [sent, reply]
    );
    assert_eq!(pull(store, &app, &roy_phone, "leo", None).await, [sent]);
    assert_eq!(
        pull(store, &app, &leo_phone, "roy", None).await,
        [sent, reply]
    );
    assert_eq!(pull(store, &app, &leo_web, "roy", None).await, [reply]);
    let roys = QueueName::single_chat(&name("roy"));
    assert_eq!(unread(store, &app, &leo_web).await, vec![(roys.clone(), 1)]);
    assert_eq!(
        unread(store, &app, &leo_phone).await,
        vec![(roys.clone(), 2)]
    );
    // The phone reads everything; the web still has its message.
    assert_eq!(pull(store, &app, &leo_phone, "roy", Some(reply)).await, []);
    assert!(unread(store, &app, &leo_phone).await.is_empty());
    assert_eq!(unread(store, &app, &leo_web).await, vec![(roys, 1)]);
    assert_eq!(pull(store, &app, &leo_web, "roy", None).await, [reply]);
    assert_eq!(
        pull(store, &app, &roy_pad, "leo", None).await,
        [sent, reply]
    );
}

/// A device logging in for the first time is delivered what none of its user's devices has
/// read (everything, for a user's first device), not what another device already read.
pub async fn a_new_device_starts_where_the_others_are(store: &dyn Store) {
    let fresh = self::app("conf", "newdevice");
    store.create_app(&fresh).await.unwrap();
    store
        .create_users(&fresh.key, &[user("roy")])
        .await
        .unwrap();
    let app = fresh.key;
    // Roy has never logged in: his first device gets it all.
    let first = stored(
        store
            .append_message(message(&app, 10, 1, "roy"))
            .await
            .unwrap(),
    );
    let phone = device("roy", "phone");
    store.device_seen(&app, &phone, 20).await.unwrap();
    assert_eq!(pull(store, &app, &phone, "leo", None).await, [first]);
    assert_eq!(pull(store, &app, &phone, "leo", Some(first)).await, []);
    let second = stored(
        store
            .append_message(message(&app, 30, 2, "roy"))
            .await
            .unwrap(),
    );
    // A new device: what the phone read is not new to it; what nobody read is.
    let pad = device("roy", "pad");
    store.device_seen(&app, &pad, 40).await.unwrap();
    assert_eq!(pull(store, &app, &pad, "leo", None).await, [second]);
    // Seen again, a device keeps its own place.
    store.device_seen(&app, &phone, 50).await.unwrap();
    assert_eq!(pull(store, &app, &phone, "leo", None).await, [second]);
}

/// An entry stays readable for as long as one device that can see it has not read it, however
/// many other devices read past it or cannot see it (a backend may drop what nobody can still
/// be delivered: this must not show); a new device starts where the furthest of its user's
/// devices is, which a device's own sends do not hold back.
pub async fn what_one_device_still_needs_outlives_every_other_read(store: &dyn Store) {
    let keep = self::app("conf", "keep");
    store.create_app(&keep).await.unwrap();
    store
        .create_users(&keep.key, &[user("leo"), user("roy"), user("amy")])
        .await
        .unwrap();
    let app = keep.key;
    let (leo_web, leo_phone, roy_phone) = (
        device("leo", "web"),
        device("leo", "phone"),
        device("roy", "phone"),
    );
    for device in [&leo_web, &leo_phone, &roy_phone] {
        store.device_seen(&app, device, 1).await.unwrap();
    }
    let from_roy = |sent_ms: u64, client_id: u64, audience: Audience| {
        let mut message = message(&app, sent_ms, client_id, "leo");
        message.sender = name("roy");
        message.sender_resource = "phone".into();
        message.log = LogId::pair(&name("leo"), &name("roy"));
        message.audience = audience;
        message
    };
    // Leo's web sends; roy reads it, and leo's web cannot see it: only leo's phone needs it.
    let sent = stored(
        store
            .append_message(message(&app, 10, 1, "roy"))
            .await
            .unwrap(),
    );
    assert_eq!(pull(store, &app, &roy_phone, "leo", None).await, [sent]);
    assert_eq!(pull(store, &app, &roy_phone, "leo", Some(sent)).await, []);
    // Roy answers, leo's web reads the answer, and a server notice goes to roy alone.
    let answer = stored(
        store
            .append_message(from_roy(20, 2, Audience::Members))
            .await
            .unwrap(),
    );
    assert_eq!(pull(store, &app, &leo_web, "roy", Some(answer)).await, []);
    let notice = stored(
        store
            .append_message(from_roy(30, 3, Audience::Member(name("roy"))))
            .await
            .unwrap(),
    );
    assert_eq!(pull(store, &app, &roy_phone, "leo", Some(notice)).await, []);
    // The phone still gets both, in order; then nobody has anything unread.
    assert_eq!(
        unread(store, &app, &leo_phone).await,
        vec![(QueueName::single_chat(&name("roy")), 2)]
    );
    assert_eq!(
        pull(store, &app, &leo_phone, "roy", None).await,
        [sent, answer]
    );
    assert_eq!(pull(store, &app, &leo_phone, "roy", Some(answer)).await, []);
    for device in [&leo_web, &leo_phone, &roy_phone] {
        assert!(unread(store, &app, device).await.is_empty());
    }
    // Leo's phone sends again and roy reads it. The web, which can see it, still gets it; a
    // new device of leo's starts where the furthest of leo's devices is: the phone, past its
    // own send.
    let mut again = message(&app, 40, 4, "roy");
    again.sender_resource = "phone".into();
    let again = stored(store.append_message(again).await.unwrap());
    assert_eq!(pull(store, &app, &roy_phone, "leo", Some(again)).await, []);
    let leo_pad = device("leo", "pad");
    store.device_seen(&app, &leo_pad, 50).await.unwrap();
    assert_eq!(pull(store, &app, &leo_pad, "roy", None).await, []);
    assert_eq!(pull(store, &app, &leo_web, "roy", None).await, [again]);
    // Amy has never logged in: what leo sends her waits for her first device, however far
    // leo's own devices read.
    let to_amy = stored(
        store
            .append_message(message(&app, 70, 5, "amy"))
            .await
            .unwrap(),
    );
    assert_eq!(pull(store, &app, &leo_phone, "amy", Some(to_amy)).await, []);
    let amy_phone = device("amy", "phone");
    store.device_seen(&app, &amy_phone, 80).await.unwrap();
    assert_eq!(pull(store, &app, &amy_phone, "leo", None).await, [to_amy]);
}

/// Entries for one member only, messages kept for history only, and keys a device cannot
/// give: nothing moves.
pub async fn audiences_and_bad_keys(store: &dyn Store) {
    let audiences = self::app("conf", "audience");
    store.create_app(&audiences).await.unwrap();
    store
        .create_users(&audiences.key, &[user("leo"), user("roy")])
        .await
        .unwrap();
    let app = audiences.key;
    let (leo_phone, roy_phone) = (device("leo", "phone"), device("roy", "phone"));
    for device in [&leo_phone, &roy_phone] {
        store.device_seen(&app, device, 1).await.unwrap();
    }
    let mut for_roy = message(&app, 10, 1, "roy");
    for_roy.audience = Audience::Member(name("roy"));
    let for_roy = stored(store.append_message(for_roy).await.unwrap());
    let mut history_only = message(&app, 11, 2, "roy");
    history_only.audience = Audience::Nobody;
    stored(store.append_message(history_only).await.unwrap());
    assert_eq!(pull(store, &app, &roy_phone, "leo", None).await, [for_roy]);
    assert_eq!(pull(store, &app, &leo_phone, "roy", None).await, []);
    assert!(unread(store, &app, &leo_phone).await.is_empty());
    // A key past the newest entry of the device's view: refused, the cursor stays.
    assert_eq!(
        pull_page(
            store,
            &app,
            &roy_phone,
            "leo",
            Some(MessageId(for_roy.0 + 1))
        )
        .await,
        Pulled::KeyBeyondEnd
    );
    assert_eq!(
        pull_page(store, &app, &leo_phone, "roy", Some(for_roy)).await,
        Pulled::KeyBeyondEnd
    );
    assert_eq!(pull(store, &app, &roy_phone, "leo", None).await, [for_roy]);
}

/// Devices unseen since the cutoff lose their cursors (at their next login they are new), and
/// entries older than it leave their logs, but not history or the message itself.
pub async fn reclaiming_drops_stale_devices_and_old_entries(store: &dyn Store) {
    let reclaim = self::app("conf", "reclaim");
    store.create_app(&reclaim).await.unwrap();
    store
        .create_users(&reclaim.key, &[user("roy")])
        .await
        .unwrap();
    let app = reclaim.key;
    let (phone, pad) = (device("roy", "phone"), device("roy", "pad"));
    store.device_seen(&app, &phone, 1_000).await.unwrap();
    store.device_seen(&app, &pad, 5_000).await.unwrap();
    let old = stored(
        store
            .append_message(message(&app, 2_000, 1, "roy"))
            .await
            .unwrap(),
    );
    let new = stored(
        store
            .append_message(message(&app, 6_000, 2, "roy"))
            .await
            .unwrap(),
    );
    let reclaimed = store.reclaim(3_000, 100).await.unwrap();
    assert_eq!(
        (reclaimed.devices, reclaimed.entries, reclaimed.done),
        (1, 1, true)
    );
    assert_eq!(pull(store, &app, &pad, "leo", None).await, [new]);
    assert!(store.stored_message(&app, old).await.unwrap().is_some());
    assert_eq!(store.reclaim(3_000, 100).await.unwrap().entries, 0);
    // In slices: a limit of one takes one device at a time and says when it is done.
    for seen in [10, 20] {
        store
            .device_seen(&app, &device("roy", &format!("old{seen}")), seen)
            .await
            .unwrap();
    }
    let first = store.reclaim(3_000, 1).await.unwrap();
    assert_eq!((first.devices, first.done), (1, false));
    let mut rest = store.reclaim(3_000, 1).await.unwrap();
    while !rest.done {
        rest = store.reclaim(3_000, 1).await.unwrap();
    }
    // The pad, seen at 5 s, stays.
    assert_eq!(pull(store, &app, &pad, "leo", Some(new)).await, []);
}

/// The list pages by place (no page skips or repeats a conversation), filters by pin and mark,
/// and after a recall shows what is left once the row is recounted.
pub async fn the_conversation_list_pages_filters_and_recounts(store: &dyn Store) {
    use crate::store::{ConversationFilter, ConversationQuery};
    let listing = self::app("conf", "listing");
    store.create_app(&listing).await.unwrap();
    let users = ["leo", "roy", "amy", "bea"].map(user);
    store.create_users(&listing.key, &users).await.unwrap();
    let app = listing.key;
    let mut last = std::collections::HashMap::new();
    for (sent_ms, peer) in [(10, "roy"), (20, "amy"), (30, "bea"), (40, "roy")] {
        let mut sent = chat_message(&app, sent_ms, sent_ms, "txt");
        sent.log = LogId::pair(&name("leo"), &name(peer));
        sent.history = crate::history::single_chat_entries("txt", &name("leo"), &name(peer));
        last.insert(peer, stored(store.append_message(sent).await.unwrap()));
    }
    let app_ref = &app;
    let page = |filter: ConversationFilter, after, limit| {
        let query = ConversationQuery {
            filter,
            after,
            limit,
        };
        async move {
            store
                .conversations(app_ref, &name("leo"), &query)
                .await
                .unwrap()
        }
    };
    let peers = |rows: &[crate::store::ConversationSummary]| {
        rows.iter()
            .map(|row| row.conversation.jid_parts().0.to_owned())
            .collect::<Vec<_>>()
    };
    let first = page(ConversationFilter::All, None, 2).await;
    assert_eq!(peers(&first), ["roy", "bea"]);
    assert_eq!(first[0].last.id, last["roy"]);
    let after = Some(first[1].place(ConversationFilter::All));
    assert_eq!(
        peers(&page(ConversationFilter::All, after, 2).await),
        ["amy"]
    );
    // Pinned: latest pin first; marked: only those with the mark.
    for (peer, pinned_ms) in [("amy", 5), ("roy", 9)] {
        let conversation = QueueName::single_chat(&name(peer));
        let pin = ConversationChange::Pin(Some(pinned_ms));
        store
            .change_conversation(&app, &name("leo"), &conversation, pin)
            .await
            .unwrap();
    }
    let pinned = page(ConversationFilter::Pinned, None, 1).await;
    assert_eq!(peers(&pinned), ["roy"]);
    let after = Some(pinned[0].place(ConversationFilter::Pinned));
    assert_eq!(
        peers(&page(ConversationFilter::Pinned, after, 5).await),
        ["amy"]
    );
    let bea = QueueName::single_chat(&name("bea"));
    let mark = ConversationChange::AddMarks(vec![3]);
    store
        .change_conversation(&app, &name("leo"), &bea, mark)
        .await
        .unwrap();
    assert_eq!(
        peers(&page(ConversationFilter::Marked(3), None, 5).await),
        ["bea"]
    );
    // Bea's only message recalled: once recounted, bea's list has nothing from leo.
    let bea_list = list(store, &app, "bea").await;
    assert_eq!((bea_list.len(), bea_list[0].unread), (1, 1));
    let mut recall = message(&app, 50, 50, "bea");
    recall.history = Vec::new();
    let recall = store.submit_append_with(
        recall,
        AppendEffect::Recall {
            target: last["bea"],
        },
    );
    stored(recall.await.unwrap());
    let leo_view = QueueName::single_chat(&name("leo"));
    store
        .recount_conversation(&app, &name("bea"), &leo_view)
        .await
        .unwrap();
    assert!(list(store, &app, "bea").await.is_empty());
}

pub async fn deleting_a_user_drops_their_queues(store: &dyn Store) {
    let app = app("conf", "deletes");
    store.create_app(&app).await.unwrap();
    store.create_users(&app.key, &[user("roy")]).await.unwrap();
    let roy = device("roy", "phone");
    let kept = stored(
        store
            .append_message(message(&app.key, 5000, 5000, "roy"))
            .await
            .unwrap(),
    );
    store.delete_user(&app.key, &name("roy")).await.unwrap();
    assert!(unread(store, &app.key, &roy).await.is_empty());
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
        Appended::Duplicate(kept)
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
        let appended = store
            .append_message(message(&app, at, 9_000 + n as u64, "roy"))
            .await
            .unwrap();
        stored(appended);
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
    let mut message = message(app, ms, client_id, "roy");
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
        let id = stored(
            store
                .append_message(chat_message(key, ms, ms, kind))
                .await
                .unwrap(),
        );
        assert_eq!(id, MessageId(ms << 22));
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
    let rows = list(store, key, "roy").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].conversation.clone(),
            rows[0].last.id.0 >> 22,
            rows[0].unread
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
    let rows = list(store, key, "roy").await;
    assert_eq!(
        (rows[0].pinned_ms, rows[0].marks.clone()),
        (Some(77), vec![0])
    );
    // Roy's conversation read ack clears the count; leo's own messages never count for leo.
    let mut read_ack = message(key, 3500, 3500, "leo");
    read_ack.sender = name("roy");
    read_ack.log = LogId::pair(&name("leo"), &name("roy"));
    let read = store.submit_append_with(
        read_ack,
        crate::store::AppendEffect::ConversationRead {
            owner: name("roy"),
            conversation: roy_view.clone(),
        },
    );
    stored(read.await.unwrap());
    assert_eq!(list(store, key, "roy").await[0].unread, 0);
    assert_eq!(list(store, key, "leo").await[0].unread, 0);

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
    assert!(list(store, key, "roy").await.is_empty());
    assert!(page(query(false), "roy").await.is_empty());
    assert!(unread(store, key, &device("roy", "phone")).await.is_empty());
    store
        .append_message(chat_message(key, 5000, 5000, "txt"))
        .await
        .unwrap();
    let rows = list(store, key, "roy").await;
    assert_eq!((rows[0].last.id.0 >> 22, rows[0].unread), (5000, 1));
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
    let imported_id = MessageId(1500 << 22 | 0x3ff << 12);
    store
        .import_message(imported_id, chat_message(key, 1500, 1500, "txt"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .import_message(imported_id, chat_message(key, 1500, 1500, "txt"))
            .await,
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(
        page(leo_view.clone(), "leo").await,
        [1000, 1500, 2000, 3000, 5000]
    );
    // The export sees every message of the app in the range, whatever the parties removed.
    let exported = store.messages_between(key, 1000, 5000).await.unwrap();
    assert_eq!(ids(exported), [1000, 1500, 2000, 3000]);
    assert_eq!(list(store, key, "leo").await.len(), 1);
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

/// Two nodes' `MessageService`s on one store, each with a sender of its own, send into one log
/// at once while a reader pulls it with keys: the reader gets every message exactly once, in id
/// order. If an id could be committed after a larger one, the reader's key would pass over it
/// and it would never be delivered.
pub async fn two_services_on_one_store_keep_each_log_in_id_order(store: std::sync::Arc<dyn Store>) {
    use confab_proto::{
        pb::{self, message_body::content::Type as ContentType, meta::NameSpace},
        USER_DOMAIN,
    };
    use prost::Message;
    use std::sync::Arc;

    use crate::{
        bus::{InProcessBus, SessionRegistry},
        messages::{MessageService, PullPage, SessionContext},
        presence::LocalPresence,
        services::{Limits, Services},
    };

    const PER_SENDER: u64 = 200;
    let nodes = app("conf", "nodes");
    store.create_app(&nodes).await.unwrap();
    store
        .create_users(&nodes.key, &[user("leo"), user("roy")])
        .await
        .unwrap();
    let mut services = Vec::new();
    for node in [1, 2] {
        let registry = Arc::new(SessionRegistry::new(node));
        let bus = Arc::new(InProcessBus::new(Arc::clone(&registry)));
        let presence = Arc::new(LocalPresence::new(registry));
        let node_services =
            Services::start(Arc::clone(&store), bus, presence, node, Limits::default())
                .await
                .unwrap();
        services.push(node_services);
    }
    let app = services[0].apps.app(&nodes.key).await.unwrap();
    fn jid(name: &str) -> pb::Jid {
        pb::Jid {
            name: Some(name.into()),
            domain: Some(USER_DOMAIN.into()),
            ..Default::default()
        }
    }
    let send = move |service: Arc<MessageService>, session: SessionContext, n: u64| {
        let body = pb::MessageBody {
            from: Some(jid("leo")),
            to: Some(jid("roy")),
            contents: vec![pb::message_body::Content {
                r#type: Some(ContentType::Text as i32),
                text: Some(format!("{}-{n}", session.resource)),
                ..Default::default()
            }],
            ..Default::default()
        };
        let meta = pb::Meta {
            id: Some(n + 1),
            to: Some(jid("roy")),
            ns: Some(NameSpace::Chat as i32),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        };
        service.submit(&session, meta).unwrap()
    };
    let sender = |index: usize| SessionContext {
        app: Arc::clone(&app),
        user: name("leo"),
        resource: format!("device{index}"),
    };
    let reader = SessionContext {
        app: Arc::clone(&app),
        user: name("roy"),
        resource: "phone".into(),
    };
    services[1]
        .accounts
        .device_logged_in(&reader)
        .await
        .unwrap();
    let queue = QueueName::single_chat(&name("leo"));
    let mut received: Vec<u64> = Vec::new();
    let mut key = None;
    let ids = |page: &PullPage| {
        page.metas
            .iter()
            .map(|meta| pb::Meta::decode(meta.clone()).unwrap().id.unwrap())
            .collect::<Vec<_>>()
    };
    // Strict turns.
    const TURNS: u64 = 100;
    for n in 0..TURNS {
        send(Arc::clone(&services[1].messages), sender(1), n)
            .await
            .unwrap();
        let page = services[0]
            .messages
            .pull(&reader, &queue, key)
            .await
            .unwrap();
        received.extend(ids(&page));
        key = page.next_key.or(key);
        send(Arc::clone(&services[0].messages), sender(0), n)
            .await
            .unwrap();
        let page = services[1]
            .messages
            .pull(&reader, &queue, key)
            .await
            .unwrap();
        received.extend(ids(&page));
        key = page.next_key.or(key);
    }
    assert_eq!(
        received.len(),
        2 * TURNS as usize,
        "every message of the turns, once"
    );
    // Both at once.
    let mut senders = Vec::new();
    for (index, service) in services.iter().map(|node| &node.messages).enumerate() {
        let (service, session) = (Arc::clone(service), sender(index));
        senders.push(tokio::spawn(async move {
            let mut pending = Vec::new();
            for n in TURNS..TURNS + PER_SENDER {
                pending.push(send(Arc::clone(&service), session.clone(), n));
                if n % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            for sent in pending {
                sent.await.unwrap();
            }
        }));
    }
    let total = 2 * (TURNS + PER_SENDER) as usize;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while received.len() < total && std::time::Instant::now() < deadline {
        // The two nodes take turns serving the reader, as behind a load balancer.
        let service = &services[received.len() % 2].messages;
        let page = service.pull(&reader, &queue, key).await.unwrap();
        received.extend(ids(&page));
        key = page.next_key.or(key);
        if page.metas.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    for sender in senders {
        sender.await.unwrap();
    }
    // Whatever came in after the reader's last pull.
    let rest = services[0]
        .messages
        .pull(&reader, &queue, key)
        .await
        .unwrap();
    received.extend(ids(&rest));
    assert!(
        received.windows(2).all(|pair| pair[0] < pair[1]),
        "out of order"
    );
    assert_eq!(received.len(), total, "every message, once");
}
