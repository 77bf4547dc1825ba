//! The msync client, speaking to Confab the way the SDK does: PROVISION with a `007` token,
//! UNREAD, SYNC to send (and wait for the ack), NOTICE → pull → key acknowledgement.

use anyhow::{anyhow, bail};
use confab_proto::pb::{self, m_sync::Command};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::net;
use crate::stats::{micros_since_start, Recorder};

/// Namespace of chat messages in `Meta.ns`.
const NS_CHAT: i32 = 1;
const USER_DOMAIN: &str = "easemob.com";
/// A group's (or room's) queue and a message's `Meta.to`: `{appKey, name: <id>, domain}`.
const GROUP_DOMAIN: &str = "conference.easemob.com";
/// `MessageBody.type`: one-to-one, group and chat-room chat.
const BODY_CHAT: i32 = 1;
const BODY_GROUPCHAT: i32 = 2;
const BODY_CHATROOM: i32 = 3;
/// Namespace of a room join in `Meta.ns` (`MUC`), and its `MUCBody.operation` (`JOIN`).
const NS_MUC: i32 = 2;
const MUC_JOIN: i32 = 2;

/// What a Confab login needs: where, which app, and the credentials to mint user tokens.
#[derive(Clone)]
pub(crate) struct ConfabTarget {
    /// `HOST:PORT`; the WebSocket is `/websocket` there.
    pub(crate) addr: String,
    pub(crate) app_key: String,
    pub(crate) app_id: String,
    pub(crate) app_certificate: String,
}

impl ConfabTarget {
    /// A day-long Chat user token, as the app's own server would issue it.
    pub(crate) fn user_token(&self, user: &str) -> anyhow::Result<String> {
        let issued = u32::try_from(std::time::UNIX_EPOCH.elapsed()?.as_secs())?;
        Ok(confab_token::build_user_token(
            &self.app_id,
            &self.app_certificate,
            user,
            issued,
            24 * 3600,
        ))
    }
}

pub(crate) struct MsyncConn {
    socket: net::WebSocket,
    app_key: String,
    user: String,
    next_meta_id: u64,
}

/// A server frame, split by what the loader does with it.
pub(crate) enum Downlink {
    /// The ack of a sent message, with the `Meta.id` the client gave it.
    SendAck(u64),
    /// "Your queue from `peer` has something."
    Notice(pb::Jid),
    /// A page of a pulled queue.
    Page(pb::CommSyncDl),
    Other,
}

impl MsyncConn {
    /// Connects and logs in as `user` with `token` (PROVISION, then UNREAD as the SDK does).
    pub(crate) async fn login(
        target: &ConfabTarget,
        user: &str,
        token: &str,
        index: usize,
    ) -> anyhow::Result<MsyncConn> {
        let resource = format!("webim_bench_{user}");
        MsyncConn::login_device(target, user, token, index, resource).await
    }

    /// As `login`, on the device `resource`: one user's devices log in with distinct ones.
    pub(crate) async fn login_device(
        target: &ConfabTarget,
        user: &str,
        token: &str,
        index: usize,
        resource: String,
    ) -> anyhow::Result<MsyncConn> {
        let (conn, _) = MsyncConn::login_unread(target, user, token, index, resource).await?;
        Ok(conn)
    }

