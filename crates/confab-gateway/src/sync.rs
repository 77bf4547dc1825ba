//! SYNC (send a meta, pull a queue) and UNREAD (list waiting queues), after login.

use std::future::Future;
use std::pin::Pin;

use confab_core::{
    escaped::Escaped,
    ids::{QueueName, RoomId},
    messages::{PullPage, SendAck, SessionContext},
    now_ms,
};
use confab_proto::{
    pb::{self, meta::NameSpace, muc_body::Operation as MucOperation, status::ErrorCode},
    status, Outbound, StoredPage,
};
use prost::Message as _;

use crate::{
    error::{is_internal, room_status, send_status},
    Gateway,
};

/// UNREAD, also the SDK's heartbeat: the queues holding messages, and the server clock, which
/// the SDK compares with the token expiry (PROTOCOL.md §4.3, §6.3). Also returns the queues
/// listed, which the SDK pulls next.
pub(crate) async fn unread(
    gateway: &Gateway,
    session: &SessionContext,
) -> (Outbound, Vec<QueueName>) {
    let app_key = session.app.key.to_string();
    match gateway.messages.unread(session).await {
        Ok(queues) => {
            let unread = queues
                .iter()
                .map(|(queue, count)| pb::MetaQueue {
                    queue: Some(queue_jid(&app_key, queue)),
                    n: Some(*count),
                })
                .collect();
            let listed = queues.into_iter().map(|(queue, _)| queue).collect();
            let reply = Outbound::Unread(pb::CommUnreadDl {
                status: Some(status::ok()),
                unread,
                timestamp: Some(now_ms()),
            });
            (reply, listed)
        }
        Err(error) => {
            tracing::error!(error = %Escaped(&error), "unread failed");
            let reply = Outbound::Unread(pb::CommUnreadDl {
                status: Some(send_status(&error)),
                unread: Vec::new(),
                timestamp: Some(now_ms()),
            });
            (reply, Vec::new())
        }
    }
}

/// A SYNC frame that sends a meta (the SDK's `send()`): submitted for storage at once, so
/// sends keep their order; the returned future gives the ack after the commit, or the refusal.
pub(crate) fn submit_send<'a>(
    gateway: &'a Gateway,
    session: &'a SessionContext,
    meta: pb::Meta,
) -> Pin<Box<dyn Future<Output = Outbound> + Send + 'a>> {
    let client_id = meta.id;
    if meta.ns == Some(NameSpace::Muc as i32) {
        return Box::pin(room_membership(gateway, session, meta));
    }
    let submitted = gateway.messages.submit(session, meta);
    Box::pin(async move {
        match submitted {
            Ok(pending) => send_reply(client_id, pending.await),
            Err(error) => send_reply(client_id, Err(error)),
        }
    })
}

/// `joinChatRoom` / `leaveChatRoom`: a MUC meta to the system queue (PROTOCOL.md §4.10). The
/// join names no device (API-SURFACE detail 5): it is the session's. Answered like a send, the
/// join with the room's state in `chatroomInfo`.
async fn room_membership(gateway: &Gateway, session: &SessionContext, meta: pb::Meta) -> Outbound {
    let client_id = meta.id;
    let refuse = |status: pb::Status| {
        Outbound::Sync(pb::CommSyncDl {
            status: Some(status),
            meta_id: client_id,
            timestamp: Some(now_ms()),
            ..Default::default()
        })
    };
    let Some(body) = meta
        .payload
        .as_ref()
        .and_then(|payload| pb::MucBody::decode(payload.clone()).ok())
    else {
        return refuse(status::error(ErrorCode::WrongParameter, "no MUC body"));
    };
    // A session speaks for itself only.
    let speaks_for = |jid: &Option<pb::Jid>| {
        jid.as_ref()
            .and_then(|jid| jid.name.as_deref())
            .is_none_or(|name| name == session.user.as_str())
    };
    if !speaks_for(&meta.from) || !speaks_for(&body.from) {
        return refuse(status::error(ErrorCode::Fail, status::REASON_NO_PERMISSION));
    }
    let room_name = body
        .muc_id
        .as_ref()
        .and_then(|jid| jid.name.clone())
        .unwrap_or_default();
    if body.is_chatroom != Some(true) {
        return refuse(status::error(
            ErrorCode::WrongParameter,
            "only chat rooms are joined this way",
        ));
    }
    let Some(room) = RoomId::parse(&room_name) else {
        return refuse(status::error(
            ErrorCode::Fail,
            "group ID illegal, please check it",
        ));
    };
    let app = &session.app.key;
    let operation = body.operation.map(MucOperation::try_from);
    let answered = match operation {
        Some(Ok(MucOperation::Join)) => gateway
            .rooms
            .join(
                (app, &session.user, &session.resource),
                &room,
                body.ext.as_deref().unwrap_or(""),
                body.leave_other_rooms.unwrap_or(false),
            )
            .await
            .map(|joined| Some(joined.chatroom_info(&session.user))),
        Some(Ok(MucOperation::Leave)) => gateway
            .rooms
            .leave(app, &session.user, &room)
            .await
            .map(|()| None),
        _ => {
            return refuse(status::error(
                ErrorCode::WrongParameter,
                "unknown MUC operation",
            ))
        }
    };
    match answered {
        Ok(info) => {
            let now = now_ms();
            let reply_body = pb::MucBody {
                muc_id: body.muc_id,
                status: Some(pb::muc_body::Status {
                    error_code: Some(0),
                    description: None,
                    chatroom_info: info,
                }),
                is_chatroom: Some(true),
                ..Default::default()
            };
            Outbound::Sync(pb::CommSyncDl {
                status: Some(status::ok()),
                meta_id: client_id,
                server_id: client_id,
                timestamp: Some(now),
                metas: vec![pb::Meta {
                    id: client_id,
                    ns: Some(NameSpace::Muc as i32),
                    timestamp: Some(now),
                    payload: Some(reply_body.encode_to_vec().into()),
                    ..Default::default()
                }],
                ..Default::default()
            })
        }
        Err(confab_core::Error::Room(error)) => {
            tracing::debug!(error = %Escaped(&error), "room join or leave refused");
            refuse(room_status(&error, Some(room.as_str())))
        }
        Err(error) => {
            if is_internal(&error) {
                tracing::error!(error = %Escaped(&error), "room join or leave failed");
            }
            refuse(send_status(&error))
        }
    }
}

