//! The default `Store`: SQLite files in the data directory (WAL, `synchronous=FULL`): the chat
//! database, and `history.db` with the history rows derived from it (`history_index.rs`).
//!
//! Writes go to one writer thread that commits them in batches (group commit): every caller
//! waiting in a batch is answered after the single `COMMIT` that made its write durable. Reads
//! run on a small pool of read connections on tokio's blocking pool. Nothing here blocks the
//! async runtime.

mod attributes;
mod checkpoint;
mod contacts;
mod files;
mod groups;
mod history_index;
mod logs;
mod notifications;
mod presence;
mod rooms;
mod schema;
mod tails;
mod threads;
mod writer;

pub use files::DiskFileStore;

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use confab_core::{
    admin::{Admin, AdminSession},
    app::{App, AppSettings, Secret},
    ids::{AppKey, LogId, MessageId, QueueName, UserName},
    store::{
        AdminStore, AnnotationStore, AppStore, AppendEffect, AppendStore, Appended,
        AttributesUpdate, Contact, ContactChange, ContactStore, ConversationChange,
        ConversationQuery, ConversationStore, ConversationSummary, DayCount, Device, DeviceStore,
        HistoryQuery, LogCount, LogStore, NewMessage, NotificationScope, NotificationSetting,
        NotificationStore, Pending, PinnedMessage, Pulled, PushToken, QueuedMessage, Reaction,
        Reclaimed, Report, ReportStore, StoreError, StoredMessage, UserAttributes, UserStore,
    },
    user::User,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use tokio::sync::oneshot;

use contacts::ContactOp;
use history_index::{IndexJob, IndexProgress, Removal};
use notifications::NotificationOp;
use writer::{WriteOp, WriterState};

const DATABASE_FILE: &str = "confab.db";
/// Read connections, and reads running at once: a read waits for a connection rather than
/// opening one of its own (opening reads the schema; a burst of logins would open hundreds).
const READERS: usize = 8;

pub struct EmbeddedStore {
    writer: mpsc::Sender<writer::Job>,
    history: mpsc::Sender<IndexJob>,
    readers: Arc<ReaderPool>,
    state: Arc<WriterState>,
}

struct ReaderPool {
    path: std::path::PathBuf,
    history_path: std::path::PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the database in `data_dir` and starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(backend)?;
        let path = data_dir.join(DATABASE_FILE);
        let connection = Connection::open(&path).map_err(backend)?;
        let found_version = schema::prepare_writer(&connection).map_err(backend)?;
        let history_path = data_dir.join(history_index::HISTORY_FILE);
        let history_connection =
            history_index::open(&connection, &path, &history_path).map_err(backend)?;
        let progress = Arc::new(IndexProgress::default());
        let history =
            history_index::spawn(history_connection, progress.clone()).map_err(backend)?;
        if found_version < schema::LIST_ROWS_VERSION {
            backfill_list_rows(&connection, &history, &history_path)?;
        }
        let checkpointer = Connection::open(&path).map_err(backend)?;
        schema::prepare_checkpointer(&checkpointer).map_err(backend)?;
        let wal_restart = Arc::new(checkpoint::WalRestart::default());
        let checkpoints = checkpoint::spawn(checkpointer, wal_restart.clone()).map_err(backend)?;
        let state = Arc::new(WriterState {
            answers: writer::Answers::start(),
            tails: Default::default(),
            history: progress,
            wal_restart,
        });
        let writer = writer::spawn(connection, state.clone(), checkpoints).map_err(backend)?;
        Ok(EmbeddedStore {
            writer,
            history,
            readers: Arc::new(ReaderPool {
                path,
                history_path,
                idle: Mutex::new(Vec::new()),
                permits: tokio::sync::Semaphore::new(READERS),
            }),
            state,
        })
    }

    async fn write<T: Send + 'static>(
        &self,
        op: WriteOp,
        extract: fn(writer::Outcome) -> Option<T>,
    ) -> Result<T, StoreError> {
        self.submit(op, extract).await
    }

    /// Hands the job to the writer now (the writer applies jobs in arrival order); the future
    /// reports the outcome after the commit.
    fn submit<T: Send + 'static>(
        &self,
        op: WriteOp,
        extract: fn(writer::Outcome) -> Option<T>,
    ) -> Pending<T> {
        let (reply, answer) = oneshot::channel();
        let queued = self.writer.send(writer::Job { op, reply }).is_ok();
        Box::pin(async move {
            if !queued {
                return Err(StoreError::Closed);
            }
            let outcome = answer.await.map_err(|_| StoreError::Closed)??;
            extract(outcome).ok_or_else(|| StoreError::Backend("unexpected writer outcome".into()))
        })
    }

    /// Asks the history thread (`history_index.rs`) for `job` and waits for its answer.
    async fn history_job(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<(), StoreError>>) -> IndexJob,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.history
            .send(job(reply))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// History rows are indexed behind the writer: a read of history first has every message
    /// committed so far indexed.
    async fn history_caught_up(&self) -> Result<(), StoreError> {
        self.history_job(IndexJob::CatchUp).await
    }

    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        read_on(Arc::clone(&self.readers), query).await
    }
}

/// Runs `query` on a read connection of `readers`, on tokio's blocking pool.
async fn read_on<T, F>(readers: Arc<ReaderPool>, query: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    let _permit = readers
        .permits
        .acquire()
        .await
        .map_err(|_| StoreError::Closed)?;
    let pool = Arc::clone(&readers);
    tokio::task::spawn_blocking(move || {
        let connection = pool.checkout()?;
        let result = query(&connection).map_err(backend);
        pool.checkin(connection);
        result
    })
    .await
    .map_err(|_| StoreError::Closed)?
}

