//! The group aggregate's port: groups, their members with roles, mutes, blocklists,
//! allowlists and pending requests. A group's messages are its log (`LogId::Group`), appended
//! through the `Appender` like every other; a member reads it from when they joined.

use async_trait::async_trait;

use super::{SharedFile, StoreError};
use crate::ids::{AppKey, GroupId, MessageId, UserName};

/// Unread messages a group conversation of the list counts at most (`ConversationStore::
/// conversations`): counting stops there, so a long absence costs one bounded count per group.
pub const MAX_GROUP_UNREAD: u32 = 1000;

/// What the owner chose for a group (`createGroup`, `modifyGroup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    pub name: String,
    pub description: String,
    pub avatar: String,
    /// Anyone can find it (`getPublicGroups`) and ask to join.
    pub public: bool,
    /// Joining needs the owner's or an admin's approval (`members_only`).
    pub approval: bool,
    /// Members, not only the owner and admins, may invite.
    pub allow_invites: bool,
    /// An invitee joins only once they accept.
    pub invite_need_confirm: bool,
    /// Members at most, the owner included.
    pub max_users: u32,
    /// The app's own data (`ext` / `custom`).
    pub custom: String,
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub owner: UserName,
    pub settings: GroupSettings,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// Members now, the owner included.
    pub member_count: u32,
    /// Only the owner, admins and allowlisted members may send (`disableSendGroupMsg`).
    pub mute_all: bool,
    pub announcement: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupRole {
    Owner,
    Admin,
    Member,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub user: UserName,
    pub role: GroupRole,
    pub joined_ms: u64,
    /// Muted until this time (epoch ms); `None`: not muted.
    pub muted_until_ms: Option<u64>,
}

/// A change of a group's settings: each `Some` part is set, the others stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupSettingsChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub avatar: Option<String>,
    pub public: Option<bool>,
    pub approval: Option<bool>,
    pub allow_invites: Option<bool>,
    pub invite_need_confirm: Option<bool>,
    pub max_users: Option<u32>,
    pub custom: Option<String>,
}

/// A change of a group as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    Settings(GroupSettingsChange),
    /// The member becomes the owner; the old owner stays, as a member.
    Owner(UserName),
    MuteAll(bool),
    Announcement(String),
}

/// What a change of a group or of its members did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome<T> {
    Done(T),
    /// No such group.
    NoGroup,
    /// The user named is not a member (a new owner, an admin to be).
    NotMember(UserName),
    /// The user named does not exist.
    NoUser(UserName),
    /// The user named is on the group's blocklist.
    Blocked(UserName),
    /// Nothing done: the group would pass its `max_users`.
    Full,
    /// Nothing done: this user is in as many groups as they may be.
    TooManyGroups(UserName),
    /// Nothing done: the group has as many admins as it may have.
    TooManyAdmins,
}

/// Limits of the deployment a change of members is checked against, in its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupQuota {
    /// Groups one user may be a member of (their own included).
    pub max_joined_groups: u32,
    /// Admins of one group (the owner not counted).
    pub max_admins: u32,
}

impl GroupQuota {
    /// No limit but the group's own `max_users`.
    pub const UNLIMITED: GroupQuota = GroupQuota {
        max_joined_groups: u32::MAX,
        max_admins: u32::MAX,
    };
}

/// A request waiting for an answer: a user's application to join (answered by the owner or
/// an admin), or an invitation (answered by the invitee).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupRequestKind {
    Application,
    Invitation,
}

/// A member's attributes in one group (`setGroupMemberAttributes`), by key.
pub type MemberAttributes = std::collections::BTreeMap<String, String>;

/// A pending request; `user` is the applicant or the invitee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRequest {
    pub kind: GroupRequestKind,
    pub user: UserName,
    /// The inviter; for an application, the applicant.
    pub from: UserName,
    pub reason: String,
    pub created_ms: u64,
}

