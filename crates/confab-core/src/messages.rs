//! `MessageService` owns messages: what a send must carry and when it is acknowledged, how a
//! device pages and acknowledges its queues (its views of the logs), and reclaiming the logs;
//! beside it, recall and edit (`receipts.rs`), REST sends and imports (`messages/rest.rs`),
//! history (`history.rs`), reactions (`reaction.rs`) and pins (`pin.rs`). Group chat and rooms
//! add logs and audiences, not a new path.

mod rest;
mod threads;

pub use rest::{RestSend, IMPORT_RESOURCE, REST_RESOURCE};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use confab_proto::{
    pb::{
        self,
        message_body::Type as BodyType,
        meta::{NameSpace, RouteType},
    },
    CONFERENCE_DOMAIN, USER_DOMAIN,
};
use prost::Message;

use crate::{
    app::App,
    appender::Appender,
    groups::GroupError,
    ids::{GroupId, IdGenerator, LogId, MessageId, QueueName, RoomId, UserName},
    now_ms,
    presence::Presence,
    receipts,
    rooms::{RoomError, RoomService},
    services::Limits,
    store::{
        body_digest, AnnotationStore, AppendEffect, Appended, Audience, ConversationStore, Device,
        EncodeMeta, GroupStore, LogStore, NewMessage, Pulled, Reclaimed, UserStore,
    },
    threads::ThreadService,
    Error,
};

/// The logged-in side of a session, as the rules need it.
#[derive(Debug, Clone)]
pub struct SessionContext {
    pub app: Arc<App>,
    pub user: UserName,
    pub resource: String,
}

/// What the sender's `send()` resolves with.
#[derive(Debug, Clone, PartialEq)]
pub struct SendAck {
    pub server_id: MessageId,
    pub timestamp_ms: u64,
    /// A meta the ack carries (an edit's `NOTIFY` with `edit_msg`, PROTOCOL.md §4.9).
    pub notify: Option<pb::Meta>,
}

/// A send queued for storage; resolves with the ack once it is durable.
pub type PendingSend = Pin<Box<dyn Future<Output = Result<SendAck, Error>> + Send + 'static>>;

/// A send checked for what `submit_with` cannot decide synchronously.
struct Checked {
    /// What commits with the message.
    effect: AppendEffect,
    /// Whether it goes into the recipient's queue (not for `deliverOnlineOnly` to an offline user).
    queued: bool,
}

/// Who sends to a room: a member (checked: in the room, not muted), or the app over REST
/// (`POST /messages/chatrooms`, a broadcast), which needs no place in it.
pub(crate) enum RoomSender {
    Member,
    Server,
}

/// What a send to the conference domain addresses.
enum Conference {
    Group,
    Room(RoomId),
    /// A message to a thread of a group.
    Thread(GroupId),
    /// A recall or edit with neither mark: a room or a thread if one has this id (the same
    /// digits, read as either), else a group.
    Unmarked(RoomId, GroupId),
}

/// One reply to a pull: encoded metas in id order, and the key the client acknowledges with
/// next.
#[derive(Debug, Clone, PartialEq)]
pub struct PullPage {
    pub metas: Vec<Bytes>,
    pub next_key: Option<u64>,
}

/// Sends, pulls and everything else about messages; every message enters its log through the
/// shared `Appender`.
pub struct MessageService {
    pub(crate) logs: Arc<dyn LogStore>,
    /// Reactions and pins.
    pub(crate) annotations: Arc<dyn AnnotationStore>,
    /// The conversation list rows a recall recounts.
    conversations: Arc<dyn ConversationStore>,
    /// An import checks that its recipient exists.
    users: Arc<dyn UserStore>,
    /// Who is online, on every node (`deliverOnlineOnly`).
    presence: Arc<dyn Presence>,
    /// Every message and server meta enters its log here (ids and order are the store's).
    pub(crate) appender: Arc<Appender>,
    /// Who may recall a group member's message (the group's owner and admins).
    pub(crate) groups: Arc<dyn GroupStore>,
    /// Who may send to a room, and the delivery of its messages to the members online.
    pub(crate) rooms: Arc<RoomService>,
    /// Who reads a thread's messages, and what the group hears of them.
    pub(crate) threads: Arc<ThreadService>,
    /// Ids of the acks of client statistics, which are acknowledged and not stored.
    statistic_ids: IdGenerator,
    pub(crate) limits: Limits,
}

