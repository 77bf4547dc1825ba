//! The chat-room aggregate's port: rooms, who is in them with roles and mutes, blocklists,
//! allowlists, room attributes, shared files, and when a member's last connection dropped.
//!
//! A room's messages are a log of their own (`LogId::Room`) kept for history and recall only:
//! nobody pulls it. They reach the members online at the moment they are sent, pushed through
//! the bus (`RoomService`), so membership here is who is in the room now: a member joins and
//! leaves (or is dropped some time after their last connection goes).

use async_trait::async_trait;

use super::{SharedFile, StoreError};
use crate::ids::{AppKey, RoomId, UserName};

/// What the creator chose for a room (`createChatRoom`, `modifyChatRoom`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSettings {
    pub name: String,
    pub description: String,
    /// Members at most, the owner included.
    pub max_users: u32,
    /// The app's own data (`custom`).
    pub custom: String,
}

/// A room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: RoomId,
    pub owner: UserName,
    pub settings: RoomSettings,
    pub created_ms: u64,
    /// Members now, the owner included.
    pub member_count: u32,
    /// Only the owner, admins and allowlisted members may send (`disableSendChatRoomMsg`).
    pub mute_all: bool,
    pub announcement: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoomRole {
    Owner,
    Admin,
    Member,
}

/// One member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMember {
    pub user: UserName,
    pub role: RoomRole,
    pub joined_ms: u64,
    /// Muted until this time (epoch ms); `None`: not muted (a mute that ended reads `None`).
    pub muted_until_ms: Option<u64>,
}

/// A change of a room's settings: each `Some` part is set, the others stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomSettingsChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub max_users: Option<u32>,
    pub custom: Option<String>,
}

/// A change of a room as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomChange {
    Settings(RoomSettingsChange),
    MuteAll(bool),
    Announcement(String),
}

/// What a change of a room or of its members did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomOutcome<T> {
    Done(T),
    /// No such room.
    NoRoom,
    /// The user named is not a member (an admin to be).
    NotMember(UserName),
    /// The user named does not exist.
    NoUser(UserName),
    /// The user named is on the room's blocklist.
    Blocked(UserName),
    /// Nothing done: the room would pass its `max_users`.
    Full,
    /// Nothing done: this user is in as many rooms as they may be.
    TooManyRooms(UserName),
    /// Nothing done: the room has as many admins as it may have.
    TooManyAdmins,
}

/// Limits of the deployment a change of members is checked against, in its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomQuota {
    /// Rooms one user may be in at once (rooms they own count only while they are in them).
    pub max_joined_rooms: u32,
    /// Admins of one room (the owner not counted).
    pub max_admins: u32,
}

impl RoomQuota {
    /// No limit but the room's own `max_users`.
    pub const UNLIMITED: RoomQuota = RoomQuota {
        max_joined_rooms: u32::MAX,
        max_admins: u32::MAX,
    };
}

/// A member who left a room (by leaving, removal, block or after going offline), with the
/// keys of the room attributes that left with them (those they set with auto-delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomDeparture {
    pub user: UserName,
    pub attributes_removed: Vec<String>,
}

/// One room attribute (`setChatRoomAttribute`): a key, its value, who set it last, and whether
/// it goes when they leave the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAttribute {
    pub key: String,
    pub value: String,
    pub owner: UserName,
    pub auto_delete: bool,
}

/// Limits of room attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeLimits {
    /// Attributes one room holds at most.
    pub max_count: u32,
    /// Bytes of a key at most.
    pub max_key_bytes: usize,
    /// Bytes of a value at most.
    pub max_value_bytes: usize,
}

/// Why one key of an attribute change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeRefusal {
    /// Another member set it, and the change was not forced.
    NotYours,
    /// The room would hold more than `AttributeLimits::max_count` attributes.
    TooMany,
    /// The key is empty or too long, or the value too long.
    Illegal,
    /// Removal of a key the room does not have.
    Missing,
}

/// What an attribute change did, key by key, in the order asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeChange {
    pub done: Vec<String>,
    pub refused: Vec<(String, AttributeRefusal)>,
}

/// A member whose last connection dropped at `since_ms` and who has not come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsentMember {
    pub app: AppKey,
    pub room: RoomId,
    pub user: UserName,
    pub since_ms: u64,
}

