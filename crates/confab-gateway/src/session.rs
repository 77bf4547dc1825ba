//! One connection, one task: wait for PROVISION, then `select!` over client frames, inbox
//! events (notices, kicks), the idle timer and shutdown. Errors end this connection only.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use confab_core::{bus::KickReason, chat::SessionContext, ids::QueueName, now_ms};
use confab_proto::{
    codec::encode_raw,
    decode_inbound, encode_outbound,
    pb::{self, meta::NameSpace, statistics_body::Operation, status::ErrorCode},
    status, FrameError, Inbound, Outbound, USER_DOMAIN,
};
use futures_util::{
    stream::{FuturesOrdered, StreamExt},
    SinkExt,
};
use prost::Message as _;
use tokio::time::{sleep_until, timeout, Instant};
use tracing::Instrument;

use crate::{
    login::{self, LoggedIn},
    pulls::{Pulls, Tell},
    sync::{self, queue_jid},
    Gateway,
};

/// Replies of one session waiting (for storage, mostly) at once; a client with more in flight
/// is not read until one completes. The SDK itself keeps far fewer.
const MAX_REPLIES_WAITING: usize = 64;

/// How long a kicked session waits for the SDK to close by itself.
const KICK_GRACE: Duration = Duration::from_secs(2);

// WebSocket close codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
const CLOSE_INVALID_PAYLOAD: u16 = 1007;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

/// Why the loop ended, and what to tell the peer.
struct Ending {
    code: u16,
    reason: &'static str,
}

pub(crate) async fn run(gateway: Arc<Gateway>, mut socket: WebSocket) {
    let Some(logged_in) = provision(&gateway, &mut socket).await else {
        return;
    };
    let LoggedIn {
        context,
        id,
        inbox,
        reply,
    } = logged_in;
    let span = tracing::info_span!("session", app = %context.app.key, user = %context.user, resource = %context.resource);
    async {
        let ending = if send(&mut socket, &reply).await {
            serve(&gateway, &mut socket, &context, &inbox).await
        } else {
            None
        };
        gateway
            .registry
            .unregister(&context.app.key, &context.user, id);
        if let Some(ending) = ending {
            close(&mut socket, ending).await;
        }
        tracing::info!("session ended");
    }
    .instrument(span)
    .await;
}

/// Reads the first frame, which must be a PROVISION that logs in.
async fn provision(gateway: &Gateway, socket: &mut WebSocket) -> Option<LoggedIn> {
    let first = match timeout(gateway.config.provision_timeout, socket.recv()).await {
        Ok(Some(Ok(message))) => message,
        Ok(_) => return None,
        Err(_) => {
            close(
                socket,
                Ending {
                    code: CLOSE_POLICY,
                    reason: "no login in time",
                },
            )
            .await;
            return None;
        }
    };
    let frame = match first {
        Message::Binary(bytes) => bytes,
        Message::Close(_) => return None,
        _ => {
            close(
                socket,
                Ending {
                    code: CLOSE_UNSUPPORTED_DATA,
                    reason: "binary frames only",
                },
            )
            .await;
            return None;
        }
    };
    let refused = match decode_inbound(&frame, gateway.config.max_frame_bytes) {
        Ok(Inbound::Provision { guid, auth, body }) => {
            match login::login(gateway, &guid, &auth, &body).await {
                Ok(logged_in) => return Some(logged_in),
                Err(reply) => reply,
            }
        }
        Ok(_) => login::failure(status::error(ErrorCode::Unauthorized, "log in first")),
        Err(error) => {
            tracing::info!(%error, "malformed first frame");
            login::failure(status::error(ErrorCode::WrongParameter, error.to_string()))
        }
    };
    if send(socket, &refused).await {
        close(
            socket,
            Ending {
                code: CLOSE_POLICY,
                reason: "login failed",
            },
        )
        .await;
    }
    None
}

