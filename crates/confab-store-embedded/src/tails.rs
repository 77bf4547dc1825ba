//! Log tails and device cursors in memory, so that the pull a device makes (or is pushed)
//! right after a notice costs no trip to a read connection.
//!
//! Only the writer thread changes this, after a commit and in the order of its operations, so
//! what it holds is always exactly what is committed. A log's tail holds every entry of
//! `log_entries` with an id above its `complete_after` (from the first append the writer saw,
//! then the newest `MAX_ENTRIES_PER_LOG`; a prune trims both alike); a cursor is held from the
//! writer's last write of it. A pull is
//! served from here only when the device's cursor is held and the tail covers everything
//! after it; otherwise SQLite serves it, which is always correct, only slower. Anything the
//! tails do not follow (a conversation's deletion, a user's, a reclaim, a device's first
//! login) drops what it touches.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use confab_core::{
    ids::{concat, LogId, MessageId},
    store::{Device, QueuedMessage},
};

/// Entries a tail keeps; older ones are read from SQLite.
const MAX_ENTRIES_PER_LOG: usize = 1024;
/// Entries a page looks for from the end of a tail before it searches (`Tail::page`).
const SCAN_FROM_END: usize = 8;
/// Bytes of metas in all tails together; past it every tail is dropped (and starts over).
const MAX_BYTES: usize = 64 << 20;
/// Logs with a tail, and cursors held, at most; past it all are dropped.
const MAX_LOGS: usize = 200_000;
const MAX_CURSORS: usize = 1_000_000;

/// An entry as a device's view filters it.
#[derive(Debug, Clone)]
pub(crate) struct TailEntry {
    pub(crate) id: i64,
    pub(crate) sender: String,
    pub(crate) sender_resource: String,
    /// The one member who reads it; `None`: every member.
    pub(crate) audience: Option<String>,
    pub(crate) meta: Bytes,
}

impl TailEntry {
    pub(crate) fn visible_to(&self, device: &Device) -> bool {
        self.audience
            .as_deref()
            .is_none_or(|only| only == device.user.as_str())
            && !(self.sender == device.user.as_str() && self.sender_resource == device.resource)
    }
}

/// What a committed operation did, in the writer's order.
#[derive(Debug)]
pub(crate) enum TailChange {
    Appended {
        log: String,
        entry: TailEntry,
    },
    /// The entry left its log (a recall).
    Removed {
        log: String,
        id: i64,
    },
    /// The entries below `below` left the log: no device reads them any more (a prune).
    Trimmed {
        log: String,
        below: i64,
    },
    /// The entry's meta changed (an edit).
    Edited {
        log: String,
        id: i64,
        meta: Bytes,
    },
    /// A device's cursor moved here.
    Cursor {
        key: String,
        up_to: i64,
    },
    /// The cursors of `owner` (of the app) are no longer known here.
    ForgetOwner {
        app: String,
        owner: String,
    },
    /// Nothing is known here any more.
    ForgetAll,
}

/// Whether `log` has a tail here. A group's has none: who reads an entry depends on
/// membership, which the tails do not follow. A room's log is read by no one.
pub(crate) fn follows(log: &LogId) -> bool {
    match log {
        LogId::Pair { .. } => true,
        LogId::Group(_) | LogId::Room(_) => false,
    }
}

/// `app \t log`: tails are per log.
pub(crate) fn log_key(app: &str, log: &str) -> String {
    concat(&[app, "\t", log])
}

/// `app \t owner \t resource \t log`: a device's cursor in one log.
pub(crate) fn cursor_key(app: &str, device: &Device, log: &str) -> String {
    concat(&[
        app,
        "\t",
        device.user.as_str(),
        "\t",
        &device.resource,
        "\t",
        log,
    ])
}

#[derive(Default)]
pub(crate) struct LogTails {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    logs: HashMap<String, Tail>,
    cursors: HashMap<String, i64>,
    bytes: usize,
}

struct Tail {
    /// Every entry with a larger id is in `entries`.
    complete_after: i64,
    entries: VecDeque<TailEntry>,
}

impl LogTails {
    /// Applies a committed batch's changes, in order.
    pub(crate) fn apply(&self, changes: Vec<TailChange>) {
        if changes.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for change in changes {
            inner.apply(change);
        }
    }

    /// Up to `limit` entries of `log` after `device`'s cursor that it reads, when both are
    /// known here; `None`: ask SQLite.
    pub(crate) fn page(
        &self,
        app: &str,
        device: &Device,
        log: &str,
        limit: u32,
    ) -> Option<Vec<QueuedMessage>> {
        let inner = self.lock();
        let after = *inner.cursors.get(&cursor_key(app, device, log))?;
        let tail = inner.logs.get(&log_key(app, log))?;
        (after >= tail.complete_after).then(|| tail.page(device, after, limit))
    }

