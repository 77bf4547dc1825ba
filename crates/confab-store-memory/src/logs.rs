//! Logs, cursors and devices (the embedded store's `log_entries`, `cursors`, `devices` and the
//! `last_id` / `cleared_up_to` columns of `conversations`). Entries stay until reclaimed: the
//! embedded store's pruning of what no device can be delivered any more is not observable.
//!
//! A group's log (`LogId::Group`) names no members: who reads an entry for every member is
//! worked out when a device reads, from the group's members now and the point each joined at
//! (`groups.rs`); an entry for one user is theirs whether they are a member or not. A room's
//! log (`LogId::Room`) has no entries: nobody pulls it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use confab_core::{
    ids::{AppKey, LogId, MessageId, UserName},
    store::{Audience, Device, LogCount, Pulled, QueuedMessage, Reclaimed},
};

use crate::{groups::Groups, messages::Messages};

#[derive(Debug, Default)]
pub(crate) struct Logs {
    /// Each log's entries in id order.
    entries: HashMap<(AppKey, LogId), BTreeMap<MessageId, Entry>>,
    /// Each member's view of each log they read.
    views: HashMap<(AppKey, UserName), BTreeMap<LogId, View>>,
    /// How far each device has read each log.
    cursors: HashMap<(AppKey, Device), HashMap<LogId, MessageId>>,
    /// When each device was last seen (epoch ms).
    devices: HashMap<(AppKey, Device), u64>,
    /// Each group log's newest entry for every member: where a member joining now starts.
    group_tails: HashMap<(AppKey, LogId), MessageId>,
}

/// A message in its log: who sent it and who reads it.
#[derive(Debug)]
struct Entry {
    sender: UserName,
    sender_resource: String,
    /// `None`: every member; else these users only.
    only: Option<Vec<UserName>>,
}

impl Entry {
    /// Whether `device` sees entry `id` of `log` in its view: not its own send; an entry for
    /// one user if it is theirs; an entry for every member of a group if the device's user is
    /// a member now and joined before it.
    fn visible_to(
        &self,
        groups: &Groups,
        (app, log, id): (&AppKey, &LogId, MessageId),
        device: &Device,
    ) -> bool {
        let own = self.sender == device.user && self.sender_resource == device.resource;
        let reader = match (&self.only, log) {
            (Some(only), _) => only.contains(&device.user),
            (None, LogId::Group(group)) => groups
                .reads_from(app, group, &device.user)
                .is_some_and(|joined| id > joined),
            (None, LogId::Pair { .. }) => true,
            // `append` keeps no entry of a room's log.
            (None, LogId::Room(_)) => false,
        };
        reader && !own
    }
}

/// One member's view of one log.
#[derive(Debug, Default, Clone, Copy)]
struct View {
    /// The newest entry the member reads (of a group's log: the newest for them alone).
    last: MessageId,
    /// Every device of the member has read up to here (the conversation was deleted).
    cleared: MessageId,
}

impl Logs {
    /// Appends entry `id` (already stored in `messages`) for `audience`.
    pub(crate) fn append(
        &mut self,
        app: &AppKey,
        log: &LogId,
        id: MessageId,
        sender: &UserName,
        sender_resource: &str,
        audience: &Audience,
    ) {
        // Nobody reads a room's log: its messages are history, and recall's, alone.
        if matches!(log, LogId::Room(_)) {
            return;
        }
        let only = match audience {
            Audience::Nobody => return,
            Audience::Members => None,
            Audience::Member(user) => Some(vec![user.clone()]),
            Audience::Listed(users) => Some(users.clone()),
        };
        let readers: Vec<&UserName> = match (log, &only) {
            // A group's members are not named: the log's tail stands for their views.
            (LogId::Group(_), None) => {
                let tail = self
                    .group_tails
                    .entry((app.clone(), log.clone()))
                    .or_default();
                *tail = (*tail).max(id);
                Vec::new()
            }
            (LogId::Group(_), Some(users)) => users.iter().collect(),
            (LogId::Room(_), _) => Vec::new(),
            (LogId::Pair { .. }, _) => log
                .members()
                .into_iter()
                .filter(|member| only.as_ref().is_none_or(|only| only.contains(*member)))
                .collect(),
        };
        for member in readers {
            let view = self
                .views
                .entry((app.clone(), member.clone()))
                .or_default()
                .entry(log.clone())
                .or_default();
            view.last = view.last.max(id);
        }
        self.entries
            .entry((app.clone(), log.clone()))
            .or_default()
            .insert(
                id,
                Entry {
                    sender: sender.clone(),
                    sender_resource: sender_resource.to_owned(),
                    only,
                },
            );
    }

