//! Connection settings and the schema, versioned with `PRAGMA user_version`.

use std::path::Path;

use rusqlite::Connection;

/// Each entry moves the schema from version `index` to `index + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE apps (
    app_key       TEXT PRIMARY KEY,
    org           TEXT NOT NULL,
    name          TEXT NOT NULL,
    uuid          TEXT NOT NULL,
    app_id        TEXT NOT NULL UNIQUE,
    certificates  TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    created_ms    INTEGER NOT NULL
);
CREATE TABLE users (
    app_key            TEXT NOT NULL,
    name               TEXT NOT NULL,
    uuid               TEXT NOT NULL,
    password_hash      TEXT NOT NULL,
    nickname           TEXT NOT NULL,
    activated          INTEGER NOT NULL,
    created_ms         INTEGER NOT NULL,
    modified_ms        INTEGER NOT NULL,
    tokens_valid_after INTEGER NOT NULL,
    PRIMARY KEY (app_key, name)
) WITHOUT ROWID;
-- Each message is stored once; queues reference it (groups fan out as entries, not copies).
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    app_key         TEXT NOT NULL,
    sender          TEXT NOT NULL,
    sender_resource TEXT NOT NULL,
    client_id       INTEGER NOT NULL,
    meta            BLOB NOT NULL
);
CREATE UNIQUE INDEX messages_by_client_id ON messages (app_key, sender, sender_resource, client_id);
CREATE TABLE queue_entries (
    app_key    TEXT NOT NULL,
    owner      TEXT NOT NULL,
    queue      TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (app_key, owner, queue, message_id)
) WITHOUT ROWID;
"#,
    r#"
-- Certificate rotation: the secondary certificate is accepted until this time (NULL: always).
ALTER TABLE apps ADD COLUMN secondary_until_ms INTEGER;
CREATE TABLE admins (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_ms    INTEGER NOT NULL
);
-- Console sessions, by the SHA-256 of the cookie value (the value itself is never stored).
CREATE TABLE admin_sessions (
    id_hash    TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
"#,
    // 3: recalled messages (receipts, recall, edit).
    r#"
-- Recalled messages stay in `messages` (the recall's own meta refers to them); history leaves
-- them out.
CREATE TABLE recalled_messages (
    app_key     TEXT NOT NULL,
    message_id  INTEGER NOT NULL,
    recalled_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, message_id)
);
-- Each party's last conversation read ack (channel ack) per conversation.
CREATE TABLE conversation_reads (
    app_key      TEXT NOT NULL,
    owner        TEXT NOT NULL,
    conversation TEXT NOT NULL,
    read_up_to   INTEGER NOT NULL,
    PRIMARY KEY (app_key, owner, conversation)
) WITHOUT ROWID;
"#,
    // 4: attachments.
    r#"
-- Attachment metadata; the bytes are files under `<data_dir>/files/` (files.rs).
CREATE TABLE chat_files (
    app_key          TEXT NOT NULL,
    uuid             TEXT NOT NULL,
    share_secret     TEXT NOT NULL,
    restricted       INTEGER NOT NULL,
    content_type     TEXT NOT NULL,
    length           INTEGER NOT NULL,
    filename         TEXT NOT NULL,
    uploader         TEXT NOT NULL,
    thumbnail_width  INTEGER NOT NULL,
    thumbnail_height INTEGER NOT NULL,
    created_ms       INTEGER NOT NULL,
    PRIMARY KEY (app_key, uuid)
) WITHOUT ROWID;
"#,
    r#"
-- History and conversations. `kind` is the SDK's message type (txt, img, ...), '' for metas
-- that are not messages (receipts, recalls); history filters on it.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT '';
-- Each party's view of a conversation: one row per party per message. A one-way delete removes
-- the party's rows and leaves the message and the other party's history alone.
CREATE TABLE conversation_messages (
    app_key      TEXT NOT NULL,
    owner        TEXT NOT NULL,
    conversation TEXT NOT NULL,
    message_id   INTEGER NOT NULL,
    PRIMARY KEY (app_key, owner, conversation, message_id)
) WITHOUT ROWID;
-- Per-party conversation settings: pinning, marks, and a deletion point (messages up to
-- `deleted_up_to` no longer make the conversation appear in the list).
CREATE TABLE conversations (
    app_key       TEXT NOT NULL,
    owner         TEXT NOT NULL,
    conversation  TEXT NOT NULL,
    pinned_ms     INTEGER,
    marks         TEXT NOT NULL DEFAULT '',
    deleted_up_to INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_key, owner, conversation)
) WITHOUT ROWID;
-- Pinned messages (one pin per message, shared by both parties of its conversation).
CREATE TABLE pinned_messages (
    app_key    TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    operator   TEXT NOT NULL,
    pinned_ms  INTEGER NOT NULL,
    PRIMARY KEY (app_key, message_id)
) WITHOUT ROWID;
-- Message reactions: who added which reaction to which message, and when.
CREATE TABLE reactions (
    app_key    TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    reaction   TEXT NOT NULL,
    user       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, message_id, reaction, user)
) WITHOUT ROWID;
"#,
    r#"
