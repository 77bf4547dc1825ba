//! Messages (the embedded store's `messages`, `recalled_messages` and `conversation_reads`
//! tables), and the ports of logs, devices, conversations and annotations (`AppendStore`,
//! `LogStore`, `DeviceStore`, `ConversationStore`, `AnnotationStore`), whose history methods are
//! in `history.rs` and whose logs and cursors are in `logs.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use bytes::Bytes;
use confab_core::{
    ids::{AppKey, LogId, MessageId, QueueName, UserName},
    store::{
        AnnotationStore, AppendEffect, AppendStore, Appended, ConversationChange,
        ConversationFilter, ConversationQuery, ConversationStore, ConversationSummary, DayCount,
        Device, DeviceStore, HistoryQuery, LogCount, LogStore, NewMessage, Pending, PinnedMessage,
        Pulled, QueuedMessage, Reaction, Reclaimed, StoreError, StoredMessage,
    },
};

use crate::{id_floor, MemoryStore, State};

/// One party's queues (or history), each a set of message ids in id order.
pub(crate) type PerParty = HashMap<(AppKey, UserName), BTreeMap<QueueName, BTreeSet<MessageId>>>;

#[derive(Debug, Default)]
pub(crate) struct Messages {
    /// Every message once, by id. Ids are unique across apps, as the embedded store's
    /// `messages.id INTEGER PRIMARY KEY`.
    by_id: BTreeMap<MessageId, Message>,
    /// What makes a resend idempotent: the embedded store's unique `messages_by_resend_key`.
    by_resend_key: HashMap<ResendKey, MessageId>,
    /// Recalled messages stay in `by_id` (the recall's own meta refers to them).
    recalled: HashSet<(AppKey, MessageId)>,
    /// Each party's last conversation read ack per conversation.
    read_up_to: HashMap<(AppKey, UserName, QueueName), MessageId>,
}

/// A stored message (a row of `messages`).
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) app: AppKey,
    pub(crate) sender: UserName,
    /// The downlink `Meta` as recipients receive it; an edit replaces it.
    pub(crate) meta: Bytes,
    /// The SDK's message type that history filters on; empty for receipts and recalls.
    pub(crate) kind: &'static str,
}

/// `(client id, app, sender, resource, body digest)`: the same send sent again.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ResendKey {
    client_id: u64,
    app: AppKey,
    sender: UserName,
    sender_resource: String,
    body_digest: u64,
}

impl ResendKey {
    /// A server meta's key: its id stands for the client id, as in the embedded store.
    fn server(message: &NewMessage, id: MessageId) -> ResendKey {
        ResendKey {
            client_id: id.0,
            ..ResendKey::of(message)
        }
    }

    fn of(message: &NewMessage) -> ResendKey {
        ResendKey {
            client_id: message.client_id.unwrap_or_default(),
            app: message.app.clone(),
            sender: message.sender.clone(),
            sender_resource: message.sender_resource.clone(),
            body_digest: message.body_digest,
        }
    }
}

impl Messages {
    /// The message `id` if it belongs to `app`.
    pub(crate) fn get(&self, app: &AppKey, id: MessageId) -> Option<&Message> {
        self.by_id.get(&id).filter(|message| message.app == *app)
    }

    /// Any message `id`, whatever its app (history rows refer to ids alone).
    pub(crate) fn by_id(&self, id: MessageId) -> Option<&Message> {
        self.by_id.get(&id)
    }

    pub(crate) fn is_recalled(&self, app: &AppKey, id: MessageId) -> bool {
        self.recalled.contains(&(app.clone(), id))
    }

