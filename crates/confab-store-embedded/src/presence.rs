//! Published presence and presence subscriptions (`PresenceStore`): `presence_users` (the
//! description and the time of the last change), `presence_devices` (each device's status),
//! `presence_subscriptions` (subscriber → target, with its expiry).

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, UserName},
    store::{
        DeviceStatus, PresenceStore, PresenceSubscription, PresenceUpdate, StoreError,
        StoredPresence, SubscribeChange, MAX_PRESENCE_DEVICES,
    },
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::{writer::Outcome, EmbeddedStore};

pub(crate) enum PresenceOp {
    Record {
        app: String,
        user: String,
        update: PresenceUpdate,
        at_ms: u64,
    },
    Subscribe {
        app: String,
        subscriber: String,
        targets: Vec<String>,
        expires_ms: u64,
        now_ms: u64,
        max: u32,
    },
    Unsubscribe {
        app: String,
        subscriber: String,
        targets: Vec<String>,
    },
}

pub(crate) fn apply(connection: &Connection, op: PresenceOp) -> rusqlite::Result<Outcome> {
    match op {
        PresenceOp::Record {
            app,
            user,
            update,
            at_ms,
        } => {
            let exists = connection
                .prepare_cached("SELECT 1 FROM users WHERE app_key = ?1 AND name = ?2")?
                .exists(params![app, user])?;
            if !exists {
                return Ok(Outcome::Presence(StoredPresence::nothing(at_ms)));
            }
            let previous: Option<u64> = connection
                .prepare_cached(
                    "SELECT changed_ms FROM presence_users WHERE app_key = ?1 AND name = ?2",
                )?
                .query_row(params![app, user], |row| row.get::<_, i64>(0))
                .optional()?
                .map(|ms| ms as u64);
            // Each change is later than the one before, so snapshots order by it.
            let changed_ms = previous.map_or(at_ms, |previous| at_ms.max(previous + 1));
            connection
                .prepare_cached(
                    "INSERT INTO presence_users (app_key, name, ext, changed_ms)
                     VALUES (?1, ?2, COALESCE(?3, ''), ?4)
                     ON CONFLICT (app_key, name) DO UPDATE SET
                         ext = COALESCE(?3, ext), changed_ms = excluded.changed_ms",
                )?
                .execute(params![app, user, update.ext, changed_ms as i64])?;
            connection
                .prepare_cached(
                    "INSERT INTO presence_devices (app_key, name, resource, status, changed_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (app_key, name, resource) DO UPDATE SET
                         status = excluded.status, changed_ms = excluded.changed_ms",
                )?
                .execute(params![
                    app,
                    user,
                    update.resource,
                    update.status,
                    changed_ms as i64
                ])?;
            connection
                .prepare_cached(
                    "DELETE FROM presence_devices WHERE app_key = ?1 AND name = ?2
                     AND resource NOT IN (
                         SELECT resource FROM presence_devices WHERE app_key = ?1 AND name = ?2
                         ORDER BY changed_ms DESC LIMIT ?3)",
                )?
                .execute(params![app, user, MAX_PRESENCE_DEVICES as i64])?;
            let stored = presence_of(connection, &app, &user)?;
            Ok(Outcome::Presence(
                stored.unwrap_or_else(|| StoredPresence::nothing(changed_ms)),
            ))
        }
        PresenceOp::Subscribe {
            app,
            subscriber,
            targets,
            expires_ms,
            now_ms,
            max,
        } => {
            connection
                .prepare_cached(
                    "DELETE FROM presence_subscriptions
                     WHERE app_key = ?1 AND subscriber = ?2 AND expires_ms <= ?3",
                )?
                .execute(params![app, subscriber, now_ms as i64])?;
            let held: u64 = connection
                .prepare_cached(
                    "SELECT COUNT(*) FROM presence_subscriptions
                     WHERE app_key = ?1 AND subscriber = ?2",
                )?
                .query_row(params![app, subscriber], |row| row.get(0))?;
            let mut exists = connection.prepare_cached(
                "SELECT 1 FROM presence_subscriptions
                 WHERE app_key = ?1 AND subscriber = ?2 AND target = ?3",
            )?;
            let mut added = 0u64;
            for target in &targets {
                if !exists.exists(params![app, subscriber, target])? {
                    added += 1;
                }
            }
            if held + added > u64::from(max) {
                return Ok(Outcome::Subscribed(SubscribeChange::Full));
            }
            let mut upsert = connection.prepare_cached(
                "INSERT INTO presence_subscriptions (app_key, subscriber, target, expires_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app_key, subscriber, target) DO UPDATE SET
                     expires_ms = excluded.expires_ms",
            )?;
            for target in &targets {
                upsert.execute(params![app, subscriber, target, expires_ms as i64])?;
            }
            Ok(Outcome::Subscribed(SubscribeChange::Done))
        }
        PresenceOp::Unsubscribe {
            app,
            subscriber,
            targets,
        } => {
            let mut delete = connection.prepare_cached(
                "DELETE FROM presence_subscriptions
                 WHERE app_key = ?1 AND subscriber = ?2 AND target = ?3",
            )?;
            for target in &targets {
                delete.execute(params![app, subscriber, target])?;
            }
            Ok(Outcome::Done)
        }
    }
}

