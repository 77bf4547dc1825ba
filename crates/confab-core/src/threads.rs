//! Threads (API-SURFACE.md section 7) over `ThreadStore`: made from a group message by a group
//! member, joined and left by group members, renamed and destroyed by their owner or the
//! group's owner and admins.
//!
//! A thread message is a group message (`MessageBody.meta {"thread":{}}`, `to` the thread)
//! stored in the group's log for the thread's members at the time (`Audience::Listed`), so it
//! reaches them with the group's queue; its history is the thread's. The group's members hear
//! of threads made, renamed, destroyed and of each new message in a `thread` NOTIFY
//! (`onChatThreadChange`), stored in the group's log like the group's events; the actor's other
//! devices get the MUC thread operations (`onMultiDeviceEvent`); the parent message's stored
//! meta carries the thread's overview (`chatThreadOverview`), rewritten with each change.

use std::sync::Arc;

use confab_proto::pb::{self, meta::NameSpace, muc_body::Operation};
use prost::Message;
use serde_json::{json, Value};

use crate::{
    appender::{group_jid, group_meta_stored, jid, Appender},
    conversations::rest_message_from_stored,
    groups::{GroupCaller, GroupError},
    ids::{AppKey, GroupId, IdGenerator, MessageId, UserName},
    now_ms,
    store::{
        AppendEffect, Audience, GroupRole, GroupStore, LogStore, Thread, ThreadOutcome, ThreadStore,
    },
    Error,
};

/// Why a thread operation was refused; each edge maps it to the hosted answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThreadError {
    #[error("thread not found")]
    NotFound,
    /// The caller is not a member of the thread (a send, a leave).
    #[error("user: {0} are not members of this thread!")]
    NotMember(String),
    /// The message named is not a message of the group.
    #[error("message {0} is not a message of this group")]
    NoParent(u64),
    /// A thread was made from this message already.
    #[error("the message already has a thread: {0}")]
    Taken(String),
    /// The name is empty or too long.
    #[error("{0}")]
    Invalid(String),
}

/// Longest thread name, in characters (hosted: 64).
pub const MAX_THREAD_NAME_CHARS: usize = 64;

pub struct ThreadService {
    store: Arc<dyn ThreadStore>,
    groups: Arc<dyn GroupStore>,
    logs: Arc<dyn LogStore>,
    appender: Arc<Appender>,
    ids: IdGenerator,
}

/// The parent message's meta with the thread's overview, or the thread NOTIFY: what each says
/// of a thread.
struct Overview<'a> {
    thread: &'a Thread,
    last_message: Option<Value>,
}

impl ThreadService {
    pub fn new(
        store: Arc<dyn ThreadStore>,
        groups: Arc<dyn GroupStore>,
        logs: Arc<dyn LogStore>,
        appender: Arc<Appender>,
        node: u16,
    ) -> ThreadService {
        ThreadService {
            store,
            groups,
            logs,
            appender,
            ids: IdGenerator::new(node),
        }
    }

