//! Groups (`GroupStore`): `groups` (settings, counts and the head of the group's log,
//! `last_id`), `group_members` (role, joining time and the log position a member reads from,
//! mute), `group_blocks`, `group_allowlist` and `group_requests`. Changes run in the writer as
//! jobs of their own, so each check (size, blocklist, membership) and its write are one step;
//! reads run on a reader.

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, GroupId, MessageId, UserName},
    store::{
        Appended, Group, GroupChange, GroupMember, GroupOutcome, GroupQuota, GroupRequest,
        GroupRequestKind, GroupRole, GroupSettings, GroupStore, MemberAttributes, SharedFile,
        StoreError, MAX_GROUP_UNREAD,
    },
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{
    writer::{Outcome, WriteOp},
    EmbeddedStore,
};

/// A change of groups, run by the writer in its transaction.
pub(crate) type GroupJob = Box<dyn FnOnce(&Connection) -> rusqlite::Result<GroupReply> + Send>;

/// What a group job answers.
pub(crate) enum GroupReply {
    Unit(GroupOutcome<()>),
    Group(GroupOutcome<Group>),
    Users(GroupOutcome<Vec<UserName>>),
    Flag(GroupOutcome<bool>),
    Deleted(Option<Vec<UserName>>),
    Request(Option<GroupRequest>),
    Count(u32),
    Attributes(GroupOutcome<MemberAttributes>),
}

const GROUP_COLUMNS: &str = "id, owner, name, description, avatar, public, approval, \
    allow_invites, invite_need_confirm, max_users, custom, created_ms, modified_ms, \
    member_count, mute_all, announcement";

fn group_from_row(row: &Row<'_>) -> rusqlite::Result<Group> {
    let text = |index: usize| row.get::<_, String>(index);
    let user = |index: usize| -> rusqlite::Result<UserName> {
        UserName::parse(&text(index)?).ok_or_else(|| invalid(index, "a user name"))
    };
    Ok(Group {
        id: GroupId::parse(&text(0)?).ok_or_else(|| invalid(0, "a group id"))?,
        owner: user(1)?,
        settings: GroupSettings {
            name: text(2)?,
            description: text(3)?,
            avatar: text(4)?,
            public: row.get(5)?,
            approval: row.get(6)?,
            allow_invites: row.get(7)?,
            invite_need_confirm: row.get(8)?,
            max_users: row.get(9)?,
            custom: text(10)?,
        },
        created_ms: row.get::<_, i64>(11)? as u64,
        modified_ms: row.get::<_, i64>(12)? as u64,
        member_count: row.get(13)?,
        mute_all: row.get(14)?,
        announcement: text(15)?,
    })
}

fn invalid(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("not {what}").into(),
    )
}

fn role_code(role: GroupRole) -> i64 {
    match role {
        GroupRole::Owner => 0,
        GroupRole::Admin => 1,
        GroupRole::Member => 2,
    }
}

fn role_of(code: i64) -> GroupRole {
    match code {
        0 => GroupRole::Owner,
        1 => GroupRole::Admin,
        _ => GroupRole::Member,
    }
}

fn kind_code(kind: GroupRequestKind) -> i64 {
    match kind {
        GroupRequestKind::Application => 0,
        GroupRequestKind::Invitation => 1,
    }
}

pub(crate) fn load_group(
    connection: &Connection,
    app: &str,
    id: &str,
) -> rusqlite::Result<Option<Group>> {
    connection
        .prepare_cached(&format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE app_key = ?1 AND id = ?2"
        ))?
        .query_row(params![app, id], group_from_row)
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
    group: &str,
    user: &str,
) -> rusqlite::Result<Option<GroupRole>> {
    connection
        .prepare_cached(
            "SELECT role FROM group_members WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
        )?
        .query_row(params![app, group, user], |row| row.get::<_, i64>(0))
        .optional()
        .map(|role| role.map(role_of))
}

/// The first of `users` who is in `max` groups already.
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
        "SELECT COUNT(*) FROM group_members INDEXED BY group_members_by_member
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

/// Members who left take their attributes in the group with them.
fn drop_attributes(
    connection: &Connection,
    app: &str,
    id: &str,
    users: &[UserName],
) -> rusqlite::Result<()> {
    let mut delete = connection.prepare_cached(
        "DELETE FROM group_member_attributes
         WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
    )?;
    for user in users {
        delete.execute(params![app, id, user.as_str()])?;
    }
    Ok(())
}

fn set_count(connection: &Connection, app: &str, group: &str) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "UPDATE groups SET member_count =
                 (SELECT COUNT(*) FROM group_members WHERE app_key = ?1 AND group_id = ?2)
             WHERE app_key = ?1 AND id = ?2",
        )?
        .execute(params![app, group])?;
    Ok(())
}

/// Makes `user` a member with `role`, reading the log from its current end.
fn insert_member(
    connection: &Connection,
    app: &str,
    group: &str,
    user: &str,
    role: GroupRole,
    now_ms: u64,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO group_members (app_key, group_id, member, role, joined_ms, joined_id)
             VALUES (?1, ?2, ?3, ?4, ?5,
                     (SELECT last_id FROM groups WHERE app_key = ?1 AND id = ?2))",
        )?
        .execute(params![app, group, user, role_code(role), now_ms as i64])?;
    connection
        .prepare_cached(
            "DELETE FROM group_requests WHERE app_key = ?1 AND group_id = ?2 AND user = ?3",
        )?
        .execute(params![app, group, user])?;
    Ok(())
}