async fn serve(
    gateway: &Gateway,
    socket: &mut WebSocket,
    context: &SessionContext,
    inbox: &confab_core::bus::SessionInbox,
) -> Option<Ending> {
    let mut session = Session {
        gateway,
        context,
        app_key: context.app.key.to_string(),
        pulls: Pulls::default(),
        waiting: FuturesOrdered::new(),
        unflushed: false,
    };
    // Both made once: building them anew on every wake-up would register a timer and a
    // waiter each time. A frame only moves `last_frame`; the timer checks it when it fires.
    let idle_timeout = gateway.config.idle_timeout;
    let mut last_frame = Instant::now();
    let idle = sleep_until(last_frame + idle_timeout);
    let shutdown = gateway.shutdown.cancelled();
    tokio::pin!(idle, shutdown);
    loop {
        tokio::select! {
            // In order; the flush comes last, so it waits for everything that is ready now.
            biased;
            () = &mut shutdown => {
                return Some(Ending { code: CLOSE_GOING_AWAY, reason: "server shutting down" });
            }
            () = &mut idle => {
                let deadline = last_frame + idle_timeout;
                if Instant::now() >= deadline {
                    tracing::info!("idle timeout");
                    return Some(Ending { code: CLOSE_GOING_AWAY, reason: "idle" });
                }
                idle.as_mut().reset(deadline);
            }
            // Cancel safe: a wake-up lost to another branch stays stored for the next call.
            () = inbox.wait() => {
                let pending = inbox.take();
                for queue in pending.notices {
                    if !session.tell_new(socket, queue).await {
                        return None;
                    }
                }
                if let Some(reason) = pending.kick {
                    tracing::info!(?reason, "kicked");
                    if !send(socket, &kick_frame(context, reason)).await {
                        return None;
                    }
                    // The SDK acts on the kick only if it handles the frame before seeing the
                    // socket close (it decodes asynchronously); it then closes by itself and
                    // does not reconnect. So let it close first, within a bound.
                    if await_client_close(socket, KICK_GRACE).await {
                        return None;
                    }
                    return Some(Ending { code: CLOSE_NORMAL, reason: "kicked" });
                }
            }
            // Cancel safe: `FuturesOrdered::next` keeps every future it has not yet returned.
            Some(reply) = session.waiting.next(), if !session.waiting.is_empty() => {
                if !session.write(socket, reply).await {
                    return None;
                }
            }
            // Cancel safe: `recv` is `StreamExt::next` on the socket. Reading pauses while the
            // pipeline of replies is full, which is the backpressure on a fast client.
            message = socket.recv(), if session.waiting.len() < MAX_REPLIES_WAITING => {
                let frame = match message {
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Text(_))) => {
                        return Some(Ending { code: CLOSE_UNSUPPORTED_DATA, reason: "binary frames only" });
                    }
                    Some(Ok(Message::Close(_))) | None => return None,
                    Some(Err(error)) => {
                        tracing::info!(%error, "socket error");
                        return None;
                    }
                };
                last_frame = Instant::now();
                if let Err(ending) = session.handle(&frame) {
                    return Some(ending);
                }
            }
            () = std::future::ready(()), if session.unflushed => {
                if socket.flush().await.is_err() {
                    return None;
                }
                session.unflushed = false;
            }
        }
    }
}

/// A reply that waits (for storage, for a read), written when it is ready, in request order.
type Waiting<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

/// A frame to write, and what writing it tells the SDK about its pulls.
struct Reply {
    /// Encoded.
    frame: Option<Bytes>,
    effect: Effect,
}

enum Effect {
    None,
    /// UNREAD's answer: the SDK now pulls these queues.
    UnreadAnswered(Vec<QueueName>),
    /// The frame ends the SDK's pull of this queue (or a push found nothing to send).
    PullEnded(QueueName),
}

impl Reply {
    fn frame(frame: Outbound) -> Reply {
        Reply::with(Some(frame), Effect::None)
    }

    fn with(frame: Option<Outbound>, effect: Effect) -> Reply {
        Reply {
            frame: frame.as_ref().map(encode_outbound),
            effect,
        }
    }
}

