//! Contacts, contact requests and blocklists (the embedded store's `contacts`,
//! `contact_requests` and `blocks` tables).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, UserName},
    store::{Contact, ContactChange, ContactStore, StoreError},
};

use crate::MemoryStore;

/// (app, user, other user): the key of each map, so that one user's entries are one range.
type Key = (String, UserName, UserName);

#[derive(Debug, Default)]
pub(crate) struct Contacts {
    /// Each side of a contact with its owner's remark.
    remarks: BTreeMap<Key, String>,
    /// (app, invitee, inviter) → reason.
    requests: BTreeMap<Key, String>,
    /// (app, owner, blocked).
    blocks: BTreeSet<Key>,
}

impl Contacts {
    /// The first of `users` who already has `max` contacts.
    fn full_of(&self, app: &AppKey, users: [&UserName; 2], max: u32) -> Option<UserName> {
        users.into_iter().find_map(|owner| {
            let held = self
                .remarks
                .keys()
                .filter(|(in_app, user, _)| in_app == app.as_str() && user == owner)
                .count();
            (held >= max as usize).then(|| owner.clone())
        })
    }

    /// Both sides of a contact, and no request left between them.
    fn befriend(&mut self, app: &AppKey, a: &UserName, b: &UserName) {
        self.requests.remove(&key(app, a, b));
        self.requests.remove(&key(app, b, a));
        self.remarks.entry(key(app, a, b)).or_default();
        self.remarks.entry(key(app, b, a)).or_default();
    }

    /// Forgets a deleted user's contacts (both sides), requests and blocklist entries.
    pub(crate) fn drop_user(&mut self, app: &AppKey, name: &UserName) {
        let concerns =
            |(in_app, user, other): &Key| in_app == app.as_str() && (user == name || other == name);
        self.remarks.retain(|key, _| !concerns(key));
        self.requests.retain(|key, _| !concerns(key));
        self.blocks.retain(|key| !concerns(key));
    }

    /// Whether `contact` is among `owner`'s contacts (the contacts-only check of an append).
    pub(crate) fn are_contacts(&self, app: &AppKey, owner: &UserName, contact: &UserName) -> bool {
        self.remarks.contains_key(&key(app, owner, contact))
    }

    /// Whether `owner` blocked `user` (the append's check).
    pub(crate) fn blocks(&self, app: &AppKey, owner: &UserName, user: &UserName) -> bool {
        self.blocks.contains(&key(app, owner, user))
    }
}

fn key(app: &AppKey, user: &UserName, other: &UserName) -> Key {
    (app.to_string(), user.clone(), other.clone())
}

#[async_trait]
impl ContactStore for MemoryStore {
    async fn request_contact(
        &self,
        app: &AppKey,
        inviter: &UserName,
        invitee: &UserName,
        reason: &str,
        _now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.with(|state| {
            let contacts = &mut state.contacts;
            if contacts.remarks.contains_key(&key(app, inviter, invitee)) {
                return false;
            }
            contacts
                .requests
                .insert(key(app, invitee, inviter), reason.to_owned());
            true
        })
    }

    async fn answer_contact_request(
        &self,
        app: &AppKey,
        (invitee, inviter): (&UserName, &UserName),
        accept: bool,
        max_contacts: u32,
        _now_ms: u64,
    ) -> Result<ContactChange, StoreError> {
        self.with(|state| {
            let contacts = &mut state.contacts;
            if !contacts.requests.contains_key(&key(app, invitee, inviter)) {
                return ContactChange::Unchanged;
            }
            if accept {
                if let Some(user) = contacts.full_of(app, [invitee, inviter], max_contacts) {
                    return ContactChange::Full(user);
                }
                contacts.befriend(app, invitee, inviter);
            } else {
                contacts.requests.remove(&key(app, invitee, inviter));
            }
            ContactChange::Done
        })
    }

    async fn add_contact(
        &self,
        app: &AppKey,
        (owner, contact): (&UserName, &UserName),
        max_contacts: u32,
        _now_ms: u64,
    ) -> Result<ContactChange, StoreError> {
        self.with(|state| {
            let contacts = &mut state.contacts;
            if contacts.remarks.contains_key(&key(app, owner, contact)) {
                return ContactChange::Unchanged;
            }
            if let Some(user) = contacts.full_of(app, [owner, contact], max_contacts) {
                return ContactChange::Full(user);
            }
            contacts.befriend(app, owner, contact);
            ContactChange::Done
        })
    }

    async fn delete_contact(
        &self,
        app: &AppKey,
        owner: &UserName,
        contact: &UserName,
    ) -> Result<bool, StoreError> {
        self.with(|state| {
            let remarks = &mut state.contacts.remarks;
            let mine = remarks.remove(&key(app, owner, contact)).is_some();
            let theirs = remarks.remove(&key(app, contact, owner)).is_some();
            mine || theirs
        })
    }

    async fn set_contact_remark(
        &self,
        app: &AppKey,
        owner: &UserName,
        contact: &UserName,
        remark: &str,
    ) -> Result<bool, StoreError> {
        self.with(
            |state| match state.contacts.remarks.get_mut(&key(app, owner, contact)) {
                Some(stored) => {
                    *stored = remark.to_owned();
                    true
                }
                None => false,
            },
        )
    }

    async fn contacts(
        &self,
        app: &AppKey,
        owner: &UserName,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<Contact>, StoreError> {
        self.with(|state| {
            state
                .contacts
                .remarks
                .iter()
                .filter(|((in_app, user, contact), _)| {
                    in_app == app.as_str()
                        && user == owner
                        && after.is_none_or(|after| contact > after)
                })
                .take(limit as usize)
                .map(|((_, _, contact), remark)| Contact {
                    name: contact.clone(),
                    remark: remark.clone(),
                })
                .collect()
        })
    }

    async fn change_blocks(
        &self,
        app: &AppKey,
        owner: &UserName,
        (users, block): (&[UserName], bool),
        max_blocked: u32,
        _now_ms: u64,
    ) -> Result<ContactChange, StoreError> {
        self.with(|state| {
            let blocks = &mut state.contacts.blocks;
            let before = blocks.len();
            if block {
                let held = blocks
                    .iter()
                    .filter(|(in_app, user, _)| in_app == app.as_str() && user == owner)
                    .count();
                let new: std::collections::BTreeSet<&UserName> = users
                    .iter()
                    .filter(|user| !blocks.contains(&key(app, owner, user)))
                    .collect();
                if held + new.len() > max_blocked as usize {
                    return ContactChange::Full(owner.clone());
                }
                for user in new {
                    blocks.insert(key(app, owner, user));
                }
            } else {
                for user in users {
                    blocks.remove(&key(app, owner, user));
                }
            }
            if blocks.len() == before {
                ContactChange::Unchanged
            } else {
                ContactChange::Done
            }
        })
    }

    async fn blocked_users(
        &self,
        app: &AppKey,
        owner: &UserName,
        limit: u32,
    ) -> Result<Vec<UserName>, StoreError> {
        self.with(|state| {
            state
                .contacts
                .blocks
                .iter()
                .filter(|(in_app, user, _)| in_app == app.as_str() && user == owner)
                .take(limit as usize)
                .map(|(_, _, blocked)| blocked.clone())
                .collect()
        })
    }

    async fn is_blocked(
        &self,
        app: &AppKey,
        owner: &UserName,
        user: &UserName,
    ) -> Result<bool, StoreError> {
        self.with(|state| state.contacts.blocks.contains(&key(app, owner, user)))
    }
}