fn create(
    connection: &Connection,
    app: &str,
    (group, members): (&Group, &[UserName]),
    quota: GroupQuota,
) -> rusqlite::Result<GroupOutcome<()>> {
    let mut everyone: Vec<&UserName> = vec![&group.owner];
    for member in members {
        if !everyone.contains(&member) {
            everyone.push(member);
        }
    }
    for user in &everyone {
        if !user_exists(connection, app, user.as_str())? {
            return Ok(GroupOutcome::NoUser((*user).clone()));
        }
    }
    if everyone.len() > group.settings.max_users as usize {
        return Ok(GroupOutcome::Full);
    }
    if let Some(user) = first_at_quota(
        connection,
        app,
        everyone.iter().copied(),
        quota.max_joined_groups,
    )? {
        return Ok(GroupOutcome::TooManyGroups(user));
    }
    let settings = &group.settings;
    connection
        .prepare_cached(
            "INSERT INTO groups (app_key, id, owner, name, description, avatar, public, approval,
                                 allow_invites, invite_need_confirm, max_users, custom,
                                 created_ms, modified_ms, member_count, mute_all, announcement)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, 0, '')",
        )?
        .execute(params![
            app,
            group.id.as_str(),
            group.owner.as_str(),
            settings.name,
            settings.description,
            settings.avatar,
            settings.public,
            settings.approval,
            settings.allow_invites,
            settings.invite_need_confirm,
            settings.max_users,
            settings.custom,
            group.created_ms as i64,
            everyone.len() as i64,
        ])?;
    for (index, user) in everyone.iter().enumerate() {
        let role = if index == 0 {
            GroupRole::Owner
        } else {
            GroupRole::Member
        };
        insert_member(
            connection,
            app,
            group.id.as_str(),
            user.as_str(),
            role,
            group.created_ms,
        )?;
    }
    Ok(GroupOutcome::Done(()))
}

fn change(
    connection: &Connection,
    app: &str,
    id: &str,
    change: &GroupChange,
    now_ms: u64,
) -> rusqlite::Result<GroupOutcome<Group>> {
    let Some(group) = load_group(connection, app, id)? else {
        return Ok(GroupOutcome::NoGroup);
    };
    match change {
        GroupChange::Settings(change) => {
            if change.max_users.is_some_and(|max| max < group.member_count) {
                return Ok(GroupOutcome::Full);
            }
            let mut settings = group.settings.clone();
            let set = |target: &mut String, value: &Option<String>| {
                if let Some(value) = value {
                    target.clone_from(value);
                }
            };
            set(&mut settings.name, &change.name);
            set(&mut settings.description, &change.description);
            set(&mut settings.avatar, &change.avatar);
            set(&mut settings.custom, &change.custom);
            let flag = |target: &mut bool, value: Option<bool>| {
                if let Some(value) = value {
                    *target = value;
                }
            };
            flag(&mut settings.public, change.public);
            flag(&mut settings.approval, change.approval);
            flag(&mut settings.allow_invites, change.allow_invites);
            flag(
                &mut settings.invite_need_confirm,
                change.invite_need_confirm,
            );
            if let Some(max) = change.max_users {
                settings.max_users = max;
            }
            connection
                .prepare_cached(
                    "UPDATE groups SET name = ?3, description = ?4, avatar = ?5, public = ?6,
                         approval = ?7, allow_invites = ?8, invite_need_confirm = ?9,
                         max_users = ?10, custom = ?11
                     WHERE app_key = ?1 AND id = ?2",
                )?
                .execute(params![
                    app,
                    id,
                    settings.name,
                    settings.description,
                    settings.avatar,
                    settings.public,
                    settings.approval,
                    settings.allow_invites,
                    settings.invite_need_confirm,
                    settings.max_users,
                    settings.custom,
                ])?;
        }
        GroupChange::Owner(new_owner) => {
            if member_role(connection, app, id, new_owner.as_str())?.is_none() {
                return Ok(GroupOutcome::NotMember(new_owner.clone()));
            }
            let mut set_role = connection.prepare_cached(
                "UPDATE group_members SET role = ?4
                 WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
            )?;
            set_role.execute(params![
                app,
                id,
                group.owner.as_str(),
                role_code(GroupRole::Member)
            ])?;
            set_role.execute(params![
                app,
                id,
                new_owner.as_str(),
                role_code(GroupRole::Owner)
            ])?;
            connection
                .prepare_cached("UPDATE groups SET owner = ?3 WHERE app_key = ?1 AND id = ?2")?
                .execute(params![app, id, new_owner.as_str()])?;
        }
        GroupChange::MuteAll(mute) => {
            connection
                .prepare_cached("UPDATE groups SET mute_all = ?3 WHERE app_key = ?1 AND id = ?2")?
                .execute(params![app, id, mute])?;
        }
        GroupChange::Announcement(text) => {
            connection
                .prepare_cached(
                    "UPDATE groups SET announcement = ?3 WHERE app_key = ?1 AND id = ?2",
                )?
                .execute(params![app, id, text])?;
        }
    }
    connection
        .prepare_cached("UPDATE groups SET modified_ms = ?3 WHERE app_key = ?1 AND id = ?2")?
        .execute(params![app, id, now_ms as i64])?;
    Ok(match load_group(connection, app, id)? {
        Some(group) => GroupOutcome::Done(group),
        None => GroupOutcome::NoGroup,
    })
}

fn members_of(connection: &Connection, app: &str, id: &str) -> rusqlite::Result<Vec<UserName>> {
    connection
        .prepare_cached(
            "SELECT member FROM group_members WHERE app_key = ?1 AND group_id = ?2
             ORDER BY role, joined_ms, member",
        )?
        .query_map(params![app, id], |row| row.get::<_, String>(0))?
        .filter_map(|name| name.map(|name| UserName::parse(&name)).transpose())
        .collect()
}

