//! Group events: MUC metas (`ns=2`, `MUCBody`) appended to the group's log, so they keep the
//! order of the group's messages and reach members who were offline at their next login
//! (API-SURFACE.md, events: MUC). Addressed to every member (`Audience::Members`: those
//! members at the time of the append) or to one user, member or not (an invitation, a
//! removal).

use confab_proto::pb::{self, meta::NameSpace, muc_body::Operation};
use prost::Message;

use crate::{
    appender::{group_jid, group_meta_stored, jid, Appender},
    ids::{AppKey, GroupId, UserName},
    store::Audience,
    Error,
};

/// One event: its operation, who did it (their device is left out) and the fields the SDK
/// reads for that operation.
pub(crate) struct GroupEvent<'a> {
    pub(crate) app: &'a AppKey,
    pub(crate) group: &'a GroupId,
    pub(crate) operation: Operation,
    /// The user the event is from, and their acting device ("" when none).
    pub(crate) from: (&'a UserName, &'a str),
    /// `MUCBody.to`: the users the event is about.
    pub(crate) to: Vec<UserName>,
    pub(crate) reason: Option<String>,
    pub(crate) muc_name: Option<String>,
    pub(crate) member_count: Option<u32>,
    pub(crate) ext: Option<String>,
    pub(crate) event_ext: Option<String>,
    /// `MUCBody.members` (a batch `membersPresence`).
    pub(crate) members: Vec<UserName>,
}

impl<'a> GroupEvent<'a> {
    pub(crate) fn new(
        app: &'a AppKey,
        group: &'a GroupId,
        operation: Operation,
        from: (&'a UserName, &'a str),
    ) -> GroupEvent<'a> {
        GroupEvent {
            app,
            group,
            operation,
            from,
            to: Vec::new(),
            reason: None,
            muc_name: None,
            member_count: None,
            ext: None,
            event_ext: None,
            members: Vec::new(),
        }
    }

    pub(crate) fn to(mut self, users: &[UserName]) -> Self {
        self.to = users.to_vec();
        self
    }

    pub(crate) fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    pub(crate) fn muc_name(mut self, name: &str) -> Self {
        self.muc_name = Some(name.to_owned());
        self
    }

    pub(crate) fn member_count(mut self, count: u32) -> Self {
        self.member_count = Some(count);
        self
    }

    pub(crate) fn ext(mut self, ext: String) -> Self {
        self.ext = Some(ext);
        self
    }

    pub(crate) fn event_ext(mut self, ext: String) -> Self {
        self.event_ext = Some(ext);
        self
    }

    pub(crate) fn members(mut self, members: &[UserName]) -> Self {
        self.members = members.to_vec();
        self
    }

    fn body(&self) -> pb::MucBody {
        let (app, (from, resource)) = (self.app, self.from);
        // The acting device: the SDK turns a member-attributes change from its own user on
        // another device into `onMultiDeviceEvent`.
        let mut from = jid(app, from);
        from.client_resource = (!resource.is_empty()).then(|| resource.to_owned());
        pb::MucBody {
            muc_id: Some(group_jid(app, self.group)),
            operation: Some(self.operation as i32),
            from: Some(from),
            to: self.to.iter().map(|user| jid(app, user)).collect(),
            reason: self.reason.clone(),
            is_chatroom: Some(false),
            muc_name: self.muc_name.clone(),
            muc_member_count: self.member_count.map(|count| count as i32),
            ext: self.ext.clone(),
            event_info: self.event_ext.clone().map(|ext| pb::muc_body::EventInfo {
                event_type: None,
                ext: Some(ext),
            }),
            members: self.members.iter().map(ToString::to_string).collect(),
            ..Default::default()
        }
    }

    /// Appends the event for `audience` and announces it; a group deleted meanwhile is
    /// `NotFound`.
    pub(crate) async fn send(self, appender: &Appender, audience: Audience) -> Result<(), Error> {
        let appended = self.submit(appender, audience).await?;
        group_meta_stored(appended)
    }

    /// Appends one copy addressed to each of `users` (all queued at once, then awaited): what
    /// they must get even if they are no longer members when they read (the group's deletion).
    pub(crate) async fn send_to_each(
        self,
        appender: &Appender,
        users: &[UserName],
    ) -> Result<(), Error> {
        let pending: Vec<_> = users
            .iter()
            .map(|user| self.submit(appender, Audience::Member(user.clone())))
            .collect();
        for appended in pending {
            group_meta_stored(appended.await?)?;
        }
        Ok(())
    }

    fn submit(&self, appender: &Appender, audience: Audience) -> crate::appender::PendingAppend {
        let payload = bytes::Bytes::from(self.body().encode_to_vec());
        appender.submit_group_meta(
            self.app,
            self.from,
            (self.group, audience),
            (NameSpace::Muc, payload),
        )
    }
}
