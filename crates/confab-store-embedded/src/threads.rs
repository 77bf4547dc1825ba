//! Threads (`ThreadStore`): `threads` (group, parent message, name, owner, the member and
//! message counts and the last message) and `thread_members`. Changes run in the writer as
//! jobs of their own, so each check (one thread per parent message, membership) and its write
//! are one step; reads run on a reader. A thread's messages are entries of its group's log:
//! nothing here follows them beyond what `record_thread_message` is told.

use std::any::Any;

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, GroupId, MessageId, UserName},
    store::{StoreError, Thread, ThreadOutcome, ThreadStore},
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{
    writer::{Outcome, WriteOp},
    EmbeddedStore,
};

/// A change of threads, run by the writer in its transaction. Its answer is typed by the
/// caller (`EmbeddedStore::thread_write`), which alone builds the job and reads its answer.
pub(crate) type ThreadJob = Box<dyn FnOnce(&Connection) -> rusqlite::Result<ThreadReply> + Send>;

/// What a thread job answers.
pub(crate) type ThreadReply = Box<dyn Any + Send>;

const THREAD_COLUMNS: &str = "id, group_id, parent_message, name, owner, created_ms, \
    member_count, message_count, last_message";

/// Digits of the longest thread id: ids padded to it order as numbers.
const ID_DIGITS: usize = 20;

#[async_trait]
impl ThreadStore for EmbeddedStore {
    async fn create_thread(
        &self,
        app: &AppKey,
        thread: &Thread,
    ) -> Result<ThreadOutcome<()>, StoreError> {
        let (app, thread) = (app.to_string(), thread.clone());
        self.thread_write(move |connection| create(connection, &app, &thread))
            .await
    }