fn delete(connection: &Connection, app: &str, id: &str) -> rusqlite::Result<Option<Vec<UserName>>> {
    if load_group(connection, app, id)?.is_none() {
        return Ok(None);
    }
    let members = members_of(connection, app, id)?;
    for table in [
        "group_members",
        "group_blocks",
        "group_allowlist",
        "group_requests",
        "group_message_reads",
        "group_member_attributes",
        "group_files",
    ] {
        connection
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE app_key = ?1 AND group_id = ?2"
            ))?
            .execute(params![app, id])?;
    }
    connection
        .prepare_cached("DELETE FROM groups WHERE app_key = ?1 AND id = ?2")?
        .execute(params![app, id])?;
    Ok(Some(members))
}

fn listed(
    connection: &Connection,
    table: &str,
    app: &str,
    id: &str,
    user: &str,
) -> rusqlite::Result<bool> {
    connection
        .prepare_cached(&format!(
            "SELECT 1 FROM {table} WHERE app_key = ?1 AND group_id = ?2 AND member = ?3"
        ))?
        .exists(params![app, id, user])
}

fn add_members(
    connection: &Connection,
    app: &str,
    (id, users): (&str, &[UserName]),
    now_ms: u64,
    quota: GroupQuota,
) -> rusqlite::Result<GroupOutcome<Vec<UserName>>> {
    let Some(group) = load_group(connection, app, id)? else {
        return Ok(GroupOutcome::NoGroup);
    };
    let mut new: Vec<UserName> = Vec::new();
    for user in users {
        if new.contains(user) || member_role(connection, app, id, user.as_str())?.is_some() {
            continue;
        }
        if !user_exists(connection, app, user.as_str())? {
            return Ok(GroupOutcome::NoUser(user.clone()));
        }
        if listed(connection, "group_blocks", app, id, user.as_str())? {
            return Ok(GroupOutcome::Blocked(user.clone()));
        }
        new.push(user.clone());
    }
    if group.member_count as usize + new.len() > group.settings.max_users as usize {
        return Ok(GroupOutcome::Full);
    }
    if let Some(user) = first_at_quota(connection, app, &new, quota.max_joined_groups)? {
        return Ok(GroupOutcome::TooManyGroups(user));
    }
    for user in &new {
        insert_member(
            connection,
            app,
            id,
            user.as_str(),
            GroupRole::Member,
            now_ms,
        )?;
    }
    set_count(connection, app, id)?;
    Ok(GroupOutcome::Done(new))
}

fn remove_members(
    connection: &Connection,
    app: &str,
    id: &str,
    users: &[UserName],
) -> rusqlite::Result<GroupOutcome<Vec<UserName>>> {
    if load_group(connection, app, id)?.is_none() {
        return Ok(GroupOutcome::NoGroup);
    }
    let mut removed = Vec::new();
    let mut delete = connection.prepare_cached(
        "DELETE FROM group_members WHERE app_key = ?1 AND group_id = ?2 AND member = ?3
                                     AND role <> 0",
    )?;
    for user in users {
        if !removed.contains(user) && delete.execute(params![app, id, user.as_str()])? > 0 {
            removed.push(user.clone());
        }
    }
    drop_attributes(connection, app, id, &removed)?;
    set_count(connection, app, id)?;
    Ok(GroupOutcome::Done(removed))
}

fn set_admin(
    connection: &Connection,
    app: &str,
    (id, user): (&str, &UserName),
    admin: bool,
    quota: GroupQuota,
) -> rusqlite::Result<GroupOutcome<bool>> {
    if load_group(connection, app, id)?.is_none() {
        return Ok(GroupOutcome::NoGroup);
    }
    let (from, to) = if admin {
        (GroupRole::Member, GroupRole::Admin)
    } else {
        (GroupRole::Admin, GroupRole::Member)
    };
    match member_role(connection, app, id, user.as_str())? {
        None | Some(GroupRole::Owner) => Ok(GroupOutcome::NotMember(user.clone())),
        Some(role) if role == to => Ok(GroupOutcome::Done(false)),
        Some(_) if admin && admins(connection, app, id)? >= quota.max_admins => {
            Ok(GroupOutcome::TooManyAdmins)
        }
        Some(_) => {
            connection
                .prepare_cached(
                    "UPDATE group_members SET role = ?5
                     WHERE app_key = ?1 AND group_id = ?2 AND member = ?3 AND role = ?4",
                )?
                .execute(params![
                    app,
                    id,
                    user.as_str(),
                    role_code(from),
                    role_code(to)
                ])?;
            Ok(GroupOutcome::Done(true))
        }
    }
}

fn admins(connection: &Connection, app: &str, id: &str) -> rusqlite::Result<u32> {
    connection
        .prepare_cached(
            "SELECT COUNT(*) FROM group_members WHERE app_key = ?1 AND group_id = ?2 AND role = 1",
        )?
        .query_row(params![app, id], |row| row.get(0))
}

fn mute(
    connection: &Connection,
    app: &str,
    id: &str,
    users: &[UserName],
    until_ms: Option<u64>,
) -> rusqlite::Result<GroupOutcome<Vec<UserName>>> {
    if load_group(connection, app, id)?.is_none() {
        return Ok(GroupOutcome::NoGroup);
    }
    let mut changed = Vec::new();
    let mut update = connection.prepare_cached(
        "UPDATE group_members SET muted_until_ms = ?4
         WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
    )?;
    for user in users {
        if !changed.contains(user)
            && update.execute(params![
                app,
                id,
                user.as_str(),
                until_ms.map(|ms| ms as i64)
            ])? > 0
        {
            changed.push(user.clone());
        }
    }
    Ok(GroupOutcome::Done(changed))
}

