//! Chat rooms (`RoomStore`): `rooms` (settings and the member count), `room_members` (role,
//! joining time, mute, and since when the member has been away), `room_blocks`,
//! `room_allowlist`, `room_attributes` and `room_files`. Changes run in the writer as jobs of
//! their own, so each check (size, blocklist, membership, quota, attribute owner) and its write
//! are one step; reads run on a reader. A room's log (`r:<id>`) is kept for history only:
//! nothing here follows it.

use std::any::Any;

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, RoomId, UserName},
    store::{
        AbsentMember, AttributeChange, AttributeLimits, AttributeRefusal, Room, RoomAttribute,
        RoomChange, RoomDeparture, RoomMember, RoomOutcome, RoomQuota, RoomRole, RoomSettings,
        RoomStore, SharedFile, StoreError,
    },
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{
    groups::file_from_row,
    writer::{Outcome, WriteOp},
    EmbeddedStore,
};

/// A change of rooms, run by the writer in its transaction. Its answer is typed by the caller
/// (`EmbeddedStore::room_write`), which alone builds the job and reads its answer.
pub(crate) type RoomJob = Box<dyn FnOnce(&Connection) -> rusqlite::Result<RoomReply> + Send>;

/// What a room job answers.
pub(crate) type RoomReply = Box<dyn Any + Send>;

const ROOM_COLUMNS: &str = "id, owner, name, description, max_users, custom, created_ms, \
    member_count, mute_all, announcement";

/// Digits of the longest room id: ids padded to it order as numbers.
const ID_DIGITS: usize = 20;

/// `ROOM_COLUMNS` of a row, from column `first` on.
fn room_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Room> {
    let text = |index: usize| row.get::<_, String>(first + index);
    Ok(Room {
        id: RoomId::parse(&text(0)?).ok_or_else(|| invalid(first, "a room id"))?,
        owner: UserName::parse(&text(1)?).ok_or_else(|| invalid(first + 1, "a user name"))?,
        settings: RoomSettings {
            name: text(2)?,
            description: text(3)?,
            max_users: row.get(first + 4)?,
            custom: text(5)?,
        },
        created_ms: row.get::<_, i64>(first + 6)? as u64,
        member_count: row.get(first + 7)?,
        mute_all: row.get(first + 8)?,
        announcement: text(9)?,
    })
}

fn invalid(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("not {what}").into(),
    )
}

fn role_code(role: RoomRole) -> i64 {
    match role {
        RoomRole::Owner => 0,
        RoomRole::Admin => 1,
        RoomRole::Member => 2,
    }
}

fn role_of(code: i64) -> RoomRole {
    match code {
        0 => RoomRole::Owner,
        1 => RoomRole::Admin,
        _ => RoomRole::Member,
    }
}

fn load_room(connection: &Connection, app: &str, id: &str) -> rusqlite::Result<Option<Room>> {
    connection
        .prepare_cached(&format!(
            "SELECT {ROOM_COLUMNS} FROM rooms WHERE app_key = ?1 AND id = ?2"
        ))?
        .query_row(params![app, id], |row| room_from_row(row, 0))
        .optional()
}

fn user_exists(connection: &Connection, app: &str, user: &str) -> rusqlite::Result<bool> {
    connection
        .prepare_cached("SELECT 1 FROM users WHERE app_key = ?1 AND name = ?2")?
        .exists(params![app, user])
}

fn member_role(
    connection: &Connection,
    app: &str,
    room: &str,
    user: &str,
) -> rusqlite::Result<Option<RoomRole>> {
    connection
        .prepare_cached(
            "SELECT role FROM room_members WHERE app_key = ?1 AND room_id = ?2 AND member = ?3",
        )?
        .query_row(params![app, room, user], |row| row.get::<_, i64>(0))
        .optional()
        .map(|role| role.map(role_of))
}

fn listed(
    connection: &Connection,
    table: &str,
    app: &str,
    room: &str,
    user: &str,
) -> rusqlite::Result<bool> {
    connection
        .prepare_cached(&format!(
            "SELECT 1 FROM {table} WHERE app_key = ?1 AND room_id = ?2 AND member = ?3"
        ))?
        .exists(params![app, room, user])
}

