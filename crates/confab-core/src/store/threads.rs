//! The thread aggregate's port: threads made from a group message, and who is in each.
//!
//! A thread's messages are entries of its group's log addressed to the thread's members at the
//! time of the send (`Audience::Listed`), so they cost one row each and are pulled with the
//! group's queue; their history is the thread's own (`QueueName::group(thread id)` under the
//! shared owner). This port keeps the threads themselves: their group, parent message, name,
//! owner, members, and the count and last of their messages.

use async_trait::async_trait;

use super::StoreError;
use crate::ids::{AppKey, GroupId, MessageId, UserName};

/// A thread as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// Decimal digits, from the same generator as groups and rooms.
    pub id: GroupId,
    /// The group it belongs to.
    pub group: GroupId,
    /// The group message it was made from.
    pub parent_message: MessageId,
    pub name: String,
    /// Who made it.
    pub owner: UserName,
    pub created_ms: u64,
    /// Members now.
    pub member_count: u32,
    /// Messages sent to it (recalled ones still counted, as the hosted service counts).
    pub message_count: u32,
    /// Its newest message, if any.
    pub last_message: Option<MessageId>,
}

/// What a change of a thread did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadOutcome<T> {
    Done(T),
    /// No such thread.
    NoThread,
    /// A thread was made from this message already (one per message).
    Taken(GroupId),
}

/// Threads and their members. A thread's group must exist when it is made; `delete_group`
/// callers delete its threads with `delete_group_threads`.
#[async_trait]
pub trait ThreadStore: Send + Sync {
    /// Makes `thread` (its counts are ignored) with its owner as its first member, joined at
    /// `thread.created_ms`. `Taken` when its parent message has a thread already.
    async fn create_thread(
        &self,
        app: &AppKey,
        thread: &Thread,
    ) -> Result<ThreadOutcome<()>, StoreError>;
    async fn thread(&self, app: &AppKey, id: &GroupId) -> Result<Option<Thread>, StoreError>;
    /// The thread made from `message`, if any.
    async fn thread_of_message(
        &self,
        app: &AppKey,
        message: MessageId,
    ) -> Result<Option<Thread>, StoreError>;
    /// Those of `ids` that exist, in the order asked.
    async fn threads(&self, app: &AppKey, ids: &[GroupId]) -> Result<Vec<Thread>, StoreError>;
    async fn rename_thread(
        &self,
        app: &AppKey,
        id: &GroupId,
        name: &str,
    ) -> Result<ThreadOutcome<Thread>, StoreError>;
    /// Counts message `message` as the thread's newest and returns the thread after.
    async fn record_thread_message(
        &self,
        app: &AppKey,
        id: &GroupId,
        message: MessageId,
    ) -> Result<ThreadOutcome<Thread>, StoreError>;
    /// Deletes the thread with its members; returns its members just before (`None`: no such
    /// thread).
    async fn delete_thread(
        &self,
        app: &AppKey,
        id: &GroupId,
    ) -> Result<Option<Vec<UserName>>, StoreError>;
    /// Deletes every thread of `group` with their members (the group is gone).
    async fn delete_group_threads(&self, app: &AppKey, group: &GroupId) -> Result<(), StoreError>;
    /// Adds `user` at `now_ms`; `false` when they were a member already.
    async fn add_thread_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        now_ms: u64,
    ) -> Result<ThreadOutcome<bool>, StoreError>;
    /// Removes `user`; `false` when they were not a member.
    async fn remove_thread_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<ThreadOutcome<bool>, StoreError>;
    async fn is_thread_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<bool, StoreError>;
    /// `limit` members by joining time then name, from `offset`.
    async fn thread_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<UserName>, StoreError>;
    /// `limit` of the threads `user` is in (of `group` only, when given), the newest first
    /// (by id), from `offset`.
    async fn joined_threads(
        &self,
        app: &AppKey,
        user: &UserName,
        group: Option<&GroupId>,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Thread>, StoreError>;
    /// `limit` of `group`'s threads, the newest first (by id), from `offset`.
    async fn group_threads(
        &self,
        app: &AppKey,
        group: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Thread>, StoreError>;
}