impl MessageService {
    /// `node` (the config's `node_id`) only numbers the acks of client statistics, which are
    /// not stored: message ids come from the store.
    #[allow(clippy::too_many_arguments)] // one per port the service holds
    pub fn new(
        logs: Arc<dyn LogStore>,
        annotations: Arc<dyn AnnotationStore>,
        conversations: Arc<dyn ConversationStore>,
        users: Arc<dyn UserStore>,
        presence: Arc<dyn Presence>,
        (appender, groups, rooms, threads): (
            Arc<Appender>,
            Arc<dyn GroupStore>,
            Arc<RoomService>,
            Arc<ThreadService>,
        ),
        node: u16,
        limits: Limits,
    ) -> MessageService {
        MessageService {
            logs,
            annotations,
            conversations,
            users,
            presence,
            appender,
            groups,
            rooms,
            threads,
            statistic_ids: IdGenerator::new(node),
            limits,
        }
    }

    /// A `SYNC` send, awaited: `submit` and its completion.
    pub async fn send(
        self: &Arc<Self>,
        session: &SessionContext,
        meta: pb::Meta,
    ) -> Result<SendAck, Error> {
        self.submit(session, meta)?.await
    }

    /// Validates a `SYNC` send and queues it for storage at once; the returned future resolves
    /// with the ack after the message is durably stored (and the recipient notified). Sends
    /// submitted one after another are stored in that order, so a session may keep several in
    /// flight without reordering its conversation.
    pub fn submit(
        self: &Arc<Self>,
        session: &SessionContext,
        meta: pb::Meta,
    ) -> Result<PendingSend, Error> {
        self.submit_with(session, meta, None)
    }