-- Client ids count time (the SDKs' ids are milliseconds since 2010 plus a counter; server metas
-- use their server id), so with them first new entries land at the end of the index: a group
-- commit dirties a few of its pages instead of one per sender. A resend also has the same body:
-- the SDK can give a recall the id of a message sent just before (store.rs, `body_digest`).
-- Rows stored before get digest 0: a resend of one across the upgrade is stored again.
ALTER TABLE messages ADD COLUMN body_digest INTEGER NOT NULL DEFAULT 0;
DROP INDEX messages_by_client_id;
CREATE UNIQUE INDEX messages_by_resend_key
    ON messages (client_id, app_key, sender, sender_resource, body_digest);
-- History rows as the append writes them: in id order, so a commit dirties a page or two.
-- The writer moves them into `conversation_messages` (ordered by party, so each row of a
-- commit would dirty a page of its own) in bulk, and before anything reads or changes history
-- (writer.rs, `merge_history`).
CREATE TABLE history_staged (
    app_key      TEXT NOT NULL,
    owner        TEXT NOT NULL,
    conversation TEXT NOT NULL,
    message_id   INTEGER NOT NULL
);
"#,
    r#"
-- Whose history each message belongs to, in the order the writer stored them: one
-- `owner<TAB>conversation` line per party. The history thread turns these into rows of
-- `conversation_messages` in `history.db`, which takes over the rows of the two tables above;
-- the writer then drops what it has indexed (history_index.rs).
CREATE TABLE history_log (
    seq        INTEGER PRIMARY KEY,
    app_key    TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    history    TEXT NOT NULL
);
"#,
    r#"
-- One row that `GET /healthz` rewrites: a write through the writer proves the store takes them.
CREATE TABLE health_checks (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_ms INTEGER NOT NULL
);
"#,
    r#"
-- The column always meant "user tokens issued before this second are refused"; its new name
-- says so. Users now start at their creation second and a password change at second S sets
-- S + 1 (user.rs); the values already stored keep their meaning.
ALTER TABLE users RENAME COLUMN tokens_valid_after TO tokens_issued_from;
"#,
    r#"
