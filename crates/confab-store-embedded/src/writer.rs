//! The single writer thread. It takes every job that is waiting, runs each inside its own
//! savepoint of one transaction, commits once, and only then answers the callers: group commit,
//! so a burst of sends costs one fsync, and no caller hears "stored" before the commit.

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc};

use confab_core::{
    admin::{Admin, AdminSession},
    app::App,
    ids::{IdGenerator, LogId, MessageId},
    store::{
        AppendEffect, Appended, ConversationChange, Device, NewMessage, Pulled, QueuedMessage,
        Reaction, StoreError,
    },
    user::User,
};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use tokio::sync::oneshot;

use crate::{
    backend,
    checkpoint::{self, WalRestart},
    history_index::{self, IndexProgress},
    logs,
    tails::{self, LogTails, TailChange, TailEntry},
};

/// Most jobs per transaction; bounds commit latency under sustained load. Every caller of a
/// batch waits for all of it: at 100 pingpong pairs (~200 jobs waiting at once) a cap of 128
/// or 160 gave a p99 of 5.1–5.4 ms where 512 gave 5.8–6.2, at the same rate; 64 and 96 cost
/// rate (bench/FINDINGS.md).
const MAX_BATCH: usize = 128;
/// Indexed rows of `history_log` the writer drops with one batch (`history_index.rs`). The
/// index makes its progress durable about once a second, tens of thousands of rows at full
/// load; dropped in one piece, they held that batch, and every sender in it, for 3–9 ms.
const PRUNE_LOG_ROWS: i64 = 1024;
/// Users the writer remembers as existing; past this it starts over.
const MAX_KNOWN_USERS: usize = 100_000;
/// Cursor moves in a log between two prunes of it (`logs::prune`). A log's entries share pages
/// with other logs', and every page a batch dirties is written to the WAL at its commit: at 100
/// pingpong pairs, every 4th move wrote 4.1 KB per message and cost 43–46 µs of server CPU,
/// every 16th 5.1 KB and 47–55 µs, every 64th 7.0 KB; every move or every 2nd cost 48–55 µs
/// in prunes.
const PRUNE_EVERY_MOVES: u32 = 4;
/// Logs whose moves are counted at most; past this the counts start over.
const MAX_PRUNE_COUNTERS: usize = 100_000;

pub(crate) enum WriteOp {
    CreateApp(App),
    UpdateAppCredentials(App),
    UpdateAppSettings {
        key: String,
        settings: confab_core::app::AppSettings,
    },
    SetActivated {
        app: String,
        name: String,
        activated: bool,
        modified_ms: u64,
    },
    CreateAdmin(Admin),
    /// `CreateAdmin` only while there is no admin (the setup link).
    CreateFirstAdmin(Admin),
    /// Attachment metadata (`files.rs`).
    ChatFile(crate::files::FileWrite),
    CreateAdminSession(AdminSession),
    DeleteAdminSession(String),
    /// The one row of `health_checks` (`GET /healthz`).
    HealthCheck(u64),
    CreateUsers(String, Vec<User>),
    UpdatePassword {
        app: String,
        name: String,
        password_hash: String,
        tokens_issued_from: u32,
        modified_ms: u64,
    },
    DeleteUser {
        app: String,
        name: String,
    },
    SetNickname {
        app: String,
        name: String,
        nickname: String,
        modified_ms: u64,
    },
    UpdateUserAttributes {
        app: String,
        name: String,
        changes: Vec<(String, String)>,
        max_bytes: usize,
    },
    AppendMessage(NewMessage),
    /// An append with a change in the same savepoint (recall, edit, conversation read).
    AppendWithEffect(NewMessage, AppendEffect),
    ImportMessage(MessageId, NewMessage),
    DeviceSeen {
        app: String,
        device: Device,
        now_ms: u64,
    },
    /// A pull with a key: the cursor moves and the page is read in the batch, so the page
    /// sees every append queued before it.
    Pull {
        app: String,
        device: Device,
        log: LogId,
        key: MessageId,
        limit: u32,
    },
    Reclaim {
        unseen_since_ms: u64,
        limit: u32,
    },
    /// A list row recomputed on a reader, applied if the row did not change since.
    Recount {
        app: String,
        owner: String,
        conversation: String,
        recount: logs::Recount,
    },
    ChangePin {
        app: String,
        message: u64,
        /// Operator and time; `None` unpins.
        pin: Option<(String, u64)>,
    },
    ChangeReaction {
        app: String,
        reaction: Reaction,
        add: bool,
    },
    Contact(crate::contacts::ContactOp),
    /// A change of groups (`groups.rs`).
    Group(crate::groups::GroupJob),
    /// A change of chat rooms (`rooms.rs`).
    Room(crate::rooms::RoomJob),
    /// A change of threads (`threads.rs`).
    Thread(crate::threads::ThreadJob),
    Notification(crate::notifications::NotificationOp),
    Presence(crate::presence::PresenceOp),
    AddReport {
        app: String,
        report: confab_core::store::Report,
    },
    ChangeConversation {
        app: String,
        owner: String,
        conversation: String,
        change: ConversationChange,
        /// For `Delete`: the newest message of the party's history of it, read from
        /// `history.db` before (`history_index.rs`).
        last_message: Option<u64>,
    },
}

pub(crate) enum Outcome {
    Done,
    Changed(bool),
    Appended(Appended),
    Pulled(Pulled),
    Reclaimed(confab_core::store::Reclaimed),
    Attributes(confab_core::store::AttributesUpdate),
    Contacts(confab_core::store::ContactChange),
    Presence(confab_core::store::StoredPresence),
    Subscribed(confab_core::store::SubscribeChange),
    Group(crate::groups::GroupReply),
    Room(crate::rooms::RoomReply),
    Thread(crate::threads::ThreadReply),
    Id(u64),
}

pub(crate) struct Job {
    pub(crate) op: WriteOp,
    pub(crate) reply: Reply,
}

