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

mod groups;
pub use groups::{
    Group, GroupChange, GroupMember, GroupOutcome, GroupQuota, GroupRequest, GroupRequestKind,
    GroupRole, GroupSettings, GroupSettingsChange, GroupStore, MemberAttributes, MAX_GROUP_UNREAD,
};
mod threads;
pub use threads::{Thread, ThreadOutcome, ThreadStore};
mod rooms;
pub use rooms::{
    AbsentMember, AttributeChange, AttributeLimits, AttributeRefusal, Room, RoomAttribute,
    RoomChange, RoomDeparture, RoomMember, RoomOutcome, RoomQuota, RoomRole, RoomSettings,
    RoomSettingsChange, RoomStore,
};

use crate::{
    admin::{Admin, AdminSession},
    app::{App, AppSettings},
    ids::{AppKey, LogId, MessageId, QueueName, UserName},
    user::User,
};

/// A file shared in a group or a chat room (`uploadGroupSharedFile`,
/// `uploadChatRoomSharedFile`); its bytes are an attachment (`ChatFile`) of the same id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    /// The attachment's uuid.
    pub id: String,
    pub name: String,
    pub owner: UserName,
    pub size: u64,
    pub created_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("storage backend failed: {0}")]
    Backend(String),
    #[error("storage is shutting down")]
    Closed,
}

impl StoreError {
    /// Whether trying the same operation again may succeed: a backend failure may pass (a
    /// lost connection, a busy database); a duplicate stays one, and a closing store does not
    /// come back in this process.
    pub fn retryable(&self) -> bool {
        match self {
            StoreError::Backend(_) => true,
            StoreError::Duplicate(_) | StoreError::Closed => false,
        }
    }
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
    /// Replaces the app's settings; false when the app does not exist.
    async fn update_app_settings(
        &self,
        key: &AppKey,
        settings: &AppSettings,
    ) -> Result<bool, StoreError>;
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
    /// Deletes the user with their devices and cursors (what they had unread is cleared, so
    /// the next user of the name starts with nothing), their attributes, their contacts (on
    /// both sides), requests and blocklist entries; returns the deleted user.
    async fn delete_user(&self, app: &AppKey, name: &UserName) -> Result<Option<User>, StoreError>;
    /// Sets the user's nickname (the push display name). False when the user does not exist.
    async fn set_nickname(
        &self,
        app: &AppKey,
        name: &UserName,
        nickname: &str,
        modified_ms: u64,
    ) -> Result<bool, StoreError>;
    /// Sets `changes` (key, value) in the user's attributes, keeping the others, unless all of
    /// them would then take more than `max_bytes` (keys and values, UTF-8): checked and written
    /// in one step.
    async fn update_user_attributes(
        &self,
        app: &AppKey,
        name: &UserName,
        changes: &[(String, String)],
        max_bytes: usize,
    ) -> Result<AttributesUpdate, StoreError>;
    /// The attributes of each of `names` that exists (one that has none: an empty map), in
    /// the order asked.
    async fn user_attributes(
        &self,
        app: &AppKey,
        names: &[UserName],
    ) -> Result<Vec<(UserName, UserAttributes)>, StoreError>;
}

/// A user's attributes (`updateUserInfo`), by key.
pub type UserAttributes = std::collections::BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributesUpdate {
    /// Written; all of the user's attributes now.
    Updated(UserAttributes),
    /// Nothing written: they would take more than the limit.
    TooLarge,
    /// Nothing written: no such user.
    NoUser,
}

/// The bytes `attributes` count against a limit: keys and values.
pub fn attributes_size(attributes: &UserAttributes) -> usize {
    attributes
        .iter()
        .map(|(key, value)| key.len() + value.len())
        .sum()
}

