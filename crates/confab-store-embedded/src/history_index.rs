//! History rows (`conversation_messages`: one per party per message, ordered by party) live in
//! a database file of their own, `history.db`, kept by a thread of its own at a low CPU
//! priority (`Priority`). With each message the writer appends one row to `history_log` (whose
//! history it belongs to), at the end of a table in insertion order; this thread turns those
//! into rows, in order, behind the writer.
//!
//! Why: a row ordered by party lands on a page of its own, so inserting them with each message
//! cost the writer a third of its time and, merged in bulk, paused it 15–30 ms several times a
//! second. In a file of its own the index takes no lock the writer needs, and at a low
//! priority it runs when the core has nothing more urgent to do.
//!
//! Durability: the log is committed with its message, before any ack. The index records the
//! last log row it indexed (`index_state`) in the same transaction as the rows, commits
//! without fsync, and after a crash goes on from there; about once a second it commits with
//! fsync and publishes that point (`IndexProgress`), and only below it does the writer drop
//! log rows. A removal (one-way deletion) is fsynced before it is answered, and first indexes
//! everything logged, so a later pass can never bring a removed row back.
//!
//! Readers attach `history.db` (`ATTACH … AS history`) and ask for a catch-up first, so a read
//! of history sees every message committed before it.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use confab_core::ids::UserName;
use confab_core::store::{ConversationChange, HistoryEntry, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::backend;

pub(crate) const HISTORY_FILE: &str = "history.db";

/// How often the thread looks for new messages when nothing asks it to.
const POLL: Duration = Duration::from_millis(20);
/// Log rows indexed per transaction.
const STEP: i64 = 4096;
/// How often the index commits with fsync, which lets the writer drop the log below it.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The last log row indexed and fsynced: the writer may drop log rows before it.
#[derive(Default)]
pub(crate) struct IndexProgress(AtomicI64);

impl IndexProgress {
    pub(crate) fn durable(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }
}

/// What the history thread is asked to do; each answers once done (and durable, for changes).
pub(crate) enum IndexJob {
    /// Index everything committed so far, before a read of history.
    CatchUp(oneshot::Sender<Result<(), StoreError>>),
    /// Remove rows of one party's history of one conversation; of a group (`shared`), record
    /// what the member no longer reads of the shared history.
    Remove {
        app: String,
        owner: String,
        conversation: String,
        shared: bool,
        removal: Removal,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// The parts of a `ConversationChange` that touch history rows.
pub(crate) enum Removal {
    All,
    Messages(Vec<u64>),
    Before(u64),
}

impl Removal {
    pub(crate) fn of(change: &ConversationChange) -> Option<Removal> {
        match change {
            ConversationChange::Delete { history: true } => Some(Removal::All),
            ConversationChange::RemoveMessages(ids) => {
                Some(Removal::Messages(ids.iter().map(|id| id.0).collect()))
            }
            ConversationChange::RemoveBefore(time_ms) => Some(Removal::Before(*time_ms)),
            _ => None,
        }
    }
}

/// `history_log.history`: one `owner\tconversation` line per party. Names hold neither tabs nor
/// newlines (`UserName`, `QueueName`).
pub(crate) fn encode_entries(entries: &[HistoryEntry]) -> String {
    let mut text = String::new();
    for (index, entry) in entries.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        text.push_str(entry.owner.as_str());
        text.push('\t');
        text.push_str(entry.conversation.as_str());
    }
    text
}

fn decode_entries(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| line.split_once('\t'))
}

/// Opens `history.db` beside `main` (the chat database at `main_path`), creates its schema,
/// and moves in the history rows of a database from before it existed.
pub(crate) fn open(
    main: &Connection,
    main_path: &Path,
    history_path: &Path,
) -> rusqlite::Result<Connection> {
    let connection = Connection::open(history_path)?;
    connection.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 5000;
         CREATE TABLE IF NOT EXISTS conversation_messages (
             app_key      TEXT NOT NULL,
             owner        TEXT NOT NULL,
             conversation TEXT NOT NULL,
             message_id   INTEGER NOT NULL,
             PRIMARY KEY (app_key, owner, conversation, message_id)
         ) WITHOUT ROWID;
         -- The last `history_log.seq` indexed: one row, none before the first.
         CREATE TABLE IF NOT EXISTS index_state (indexed_seq INTEGER NOT NULL);
         -- A group's history is its members' together (owner `#`): what a member removed one
         -- way is recorded as theirs, messages one by one and a point below which all are gone.
         CREATE TABLE IF NOT EXISTS member_removals (
             app_key      TEXT NOT NULL,
             owner        TEXT NOT NULL,
             conversation TEXT NOT NULL,
             message_id   INTEGER NOT NULL,
             PRIMARY KEY (app_key, owner, conversation, message_id)
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS member_floors (
             app_key      TEXT NOT NULL,
             owner        TEXT NOT NULL,
             conversation TEXT NOT NULL,
             first_kept   INTEGER NOT NULL,
             PRIMARY KEY (app_key, owner, conversation)
         ) WITHOUT ROWID;",
    )?;
    adopt_legacy_rows(main, history_path)?;
    connection.execute("ATTACH DATABASE ?1 AS chat", [main_path.to_string_lossy()])?;
    Ok(connection)
}

/// Before `history.db`, the rows were in the chat database (`conversation_messages`, and
/// `history_staged` waiting to be merged into it). Copied, then dropped there; a crash in
/// between copies again (`INSERT OR IGNORE`).
fn adopt_legacy_rows(main: &Connection, history_path: &Path) -> rusqlite::Result<()> {
    let legacy: bool = main.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master
                        WHERE type = 'table' AND name = 'conversation_messages')",
        [],
        |row| row.get(0),
    )?;
    if !legacy {
        return Ok(());
    }
    main.execute(
        "ATTACH DATABASE ?1 AS history",
        [history_path.to_string_lossy()],
    )?;
    let copied = main.execute_batch(
        "BEGIN IMMEDIATE;
         INSERT OR IGNORE INTO history.conversation_messages
             SELECT app_key, owner, conversation, message_id FROM main.conversation_messages;
         INSERT OR IGNORE INTO history.conversation_messages
             SELECT app_key, owner, conversation, message_id FROM main.history_staged;
         COMMIT;",
    );
    let detached = main.execute_batch("DETACH DATABASE history");
    copied?;
    detached?;
    main.execute_batch(
        "BEGIN IMMEDIATE;
         DROP TABLE main.conversation_messages;
         DROP TABLE main.history_staged;
         COMMIT;",
    )
}