type Reply = oneshot::Sender<Result<Outcome, StoreError>>;
type Answer = (Reply, Result<Outcome, StoreError>);

/// Hands a committed batch's answers to the async runtime in one piece. Answered one by one
/// from this thread, each answer woke the runtime, which on a busy core took the CPU from
/// the writer at once, ran one task and gave it back: two context switches per answer,
/// ~12,000 a second under load. In one piece, a batch wakes the runtime once, and a task
/// there completes the answers without leaving it.
pub(crate) struct Answers(Option<tokio::sync::mpsc::UnboundedSender<Vec<Answer>>>);

impl Answers {
    /// Starts the answering task on the current runtime. Without one (a store opened outside
    /// any runtime) the writer answers each caller itself.
    pub(crate) fn start() -> Answers {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Answers(None);
        };
        let (sender, mut batches) = tokio::sync::mpsc::unbounded_channel::<Vec<Answer>>();
        runtime.spawn(async move {
            while let Some(batch) = batches.recv().await {
                answer_each(batch);
            }
        });
        Answers(Some(sender))
    }

    fn send(&self, batch: Vec<Answer>) {
        let batch = match &self.0 {
            Some(task) => match task.send(batch) {
                Ok(()) => return,
                // The runtime that ran the task is gone; the callers may still be waiting.
                Err(returned) => returned.0,
            },
            None => batch,
        };
        answer_each(batch);
    }
}

fn answer_each(batch: Vec<Answer>) {
    for (reply, result) in batch {
        // A caller that stopped waiting is no one's concern.
        let _ = reply.send(result);
    }
}

/// What the writer learns from the history thread (how far the history log is indexed) and
/// from the checkpoint thread, and how it answers.
pub(crate) struct WriterState {
    pub(crate) answers: Answers,
    /// Log tails and cursors for readers (`tails.rs`), changed after each commit.
    pub(crate) tails: LogTails,
    pub(crate) history: Arc<IndexProgress>,
    pub(crate) wal_restart: Arc<WalRestart>,
}

/// Users seen in `users`, so that an append need not look its recipient up every time. Only
/// the writer changes `users`: it forgets a user as it deletes them, and everyone when a batch
/// rolls back (the batch may have created some).
#[derive(Default)]
pub(crate) struct KnownUsers {
    /// `owner_key`s.
    keys: HashSet<String>,
}

/// `app` and user `name` in one key.
fn owner_key(app: &str, name: &str) -> String {
    let mut key = String::with_capacity(app.len() + 1 + name.len());
    key.push_str(app);
    key.push('\t');
    key.push_str(name);
    key
}

impl KnownUsers {
    fn contains(&self, app: &str, name: &str) -> bool {
        self.keys.contains(&owner_key(app, name))
    }

    fn insert(&mut self, app: &str, name: &str) {
        if self.keys.len() >= MAX_KNOWN_USERS {
            self.keys.clear();
        }
        self.keys.insert(owner_key(app, name));
    }

    fn forget(&mut self, app: &str, name: &str) {
        self.keys.remove(&owner_key(app, name));
    }
}

/// What the writer keeps from batch to batch.
pub(crate) struct WriterMemory {
    known_users: KnownUsers,
    /// Message ids: assigned here, in commit order (this store is one node).
    ids: IdGenerator,
    /// Where the reclaim pass under way has got to.
    reclaim_place: logs::ReclaimPlace,
    /// Cursor moves per log (`tails::log_key`) since the writer last pruned it.
    moves_since_prune: HashMap<String, u32>,
    /// Logs (`app`, log key) to prune before the batch commits.
    moved_logs: Vec<(String, String)>,
    /// What the batch's operations did to the tails, applied once it commits.
    changes: Vec<TailChange>,
    /// The batch's appends' changes to `conversations` rows, not written yet.
    rows: logs::RowChanges,
    /// False while no one has blocked anyone since the store opened with an empty `blocks`
    /// table: then an append need not look there.
    blocks_possible: bool,
    /// Apps whose users may message their contacts only (`AppSettings::contacts_only`): read
    /// at open, kept by the writes that change it (this thread is the store's only writer).
    contacts_only_apps: HashSet<String>,
    /// The tails as of the last commit (`WriterState::tails`).
    shared: Arc<WriterState>,
}

/// Starts the writer thread. `checkpoints` is held until the writer stops, which then stops
/// the checkpoint thread after the last commit.
pub(crate) fn spawn(
    connection: Connection,
    state: Arc<WriterState>,
    checkpoints: mpsc::Sender<()>,
) -> std::io::Result<mpsc::Sender<Job>> {
    let (sender, receiver) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("confab-store-writer".into())
        .spawn(move || {
            run(connection, receiver, state);
            drop(checkpoints);
        })?;
    Ok(sender)
}

/// The apps whose users may message their contacts only. On a read error: none, logged (a
/// store that cannot read `apps` has bigger problems; its appends will fail too).
fn contacts_only_apps(connection: &Connection) -> HashSet<String> {
    let read = || -> rusqlite::Result<HashSet<String>> {
        let mut statement = connection.prepare("SELECT app_key FROM apps WHERE contacts_only")?;
        let keys = statement.query_map([], |row| row.get::<_, String>(0))?;
        keys.collect()
    };
    read().unwrap_or_else(|error| {
        tracing::error!(%error, "cannot read the contacts-only apps");
        HashSet::new()
    })
}

