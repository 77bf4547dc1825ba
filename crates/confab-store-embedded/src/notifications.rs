//! Push-notification settings (`NotificationStore`): silent mode per scope, the push language,
//! push tokens. Scopes are stored as text: `""` (the account), `u:<user>`, `g:<group>`.

use confab_core::store::{NotificationScope, NotificationSetting, PushToken, StoreError};
use rusqlite::{params, Connection, OptionalExtension};

use crate::{writer::Outcome, EmbeddedStore};

pub(crate) enum NotificationOp {
    Setting {
        app: String,
        owner: String,
        scope: String,
        setting: Option<NotificationSetting>,
    },
    Language {
        app: String,
        owner: String,
        language: Option<String>,
    },
    Token {
        app: String,
        owner: String,
        token: PushToken,
    },
}

pub(crate) fn scope_text(scope: &NotificationScope) -> String {
    match scope {
        NotificationScope::Account => String::new(),
        NotificationScope::User(id) => format!("u:{id}"),
        NotificationScope::Group(id) => format!("g:{id}"),
    }
}

fn scope_of(text: &str) -> Option<NotificationScope> {
    if text.is_empty() {
        return Some(NotificationScope::Account);
    }
    match text.split_once(':')? {
        ("u", id) => Some(NotificationScope::User(id.to_owned())),
        ("g", id) => Some(NotificationScope::Group(id.to_owned())),
        _ => None,
    }
}

pub(crate) fn apply(connection: &Connection, op: NotificationOp) -> rusqlite::Result<Outcome> {
    match op {
        NotificationOp::Setting {
            app,
            owner,
            scope,
            setting: Some(setting),
        } => {
            connection.execute(
                "INSERT INTO notification_settings
                     (app_key, owner, scope, remind_type, ignore_until_ms, ignore_interval)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (app_key, owner, scope) DO UPDATE SET
                     remind_type = excluded.remind_type,
                     ignore_until_ms = excluded.ignore_until_ms,
                     ignore_interval = excluded.ignore_interval",
                params![
                    app,
                    owner,
                    scope,
                    setting.remind_type,
                    setting.ignore_until_ms.map(|ms| ms as i64),
                    setting.ignore_interval
                ],
            )?;
        }
        NotificationOp::Setting {
            app,
            owner,
            scope,
            setting: None,
        } => {
            connection.execute(
                "DELETE FROM notification_settings WHERE app_key = ?1 AND owner = ?2 AND scope = ?3",
                params![app, owner, scope],
            )?;
        }
        NotificationOp::Language {
            app,
            owner,
            language,
        } => {
            connection.execute(
                "INSERT INTO push_languages (app_key, owner, language) VALUES (?1, ?2, ?3)
                 ON CONFLICT (app_key, owner) DO UPDATE SET language = excluded.language",
                params![app, owner, language],
            )?;
        }
        NotificationOp::Token { app, owner, token } => {
            if token.device_token.is_empty() {
                connection.execute(
                    "DELETE FROM push_tokens WHERE app_key = ?1 AND owner = ?2 AND device_id = ?3",
                    params![app, owner, token.device_id],
                )?;
            } else {
                connection.execute(
                    "INSERT INTO push_tokens (app_key, owner, device_id, device_token, notifier)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (app_key, owner, device_id) DO UPDATE SET
                         device_token = excluded.device_token, notifier = excluded.notifier",
                    params![
                        app,
                        owner,
                        token.device_id,
                        token.device_token,
                        token.notifier
                    ],
                )?;
            }
        }
    }
    Ok(Outcome::Done)
}

fn setting_of(row: &rusqlite::Row<'_>, from: usize) -> rusqlite::Result<NotificationSetting> {
    Ok(NotificationSetting {
        remind_type: row.get(from)?,
        ignore_until_ms: row.get::<_, Option<i64>>(from + 1)?.map(|ms| ms as u64),
        ignore_interval: row.get(from + 2)?,
    })
}

impl EmbeddedStore {
    pub(crate) async fn notification_write(&self, op: NotificationOp) -> Result<(), StoreError> {
        self.write(
            crate::writer::WriteOp::Notification(op),
            |outcome| match outcome {
                Outcome::Done => Some(()),
                _ => None,
            },
        )
        .await
    }

    pub(crate) async fn read_notification_settings(
        &self,
        app: String,
        owner: String,
        scopes: Vec<NotificationScope>,
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, StoreError> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT remind_type, ignore_until_ms, ignore_interval FROM notification_settings
                 WHERE app_key = ?1 AND owner = ?2 AND scope = ?3",
            )?;
            let mut found = Vec::new();
            for scope in scopes {
                let setting = statement
                    .query_row(params![app, owner, scope_text(&scope)], |row| {
                        setting_of(row, 0)
                    })
                    .optional()?;
                if let Some(setting) = setting {
                    found.push((scope, setting));
                }
            }
            Ok(found)
        })
        .await
    }

    pub(crate) async fn read_remind_types(
        &self,
        app: String,
        owner: String,
        after: String,
        limit: u32,
    ) -> Result<Vec<(NotificationScope, NotificationSetting)>, StoreError> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT scope, remind_type, ignore_until_ms, ignore_interval
                 FROM notification_settings
                 WHERE app_key = ?1 AND owner = ?2 AND scope > ?3 AND scope <> ''
                       AND remind_type IS NOT NULL
                 ORDER BY scope LIMIT ?4",
            )?;
            let rows = statement.query_map(params![app, owner, after, limit], |row| {
                Ok((row.get::<_, String>(0)?, setting_of(row, 1)?))
            })?;
            let mut found = Vec::new();
            for row in rows {
                let (scope, setting) = row?;
                if let Some(scope) = scope_of(&scope) {
                    found.push((scope, setting));
                }
            }
            Ok(found)
        })
        .await
    }

    pub(crate) async fn read_push_language(
        &self,
        app: String,
        owner: String,
    ) -> Result<Option<String>, StoreError> {
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT language FROM push_languages WHERE app_key = ?1 AND owner = ?2",
                )?
                .query_row(params![app, owner], |row| row.get::<_, Option<String>>(0))
                .optional()?
                .flatten())
        })
        .await
    }

    pub(crate) async fn read_push_tokens(
        &self,
        app: String,
        owner: String,
    ) -> Result<Vec<PushToken>, StoreError> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT device_id, device_token, notifier FROM push_tokens
                 WHERE app_key = ?1 AND owner = ?2 ORDER BY device_id",
            )?;
            let rows = statement.query_map(params![app, owner], |row| {
                Ok(PushToken {
                    device_id: row.get(0)?,
                    device_token: row.get(1)?,
                    notifier: row.get(2)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}