    async fn thread(&self, app: &AppKey, id: &GroupId) -> Result<Option<Thread>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| load_thread(connection, &app, &id))
            .await
    }

    async fn thread_of_message(
        &self,
        app: &AppKey,
        message: MessageId,
    ) -> Result<Option<Thread>, StoreError> {
        let app = app.to_string();
        self.read(move |connection| thread_of(connection, &app, message))
            .await
    }

    async fn threads(&self, app: &AppKey, ids: &[GroupId]) -> Result<Vec<Thread>, StoreError> {
        let (app, ids) = (app.to_string(), ids.to_vec());
        self.read(move |connection| {
            let mut found = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(thread) = load_thread(connection, &app, id.as_str())? {
                    found.push(thread);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn rename_thread(
        &self,
        app: &AppKey,
        id: &GroupId,
        name: &str,
    ) -> Result<ThreadOutcome<Thread>, StoreError> {
        let (app, id, name) = (app.to_string(), id.to_string(), name.to_owned());
        self.thread_write(move |connection| {
            let renamed = connection
                .prepare_cached("UPDATE threads SET name = ?3 WHERE app_key = ?1 AND id = ?2")?
                .execute(params![app, id, name])?;
            reloaded(connection, &app, &id, renamed)
        })
        .await
    }

    async fn record_thread_message(
        &self,
        app: &AppKey,
        id: &GroupId,
        message: MessageId,
    ) -> Result<ThreadOutcome<Thread>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.thread_write(move |connection| {
            let recorded = connection
                .prepare_cached(
                    "UPDATE threads SET message_count = message_count + 1, last_message = ?3
                     WHERE app_key = ?1 AND id = ?2",
                )?
                .execute(params![app, id, message.0 as i64])?;
            reloaded(connection, &app, &id, recorded)
        })
        .await
    }

    async fn delete_thread(
        &self,
        app: &AppKey,
        id: &GroupId,
    ) -> Result<Option<Vec<UserName>>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.thread_write(move |connection| {
            if !thread_exists(connection, &app, &id)? {
                return Ok(None);
            }
            let members = members_in_order(connection, &app, &id, (0, u32::MAX))?;
            delete(connection, &app, &id)?;
            Ok(Some(members))
        })
        .await
    }

    async fn delete_group_threads(&self, app: &AppKey, group: &GroupId) -> Result<(), StoreError> {
        let (app, group) = (app.to_string(), group.to_string());
        self.thread_write(move |connection| {
            let ids: Vec<String> = connection
                .prepare_cached(
                    "SELECT id FROM threads INDEXED BY threads_by_group
                     WHERE app_key = ?1 AND group_id = ?2",
                )?
                .query_map(params![app, group], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in ids {
                delete(connection, &app, &id)?;
            }
            Ok(())
        })
        .await
    }

    async fn add_thread_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        now_ms: u64,
    ) -> Result<ThreadOutcome<bool>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.to_string());
        self.thread_write(move |connection| {
            if !thread_exists(connection, &app, &id)? {
                return Ok(ThreadOutcome::NoThread);
            }
            let added = connection
                .prepare_cached(
                    "INSERT OR IGNORE INTO thread_members (app_key, thread_id, member, joined_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![app, id, user, now_ms as i64])?;
            add_to_count(connection, &app, &id, added as i64)?;
            Ok(ThreadOutcome::Done(added > 0))
        })
        .await
    }

    async fn remove_thread_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<ThreadOutcome<bool>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.to_string());
        self.thread_write(move |connection| {
            if !thread_exists(connection, &app, &id)? {
                return Ok(ThreadOutcome::NoThread);
            }
            let removed = leave(connection, &app, &id, &user)?;
            Ok(ThreadOutcome::Done(removed))
        })
        .await
    }

    async fn is_thread_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<bool, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.to_string());
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT 1 FROM thread_members
                     WHERE app_key = ?1 AND thread_id = ?2 AND member = ?3",
                )?
                .exists(params![app, id, user])
        })
        .await
    }

    async fn thread_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<UserName>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| members_in_order(connection, &app, &id, (offset, limit)))
            .await
    }

    async fn joined_threads(
        &self,
        app: &AppKey,
        user: &UserName,
        group: Option<&GroupId>,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Thread>, StoreError> {
        let (app, user) = (app.to_string(), user.to_string());
        let group = group.map(GroupId::to_string);
        self.read(move |connection| {
            let columns = THREAD_COLUMNS
                .split(", ")
                .map(|column| ["t.", column.trim()].concat())
                .collect::<Vec<_>>()
                .join(", ");
            connection
                .prepare_cached(&format!(
                    "SELECT {columns} FROM thread_members m INDEXED BY thread_members_by_member
                     JOIN threads t ON t.app_key = m.app_key AND t.id = m.thread_id
                     WHERE m.app_key = ?1 AND m.member = ?2 AND (?3 IS NULL OR t.group_id = ?3)
                     ORDER BY t.id_order DESC, t.id DESC LIMIT ?4 OFFSET ?5"
                ))?
                .query_map(
                    params![app, user, group, limit, sql_offset(offset)],
                    thread_from_row,
                )?
                .collect()
        })
        .await
    }

    async fn group_threads(
        &self,
        app: &AppKey,
        group: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Thread>, StoreError> {
        let (app, group) = (app.to_string(), group.to_string());
        self.read(move |connection| {
            connection
                .prepare_cached(&format!(
                    "SELECT {THREAD_COLUMNS} FROM threads INDEXED BY threads_by_group
                     WHERE app_key = ?1 AND group_id = ?2
                     ORDER BY id_order DESC, id DESC LIMIT ?3 OFFSET ?4"
                ))?
                .query_map(
                    params![app, group, limit, sql_offset(offset)],
                    thread_from_row,
                )?
                .collect()
        })
        .await
    }
}

/// A user's deletion: they leave every thread they are in (one they own too: `threads.owner`
/// stays, as after a leave).
pub(crate) fn drop_user(connection: &Connection, app: &str, user: &str) -> rusqlite::Result<()> {
    let threads: Vec<String> = connection
        .prepare_cached(
            "SELECT thread_id FROM thread_members INDEXED BY thread_members_by_member
             WHERE app_key = ?1 AND member = ?2",
        )?
        .query_map(params![app, user], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for thread in threads {
        leave(connection, app, &thread, user)?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// Runs `job` in the writer and answers what it returned, after the commit.
    async fn thread_write<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let job: ThreadJob = Box::new(move |connection| {
            job(connection).map(|answer| Box::new(answer) as ThreadReply)
        });
        let reply = self
            .write(WriteOp::Thread(job), |outcome| match outcome {
                Outcome::Thread(reply) => Some(reply),
                _ => None,
            })
            .await?;
        reply
            .downcast::<T>()
            .map(|answer| *answer)
            .map_err(|_| StoreError::Backend("unexpected thread reply".into()))
    }
}

/// `THREAD_COLUMNS` of a row.
fn thread_from_row(row: &Row<'_>) -> rusqlite::Result<Thread> {
    let text = |index: usize| row.get::<_, String>(index);
    Ok(Thread {
        id: GroupId::parse(&text(0)?).ok_or_else(|| invalid(0, "a thread id"))?,
        group: GroupId::parse(&text(1)?).ok_or_else(|| invalid(1, "a group id"))?,
        parent_message: MessageId(row.get::<_, i64>(2)? as u64),
        name: text(3)?,
        owner: UserName::parse(&text(4)?).ok_or_else(|| invalid(4, "a user name"))?,
        created_ms: row.get::<_, i64>(5)? as u64,
        member_count: row.get(6)?,
        message_count: row.get(7)?,
        last_message: row.get::<_, Option<i64>>(8)?.map(|id| MessageId(id as u64)),
    })
}

fn invalid(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("not {what}").into(),
    )
}

/// SQLite takes a signed offset: one past `i64::MAX` skips everything all the same.
fn sql_offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

fn load_thread(connection: &Connection, app: &str, id: &str) -> rusqlite::Result<Option<Thread>> {
    connection
        .prepare_cached(&format!(
            "SELECT {THREAD_COLUMNS} FROM threads WHERE app_key = ?1 AND id = ?2"
        ))?
        .query_row(params![app, id], thread_from_row)
        .optional()
}

fn thread_of(
    connection: &Connection,
    app: &str,
    message: MessageId,
) -> rusqlite::Result<Option<Thread>> {
    connection
        .prepare_cached(&format!(
            "SELECT {THREAD_COLUMNS} FROM threads INDEXED BY threads_by_parent_message
             WHERE app_key = ?1 AND parent_message = ?2"
        ))?
        .query_row(params![app, message.0 as i64], thread_from_row)
        .optional()
}

fn thread_exists(connection: &Connection, app: &str, id: &str) -> rusqlite::Result<bool> {
    connection
        .prepare_cached("SELECT 1 FROM threads WHERE app_key = ?1 AND id = ?2")?
        .exists(params![app, id])
}

/// The thread after an update that changed `changed` rows.
fn reloaded(
    connection: &Connection,
    app: &str,
    id: &str,
    changed: usize,
) -> rusqlite::Result<ThreadOutcome<Thread>> {
    if changed == 0 {
        return Ok(ThreadOutcome::NoThread);
    }
    Ok(match load_thread(connection, app, id)? {
        Some(thread) => ThreadOutcome::Done(thread),
        None => ThreadOutcome::NoThread,
    })
}

fn create(
    connection: &Connection,
    app: &str,
    thread: &Thread,
) -> rusqlite::Result<ThreadOutcome<()>> {
    if let Some(existing) = thread_of(connection, app, thread.parent_message)? {
        return Ok(ThreadOutcome::Taken(existing.id));
    }
    let id = thread.id.as_str();
    connection
        .prepare_cached(
            "INSERT INTO threads (app_key, id, id_order, group_id, parent_message, name, owner,
                                  created_ms, member_count, message_count, last_message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, 0, NULL)",
        )?
        .execute(params![
            app,
            id,
            format!("{id:0>ID_DIGITS$}"),
            thread.group.as_str(),
            thread.parent_message.0 as i64,
            thread.name,
            thread.owner.as_str(),
            thread.created_ms as i64,
        ])?;
    connection
        .prepare_cached(
            "INSERT INTO thread_members (app_key, thread_id, member, joined_ms)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            app,
            id,
            thread.owner.as_str(),
            thread.created_ms as i64
        ])?;
    Ok(ThreadOutcome::Done(()))
}