/// A message about to be appended once to its log. The store assigns its id and time at
/// commit (`Appended::Stored`), and only then encodes its downlink `Meta` (`meta`), which
/// carries both.
pub struct NewMessage {
    pub app: AppKey,
    /// The log it is appended to.
    pub log: LogId,
    /// Who reads it from the log.
    pub audience: Audience,
    pub sender: UserName,
    /// The sending device; its own messages are not in its view of the log.
    pub sender_resource: String,
    /// The SDK's local id; with sender, resource and `body_digest` it makes a resend
    /// idempotent. `None` for server metas: no resend can collide with them.
    pub client_id: Option<u64>,
    /// `body_digest` of the payload the sender sent. The id alone does not tell a resend: the
    /// SDK draws ids from two counters (one for messages, one for recalls and other calls of
    /// the connection), both added to the clock, so a recall can carry a message's id.
    pub body_digest: u64,
    /// The sender's clock when it was sent: the id's time is this or later (ids only grow).
    pub sent_ms: u64,
    /// Encodes the downlink `Meta` with the id and time the store assigned, exactly as
    /// recipients will receive it.
    pub meta: EncodeMeta,
    /// The SDK's message type (`txt`, `img`, …) that history filters on; empty for metas that
    /// are not messages (receipts, recalls).
    pub kind: &'static str,
    /// Whose history the message appears in, and under which conversation (one per party).
    pub history: Vec<HistoryEntry>,
}

impl std::fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMessage")
            .field("app", &self.app)
            .field("log", &self.log)
            .field("audience", &self.audience)
            .field("sender", &self.sender)
            .field("sender_resource", &self.sender_resource)
            .field("client_id", &self.client_id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Builds a message's encoded downlink `Meta` from its id and timestamp (ms).
pub struct EncodeMeta(Box<dyn FnOnce(MessageId, u64) -> Bytes + Send>);

impl EncodeMeta {
    pub fn new(encode: impl FnOnce(MessageId, u64) -> Bytes + Send + 'static) -> EncodeMeta {
        EncodeMeta(Box::new(encode))
    }

    pub fn encode(self, id: MessageId, timestamp_ms: u64) -> Bytes {
        (self.0)(id, timestamp_ms)
    }
}

/// Who reads a message from its log, decided once, at the append: the cost of a message is
/// the same whatever the number of members (the members are read when a device reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every device of every member of the log, except the one that sent it. In a group's log:
    /// the members at the time of the append (a member reads from when they joined, and stops
    /// reading when they leave).
    Members,
    /// Only this user's devices (a server notice about something of theirs). In a group's log
    /// the user need not be a member: an invitation, or the notice of their removal.
    Member(UserName),
    /// Only these users' devices (a group message with `receiverList`, `ROUTE_DIRECT`).
    Listed(Vec<UserName>),
    /// No one: it is kept for history only (a `deliverOnlineOnly` send to a user offline).
    Nobody,
}

/// One device of a user: what reads logs, each through a cursor of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Device {
    pub user: UserName,
    /// The SDK's resource (its device id).
    pub resource: String,
}

/// What a pull found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pulled {
    /// The messages after the cursor, oldest first (empty: the device has them all).
    Page(Vec<QueuedMessage>),
    /// The key acknowledges past the newest message of the device's view of the log: nothing
    /// moved.
    KeyBeyondEnd,
}

/// How many messages one device has not read in one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCount {
    pub log: LogId,
    pub count: u32,
}

/// What `reclaim` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Devices unseen since the cutoff, with their cursors.
    pub devices: u64,
    /// Messages taken out of their logs (history keeps them).
    pub entries: u64,
    /// Nothing more is older than the cutoff: no further call would remove anything.
    pub done: bool,
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

/// Which conversations a page of the list shows, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationQuery {
    pub filter: ConversationFilter,
    /// Only those after this place in the list's order (the previous page's last).
    pub after: Option<ConversationPlace>,
    pub limit: u32,
}