fn run(mut connection: Connection, receiver: mpsc::Receiver<Job>, state: Arc<WriterState>) {
    let ids = IdGenerator::new(0);
    // Restarts keep ids increasing.
    match connection.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |row| {
        row.get::<_, i64>(0)
    }) {
        Ok(max) => ids.raise_floor(max as u64),
        Err(error) => tracing::error!(%error, "cannot read the highest message id"),
    }
    let mut memory = WriterMemory {
        known_users: KnownUsers::default(),
        ids,
        reclaim_place: None,
        moves_since_prune: HashMap::new(),
        moved_logs: Vec::new(),
        changes: Vec::new(),
        rows: logs::RowChanges::default(),
        blocks_possible: crate::contacts::any_blocks(&connection).unwrap_or(true),
        contacts_only_apps: contacts_only_apps(&connection),
        shared: Arc::clone(&state),
    };
    // Row numbers go on after a restart: pruning from 0 would take a batch per 1,024 rows
    // dropped long ago.
    let mut log_pruned_below = first_log_row(&connection).unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot read where the history log starts");
        0
    });
    // Ends when every sender is dropped, after answering all jobs already queued.
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Indexed log rows are dropped with the batch (no commit of their own), a slice at a
        // time. The last one stays, so that the next row number follows it.
        let indexed = state.history.durable();
        let prune_below = (indexed - log_pruned_below >= PRUNE_LOG_ROWS)
            .then_some(log_pruned_below + PRUNE_LOG_ROWS);
        if commit_batch(&mut connection, batch, &state, &mut memory, prune_below) {
            log_pruned_below = prune_below.unwrap_or(log_pruned_below);
        }
        // Between two transactions, so that the next one can start the WAL over
        // (checkpoint.rs). The checkpoint thread has just copied nearly all of it.
        if state.wal_restart.take() {
            if let Err(error) = checkpoint::checkpoint(&connection) {
                tracing::warn!(%error, "checkpoint before a WAL restart failed");
            }
        }
    }
    tracing::debug!("store writer stopped");
}

/// The first row of `history_log` (0 when it is empty).
fn first_log_row(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("SELECT COALESCE(MIN(seq), 0) FROM history_log", [], |row| {
        row.get(0)
    })
}

fn commit_batch(
    connection: &mut Connection,
    batch: Vec<Job>,
    state: &WriterState,
    memory: &mut WriterMemory,
    prune_log_below: Option<i64>,
) -> bool {
    let (ops, replies): (Vec<WriteOp>, Vec<_>) =
        batch.into_iter().map(|job| (job.op, job.reply)).unzip();
    let log = &mut *memory;
    let applied = (|| -> Result<Vec<Result<Outcome, StoreError>>, StoreError> {
        let mut transaction = connection.transaction().map_err(backend)?;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            if op.is_hot_path() {
                // These fail only when the database itself does; then the whole batch rolls
                // back (the transaction is dropped) and every caller hears so. Skipping the
                // savepoint is a third of the writer's work per message.
                results.push(Ok(apply(&transaction, op, log)?));
                continue;
            }
            // Anything else may read or set the rows the appends before it changed.
            log.rows.flush(&transaction).map_err(backend)?;
            // A savepoint per job: one failing job (a duplicate user) leaves the others intact.
            let mut savepoint = transaction.savepoint().map_err(backend)?;
            let mark = log.changes.len();
            let result = apply(&savepoint, op, log);
            let result = match result {
                // An import's rows go with its savepoint.
                Ok(outcome) => log
                    .rows
                    .flush(&savepoint)
                    .map_err(backend)
                    .map(|()| outcome),
                Err(error) => Err(error),
            };
            match result {
                Ok(_) => savepoint.commit(),
                Err(_) => {
                    log.changes.truncate(mark);
                    log.rows.clear();
                    savepoint.rollback()
                }
            }
            .map_err(backend)?;
            results.push(result);
        }
        log.rows.flush(&transaction).map_err(backend)?;
        // Once per log and batch, however many of its cursors moved.
        for (app, log_key) in std::mem::take(&mut log.moved_logs) {
            if let Some(moved) = LogId::from_key(&log_key) {
                let kept_from =
                    logs::prune(&transaction, &app, &moved, &log_key).map_err(backend)?;
                log.changes.push(TailChange::Trimmed {
                    log: tails::log_key(&app, &log_key),
                    below: kept_from,
                });
            }
        }
        if let Some(below) = prune_log_below {
            // Cached: in slices it runs with many batches a second, not once.
            transaction
                .prepare_cached("DELETE FROM history_log WHERE seq < ?1")
                .and_then(|mut statement| statement.execute([below]))
                .map_err(backend)?;
        }
        transaction.commit().map_err(backend)?;
        Ok(results)
    })();
    match applied {
        Ok(results) => {
            // Before any answer: whoever hears "stored" (and the notice that follows) reads a
            // tail that already holds the message.
            state.tails.apply(std::mem::take(&mut memory.changes));
            state
                .answers
                .send(replies.into_iter().zip(results).collect());
            true
        }
        Err(error) => {
            tracing::error!(%error, "store batch rolled back");
            memory.changes.clear();
            memory.moved_logs.clear();
            memory.rows.clear();
            memory.known_users.keys.clear();
            // A settings change that rolled back must not stay in force.
            memory.contacts_only_apps = contacts_only_apps(connection);
            let reason = error.to_string();
            state.answers.send(
                replies
                    .into_iter()
                    .map(|reply| (reply, Err(StoreError::Backend(reason.clone()))))
                    .collect(),
            );
            false
        }
    }
}

impl WriterMemory {
    /// A cursor moved in the log: every `PRUNE_EVERY_MOVES`th move, it is pruned with the batch.
    /// (A prune is a handful of searches; between two, the log keeps a few entries more.)
    fn cursor_moved(&mut self, app: String, log_key: String) {
        if self.moves_since_prune.len() >= MAX_PRUNE_COUNTERS {
            // Forgetting counts only delays prunes (and reclaim prunes every log anyway).
            self.moves_since_prune.clear();
        }
        let moves = self
            .moves_since_prune
            .entry(tails::log_key(&app, &log_key))
            .or_default();
        *moves += 1;
        if *moves < PRUNE_EVERY_MOVES {
            return;
        }
        *moves = 0;
        if !self
            .moved_logs
            .iter()
            .any(|(in_app, key)| *in_app == app && *key == log_key)
        {
            self.moved_logs.push((app, log_key));
        }
    }
}