fn change_list(
    connection: &Connection,
    table: &str,
    app: &str,
    id: &str,
    (users, add): (&[UserName], bool),
) -> rusqlite::Result<GroupOutcome<Vec<UserName>>> {
    let Some(group) = load_group(connection, app, id)? else {
        return Ok(GroupOutcome::NoGroup);
    };
    let mut changed = Vec::new();
    for user in users {
        if changed.contains(user) {
            continue;
        }
        let done = if add {
            if table == "group_blocks" && *user == group.owner {
                continue;
            }
            connection
                .prepare_cached(&format!(
                    "INSERT OR IGNORE INTO {table} (app_key, group_id, member) VALUES (?1, ?2, ?3)"
                ))?
                .execute(params![app, id, user.as_str()])?
        } else {
            connection
                .prepare_cached(&format!(
                    "DELETE FROM {table} WHERE app_key = ?1 AND group_id = ?2 AND member = ?3"
                ))?
                .execute(params![app, id, user.as_str()])?
        };
        if done > 0 {
            changed.push(user.clone());
        }
    }
    if table == "group_blocks" && add {
        // Blocked users stop being members.
        let mut leave = connection.prepare_cached(
            "DELETE FROM group_members WHERE app_key = ?1 AND group_id = ?2 AND member = ?3
                                         AND role <> 0",
        )?;
        for user in &changed {
            leave.execute(params![app, id, user.as_str()])?;
        }
        drop_attributes(connection, app, id, &changed)?;
        set_count(connection, app, id)?;
    }
    Ok(GroupOutcome::Done(changed))
}

fn list(
    connection: &Connection,
    table: &str,
    app: &str,
    id: &str,
) -> rusqlite::Result<Vec<UserName>> {
    connection
        .prepare_cached(&format!(
            "SELECT member FROM {table} WHERE app_key = ?1 AND group_id = ?2 ORDER BY member"
        ))?
        .query_map(params![app, id], |row| row.get::<_, String>(0))?
        .filter_map(|name| name.map(|name| UserName::parse(&name)).transpose())
        .collect()
}

fn add_request(
    connection: &Connection,
    app: &str,
    id: &str,
    request: &GroupRequest,
) -> rusqlite::Result<GroupOutcome<()>> {
    if load_group(connection, app, id)?.is_none() {
        return Ok(GroupOutcome::NoGroup);
    }
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO group_requests
                 (app_key, group_id, kind, user, from_user, reason, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            app,
            id,
            kind_code(request.kind),
            request.user.as_str(),
            request.from.as_str(),
            request.reason,
            request.created_ms as i64
        ])?;
    Ok(GroupOutcome::Done(()))
}

