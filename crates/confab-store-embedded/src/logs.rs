//! Logs, cursors and devices. An append writes the message once into `messages` (with the key
//! of its log in `messages.log`) and an entry into `log_entries`, whatever the number of
//! readers; the entry's `audience` names the one member who reads it, or is NULL for every
//! member. Entries leave `log_entries` as soon as no device can still be delivered them
//! (`prune`), so that table stays as small as what is in flight and what waits for devices
//! that are away. Each member's view of a log is their `conversations` row: `last_id`, the
//! newest entry they read, and `cleared_up_to`, where a deletion of the conversation moved all
//! their devices. Each device reads from its row in `cursors`; `devices` says when it was last
//! seen. A member with no device yet counts as one device with no cursor: their first device
//! gets everything waiting.

use std::collections::HashMap;

use bytes::Bytes;
use confab_core::{
    ids::{LogId, MessageId, QueueName, UserName},
    store::{
        Audience, ConversationFilter, ConversationQuery, ConversationSummary, Device, HistoryEntry,
        LogCount, Pulled, QueuedMessage, Reclaimed,
    },
};
use rusqlite::{params, Connection, OptionalExtension};

/// The `log_entries.audience` of an entry, and whether it is in its log at all: NULL for
/// every member, the one reader's name, or for several `,a,b,` (names hold no comma, so a list
/// never equals a name, and `instr` finds `,name,` only in a list).
pub(crate) fn audience_column(audience: &Audience) -> Option<Option<String>> {
    match audience {
        Audience::Members => Some(None),
        Audience::Member(user) => Some(Some(user.as_str().to_owned())),
        Audience::Listed(users) => {
            let mut list = String::from(",");
            for user in users {
                list.push_str(user.as_str());
                list.push(',');
            }
            Some(Some(list))
        }
        Audience::Nobody => None,
    }
}

/// Message `id` enters its log (`audience_column`: `None`, every member; or the one who reads
/// it).
pub(crate) fn enter(
    connection: &Connection,
    app: &str,
    log_key: &str,
    id: MessageId,
    sender: &str,
    sender_resource: &str,
    audience: Option<&str>,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO log_entries (app_key, log, id, sender, sender_resource, audience)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            app,
            log_key,
            id.0 as i64,
            sender,
            sender_resource,
            audience
        ])?;
    Ok(())
}

