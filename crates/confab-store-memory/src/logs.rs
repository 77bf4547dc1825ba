//! Logs, cursors and devices (the embedded store's `log_entries`, `cursors`, `devices` and the
//! `last_id` / `cleared_up_to` columns of `conversations`). Entries stay until reclaimed: the
//! embedded store's pruning of what no device can be delivered any more is not observable.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use confab_core::{
    ids::{AppKey, LogId, MessageId, UserName},
    store::{Audience, Device, LogCount, Pulled, QueuedMessage, Reclaimed},
};

use crate::messages::Messages;

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
}

/// A message in its log: who sent it and who reads it.
#[derive(Debug)]
struct Entry {
    sender: UserName,
    sender_resource: String,
    /// `None`: every member.
    only: Option<UserName>,
}

impl Entry {
    /// Whether `device` sees this entry in its view of the log.
    fn visible_to(&self, device: &Device) -> bool {
        self.only.as_ref().is_none_or(|only| *only == device.user)
            && !(self.sender == device.user && self.sender_resource == device.resource)
    }
}

/// One member's view of one log.
#[derive(Debug, Default, Clone, Copy)]
struct View {
    /// The newest entry the member reads.
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
        let only = match audience {
            Audience::Nobody => return,
            Audience::Members => None,
            Audience::Member(user) => Some(user.clone()),
        };
        for member in log.members() {
            if only.as_ref().is_none_or(|only| only == member) {
                let view = self
                    .views
                    .entry((app.clone(), member.clone()))
                    .or_default()
                    .entry(log.clone())
                    .or_default();
                view.last = view.last.max(id);
            }
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

    /// A login; the first starts, in each log, where the user's other devices have read up to
    /// (the furthest of them), each past what it cannot see up to its first unread entry.
    pub(crate) fn device_seen(&mut self, app: &AppKey, device: &Device, now_ms: u64) {
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
        if let Some(views) = self.views.get(&(app.clone(), device.user.clone())) {
            for (log, view) in views {
                for other in &others {
                    let after = self.position(app, other, log);
                    let read_up_to = match self.unread_after(app, other, log, after).next() {
                        Some(first) => MessageId(first.0 - 1),
                        None => view.last,
                    };
                    if read_up_to > view.cleared {
                        let at = start.entry(log.clone()).or_default();
                        *at = (*at).max(read_up_to);
                    }
                }
            }
        }
        self.cursors.insert(key, start);
    }

    /// Where `device` reads `log` from: its cursor, or the member's clearing if later.
    fn position(&self, app: &AppKey, device: &Device, log: &LogId) -> MessageId {
        let cursor = self
            .cursors
            .get(&(app.clone(), device.clone()))
            .and_then(|cursors| cursors.get(log))
            .copied()
            .unwrap_or_default();
        cursor.max(self.view(app, &device.user, log).cleared)
    }

    fn view(&self, app: &AppKey, owner: &UserName, log: &LogId) -> View {
        self.views
            .get(&(app.clone(), owner.clone()))
            .and_then(|views| views.get(log))
            .copied()
            .unwrap_or_default()
    }

    fn unread_after<'a>(
        &'a self,
        app: &AppKey,
        device: &'a Device,
        log: &LogId,
        after: MessageId,
    ) -> impl Iterator<Item = MessageId> + 'a {
        self.entries
            .get(&(app.clone(), log.clone()))
            .into_iter()
            .flat_map(move |entries| entries.range((Bound::Excluded(after), Bound::Unbounded)))
            .filter(move |(_, entry)| entry.visible_to(device))
            .map(|(id, _)| *id)
    }

    /// The logs with unread entries for `device`, the one with the oldest unread entry first.
    pub(crate) fn unread_counts(&self, app: &AppKey, device: &Device) -> Vec<LogCount> {
        let Some(views) = self.views.get(&(app.clone(), device.user.clone())) else {
            return Vec::new();
        };
        let mut counts: Vec<(MessageId, LogCount)> = views
            .iter()
            .filter_map(|(log, view)| {
                let after = self.position(app, device, log);
                if view.last <= after {
                    return None;
                }
                let unread: Vec<MessageId> = self.unread_after(app, device, log, after).collect();
                let oldest = *unread.first()?;
                let count = u32::try_from(unread.len()).unwrap_or(u32::MAX);
                Some((
                    oldest,
                    LogCount {
                        log: log.clone(),
                        count,
                    },
                ))
            })
            .collect();
        counts.sort_by_key(|(oldest, _)| *oldest);
        counts.into_iter().map(|(_, count)| count).collect()
    }

    pub(crate) fn pull(
        &mut self,
        messages: &Messages,
        app: &AppKey,
        device: &Device,
        log: &LogId,
        key: Option<MessageId>,
        limit: u32,
    ) -> Pulled {
        if let Some(key) = key {
            if key > self.view(app, &device.user, log).last {
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
            self.unread_after(app, device, log, after)
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
    pub(crate) fn clear(&mut self, app: &AppKey, owner: &UserName, log: &LogId) {
        if let Some(view) = self
            .views
            .get_mut(&(app.clone(), owner.clone()))
            .and_then(|views| views.get_mut(log))
        {
            view.cleared = view.last;
        }
    }

    /// A user's deletion takes their devices and cursors, and clears their views, so that the
    /// next user of the name starts with nothing unread.
    pub(crate) fn drop_user(&mut self, app: &AppKey, user: &UserName) {
        if let Some(views) = self.views.get_mut(&(app.clone(), user.clone())) {
            for view in views.values_mut() {
                view.cleared = view.last;
            }
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
