//! Messages and queues (the embedded store's `messages`, `queue_entries`,
//! `recalled_messages` and `conversation_reads` tables), and the `MessageStore` port, whose
//! history methods are in `history.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use bytes::Bytes;
use confab_core::{
    ids::{AppKey, MessageId, QueueName, UserName},
    store::{
        AppendEffect, Appended, ConversationChange, ConversationSummary, DayCount, HistoryQuery,
        MessageStore, NewMessage, Pending, PinnedMessage, QueueCount, QueuedMessage, Reaction,
        StoreError, StoredMessage,
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
    /// Queue entries: references to `by_id`, so an edit shows in every queue at once.
    queues: PerParty,
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
    fn of(message: &NewMessage) -> ResendKey {
        ResendKey {
            client_id: message.client_id,
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

    /// A user's deletion takes their queues with it.
    pub(crate) fn drop_queues_of(&mut self, app: &AppKey, owner: &UserName) {
        self.queues.remove(&(app.clone(), owner.clone()));
    }

    /// Empties one queue (a conversation's deletion).
    pub(crate) fn drop_queue(&mut self, app: &AppKey, owner: &UserName, queue: &QueueName) {
        if let Some(queues) = self.queues.get_mut(&(app.clone(), owner.clone())) {
            queues.remove(queue);
        }
    }

    fn queue_mut(
        &mut self,
        app: &AppKey,
        owner: &UserName,
        queue: &QueueName,
    ) -> Option<&mut BTreeSet<MessageId>> {
        self.queues
            .get_mut(&(app.clone(), owner.clone()))?
            .get_mut(queue)
    }
}

impl State {
    /// The append and its checks in the embedded writer's order: each recipient exists (or a
    /// resend of a message stored before the recipient went keeps its answer), then the resend
    /// key, then the message with its history rows and queue entries.
    fn append(&mut self, message: NewMessage) -> Result<Appended, StoreError> {
        let resend_key = ResendKey::of(&message);
        let resent = self.messages.by_resend_key.get(&resend_key).copied();
        for entry in &message.deliveries {
            if !self.users.exists(&message.app, &entry.owner) {
                return Ok(match resent {
                    Some(id) => Appended::Duplicate(id),
                    None => Appended::UnknownRecipient(entry.owner.clone()),
                });
            }
        }
        if let Some(id) = resent {
            return Ok(Appended::Duplicate(id));
        }
        if self.messages.by_id.contains_key(&message.id) {
            // The id allocator never reuses an id; SQLite would refuse the row the same way.
            return Err(StoreError::Backend(format!(
                "message id {} is taken",
                message.id.0
            )));
        }
        self.history
            .index(&message.app, message.id, &message.history);
        for entry in &message.deliveries {
            self.messages
                .queues
                .entry((message.app.clone(), entry.owner.clone()))
                .or_default()
                .entry(entry.queue.clone())
                .or_default()
                .insert(message.id);
        }
        self.messages.by_resend_key.insert(resend_key, message.id);
        self.messages.by_id.insert(
            message.id,
            Message {
                app: message.app,
                sender: message.sender,
                meta: message.meta,
                kind: message.kind,
            },
        );
        Ok(Appended::Stored)
    }

    /// The change that commits with message `id` (see `AppendEffect`).
    fn apply_effect(&mut self, app: &AppKey, id: MessageId, effect: AppendEffect) {
        let messages = &mut self.messages;
        match effect {
            AppendEffect::None => {}
            AppendEffect::Recall { target, queued_in } => {
                messages.recalled.insert((app.clone(), target));
                // Not pulled yet: the recipient never sees it.
                for entry in &queued_in {
                    if let Some(queue) = messages.queue_mut(app, &entry.owner, &entry.queue) {
                        queue.remove(&target);
                    }
                }
            }
            // Queues refer to the message, so its new meta is what they serve from now on.
            AppendEffect::Edit { target, meta, .. } => {
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
impl MessageStore for MemoryStore {
    fn submit_append(&self, message: NewMessage) -> Pending<Appended> {
        self.submit(|state| state.append(message))
    }

    fn submit_append_with(&self, message: NewMessage, effect: AppendEffect) -> Pending<Appended> {
        self.submit(|state| {
            let (app, id) = (message.app.clone(), message.id);
            let appended = state.append(message)?;
            if appended == Appended::Stored {
                state.apply_effect(&app, id, effect);
            }
            Ok(appended)
        })
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

    async fn conversation_read_up_to(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<Option<MessageId>, StoreError> {
        self.with(|state| state.messages.read_up_to(app, owner, conversation))
    }

    async fn import_message(&self, message: NewMessage) -> Result<(), StoreError> {
        self.with(|state| {
            if state.messages.by_id.contains_key(&message.id) {
                return Err(StoreError::Duplicate(message.id.0.to_string()));
            }
            match state.append(message)? {
                Appended::Stored => Ok(()),
                Appended::Duplicate(id) => Err(StoreError::Duplicate(id.0.to_string())),
                Appended::UnknownRecipient(_) => {
                    Err(StoreError::Backend("unexpected import outcome".into()))
                }
            }
        })?
    }

    async fn max_message_id(&self) -> Result<MessageId, StoreError> {
        self.with(|state| {
            state
                .messages
                .by_id
                .last_key_value()
                .map_or(MessageId(0), |(id, _)| *id)
        })
    }

    async fn unread_counts(
        &self,
        app: &AppKey,
        owner: &UserName,
    ) -> Result<Vec<QueueCount>, StoreError> {
        self.with(|state| {
            let Some(queues) = state.messages.queues.get(&(app.clone(), owner.clone())) else {
                return Vec::new();
            };
            // Non-empty queues, the one with the oldest entry first.
            let mut counts: Vec<(MessageId, QueueCount)> = queues
                .iter()
                .filter_map(|(queue, entries)| {
                    let oldest = *entries.first()?;
                    let count = QueueCount {
                        queue: queue.clone(),
                        count: u32::try_from(entries.len()).unwrap_or(u32::MAX),
                    };
                    Some((oldest, count))
                })
                .collect();
            counts.sort_by_key(|(oldest, _)| *oldest);
            counts.into_iter().map(|(_, count)| count).collect()
        })
    }

    async fn queue_page(
        &self,
        app: &AppKey,
        owner: &UserName,
        queue: &QueueName,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        self.with(|state| {
            let messages = &state.messages;
            let Some(entries) = messages
                .queues
                .get(&(app.clone(), owner.clone()))
                .and_then(|queues| queues.get(queue))
            else {
                return Vec::new();
            };
            entries
                .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                .filter_map(|&id| {
                    let message = messages.by_id(id)?;
                    Some(QueuedMessage {
                        id,
                        meta: message.meta.clone(),
                    })
                })
                .take(limit as usize)
                .collect()
        })
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

    async fn conversations(
        &self,
        app: &AppKey,
        owner: &UserName,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.with(|state| state.conversations(app, owner))
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

    async fn change_conversation(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
        change: ConversationChange,
    ) -> Result<(), StoreError> {
        self.with(|state| state.change_conversation(app, owner, conversation, change))
    }

    fn submit_ack(
        &self,
        app: &AppKey,
        owner: &UserName,
        queue: &QueueName,
        up_to: MessageId,
    ) -> Pending<()> {
        self.submit(|state| {
            if let Some(entries) = state.messages.queue_mut(app, owner, queue) {
                entries.retain(|id| *id > up_to);
            }
            Ok(())
        })
    }
}