impl WriteOp {
    /// The per-message operations: no domain failure of theirs is an `Err`.
    fn is_hot_path(&self) -> bool {
        matches!(
            self,
            WriteOp::AppendMessage(_) | WriteOp::AppendWithEffect(..) | WriteOp::Pull { .. }
        )
    }
}

fn apply(
    connection: &Connection,
    op: WriteOp,
    log: &mut WriterMemory,
) -> Result<Outcome, StoreError> {
    match op {
        WriteOp::CreateApp(app) => {
            let certificates = certificates_text(&app);
            if app.settings.contacts_only {
                log.contacts_only_apps.insert(app.key.to_string());
            }
            connection
                .execute(
                    "INSERT INTO apps (app_key, org, name, uuid, app_id, certificates, client_id,
                                       client_secret, created_ms, secondary_until_ms, contacts_only)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        app.key.to_string(),
                        app.key.org(),
                        app.key.app(),
                        app.uuid,
                        app.app_id,
                        certificates,
                        app.client_id,
                        app.client_secret.expose(),
                        app.created_ms as i64,
                        app.secondary_until_ms.map(|ms| ms as i64),
                        app.settings.contacts_only
                    ],
                )
                .map_err(|error| duplicate_or_backend(error, app.key.to_string()))?;
            Ok(Outcome::Done)
        }
        WriteOp::UpdateAppSettings { key, settings } => {
            let changed = connection
                .execute(
                    "UPDATE apps SET contacts_only = ?2 WHERE app_key = ?1",
                    params![key, settings.contacts_only],
                )
                .map_err(backend)?;
            if changed > 0 && settings.contacts_only {
                log.contacts_only_apps.insert(key);
            } else {
                log.contacts_only_apps.remove(&key);
            }
            Ok(Outcome::Changed(changed > 0))
        }
        WriteOp::UpdateAppCredentials(app) => {
            let changed = connection
                .execute(
                    "UPDATE apps SET certificates = ?2, secondary_until_ms = ?3, client_secret = ?4
                     WHERE app_key = ?1",
                    params![
                        app.key.to_string(),
                        certificates_text(&app),
                        app.secondary_until_ms.map(|ms| ms as i64),
                        app.client_secret.expose()
                    ],
                )
                .map_err(backend)?;
            Ok(Outcome::Changed(changed > 0))
        }
        WriteOp::SetActivated {
            app,
            name,
            activated,
            modified_ms,
        } => {
            let changed = connection
                .execute(
                    "UPDATE users SET activated = ?3, modified_ms = ?4
                     WHERE app_key = ?1 AND name = ?2",
                    params![app, name, activated, modified_ms as i64],
                )
                .map_err(backend)?;
            Ok(Outcome::Changed(changed > 0))
        }
        WriteOp::ChatFile(write) => crate::files::apply(connection, write),
        WriteOp::CreateAdmin(admin) => {
            connection
                .execute(
                    "INSERT INTO admins (username, password_hash, created_ms) VALUES (?1, ?2, ?3)",
                    params![admin.username, admin.password_hash, admin.created_ms as i64],
                )
                .map_err(|error| duplicate_or_backend(error, admin.username.clone()))?;
            Ok(Outcome::Done)
        }
        // One statement in the writer's transaction: the check and the insert cannot interleave
        // with another creation.
        WriteOp::CreateFirstAdmin(admin) => {
            let created = connection
                .execute(
                    "INSERT INTO admins (username, password_hash, created_ms)
                     SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM admins)",
                    params![admin.username, admin.password_hash, admin.created_ms as i64],
                )
                .map_err(backend)?;
            Ok(Outcome::Changed(created > 0))
        }
        WriteOp::CreateAdminSession(session) => {
            connection
                .execute(
                    "DELETE FROM admin_sessions WHERE expires_ms <= ?1",
                    params![session.created_ms as i64],
                )
                .map_err(backend)?;
            connection
                .execute(
                    "INSERT INTO admin_sessions (id_hash, username, csrf_token, created_ms, expires_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        session.id_hash,
                        session.username,
                        session.csrf_token.expose(),
                        session.created_ms as i64,
                        session.expires_ms as i64
                    ],
                )
                .map_err(|error| duplicate_or_backend(error, "session".to_owned()))?;
            Ok(Outcome::Done)
        }
        WriteOp::DeleteAdminSession(id_hash) => {
            connection
                .execute(
                    "DELETE FROM admin_sessions WHERE id_hash = ?1",
                    params![id_hash],
                )
                .map_err(backend)?;
            Ok(Outcome::Done)
        }
        WriteOp::HealthCheck(now_ms) => {
            connection
                .execute(
                    "INSERT INTO health_checks (id, checked_ms) VALUES (1, ?1)
                     ON CONFLICT (id) DO UPDATE SET checked_ms = excluded.checked_ms",
                    params![now_ms as i64],
                )
                .map_err(backend)?;
            Ok(Outcome::Done)
        }
        WriteOp::CreateUsers(app, users) => {
            let mut statement = connection
                .prepare_cached(
                    "INSERT INTO users (app_key, name, uuid, password_hash, nickname, activated,
                                        created_ms, modified_ms, tokens_issued_from)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(backend)?;
            for user in users {
                statement
                    .execute(params![
                        app,
                        user.name.as_str(),
                        user.uuid,
                        user.password_hash,
                        user.nickname,
                        user.activated,
                        user.created_ms as i64,
                        user.modified_ms as i64,
                        user.tokens_issued_from
                    ])
                    .map_err(|error| duplicate_or_backend(error, user.name.to_string()))?;
            }
            Ok(Outcome::Done)
        }
        WriteOp::UpdatePassword {
            app,
            name,
            password_hash,
            tokens_issued_from,
            modified_ms,
        } => {
            let changed = connection
                .execute(
                    "UPDATE users SET password_hash = ?3,
                         tokens_issued_from = MIN(MAX(?4, tokens_issued_from + 1), 4294967295),
                         modified_ms = ?5
                     WHERE app_key = ?1 AND name = ?2",
                    params![
                        app,
                        name,
                        password_hash,
                        tokens_issued_from,
                        modified_ms as i64
                    ],
                )
                .map_err(backend)?;
            Ok(Outcome::Changed(changed > 0))
        }
        WriteOp::DeleteUser { app, name } => {
            log.known_users.forget(&app, &name);
            let changed = connection
                .execute(
                    "DELETE FROM users WHERE app_key = ?1 AND name = ?2",
                    params![app, name],
                )
                .map_err(backend)?;
            log.changes.push(TailChange::ForgetOwner {
                app: app.clone(),
                owner: name.clone(),
            });
            if let Some(user) = confab_core::ids::UserName::parse(&name) {
                logs::drop_user(connection, &app, &user).map_err(backend)?;
            }
            crate::contacts::drop_user(connection, &app, &name).map_err(backend)?;
            crate::presence::drop_user(connection, &app, &name).map_err(backend)?;
            crate::groups::drop_user(connection, &app, &name).map_err(backend)?;
            crate::rooms::drop_user(connection, &app, &name).map_err(backend)?;
            crate::threads::drop_user(connection, &app, &name).map_err(backend)?;
            for table in ["notification_settings", "push_languages", "push_tokens"] {
                connection
                    .execute(
                        &format!("DELETE FROM {table} WHERE app_key = ?1 AND owner = ?2"),
                        params![app, name],
                    )
                    .map_err(backend)?;
            }
            connection
                .execute(
                    "DELETE FROM user_attributes WHERE app_key = ?1 AND name = ?2",
                    params![app, name],
                )
                .map_err(backend)?;
            Ok(Outcome::Changed(changed > 0))
        }
        WriteOp::SetNickname {
            app,
            name,
            nickname,
            modified_ms,
        } => {
            let changed = connection
                .execute(
                    "UPDATE users SET nickname = ?3, modified_ms = ?4
                     WHERE app_key = ?1 AND name = ?2",
                    params![app, name, nickname, modified_ms as i64],
                )
                .map_err(backend)?;
            Ok(Outcome::Changed(changed > 0))
        }
        WriteOp::UpdateUserAttributes {
            app,
            name,
            changes,
            max_bytes,
        } => crate::attributes::update(connection, &app, &name, &changes, max_bytes)
            .map(Outcome::Attributes)
            .map_err(backend),
        WriteOp::AppendMessage(message) => {
            append_message(connection, message, None, log).map(Outcome::Appended)
        }
        WriteOp::AppendWithEffect(message, effect) => {
            let app = message.app.as_str().to_owned();
            let appended = append_message(connection, message, None, log)?;
            if let Appended::Stored { id, .. } = appended {
                // An effect may set the rows (a read ack clears a count).
                log.rows.flush(connection).map_err(backend)?;
                apply_effect(connection, &app, id, effect, &mut log.changes).map_err(backend)?;
            }
            Ok(Outcome::Appended(appended))
        }
        WriteOp::ImportMessage(id, message) => {
            let taken = connection
                .prepare_cached("SELECT 1 FROM messages WHERE id = ?1")
                .and_then(|mut statement| statement.exists(params![id.0 as i64]))
                .map_err(backend)?;
            if taken {
                return Err(StoreError::Duplicate(id.0.to_string()));
            }
            match append_message(connection, message, Some(id), log)? {
                Appended::Stored { .. } => Ok(Outcome::Done),
                Appended::Duplicate(id) => Err(StoreError::Duplicate(id.0.to_string())),
                Appended::UnknownRecipient(_)
                | Appended::Blocked(_)
                | Appended::NotContact(_)
                | Appended::NoGroup
                | Appended::NotGroupMember
                | Appended::Muted => Err(StoreError::Backend("unexpected import outcome".into())),
            }
        }
        WriteOp::DeviceSeen {
            app,
            device,
            now_ms,
        } => {
            let first = logs::device_seen(connection, &app, &device, now_ms).map_err(backend)?;
            if first {
                // A first login writes the device's cursors without the tails.
                log.changes.push(TailChange::ForgetOwner {
                    app,
                    owner: device.user.to_string(),
                });
            }
            Ok(Outcome::Done)
        }
        WriteOp::Pull {
            app,
            device,
            log: pulled,
            key,
            limit,
        } => {
            let log_text = pulled.key();
            // The tails are as of the last commit: what this batch did so far counts too.
            // Only a pair's log has them (`tails::follows`).
            let known = log
                .shared
                .tails
                .position(&app, &device, &log_text)
                .filter(|_| tails::follows(&pulled))
                .and_then(|known| pending_position(&log.changes, &app, &device, &log_text, known));
            if known.is_none() {
                // The pull reads the device's view from its row.
                log.rows.flush(connection).map_err(backend)?;
            }
            let entries_after =
                |after: i64, limit: u32| held_page(log, &app, &device, &log_text, after, limit);
            let known = known.map(|(after, last)| logs::Known {
                after,
                last,
                entries_after: &entries_after,
            });
            let (page, moved) =
                logs::pull(connection, &app, &device, &pulled, Some(key), limit, known)
                    .map_err(backend)?;
            if let Some(up_to) = moved {
                log.changes.push(TailChange::Cursor {
                    key: tails::cursor_key(&app, &device, &log_text),
                    up_to,
                });
                log.cursor_moved(app, log_text);
            }
            Ok(Outcome::Pulled(page))
        }
        WriteOp::Recount {
            app,
            owner,
            conversation,
            recount,
        } => logs::apply_recount(connection, &app, &owner, &conversation, &recount)
            .map(Outcome::Changed)
            .map_err(backend),
        WriteOp::Reclaim {
            unseen_since_ms,
            limit,
        } => {
            let (reclaimed, place) = logs::reclaim(
                connection,
                unseen_since_ms,
                limit,
                std::mem::take(&mut log.reclaim_place),
            )
            .map_err(backend)?;
            log.reclaim_place = place;
            log.changes.push(TailChange::ForgetAll);
            Ok(Outcome::Reclaimed(reclaimed))
        }
        WriteOp::AddReport { app, report } => {
            connection
                .execute(
                    "INSERT INTO reports (app_key, reporter, message_id, report_type, reason, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        app,
                        report.reporter.as_str(),
                        report.message.0 as i64,
                        report.report_type,
                        report.reason,
                        report.created_ms as i64
                    ],
                )
                .map_err(backend)?;
            Ok(Outcome::Id(connection.last_insert_rowid() as u64))
        }
        WriteOp::Notification(op) => crate::notifications::apply(connection, op).map_err(backend),
        WriteOp::Presence(op) => crate::presence::apply(connection, op).map_err(backend),
        WriteOp::Group(job) => job(connection).map(Outcome::Group).map_err(backend),
        WriteOp::Room(job) => job(connection).map(Outcome::Room).map_err(backend),
        WriteOp::Thread(job) => job(connection).map(Outcome::Thread).map_err(backend),
        WriteOp::Contact(op) => {
            log.blocks_possible |= op.blocks();
            crate::contacts::apply(connection, op).map_err(backend)
        }
        WriteOp::ChangePin { app, message, pin } => {
            let changed = match pin {
                Some((operator, pinned_ms)) => connection.execute(
                    "INSERT OR IGNORE INTO pinned_messages (app_key, message_id, operator, pinned_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![app, message as i64, operator, pinned_ms as i64],
                ),
                None => connection.execute(
                    "DELETE FROM pinned_messages WHERE app_key = ?1 AND message_id = ?2",
                    params![app, message as i64],
                ),
            }
            .map_err(backend)?;
            Ok(Outcome::Changed(changed > 0))
        }
        WriteOp::ChangeReaction { app, reaction, add } => {
            let changed = if add {
                connection.execute(
                    "INSERT OR IGNORE INTO reactions (app_key, message_id, reaction, user, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        app,
                        reaction.message.0 as i64,
                        reaction.reaction,
                        reaction.user.as_str(),
                        reaction.created_ms as i64
                    ],
                )
            } else {
                connection.execute(
                    "DELETE FROM reactions
                     WHERE app_key = ?1 AND message_id = ?2 AND reaction = ?3 AND user = ?4",
                    params![
                        app,
                        reaction.message.0 as i64,
                        reaction.reaction,
                        reaction.user.as_str()
                    ],
                )
            }
            .map_err(backend)?;
            Ok(Outcome::Changed(changed > 0))
        }
        WriteOp::ChangeConversation {
            app,
            owner,
            conversation,
            change,
            last_message,
        } => {
            if matches!(change, ConversationChange::Delete { .. }) {
                // Every device of the owner has read it now: their cursors are behind.
                log.changes.push(TailChange::ForgetOwner {
                    app: app.clone(),
                    owner: owner.clone(),
                });
            }
            change_conversation(
                connection,
                &app,
                &owner,
                &conversation,
                change,
                last_message,
            )
            .map_err(backend)?;
            Ok(Outcome::Done)
        }
    }
}