/// Which conversations a list page shows, and in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationFilter {
    /// Every conversation, newest last message first.
    All,
    /// Pinned ones, latest pinned first, then by name (`getServerPinnedConversations`).
    Pinned,
    /// Those carrying this mark, newest last message first (`getServerConversationsByFilter`).
    Marked(u8),
}

/// A conversation's place in its list: the key it is ordered by (its last message id, or for
/// `Pinned` its pin time), descending, then its name, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationPlace {
    pub key: u64,
    pub conversation: QueueName,
}

impl ConversationSummary {
    /// Where this conversation stands in a list with `filter`.
    pub fn place(&self, filter: ConversationFilter) -> ConversationPlace {
        let key = match filter {
            ConversationFilter::Pinned => self.pinned_ms.unwrap_or(0),
            ConversationFilter::All | ConversationFilter::Marked(_) => self.last.id.0,
        };
        ConversationPlace {
            key,
            conversation: self.conversation.clone(),
        }
    }
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
    /// Hides the conversation from the list until a newer message, marks it read on every
    /// device of the party and, with `history`, drops the party's history of it.
    Delete {
        history: bool,
    },
    /// Removes these messages from the party's history only (of a group: from what this
    /// member reads of the shared history).
    RemoveMessages(Vec<MessageId>),
    /// Removes every message older than this time (epoch ms) from the party's history only
    /// (of a group: likewise).
    RemoveBefore(u64),
}

/// A change committed together with a message, in its transaction, only when it is `Stored`
/// (receipts, recall and edit: PROTOCOL.md §4.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendEffect {
    None,
    /// The message recalls `target`: record it in the recalled messages and take it out of its
    /// log, so that a device that has not read it yet never does.
    Recall {
        target: MessageId,
    },
    /// The message edits `target`: its stored downlink `Meta` becomes `meta`.
    Edit {
        target: MessageId,
        meta: Bytes,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Durably stored under this id and time, assigned at commit.
    Stored { id: MessageId, timestamp_ms: u64 },
    /// The same (sender, resource, client id, body) was stored before under this id; nothing
    /// was written.
    Duplicate(MessageId),
    /// A member of the log does not exist; nothing was written. Checked in the same
    /// transaction as the insert, so a user deleted meanwhile cannot be left with a message.
    UnknownRecipient(UserName),
    /// A member of the log other than the sender blocked the sender (`ContactStore`); nothing
    /// was written. Checked in the same transaction as the insert.
    Blocked(UserName),
    /// The app lets users message their contacts only (`AppSettings::contacts_only`), and this
    /// member of the log is not the sender's contact; nothing was written. Only messages (a
    /// non-empty `NewMessage::kind`) are checked, in the same transaction as the insert.
    NotContact(UserName),
    /// The log is a group's that does not exist (or no longer); nothing was written.
    NoGroup,
    /// A message (a non-empty `NewMessage::kind`) to a group from a sender who is not a
    /// member; nothing was written. Checked in the same transaction as the insert.
    NotGroupMember,
    /// A message to a group from a muted member, or from a plain member while all are muted
    /// and they are not on the allowlist; nothing was written.
    Muted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: MessageId,
    pub meta: Bytes,
}

/// An operation already queued by a `submit_*` method; resolves once it has been applied.
pub type Pending<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// Appends to logs. Only the `Appender` holds it: every message enters its log there, so the
/// store's commit order is the one order and every append is announced.
#[async_trait]
pub trait AppendStore: Send + Sync {
    /// Queues the message to be appended to its log atomically and durably, and returns at
    /// once. The store assigns the id and time at commit: ids are unique across nodes, and
    /// within a log id order is commit order, so a reader acknowledging by id never skips a
    /// message committed later. The future resolves `Ok(Stored)` only when the message
    /// survives a crash; only then may the sender be acknowledged.
    fn submit_append(&self, message: NewMessage) -> Pending<Appended>;
    /// `submit_append` with a change that commits in the same transaction, applied only when
    /// the message is `Stored`.
    fn submit_append_with(&self, message: NewMessage, effect: AppendEffect) -> Pending<Appended>;
    /// `submit_append`, awaited.
    async fn append_message(&self, message: NewMessage) -> Result<Appended, StoreError> {
        self.submit_append(message).await
    }
}