    /// Up to `limit` entries of `log` after `after` that `device` reads, when the tail holds
    /// every entry after it.
    pub(crate) fn page_after(
        &self,
        app: &str,
        device: &Device,
        log: &str,
        after: i64,
        limit: u32,
    ) -> Option<Vec<QueuedMessage>> {
        let inner = self.lock();
        let tail = inner.logs.get(&log_key(app, log))?;
        (after >= tail.complete_after).then(|| tail.page(device, after, limit))
    }

    /// `device`'s position in `log` and the newest entry of its user's view of it, when both
    /// are known here: as of the last commit, which is all a key can name.
    pub(crate) fn position(&self, app: &str, device: &Device, log: &str) -> Option<(i64, i64)> {
        let inner = self.lock();
        let after = *inner.cursors.get(&cursor_key(app, device, log))?;
        let tail = inner.logs.get(&log_key(app, log))?;
        let last = tail.entries.iter().rev().find(|entry| {
            entry
                .audience
                .as_deref()
                .is_none_or(|only| only == device.user.as_str())
        })?;
        Some((after, last.id))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Tail {
    fn page(&self, device: &Device, after: i64, limit: u32) -> Vec<QueuedMessage> {
        // In id order (the writer appends so, and removes without reordering). A pull after a
        // notice asks for the last entry or two: counting back from the end touches only
        // those, where a binary search over up to `MAX_ENTRIES_PER_LOG` entries misses the
        // cache at every step; a device further behind gets the search.
        let newer = self
            .entries
            .iter()
            .rev()
            .take(SCAN_FROM_END)
            .take_while(|entry| entry.id > after)
            .count();
        let first = if newer < SCAN_FROM_END {
            self.entries.len() - newer
        } else {
            self.entries.partition_point(|entry| entry.id <= after)
        };
        self.entries
            .range(first..)
            .filter(|entry| entry.visible_to(device))
            .take(limit as usize)
            .map(TailEntry::queued)
            .collect()
    }
}

impl TailEntry {
    pub(crate) fn queued(&self) -> QueuedMessage {
        QueuedMessage {
            id: MessageId(self.id as u64),
            meta: self.meta.clone(),
        }
    }
}

impl Inner {
    fn apply(&mut self, change: TailChange) {
        match change {
            TailChange::Appended { log, entry } => {
                if self.bytes + entry.meta.len() > MAX_BYTES || self.logs.len() >= MAX_LOGS {
                    self.logs.clear();
                    self.bytes = 0;
                }
                self.bytes += entry.meta.len();
                let tail = self.logs.entry(log).or_insert_with(|| Tail {
                    // The writer appends in id order: nothing between this and the entry.
                    complete_after: entry.id - 1,
                    entries: VecDeque::new(),
                });
                tail.entries.push_back(entry);
                if tail.entries.len() > MAX_ENTRIES_PER_LOG {
                    if let Some(oldest) = tail.entries.pop_front() {
                        tail.complete_after = oldest.id;
                        self.bytes -= oldest.meta.len();
                    }
                }
            }
            TailChange::Removed { log, id } => {
                if let Some(tail) = self.logs.get_mut(&log) {
                    if let Some(at) = tail.entries.iter().position(|entry| entry.id == id) {
                        if let Some(removed) = tail.entries.remove(at) {
                            self.bytes -= removed.meta.len();
                        }
                    }
                }
            }
            TailChange::Trimmed { log, below } => {
                // What no device reads is not kept here either, so that a tail is the few
                // entries its log holds, not the last `MAX_ENTRIES_PER_LOG` of them.
                // `complete_after` stays: below `below` the database holds nothing either.
                if let Some(tail) = self.logs.get_mut(&log) {
                    while tail.entries.front().is_some_and(|entry| entry.id < below) {
                        if let Some(trimmed) = tail.entries.pop_front() {
                            self.bytes -= trimmed.meta.len();
                        }
                    }
                }
            }
            TailChange::Edited { log, id, meta } => {
                if let Some(tail) = self.logs.get_mut(&log) {
                    if let Some(entry) = tail.entries.iter_mut().find(|entry| entry.id == id) {
                        self.bytes = self.bytes - entry.meta.len() + meta.len();
                        entry.meta = meta;
                    }
                }
            }
            TailChange::Cursor { key, up_to } => {
                if self.cursors.len() >= MAX_CURSORS {
                    self.cursors.clear();
                }
                let cursor = self.cursors.entry(key).or_insert(up_to);
                *cursor = (*cursor).max(up_to);
            }
            TailChange::ForgetOwner { app, owner } => {
                let prefix = concat(&[&app, "\t", &owner, "\t"]);
                self.cursors.retain(|key, _| !key.starts_with(&prefix));
            }
            TailChange::ForgetAll => {
                self.logs.clear();
                self.cursors.clear();
                self.bytes = 0;
            }
        }
    }
}