/// Appends `message` to its log under the next id (or `imported_as`, for an import, in no
/// log): the members exist, the insert finds a resend, then history and the members' views.
fn append_message(
    connection: &Connection,
    message: NewMessage,
    imported_as: Option<MessageId>,
    memory: &mut WriterMemory,
) -> Result<Appended, StoreError> {
    let app = message.app.as_str().to_owned();
    for member in message.log.members() {
        if *member != message.sender
            && !user_exists(connection, &mut memory.known_users, &app, member.as_str())?
        {
            // A resend of a message stored before its recipient was removed keeps its answer.
            if let Some(id) = stored_resend(connection, &app, &message)? {
                return Ok(Appended::Duplicate(id));
            }
            return Ok(Appended::UnknownRecipient(member.clone()));
        }
    }
    if !message.kind.is_empty() && imported_as.is_none() && memory.contacts_only_apps.contains(&app)
    {
        for member in message.log.members() {
            if *member != message.sender
                && !crate::contacts::are_contacts(
                    connection,
                    &app,
                    message.sender.as_str(),
                    member.as_str(),
                )
                .map_err(backend)?
            {
                return Ok(Appended::NotContact(member.clone()));
            }
        }
    }
    if let (Some(group), None) = (message.log.group(), imported_as) {
        let refused = crate::groups::check_append(
            connection,
            &app,
            group.as_str(),
            (
                message.sender.as_str(),
                !message.kind.is_empty(),
                message.sent_ms,
            ),
        )
        .map_err(backend)?;
        if let Some(refused) = refused {
            // A resend of a message stored before keeps its answer.
            if let Some(id) = stored_resend(connection, &app, &message)? {
                return Ok(Appended::Duplicate(id));
            }
            return Ok(refused);
        }
    }
    if memory.blocks_possible && imported_as.is_none() {
        for member in message.log.members() {
            if *member != message.sender
                && crate::contacts::blocked(connection, &app, member, &message.sender)
                    .map_err(backend)?
            {
                return Ok(Appended::Blocked(member.clone()));
            }
        }
    }
    let id = match imported_as {
        Some(id) => id,
        None => memory.ids.next(message.sent_ms),
    };
    let log_key = message.log.key();
    let NewMessage {
        sender,
        sender_resource,
        client_id,
        body_digest,
        meta,
        kind,
        history,
        log,
        audience,
        ..
    } = message;
    let in_log = match imported_as {
        Some(_) => None,
        None => logs::audience_column(&audience),
    };
    let meta = meta.encode(id, id.timestamp_ms());
    // The insert itself finds a resend (one index search, not a lookup and then an insert).
    let inserted = connection
        .prepare_cached(
            "INSERT INTO messages
                 (id, app_key, sender, sender_resource, client_id, body_digest, meta, kind, log)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (client_id, app_key, sender, sender_resource, body_digest) DO NOTHING",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                id.0 as i64,
                app,
                sender.as_str(),
                sender_resource,
                // Server metas have no client id; their id is unique, so no resend collides.
                client_id.unwrap_or(id.0) as i64,
                body_digest as i64,
                &meta[..],
                kind,
                in_log.as_ref().map(|_| log_key.as_str())
            ])
        })
        .map_err(backend)?;
    if inserted == 0 {
        let id = stored_resend_of(
            connection,
            &app,
            sender.as_str(),
            &sender_resource,
            client_id.unwrap_or(id.0),
            body_digest,
        )?
        .ok_or_else(|| {
            StoreError::Backend("a resend conflict without the stored message".into())
        })?;
        return Ok(Appended::Duplicate(id));
    }
    if !history.is_empty() {
        connection
            .prepare_cached(
                "INSERT INTO history_log (app_key, message_id, history) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    app,
                    id.0 as i64,
                    history_index::encode_entries(&history)
                ])
            })
            .map_err(backend)?;
    }
    if let Some(only) = &in_log {
        logs::enter(
            connection,
            &app,
            &log_key,
            id,
            sender.as_str(),
            &sender_resource,
            only.as_deref(),
        )
        .map_err(backend)?;
    }
    match (&log, in_log) {
        (_, None) => {}
        (LogId::Group(group), Some(_)) => {
            let message = (id.0 as i64, !history.is_empty());
            crate::groups::appended(connection, &app, group.as_str(), message).map_err(backend)?;
        }
        // A room's log has no head and no tail: nobody reads it (its entries, if any, leave
        // at the retention cutoff).
        (LogId::Room(_), Some(_)) => {}
        (LogId::Pair { .. }, Some(only)) => memory.changes.push(TailChange::Appended {
            log: tails::log_key(&app, &log_key),
            entry: TailEntry {
                id: id.0 as i64,
                sender: sender.as_str().to_owned(),
                sender_resource: sender_resource.clone(),
                audience: only,
                meta,
            },
        }),
    }
    let (read_by, unread_from) = match imported_as {
        Some(_) => (None, None),
        None => (Some(&audience), Some(&sender)),
    };
    memory
        .rows
        .extend(&app, &log, &log_key, read_by, unread_from, &history, id);
    Ok(Appended::Stored {
        id,
        timestamp_ms: id.timestamp_ms(),
    })
}

