//! Published presence and presence subscriptions (the embedded store's `presence_users`,
//! `presence_devices` and `presence_subscriptions`).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, UserName},
    store::{
        DeviceStatus, PresenceStore, PresenceSubscription, PresenceUpdate, StoreError,
        StoredPresence, SubscribeChange, MAX_PRESENCE_DEVICES,
    },
};

use crate::MemoryStore;

/// (app, user, other user): one user's entries are one range.
type Key = (String, UserName, UserName);

#[derive(Debug)]
struct Published {
    ext: String,
    changed_ms: u64,
    /// (resource, status, changed_ms).
    devices: Vec<(String, String, u64)>,
}

impl Published {
    fn stored(&self) -> StoredPresence {
        let mut devices = self.devices.clone();
        devices.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        StoredPresence {
            ext: self.ext.clone(),
            changed_ms: self.changed_ms,
            devices: devices
                .into_iter()
                .map(|(resource, status, _)| DeviceStatus { resource, status })
                .collect(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Presences {
    published: HashMap<(AppKey, UserName), Published>,
    /// (app, subscriber, target) → expiry.
    subscriptions: BTreeMap<Key, u64>,
}

impl Presences {
    pub(crate) fn drop_user(&mut self, app: &AppKey, name: &UserName) {
        self.published.remove(&(app.clone(), name.clone()));
        self.subscriptions
            .retain(|(in_app, subscriber, target), _| {
                in_app != app.as_str() || (subscriber != name && target != name)
            });
    }

    fn live_of<'a>(
        &'a self,
        app: &'a AppKey,
        subscriber: &'a UserName,
        now_ms: u64,
    ) -> impl Iterator<Item = (&'a UserName, u64)> + 'a {
        self.subscriptions
            .iter()
            .filter(move |((in_app, owner, _), expires)| {
                in_app == app.as_str() && owner == subscriber && **expires > now_ms
            })
            .map(|((_, _, target), expires)| (target, *expires))
    }
}

fn key(app: &AppKey, a: &UserName, b: &UserName) -> Key {
    (app.as_str().to_owned(), a.clone(), b.clone())
}

#[async_trait]
impl PresenceStore for MemoryStore {
    async fn record_presence(
        &self,
        app: &AppKey,
        user: &UserName,
        update: &PresenceUpdate,
        at_ms: u64,
    ) -> Result<StoredPresence, StoreError> {
        self.with(|state| {
            if !state.users.exists(app, user) {
                return StoredPresence::nothing(at_ms);
            }
            let published = state
                .presence
                .published
                .entry((app.clone(), user.clone()))
                .or_insert_with(|| Published {
                    ext: String::new(),
                    changed_ms: 0,
                    devices: Vec::new(),
                });
            let changed_ms = if published.changed_ms == 0 {
                at_ms
            } else {
                at_ms.max(published.changed_ms + 1)
            };
            published.changed_ms = changed_ms;
            if let Some(ext) = &update.ext {
                published.ext = ext.clone();
            }
            published
                .devices
                .retain(|(resource, _, _)| *resource != update.resource);
            published
                .devices
                .push((update.resource.clone(), update.status.clone(), changed_ms));
            published
                .devices
                .sort_by_key(|device| std::cmp::Reverse(device.2));
            published.devices.truncate(MAX_PRESENCE_DEVICES);
            published.stored()
        })
    }

    async fn presences(
        &self,
        app: &AppKey,
        users: &[UserName],
        viewer: &UserName,
    ) -> Result<Vec<(UserName, Option<StoredPresence>)>, StoreError> {
        self.with(|state| {
            users
                .iter()
                .filter(|user| !state.contacts.blocks(app, user, viewer))
                .map(|user| {
                    let published = state.presence.published.get(&(app.clone(), user.clone()));
                    (user.clone(), published.map(Published::stored))
                })
                .collect()
        })
    }

    async fn subscribe_presence(
        &self,
        app: &AppKey,
        subscriber: &UserName,
        targets: &[UserName],
        expires_ms: u64,
        now_ms: u64,
        max: u32,
    ) -> Result<SubscribeChange, StoreError> {
        self.with(|state| {
            let presence = &mut state.presence;
            presence
                .subscriptions
                .retain(|(in_app, owner, _), expires| {
                    in_app != app.as_str() || owner != subscriber || *expires > now_ms
                });
            let held = presence.live_of(app, subscriber, now_ms).count();
            let added = targets
                .iter()
                .filter(|target| {
                    !presence
                        .subscriptions
                        .contains_key(&key(app, subscriber, target))
                })
                .count();
            if held + added > max as usize {
                return SubscribeChange::Full;
            }
            for target in targets {
                presence
                    .subscriptions
                    .insert(key(app, subscriber, target), expires_ms);
            }
            SubscribeChange::Done
        })
    }

    async fn unsubscribe_presence(
        &self,
        app: &AppKey,
        subscriber: &UserName,
        targets: &[UserName],
    ) -> Result<(), StoreError> {
        self.with(|state| {
            for target in targets {
                state
                    .presence
                    .subscriptions
                    .remove(&key(app, subscriber, target));
            }
        })
    }

    async fn presence_subscriptions(
        &self,
        app: &AppKey,
        subscriber: &UserName,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<PresenceSubscription>, u64), StoreError> {
        self.with(|state| {
            let live: Vec<PresenceSubscription> = state
                .presence
                .live_of(app, subscriber, now_ms)
                .map(|(user, expires_ms)| PresenceSubscription {
                    user: user.clone(),
                    expires_ms,
                })
                .collect();
            let total = live.len() as u64;
            let page = live
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(limit as usize)
                .collect();
            (page, total)
        })
    }

    async fn watched_users(
        &self,
        app: &AppKey,
        users: &[UserName],
        now_ms: u64,
    ) -> Result<Vec<UserName>, StoreError> {
        self.with(|state| {
            users
                .iter()
                .filter(|user| {
                    state.presence.subscriptions.iter().any(
                        |((in_app, subscriber, target), expires)| {
                            in_app == app.as_str()
                                && target == *user
                                && *expires > now_ms
                                && !state.contacts.blocks(app, user, subscriber)
                        },
                    )
                })
                .cloned()
                .collect()
        })
    }

    async fn presence_subscribers(
        &self,
        app: &AppKey,
        target: &UserName,
        now_ms: u64,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<PresenceSubscription>, StoreError> {
        self.with(|state| {
            state
                .presence
                .subscriptions
                .iter()
                .filter(|((in_app, subscriber, to), expires)| {
                    in_app == app.as_str()
                        && to == target
                        && after.is_none_or(|after| subscriber > after)
                        && **expires > now_ms
                        && !state.contacts.blocks(app, target, subscriber)
                })
                .take(limit as usize)
                .map(|((_, subscriber, _), expires)| PresenceSubscription {
                    user: subscriber.clone(),
                    expires_ms: *expires,
                })
                .collect()
        })
    }
}
