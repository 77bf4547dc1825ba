//! The storage port. Core owns these traits; `confab-store-embedded` (and later PostgreSQL)
//! implement them. One trait per aggregate, methods in create/read/update/delete order.
//!
//! Every method is async and must not block the runtime. None is meant to be raced inside a
//! `select!`: dropping a future part-way may or may not have applied the write, so callers await
//! them to completion.

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    app::App,
    ids::{AppKey, MessageId, QueueName, UserName},
    user::User,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("storage backend failed: {0}")]
    Backend(String),
    #[error("storage is shutting down")]
    Closed,
}

#[async_trait]
pub trait AppStore: Send + Sync {
    /// Fails with `Duplicate` when the app key or App ID is taken.
    async fn create_app(&self, app: &App) -> Result<(), StoreError>;
    async fn app_by_key(&self, key: &AppKey) -> Result<Option<App>, StoreError>;
    /// Looks an app up by its Agora App ID (appId-only SDK initialisation).
    async fn app_by_app_id(&self, app_id: &str) -> Result<Option<App>, StoreError>;
    async fn list_apps(&self) -> Result<Vec<App>, StoreError>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates all users or none; `Duplicate(name)` names the first that exists.
    async fn create_users(&self, app: &AppKey, users: &[User]) -> Result<(), StoreError>;
    async fn user(&self, app: &AppKey, name: &UserName) -> Result<Option<User>, StoreError>;
    /// Returns false when the user does not exist.
    async fn update_password(
        &self,
        app: &AppKey,
        name: &UserName,
        password_hash: &str,
        tokens_valid_after: u32,
        modified_ms: u64,
    ) -> Result<bool, StoreError>;
    /// Deletes the user and their queues; returns the deleted user.
    async fn delete_user(&self, app: &AppKey, name: &UserName) -> Result<Option<User>, StoreError>;
}

/// A message about to be stored once and referenced from each recipient's queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub app: AppKey,
    pub id: MessageId,
    pub sender: UserName,
    pub sender_resource: String,
    /// The SDK's local id; with sender and resource it makes a resend idempotent.
    pub client_id: u64,
    /// The downlink `Meta`, encoded, exactly as recipients will receive it.
    pub meta: Bytes,
    pub deliveries: Vec<QueueEntry>,
}

/// "`owner` has this message waiting in the queue named `queue`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub owner: UserName,
    pub queue: QueueName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Durably stored under the new id.
    Stored,
    /// The same (sender, resource, client id) was stored before under this id; nothing was written.
    Duplicate(MessageId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCount {
    pub queue: QueueName,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: MessageId,
    pub meta: Bytes,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores the message and its queue entries atomically and durably: when this returns
    /// `Ok(Stored)` the message survives a crash. Only then may the sender be acknowledged.
    async fn append_message(&self, message: NewMessage) -> Result<Appended, StoreError>;
    /// The highest message id ever stored, so a restarted node never reuses ids.
    async fn max_message_id(&self) -> Result<MessageId, StoreError>;
    /// Non-empty queues of `owner`, with how many messages each holds.
    async fn unread_counts(
        &self,
        app: &AppKey,
        owner: &UserName,
    ) -> Result<Vec<QueueCount>, StoreError>;
    /// Up to `limit` messages of the queue with an id above `after`, oldest first.
    async fn queue_page(
        &self,
        app: &AppKey,
        owner: &UserName,
        queue: &QueueName,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<QueuedMessage>, StoreError>;
    /// Removes every entry of the queue up to and including `up_to` (the client has them).
    async fn ack_queue(
        &self,
        app: &AppKey,
        owner: &UserName,
        queue: &QueueName,
        up_to: MessageId,
    ) -> Result<(), StoreError>;
}

/// Everything a deployment stores.
pub trait Store: AppStore + UserStore + MessageStore {}
impl<T: AppStore + UserStore + MessageStore> Store for T {}

#[cfg(feature = "conformance")]
pub mod conformance;