/// The first of `users` who is in `max` rooms already.
fn first_at_quota<'a>(
    connection: &Connection,
    app: &str,
    users: impl IntoIterator<Item = &'a UserName>,
    max: u32,
) -> rusqlite::Result<Option<UserName>> {
    if max == u32::MAX {
        return Ok(None);
    }
    let mut joined = connection.prepare_cached(
        "SELECT COUNT(*) FROM room_members INDEXED BY room_members_by_member
         WHERE app_key = ?1 AND member = ?2",
    )?;
    for user in users {
        let count: u32 = joined.query_row(params![app, user.as_str()], |row| row.get(0))?;
        if count >= max {
            return Ok(Some(user.clone()));
        }
    }
    Ok(None)
}

/// Members joined or left: the count follows (no recount, which reads every member).
fn add_to_count(
    connection: &Connection,
    app: &str,
    room: &str,
    delta: i64,
) -> rusqlite::Result<()> {
    if delta != 0 {
        connection
            .prepare_cached(
                "UPDATE rooms SET member_count = member_count + ?3 WHERE app_key = ?1 AND id = ?2",
            )?
            .execute(params![app, room, delta])?;
    }
    Ok(())
}

fn insert_member(
    connection: &Connection,
    app: &str,
    room: &str,
    (user, role): (&str, RoomRole),
    now_ms: u64,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO room_members (app_key, room_id, member, role, joined_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![app, room, user, role_code(role), now_ms as i64])?;
    Ok(())
}

/// `user` leaves the room (whatever their role) with the attributes they set with
/// auto-delete; `None` when they were not a member. The caller moves the count.
fn depart(
    connection: &Connection,
    app: &str,
    room: &str,
    user: &UserName,
) -> rusqlite::Result<Option<RoomDeparture>> {
    let left = connection
        .prepare_cached(
            "DELETE FROM room_members WHERE app_key = ?1 AND room_id = ?2 AND member = ?3",
        )?
        .execute(params![app, room, user.as_str()])?;
    if left == 0 {
        return Ok(None);
    }
    let attributes_removed: Vec<String> = connection
        .prepare_cached(
            "SELECT key FROM room_attributes
             WHERE app_key = ?1 AND room_id = ?2 AND owner = ?3 AND auto_delete
             ORDER BY key",
        )?
        .query_map(params![app, room, user.as_str()], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if !attributes_removed.is_empty() {
        connection
            .prepare_cached(
                "DELETE FROM room_attributes
                 WHERE app_key = ?1 AND room_id = ?2 AND owner = ?3 AND auto_delete",
            )?
            .execute(params![app, room, user.as_str()])?;
    }
    Ok(Some(RoomDeparture {
        user: user.clone(),
        attributes_removed,
    }))
}

fn create(
    connection: &Connection,
    app: &str,
    (room, members): (&Room, &[UserName]),
    quota: RoomQuota,
) -> rusqlite::Result<RoomOutcome<()>> {
    let mut everyone: Vec<&UserName> = vec![&room.owner];
    for member in members {
        if !everyone.contains(&member) {
            everyone.push(member);
        }
    }
    for user in &everyone {
        if !user_exists(connection, app, user.as_str())? {
            return Ok(RoomOutcome::NoUser((*user).clone()));
        }
    }
    if everyone.len() > room.settings.max_users as usize {
        return Ok(RoomOutcome::Full);
    }
    if let Some(user) = first_at_quota(
        connection,
        app,
        everyone.iter().copied(),
        quota.max_joined_rooms,
    )? {
        return Ok(RoomOutcome::TooManyRooms(user));
    }
    let (id, settings) = (room.id.as_str(), &room.settings);
    connection
        .prepare_cached(
            "INSERT INTO rooms (app_key, id, id_order, owner, name, description, max_users,
                                custom, created_ms, member_count, mute_all, announcement)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            app,
            id,
            format!("{id:0>ID_DIGITS$}"),
            room.owner.as_str(),
            settings.name,
            settings.description,
            settings.max_users,
            settings.custom,
            room.created_ms as i64,
            everyone.len() as i64,
            room.mute_all,
            room.announcement,
        ])?;
    for (index, user) in everyone.iter().enumerate() {
        let role = if index == 0 {
            RoomRole::Owner
        } else {
            RoomRole::Member
        };
        insert_member(connection, app, id, (user.as_str(), role), room.created_ms)?;
    }
    Ok(RoomOutcome::Done(()))
}