/// The messages of the logs as devices read them (pulls, unread counts), history, imports,
/// and what the delivery logs reclaim.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Stores an imported message under its caller-chosen (past) id and time, in history only
    /// (in no log, so no reader pages past it). Fails with `Duplicate` when the id is taken.
    async fn import_message(&self, id: MessageId, message: NewMessage) -> Result<(), StoreError>;
    /// The message `id` of the app, if it is stored.
    async fn stored_message(
        &self,
        app: &AppKey,
        id: MessageId,
    ) -> Result<Option<StoredMessage>, StoreError>;
    /// The logs in which `device` has unread messages, with how many.
    async fn unread_counts(
        &self,
        app: &AppKey,
        device: &Device,
    ) -> Result<Vec<LogCount>, StoreError>;
    /// Queues a pull of `device`'s view of `log`, in call order with appends, and returns at
    /// once: first `key` moves the device's cursor up to it (never back), then up to `limit`
    /// messages after the cursor, oldest first. A device's view leaves out its own messages
    /// and those for other members only.
    fn submit_pull(
        &self,
        app: &AppKey,
        device: &Device,
        log: &LogId,
        key: Option<MessageId>,
        limit: u32,
    ) -> Pending<Pulled>;
    /// Drops the devices unseen since `unseen_since_ms`, with their cursors, and takes the
    /// messages older than that out of their logs (history keeps them). At most `limit` of
    /// each per call.
    async fn reclaim(&self, unseen_since_ms: u64, limit: u32) -> Result<Reclaimed, StoreError>;
    /// Messages of the app per UTC day from `since_ms` on, oldest first; days without messages
    /// are left out. Message ids carry their timestamp, so no extra column is needed.
    async fn daily_message_counts(
        &self,
        app: &AppKey,
        since_ms: u64,
    ) -> Result<Vec<DayCount>, StoreError>;
    /// One page of `owner`'s history (see `HistoryQuery`), in the order asked for. Of a group
    /// it is the history the members share (`UserName::group_history`) without what `owner`
    /// removed one way; read as `UserName::group_history` itself, all of it.
    async fn history_page(
        &self,
        app: &AppKey,
        owner: &UserName,
        query: &HistoryQuery,
    ) -> Result<Vec<QueuedMessage>, StoreError>;
    /// The app's messages (not receipts, not recalled) with `start_ms <= timestamp < end_ms`,
    /// oldest first, for the history export.
    async fn messages_between(
        &self,
        app: &AppKey,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<QueuedMessage>, StoreError>;
}

/// The devices of users, as their logins record them.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Records that `device` logged in now (a store may keep "last seen" to within the hour:
    /// it only serves `reclaim`). The first time, it starts reading each log where the user's
    /// other devices have read up to (what none of them has read is delivered to it too; with
    /// no device before, everything is).
    async fn device_seen(
        &self,
        app: &AppKey,
        device: &Device,
        now_ms: u64,
    ) -> Result<(), StoreError>;
}

/// Each party's view of their conversations: the list, its settings and read markers.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Up to which message `owner` has read `conversation` (their last channel ack in it).
    async fn conversation_read_up_to(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<Option<MessageId>, StoreError>;
    /// One page of `owner`'s conversation list (see `ConversationQuery`): each conversation
    /// with a message in their history after its deletion point. Read from one maintained row
    /// per conversation: no page costs more than its rows.
    async fn conversations(
        &self,
        app: &AppKey,
        owner: &UserName,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>, StoreError>;
    /// Recomputes the list row of `owner`'s `conversation` (its last message and unread count)
    /// from their history, after a recall, which the row cannot follow alone. (One-way
    /// removals, `change_conversation`, recount themselves.)
    async fn recount_conversation(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<(), StoreError>;
    /// Applies a change to `owner`'s view of `conversation`.
    async fn change_conversation(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
        change: ConversationChange,
    ) -> Result<(), StoreError>;
}

/// What users attach to messages: reactions and pins.
#[async_trait]
pub trait AnnotationStore: Send + Sync {
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
}

/// One of a user's contacts, with the remark the user gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: UserName,
    pub remark: String,
}

/// What a change of contacts or blocklists did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactChange {
    Done,
    /// Nothing to do (no such request; contacts already).
    Unchanged,
    /// Nothing done: this user's contacts (or blocklist) would pass the limit.
    Full(UserName),
}