/// Forgets a deleted user's presence and their subscriptions, both ways.
pub(crate) fn drop_user(connection: &Connection, app: &str, name: &str) -> rusqlite::Result<()> {
    connection.execute(
        "DELETE FROM presence_users WHERE app_key = ?1 AND name = ?2",
        params![app, name],
    )?;
    connection.execute(
        "DELETE FROM presence_devices WHERE app_key = ?1 AND name = ?2",
        params![app, name],
    )?;
    connection.execute(
        "DELETE FROM presence_subscriptions
         WHERE app_key = ?1 AND (subscriber = ?2 OR target = ?2)",
        params![app, name],
    )?;
    Ok(())
}

fn presence_of(
    connection: &Connection,
    app: &str,
    user: &str,
) -> rusqlite::Result<Option<StoredPresence>> {
    let Some((ext, changed_ms)) = connection
        .prepare_cached(
            "SELECT ext, changed_ms FROM presence_users WHERE app_key = ?1 AND name = ?2",
        )?
        .query_row(params![app, user], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
        })
        .optional()?
    else {
        return Ok(None);
    };
    let mut statement = connection.prepare_cached(
        "SELECT resource, status FROM presence_devices WHERE app_key = ?1 AND name = ?2
         ORDER BY changed_ms DESC, resource",
    )?;
    let devices = statement
        .query_map(params![app, user], |row| {
            Ok(DeviceStatus {
                resource: row.get(0)?,
                status: row.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(StoredPresence {
        ext,
        changed_ms,
        devices,
    }))
}

fn subscription(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, u64)> {
    Ok((row.get(0)?, row.get::<_, i64>(1)? as u64))
}

fn subscriptions_of(rows: Vec<(String, u64)>) -> Vec<PresenceSubscription> {
    rows.into_iter()
        .filter_map(|(user, expires_ms)| {
            Some(PresenceSubscription {
                user: UserName::parse(&user)?,
                expires_ms,
            })
        })
        .collect()
}

impl EmbeddedStore {
    pub(crate) async fn record_presence_write(
        &self,
        op: PresenceOp,
    ) -> Result<StoredPresence, StoreError> {
        self.write(
            crate::writer::WriteOp::Presence(op),
            |outcome| match outcome {
                Outcome::Presence(presence) => Some(presence),
                _ => None,
            },
        )
        .await
    }

    pub(crate) async fn subscribe_presence_write(
        &self,
        op: PresenceOp,
    ) -> Result<SubscribeChange, StoreError> {
        self.write(
            crate::writer::WriteOp::Presence(op),
            |outcome| match outcome {
                Outcome::Subscribed(change) => Some(change),
                Outcome::Done => Some(SubscribeChange::Done),
                _ => None,
            },
        )
        .await
    }

    pub(crate) async fn read_presences(
        &self,
        app: String,
        users: Vec<String>,
        viewer: String,
    ) -> Result<Vec<(String, Option<StoredPresence>)>, StoreError> {
        self.read(move |connection| {
            let mut blocked = connection.prepare_cached(
                "SELECT 1 FROM blocks WHERE app_key = ?1 AND owner = ?2 AND blocked = ?3",
            )?;
            let mut found = Vec::new();
            for user in users {
                if blocked.exists(params![app, user, viewer])? {
                    continue;
                }
                let presence = presence_of(connection, &app, &user)?;
                found.push((user, presence));
            }
            Ok(found)
        })
        .await
    }

    pub(crate) async fn read_presence_subscriptions(
        &self,
        app: String,
        subscriber: String,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<PresenceSubscription>, u64), StoreError> {
        let (rows, total) = self
            .read(move |connection| {
                let total: u64 = connection
                    .prepare_cached(
                        "SELECT COUNT(*) FROM presence_subscriptions
                         WHERE app_key = ?1 AND subscriber = ?2 AND expires_ms > ?3",
                    )?
                    .query_row(params![app, subscriber, now_ms as i64], |row| row.get(0))?;
                let rows = connection
                    .prepare_cached(
                        "SELECT target, expires_ms FROM presence_subscriptions
                         WHERE app_key = ?1 AND subscriber = ?2 AND expires_ms > ?3
                         ORDER BY target LIMIT ?4 OFFSET ?5",
                    )?
                    .query_map(
                        params![app, subscriber, now_ms as i64, limit, offset as i64],
                        subscription,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((rows, total))
            })
            .await?;
        Ok((subscriptions_of(rows), total))
    }

    pub(crate) async fn read_watched_users(
        &self,
        app: String,
        users: Vec<UserName>,
        now_ms: u64,
    ) -> Result<Vec<UserName>, StoreError> {
        self.read(move |connection| {
            let mut watched = connection.prepare_cached(
                "SELECT 1 FROM presence_subscriptions AS s
                 WHERE s.app_key = ?1 AND s.target = ?2 AND s.expires_ms > ?3
                   AND NOT EXISTS (SELECT 1 FROM blocks AS b WHERE b.app_key = ?1
                                   AND b.owner = ?2 AND b.blocked = s.subscriber)
                 LIMIT 1",
            )?;
            let mut found = Vec::new();
            for user in users {
                if watched.exists(params![app, user.as_str(), now_ms as i64])? {
                    found.push(user);
                }
            }
            Ok(found)
        })
        .await
    }

    pub(crate) async fn read_presence_subscribers(
        &self,
        app: String,
        target: String,
        now_ms: u64,
        after: String,
        limit: u32,
    ) -> Result<Vec<PresenceSubscription>, StoreError> {
        let rows = self
            .read(move |connection| {
                connection
                    .prepare_cached(
                        "SELECT s.subscriber, s.expires_ms FROM presence_subscriptions AS s
                         WHERE s.app_key = ?1 AND s.target = ?2 AND s.subscriber > ?4
                           AND s.expires_ms > ?3
                           AND NOT EXISTS (SELECT 1 FROM blocks AS b WHERE b.app_key = ?1
                                           AND b.owner = ?2 AND b.blocked = s.subscriber)
                         ORDER BY s.subscriber LIMIT ?5",
                    )?
                    .query_map(
                        params![app, target, now_ms as i64, after, limit],
                        subscription,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        Ok(subscriptions_of(rows))
    }
}

fn names(users: &[UserName]) -> Vec<String> {
    users.iter().map(UserName::to_string).collect()
}

#[async_trait]
impl PresenceStore for EmbeddedStore {
    async fn record_presence(
        &self,
        app: &AppKey,
        user: &UserName,
        update: &PresenceUpdate,
        at_ms: u64,
    ) -> Result<StoredPresence, StoreError> {
        self.record_presence_write(PresenceOp::Record {
            app: app.to_string(),
            user: user.to_string(),
            update: update.clone(),
            at_ms,
        })
        .await
    }

    async fn presences(
        &self,
        app: &AppKey,
        users: &[UserName],
        viewer: &UserName,
    ) -> Result<Vec<(UserName, Option<StoredPresence>)>, StoreError> {
        let found = self
            .read_presences(app.to_string(), names(users), viewer.to_string())
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|(user, presence)| Some((UserName::parse(&user)?, presence)))
            .collect())
    }

    async fn subscribe_presence(
        &self,
        app: &AppKey,
        subscriber: &UserName,
        targets: &[UserName],
        expires_ms: u64,
        now_ms: u64,
        max: u32,
    ) -> Result<SubscribeChange, StoreError> {
        self.subscribe_presence_write(PresenceOp::Subscribe {
            app: app.to_string(),
            subscriber: subscriber.to_string(),
            targets: names(targets),
            expires_ms,
            now_ms,
            max,
        })
        .await
    }

    async fn unsubscribe_presence(
        &self,
        app: &AppKey,
        subscriber: &UserName,
        targets: &[UserName],
    ) -> Result<(), StoreError> {
        self.subscribe_presence_write(PresenceOp::Unsubscribe {
            app: app.to_string(),
            subscriber: subscriber.to_string(),
            targets: names(targets),
        })
        .await
        .map(|_| ())
    }

    async fn presence_subscriptions(
        &self,
        app: &AppKey,
        subscriber: &UserName,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<PresenceSubscription>, u64), StoreError> {
        self.read_presence_subscriptions(
            app.to_string(),
            subscriber.to_string(),
            now_ms,
            offset,
            limit,
        )
        .await
    }

    async fn watched_users(
        &self,
        app: &AppKey,
        users: &[UserName],
        now_ms: u64,
    ) -> Result<Vec<UserName>, StoreError> {
        self.read_watched_users(app.to_string(), users.to_vec(), now_ms)
            .await
    }

    async fn presence_subscribers(
        &self,
        app: &AppKey,
        target: &UserName,
        now_ms: u64,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<Vec<PresenceSubscription>, StoreError> {
        self.read_presence_subscribers(
            app.to_string(),
            target.to_string(),
            now_ms,
            after.map_or_else(String::new, UserName::to_string),
            limit,
        )
        .await
    }
}
