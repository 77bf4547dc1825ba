//! Contacts, contact requests and blocklists (`ContactStore`): the writes the writer applies
//! and the reads a read connection answers. Contacts are stored once per side, so that each
//! side's list (and remark) is a range of its own.

use confab_core::{
    ids::UserName,
    store::{Contact, StoreError},
};
use rusqlite::{params, Connection};

use crate::{writer::Outcome, EmbeddedStore};

/// A change to contacts or blocklists, applied by the writer in its batch.
pub(crate) enum ContactOp {
    Request {
        app: String,
        inviter: String,
        invitee: String,
        reason: String,
        now_ms: u64,
    },
    Answer {
        app: String,
        invitee: String,
        inviter: String,
        accept: bool,
        now_ms: u64,
    },
    Add {
        app: String,
        owner: String,
        contact: String,
        now_ms: u64,
    },
    Delete {
        app: String,
        owner: String,
        contact: String,
    },
    Remark {
        app: String,
        owner: String,
        contact: String,
        remark: String,
    },
    Blocks {
        app: String,
        owner: String,
        users: Vec<String>,
        block: bool,
        now_ms: u64,
    },
}

impl ContactOp {
    /// Whether it may add someone to a blocklist.
    pub(crate) fn blocks(&self) -> bool {
        matches!(self, ContactOp::Blocks { block: true, .. })
    }
}

/// Whether any user has blocked anyone.
pub(crate) fn any_blocks(connection: &Connection) -> rusqlite::Result<bool> {
    connection
        .prepare_cached("SELECT 1 FROM blocks LIMIT 1")?
        .exists([])
}

/// Whether `owner` blocked `user` (the append's check, in the writer's transaction).
pub(crate) fn blocked(
    connection: &Connection,
    app: &str,
    owner: &UserName,
    user: &UserName,
) -> rusqlite::Result<bool> {
    connection
        .prepare_cached("SELECT 1 FROM blocks WHERE app_key = ?1 AND owner = ?2 AND blocked = ?3")?
        .exists(params![app, owner.as_str(), user.as_str()])
}

/// Forgets a deleted user's contacts (on both sides), requests and blocklist entries.
pub(crate) fn drop_user(connection: &Connection, app: &str, name: &str) -> rusqlite::Result<()> {
    connection.execute(
        "DELETE FROM contacts WHERE app_key = ?1 AND (owner = ?2 OR contact = ?2)",
        params![app, name],
    )?;
    connection.execute(
        "DELETE FROM contact_requests WHERE app_key = ?1 AND (invitee = ?2 OR inviter = ?2)",
        params![app, name],
    )?;
    connection.execute(
        "DELETE FROM blocks WHERE app_key = ?1 AND (owner = ?2 OR blocked = ?2)",
        params![app, name],
    )?;
    Ok(())
}

fn are_contacts(
    connection: &Connection,
    app: &str,
    owner: &str,
    contact: &str,
) -> rusqlite::Result<bool> {
    connection
        .prepare_cached(
            "SELECT 1 FROM contacts WHERE app_key = ?1 AND owner = ?2 AND contact = ?3",
        )?
        .exists(params![app, owner, contact])
}