    /// As `login_device`, and returns UNREAD's answer: the queues the SDK pulls at once (the
    /// server expects those pulls, and tells of new messages by NOTICE until they end).
    pub(crate) async fn login_unread(
        target: &ConfabTarget,
        user: &str,
        token: &str,
        index: usize,
        resource: String,
    ) -> anyhow::Result<(MsyncConn, pb::CommUnreadDl)> {
        let socket = net::websocket(&target.addr, "/websocket", index).await?;
        let mut conn = MsyncConn {
            socket,
            app_key: target.app_key.clone(),
            user: user.to_owned(),
            next_meta_id: 0,
        };
        let provision = pb::Provision {
            os_type: Some(16),
            version: Some("bench".into()),
            resource: Some(resource.clone()),
            device_name: Some("webim".into()),
            auth_token: Some(format!("{{\"token\":\"$t${token}\"}}")),
            ..Default::default()
        };
        let envelope = pb::MSync {
            version: Some(0),
            command: Some(Command::Provision as i32),
            guid: Some(pb::Jid {
                app_key: Some(conn.app_key.clone()),
                name: Some(user.to_owned()),
                domain: Some(USER_DOMAIN.into()),
                client_resource: Some(resource),
            }),
            auth: Some(format!("$t${token}")),
            payload: Some(provision.encode_to_vec().into()),
            ..Default::default()
        };
        conn.socket
            .send(Message::Binary(envelope.encode_to_vec().into()))
            .await?;
        let (command, payload) = conn.next_frame().await?;
        if command != Command::Provision as i32 {
            bail!("{user}: expected a PROVISION reply, got command {command}");
        }
        let reply = pb::Provision::decode(payload)?;
        if let Some(status) = reply.status.filter(|s| s.error_code.unwrap_or(0) != 0) {
            bail!("{user}: login refused: {:?}", status.reason);
        }
        conn.send_frame(Command::Unread, Vec::new()).await?;
        loop {
            let (command, payload) = conn.next_frame().await?;
            if command == Command::Unread as i32 {
                let unread = pb::CommUnreadDl::decode(payload)?;
                return Ok((conn, unread));
            }
        }
    }

    /// Pingpong: sends one message to `peer`, then one more for each message received from
    /// it, until `stop_at`.
    pub(crate) async fn pingpong(
        mut self,
        peer: &str,
        recorder: &Recorder,
        stop_at: Instant,
        serves: bool,
    ) -> anyhow::Result<()> {
        if serves {
            self.send_text(peer, micros_since_start()).await?;
        }
        let mut pulling = false;
        let mut notified_while_pulling = false;
        while let Ok(frame) = timeout_at(stop_at, self.next_frame()).await {
            let (command, payload) = frame?;
            match classify(command, payload)? {
                Downlink::Notice(queue) => {
                    if pulling {
                        notified_while_pulling = true;
                    } else {
                        pulling = true;
                        self.pull(queue, None).await?;
                    }
                }
                Downlink::Page(page) => {
                    let queue = page.queue.clone().unwrap_or_default();
                    if page.metas.is_empty() {
                        pulling = false;
                        if std::mem::take(&mut notified_while_pulling) {
                            pulling = true;
                            self.pull(queue, None).await?;
                        }
                        continue;
                    }
                    for meta in &page.metas {
                        recorder.delivered(sent_micros(meta)?);
                        self.feed_text(peer, micros_since_start()).await?;
                    }
                    self.pull(queue, page.next_key).await?;
                }
                Downlink::SendAck(_) | Downlink::Other => {}
            }
        }
        let _ = self.socket.close(None).await;
        Ok(())
    }

    /// Sends `count` messages to `peer` with at most `in_flight` unacknowledged.
    pub(crate) async fn send_acknowledged(
        &mut self,
        peer: &str,
        count: u64,
        in_flight: u64,
    ) -> anyhow::Result<()> {
        let (mut sent, mut acked) = (0u64, 0u64);
        while acked < count {
            while sent < count && sent - acked < in_flight {
                self.feed_text(peer, micros_since_start()).await?;
                sent += 1;
            }
            self.socket.flush().await?;
            let (command, payload) = self.next_frame().await?;
            if let Downlink::SendAck(_) = classify(command, payload)? {
                acked += 1;
            }
        }
        Ok(())
    }

    /// Pulls every queue UNREAD names until `expected` messages arrived; acknowledges each page.
    pub(crate) async fn drain(&mut self, expected: u64) -> anyhow::Result<u64> {
        self.send_frame(Command::Unread, Vec::new()).await?;
        let unread = loop {
            let (command, payload) = self.next_frame().await?;
            if command == Command::Unread as i32 {
                break pb::CommUnreadDl::decode(payload)?;
            }
        };
        let mut received = 0;
        for queue in unread.unread.into_iter().filter_map(|u| u.queue) {
            self.pull(queue.clone(), None).await?;
            loop {
                let (command, payload) = self.next_frame().await?;
                let Downlink::Page(page) = classify(command, payload)? else {
                    continue;
                };
                if page.metas.is_empty() {
                    break;
                }
                received += page.metas.len() as u64;
                self.pull(queue.clone(), page.next_key).await?;
            }
        }
        if received < expected {
            bail!("{}: drained {received} of {expected}", self.user);
        }
        Ok(received)
    }

