//! User attributes (`UserStore::update_user_attributes`, `user_attributes`): one row per key.

use confab_core::store::{attributes_size, AttributesUpdate, UserAttributes};
use rusqlite::{params, Connection};

/// Everything stored for the user, by key.
pub(crate) fn read(
    connection: &Connection,
    app: &str,
    name: &str,
) -> rusqlite::Result<UserAttributes> {
    let mut statement = connection.prepare_cached(
        "SELECT key, value FROM user_attributes WHERE app_key = ?1 AND name = ?2",
    )?;
    let rows = statement.query_map(params![app, name], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    rows.collect()
}

/// The update in the writer's transaction: the size check reads what it replaces.
pub(crate) fn update(
    connection: &Connection,
    app: &str,
    name: &str,
    changes: &[(String, String)],
    max_bytes: usize,
) -> rusqlite::Result<AttributesUpdate> {
    let exists = connection
        .prepare_cached("SELECT 1 FROM users WHERE app_key = ?1 AND name = ?2")?
        .exists(params![app, name])?;
    if !exists {
        return Ok(AttributesUpdate::NoUser);
    }
    let mut attributes = read(connection, app, name)?;
    for (key, value) in changes {
        attributes.insert(key.clone(), value.clone());
    }
    if attributes_size(&attributes) > max_bytes {
        return Ok(AttributesUpdate::TooLarge);
    }
    let mut upsert = connection.prepare_cached(
        "INSERT INTO user_attributes (app_key, name, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (app_key, name, key) DO UPDATE SET value = excluded.value",
    )?;
    for (key, value) in changes {
        upsert.execute(params![app, name, key, value])?;
    }
    Ok(AttributesUpdate::Updated(attributes))
}