/// Contacts and blocklists. A request from one user to another waits until the invitee
/// accepts or declines it; an accepted request makes each a contact of the other, and either
/// ending it ends it for both. A blocklist is one user's own.
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Records `inviter`'s request to `invitee` with `reason` (a repeated request replaces
    /// the reason); false, and nothing recorded, when they already are contacts.
    async fn request_contact(
        &self,
        app: &AppKey,
        inviter: &UserName,
        invitee: &UserName,
        reason: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError>;
    /// `invitee` accepts (`accept`) or declines the request `inviter` made, which ends it;
    /// accepting makes them contacts of each other unless either already has `max_contacts`
    /// (checked in the same step). `Unchanged` when there was no such request.
    async fn answer_contact_request(
        &self,
        app: &AppKey,
        (invitee, inviter): (&UserName, &UserName),
        accept: bool,
        max_contacts: u32,
        now_ms: u64,
    ) -> Result<ContactChange, StoreError>;
    /// Makes `owner` and `contact` contacts of each other at once (the REST admin API) unless
    /// either already has `max_contacts`, and drops requests between them; `Unchanged` when they
    /// already were.
    async fn add_contact(
        &self,
        app: &AppKey,
        (owner, contact): (&UserName, &UserName),
        max_contacts: u32,
        now_ms: u64,
    ) -> Result<ContactChange, StoreError>;
    /// Ends the contact of `owner` and `contact`, for both; false when they were not contacts.
    async fn delete_contact(
        &self,
        app: &AppKey,
        owner: &UserName,
        contact: &UserName,
    ) -> Result<bool, StoreError>;
    /// Sets `owner`'s remark on `contact`; false when they are not contacts.
    async fn set_contact_remark(
        &self,
        app: &AppKey,
        owner: &UserName,
        contact: &UserName,
        remark: &str,
    ) -> Result<bool, StoreError>;
    /// Up to `limit` of `owner`'s contacts whose names sort after `after`, in name order.
    async fn contacts(
        &self,
        app: &AppKey,
        owner: &UserName,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<Contact>, StoreError>;
    /// Adds `users` to (`block`) or removes them from `owner`'s blocklist; users already so
    /// are left as they are. Nothing is added when the blocklist would then hold more than
    /// `max_blocked` (`Full(owner)`, checked in the same step).
    async fn change_blocks(
        &self,
        app: &AppKey,
        owner: &UserName,
        (users, block): (&[UserName], bool),
        max_blocked: u32,
        now_ms: u64,
    ) -> Result<ContactChange, StoreError>;
    /// Up to `limit` of the users `owner` blocked, in name order.
    async fn blocked_users(
        &self,
        app: &AppKey,
        owner: &UserName,
        limit: u32,
    ) -> Result<Vec<UserName>, StoreError>;
    /// Whether `owner` blocked `user`.
    async fn is_blocked(
        &self,
        app: &AppKey,
        owner: &UserName,
        user: &UserName,
    ) -> Result<bool, StoreError>;
}

/// A user's report of a message (`reportMessage`), for the app's moderators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Assigned by the store; larger is later.
    pub id: u64,
    pub reporter: UserName,
    pub message: MessageId,
    /// The app's own category (`reportType`), as the user's app sent it.
    pub report_type: String,
    pub reason: String,
    pub created_ms: u64,
}

