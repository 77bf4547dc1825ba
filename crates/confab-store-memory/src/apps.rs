//! Apps (the embedded store's `apps` table) and the health check.

use std::collections::BTreeMap;

use async_trait::async_trait;
use confab_core::{
    app::{App, AppSettings},
    ids::AppKey,
    store::{AppStore, StoreError},
};

use crate::MemoryStore;

/// Apps by key, listed in key order like `ORDER BY app_key`.
#[derive(Debug, Default)]
pub(crate) struct Apps {
    by_key: BTreeMap<AppKey, App>,
}

impl Apps {
    /// Whether the app's users may message their contacts only (the append's check).
    pub(crate) fn contacts_only(&self, key: &AppKey) -> bool {
        self.by_key
            .get(key)
            .is_some_and(|app| app.settings.contacts_only)
    }
}

#[async_trait]
impl AppStore for MemoryStore {
    async fn create_app(&self, app: &App) -> Result<(), StoreError> {
        self.with(|state| {
            let apps = &mut state.apps.by_key;
            // Both the key and the App ID are unique.
            let taken = apps.contains_key(&app.key)
                || apps.values().any(|other| other.app_id == app.app_id);
            if taken {
                return Err(StoreError::Duplicate(app.key.to_string()));
            }
            apps.insert(app.key.clone(), app.clone());
            Ok(())
        })?
    }

    async fn app_by_key(&self, key: &AppKey) -> Result<Option<App>, StoreError> {
        self.with(|state| state.apps.by_key.get(key).cloned())
    }

    async fn app_by_app_id(&self, app_id: &str) -> Result<Option<App>, StoreError> {
        self.with(|state| {
            state
                .apps
                .by_key
                .values()
                .find(|app| app.app_id == app_id)
                .cloned()
        })
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        self.with(|state| state.apps.by_key.values().cloned().collect())
    }

    async fn update_app_credentials(&self, app: &App) -> Result<bool, StoreError> {
        self.with(|state| {
            let Some(stored) = state.apps.by_key.get_mut(&app.key) else {
                return false;
            };
            // Only what a rotation changes, as the embedded store's UPDATE.
            stored.certificates = app.certificates.clone();
            stored.secondary_until_ms = app.secondary_until_ms;
            stored.client_secret = app.client_secret.clone();
            true
        })
    }

    async fn update_app_settings(
        &self,
        key: &AppKey,
        settings: &AppSettings,
    ) -> Result<bool, StoreError> {
        self.with(|state| match state.apps.by_key.get_mut(key) {
            Some(stored) => {
                stored.settings = settings.clone();
                true
            }
            None => false,
        })
    }

    async fn record_health_check(&self, now_ms: u64) -> Result<(), StoreError> {
        self.with(|state| state.last_health_check_ms = Some(now_ms))
    }
}