impl ReaderPool {
    fn checkout(&self) -> Result<Connection, StoreError> {
        let idle = match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        match idle {
            Some(connection) => Ok(connection),
            None => {
                let connection = Connection::open(&self.path).map_err(backend)?;
                schema::prepare_reader(&connection, &self.history_path).map_err(backend)?;
                Ok(connection)
            }
        }
    }

    fn checkin(&self, connection: Connection) {
        let mut idle = match self.idle.lock() {
            Ok(idle) => idle,
            Err(poisoned) => poisoned.into_inner(),
        };
        if idle.len() < READERS {
            idle.push(connection);
        }
    }
}

pub(crate) fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

const APP_COLUMNS: &str = "org, name, uuid, app_id, certificates, client_id, client_secret, \
     created_ms, secondary_until_ms, contacts_only";

fn app_from_row(row: &Row<'_>) -> rusqlite::Result<Option<App>> {
    let org: String = row.get(0)?;
    let name: String = row.get(1)?;
    let certificates: String = row.get(4)?;
    let Some(key) = AppKey::new(&org, &name) else {
        return Ok(None);
    };
    Ok(Some(App {
        key,
        uuid: row.get(2)?,
        app_id: row.get(3)?,
        certificates: certificates
            .split('\n')
            .filter(|text| !text.is_empty())
            .map(|text| Secret::new(text.to_owned()))
            .collect(),
        client_id: row.get(5)?,
        client_secret: Secret::new(row.get(6)?),
        created_ms: row.get::<_, i64>(7)? as u64,
        secondary_until_ms: row.get::<_, Option<i64>>(8)?.map(|ms| ms as u64),
        settings: AppSettings {
            contacts_only: row.get(9)?,
        },
    }))
}

const USER_COLUMNS: &str =
    "name, uuid, password_hash, nickname, activated, created_ms, modified_ms, tokens_issued_from";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<Option<User>> {
    let name: String = row.get(0)?;
    let Some(name) = UserName::parse(&name) else {
        return Ok(None);
    };
    Ok(Some(User {
        name,
        uuid: row.get(1)?,
        password_hash: row.get(2)?,
        nickname: row.get(3)?,
        activated: row.get(4)?,
        created_ms: row.get::<_, i64>(5)? as u64,
        modified_ms: row.get::<_, i64>(6)? as u64,
        tokens_issued_from: row.get(7)?,
    }))
}

#[async_trait]
impl AppStore for EmbeddedStore {
    async fn record_health_check(&self, now_ms: u64) -> Result<(), StoreError> {
        self.write(WriteOp::HealthCheck(now_ms), |outcome| match outcome {
            writer::Outcome::Done => Some(()),
            _ => None,
        })
        .await
    }

    async fn create_app(&self, app: &App) -> Result<(), StoreError> {
        self.write(WriteOp::CreateApp(app.clone()), |outcome| match outcome {
            writer::Outcome::Done => Some(()),
            _ => None,
        })
        .await
    }

    async fn app_by_key(&self, key: &AppKey) -> Result<Option<App>, StoreError> {
        let key = key.to_string();
        self.read(move |connection| {
            connection
                .query_row(
                    &format!("SELECT {APP_COLUMNS} FROM apps WHERE app_key = ?1"),
                    params![key],
                    app_from_row,
                )
                .optional()
                .map(Option::flatten)
        })
        .await
    }

    async fn app_by_app_id(&self, app_id: &str) -> Result<Option<App>, StoreError> {
        let app_id = app_id.to_owned();
        self.read(move |connection| {
            connection
                .query_row(
                    &format!("SELECT {APP_COLUMNS} FROM apps WHERE app_id = ?1"),
                    params![app_id],
                    app_from_row,
                )
                .optional()
                .map(Option::flatten)
        })
        .await
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        self.read(|connection| {
            let mut statement =
                connection.prepare(&format!("SELECT {APP_COLUMNS} FROM apps ORDER BY app_key"))?;
            let rows = statement.query_map([], app_from_row)?;
            let mut apps = Vec::new();
            for row in rows {
                apps.extend(row?);
            }
            Ok(apps)
        })
        .await
    }

    async fn update_app_credentials(&self, app: &App) -> Result<bool, StoreError> {
        self.write(
            WriteOp::UpdateAppCredentials(app.clone()),
            |outcome| match outcome {
                writer::Outcome::Changed(changed) => Some(changed),
                _ => None,
            },
        )
        .await
    }

    async fn update_app_settings(
        &self,
        key: &AppKey,
        settings: &AppSettings,
    ) -> Result<bool, StoreError> {
        self.write(
            WriteOp::UpdateAppSettings {
                key: key.to_string(),
                settings: settings.clone(),
            },
            |outcome| match outcome {
                writer::Outcome::Changed(changed) => Some(changed),
                _ => None,
            },
        )
        .await
    }
}

#[async_trait]
impl UserStore for EmbeddedStore {
    async fn create_users(&self, app: &AppKey, users: &[User]) -> Result<(), StoreError> {
        self.write(
            WriteOp::CreateUsers(app.as_str().to_owned(), users.to_vec()),
            |outcome| match outcome {
                writer::Outcome::Done => Some(()),
                _ => None,
            },
        )
        .await
    }

