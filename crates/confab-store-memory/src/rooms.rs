//! Chat rooms (the embedded store's room tables): each room with its members, their roles,
//! mutes and absence marks, its blocklist, allowlist, attributes and shared files. A room's
//! messages are a log nobody reads (`logs.rs` keeps no entries of it); they live in `messages`
//! and history.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, RoomId, UserName},
    store::{
        AbsentMember, AttributeChange, AttributeLimits, AttributeRefusal, Room, RoomAttribute,
        RoomChange, RoomDeparture, RoomMember, RoomOutcome, RoomQuota, RoomRole, RoomStore,
        SharedFile, StoreError,
    },
};

use crate::{MemoryStore, State};

#[derive(Debug, Default)]
pub(crate) struct Rooms {
    by_id: HashMap<(AppKey, RoomId), RoomRow>,
}

/// A room with the rows of the other tables that belong to it.
#[derive(Debug)]
struct RoomRow {
    /// Its `member_count` is kept up to date by `counted`.
    room: Room,
    members: BTreeMap<UserName, MemberRow>,
    blocks: BTreeSet<UserName>,
    allowlist: BTreeSet<UserName>,
    attributes: BTreeMap<String, AttributeRow>,
    /// `room_files`, by id.
    files: BTreeMap<String, SharedFile>,
}

/// One member of a room.
#[derive(Debug, Clone)]
struct MemberRow {
    role: RoomRole,
    joined_ms: u64,
    muted_until_ms: Option<u64>,
    /// When their last connection dropped, if they have not come back since.
    absent_since_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct AttributeRow {
    value: String,
    owner: UserName,
    auto_delete: bool,
}

impl RoomRow {
    fn counted(&self) -> Room {
        Room {
            member_count: u32::try_from(self.members.len()).unwrap_or(u32::MAX),
            ..self.room.clone()
        }
    }

    /// A member as read at `now_ms`: a mute that ended reads `None`.
    fn member(&self, user: &UserName, row: &MemberRow, now_ms: u64) -> RoomMember {
        RoomMember {
            user: user.clone(),
            role: row.role,
            joined_ms: row.joined_ms,
            muted_until_ms: row.muted_until_ms.filter(|until| *until > now_ms),
        }
    }

    /// The members in order: the owner, admins, members, each by joining time, then by name.
    fn ordered_members(&self) -> Vec<(&UserName, &MemberRow)> {
        let mut members: Vec<(&UserName, &MemberRow)> = self.members.iter().collect();
        members.sort_by(|(a_name, a), (b_name, b)| {
            (a.role, a.joined_ms, *a_name).cmp(&(b.role, b.joined_ms, *b_name))
        });
        members
    }

    /// `user` leaves (if a member): the attributes they set with auto-delete go with them.
    fn depart(&mut self, user: &UserName) -> Option<RoomDeparture> {
        self.members.remove(user)?;
        let attributes_removed: Vec<String> = self
            .attributes
            .iter()
            .filter(|(_, attribute)| attribute.auto_delete && attribute.owner == *user)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &attributes_removed {
            self.attributes.remove(key);
        }
        Some(RoomDeparture {
            user: user.clone(),
            attributes_removed,
        })
    }
}

/// Room ids in numeric order (they are decimal digits): the shorter first, then by text.
fn by_number(a: &RoomId, b: &RoomId) -> Ordering {
    let digits = |id: &RoomId| id.as_str().trim_start_matches('0').to_owned();
    let (a_digits, b_digits) = (digits(a), digits(b));
    a_digits
        .len()
        .cmp(&b_digits.len())
        .then_with(|| a_digits.cmp(&b_digits))
        .then_with(|| a.cmp(b))
}

/// The users of `users` without repeats, in the order first named.
fn distinct(users: &[UserName]) -> Vec<&UserName> {
    let mut seen = BTreeSet::new();
    users.iter().filter(|user| seen.insert(*user)).collect()
}

fn page<T>(items: impl IntoIterator<Item = T>, offset: u64, limit: u32) -> Vec<T> {
    items
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit as usize)
        .collect()
}

impl Rooms {
    /// A deleted user leaves every room they are in (one they own keeps them as its owner),
    /// their auto-delete attributes with them, and the room lists no longer name them.
    pub(crate) fn drop_user(&mut self, app: &AppKey, user: &UserName) {
        for ((room_app, _), row) in self.by_id.iter_mut() {
            if room_app != app {
                continue;
            }
            row.depart(user);
            row.blocks.remove(user);
            row.allowlist.remove(user);
        }
    }