/// Members by joining time, then name.
fn members_in_order(
    connection: &Connection,
    app: &str,
    id: &str,
    (offset, limit): (u64, u32),
) -> rusqlite::Result<Vec<UserName>> {
    let names = connection
        .prepare_cached(
            "SELECT member FROM thread_members INDEXED BY thread_members_in_order
             WHERE app_key = ?1 AND thread_id = ?2
             ORDER BY joined_ms, member LIMIT ?3 OFFSET ?4",
        )?
        .query_map(params![app, id, limit, sql_offset(offset)], |row| {
            row.get::<_, String>(0)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names
        .iter()
        .filter_map(|name| UserName::parse(name))
        .collect())
}

/// Members joined or left: the count follows (no recount, which reads every member).
fn add_to_count(connection: &Connection, app: &str, id: &str, delta: i64) -> rusqlite::Result<()> {
    if delta != 0 {
        connection
            .prepare_cached(
                "UPDATE threads SET member_count = member_count + ?3
                 WHERE app_key = ?1 AND id = ?2",
            )?
            .execute(params![app, id, delta])?;
    }
    Ok(())
}

/// `user` leaves thread `id`, whose count follows; `false` when they were not a member.
fn leave(connection: &Connection, app: &str, id: &str, user: &str) -> rusqlite::Result<bool> {
    let removed = connection
        .prepare_cached(
            "DELETE FROM thread_members WHERE app_key = ?1 AND thread_id = ?2 AND member = ?3",
        )?
        .execute(params![app, id, user])?;
    add_to_count(connection, app, id, -(removed as i64))?;
    Ok(removed > 0)
}

fn delete(connection: &Connection, app: &str, id: &str) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM thread_members WHERE app_key = ?1 AND thread_id = ?2")?
        .execute(params![app, id])?;
    connection
        .prepare_cached("DELETE FROM threads WHERE app_key = ?1 AND id = ?2")?
        .execute(params![app, id])?;
    Ok(())
}