/// Drops the entries of `log` that no device can still be delivered: every entry before the
/// first one that some device of some member has not passed and can see (its own sends and
/// entries for another member it cannot). A member without devices reads from the start of
/// their view, so their first device still gets everything waiting. Returns the first id
/// kept (every entry below it left).
/// Safe whenever it runs (it reads only committed positions in the writer's transaction);
/// the writer runs it for the logs whose cursors a batch moved, and reclaim for every log.
pub(crate) fn prune(
    connection: &Connection,
    app: &str,
    log: &LogId,
    log_key: &str,
) -> rusqlite::Result<i64> {
    match log {
        LogId::Pair { .. } => {}
        // A group's members are too many to ask at every cursor move, and a room's log is
        // read by no one: their entries leave at the retention cutoff (`reclaim`) only.
        LogId::Group(_) | LogId::Room(_) => return Ok(0),
    }
    // Each device's position with its member's clear, in one search per member.
    let mut devices = connection.prepare_cached(
        "SELECT d.resource, MAX(COALESCE(k.up_to, 0), COALESCE(c.cleared_up_to, 0))
         FROM devices d
         LEFT JOIN cursors k ON k.app_key = d.app_key AND k.owner = d.owner
                            AND k.resource = d.resource AND k.log = ?3
         LEFT JOIN conversations c ON c.app_key = d.app_key AND c.owner = d.owner
                                  AND c.conversation = ?4
         WHERE d.app_key = ?1 AND d.owner = ?2",
    )?;
    // (member, resource, position) of every device that reads the log.
    let mut readers: Vec<(&UserName, String, i64)> = Vec::new();
    for member in log.members() {
        let Some(view) = log.view_of(member) else {
            continue;
        };
        let before = readers.len();
        for position in devices.query_map(
            params![app, member.as_str(), log_key, view.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )? {
            let (resource, after): (String, i64) = position?;
            readers.push((member, resource, after));
        }
        if readers.len() == before {
            // No device has a resource named "": it sees the member's sends from anywhere.
            let cleared: i64 = connection
                .prepare_cached(
                    "SELECT cleared_up_to FROM conversations
                     WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
                )?
                .query_row(params![app, member.as_str(), view.as_str()], |row| {
                    row.get(0)
                })
                .optional()?
                .unwrap_or(0);
            readers.push((member, String::new(), cleared));
        }
    }
    // Furthest reader first, and each search stops where an earlier one found something: a
    // device's own sends are entries it never reads, so a sender behind a long run of them
    // (an offline peer draining thousands) would otherwise walk the whole run at every prune.
    readers.sort_by_key(|(_, _, after)| std::cmp::Reverse(*after));
    let mut keep_from = i64::MAX;
    for (member, resource, after) in &readers {
        if *after >= keep_from {
            continue;
        }
        if let Some(first) = first_unread(
            connection,
            app,
            log_key,
            (*after, keep_from, 0),
            member.as_str(),
            resource,
        )? {
            keep_from = first;
        }
    }
    connection
        .prepare_cached("DELETE FROM log_entries WHERE app_key = ?1 AND log = ?2 AND id < ?3")?
        .execute(params![app, log_key, keep_from])?;
    Ok(keep_from)
}

/// Changes to `conversations` rows that appends made and the batch has not written yet. Every
/// change is a maximum or a sum, so the appends of one batch to one conversation (an offline
/// peer's backlog: dozens per batch) are one write per row instead of one per message. The
/// writer flushes them before anything that reads or sets those rows, and before it commits.
#[derive(Default)]
pub(crate) struct RowChanges {
    rows: HashMap<(String, String, String), RowChange>,
}

struct RowChange {
    log: Option<String>,
    last_id: i64,
    last_message_id: i64,
    unread: i64,
}

impl RowChanges {
    /// After an append of message `id`: each member's row of the conversation. Their view of
    /// the log ends there if they read it; their list shows it as the last message if it is in
    /// their history, and counts it unread if `unread_from` (the sender; `None` for an import)
    /// is the peer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn extend(
        &mut self,
        app: &str,
        log: &LogId,
        log_key: &str,
        audience: Option<&Audience>,
        unread_from: Option<&UserName>,
        history: &[HistoryEntry],
        id: MessageId,
    ) {
        // A group's members read its entries from its head row (`groups.last_id`); only the
        // one an entry is addressed to has it in their row. A room's log is read by no one
        // and is in no one's list.
        let readers = match (log, audience) {
            (LogId::Group(_), Some(Audience::Member(only))) => vec![only],
            (LogId::Group(_), Some(Audience::Listed(users))) => users.iter().collect(),
            (LogId::Room(_), _) => return,
            _ => log.members(),
        };
        for member in readers {
            let Some(view) = log.view_of(member) else {
                continue;
            };
            let reads = match audience {
                Some(Audience::Members) => true,
                Some(Audience::Member(only)) => only == member,
                Some(Audience::Listed(users)) => users.contains(member),
                Some(Audience::Nobody) | None => false,
            };
            let in_history = history
                .iter()
                .any(|entry| entry.owner == *member && entry.conversation == view);
            if !reads && !in_history {
                continue;
            }
            let change = self
                .rows
                .entry((
                    app.to_owned(),
                    member.as_str().to_owned(),
                    view.as_str().to_owned(),
                ))
                .or_insert(RowChange {
                    log: None,
                    last_id: 0,
                    last_message_id: 0,
                    unread: 0,
                });
            if reads {
                change.log = Some(log_key.to_owned());
                change.last_id = change.last_id.max(id.0 as i64);
            }
            if in_history {
                change.last_message_id = change.last_message_id.max(id.0 as i64);
                change.unread += i64::from(unread_from.is_some_and(|sender| sender != member));
            }
        }
    }

    /// Writes every pending change.
    pub(crate) fn flush(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        // The row exists after a conversation's first message: an update finds it with one
        // search of the primary key, where an upsert takes two.
        let mut update = connection.prepare_cached(
            "UPDATE conversations SET
                 log = COALESCE(?4, log),
                 last_id = MAX(last_id, ?5),
                 last_message_id = MAX(last_message_id, ?6),
                 unread = unread + ?7,
                 version = version + 1
             WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
        )?;
        let mut insert = connection.prepare_cached(
            "INSERT INTO conversations (app_key, owner, conversation, log, last_id,
                                        last_message_id, unread, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
        )?;
        for ((app, owner, conversation), change) in self.rows.drain() {
            let row = params![
                app,
                owner,
                conversation,
                change.log,
                change.last_id,
                change.last_message_id,
                change.unread,
            ];
            if update.execute(row)? == 0 {
                insert.execute(row)?;
            }
        }
        Ok(())
    }

    /// Forgets every pending change (their transaction rolled back).
    pub(crate) fn clear(&mut self) {
        self.rows.clear();
    }
}

