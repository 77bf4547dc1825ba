//! Queue tails in memory, so that the pull right after a notice costs no trip to the writer.
//!
//! A queue is either *warm*, and then this map holds every entry the database holds for it
//! (none, often), or *cold*, and then only the database knows (the default: after a restart,
//! for an offline user's long queue, after an eviction). Only the writer thread changes the
//! map, after a commit and in the order of its operations, so a warm tail is always exactly
//! the committed queue. A queue turns warm when the writer sees it empty in the database; it
//! turns cold again when it grows past the bounds below or when an entry of it changes in a
//! way the tail does not follow (a recall, an edit). Cold is always correct, only slower.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use confab_core::{
    ids::{concat, MessageId},
    store::QueuedMessage,
};

/// Entries one warm queue may hold; more means its reader is away: the database serves it.
const MAX_ENTRIES_PER_QUEUE: usize = 1024;
/// Bytes of metas held in all tails together.
const MAX_BYTES: usize = 64 << 20;
/// Warm queues at most (a warm, empty queue costs its key and a few words).
const MAX_QUEUES: usize = 200_000;

/// `app \0 owner \0 queue`: one allocation per key, and the owner's queues share a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct QueueKey(Box<str>);

impl QueueKey {
    pub(crate) fn new(app: &str, owner: &str, queue: &str) -> QueueKey {
        QueueKey(concat(&[app, "\0", owner, "\0", queue]).into_boxed_str())
    }

    /// The prefix every queue of `owner` starts with.
    pub(crate) fn owner_prefix(app: &str, owner: &str) -> String {
        concat(&[app, "\0", owner, "\0"])
    }
}

/// What a committed operation did to a queue, in the writer's order.
#[derive(Debug)]
pub(crate) enum TailChange {
    Appended {
        key: QueueKey,
        message: QueuedMessage,
    },
    Acked {
        key: QueueKey,
        up_to: u64,
    },
    /// The database holds no entry of this queue at this point of the batch.
    Emptied {
        key: QueueKey,
    },
    /// An entry changed in a way the tail does not follow: only the database knows it now.
    Forget {
        key: QueueKey,
    },
    /// As `Forget`, for every queue whose key starts with the prefix (a removed user's).
    ForgetPrefix {
        prefix: String,
    },
}

#[derive(Default)]
pub(crate) struct QueueTails {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    warm: HashMap<QueueKey, Tail>,
    bytes: usize,
}

#[derive(Default)]
struct Tail {
    entries: VecDeque<QueuedMessage>,
    bytes: usize,
}

impl QueueTails {
    /// Up to `limit` entries after `after`, oldest first; `None` when the queue is cold.
    pub(crate) fn page(
        &self,
        key: &QueueKey,
        after: u64,
        limit: u32,
    ) -> Option<Vec<QueuedMessage>> {
        let inner = self.lock();
        let tail = inner.warm.get(key)?;
        let start = tail.entries.partition_point(|entry| entry.id.0 <= after);
        Some(
            tail.entries
                .range(start..)
                .take(limit as usize)
                .cloned()
                .collect(),
        )
    }

