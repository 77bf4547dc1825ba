//! The in-memory reference `Store`: every port of `confab_core::store` kept in plain maps
//! behind one mutex, as simply as the semantics allow. It is what the store conformance suite
//! is checked against as a second backend, and a store for tests that need no disk. Nothing is
//! durable: `confab serve` never uses it.
//!
//! Each module holds one aggregate and mirrors the tables of `confab-store-embedded` it stands
//! for (named in its doc comment). Every method takes the lock, works synchronously and
//! releases it before returning, so the lock is never held across an await; the `submit_*`
//! methods apply their operation before they return, which makes call order the order of
//! application, as the port asks.

mod admins;
mod apps;
mod contacts;
mod groups;
mod history;
mod logs;
mod messages;
mod notifications;
mod presence;
mod reports;
mod rooms;
mod threads;
mod users;

use std::sync::{Mutex, MutexGuard};

use confab_core::{
    ids::IdGenerator,
    store::{Pending, StoreError},
};

/// A `Store` held in memory. Cheap to create; each instance is a fresh, empty store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

/// Everything the store holds, one field per aggregate.
#[derive(Debug)]
struct State {
    apps: apps::Apps,
    users: users::Users,
    messages: messages::Messages,
    logs: logs::Logs,
    /// Message ids, assigned at the append (this store is one node).
    ids: IdGenerator,
    history: history::History,
    contacts: contacts::Contacts,
    reports: reports::Reports,
    notifications: notifications::Notifications,
    presence: presence::Presences,
    groups: groups::Groups,
    rooms: rooms::Rooms,
    threads: threads::Threads,
    admins: admins::Admins,
    /// The last `record_health_check` (the embedded store's `health_checks` row).
    last_health_check_ms: Option<u64>,
}

impl Default for State {
    fn default() -> State {
        State {
            apps: Default::default(),
            users: Default::default(),
            messages: Default::default(),
            logs: Default::default(),
            ids: IdGenerator::new(0),
            history: Default::default(),
            contacts: Default::default(),
            reports: Default::default(),
            notifications: Default::default(),
            presence: Default::default(),
            groups: Default::default(),
            rooms: Default::default(),
            threads: Default::default(),
            admins: Default::default(),
            last_health_check_ms: None,
        }
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Runs `operation` on the state under the lock. A panic in an earlier operation poisons
    /// the lock; the store then answers every call with a backend error rather than serve
    /// state that may be half changed.
    fn with<T>(&self, operation: impl FnOnce(&mut State) -> T) -> Result<T, StoreError> {
        let mut state: MutexGuard<'_, State> = self
            .state
            .lock()
            .map_err(|_| StoreError::Backend("memory store poisoned by a panic".into()))?;
        Ok(operation(&mut state))
    }

    /// `with`, applied now, its outcome handed back as an already finished `Pending`.
    fn submit<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Pending<T> {
        let outcome = self.with(operation).and_then(|outcome| outcome);
        Box::pin(std::future::ready(outcome))
    }
}

/// The first message id of the millisecond `ms` (ids are `unix_ms << 22 | …`), so a time range
/// is an id range.
fn id_floor(ms: u64) -> u64 {
    ms.saturating_mul(1 << 22)
}
