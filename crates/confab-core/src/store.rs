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
    /// A small durable write (`GET /healthz`): succeeds only if the store takes writes.
    async fn record_health_check(&self, now_ms: u64) -> Result<(), StoreError>;
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
    /// Sets the password hash, and `User::tokens_issued_from` to the larger of
    /// `tokens_issued_from` and its current value + 1, in one step: every change revokes the
    /// tokens dated up to it, also those Confab dated ahead of the clock (`auth.rs`). Returns
    /// false when the user does not exist.
    async fn update_password(
        &self,
        app: &AppKey,
        name: &UserName,
        password_hash: &str,
        tokens_issued_from: u32,
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
    /// The SDK's local id; with sender, resource and `body_digest` it makes a resend
    /// idempotent.
    pub client_id: u64,
    /// `body_digest` of the payload the sender sent. The id alone does not tell a resend: the
    /// SDK draws ids from two counters (one for messages, one for recalls and other calls of
    /// the connection), both added to the clock, so a recall can carry a message's id.
    pub body_digest: u64,
    /// The downlink `Meta`, encoded, exactly as recipients will receive it.
    pub meta: Bytes,
    pub deliveries: Vec<QueueEntry>,
    /// The SDK's message type (`txt`, `img`, …) that history filters on; empty for metas that
    /// are not messages (receipts, recalls).
    pub kind: &'static str,
    /// Whose history the message appears in, and under which conversation (one per party).
    pub history: Vec<HistoryEntry>,
}

/// A digest of a sent body that stays the same across releases (it is stored): FNV-1a, 64 bits.
/// It only tells two sends under one client id apart, so it need not resist forgery.
pub fn body_digest(body: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    body.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// "`owner` sees this message in their history of `conversation`" (named like a queue:
/// `peer@easemob.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub owner: UserName,
    pub conversation: QueueName,
}

/// One page of one party's history of one conversation. Recalled messages are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub conversation: QueueName,
    /// Only messages past this id in the direction of paging (the previous page's last id).
    pub cursor: Option<MessageId>,
    /// Newest first (the SDK's `searchDirection: "up"`) or oldest first (`"down"`).
    pub newest_first: bool,
    pub limit: u32,
    /// Only messages sent by this user.
    pub from: Option<UserName>,
    /// Only these kinds (`txt`, `img`, …); empty: all.
    pub kinds: Vec<String>,
    /// Only messages with `start_ms <= timestamp <= end_ms`.
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
}

/// A conversation of one party as the conversation list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation: QueueName,
    /// The newest message of the party's history of it.
    pub last: QueuedMessage,
    /// The peer's messages after the party's last conversation read ack (and deletion).
    pub unread: u32,
    pub pinned_ms: Option<u64>,
    pub marks: Vec<u8>,
}

/// One user's reaction to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub message: MessageId,
    pub reaction: String,
    pub user: UserName,
    pub created_ms: u64,
}

/// A pinned message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedMessage {
    pub message: QueuedMessage,
    pub operator: UserName,
    pub pinned_ms: u64,
}

/// A change of one party's conversation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationChange {
    Pin(Option<u64>),
    AddMarks(Vec<u8>),
    RemoveMarks(Vec<u8>),
    /// Hides the conversation from the list until a newer message, drops its queue and, with
    /// `history`, the party's history of it.
    Delete {
        history: bool,
    },
    /// Removes these messages from the party's history only.
    RemoveMessages(Vec<MessageId>),
    /// Removes every message older than this time (epoch ms) from the party's history only.
    RemoveBefore(u64),
}

/// A change committed together with a message, in its transaction, only when it is `Stored`
/// (receipts, recall and edit: PROTOCOL.md §4.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendEffect {
    None,
    /// The message recalls `target`: record it in the recalled messages and take it out of the
    /// queues it was delivered to (`queued_in`), where it still waits.
    Recall {
        target: MessageId,
        queued_in: Vec<QueueEntry>,
    },
    /// The message edits `target`, delivered to `queued_in`: its stored downlink `Meta`
    /// becomes `meta`.
    Edit {
        target: MessageId,
        meta: Bytes,
        queued_in: Vec<QueueEntry>,
    },
    /// The message is `owner`'s conversation read ack (a channel ack): `owner` has read
    /// `conversation` up to this message.
    ConversationRead {
        owner: UserName,
        conversation: QueueName,
    },
}

/// A stored message, as receipts, recall and edit look it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: MessageId,
    pub sender: UserName,
    /// The downlink `Meta`, encoded.
    pub meta: Bytes,
    pub recalled: bool,
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
    /// `submit_append` with a change that commits in the same transaction, applied only when
    /// the message is `Stored`. Same ordering guarantee as `submit_append`.
    fn submit_append_with(&self, message: NewMessage, effect: AppendEffect) -> Pending<Appended>;
    /// The message `id` of the app, if it is stored.
    async fn stored_message(
        &self,
        app: &AppKey,
        id: MessageId,
    ) -> Result<Option<StoredMessage>, StoreError>;
    /// Up to which message `owner` has read `conversation` (their last channel ack in it).
    async fn conversation_read_up_to(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<Option<MessageId>, StoreError>;
    /// Stores an imported message under its caller-chosen (past) id, outside the call order
    /// of `submit_append` (it has no queue entries, so no reader pages past it). Fails with
    /// `Duplicate` when the id is taken.
    async fn import_message(&self, message: NewMessage) -> Result<(), StoreError>;
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
    /// One page of `owner`'s history (see `HistoryQuery`), in the order asked for.
    async fn history_page(
        &self,
        app: &AppKey,
        owner: &UserName,
        query: &HistoryQuery,
    ) -> Result<Vec<QueuedMessage>, StoreError>;
    /// Every conversation of `owner` with a message in their history after its deletion
    /// point, newest last message first.
    async fn conversations(
        &self,
        app: &AppKey,
        owner: &UserName,
    ) -> Result<Vec<ConversationSummary>, StoreError>;
    /// The app's messages (not receipts, not recalled) with `start_ms <= timestamp < end_ms`,
    /// oldest first, for the history export.
    async fn messages_between(
        &self,
        app: &AppKey,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<QueuedMessage>, StoreError>;
    /// Adds (`add`) or removes `user`'s `reaction` to `message`; false when it already was so.
    async fn change_reaction(
        &self,
        app: &AppKey,
        reaction: &Reaction,
        add: bool,
    ) -> Result<bool, StoreError>;
    /// Every reaction to these messages, by message, then by each reaction's first use, then
    /// by time.
    async fn reactions(
        &self,
        app: &AppKey,
        messages: &[MessageId],
    ) -> Result<Vec<Reaction>, StoreError>;
    /// Pins (`Some(operator, time)`) or unpins `message`; false when it already was so.
    async fn change_pin(
        &self,
        app: &AppKey,
        message: MessageId,
        pin: Option<(&UserName, u64)>,
    ) -> Result<bool, StoreError>;
    /// The pinned messages of `owner`'s history of `conversation`, latest pin first.
    async fn pinned_messages(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<Vec<PinnedMessage>, StoreError>;
    /// Applies a change to `owner`'s view of `conversation`.
    async fn change_conversation(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
        change: ConversationChange,
    ) -> Result<(), StoreError>;
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
    /// Creates `admin` only if no admin exists yet, atomically (the setup link): of
    /// concurrent calls at most one returns true. False when an admin already exists.
    async fn create_first_admin(&self, admin: &Admin) -> Result<bool, StoreError>;
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