/// Message reports, per app.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Stores `report` (its `id` is ignored) and returns the id it got.
    async fn add_report(&self, app: &AppKey, report: &Report) -> Result<u64, StoreError>;
    /// Up to `limit` reports with ids below `before` (all when `None`), newest first.
    async fn reports(
        &self,
        app: &AppKey,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Report>, StoreError>;
}

/// What a push-notification setting applies to: the user's whole account, or one
/// conversation (`setSilentModeForAll` / `setSilentModeForConversation`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotificationScope {
    Account,
    User(String),
    Group(String),
}

/// One scope's silent-mode setting; each part is set on its own and `None` when never set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationSetting {
    /// `ALL`, `AT` or `NONE`.
    pub remind_type: Option<String>,
    /// Do not disturb until this time (epoch ms).
    pub ignore_until_ms: Option<u64>,
    /// Do not disturb daily between these times, `H:M-H:M`.
    pub ignore_interval: Option<String>,
}

/// Push-notification settings per user: silent mode per scope, the push language, and each
/// device's push token.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Replaces `owner`'s setting of `scope` (`None` removes it).
    async fn set_notification_setting(
        &self,
        app: &AppKey,
        owner: &UserName,
        scope: &NotificationScope,
        setting: Option<&NotificationSetting>,
    ) -> Result<(), StoreError>;
    /// `owner`'s settings of `scopes` that exist, in the order asked.
    async fn notification_settings(
        &self,
        app: &AppKey,
        owner: &UserName,
        scopes: &[NotificationScope],
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, StoreError>;
    /// Up to `limit` of `owner`'s conversation settings that name a remind type, in scope order
    /// after `after`.
    async fn conversations_with_remind_type(
        &self,
        app: &AppKey,
        owner: &UserName,
        after: Option<&NotificationScope>,
        limit: u32,
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, StoreError>;
    /// Sets (`Some`) or clears the language push notifications are translated to.
    async fn set_push_language(
        &self,
        app: &AppKey,
        owner: &UserName,
        language: Option<&str>,
    ) -> Result<(), StoreError>;
    async fn push_language(
        &self,
        app: &AppKey,
        owner: &UserName,
    ) -> Result<Option<String>, StoreError>;
    /// Binds `token.device_token` of `token.notifier` to the device (an empty token unbinds it).
    async fn set_push_token(
        &self,
        app: &AppKey,
        owner: &UserName,
        token: &PushToken,
    ) -> Result<(), StoreError>;
    /// `owner`'s bound push tokens, by device id.
    async fn push_tokens(
        &self,
        app: &AppKey,
        owner: &UserName,
    ) -> Result<Vec<PushToken>, StoreError>;
}

/// A device's push token (`uploadPushToken`): what a push provider needs to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushToken {
    pub device_id: String,
    pub device_token: String,
    /// The push certificate's name in the app's settings.
    pub notifier: String,
}

/// What one user published of their presence, as stored: whether a device is online now is the
/// `Presence` port's, so a device listed as `"1"` here but not online there is offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPresence {
    /// The description (`publishPresence({description})`), `""` until one is published.
    pub ext: String,
    /// When it last changed, epoch ms; it grows with every change of this user's presence, so
    /// of two snapshots the one with the larger value is the newer.
    pub changed_ms: u64,
    /// The user's most recently changed devices, newest first, at most
    /// `MAX_PRESENCE_DEVICES`.
    pub devices: Vec<DeviceStatus>,
}

impl StoredPresence {
    /// Nothing published and no device known, as of `changed_ms`.
    pub fn nothing(changed_ms: u64) -> StoredPresence {
        StoredPresence {
            ext: String::new(),
            changed_ms,
            devices: Vec::new(),
        }
    }
}