/// Starts the history thread.
pub(crate) fn spawn(
    connection: Connection,
    progress: Arc<IndexProgress>,
) -> std::io::Result<mpsc::Sender<IndexJob>> {
    let (sender, receiver) = mpsc::channel::<IndexJob>();
    std::thread::Builder::new()
        .name("confab-store-history".into())
        .spawn(move || run(&connection, &receiver, &progress))?;
    Ok(sender)
}

/// This thread's CPU priority (Linux schedules threads one by one). At nice 19 the index
/// waits while the sends use the core, so it may fall behind under load; it runs at the normal
/// priority while more than `MAX_LAG` log rows wait, and while someone waits for it (a read of
/// history, a removal), so that neither the lag nor such a wait grows without bound.
struct Priority {
    nice: Option<i32>,
}

/// Log rows the index may be behind before it takes the normal priority: a few seconds of
/// messages at full load.
const MAX_LAG: i64 = 65_536;

impl Priority {
    fn set(&mut self, nice: i32) {
        if self.nice == Some(nice) {
            return;
        }
        self.nice = Some(nice);
        let thread = rustix::thread::gettid();
        if let Err(error) = rustix::process::setpriority_process(Some(thread), nice) {
            tracing::debug!(%error, nice, "cannot change the history thread's priority");
        }
    }
}

/// How many log rows wait to be indexed after `indexed`.
fn lag(connection: &Connection, indexed: i64) -> rusqlite::Result<i64> {
    let logged: i64 = connection.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM chat.history_log",
        [],
        |row| row.get(0),
    )?;
    Ok(logged - indexed)
}