    /// `submit`; `checked` is given once the checks that take a read are done (a recall or
    /// edit against its target, `receipts`; a `deliverOnlineOnly` send against the
    /// recipient's presence).
    fn submit_with(
        self: &Arc<Self>,
        session: &SessionContext,
        meta: pb::Meta,
        checked: Option<Checked>,
    ) -> Result<PendingSend, Error> {
        let client_id = meta.id.ok_or(Error::MissingField("meta id"))?;
        let namespace = meta.ns.unwrap_or(NameSpace::Statistic as i32);
        match NameSpace::try_from(namespace) {
            // Client statistics are acknowledged like any meta and not kept (PROTOCOL.md §3.5).
            Ok(NameSpace::Statistic) => {
                let now = now_ms();
                let ack = SendAck {
                    server_id: self.statistic_ids.next(now),
                    timestamp_ms: now,
                    notify: None,
                };
                return Ok(Box::pin(std::future::ready(Ok(ack))));
            }
            Ok(NameSpace::Chat) => {}
            Ok(_) | Err(_) => return Err(Error::Unsupported("this namespace")),
        }
        let to = meta.to.as_ref().ok_or(Error::MissingField("meta to"))?;
        let domain = to.domain.as_deref().unwrap_or(USER_DOMAIN);
        if domain == CONFERENCE_DOMAIN {
            let messages = Arc::clone(self);
            return match self.conference_kind(&meta)? {
                Conference::Group => self.submit_to_group(session, meta, client_id, None),
                Conference::Room(room) => {
                    let session = session.clone();
                    Ok(Box::pin(async move {
                        messages
                            .submit_to_room(session, meta, room, RoomSender::Member)
                            .await
                    }))
                }
                Conference::Thread(thread) => {
                    let session = session.clone();
                    Ok(Box::pin(async move {
                        messages.submit_to_thread(session, meta, thread).await
                    }))
                }
                // A recall or an edit may carry no sign of a room or a thread: its id says.
                Conference::Unmarked(room, thread) => {
                    let session = session.clone();
                    Ok(Box::pin(async move {
                        let app = &session.app.key;
                        if messages.rooms.exists(app, &room).await? {
                            messages
                                .submit_to_room(session, meta, room, RoomSender::Member)
                                .await
                        } else if messages.threads.exists(app, &thread).await? {
                            messages.submit_to_thread(session, meta, thread).await
                        } else {
                            messages
                                .submit_to_group(&session, meta, client_id, None)?
                                .await
                        }
                    }))
                }
            };
        }
        if domain != USER_DOMAIN {
            return Err(Error::Unsupported("messages to this domain"));
        }
        let to_name = to.name.as_deref().unwrap_or("");
        let recipient =
            UserName::parse(to_name).ok_or_else(|| Error::RecipientNotFound(to_name.to_owned()))?;
        let payload = meta.payload.clone().ok_or(Error::MissingField("payload"))?;
        let body = pb::MessageBody::decode(payload.clone())
            .map_err(|_| Error::MissingField("a message body"))?;
        check_parties(&body, &session.user, &recipient)?;
        let kind = self.check_body(&body)?;
        let body_digest = body_digest(&payload);
        let Checked { effect, queued } = match checked {
            Some(checked) => checked,
            None => {
                // ROUTE_ONLINE is the SDK's `deliverOnlineOnly` (PROTOCOL.md §4.1).
                let online_only = meta.routetype == Some(RouteType::RouteOnline as i32);
                match receipts::kind(&body) {
                    receipts::Kind::Plain if !online_only => Checked {
                        effect: AppendEffect::None,
                        queued: true,
                    },
                    receipts::Kind::ChannelAck if !online_only => Checked {
                        effect: receipts::channel_read(&session.user, &recipient),
                        queued: true,
                    },
                    _ => {
                        let messages = Arc::clone(self);
                        let session = session.clone();
                        return Ok(Box::pin(async move {
                            messages
                                .submit_after_reads(session, meta, body, recipient, online_only)
                                .await
                        }));
                    }
                }
            }
        };
        let app_key = session.app.key.clone();
        let app_key_text = app_key.to_string();
        let mut downlink = pb::Meta {
            id: None,
            from: Some(pb::Jid {
                app_key: Some(app_key_text.clone()),
                name: Some(session.user.to_string()),
                domain: Some(USER_DOMAIN.to_owned()),
                client_resource: Some(session.resource.clone()),
            }),
            to: Some(pb::Jid {
                app_key: Some(app_key_text),
                name: Some(recipient.to_string()),
                domain: Some(USER_DOMAIN.to_owned()),
                client_resource: to.client_resource.clone(),
            }),
            timestamp: None,
            ns: Some(NameSpace::Chat as i32),
            // The SDK reads from/to out of the body: relay it byte for byte (PROTOCOL.md §4.6).
            payload: Some(payload),
            routetype: meta.routetype,
            ext: meta.ext,
            meta: meta.meta,
            directed_users: Vec::new(),
        };
        let appended = self.appender.submit(
            NewMessage {
                app: app_key,
                log: LogId::pair(&session.user, &recipient),
                audience: if queued {
                    Audience::Members
                } else {
                    Audience::Nobody
                },
                sender: session.user.clone(),
                sender_resource: session.resource.clone(),
                client_id: Some(client_id),
                body_digest,
                sent_ms: now_ms(),
                meta: EncodeMeta::new(move |id, timestamp_ms| {
                    downlink.id = Some(id.0);
                    downlink.timestamp = Some(timestamp_ms);
                    downlink.encode_to_vec().into()
                }),
                kind,
                history: crate::history::single_chat_entries(kind, &session.user, &recipient),
            },
            effect,
        );
        let sender = session.user.clone();
        Ok(Box::pin(async move {
            match appended.await? {
                Appended::Stored { id, timestamp_ms } => Ok(SendAck {
                    server_id: id,
                    timestamp_ms,
                    notify: None,
                }),
                Appended::Duplicate(existing) => Ok(SendAck {
                    server_id: existing,
                    timestamp_ms: existing.timestamp_ms(),
                    notify: None,
                }),
                Appended::UnknownRecipient(name) => Err(Error::RecipientNotFound(name.to_string())),
                Appended::Blocked(_) => Err(Error::Blocked),
                Appended::NotContact(name) => Err(Error::NotContact(name.to_string())),
                Appended::NoGroup => Err(GroupError::NotFound.into()),
                Appended::NotGroupMember => Err(GroupError::NotMember(sender.to_string()).into()),
                Appended::Muted => Err(GroupError::Muted.into()),
            }
        }))
    }

