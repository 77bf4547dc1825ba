//! History and conversations (the embedded store's `conversation_messages` in `history.db`,
//! `conversations`, `reactions` and `pinned_messages`): each party's view of each
//! conversation, its list, pins and reactions.
//!
//! The embedded store indexes history behind the writer and makes every read catch up first;
//! here a message's history rows are written with it, which reads the same.
//!
//! A group's history is one its members share, kept under `UserName::group_history`; each
//! member's list row of it is worked out from that history, their settings and read marker,
//! and where they joined (`groups.rs`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use confab_core::{
    ids::{AppKey, LogId, MessageId, QueueName, UserName},
    store::{
        ConversationChange, ConversationSummary, HistoryEntry, HistoryQuery, PinnedMessage,
        QueuedMessage, Reaction, MAX_GROUP_UNREAD,
    },
};

use crate::{id_floor, messages::PerParty, State};

#[derive(Debug, Default)]
pub(crate) struct History {
    /// Each party's history of each conversation: the message ids they still see. A one-way
    /// removal takes ids out of the caller's sets only.
    rows: PerParty,
    /// Per-party conversation settings, created by the first change.
    settings: HashMap<(AppKey, UserName, QueueName), Settings>,
    /// Reactions per message, in the order they were added.
    reactions: HashMap<(AppKey, MessageId), Vec<Reaction>>,
    /// One pin per message, shared by both parties: who pinned it, and when.
    pins: HashMap<(AppKey, MessageId), (UserName, u64)>,
    /// What each member removed one way from a group's shared history (the embedded store's
    /// `member_removals` and `member_floors`).
    group_removals: HashMap<(AppKey, UserName, QueueName), MemberRemovals>,
}

/// One member's one-way removals from a group's history.
#[derive(Debug, Default)]
struct MemberRemovals {
    /// Messages below it are gone for the member (a removal by time, a deletion with history).
    first_kept: MessageId,
    removed: BTreeSet<MessageId>,
}

impl MemberRemovals {
    fn keeps(&self, id: MessageId) -> bool {
        id >= self.first_kept && !self.removed.contains(&id)
    }
}

/// A row of `conversations`.
#[derive(Debug)]
struct Settings {
    pinned_ms: Option<u64>,
    /// Sorted, without repeats.
    marks: Vec<u8>,
    /// The conversation's newest message when the party deleted it: messages up to it no
    /// longer bring it back into the list, nor count as unread.
    deleted_up_to: MessageId,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            pinned_ms: None,
            marks: Vec::new(),
            deleted_up_to: MessageId(0),
        }
    }
}

impl History {
    /// Adds message `id` to the history of each party it names.
    pub(crate) fn index(&mut self, app: &AppKey, id: MessageId, entries: &[HistoryEntry]) {
        for entry in entries {
            self.rows
                .entry((app.clone(), entry.owner.clone()))
                .or_default()
                .entry(entry.conversation.clone())
                .or_default()
                .insert(id);
        }
    }

    fn conversations_of(
        &self,
        app: &AppKey,
        owner: &UserName,
    ) -> Option<&BTreeMap<QueueName, BTreeSet<MessageId>>> {
        self.rows.get(&(app.clone(), owner.clone()))
    }