    pub(crate) fn read_up_to(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Option<MessageId> {
        self.read_up_to
            .get(&(app.clone(), owner.clone(), conversation.clone()))
            .copied()
    }
}

impl State {
    /// The append and its checks in the embedded writer's order: each other member of the log
    /// exists (or a resend of a message stored before they went keeps its answer), then the
    /// resend key; then the id, the message with its history rows, and its log entry. A group's
    /// log: a resend keeps its answer whatever changed since; then the group exists and, for a
    /// message, its sender is a member allowed to send (`Groups::refuses`). A room's log is
    /// checked for nothing (who may send is the service's to say). Contacts and user
    /// blocklists concern pairs only.
    fn append(&mut self, message: NewMessage) -> Result<(Appended, MessageId), StoreError> {
        let resend_key = message.client_id.map(|_| ResendKey::of(&message));
        let resent = resend_key
            .as_ref()
            .and_then(|key| self.messages.by_resend_key.get(key).copied());
        if let LogId::Group(group) = &message.log {
            if let Some(id) = resent {
                return Ok((Appended::Duplicate(id), id));
            }
            let refused = self.groups.refuses(
                &message.app,
                group,
                &message.sender,
                message.kind,
                message.sent_ms,
            );
            if let Some(refused) = refused {
                return Ok((refused, MessageId(0)));
            }
        }
        for member in message.log.members() {
            if *member != message.sender && !self.users.exists(&message.app, member) {
                return Ok(match resent {
                    Some(id) => (Appended::Duplicate(id), id),
                    None => (Appended::UnknownRecipient(member.clone()), MessageId(0)),
                });
            }
        }
        if let Some(id) = resent {
            return Ok((Appended::Duplicate(id), id));
        }
        if self.apps.contacts_only(&message.app) && !message.kind.is_empty() {
            for member in message.log.members() {
                if *member != message.sender
                    && !self
                        .contacts
                        .are_contacts(&message.app, &message.sender, member)
                {
                    return Ok((Appended::NotContact(member.clone()), MessageId(0)));
                }
            }
        }
        for member in message.log.members() {
            if *member != message.sender
                && self.contacts.blocks(&message.app, member, &message.sender)
            {
                return Ok((Appended::Blocked(member.clone()), MessageId(0)));
            }
        }
        let id = self.ids.next(message.sent_ms);
        self.insert(id, message, resend_key);
        Ok((
            Appended::Stored {
                id,
                timestamp_ms: id.timestamp_ms(),
            },
            id,
        ))
    }

    /// Stores the message under `id`: the row, its history and its log entry.
    fn insert(&mut self, id: MessageId, message: NewMessage, resend_key: Option<ResendKey>) {
        self.history.index(&message.app, id, &message.history);
        self.logs.append(
            &message.app,
            &message.log,
            id,
            &message.sender,
            &message.sender_resource,
            &message.audience,
        );
        self.messages.by_resend_key.insert(
            resend_key.unwrap_or_else(|| ResendKey::server(&message, id)),
            id,
        );
        self.messages.by_id.insert(
            id,
            Message {
                app: message.app,
                sender: message.sender,
                meta: message.meta.encode(id, id.timestamp_ms()),
                kind: message.kind,
            },
        );
    }

    /// The change that commits with message `id` (see `AppendEffect`).
    fn apply_effect(&mut self, app: &AppKey, id: MessageId, effect: AppendEffect) {
        let messages = &mut self.messages;
        match effect {
            AppendEffect::None => {}
            AppendEffect::Recall { target } => {
                messages.recalled.insert((app.clone(), target));
                // A device that has not read it yet never does.
                self.logs.remove(app, target);
            }
            // Logs refer to the message, so its new meta is what they serve from now on.
            AppendEffect::Edit { target, meta } => {
                if let Some(message) = messages.by_id.get_mut(&target) {
                    if message.app == *app {
                        message.meta = meta;
                    }
                }
            }
            // The marker only moves forward.
            AppendEffect::ConversationRead {
                owner,
                conversation,
            } => {
                let marker = messages
                    .read_up_to
                    .entry((app.clone(), owner, conversation))
                    .or_insert(id);
                *marker = (*marker).max(id);
            }
        }
    }
}

#[async_trait]
impl AppendStore for MemoryStore {
    fn submit_append(&self, message: NewMessage) -> Pending<Appended> {
        self.submit(|state| Ok(state.append(message)?.0))
    }

    fn submit_append_with(&self, message: NewMessage, effect: AppendEffect) -> Pending<Appended> {
        self.submit(|state| {
            let app = message.app.clone();
            let (appended, id) = state.append(message)?;
            if matches!(appended, Appended::Stored { .. }) {
                state.apply_effect(&app, id, effect);
            }
            Ok(appended)
        })
    }
}

#[async_trait]
impl LogStore for MemoryStore {
    async fn import_message(&self, id: MessageId, message: NewMessage) -> Result<(), StoreError> {
        self.with(|state| {
            if state.messages.by_id.contains_key(&id) {
                return Err(StoreError::Duplicate(id.0.to_string()));
            }
            state.insert(id, message, None);
            Ok(())
        })?
    }

    async fn stored_message(
        &self,
        app: &AppKey,
        id: MessageId,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.with(|state| {
            let message = state.messages.get(app, id)?;
            Some(StoredMessage {
                id,
                sender: message.sender.clone(),
                meta: message.meta.clone(),
                recalled: state.messages.is_recalled(app, id),
            })
        })
    }

    async fn unread_counts(
        &self,
        app: &AppKey,
        device: &Device,
    ) -> Result<Vec<LogCount>, StoreError> {
        self.with(|state| state.logs.unread_counts(&state.groups, app, device))
    }