/// Rooms and who is in them. Every change checked against the room (its size, its blocklist,
/// who is a member, the user's other rooms) is checked in the same step that writes it.
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Creates `room` (its `member_count` is ignored) with its owner as a member and `members`
    /// (the owner among them, or repeated, counts once) joined at `room.created_ms`. `NoUser`
    /// names the first who does not exist, `Full` when they pass `max_users`, `TooManyRooms`
    /// the first who is in `quota.max_joined_rooms` rooms already; nothing is written then.
    async fn create_room(
        &self,
        app: &AppKey,
        room: &Room,
        members: &[UserName],
        quota: RoomQuota,
    ) -> Result<RoomOutcome<()>, StoreError>;
    async fn room(&self, app: &AppKey, id: &RoomId) -> Result<Option<Room>, StoreError>;
    /// `limit` rooms of the app from `offset`, by id as a number, and how many there are.
    async fn list_rooms(
        &self,
        app: &AppKey,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<Room>, u64), StoreError>;
    /// Applies `change` and returns the room after it; `max_users` below the member count is
    /// `Full`.
    async fn change_room(
        &self,
        app: &AppKey,
        id: &RoomId,
        change: &RoomChange,
    ) -> Result<RoomOutcome<Room>, StoreError>;
    /// Deletes the room with its members, lists, attributes and shared files; returns its
    /// members just before (`None`: no such room). Its log stays, read by no one but history.
    async fn delete_room(
        &self,
        app: &AppKey,
        id: &RoomId,
    ) -> Result<Option<Vec<UserName>>, StoreError>;
    /// Adds `users` as members at `now_ms` (a join: `users` is the joining user; the REST
    /// API adds several); those already members are left out of the answer, and their
    /// absence mark ends. All or nothing: `NoUser`, `Blocked`, `Full` or `TooManyRooms` write
    /// nothing.
    async fn add_room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        now_ms: u64,
        quota: RoomQuota,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError>;
    /// Removes `users` (the owner too, who stays the owner and may join again) and returns
    /// those who were members, each with the attributes they set with auto-delete, which are
    /// removed with them.
    async fn remove_room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
    ) -> Result<RoomOutcome<Vec<RoomDeparture>>, StoreError>;
    async fn room_member(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        now_ms: u64,
    ) -> Result<Option<RoomMember>, StoreError>;
    /// `limit` members from `offset`: the owner, then admins, then members, each by joining
    /// time, then by name.
    async fn room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<RoomMember>, StoreError>;
    /// Every member's name (delivery reads it once per room and node, then follows changes).
    async fn room_member_names(
        &self,
        app: &AppKey,
        id: &RoomId,
    ) -> Result<Vec<UserName>, StoreError>;
    /// `limit` of the rooms `user` is in from `offset`, the latest joined first.
    async fn joined_rooms(
        &self,
        app: &AppKey,
        user: &UserName,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Room>, StoreError>;
    /// Makes a member an admin (`admin`) or a plain member again; `false` when the role was
    /// already so. `NotMember` for a non-member and for the owner. `TooManyAdmins` when the
    /// room has `quota.max_admins` admins already.
    async fn set_room_admin(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        admin: bool,
        quota: RoomQuota,
    ) -> Result<RoomOutcome<bool>, StoreError>;
    /// Mutes members until `until_ms` (`Some`) or unmutes them; returns those of `users` who
    /// are members (the others are left as they are).
    async fn mute_room_members(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        until_ms: Option<u64>,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError>;
    /// Adds `users` to the room's blocklist (`block`: they stop being members, their
    /// auto-delete attributes go, and the owner is never added) or removes them; returns
    /// those whose state changed.
    async fn change_room_blocks(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        block: bool,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError>;
    /// The blocklist, by name.
    async fn room_blocks(&self, app: &AppKey, id: &RoomId) -> Result<Vec<UserName>, StoreError>;
    /// Adds `users` to the allowlist (they may send while all are muted) or removes them;
    /// returns those whose state changed.
    async fn change_room_allowlist(
        &self,
        app: &AppKey,
        id: &RoomId,
        users: &[UserName],
        add: bool,
    ) -> Result<RoomOutcome<Vec<UserName>>, StoreError>;
    /// The allowlist, by name.
    async fn room_allowlist(&self, app: &AppKey, id: &RoomId) -> Result<Vec<UserName>, StoreError>;
    /// Sets attributes as member `user` (`NotMember` otherwise), key by key in the order
    /// given: a key another member set is refused (`NotYours`) unless `forced`; a new key
    /// past `limits.max_count` is `TooMany`; an empty or too long key, or a too long value, is
    /// `Illegal`. A key set becomes `user`'s, with `auto_delete`.
    async fn set_room_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        attributes: &[(String, String)],
        (forced, auto_delete): (bool, bool),
        limits: AttributeLimits,
    ) -> Result<RoomOutcome<AttributeChange>, StoreError>;
    /// Removes attributes as member `user`, key by key: `Missing` when the room has none of
    /// that key, `NotYours` when another member set it and the removal is not `forced`.
    async fn remove_room_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        user: &UserName,
        keys: &[String],
        forced: bool,
    ) -> Result<RoomOutcome<AttributeChange>, StoreError>;
    /// The room's attributes (only `keys`, unless empty), by key.
    async fn room_attributes(
        &self,
        app: &AppKey,
        id: &RoomId,
        keys: &[String],
    ) -> Result<Vec<RoomAttribute>, StoreError>;
    /// Shares `file` in the room (a file of the same id is replaced); `NoRoom` when there is
    /// none.
    async fn add_room_file(
        &self,
        app: &AppKey,
        id: &RoomId,
        file: &SharedFile,
    ) -> Result<RoomOutcome<()>, StoreError>;
    /// `limit` of the room's files from `offset`, the latest shared first (then by id).
    async fn room_files(
        &self,
        app: &AppKey,
        id: &RoomId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<SharedFile>, StoreError>;
    async fn room_file(
        &self,
        app: &AppKey,
        id: &RoomId,
        file: &str,
    ) -> Result<Option<SharedFile>, StoreError>;
    /// Takes the file out of the room; false when it was not shared there.
    async fn remove_room_file(
        &self,
        app: &AppKey,
        id: &RoomId,
        file: &str,
    ) -> Result<bool, StoreError>;
    /// Records that `user`'s last connection dropped at `since_ms` (`Some`), in each room
    /// they are in, or that they are back (`None`: the marks end).
    async fn mark_room_absence(
        &self,
        app: &AppKey,
        user: &UserName,
        since_ms: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Up to `limit` members of any room of any app marked absent since before `before_ms`,
    /// the longest absent first.
    async fn absent_room_members(
        &self,
        before_ms: u64,
        limit: u32,
    ) -> Result<Vec<AbsentMember>, StoreError>;
}