    async fn user(&self, app: &AppKey, name: &UserName) -> Result<Option<User>, StoreError> {
        let (app, name) = (app.as_str().to_owned(), name.to_string());
        // Read at every login: the statement is parsed once per reader connection.
        self.read(move |connection| {
            connection
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE app_key = ?1 AND name = ?2"
                ))?
                .query_row(params![app, name], user_from_row)
                .optional()
                .map(Option::flatten)
        })
        .await
    }

    async fn list_users(
        &self,
        app: &AppKey,
        prefix: &str,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        let app = app.as_str().to_owned();
        let prefix = prefix.to_owned();
        let after = after.map(|name| name.to_string()).unwrap_or_default();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                 WHERE app_key = ?1 AND name > ?2 AND name >= ?3
                   AND substr(name, 1, length(?3)) = ?3
                 ORDER BY name LIMIT ?4"
            ))?;
            let rows = statement.query_map(params![app, after, prefix, limit], user_from_row)?;
            let mut users = Vec::new();
            for row in rows {
                users.extend(row?);
            }
            Ok(users)
        })
        .await
    }

    async fn count_users(&self, app: &AppKey) -> Result<u64, StoreError> {
        let app = app.as_str().to_owned();
        self.read(move |connection| {
            connection
                .query_row(
                    "SELECT COUNT(*) FROM users WHERE app_key = ?1",
                    params![app],
                    |row| row.get::<_, i64>(0),
                )
                .map(|count| count as u64)
        })
        .await
    }

    async fn update_password(
        &self,
        app: &AppKey,
        name: &UserName,
        password_hash: &str,
        tokens_issued_from: u32,
        modified_ms: u64,
    ) -> Result<bool, StoreError> {
        self.write(
            WriteOp::UpdatePassword {
                app: app.as_str().to_owned(),
                name: name.to_string(),
                password_hash: password_hash.to_owned(),
                tokens_issued_from,
                modified_ms,
            },
            |outcome| match outcome {
                writer::Outcome::Changed(changed) => Some(changed),
                _ => None,
            },
        )
        .await
    }

    async fn set_activated(
        &self,
        app: &AppKey,
        name: &UserName,
        activated: bool,
        modified_ms: u64,
    ) -> Result<bool, StoreError> {
        self.write(
            WriteOp::SetActivated {
                app: app.as_str().to_owned(),
                name: name.to_string(),
                activated,
                modified_ms,
            },
            |outcome| match outcome {
                writer::Outcome::Changed(changed) => Some(changed),
                _ => None,
            },
        )
        .await
    }

    async fn delete_user(&self, app: &AppKey, name: &UserName) -> Result<Option<User>, StoreError> {
        let Some(user) = self.user(app, name).await? else {
            return Ok(None);
        };
        let deleted = self
            .write(
                WriteOp::DeleteUser {
                    app: app.as_str().to_owned(),
                    name: name.to_string(),
                },
                |outcome| match outcome {
                    writer::Outcome::Changed(changed) => Some(changed),
                    _ => None,
                },
            )
            .await?;
        Ok(deleted.then_some(user))
    }

    async fn set_nickname(
        &self,
        app: &AppKey,
        name: &UserName,
        nickname: &str,
        modified_ms: u64,
    ) -> Result<bool, StoreError> {
        self.write(
            WriteOp::SetNickname {
                app: app.to_string(),
                name: name.to_string(),
                nickname: nickname.to_owned(),
                modified_ms,
            },
            |outcome| match outcome {
                writer::Outcome::Changed(changed) => Some(changed),
                _ => None,
            },
        )
        .await
    }

    async fn update_user_attributes(
        &self,
        app: &AppKey,
        name: &UserName,
        changes: &[(String, String)],
        max_bytes: usize,
    ) -> Result<AttributesUpdate, StoreError> {
        self.write(
            WriteOp::UpdateUserAttributes {
                app: app.to_string(),
                name: name.to_string(),
                changes: changes.to_vec(),
                max_bytes,
            },
            |outcome| match outcome {
                writer::Outcome::Attributes(update) => Some(update),
                _ => None,
            },
        )
        .await
    }

    async fn user_attributes(
        &self,
        app: &AppKey,
        names: &[UserName],
    ) -> Result<Vec<(UserName, UserAttributes)>, StoreError> {
        let (app, names) = (app.to_string(), names.to_vec());
        self.read(move |connection| {
            let mut found = Vec::with_capacity(names.len());
            for name in names {
                let exists = connection
                    .prepare_cached("SELECT 1 FROM users WHERE app_key = ?1 AND name = ?2")?
                    .exists(params![app, name.as_str()])?;
                if exists {
                    let attributes = attributes::read(connection, &app, name.as_str())?;
                    found.push((name, attributes));
                }
            }
            Ok(found)
        })
        .await
    }
}

#[async_trait]
impl AppendStore for EmbeddedStore {
    fn submit_append(&self, message: NewMessage) -> Pending<Appended> {
        self.submit(WriteOp::AppendMessage(message), |outcome| match outcome {
            writer::Outcome::Appended(appended) => Some(appended),
            _ => None,
        })
    }

    fn submit_append_with(&self, message: NewMessage, effect: AppendEffect) -> Pending<Appended> {
        self.submit(
            WriteOp::AppendWithEffect(message, effect),
            |outcome| match outcome {
                writer::Outcome::Appended(appended) => Some(appended),
                _ => None,
            },
        )
    }
}