/// The entries of `device`'s view of `log` after `after` from the tails and this batch's
/// appends; `None` when they do not hold all of them (or the batch changed an entry).
fn held_page(
    memory: &WriterMemory,
    app: &str,
    device: &Device,
    log: &str,
    after: i64,
    limit: u32,
) -> Option<Vec<QueuedMessage>> {
    let log_key = tails::log_key(app, log);
    let mut page = memory
        .shared
        .tails
        .page_after(app, device, log, after, limit)?;
    for change in &memory.changes {
        match change {
            TailChange::Appended { log, entry }
                if *log == log_key
                    && entry.id > after
                    && entry.visible_to(device)
                    && page.len() < limit as usize =>
            {
                page.push(entry.queued());
            }
            TailChange::Removed { log, .. } | TailChange::Edited { log, .. } if *log == log_key => {
                return None
            }
            _ => {}
        }
    }
    Some(page)
}

/// A position read from the tails, moved by the changes this batch made so far (uncommitted,
/// not in the tails yet): a cursor moved further, a newer entry of the device's view. `None`
/// when the batch did something the tails do not follow (a deletion): SQLite knows.
fn pending_position(
    changes: &[TailChange],
    app: &str,
    device: &Device,
    log: &str,
    (mut after, mut last): (i64, i64),
) -> Option<(i64, i64)> {
    let (log_key, cursor_key) = (
        tails::log_key(app, log),
        tails::cursor_key(app, device, log),
    );
    for change in changes {
        match change {
            TailChange::Appended { log, entry }
                if *log == log_key
                    && entry
                        .audience
                        .as_deref()
                        .is_none_or(|only| only == device.user.as_str()) =>
            {
                last = last.max(entry.id);
            }
            TailChange::Cursor { key, up_to } if *key == cursor_key => after = after.max(*up_to),
            TailChange::ForgetOwner {
                app: forgotten,
                owner,
            } if forgotten == app && owner == device.user.as_str() => return None,
            TailChange::ForgetAll => return None,
            _ => {}
        }
    }
    Some((after, last))
}

