//! One connection, one task: wait for PROVISION, then `select!` over client frames, inbox
//! events (notices, kicks), the pipeline of replies, the writer, the idle timer and shutdown.
//! Errors end this connection only.
//!
//! Frames to the client go through `Outbox`: queued, then written by a write that the loop
//! polls like any other branch, so a client that does not read stalls nothing but its own
//! writes. A write that has not completed within `write_timeout` ends the session; while the
//! queue holds `outbound_queue_bytes`, the session takes no more replies or inbox events, so a
//! slow reader slows itself down instead of growing the queue.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use confab_core::{
    bus::{KickReason, RoomBacklog},
    escaped::Escaped,
    ids::QueueName,
    messages::SessionContext,
    now_ms,
};
use confab_proto::{
    codec::{encode_raw, StoredPage},
    decode_inbound, encode_outbound,
    pb::{self, meta::NameSpace, statistics_body::Operation, status::ErrorCode},
    status::{self, REASON_TRAFFIC_CONTROL},
    FrameError, Inbound, Outbound, USER_DOMAIN,
};
use futures_util::{
    stream::{FuturesOrdered, SplitSink, SplitStream, StreamExt},
    SinkExt,
};
use prost::Message as _;
use std::collections::VecDeque;
use tokio::time::{sleep_until, timeout, Instant};
use tracing::Instrument;

use crate::{
    login::{self, LoggedIn},
    presence::PresenceOutbox,
    pulls::{Pulls, Tell},
    sync::{self, queue_jid},
    traffic::SendBudget,
    Gateway,
};

/// Replies of one session waiting (for storage, mostly) at once; a client with more in flight
/// is not read until one completes. The SDK itself keeps far fewer.
const MAX_REPLIES_WAITING: usize = 64;

/// How long a kicked session waits for the SDK to close by itself.
const KICK_GRACE: Duration = Duration::from_secs(2);

/// At shutdown, after the replies owed: how long writing the close frame and waiting for the
/// client's may take (the server gives sessions 5 s in all, `shutdown_flush_timeout` included).
const SHUTDOWN_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// At shutdown, between the last reply owed and the close frame. The SDK decodes frames
/// asynchronously and fails every pending send as soon as it sees the socket close, so an
/// ack written just before the close frame would reach it too late: it would report a stored
/// message as failed, and an app that resends it would make a duplicate.
const SHUTDOWN_ACK_SETTLE: Duration = Duration::from_secs(1);

// WebSocket close codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
const CLOSE_INVALID_PAYLOAD: u16 = 1007;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

/// A close frame to send.
struct Close {
    code: u16,
    reason: &'static str,
}

/// Why the loop ended, and how to leave.
enum Ending {
    /// The client is gone, or does not read: nothing more is written.
    Gone,
    /// Write what is queued, then the close frame.
    Close(Close),
    /// Write what is queued (the kick frame last), then let the SDK close first (it acts on the
    /// kick only if it handles the frame before it sees the socket close; it then closes by
    /// itself and does not reconnect).
    Kicked,
    /// Shutdown: the replies owed are written (or their time is up); close with 1001, after
    /// a pause if there were any (`SHUTDOWN_ACK_SETTLE`).
    ShuttingDown { replies_owed: bool },
}

type SocketSink = SplitSink<WebSocket, Message>;
type SocketStream = SplitStream<WebSocket>;

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
    let span = tracing::info_span!(
        "session",
        app = ?context.app.key.as_str(),
        user = ?context.user.as_str(),
        resource = ?context.resource,
    );
    async {
        let (sink, mut stream) = socket.split();
        let mut outbox = Outbox::new(sink, &gateway);
        outbox.push(encode_outbound(&reply));
        announce_presence(&gateway, &context, true);
        let ending = serve(&gateway, &mut outbox, &mut stream, &context, &inbox).await;
        // Unregistered before the goodbye: from now on the user counts as offline here and
        // nothing more is delivered to this session.
        gateway
            .registry
            .unregister(&context.app.key, &context.user, id);
        announce_presence(&gateway, &context, false);
        mark_room_absence(&gateway, &context);
        leave(&gateway, outbox, stream, ending).await;
        tracing::info!("session ended");
    }
    .instrument(span)
    .await;
}