    fn settings(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Option<&Settings> {
        self.settings
            .get(&(app.clone(), owner.clone(), conversation.clone()))
    }

    pub(crate) fn change_reaction(&mut self, app: &AppKey, reaction: &Reaction, add: bool) -> bool {
        let reactions = self
            .reactions
            .entry((app.clone(), reaction.message))
            .or_default();
        let same = |stored: &Reaction| {
            stored.reaction == reaction.reaction && stored.user == reaction.user
        };
        let present = reactions.iter().any(same);
        match (add, present) {
            (true, false) => reactions.push(reaction.clone()),
            (false, true) => reactions.retain(|stored| !same(stored)),
            (true, true) | (false, false) => return false,
        }
        true
    }

    /// Each message's reactions, by the first use of each reaction, then reaction, time, user.
    pub(crate) fn reactions(&self, app: &AppKey, messages: &[MessageId]) -> Vec<Reaction> {
        let mut listed = Vec::new();
        for message in messages {
            let Some(reactions) = self.reactions.get(&(app.clone(), *message)) else {
                continue;
            };
            let first_use = |text: &str| {
                reactions
                    .iter()
                    .filter(|reaction| reaction.reaction == text)
                    .map(|reaction| reaction.created_ms)
                    .min()
                    .unwrap_or(0)
            };
            let mut sorted = reactions.clone();
            sorted.sort_by(|a, b| {
                (first_use(&a.reaction), &a.reaction, a.created_ms, &a.user).cmp(&(
                    first_use(&b.reaction),
                    &b.reaction,
                    b.created_ms,
                    &b.user,
                ))
            });
            listed.extend(sorted);
        }
        listed
    }

    /// Pins an unpinned message or unpins a pinned one; false when it already was so.
    pub(crate) fn change_pin(
        &mut self,
        app: &AppKey,
        message: MessageId,
        pin: Option<(&UserName, u64)>,
    ) -> bool {
        let key = (app.clone(), message);
        match pin {
            Some(_) if self.pins.contains_key(&key) => false,
            Some((operator, pinned_ms)) => {
                self.pins.insert(key, (operator.clone(), pinned_ms));
                true
            }
            None => self.pins.remove(&key).is_some(),
        }
    }
}

impl State {
    /// One page of `owner`'s history of a conversation: recalled messages left out, the
    /// filters of `HistoryQuery` applied, in the order asked for.
    pub(crate) fn history_page(
        &self,
        app: &AppKey,
        owner: &UserName,
        query: &HistoryQuery,
    ) -> Vec<QueuedMessage> {
        // A member reads a group's shared history less what they removed.
        let (history_owner, removals) = if query.conversation.is_group() {
            let key = (app.clone(), owner.clone(), query.conversation.clone());
            (
                UserName::group_history(),
                self.history.group_removals.get(&key),
            )
        } else {
            (owner.clone(), None)
        };
        let Some(ids) = self
            .history
            .conversations_of(app, &history_owner)
            .and_then(|conversations| conversations.get(&query.conversation))
        else {
            return Vec::new();
        };
        // A time range is an id range: [first id of start_ms, first id of end_ms + 1).
        let first = query.start_ms.map_or(0, id_floor);
        let end = query
            .end_ms
            .map_or(u64::MAX, |ms| id_floor(ms.saturating_add(1)));
        let in_range = |id: &&MessageId| {
            id.0 >= first
                && id.0 < end
                && match query.cursor {
                    Some(cursor) if query.newest_first => **id < cursor,
                    Some(cursor) => **id > cursor,
                    None => true,
                }
        };
        let wanted = |id: &&MessageId| {
            let Some(message) = self.messages.by_id(**id) else {
                return false;
            };
            query
                .from
                .as_ref()
                .is_none_or(|from| message.sender == *from)
                && (query.kinds.is_empty() || query.kinds.iter().any(|kind| kind == message.kind))
                && !self.messages.is_recalled(app, **id)
                && removals.is_none_or(|removals| removals.keeps(**id))
        };
        let ordered: Box<dyn Iterator<Item = &MessageId>> = if query.newest_first {
            Box::new(ids.iter().rev())
        } else {
            Box::new(ids.iter())
        };
        ordered
            .filter(in_range)
            .filter(wanted)
            .take(query.limit as usize)
            .filter_map(|id| self.queued(*id))
            .collect()
    }

    /// `owner`'s conversation list, newest last message first: each pair conversation with a
    /// message they still see past its deletion point, and each group they are a member of now
    /// whose shared history (kept under `UserName::group_history`) has one past it.
    pub(crate) fn conversations(&self, app: &AppKey, owner: &UserName) -> Vec<ConversationSummary> {
        let mut list = Vec::new();
        if let Some(conversations) = self.history.conversations_of(app, owner) {
            for (conversation, ids) in conversations {
                // A group's conversation is its shared history's (below), never a member's own.
                if conversation.is_group() {
                    continue;
                }
                let unread_from = (MessageId(0), u32::MAX);
                list.extend(self.summary(app, owner, (conversation, ids), unread_from));
            }
        }
        let shared = self
            .history
            .conversations_of(app, &UserName::group_history());
        for log in self.groups.logs_of(app, owner) {
            let Some(group) = log.group() else {
                continue;
            };
            // A member reads what was said after their joining (the log's head then).
            let Some(joined) = self.groups.join_point(app, group, owner) else {
                continue;
            };
            let conversation = QueueName::group(group);
            let Some(ids) = shared.and_then(|conversations| conversations.get(&conversation))
            else {
                continue;
            };
            let unread_from = (joined, MAX_GROUP_UNREAD);
            list.extend(self.summary(app, owner, (&conversation, ids), unread_from));
        }
        list.sort_by_key(|summary| Reverse(summary.last.id));
        list
    }

    /// One row of `owner`'s list for `conversation`, whose messages are `ids`, if one of them
    /// is past its deletion point (recalled ones left out). Unread: the messages of others
    /// after the read marker, the deletion point and `after`, whichever is last, counted up to
    /// `cap`.
    fn summary(
        &self,
        app: &AppKey,
        owner: &UserName,
        (conversation, ids): (&QueueName, &BTreeSet<MessageId>),
        (after, cap): (MessageId, u32),
    ) -> Option<ConversationSummary> {
        let visible = |id: &&MessageId| !self.messages.is_recalled(app, **id);
        let last_id = *ids.iter().rev().find(visible)?;
        let settings = self.history.settings(app, owner, conversation);
        let deleted_up_to = settings.map_or(MessageId(0), |settings| settings.deleted_up_to);
        if last_id <= deleted_up_to {
            return None;
        }
        let last = self.queued(last_id)?;
        let read_up_to = self
            .messages
            .read_up_to(app, owner, conversation)
            .unwrap_or(MessageId(0));
        let seen = deleted_up_to.max(read_up_to).max(after);
        let unread = ids
            .range((Bound::Excluded(seen), Bound::Unbounded))
            .filter(visible)
            .filter(|id| {
                self.messages
                    .by_id(**id)
                    .is_some_and(|message| message.sender != *owner)
            })
            .take(usize::try_from(cap).unwrap_or(usize::MAX))
            .count();
        Some(ConversationSummary {
            conversation: conversation.clone(),
            last,
            unread: u32::try_from(unread).unwrap_or(u32::MAX),
            pinned_ms: settings.and_then(|settings| settings.pinned_ms),
            marks: settings.map_or_else(Vec::new, |settings| settings.marks.clone()),
        })
    }