    pub(crate) fn is_warm(&self, key: &QueueKey) -> bool {
        self.lock().warm.contains_key(key)
    }

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

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Inner {
    fn apply(&mut self, change: TailChange) {
        match change {
            TailChange::Appended { key, message } => {
                let Some(tail) = self.warm.get_mut(&key) else {
                    return;
                };
                let size = message.meta.len();
                let in_order = tail.entries.back().is_none_or(|last| last.id < message.id);
                if !in_order
                    || tail.entries.len() >= MAX_ENTRIES_PER_QUEUE
                    || self.bytes + size > MAX_BYTES
                {
                    self.forget(&key);
                    return;
                }
                tail.entries.push_back(message);
                tail.bytes += size;
                self.bytes += size;
            }
            TailChange::Acked { key, up_to } => {
                let Some(tail) = self.warm.get_mut(&key) else {
                    return;
                };
                while tail
                    .entries
                    .front()
                    .is_some_and(|entry| entry.id <= MessageId(up_to))
                {
                    if let Some(entry) = tail.entries.pop_front() {
                        tail.bytes -= entry.meta.len();
                        self.bytes -= entry.meta.len();
                    }
                }
            }
            TailChange::Emptied { key } => {
                self.forget(&key);
                if self.warm.len() >= MAX_QUEUES {
                    // Empty tails are the cheapest to lose: their next pull reads one index.
                    self.warm.retain(|_, tail| !tail.entries.is_empty());
                    if self.warm.len() >= MAX_QUEUES {
                        return;
                    }
                }
                self.warm.insert(key, Tail::default());
            }
            TailChange::Forget { key } => self.forget(&key),
            TailChange::ForgetPrefix { prefix } => {
                let mut freed = 0;
                self.warm.retain(|key, tail| {
                    let keep = !key.0.starts_with(&prefix);
                    if !keep {
                        freed += tail.bytes;
                    }
                    keep
                });
                self.bytes -= freed;
            }
        }
    }

    fn forget(&mut self, key: &QueueKey) {
        if let Some(tail) = self.warm.remove(key) {
            self.bytes -= tail.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn message(id: u64) -> QueuedMessage {
        QueuedMessage {
            id: MessageId(id),
            meta: Bytes::from(vec![0u8; 10]),
        }
    }

    fn ids(page: Option<Vec<QueuedMessage>>) -> Option<Vec<u64>> {
        page.map(|page| page.into_iter().map(|entry| entry.id.0).collect())
    }

    #[test]
    fn a_queue_is_cold_until_seen_empty_and_then_follows_appends_and_acks() {
        let tails = QueueTails::default();
        let key = QueueKey::new("o#a", "roy", "leo");
        tails.apply(vec![TailChange::Appended {
            key: key.clone(),
            message: message(1),
        }]);
        assert_eq!(
            ids(tails.page(&key, 0, 10)),
            None,
            "cold: the database serves it"
        );
        tails.apply(vec![
            TailChange::Emptied { key: key.clone() },
            TailChange::Appended {
                key: key.clone(),
                message: message(5),
            },
            TailChange::Appended {
                key: key.clone(),
                message: message(7),
            },
            TailChange::Appended {
                key: key.clone(),
                message: message(9),
            },
        ]);
        assert_eq!(ids(tails.page(&key, 0, 10)), Some(vec![5, 7, 9]));
        assert_eq!(ids(tails.page(&key, 5, 1)), Some(vec![7]));
        tails.apply(vec![TailChange::Acked {
            key: key.clone(),
            up_to: 7,
        }]);
        assert_eq!(ids(tails.page(&key, 0, 10)), Some(vec![9]));
        assert_eq!(tails.lock().bytes, 10);
        tails.apply(vec![TailChange::Forget { key: key.clone() }]);
        assert_eq!(ids(tails.page(&key, 0, 10)), None);
        assert_eq!(tails.lock().bytes, 0);
    }

    #[test]
    fn a_tail_past_its_bound_or_out_of_order_turns_cold() {
        let tails = QueueTails::default();
        let key = QueueKey::new("o#a", "roy", "leo");
        let mut changes = vec![TailChange::Emptied { key: key.clone() }];
        for id in 1..=MAX_ENTRIES_PER_QUEUE as u64 {
            changes.push(TailChange::Appended {
                key: key.clone(),
                message: message(id),
            });
        }
        tails.apply(changes);
        assert!(tails.is_warm(&key));
        tails.apply(vec![TailChange::Appended {
            key: key.clone(),
            message: message(MAX_ENTRIES_PER_QUEUE as u64 + 1),
        }]);
        assert!(!tails.is_warm(&key));
        assert_eq!(tails.lock().bytes, 0);

        tails.apply(vec![
            TailChange::Emptied { key: key.clone() },
            TailChange::Appended {
                key: key.clone(),
                message: message(10),
            },
            TailChange::Appended {
                key: key.clone(),
                message: message(3),
            },
        ]);
        assert!(!tails.is_warm(&key));
    }

    #[test]
    fn forgetting_an_owner_leaves_other_owners_warm() {
        let tails = QueueTails::default();
        let roy = QueueKey::new("o#a", "roy", "leo");
        let royce = QueueKey::new("o#a", "royce", "leo");
        tails.apply(vec![
            TailChange::Emptied { key: roy.clone() },
            TailChange::Emptied { key: royce.clone() },
            TailChange::ForgetPrefix {
                prefix: QueueKey::owner_prefix("o#a", "roy"),
            },
        ]);
        assert!(!tails.is_warm(&roy));
        assert!(tails.is_warm(&royce));
    }
}
