//! SYNC (send a meta, pull a queue) and UNREAD (list waiting queues), after login.

use std::future::Future;

use confab_core::{
    escaped::Escaped,
    ids::QueueName,
    messages::{PullPage, SendAck, SessionContext},
    now_ms,
};
use confab_proto::{pb, status, Outbound, StoredPage};

use crate::{
    error::{is_internal, send_status},
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
pub(crate) fn submit_send(
    gateway: &Gateway,
    session: &SessionContext,
    meta: pb::Meta,
) -> impl Future<Output = Outbound> + Send + 'static {
    let client_id = meta.id;
    let submitted = gateway.messages.submit(session, meta);
    async move {
        match submitted {
            Ok(pending) => send_reply(client_id, pending.await),
            Err(error) => send_reply(client_id, Err(error)),
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
