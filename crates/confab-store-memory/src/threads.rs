//! Threads (the embedded store's thread tables): each thread made from a group message, with
//! its members and joining times. A thread's messages are entries of its group's log, in
//! `logs.rs`; this module keeps only their count and the newest.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, GroupId, MessageId, UserName},
    store::{StoreError, Thread, ThreadOutcome, ThreadStore},
};

use crate::{MemoryStore, State};

#[derive(Debug, Default)]
pub(crate) struct Threads {
    by_id: HashMap<(AppKey, GroupId), ThreadRow>,
}

/// A thread with its members.
#[derive(Debug)]
struct ThreadRow {
    /// Its `member_count` is kept up to date by `counted`.
    thread: Thread,
    /// Each member's joining time.
    members: BTreeMap<UserName, u64>,
}

impl ThreadRow {
    fn counted(&self) -> Thread {
        Thread {
            member_count: u32::try_from(self.members.len()).unwrap_or(u32::MAX),
            ..self.thread.clone()
        }
    }

    /// The members by joining time, then by name.
    fn ordered_members(&self) -> Vec<UserName> {
        let mut members: Vec<(&UserName, u64)> = self
            .members
            .iter()
            .map(|(user, joined_ms)| (user, *joined_ms))
            .collect();
        members.sort_by(|(a_name, a_joined), (b_name, b_joined)| {
            (a_joined, a_name).cmp(&(b_joined, b_name))
        });
        members.into_iter().map(|(user, _)| user.clone()).collect()
    }
}

/// Thread ids in numeric order (they are decimal digits): the shorter first, then by text.
fn by_number(a: &GroupId, b: &GroupId) -> Ordering {
    let digits = |id: &GroupId| id.as_str().trim_start_matches('0').to_owned();
    let (a_digits, b_digits) = (digits(a), digits(b));
    a_digits
        .len()
        .cmp(&b_digits.len())
        .then_with(|| a_digits.cmp(&b_digits))
        .then_with(|| a.cmp(b))
}

/// `limit` of `rows`, the newest first (the larger id), from `offset`.
fn newest_first<'a>(
    rows: impl IntoIterator<Item = &'a ThreadRow>,
    offset: u64,
    limit: u32,
) -> Vec<Thread> {
    let mut rows: Vec<&ThreadRow> = rows.into_iter().collect();
    rows.sort_by(|a, b| by_number(&b.thread.id, &a.thread.id));
    page(rows.into_iter().map(ThreadRow::counted), offset, limit)
}

fn page<T>(items: impl IntoIterator<Item = T>, offset: u64, limit: u32) -> Vec<T> {
    items
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit as usize)
        .collect()
}

impl Threads {
    /// A deleted user leaves every thread they are in (one they made keeps them as its owner).
    pub(crate) fn drop_user(&mut self, app: &AppKey, user: &UserName) {
        for ((thread_app, _), row) in self.by_id.iter_mut() {
            if thread_app == app {
                row.members.remove(user);
            }
        }
    }

    fn get(&self, app: &AppKey, id: &GroupId) -> Option<&ThreadRow> {
        self.by_id.get(&(app.clone(), id.clone()))
    }

    fn get_mut(&mut self, app: &AppKey, id: &GroupId) -> Option<&mut ThreadRow> {
        self.by_id.get_mut(&(app.clone(), id.clone()))
    }

    /// The thread of `app` made from `message`, if any.
    fn of_message(&self, app: &AppKey, message: MessageId) -> Option<&ThreadRow> {
        self.by_id
            .iter()
            .find(|((thread_app, _), row)| {
                thread_app == app && row.thread.parent_message == message
            })
            .map(|(_, row)| row)
    }

    /// The threads of `app`.
    fn of_app<'a>(&'a self, app: &'a AppKey) -> impl Iterator<Item = &'a ThreadRow> + 'a {
        self.by_id
            .iter()
            .filter(move |((thread_app, _), _)| thread_app == app)
            .map(|(_, row)| row)
    }
}

impl State {
    fn create_thread(
        &mut self,
        app: &AppKey,
        thread: &Thread,
    ) -> Result<ThreadOutcome<()>, StoreError> {
        if let Some(existing) = self.threads.of_message(app, thread.parent_message) {
            return Ok(ThreadOutcome::Taken(existing.thread.id.clone()));
        }
        let key = (app.clone(), thread.id.clone());
        if self.threads.by_id.contains_key(&key) {
            return Err(StoreError::Duplicate(thread.id.to_string()));
        }
        // A new thread has no message yet; its member count is `counted`'s.
        let row = ThreadRow {
            thread: Thread {
                message_count: 0,
                last_message: None,
                ..thread.clone()
            },
            members: BTreeMap::from([(thread.owner.clone(), thread.created_ms)]),
        };
        self.threads.by_id.insert(key, row);
        Ok(ThreadOutcome::Done(()))
    }
}