    fn submit_pull(
        &self,
        app: &AppKey,
        device: &Device,
        log: &LogId,
        key: Option<MessageId>,
        limit: u32,
    ) -> Pending<Pulled> {
        self.submit(|state| {
            let State {
                logs,
                messages,
                groups,
                ..
            } = state;
            Ok(logs.pull((groups, messages), app, device, log, key, limit))
        })
    }

    async fn reclaim(&self, unseen_since_ms: u64, limit: u32) -> Result<Reclaimed, StoreError> {
        self.with(|state| state.logs.reclaim(unseen_since_ms, limit))
    }

    async fn daily_message_counts(
        &self,
        app: &AppKey,
        since_ms: u64,
    ) -> Result<Vec<DayCount>, StoreError> {
        const DAY_MS: u64 = 86_400_000;
        self.with(|state| {
            // Every message of the app, receipts included, by the day of its id's timestamp.
            let mut days: BTreeMap<u64, u64> = BTreeMap::new();
            for (id, message) in state.messages.by_id.range(MessageId(id_floor(since_ms))..) {
                if message.app == *app {
                    let day_start_ms = id.timestamp_ms() / DAY_MS * DAY_MS;
                    *days.entry(day_start_ms).or_default() += 1;
                }
            }
            days.into_iter()
                .map(|(day_start_ms, count)| DayCount {
                    day_start_ms,
                    count,
                })
                .collect()
        })
    }

    async fn history_page(
        &self,
        app: &AppKey,
        owner: &UserName,
        query: &HistoryQuery,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        self.with(|state| state.history_page(app, owner, query))
    }

    async fn messages_between(
        &self,
        app: &AppKey,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        self.with(|state| {
            let (first, end) = (id_floor(start_ms), id_floor(end_ms));
            if first >= end {
                return Vec::new();
            }
            let messages = &state.messages;
            messages
                .by_id
                .range(MessageId(first)..MessageId(end))
                .filter(|(id, message)| {
                    message.app == *app
                        && !message.kind.is_empty()
                        && !messages.is_recalled(app, **id)
                })
                .map(|(id, message)| QueuedMessage {
                    id: *id,
                    meta: message.meta.clone(),
                })
                .collect()
        })
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn device_seen(
        &self,
        app: &AppKey,
        device: &Device,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.with(|state| state.logs.device_seen(&state.groups, app, device, now_ms))
    }
}

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn conversation_read_up_to(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<Option<MessageId>, StoreError> {
        self.with(|state| state.messages.read_up_to(app, owner, conversation))
    }

    async fn conversations(
        &self,
        app: &AppKey,
        owner: &UserName,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.with(|state| {
            // Computed whole, then filtered and ordered: the reference needs no list rows.
            let mut list = state.conversations(app, owner);
            match query.filter {
                ConversationFilter::All => {}
                ConversationFilter::Pinned => list.retain(|summary| summary.pinned_ms.is_some()),
                ConversationFilter::Marked(mark) => {
                    list.retain(|summary| summary.marks.contains(&mark))
                }
            }
            list.sort_by(|a, b| {
                let (a, b) = (a.place(query.filter), b.place(query.filter));
                b.key
                    .cmp(&a.key)
                    .then_with(|| a.conversation.cmp(&b.conversation))
            });
            list.into_iter()
                .filter(|summary| {
                    query.after.as_ref().is_none_or(|after| {
                        let place = summary.place(query.filter);
                        place.key < after.key
                            || (place.key == after.key && place.conversation > after.conversation)
                    })
                })
                .take(query.limit as usize)
                .collect()
        })
    }

    /// Nothing to do: this store computes the list from history at every read.
    async fn recount_conversation(
        &self,
        _app: &AppKey,
        _owner: &UserName,
        _conversation: &QueueName,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    async fn change_conversation(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
        change: ConversationChange,
    ) -> Result<(), StoreError> {
        self.with(|state| state.change_conversation(app, owner, conversation, change))
    }
}

#[async_trait]
impl AnnotationStore for MemoryStore {
    async fn change_reaction(
        &self,
        app: &AppKey,
        reaction: &Reaction,
        add: bool,
    ) -> Result<bool, StoreError> {
        self.with(|state| state.history.change_reaction(app, reaction, add))
    }

    async fn reactions(
        &self,
        app: &AppKey,
        messages: &[MessageId],
    ) -> Result<Vec<Reaction>, StoreError> {
        self.with(|state| state.history.reactions(app, messages))
    }

    async fn change_pin(
        &self,
        app: &AppKey,
        message: MessageId,
        pin: Option<(&UserName, u64)>,
    ) -> Result<bool, StoreError> {
        self.with(|state| state.history.change_pin(app, message, pin))
    }

    async fn pinned_messages(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<Vec<PinnedMessage>, StoreError> {
        self.with(|state| state.pinned_messages(app, owner, conversation))
    }
}
