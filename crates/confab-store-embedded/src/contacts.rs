//! Contacts, contact requests and blocklists (`ContactStore`): the writes the writer applies
//! and the reads a read connection answers. Contacts are stored once per side, so that each
//! side's list (and remark) is a range of its own.

use confab_core::{
    ids::UserName,
    store::{Contact, ContactChange, StoreError},
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
        max_contacts: u32,
        now_ms: u64,
    },
    Add {
        app: String,
        owner: String,
        contact: String,
        max_contacts: u32,
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
        max_blocked: u32,
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

/// How many contacts `owner` has.
fn count_contacts(connection: &Connection, app: &str, owner: &str) -> rusqlite::Result<u64> {
    connection
        .prepare_cached("SELECT COUNT(*) FROM contacts WHERE app_key = ?1 AND owner = ?2")?
        .query_row(params![app, owner], |row| row.get(0))
}

/// The first of `users` (by name) who already has `max` contacts, if any.
fn full_of<'a>(
    connection: &Connection,
    app: &str,
    users: [&'a str; 2],
    max: u32,
) -> rusqlite::Result<Option<&'a str>> {
    for user in users {
        if count_contacts(connection, app, user)? >= u64::from(max) {
            return Ok(Some(user));
        }
    }
    Ok(None)
}

/// Both sides of a contact, and no request left between them.
fn befriend(
    connection: &Connection,
    app: &str,
    [a, b]: [&str; 2],
    now_ms: u64,
) -> rusqlite::Result<bool> {
    let mut drop_request = connection.prepare_cached(
        "DELETE FROM contact_requests WHERE app_key = ?1 AND invitee = ?2 AND inviter = ?3",
    )?;
    drop_request.execute(params![app, a, b])?;
    drop_request.execute(params![app, b, a])?;
    let mut insert = connection.prepare_cached(
        "INSERT OR IGNORE INTO contacts (app_key, owner, contact, remark, created_ms)
         VALUES (?1, ?2, ?3, '', ?4)",
    )?;
    let mine = insert.execute(params![app, a, b, now_ms as i64])?;
    let theirs = insert.execute(params![app, b, a, now_ms as i64])?;
    Ok(mine + theirs > 0)
}

fn change(done: bool) -> ContactChange {
    if done {
        ContactChange::Done
    } else {
        ContactChange::Unchanged
    }
}

fn full(user: &str) -> ContactChange {
    // Names come from `UserName`s, so they parse; a store that holds another is corrupt.
    UserName::parse(user).map_or(ContactChange::Unchanged, ContactChange::Full)
}

/// Whether `contact` is among `owner`'s contacts (also the contacts-only check of an append).
pub(crate) fn are_contacts(
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

/// Applies `op` in the writer's transaction (see each `ContactStore` method); a limit is
/// checked in the same transaction as the change.
pub(crate) fn apply(connection: &Connection, op: ContactOp) -> rusqlite::Result<Outcome> {
    let outcome = match op {
        ContactOp::Request {
            app,
            inviter,
            invitee,
            reason,
            now_ms,
        } => {
            if are_contacts(connection, &app, &inviter, &invitee)? {
                ContactChange::Unchanged
            } else {
                connection.execute(
                    "INSERT INTO contact_requests (app_key, invitee, inviter, reason, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (app_key, invitee, inviter)
                     DO UPDATE SET reason = excluded.reason, created_ms = excluded.created_ms",
                    params![app, invitee, inviter, reason, now_ms as i64],
                )?;
                ContactChange::Done
            }
        }
        ContactOp::Answer {
            app,
            invitee,
            inviter,
            accept,
            max_contacts,
            now_ms,
        } => {
            let asked = connection
                .prepare_cached(
                    "SELECT 1 FROM contact_requests
                     WHERE app_key = ?1 AND invitee = ?2 AND inviter = ?3",
                )?
                .exists(params![app, invitee, inviter])?;
            if !asked {
                ContactChange::Unchanged
            } else if !accept {
                connection.execute(
                    "DELETE FROM contact_requests WHERE app_key = ?1 AND invitee = ?2 AND inviter = ?3",
                    params![app, invitee, inviter],
                )?;
                ContactChange::Done
            } else if let Some(user) = full_of(connection, &app, [&invitee, &inviter], max_contacts)? {
                full(user)
            } else {
                befriend(connection, &app, [&invitee, &inviter], now_ms)?;
                ContactChange::Done
            }
        }
        ContactOp::Add {
            app,
            owner,
            contact,
            max_contacts,
            now_ms,
        } => {
            if are_contacts(connection, &app, &owner, &contact)? {
                ContactChange::Unchanged
            } else if let Some(user) = full_of(connection, &app, [&owner, &contact], max_contacts)? {
                full(user)
            } else {
                change(befriend(connection, &app, [&owner, &contact], now_ms)?)
            }
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
            change(mine + theirs > 0)
        }
        ContactOp::Remark {
            app,
            owner,
            contact,
            remark,
        } => change(
            connection.execute(
                "UPDATE contacts SET remark = ?4 WHERE app_key = ?1 AND owner = ?2 AND contact = ?3",
                params![app, owner, contact, remark],
            )? > 0,
        ),
        ContactOp::Blocks {
            app,
            owner,
            users,
            block,
            max_blocked,
            now_ms,
        } => {
            let mut changed = 0;
            if block {
                let count: u64 = connection
                    .prepare_cached("SELECT COUNT(*) FROM blocks WHERE app_key = ?1 AND owner = ?2")?
                    .query_row(params![app, owner], |row| row.get(0))?;
                let mut known = connection.prepare_cached(
                    "SELECT 1 FROM blocks WHERE app_key = ?1 AND owner = ?2 AND blocked = ?3",
                )?;
                let mut asked = users.clone();
                asked.sort();
                asked.dedup();
                let mut new = Vec::with_capacity(asked.len());
                for user in asked {
                    if !known.exists(params![app, owner, user])? {
                        new.push(user);
                    }
                }
                if count + new.len() as u64 > u64::from(max_blocked) {
                    return Ok(Outcome::Contacts(full(&owner)));
                }
                let mut insert = connection.prepare_cached(
                    "INSERT OR IGNORE INTO blocks (app_key, owner, blocked, created_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for user in &new {
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
            change(changed > 0)
        }
    };
    Ok(Outcome::Contacts(outcome))
}

impl EmbeddedStore {
    pub(crate) async fn contact_write(&self, op: ContactOp) -> Result<ContactChange, StoreError> {
        self.write(
            crate::writer::WriteOp::Contact(op),
            |outcome| match outcome {
                Outcome::Contacts(change) => Some(change),
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