/// The id under which `message` (same sender, resource, client id and body) is stored.
fn stored_resend(
    connection: &Connection,
    app: &str,
    message: &NewMessage,
) -> Result<Option<MessageId>, StoreError> {
    let Some(client_id) = message.client_id else {
        return Ok(None);
    };
    stored_resend_of(
        connection,
        app,
        message.sender.as_str(),
        &message.sender_resource,
        client_id,
        message.body_digest,
    )
}

fn stored_resend_of(
    connection: &Connection,
    app: &str,
    sender: &str,
    sender_resource: &str,
    client_id: u64,
    body_digest: u64,
) -> Result<Option<MessageId>, StoreError> {
    connection
        .prepare_cached(
            "SELECT id FROM messages
             WHERE client_id = ?4 AND app_key = ?1 AND sender = ?2 AND sender_resource = ?3
                   AND body_digest = ?5",
        )
        .and_then(|mut statement| {
            statement
                .query_row(
                    params![
                        app,
                        sender,
                        sender_resource,
                        client_id as i64,
                        body_digest as i64
                    ],
                    |row| row.get::<_, i64>(0),
                )
                .optional()
        })
        .map(|id| id.map(|id| MessageId(id as u64)))
        .map_err(backend)
}

fn user_exists(
    connection: &Connection,
    known_users: &mut KnownUsers,
    app: &str,
    name: &str,
) -> Result<bool, StoreError> {
    if known_users.contains(app, name) {
        return Ok(true);
    }
    let exists = connection
        .prepare_cached("SELECT 1 FROM users WHERE app_key = ?1 AND name = ?2")
        .and_then(|mut statement| statement.exists(params![app, name]))
        .map_err(backend)?;
    if exists {
        known_users.insert(app, name);
    }
    Ok(exists)
}