fn take_request(
    connection: &Connection,
    app: &str,
    id: &str,
    kind: GroupRequestKind,
    user: &UserName,
) -> rusqlite::Result<Option<GroupRequest>> {
    let found = connection
        .prepare_cached(
            "SELECT from_user, reason, created_ms FROM group_requests
             WHERE app_key = ?1 AND group_id = ?2 AND kind = ?3 AND user = ?4",
        )?
        .query_row(params![app, id, kind_code(kind), user.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .optional()?;
    let Some((from, reason, created_ms)) = found else {
        return Ok(None);
    };
    connection
        .prepare_cached(
            "DELETE FROM group_requests
             WHERE app_key = ?1 AND group_id = ?2 AND kind = ?3 AND user = ?4",
        )?
        .execute(params![app, id, kind_code(kind), user.as_str()])?;
    Ok(UserName::parse(&from).map(|from| GroupRequest {
        kind,
        user: user.clone(),
        from,
        reason,
        created_ms: created_ms as u64,
    }))
}

/// A user's deletion: they leave every group they do not own, and its lists and requests.
pub(crate) fn drop_user(connection: &Connection, app: &str, user: &str) -> rusqlite::Result<()> {
    let groups: Vec<String> = connection
        .prepare_cached(
            "SELECT group_id FROM group_members INDEXED BY group_members_by_member
             WHERE app_key = ?1 AND member = ?2 AND role <> 0",
        )?
        .query_map(params![app, user], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    connection.execute(
        "DELETE FROM group_members INDEXED BY group_members_by_member
         WHERE app_key = ?1 AND member = ?2 AND role <> 0",
        params![app, user],
    )?;
    for group in groups {
        set_count(connection, app, &group)?;
    }
    connection.execute(
        "DELETE FROM group_member_attributes WHERE app_key = ?1 AND member = ?2
             AND group_id NOT IN (SELECT group_id FROM group_members
                                  WHERE app_key = ?1 AND member = ?2)",
        params![app, user],
    )?;
    for table in ["group_blocks", "group_allowlist"] {
        connection.execute(
            &format!("DELETE FROM {table} WHERE app_key = ?1 AND member = ?2"),
            params![app, user],
        )?;
    }
    connection.execute(
        "DELETE FROM group_requests WHERE app_key = ?1 AND user = ?2",
        params![app, user],
    )?;
    Ok(())
}

/// The checks of a message appended to group `id`'s log, in its transaction: `None` when it
/// may go in. Server metas (`is_message` false) only need the group to exist.
pub(crate) fn check_append(
    connection: &Connection,
    app: &str,
    id: &str,
    (sender, is_message, now_ms): (&str, bool, u64),
) -> rusqlite::Result<Option<Appended>> {
    let group = connection
        .prepare_cached("SELECT mute_all FROM groups WHERE app_key = ?1 AND id = ?2")?
        .query_row(params![app, id], |row| row.get::<_, bool>(0))
        .optional()?;
    let Some(mute_all) = group else {
        return Ok(Some(Appended::NoGroup));
    };
    if !is_message {
        return Ok(None);
    }
    let member = connection
        .prepare_cached(
            "SELECT role, muted_until_ms FROM group_members
             WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
        )?
        .query_row(params![app, id, sender], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    let Some((role, muted_until)) = member else {
        return Ok(Some(Appended::NotGroupMember));
    };
    if muted_until.is_some_and(|until| until as u64 > now_ms) {
        return Ok(Some(Appended::Muted));
    }
    if mute_all
        && role_of(role) == GroupRole::Member
        && !listed(connection, "group_allowlist", app, id, sender)?
    {
        return Ok(Some(Appended::Muted));
    }
    Ok(None)
}

/// After an append of `id` to group `group`'s log: its head moves, and for a message (one in
/// the group's history) the conversation list's last message too.
pub(crate) fn appended(
    connection: &Connection,
    app: &str,
    group: &str,
    (id, message): (i64, bool),
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "UPDATE groups SET last_id = MAX(last_id, ?3),
                               last_message_id = CASE WHEN ?4 THEN MAX(last_message_id, ?3)
                                                      ELSE last_message_id END
             WHERE app_key = ?1 AND id = ?2",
        )?
        .execute(params![app, group, id, message])?;
    Ok(())
}

/// After a recall of message `id` of group `group`: if it was the group's last message, the
/// one before it (still in the log, not recalled) is.
pub(crate) fn recalled(
    connection: &Connection,
    app: &str,
    group: &str,
    id: i64,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "UPDATE groups SET last_message_id = COALESCE(
                 (SELECT MAX(e.id) FROM log_entries e JOIN messages m ON m.id = e.id
                  WHERE e.app_key = ?1 AND e.log = 'g:' || ?2 AND e.audience IS NULL
                        AND m.kind <> ''), 0)
             WHERE app_key = ?1 AND id = ?2 AND last_message_id = ?3",
        )?
        .execute(params![app, group, id])?;
    Ok(())
}

/// One group conversation of a list page, before its unread count.
pub(crate) struct GroupListRow {
    pub(crate) group: String,
    pub(crate) last_message_id: i64,
    pub(crate) meta: Vec<u8>,
    pub(crate) pinned_ms: Option<i64>,
    pub(crate) marks: String,
    /// Unread messages are those after this id: the read marker, the deletion point or the
    /// join point, whichever is last.
    pub(crate) unread_after: i64,
}

/// The list rows of `owner`'s groups with a message after their deletion point.
pub(crate) fn list_rows(
    connection: &Connection,
    app: &str,
    owner: &str,
) -> rusqlite::Result<Vec<GroupListRow>> {
    connection
        .prepare_cached(
            "SELECT g.id, g.last_message_id, m.meta, c.pinned_ms, COALESCE(c.marks, ''),
                    MAX(COALESCE(c.deleted_up_to, 0), mem.joined_id,
                        COALESCE((SELECT r.read_up_to FROM conversation_reads r
                                  WHERE r.app_key = mem.app_key AND r.owner = mem.member
                                    AND r.conversation = g.id || '@conference.easemob.com'), 0))
             FROM group_members mem INDEXED BY group_members_by_member
             JOIN groups g ON g.app_key = mem.app_key AND g.id = mem.group_id
             JOIN messages m ON m.id = g.last_message_id
             LEFT JOIN conversations c ON c.app_key = mem.app_key AND c.owner = mem.member
                  AND c.conversation = g.id || '@conference.easemob.com'
             WHERE mem.app_key = ?1 AND mem.member = ?2 AND g.last_message_id > 0
                   AND g.last_message_id > COALESCE(c.deleted_up_to, 0)",
        )?
        .query_map(params![app, owner], |row| {
            Ok(GroupListRow {
                group: row.get(0)?,
                last_message_id: row.get(1)?,
                meta: row.get(2)?,
                pinned_ms: row.get(3)?,
                marks: row.get(4)?,
                unread_after: row.get(5)?,
            })
        })?
        .collect()
}

/// Messages of others in group `group` after `after`, counted up to `MAX_GROUP_UNREAD`.
pub(crate) fn unread(
    connection: &Connection,
    app: &str,
    (group, owner): (&str, &str),
    after: i64,
) -> rusqlite::Result<u32> {
    connection
        .prepare_cached(
            "SELECT COUNT(*) FROM (
                 SELECT 1 FROM log_entries e JOIN messages m ON m.id = e.id
                 WHERE e.app_key = ?1 AND e.log = 'g:' || ?2 AND e.id > ?3
                       AND e.audience IS NULL AND m.kind <> '' AND e.sender <> ?4
                 LIMIT ?5)",
        )?
        .query_row(params![app, group, after, owner, MAX_GROUP_UNREAD], |row| {
            row.get(0)
        })
}

impl EmbeddedStore {
    async fn group_write(&self, job: GroupJob) -> Result<GroupReply, StoreError> {
        self.write(WriteOp::Group(job), |outcome| match outcome {
            Outcome::Group(reply) => Some(reply),
            _ => None,
        })
        .await
    }
}

fn unexpected() -> StoreError {
    StoreError::Backend("unexpected group reply".into())
}