    /// A recall: the entry leaves its log.
    pub(crate) fn remove(&mut self, app: &AppKey, id: MessageId) {
        for ((entry_app, _), entries) in self.entries.iter_mut() {
            if entry_app == app && entries.remove(&id).is_some() {
                return;
            }
        }
    }

    /// The newest entry of a group log for every member (0 when there is none): where a member
    /// joining now starts reading.
    pub(crate) fn group_tail(&self, app: &AppKey, log: &LogId) -> MessageId {
        self.group_tails
            .get(&(app.clone(), log.clone()))
            .copied()
            .unwrap_or_default()
    }

    /// A login; the first starts, in each log, where the user's other devices have read up to
    /// (the furthest of them), each past what it cannot see up to its first unread entry.
    pub(crate) fn device_seen(
        &mut self,
        groups: &Groups,
        app: &AppKey,
        device: &Device,
        now_ms: u64,
    ) {
        let key = (app.clone(), device.clone());
        if self.devices.insert(key.clone(), now_ms).is_some() {
            return;
        }
        let others: Vec<Device> = self
            .devices
            .keys()
            .filter(|(device_app, other)| {
                device_app == app && other.user == device.user && other != device
            })
            .map(|(_, other)| other.clone())
            .collect();
        let mut start: HashMap<LogId, MessageId> = HashMap::new();
        for log in self.logs_read_by(groups, app, &device.user) {
            let view = self.view(groups, app, &device.user, &log);
            for other in &others {
                let after = self.position(app, other, &log);
                let read_up_to = match self.unread_after(groups, app, other, &log, after).next() {
                    Some(first) => MessageId(first.0 - 1),
                    None => view.last,
                };
                if read_up_to > view.cleared {
                    let at = start.entry(log.clone()).or_default();
                    *at = (*at).max(read_up_to);
                }
            }
        }
        self.cursors.insert(key, start);
    }

    /// The logs `user` reads: those with a view of theirs, and the logs of their groups.
    fn logs_read_by(&self, groups: &Groups, app: &AppKey, user: &UserName) -> BTreeSet<LogId> {
        let mut logs: BTreeSet<LogId> = self
            .views
            .get(&(app.clone(), user.clone()))
            .map(|views| views.keys().cloned().collect())
            .unwrap_or_default();
        logs.extend(groups.logs_of(app, user));
        logs
    }

    /// Where `device` reads `log` from: its cursor, or the member's clearing if later.
    fn position(&self, app: &AppKey, device: &Device, log: &LogId) -> MessageId {
        let cursor = self
            .cursors
            .get(&(app.clone(), device.clone()))
            .and_then(|cursors| cursors.get(log))
            .copied()
            .unwrap_or_default();
        cursor.max(self.stored_view(app, &device.user, log).cleared)
    }

    /// `owner`'s view of `log`. In a group's log the newest entry they read is also the log's
    /// newest for every member, if they are a member who joined before it.
    fn view(&self, groups: &Groups, app: &AppKey, owner: &UserName, log: &LogId) -> View {
        let mut view = self.stored_view(app, owner, log);
        if let LogId::Group(group) = log {
            let tail = self.group_tail(app, log);
            if groups
                .reads_from(app, group, owner)
                .is_some_and(|joined| tail > joined)
            {
                view.last = view.last.max(tail);
            }
        }
        view
    }

    fn stored_view(&self, app: &AppKey, owner: &UserName, log: &LogId) -> View {
        self.views
            .get(&(app.clone(), owner.clone()))
            .and_then(|views| views.get(log))
            .copied()
            .unwrap_or_default()
    }