/// `last_message`: the conversation's newest message in the party's history, for `Delete`.
fn change_conversation(
    connection: &Connection,
    app: &str,
    owner: &str,
    conversation: &str,
    change: ConversationChange,
    last_message: Option<u64>,
) -> rusqlite::Result<()> {
    let ensure_row = |connection: &Connection| {
        connection.execute(
            "INSERT OR IGNORE INTO conversations (app_key, owner, conversation) VALUES (?1, ?2, ?3)",
            params![app, owner, conversation],
        )
    };
    match change {
        ConversationChange::Pin(pinned_ms) => {
            ensure_row(connection)?;
            connection.execute(
                "UPDATE conversations SET pinned_ms = ?4
                 WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
                params![app, owner, conversation, pinned_ms.map(|ms| ms as i64)],
            )?;
        }
        ConversationChange::AddMarks(marks) | ConversationChange::RemoveMarks(marks)
            if marks.is_empty() => {}
        ConversationChange::AddMarks(add) => {
            ensure_row(connection)?;
            let mut marks = read_marks(connection, app, owner, conversation)?;
            marks.extend(add);
            write_marks(connection, app, owner, conversation, marks)?;
        }
        ConversationChange::RemoveMarks(remove) => {
            ensure_row(connection)?;
            let mut marks = read_marks(connection, app, owner, conversation)?;
            marks.retain(|mark| !remove.contains(mark));
            write_marks(connection, app, owner, conversation, marks)?;
        }
        ConversationChange::Delete { .. } => {
            ensure_row(connection)?;
            connection.execute(
                "UPDATE conversations SET deleted_up_to = COALESCE(?4, deleted_up_to), unread = 0,
                                          version = version + 1
                 WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
                params![app, owner, conversation, last_message.map(|id| id as i64)],
            )?;
            logs::clear(connection, app, owner, conversation)?;
        }
        // History rows only: `history_index.rs` removes them.
        ConversationChange::RemoveMessages(_) | ConversationChange::RemoveBefore(_) => {}
    }
    Ok(())
}

fn read_marks(
    connection: &Connection,
    app: &str,
    owner: &str,
    conversation: &str,
) -> rusqlite::Result<Vec<u8>> {
    let text: String = connection.query_row(
        "SELECT marks FROM conversations WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
        params![app, owner, conversation],
        |row| row.get(0),
    )?;
    Ok(crate::parse_marks(&text))
}

fn write_marks(
    connection: &Connection,
    app: &str,
    owner: &str,
    conversation: &str,
    mut marks: Vec<u8>,
) -> rusqlite::Result<()> {
    marks.sort_unstable();
    marks.dedup();
    let text = marks
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",");
    connection.execute(
        "UPDATE conversations SET marks = ?4 WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
        params![app, owner, conversation, text],
    )?;
    Ok(())
}

/// The change that commits with message `id` (see `AppendEffect`).
fn apply_effect(
    connection: &Connection,
    app: &str,
    id: MessageId,
    effect: AppendEffect,
    changes: &mut Vec<TailChange>,
) -> rusqlite::Result<()> {
    let log_of = |target: MessageId| {
        connection
            .prepare_cached("SELECT log FROM messages WHERE app_key = ?1 AND id = ?2")?
            .query_row(params![app, target.0 as i64], |row| {
                row.get::<_, Option<String>>(0)
            })
            .optional()
            .map(Option::flatten)
    };
    match effect {
        AppendEffect::None => {}
        AppendEffect::Recall { target } => {
            connection
                .prepare_cached(
                    "INSERT OR IGNORE INTO recalled_messages (app_key, message_id, recalled_ms)
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![app, target.0 as i64, id.timestamp_ms() as i64])?;
            if let Some(log) = log_of(target)? {
                logs::remove(connection, app, &log, target)?;
                if let Some(group) = log.strip_prefix("g:") {
                    crate::groups::recalled(connection, app, group, target.0 as i64)?;
                }
                changes.push(TailChange::Removed {
                    log: tails::log_key(app, &log),
                    id: target.0 as i64,
                });
            }
        }
        // Logs refer to the message: its new meta is what they serve from now on.
        AppendEffect::Edit { target, meta } => {
            connection
                .prepare_cached("UPDATE messages SET meta = ?3 WHERE app_key = ?1 AND id = ?2")?
                .execute(params![app, target.0 as i64, &meta[..]])?;
            if let Some(log) = log_of(target)? {
                changes.push(TailChange::Edited {
                    log: tails::log_key(app, &log),
                    id: target.0 as i64,
                    meta,
                });
            }
        }
        AppendEffect::ConversationRead {
            owner,
            conversation,
        } => {
            connection
                .prepare_cached(
                    "INSERT INTO conversation_reads (app_key, owner, conversation, read_up_to)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (app_key, owner, conversation)
                     DO UPDATE SET read_up_to = MAX(read_up_to, excluded.read_up_to)",
                )?
                .execute(params![
                    app,
                    owner.as_str(),
                    conversation.as_str(),
                    id.0 as i64
                ])?;
            // Everything before the ack is read: the list shows nothing unread.
            connection
                .prepare_cached(
                    "UPDATE conversations SET unread = 0, version = version + 1
                     WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
                )?
                .execute(params![app, owner.as_str(), conversation.as_str()])?;
        }
    }
    Ok(())
}

fn certificates_text(app: &App) -> String {
    app.certificates
        .iter()
        .map(|certificate| certificate.expose())
        .collect::<Vec<_>>()
        .join("\n")
}

fn duplicate_or_backend(error: rusqlite::Error, what: String) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Duplicate(what),
        _ => backend(error),
    }
}