#[async_trait]
impl LogStore for EmbeddedStore {
    async fn stored_message(
        &self,
        app: &AppKey,
        id: MessageId,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let app = app.as_str().to_owned();
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT m.sender, m.meta, r.message_id IS NOT NULL FROM messages m
                     LEFT JOIN recalled_messages r ON r.app_key = m.app_key AND r.message_id = m.id
                     WHERE m.app_key = ?1 AND m.id = ?2",
                )?
                .query_row(params![app, id.0 as i64], |row| {
                    let sender = UserName::parse(&row.get::<_, String>(0)?);
                    let meta = Bytes::from(row.get::<_, Vec<u8>>(1)?);
                    let recalled: bool = row.get(2)?;
                    Ok(sender.map(|sender| StoredMessage {
                        id,
                        sender,
                        meta,
                        recalled,
                    }))
                })
                .optional()
                .map(Option::flatten)
        })
        .await
    }

    async fn unread_counts(
        &self,
        app: &AppKey,
        device: &Device,
    ) -> Result<Vec<LogCount>, StoreError> {
        let (app, device) = (app.as_str().to_owned(), device.clone());
        self.read(move |connection| logs::unread_counts(connection, &app, &device))
            .await
    }

    fn submit_pull(
        &self,
        app: &AppKey,
        device: &Device,
        log: &LogId,
        key: Option<MessageId>,
        limit: u32,
    ) -> Pending<Pulled> {
        let (app, device, log) = (app.as_str().to_owned(), device.clone(), log.clone());
        match key {
            // The cursor moves in the writer, in call order with appends.
            Some(key) => self.submit(
                WriteOp::Pull {
                    app,
                    device,
                    log,
                    key,
                    limit,
                },
                |outcome| match outcome {
                    writer::Outcome::Pulled(pulled) => Some(pulled),
                    _ => None,
                },
            ),
            // Nothing to write: a reader serves it, without waiting for a commit. What it
            // reads is committed, which is all a notice ever announces.
            None => {
                if tails::follows(&log) {
                    if let Some(page) = self.state.tails.page(&app, &device, &log.key(), limit) {
                        return Box::pin(std::future::ready(Ok(Pulled::Page(page))));
                    }
                }
                Box::pin(read_on(Arc::clone(&self.readers), move |connection| {
                    logs::pull(connection, &app, &device, &log, None, limit, None)
                        .map(|(page, _)| page)
                }))
            }
        }
    }

    async fn reclaim(&self, unseen_since_ms: u64, limit: u32) -> Result<Reclaimed, StoreError> {
        self.write(
            WriteOp::Reclaim {
                unseen_since_ms,
                limit,
            },
            |outcome| match outcome {
                writer::Outcome::Reclaimed(reclaimed) => Some(reclaimed),
                _ => None,
            },
        )
        .await
    }

    async fn daily_message_counts(
        &self,
        app: &AppKey,
        since_ms: u64,
    ) -> Result<Vec<DayCount>, StoreError> {
        const DAY_MS: i64 = 86_400_000;
        let app = app.as_str().to_owned();
        // Ids are `unix_ms << 22 | …`; the shift keeps them below i64::MAX until the year 2514.
        let first_id = i64::try_from(since_ms.saturating_mul(1 << 22)).unwrap_or(i64::MAX);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT ((id >> 22) / ?3) * ?3 AS day, COUNT(*) FROM messages
                 WHERE app_key = ?1 AND id >= ?2 GROUP BY day ORDER BY day",
            )?;
            let rows = statement.query_map(params![app, first_id, DAY_MS], |row| {
                Ok(DayCount {
                    day_start_ms: row.get::<_, i64>(0)? as u64,
                    count: row.get::<_, i64>(1)? as u64,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn history_page(
        &self,
        app: &AppKey,
        owner: &UserName,
        query: &HistoryQuery,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        self.history_caught_up().await?;
        let (app, owner) = (app.as_str().to_owned(), owner.to_string());
        let query = query.clone();
        // A member reads a group's shared history less what they removed one way (no removal
        // rows are ever recorded for a pair conversation, nor for the shared owner).
        let history_owner = if query.conversation.is_group() {
            UserName::group_history().to_string()
        } else {
            owner.clone()
        };
        // Ids are `unix_ms << 22 | …`, so a time range is an id range.
        let mut above: i64 = match query.start_ms {
            Some(ms) => id_floor(ms).saturating_sub(1),
            None => -1,
        };
        let mut below: i64 = match query.end_ms {
            Some(ms) => id_floor(ms.saturating_add(1)),
            None => i64::MAX,
        };
        if let Some(cursor) = query.cursor {
            let cursor = i64::try_from(cursor.0).unwrap_or(i64::MAX);
            if query.newest_first {
                below = below.min(cursor);
            } else {
                above = above.max(cursor);
            }
        }
        let order = if query.newest_first { "DESC" } else { "ASC" };
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT m.id, m.meta FROM conversation_messages c JOIN messages m ON m.id = c.message_id
                 WHERE c.app_key = ?1 AND c.owner = ?2 AND c.conversation = ?3
                   AND c.message_id > ?4 AND c.message_id < ?5
                   AND (?6 IS NULL OR m.sender = ?6)
                   AND (?7 = '' OR instr(',' || ?7 || ',', ',' || m.kind || ',') > 0)
                   AND NOT EXISTS (SELECT 1 FROM recalled_messages r
                                   WHERE r.app_key = c.app_key AND r.message_id = c.message_id)
                   AND c.message_id >= COALESCE(
                       (SELECT f.first_kept FROM member_floors f
                        WHERE f.app_key = ?1 AND f.owner = ?9 AND f.conversation = ?3), 0)
                   AND NOT EXISTS (SELECT 1 FROM member_removals x
                                   WHERE x.app_key = ?1 AND x.owner = ?9
                                     AND x.conversation = ?3 AND x.message_id = c.message_id)
                 ORDER BY c.message_id {order} LIMIT ?8"
            ))?;
            let from = query.from.as_ref().map(|name| name.as_str().to_owned());
            let kinds = query.kinds.join(",");
            let rows = statement.query_map(
                params![
                    app,
                    history_owner,
                    query.conversation.as_str(),
                    above,
                    below,
                    from,
                    kinds,
                    query.limit,
                    owner
                ],
                |row| {
                    Ok(QueuedMessage {
                        id: MessageId(row.get::<_, i64>(0)? as u64),
                        meta: Bytes::from(row.get::<_, Vec<u8>>(1)?),
                    })
                },
            )?;
            rows.collect()
        })
        .await
    }

    async fn messages_between(
        &self,
        app: &AppKey,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        let app = app.as_str().to_owned();
        let (first, end) = (id_floor(start_ms), id_floor(end_ms));
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT m.id, m.meta FROM messages m
                 WHERE m.app_key = ?1 AND m.id >= ?2 AND m.id < ?3 AND m.kind != ''
                   AND NOT EXISTS (SELECT 1 FROM recalled_messages r
                                   WHERE r.app_key = m.app_key AND r.message_id = m.id)
                 ORDER BY m.id",
            )?;
            let rows = statement.query_map(params![app, first, end], |row| {
                Ok(QueuedMessage {
                    id: MessageId(row.get::<_, i64>(0)? as u64),
                    meta: Bytes::from(row.get::<_, Vec<u8>>(1)?),
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn import_message(&self, id: MessageId, message: NewMessage) -> Result<(), StoreError> {
        self.write(
            WriteOp::ImportMessage(id, message),
            |outcome| match outcome {
                writer::Outcome::Done => Some(()),
                _ => None,
            },
        )
        .await
    }
}

#[async_trait]
impl DeviceStore for EmbeddedStore {
    async fn device_seen(
        &self,
        app: &AppKey,
        device: &Device,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        // A login of a device seen within the hour writes nothing: "last seen" serves only
        // the retention, counted in days, and a write is a commit every login would wait for.
        const SEEN_RECENTLY_MS: u64 = 3_600_000;
        let (app_text, known) = (app.as_str().to_owned(), device.clone());
        let seen = self
            .read(move |connection| logs::last_seen(connection, &app_text, &known))
            .await?;
        if seen.is_some_and(|seen| now_ms.saturating_sub(seen) < SEEN_RECENTLY_MS) {
            return Ok(());
        }
        let op = WriteOp::DeviceSeen {
            app: app.as_str().to_owned(),
            device: device.clone(),
            now_ms,
        };
        self.write(op, |outcome| match outcome {
            writer::Outcome::Done => Some(()),
            _ => None,
        })
        .await
    }
}

#[async_trait]
impl ConversationStore for EmbeddedStore {
    async fn conversation_read_up_to(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<Option<MessageId>, StoreError> {
        let (app, owner) = (app.as_str().to_owned(), owner.to_string());
        let conversation = conversation.as_str().to_owned();
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT read_up_to FROM conversation_reads
                     WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
                )?
                .query_row(params![app, owner, conversation], |row| {
                    row.get::<_, i64>(0).map(|id| MessageId(id as u64))
                })
                .optional()
        })
        .await
    }

    async fn conversations(
        &self,
        app: &AppKey,
        owner: &UserName,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let (app, owner, query) = (app.as_str().to_owned(), owner.to_string(), query.clone());
        self.read(move |connection| logs::list_page(connection, &app, &owner, &query))
            .await
    }

    async fn recount_conversation(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<(), StoreError> {
        // A few attempts: each fails only when a message or read ack changed the row between
        // the read and the write.
        for _ in 0..8 {
            self.history_caught_up().await?;
            let (app_text, owner_text) = (app.as_str().to_owned(), owner.to_string());
            let conversation_text = conversation.as_str().to_owned();
            let recount = self
                .read(move |connection| {
                    logs::recount(connection, &app_text, &owner_text, &conversation_text)
                })
                .await?;
            let op = WriteOp::Recount {
                app: app.as_str().to_owned(),
                owner: owner.to_string(),
                conversation: conversation.as_str().to_owned(),
                recount,
            };
            let applied = self
                .write(op, |outcome| match outcome {
                    writer::Outcome::Changed(applied) => Some(applied),
                    _ => None,
                })
                .await?;
            if applied {
                return Ok(());
            }
        }
        Err(StoreError::Backend(
            "the conversation kept changing during its recount".into(),
        ))
    }

    async fn change_conversation(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
        change: ConversationChange,
    ) -> Result<(), StoreError> {
        let removal = Removal::of(&change);
        let history_only = matches!(
            change,
            ConversationChange::RemoveMessages(_) | ConversationChange::RemoveBefore(_)
        );
        // A deletion hides the conversation up to its newest message; the index has it.
        let last_message = match change {
            ConversationChange::Delete { .. } => {
                self.history_caught_up().await?;
                // A group's history is the one its members share.
                let history_owner = if conversation.is_group() {
                    UserName::group_history()
                } else {
                    owner.clone()
                };
                let (app, owner) = (app.as_str().to_owned(), history_owner.to_string());
                let conversation = conversation.as_str().to_owned();
                self.read(move |connection| {
                    connection.query_row(
                        "SELECT MAX(message_id) FROM conversation_messages
                         WHERE app_key = ?1 AND owner = ?2 AND conversation = ?3",
                        params![app, owner, conversation],
                        |row| row.get::<_, Option<i64>>(0),
                    )
                })
                .await?
                .map(|id| id as u64)
            }
            _ => None,
        };
        if !history_only {
            self.write(
                WriteOp::ChangeConversation {
                    app: app.as_str().to_owned(),
                    owner: owner.to_string(),
                    conversation: conversation.as_str().to_owned(),
                    change,
                    last_message,
                },
                |outcome| match outcome {
                    writer::Outcome::Done => Some(()),
                    _ => None,
                },
            )
            .await?;
        }
        let Some(removal) = removal else {
            return Ok(());
        };
        // A group's history is its members' together: a member's removal is theirs alone.
        let shared = conversation.is_group();
        self.history_job(|reply| IndexJob::Remove {
            app: app.as_str().to_owned(),
            owner: owner.to_string(),
            conversation: conversation.as_str().to_owned(),
            shared,
            removal,
            reply,
        })
        .await?;
        if shared {
            // A group's list row is worked out from the shared history when read.
            return Ok(());
        }
        // The list row follows what history lost.
        self.recount_conversation(app, owner, conversation).await
    }
}

#[async_trait]
impl NotificationStore for EmbeddedStore {
    async fn set_notification_setting(
        &self,
        app: &AppKey,
        owner: &UserName,
        scope: &NotificationScope,
        setting: Option<&NotificationSetting>,
    ) -> Result<(), StoreError> {
        self.notification_write(NotificationOp::Setting {
            app: app.to_string(),
            owner: owner.to_string(),
            scope: notifications::scope_text(scope),
            setting: setting.cloned(),
        })
        .await
    }

    async fn notification_settings(
        &self,
        app: &AppKey,
        owner: &UserName,
        scopes: &[NotificationScope],
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, StoreError> {
        self.read_notification_settings(app.to_string(), owner.to_string(), scopes.to_vec())
            .await
    }

    async fn conversations_with_remind_type(
        &self,
        app: &AppKey,
        owner: &UserName,
        after: Option<&NotificationScope>,
        limit: u32,
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, StoreError> {
        let after = after.map(notifications::scope_text).unwrap_or_default();
        self.read_remind_types(app.to_string(), owner.to_string(), after, limit)
            .await
    }

    async fn set_push_language(
        &self,
        app: &AppKey,
        owner: &UserName,
        language: Option<&str>,
    ) -> Result<(), StoreError> {
        self.notification_write(NotificationOp::Language {
            app: app.to_string(),
            owner: owner.to_string(),
            language: language.map(str::to_owned),
        })
        .await
    }

    async fn push_language(
        &self,
        app: &AppKey,
        owner: &UserName,
    ) -> Result<Option<String>, StoreError> {
        self.read_push_language(app.to_string(), owner.to_string())
            .await
    }

    async fn set_push_token(
        &self,
        app: &AppKey,
        owner: &UserName,
        token: &PushToken,
    ) -> Result<(), StoreError> {
        self.notification_write(NotificationOp::Token {
            app: app.to_string(),
            owner: owner.to_string(),
            token: token.clone(),
        })
        .await
    }

    async fn push_tokens(
        &self,
        app: &AppKey,
        owner: &UserName,
    ) -> Result<Vec<PushToken>, StoreError> {
        self.read_push_tokens(app.to_string(), owner.to_string())
            .await
    }
}

#[async_trait]
impl ReportStore for EmbeddedStore {
    async fn add_report(&self, app: &AppKey, report: &Report) -> Result<u64, StoreError> {
        self.write(
            WriteOp::AddReport {
                app: app.to_string(),
                report: report.clone(),
            },
            |outcome| match outcome {
                writer::Outcome::Id(id) => Some(id),
                _ => None,
            },
        )
        .await
    }

    async fn reports(
        &self,
        app: &AppKey,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Report>, StoreError> {
        let app = app.to_string();
        let before = before.map_or(i64::MAX, |id| id.min(i64::MAX as u64) as i64);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT id, reporter, message_id, report_type, reason, created_ms FROM reports
                 WHERE app_key = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = statement.query_map(params![app, before, limit], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })?;
            let mut reports = Vec::new();
            for row in rows {
                let (id, reporter, message, report_type, reason, created_ms) = row?;
                if let Some(reporter) = UserName::parse(&reporter) {
                    reports.push(Report {
                        id: id as u64,
                        reporter,
                        message: MessageId(message as u64),
                        report_type,
                        reason,
                        created_ms: created_ms as u64,
                    });
                }
            }
            Ok(reports)
        })
        .await
    }
}

#[async_trait]
impl ContactStore for EmbeddedStore {
    async fn request_contact(
        &self,
        app: &AppKey,
        inviter: &UserName,
        invitee: &UserName,
        reason: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.contact_write(ContactOp::Request {
            app: app.to_string(),
            inviter: inviter.to_string(),
            invitee: invitee.to_string(),
            reason: reason.to_owned(),
            now_ms,
        })
        .await
        .map(|change| change == ContactChange::Done)
    }

    async fn answer_contact_request(
        &self,
        app: &AppKey,
        (invitee, inviter): (&UserName, &UserName),
        accept: bool,
        max_contacts: u32,
        now_ms: u64,
    ) -> Result<ContactChange, StoreError> {
        self.contact_write(ContactOp::Answer {
            app: app.to_string(),
            invitee: invitee.to_string(),
            inviter: inviter.to_string(),
            accept,
            max_contacts,
            now_ms,
        })
        .await
    }

    async fn add_contact(
        &self,
        app: &AppKey,
        (owner, contact): (&UserName, &UserName),
        max_contacts: u32,
        now_ms: u64,
    ) -> Result<ContactChange, StoreError> {
        self.contact_write(ContactOp::Add {
            app: app.to_string(),
            owner: owner.to_string(),
            contact: contact.to_string(),
            max_contacts,
            now_ms,
        })
        .await
    }

    async fn delete_contact(
        &self,
        app: &AppKey,
        owner: &UserName,
        contact: &UserName,
    ) -> Result<bool, StoreError> {
        self.contact_write(ContactOp::Delete {
            app: app.to_string(),
            owner: owner.to_string(),
            contact: contact.to_string(),
        })
        .await
        .map(|change| change == ContactChange::Done)
    }

    async fn set_contact_remark(
        &self,
        app: &AppKey,
        owner: &UserName,
        contact: &UserName,
        remark: &str,
    ) -> Result<bool, StoreError> {
        self.contact_write(ContactOp::Remark {
            app: app.to_string(),
            owner: owner.to_string(),
            contact: contact.to_string(),
            remark: remark.to_owned(),
        })
        .await
        .map(|change| change == ContactChange::Done)
    }

    async fn contacts(
        &self,
        app: &AppKey,
        owner: &UserName,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<Contact>, StoreError> {
        self.read_contacts(
            app.to_string(),
            owner.to_string(),
            after.map(UserName::to_string),
            limit,
        )
        .await
    }

    async fn change_blocks(
        &self,
        app: &AppKey,
        owner: &UserName,
        (users, block): (&[UserName], bool),
        max_blocked: u32,
        now_ms: u64,
    ) -> Result<ContactChange, StoreError> {
        self.contact_write(ContactOp::Blocks {
            app: app.to_string(),
            owner: owner.to_string(),
            users: users.iter().map(UserName::to_string).collect(),
            block,
            max_blocked,
            now_ms,
        })
        .await
    }

    async fn blocked_users(
        &self,
        app: &AppKey,
        owner: &UserName,
        limit: u32,
    ) -> Result<Vec<UserName>, StoreError> {
        self.read_blocked(app.to_string(), owner.to_string(), limit)
            .await
    }

    async fn is_blocked(
        &self,
        app: &AppKey,
        owner: &UserName,
        user: &UserName,
    ) -> Result<bool, StoreError> {
        self.read_is_blocked(app.to_string(), owner.to_string(), user.to_string())
            .await
    }
}

#[async_trait]
impl AnnotationStore for EmbeddedStore {
    async fn change_pin(
        &self,
        app: &AppKey,
        message: MessageId,
        pin: Option<(&UserName, u64)>,
    ) -> Result<bool, StoreError> {
        self.write(
            WriteOp::ChangePin {
                app: app.as_str().to_owned(),
                message: message.0,
                pin: pin.map(|(operator, at)| (operator.to_string(), at)),
            },
            |outcome| match outcome {
                writer::Outcome::Changed(changed) => Some(changed),
                _ => None,
            },
        )
        .await
    }

    async fn pinned_messages(
        &self,
        app: &AppKey,
        owner: &UserName,
        conversation: &QueueName,
    ) -> Result<Vec<PinnedMessage>, StoreError> {
        self.history_caught_up().await?;
        let (app, owner) = (app.as_str().to_owned(), owner.to_string());
        let conversation = conversation.as_str().to_owned();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT m.id, m.meta, p.operator, p.pinned_ms
                 FROM pinned_messages p
                 JOIN conversation_messages c
                   ON c.app_key = p.app_key AND c.message_id = p.message_id
                 JOIN messages m ON m.id = p.message_id
                 WHERE p.app_key = ?1 AND c.owner = ?2 AND c.conversation = ?3
                   AND NOT EXISTS (SELECT 1 FROM recalled_messages r
                                   WHERE r.app_key = p.app_key AND r.message_id = p.message_id)
                 ORDER BY p.pinned_ms DESC, m.id DESC",
            )?;
            let rows = statement.query_map(params![app, owner, conversation], |row| {
                Ok((
                    QueuedMessage {
                        id: MessageId(row.get::<_, i64>(0)? as u64),
                        meta: Bytes::from(row.get::<_, Vec<u8>>(1)?),
                    },
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)? as u64,
                ))
            })?;
            let mut pinned = Vec::new();
            for row in rows {
                let (message, operator, pinned_ms) = row?;
                if let Some(operator) = UserName::parse(&operator) {
                    pinned.push(PinnedMessage {
                        message,
                        operator,
                        pinned_ms,
                    });
                }
            }
            Ok(pinned)
        })
        .await
    }

    async fn change_reaction(
        &self,
        app: &AppKey,
        reaction: &Reaction,
        add: bool,
    ) -> Result<bool, StoreError> {
        self.write(
            WriteOp::ChangeReaction {
                app: app.as_str().to_owned(),
                reaction: reaction.clone(),
                add,
            },
            |outcome| match outcome {
                writer::Outcome::Changed(changed) => Some(changed),
                _ => None,
            },
        )
        .await
    }

    async fn reactions(
        &self,
        app: &AppKey,
        messages: &[MessageId],
    ) -> Result<Vec<Reaction>, StoreError> {
        let app = app.as_str().to_owned();
        let messages = messages.to_vec();
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT message_id, reaction, user, created_ms,
                        MIN(created_ms) OVER (PARTITION BY message_id, reaction) AS first_ms
                 FROM reactions WHERE app_key = ?1 AND message_id = ?2
                 ORDER BY first_ms, reaction, created_ms, user",
            )?;
            let mut reactions = Vec::new();
            for message in messages {
                let rows = statement.query_map(params![app, message.0 as i64], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })?;
                for row in rows {
                    let (id, reaction, user, created_ms) = row?;
                    if let Some(user) = UserName::parse(&user) {
                        reactions.push(Reaction {
                            message: MessageId(id as u64),
                            reaction,
                            user,
                            created_ms: created_ms as u64,
                        });
                    }
                }
            }
            Ok(reactions)
        })
        .await
    }
}

