//! Logs, cursors and devices. A log is the `messages` rows with its key in `messages.log`
//! (indexed by `(app_key, log, id)`), so an append writes the message once whatever the number
//! of readers; `messages.audience` names the one member who reads it, or is NULL for every
//! member. Each member's view of a log is their `conversations` row: `last_id`, the newest
//! entry they read, and `cleared_up_to`, where a deletion of the conversation moved all their
//! devices. Each device reads from its row in `cursors`; `devices` says when it was last seen.

use bytes::Bytes;
use confab_core::{
    ids::{LogId, MessageId, UserName},
    store::{Audience, Device, LogCount, Pulled, QueuedMessage, Reclaimed},
};
use rusqlite::{params, Connection, OptionalExtension};

/// The `messages.audience` of an entry, and whether it is in its log at all.
pub(crate) fn audience_column(audience: &Audience) -> Option<Option<&str>> {
    match audience {
        Audience::Members => Some(None),
        Audience::Member(user) => Some(Some(user.as_str())),
        Audience::Nobody => None,
    }
}

/// After an append of entry `id`: the views of the members who read it end there now.
pub(crate) fn extend_views(
    connection: &Connection,
    app: &str,
    log: &LogId,
    log_key: &str,
    audience: &Audience,
    id: MessageId,
) -> rusqlite::Result<()> {
    let mut upsert = connection.prepare_cached(
        "INSERT INTO conversations (app_key, owner, conversation, log, last_id)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (app_key, owner, conversation)
         DO UPDATE SET last_id = excluded.last_id, log = excluded.log",
    )?;
    for member in log.members() {
        let reads = match audience {
            Audience::Members => true,
            Audience::Member(only) => only == member,
            Audience::Nobody => false,
        };
        if let (true, Some(view)) = (reads, log.view_of(member)) {
            upsert.execute(params![
                app,
                member.as_str(),
                view.as_str(),
                log_key,
                id.0 as i64
            ])?;
        }
    }
    Ok(())
}

/// Records a login of `device`. The first one copies the user's other devices' progress (per
/// log, the furthest), so that it is delivered only what none of them has read.
pub(crate) fn device_seen(
    connection: &Connection,
    app: &str,
    device: &Device,
    now_ms: u64,
) -> rusqlite::Result<()> {
    let (owner, resource) = (device.user.as_str(), device.resource.as_str());
    let known = connection
        .prepare_cached(
            "SELECT 1 FROM devices WHERE app_key = ?1 AND owner = ?2 AND resource = ?3",
        )?
        .exists(params![app, owner, resource])?;
    if known {
        connection
            .prepare_cached(
                "UPDATE devices SET last_seen_ms = ?4
                 WHERE app_key = ?1 AND owner = ?2 AND resource = ?3",
            )?
            .execute(params![app, owner, resource, now_ms as i64])?;
        return Ok(());
    }
    connection
        .prepare_cached(
            "INSERT INTO devices (app_key, owner, resource, first_seen_ms, last_seen_ms)
             VALUES (?1, ?2, ?3, ?4, ?4)",
        )?
        .execute(params![app, owner, resource, now_ms as i64])?;
    // Cursors left by an earlier device of this resource that was reclaimed go first.
    connection
        .prepare_cached("DELETE FROM cursors WHERE app_key = ?1 AND owner = ?2 AND resource = ?3")?
        .execute(params![app, owner, resource])?;
    connection
        .prepare_cached(
            "INSERT INTO cursors (app_key, owner, resource, log, up_to)
             SELECT app_key, owner, ?3, log, MAX(up_to) FROM cursors
             WHERE app_key = ?1 AND owner = ?2 AND resource <> ?3 GROUP BY log",
        )?
        .execute(params![app, owner, resource])?;
    Ok(())
}