/// Tells the device's presence subscribers it came online or went offline, beside the session:
/// neither the login's answer nor the goodbye waits for it.
fn announce_presence(gateway: &Gateway, context: &SessionContext, online: bool) {
    let presence = Arc::clone(&gateway.presence);
    let (app, user, resource) = (
        context.app.key.clone(),
        context.user.clone(),
        context.resource.clone(),
    );
    let task = async move {
        let announced = if online {
            presence.device_online(&app, &user, &resource).await
        } else {
            presence.device_offline(&app, &user, &resource).await
        };
        if let Err(error) = announced {
            tracing::warn!(error = %Escaped(&error), online, "presence change not announced");
        }
    };
    tokio::spawn(task.in_current_span());
}

/// The user's last session on this node ended: if they are in a room, their rooms count them
/// absent from now (`RoomService::sweep_absent` removes them after the grace).
fn mark_room_absence(gateway: &Gateway, context: &SessionContext) {
    let (app, user) = (&context.app.key, &context.user);
    if !gateway.registry.in_a_room(app, user) || !gateway.registry.devices(app, user).is_empty() {
        return;
    }
    let rooms = Arc::clone(&gateway.rooms);
    let (app, user) = (app.clone(), user.clone());
    let task = async move {
        if let Err(error) = rooms.user_went_offline(&app, &user).await {
            tracing::warn!(error = %Escaped(&error), "room absence not recorded");
        }
    };
    tokio::spawn(task.in_current_span());
}

/// Writes what the ending calls for, each step bounded in time, and drops the connection.
async fn leave(gateway: &Gateway, mut outbox: Outbox, mut stream: SocketStream, ending: Ending) {
    let write_timeout = gateway.config.write_timeout;
    match ending {
        Ending::Gone => {}
        Ending::Close(close) => {
            if timeout(write_timeout, outbox.write_all()).await.is_ok() {
                let _ = timeout(write_timeout, outbox.close(close)).await;
            }
        }
        Ending::Kicked => {
            if timeout(write_timeout, outbox.write_all()).await.is_ok()
                && !await_client_close(&mut stream, KICK_GRACE).await
            {
                let kicked = Close {
                    code: CLOSE_NORMAL,
                    reason: "kicked",
                };
                let _ = timeout(write_timeout, outbox.close(kicked)).await;
            }
        }
        Ending::ShuttingDown { replies_owed } => {
            if replies_owed {
                tokio::time::sleep(SHUTDOWN_ACK_SETTLE).await;
            }
            let going_away = Close {
                code: CLOSE_GOING_AWAY,
                reason: "server shutting down",
            };
            // The client reads what came before the close frame; dropping the socket with its
            // frames unread could reset the connection before it has.
            let _ = timeout(SHUTDOWN_CLOSE_GRACE, async {
                outbox.close(going_away).await;
                await_client_close(&mut stream, SHUTDOWN_CLOSE_GRACE).await;
            })
            .await;
        }
    }
}

/// Reads the first frame, which must be a PROVISION that logs in.
async fn provision(gateway: &Gateway, socket: &mut WebSocket) -> Option<LoggedIn> {
    let write_timeout = gateway.config.write_timeout;
    let first = match timeout(gateway.config.provision_timeout, socket.recv()).await {
        Ok(Some(Ok(message))) => message,
        Ok(_) => return None,
        Err(_) => {
            let close = Close {
                code: CLOSE_POLICY,
                reason: "no login in time",
            };
            let _ = timeout(write_timeout, send_close(socket, close)).await;
            return None;
        }
    };
    let frame = match first {
        Message::Binary(bytes) => bytes,
        Message::Close(_) => return None,
        _ => {
            let close = Close {
                code: CLOSE_UNSUPPORTED_DATA,
                reason: "binary frames only",
            };
            let _ = timeout(write_timeout, send_close(socket, close)).await;
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
            tracing::info!(error = %Escaped(&error), "malformed first frame");
            login::failure(status::error(ErrorCode::WrongParameter, error.to_string()))
        }
    };
    let _ = timeout(write_timeout, async {
        let sent = socket
            .send(Message::Binary(encode_outbound(&refused)))
            .await;
        if sent.is_ok() {
            let close = Close {
                code: CLOSE_POLICY,
                reason: "login failed",
            };
            send_close(socket, close).await;
        }
    })
    .await;
    None
}