    /// The pins of messages in `owner`'s history of `conversation`, latest pin first.
    pub(crate) fn pinned_messages(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Vec<PinnedMessage> {
        let Some(ids) = self
            .history
            .conversations_of(app, owner)
            .and_then(|conversations| conversations.get(conversation))
        else {
            return Vec::new();
        };
        let mut pinned: Vec<PinnedMessage> = ids
            .iter()
            .filter(|id| !self.messages.is_recalled(app, **id))
            .filter_map(|id| {
                let (operator, pinned_ms) = self.history.pins.get(&(app.clone(), *id))?;
                Some(PinnedMessage {
                    message: self.queued(*id)?,
                    operator: operator.clone(),
                    pinned_ms: *pinned_ms,
                })
            })
            .collect();
        pinned.sort_by_key(|pin| Reverse((pin.pinned_ms, pin.message.id)));
        pinned
    }

    pub(crate) fn change_conversation(
        &mut self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
        change: ConversationChange,
    ) {
        let key = (app.clone(), owner.clone(), conversation.clone());
        // A group's history is one its members share: a member's removal is recorded as theirs
        // (`MemberRemovals`) and leaves the shared history as it is.
        let group = conversation.is_group();
        let history_owner = if group {
            UserName::group_history()
        } else {
            owner.clone()
        };
        // The newest message of the history the party sees, recalled or not.
        let newest = self
            .history
            .conversations_of(app, &history_owner)
            .and_then(|conversations| conversations.get(conversation))
            .and_then(|ids| ids.last().copied());
        let rows = self
            .history
            .rows
            .get_mut(&(app.clone(), owner.clone()))
            .and_then(|conversations| conversations.get_mut(conversation))
            .filter(|_| !group);
        match change {
            ConversationChange::Pin(pinned_ms) => {
                self.history.settings.entry(key).or_default().pinned_ms = pinned_ms;
            }
            // An empty change creates no settings.
            ConversationChange::AddMarks(marks) | ConversationChange::RemoveMarks(marks)
                if marks.is_empty() => {}
            ConversationChange::AddMarks(add) => {
                let settings = self.history.settings.entry(key).or_default();
                settings.marks.extend(add);
                settings.marks.sort_unstable();
                settings.marks.dedup();
            }
            ConversationChange::RemoveMarks(remove) => {
                let settings = self.history.settings.entry(key).or_default();
                settings.marks.retain(|mark| !remove.contains(mark));
            }
            ConversationChange::Delete { history } => {
                // Hidden up to its newest message in the party's history (of a group: the
                // shared one, which `history` leaves as it is), recalled or not; with no
                // history the point stays where it was.
                if history {
                    if let Some(ids) = rows {
                        ids.clear();
                    }
                    if let (true, Some(newest)) = (group, newest) {
                        let removals = self.history.group_removals.entry(key.clone()).or_default();
                        removals.first_kept = removals.first_kept.max(MessageId(newest.0 + 1));
                    }
                }
                let settings = self.history.settings.entry(key).or_default();
                if let Some(newest) = newest {
                    settings.deleted_up_to = newest;
                }
                if let Some(log) = LogId::viewed_as(owner, conversation) {
                    self.logs.clear(&self.groups, app, owner, &log);
                }
            }
            ConversationChange::RemoveMessages(removed) => {
                if group {
                    let removals = self.history.group_removals.entry(key).or_default();
                    removals.removed.extend(removed);
                } else if let Some(ids) = rows {
                    for id in &removed {
                        ids.remove(id);
                    }
                }
            }
            ConversationChange::RemoveBefore(time_ms) => {
                let first_kept = MessageId(id_floor(time_ms));
                if group {
                    let removals = self.history.group_removals.entry(key).or_default();
                    removals.first_kept = removals.first_kept.max(first_kept);
                } else if let Some(ids) = rows {
                    ids.retain(|id| *id >= first_kept);
                }
            }
        }
    }

    /// A message as pages carry it.
    fn queued(&self, id: MessageId) -> Option<QueuedMessage> {
        let message = self.messages.by_id(id)?;
        Some(QueuedMessage {
            id,
            meta: message.meta.clone(),
        })
    }
}