fn run(connection: &Connection, jobs: &mpsc::Receiver<IndexJob>, progress: &IndexProgress) {
    // What was indexed before a restart is durable as far as the next sync says; until then
    // the writer drops nothing.
    let mut last_sync = Instant::now();
    let mut priority = Priority { nice: None };
    // The last log row indexed, as `index_state` says; only this thread changes it, so it is
    // read once (and again after a failed step, which may not have committed).
    let mut indexed: Option<i64> = None;
    loop {
        let job = match jobs.recv_timeout(POLL) {
            Ok(job) => Some(job),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let caught_up = index_new(connection, progress, &mut last_sync, &mut indexed, |lag| {
            priority.set(if job.is_some() || lag > MAX_LAG {
                0
            } else {
                19
            });
        });
        if let Err(error) = &caught_up {
            tracing::error!(%error, "history index failed");
            indexed = None;
        }
        match job {
            None => {}
            Some(IndexJob::CatchUp(reply)) => {
                let _ = reply.send(caught_up.map_err(backend));
            }
            Some(IndexJob::Remove {
                app,
                owner,
                conversation,
                shared,
                removal,
                reply,
            }) => {
                // Only after everything logged is indexed: see the module comment.
                let removed = caught_up.and_then(|()| {
                    durably(connection, |c| {
                        if shared {
                            remove_for_member(c, &app, &owner, &conversation, &removal)
                        } else {
                            remove(c, &app, &owner, &conversation, &removal)
                        }
                    })
                });
                let _ = reply.send(removed.map_err(backend));
            }
        }
    }
    tracing::debug!("history thread stopped");
}

/// Indexes every log row after `indexed`, a step per transaction; `lagging` hears first how
/// many rows wait.
fn index_new(
    connection: &Connection,
    progress: &IndexProgress,
    last_sync: &mut Instant,
    indexed: &mut Option<i64>,
    lagging: impl FnOnce(i64),
) -> rusqlite::Result<()> {
    let mut after = match *indexed {
        Some(seq) => seq,
        None => *indexed.insert(indexed_seq(connection)?),
    };
    // Unknown lag counts as far behind.
    lagging(lag(connection, after).unwrap_or(i64::MAX));
    loop {
        // Read outside the index's transaction: a read of the chat database holds back its
        // checkpoints and the restart of its WAL for as long as it lasts (checkpoint.rs), and
        // this thread runs at a low priority.
        let logged = read_log(connection, after)?;
        let Some(&LogRow { seq: last, .. }) = logged.last() else {
            return Ok(());
        };
        if last_sync.elapsed() >= SYNC_EVERY {
            durably(connection, |transaction| index_rows(transaction, &logged))?;
            *last_sync = Instant::now();
            progress.0.store(last, Ordering::Release);
        } else {
            let transaction = connection.unchecked_transaction()?;
            index_rows(&transaction, &logged)?;
            transaction.commit()?;
        }
        (after, *indexed) = (last, Some(last));
        if (logged.len() as i64) < STEP {
            return Ok(());
        }
        tracing::trace!(indexed = last, "history index step");
    }
}

struct LogRow {
    seq: i64,
    app: String,
    message_id: i64,
    history: String,
}

fn indexed_seq(connection: &Connection) -> rusqlite::Result<i64> {
    Ok(connection
        .query_row("SELECT indexed_seq FROM index_state", [], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Up to `STEP` log rows after `after`, in order.
fn read_log(connection: &Connection, after: i64) -> rusqlite::Result<Vec<LogRow>> {
    let mut select = connection.prepare_cached(
        "SELECT seq, app_key, message_id, history FROM chat.history_log
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = select.query_map(params![after, STEP], |row| {
        Ok(LogRow {
            seq: row.get(0)?,
            app: row.get(1)?,
            message_id: row.get(2)?,
            history: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// Log rows indexed between two offers of the core to other threads (a few tens of µs).
const YIELD_EVERY: usize = 16;

/// Indexes `logged` (not empty) and records the last one as indexed, in `transaction`.
///
/// A step takes milliseconds, and once this thread has the core the scheduler lets it finish
/// its time slice even at nice 19, while the writer or the runtime wait with messages in
/// flight. So it offers the core every `YIELD_EVERY` rows: in alternating pingpong runs the
/// p99 fell from 6.0–6.8 to 5.4–5.9 ms (bench/FINDINGS.md).
fn index_rows(transaction: &Connection, logged: &[LogRow]) -> rusqlite::Result<()> {
    let mut insert = insert_statement(transaction)?;
    for (index, row) in logged.iter().enumerate() {
        if index % YIELD_EVERY == YIELD_EVERY - 1 {
            std::thread::yield_now();
        }
        for (owner, conversation) in decode_entries(&row.history) {
            insert.execute(params![row.app, owner, conversation, row.message_id])?;
        }
    }
    if let Some(last) = logged.last() {
        transaction.execute("DELETE FROM index_state", [])?;
        transaction.execute("INSERT INTO index_state VALUES (?1)", [last.seq])?;
    }
    Ok(())
}

fn insert_statement(connection: &Connection) -> rusqlite::Result<rusqlite::CachedStatement<'_>> {
    connection.prepare_cached(
        "INSERT OR IGNORE INTO conversation_messages (app_key, owner, conversation, message_id)
         VALUES (?1, ?2, ?3, ?4)",
    )
}

fn remove(
    connection: &Connection,
    app: &str,
    owner: &str,
    conversation: &str,
    removal: &Removal,
) -> rusqlite::Result<()> {
    match removal {
        Removal::All => {
            connection.execute(
                "DELETE FROM conversation_messages
                 WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
                params![app, owner, conversation],
            )?;
        }
        Removal::Messages(ids) => {
            let mut statement = connection.prepare_cached(
                "DELETE FROM conversation_messages
                 WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3 AND message_id = ?4",
            )?;
            for &id in ids {
                statement.execute(params![app, owner, conversation, id as i64])?;
            }
        }
        Removal::Before(time_ms) => {
            let first_kept = first_kept_at(*time_ms);
            connection.execute(
                "DELETE FROM conversation_messages
                 WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3 AND message_id < ?4",
                params![app, owner, conversation, first_kept],
            )?;
        }
    }
    Ok(())
}

/// Records `owner`'s removal from a group's shared history; the rows stay for the others.
fn remove_for_member(
    connection: &Connection,
    app: &str,
    owner: &str,
    conversation: &str,
    removal: &Removal,
) -> rusqlite::Result<()> {
    let first_kept = match removal {
        Removal::Messages(ids) => {
            let mut statement = connection.prepare_cached(
                "INSERT OR IGNORE INTO member_removals (app_key, owner, conversation, message_id)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for &id in ids {
                statement.execute(params![app, owner, conversation, id as i64])?;
            }
            return Ok(());
        }
        Removal::All => {
            let newest: Option<i64> = connection.query_row(
                "SELECT MAX(message_id) FROM conversation_messages
                 WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
                params![app, UserName::group_history().as_str(), conversation],
                |row| row.get(0),
            )?;
            match newest {
                Some(newest) => newest.saturating_add(1),
                None => return Ok(()),
            }
        }
        Removal::Before(time_ms) => first_kept_at(*time_ms),
    };
    connection.execute(
        "INSERT INTO member_floors (app_key, owner, conversation, first_kept)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (app_key, owner, conversation)
         DO UPDATE SET first_kept = MAX(first_kept, excluded.first_kept)",
        params![app, owner, conversation, first_kept],
    )?;
    // Single removals below the floor say nothing more.
    connection.execute(
        "DELETE FROM member_removals
         WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3 AND message_id < ?4",
        params![app, owner, conversation, first_kept],
    )?;
    Ok(())
}

/// The first message id at `time_ms` or later (ids are `unix_ms << 22 | …`).
fn first_kept_at(time_ms: u64) -> i64 {
    i64::try_from(time_ms.saturating_mul(1 << 22)).unwrap_or(i64::MAX)
}

/// Runs `change` in a transaction committed with fsync.
fn durably(
    connection: &Connection,
    change: impl FnOnce(&Connection) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    connection.pragma_update(None, "synchronous", "FULL")?;
    let result = connection.unchecked_transaction().and_then(|transaction| {
        change(&transaction)?;
        transaction.commit()
    });
    let restored = connection.pragma_update(None, "synchronous", "NORMAL");
    result.and(restored)
}