fn change(
    connection: &Connection,
    app: &str,
    id: &str,
    change: &RoomChange,
) -> rusqlite::Result<RoomOutcome<Room>> {
    let Some(room) = load_room(connection, app, id)? else {
        return Ok(RoomOutcome::NoRoom);
    };
    match change {
        RoomChange::Settings(change) => {
            if change.max_users.is_some_and(|max| max < room.member_count) {
                return Ok(RoomOutcome::Full);
            }
            let mut settings = room.settings;
            for (target, value) in [
                (&mut settings.name, &change.name),
                (&mut settings.description, &change.description),
                (&mut settings.custom, &change.custom),
            ] {
                if let Some(value) = value {
                    target.clone_from(value);
                }
            }
            if let Some(max) = change.max_users {
                settings.max_users = max;
            }
            connection
                .prepare_cached(
                    "UPDATE rooms SET name = ?3, description = ?4, max_users = ?5, custom = ?6
                     WHERE app_key = ?1 AND id = ?2",
                )?
                .execute(params![
                    app,
                    id,
                    settings.name,
                    settings.description,
                    settings.max_users,
                    settings.custom,
                ])?;
        }
        RoomChange::MuteAll(mute) => {
            connection
                .prepare_cached("UPDATE rooms SET mute_all = ?3 WHERE app_key = ?1 AND id = ?2")?
                .execute(params![app, id, mute])?;
        }
        RoomChange::Announcement(text) => {
            connection
                .prepare_cached(
                    "UPDATE rooms SET announcement = ?3 WHERE app_key = ?1 AND id = ?2",
                )?
                .execute(params![app, id, text])?;
        }
    }
    Ok(match load_room(connection, app, id)? {
        Some(room) => RoomOutcome::Done(room),
        None => RoomOutcome::NoRoom,
    })
}

/// Members in list order: the owner, admins, members, each by joining time, then name. Their
/// mutes as stored, ended or not.
fn members_in_order(
    connection: &Connection,
    app: &str,
    id: &str,
    (offset, limit): (u64, u32),
) -> rusqlite::Result<Vec<RoomMember>> {
    let rows = connection
        .prepare_cached(
            "SELECT member, role, joined_ms, muted_until_ms
             FROM room_members INDEXED BY room_members_in_order
             WHERE app_key = ?1 AND room_id = ?2
             ORDER BY role, joined_ms, member LIMIT ?3 OFFSET ?4",
        )?
        .query_map(params![app, id, limit, offset as i64], |row| {
            Ok((
                row.get::<_, String>(0)?,
                role_of(row.get(1)?),
                row.get::<_, i64>(2)? as u64,
                row.get::<_, Option<i64>>(3)?.map(|ms| ms as u64),
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, role, joined_ms, muted_until_ms)| {
            Some(RoomMember {
                user: UserName::parse(&name)?,
                role,
                joined_ms,
                muted_until_ms,
            })
        })
        .collect())
}

fn delete(connection: &Connection, app: &str, id: &str) -> rusqlite::Result<Option<Vec<UserName>>> {
    if load_room(connection, app, id)?.is_none() {
        return Ok(None);
    }
    let members = members_in_order(connection, app, id, (0, u32::MAX))?
        .into_iter()
        .map(|member| member.user)
        .collect();
    for table in [
        "room_members",
        "room_blocks",
        "room_allowlist",
        "room_attributes",
        "room_files",
    ] {
        connection
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE app_key = ?1 AND room_id = ?2"
            ))?
            .execute(params![app, id])?;
    }
    connection
        .prepare_cached("DELETE FROM rooms WHERE app_key = ?1 AND id = ?2")?
        .execute(params![app, id])?;
    Ok(Some(members))
}

