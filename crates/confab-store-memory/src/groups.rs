//! Groups (the embedded store's `groups`, `group_members`, `group_blocks`, `group_allowlist`
//! and `group_requests` tables): each group with its members, their roles, mutes and join
//! points, and its lists. A group's messages are its log, in `logs.rs`, which asks this module
//! who is a member and from where they read.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use confab_core::{
    ids::{AppKey, GroupId, LogId, MessageId, UserName},
    store::{
        Appended, Group, GroupChange, GroupMember, GroupOutcome, GroupQuota, GroupRequest,
        GroupRequestKind, GroupRole, GroupStore, MemberAttributes, SharedFile, StoreError,
    },
};

use crate::{MemoryStore, State};

#[derive(Debug, Default)]
pub(crate) struct Groups {
    by_id: HashMap<(AppKey, GroupId), GroupRow>,
}

/// A row of `groups` with the rows of the other tables that belong to it.
#[derive(Debug)]
struct GroupRow {
    /// Its `member_count` is kept up to date by `counted`.
    group: Group,
    members: BTreeMap<UserName, MemberRow>,
    blocks: BTreeSet<UserName>,
    allowlist: BTreeSet<UserName>,
    requests: HashMap<(GroupRequestKind, UserName), GroupRequest>,
    /// `group_message_reads`: who sent a read ack for each message.
    reads: BTreeMap<MessageId, BTreeSet<UserName>>,
    /// `group_files`, by id.
    files: BTreeMap<String, SharedFile>,
}

/// A row of `group_members`.
#[derive(Debug, Clone)]
struct MemberRow {
    role: GroupRole,
    joined_ms: u64,
    muted_until_ms: Option<u64>,
    /// The log's newest entry for every member when they joined: they read those after it.
    join_point: MessageId,
    /// `group_member_attributes`: they leave with the member.
    attributes: MemberAttributes,
    /// The member blocks the group's messages (`blockGroupMessage`).
    shielded: bool,
}

impl GroupRow {
    fn counted(&self) -> Group {
        Group {
            member_count: u32::try_from(self.members.len()).unwrap_or(u32::MAX),
            ..self.group.clone()
        }
    }

    fn member(&self, user: &UserName, row: &MemberRow) -> GroupMember {
        GroupMember {
            user: user.clone(),
            role: row.role,
            joined_ms: row.joined_ms,
            muted_until_ms: row.muted_until_ms,
        }
    }

    /// The members in `group_members` order: the owner, admins, members, each by joining
    /// time, then by name.
    fn ordered_members(&self) -> Vec<(&UserName, &MemberRow)> {
        let mut members: Vec<(&UserName, &MemberRow)> = self.members.iter().collect();
        members.sort_by(|(a_name, a), (b_name, b)| {
            (a.role, a.joined_ms, *a_name).cmp(&(b.role, b.joined_ms, *b_name))
        });
        members
    }

    fn max_users(&self) -> usize {
        self.group.settings.max_users as usize
    }
}

/// Group ids in numeric order (they are decimal digits): the shorter first, then by text.
fn by_number(a: &GroupId, b: &GroupId) -> Ordering {
    let number = |id: &GroupId| id.as_str().trim_start_matches('0').len();
    number(a)
        .cmp(&number(b))
        .then_with(|| {
            a.as_str()
                .trim_start_matches('0')
                .cmp(b.as_str().trim_start_matches('0'))
        })
        .then_with(|| a.cmp(b))
}

/// The users of `users` without repeats, in the order first named.
fn distinct(users: &[UserName]) -> Vec<&UserName> {
    let mut seen = BTreeSet::new();
    users.iter().filter(|user| seen.insert(*user)).collect()
}

impl Groups {
    fn get(&self, app: &AppKey, id: &GroupId) -> Option<&GroupRow> {
        self.by_id.get(&(app.clone(), id.clone()))
    }

    fn get_mut(&mut self, app: &AppKey, id: &GroupId) -> Option<&mut GroupRow> {
        self.by_id.get_mut(&(app.clone(), id.clone()))
    }

