//! Groups (API-SURFACE.md section 1): lifecycle, membership with requests and invitations,
//! roles, mutes, blocklist, allowlist and the announcement, over `GroupStore`. Every change
//! that others should hear of is a MUC event in the group's log (`events.rs`), so it keeps
//! its place among the group's messages and reaches offline members at their next login.
//! Who may do what follows the hosted service: the owner and admins moderate, members may
//! invite when the group allows it, an app token may do anything.

mod events;

use std::sync::Arc;

use confab_proto::pb::muc_body::Operation;
use serde_json::{json, Map, Value};

use crate::{
    appender::Appender,
    ids::{AppKey, GroupId, IdGenerator, MessageId, UserName},
    now_ms,
    store::{
        Audience, Group, GroupChange, GroupMember, GroupOutcome, GroupQuota, GroupRequest,
        GroupRequestKind, GroupRole, GroupSettings, GroupSettingsChange, GroupStore,
        MemberAttributes, SharedFile, ThreadStore, UserStore,
    },
    Error,
};

use events::GroupEvent;

/// Why a group operation was refused; each edge maps it to the hosted service's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("group not found")]
    NotFound,
    /// The caller (or the sender, or a user to act on) is not a member.
    #[error("user: {0} are not members of this group!")]
    NotMember(String),
    #[error("you were muted")]
    Muted,
    /// The caller's role does not allow it (or the group's settings do not).
    #[error("permission denied: {0}")]
    NotAllowed(&'static str),
    #[error("{0} is already in the group")]
    AlreadyMember(String),
    /// The group is at its `max_users`.
    #[error("group member list is full")]
    Full,
    /// More members asked for than `max_users` (or the deployment's limit) allows.
    #[error("members size is greater than max user size")]
    TooManyMembers,
    #[error("{0} is on the group's blocklist")]
    Blocked(String),
    /// No pending request or invitation to answer.
    #[error("no pending request")]
    NoRequest,
    /// This user is in as many groups as a user may be (`GroupLimits::max_joined_groups`).
    #[error("user {0} has joined too many groups")]
    TooManyGroups(String),
    /// The group has as many admins as it may have (`GroupLimits::max_admins`).
    #[error("group admin count exceeds the limit")]
    TooManyAdmins,
    /// A text or number outside its limits (the text says which).
    #[error("{0}")]
    Invalid(String),
}

/// Per-deployment limits; `confab-server` fills them from config.
#[derive(Debug, Clone, Copy)]
pub struct GroupLimits {
    /// The largest `maxusers` a group may have (config `max_group_members`).
    pub max_members: u32,
    /// Users named in one call (invite, remove, mute, block).
    pub max_users_per_call: usize,
    /// Groups one user may be in, their own included (config `max_joined_groups`).
    pub max_joined_groups: u32,
    /// Admins of one group, the owner not counted (config `max_group_admins`).
    pub max_admins: u32,
}

impl Default for GroupLimits {
    fn default() -> GroupLimits {
        GroupLimits {
            max_members: 3000,
            max_users_per_call: 60,
            max_joined_groups: 600,
            max_admins: 99,
        }
    }
}

/// `maxusers` of a group created without one (the hosted default).
pub const DEFAULT_MAX_USERS: u32 = 200;
/// Longest name, description and announcement of a group or a chat room, in characters;
/// `custom`, in bytes.
pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_DESCRIPTION_CHARS: usize = 512;
pub const MAX_ANNOUNCEMENT_CHARS: usize = 512;
pub const MAX_CUSTOM_BYTES: usize = 1024;
pub const MAX_REASON_CHARS: usize = 500;
/// Bytes of one member's attributes in a group, keys and values together.
pub const MAX_MEMBER_ATTRIBUTE_BYTES: usize = 4096;