#[async_trait]
impl AdminStore for EmbeddedStore {
    async fn create_admin(&self, admin: &Admin) -> Result<(), StoreError> {
        self.write(
            WriteOp::CreateAdmin(admin.clone()),
            |outcome| match outcome {
                writer::Outcome::Done => Some(()),
                _ => None,
            },
        )
        .await
    }

    async fn create_first_admin(&self, admin: &Admin) -> Result<bool, StoreError> {
        self.write(
            WriteOp::CreateFirstAdmin(admin.clone()),
            |outcome| match outcome {
                writer::Outcome::Changed(created) => Some(created),
                _ => None,
            },
        )
        .await
    }

    async fn admin(&self, username: &str) -> Result<Option<Admin>, StoreError> {
        let username = username.to_owned();
        self.read(move |connection| {
            connection
                .query_row(
                    "SELECT username, password_hash, created_ms FROM admins WHERE username = ?1",
                    params![username],
                    |row| {
                        Ok(Admin {
                            username: row.get(0)?,
                            password_hash: row.get(1)?,
                            created_ms: row.get::<_, i64>(2)? as u64,
                        })
                    },
                )
                .optional()
        })
        .await
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        self.read(|connection| {
            connection
                .query_row("SELECT COUNT(*) FROM admins", [], |row| {
                    row.get::<_, i64>(0)
                })
                .map(|count| count as u64)
        })
        .await
    }