-- Logs and cursors (logs.rs) replace per-user queues: a message is in the log of its
-- conversation (`log`, NULL: in none), read by every member or by `audience` alone, and each
-- device reads from a cursor of its own, so one device's ack takes nothing from another.
ALTER TABLE messages ADD COLUMN log TEXT;
ALTER TABLE messages ADD COLUMN audience TEXT;
CREATE INDEX messages_by_log ON messages (app_key, log, id) WHERE log IS NOT NULL;
-- Each member's view of a log: its newest entry for them, and where a deletion cleared it.
ALTER TABLE conversations ADD COLUMN log TEXT;
ALTER TABLE conversations ADD COLUMN last_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN cleared_up_to INTEGER NOT NULL DEFAULT 0;
CREATE TABLE cursors (
    app_key  TEXT NOT NULL,
    owner    TEXT NOT NULL,
    resource TEXT NOT NULL,
    log      TEXT NOT NULL,
    up_to    INTEGER NOT NULL,
    PRIMARY KEY (app_key, owner, resource, log)
) WITHOUT ROWID;
CREATE TABLE devices (
    app_key       TEXT NOT NULL,
    owner         TEXT NOT NULL,
    resource      TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    PRIMARY KEY (app_key, owner, resource)
) WITHOUT ROWID;
-- What waited in a queue stays unread: the entry goes into the log of its conversation, for its
-- owner alone (its sender had it), and the owner's view of the log ends at the newest of them.
UPDATE messages SET
    log = (SELECT 'u:' || MIN(q.owner, substr(q.queue, 1, instr(q.queue, '@') - 1)) || ':'
                       || MAX(q.owner, substr(q.queue, 1, instr(q.queue, '@') - 1))
           FROM queue_entries q WHERE q.message_id = messages.id),
    audience = (SELECT q.owner FROM queue_entries q WHERE q.message_id = messages.id)
WHERE id IN (SELECT message_id FROM queue_entries WHERE queue LIKE '%@easemob.com');
INSERT INTO conversations (app_key, owner, conversation, log, last_id)
    SELECT q.app_key, q.owner, q.queue,
           'u:' || MIN(q.owner, substr(q.queue, 1, instr(q.queue, '@') - 1)) || ':'
                || MAX(q.owner, substr(q.queue, 1, instr(q.queue, '@') - 1)),
           MAX(q.message_id)
    FROM queue_entries q WHERE q.queue LIKE '%@easemob.com' GROUP BY q.app_key, q.owner, q.queue
    ON CONFLICT (app_key, owner, conversation)
    DO UPDATE SET log = excluded.log, last_id = excluded.last_id;
DROP TABLE queue_entries;
"#,
    r#"
-- The conversation list reads one row per (owner, conversation) (logs.rs): its newest message
-- in the owner's history, the peer's messages after the owner's read point, and a version
-- that every change of the two bumps (a recount applies only to the version it read).
-- Filled from history when the store opens after this migration (`backfill_list_rows`). A
-- page reads the owner's rows (their primary key's range) and sorts them: an index on the
-- last message would be rewritten for both parties of every message.
ALTER TABLE conversations ADD COLUMN last_message_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
-- The entries of each log that a device reading it may still be delivered (logs.rs, `prune`):
-- an entry leaves once every device of every member has passed it or cannot see it, so the
-- table holds what is in flight and what waits for devices that are away. Its pages are few,
-- where the index of `messages` by log put every active log's tail on a page of its own and a
-- commit wrote one page per log. `messages.log` stays: the log a message was appended to (a
-- recall or an edit finds its entry there); `messages.audience` is no longer read.
CREATE TABLE log_entries (
    app_key         TEXT NOT NULL,
    log             TEXT NOT NULL,
    id              INTEGER NOT NULL,
    sender          TEXT NOT NULL,
    sender_resource TEXT NOT NULL,
    audience        TEXT,
    PRIMARY KEY (app_key, log, id)
) WITHOUT ROWID;
INSERT INTO log_entries (app_key, log, id, sender, sender_resource, audience)
    SELECT app_key, log, id, sender, sender_resource, audience FROM messages
    WHERE log IS NOT NULL;
DROP INDEX messages_by_log;
"#,
    r#"
-- Contacts (contacts.rs): one row per side, so each side's list and remark is its own range;
-- requests wait for the invitee's answer; each user's blocklist.
CREATE TABLE contacts (
    app_key    TEXT NOT NULL,
    owner      TEXT NOT NULL,
    contact    TEXT NOT NULL,
    remark     TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, owner, contact)
) WITHOUT ROWID;
CREATE TABLE contact_requests (
    app_key    TEXT NOT NULL,
    invitee    TEXT NOT NULL,
    inviter    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, invitee, inviter)
) WITHOUT ROWID;
CREATE TABLE blocks (
    app_key    TEXT NOT NULL,
    owner      TEXT NOT NULL,
    blocked    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, owner, blocked)
) WITHOUT ROWID;
"#,
    r#"