/// One logged-in session's state between wake-ups.
struct Session<'a> {
    gateway: &'a Gateway,
    context: &'a SessionContext,
    app_key: String,
    pulls: Pulls,
    waiting: FuturesOrdered<Waiting<'a>>,
    /// Frames are queued with `feed` and written when nothing else is ready, so the frames one
    /// wake-up produces (an ack and a page, say) leave in one write.
    unflushed: bool,
}

impl<'a> Session<'a> {
    /// Runs one client frame: its reply joins the pipeline.
    fn handle(&mut self, frame: &Bytes) -> Result<(), Ending> {
        let inbound = match decode_inbound(frame, self.gateway.config.max_frame_bytes) {
            Ok(inbound) => inbound,
            Err(error @ FrameError::TooLarge { .. }) => {
                tracing::info!(%error, "frame refused");
                return Err(Ending {
                    code: CLOSE_TOO_BIG,
                    reason: "frame too large",
                });
            }
            Err(error) => {
                tracing::info!(%error, "malformed frame");
                return Err(Ending {
                    code: CLOSE_INVALID_PAYLOAD,
                    reason: "malformed frame",
                });
            }
        };
        let (gateway, context) = (self.gateway, self.context);
        match inbound {
            Inbound::Unread => self.waiting.push_back(Box::pin(async move {
                let (frame, listed) = sync::unread(gateway, context).await;
                Reply::with(Some(frame), Effect::UnreadAnswered(listed))
            })),
            // The hosted server answers a send and a pull in one SYNC, send first; the JS SDKs
            // never combine them.
            Inbound::Sync(pb::CommSyncUl {
                meta, queue, key, ..
            }) => {
                if meta.is_none() && queue.is_none() {
                    self.waiting
                        .push_back(Box::pin(std::future::ready(Reply::frame(Outbound::Sync(
                            pb::CommSyncDl {
                                status: Some(status::error(
                                    ErrorCode::MissingParameter,
                                    "no meta or queue",
                                )),
                                timestamp: Some(now_ms()),
                                ..Default::default()
                            },
                        )))));
                }
                if let Some(meta) = meta {
                    let sent = sync::submit_send(gateway, context, meta);
                    self.waiting
                        .push_back(Box::pin(async move { Reply::frame(sent.await) }));
                }
                if let Some(queue_jid) = queue {
                    let queue = sync::queue_of(&queue_jid);
                    if let Some(queue) = &queue {
                        self.pulls.pull_requested(queue);
                    }
                    self.waiting.push_back(Box::pin(async move {
                        let (frame, ended) =
                            sync::pull(gateway, context, queue_jid, queue, key).await;
                        Reply::with(Some(frame), ended.map_or(Effect::None, Effect::PullEnded))
                    }));
                }
            }
            Inbound::Logout(_) => {
                self.waiting
                    .push_back(Box::pin(std::future::ready(Reply::frame(
                        Outbound::Logout(pb::Logout {
                            status: Some(status::ok()),
                            ..Default::default()
                        }),
                    ))))
            }
            Inbound::Provision { .. } => {
                self.waiting
                    .push_back(Box::pin(std::future::ready(Reply::frame(login::failure(
                        status::error(ErrorCode::WrongParameter, "already logged in"),
                    )))))
            }
            Inbound::Unknown { command } => {
                tracing::info!(command, "unknown command");
                let answer = pb::CommSyncDl {
                    status: Some(status::error(ErrorCode::UnknownCommand, "unknown command")),
                    timestamp: Some(now_ms()),
                    ..Default::default()
                };
                self.waiting.push_back(Box::pin(std::future::ready(Reply {
                    frame: Some(encode_raw(command, answer.encode_to_vec().into())),
                    effect: Effect::None,
                })));
            }
        }
        Ok(())
    }