    fn get(&self, app: &AppKey, id: &RoomId) -> Option<&RoomRow> {
        self.by_id.get(&(app.clone(), id.clone()))
    }

    fn get_mut(&mut self, app: &AppKey, id: &RoomId) -> Option<&mut RoomRow> {
        self.by_id.get_mut(&(app.clone(), id.clone()))
    }

    /// The first of `users` who is in `max` rooms of `app` already.
    fn first_at_quota<'a>(
        &self,
        app: &AppKey,
        users: impl IntoIterator<Item = &'a UserName>,
        max: u32,
    ) -> Option<UserName> {
        users
            .into_iter()
            .find(|user| {
                let joined = self
                    .by_id
                    .iter()
                    .filter(|((room_app, _), row)| {
                        room_app == app && row.members.contains_key(*user)
                    })
                    .count();
                joined >= max as usize
            })
            .cloned()
    }
}

impl State {
    fn create_room(
        &mut self,
        app: &AppKey,
        (room, members): (&Room, &[UserName]),
        quota: RoomQuota,
    ) -> Result<RoomOutcome<()>, StoreError> {
        let key = (app.clone(), room.id.clone());
        if self.rooms.by_id.contains_key(&key) {
            return Err(StoreError::Duplicate(room.id.to_string()));
        }
        let mut everyone = vec![room.owner.clone()];
        everyone.extend_from_slice(members);
        let everyone = distinct(&everyone);
        if let Some(missing) = everyone.iter().find(|user| !self.users.exists(app, user)) {
            return Ok(RoomOutcome::NoUser((*missing).clone()));
        }
        if everyone.len() > room.settings.max_users as usize {
            return Ok(RoomOutcome::Full);
        }
        if let Some(user) =
            self.rooms
                .first_at_quota(app, everyone.iter().copied(), quota.max_joined_rooms)
        {
            return Ok(RoomOutcome::TooManyRooms(user));
        }
        let members = everyone
            .into_iter()
            .map(|user| {
                let role = if *user == room.owner {
                    RoomRole::Owner
                } else {
                    RoomRole::Member
                };
                let row = MemberRow {
                    role,
                    joined_ms: room.created_ms,
                    muted_until_ms: None,
                    absent_since_ms: None,
                };
                (user.clone(), row)
            })
            .collect();
        let row = RoomRow {
            room: room.clone(),
            members,
            blocks: BTreeSet::new(),
            allowlist: BTreeSet::new(),
            attributes: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        self.rooms.by_id.insert(key, row);
        Ok(RoomOutcome::Done(()))
    }

    fn add_room_members(
        &mut self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        now_ms: u64,
        quota: RoomQuota,
    ) -> RoomOutcome<Vec<UserName>> {
        let Some(row) = self.rooms.get(app, id) else {
            return RoomOutcome::NoRoom;
        };
        let new: Vec<UserName> = distinct(users)
            .into_iter()
            .filter(|user| !row.members.contains_key(*user))
            .cloned()
            .collect();
        for user in &new {
            if !self.users.exists(app, user) {
                return RoomOutcome::NoUser(user.clone());
            }
            if row.blocks.contains(user) {
                return RoomOutcome::Blocked(user.clone());
            }
        }
        if row.members.len() + new.len() > row.room.settings.max_users as usize {
            return RoomOutcome::Full;
        }
        if let Some(user) = self.rooms.first_at_quota(app, &new, quota.max_joined_rooms) {
            return RoomOutcome::TooManyRooms(user);
        }
        let Some(row) = self.rooms.get_mut(app, id) else {
            return RoomOutcome::NoRoom;
        };
        // Those in already are back: their absence ends.
        for user in users {
            if let Some(member) = row.members.get_mut(user) {
                member.absent_since_ms = None;
            }
        }
        for user in &new {
            let role = if *user == row.room.owner {
                RoomRole::Owner
            } else {
                RoomRole::Member
            };
            let member = MemberRow {
                role,
                joined_ms: now_ms,
                muted_until_ms: None,
                absent_since_ms: None,
            };
            row.members.insert(user.clone(), member);
        }
        RoomOutcome::Done(new)
    }
}

#[async_trait]
impl RoomStore for MemoryStore {
    async fn create_room(
        &self,
        app: &AppKey,
        room: &Room,
        members: &[UserName],
        quota: RoomQuota,
    ) -> Result<RoomOutcome<()>, StoreError> {
        self.with(|state| state.create_room(app, (room, members), quota))?
    }