-- User attributes (`updateUserInfo`): one row per key (users.rs in confab-core limits their
-- total size).
CREATE TABLE user_attributes (
    app_key TEXT NOT NULL,
    name    TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (app_key, name, key)
) WITHOUT ROWID;
"#,
    r#"
-- Message reports (`reportMessage`), listed newest first in the console.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    app_key     TEXT NOT NULL,
    reporter    TEXT NOT NULL,
    message_id  INTEGER NOT NULL,
    report_type TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE INDEX reports_by_app ON reports (app_key, id);
"#,
    r#"
-- Push-notification settings (notifications.rs): silent mode per scope ('' the account,
-- 'u:<user>', 'g:<group>'), the push language, and each device's push token.
CREATE TABLE notification_settings (
    app_key         TEXT NOT NULL,
    owner           TEXT NOT NULL,
    scope           TEXT NOT NULL,
    remind_type     TEXT,
    ignore_until_ms INTEGER,
    ignore_interval TEXT,
    PRIMARY KEY (app_key, owner, scope)
) WITHOUT ROWID;
CREATE TABLE push_languages (
    app_key  TEXT NOT NULL,
    owner    TEXT NOT NULL,
    language TEXT,
    PRIMARY KEY (app_key, owner)
) WITHOUT ROWID;
CREATE TABLE push_tokens (
    app_key      TEXT NOT NULL,
    owner        TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    device_token TEXT NOT NULL,
    notifier     TEXT NOT NULL,
    PRIMARY KEY (app_key, owner, device_id)
) WITHOUT ROWID;
"#,
    r#"
-- Presence (`publishPresence`, `subscribePresence`): what each user published, each device's
-- status, and who subscribes to whom until when (presence.rs).
CREATE TABLE presence_users (
    app_key    TEXT NOT NULL,
    name       TEXT NOT NULL,
    ext        TEXT NOT NULL,
    changed_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, name)
) WITHOUT ROWID;
CREATE TABLE presence_devices (
    app_key    TEXT NOT NULL,
    name       TEXT NOT NULL,
    resource   TEXT NOT NULL,
    status     TEXT NOT NULL,
    changed_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, name, resource)
) WITHOUT ROWID;
CREATE TABLE presence_subscriptions (
    app_key    TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    target     TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, subscriber, target)
) WITHOUT ROWID;
CREATE INDEX presence_subscribers
    ON presence_subscriptions (app_key, target, subscriber, expires_ms);
"#,
    r#"
-- App settings (`AppSettings`): users may message their contacts only.
ALTER TABLE apps ADD COLUMN contacts_only INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
-- Groups (groups.rs). `last_id` is the newest entry of the group's log (`g:<id>`),
-- `last_message_id` its newest message (the conversation list's); a member
-- reads its `Members` entries above `joined_id`. Roles: 0 owner, 1 admin, 2 member.
CREATE TABLE groups (
    app_key             TEXT NOT NULL,
    id                  TEXT NOT NULL,
    owner               TEXT NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    avatar              TEXT NOT NULL,
    public              INTEGER NOT NULL,
    approval            INTEGER NOT NULL,
    allow_invites       INTEGER NOT NULL,
    invite_need_confirm INTEGER NOT NULL,
    max_users           INTEGER NOT NULL,
    custom              TEXT NOT NULL,
    created_ms          INTEGER NOT NULL,
    modified_ms         INTEGER NOT NULL,
    member_count        INTEGER NOT NULL,
    mute_all            INTEGER NOT NULL DEFAULT 0,
    announcement        TEXT NOT NULL DEFAULT '',
    last_id             INTEGER NOT NULL DEFAULT 0,
    last_message_id     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_key, id)
) WITHOUT ROWID;
CREATE TABLE group_members (
    app_key        TEXT NOT NULL,
    group_id       TEXT NOT NULL,
    member         TEXT NOT NULL,
    role           INTEGER NOT NULL,
    joined_ms      INTEGER NOT NULL,
    joined_id      INTEGER NOT NULL,
    muted_until_ms INTEGER,
    shielded       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_key, group_id, member)
) WITHOUT ROWID;
CREATE INDEX group_members_by_member ON group_members (app_key, member, group_id);
-- Members in list order (owner, admins, members; by joining): a page reads no more rows than
-- it skips and shows, where a sort read them all.
CREATE INDEX group_members_in_order
    ON group_members (app_key, group_id, role, joined_ms, member);
