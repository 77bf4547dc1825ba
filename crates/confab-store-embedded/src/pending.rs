//! How many queue entries each user holds, in memory, so that an UNREAD of a user with nothing
//! waiting (every login, and the SDK's heartbeat) costs no read. Counted at open; after that
//! only the writer changes it, after each commit and before answering, with what the commit
//! added and removed (as `tails.rs` does for queue tails).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use confab_core::ids::concat;
use rusqlite::Connection;

/// `app \0 owner`: one allocation per key.
pub(crate) fn owner_key(app: &str, owner: &str) -> String {
    concat(&[app, "\0", owner])
}

/// Entries added (positive) or removed (negative) for an owner by a committed operation.
#[derive(Debug)]
pub(crate) struct PendingDelta {
    pub(crate) owner: String,
    pub(crate) entries: i64,
}

#[derive(Default)]
pub(crate) struct PendingCounts {
    /// Owners holding at least one entry; others are absent.
    counts: Mutex<HashMap<String, u64>>,
}

impl PendingCounts {
    /// Counts every owner's entries (one pass over the queue index).
    pub(crate) fn load(connection: &Connection) -> rusqlite::Result<PendingCounts> {
        let mut statement = connection.prepare(
            "SELECT app_key, owner, COUNT(*) FROM queue_entries GROUP BY app_key, owner",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                owner_key(&row.get::<_, String>(0)?, &row.get::<_, String>(1)?),
                row.get::<_, i64>(2)?,
            ))
        })?;
        let mut counts = HashMap::new();
        for row in rows {
            let (owner, count) = row?;
            counts.insert(owner, u64::try_from(count).unwrap_or(0));
        }
        Ok(PendingCounts {
            counts: Mutex::new(counts),
        })
    }

    /// False when `owner` held no entry as of the last commit.
    pub(crate) fn holds_any(&self, app: &str, owner: &str) -> bool {
        self.lock().contains_key(&owner_key(app, owner))
    }

    pub(crate) fn apply(&self, deltas: Vec<PendingDelta>) {
        if deltas.is_empty() {
            return;
        }
        let mut counts = self.lock();
        for PendingDelta { owner, entries } in deltas {
            let count = counts.get(&owner).copied().unwrap_or(0);
            let updated = count.saturating_add_signed(entries);
            if updated == 0 {
                counts.remove(&owner);
            } else {
                counts.insert(owner, updated);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        match self.counts.lock() {
            Ok(counts) => counts,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_present_while_any_entry_is() {
        let pending = PendingCounts::default();
        let roy = || owner_key("o#a", "roy");
        assert!(!pending.holds_any("o#a", "roy"));
        pending.apply(vec![
            PendingDelta {
                owner: roy(),
                entries: 2,
            },
            PendingDelta {
                owner: roy(),
                entries: -1,
            },
        ]);
        assert!(pending.holds_any("o#a", "roy"));
        assert!(!pending.holds_any("o#a", "royce"));
        pending.apply(vec![PendingDelta {
            owner: roy(),
            entries: -1,
        }]);
        assert!(!pending.holds_any("o#a", "roy"));
    }
}