    fn user(caller: &GroupCaller) -> Result<&UserName, Error> {
        caller
            .user
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("this call needs a user token".to_owned()))
    }

    /// The caller's role in `group`, which must exist; they must be a member.
    async fn group_role(
        &self,
        app: &AppKey,
        group: &GroupId,
        user: &UserName,
    ) -> Result<GroupRole, Error> {
        let Some(found) = self.groups.group(app, group).await? else {
            return Err(GroupError::NotFound.into());
        };
        if found.owner == *user {
            return Ok(GroupRole::Owner);
        }
        match self.groups.group_member(app, group, user).await? {
            Some(member) => Ok(member.role),
            None => Err(GroupError::NotMember(user.to_string()).into()),
        }
    }

    async fn load(&self, app: &AppKey, id: &GroupId) -> Result<Thread, Error> {
        self.store
            .thread(app, id)
            .await?
            .ok_or(Error::Thread(ThreadError::NotFound))
    }

    /// The thread, which the caller may see: they are a member of its group.
    async fn visible(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
    ) -> Result<(Thread, GroupRole), Error> {
        let thread = self.load(&caller.app, id).await?;
        let role = self
            .group_role(&caller.app, &thread.group, Self::user(caller)?)
            .await?;
        Ok((thread, role))
    }

    fn check_name(name: &str) -> Result<(), ThreadError> {
        let count = name.chars().count();
        if count == 0 || count > MAX_THREAD_NAME_CHARS {
            return Err(ThreadError::Invalid(format!(
                "name must be 1 to {MAX_THREAD_NAME_CHARS} characters"
            )));
        }
        Ok(())
    }

    /// Whether a thread has this id.
    pub async fn exists(&self, app: &AppKey, id: &GroupId) -> Result<bool, Error> {
        Ok(self.store.thread(app, id).await?.is_some())
    }

    /// `user` may read the thread's history: a member of its group.
    pub async fn check_history_reader(
        &self,
        app: &AppKey,
        id: &GroupId,
        user: &UserName,
    ) -> Result<(), Error> {
        let thread = self.load(app, id).await?;
        self.group_role(app, &thread.group, user).await?;
        Ok(())
    }

    /// `createChatThread` from group message `message`: the caller, a member, owns it and is its
    /// first member. The group hears `create`; the parent message gets the overview.
    pub async fn create(
        &self,
        caller: &GroupCaller,
        group: &GroupId,
        message: MessageId,
        name: &str,
    ) -> Result<Thread, Error> {
        Self::check_name(name)?;
        let user = Self::user(caller)?;
        self.group_role(&caller.app, group, user).await?;
        let parent = self
            .logs
            .stored_message(&caller.app, message)
            .await?
            .filter(|stored| !stored.recalled)
            .ok_or(ThreadError::NoParent(message.0))?;
        let to = pb::Meta::decode(parent.meta.clone())
            .ok()
            .and_then(|meta| meta.to)
            .and_then(|to| to.name);
        if to.as_deref() != Some(group.as_str()) {
            return Err(ThreadError::NoParent(message.0).into());
        }
        let now = now_ms();
        let thread = Thread {
            id: GroupId::from_id(self.ids.next(now)),
            group: group.clone(),
            parent_message: message,
            name: name.to_owned(),
            owner: user.clone(),
            created_ms: now,
            member_count: 1,
            message_count: 0,
            last_message: None,
        };
        match self.store.create_thread(&caller.app, &thread).await? {
            ThreadOutcome::Done(()) => {}
            ThreadOutcome::Taken(existing) => {
                return Err(ThreadError::Taken(existing.to_string()).into())
            }
            ThreadOutcome::NoThread => return Err(ThreadError::NotFound.into()),
        }
        self.announce(caller, &thread, "create", None, true).await?;
        self.multi_device(caller, &thread, Operation::ThreadCreate)
            .await?;
        Ok(thread)
    }

    /// `joinChatThread`: a group member; answers the thread.
    pub async fn join(&self, caller: &GroupCaller, id: &GroupId) -> Result<Thread, Error> {
        let (thread, _) = self.visible(caller, id).await?;
        let user = Self::user(caller)?;
        match self
            .store
            .add_thread_member(&caller.app, id, user, now_ms())
            .await?
        {
            ThreadOutcome::Done(true) => {
                self.multi_device(caller, &thread, Operation::ThreadJoin)
                    .await?;
            }
            ThreadOutcome::Done(false) => {}
            ThreadOutcome::NoThread | ThreadOutcome::Taken(_) => {
                return Err(ThreadError::NotFound.into())
            }
        }
        self.load(&caller.app, id).await
    }

    /// `leaveChatThread`.
    pub async fn leave(&self, caller: &GroupCaller, id: &GroupId) -> Result<(), Error> {
        let thread = self.load(&caller.app, id).await?;
        let user = Self::user(caller)?;
        match self
            .store
            .remove_thread_member(&caller.app, id, user)
            .await?
        {
            ThreadOutcome::Done(true) => {
                self.multi_device(caller, &thread, Operation::ThreadLeave)
                    .await
            }
            ThreadOutcome::Done(false) => Err(ThreadError::NotMember(user.to_string()).into()),
            ThreadOutcome::NoThread | ThreadOutcome::Taken(_) => Err(ThreadError::NotFound.into()),
        }
    }

    /// Whether the caller may change the thread: its owner, or the group's owner or an admin.
    fn may_change(caller: &GroupCaller, thread: &Thread, role: GroupRole) -> Result<(), Error> {
        let owner = caller.user.as_ref() == Some(&thread.owner);
        if owner || role != GroupRole::Member {
            Ok(())
        } else {
            Err(GroupError::NotAllowed("the thread's owner or the group's owner and admins").into())
        }
    }

    /// `destroyChatThread`: the group hears `delete`; the parent message loses its overview.
    pub async fn destroy(&self, caller: &GroupCaller, id: &GroupId) -> Result<(), Error> {
        let (thread, role) = self.visible(caller, id).await?;
        Self::may_change(caller, &thread, role)?;
        if self.store.delete_thread(&caller.app, id).await?.is_none() {
            return Err(ThreadError::NotFound.into());
        }
        self.announce(caller, &thread, "delete", None, false)
            .await?;
        self.multi_device(caller, &thread, Operation::ThreadDestroy)
            .await
    }

    /// `changeChatThreadName`: the group hears `update`.
    pub async fn rename(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        name: &str,
    ) -> Result<(), Error> {
        Self::check_name(name)?;
        let (thread, role) = self.visible(caller, id).await?;
        Self::may_change(caller, &thread, role)?;
        let renamed = match self.store.rename_thread(&caller.app, id, name).await? {
            ThreadOutcome::Done(thread) => thread,
            ThreadOutcome::NoThread | ThreadOutcome::Taken(_) => {
                return Err(ThreadError::NotFound.into())
            }
        };
        let last = self.last_message(&caller.app, &renamed).await?;
        self.announce(caller, &renamed, "update", last, true)
            .await?;
        self.multi_device(caller, &renamed, Operation::ThreadUpdate)
            .await
    }

    /// `getChatThreadMembers`: group members ask.
    pub async fn members(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<UserName>, Error> {
        self.visible(caller, id).await?;
        Ok(self
            .store
            .thread_members(&caller.app, id, offset, limit)
            .await?)
    }

    /// `removeChatThreadMember`: the group's owner or an admin; the removed user hears
    /// `userRemove` (MUC THREAD_KICK).
    pub async fn remove_member(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        user: &UserName,
    ) -> Result<(), Error> {
        let (thread, role) = self.visible(caller, id).await?;
        if role == GroupRole::Member {
            return Err(GroupError::NotAllowed("the group's owner and admins").into());
        }
        match self
            .store
            .remove_thread_member(&caller.app, id, user)
            .await?
        {
            ThreadOutcome::Done(true) => {}
            ThreadOutcome::Done(false) => {
                return Err(ThreadError::NotMember(user.to_string()).into())
            }
            ThreadOutcome::NoThread | ThreadOutcome::Taken(_) => {
                return Err(ThreadError::NotFound.into())
            }
        }
        let actor = Self::user(caller)?;
        let mut body = thread_muc(
            &caller.app,
            &thread,
            Operation::ThreadKick,
            (actor, &caller.resource),
        );
        body.to = vec![jid(&caller.app, user)];
        let appended = self
            .appender
            .submit_group_meta(
                &caller.app,
                (actor, &caller.resource),
                (&thread.group, Audience::Member(user.clone())),
                (NameSpace::Muc, body.encode_to_vec().into()),
            )
            .await?;
        group_meta_stored(appended)
    }

    /// `getJoinedChatThreads` (of one group, when given).
    pub async fn joined(
        &self,
        caller: &GroupCaller,
        group: Option<&GroupId>,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Thread>, Error> {
        let user = Self::user(caller)?;
        if let Some(group) = group {
            self.group_role(&caller.app, group, user).await?;
        }
        Ok(self
            .store
            .joined_threads(&caller.app, user, group, offset, limit)
            .await?)
    }

    /// `getChatThreads`: the group's members ask.
    pub async fn of_group(
        &self,
        caller: &GroupCaller,
        group: &GroupId,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Thread>, Error> {
        self.group_role(&caller.app, group, Self::user(caller)?)
            .await?;
        Ok(self
            .store
            .group_threads(&caller.app, group, offset, limit)
            .await?)
    }

    /// `getChatThreadDetail`.
    pub async fn detail(&self, caller: &GroupCaller, id: &GroupId) -> Result<Thread, Error> {
        Ok(self.visible(caller, id).await?.0)
    }

    /// `getChatThreadLastMessage`: each of `ids` the caller may see, with its last message in
    /// the REST-JSON form (`None` when it has none).
    pub async fn last_messages(
        &self,
        caller: &GroupCaller,
        ids: &[GroupId],
    ) -> Result<Vec<(Thread, Option<Value>)>, Error> {
        let user = Self::user(caller)?;
        let mut answered = Vec::new();
        for thread in self.store.threads(&caller.app, ids).await? {
            if self
                .group_role(&caller.app, &thread.group, user)
                .await
                .is_err()
            {
                continue;
            }
            let last = self.last_message(&caller.app, &thread).await?;
            answered.push((thread, last));
        }
        Ok(answered)
    }

    async fn last_message(&self, app: &AppKey, thread: &Thread) -> Result<Option<Value>, Error> {
        let Some(id) = thread.last_message else {
            return Ok(None);
        };
        Ok(self
            .logs
            .stored_message(app, id)
            .await?
            .filter(|stored| !stored.recalled)
            .and_then(|stored| rest_message_from_stored(&stored.meta)))
    }

    /// A thread message from `user`: the thread and its members now, who read it. A message
    /// needs its sender in the thread; a recall or edit (`member_needed` false) only in the
    /// group (its owner and admins recall any thread message).
    pub async fn audience(
        &self,
        app: &AppKey,
        id: &GroupId,
        (user, member_needed): (&UserName, bool),
    ) -> Result<(Thread, Vec<UserName>), Error> {
        let thread = self.load(app, id).await?;
        self.group_role(app, &thread.group, user).await?;
        if member_needed && !self.store.is_thread_member(app, id, user).await? {
            return Err(ThreadError::NotMember(user.to_string()).into());
        }
        let members = self
            .store
            .thread_members(app, id, 0, thread.member_count.max(1))
            .await?;
        Ok((thread, members))
    }

    /// After a thread message is stored: counted, the group hears `update_msg` and the parent
    /// message's overview follows.
    pub async fn message_stored(
        &self,
        caller: &GroupCaller,
        id: &GroupId,
        message: MessageId,
    ) -> Result<(), Error> {
        let thread = match self
            .store
            .record_thread_message(&caller.app, id, message)
            .await?
        {
            ThreadOutcome::Done(thread) => thread,
            // Destroyed meanwhile: nothing to tell.
            ThreadOutcome::NoThread | ThreadOutcome::Taken(_) => return Ok(()),
        };
        let last = self.last_message(&caller.app, &thread).await?;
        self.announce(caller, &thread, "update_msg", last, true)
            .await
    }

    /// The `thread` NOTIFY to the group's members, stored in its log with the parent message's
    /// new overview (removed with `keep_overview` false).
    async fn announce(
        &self,
        caller: &GroupCaller,
        thread: &Thread,
        operation: &str,
        last_message: Option<Value>,
        keep_overview: bool,
    ) -> Result<(), Error> {
        let actor = Self::user(caller)?;
        let overview = Overview {
            thread,
            last_message,
        };
        let payload = json!({
            "type": "thread",
            "data": {
                "id": thread.id.as_str(),
                "name": thread.name,
                "muc_parent_id": thread.group.as_str(),
                "msg_parent_id": thread.parent_message.0.to_string(),
                "timestamp": now_ms(),
                "from": actor.as_str(),
                "operation": operation,
                "message_count": thread.message_count,
                "last_message": overview.last_message.clone().unwrap_or_else(|| json!({})),
            },
        });
        let effect = self
            .parent_with_overview(&caller.app, &overview, keep_overview)
            .await?;
        let appended = self
            .appender
            .submit_group_meta_with(
                &caller.app,
                (actor, &caller.resource),
                (&thread.group, Audience::Members),
                (NameSpace::Notify, payload.to_string().into()),
                effect,
            )
            .await?;
        group_meta_stored(appended)
    }

    /// The parent message's stored meta with `thread_overview` set (or taken out) in its
    /// body's `meta`, as an edit that commits with the NOTIFY.
    async fn parent_with_overview(
        &self,
        app: &AppKey,
        overview: &Overview<'_>,
        keep: bool,
    ) -> Result<AppendEffect, Error> {
        let thread = overview.thread;
        let Some(parent) = self.logs.stored_message(app, thread.parent_message).await? else {
            return Ok(AppendEffect::None);
        };
        let Ok(mut meta) = pb::Meta::decode(parent.meta.clone()) else {
            return Ok(AppendEffect::None);
        };
        let Some(Ok(mut body)) = meta
            .payload
            .as_ref()
            .map(|payload| pb::MessageBody::decode(payload.clone()))
        else {
            return Ok(AppendEffect::None);
        };
        let mut extra: serde_json::Map<String, Value> = body
            .meta
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        if keep {
            extra.insert(
                "thread_overview".to_owned(),
                json!({
                    "id": thread.id.as_str(),
                    "muc_parent_id": thread.group.as_str(),
                    "name": thread.name,
                    "last_message": overview.last_message.clone().unwrap_or_else(|| json!({})),
                    "create_timestamp": thread.created_ms,
                    "update_timestamp": now_ms(),
                    "message_count": thread.message_count,
                }),
            );
        } else {
            extra.remove("thread_overview");
        }
        body.meta = Some(Value::Object(extra).to_string());
        meta.payload = Some(body.encode_to_vec().into());
        Ok(AppendEffect::Edit {
            target: thread.parent_message,
            meta: meta.encode_to_vec().into(),
        })
    }

    /// The MUC thread operation to the actor's other devices (`onMultiDeviceEvent`).
    async fn multi_device(
        &self,
        caller: &GroupCaller,
        thread: &Thread,
        operation: Operation,
    ) -> Result<(), Error> {
        let actor = Self::user(caller)?;
        let body = thread_muc(&caller.app, thread, operation, (actor, &caller.resource));
        let appended = self
            .appender
            .submit_group_meta(
                &caller.app,
                (actor, &caller.resource),
                (&thread.group, Audience::Member(actor.clone())),
                (NameSpace::Muc, body.encode_to_vec().into()),
            )
            .await?;
        group_meta_stored(appended)
    }
}

/// A MUC body about `thread` (`isThread`; `mucId` the thread, `mucParentId` its group).
fn thread_muc(
    app: &AppKey,
    thread: &Thread,
    operation: Operation,
    (actor, resource): (&UserName, &str),
) -> pb::MucBody {
    let mut from = jid(app, actor);
    from.client_resource = (!resource.is_empty()).then(|| resource.to_owned());
    pb::MucBody {
        muc_id: Some(group_jid(app, &thread.id)),
        operation: Some(operation as i32),
        from: Some(from),
        is_thread: Some(true),
        muc_parent_id: Some(group_jid(app, &thread.group)),
        muc_name: Some(thread.name.clone()),
        ..Default::default()
    }
}