/// Where `device` reads the log viewed as `conversation` from, and the view's newest entry.
fn position(
    connection: &Connection,
    app: &str,
    device: &Device,
    log_key: &str,
    conversation: &str,
) -> rusqlite::Result<(i64, i64)> {
    let (owner, resource) = (device.user.as_str(), device.resource.as_str());
    let view = connection
        .prepare_cached(
            "SELECT last_id, cleared_up_to FROM conversations
             WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
        )?
        .query_row(params![app, owner, conversation], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })
        .optional()?
        .unwrap_or((0, 0));
    let cursor = connection
        .prepare_cached(
            "SELECT up_to FROM cursors
             WHERE app_key = ?1 AND owner = ?2 AND resource = ?3 AND log = ?4",
        )?
        .query_row(params![app, owner, resource, log_key], |row| {
            row.get::<_, i64>(0)
        })
        .optional()?
        .unwrap_or(0);
    Ok((cursor.max(view.1), view.0))
}

/// A pull: `key` moves the device's cursor (never back), then a page after it. Runs in the
/// writer's transaction when there is a key, on a reader otherwise.
pub(crate) fn pull(
    connection: &Connection,
    app: &str,
    device: &Device,
    log: &LogId,
    key: Option<MessageId>,
    limit: u32,
) -> rusqlite::Result<Pulled> {
    let Some(conversation) = log.view_of(&device.user) else {
        return Ok(Pulled::Page(Vec::new()));
    };
    let log_key = log.key();
    let (mut after, last) = position(connection, app, device, &log_key, conversation.as_str())?;
    if let Some(key) = key {
        let key = key.0 as i64;
        if key > last {
            return Ok(Pulled::KeyBeyondEnd);
        }
        if key > after {
            connection
                .prepare_cached(
                    "INSERT INTO cursors (app_key, owner, resource, log, up_to)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (app_key, owner, resource, log)
                     DO UPDATE SET up_to = MAX(up_to, excluded.up_to)",
                )?
                .execute(params![
                    app,
                    device.user.as_str(),
                    device.resource.as_str(),
                    log_key,
                    key
                ])?;
            after = key;
        }
    }
    if after >= last {
        return Ok(Pulled::Page(Vec::new()));
    }
    page(connection, app, device, &log_key, after, limit).map(Pulled::Page)
}

/// Up to `limit` entries of the log after `after` that `device` reads, oldest first.
fn page(
    connection: &Connection,
    app: &str,
    device: &Device,
    log_key: &str,
    after: i64,
    limit: u32,
) -> rusqlite::Result<Vec<QueuedMessage>> {
    let mut statement = connection.prepare_cached(
        "SELECT id, meta FROM messages
         WHERE app_key = ?1 AND log = ?2 AND id > ?3
               AND (audience IS NULL OR audience = ?4)
               AND NOT (sender = ?4 AND sender_resource = ?5)
         ORDER BY id LIMIT ?6",
    )?;
    let rows = statement.query_map(
        params![
            app,
            log_key,
            after,
            device.user.as_str(),
            device.resource.as_str(),
            limit
        ],
        |row| {
            Ok(QueuedMessage {
                id: MessageId(row.get::<_, i64>(0)? as u64),
                meta: Bytes::from(row.get::<_, Vec<u8>>(1)?),
            })
        },
    )?;
    rows.collect()
}

