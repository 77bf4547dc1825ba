//! Users (the embedded store's `users` table).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, UserName},
    store::{attributes_size, AttributesUpdate, StoreError, UserAttributes, UserStore},
    user::User,
};

use crate::MemoryStore;

/// Each app's users in name order (`list_users` pages by name).
#[derive(Debug, Default)]
pub(crate) struct Users {
    by_app: HashMap<AppKey, BTreeMap<UserName, User>>,
    /// The embedded store's `user_attributes`.
    attributes: HashMap<(AppKey, UserName), UserAttributes>,
}

impl Users {
    /// Whether `name` exists in `app` (an append's recipient check).
    pub(crate) fn exists(&self, app: &AppKey, name: &UserName) -> bool {
        self.by_app
            .get(app)
            .is_some_and(|users| users.contains_key(name))
    }

    fn get_mut(&mut self, app: &AppKey, name: &UserName) -> Option<&mut User> {
        self.by_app.get_mut(app)?.get_mut(name)
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_users(&self, app: &AppKey, users: &[User]) -> Result<(), StoreError> {
        self.with(|state| {
            let existing = state.users.by_app.entry(app.clone()).or_default();
            // All or none: check the whole batch (and its repeats) before inserting any.
            let mut batch = BTreeMap::new();
            for user in users {
                if existing.contains_key(&user.name) || batch.contains_key(&user.name) {
                    return Err(StoreError::Duplicate(user.name.to_string()));
                }
                batch.insert(user.name.clone(), user.clone());
            }
            existing.extend(batch);
            Ok(())
        })?
    }

    async fn user(&self, app: &AppKey, name: &UserName) -> Result<Option<User>, StoreError> {
        self.with(|state| state.users.by_app.get(app)?.get(name).cloned())
    }

    async fn list_users(
        &self,
        app: &AppKey,
        prefix: &str,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        self.with(|state| {
            let Some(users) = state.users.by_app.get(app) else {
                return Vec::new();
            };
            users
                .values()
                .filter(|user| after.is_none_or(|after| user.name > *after))
                // A literal prefix (no LIKE wildcards).
                .filter(|user| user.name.as_str().starts_with(prefix))
                .take(limit as usize)
                .cloned()
                .collect()
        })
    }

    async fn count_users(&self, app: &AppKey) -> Result<u64, StoreError> {
        self.with(|state| {
            state
                .users
                .by_app
                .get(app)
                .map_or(0, |users| users.len() as u64)
        })
    }

    async fn update_password(
        &self,
        app: &AppKey,
        name: &UserName,
        password_hash: &str,
        tokens_issued_from: u32,
        modified_ms: u64,
    ) -> Result<bool, StoreError> {
        self.with(|state| {
            let Some(user) = state.users.get_mut(app, name) else {
                return false;
            };
            user.password_hash = password_hash.to_owned();
            // Every change moves the bound past its current value (saturating at u32::MAX),
            // and never back.
            let bumped = user.tokens_issued_from.saturating_add(1);
            user.tokens_issued_from = tokens_issued_from.max(bumped);
            user.modified_ms = modified_ms;
            true
        })
    }

    async fn set_activated(
        &self,
        app: &AppKey,
        name: &UserName,
        activated: bool,
        modified_ms: u64,
    ) -> Result<bool, StoreError> {
        self.with(|state| {
            let Some(user) = state.users.get_mut(app, name) else {
                return false;
            };
            user.activated = activated;
            user.modified_ms = modified_ms;
            true
        })
    }

    async fn delete_user(&self, app: &AppKey, name: &UserName) -> Result<Option<User>, StoreError> {
        self.with(|state| {
            let deleted = state.users.by_app.get_mut(app)?.remove(name)?;
            // Their queues go with them, and their places in the groups they do not own;
            // their history, read markers and conversation settings stay, as in the embedded
            // store.
            state.groups.drop_user(app, name);
            state.rooms.drop_user(app, name);
            state.threads.drop_user(app, name);
            state.logs.drop_user(&state.groups, app, name);
            state.users.attributes.remove(&(app.clone(), name.clone()));
            state.contacts.drop_user(app, name);
            state.notifications.drop_user(app, name);
            state.presence.drop_user(app, name);
            Some(deleted)
        })
    }

    async fn set_nickname(
        &self,
        app: &AppKey,
        name: &UserName,
        nickname: &str,
        modified_ms: u64,
    ) -> Result<bool, StoreError> {
        self.with(|state| {
            let Some(user) = state.users.get_mut(app, name) else {
                return false;
            };
            user.nickname = nickname.to_owned();
            user.modified_ms = modified_ms;
            true
        })
    }

    async fn update_user_attributes(
        &self,
        app: &AppKey,
        name: &UserName,
        changes: &[(String, String)],
        max_bytes: usize,
    ) -> Result<AttributesUpdate, StoreError> {
        self.with(|state| {
            if !state.users.exists(app, name) {
                return AttributesUpdate::NoUser;
            }
            let key = (app.clone(), name.clone());
            let mut attributes = state
                .users
                .attributes
                .get(&key)
                .cloned()
                .unwrap_or_default();
            for (change, value) in changes {
                attributes.insert(change.clone(), value.clone());
            }
            if attributes_size(&attributes) > max_bytes {
                return AttributesUpdate::TooLarge;
            }
            state.users.attributes.insert(key, attributes.clone());
            AttributesUpdate::Updated(attributes)
        })
    }

    async fn user_attributes(
        &self,
        app: &AppKey,
        names: &[UserName],
    ) -> Result<Vec<(UserName, UserAttributes)>, StoreError> {
        self.with(|state| {
            names
                .iter()
                .filter(|name| state.users.exists(app, name))
                .map(|name| {
                    let attributes = state
                        .users
                        .attributes
                        .get(&(app.clone(), name.clone()))
                        .cloned()
                        .unwrap_or_default();
                    (name.clone(), attributes)
                })
                .collect()
        })
    }
}