/// Devices a user's stored presence remembers: every online one and the latest offline ones.
pub const MAX_PRESENCE_DEVICES: usize = 8;

/// One device's presence status: `"1"` online, `"0"` offline, or the app's own word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    pub resource: String,
    pub status: String,
}

/// A change of one device's presence status, with the user's description when it changes too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceUpdate {
    pub resource: String,
    pub status: String,
    pub ext: Option<String>,
}

/// One side of a presence subscription: the other user, and when it ends (epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceSubscription {
    pub user: UserName,
    pub expires_ms: u64,
}

/// What `subscribe_presence` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeChange {
    Done,
    /// Nothing done: the subscriber would hold more than the limit of live subscriptions.
    Full,
}

/// Presence the users publish, and who subscribes to whose. A subscription lives until its
/// expiry; reads leave expired ones out, and a subscriber's expired ones are dropped when they
/// subscribe again.
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Records `update` for `user`'s device at `at_ms` (or just after the user's previous
    /// change, if that is later) and returns the stored presence after it. Only the
    /// `MAX_PRESENCE_DEVICES` most recently changed devices are kept. For a user who does not
    /// exist (deleted while a session of theirs was closing) nothing is stored and the
    /// presence returned is empty.
    async fn record_presence(
        &self,
        app: &AppKey,
        user: &UserName,
        update: &PresenceUpdate,
        at_ms: u64,
    ) -> Result<StoredPresence, StoreError>;
    /// Each of `users` whom `viewer` may see (who did not block `viewer`), in the order asked,
    /// with their stored presence (`None`: nothing stored yet).
    async fn presences(
        &self,
        app: &AppKey,
        users: &[UserName],
        viewer: &UserName,
    ) -> Result<Vec<(UserName, Option<StoredPresence>)>, StoreError>;
    /// Subscribes `subscriber` to `targets` until `expires_ms` (again: the expiry moves),
    /// unless that would give them more than `max` live subscriptions.
    async fn subscribe_presence(
        &self,
        app: &AppKey,
        subscriber: &UserName,
        targets: &[UserName],
        expires_ms: u64,
        now_ms: u64,
        max: u32,
    ) -> Result<SubscribeChange, StoreError>;
    async fn unsubscribe_presence(
        &self,
        app: &AppKey,
        subscriber: &UserName,
        targets: &[UserName],
    ) -> Result<(), StoreError>;
    /// `subscriber`'s live subscriptions by target name, `limit` from `offset`, and how many
    /// there are in all.
    async fn presence_subscriptions(
        &self,
        app: &AppKey,
        subscriber: &UserName,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<PresenceSubscription>, u64), StoreError>;
    /// Those of `users` whom at least one user they did not block holds a live subscription
    /// to, in the order asked.
    async fn watched_users(
        &self,
        app: &AppKey,
        users: &[UserName],
        now_ms: u64,
    ) -> Result<Vec<UserName>, StoreError>;
    /// Up to `limit` of those who hold a live subscription to `target`, by name after `after`,
    /// leaving out users `target` blocked.
    async fn presence_subscribers(
        &self,
        app: &AppKey,
        target: &UserName,
        now_ms: u64,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<PresenceSubscription>, StoreError>;
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
pub trait Store:
    AppStore
    + UserStore
    + AppendStore
    + LogStore
    + DeviceStore
    + ConversationStore
    + AnnotationStore
    + ContactStore
    + ReportStore
    + NotificationStore
    + PresenceStore
    + GroupStore
    + RoomStore
    + ThreadStore
    + AdminStore
{
}
impl<T> Store for T where
    T: AppStore
        + UserStore
        + AppendStore
        + LogStore
        + DeviceStore
        + ConversationStore
        + AnnotationStore
        + ContactStore
        + ReportStore
        + NotificationStore
        + PresenceStore
        + GroupStore
        + RoomStore
        + ThreadStore
        + AdminStore
{
}

#[cfg(feature = "conformance")]
pub mod conformance;