async fn serve(
    gateway: &Gateway,
    outbox: &mut Outbox,
    stream: &mut SocketStream,
    context: &SessionContext,
    inbox: &confab_core::bus::SessionInbox,
) -> Ending {
    let config = &gateway.config;
    let mut session = Session {
        gateway,
        context,
        app_key: context.app.key.to_string(),
        pulls: Pulls::default(),
        presence: PresenceOutbox::default(),
        room: RoomBacklog::default(),
        room_turn: None,
        waiting: FuturesOrdered::new(),
        budget: SendBudget::new(
            &gateway.user_buckets,
            &context.app.key,
            &context.user,
            config.connection_send_rate,
            config.user_send_rate,
        ),
    };
    // The timers are made once: building them anew on every wake-up would register a timer
    // each time. A frame only moves `last_frame` (a write only sets its start); each timer
    // checks when it fires.
    let idle_timeout = config.idle_timeout;
    let mut last_frame = Instant::now();
    let idle = sleep_until(last_frame + idle_timeout);
    let write_deadline = sleep_until(last_frame + config.write_timeout);
    // Set once shutdown begins: from then on nothing is read, and the replies owed (acks of
    // messages already stored) are written until this deadline.
    let mut draining = false;
    let mut replies_owed = false;
    let drain_deadline = sleep_until(last_frame + config.shutdown_flush_timeout);
    let shutdown = gateway.shutdown.cancelled();
    tokio::pin!(idle, write_deadline, drain_deadline, shutdown);
    loop {
        if draining && session.waiting.is_empty() && outbox.is_empty() {
            return Ending::ShuttingDown { replies_owed };
        }
        tokio::select! {
            // In order; starting a write comes last, so it takes everything ready now.
            biased;
            () = &mut shutdown, if !draining => {
                draining = true;
                replies_owed = !session.waiting.is_empty() || !outbox.is_empty();
                drain_deadline.as_mut().reset(Instant::now() + config.shutdown_flush_timeout);
            }
            () = &mut drain_deadline, if draining => {
                tracing::warn!(
                    replies = session.waiting.len(),
                    queued_bytes = outbox.queued_bytes,
                    "shutdown: replies not all written in time"
                );
                return Ending::ShuttingDown { replies_owed };
            }
            () = &mut idle, if !draining => {
                let deadline = last_frame + idle_timeout;
                if Instant::now() >= deadline {
                    tracing::info!("idle timeout");
                    return Ending::Close(Close { code: CLOSE_GOING_AWAY, reason: "idle" });
                }
                idle.as_mut().reset(deadline);
            }
            () = &mut write_deadline => {
                let now = Instant::now();
                match outbox.write_started {
                    Some(started) if now >= started + config.write_timeout => {
                        tracing::info!(
                            queued_bytes = outbox.queued_bytes,
                            "client does not read: write timed out"
                        );
                        return Ending::Gone;
                    }
                    Some(started) => write_deadline.as_mut().reset(started + config.write_timeout),
                    // A write started later has its deadline later than this.
                    None => write_deadline.as_mut().reset(now + config.write_timeout),
                }
            }
            // Cancel safe: the write's progress lives in `outbox`.
            written = poll_fn(|cx| outbox.poll_write(cx)), if outbox.is_writing() => {
                if let Err(error) = written {
                    tracing::info!(error = %Escaped(&error), "socket write failed");
                    return Ending::Gone;
                }
                // A write the client took counts as life: the SDK sends its heartbeat only
                // after 30 s without a frame from the server, so a member that only reads a
                // busy room sends nothing. (A dead peer stops taking writes: `write_timeout`.)
                last_frame = Instant::now();
            }
            // Cancel safe: a wake-up lost to another branch stays stored for the next call.
            () = inbox.wait(), if !draining && !outbox.is_full() => {
                let pending = inbox.take();
                for queue in pending.notices {
                    session.tell_new(outbox, queue);
                }
                for (_, notice) in pending.presence {
                    session.presence.hold(notice);
                }
                session.room.append(pending.room, gateway.registry.room_backlog());
                session.send_presence(outbox);
                session.send_room(outbox);
                if let Some(reason) = pending.kick {
                    tracing::info!(?reason, "kicked");
                    outbox.push(encode_outbound(&kick_frame(context, &reason)));
                    return Ending::Kicked;
                }
            }
            // Cancel safe: `FuturesOrdered::next` keeps every future it has not yet returned.
            Some(reply) = session.waiting.next(), if !session.waiting.is_empty() && !outbox.is_full() => {
                session.write(outbox, reply);
            }
            // Cancel safe: `next` on the socket. Reading pauses while the pipeline of replies
            // is full, which is the backpressure on a fast client.
            message = stream.next(), if !draining && session.waiting.len() < MAX_REPLIES_WAITING => {
                let frame = match message {
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Text(_))) => {
                        return Ending::Close(Close { code: CLOSE_UNSUPPORTED_DATA, reason: "binary frames only" });
                    }
                    Some(Ok(Message::Close(_))) | None => return Ending::Gone,
                    Some(Err(error)) => {
                        tracing::info!(error = %Escaped(&error), "socket error");
                        return Ending::Gone;
                    }
                };
                last_frame = Instant::now();
                if let Err(close) = session.handle(&frame) {
                    return Ending::Close(close);
                }
            }
            () = std::future::ready(()), if outbox.can_start_write() => outbox.start_write(),
        }
    }
}