fn add_members(
    connection: &Connection,
    app: &str,
    (id, users): (&str, &[UserName]),
    now_ms: u64,
    quota: RoomQuota,
) -> rusqlite::Result<RoomOutcome<Vec<UserName>>> {
    let Some(room) = load_room(connection, app, id)? else {
        return Ok(RoomOutcome::NoRoom);
    };
    let (mut new, mut present): (Vec<UserName>, Vec<&UserName>) = (Vec::new(), Vec::new());
    for user in users {
        if new.contains(user) || present.contains(&user) {
            continue;
        }
        if member_role(connection, app, id, user.as_str())?.is_some() {
            present.push(user);
            continue;
        }
        if !user_exists(connection, app, user.as_str())? {
            return Ok(RoomOutcome::NoUser(user.clone()));
        }
        if listed(connection, "room_blocks", app, id, user.as_str())? {
            return Ok(RoomOutcome::Blocked(user.clone()));
        }
        new.push(user.clone());
    }
    if room.member_count as usize + new.len() > room.settings.max_users as usize {
        return Ok(RoomOutcome::Full);
    }
    if let Some(user) = first_at_quota(connection, app, &new, quota.max_joined_rooms)? {
        return Ok(RoomOutcome::TooManyRooms(user));
    }
    for user in &new {
        // An owner who left comes back as the owner.
        let role = if *user == room.owner {
            RoomRole::Owner
        } else {
            RoomRole::Member
        };
        insert_member(connection, app, id, (user.as_str(), role), now_ms)?;
    }
    add_to_count(connection, app, id, new.len() as i64)?;
    // A member who joins again is back.
    let mut back = connection.prepare_cached(
        "UPDATE room_members SET absent_since_ms = NULL
         WHERE app_key = ?1 AND room_id = ?2 AND member = ?3 AND absent_since_ms IS NOT NULL",
    )?;
    for user in present {
        back.execute(params![app, id, user.as_str()])?;
    }
    Ok(RoomOutcome::Done(new))
}

fn remove_members(
    connection: &Connection,
    app: &str,
    id: &str,
    users: &[UserName],
) -> rusqlite::Result<RoomOutcome<Vec<RoomDeparture>>> {
    if load_room(connection, app, id)?.is_none() {
        return Ok(RoomOutcome::NoRoom);
    }
    let mut departures: Vec<RoomDeparture> = Vec::new();
    for user in users {
        if departures.iter().any(|departure| departure.user == *user) {
            continue;
        }
        if let Some(departure) = depart(connection, app, id, user)? {
            departures.push(departure);
        }
    }
    add_to_count(connection, app, id, -(departures.len() as i64))?;
    Ok(RoomOutcome::Done(departures))
}

fn set_admin(
    connection: &Connection,
    app: &str,
    (id, user): (&str, &UserName),
    admin: bool,
    quota: RoomQuota,
) -> rusqlite::Result<RoomOutcome<bool>> {
    if load_room(connection, app, id)?.is_none() {
        return Ok(RoomOutcome::NoRoom);
    }
    let to = if admin {
        RoomRole::Admin
    } else {
        RoomRole::Member
    };
    match member_role(connection, app, id, user.as_str())? {
        None | Some(RoomRole::Owner) => Ok(RoomOutcome::NotMember(user.clone())),
        Some(role) if role == to => Ok(RoomOutcome::Done(false)),
        Some(_) if admin && admins(connection, app, id)? >= quota.max_admins => {
            Ok(RoomOutcome::TooManyAdmins)
        }
        Some(_) => {
            connection
                .prepare_cached(
                    "UPDATE room_members SET role = ?4
                     WHERE app_key = ?1 AND room_id = ?2 AND member = ?3",
                )?
                .execute(params![app, id, user.as_str(), role_code(to)])?;
            Ok(RoomOutcome::Done(true))
        }
    }
}

fn admins(connection: &Connection, app: &str, id: &str) -> rusqlite::Result<u32> {
    connection
        .prepare_cached(
            "SELECT COUNT(*) FROM room_members INDEXED BY room_members_in_order
             WHERE app_key = ?1 AND room_id = ?2 AND role = 1",
        )?
        .query_row(params![app, id], |row| row.get(0))
}

fn mute(
    connection: &Connection,
    app: &str,
    id: &str,
    users: &[UserName],
    until_ms: Option<u64>,
) -> rusqlite::Result<RoomOutcome<Vec<UserName>>> {
    if load_room(connection, app, id)?.is_none() {
        return Ok(RoomOutcome::NoRoom);
    }
    let mut members = Vec::new();
    let mut update = connection.prepare_cached(
        "UPDATE room_members SET muted_until_ms = ?4
         WHERE app_key = ?1 AND room_id = ?2 AND member = ?3",
    )?;
    for user in users {
        if !members.contains(user)
            && update.execute(params![
                app,
                id,
                user.as_str(),
                until_ms.map(|ms| ms as i64)
            ])? > 0
        {
            members.push(user.clone());
        }
    }
    Ok(RoomOutcome::Done(members))
}