    /// A message to a group (`chatType: groupChat`): appended once to the group's log for its
    /// members; the store checks in the append that the sender is a member and not muted.
    /// `checked`: a recall or edit checked against its target (`submit_group_receipt`).
    fn submit_to_group(
        self: &Arc<Self>,
        session: &SessionContext,
        meta: pb::Meta,
        client_id: u64,
        checked: Option<(AppendEffect, Audience)>,
    ) -> Result<PendingSend, Error> {
        let to_name = meta
            .to
            .as_ref()
            .and_then(|to| to.name.as_deref())
            .unwrap_or("");
        let group_id = GroupId::parse(to_name).ok_or(Error::Group(GroupError::NotFound))?;
        let group = &group_id;
        let payload = meta.payload.clone().ok_or(Error::MissingField("payload"))?;
        let body = pb::MessageBody::decode(payload.clone())
            .map_err(|_| Error::MissingField("a message body"))?;
        let names = |jid: &Option<pb::Jid>, name: &str| {
            jid.as_ref()
                .and_then(|jid| jid.name.as_deref())
                .is_some_and(|named| named.eq_ignore_ascii_case(name))
        };
        if !names(&body.from, session.user.as_str()) {
            return Err(Error::ImpersonatedParty("from"));
        }
        if !names(&body.to, group.as_str()) {
            return Err(Error::ImpersonatedParty("to"));
        }
        // `receiverList`: only these members (and the sender's other devices) read it, and it
        // is in no one's history.
        let directed = directed_audience(&meta, &session.user)?;
        let kind = self.check_body(&body)?;
        let (effect, audience) = match (receipts::kind(&body), checked) {
            (_, Some(checked)) => checked,
            (receipts::Kind::Plain, None) if body.r#type == Some(BodyType::ReadAck as i32) => {
                let messages = Arc::clone(self);
                let session = session.clone();
                let group = group_id.clone();
                return Ok(Box::pin(async move {
                    messages
                        .submit_group_read_ack(session, meta, body, group)
                        .await
                }));
            }
            (receipts::Kind::Plain, None) => match directed.clone() {
                // Only members may be named: they are read first.
                Some(listed) => {
                    let messages = Arc::clone(self);
                    let session = session.clone();
                    let group = group_id.clone();
                    return Ok(Box::pin(async move {
                        let listed = messages.members_among(&session, &group, listed).await?;
                        messages
                            .submit_to_group(
                                &session,
                                meta,
                                client_id,
                                Some((AppendEffect::None, listed)),
                            )?
                            .await
                    }));
                }
                None => (AppendEffect::None, Audience::Members),
            },
            (_, None) => {
                let messages = Arc::clone(self);
                let session = session.clone();
                let group = group_id.clone();
                return Ok(Box::pin(async move {
                    messages
                        .submit_group_receipt(session, meta, body, group)
                        .await
                }));
            }
        };
        let app_key = session.app.key.clone();
        let mut downlink = pb::Meta {
            id: None,
            from: Some(pb::Jid {
                app_key: Some(app_key.to_string()),
                name: Some(session.user.to_string()),
                domain: Some(USER_DOMAIN.to_owned()),
                client_resource: Some(session.resource.clone()),
            }),
            to: Some(pb::Jid {
                app_key: Some(app_key.to_string()),
                name: Some(group.to_string()),
                domain: Some(CONFERENCE_DOMAIN.to_owned()),
                client_resource: None,
            }),
            timestamp: None,
            ns: Some(NameSpace::Chat as i32),
            payload: Some(payload.clone()),
            routetype: meta.routetype,
            ext: meta.ext,
            meta: meta.meta,
            directed_users: Vec::new(),
        };
        let appended = self.appender.submit(
            NewMessage {
                app: app_key,
                log: LogId::Group(group_id.clone()),
                audience,
                sender: session.user.clone(),
                sender_resource: session.resource.clone(),
                client_id: Some(client_id),
                body_digest: body_digest(&payload),
                sent_ms: now_ms(),
                meta: EncodeMeta::new(move |id, timestamp_ms| {
                    downlink.id = Some(id.0);
                    downlink.timestamp = Some(timestamp_ms);
                    downlink.encode_to_vec().into()
                }),
                kind,
                history: match directed {
                    Some(_) => Vec::new(),
                    None => crate::history::group_entries(kind, &group_id),
                },
            },
            effect,
        );
        let sender = session.user.clone();
        Ok(Box::pin(async move {
            match appended.await? {
                Appended::Stored { id, timestamp_ms } => Ok(SendAck {
                    server_id: id,
                    timestamp_ms,
                    notify: None,
                }),
                Appended::Duplicate(existing) => Ok(SendAck {
                    server_id: existing,
                    timestamp_ms: existing.timestamp_ms(),
                    notify: None,
                }),
                Appended::NoGroup => Err(GroupError::NotFound.into()),
                Appended::NotGroupMember => Err(GroupError::NotMember(sender.to_string()).into()),
                Appended::Muted => Err(GroupError::Muted.into()),
                // Blocklists and contacts-only apply to one-to-one messages.
                Appended::UnknownRecipient(_) | Appended::Blocked(_) | Appended::NotContact(_) => {
                    Err(Error::Unsupported("a refused group message"))
                }
            }
        }))
    }

    /// Whether a conference-domain send is for a group, a chat room or a thread: a room
    /// message says so in its body's type, and the SDK tags a room's metas with
    /// `chatroom_msg_tag`; a thread message has `thread` in its body's `meta`; a recall or an
    /// edit without these names its conversation by id alone (groups, rooms and threads draw
    /// ids from one generator, so an id is one of them).
    fn conference_kind(&self, meta: &pb::Meta) -> Result<Conference, Error> {
        let payload = meta.payload.clone().ok_or(Error::MissingField("payload"))?;
        let body =
            pb::MessageBody::decode(payload).map_err(|_| Error::MissingField("a message body"))?;
        let to_name = meta
            .to
            .as_ref()
            .and_then(|to| to.name.as_deref())
            .unwrap_or("");
        let room_id = || RoomId::parse(to_name).ok_or(Error::Room(RoomError::NotFound));
        let tagged = meta
            .ext
            .iter()
            .any(|pair| pair.key.as_deref() == Some("chatroom_msg_tag"));
        if body.r#type == Some(BodyType::Chatroom as i32) || tagged {
            return Ok(Conference::Room(room_id()?));
        }
        if threads::is_thread_body(&body) {
            let thread = GroupId::parse(to_name).ok_or(Error::Group(GroupError::NotFound))?;
            return Ok(Conference::Thread(thread));
        }
        match receipts::kind(&body) {
            receipts::Kind::Recall(_) | receipts::Kind::Edit(_) => {
                match (RoomId::parse(to_name), GroupId::parse(to_name)) {
                    (Some(room), Some(thread)) => Ok(Conference::Unmarked(room, thread)),
                    _ => Ok(Conference::Group),
                }
            }
            receipts::Kind::Plain | receipts::Kind::ChannelAck => Ok(Conference::Group),
        }
    }

    /// A chat-room message (or a recall or edit of one): checked against the sender's place in
    /// the room (a member's), stored once in the room's log (history, recall), acknowledged,
    /// then pushed to the members online (`RoomService::deliver`), never queued for anyone.
    pub(crate) async fn submit_to_room(
        self: Arc<Self>,
        session: SessionContext,
        meta: pb::Meta,
        room: RoomId,
        sender: RoomSender,
    ) -> Result<SendAck, Error> {
        let app = session.app.key.clone();
        let client_id = meta.id.ok_or(Error::MissingField("meta id"))?;
        let payload = meta.payload.clone().ok_or(Error::MissingField("payload"))?;
        let body = pb::MessageBody::decode(payload.clone())
            .map_err(|_| Error::MissingField("a message body"))?;
        let names = |jid: &Option<pb::Jid>, name: &str| {
            jid.as_ref()
                .and_then(|jid| jid.name.as_deref())
                .is_some_and(|named| named.eq_ignore_ascii_case(name))
        };
        if !names(&body.from, session.user.as_str()) {
            return Err(Error::ImpersonatedParty("from"));
        }
        if !names(&body.to, room.as_str()) {
            return Err(Error::ImpersonatedParty("to"));
        }
        let kind = self.check_body(&body)?;
        match sender {
            RoomSender::Member => self.rooms.check_sender(&app, &room, &session.user).await?,
            RoomSender::Server => {
                if !self.rooms.exists(&app, &room).await? {
                    return Err(RoomError::NotFound.into());
                }
            }
        }
        let priority = crate::rooms::priority_of(&meta.ext);
        let prepared = self
            .prepare(&session, meta, body, receipts::Conversation::Room(&room))
            .await?;
        let meta = prepared.meta;
        let payload = meta.payload.clone().ok_or(Error::MissingField("payload"))?;
        let downlink = pb::Meta {
            id: None,
            from: Some(pb::Jid {
                app_key: Some(app.to_string()),
                name: Some(session.user.to_string()),
                domain: Some(USER_DOMAIN.to_owned()),
                client_resource: Some(session.resource.clone()),
            }),
            to: Some(pb::Jid {
                app_key: Some(app.to_string()),
                name: Some(room.to_string()),
                domain: Some(CONFERENCE_DOMAIN.to_owned()),
                client_resource: None,
            }),
            timestamp: None,
            ns: Some(NameSpace::Chat as i32),
            payload: Some(payload.clone()),
            routetype: meta.routetype,
            ext: meta.ext,
            meta: meta.meta,
            directed_users: Vec::new(),
        };
        let mut stored_form = downlink.clone();
        let appended = self
            .appender
            .submit(
                NewMessage {
                    app: app.clone(),
                    log: LogId::Room(room.clone()),
                    audience: Audience::Nobody,
                    sender: session.user.clone(),
                    sender_resource: session.resource.clone(),
                    client_id: Some(client_id),
                    body_digest: body_digest(&payload),
                    sent_ms: now_ms(),
                    meta: EncodeMeta::new(move |id, timestamp_ms| {
                        stored_form.id = Some(id.0);
                        stored_form.timestamp = Some(timestamp_ms);
                        stored_form.encode_to_vec().into()
                    }),
                    kind,
                    history: crate::history::room_entries(kind, &room),
                },
                prepared.effect,
            )
            .await?;
        let (server_id, timestamp_ms, fresh) = match appended {
            Appended::Stored { id, timestamp_ms } => (id, timestamp_ms, true),
            Appended::Duplicate(existing) => (existing, existing.timestamp_ms(), false),
            Appended::NoGroup
            | Appended::NotGroupMember
            | Appended::Muted
            | Appended::UnknownRecipient(_)
            | Appended::Blocked(_)
            | Appended::NotContact(_) => return Err(Error::Unsupported("a refused room message")),
        };
        if fresh {
            let mut pushed = downlink;
            pushed.id = Some(server_id.0);
            pushed.timestamp = Some(timestamp_ms);
            self.rooms
                .deliver(
                    &app,
                    &room,
                    pushed.encode_to_vec().into(),
                    priority,
                    (&session.user, &session.resource),
                )
                .await?;
        }
        Ok(SendAck {
            server_id,
            timestamp_ms,
            notify: prepared.notify,
        })
    }

    /// The users of a `receiverList` audience who are members of the group (the sender stays:
    /// the store refuses the message if they are not one).
    async fn members_among(
        &self,
        session: &SessionContext,
        group: &GroupId,
        listed: Audience,
    ) -> Result<Audience, Error> {
        let Audience::Listed(users) = listed else {
            return Ok(listed);
        };
        let mut members = Vec::with_capacity(users.len());
        for user in users {
            let member = user == session.user
                || self
                    .groups
                    .group_member(&session.app.key, group, &user)
                    .await?
                    .is_some();
            if member {
                members.push(user);
            }
        }
        Ok(Audience::Listed(members))
    }

    /// A group read ack (`allowGroupAck`): the reader is recorded once per message, and the
    /// message's sender hears of it with the count of readers (`groupReadCount`,
    /// `MessageBody.ext[0]`, `{"<message id>": n}`).
    async fn submit_group_read_ack(
        self: Arc<Self>,
        session: SessionContext,
        mut meta: pb::Meta,
        mut body: pb::MessageBody,
        group: GroupId,
    ) -> Result<SendAck, Error> {
        let client_id = meta.id.ok_or(Error::MissingField("meta id"))?;
        let app = &session.app.key;
        let target = MessageId(body.ack_message_id.unwrap_or(0));
        let not_found = || Error::from(receipts::ReceiptError::MessageNotFound(target.0));
        let stored = self
            .logs
            .stored_message(app, target)
            .await?
            .filter(|stored| !stored.recalled)
            .ok_or_else(not_found)?;
        let stored_meta = pb::Meta::decode(stored.meta.clone()).map_err(|_| not_found())?;
        let in_group = stored_meta.to.and_then(|to| to.name).as_deref() == Some(group.as_str())
            && stored_meta.ns == Some(NameSpace::Chat as i32);
        if !in_group {
            return Err(not_found());
        }
        if self
            .groups
            .group_member(app, &group, &session.user)
            .await?
            .is_none()
        {
            return Err(GroupError::NotMember(session.user.to_string()).into());
        }
        if stored.sender == session.user {
            // One's own message: nothing to count, no one to tell.
            let now = now_ms();
            return Ok(SendAck {
                server_id: self.statistic_ids.next(now),
                timestamp_ms: now,
                notify: None,
            });
        }
        let count = self
            .groups
            .record_group_read(app, &group, target, &session.user, now_ms())
            .await?;
        let read_count = serde_json::json!({ target.0.to_string(): count }).to_string();
        body.ext = vec![pb::KeyValue {
            key: Some("group_read_count".to_owned()),
            r#type: Some(pb::key_value::ValueType::String as i32),
            value: Some(pb::key_value::Value::StringValue(read_count)),
        }];
        meta.payload = Some(body.encode_to_vec().into());
        self.submit_to_group(
            &session,
            meta,
            client_id,
            Some((AppendEffect::None, Audience::Member(stored.sender))),
        )?
        .await
    }

    /// A recall, edit or conversation read ack in a group, checked against its target first.
    /// A read ack goes to the reader's other devices only; a recall or edit to every member.
    async fn submit_group_receipt(
        self: Arc<Self>,
        session: SessionContext,
        meta: pb::Meta,
        body: pb::MessageBody,
        group: GroupId,
    ) -> Result<SendAck, Error> {
        let client_id = meta.id.ok_or(Error::MissingField("meta id"))?;
        let channel_ack = matches!(receipts::kind(&body), receipts::Kind::ChannelAck);
        let prepared = self
            .prepare(&session, meta, body, receipts::Conversation::Group(&group))
            .await?;
        let audience = if channel_ack {
            Audience::Member(session.user.clone())
        } else {
            Audience::Members
        };
        let mut ack = self
            .submit_to_group(
                &session,
                prepared.meta,
                client_id,
                Some((prepared.effect, audience)),
            )?
            .await?;
        ack.notify = prepared.notify;
        Ok(ack)
    }

    /// A send that needs reads before it can be queued: a recall or edit (its target, see
    /// `receipts`), a `deliverOnlineOnly` send (the recipient's presence).
    async fn submit_after_reads(
        self: Arc<Self>,
        session: SessionContext,
        meta: pb::Meta,
        body: pb::MessageBody,
        recipient: UserName,
        online_only: bool,
    ) -> Result<SendAck, Error> {
        let app = &session.app.key;
        let prepared = self
            .prepare(
                &session,
                meta,
                body,
                receipts::Conversation::Peer(&recipient),
            )
            .await?;
        // Not in the log for a recipient who is offline now: nobody would pull it while it
        // is still "online".
        let queued = !online_only || self.presence.is_online(app, &recipient).await?;
        let recall = matches!(prepared.effect, AppendEffect::Recall { .. });
        let checked = Checked {
            effect: prepared.effect,
            queued,
        };
        let mut ack = self
            .submit_with(&session, prepared.meta, Some(checked))?
            .await?;
        if recall {
            // The recalled message may have been either party's last or unread one.
            let parties = [
                (&session.user, QueueName::single_chat(&recipient)),
                (&recipient, QueueName::single_chat(&session.user)),
            ];
            for (owner, conversation) in parties {
                self.conversations
                    .recount_conversation(app, owner, &conversation)
                    .await?;
            }
        }
        ack.notify = prepared.notify;
        Ok(ack)
    }

    /// Forgets the devices unseen for `retention` (their next login is a new device's) and takes
    /// the messages older than that out of their logs (history keeps them), a slice at a time
    /// so that no single store transaction grows long.
    pub async fn reclaim(&self, retention: std::time::Duration) -> Result<Reclaimed, Error> {
        // Rows per store call: a few milliseconds of the embedded writer's time.
        const SLICE: u32 = 2_000;
        let retention_ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        let cutoff = now_ms().saturating_sub(retention_ms);
        let mut total = Reclaimed::default();
        loop {
            let slice = self.logs.reclaim(cutoff, SLICE).await?;
            total.devices += slice.devices;
            total.entries += slice.entries;
            if slice.done {
                total.done = true;
                return Ok(total);
            }
            // Leave room for the sends between two slices.
            tokio::task::yield_now().await;
        }
    }

    /// The queues in which the session's device has unread messages, for the `UNREAD` reply.
    pub async fn unread(&self, session: &SessionContext) -> Result<Vec<(QueueName, u32)>, Error> {
        let counts = self
            .logs
            .unread_counts(&session.app.key, &session.device())
            .await?;
        Ok(counts
            .into_iter()
            .filter_map(|count| Some((count.log.view_of(&session.user)?, count.count)))
            .collect())
    }

    /// A pull of `queue` by the session's device. `key` acknowledges everything up to it first
    /// (PROTOCOL.md §4.4): it moves this device's cursor only.
    pub async fn pull(
        &self,
        session: &SessionContext,
        queue: &QueueName,
        key: Option<u64>,
    ) -> Result<PullPage, Error> {
        let log = LogId::viewed_as(&session.user, queue)
            .ok_or_else(|| Error::InvalidArgument("no such queue".into()))?;
        let pulled = self
            .logs
            .submit_pull(
                &session.app.key,
                &session.device(),
                &log,
                key.map(MessageId),
                self.limits.page_size,
            )
            .await?;
        let page = match pulled {
            Pulled::Page(page) => page,
            Pulled::KeyBeyondEnd => {
                return Err(Error::InvalidArgument(
                    "key is past the end of the queue".into(),
                ))
            }
        };
        let next_key = page.last().map(|message| message.id.0);
        // Stored by us, encoded once at send time: relayed as they are.
        let metas = page.into_iter().map(|message| message.meta).collect();
        Ok(PullPage { metas, next_key })
    }

    /// Checks the limits; returns the message's kind for history (`""`: not a message).
    fn check_body(&self, body: &pb::MessageBody) -> Result<&'static str, Error> {
        let text_bytes: usize = body
            .contents
            .iter()
            .map(|content| content.text.as_deref().map_or(0, str::len))
            .sum();
        if text_bytes > self.limits.max_text_bytes {
            return Err(Error::MessageTooLarge {
                size: text_bytes,
                limit: self.limits.max_text_bytes,
            });
        }
        Ok(crate::history::message_kind(body))
    }
}