#[async_trait]
impl GroupStore for EmbeddedStore {
    async fn create_group(
        &self,
        app: &AppKey,
        group: &Group,
        members: &[UserName],
        quota: GroupQuota,
    ) -> Result<GroupOutcome<()>, StoreError> {
        let (app, group, members) = (app.to_string(), group.clone(), members.to_vec());
        match self
            .group_write(Box::new(move |connection| {
                create(connection, &app, (&group, &members), quota).map(GroupReply::Unit)
            }))
            .await?
        {
            GroupReply::Unit(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    async fn group(&self, app: &AppKey, id: &GroupId) -> Result<Option<Group>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| load_group(connection, &app, &id))
            .await
    }

    async fn groups(&self, app: &AppKey, ids: &[GroupId]) -> Result<Vec<Group>, StoreError> {
        let (app, ids) = (app.to_string(), ids.to_vec());
        self.read(move |connection| {
            let mut found = Vec::new();
            for id in &ids {
                if let Some(group) = load_group(connection, &app, id.as_str())? {
                    found.push(group);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn change_group(
        &self,
        app: &AppKey,
        id: &GroupId,
        group_change: &GroupChange,
        now_ms: u64,
    ) -> Result<GroupOutcome<Group>, StoreError> {
        let (app, id, group_change) = (app.to_string(), id.to_string(), group_change.clone());
        match self
            .group_write(Box::new(move |connection| {
                change(connection, &app, &id, &group_change, now_ms).map(GroupReply::Group)
            }))
            .await?
        {
            GroupReply::Group(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    async fn delete_group(
        &self,
        app: &AppKey,
        id: &GroupId,
    ) -> Result<Option<Vec<UserName>>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        match self
            .group_write(Box::new(move |connection| {
                delete(connection, &app, &id).map(GroupReply::Deleted)
            }))
            .await?
        {
            GroupReply::Deleted(members) => Ok(members),
            _ => Err(unexpected()),
        }
    }

    async fn add_group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        now_ms: u64,
        quota: GroupQuota,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.users_write(Box::new(move |connection| {
            add_members(connection, &app, (&id, &users), now_ms, quota).map(GroupReply::Users)
        }))
        .await
    }

    async fn remove_group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.users_write(Box::new(move |connection| {
            remove_members(connection, &app, &id, &users).map(GroupReply::Users)
        }))
        .await
    }

    async fn set_group_admin(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        admin: bool,
        quota: GroupQuota,
    ) -> Result<GroupOutcome<bool>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.clone());
        match self
            .group_write(Box::new(move |connection| {
                set_admin(connection, &app, (&id, &user), admin, quota).map(GroupReply::Flag)
            }))
            .await?
        {
            GroupReply::Flag(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    async fn group_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<Option<GroupMember>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.clone());
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT role, joined_ms, muted_until_ms FROM group_members
                     WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
                )?
                .query_row(params![app, id, user.as_str()], |row| {
                    Ok(GroupMember {
                        user: user.clone(),
                        role: role_of(row.get(0)?),
                        joined_ms: row.get::<_, i64>(1)? as u64,
                        muted_until_ms: row.get::<_, Option<i64>>(2)?.map(|ms| ms as u64),
                    })
                })
                .optional()
        })
        .await
    }

    async fn group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<GroupMember>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| {
            let rows = connection
                .prepare_cached(
                    "SELECT member, role, joined_ms, muted_until_ms FROM group_members
                     WHERE app_key = ?1 AND group_id = ?2
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
                .filter_map(|(name, role, joined_ms, muted)| {
                    Some(GroupMember {
                        user: UserName::parse(&name)?,
                        role,
                        joined_ms,
                        muted_until_ms: muted.filter(|until| *until > now_ms),
                    })
                })
                .collect())
        })
        .await
    }