/// The frames a session owes its client, and the write in progress. Frames pushed while a write
/// runs leave in the next one, all together.
struct Outbox {
    sink: SocketSink,
    queued: VecDeque<Bytes>,
    /// Bytes of `queued`.
    queued_bytes: usize,
    /// Frames at the front of `queued` that the write in progress still has to hand over.
    to_feed: usize,
    /// When the write in progress began; `None` when no write is in progress.
    write_started: Option<Instant>,
    max_queued_bytes: usize,
}

impl Outbox {
    fn new(sink: SocketSink, gateway: &Gateway) -> Outbox {
        Outbox {
            sink,
            queued: VecDeque::new(),
            queued_bytes: 0,
            to_feed: 0,
            write_started: None,
            max_queued_bytes: gateway.config.outbound_queue_bytes,
        }
    }

    fn push(&mut self, frame: Bytes) {
        self.queued_bytes += frame.len();
        self.queued.push_back(frame);
    }

    /// The session takes no more replies or events until the client has read some.
    fn is_full(&self) -> bool {
        self.queued_bytes >= self.max_queued_bytes
    }

    fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.write_started.is_none()
    }

    fn is_writing(&self) -> bool {
        self.write_started.is_some()
    }

    fn can_start_write(&self) -> bool {
        self.write_started.is_none() && !self.queued.is_empty()
    }

    /// Starts writing every queued frame: fed to the socket one by one, then flushed once, so
    /// the frames of one wake-up (an ack and a page, say) leave in one write.
    fn start_write(&mut self) {
        self.to_feed = self.queued.len();
        self.write_started = Some(Instant::now());
    }

    /// Moves the write in progress on; `Ready` once it is flushed (or failed).
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        while self.to_feed > 0 {
            ready!(self.sink.poll_ready_unpin(cx))?;
            let Some(frame) = self.queued.pop_front() else {
                break;
            };
            self.to_feed -= 1;
            self.queued_bytes -= frame.len();
            self.sink.start_send_unpin(Message::Binary(frame))?;
        }
        ready!(self.sink.poll_flush_unpin(cx))?;
        self.to_feed = 0;
        self.write_started = None;
        Poll::Ready(Ok(()))
    }

    /// Writes everything queued (the caller bounds the time).
    async fn write_all(&mut self) {
        while !self.is_empty() {
            if self.can_start_write() {
                self.start_write();
            }
            if poll_fn(|cx| self.poll_write(cx)).await.is_err() {
                return;
            }
        }
    }

    /// Sends the close frame (the caller bounds the time).
    async fn close(&mut self, close: Close) {
        let _ = self
            .sink
            .send(Message::Close(Some(CloseFrame {
                code: close.code,
                reason: close.reason.into(),
            })))
            .await;
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
    /// Presence changes of the users this one subscribes to, on their way.
    presence: PresenceOutbox,
    /// Chat-room metas on their way, within the registry's `room_backlog`.
    room: RoomBacklog,
    /// Ends when the last room send of this session is done; the next waits for it.
    room_turn: Option<tokio::sync::oneshot::Receiver<()>>,
    waiting: FuturesOrdered<Waiting<'a>>,
    /// What this connection and its user may still send (traffic control).
    budget: SendBudget<'a>,
}