/// The logs in which `device` has unread entries, the one with the oldest unread entry first.
pub(crate) fn unread_counts(
    connection: &Connection,
    app: &str,
    device: &Device,
) -> rusqlite::Result<Vec<LogCount>> {
    let (owner, resource) = (device.user.as_str(), device.resource.as_str());
    let behind: Vec<(String, i64)> = connection
        .prepare_cached(
            "SELECT c.log, MAX(COALESCE(k.up_to, 0), c.cleared_up_to) FROM conversations c
             LEFT JOIN cursors k ON k.app_key = c.app_key AND k.owner = c.owner
                                AND k.resource = ?3 AND k.log = c.log
             WHERE c.app_key = ?1 AND c.owner = ?2 AND c.log IS NOT NULL
                   AND c.last_id > MAX(COALESCE(k.up_to, 0), c.cleared_up_to)",
        )?
        .query_map(params![app, owner, resource], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut count = connection.prepare_cached(
        "SELECT COUNT(*), MIN(id) FROM messages
         WHERE app_key = ?1 AND log = ?2 AND id > ?3
               AND (audience IS NULL OR audience = ?4)
               AND NOT (sender = ?4 AND sender_resource = ?5)",
    )?;
    let mut counts = Vec::with_capacity(behind.len());
    for (log_key, after) in behind {
        let Some(log) = LogId::from_key(&log_key) else {
            continue;
        };
        let (unread, oldest): (u32, Option<i64>) = count
            .query_row(params![app, log_key, after, owner, resource], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
        if let Some(oldest) = oldest {
            counts.push((oldest, LogCount { log, count: unread }));
        }
    }
    counts.sort_by_key(|(oldest, _)| *oldest);
    Ok(counts.into_iter().map(|(_, count)| count).collect())
}

/// A deletion of the conversation `owner` views as `conversation`: all their devices have read
/// it.
pub(crate) fn clear(
    connection: &Connection,
    app: &str,
    owner: &str,
    conversation: &str,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "UPDATE conversations SET cleared_up_to = last_id
             WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
        )?
        .execute(params![app, owner, conversation])?;
    Ok(())
}

/// A user's deletion: their devices and cursors go, and their views are cleared, so that the
/// next user of the name starts with nothing unread.
pub(crate) fn drop_user(
    connection: &Connection,
    app: &str,
    user: &UserName,
) -> rusqlite::Result<()> {
    let name = user.as_str();
    connection.execute(
        "DELETE FROM cursors WHERE app_key = ?1 AND owner = ?2",
        params![app, name],
    )?;
    connection.execute(
        "DELETE FROM devices WHERE app_key = ?1 AND owner = ?2",
        params![app, name],
    )?;
    connection.execute(
        "UPDATE conversations SET cleared_up_to = last_id WHERE app_key = ?1 AND owner = ?2",
        params![app, name],
    )?;
    Ok(())
}

/// A recall: the entry leaves its log, so a device that has not read it never does.
pub(crate) fn remove(connection: &Connection, app: &str, id: MessageId) -> rusqlite::Result<()> {
    connection
        .prepare_cached("UPDATE messages SET log = NULL WHERE app_key = ?1 AND id = ?2")?
        .execute(params![app, id.0 as i64])?;
    Ok(())
}

/// Drops up to `limit` devices unseen since `unseen_since_ms` with their cursors, and takes the
/// messages older than that out of their logs, scanning up to `limit` ids above
/// `scanned_up_to` (each message is visited once per process). Returns what it removed, with
/// `done` when nothing is left to scan, and how far the scan got.
pub(crate) fn reclaim(
    connection: &Connection,
    unseen_since_ms: u64,
    limit: u32,
    scanned_up_to: i64,
) -> rusqlite::Result<(Reclaimed, i64)> {
    let stale: Vec<(String, String, String)> = connection
        .prepare_cached(
            "SELECT app_key, owner, resource FROM devices WHERE last_seen_ms < ?1 LIMIT ?2",
        )?
        .query_map(params![unseen_since_ms as i64, limit], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (app, owner, resource) in &stale {
        connection.execute(
            "DELETE FROM cursors WHERE app_key = ?1 AND owner = ?2 AND resource = ?3",
            params![app, owner, resource],
        )?;
        connection.execute(
            "DELETE FROM devices WHERE app_key = ?1 AND owner = ?2 AND resource = ?3",
            params![app, owner, resource],
        )?;
    }
    let devices = stale.len() as u64;
    let cutoff = crate::id_floor(unseen_since_ms);
    let (scanned, last): (u32, Option<i64>) = connection.query_row(
        "SELECT COUNT(*), MAX(id) FROM (SELECT id FROM messages WHERE id > ?1 AND id < ?2
                                        ORDER BY id LIMIT ?3)",
        params![scanned_up_to, cutoff, limit],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let done = devices < u64::from(limit) && scanned < limit;
    let Some(last) = last else {
        let reclaimed = Reclaimed {
            devices,
            entries: 0,
            done,
        };
        return Ok((reclaimed, scanned_up_to));
    };
    let entries = connection.execute(
        "UPDATE messages SET log = NULL WHERE id > ?1 AND id <= ?2 AND log IS NOT NULL",
        params![scanned_up_to, last],
    )?;
    let reclaimed = Reclaimed {
        devices,
        entries: entries as u64,
        done,
    };
    Ok((reclaimed, last))
}