fn change_list(
    connection: &Connection,
    table: &str,
    app: &str,
    id: &str,
    (users, add): (&[UserName], bool),
) -> rusqlite::Result<RoomOutcome<Vec<UserName>>> {
    let Some(room) = load_room(connection, app, id)? else {
        return Ok(RoomOutcome::NoRoom);
    };
    let blocks = table == "room_blocks";
    let mut changed = Vec::new();
    for user in users {
        if changed.contains(user) || (add && blocks && *user == room.owner) {
            continue;
        }
        let sql = if add {
            format!("INSERT OR IGNORE INTO {table} (app_key, room_id, member) VALUES (?1, ?2, ?3)")
        } else {
            format!("DELETE FROM {table} WHERE app_key = ?1 AND room_id = ?2 AND member = ?3")
        };
        if connection
            .prepare_cached(&sql)?
            .execute(params![app, id, user.as_str()])?
            > 0
        {
            changed.push(user.clone());
        }
    }
    if blocks && add {
        // Blocked users stop being members.
        let mut left = 0;
        for user in &changed {
            left += i64::from(depart(connection, app, id, user)?.is_some());
        }
        add_to_count(connection, app, id, -left)?;
    }
    Ok(RoomOutcome::Done(changed))
}

fn list(
    connection: &Connection,
    table: &str,
    app: &str,
    id: &str,
) -> rusqlite::Result<Vec<UserName>> {
    connection
        .prepare_cached(&format!(
            "SELECT member FROM {table} WHERE app_key = ?1 AND room_id = ?2 ORDER BY member"
        ))?
        .query_map(params![app, id], |row| row.get::<_, String>(0))?
        .filter_map(|name| name.map(|name| UserName::parse(&name)).transpose())
        .collect()
}

/// Who set `key` of the room last, if the room has it.
fn attribute_owner(
    connection: &Connection,
    app: &str,
    id: &str,
    key: &str,
) -> rusqlite::Result<Option<String>> {
    connection
        .prepare_cached(
            "SELECT owner FROM room_attributes WHERE app_key = ?1 AND room_id = ?2 AND key = ?3",
        )?
        .query_row(params![app, id, key], |row| row.get(0))
        .optional()
}

fn set_attributes(
    connection: &Connection,
    (app, id, user): (&str, &str, &UserName),
    attributes: &[(String, String)],
    (forced, auto_delete): (bool, bool),
    limits: AttributeLimits,
) -> rusqlite::Result<RoomOutcome<AttributeChange>> {
    if load_room(connection, app, id)?.is_none() {
        return Ok(RoomOutcome::NoRoom);
    }
    if member_role(connection, app, id, user.as_str())?.is_none() {
        return Ok(RoomOutcome::NotMember(user.clone()));
    }
    let mut count: u32 = connection
        .prepare_cached("SELECT COUNT(*) FROM room_attributes WHERE app_key = ?1 AND room_id = ?2")?
        .query_row(params![app, id], |row| row.get(0))?;
    let mut set = connection.prepare_cached(
        "INSERT INTO room_attributes (app_key, room_id, key, value, owner, auto_delete)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (app_key, room_id, key) DO UPDATE SET
             value = excluded.value, owner = excluded.owner, auto_delete = excluded.auto_delete",
    )?;
    let mut outcome = AttributeChange::default();
    for (key, value) in attributes {
        let refusal = if key.is_empty()
            || key.len() > limits.max_key_bytes
            || value.len() > limits.max_value_bytes
        {
            Some(AttributeRefusal::Illegal)
        } else {
            match attribute_owner(connection, app, id, key)? {
                Some(owner) if owner != user.as_str() && !forced => {
                    Some(AttributeRefusal::NotYours)
                }
                Some(_) => None,
                None if count >= limits.max_count => Some(AttributeRefusal::TooMany),
                None => {
                    count += 1;
                    None
                }
            }
        };
        match refusal {
            Some(refusal) => outcome.refused.push((key.clone(), refusal)),
            None => {
                set.execute(params![app, id, key, value, user.as_str(), auto_delete])?;
                outcome.done.push(key.clone());
            }
        }
    }
    Ok(RoomOutcome::Done(outcome))
}

