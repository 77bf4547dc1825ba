//! Push-notification settings (the embedded store's `notification_settings`,
//! `push_languages` and `push_tokens`).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, UserName},
    store::{NotificationScope, NotificationSetting, NotificationStore, PushToken, StoreError},
};

use crate::MemoryStore;

type Owner = (AppKey, UserName);

#[derive(Debug, Default)]
pub(crate) struct Notifications {
    settings: HashMap<Owner, BTreeMap<NotificationScope, NotificationSetting>>,
    languages: HashMap<Owner, String>,
    tokens: HashMap<Owner, BTreeMap<String, PushToken>>,
}

impl Notifications {
    pub(crate) fn drop_user(&mut self, app: &AppKey, name: &UserName) {
        let owner = (app.clone(), name.clone());
        self.settings.remove(&owner);
        self.languages.remove(&owner);
        self.tokens.remove(&owner);
    }
}

fn owner(app: &AppKey, user: &UserName) -> Owner {
    (app.clone(), user.clone())
}

#[async_trait]
impl NotificationStore for MemoryStore {
    async fn set_notification_setting(
        &self,
        app: &AppKey,
        user: &UserName,
        scope: &NotificationScope,
        setting: Option<&NotificationSetting>,
    ) -> Result<(), StoreError> {
        self.with(|state| {
            let settings = state
                .notifications
                .settings
                .entry(owner(app, user))
                .or_default();
            match setting {
                Some(setting) => {
                    settings.insert(scope.clone(), setting.clone());
                }
                None => {
                    settings.remove(scope);
                }
            }
        })
    }

    async fn notification_settings(
        &self,
        app: &AppKey,
        user: &UserName,
        scopes: &[NotificationScope],
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, StoreError> {
        self.with(|state| {
            let Some(settings) = state.notifications.settings.get(&owner(app, user)) else {
                return Vec::new();
            };
            scopes
                .iter()
                .filter_map(|scope| Some((scope.clone(), settings.get(scope)?.clone())))
                .collect()
        })
    }

    async fn conversations_with_remind_type(
        &self,
        app: &AppKey,
        user: &UserName,
        after: Option<&NotificationScope>,
        limit: u32,
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, StoreError> {
        // In the embedded store's order: by the scope's text (`u:…` after `g:…`).
        let text = |scope: &NotificationScope| match scope {
            NotificationScope::Account => String::new(),
            NotificationScope::User(id) => format!("u:{id}"),
            NotificationScope::Group(id) => format!("g:{id}"),
        };
        self.with(|state| {
            let Some(settings) = state.notifications.settings.get(&owner(app, user)) else {
                return Vec::new();
            };
            let after = after.map(text).unwrap_or_default();
            let mut found: Vec<_> = settings
                .iter()
                .filter(|(scope, setting)| {
                    **scope != NotificationScope::Account
                        && setting.remind_type.is_some()
                        && text(scope) > after
                })
                .map(|(scope, setting)| (scope.clone(), setting.clone()))
                .collect();
            found.sort_by_key(|(scope, _)| text(scope));
            found.truncate(limit as usize);
            found
        })
    }

    async fn set_push_language(
        &self,
        app: &AppKey,
        user: &UserName,
        language: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|state| match language {
            Some(language) => {
                state
                    .notifications
                    .languages
                    .insert(owner(app, user), language.to_owned());
            }
            None => {
                state.notifications.languages.remove(&owner(app, user));
            }
        })
    }

    async fn push_language(
        &self,
        app: &AppKey,
        user: &UserName,
    ) -> Result<Option<String>, StoreError> {
        self.with(|state| {
            state
                .notifications
                .languages
                .get(&owner(app, user))
                .cloned()
        })
    }

    async fn set_push_token(
        &self,
        app: &AppKey,
        user: &UserName,
        token: &PushToken,
    ) -> Result<(), StoreError> {
        self.with(|state| {
            let tokens = state
                .notifications
                .tokens
                .entry(owner(app, user))
                .or_default();
            if token.device_token.is_empty() {
                tokens.remove(&token.device_id);
            } else {
                tokens.insert(token.device_id.clone(), token.clone());
            }
        })
    }

    async fn push_tokens(
        &self,
        app: &AppKey,
        user: &UserName,
    ) -> Result<Vec<PushToken>, StoreError> {
        self.with(|state| {
            state
                .notifications
                .tokens
                .get(&owner(app, user))
                .map(|tokens| tokens.values().cloned().collect())
                .unwrap_or_default()
        })
    }
}