    /// Something new is in `queue`: a NOTICE, a page, or nothing yet (`pulls.rs`).
    async fn tell_new(&mut self, socket: &mut WebSocket, queue: QueueName) -> bool {
        match self.pulls.on_new(&queue, Instant::now().into_std()) {
            Tell::Notice => {
                let jid = queue_jid(&self.app_key, &queue);
                let notice = Outbound::Notice(pb::CommNotice { queue: Some(jid) });
                self.feed(socket, encode_outbound(&notice)).await
            }
            Tell::Push => {
                let jid = queue_jid(&self.app_key, &queue);
                let (gateway, context) = (self.gateway, self.context);
                self.waiting.push_back(Box::pin(async move {
                    let frame = sync::push(gateway, context, &queue, jid).await;
                    let effect = match frame {
                        Some(_) => Effect::None,
                        None => Effect::PullEnded(queue),
                    };
                    Reply::with(frame, effect)
                }));
                true
            }
            Tell::Nothing => true,
        }
    }

    /// Writes a reply from the pipeline and applies what it tells the SDK.
    async fn write(&mut self, socket: &mut WebSocket, reply: Reply) -> bool {
        if let Some(frame) = reply.frame {
            if !self.feed(socket, frame).await {
                return false;
            }
        }
        match reply.effect {
            Effect::None => true,
            Effect::UnreadAnswered(listed) => {
                self.pulls.unread_answered(&listed);
                true
            }
            Effect::PullEnded(queue) => {
                if self.pulls.pull_ended(&queue) {
                    // Something arrived during the pull that its reply may not hold.
                    return Box::pin(self.tell_new(socket, queue)).await;
                }
                true
            }
        }
    }

    /// Queues a frame; the session loop flushes (a full write buffer also does).
    async fn feed(&mut self, socket: &mut WebSocket, frame: Bytes) -> bool {
        self.unflushed = true;
        socket.feed(Message::Binary(frame)).await.is_ok()
    }
}

/// The STATISTIC meta that tells the SDK why it is being disconnected, so it does not
/// reconnect (PROTOCOL.md §6.4). Pushed directly, as the hosted server does.
fn kick_frame(context: &SessionContext, reason: KickReason) -> Outbound {
    let operation = match reason {
        KickReason::LoginOnAnotherDevice => Operation::UserLoginAnotherDevice,
        KickReason::UserRemoved => Operation::UserRemoved,
        KickReason::PasswordChanged => Operation::UserKickedByChangePassword,
        KickReason::ForcedLogout => Operation::UserKickedByOtherDevice,
    };
    let system = pb::Jid {
        domain: Some(USER_DOMAIN.to_owned()),
        ..Default::default()
    };
    let now = now_ms();
    let body = pb::StatisticsBody {
        operation: Some(operation as i32),
        ..Default::default()
    };
    Outbound::Sync(pb::CommSyncDl {
        status: Some(status::ok()),
        queue: Some(system.clone()),
        metas: vec![pb::Meta {
            id: Some(now << 22),
            from: Some(system),
            to: Some(pb::Jid {
                app_key: Some(context.app.key.to_string()),
                name: Some(context.user.to_string()),
                domain: Some(USER_DOMAIN.to_owned()),
                client_resource: Some(context.resource.clone()),
            }),
            timestamp: Some(now),
            ns: Some(NameSpace::Statistic as i32),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        }],
        is_last: Some(true),
        timestamp: Some(now),
        ..Default::default()
    })
}

async fn send(socket: &mut WebSocket, frame: &Outbound) -> bool {
    socket
        .send(Message::Binary(encode_outbound(frame)))
        .await
        .is_ok()
}

/// Discards client frames until the client closes (true) or `grace` passes (false).
async fn await_client_close(socket: &mut WebSocket, grace: Duration) -> bool {
    let closed = async {
        loop {
            match socket.recv().await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    };
    timeout(grace, closed).await.is_ok()
}

async fn close(socket: &mut WebSocket, ending: Ending) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: ending.code,
            reason: ending.reason.into(),
        })))
        .await;
}