    async fn create_admin_session(&self, session: &AdminSession) -> Result<(), StoreError> {
        self.write(
            WriteOp::CreateAdminSession(session.clone()),
            |outcome| match outcome {
                writer::Outcome::Done => Some(()),
                _ => None,
            },
        )
        .await
    }

    async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError> {
        let id_hash = id_hash.to_owned();
        self.read(move |connection| {
            connection
                .query_row(
                    "SELECT id_hash, username, csrf_token, created_ms, expires_ms
                     FROM admin_sessions WHERE id_hash = ?1",
                    params![id_hash],
                    |row| {
                        Ok(AdminSession {
                            id_hash: row.get(0)?,
                            username: row.get(1)?,
                            csrf_token: Secret::new(row.get(2)?),
                            created_ms: row.get::<_, i64>(3)? as u64,
                            expires_ms: row.get::<_, i64>(4)? as u64,
                        })
                    },
                )
                .optional()
        })
        .await
    }

    async fn delete_admin_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.write(
            WriteOp::DeleteAdminSession(id_hash.to_owned()),
            |outcome| match outcome {
                writer::Outcome::Done => Some(()),
                _ => None,
            },
        )
        .await
    }
}

/// Fills the conversation list's rows from history, once, when the store opens on a schema
/// that had none: the history thread first indexes everything, then one transaction reads it.
fn backfill_list_rows(
    connection: &Connection,
    history: &mpsc::Sender<IndexJob>,
    history_path: &Path,
) -> Result<(), StoreError> {
    let (reply, answer) = oneshot::channel();
    history
        .send(IndexJob::CatchUp(reply))
        .map_err(|_| StoreError::Closed)?;
    // `open` may run inside an async runtime, where blocking on the answer is not allowed:
    // a thread of its own waits.
    std::thread::scope(|scope| scope.spawn(|| answer.blocking_recv()).join())
        .map_err(|_| StoreError::Closed)?
        .map_err(|_| StoreError::Closed)??;
    connection
        .execute(
            "ATTACH DATABASE ?1 AS history",
            [history_path.to_string_lossy()],
        )
        .map_err(backend)?;
    let filled =
        connection
            .execute_batch("BEGIN IMMEDIATE;")
            .and_then(|()| match logs::backfill_list_rows(connection) {
                Ok(()) => connection.execute_batch("COMMIT;"),
                Err(error) => {
                    let _ = connection.execute_batch("ROLLBACK;");
                    Err(error)
                }
            });
    let detached = connection.execute_batch("DETACH DATABASE history;");
    filled.map_err(backend)?;
    detached.map_err(backend)
}

/// The first message id of the millisecond `ms` (ids are `unix_ms << 22 | …`).
fn id_floor(ms: u64) -> i64 {
    i64::try_from(ms.saturating_mul(1 << 22)).unwrap_or(i64::MAX)
}

/// Conversation marks as stored: comma-separated numbers.
pub(crate) fn parse_marks(text: &str) -> Vec<u8> {
    text.split(',')
        .filter_map(|mark| mark.trim().parse().ok())
        .collect()
}