/// Applies `op` in the writer's transaction; `Changed(false)` when it found nothing to change
/// (see each `ContactStore` method).
pub(crate) fn apply(connection: &Connection, op: ContactOp) -> rusqlite::Result<Outcome> {
    let changed = match op {
        ContactOp::Request {
            app,
            inviter,
            invitee,
            reason,
            now_ms,
        } => {
            if are_contacts(connection, &app, &inviter, &invitee)? {
                false
            } else {
                connection.execute(
                    "INSERT INTO contact_requests (app_key, invitee, inviter, reason, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (app_key, invitee, inviter)
                     DO UPDATE SET reason = excluded.reason, created_ms = excluded.created_ms",
                    params![app, invitee, inviter, reason, now_ms as i64],
                )?;
                true
            }
        }
        ContactOp::Answer {
            app,
            invitee,
            inviter,
            accept,
            now_ms,
        } => {
            let answered = connection.execute(
                "DELETE FROM contact_requests WHERE app_key = ?1 AND invitee = ?2 AND inviter = ?3",
                params![app, invitee, inviter],
            )? > 0;
            if answered && accept {
                // A request the other way is answered by this too.
                connection.execute(
                    "DELETE FROM contact_requests WHERE app_key = ?1 AND invitee = ?2 AND inviter = ?3",
                    params![app, inviter, invitee],
                )?;
                let mut insert = connection.prepare_cached(
                    "INSERT OR IGNORE INTO contacts (app_key, owner, contact, remark, created_ms)
                     VALUES (?1, ?2, ?3, '', ?4)",
                )?;
                insert.execute(params![app, invitee, inviter, now_ms as i64])?;
                insert.execute(params![app, inviter, invitee, now_ms as i64])?;
            }
            answered
        }
        ContactOp::Add {
            app,
            owner,
            contact,
            now_ms,
        } => {
            let mut drop_request = connection.prepare_cached(
                "DELETE FROM contact_requests WHERE app_key = ?1 AND invitee = ?2 AND inviter = ?3",
            )?;
            drop_request.execute(params![app, owner, contact])?;
            drop_request.execute(params![app, contact, owner])?;
            let mut insert = connection.prepare_cached(
                "INSERT OR IGNORE INTO contacts (app_key, owner, contact, remark, created_ms)
                 VALUES (?1, ?2, ?3, '', ?4)",
            )?;
            let mine = insert.execute(params![app, owner, contact, now_ms as i64])?;
            let theirs = insert.execute(params![app, contact, owner, now_ms as i64])?;
            mine + theirs > 0
        }
        ContactOp::Delete {
            app,
            owner,
            contact,
        } => {
            let mut delete = connection.prepare_cached(
                "DELETE FROM contacts WHERE app_key = ?1 AND owner = ?2 AND contact = ?3",
            )?;
            let mine = delete.execute(params![app, owner, contact])?;
            let theirs = delete.execute(params![app, contact, owner])?;
            mine + theirs > 0
        }
        ContactOp::Remark {
            app,
            owner,
            contact,
            remark,
        } => connection.execute(
            "UPDATE contacts SET remark = ?4 WHERE app_key = ?1 AND owner = ?2 AND contact = ?3",
            params![app, owner, contact, remark],
        )? > 0,
        ContactOp::Blocks {
            app,
            owner,
            users,
            block,
            now_ms,
        } => {
            let mut changed = 0;
            if block {
                let mut insert = connection.prepare_cached(
                    "INSERT OR IGNORE INTO blocks (app_key, owner, blocked, created_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for user in &users {
                    changed += insert.execute(params![app, owner, user, now_ms as i64])?;
                }
            } else {
                let mut delete = connection.prepare_cached(
                    "DELETE FROM blocks WHERE app_key = ?1 AND owner = ?2 AND blocked = ?3",
                )?;
                for user in &users {
                    changed += delete.execute(params![app, owner, user])?;
                }
            }
            changed > 0
        }
    };
    Ok(Outcome::Changed(changed))
}

impl EmbeddedStore {
    pub(crate) async fn contact_write(&self, op: ContactOp) -> Result<bool, StoreError> {
        self.write(
            crate::writer::WriteOp::Contact(op),
            |outcome| match outcome {
                Outcome::Changed(changed) => Some(changed),
                _ => None,
            },
        )
        .await
    }

    pub(crate) async fn read_contacts(
        &self,
        app: String,
        owner: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Contact>, StoreError> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT contact, remark FROM contacts
                 WHERE app_key = ?1 AND owner = ?2 AND contact > ?3
                 ORDER BY contact LIMIT ?4",
            )?;
            let rows = statement.query_map(
                params![app, owner, after.unwrap_or_default(), limit],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )?;
            let mut contacts = Vec::new();
            for row in rows {
                let (name, remark) = row?;
                if let Some(name) = UserName::parse(&name) {
                    contacts.push(Contact { name, remark });
                }
            }
            Ok(contacts)
        })
        .await
    }

    pub(crate) async fn read_blocked(
        &self,
        app: String,
        owner: String,
        limit: u32,
    ) -> Result<Vec<UserName>, StoreError> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT blocked FROM blocks WHERE app_key = ?1 AND owner = ?2
                 ORDER BY blocked LIMIT ?3",
            )?;
            let rows =
                statement.query_map(params![app, owner, limit], |row| row.get::<_, String>(0))?;
            let mut blocked = Vec::new();
            for row in rows {
                if let Some(name) = UserName::parse(&row?) {
                    blocked.push(name);
                }
            }
            Ok(blocked)
        })
        .await
    }

    pub(crate) async fn read_is_blocked(
        &self,
        app: String,
        owner: String,
        user: String,
    ) -> Result<bool, StoreError> {
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT 1 FROM blocks WHERE app_key = ?1 AND owner = ?2 AND blocked = ?3",
                )?
                .exists(params![app, owner, user])
        })
        .await
    }
}