CREATE TABLE group_blocks (
    app_key  TEXT NOT NULL,
    group_id TEXT NOT NULL,
    member   TEXT NOT NULL,
    PRIMARY KEY (app_key, group_id, member)
) WITHOUT ROWID;
CREATE TABLE group_allowlist (
    app_key  TEXT NOT NULL,
    group_id TEXT NOT NULL,
    member   TEXT NOT NULL,
    PRIMARY KEY (app_key, group_id, member)
) WITHOUT ROWID;
CREATE TABLE group_files (
    app_key    TEXT NOT NULL,
    group_id   TEXT NOT NULL,
    file_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, group_id, file_id)
) WITHOUT ROWID;
CREATE TABLE group_member_attributes (
    app_key  TEXT NOT NULL,
    group_id TEXT NOT NULL,
    member   TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (app_key, group_id, member, key)
) WITHOUT ROWID;
CREATE TABLE group_message_reads (
    app_key    TEXT NOT NULL,
    group_id   TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    reader     TEXT NOT NULL,
    read_ms    INTEGER NOT NULL,
    PRIMARY KEY (app_key, group_id, message_id, reader)
) WITHOUT ROWID;
CREATE TABLE group_requests (
    app_key    TEXT NOT NULL,
    group_id   TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    user       TEXT NOT NULL,
    from_user  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, group_id, kind, user)
) WITHOUT ROWID;
"#,
    r#"
-- Chat rooms (rooms.rs). A room's log (`r:<id>`) is read by no one, so a room has no head and
-- its members no join point. `id_order` is the id zero-padded to 20 digits: rooms list by id
-- as a number. `member_count` follows every change of `room_members`. Roles: 0 owner, 1 admin,
-- 2 member; the owner may leave (`rooms.owner` stays).
CREATE TABLE rooms (
    app_key      TEXT NOT NULL,
    id           TEXT NOT NULL,
    id_order     TEXT NOT NULL,
    owner        TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    max_users    INTEGER NOT NULL,
    custom       TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    member_count INTEGER NOT NULL,
    mute_all     INTEGER NOT NULL DEFAULT 0,
    announcement TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (app_key, id)
) WITHOUT ROWID;
CREATE INDEX rooms_in_order ON rooms (app_key, id_order);
-- `absent_since_ms`: when the member's last connection dropped (NULL while connected); the
-- partial index is what the sweep of absent members reads, oldest first, across apps.
CREATE TABLE room_members (
    app_key         TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    member          TEXT NOT NULL,
    role            INTEGER NOT NULL,
    joined_ms       INTEGER NOT NULL,
    muted_until_ms  INTEGER,
    absent_since_ms INTEGER,
    PRIMARY KEY (app_key, room_id, member)
) WITHOUT ROWID;
CREATE INDEX room_members_by_member ON room_members (app_key, member, room_id);
CREATE INDEX room_members_in_order
    ON room_members (app_key, room_id, role, joined_ms, member);
CREATE INDEX room_members_by_absence ON room_members (absent_since_ms)
    WHERE absent_since_ms IS NOT NULL;