    async fn send_text(&mut self, peer: &str, sent_us: u64) -> anyhow::Result<()> {
        self.feed_text(peer, sent_us).await?;
        Ok(self.socket.flush().await?)
    }

    /// Queues a text message whose body is the send time; `flush` sends it.
    async fn feed_text(&mut self, peer: &str, sent_us: u64) -> anyhow::Result<()> {
        self.feed_message(peer, sent_us.to_string())
            .await
            .map(|_| ())
    }

    /// Queues a text message to `peer` whose text is `text`; `flush` sends it. Returns the
    /// `Meta.id` its ack will carry.
    pub(crate) async fn feed_message(&mut self, peer: &str, text: String) -> anyhow::Result<u64> {
        let to = self.jid(peer);
        self.feed_body(to, BODY_CHAT, text).await
    }

    /// Queues a text message to the group `group` (its id) whose text is `text`; `flush`
    /// sends it. Returns the `Meta.id` its ack will carry.
    pub(crate) async fn feed_group_message(
        &mut self,
        group: &str,
        text: String,
    ) -> anyhow::Result<u64> {
        let to = conference_jid(&self.app_key, group);
        self.feed_body(to, BODY_GROUPCHAT, text).await
    }

    /// Queues a text message to the chat room `room` (its id) whose text is `text`; `flush`
    /// sends it. Returns the `Meta.id` its ack will carry.
    pub(crate) async fn feed_room_message(
        &mut self,
        room: &str,
        text: String,
    ) -> anyhow::Result<u64> {
        let to = conference_jid(&self.app_key, room);
        self.feed_body(to, BODY_CHATROOM, text).await
    }