    async fn room(&self, app: &AppKey, id: &RoomId) -> Result<Option<Room>, StoreError> {
        self.with(|state| state.rooms.get(app, id).map(RoomRow::counted))
    }

    async fn list_rooms(
        &self,
        app: &AppKey,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<Room>, u64), StoreError> {
        self.with(|state| {
            let mut rooms: Vec<&RoomRow> = state
                .rooms
                .by_id
                .iter()
                .filter(|((room_app, _), _)| room_app == app)
                .map(|(_, row)| row)
                .collect();
            rooms.sort_by(|a, b| by_number(&a.room.id, &b.room.id));
            let total = rooms.len() as u64;
            (
                page(rooms.into_iter().map(RoomRow::counted), offset, limit),
                total,
            )
        })
    }

    async fn change_room(
        &self,
        app: &AppKey,
        id: &RoomId,
        change: &RoomChange,
    ) -> Result<RoomOutcome<Room>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get_mut(app, id) else {
                return RoomOutcome::NoRoom;
            };
            match change {
                RoomChange::Settings(change) => {
                    if change
                        .max_users
                        .is_some_and(|max| (max as usize) < row.members.len())
                    {
                        return RoomOutcome::Full;
                    }
                    let settings = &mut row.room.settings;
                    let set = |value: &mut String, new: &Option<String>| {
                        if let Some(new) = new {
                            value.clone_from(new);
                        }
                    };
                    set(&mut settings.name, &change.name);
                    set(&mut settings.description, &change.description);
                    set(&mut settings.custom, &change.custom);
                    if let Some(max_users) = change.max_users {
                        settings.max_users = max_users;
                    }
                }
                RoomChange::MuteAll(mute_all) => row.room.mute_all = *mute_all,
                RoomChange::Announcement(announcement) => {
                    row.room.announcement.clone_from(announcement);
                }
            }
            RoomOutcome::Done(row.counted())
        })
    }

    async fn delete_room(
        &self,
        app: &AppKey,
        id: &RoomId,
    ) -> Result<Option<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let row = state.rooms.by_id.remove(&(app.clone(), id.clone()))?;
            Some(
                row.ordered_members()
                    .into_iter()
                    .map(|(user, _)| user.clone())
                    .collect(),
            )
        })
    }

    async fn add_room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        now_ms: u64,
        quota: RoomQuota,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError> {
        self.with(|state| state.add_room_members(app, id, users, now_ms, quota))
    }

    async fn remove_room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
    ) -> Result<RoomOutcome<Vec<RoomDeparture>>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get_mut(app, id) else {
                return RoomOutcome::NoRoom;
            };
            let departures = distinct(users)
                .into_iter()
                .filter_map(|user| row.depart(user))
                .collect();
            RoomOutcome::Done(departures)
        })
    }

    async fn room_member(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        now_ms: u64,
    ) -> Result<Option<RoomMember>, StoreError> {
        self.with(|state| {
            let row = state.rooms.get(app, id)?;
            Some(row.member(user, row.members.get(user)?, now_ms))
        })
    }

    async fn room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<RoomMember>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get(app, id) else {
                return Vec::new();
            };
            let members = row
                .ordered_members()
                .into_iter()
                .map(|(user, member)| row.member(user, member, now_ms));
            page(members, offset, limit)
        })
    }

    async fn room_member_names(
        &self,
        app: &AppKey,
        id: &RoomId,
    ) -> Result<Vec<UserName>, StoreError> {
        self.with(|state| {
            state
                .rooms
                .get(app, id)
                .map_or_else(Vec::new, |row| row.members.keys().cloned().collect())
        })
    }

    async fn joined_rooms(
        &self,
        app: &AppKey,
        user: &UserName,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Room>, StoreError> {
        self.with(|state| {
            let mut joined: Vec<(&RoomRow, &MemberRow)> = state
                .rooms
                .by_id
                .iter()
                .filter(|((room_app, _), _)| room_app == app)
                .filter_map(|(_, row)| Some((row, row.members.get(user)?)))
                .collect();
            // The latest joined first, then the newest room (the larger id).
            joined.sort_by(|(a, a_member), (b, b_member)| {
                Reverse(a_member.joined_ms)
                    .cmp(&Reverse(b_member.joined_ms))
                    .then_with(|| by_number(&b.room.id, &a.room.id))
            });
            page(
                joined.into_iter().map(|(row, _)| row.counted()),
                offset,
                limit,
            )
        })
    }

    async fn set_room_admin(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        admin: bool,
        quota: RoomQuota,
    ) -> Result<RoomOutcome<bool>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get_mut(app, id) else {
                return RoomOutcome::NoRoom;
            };
            let admins = row
                .members
                .values()
                .filter(|member| member.role == RoomRole::Admin)
                .count();
            let Some(member) = row
                .members
                .get_mut(user)
                .filter(|member| member.role != RoomRole::Owner)
            else {
                return RoomOutcome::NotMember(user.clone());
            };
            let role = if admin {
                RoomRole::Admin
            } else {
                RoomRole::Member
            };
            let changed = member.role != role;
            if changed && admin && admins >= quota.max_admins as usize {
                return RoomOutcome::TooManyAdmins;
            }
            member.role = role;
            RoomOutcome::Done(changed)
        })
    }

    async fn mute_room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        until_ms: Option<u64>,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get_mut(app, id) else {
                return RoomOutcome::NoRoom;
            };
            let mut muted = Vec::new();
            for user in distinct(users) {
                if let Some(member) = row.members.get_mut(user) {
                    member.muted_until_ms = until_ms;
                    muted.push(user.clone());
                }
            }
            RoomOutcome::Done(muted)
        })
    }

    async fn change_room_blocks(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        block: bool,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get_mut(app, id) else {
                return RoomOutcome::NoRoom;
            };
            let mut changed = Vec::new();
            for user in distinct(users) {
                if block {
                    if *user == row.room.owner || !row.blocks.insert(user.clone()) {
                        continue;
                    }
                    row.depart(user);
                } else if !row.blocks.remove(user) {
                    continue;
                }
                changed.push(user.clone());
            }
            RoomOutcome::Done(changed)
        })
    }

    async fn room_blocks(&self, app: &AppKey, id: &RoomId) -> Result<Vec<UserName>, StoreError> {
        self.with(|state| {
            state
                .rooms
                .get(app, id)
                .map_or_else(Vec::new, |row| row.blocks.iter().cloned().collect())
        })
    }

    async fn change_room_allowlist(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        add: bool,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get_mut(app, id) else {
                return RoomOutcome::NoRoom;
            };
            let changed = distinct(users)
                .into_iter()
                .filter(|user| {
                    if add {
                        row.allowlist.insert((*user).clone())
                    } else {
                        row.allowlist.remove(*user)
                    }
                })
                .cloned()
                .collect();
            RoomOutcome::Done(changed)
        })
    }

    async fn room_allowlist(&self, app: &AppKey, id: &RoomId) -> Result<Vec<UserName>, StoreError> {
        self.with(|state| {
            state
                .rooms
                .get(app, id)
                .map_or_else(Vec::new, |row| row.allowlist.iter().cloned().collect())
        })
    }

    async fn set_room_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        attributes: &[(String, String)],
        (forced, auto_delete): (bool, bool),
        limits: AttributeLimits,
    ) -> Result<RoomOutcome<AttributeChange>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get_mut(app, id) else {
                return RoomOutcome::NoRoom;
            };
            if !row.members.contains_key(user) {
                return RoomOutcome::NotMember(user.clone());
            }
            let mut change = AttributeChange::default();
            for (key, value) in attributes {
                let refusal = if key.is_empty()
                    || key.len() > limits.max_key_bytes
                    || value.len() > limits.max_value_bytes
                {
                    Some(AttributeRefusal::Illegal)
                } else {
                    match row.attributes.get(key) {
                        Some(held) if held.owner != *user && !forced => {
                            Some(AttributeRefusal::NotYours)
                        }
                        Some(_) => None,
                        None if row.attributes.len() >= limits.max_count as usize => {
                            Some(AttributeRefusal::TooMany)
                        }
                        None => None,
                    }
                };
                if let Some(refusal) = refusal {
                    change.refused.push((key.clone(), refusal));
                    continue;
                }
                let attribute = AttributeRow {
                    value: value.clone(),
                    owner: user.clone(),
                    auto_delete,
                };
                row.attributes.insert(key.clone(), attribute);
                change.done.push(key.clone());
            }
            RoomOutcome::Done(change)
        })
    }

    async fn remove_room_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        keys: &[String],
        forced: bool,
    ) -> Result<RoomOutcome<AttributeChange>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get_mut(app, id) else {
                return RoomOutcome::NoRoom;
            };
            if !row.members.contains_key(user) {
                return RoomOutcome::NotMember(user.clone());
            }
            let mut change = AttributeChange::default();
            for key in keys {
                match row.attributes.get(key) {
                    None => change
                        .refused
                        .push((key.clone(), AttributeRefusal::Missing)),
                    Some(held) if held.owner != *user && !forced => change
                        .refused
                        .push((key.clone(), AttributeRefusal::NotYours)),
                    Some(_) => {
                        row.attributes.remove(key);
                        change.done.push(key.clone());
                    }
                }
            }
            RoomOutcome::Done(change)
        })
    }

    async fn room_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        keys: &[String],
    ) -> Result<Vec<RoomAttribute>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get(app, id) else {
                return Vec::new();
            };
            row.attributes
                .iter()
                .filter(|(key, _)| keys.is_empty() || keys.contains(key))
                .map(|(key, attribute)| RoomAttribute {
                    key: key.clone(),
                    value: attribute.value.clone(),
                    owner: attribute.owner.clone(),
                    auto_delete: attribute.auto_delete,
                })
                .collect()
        })
    }

    async fn add_room_file(
        &self,
        app: &AppKey,
        id: &RoomId,
        file: &SharedFile,
    ) -> Result<RoomOutcome<()>, StoreError> {
        self.with(|state| match state.rooms.get_mut(app, id) {
            Some(row) => {
                row.files.insert(file.id.clone(), file.clone());
                RoomOutcome::Done(())
            }
            None => RoomOutcome::NoRoom,
        })
    }

    async fn room_files(
        &self,
        app: &AppKey,
        id: &RoomId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<SharedFile>, StoreError> {
        self.with(|state| {
            let Some(row) = state.rooms.get(app, id) else {
                return Vec::new();
            };
            let mut files: Vec<&SharedFile> = row.files.values().collect();
            files.sort_by(|a, b| {
                b.created_ms
                    .cmp(&a.created_ms)
                    .then_with(|| a.id.cmp(&b.id))
            });
            page(files.into_iter().cloned(), offset, limit)
        })
    }

    async fn room_file(
        &self,
        app: &AppKey,
        id: &RoomId,
        file: &str,
    ) -> Result<Option<SharedFile>, StoreError> {
        self.with(|state| {
            state
                .rooms
                .get(app, id)
                .and_then(|row| row.files.get(file).cloned())
        })
    }

    async fn remove_room_file(
        &self,
        app: &AppKey,
        id: &RoomId,
        file: &str,
    ) -> Result<bool, StoreError> {
        self.with(|state| {
            state
                .rooms
                .get_mut(app, id)
                .is_some_and(|row| row.files.remove(file).is_some())
        })
    }

    async fn mark_room_absence(
        &self,
        app: &AppKey,
        user: &UserName,
        since_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        self.with(|state| {
            for ((room_app, _), row) in state.rooms.by_id.iter_mut() {
                if room_app != app {
                    continue;
                }
                if let Some(member) = row.members.get_mut(user) {
                    member.absent_since_ms = since_ms;
                }
            }
        })
    }

    async fn absent_room_members(
        &self,
        before_ms: u64,
        limit: u32,
    ) -> Result<Vec<AbsentMember>, StoreError> {
        self.with(|state| {
            let mut absent: Vec<AbsentMember> = state
                .rooms
                .by_id
                .iter()
                .flat_map(|((app, room), row)| {
                    row.members.iter().filter_map(move |(user, member)| {
                        let since_ms = member.absent_since_ms.filter(|since| *since < before_ms)?;
                        Some(AbsentMember {
                            app: app.clone(),
                            room: room.clone(),
                            user: user.clone(),
                            since_ms,
                        })
                    })
                })
                .collect();
            absent.sort_by(|a, b| {
                a.since_ms
                    .cmp(&b.since_ms)
                    .then_with(|| a.app.cmp(&b.app))
                    .then_with(|| by_number(&a.room, &b.room))
                    .then_with(|| a.user.cmp(&b.user))
            });
            absent.truncate(limit as usize);
            absent
        })
    }
}