/// Records a login of `device`; true for its first. The first starts, in each log its user
/// reads, where the user's other devices are (the furthest of them), so that it is delivered
/// only what none of them has read. A device is past the entries it cannot see (its own
/// sends) up to its first unread one: a new device does not get its user's latest sends from
/// another device as new.
pub(crate) fn device_seen(
    connection: &Connection,
    app: &str,
    device: &Device,
    now_ms: u64,
) -> rusqlite::Result<bool> {
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
        return Ok(false);
    }
    let others: Vec<String> = connection
        .prepare_cached(
            "SELECT resource FROM devices WHERE app_key = ?1 AND owner = ?2 AND resource <> ?3",
        )?
        .query_map(params![app, owner, resource], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
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
    if others.is_empty() {
        // The user's first device: everything waiting is new to it.
        return Ok(true);
    }
    let mut views: Vec<(String, i64, i64)> = connection
        .prepare_cached(
            "SELECT log, last_id, cleared_up_to FROM conversations
             WHERE app_key = ?1 AND owner = ?2 AND log IS NOT NULL AND last_id > cleared_up_to",
        )?
        .query_map(params![app, owner], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (log_key, last, cleared) in group_views(connection, app, owner)? {
        match views.iter_mut().find(|(known, _, _)| *known == log_key) {
            Some(view) => view.1 = view.1.max(last),
            None => views.push((log_key, last, cleared)),
        }
    }
    let mut cursor = connection.prepare_cached(
        "SELECT up_to FROM cursors WHERE app_key = ?1 AND owner = ?2 AND resource = ?3 AND log = ?4",
    )?;
    let mut insert = connection.prepare_cached(
        "INSERT INTO cursors (app_key, owner, resource, log, up_to) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (log_key, last, cleared) in views {
        let joined = join_point(connection, app, &log_key, owner)?;
        let mut start = 0;
        for other in &others {
            let after = cursor
                .query_row(params![app, owner, other, log_key], |row| {
                    row.get::<_, i64>(0)
                })
                .optional()?
                .unwrap_or(0)
                .max(cleared);
            let read_up_to = match first_unread(
                connection,
                app,
                &log_key,
                (after, i64::MAX, joined),
                owner,
                other,
            )? {
                Some(first) => first - 1,
                None => last,
            };
            start = start.max(read_up_to);
        }
        if start > cleared {
            insert.execute(params![app, owner, resource, log_key, start])?;
        }
    }
    Ok(true)
}

/// The first entry of the log between `after` and `before` (both exclusive) that device
/// (`owner`, `resource`) can see: addressed to the owner, or to every member and above
/// `joined` (`join_point`).
fn first_unread(
    connection: &Connection,
    app: &str,
    log_key: &str,
    (after, before, joined): (i64, i64, i64),
    owner: &str,
    resource: &str,
) -> rusqlite::Result<Option<i64>> {
    connection
        .prepare_cached(
            "SELECT id FROM log_entries
             WHERE app_key = ?1 AND log = ?2 AND id > ?3 AND id < ?6
                   AND (audience = ?4 OR instr(audience, ',' || ?4 || ',') > 0
                        OR (audience IS NULL AND id > ?7))
                   AND NOT (sender = ?4 AND sender_resource = ?5)
             ORDER BY id LIMIT 1",
        )?
        .query_row(
            params![app, log_key, after, owner, resource, before, joined],
            |row| row.get(0),
        )
        .optional()
}

/// Above which id `owner` reads the entries of the log addressed to every member: 0 for a
/// pair's log; for a group's, where they joined it, and for one who is not a member, never
/// (`i64::MAX`: only what is addressed to them); for a room's, never (nobody reads it).
fn join_point(
    connection: &Connection,
    app: &str,
    log_key: &str,
    owner: &str,
) -> rusqlite::Result<i64> {
    if log_key.starts_with("r:") {
        return Ok(i64::MAX);
    }
    let Some(group) = log_key.strip_prefix("g:") else {
        return Ok(0);
    };
    Ok(connection
        .prepare_cached(
            "SELECT joined_id FROM group_members
             WHERE app_key = ?1 AND group_id = ?2 AND member = ?3 AND NOT shielded",
        )?
        .query_row(params![app, group, owner], |row| row.get::<_, i64>(0))
        .optional()?
        .unwrap_or(i64::MAX))
}

/// The logs of `owner`'s groups with entries past where they joined: (log key, the log's
/// newest entry, where a deletion cleared their view).
fn group_views(
    connection: &Connection,
    app: &str,
    owner: &str,
) -> rusqlite::Result<Vec<(String, i64, i64)>> {
    connection
        .prepare_cached(
            "SELECT 'g:' || m.group_id, g.last_id, COALESCE(c.cleared_up_to, 0)
             FROM group_members m INDEXED BY group_members_by_member
             JOIN groups g ON g.app_key = m.app_key AND g.id = m.group_id
             LEFT JOIN conversations c ON c.app_key = m.app_key AND c.owner = m.member
                  AND c.conversation = m.group_id || '@conference.easemob.com'
             WHERE m.app_key = ?1 AND m.member = ?2 AND g.last_id > m.joined_id
                   AND NOT m.shielded",
        )?
        .query_map(params![app, owner], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect()
}

/// When `device` was last seen, if it is known.
pub(crate) fn last_seen(
    connection: &Connection,
    app: &str,
    device: &Device,
) -> rusqlite::Result<Option<u64>> {
    connection
        .prepare_cached(
            "SELECT last_seen_ms FROM devices WHERE app_key = ?1 AND owner = ?2 AND resource = ?3",
        )?
        .query_row(
            params![app, device.user.as_str(), device.resource.as_str()],
            |row| row.get::<_, i64>(0),
        )
        .optional()
        .map(|seen| seen.map(|ms| ms as u64))
}

/// Where `device` reads the log viewed as `conversation` from, and the view's newest entry.
fn position(
    connection: &Connection,
    app: &str,
    device: &Device,
    log: &LogId,
    conversation: &str,
) -> rusqlite::Result<(i64, i64)> {
    let log_key = log.key();
    let log_key = log_key.as_str();
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
    let mut last = view.0;
    if let Some(group) = log.group() {
        // A member's view ends where the group's log does.
        let head = connection
            .prepare_cached(
                "SELECT g.last_id FROM groups g JOIN group_members m
                     ON m.app_key = g.app_key AND m.group_id = g.id AND m.member = ?3
                 WHERE g.app_key = ?1 AND g.id = ?2 AND NOT m.shielded",
            )?
            .query_row(params![app, group.as_str(), owner], |row| {
                row.get::<_, i64>(0)
            })
            .optional()?;
        last = last.max(head.unwrap_or(0));
    }
    Ok((cursor.max(view.1), last))
}

/// A pull: `key` moves the device's cursor (never back), then a page after it. Runs in the
/// writer's transaction when there is a key, on a reader otherwise.
/// `known`: what the caller knows without SQLite (`tails.rs`). Also returns where it moved
/// the cursor to, if it did.
pub(crate) fn pull(
    connection: &Connection,
    app: &str,
    device: &Device,
    log: &LogId,
    key: Option<MessageId>,
    limit: u32,
    known: Option<Known<'_>>,
) -> rusqlite::Result<(Pulled, Option<i64>)> {
    let Some(conversation) = log.view_of(&device.user) else {
        return Ok((Pulled::Page(Vec::new()), None));
    };
    let log_key = log.key();
    let (mut after, last) = match &known {
        Some(known) => (known.after, known.last),
        None => position(connection, app, device, log, conversation.as_str())?,
    };
    let mut moved = None;
    if let Some(key) = key {
        let key = key.0 as i64;
        if key > last {
            return Ok((Pulled::KeyBeyondEnd, None));
        }
        if key > after {
            let row = params![
                app,
                device.user.as_str(),
                device.resource.as_str(),
                log_key,
                key
            ];
            // Updated in place once the device has read the log before (one search).
            let updated = connection
                .prepare_cached(
                    "UPDATE cursors SET up_to = MAX(up_to, ?5)
                     WHERE app_key = ?1 AND owner = ?2 AND resource = ?3 AND log = ?4",
                )?
                .execute(row)?;
            if updated == 0 {
                connection
                    .prepare_cached(
                        "INSERT INTO cursors (app_key, owner, resource, log, up_to)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(row)?;
            }
            after = key;
            moved = Some(key);
        }
    }
    if after >= last {
        return Ok((Pulled::Page(Vec::new()), moved));
    }
    let held = known.and_then(|known| (known.entries_after)(after, limit));
    let page = match held {
        Some(page) => page,
        None => {
            let joined = join_point(connection, app, &log_key, device.user.as_str())?;
            page(connection, app, device, &log_key, (after, joined), limit)?
        }
    };
    Ok((Pulled::Page(page), moved))
}

/// What a caller knows of a device's view of a log without SQLite (`tails.rs`).
pub(crate) struct Known<'a> {
    /// The device's position.
    pub(crate) after: i64,
    /// The newest entry of the view.
    pub(crate) last: i64,
    /// Up to a number of entries of the view after a position, when all are held.
    pub(crate) entries_after: &'a dyn Fn(i64, u32) -> Option<Vec<QueuedMessage>>,
}

/// Up to `limit` entries of the log after `after` that `device` reads, oldest first.
fn page(
    connection: &Connection,
    app: &str,
    device: &Device,
    log_key: &str,
    (after, joined): (i64, i64),
    limit: u32,
) -> rusqlite::Result<Vec<QueuedMessage>> {
    let mut statement = connection.prepare_cached(
        "SELECT e.id, m.meta FROM log_entries e JOIN messages m ON m.id = e.id
         WHERE e.app_key = ?1 AND e.log = ?2 AND e.id > ?3
               AND (e.audience = ?4 OR instr(e.audience, ',' || ?4 || ',') > 0
                    OR (e.audience IS NULL AND e.id > ?7))
               AND NOT (e.sender = ?4 AND e.sender_resource = ?5)
         ORDER BY e.id LIMIT ?6",
    )?;
    let rows = statement.query_map(
        params![
            app,
            log_key,
            after,
            device.user.as_str(),
            device.resource.as_str(),
            limit,
            joined
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
    let mut behind: Vec<(String, i64)> = connection
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
    let mut cursor = connection.prepare_cached(
        "SELECT up_to FROM cursors WHERE app_key = ?1 AND owner = ?2 AND resource = ?3 AND log = ?4",
    )?;
    for (log_key, last, cleared) in group_views(connection, app, owner)? {
        if behind.iter().any(|(known, _)| *known == log_key) {
            continue;
        }
        let after = cursor
            .query_row(params![app, owner, resource, log_key], |row| {
                row.get::<_, i64>(0)
            })
            .optional()?
            .unwrap_or(0)
            .max(cleared);
        if last > after {
            behind.push((log_key, after));
        }
    }
    let mut count = connection.prepare_cached(
        "SELECT COUNT(*), MIN(id) FROM log_entries
         WHERE app_key = ?1 AND log = ?2 AND id > ?3
               AND (audience = ?4 OR instr(audience, ',' || ?4 || ',') > 0
                    OR (audience IS NULL AND id > ?6))
               AND NOT (sender = ?4 AND sender_resource = ?5)",
    )?;
    let mut counts = Vec::with_capacity(behind.len());
    for (log_key, after) in behind {
        let Some(log) = LogId::from_key(&log_key) else {
            continue;
        };
        let joined = join_point(connection, app, &log_key, owner)?;
        let (unread, oldest): (u32, Option<i64>) = count.query_row(
            params![app, log_key, after, owner, resource, joined],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
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

/// A recall: the entry leaves its log (`log_key`), so a device that has not read it never
/// does.
pub(crate) fn remove(
    connection: &Connection,
    app: &str,
    log_key: &str,
    id: MessageId,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM log_entries WHERE app_key = ?1 AND log = ?2 AND id = ?3")?
        .execute(params![app, log_key, id.0 as i64])?;
    Ok(())
}

/// Where a reclaim pass has got to in `log_entries`: the last log it went through.
pub(crate) type ReclaimPlace = Option<(String, String)>;

/// Drops up to `limit` devices unseen since `unseen_since_ms` with their cursors, then goes
/// through up to `limit` logs after `place`: their entries older than that leave (history
/// keeps the messages), and what no device can still be delivered is pruned (`prune`).
/// Returns what it removed, with `done` when no device and no log is left for this pass, and
/// where the next call goes on (`None` once done).
pub(crate) fn reclaim(
    connection: &Connection,
    unseen_since_ms: u64,
    limit: u32,
    place: ReclaimPlace,
) -> rusqlite::Result<(Reclaimed, ReclaimPlace)> {
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
    // One search per log, from the last one done: the pass never reads a log's entries twice.
    let mut next_log = connection.prepare_cached(
        "SELECT app_key, log FROM log_entries WHERE (app_key, log) > (?1, ?2)
         ORDER BY app_key, log LIMIT 1",
    )?;
    let mut old = connection
        .prepare_cached("DELETE FROM log_entries WHERE app_key = ?1 AND log = ?2 AND id < ?3")?;
    let (mut app, mut log_key) = place.unwrap_or_default();
    let mut entries = 0;
    let mut logs = 0;
    let mut place = None;
    while logs < limit {
        let Some(next) = next_log
            .query_row(params![app, log_key], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .optional()?
        else {
            place = None;
            break;
        };
        (app, log_key) = next;
        logs += 1;
        entries += old.execute(params![app, log_key, cutoff])? as u64;
        if let Some(log) = LogId::from_key(&log_key) {
            prune(connection, &app, &log, &log_key)?;
        }
        place = Some((app.clone(), log_key.clone()));
    }
    let done = devices < u64::from(limit) && place.is_none();
    if done {
        // Views whose newest entry has left its log have nothing left to read: cleared, so
        // that UNREAD does not look into them again. (Once per pass: it reads every row.)
        connection.execute(
            "UPDATE conversations SET cleared_up_to = last_id
             WHERE last_id > cleared_up_to AND last_id < ?1",
            params![cutoff],
        )?;
    }
    let reclaimed = Reclaimed {
        devices,
        entries,
        done,
    };
    Ok((reclaimed, place))
}

/// One page of `owner`'s conversation list from their rows (`ConversationQuery`).
pub(crate) fn list_page(
    connection: &Connection,
    app: &str,
    owner: &str,
    query: &ConversationQuery,
) -> rusqlite::Result<Vec<ConversationSummary>> {
    let (key, after_name) = match &query.after {
        Some(place) => (
            i64::try_from(place.key).unwrap_or(i64::MAX),
            place.conversation.as_str().to_owned(),
        ),
        None => (i64::MAX, String::new()),
    };
    let (order_key, filter) = match query.filter {
        ConversationFilter::All => ("s.last_message_id", String::new()),
        ConversationFilter::Marked(mark) => (
            "s.last_message_id",
            format!("AND (',' || s.marks || ',') LIKE '%,{mark},%'"),
        ),
        ConversationFilter::Pinned => ("s.pinned_ms", "AND s.pinned_ms IS NOT NULL".to_owned()),
    };
    // The order key descending, then the name ascending; a page starts after the last place.
    let sql = format!(
        "SELECT s.conversation, s.last_message_id, m.meta, s.pinned_ms, s.marks, s.unread
         FROM conversations s JOIN messages m ON m.id = s.last_message_id
         WHERE s.app_key = ?1 AND s.owner = ?2 AND s.last_message_id > s.deleted_up_to {filter}
               AND ({order_key} < ?3 OR ({order_key} = ?3 AND s.conversation > ?4))
         ORDER BY {order_key} DESC, s.conversation ASC LIMIT ?5"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(params![app, owner, key, after_name, query.limit], |row| {
        Ok(ConversationSummary {
            conversation: QueueName::from_stored(row.get(0)?),
            last: QueuedMessage {
                id: MessageId(row.get::<_, i64>(1)? as u64),
                meta: Bytes::from(row.get::<_, Vec<u8>>(2)?),
            },
            pinned_ms: row.get::<_, Option<i64>>(3)?.map(|ms| ms as u64),
            marks: crate::parse_marks(&row.get::<_, String>(4)?),
            unread: row.get(5)?,
        })
    })?;
    let mut page: Vec<ConversationSummary> = rows.collect::<rusqlite::Result<_>>()?;
    let groups = group_list_page(connection, app, owner, query)?;
    if groups.is_empty() {
        return Ok(page);
    }
    // One order for both kinds: the key descending, then the name.
    let mut unread_after = HashMap::new();
    for (summary, after) in groups {
        unread_after.insert(summary.conversation.clone(), after);
        page.push(summary);
    }
    page.sort_by(|a, b| {
        let (a, b) = (a.place(query.filter), b.place(query.filter));
        b.key
            .cmp(&a.key)
            .then_with(|| a.conversation.cmp(&b.conversation))
    });
    page.truncate(query.limit as usize);
    // Counted only for the groups the page shows.
    for summary in &mut page {
        if let (Some(group), Some(after)) = (
            summary.conversation.group_id(),
            unread_after.get(&summary.conversation),
        ) {
            summary.unread =
                crate::groups::unread(connection, app, (group.as_str(), owner), *after)?;
        }
    }
    Ok(page)
}

/// `owner`'s group conversations that `query` shows (before its limit), each with where its
/// unread count starts; their unread counts are left at 0.
fn group_list_page(
    connection: &Connection,
    app: &str,
    owner: &str,
    query: &ConversationQuery,
) -> rusqlite::Result<Vec<(ConversationSummary, i64)>> {
    let rows = crate::groups::list_rows(connection, app, owner)?;
    let mut page = Vec::new();
    for row in rows {
        let Some(group) = confab_core::ids::GroupId::parse(&row.group) else {
            continue;
        };
        let summary = ConversationSummary {
            conversation: QueueName::group(&group),
            last: QueuedMessage {
                id: MessageId(row.last_message_id as u64),
                meta: Bytes::from(row.meta),
            },
            unread: 0,
            pinned_ms: row.pinned_ms.map(|ms| ms as u64),
            marks: crate::parse_marks(&row.marks),
        };
        let shown = match query.filter {
            ConversationFilter::All => true,
            ConversationFilter::Pinned => summary.pinned_ms.is_some(),
            ConversationFilter::Marked(mark) => summary.marks.contains(&mark),
        };
        let place = summary.place(query.filter);
        let after_cursor = query.after.as_ref().is_none_or(|after| {
            place.key < after.key
                || (place.key == after.key && place.conversation > after.conversation)
        });
        if shown && after_cursor {
            page.push((summary, row.unread_after));
        }
    }
    Ok(page)
}

/// What a recount of one list row found in history: its last message, its unread count, and
/// the row's version it was computed against.
pub(crate) struct Recount {
    pub(crate) last_message_id: i64,
    pub(crate) unread: i64,
    pub(crate) version: i64,
}

/// Recomputes `owner`'s row of `conversation` from their history (`history.db`, caught up).
pub(crate) fn recount(
    connection: &Connection,
    app: &str,
    owner: &str,
    conversation: &str,
) -> rusqlite::Result<Recount> {
    let (version, deleted_up_to): (i64, i64) = connection
        .prepare_cached(
            "SELECT version, deleted_up_to FROM conversations
             WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
        )?
        .query_row(params![app, owner, conversation], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?
        .unwrap_or((0, 0));
    let last_message_id: i64 = connection
        .prepare_cached(
            "SELECT COALESCE(MAX(c.message_id), 0) FROM conversation_messages c
             WHERE c.app_key = ?1 AND c.owner = ?2 AND c.conversation = ?3
               AND NOT EXISTS (SELECT 1 FROM recalled_messages r
                               WHERE r.app_key = c.app_key AND r.message_id = c.message_id)",
        )?
        .query_row(params![app, owner, conversation], |row| row.get(0))?;
    let read_up_to: i64 = connection
        .prepare_cached(
            "SELECT COALESCE(MAX(read_up_to), 0) FROM conversation_reads
             WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
        )?
        .query_row(params![app, owner, conversation], |row| row.get(0))?;
    let unread: i64 = connection
        .prepare_cached(
            "SELECT COUNT(*) FROM conversation_messages c JOIN messages m ON m.id = c.message_id
             WHERE c.app_key = ?1 AND c.owner = ?2 AND c.conversation = ?3 AND m.sender != ?2
               AND c.message_id > ?4
               AND NOT EXISTS (SELECT 1 FROM recalled_messages r
                               WHERE r.app_key = c.app_key AND r.message_id = c.message_id)",
        )?
        .query_row(
            params![app, owner, conversation, read_up_to.max(deleted_up_to)],
            |row| row.get(0),
        )?;
    Ok(Recount {
        last_message_id,
        unread,
        version,
    })
}

/// Applies a recount if the row is still at the version it was computed against; false when
/// it changed meanwhile (recount again).
pub(crate) fn apply_recount(
    connection: &Connection,
    app: &str,
    owner: &str,
    conversation: &str,
    recount: &Recount,
) -> rusqlite::Result<bool> {
    let changed = connection
        .prepare_cached(
            "UPDATE conversations SET last_message_id = ?4, unread = ?5, version = version + 1
             WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3 AND version = ?6",
        )?
        .execute(params![
            app,
            owner,
            conversation,
            recount.last_message_id,
            recount.unread,
            recount.version
        ])?;
    // No row: nothing to show, nothing to change.
    Ok(changed > 0 || recount.version == 0)
}

/// The list rows of a store that had none yet, from history (`history.db` attached as
/// `history` and caught up), in one statement each.
pub(crate) fn backfill_list_rows(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "INSERT INTO conversations (app_key, owner, conversation, last_message_id, version)
             SELECT c.app_key, c.owner, c.conversation, MAX(c.message_id), 1
             FROM history.conversation_messages c
             WHERE NOT EXISTS (SELECT 1 FROM recalled_messages r
                               WHERE r.app_key = c.app_key AND r.message_id = c.message_id)
             GROUP BY c.app_key, c.owner, c.conversation
         ON CONFLICT (app_key, owner, conversation)
         DO UPDATE SET last_message_id = excluded.last_message_id, version = version + 1;
         UPDATE conversations SET unread = (
             SELECT COUNT(*) FROM history.conversation_messages c
             JOIN messages m ON m.id = c.message_id
             WHERE c.app_key = conversations.app_key AND c.owner = conversations.owner
               AND c.conversation = conversations.conversation AND m.sender != conversations.owner
               AND c.message_id > MAX(conversations.deleted_up_to, COALESCE(
                   (SELECT r.read_up_to FROM conversation_reads r
                    WHERE r.app_key = conversations.app_key AND r.owner = conversations.owner
                      AND r.conversation = conversations.conversation), 0))
               AND NOT EXISTS (SELECT 1 FROM recalled_messages x
                               WHERE x.app_key = c.app_key AND x.message_id = c.message_id))
         WHERE last_message_id > 0;",
    )
}