    /// Sends `joinChatRoom` for the room `room` (its id), as the SDK does: a MUC meta to the
    /// server (`Meta.to` the domain alone) whose `MUCBody` names the room in the conference
    /// domain. Returns the `Meta.id` its answer will carry.
    pub(crate) async fn join_room(&mut self, room: &str) -> anyhow::Result<u64> {
        let body = pb::MucBody {
            muc_id: Some(conference_jid(&self.app_key, room)),
            operation: Some(MUC_JOIN),
            from: Some(pb::Jid {
                name: Some(self.user.clone()),
                ..Default::default()
            }),
            is_chatroom: Some(true),
            ..Default::default()
        };
        let meta_id = self.next_meta_id()?;
        let request = pb::CommSyncUl {
            meta: Some(pb::Meta {
                id: Some(meta_id),
                from: Some(self.jid(&self.user)),
                to: Some(pb::Jid {
                    domain: Some(USER_DOMAIN.into()),
                    ..Default::default()
                }),
                ns: Some(NS_MUC),
                payload: Some(body.encode_to_vec().into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.send_frame(Command::Sync, request.encode_to_vec())
            .await?;
        Ok(meta_id)
    }

    /// A client id for the next meta: the clock at send time, as the SDK's (it counts
    /// milliseconds since 2010 plus a counter; microseconds here), so unique per resource
    /// across runs (the server deduplicates resends by them) and increasing over time across
    /// all senders.
    fn next_meta_id(&mut self) -> anyhow::Result<u64> {
        let now_us = u64::try_from(std::time::UNIX_EPOCH.elapsed()?.as_micros())?;
        let meta_id = now_us.max(self.next_meta_id);
        self.next_meta_id = meta_id + 1;
        Ok(meta_id)
    }

    /// Queues a text message to `to` (`MessageBody.type` `body_type`).
    async fn feed_body(
        &mut self,
        to: pb::Jid,
        body_type: i32,
        text: String,
    ) -> anyhow::Result<u64> {
        let body = pb::MessageBody {
            r#type: Some(body_type),
            from: Some(pb::Jid {
                name: Some(self.user.clone()),
                ..Default::default()
            }),
            to: Some(pb::Jid {
                name: to.name.clone(),
                ..Default::default()
            }),
            contents: vec![pb::message_body::Content {
                r#type: Some(0),
                text: Some(text),
                ..Default::default()
            }],
            ..Default::default()
        };
        let meta_id = self.next_meta_id()?;
        let request = pb::CommSyncUl {
            meta: Some(pb::Meta {
                id: Some(meta_id),
                to: Some(to),
                ns: Some(NS_CHAT),
                payload: Some(body.encode_to_vec().into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let frame = envelope(Command::Sync, request.encode_to_vec());
        self.socket.feed(Message::Binary(frame)).await?;
        Ok(meta_id)
    }

    /// Sends what `feed_message` queued.
    pub(crate) async fn flush(&mut self) -> anyhow::Result<()> {
        Ok(self.socket.flush().await?)
    }

    /// Sends a close frame; a failure is ignored (the run is over for this connection).
    pub(crate) async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    pub(crate) fn user(&self) -> &str {
        &self.user
    }

    /// Pulls `queue` (SYNC `CommSyncUL{queue, key}`), acknowledging up to `key` when set.
    pub(crate) async fn pull(&mut self, queue: pb::Jid, key: Option<u64>) -> anyhow::Result<()> {
        let request = pb::CommSyncUl {
            key,
            queue: Some(queue),
            ..Default::default()
        };
        self.send_frame(Command::Sync, request.encode_to_vec())
            .await
    }

    /// The SDK's heartbeat: an UNREAD (PROTOCOL.md §6.1); its answer is read as any frame.
    pub(crate) async fn heartbeat(&mut self) -> anyhow::Result<()> {
        self.send_frame(Command::Unread, Vec::new()).await
    }

    async fn send_frame(&mut self, command: Command, payload: Vec<u8>) -> anyhow::Result<()> {
        let frame = envelope(command, payload);
        Ok(self.socket.send(Message::Binary(frame)).await?)
    }

    /// The next binary frame's command and payload; cancel-safe (one `StreamExt::next`).
    pub(crate) async fn next_frame(&mut self) -> anyhow::Result<(i32, Bytes)> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    let envelope = pb::MSync::decode(bytes)?;
                    return Ok((
                        envelope.command.unwrap_or(0),
                        envelope.payload.unwrap_or_default(),
                    ));
                }
                Some(Ok(Message::Close(frame))) => {
                    bail!("{}: closed by server: {frame:?}", self.user)
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(error.into()),
                None => bail!("{}: connection ended", self.user),
            }
        }
    }

    fn jid(&self, name: &str) -> pb::Jid {
        pb::Jid {
            app_key: Some(self.app_key.clone()),
            name: Some(name.to_owned()),
            domain: Some(USER_DOMAIN.into()),
            ..Default::default()
        }
    }
}

/// The JID of a group or chat room (its id) in app `app_key`: a group's queue, and its
/// messages' `Meta.to`; a room's too, and the `mucId` of a join.
fn conference_jid(app_key: &str, id: &str) -> pb::Jid {
    pb::Jid {
        app_key: Some(app_key.to_owned()),
        name: Some(id.to_owned()),
        domain: Some(GROUP_DOMAIN.into()),
        ..Default::default()
    }
}

fn envelope(command: Command, payload: Vec<u8>) -> Bytes {
    pb::MSync {
        version: Some(0),
        command: Some(command as i32),
        payload: Some(payload.into()),
        encrypt_type: vec![0],
        ..Default::default()
    }
    .encode_to_vec()
    .into()
}

pub(crate) fn classify(command: i32, payload: Bytes) -> anyhow::Result<Downlink> {
    if command == Command::Notice as i32 {
        let notice = pb::CommNotice::decode(payload)?;
        return Ok(notice.queue.map_or(Downlink::Other, Downlink::Notice));
    }
    if command != Command::Sync as i32 {
        return Ok(Downlink::Other);
    }
    let dl = pb::CommSyncDl::decode(payload)?;
    if let Some(status) = dl
        .status
        .as_ref()
        .filter(|s| s.error_code.unwrap_or(0) != 0)
    {
        bail!("server refused a SYNC: {:?}", status.reason);
    }
    Ok(if let Some(meta_id) = dl.meta_id {
        Downlink::SendAck(meta_id)
    } else if dl.queue.is_some() {
        Downlink::Page(dl)
    } else {
        Downlink::Other
    })
}

/// The send time a loader message carries as its text.
fn sent_micros(meta: &pb::Meta) -> anyhow::Result<u64> {
    let payload = meta.payload.clone().unwrap_or_default();
    let body = pb::MessageBody::decode(payload)?;
    body.contents
        .first()
        .and_then(|c| c.text.as_deref())
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| anyhow!("a message without the loader's timestamp"))
}
