//! The storage port. Core owns these traits; `confab-store-embedded` (and later PostgreSQL)
//! implement them. One trait per aggregate, methods in create/read/update/delete order.
//!
//! Every method is async and must not block the runtime. None is meant to be raced inside a
//! `select!`: dropping a future part-way may or may not have applied the write, so callers await
//! them to completion. The `submit_*` methods are the exception by design: they queue the
//! operation before returning, so the order of calls is the order of application, and the
//! returned future only reports the outcome.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    admin::{Admin, AdminSession},
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
    /// Replaces the app's certificates, their grace period and client secret (a rotation).
    /// Returns false when the app does not exist.
    async fn update_app_credentials(&self, app: &App) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates all users or none; `Duplicate(name)` names the first that exists.
    async fn create_users(&self, app: &AppKey, users: &[User]) -> Result<(), StoreError>;
    async fn user(&self, app: &AppKey, name: &UserName) -> Result<Option<User>, StoreError>;
    /// Up to `limit` users whose name starts with `prefix` and sorts after `after`, in name order.
    async fn list_users(
        &self,
        app: &AppKey,
        prefix: &str,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError>;
    async fn count_users(&self, app: &AppKey) -> Result<u64, StoreError>;
    /// Returns false when the user does not exist.
    async fn update_password(
        &self,
        app: &AppKey,
        name: &UserName,
        password_hash: &str,
        tokens_valid_after: u32,
        modified_ms: u64,
    ) -> Result<bool, StoreError>;
    /// Enables or disables logins of the user. Returns false when the user does not exist.
    async fn set_activated(
        &self,
        app: &AppKey,
        name: &UserName,
        activated: bool,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Durably stored under the new id.
    Stored,
    /// The same (sender, resource, client id) was stored before under this id; nothing was written.
    Duplicate(MessageId),
    /// A delivery names a user that does not exist; nothing was written. Checked in the same
    /// transaction as the insert, so a user deleted meanwhile cannot be left with a queue.
    UnknownRecipient(UserName),
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

/// An operation already queued by a `submit_*` method; resolves once it has been applied.
pub type Pending<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Queues the message and its queue entries to be stored atomically and durably, and
    /// returns at once. The future resolves `Ok(Stored)` only when the message survives a
    /// crash; only then may the sender be acknowledged. Submissions are applied in call order,
    /// so ids allocated in that order are committed in order and a reader paging a queue by id
    /// never sees a later id before an earlier one.
    fn submit_append(&self, message: NewMessage) -> Pending<Appended>;
    /// `submit_append`, awaited.
    async fn append_message(&self, message: NewMessage) -> Result<Appended, StoreError> {
        self.submit_append(message).await
    }
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
    /// Messages of the app per UTC day from `since_ms` on, oldest first; days without messages
    /// are left out. Message ids carry their timestamp, so no extra column is needed.
    async fn daily_message_counts(
        &self,
        app: &AppKey,
        since_ms: u64,
    ) -> Result<Vec<DayCount>, StoreError>;
    /// Queues the removal of every entry of the queue up to and including `up_to` (the client
    /// has them), in call order with appends, and returns at once.
    fn submit_ack(
        &self,
        app: &AppKey,
        owner: &UserName,
        queue: &QueueName,
        up_to: MessageId,
    ) -> Pending<()>;
    /// `submit_ack`, awaited.
    async fn ack_queue(
        &self,
        app: &AppKey,
        owner: &UserName,
        queue: &QueueName,
        up_to: MessageId,
    ) -> Result<(), StoreError> {
        self.submit_ack(app, owner, queue, up_to).await
    }
}

/// Messages stored on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    /// Midnight UTC starting the day, epoch ms.
    pub day_start_ms: u64,
    pub count: u64,
}

/// Console administrators and their signed-in sessions.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Fails with `Duplicate` when the username is taken.
    async fn create_admin(&self, admin: &Admin) -> Result<(), StoreError>;
    async fn admin(&self, username: &str) -> Result<Option<Admin>, StoreError>;
    async fn count_admins(&self) -> Result<u64, StoreError>;
    /// Stores a session; sessions that expired before it was created may be dropped on the way.
    async fn create_admin_session(&self, session: &AdminSession) -> Result<(), StoreError>;
    /// The session whose id hashes to `id_hash`, expired or not.
    async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError>;
    async fn delete_admin_session(&self, id_hash: &str) -> Result<(), StoreError>;
}

/// Everything a deployment stores.
pub trait Store: AppStore + UserStore + MessageStore + AdminStore {}
impl<T: AppStore + UserStore + MessageStore + AdminStore> Store for T {}

#[cfg(feature = "conformance")]
pub mod conformance;
