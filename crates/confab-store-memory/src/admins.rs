//! Console administrators and their sessions (the embedded store's `admins` and
//! `admin_sessions` tables).

use std::collections::BTreeMap;

use async_trait::async_trait;
use confab_core::{
    admin::{Admin, AdminSession},
    store::{AdminStore, StoreError},
};

use crate::MemoryStore;

#[derive(Debug, Default)]
pub(crate) struct Admins {
    by_username: BTreeMap<String, Admin>,
    /// Sessions by the hash of their id.
    sessions: BTreeMap<String, AdminSession>,
}

#[async_trait]
impl AdminStore for MemoryStore {
    async fn create_admin(&self, admin: &Admin) -> Result<(), StoreError> {
        self.with(|state| {
            let admins = &mut state.admins.by_username;
            if admins.contains_key(&admin.username) {
                return Err(StoreError::Duplicate(admin.username.clone()));
            }
            admins.insert(admin.username.clone(), admin.clone());
            Ok(())
        })?
    }

    async fn create_first_admin(&self, admin: &Admin) -> Result<bool, StoreError> {
        // The check and the insert happen under one lock: of concurrent calls one wins.
        self.with(|state| {
            let admins = &mut state.admins.by_username;
            if !admins.is_empty() {
                return false;
            }
            admins.insert(admin.username.clone(), admin.clone());
            true
        })
    }

    async fn admin(&self, username: &str) -> Result<Option<Admin>, StoreError> {
        self.with(|state| state.admins.by_username.get(username).cloned())
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        self.with(|state| state.admins.by_username.len() as u64)
    }

    async fn create_admin_session(&self, session: &AdminSession) -> Result<(), StoreError> {
        self.with(|state| {
            let sessions = &mut state.admins.sessions;
            // Sessions expired by the time this one starts are dropped on the way.
            sessions.retain(|_, stored| stored.expires_ms > session.created_ms);
            if sessions.contains_key(&session.id_hash) {
                return Err(StoreError::Duplicate("session".to_owned()));
            }
            sessions.insert(session.id_hash.clone(), session.clone());
            Ok(())
        })?
    }

    async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError> {
        self.with(|state| state.admins.sessions.get(id_hash).cloned())
    }

    async fn delete_admin_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.with(|state| {
            state.admins.sessions.remove(id_hash);
        })
    }
}