impl SessionContext {
    /// The device this session reads its queues as.
    pub(crate) fn device(&self) -> Device {
        Device {
            user: self.user.clone(),
            resource: self.resource.clone(),
        }
    }
}

/// The SDK shows a message as from `MessageBody.from` to `MessageBody.to` (PROTOCOL.md §4.6),
/// and the body is relayed byte for byte, so both must name the parties the server routes
/// it between: the session's own user, and the meta's recipient. The SDK fills them with the
/// names it logged in and sends to, in the case it was given them.
/// The readers of a group message sent with `receiverList` (`ROUTE_DIRECT`, `directedUsers`):
/// those users and the sender; `None` for a message to every member.
fn directed_audience(meta: &pb::Meta, sender: &UserName) -> Result<Option<Audience>, Error> {
    if meta.directed_users.is_empty() {
        return Ok(None);
    }
    if meta.directed_users.len() > MAX_DIRECTED_USERS {
        return Err(Error::InvalidArgument(format!(
            "receiverList names more than {MAX_DIRECTED_USERS} users"
        )));
    }
    let mut users = vec![sender.clone()];
    for name in &meta.directed_users {
        let user =
            UserName::parse(name).ok_or_else(|| Error::RecipientNotFound(name.to_owned()))?;
        if !users.contains(&user) {
            users.push(user);
        }
    }
    Ok(Some(Audience::Listed(users)))
}

