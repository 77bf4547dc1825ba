//! SYNC (send a meta, pull a queue) and UNREAD (list waiting queues), after login.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use confab_core::{
    chat::{SendAck, SessionContext},
    ids::QueueName,
    now_ms,
};
use confab_proto::{
    encode_outbound,
    pb::{self, status::ErrorCode},
    status, Outbound, StoredPage,
};

use crate::{
    error::{is_internal, send_status},
    Gateway,
};

/// UNREAD, also the SDK's heartbeat: the queues holding messages, and the server clock, which
/// the SDK compares with the token expiry (PROTOCOL.md §4.3, §6.3).
pub(crate) async fn unread(gateway: &Gateway, session: &SessionContext) -> Outbound {
    let app_key = session.app.key.to_string();
    match gateway.chat.unread(session).await {
        Ok(queues) => Outbound::Unread(pb::CommUnreadDl {
            status: Some(status::ok()),
            unread: queues
                .into_iter()
                .map(|(queue, count)| pb::MetaQueue {
                    queue: Some(queue_jid(&app_key, &queue)),
                    n: Some(count),
                })
                .collect(),
            timestamp: Some(now_ms()),
        }),
        Err(error) => {
            tracing::error!(%error, "unread failed");
            Outbound::Unread(pb::CommUnreadDl {
                status: Some(send_status(&error)),
                unread: Vec::new(),
                timestamp: Some(now_ms()),
            })
        }
    }
}

/// A SYNC frame that only sends a meta (the SDK's `send()`): queued for storage at once; the
/// ack comes from the returned future after the commit, so the session can read on meanwhile.
pub(crate) enum Submitted {
    /// Refused before storage: the encoded answer, to write now.
    Answer(Bytes),
    Pending(Pin<Box<dyn Future<Output = Outbound> + Send>>),
}

pub(crate) fn submit_send(
    gateway: &Gateway,
    session: &SessionContext,
    meta: pb::Meta,
) -> Submitted {
    let client_id = meta.id;
    match gateway.chat.submit(session, meta) {
        Ok(pending) => Submitted::Pending(Box::pin(
            async move { send_reply(client_id, pending.await) },
        )),
        Err(error) => Submitted::Answer(encode_outbound(&send_reply(client_id, Err(error)))),
    }
}

/// A SYNC frame: the send (if any) is answered first, then the pull (if any), as the hosted
/// server does; the JS SDKs never combine the two.
pub(crate) async fn sync(
    gateway: &Gateway,
    session: &SessionContext,
    request: pb::CommSyncUl,
) -> Vec<Outbound> {
    let mut replies = Vec::with_capacity(1);
    if let Some(meta) = request.meta {
        replies.push(send(gateway, session, meta).await);
    }
    if let Some(queue) = request.queue {
        replies.push(pull(gateway, session, queue, request.key).await);
    } else if replies.is_empty() {
        replies.push(Outbound::Sync(pb::CommSyncDl {
            status: Some(status::error(
                ErrorCode::MissingParameter,
                "no meta or queue",
            )),
            timestamp: Some(now_ms()),
            ..Default::default()
        }));
    }
    replies
}

async fn send(gateway: &Gateway, session: &SessionContext, meta: pb::Meta) -> Outbound {
    let client_id = meta.id;
    send_reply(client_id, gateway.chat.send(session, meta).await)
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
                tracing::error!(%error, "send failed");
            } else {
                tracing::debug!(%error, "send refused");
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

async fn pull(
    gateway: &Gateway,
    session: &SessionContext,
    queue_jid: pb::Jid,
    key: Option<u64>,
) -> Outbound {
    let name = queue_jid.name.as_deref().unwrap_or("");
    let domain = queue_jid
        .domain
        .as_deref()
        .unwrap_or(confab_proto::USER_DOMAIN);
    let Some(queue) = QueueName::from_jid(name, domain) else {
        // The system queue (no name) never holds anything here.
        return drained(queue_jid);
    };
    match gateway.chat.pull(session, &queue, key).await {
        // Metas always come with `nextKey` and never with `isLast` (PROTOCOL.md §4.4).
        Ok(page) if !page.metas.is_empty() => Outbound::Page(StoredPage {
            status: Some(status::ok()),
            metas: page.metas,
            next_key: page.next_key,
            queue: Some(queue_jid),
            timestamp: Some(now_ms()),
        }),
        Ok(_) => drained(queue_jid),
        Err(error) => {
            tracing::error!(%error, queue = queue.as_str(), "pull failed");
            Outbound::Sync(pb::CommSyncDl {
                status: Some(send_status(&error)),
                queue: Some(queue_jid),
                timestamp: Some(now_ms()),
                ..Default::default()
            })
        }
    }
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