    /// Where `user` reads the group's log from (entries for every member after this id);
    /// `None` when they are not a member (or there is no such group).
    pub(crate) fn join_point(
        &self,
        app: &AppKey,
        group: &GroupId,
        user: &UserName,
    ) -> Option<MessageId> {
        Some(self.get(app, group)?.members.get(user)?.join_point)
    }

    /// Where `user` reads the group's entries for every member from: their join point, unless
    /// they are no member or block the group's messages.
    pub(crate) fn reads_from(
        &self,
        app: &AppKey,
        group: &GroupId,
        user: &UserName,
    ) -> Option<MessageId> {
        let member = self.get(app, group)?.members.get(user)?;
        (!member.shielded).then_some(member.join_point)
    }

    /// The logs of the groups `user` is a member of.
    pub(crate) fn logs_of(&self, app: &AppKey, user: &UserName) -> Vec<LogId> {
        self.by_id
            .iter()
            .filter(|((group_app, _), row)| group_app == app && row.members.contains_key(user))
            .map(|((_, id), _)| LogId::Group(id.clone()))
            .collect()
    }

    /// Why an append to the group's log is refused, if it is: no such group; for a message
    /// (a non-empty `kind`), a sender who is not a member, is muted at `sent_ms`, or is a
    /// plain member off the allowlist while all are muted.
    pub(crate) fn refuses(
        &self,
        app: &AppKey,
        group: &GroupId,
        sender: &UserName,
        kind: &str,
        sent_ms: u64,
    ) -> Option<Appended> {
        let Some(row) = self.get(app, group) else {
            return Some(Appended::NoGroup);
        };
        if kind.is_empty() {
            return None;
        }
        let Some(member) = row.members.get(sender) else {
            return Some(Appended::NotGroupMember);
        };
        let muted = member.muted_until_ms.is_some_and(|until| until > sent_ms);
        let all_muted = row.group.mute_all
            && member.role == GroupRole::Member
            && !row.allowlist.contains(sender);
        (muted || all_muted).then_some(Appended::Muted)
    }

    /// A deleted user leaves every group they do not own, and the groups' lists and requests.
    pub(crate) fn drop_user(&mut self, app: &AppKey, user: &UserName) {
        for ((group_app, _), row) in self.by_id.iter_mut() {
            if group_app != app {
                continue;
            }
            if row.group.owner != *user {
                row.members.remove(user);
            }
            row.blocks.remove(user);
            row.allowlist.remove(user);
            row.requests.retain(|(_, requester), _| requester != user);
        }
    }
}

impl State {
    /// Where a member who joins `group` now starts reading its log.
    fn join_point_now(&self, app: &AppKey, group: &GroupId) -> MessageId {
        self.logs.group_tail(app, &LogId::Group(group.clone()))
    }