/// Users one `receiverList` may name.
const MAX_DIRECTED_USERS: usize = 100;

fn check_parties(
    body: &pb::MessageBody,
    sender: &UserName,
    recipient: &UserName,
) -> Result<(), Error> {
    // Compared in place: this runs for every message, and a name equal to a valid (lowercase)
    // user name but for case is valid itself, so nothing needs parsing or allocating.
    let names = |jid: &Option<pb::Jid>, user: &UserName| {
        jid.as_ref()
            .and_then(|jid| jid.name.as_deref())
            .is_some_and(|name| name.eq_ignore_ascii_case(user.as_str()))
    };
    if !names(&body.from, sender) {
        return Err(Error::ImpersonatedParty("from"));
    }
    if !names(&body.to, recipient) {
        return Err(Error::ImpersonatedParty("to"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(from: Option<&str>, to: Option<&str>) -> pb::MessageBody {
        let jid = |name: &str| pb::Jid {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        pb::MessageBody {
            from: from.map(jid),
            to: to.map(jid),
            ..Default::default()
        }
    }

    #[test]
    fn the_body_must_name_the_session_and_the_recipient() {
        let (leo, roy) = (
            UserName::parse("leo").expect("valid"),
            UserName::parse("roy").expect("valid"),
        );
        // The SDK names users as it was given them; names are case-insensitive.
        assert!(check_parties(&body(Some("Leo"), Some("ROY")), &leo, &roy).is_ok());
        for (from, to, field) in [
            (Some("alice"), Some("roy"), "from"),
            (None, Some("roy"), "from"),
            (Some(""), Some("roy"), "from"),
            (Some("leo"), Some("carol"), "to"),
            (Some("leo"), None, "to"),
        ] {
            match check_parties(&body(from, to), &leo, &roy) {
                Err(Error::ImpersonatedParty(named)) => assert_eq!(named, field),
                other => panic!("{from:?} → {to:?}: {other:?}"),
            }
        }
    }
}