/// Groups and their members. Every change that is checked against the group (its size, its
/// blocklist, who is a member) is checked in the same step that writes it.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates `group` (its `member_count` is ignored) with its owner and `members` (the owner
    /// among them, or repeated, counts once). `NoUser` names the first member who does not
    /// exist, `Full` when they pass `max_users`, `TooManyGroups` the first who is in
    /// `quota.max_joined_groups` groups already; nothing is written then.
    async fn create_group(
        &self,
        app: &AppKey,
        group: &Group,
        members: &[UserName],
        quota: GroupQuota,
    ) -> Result<GroupOutcome<()>, StoreError>;
    async fn group(&self, app: &AppKey, id: &GroupId) -> Result<Option<Group>, StoreError>;
    /// Those of `ids` that exist, in the order asked.
    async fn groups(&self, app: &AppKey, ids: &[GroupId]) -> Result<Vec<Group>, StoreError>;
    /// Applies `change` at `now_ms` and returns the group after it. A new owner must be a member
    /// (`NotMember`); `max_users` below the member count is `Full`.
    async fn change_group(
        &self,
        app: &AppKey,
        id: &GroupId,
        change: &GroupChange,
        now_ms: u64,
    ) -> Result<GroupOutcome<Group>, StoreError>;
    /// Deletes the group with its members, lists and requests; returns its members just before
    /// (`None`: no such group). Its log stays until reclaimed, read by no one.
    async fn delete_group(
        &self,
        app: &AppKey,
        id: &GroupId,
    ) -> Result<Option<Vec<UserName>>, StoreError>;
    /// Adds `users` as members at `now_ms`, reading the log from its current end; those
    /// already members are left out of the answer. All or nothing: `NoUser`, `Blocked` (on
    /// the group's blocklist), `Full` or `TooManyGroups` (`quota.max_joined_groups`) write
    /// nothing. Their pending requests to this group end.
    async fn add_group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        now_ms: u64,
        quota: GroupQuota,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError>;
    /// Removes `users` (never the owner) and returns those who were members. A removed member
    /// reads nothing more of the log but what is addressed to them.
    async fn remove_group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError>;
    /// Makes a member an admin (`admin`) or a plain member again; `false` when the role was
    /// already so. The owner's role does not change this way (`NotMember` for the owner too).
    /// `TooManyAdmins` when the group has `quota.max_admins` admins already.
    async fn set_group_admin(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        admin: bool,
        quota: GroupQuota,
    ) -> Result<GroupOutcome<bool>, StoreError>;
    async fn group_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<Option<GroupMember>, StoreError>;
    /// `limit` members from `offset`: the owner, then admins, then members, each by joining
    /// time, then by name. A mute that ended is `None`.
    async fn group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<GroupMember>, StoreError>;
    /// `limit` of `user`'s groups from `offset`, the latest joined first, with their role.
    async fn joined_groups(
        &self,
        app: &AppKey,
        user: &UserName,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<(Group, GroupRole)>, StoreError>;
    async fn joined_group_count(&self, app: &AppKey, user: &UserName) -> Result<u64, StoreError>;
    /// Up to `limit` groups (only public ones with `public_only`) with ids after `after`, by
    /// id as a number.
    async fn list_groups(
        &self,
        app: &AppKey,
        public_only: bool,
        after: Option<&GroupId>,
        limit: u32,
    ) -> Result<Vec<Group>, StoreError>;
    /// Mutes members until `until_ms` (`Some`) or unmutes them; returns those of `users` who
    /// are members (the others are left as they are).
    async fn mute_group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        until_ms: Option<u64>,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError>;
    /// Adds `users` to the group's blocklist (`block`: they stop being members, and the owner
    /// is never added) or removes them; returns those whose state changed.
    async fn change_group_blocks(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        block: bool,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError>;
    /// The blocklist, by name.
    async fn group_blocks(&self, app: &AppKey, id: &GroupId) -> Result<Vec<UserName>, StoreError>;
    /// Adds `users` to the allowlist (they may send while all are muted) or removes them;
    /// returns those whose state changed.
    async fn change_group_allowlist(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        add: bool,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError>;
    /// The allowlist, by name.
    async fn group_allowlist(
        &self,
        app: &AppKey,
        id: &GroupId,
    ) -> Result<Vec<UserName>, StoreError>;
    /// Records `request` (a repeat replaces the earlier one of the same kind and user).
    async fn add_group_request(
        &self,
        app: &AppKey,
        id: &GroupId,
        request: &GroupRequest,
    ) -> Result<GroupOutcome<()>, StoreError>;
    /// Sets `changes` (key, value; an empty value removes the key) in member `user`'s
    /// attributes in the group and returns them all after, unless they would then take more than
    /// `max_bytes` (keys and values: `Full`, nothing written). `NotMember` when `user` is not a
    /// member.
    async fn set_group_member_attributes(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        (changes, max_bytes): (&[(String, String)], usize),
    ) -> Result<GroupOutcome<MemberAttributes>, StoreError>;
    /// The attributes of each of `users` who is a member (only `keys`, unless empty), in the
    /// order asked; members without any have an empty map.
    async fn group_member_attributes(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        keys: &[String],
    ) -> Result<Vec<(UserName, MemberAttributes)>, StoreError>;
    /// Sets whether member `user` blocks the group's messages (`blockGroupMessage`): while
    /// they do, they read none of its entries for every member (those addressed to them still
    /// come). `NotMember` when they are not a member; `false` when it already was so.
    async fn set_group_shield(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        shield: bool,
    ) -> Result<GroupOutcome<bool>, StoreError>;
    /// Shares `file` in the group; `NoGroup` when there is none.
    async fn add_group_file(
        &self,
        app: &AppKey,
        id: &GroupId,
        file: &SharedFile,
    ) -> Result<GroupOutcome<()>, StoreError>;
    /// `limit` of the group's files from `offset`, the latest shared first.
    async fn group_files(
        &self,
        app: &AppKey,
        id: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<SharedFile>, StoreError>;
    async fn group_file(
        &self,
        app: &AppKey,
        id: &GroupId,
        file: &str,
    ) -> Result<Option<SharedFile>, StoreError>;
    /// Takes the file out of the group; false when it was not shared there.
    async fn remove_group_file(
        &self,
        app: &AppKey,
        id: &GroupId,
        file: &str,
    ) -> Result<bool, StoreError>;
    /// Records that `reader` read message `message` of group `id` (a group read ack; once per
    /// reader) and returns how many have read it.
    async fn record_group_read(
        &self,
        app: &AppKey,
        id: &GroupId,
        message: MessageId,
        reader: &UserName,
        now_ms: u64,
    ) -> Result<u32, StoreError>;
    /// Up to `limit` of those who read message `message` of group `id`, by name after
    /// `after`, and how many have read it in all.
    async fn group_readers(
        &self,
        app: &AppKey,
        id: &GroupId,
        message: MessageId,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<(Vec<UserName>, u32), StoreError>;
    /// Ends the pending request of `kind` for `user` and returns it (`None`: there was none).
    async fn take_group_request(
        &self,
        app: &AppKey,
        id: &GroupId,
        kind: GroupRequestKind,
        user: &UserName,
    ) -> Result<Option<GroupRequest>, StoreError>;
}