fn send_reply(client_id: Option<u64>, sent: Result<SendAck, confab_core::Error>) -> Outbound {
    match sent {
        // Sent only now: `send` returns after the message is durably stored.
        Ok(ack) => Outbound::Sync(pb::CommSyncDl {
            status: Some(status::ok()),
            meta_id: client_id,
            server_id: Some(ack.server_id.0),
            timestamp: Some(ack.timestamp_ms),
            // An edit's ack tells the sender's SDK who edited and how often (PROTOCOL.md §4.9).
            metas: ack.notify.into_iter().collect(),
            ..Default::default()
        }),
        Err(error) => {
            if is_internal(&error) {
                tracing::error!(error = %Escaped(&error), "send failed");
            } else {
                tracing::debug!(error = %Escaped(&error), "send refused");
            }
            Outbound::Sync(pb::CommSyncDl {
                status: Some(send_status(&error)),
                meta_id: client_id,
                timestamp: Some(now_ms()),
                ..Default::default()
            })
        }
    }
}

/// The queue a pull names; `None` for the system queue (no name), which never holds anything
/// here.
pub(crate) fn queue_of(queue_jid: &pb::Jid) -> Option<QueueName> {
    let name = queue_jid.name.as_deref().unwrap_or("");
    let domain = queue_jid
        .domain
        .as_deref()
        .unwrap_or(confab_proto::USER_DOMAIN);
    QueueName::from_jid(name, domain)
}

/// A pull of `queue_jid` (`queue` is its `queue_of`). Also returns the queue when the reply ends
/// the SDK's pull of it (`isLast`, or an error).
pub(crate) async fn pull(
    gateway: &Gateway,
    session: &SessionContext,
    queue_jid: pb::Jid,
    queue: Option<QueueName>,
    key: Option<u64>,
) -> (Outbound, Option<QueueName>) {
    let Some(queue) = queue else {
        return (drained(queue_jid), None);
    };
    match gateway.messages.pull(session, &queue, key).await {
        // Metas always come with `nextKey` and never with `isLast` (PROTOCOL.md §4.4).
        Ok(page) if !page.metas.is_empty() => (page_frame(queue_jid, page), None),
        Ok(_) => (drained(queue_jid), Some(queue)),
        Err(error) => {
            tracing::error!(error = %Escaped(&error), queue = queue.as_str(), "pull failed");
            let reply = Outbound::Sync(pb::CommSyncDl {
                status: Some(send_status(&error)),
                queue: Some(queue_jid),
                timestamp: Some(now_ms()),
                ..Default::default()
            });
            (reply, Some(queue))
        }
    }
}

/// The first page of `queue`, to send without a pull (`pulls.rs`); `queue_jid` names it.
/// `None` when the queue holds nothing any more (another device acknowledged it). If the read
/// fails (logged), a NOTICE instead, so the SDK pulls it itself.
pub(crate) async fn push(
    gateway: &Gateway,
    session: &SessionContext,
    queue: &QueueName,
    queue_jid: pb::Jid,
) -> Option<Outbound> {
    match gateway.messages.pull(session, queue, None).await {
        Ok(page) if !page.metas.is_empty() => Some(page_frame(queue_jid, page)),
        Ok(_) => None,
        Err(error) => {
            tracing::error!(error = %Escaped(&error), queue = queue.as_str(), "push failed");
            Some(Outbound::Notice(pb::CommNotice {
                queue: Some(queue_jid),
            }))
        }
    }
}

fn page_frame(queue_jid: pb::Jid, page: PullPage) -> Outbound {
    Outbound::Page(StoredPage {
        is_last: None,
        status: Some(status::ok()),
        metas: page.metas,
        next_key: page.next_key,
        queue: Some(queue_jid),
        timestamp: Some(now_ms()),
    })
}

fn drained(queue: pb::Jid) -> Outbound {
    Outbound::Sync(pb::CommSyncDl {
        status: Some(status::ok()),
        queue: Some(queue),
        is_last: Some(true),
        timestamp: Some(now_ms()),
        ..Default::default()
    })
}

pub(crate) fn queue_jid(app_key: &str, queue: &QueueName) -> pb::Jid {
    let (name, domain) = queue.jid_parts();
    pb::Jid {
        app_key: Some(app_key.to_owned()),
        name: Some(name.to_owned()),
        domain: Some(domain.to_owned()),
        client_resource: None,
    }
}