#[async_trait]
impl ThreadStore for MemoryStore {
    async fn create_thread(
        &self,
        app: &AppKey,
        thread: &Thread,
    ) -> Result<ThreadOutcome<()>, StoreError> {
        self.with(|state| state.create_thread(app, thread))?
    }

    async fn thread(&self, app: &AppKey, id: &GroupId) -> Result<Option<Thread>, StoreError> {
        self.with(|state| state.threads.get(app, id).map(ThreadRow::counted))
    }

    async fn thread_of_message(
        &self,
        app: &AppKey,
        message: MessageId,
    ) -> Result<Option<Thread>, StoreError> {
        self.with(|state| {
            state
                .threads
                .of_message(app, message)
                .map(ThreadRow::counted)
        })
    }

    async fn threads(&self, app: &AppKey, ids: &[GroupId]) -> Result<Vec<Thread>, StoreError> {
        self.with(|state| {
            ids.iter()
                .filter_map(|id| state.threads.get(app, id).map(ThreadRow::counted))
                .collect()
        })
    }

    async fn rename_thread(
        &self,
        app: &AppKey,
        id: &GroupId,
        name: &str,
    ) -> Result<ThreadOutcome<Thread>, StoreError> {
        self.with(|state| {
            let Some(row) = state.threads.get_mut(app, id) else {
                return ThreadOutcome::NoThread;
            };
            name.clone_into(&mut row.thread.name);
            ThreadOutcome::Done(row.counted())
        })
    }

    async fn record_thread_message(
        &self,
        app: &AppKey,
        id: &GroupId,
        message: MessageId,
    ) -> Result<ThreadOutcome<Thread>, StoreError> {
        self.with(|state| {
            let Some(row) = state.threads.get_mut(app, id) else {
                return ThreadOutcome::NoThread;
            };
            row.thread.message_count = row.thread.message_count.saturating_add(1);
            row.thread.last_message = Some(message);
            ThreadOutcome::Done(row.counted())
        })
    }

    async fn delete_thread(
        &self,
        app: &AppKey,
        id: &GroupId,
    ) -> Result<Option<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let row = state.threads.by_id.remove(&(app.clone(), id.clone()))?;
            Some(row.ordered_members())
        })
    }

    async fn delete_group_threads(&self, app: &AppKey, group: &GroupId) -> Result<(), StoreError> {
        self.with(|state| {
            state
                .threads
                .by_id
                .retain(|(thread_app, _), row| thread_app != app || row.thread.group != *group);
        })
    }

    async fn add_thread_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        now_ms: u64,
    ) -> Result<ThreadOutcome<bool>, StoreError> {
        self.with(|state| {
            let Some(row) = state.threads.get_mut(app, id) else {
                return ThreadOutcome::NoThread;
            };
            if row.members.contains_key(user) {
                return ThreadOutcome::Done(false);
            }
            row.members.insert(user.clone(), now_ms);
            ThreadOutcome::Done(true)
        })
    }

    async fn remove_thread_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<ThreadOutcome<bool>, StoreError> {
        self.with(|state| {
            let Some(row) = state.threads.get_mut(app, id) else {
                return ThreadOutcome::NoThread;
            };
            ThreadOutcome::Done(row.members.remove(user).is_some())
        })
    }

    async fn is_thread_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<bool, StoreError> {
        self.with(|state| {
            state
                .threads
                .get(app, id)
                .is_some_and(|row| row.members.contains_key(user))
        })
    }

    async fn thread_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<UserName>, StoreError> {
        self.with(|state| {
            let members = state
                .threads
                .get(app, id)
                .map(ThreadRow::ordered_members)
                .unwrap_or_default();
            page(members, offset, limit)
        })
    }

    async fn joined_threads(
        &self,
        app: &AppKey,
        user: &UserName,
        group: Option<&GroupId>,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Thread>, StoreError> {
        self.with(|state| {
            let joined = state.threads.of_app(app).filter(|row| {
                row.members.contains_key(user)
                    && group.is_none_or(|group| row.thread.group == *group)
            });
            newest_first(joined, offset, limit)
        })
    }

    async fn group_threads(
        &self,
        app: &AppKey,
        group: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Thread>, StoreError> {
        self.with(|state| {
            let threads = state
                .threads
                .of_app(app)
                .filter(|row| row.thread.group == *group);
            newest_first(threads, offset, limit)
        })
    }
}