    async fn joined_groups(
        &self,
        app: &AppKey,
        user: &UserName,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<(Group, GroupRole)>, StoreError> {
        let (app, user) = (app.to_string(), user.to_string());
        self.read(move |connection| {
            let columns = GROUP_COLUMNS
                .split(", ")
                .map(|column| concat_column("g.", column.trim()))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {columns}, m.role FROM group_members m INDEXED BY group_members_by_member
                 JOIN groups g ON g.app_key = m.app_key AND g.id = m.group_id
                 WHERE m.app_key = ?1 AND m.member = ?2
                 ORDER BY m.joined_ms DESC, length(g.id) DESC, g.id DESC LIMIT ?3 OFFSET ?4"
            );
            let rows = connection
                .prepare_cached(&sql)?
                .query_map(params![app, user, limit, offset as i64], |row| {
                    Ok((group_from_row(row)?, role_of(row.get(16)?)))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn joined_group_count(&self, app: &AppKey, user: &UserName) -> Result<u64, StoreError> {
        let (app, user) = (app.to_string(), user.to_string());
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT COUNT(*) FROM group_members INDEXED BY group_members_by_member
             WHERE app_key = ?1 AND member = ?2",
                )?
                .query_row(params![app, user], |row| row.get::<_, i64>(0))
                .map(|count| count as u64)
        })
        .await
    }

    async fn list_groups(
        &self,
        app: &AppKey,
        public_only: bool,
        after: Option<&GroupId>,
        limit: u32,
    ) -> Result<Vec<Group>, StoreError> {
        let app = app.to_string();
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        self.read(move |connection| {
            // Ids are decimal numbers: shorter is smaller.
            let sql = format!(
                "SELECT {GROUP_COLUMNS} FROM groups
                 WHERE app_key = ?1 AND (public = 1 OR ?4 = 0)
                       AND (length(id) > length(?2) OR (length(id) = length(?2) AND id > ?2))
                 ORDER BY length(id), id LIMIT ?3"
            );
            connection
                .prepare_cached(&sql)?
                .query_map(params![app, after, limit, public_only], group_from_row)?
                .collect()
        })
        .await
    }

    async fn mute_group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        until_ms: Option<u64>,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.users_write(Box::new(move |connection| {
            mute(connection, &app, &id, &users, until_ms).map(GroupReply::Users)
        }))
        .await
    }

    async fn change_group_blocks(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        block: bool,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.users_write(Box::new(move |connection| {
            change_list(connection, "group_blocks", &app, &id, (&users, block))
                .map(GroupReply::Users)
        }))
        .await
    }

    async fn group_blocks(&self, app: &AppKey, id: &GroupId) -> Result<Vec<UserName>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| list(connection, "group_blocks", &app, &id))
            .await
    }

    async fn change_group_allowlist(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        add: bool,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        let (app, id, users) = (app.to_string(), id.to_string(), users.to_vec());
        self.users_write(Box::new(move |connection| {
            change_list(connection, "group_allowlist", &app, &id, (&users, add))
                .map(GroupReply::Users)
        }))
        .await
    }

    async fn group_allowlist(
        &self,
        app: &AppKey,
        id: &GroupId,
    ) -> Result<Vec<UserName>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| list(connection, "group_allowlist", &app, &id))
            .await
    }

    async fn add_group_request(
        &self,
        app: &AppKey,
        id: &GroupId,
        request: &GroupRequest,
    ) -> Result<GroupOutcome<()>, StoreError> {
        let (app, id, request) = (app.to_string(), id.to_string(), request.clone());
        match self
            .group_write(Box::new(move |connection| {
                add_request(connection, &app, &id, &request).map(GroupReply::Unit)
            }))
            .await?
        {
            GroupReply::Unit(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    async fn set_group_member_attributes(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        (changes, max_bytes): (&[(String, String)], usize),
    ) -> Result<GroupOutcome<MemberAttributes>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.clone());
        let changes = changes.to_vec();
        match self
            .group_write(Box::new(move |connection| {
                set_attributes(connection, (&app, &id, &user), &changes, max_bytes)
                    .map(GroupReply::Attributes)
            }))
            .await?
        {
            GroupReply::Attributes(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    async fn group_member_attributes(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        keys: &[String],
    ) -> Result<Vec<(UserName, MemberAttributes)>, StoreError> {
        let (app, id, users, keys) = (
            app.to_string(),
            id.to_string(),
            users.to_vec(),
            keys.to_vec(),
        );
        self.read(move |connection| {
            let mut found = Vec::new();
            for user in users {
                if member_role(connection, &app, &id, user.as_str())?.is_none() {
                    continue;
                }
                let mut attributes = attributes_of(connection, &app, &id, user.as_str())?;
                if !keys.is_empty() {
                    attributes.retain(|key, _| keys.contains(key));
                }
                found.push((user, attributes));
            }
            Ok(found)
        })
        .await
    }

    async fn set_group_shield(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        shield: bool,
    ) -> Result<GroupOutcome<bool>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.clone());
        match self
            .group_write(Box::new(move |connection| {
                if load_group(connection, &app, &id)?.is_none() {
                    return Ok(GroupReply::Flag(GroupOutcome::NoGroup));
                }
                let current = connection
                    .prepare_cached(
                        "SELECT shielded FROM group_members
                         WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
                    )?
                    .query_row(params![app, id, user.as_str()], |row| row.get::<_, bool>(0))
                    .optional()?;
                let outcome = match current {
                    None => GroupOutcome::NotMember(user.clone()),
                    Some(current) if current == shield => GroupOutcome::Done(false),
                    Some(_) => {
                        connection
                            .prepare_cached(
                                "UPDATE group_members SET shielded = ?4
                                 WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
                            )?
                            .execute(params![app, id, user.as_str(), shield])?;
                        GroupOutcome::Done(true)
                    }
                };
                Ok(GroupReply::Flag(outcome))
            }))
            .await?
        {
            GroupReply::Flag(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    async fn add_group_file(
        &self,
        app: &AppKey,
        id: &GroupId,
        file: &SharedFile,
    ) -> Result<GroupOutcome<()>, StoreError> {
        let (app, id, file) = (app.to_string(), id.to_string(), file.clone());
        match self
            .group_write(Box::new(move |connection| {
                if load_group(connection, &app, &id)?.is_none() {
                    return Ok(GroupReply::Unit(GroupOutcome::NoGroup));
                }
                connection
                    .prepare_cached(
                        "INSERT OR REPLACE INTO group_files
                             (app_key, group_id, file_id, name, owner, size, created_ms)
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
                Ok(GroupReply::Unit(GroupOutcome::Done(())))
            }))
            .await?
        {
            GroupReply::Unit(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }

    async fn group_files(
        &self,
        app: &AppKey,
        id: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<SharedFile>, StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        self.read(move |connection| {
            connection
                .prepare_cached(
                    "SELECT file_id, name, owner, size, created_ms FROM group_files
                     WHERE app_key = ?1 AND group_id = ?2
                     ORDER BY created_ms DESC, file_id LIMIT ?3 OFFSET ?4",
                )?
                .query_map(params![app, id, limit, offset as i64], file_from_row)?
                .filter_map(|file| file.transpose())
                .collect()
        })
        .await
    }

    async fn group_file(
        &self,
        app: &AppKey,
        id: &GroupId,
        file: &str,
    ) -> Result<Option<SharedFile>, StoreError> {
        let (app, id, file) = (app.to_string(), id.to_string(), file.to_owned());
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT file_id, name, owner, size, created_ms FROM group_files
                     WHERE app_key = ?1 AND group_id = ?2 AND file_id = ?3",
                )?
                .query_row(params![app, id, file], file_from_row)
                .optional()?
                .flatten())
        })
        .await
    }

    async fn remove_group_file(
        &self,
        app: &AppKey,
        id: &GroupId,
        file: &str,
    ) -> Result<bool, StoreError> {
        let (app, id, file) = (app.to_string(), id.to_string(), file.to_owned());
        match self
            .group_write(Box::new(move |connection| {
                let removed = connection
                    .prepare_cached(
                        "DELETE FROM group_files
                         WHERE app_key = ?1 AND group_id = ?2 AND file_id = ?3",
                    )?
                    .execute(params![app, id, file])?;
                Ok(GroupReply::Unit(if removed > 0 {
                    GroupOutcome::Done(())
                } else {
                    GroupOutcome::NoGroup
                }))
            }))
            .await?
        {
            GroupReply::Unit(outcome) => Ok(outcome == GroupOutcome::Done(())),
            _ => Err(unexpected()),
        }
    }

    async fn record_group_read(
        &self,
        app: &AppKey,
        id: &GroupId,
        message: MessageId,
        reader: &UserName,
        now_ms: u64,
    ) -> Result<u32, StoreError> {
        let (app, id, reader) = (app.to_string(), id.to_string(), reader.to_string());
        match self
            .group_write(Box::new(move |connection| {
                if load_group(connection, &app, &id)?.is_none() {
                    return Ok(GroupReply::Count(0));
                }
                connection
                    .prepare_cached(
                        "INSERT OR IGNORE INTO group_message_reads
                             (app_key, group_id, message_id, reader, read_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![app, id, message.0 as i64, reader, now_ms as i64])?;
                readers_count(connection, &app, &id, message).map(GroupReply::Count)
            }))
            .await?
        {
            GroupReply::Count(count) => Ok(count),
            _ => Err(unexpected()),
        }
    }

    async fn group_readers(
        &self,
        app: &AppKey,
        id: &GroupId,
        message: MessageId,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<(Vec<UserName>, u32), StoreError> {
        let (app, id) = (app.to_string(), id.to_string());
        let after = after.map(|user| user.to_string()).unwrap_or_default();
        self.read(move |connection| {
            let readers = connection
                .prepare_cached(
                    "SELECT reader FROM group_message_reads
                     WHERE app_key = ?1 AND group_id = ?2 AND message_id = ?3 AND reader > ?4
                     ORDER BY reader LIMIT ?5",
                )?
                .query_map(params![app, id, message.0 as i64, after, limit], |row| {
                    row.get::<_, String>(0)
                })?
                .filter_map(|name| name.map(|name| UserName::parse(&name)).transpose())
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((readers, readers_count(connection, &app, &id, message)?))
        })
        .await
    }

    async fn take_group_request(
        &self,
        app: &AppKey,
        id: &GroupId,
        kind: GroupRequestKind,
        user: &UserName,
    ) -> Result<Option<GroupRequest>, StoreError> {
        let (app, id, user) = (app.to_string(), id.to_string(), user.clone());
        match self
            .group_write(Box::new(move |connection| {
                take_request(connection, &app, &id, kind, &user).map(GroupReply::Request)
            }))
            .await?
        {
            GroupReply::Request(request) => Ok(request),
            _ => Err(unexpected()),
        }
    }
}

fn attributes_of(
    connection: &Connection,
    app: &str,
    id: &str,
    user: &str,
) -> rusqlite::Result<MemberAttributes> {
    connection
        .prepare_cached(
            "SELECT key, value FROM group_member_attributes
             WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
        )?
        .query_map(params![app, id, user], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect()
}

fn set_attributes(
    connection: &Connection,
    (app, id, user): (&str, &str, &UserName),
    changes: &[(String, String)],
    max_bytes: usize,
) -> rusqlite::Result<GroupOutcome<MemberAttributes>> {
    if load_group(connection, app, id)?.is_none() {
        return Ok(GroupOutcome::NoGroup);
    }
    if member_role(connection, app, id, user.as_str())?.is_none() {
        return Ok(GroupOutcome::NotMember(user.clone()));
    }
    let mut attributes = attributes_of(connection, app, id, user.as_str())?;
    for (key, value) in changes {
        if value.is_empty() {
            attributes.remove(key);
        } else {
            attributes.insert(key.clone(), value.clone());
        }
    }
    let size: usize = attributes
        .iter()
        .map(|(key, value)| key.len() + value.len())
        .sum();
    if size > max_bytes {
        return Ok(GroupOutcome::Full);
    }
    connection
        .prepare_cached(
            "DELETE FROM group_member_attributes
             WHERE app_key = ?1 AND group_id = ?2 AND member = ?3",
        )?
        .execute(params![app, id, user.as_str()])?;
    let mut insert = connection.prepare_cached(
        "INSERT INTO group_member_attributes (app_key, group_id, member, key, value)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (key, value) in &attributes {
        insert.execute(params![app, id, user.as_str(), key, value])?;
    }
    Ok(GroupOutcome::Done(attributes))
}

/// A `group_files` or `room_files` row (`file_id, name, owner, size, created_ms`); `None` for
/// an owner name that no longer parses.
pub(crate) fn file_from_row(row: &Row<'_>) -> rusqlite::Result<Option<SharedFile>> {
    let (id, name, owner): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
    let (size, created_ms): (i64, i64) = (row.get(3)?, row.get(4)?);
    Ok(UserName::parse(&owner).map(|owner| SharedFile {
        id,
        name,
        owner,
        size: size as u64,
        created_ms: created_ms as u64,
    }))
}

fn readers_count(
    connection: &Connection,
    app: &str,
    id: &str,
    message: MessageId,
) -> rusqlite::Result<u32> {
    connection
        .prepare_cached(
            "SELECT COUNT(*) FROM group_message_reads
             WHERE app_key = ?1 AND group_id = ?2 AND message_id = ?3",
        )?
        .query_row(params![app, id, message.0 as i64], |row| row.get(0))
}

fn concat_column(prefix: &str, column: &str) -> String {
    confab_core::ids::concat(&[prefix, column])
}

impl EmbeddedStore {
    async fn users_write(&self, job: GroupJob) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        match self.group_write(job).await? {
            GroupReply::Users(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }
}