CREATE TABLE room_blocks (
    app_key TEXT NOT NULL,
    room_id TEXT NOT NULL,
    member  TEXT NOT NULL,
    PRIMARY KEY (app_key, room_id, member)
) WITHOUT ROWID;
CREATE TABLE room_allowlist (
    app_key TEXT NOT NULL,
    room_id TEXT NOT NULL,
    member  TEXT NOT NULL,
    PRIMARY KEY (app_key, room_id, member)
) WITHOUT ROWID;
-- `owner`: who set the key last; with `auto_delete` it leaves the room with them.
CREATE TABLE room_attributes (
    app_key     TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    owner       TEXT NOT NULL,
    auto_delete INTEGER NOT NULL,
    PRIMARY KEY (app_key, room_id, key)
) WITHOUT ROWID;
"#,
    r#"
-- Threads (threads.rs): made from a group message, one per message (`parent_message`).
-- `id_order` is the id zero-padded to 20 digits: threads list by id as a number, the newest
-- first. `member_count` follows every change of `thread_members`; `message_count` and
-- `last_message` every message recorded. The owner may leave (`threads.owner` stays).
CREATE TABLE threads (
    app_key        TEXT NOT NULL,
    id             TEXT NOT NULL,
    id_order       TEXT NOT NULL,
    group_id       TEXT NOT NULL,
    parent_message INTEGER NOT NULL,
    name           TEXT NOT NULL,
    owner          TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    member_count   INTEGER NOT NULL,
    message_count  INTEGER NOT NULL,
    last_message   INTEGER,
    PRIMARY KEY (app_key, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX threads_by_parent_message ON threads (app_key, parent_message);
CREATE INDEX threads_by_group ON threads (app_key, group_id, id_order);
CREATE TABLE thread_members (
    app_key   TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    member    TEXT NOT NULL,
    joined_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, thread_id, member)
) WITHOUT ROWID;
CREATE INDEX thread_members_by_member ON thread_members (app_key, member, thread_id);
-- Members in list order (by joining, then name): a page reads no more rows than it skips and
-- shows, where a sort read them all.
CREATE INDEX thread_members_in_order ON thread_members (app_key, thread_id, joined_ms, member);
"#,
    r#"
-- Files shared in chat rooms (rooms.rs), as `group_files` for groups: the bytes are the
-- attachment (`chat_files`) of the same id.
CREATE TABLE room_files (
    app_key    TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    file_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_key, room_id, file_id)
) WITHOUT ROWID;
"#,
];

/// The schema version whose list rows are filled from history at the first open after it.
pub(crate) const LIST_ROWS_VERSION: usize = 11;

/// Sets the connection up and migrates; returns the schema version found before migrating.
pub(crate) fn prepare_writer(connection: &Connection) -> rusqlite::Result<usize> {
    // FULL: a commit is on disk before the writer answers, so an ack survives power loss too.
    // No automatic checkpoint: it would run inside a commit, holding every caller of the
    // batch; `checkpoint.rs` runs it beside the writer. When the WAL starts over, a file
    // grown past 64 MiB is cut back to that. The cache keeps hot index pages
    // from being read back from the file, but no more: every commit walks the cache's hash
    // table (SQLite drops cached pages past the end of the file), so with 64 MiB that walk
    // was ~6 % of the writer's time.
    connection.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA journal_size_limit = 67108864;
         PRAGMA cache_size = -8192;",
    )?;
    migrate(connection)
}

pub(crate) fn prepare_checkpointer(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;
         PRAGMA wal_autocheckpoint = 0;",
    )
}

/// Readers also attach `history.db`: `conversation_messages` is only there, so queries name
/// it unqualified (`history_index.rs`).
pub(crate) fn prepare_reader(connection: &Connection, history: &Path) -> rusqlite::Result<()> {
    connection.execute_batch("PRAGMA busy_timeout = 5000;")?;
    connection.execute("ATTACH DATABASE ?1 AS history", [history.to_string_lossy()])?;
    connection.execute_batch("PRAGMA query_only = 1;")
}

fn migrate(connection: &Connection) -> rusqlite::Result<usize> {
    let version: usize =
        connection.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))? as usize;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        connection.execute_batch(&format!(
            "BEGIN IMMEDIATE; {migration} PRAGMA user_version = {}; COMMIT;",
            index + 1
        ))?;
    }
    Ok(version)
}
