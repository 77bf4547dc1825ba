//! Room events: MUC metas (`ns=2`, `MUCBody` with `isChatroom`) pushed to the members online
//! (`RoomService::tell`), never stored (API-SURFACE.md, events: MUC → `onChatroomEvent`).

use bytes::Bytes;
use confab_proto::pb::{self, meta::NameSpace, muc_body::Operation};
use prost::Message;

use crate::{
    appender::jid,
    ids::{AppKey, MessageId, RoomId, UserName},
};

/// One event: its operation, who did it (their acting device does not get it) and the fields
/// the SDK reads for that operation.
pub struct RoomEvent<'a> {
    pub(crate) app: &'a AppKey,
    pub(crate) room: &'a RoomId,
    operation: Operation,
    /// The user the event is from, and their acting device ("" when none).
    pub(crate) from: (&'a UserName, &'a str),
    /// `MUCBody.to`: the users the event is about.
    to: Vec<UserName>,
    reason: Option<String>,
    muc_name: Option<String>,
    member_count: Option<u32>,
    ext: Option<String>,
    event_ext: Option<String>,
    /// `MUCBody.members`: a batch of joins or departures, one `memberPresence` each.
    members: Vec<UserName>,
}

impl<'a> RoomEvent<'a> {
    pub fn new(
        app: &'a AppKey,
        room: &'a RoomId,
        operation: Operation,
        from: (&'a UserName, &'a str),
    ) -> RoomEvent<'a> {
        RoomEvent {
            app,
            room,
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

    pub(crate) fn ext(mut self, ext: &str) -> Self {
        self.ext = Some(ext.to_owned());
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

    /// The downlink meta, under `id` (its time is the id's).
    pub(crate) fn encode(&self, id: MessageId) -> Bytes {
        let (app, (from, resource)) = (self.app, self.from);
        let mut from_jid = jid(app, from);
        from_jid.client_resource = (!resource.is_empty()).then(|| resource.to_owned());
        let room_jid = pb::Jid {
            app_key: Some(app.to_string()),
            name: Some(self.room.to_string()),
            domain: Some(confab_proto::CONFERENCE_DOMAIN.to_owned()),
            client_resource: None,
        };
        let body = pb::MucBody {
            muc_id: Some(room_jid.clone()),
            operation: Some(self.operation as i32),
            from: Some(from_jid.clone()),
            to: self.to.iter().map(|user| jid(app, user)).collect(),
            reason: self.reason.clone(),
            is_chatroom: Some(true),
            muc_name: self.muc_name.clone(),
            muc_member_count: self.member_count.map(|count| count as i32),
            ext: self.ext.clone(),
            event_info: self.event_ext.clone().map(|ext| pb::muc_body::EventInfo {
                event_type: None,
                ext: Some(ext),
            }),
            members: self.members.iter().map(ToString::to_string).collect(),
            ..Default::default()
        };
        let meta = pb::Meta {
            id: Some(id.0),
            from: Some(from_jid),
            to: Some(room_jid),
            timestamp: Some(id.timestamp_ms()),
            ns: Some(NameSpace::Muc as i32),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        };
        Bytes::from(meta.encode_to_vec())
    }
}