    fn unread_after<'a>(
        &'a self,
        groups: &'a Groups,
        app: &'a AppKey,
        device: &'a Device,
        log: &'a LogId,
        after: MessageId,
    ) -> impl Iterator<Item = MessageId> + 'a {
        self.entries
            .get(&(app.clone(), log.clone()))
            .into_iter()
            .flat_map(move |entries| entries.range((Bound::Excluded(after), Bound::Unbounded)))
            .filter(move |(id, entry)| entry.visible_to(groups, (app, log, **id), device))
            .map(|(id, _)| *id)
    }

    /// The logs with unread entries for `device`, the one with the oldest unread entry first.
    pub(crate) fn unread_counts(
        &self,
        groups: &Groups,
        app: &AppKey,
        device: &Device,
    ) -> Vec<LogCount> {
        let mut counts: Vec<(MessageId, LogCount)> = self
            .logs_read_by(groups, app, &device.user)
            .into_iter()
            .filter_map(|log| {
                let after = self.position(app, device, &log);
                if self.view(groups, app, &device.user, &log).last <= after {
                    return None;
                }
                let unread: Vec<MessageId> = self
                    .unread_after(groups, app, device, &log, after)
                    .collect();
                let oldest = *unread.first()?;
                let count = u32::try_from(unread.len()).unwrap_or(u32::MAX);
                Some((oldest, LogCount { log, count }))
            })
            .collect();
        counts.sort_by_key(|(oldest, _)| *oldest);
        counts.into_iter().map(|(_, count)| count).collect()
    }

    pub(crate) fn pull(
        &mut self,
        (groups, messages): (&Groups, &Messages),
        app: &AppKey,
        device: &Device,
        log: &LogId,
        key: Option<MessageId>,
        limit: u32,
    ) -> Pulled {
        if let Some(key) = key {
            if key > self.view(groups, app, &device.user, log).last {
                return Pulled::KeyBeyondEnd;
            }
            let cursor = self
                .cursors
                .entry((app.clone(), device.clone()))
                .or_default()
                .entry(log.clone())
                .or_default();
            *cursor = (*cursor).max(key);
        }
        let after = self.position(app, device, log);
        Pulled::Page(
            self.unread_after(groups, app, device, log, after)
                .filter_map(|id| {
                    Some(QueuedMessage {
                        id,
                        meta: messages.by_id(id)?.meta.clone(),
                    })
                })
                .take(limit as usize)
                .collect(),
        )
    }

    /// A conversation's deletion: every device of `owner` has read `log`.
    pub(crate) fn clear(&mut self, groups: &Groups, app: &AppKey, owner: &UserName, log: &LogId) {
        let last = self.view(groups, app, owner, log).last;
        if last == MessageId::default() {
            return;
        }
        let view = self
            .views
            .entry((app.clone(), owner.clone()))
            .or_default()
            .entry(log.clone())
            .or_default();
        view.cleared = last;
    }

    /// A user's deletion takes their devices and cursors, and clears their views (of the
    /// groups they still are in too: those they own), so that the next user of the name starts
    /// with nothing unread.
    pub(crate) fn drop_user(&mut self, groups: &Groups, app: &AppKey, user: &UserName) {
        for log in self.logs_read_by(groups, app, user) {
            self.clear(groups, app, user, &log);
        }
        self.cursors
            .retain(|(cursor_app, device), _| cursor_app != app || device.user != *user);
        self.devices
            .retain(|(device_app, device), _| device_app != app || device.user != *user);
    }

    pub(crate) fn reclaim(&mut self, unseen_since_ms: u64, limit: u32) -> Reclaimed {
        let mut reclaimed = Reclaimed::default();
        let stale: Vec<(AppKey, Device)> = self
            .devices
            .iter()
            .filter(|(_, seen)| **seen < unseen_since_ms)
            .map(|(key, _)| key.clone())
            .take(limit as usize)
            .collect();
        let devices_done = stale.len() < limit as usize;
        for key in stale {
            self.devices.remove(&key);
            self.cursors.remove(&key);
            reclaimed.devices += 1;
        }
        let first_kept = MessageId(crate::id_floor(unseen_since_ms));
        let mut budget = u64::from(limit);
        for entries in self.entries.values_mut() {
            while budget > 0 {
                match entries.first_key_value() {
                    Some((id, _)) if *id < first_kept => {
                        entries.pop_first();
                        budget -= 1;
                        reclaimed.entries += 1;
                    }
                    _ => break,
                }
            }
        }
        // Views whose newest entry left its log have nothing left to read.
        for views in self.views.values_mut() {
            for view in views.values_mut() {
                if view.last < first_kept {
                    view.cleared = view.last;
                }
            }
        }
        reclaimed.done = devices_done && budget > 0;
        reclaimed
    }
}