impl<'a> Session<'a> {
    /// Runs one client frame: its reply joins the pipeline.
    fn handle(&mut self, frame: &Bytes) -> Result<(), Close> {
        let inbound = match decode_inbound(frame, self.gateway.config.max_frame_bytes) {
            Ok(inbound) => inbound,
            Err(error @ FrameError::TooLarge { .. }) => {
                tracing::info!(error = %Escaped(&error), "frame refused");
                return Err(Close {
                    code: CLOSE_TOO_BIG,
                    reason: "frame too large",
                });
            }
            Err(error) => {
                tracing::info!(error = %Escaped(&error), "malformed frame");
                return Err(Close {
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
                    // The STATISTIC meta every SDK sends after logging in is not a message,
                    // and is stored nowhere: it does not count.
                    let counted = meta.ns.unwrap_or(NameSpace::Statistic as i32)
                        != NameSpace::Statistic as i32;
                    if counted && !self.budget.try_send() {
                        tracing::debug!("send refused: traffic control");
                        let refused = Outbound::Sync(pb::CommSyncDl {
                            status: Some(status::error(ErrorCode::Fail, REASON_TRAFFIC_CONTROL)),
                            meta_id: meta.id,
                            timestamp: Some(now_ms()),
                            ..Default::default()
                        });
                        self.waiting
                            .push_back(Box::pin(std::future::ready(Reply::frame(refused))));
                        return Ok(());
                    }
                    if is_room_send(&meta) {
                        // A room message is checked (reads) before it is stored, so two in
                        // flight could be stored, and pushed, out of order: one at a time.
                        let previous = self.room_turn.take();
                        let (done, turn) = tokio::sync::oneshot::channel::<()>();
                        self.room_turn = Some(turn);
                        let sent = sync::submit_send(gateway, context, meta);
                        self.waiting.push_back(Box::pin(async move {
                            if let Some(previous) = previous {
                                let _ = previous.await;
                            }
                            let reply = sent.await;
                            let _ = done.send(());
                            Reply::frame(reply)
                        }));
                        return Ok(());
                    }
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
    fn tell_new(&mut self, outbox: &mut Outbox, queue: QueueName) {
        match self.pulls.on_new(&queue, Instant::now().into_std()) {
            Tell::Notice => {
                let jid = queue_jid(&self.app_key, &queue);
                let notice = Outbound::Notice(pb::CommNotice { queue: Some(jid) });
                outbox.push(encode_outbound(&notice));
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
            }
            Tell::Nothing => {}
        }
    }

    /// Queues a reply from the pipeline and applies what it tells the SDK.
    fn write(&mut self, outbox: &mut Outbox, reply: Reply) {
        if let Some(frame) = reply.frame {
            outbox.push(frame);
        }
        match reply.effect {
            Effect::None => {}
            Effect::UnreadAnswered(listed) => {
                self.pulls.unread_answered(&listed);
                self.send_presence(outbox);
                self.send_room(outbox);
            }
            Effect::PullEnded(queue) => {
                if self.pulls.pull_ended(&queue) {
                    // Something arrived during the pull that its reply may not hold.
                    self.tell_new(outbox, queue);
                }
                self.send_presence(outbox);
                self.send_room(outbox);
            }
        }
    }

    /// Sends the presence changes held, once the SDK pulls nothing (`presence.rs`).
    fn send_presence(&mut self, outbox: &mut Outbox) {
        if !self.pulls.is_idle() {
            return;
        }
        if let Some(page) = self.presence.take_page(self.context) {
            outbox.push(encode_outbound(&page));
        }
    }
}

/// A chat-room message: the SDK tags every meta it sends to a room with `chatroom_msg_tag`.
fn is_room_send(meta: &pb::Meta) -> bool {
    meta.ext
        .iter()
        .any(|pair| pair.key.as_deref() == Some("chatroom_msg_tag"))
}

/// Room metas per page: a page is one frame, within `max_frame_bytes` of the SDK's side too.
const ROOM_METAS_PER_PAGE: usize = 50;

impl Session<'_> {
    /// Sends the room metas held, once the SDK pulls nothing: like presence, as pages of the
    /// server's queue that the SDK did not ask for (`presence.rs` says why it waits).
    fn send_room(&mut self, outbox: &mut Outbox) {
        if self.room.is_empty() || !self.pulls.is_idle() {
            return;
        }
        if self.room.dropped > 0 {
            tracing::debug!(
                dropped = self.room.dropped,
                "room metas dropped: the client is slow"
            );
        }
        let metas = self.room.take();
        for chunk in metas.chunks(ROOM_METAS_PER_PAGE) {
            let page = Outbound::Page(StoredPage {
                status: Some(status::ok()),
                metas: chunk.to_vec(),
                next_key: None,
                queue: Some(server_jid()),
                is_last: Some(true),
                timestamp: Some(now_ms()),
            });
            outbox.push(encode_outbound(&page));
        }
    }
}

/// The STATISTIC meta that tells the SDK why it is being disconnected, so it does not
/// reconnect (PROTOCOL.md §6.4). Pushed directly, as the hosted server does. A login on the
/// same resource hands its `setLoginInfoCustomExt` over in `reason`, which the SDK reports as
/// `loginInfoCustomExt` of its 206 error.
fn kick_frame(context: &SessionContext, reason: &KickReason) -> Outbound {
    let (operation, reason) = match reason {
        KickReason::LoginOnAnotherDevice { login_info_ext } => {
            (Operation::UserLoginAnotherDevice, login_info_ext.clone())
        }
        KickReason::UserRemoved => (Operation::UserRemoved, None),
        KickReason::PasswordChanged => (Operation::UserKickedByChangePassword, None),
        KickReason::ForcedLogout => (Operation::UserKickedByOtherDevice, None),
    };
    let now = now_ms();
    let body = pb::StatisticsBody {
        operation: Some(operation as i32),
        reason,
        ..Default::default()
    };
    unasked_page(
        vec![pb::Meta {
            id: Some(now << 22),
            from: Some(server_jid()),
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
        now,
    )
}

/// The server's JID: the domain alone.
fn server_jid() -> pb::Jid {
    pb::Jid {
        domain: Some(USER_DOMAIN.to_owned()),
        ..Default::default()
    }
}

/// A page the SDK did not ask for, of the server's queue and last (nothing to pull after it):
/// how the hosted server pushes a kick, and how presence changes go out (`presence.rs`).
pub(crate) fn unasked_page(metas: Vec<pb::Meta>, now: u64) -> Outbound {
    Outbound::Sync(pb::CommSyncDl {
        status: Some(status::ok()),
        queue: Some(server_jid()),
        metas,
        is_last: Some(true),
        timestamp: Some(now),
        ..Default::default()
    })
}

/// Discards client frames until the client closes (true) or `grace` passes (false).
async fn await_client_close(stream: &mut SocketStream, grace: Duration) -> bool {
    let closed = async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    };
    timeout(grace, closed).await.is_ok()
}

async fn send_close(socket: &mut WebSocket, close: Close) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close.code,
            reason: close.reason.into(),
        })))
        .await;
}