fn remove_attributes(
    connection: &Connection,
    (app, id, user): (&str, &str, &UserName),
    keys: &[String],
    forced: bool,
) -> rusqlite::Result<RoomOutcome<AttributeChange>> {
    if load_room(connection, app, id)?.is_none() {
        return Ok(RoomOutcome::NoRoom);
    }
    if member_role(connection, app, id, user.as_str())?.is_none() {
        return Ok(RoomOutcome::NotMember(user.clone()));
    }
    let mut remove = connection.prepare_cached(
        "DELETE FROM room_attributes WHERE app_key = ?1 AND room_id = ?2 AND key = ?3",
    )?;
    let mut outcome = AttributeChange::default();
    for key in keys {
        match attribute_owner(connection, app, id, key)? {
            None => outcome
                .refused
                .push((key.clone(), AttributeRefusal::Missing)),
            Some(owner) if owner != user.as_str() && !forced => outcome
                .refused
                .push((key.clone(), AttributeRefusal::NotYours)),
            Some(_) => {
                remove.execute(params![app, id, key])?;
                outcome.done.push(key.clone());
            }
        }
    }
    Ok(RoomOutcome::Done(outcome))
}

/// A user's deletion: they leave every room they are in (one they own too: `rooms.owner`
/// stays, as after a removal), with their auto-delete attributes, and its lists.
pub(crate) fn drop_user(connection: &Connection, app: &str, user: &str) -> rusqlite::Result<()> {
    let Some(name) = UserName::parse(user) else {
        return Ok(());
    };
    let rooms: Vec<String> = connection
        .prepare_cached(
            "SELECT room_id FROM room_members INDEXED BY room_members_by_member
             WHERE app_key = ?1 AND member = ?2",
        )?
        .query_map(params![app, user], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for room in rooms {
        if depart(connection, app, &room, &name)?.is_some() {
            add_to_count(connection, app, &room, -1)?;
        }
    }
    for table in ["room_blocks", "room_allowlist"] {
        connection.execute(
            &format!("DELETE FROM {table} WHERE app_key = ?1 AND member = ?2"),
            params![app, user],
        )?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// Runs `job` in the writer and answers what it returned, after the commit.
    async fn room_write<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let job: RoomJob =
            Box::new(move |connection| job(connection).map(|answer| Box::new(answer) as RoomReply));
        let reply = self
            .write(WriteOp::Room(job), |outcome| match outcome {
                Outcome::Room(reply) => Some(reply),
                _ => None,
            })
            .await?;
        reply
            .downcast::<T>()
            .map(|answer| *answer)
            .map_err(|_| StoreError::Backend("unexpected room reply".into()))
    }
}

#[async_trait]
impl RoomStore for EmbeddedStore {
    async fn create_room(
        &self,
        app: &AppKey,
        room: &Room,
        members: &[UserName],
        quota: RoomQuota,
    ) -> Result<RoomOutcome<()>, StoreError> {
        let (app, room, members) = (app.to_string(), room.clone(), members.to_vec());
        self.room_write(move |connection| create(connection, &app, (&room, &members), quota))
            .await
    }

    async fn room(&self, app: &AppKey, id: &RoomId) -> Result<Option<Room>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| load_room(connection, &app, &id))
            .await
    }

    async fn list_rooms(
        &self,
        app: &AppKey,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<Room>, u64), StoreError> {
        let app = app.to_string();
        self.read(move |connection| {
            let rooms = connection
                .prepare_cached(&format!(
                    "SELECT {ROOM_COLUMNS} FROM rooms INDEXED BY rooms_in_order
                     WHERE app_key = ?1 ORDER BY id_order, id LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(params![app, limit, offset as i64], |row| {
                    room_from_row(row, 0)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let total: i64 = connection
                .prepare_cached("SELECT COUNT(*) FROM rooms WHERE app_key = ?1")?
                .query_row(params![app], |row| row.get(0))?;
            Ok((rooms, total as u64))
        })
        .await
    }

    async fn change_room(
        &self,
        app: &AppKey,
        id: &RoomId,
        room_change: &RoomChange,
    ) -> Result<RoomOutcome<Room>, StoreError> {
        let (app, id, room_change) = (app.to_string(), id.to_string(), room_change.clone());
        self.room_write(move |connection| change(connection, &app, &id, &room_change))
            .await
    }

    async fn delete_room(
        &self,
        app: &AppKey,
        id: &RoomId,
    ) -> Result<Option<Vec<UserName>>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.room_write(move |connection| delete(connection, &app, &id))
            .await
    }

    async fn add_room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        now_ms: u64,
        quota: RoomQuota,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.room_write(move |connection| {
            add_members(connection, &app, (&id, &users), now_ms, quota)
        })
        .await
    }

    async fn remove_room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
    ) -> Result<RoomOutcome<Vec<RoomDeparture>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.room_write(move |connection| remove_members(connection, &app, &id, &users))
            .await
    }

    async fn room_member(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        now_ms: u64,
    ) -> Result<Option<RoomMember>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.clone());
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT role, joined_ms, muted_until_ms FROM room_members
                     WHERE app_key = ?1 AND room_id = ?2 AND member = ?3",
                )?
                .query_row(params![app, id, user.as_str()], |row| {
                    Ok(RoomMember {
                        user: user.clone(),
                        role: role_of(row.get(0)?),
                        joined_ms: row.get::<_, i64>(1)? as u64,
                        muted_until_ms: row
                            .get::<_, Option<i64>>(2)?
                            .map(|ms| ms as u64)
                            .filter(|until| *until > now_ms),
                    })
                })
                .optional()
        })
        .await
    }

    async fn room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<RoomMember>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| {
            let mut members = members_in_order(connection, &app, &id, (offset, limit))?;
            for member in &mut members {
                member.muted_until_ms = member.muted_until_ms.filter(|until| *until > now_ms);
            }
            Ok(members)
        })
        .await
    }

    async fn room_member_names(
        &self,
        app: &AppKey,
        id: &RoomId,
    ) -> Result<Vec<UserName>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| list(connection, "room_members", &app, &id))
            .await
    }

    async fn joined_rooms(
        &self,
        app: &AppKey,
        user: &UserName,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Room>, StoreError> {
        let (app, user) = (app.to_string(), user.to_string());
        self.read(move |connection| {
            let columns = ROOM_COLUMNS
                .split(", ")
                .map(|column| ["r.", column.trim()].concat())
                .collect::<Vec<_>>()
                .join(", ");
            connection
                .prepare_cached(&format!(
                    "SELECT {columns} FROM room_members m INDEXED BY room_members_by_member
                     JOIN rooms r ON r.app_key = m.app_key AND r.id = m.room_id
                     WHERE m.app_key = ?1 AND m.member = ?2
                     ORDER BY m.joined_ms DESC, r.id_order DESC, r.id DESC LIMIT ?3 OFFSET ?4"
                ))?
                .query_map(params![app, user, limit, offset as i64], |row| {
                    room_from_row(row, 0)
                })?
                .collect()
        })
        .await
    }

    async fn set_room_admin(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        admin: bool,
        quota: RoomQuota,
    ) -> Result<RoomOutcome<bool>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.clone());
        self.room_write(move |connection| set_admin(connection, &app, (&id, &user), admin, quota))
            .await
    }

    async fn mute_room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        until_ms: Option<u64>,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.room_write(move |connection| mute(connection, &app, &id, &users, until_ms))
            .await
    }

    async fn change_room_blocks(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        block: bool,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.room_write(move |connection| {
            change_list(connection, "room_blocks", &app, &id, (&users, block))
        })
        .await
    }

    async fn room_blocks(&self, app: &AppKey, id: &RoomId) -> Result<Vec<UserName>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| list(connection, "room_blocks", &app, &id))
            .await
    }

    async fn change_room_allowlist(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        add: bool,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.room_write(move |connection| {
            change_list(connection, "room_allowlist", &app, &id, (&users, add))
        })
        .await
    }

    async fn room_allowlist(&self, app: &AppKey, id: &RoomId) -> Result<Vec<UserName>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| list(connection, "room_allowlist", &app, &id))
            .await
    }

    async fn set_room_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        attributes: &[(String, String)],
        flags: (bool, bool),
        limits: AttributeLimits,
    ) -> Result<RoomOutcome<AttributeChange>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.clone());
        let attributes = attributes.to_vec();
        self.room_write(move |connection| {
            set_attributes(connection, (&app, &id, &user), &attributes, flags, limits)
        })
        .await
    }

    async fn remove_room_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        keys: &[String],
        forced: bool,
    ) -> Result<RoomOutcome<AttributeChange>, StoreError> {
        let (app, id, user, keys) = (app.to_string(), id.to_string(), user.clone(), keys.to_vec());
        self.room_write(move |connection| {
            remove_attributes(connection, (&app, &id, &user), &keys, forced)
        })
        .await
    }

    async fn room_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        keys: &[String],
    ) -> Result<Vec<RoomAttribute>, StoreError> {
        let (app, id, keys) = (app.to_string(), id.to_string(), keys.to_vec());
        self.read(move |connection| {
            let rows = connection
                .prepare_cached(
                    "SELECT key, value, owner, auto_delete FROM room_attributes
                     WHERE app_key = ?1 AND room_id = ?2 ORDER BY key",
                )?
                .query_map(params![app, id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, bool>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows
                .into_iter()
                .filter(|(key, ..)| keys.is_empty() || keys.contains(key))
                .filter_map(|(key, value, owner, auto_delete)| {
                    Some(RoomAttribute {
                        key,
                        value,
                        owner: UserName::parse(&owner)?,
                        auto_delete,
                    })
                })
                .collect())
        })
        .await
    }

    async fn add_room_file(
        &self,
        app: &AppKey,
        id: &RoomId,
        file: &SharedFile,
    ) -> Result<RoomOutcome<()>, StoreError> {
        let (app, id, file) = (app.to_string(), id.to_string(), file.clone());
        self.room_write(move |connection| {
            if load_room(connection, &app, &id)?.is_none() {
                return Ok(RoomOutcome::NoRoom);
            }
            connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO room_files
                         (app_key, room_id, file_id, name, owner, size, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    app,
                    id,
                    file.id,
                    file.name,
                    file.owner.as_str(),
                    file.size as i64,
                    file.created_ms as i64
                ])?;
            Ok(RoomOutcome::Done(()))
        })
        .await
    }

    async fn room_files(
        &self,
        app: &AppKey,
        id: &RoomId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<SharedFile>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT file_id, name, owner, size, created_ms FROM room_files
                     WHERE app_key = ?1 AND room_id = ?2
                     ORDER BY created_ms DESC, file_id LIMIT ?3 OFFSET ?4",
                )?
                .query_map(params![app, id, limit, offset as i64], file_from_row)?
                .filter_map(|file| file.transpose())
                .collect()
        })
        .await
    }

    async fn room_file(
        &self,
        app: &AppKey,
        id: &RoomId,
        file: &str,
    ) -> Result<Option<SharedFile>, StoreError> {
        let (app, id, file) = (app.to_string(), id.to_string(), file.to_owned());
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT file_id, name, owner, size, created_ms FROM room_files
                     WHERE app_key = ?1 AND room_id = ?2 AND file_id = ?3",
                )?
                .query_row(params![app, id, file], file_from_row)
                .optional()?
                .flatten())
        })
        .await
    }

    async fn remove_room_file(
        &self,
        app: &AppKey,
        id: &RoomId,
        file: &str,
    ) -> Result<bool, StoreError> {
        let (app, id, file) = (app.to_string(), id.to_string(), file.to_owned());
        self.room_write(move |connection| {
            let removed = connection
                .prepare_cached(
                    "DELETE FROM room_files WHERE app_key = ?1 AND room_id = ?2 AND file_id = ?3",
                )?
                .execute(params![app, id, file])?;
            Ok(removed > 0)
        })
        .await
    }

    async fn mark_room_absence(
        &self,
        app: &AppKey,
        user: &UserName,
        since_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        let (app, user) = (app.to_string(), user.to_string());
        self.room_write(move |connection| {
            connection
                .prepare_cached(
                    "UPDATE room_members INDEXED BY room_members_by_member
                     SET absent_since_ms = ?3 WHERE app_key = ?1 AND member = ?2",
                )?
                .execute(params![app, user, since_ms.map(|ms| ms as i64)])?;
            Ok(())
        })
        .await
    }

    async fn absent_room_members(
        &self,
        before_ms: u64,
        limit: u32,
    ) -> Result<Vec<AbsentMember>, StoreError> {
        let before = i64::try_from(before_ms).unwrap_or(i64::MAX);
        self.read(move |connection| {
            let rows = connection
                .prepare_cached(
                    "SELECT app_key, room_id, member, absent_since_ms
                     FROM room_members INDEXED BY room_members_by_absence
                     WHERE absent_since_ms IS NOT NULL AND absent_since_ms < ?1
                     ORDER BY absent_since_ms, app_key, room_id, member LIMIT ?2",
                )?
                .query_map(params![before, limit], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(app, room, user, since_ms)| {
                    Some(AbsentMember {
                        app: AppKey::parse(&app)?,
                        room: RoomId::parse(&room)?,
                        user: UserName::parse(&user)?,
                        since_ms: since_ms as u64,
                    })
                })
                .collect())
        })
        .await
    }
}