/// The name (`label` is what the request calls it), description and `custom` of a group or a
/// chat room within their limits; the error is the text to answer.
pub(crate) fn check_texts(
    (label, name): (&str, Option<&str>),
    description: Option<&str>,
    custom: Option<&str>,
) -> Result<(), String> {
    let too_long =
        |text: Option<&str>, max: usize| text.is_some_and(|text| text.chars().count() > max);
    if too_long(name, MAX_NAME_CHARS) {
        return Err(format!(
            "{label} is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    if too_long(description, MAX_DESCRIPTION_CHARS) {
        return Err(format!(
            "description is longer than {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
    if custom.is_some_and(|custom| custom.len() > MAX_CUSTOM_BYTES) {
        return Err(format!("custom is longer than {MAX_CUSTOM_BYTES} bytes"));
    }
    Ok(())
}

/// One call names 1 to `max` users (invite, remove, mute, block), in a group or a room.
pub(crate) fn check_user_count(users: &[UserName], max: usize) -> Result<(), String> {
    if users.is_empty() || users.len() > max {
        return Err(format!("name 1 to {max} users"));
    }
    Ok(())
}

/// The end of a mute without one (`mute_duration: -1`): the largest time every store keeps.
pub const UNTIL_UNMUTED_MS: u64 = i64::MAX as u64;

/// Who calls: a user from one of their devices, or the app itself (an app token).
#[derive(Debug, Clone)]
pub struct GroupCaller {
    pub app: AppKey,
    /// `None`: an app token, which may do anything.
    pub user: Option<UserName>,
    /// The acting device (`?resource=`): its user's other devices hear of the change.
    pub resource: String,
}

/// A group to create.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub owner: UserName,
    pub settings: GroupSettings,
    pub members: Vec<UserName>,
}

/// What an invitation did for each invitee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invited {
    /// Members now.
    Joined(Vec<UserName>),
    /// Invited; they join once they accept.
    Asked(Vec<UserName>),
}

/// What `joinGroup` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Joined,
    /// The owner and admins were asked.
    Requested,
}

pub struct GroupService {
    store: Arc<dyn GroupStore>,
    /// A destroyed group's threads go with it.
    threads: Arc<dyn ThreadStore>,
    users: Arc<dyn UserStore>,
    appender: Arc<Appender>,
    ids: IdGenerator,
    limits: GroupLimits,
}

impl GroupService {
    pub fn new(
        (store, threads): (Arc<dyn GroupStore>, Arc<dyn ThreadStore>),
        users: Arc<dyn UserStore>,
        appender: Arc<Appender>,
        node: u16,
        limits: GroupLimits,
    ) -> GroupService {
        GroupService {
            store,
            threads,
            users,
            appender,
            ids: IdGenerator::new(node),
            limits,
        }
    }

    pub fn limits(&self) -> GroupLimits {
        self.limits
    }

    fn quota(&self) -> GroupQuota {
        GroupQuota {
            max_joined_groups: self.limits.max_joined_groups,
            max_admins: self.limits.max_admins,
        }
    }

    fn check_settings(&self, settings: &GroupSettingsChange) -> Result<(), GroupError> {
        check_texts(
            ("groupname", settings.name.as_deref()),
            settings.description.as_deref(),
            settings.custom.as_deref(),
        )
        .map_err(GroupError::Invalid)?;
        if settings
            .max_users
            .is_some_and(|max| max < 1 || max > self.limits.max_members)
        {
            return Err(GroupError::TooManyMembers);
        }
        Ok(())
    }

    fn check_users(&self, users: &[UserName]) -> Result<(), GroupError> {
        check_user_count(users, self.limits.max_users_per_call).map_err(GroupError::Invalid)
    }

    async fn load(&self, app: &AppKey, group: &GroupId) -> Result<Group, Error> {
        self.store
            .group(app, group)
            .await?
            .ok_or(Error::Group(GroupError::NotFound))
    }

    /// The caller's role in the group (`None` for the app itself, which may do anything).
    async fn role(&self, caller: &GroupCaller, group: &Group) -> Result<Option<GroupRole>, Error> {
        let Some(user) = &caller.user else {
            return Ok(Some(GroupRole::Owner));
        };
        if *user == group.owner {
            return Ok(Some(GroupRole::Owner));
        }
        Ok(self
            .store
            .group_member(&caller.app, &group.id, user)
            .await?
            .map(|member| member.role))
    }

    /// The group and the caller's role in it; the caller must be a member (or the app).
    async fn member(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
    ) -> Result<(Group, GroupRole), Error> {
        let group = self.load(&caller.app, id).await?;
        match self.role(caller, &group).await? {
            Some(role) => Ok((group, role)),
            None => Err(not_member(caller)),
        }
    }

    /// The caller is the owner or an admin (or the app).
    async fn moderator(&self, caller: &GroupCaller, group: &Group) -> Result<GroupRole, Error> {
        match self.role(caller, group).await? {
            Some(role @ (GroupRole::Owner | GroupRole::Admin)) => Ok(role),
            Some(GroupRole::Member) => Err(GroupError::NotAllowed("owner or admins only").into()),
            None => Err(not_member(caller)),
        }
    }

    /// The caller is a member (or the app); a public group is readable by anyone.
    async fn reader(&self, caller: &GroupCaller, group: &Group) -> Result<(), Error> {
        if group.settings.public || self.role(caller, group).await?.is_some() {
            return Ok(());
        }
        Err(not_member(caller))
    }

    /// Who an event is from: the calling user, or for the app the group's owner.
    fn actor<'a>(caller: &'a GroupCaller, group: &'a Group) -> (&'a UserName, &'a str) {
        match &caller.user {
            Some(user) => (user, caller.resource.as_str()),
            None => (&group.owner, ""),
        }
    }

    /// `createGroup`: the owner with `members` (or, when invitees must confirm, the owner
    /// alone, the others invited).
    pub async fn create(&self, caller: &GroupCaller, new: NewGroup) -> Result<GroupId, Error> {
        if caller.user.as_ref().is_some_and(|user| *user != new.owner) {
            return Err(GroupError::NotAllowed("a group is created by its owner").into());
        }
        let settings = &new.settings;
        self.check_settings(&GroupSettingsChange {
            name: Some(settings.name.clone()),
            description: Some(settings.description.clone()),
            custom: Some(settings.custom.clone()),
            max_users: Some(settings.max_users),
            ..Default::default()
        })?;
        let now = now_ms();
        let id = GroupId::from_id(self.ids.next(now));
        let group = Group {
            id: id.clone(),
            owner: new.owner.clone(),
            settings: new.settings.clone(),
            created_ms: now,
            modified_ms: now,
            member_count: 0,
            mute_all: false,
            announcement: String::new(),
        };
        let invited: Vec<UserName> = new
            .members
            .iter()
            .filter(|member| **member != new.owner)
            .cloned()
            .collect();
        let members: &[UserName] = if settings.invite_need_confirm {
            &[]
        } else {
            &invited
        };
        if settings.invite_need_confirm {
            for user in &invited {
                if !self.user_exists(&caller.app, user).await? {
                    return Err(Error::UserNotFound(user.to_string()));
                }
            }
        }
        match self
            .store
            .create_group(&caller.app, &group, members, self.quota())
            .await?
        {
            GroupOutcome::Done(()) => {}
            GroupOutcome::Full => return Err(GroupError::TooManyMembers.into()),
            other => return Err(refused(other)),
        }
        let from = (&new.owner, caller.resource.as_str());
        // The owner's other devices hear of it.
        GroupEvent::new(&caller.app, &id, Operation::Create, from)
            .muc_name(&settings.name)
            .send(&self.appender, Audience::Member(new.owner.clone()))
            .await?;
        if settings.invite_need_confirm {
            self.ask(&caller.app, &group, from, &invited).await?;
        } else {
            for user in &invited {
                GroupEvent::new(&caller.app, &id, Operation::DirectJoined, from)
                    .muc_name(&settings.name)
                    .to(std::slice::from_ref(user))
                    .send(&self.appender, Audience::Member(user.clone()))
                    .await?;
            }
        }
        Ok(id)
    }

    async fn user_exists(&self, app: &AppKey, user: &UserName) -> Result<bool, Error> {
        Ok(self.users.user(app, user).await?.is_some())
    }

    /// Every user an operation names exists (before any is looked for in the group).
    async fn check_exist(&self, app: &AppKey, users: &[UserName]) -> Result<(), Error> {
        for user in users {
            if !self.user_exists(app, user).await? {
                return Err(Error::UserNotFound(user.to_string()));
            }
        }
        Ok(())
    }

    /// The owner and admins of the group.
    async fn moderators(&self, app: &AppKey, group: &Group) -> Result<Vec<UserName>, Error> {
        let members = self
            .store
            .group_members(app, &group.id, now_ms(), 0, group.member_count)
            .await?;
        Ok(members
            .into_iter()
            .filter(|member| member.role != GroupRole::Member)
            .map(|member| member.user)
            .collect())
    }

    /// Records invitations and tells each invitee.
    async fn ask(
        &self,
        app: &AppKey,
        group: &Group,
        from: (&UserName, &str),
        invitees: &[UserName],
    ) -> Result<(), Error> {
        for user in invitees {
            let request = GroupRequest {
                kind: GroupRequestKind::Invitation,
                user: user.clone(),
                from: from.0.clone(),
                reason: String::new(),
                created_ms: now_ms(),
            };
            self.store
                .add_group_request(app, &group.id, &request)
                .await?;
            GroupEvent::new(app, &group.id, Operation::Invite, from)
                .muc_name(&group.settings.name)
                .to(std::slice::from_ref(user))
                .send(&self.appender, Audience::Member(user.clone()))
                .await?;
        }
        Ok(())
    }

    /// `user` may read the group's messages (its history): the group exists and they are a
    /// member.
    pub async fn check_member(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<(), Error> {
        self.load(app, id).await?;
        match self.store.group_member(app, id, user).await? {
            Some(_) => Ok(()),
            None => Err(GroupError::NotMember(user.to_string()).into()),
        }
    }

    /// `blockGroupMessage` / `unblockGroupMessage`: the calling member stops (or starts again)
    /// getting the group's messages; what is addressed to them still comes.
    pub async fn shield(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        shield: bool,
    ) -> Result<(), Error> {
        let Some(user) = &caller.user else {
            return Err(GroupError::NotAllowed("a member blocks a group's messages").into());
        };
        match self
            .store
            .set_group_shield(&caller.app, id, user, shield)
            .await?
        {
            GroupOutcome::Done(_) => Ok(()),
            GroupOutcome::NotMember(_) => Err(not_member(caller)),
            other => Err(refused(other)),
        }
    }

    /// The caller may share files in the group (a member, or the app): checked before an
    /// upload is read.
    pub async fn check_sharer(&self, caller: &GroupCaller, id: &GroupId) -> Result<(), Error> {
        self.member(caller, id).await.map(|_| ())
    }

    /// `uploadGroupSharedFile`, once its bytes are stored: every member hears of it
    /// (`uploadFile`).
    pub async fn share_file(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        file: &SharedFile,
    ) -> Result<(), Error> {
        let (group, _) = self.member(caller, id).await?;
        match self.store.add_group_file(&caller.app, id, file).await? {
            GroupOutcome::Done(()) => {}
            other => return Err(refused(other)),
        }
        GroupEvent::new(
            &caller.app,
            id,
            Operation::UploadFile,
            Self::actor(caller, &group),
        )
        .reason(&file.name)
        .send(&self.appender, Audience::Members)
        .await
    }

    /// `fetchGroupSharedFileList`: the latest shared first.
    pub async fn files(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<SharedFile>, Error> {
        self.member(caller, id).await?;
        Ok(self
            .store
            .group_files(&caller.app, id, offset, limit)
            .await?)
    }

    /// A shared file a member may download; `None` when the group has no such file.
    pub async fn file(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        file: &str,
    ) -> Result<Option<SharedFile>, Error> {
        self.member(caller, id).await?;
        Ok(self.store.group_file(&caller.app, id, file).await?)
    }

    /// `deleteGroupSharedFile`: its owner, or the group's owner or an admin; every member
    /// hears of it (`deleteFile`). False when the group has no such file.
    pub async fn remove_file(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        file: &str,
    ) -> Result<bool, Error> {
        let (group, role) = self.member(caller, id).await?;
        let Some(shared) = self.store.group_file(&caller.app, id, file).await? else {
            return Ok(false);
        };
        if role == GroupRole::Member && caller.user.as_ref() != Some(&shared.owner) {
            return Err(
                GroupError::NotAllowed("the file's owner, the owner or admins only").into(),
            );
        }
        if !self.store.remove_group_file(&caller.app, id, file).await? {
            return Ok(false);
        }
        GroupEvent::new(
            &caller.app,
            id,
            Operation::DeleteFile,
            Self::actor(caller, &group),
        )
        .reason(&shared.name)
        .send(&self.appender, Audience::Members)
        .await?;
        Ok(true)
    }

    /// `setGroupMemberAttributes`: a member sets their own; the owner and admins anyone's.
    /// Every member hears of it (`memberAttributesUpdate`; the user's other devices as
    /// `onMultiDeviceEvent`). Returns the member's attributes after the change.
    pub async fn set_member_attributes(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        user: &UserName,
        changes: &[(String, String)],
    ) -> Result<MemberAttributes, Error> {
        if changes.is_empty() || changes.iter().any(|(key, _)| key.is_empty()) {
            return Err(GroupError::Invalid("metaData names no attribute".to_owned()).into());
        }
        let group = self.load(&caller.app, id).await?;
        if caller.user.as_ref() != Some(user) {
            self.moderator(caller, &group).await?;
        }
        let attributes = match self
            .store
            .set_group_member_attributes(
                &caller.app,
                id,
                user,
                (changes, MAX_MEMBER_ATTRIBUTE_BYTES),
            )
            .await?
        {
            GroupOutcome::Done(attributes) => attributes,
            GroupOutcome::Full => {
                return Err(GroupError::Invalid(format!(
                    "member attributes are over {MAX_MEMBER_ATTRIBUTE_BYTES} bytes"
                ))
                .into())
            }
            other => return Err(refused(other)),
        };
        let properties: Map<String, Value> = changes
            .iter()
            .map(|(key, value)| (key.clone(), Value::from(value.clone())))
            .collect();
        GroupEvent::new(
            &caller.app,
            id,
            Operation::GroupMemberMetadataUpdate,
            Self::actor(caller, &group),
        )
        .event_ext(json!({ "properties": properties, "username": user.as_str() }).to_string())
        .send(&self.appender, Audience::Members)
        .await?;
        Ok(attributes)
    }

    /// `getGroupMemberAttributes` / `getGroupMembersAttributes`: the caller must be a member.
    pub async fn member_attributes(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        users: &[UserName],
        keys: &[String],
    ) -> Result<Vec<(UserName, MemberAttributes)>, Error> {
        self.check_users(users)?;
        self.member(caller, id).await?;
        Ok(self
            .store
            .group_member_attributes(&caller.app, id, users, keys)
            .await?)
    }

    /// `getGroupMsgReadUser`: up to `limit` members who sent a read ack for `message` of the
    /// group, by name after `after`, and how many have; the caller must be a member.
    pub async fn readers(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        message: MessageId,
        (after, limit): (Option<&UserName>, u32),
    ) -> Result<(Vec<UserName>, u32), Error> {
        self.member(caller, id).await?;
        Ok(self
            .store
            .group_readers(&caller.app, id, message, after, limit)
            .await?)
    }

    /// `getGroupInfo` for one or more groups, with their members (owner first).
    pub async fn info(
        &self,
        caller: &GroupCaller,
        ids: &[GroupId],
    ) -> Result<Vec<(Group, Vec<GroupMember>)>, Error> {
        let groups = self.store.groups(&caller.app, ids).await?;
        if groups.is_empty() {
            return Err(GroupError::NotFound.into());
        }
        let mut found = Vec::with_capacity(groups.len());
        for group in groups {
            self.reader(caller, &group).await?;
            let members = self
                .store
                .group_members(&caller.app, &group.id, now_ms(), 0, group.member_count)
                .await?;
            found.push((group, members));
        }
        Ok(found)
    }

    /// `modifyGroup`: returns the group after the change and the names of what changed, as
    /// the hosted service spells them.
    pub async fn modify(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        change: GroupSettingsChange,
    ) -> Result<(Group, Vec<&'static str>), Error> {
        let group = self.load(&caller.app, id).await?;
        self.moderator(caller, &group).await?;
        self.check_settings(&change)?;
        let changed = changed_fields(&change);
        let updated = match self
            .store
            .change_group(
                &caller.app,
                id,
                &GroupChange::Settings(change.clone()),
                now_ms(),
            )
            .await?
        {
            GroupOutcome::Done(group) => group,
            GroupOutcome::Full => return Err(GroupError::TooManyMembers.into()),
            other => return Err(refused(other)),
        };
        let detail = update_detail(&change, updated.modified_ms);
        GroupEvent::new(
            &caller.app,
            id,
            Operation::Update,
            Self::actor(caller, &group),
        )
        .event_ext(detail.to_string())
        .send(&self.appender, Audience::Members)
        .await?;
        Ok((updated, changed))
    }

    /// `changeGroupOwner`: the owner (or the app) hands the group to a member.
    pub async fn change_owner(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        new_owner: &UserName,
    ) -> Result<(), Error> {
        let group = self.load(&caller.app, id).await?;
        if self.role(caller, &group).await? != Some(GroupRole::Owner) {
            return Err(GroupError::NotAllowed("the owner only").into());
        }
        self.check_exist(&caller.app, std::slice::from_ref(new_owner))
            .await?;
        match self
            .store
            .change_group(
                &caller.app,
                id,
                &GroupChange::Owner(new_owner.clone()),
                now_ms(),
            )
            .await?
        {
            GroupOutcome::Done(_) => {}
            GroupOutcome::NotMember(user) => {
                return Err(GroupError::NotMember(user.to_string()).into())
            }
            other => return Err(refused(other)),
        }
        GroupEvent::new(
            &caller.app,
            id,
            Operation::AssignOwner,
            (&group.owner, caller.resource.as_str()),
        )
        .to(std::slice::from_ref(new_owner))
        .send(&self.appender, Audience::Members)
        .await
    }

    /// `destroyGroup`: the owner (or the app) only; every member hears of it first.
    pub async fn destroy(&self, caller: &GroupCaller, id: &GroupId) -> Result<(), Error> {
        let group = self.load(&caller.app, id).await?;
        if self.role(caller, &group).await? != Some(GroupRole::Owner) {
            return Err(GroupError::NotAllowed("the owner only").into());
        }
        // Addressed to each member: they read it after the group (and their membership) is
        // gone.
        let members = self
            .store
            .group_members(&caller.app, id, now_ms(), 0, group.member_count)
            .await?;
        let members: Vec<UserName> = members.into_iter().map(|member| member.user).collect();
        GroupEvent::new(
            &caller.app,
            id,
            Operation::Destroy,
            Self::actor(caller, &group),
        )
        .send_to_each(&self.appender, &members)
        .await?;
        self.store
            .delete_group(&caller.app, id)
            .await?
            .ok_or(Error::Group(GroupError::NotFound))?;
        self.threads.delete_group_threads(&caller.app, id).await?;
        Ok(())
    }

    pub async fn joined(
        &self,
        app: &AppKey,
        user: &UserName,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<(Group, GroupRole)>, Error> {
        Ok(self.store.joined_groups(app, user, offset, limit).await?)
    }

    pub async fn joined_count(&self, app: &AppKey, user: &UserName) -> Result<u64, Error> {
        Ok(self.store.joined_group_count(app, user).await?)
    }

    /// Public groups (`public_only`) or, for the app, all of them, by id after `after`.
    pub async fn list(
        &self,
        app: &AppKey,
        public_only: bool,
        after: Option<&GroupId>,
        limit: u32,
    ) -> Result<Vec<Group>, Error> {
        Ok(self
            .store
            .list_groups(app, public_only, after, limit)
            .await?)
    }

    /// `limit` members from `offset` (owner, admins, members).
    pub async fn members(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<GroupMember>, Error> {
        let group = self.load(&caller.app, id).await?;
        self.reader(caller, &group).await?;
        Ok(self
            .store
            .group_members(&caller.app, id, now_ms(), offset, limit)
            .await?)
    }

    /// The group's admins.
    pub async fn admins(&self, caller: &GroupCaller, id: &GroupId) -> Result<Vec<UserName>, Error> {
        let group = self.load(&caller.app, id).await?;
        self.reader(caller, &group).await?;
        let members = self
            .store
            .group_members(&caller.app, id, now_ms(), 0, group.member_count)
            .await?;
        Ok(members
            .into_iter()
            .filter(|member| member.role == GroupRole::Admin)
            .map(|member| member.user)
            .collect())
    }

    /// `setGroupAdmin` / `removeGroupAdmin`: the owner only; the user hears of it.
    pub async fn set_admin(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        user: &UserName,
        admin: bool,
    ) -> Result<(), Error> {
        let group = self.load(&caller.app, id).await?;
        if self.role(caller, &group).await? != Some(GroupRole::Owner) {
            return Err(GroupError::NotAllowed("the owner only").into());
        }
        self.check_exist(&caller.app, std::slice::from_ref(user))
            .await?;
        match self
            .store
            .set_group_admin(&caller.app, id, user, admin, self.quota())
            .await?
        {
            GroupOutcome::Done(_) => {}
            GroupOutcome::NotMember(user) => {
                return Err(GroupError::NotMember(user.to_string()).into())
            }
            other => return Err(refused(other)),
        }
        let operation = if admin {
            Operation::AddAdmin
        } else {
            Operation::RemoveAdmin
        };
        self.tell_each(caller, &group, operation, std::slice::from_ref(user))
            .await
    }

    /// `inviteUsersToGroup`: members may invite when the group allows it; invitees join at
    /// once unless the group wants them to confirm.
    pub async fn invite(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        users: &[UserName],
    ) -> Result<Invited, Error> {
        self.check_users(users)?;
        let group = self.load(&caller.app, id).await?;
        match self.role(caller, &group).await? {
            None => return Err(not_member(caller)),
            Some(GroupRole::Member) if !group.settings.allow_invites => {
                return Err(GroupError::NotAllowed("members may not invite").into())
            }
            Some(_) => {}
        }
        for user in users {
            if self
                .store
                .group_member(&caller.app, id, user)
                .await?
                .is_some()
            {
                return Err(GroupError::AlreadyMember(user.to_string()).into());
            }
        }
        let from = Self::actor(caller, &group);
        if group.settings.invite_need_confirm {
            for user in users {
                if !self.user_exists(&caller.app, user).await? {
                    return Err(Error::UserNotFound(user.to_string()));
                }
            }
            self.ask(&caller.app, &group, from, users).await?;
            return Ok(Invited::Asked(users.to_vec()));
        }
        let added = self.add_directly(caller, &group, users).await?;
        Ok(Invited::Joined(added))
    }

    /// `POST …/chatgroups/{g}/users` (the admin API, an owner or admin): `users` join at once,
    /// whatever the group's confirmation setting; those already members are left out.
    pub async fn add_members(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        users: &[UserName],
    ) -> Result<Vec<UserName>, Error> {
        self.check_users(users)?;
        let group = self.load(&caller.app, id).await?;
        self.moderator(caller, &group).await?;
        self.add_directly(caller, &group, users).await
    }

    /// Adds `users` at once: each hears `directJoined`, the members who joined.
    async fn add_directly(
        &self,
        caller: &GroupCaller,
        group: &Group,
        users: &[UserName],
    ) -> Result<Vec<UserName>, Error> {
        let from = Self::actor(caller, group);
        let added = match self.add(caller, group, users, from).await {
            // An invitation past `maxusers` is the hosted 607, a join into a full group 606.
            Err(Error::Group(GroupError::Full)) => return Err(GroupError::TooManyMembers.into()),
            other => other?,
        };
        for user in &added {
            GroupEvent::new(&caller.app, &group.id, Operation::DirectJoined, from)
                .muc_name(&group.settings.name)
                .to(std::slice::from_ref(user))
                .send(&self.appender, Audience::Member(user.clone()))
                .await?;
        }
        Ok(added)
    }

    /// Adds members and tells the members (the new ones among them) who joined.
    async fn add(
        &self,
        caller: &GroupCaller,
        group: &Group,
        users: &[UserName],
        from: (&UserName, &str),
    ) -> Result<Vec<UserName>, Error> {
        let added = match self
            .store
            .add_group_members(&caller.app, &group.id, users, now_ms(), self.quota())
            .await?
        {
            GroupOutcome::Done(added) => added,
            GroupOutcome::Full => return Err(GroupError::Full.into()),
            other => return Err(refused(other)),
        };
        if added.is_empty() {
            return Ok(added);
        }
        let count = group.member_count + added.len() as u32;
        let event =
            GroupEvent::new(&caller.app, &group.id, Operation::Presence, from).member_count(count);
        let event = match added.as_slice() {
            [one] => GroupEvent::new(&caller.app, &group.id, Operation::Presence, (one, ""))
                .member_count(count),
            many => event.members(many),
        };
        event.send(&self.appender, Audience::Members).await?;
        Ok(added)
    }

    /// `joinGroup`: a public group; with approval, the owner and admins are asked.
    pub async fn apply(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        user: &UserName,
        message: &str,
    ) -> Result<Applied, Error> {
        if message.chars().count() > MAX_REASON_CHARS {
            return Err(GroupError::Invalid(format!(
                "message is longer than {MAX_REASON_CHARS} characters"
            ))
            .into());
        }
        let group = self.load(&caller.app, id).await?;
        if self
            .store
            .group_member(&caller.app, id, user)
            .await?
            .is_some()
        {
            return Err(GroupError::AlreadyMember(user.to_string()).into());
        }
        if !group.settings.public {
            return Err(GroupError::NotAllowed("a private group is joined by invitation").into());
        }
        if self
            .store
            .group_blocks(&caller.app, id)
            .await?
            .contains(user)
        {
            return Err(GroupError::Blocked(user.to_string()).into());
        }
        let from = (user, caller.resource.as_str());
        if !group.settings.approval {
            self.add(caller, &group, std::slice::from_ref(user), from)
                .await?;
            return Ok(Applied::Joined);
        }
        let request = GroupRequest {
            kind: GroupRequestKind::Application,
            user: user.clone(),
            from: user.clone(),
            reason: message.to_owned(),
            created_ms: now_ms(),
        };
        match self
            .store
            .add_group_request(&caller.app, id, &request)
            .await?
        {
            GroupOutcome::Done(()) => {}
            other => return Err(refused(other)),
        }
        for moderator in self.moderators(&caller.app, &group).await? {
            GroupEvent::new(&caller.app, id, Operation::Apply, from)
                .reason(message)
                .muc_name(&group.settings.name)
                .send(&self.appender, Audience::Member(moderator))
                .await?;
        }
        Ok(Applied::Requested)
    }

    /// `acceptGroupJoinRequest` / `rejectGroupJoinRequest`: the owner or an admin answers.
    pub async fn answer_application(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        applicant: &UserName,
        accept: bool,
        reason: &str,
    ) -> Result<(), Error> {
        let group = self.load(&caller.app, id).await?;
        self.moderator(caller, &group).await?;
        self.store
            .take_group_request(&caller.app, id, GroupRequestKind::Application, applicant)
            .await?
            .ok_or(Error::Group(GroupError::NoRequest))?;
        let from = Self::actor(caller, &group);
        if accept {
            self.add(caller, &group, std::slice::from_ref(applicant), from)
                .await?;
        }
        let operation = if accept {
            Operation::ApplyAccept
        } else {
            Operation::ApplyDecline
        };
        GroupEvent::new(&caller.app, id, operation, from)
            .to(std::slice::from_ref(applicant))
            .reason(reason)
            .muc_name(&group.settings.name)
            .send(&self.appender, Audience::Member(applicant.clone()))
            .await
    }

    /// `acceptGroupInvite` / `rejectGroupInvite`: the invitee answers; the inviter hears.
    pub async fn answer_invitation(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        invitee: &UserName,
        accept: bool,
    ) -> Result<(), Error> {
        if caller.user.as_ref().is_some_and(|user| user != invitee) {
            return Err(GroupError::NotAllowed("an invitation is answered by its invitee").into());
        }
        let group = self.load(&caller.app, id).await?;
        let request = self
            .store
            .take_group_request(&caller.app, id, GroupRequestKind::Invitation, invitee)
            .await?
            .ok_or(Error::Group(GroupError::NoRequest))?;
        let from = (invitee, caller.resource.as_str());
        if accept {
            self.add(caller, &group, std::slice::from_ref(invitee), from)
                .await?;
        }
        let operation = if accept {
            Operation::InviteAccept
        } else {
            Operation::InviteDecline
        };
        GroupEvent::new(&caller.app, id, operation, from)
            .to(std::slice::from_ref(&request.from))
            .muc_name(&group.settings.name)
            .send(&self.appender, Audience::Member(request.from.clone()))
            .await
    }

    /// `leaveGroup`: any member but the owner.
    pub async fn leave(&self, caller: &GroupCaller, id: &GroupId) -> Result<(), Error> {
        let Some(user) = caller.user.clone() else {
            return Err(GroupError::NotAllowed("a user leaves a group").into());
        };
        let group = self.load(&caller.app, id).await?;
        match self.role(caller, &group).await? {
            None => return Err(not_member(caller)),
            Some(GroupRole::Owner) => {
                return Err(GroupError::NotAllowed("the owner cannot leave").into())
            }
            Some(_) => {}
        }
        let removed = self
            .remove_members(caller, &group, std::slice::from_ref(&user))
            .await?;
        if removed.is_empty() {
            return Err(not_member(caller));
        }
        self.announce_absence(caller, &group, &removed, &caller.resource)
            .await
    }

    async fn remove_members(
        &self,
        caller: &GroupCaller,
        group: &Group,
        users: &[UserName],
    ) -> Result<Vec<UserName>, Error> {
        match self
            .store
            .remove_group_members(&caller.app, &group.id, users)
            .await?
        {
            GroupOutcome::Done(removed) => Ok(removed),
            other => Err(refused(other)),
        }
    }

    /// The remaining members hear who is gone: one member is the event's `from` (on
    /// `resource` when they left themselves), several its `members`.
    async fn announce_absence(
        &self,
        caller: &GroupCaller,
        group: &Group,
        gone: &[UserName],
        resource: &str,
    ) -> Result<(), Error> {
        let count = group.member_count.saturating_sub(gone.len() as u32);
        let event = match gone {
            [] => return Ok(()),
            [one] => GroupEvent::new(&caller.app, &group.id, Operation::Absence, (one, resource)),
            many => GroupEvent::new(
                &caller.app,
                &group.id,
                Operation::Absence,
                Self::actor(caller, group),
            )
            .members(many),
        };
        event
            .member_count(count)
            .send(&self.appender, Audience::Members)
            .await
    }

    /// `removeGroupMember(s)`: the owner or an admin; an admin removes plain members only.
    /// Returns those removed (who were members).
    pub async fn remove(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        users: &[UserName],
    ) -> Result<Vec<UserName>, Error> {
        self.check_users(users)?;
        let group = self.load(&caller.app, id).await?;
        let role = self.moderator(caller, &group).await?;
        self.check_exist(&caller.app, users).await?;
        for user in users {
            let target = self.store.group_member(&caller.app, id, user).await?;
            match target.map(|member| member.role) {
                None => return Err(GroupError::NotMember(user.to_string()).into()),
                Some(GroupRole::Owner) => {
                    return Err(GroupError::NotAllowed("the owner cannot be removed").into())
                }
                Some(GroupRole::Admin) if role != GroupRole::Owner => {
                    return Err(GroupError::NotAllowed("the owner only removes admins").into())
                }
                Some(_) => {}
            }
        }
        let removed = self.remove_members(caller, &group, users).await?;
        self.tell_each(caller, &group, Operation::Kick, &removed)
            .await?;
        self.announce_absence(caller, &group, &removed, "").await?;
        Ok(removed)
    }

    /// One event per user, about them (`MUCBody.to`) and addressed to them: they hear of it
    /// whether they are still members or not.
    async fn tell_each(
        &self,
        caller: &GroupCaller,
        group: &Group,
        operation: Operation,
        users: &[UserName],
    ) -> Result<(), Error> {
        for user in users {
            GroupEvent::new(
                &caller.app,
                &group.id,
                operation,
                Self::actor(caller, group),
            )
            .to(std::slice::from_ref(user))
            .send(&self.appender, Audience::Member(user.clone()))
            .await?;
        }
        Ok(())
    }

    /// `muteGroupMember` (for `duration_ms`; `None`: until unmuted) and `unmuteGroupMember`
    /// (`mute` false). Returns the members concerned and when their mute ends.
    pub async fn mute(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        users: &[UserName],
        mute: Option<Option<u64>>,
    ) -> Result<Vec<(UserName, u64)>, Error> {
        self.check_users(users)?;
        let group = self.load(&caller.app, id).await?;
        let role = self.moderator(caller, &group).await?;
        self.check_exist(&caller.app, users).await?;
        for user in users {
            match self
                .store
                .group_member(&caller.app, id, user)
                .await?
                .map(|member| member.role)
            {
                None => return Err(GroupError::NotMember(user.to_string()).into()),
                Some(GroupRole::Owner) => {
                    return Err(GroupError::NotAllowed("the owner cannot be muted").into())
                }
                Some(GroupRole::Admin) if role != GroupRole::Owner => {
                    return Err(GroupError::NotAllowed("the owner only mutes admins").into())
                }
                Some(_) => {}
            }
        }
        let until = mute.map(|duration| {
            duration
                .map(|ms| now_ms().saturating_add(ms).min(UNTIL_UNMUTED_MS))
                .unwrap_or(UNTIL_UNMUTED_MS)
        });
        let changed = match self
            .store
            .mute_group_members(&caller.app, id, users, until)
            .await?
        {
            GroupOutcome::Done(changed) => changed,
            other => return Err(refused(other)),
        };
        let from = Self::actor(caller, &group);
        for user in &changed {
            let event = match until {
                Some(until) => GroupEvent::new(&caller.app, id, Operation::AddMute, from)
                    .ext(json!({ "user_mute_time": until }).to_string()),
                None => GroupEvent::new(&caller.app, id, Operation::RemoveMute, from),
            };
            event
                .to(std::slice::from_ref(user))
                .send(&self.appender, Audience::Member(user.clone()))
                .await?;
        }
        Ok(changed
            .into_iter()
            .map(|user| (user, until.unwrap_or(0)))
            .collect())
    }

    /// Muted members and when their mutes end.
    pub async fn muted(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
    ) -> Result<Vec<(UserName, u64)>, Error> {
        let group = self.load(&caller.app, id).await?;
        self.reader(caller, &group).await?;
        let members = self
            .store
            .group_members(&caller.app, id, now_ms(), 0, group.member_count)
            .await?;
        Ok(members
            .into_iter()
            .filter_map(|member| Some((member.user, member.muted_until_ms?)))
            .collect())
    }

    /// `disableSendGroupMsg` / `enableSendGroupMsg`.
    pub async fn mute_all(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        mute: bool,
    ) -> Result<(), Error> {
        let group = self.load(&caller.app, id).await?;
        self.moderator(caller, &group).await?;
        match self
            .store
            .change_group(&caller.app, id, &GroupChange::MuteAll(mute), now_ms())
            .await?
        {
            GroupOutcome::Done(_) => {}
            other => return Err(refused(other)),
        }
        let operation = if mute {
            Operation::BanGroup
        } else {
            Operation::RemoveBanGroup
        };
        GroupEvent::new(&caller.app, id, operation, Self::actor(caller, &group))
            .send(&self.appender, Audience::Members)
            .await
    }

    /// `blockGroupMember(s)` (they leave the group and cannot come back) and the unblocks.
    /// Returns those whose state changed.
    pub async fn block(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        users: &[UserName],
        block: bool,
    ) -> Result<Vec<UserName>, Error> {
        self.check_users(users)?;
        let group = self.load(&caller.app, id).await?;
        let role = self.moderator(caller, &group).await?;
        self.check_exist(&caller.app, users).await?;
        let mut members = Vec::new();
        for user in users {
            let target = self.store.group_member(&caller.app, id, user).await?;
            match target.map(|member| member.role) {
                Some(GroupRole::Owner) => {
                    return Err(GroupError::NotAllowed("the owner cannot be blocked").into())
                }
                Some(GroupRole::Admin) if role != GroupRole::Owner && block => {
                    return Err(GroupError::NotAllowed("the owner only blocks admins").into())
                }
                Some(_) => members.push(user.clone()),
                None => {}
            }
        }
        let changed = match self
            .store
            .change_group_blocks(&caller.app, id, users, block)
            .await?
        {
            GroupOutcome::Done(changed) => changed,
            other => return Err(refused(other)),
        };
        if block {
            let removed: Vec<UserName> = changed
                .iter()
                .filter(|user| members.contains(user))
                .cloned()
                .collect();
            self.tell_each(caller, &group, Operation::Kick, &removed)
                .await?;
            self.announce_absence(caller, &group, &removed, "").await?;
        } else {
            self.tell_each(caller, &group, Operation::Allow, &changed)
                .await?;
        }
        Ok(changed)
    }

    pub async fn blocked(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
    ) -> Result<Vec<UserName>, Error> {
        let group = self.load(&caller.app, id).await?;
        self.moderator(caller, &group).await?;
        Ok(self.store.group_blocks(&caller.app, id).await?)
    }

    /// Adds users to (`add`) or removes them from the allowlist; each hears of it.
    pub async fn allow(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        users: &[UserName],
        add: bool,
    ) -> Result<Vec<UserName>, Error> {
        self.check_users(users)?;
        let group = self.load(&caller.app, id).await?;
        self.moderator(caller, &group).await?;
        self.check_exist(&caller.app, users).await?;
        if add {
            for user in users {
                if self
                    .store
                    .group_member(&caller.app, id, user)
                    .await?
                    .is_none()
                {
                    return Err(GroupError::NotMember(user.to_string()).into());
                }
            }
        }
        let changed = match self
            .store
            .change_group_allowlist(&caller.app, id, users, add)
            .await?
        {
            GroupOutcome::Done(changed) => changed,
            other => return Err(refused(other)),
        };
        let operation = if add {
            Operation::AddUserWhiteList
        } else {
            Operation::RemoveUserWhiteList
        };
        self.tell_each(caller, &group, operation, &changed).await?;
        Ok(changed)
    }

    /// The allowlist, for the owner and admins (as the hosted service answers it).
    pub async fn allowlist(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
    ) -> Result<Vec<UserName>, Error> {
        let group = self.load(&caller.app, id).await?;
        self.moderator(caller, &group).await?;
        Ok(self.store.group_allowlist(&caller.app, id).await?)
    }

    /// Whether `user` is on the allowlist, and a member.
    pub async fn allowlisted(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        user: &UserName,
    ) -> Result<(bool, bool), Error> {
        let group = self.load(&caller.app, id).await?;
        self.reader(caller, &group).await?;
        let listed = self
            .store
            .group_allowlist(&caller.app, id)
            .await?
            .contains(user);
        let member = self
            .store
            .group_member(&caller.app, id, user)
            .await?
            .is_some();
        Ok((listed, member))
    }

    /// Whether `user` is muted now.
    pub async fn is_muted(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        user: &UserName,
    ) -> Result<bool, Error> {
        let group = self.load(&caller.app, id).await?;
        self.reader(caller, &group).await?;
        let member = self.store.group_member(&caller.app, id, user).await?;
        Ok(member
            .and_then(|member| member.muted_until_ms)
            .is_some_and(|until| until > now_ms()))
    }

    pub async fn announcement(&self, caller: &GroupCaller, id: &GroupId) -> Result<String, Error> {
        let group = self.load(&caller.app, id).await?;
        self.reader(caller, &group).await?;
        Ok(group.announcement)
    }

    /// `updateGroupAnnouncement`: the owner or an admin; every member hears of it.
    pub async fn set_announcement(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        text: &str,
    ) -> Result<(), Error> {
        if text.chars().count() > MAX_ANNOUNCEMENT_CHARS {
            return Err(GroupError::Invalid("announcement is too long".to_owned()).into());
        }
        let group = self.load(&caller.app, id).await?;
        self.moderator(caller, &group).await?;
        match self
            .store
            .change_group(
                &caller.app,
                id,
                &GroupChange::Announcement(text.to_owned()),
                now_ms(),
            )
            .await?
        {
            GroupOutcome::Done(_) => {}
            other => return Err(refused(other)),
        }
        let operation = if text.is_empty() {
            Operation::DeleteAnnouncement
        } else {
            Operation::UpdateAnnouncement
        };
        GroupEvent::new(&caller.app, id, operation, Self::actor(caller, &group))
            .reason(text)
            .send(&self.appender, Audience::Members)
            .await
    }
}

/// The caller is not a member of the group.
fn not_member(caller: &GroupCaller) -> Error {
    let name = caller.user.as_ref().map(UserName::as_str).unwrap_or("");
    GroupError::NotMember(name.to_owned()).into()
}

/// A store outcome the operation did not expect, as the error it means.
fn refused<T>(outcome: GroupOutcome<T>) -> Error {
    match outcome {
        GroupOutcome::Done(_) | GroupOutcome::NoGroup => GroupError::NotFound.into(),
        GroupOutcome::NotMember(user) => GroupError::NotMember(user.to_string()).into(),
        GroupOutcome::NoUser(user) => Error::UserNotFound(user.to_string()),
        GroupOutcome::Blocked(user) => GroupError::Blocked(user.to_string()).into(),
        GroupOutcome::Full => GroupError::Full.into(),
        GroupOutcome::TooManyGroups(user) => GroupError::TooManyGroups(user.to_string()).into(),
        GroupOutcome::TooManyAdmins => GroupError::TooManyAdmins.into(),
    }
}

/// The hosted names of the settings a change sets (`modifyGroup`'s answer).
fn changed_fields(change: &GroupSettingsChange) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut note = |set: bool, name: &'static str| {
        if set {
            fields.push(name);
        }
    };
    note(change.name.is_some(), "groupname");
    note(change.description.is_some(), "description");
    note(change.avatar.is_some(), "avatar");
    note(change.public.is_some(), "public");
    note(change.approval.is_some(), "membersonly");
    note(change.allow_invites.is_some(), "allowinvites");
    note(change.invite_need_confirm.is_some(), "invite_need_confirm");
    note(change.max_users.is_some(), "maxusers");
    note(change.custom.is_some(), "custom");
    fields
}

/// `updateInfo`'s `eventInfo.ext`: the changed settings under the keys the SDK maps.
fn update_detail(change: &GroupSettingsChange, modified_ms: u64) -> Value {
    let mut detail = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            detail.insert(key.to_owned(), value);
        }
    };
    put("name", change.name.clone().map(Value::from));
    put("description", change.description.clone().map(Value::from));
    put("avatar", change.avatar.clone().map(Value::from));
    put("public", change.public.map(Value::from));
    put("members_only", change.approval.map(Value::from));
    put("allow_user_invites", change.allow_invites.map(Value::from));
    put(
        "invite_need_confirm",
        change.invite_need_confirm.map(Value::from),
    );
    put("max_users", change.max_users.map(Value::from));
    put("custom", change.custom.clone().map(Value::from));
    put("last_modified", Some(Value::from(modified_ms)));
    Value::Object(detail)
}