    /// The first of `users` who is in `max` groups already.
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
                    .groups
                    .by_id
                    .iter()
                    .filter(|((group_app, _), row)| {
                        group_app == app && row.members.contains_key(*user)
                    })
                    .count();
                joined >= max as usize
            })
            .cloned()
    }

    fn create_group(
        &mut self,
        app: &AppKey,
        (group, members): (&Group, &[UserName]),
        quota: GroupQuota,
    ) -> Result<GroupOutcome<()>, StoreError> {
        let key = (app.clone(), group.id.clone());
        if self.groups.by_id.contains_key(&key) {
            return Err(StoreError::Duplicate(group.id.to_string()));
        }
        let mut everyone = vec![group.owner.clone()];
        everyone.extend_from_slice(members);
        let everyone = distinct(&everyone);
        if let Some(missing) = everyone.iter().find(|user| !self.users.exists(app, user)) {
            return Ok(GroupOutcome::NoUser((*missing).clone()));
        }
        if everyone.len() > group.settings.max_users as usize {
            return Ok(GroupOutcome::Full);
        }
        if let Some(user) =
            self.first_at_quota(app, everyone.iter().copied(), quota.max_joined_groups)
        {
            return Ok(GroupOutcome::TooManyGroups(user));
        }
        let join_point = self.join_point_now(app, &group.id);
        let members = everyone
            .into_iter()
            .map(|user| {
                let role = if *user == group.owner {
                    GroupRole::Owner
                } else {
                    GroupRole::Member
                };
                let row = MemberRow {
                    role,
                    joined_ms: group.created_ms,
                    muted_until_ms: None,
                    join_point,
                    attributes: MemberAttributes::new(),
                    shielded: false,
                };
                (user.clone(), row)
            })
            .collect();
        let row = GroupRow {
            group: group.clone(),
            members,
            blocks: BTreeSet::new(),
            allowlist: BTreeSet::new(),
            requests: HashMap::new(),
            reads: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        self.groups.by_id.insert(key, row);
        Ok(GroupOutcome::Done(()))
    }

    fn add_group_members(
        &mut self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        now_ms: u64,
        quota: GroupQuota,
    ) -> GroupOutcome<Vec<UserName>> {
        let join_point = self.join_point_now(app, id);
        let outside: Vec<UserName> = match self.groups.by_id.get(&(app.clone(), id.clone())) {
            Some(row) => distinct(users)
                .into_iter()
                .filter(|user| !row.members.contains_key(*user))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let at_quota = self.first_at_quota(app, &outside, quota.max_joined_groups);
        let Some(row) = self.groups.by_id.get_mut(&(app.clone(), id.clone())) else {
            return GroupOutcome::NoGroup;
        };
        let new: Vec<&UserName> = distinct(users)
            .into_iter()
            .filter(|user| !row.members.contains_key(*user))
            .collect();
        for user in &new {
            if !self.users.exists(app, user) {
                return GroupOutcome::NoUser((*user).clone());
            }
            if row.blocks.contains(*user) {
                return GroupOutcome::Blocked((*user).clone());
            }
        }
        if row.members.len() + new.len() > row.max_users() {
            return GroupOutcome::Full;
        }
        if let Some(user) = at_quota {
            return GroupOutcome::TooManyGroups(user);
        }
        for user in &new {
            let member = MemberRow {
                role: GroupRole::Member,
                joined_ms: now_ms,
                muted_until_ms: None,
                join_point,
                attributes: MemberAttributes::new(),
                shielded: false,
            };
            row.members.insert((*user).clone(), member);
        }
        // Their requests to join (or invitations) are answered by the joining.
        row.requests
            .retain(|(_, requester), _| !users.contains(requester));
        GroupOutcome::Done(new.into_iter().cloned().collect())
    }
}

#[async_trait]
impl GroupStore for MemoryStore {
    async fn create_group(
        &self,
        app: &AppKey,
        group: &Group,
        members: &[UserName],
        quota: GroupQuota,
    ) -> Result<GroupOutcome<()>, StoreError> {
        self.with(|state| state.create_group(app, (group, members), quota))?
    }

    async fn group(&self, app: &AppKey, id: &GroupId) -> Result<Option<Group>, StoreError> {
        self.with(|state| state.groups.get(app, id).map(GroupRow::counted))
    }

    async fn groups(&self, app: &AppKey, ids: &[GroupId]) -> Result<Vec<Group>, StoreError> {
        self.with(|state| {
            ids.iter()
                .filter_map(|id| state.groups.get(app, id).map(GroupRow::counted))
                .collect()
        })
    }

    async fn change_group(
        &self,
        app: &AppKey,
        id: &GroupId,
        change: &GroupChange,
        now_ms: u64,
    ) -> Result<GroupOutcome<Group>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return GroupOutcome::NoGroup;
            };
            match change {
                GroupChange::Settings(change) => {
                    if change
                        .max_users
                        .is_some_and(|max| (max as usize) < row.members.len())
                    {
                        return GroupOutcome::Full;
                    }
                    let settings = &mut row.group.settings;
                    let set = |value: &mut String, new: &Option<String>| {
                        if let Some(new) = new {
                            value.clone_from(new);
                        }
                    };
                    set(&mut settings.name, &change.name);
                    set(&mut settings.description, &change.description);
                    set(&mut settings.avatar, &change.avatar);
                    set(&mut settings.custom, &change.custom);
                    let flags = [
                        (&mut settings.public, change.public),
                        (&mut settings.approval, change.approval),
                        (&mut settings.allow_invites, change.allow_invites),
                        (
                            &mut settings.invite_need_confirm,
                            change.invite_need_confirm,
                        ),
                    ];
                    for (flag, new) in flags {
                        if let Some(new) = new {
                            *flag = new;
                        }
                    }
                    if let Some(max_users) = change.max_users {
                        settings.max_users = max_users;
                    }
                }
                GroupChange::Owner(new) => {
                    if !row.members.contains_key(new) {
                        return GroupOutcome::NotMember(new.clone());
                    }
                    let old = row.group.owner.clone();
                    if let Some(old) = row.members.get_mut(&old) {
                        old.role = GroupRole::Member;
                    }
                    if let Some(new) = row.members.get_mut(new) {
                        new.role = GroupRole::Owner;
                    }
                    row.group.owner = new.clone();
                }
                GroupChange::MuteAll(mute_all) => row.group.mute_all = *mute_all,
                GroupChange::Announcement(announcement) => {
                    row.group.announcement.clone_from(announcement);
                }
            }
            row.group.modified_ms = now_ms;
            GroupOutcome::Done(row.counted())
        })
    }

    async fn delete_group(
        &self,
        app: &AppKey,
        id: &GroupId,
    ) -> Result<Option<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let row = state.groups.by_id.remove(&(app.clone(), id.clone()))?;
            Some(
                row.ordered_members()
                    .into_iter()
                    .map(|(user, _)| user.clone())
                    .collect(),
            )
        })
    }

    async fn add_group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        now_ms: u64,
        quota: GroupQuota,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        self.with(|state| state.add_group_members(app, id, users, now_ms, quota))
    }

    async fn remove_group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return GroupOutcome::NoGroup;
            };
            let owner = row.group.owner.clone();
            let removed = distinct(users)
                .into_iter()
                .filter(|user| **user != owner && row.members.remove(*user).is_some())
                .cloned()
                .collect();
            GroupOutcome::Done(removed)
        })
    }

    async fn set_group_admin(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        admin: bool,
        quota: GroupQuota,
    ) -> Result<GroupOutcome<bool>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return GroupOutcome::NoGroup;
            };
            let admins = row
                .members
                .values()
                .filter(|member| member.role == GroupRole::Admin)
                .count();
            let Some(member) = row
                .members
                .get_mut(user)
                .filter(|member| member.role != GroupRole::Owner)
            else {
                return GroupOutcome::NotMember(user.clone());
            };
            let role = if admin {
                GroupRole::Admin
            } else {
                GroupRole::Member
            };
            let changed = member.role != role;
            if changed && admin && admins >= quota.max_admins as usize {
                return GroupOutcome::TooManyAdmins;
            }
            member.role = role;
            GroupOutcome::Done(changed)
        })
    }

    async fn group_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<Option<GroupMember>, StoreError> {
        self.with(|state| {
            let row = state.groups.get(app, id)?;
            Some(row.member(user, row.members.get(user)?))
        })
    }

    async fn group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        now_ms: u64,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<GroupMember>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get(app, id) else {
                return Vec::new();
            };
            row.ordered_members()
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(limit as usize)
                .map(|(user, member)| {
                    let mut member = row.member(user, member);
                    member.muted_until_ms = member.muted_until_ms.filter(|until| *until > now_ms);
                    member
                })
                .collect()
        })
    }

    async fn joined_groups(
        &self,
        app: &AppKey,
        user: &UserName,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<(Group, GroupRole)>, StoreError> {
        self.with(|state| {
            let mut joined: Vec<(&GroupRow, &MemberRow)> = state
                .groups
                .by_id
                .iter()
                .filter(|((group_app, _), _)| group_app == app)
                .filter_map(|(_, row)| Some((row, row.members.get(user)?)))
                .collect();
            // The latest joined first, then the newest group (the larger id).
            joined.sort_by(|(a, a_member), (b, b_member)| {
                Reverse(a_member.joined_ms)
                    .cmp(&Reverse(b_member.joined_ms))
                    .then_with(|| by_number(&b.group.id, &a.group.id))
            });
            joined
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(limit as usize)
                .map(|(row, member)| (row.counted(), member.role))
                .collect()
        })
    }

    async fn joined_group_count(&self, app: &AppKey, user: &UserName) -> Result<u64, StoreError> {
        self.with(|state| state.groups.logs_of(app, user).len() as u64)
    }

    async fn list_groups(
        &self,
        app: &AppKey,
        public_only: bool,
        after: Option<&GroupId>,
        limit: u32,
    ) -> Result<Vec<Group>, StoreError> {
        self.with(|state| {
            let mut public: Vec<&GroupRow> = state
                .groups
                .by_id
                .iter()
                .filter(|((group_app, id), row)| {
                    group_app == app
                        && (row.group.settings.public || !public_only)
                        && after.is_none_or(|after| by_number(id, after) == Ordering::Greater)
                })
                .map(|(_, row)| row)
                .collect();
            public.sort_by(|a, b| by_number(&a.group.id, &b.group.id));
            public
                .into_iter()
                .take(limit as usize)
                .map(GroupRow::counted)
                .collect()
        })
    }

    async fn mute_group_members(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        until_ms: Option<u64>,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return GroupOutcome::NoGroup;
            };
            let mut muted = Vec::new();
            for user in distinct(users) {
                if let Some(member) = row.members.get_mut(user) {
                    member.muted_until_ms = until_ms;
                    muted.push(user.clone());
                }
            }
            GroupOutcome::Done(muted)
        })
    }

    async fn change_group_blocks(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        block: bool,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return GroupOutcome::NoGroup;
            };
            let mut changed = Vec::new();
            for user in distinct(users) {
                if block {
                    if *user == row.group.owner || !row.blocks.insert(user.clone()) {
                        continue;
                    }
                    row.members.remove(user);
                } else if !row.blocks.remove(user) {
                    continue;
                }
                changed.push(user.clone());
            }
            GroupOutcome::Done(changed)
        })
    }

    async fn group_blocks(&self, app: &AppKey, id: &GroupId) -> Result<Vec<UserName>, StoreError> {
        self.with(|state| {
            state
                .groups
                .get(app, id)
                .map_or_else(Vec::new, |row| row.blocks.iter().cloned().collect())
        })
    }

    async fn change_group_allowlist(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        add: bool,
    ) -> Result<GroupOutcome<Vec<UserName>>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return GroupOutcome::NoGroup;
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
            GroupOutcome::Done(changed)
        })
    }

    async fn group_allowlist(
        &self,
        app: &AppKey,
        id: &GroupId,
    ) -> Result<Vec<UserName>, StoreError> {
        self.with(|state| {
            state
                .groups
                .get(app, id)
                .map_or_else(Vec::new, |row| row.allowlist.iter().cloned().collect())
        })
    }

    async fn add_group_request(
        &self,
        app: &AppKey,
        id: &GroupId,
        request: &GroupRequest,
    ) -> Result<GroupOutcome<()>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return GroupOutcome::NoGroup;
            };
            row.requests
                .insert((request.kind, request.user.clone()), request.clone());
            GroupOutcome::Done(())
        })
    }

    async fn set_group_member_attributes(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        (changes, max_bytes): (&[(String, String)], usize),
    ) -> Result<GroupOutcome<MemberAttributes>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return GroupOutcome::NoGroup;
            };
            let Some(member) = row.members.get_mut(user) else {
                return GroupOutcome::NotMember(user.clone());
            };
            let mut attributes = member.attributes.clone();
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
                return GroupOutcome::Full;
            }
            member.attributes = attributes.clone();
            GroupOutcome::Done(attributes)
        })
    }

    async fn group_member_attributes(
        &self,
        app: &AppKey,
        id: &GroupId,
        users: &[UserName],
        keys: &[String],
    ) -> Result<Vec<(UserName, MemberAttributes)>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.by_id.get(&(app.clone(), id.clone())) else {
                return Vec::new();
            };
            users
                .iter()
                .filter_map(|user| {
                    let mut attributes = row.members.get(user)?.attributes.clone();
                    if !keys.is_empty() {
                        attributes.retain(|key, _| keys.contains(key));
                    }
                    Some((user.clone(), attributes))
                })
                .collect()
        })
    }

    async fn set_group_shield(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
        shield: bool,
    ) -> Result<GroupOutcome<bool>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return GroupOutcome::NoGroup;
            };
            let Some(member) = row.members.get_mut(user) else {
                return GroupOutcome::NotMember(user.clone());
            };
            let changed = member.shielded != shield;
            member.shielded = shield;
            GroupOutcome::Done(changed)
        })
    }

    async fn add_group_file(
        &self,
        app: &AppKey,
        id: &GroupId,
        file: &SharedFile,
    ) -> Result<GroupOutcome<()>, StoreError> {
        self.with(|state| match state.groups.get_mut(app, id) {
            Some(row) => {
                row.files.insert(file.id.clone(), file.clone());
                GroupOutcome::Done(())
            }
            None => GroupOutcome::NoGroup,
        })
    }

    async fn group_files(
        &self,
        app: &AppKey,
        id: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<SharedFile>, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.by_id.get(&(app.clone(), id.clone())) else {
                return Vec::new();
            };
            let mut files: Vec<SharedFile> = row.files.values().cloned().collect();
            files.sort_by(|a, b| {
                b.created_ms
                    .cmp(&a.created_ms)
                    .then_with(|| a.id.cmp(&b.id))
            });
            files
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(limit as usize)
                .collect()
        })
    }

    async fn group_file(
        &self,
        app: &AppKey,
        id: &GroupId,
        file: &str,
    ) -> Result<Option<SharedFile>, StoreError> {
        self.with(|state| {
            state
                .groups
                .by_id
                .get(&(app.clone(), id.clone()))
                .and_then(|row| row.files.get(file).cloned())
        })
    }

    async fn remove_group_file(
        &self,
        app: &AppKey,
        id: &GroupId,
        file: &str,
    ) -> Result<bool, StoreError> {
        self.with(|state| {
            state
                .groups
                .get_mut(app, id)
                .is_some_and(|row| row.files.remove(file).is_some())
        })
    }

    async fn record_group_read(
        &self,
        app: &AppKey,
        id: &GroupId,
        message: MessageId,
        reader: &UserName,
        _now_ms: u64,
    ) -> Result<u32, StoreError> {
        self.with(|state| {
            let Some(row) = state.groups.get_mut(app, id) else {
                return 0;
            };
            let readers = row.reads.entry(message).or_default();
            readers.insert(reader.clone());
            u32::try_from(readers.len()).unwrap_or(u32::MAX)
        })
    }

    async fn group_readers(
        &self,
        app: &AppKey,
        id: &GroupId,
        message: MessageId,
        after: Option<&UserName>,
        limit: u32,
    ) -> Result<(Vec<UserName>, u32), StoreError> {
        self.with(|state| {
            let Some(readers) = state
                .groups
                .by_id
                .get(&(app.clone(), id.clone()))
                .and_then(|row| row.reads.get(&message))
            else {
                return (Vec::new(), 0);
            };
            let page = readers
                .iter()
                .filter(|reader| after.is_none_or(|after| *reader > after))
                .take(limit as usize)
                .cloned()
                .collect();
            (page, u32::try_from(readers.len()).unwrap_or(u32::MAX))
        })
    }

    async fn take_group_request(
        &self,
        app: &AppKey,
        id: &GroupId,
        kind: GroupRequestKind,
        user: &UserName,
    ) -> Result<Option<GroupRequest>, StoreError> {
        self.with(|state| {
            state
                .groups
                .get_mut(app, id)?
                .requests
                .remove(&(kind, user.clone()))
        })
    }
}
