//! Chat rooms: the `room` scenario. Every member of one room online (one session each), all
//! of them joining it at once (the join storm), then one member in a hundred sending to it at
//! a steady rate: copies/s, send-to-receipt latency per copy, server CPU per copy, the
//! server's RSS, and how long the join storm took. Confab only.
//!
//! The room is made over REST by its owner `{prefix}0` with a user token (`maxusers` the
//! member count; the owner is its first member), unless `--room` names one. A member is one
//! session that behaves as the SDK: UNREAD at login (it pulls what that names, nothing for a
//! run's fresh users), then `joinChatRoom`, a MUC meta answered like a send. A room's
//! messages and events are never queued: the server pushes them to the members online as
//! pages of its own queue (`isLast`, nothing to acknowledge), and a member only reads them.
//! Sender `s` of `S` sends the messages `s`, `s + S`, `s + 2S`, … of the room's schedule,
//! message `g` due `g / rate` seconds after the start; its text is `"{g} {sent_us}"` (the send
//! time on the loader's clock), so a member reads the latency at receipt and keeps a bit per
//! message: a second sight is a duplicate.
//!
//! Pages are read with the few fields the loader needs (`Lite*` below), not whole `Meta`s: at
//! a million copies owed per second, decoding every JID would make the loader the bottleneck.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use confab_proto::pb::{self, m_sync::Command};
use prost::Message as _;
use serde_json::json;
use tokio::sync::{watch, AcquireError, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};

use crate::http::HttpConn;
use crate::msync::{ConfabTarget, MsyncConn};
use crate::multidevice::SdkQueues;
use crate::stats::{bounded, micros_since_start, ProcessProbe, Recorder};

/// Namespace of chat messages in `Meta.ns`; the room's events (the joins' `memberPresence`)
/// are MUC metas, counted apart.
const NS_CHAT: i32 = 1;
/// Messages one sender leaves unacknowledged at most; a send due beyond it is skipped and
/// counted.
const MAX_UNACKED: usize = 1000;
/// After the run: how long the sessions get to close.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// After the join storm, the room's events have settled once none came for this long.
const EVENTS_QUIET: Duration = Duration::from_millis(500);
/// A member that sent nothing for this long sends the SDK's heartbeat (an UNREAD). The SDK
/// counts the silence from the server's last frame instead, so a member that only reads a
/// busy room never sends one, and the server's idle timeout (120 s of client silence) would
/// close it during a long join storm.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How often a long wait (the join storm, the events after it) says how far it got.
const PROGRESS: Duration = Duration::from_secs(10);

/// `CommSyncDL` with what a member reads: the metas stay encoded.
#[derive(Clone, PartialEq, prost::Message)]
struct LiteSyncDl {
    #[prost(message, optional, tag = "1")]
    status: Option<pb::Status>,
    #[prost(uint64, optional, tag = "2")]
    meta_id: Option<u64>,
    #[prost(bytes = "bytes", repeated, tag = "4")]
    metas: Vec<Bytes>,
    #[prost(uint64, optional, tag = "5")]
    next_key: Option<u64>,
    #[prost(message, optional, tag = "6")]
    queue: Option<pb::Jid>,
    #[prost(bool, optional, tag = "7")]
    is_last: Option<bool>,
}

/// `Meta`: its namespace and payload.
#[derive(Clone, PartialEq, prost::Message)]
struct LiteMeta {
    #[prost(int32, optional, tag = "5")]
    ns: Option<i32>,
    #[prost(bytes = "bytes", optional, tag = "6")]
    payload: Option<Bytes>,
}

/// `MessageBody`: its contents, encoded.
#[derive(Clone, PartialEq, prost::Message)]
struct LiteBody {
    #[prost(bytes = "bytes", repeated, tag = "4")]
    contents: Vec<Bytes>,
}

/// `MessageBody.Content`: its text.
#[derive(Clone, PartialEq, prost::Message)]
struct LiteContent {
    #[prost(bytes = "bytes", optional, tag = "2")]
    text: Option<Bytes>,
}

/// The resource of `user`'s one device (as `MsyncConn::login`).
fn resource(user: &str) -> String {
    format!("webim_bench_{user}")
}

/// Creates a room owned by `owner` over REST with the owner's user token (`createChatRoom`):
/// `maxusers` is `max_users`, no members but the owner. Returns its id.
pub(crate) async fn create(
    target: &ConfabTarget,
    owner: &str,
    token: &str,
    max_users: usize,
) -> anyhow::Result<String> {
    let (org, app) = target
        .app_key
        .split_once('#')
        .context("the app key must be org#app")?;
    let mut http = HttpConn::connect(&target.addr, 0).await?;
    let body = json!({
        "name": format!("bench {owner} {max_users}"),
        "description": "bench/run.sh",
        "maxusers": max_users,
        "members": [],
    });
    let path = format!("/{org}/{app}/chatrooms");
    let answer = http.post_json(&path, token, &body.to_string()).await?;
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    if answer.status != 200 {
        bail!(
            "create a room of {max_users}: HTTP {}: {text}",
            answer.status
        );
    }
    let created: serde_json::Value = serde_json::from_str(&text)?;
    Ok(created["data"]["id"]
        .as_str()
        .with_context(|| format!("no data.id in {text}"))?
        .to_owned())
}

/// How the `room` scenario runs.
pub(crate) struct Plan {
    /// The room's id; `None`: the scenario creates one, owned by the first user.
    pub(crate) room: Option<String>,
    /// Its members, the owner first.
    pub(crate) users: Vec<String>,
    pub(crate) tokens: Vec<String>,
    /// Messages per second to the room, all senders together.
    pub(crate) msgs_per_sec: f64,
    /// Members that send, spread evenly over the list (the owner first).
    pub(crate) senders: usize,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
    /// After the window, how long the members wait for the copies still owed.
    pub(crate) drain: Duration,
    /// After the logins, at most this long for every member to have pulled what was waiting;
    /// after the join storm, at most this long for its events to stop coming.
    pub(crate) settle: Duration,
    pub(crate) login_concurrency: usize,
    pub(crate) login_timeout: Duration,
    /// Joins unanswered at most during the storm.
    pub(crate) join_concurrency: usize,
    pub(crate) join_timeout: Duration,
}

/// What the sessions share.
struct Shared {
    /// A copy: a member's first sight of a message; its latency from the send.
    copies: Recorder,
    /// The senders' acks; their latency from the send.
    acks: Recorder,
    /// The joins' answers; their latency from the join.
    joins: Recorder,
    /// Over the whole run.
    received: AtomicU64,
    duplicates: AtomicU64,
    /// Chat metas whose text is not the loader's.
    foreign: AtomicU64,
    /// Room events (MUC metas) pushed to the members.
    events: AtomicU64,
    /// Pages with copies while measuring (one frame each).
    pages: AtomicU64,
    /// Members that pulled everything waiting at their login.
    settled: AtomicUsize,
    joined: AtomicUsize,
    /// The first join sent and the last answered (the loader's clock).
    first_join_us: AtomicU64,
    last_join_us: AtomicU64,
    /// Sessions that ended before the run did (the first one's error is on stderr).
    lost: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    skipped: AtomicU64,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            copies: Recorder::default(),
            acks: Recorder::default(),
            joins: Recorder::default(),
            received: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            events: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            settled: AtomicUsize::new(0),
            joined: AtomicUsize::new(0),
            first_join_us: AtomicU64::new(u64::MAX),
            last_join_us: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }
}

/// What the main task tells the sessions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Settling,
    /// Each member joins the room, `join_concurrency` unanswered at most.
    Joining,
    /// The senders' schedule starts then.
    Sending(Instant),
    Stop,
}

type Acquiring = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// Where a member is with its join.
enum Join {
    /// Not yet asked to.
    Idle,
    /// Waiting for a place among the joins in flight.
    Waiting(Acquiring),
    /// Sent, unanswered; its place is given back with this state.
    Sent {
        meta_id: u64,
        sent_us: u64,
        _place: OwnedSemaphorePermit,
    },
    Joined,
}

/// One member's session.
struct Member {
    conn: MsyncConn,
    queues: SdkQueues,
    room: Arc<str>,
    join: Join,
    joins_in_flight: Arc<Semaphore>,
    /// A bit per message of the run's schedule: seen.
    seen: Vec<u64>,
    settled: bool,
    /// The send times of a page's copies (kept to spare an allocation per page).
    batch: Vec<u64>,
    shared: Arc<Shared>,
}

impl Member {
    /// Logs in as `user` and starts pulling what UNREAD names.
    async fn login(
        target: &ConfabTarget,
        (user, token, index): (&str, &str, usize),
        (room, messages): (Arc<str>, u64),
        joins_in_flight: Arc<Semaphore>,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Member> {
        let (conn, unread) =
            MsyncConn::login_unread(target, user, token, index, resource(user)).await?;
        let mut member = Member {
            conn,
            queues: SdkQueues::new(user.to_owned(), resource(user)),
            room,
            join: Join::Idle,
            joins_in_flight,
            seen: vec![0; messages.div_ceil(64) as usize],
            settled: false,
            batch: Vec::new(),
            shared,
        };
        for queue in unread.unread.into_iter().filter_map(|unread| unread.queue) {
            if let Some((queue, key)) = member.queues.on_notice(queue) {
                member.conn.pull(queue, key).await?;
            }
        }
        member.check_settled();
        Ok(member)
    }

    fn check_settled(&mut self) {
        if !self.settled && self.queues.is_idle() {
            self.settled = true;
            self.shared.settled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A frame; returns the `Meta.id` of a send (or join) it answers.
    async fn on_frame(&mut self, command: i32, payload: Bytes) -> anyhow::Result<Option<u64>> {
        if command == Command::Notice as i32 {
            if let Some(queue) = pb::CommNotice::decode(payload)?.queue {
                if let Some((queue, key)) = self.queues.on_notice(queue) {
                    self.conn.pull(queue, key).await?;
                }
            }
            return Ok(None);
        }
        if command != Command::Sync as i32 {
            return Ok(None);
        }
        let page = LiteSyncDl::decode(payload)?;
        if let Some(status) = page
            .status
            .as_ref()
            .filter(|status| status.error_code.unwrap_or(0) != 0)
        {
            bail!("server refused a SYNC: {:?}", status.reason);
        }
        if page.meta_id.is_some() {
            return Ok(page.meta_id);
        }
        if page.queue.is_none() {
            return Ok(None);
        }
        let copies = self.on_metas(&page.metas)?;
        if copies > 0 && self.shared.copies.is_measuring() {
            self.shared.pages.fetch_add(1, Ordering::Relaxed);
        }
        let pull = self.queues.on_page_parts(
            page.queue.as_ref(),
            page.metas.is_empty(),
            page.next_key,
            page.is_last == Some(true),
        );
        if let Some((queue, key)) = pull {
            self.conn.pull(queue, key).await?;
        }
        self.check_settled();
        Ok(None)
    }

    /// The metas of a page: returns the copies among them.
    fn on_metas(&mut self, metas: &[Bytes]) -> anyhow::Result<u64> {
        self.batch.clear();
        let mut events = 0;
        for meta in metas {
            let meta = LiteMeta::decode(meta.clone())?;
            if meta.ns != Some(NS_CHAT) {
                events += 1;
                continue;
            }
            let Some((seq, sent_us)) = read_text(meta.payload.unwrap_or_default())? else {
                self.shared.foreign.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
            let Some(seen) = self.seen.get_mut(word) else {
                self.shared.foreign.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if *seen & bit != 0 {
                self.shared.duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            *seen |= bit;
            self.batch.push(sent_us);
        }
        if events > 0 {
            self.shared.events.fetch_add(events, Ordering::Relaxed);
        }
        let copies = self.batch.len() as u64;
        if copies > 0 {
            self.shared.received.fetch_add(copies, Ordering::Relaxed);
            self.shared.copies.delivered_all(&self.batch);
        }
        Ok(copies)
    }

    /// The answer of this member's join, if `meta_id` is its `Meta.id`.
    fn on_join_answer(&mut self, meta_id: u64) -> bool {
        let Join::Sent {
            meta_id: join_id,
            sent_us,
            ..
        } = &self.join
        else {
            return false;
        };
        if *join_id != meta_id {
            return false;
        }
        self.shared.joins.delivered(*sent_us);
        self.shared
            .last_join_us
            .fetch_max(micros_since_start(), Ordering::Relaxed);
        self.shared.joined.fetch_add(1, Ordering::Relaxed);
        // The place among the joins in flight goes with the old state.
        self.join = Join::Joined;
        true
    }

    /// Reads (joins when told, and as a sender sends on its schedule) until told to stop.
    async fn serve(
        mut self,
        mut sender: Option<Sender>,
        mut phase: watch::Receiver<Phase>,
    ) -> anyhow::Result<()> {
        let user = self.conn.user().to_owned();
        let served = self.serve_inner(&mut sender, &mut phase).await;
        if let Err(error) = &served {
            if self.shared.lost.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("room: {user}: {error:#}");
            }
        }
        self.conn.close().await;
        served
    }

    async fn serve_inner(
        &mut self,
        sender: &mut Option<Sender>,
        phase: &mut watch::Receiver<Phase>,
    ) -> anyhow::Result<()> {
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let mut heartbeat_at = Instant::now() + HEARTBEAT;
        loop {
            let current = *phase.borrow_and_update();
            if current == Phase::Stop {
                return Ok(());
            }
            if let (Some(sender), Phase::Sending(at)) = (sender.as_mut(), current) {
                sender.started.get_or_insert(at);
            }
            if current != Phase::Settling && matches!(self.join, Join::Idle) {
                let place = Arc::clone(&self.joins_in_flight).acquire_owned();
                self.join = Join::Waiting(Box::pin(place));
            }
            let next_send = sender.as_ref().and_then(Sender::next_at);
            let waiting = match &mut self.join {
                Join::Waiting(place) => Some(place),
                _ => None,
            };
            let has_waiting = waiting.is_some();
            tokio::select! {
                changed = phase.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                place = async { waiting.expect("guarded by has_waiting").await }, if has_waiting => {
                    let place = place.map_err(|_| anyhow!("the joins' semaphore closed"))?;
                    let meta_id = self.conn.join_room(&self.room).await?;
                    let sent_us = micros_since_start();
                    self.shared.first_join_us.fetch_min(sent_us, Ordering::Relaxed);
                    self.join = Join::Sent { meta_id, sent_us, _place: place };
                    heartbeat_at = Instant::now() + HEARTBEAT;
                }
                _ = sleep_until(next_send.unwrap_or(far)), if next_send.is_some() => {
                    if let Some(sender) = sender.as_mut() {
                        sender.send_due(&mut self.conn, &self.shared).await?;
                        heartbeat_at = Instant::now() + HEARTBEAT;
                    }
                }
                () = sleep_until(heartbeat_at) => {
                    self.conn.heartbeat().await?;
                    heartbeat_at = Instant::now() + HEARTBEAT;
                }
                frame = self.conn.next_frame() => {
                    let (command, payload) = frame?;
                    if let Some(meta_id) = self.on_frame(command, payload).await? {
                        if !self.on_join_answer(meta_id) {
                            let sender = sender.as_mut().ok_or_else(|| anyhow!("an answer to nothing sent: {meta_id}"))?;
                            sender.acked(meta_id, &self.shared)?;
                        }
                    }
                }
            }
        }
    }
}

/// Reads `"{seq} {sent_us}"` out of a `MessageBody`; `None` when it is not the loader's.
fn read_text(payload: Bytes) -> anyhow::Result<Option<(u64, u64)>> {
    let body = LiteBody::decode(payload)?;
    let Some(content) = body.contents.into_iter().next() else {
        return Ok(None);
    };
    let text = LiteContent::decode(content)?.text.unwrap_or_default();
    Ok(std::str::from_utf8(&text).ok().and_then(parse_text))
}

/// `"{seq} {sent_us}"`.
fn parse_text(text: &str) -> Option<(u64, u64)> {
    let (seq, sent_us) = text.split_once(' ')?;
    Some((seq.parse().ok()?, sent_us.parse().ok()?))
}

/// One sender's part of the room's schedule: messages `slot`, `slot + stride`, …, message
/// `g` due at `started + g / rate`, those due before `total`.
struct Sender {
    room: Arc<str>,
    rate: f64,
    stride: u64,
    total: u64,
    started: Option<Instant>,
    next_g: u64,
    /// `Meta.id` → send time, of the sends not yet acknowledged.
    in_flight: HashMap<u64, u64>,
}

impl Sender {
    fn next_at(&self) -> Option<Instant> {
        let started = self.started?;
        (self.next_g < self.total)
            .then(|| started + Duration::from_secs_f64(self.next_g as f64 / self.rate))
    }

    /// Sends every message due by now (a loader that fell behind catches up in a burst).
    async fn send_due(&mut self, conn: &mut MsyncConn, shared: &Shared) -> anyhow::Result<()> {
        let now = Instant::now();
        let mut fed = false;
        while self.next_at().is_some_and(|at| at <= now) {
            let seq = self.next_g;
            self.next_g += self.stride;
            if self.in_flight.len() >= MAX_UNACKED {
                shared.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let sent_us = micros_since_start();
            let meta_id = conn
                .feed_room_message(&self.room, format!("{seq} {sent_us}"))
                .await?;
            self.in_flight.insert(meta_id, sent_us);
            shared.sent.fetch_add(1, Ordering::Relaxed);
            fed = true;
        }
        if fed {
            conn.flush().await?;
        }
        Ok(())
    }

    fn acked(&mut self, meta_id: u64, shared: &Shared) -> anyhow::Result<()> {
        let sent_us = self
            .in_flight
            .remove(&meta_id)
            .ok_or_else(|| anyhow!("an ack of a message not sent: {meta_id}"))?;
        shared.acks.delivered(sent_us);
        shared.acked.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The members that send: `senders` of `members`, spread evenly (the first is member 0).
fn sender_indices(members: usize, senders: usize) -> Vec<usize> {
    (0..senders).map(|slot| slot * members / senders).collect()
}

/// Waits until `done()` or `limit` (a lost session ends the wait with an error).
async fn wait_for(
    shared: &Shared,
    limit: Duration,
    what: &str,
    done: impl Fn() -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut progress_at = started + PROGRESS;
    while !done() {
        if started.elapsed() >= limit {
            bail!("{what}: not done within {limit:?}");
        }
        if shared.lost.load(Ordering::Relaxed) > 0 {
            bail!("{what}: a session ended");
        }
        if Instant::now() >= progress_at {
            progress_at += PROGRESS;
            eprintln!(
                "room: {what}: {:.0} s, {} members joined, {} room events received",
                started.elapsed().as_secs_f64(),
                shared.joined.load(Ordering::Relaxed),
                shared.events.load(Ordering::Relaxed)
            );
        }
        sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The `room` scenario; returns its JSON line.
///
/// 1. The room (unless given), then every member logs in (`login_concurrency` at a time) and
///    pulls what waits.
/// 2. The join storm: every member joins, `join_concurrency` unanswered at most; then the
///    room's events (each join is told to the members in already) until none comes for 0.5 s.
/// 3. The senders send at the rate: warm-up, measured window, drain.
pub(crate) async fn run(
    target: &ConfabTarget,
    plan: Plan,
    server: ProcessProbe,
) -> anyhow::Result<serde_json::Value> {
    let members = plan.users.len();
    if members < 2 || plan.tokens.len() != members {
        bail!("room: at least 2 members, one token each");
    }
    if !plan.msgs_per_sec.is_finite() || plan.msgs_per_sec <= 0.0 {
        bail!("room: a positive rate");
    }
    if plan.senders == 0 || plan.senders > members {
        bail!("room: 1 to {members} senders");
    }
    let rss_before = server.rss_kib()?;
    let room: Arc<str> = match &plan.room {
        Some(room) => room.as_str().into(),
        None => create(target, &plan.users[0], &plan.tokens[0], members)
            .await?
            .into(),
    };
    let length = plan.warmup + plan.measure;
    let messages = (plan.msgs_per_sec * length.as_secs_f64()).ceil() as u64;
    let senders = sender_indices(members, plan.senders);
    let schedules: HashMap<usize, Sender> = senders
        .iter()
        .enumerate()
        .map(|(slot, &index)| {
            let sender = Sender {
                room: Arc::clone(&room),
                rate: plan.msgs_per_sec,
                stride: plan.senders as u64,
                total: messages,
                started: None,
                next_g: slot as u64,
                in_flight: HashMap::new(),
            };
            (index, sender)
        })
        .collect();

    // 1. Logins.
    let shared = Arc::new(Shared::new());
    let (phase, _) = watch::channel(Phase::Settling);
    let joins_in_flight = Arc::new(Semaphore::new(plan.join_concurrency.max(1)));
    let schedules = std::sync::Mutex::new(schedules);
    let logins = bounded(members, plan.login_concurrency, |index| {
        let (user, token) = (&plan.users[index], &plan.tokens[index]);
        let (shared, phase) = (shared.clone(), phase.subscribe());
        let (room, joins_in_flight) = (Arc::clone(&room), Arc::clone(&joins_in_flight));
        let sender = schedules
            .lock()
            .map(|mut left| left.remove(&index))
            .unwrap_or(None);
        async move {
            let member = Member::login(
                target,
                (user, token, index),
                (room, messages),
                joins_in_flight,
                shared,
            )
            .await?;
            Ok(tokio::spawn(member.serve(sender, phase)))
        }
    });
    let (tasks, login_elapsed) = timeout(plan.login_timeout, logins)
        .await
        .map_err(|_| anyhow!("the logins took more than {:?}", plan.login_timeout))??;
    let settle_started = Instant::now();
    wait_for(&shared, plan.settle, "pulling what waited at login", || {
        shared.settled.load(Ordering::Relaxed) >= members
    })
    .await?;
    let settle_secs = settle_started.elapsed().as_secs_f64();
    let rss_logged_in = server.rss_kib()?;
    eprintln!("room {room}: {members} members logged in in {login_elapsed:?}; the join storm");

    // 2. The join storm, then its events.
    let loader = ProcessProbe::this_process();
    let join_cpu_before = server.cpu_us()?;
    let join_loader_cpu_before = loader.cpu_us()?;
    let events_before = shared.events.load(Ordering::Relaxed);
    shared.joins.start_measuring();
    let storm_started = Instant::now();
    phase.send_replace(Phase::Joining);
    wait_for(&shared, plan.join_timeout, "the join storm", || {
        shared.joined.load(Ordering::Relaxed) >= members
    })
    .await?;
    shared.joins.stop_measuring();
    let storm_wall_us = storm_started.elapsed().as_micros() as f64;
    let join_cpu = server.cpu_us()?.saturating_sub(join_cpu_before) as f64;
    let join_loader_cpu = loader.cpu_us()?.saturating_sub(join_loader_cpu_before) as f64;
    let storm_us = shared
        .last_join_us
        .load(Ordering::Relaxed)
        .saturating_sub(shared.first_join_us.load(Ordering::Relaxed));
    let storm_secs = storm_us as f64 / 1e6;
    let events_at_storm_end = shared.events.load(Ordering::Relaxed) - events_before;
    let quiet_started = Instant::now();
    let mut last_events = shared.events.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    while last_change.elapsed() < EVENTS_QUIET && quiet_started.elapsed() < plan.settle {
        sleep(Duration::from_millis(10)).await;
        let events = shared.events.load(Ordering::Relaxed);
        if events != last_events {
            (last_events, last_change) = (events, Instant::now());
        }
    }
    let events_settle_secs = (last_change - quiet_started).as_secs_f64();
    let join_events = shared.events.load(Ordering::Relaxed) - events_before;
    let rss_joined = server.rss_kib()?;
    eprintln!("room {room}: joined in {storm_secs:.2} s, {join_events} events; sending");

    // 3. The messages.
    let started = Instant::now();
    let stop_at = started + length;
    phase.send_replace(Phase::Sending(started));
    sleep_until(started + plan.warmup).await;
    let cpu_before = server.cpu_us()?;
    let loader_cpu_before = loader.cpu_us()?;
    shared.copies.start_measuring();
    shared.acks.start_measuring();
    sleep_until(stop_at).await;
    shared.copies.stop_measuring();
    shared.acks.stop_measuring();
    let cpu_after = server.cpu_us()?;
    let loader_cpu_after = loader.cpu_us()?;

    // The copies still owed: until every send is acknowledged and every copy came, or the
    // drain ends. Delivery is best effort (a session that cannot keep up drops room messages):
    // what never came is reported, not a failure.
    let owed_per_message = members as u64 - 1;
    let deadline = stop_at + plan.drain;
    while Instant::now() < deadline && shared.lost.load(Ordering::Relaxed) == 0 {
        let (sent, acked) = (
            shared.sent.load(Ordering::Relaxed),
            shared.acked.load(Ordering::Relaxed),
        );
        if acked == sent && shared.received.load(Ordering::Relaxed) >= acked * owed_per_message {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    let drain_secs = (Instant::now() - stop_at).as_secs_f64();
    let rss_after = server.rss_kib()?;
    phase.send_replace(Phase::Stop);
    let by = Instant::now() + CLOSE_GRACE;
    for task in tasks {
        timeout_at(by, task)
            .await
            .map_err(|_| anyhow!("sessions still busy {CLOSE_GRACE:?} after the run"))???;
    }

    let copies = shared.copies.delivered_count();
    let acked_measured = shared.acks.delivered_count();
    if copies == 0 || acked_measured == 0 {
        bail!("nothing was sent and delivered while measuring ({acked_measured} acks, {copies} copies)");
    }
    let (sent, acked) = (
        shared.sent.load(Ordering::Relaxed),
        shared.acked.load(Ordering::Relaxed),
    );
    let received = shared.received.load(Ordering::Relaxed);
    let expected = acked * owed_per_message;
    let [p50, p99, p999] = shared.copies.percentiles_ms();
    let [_, ack_p99, _] = shared.acks.percentiles_ms();
    let [join_p50, join_p99, _] = shared.joins.percentiles_ms();
    let measure_us = plan.measure.as_micros() as f64;
    let server_cpu = cpu_after.saturating_sub(cpu_before) as f64;
    let loader_busy = loader_cpu_after.saturating_sub(loader_cpu_before) as f64 / measure_us;
    // Each join after the owner's is told to the members in already: 1 + 2 + … + (N − 1).
    let join_events_owed = (members as u64 - 1) * members as u64 / 2;
    let mut figures = json!({
        "scenario": "room",
        "server": "confab",
        "members": members,
        "senders": plan.senders,
        "target_msgs_per_sec": plan.msgs_per_sec,
        "target_copies_per_sec": plan.msgs_per_sec * owed_per_message as f64,
        "logins_per_sec": members as f64 / login_elapsed.as_secs_f64(),
        "settle_secs": settle_secs,
        "join_concurrency": plan.join_concurrency,
        "join_storm_secs": storm_secs,
        "joins_per_sec": members as f64 / storm_secs.max(1e-6),
        "join_latency_ms_p50": join_p50,
        "join_latency_ms_p99": join_p99,
        "join_server_cpu_us_per_join": join_cpu / members as f64,
        "join_server_busy": join_cpu / storm_wall_us,
        "join_loader_busy": join_loader_cpu / storm_wall_us,
        "join_events_owed": join_events_owed,
        "join_events_at_storm_end": events_at_storm_end,
        "join_events_received": join_events,
        "join_events_settle_secs": events_settle_secs,
    });
    let messages_figures = json!({
        "msgs_per_sec": acked_measured as f64 * 1e6 / measure_us,
        "copies_per_sec": copies as f64 * 1e6 / measure_us,
        "latency_ms_p50": p50,
        "latency_ms_p99": p99,
        "latency_ms_p999": p999,
        "ack_latency_ms_p99": ack_p99,
        "server_cpu_us_per_copy": server_cpu / copies as f64,
        "server_cpu_us_per_message": server_cpu / acked_measured as f64,
        "server_busy": server_cpu / measure_us,
        "loader_busy": loader_busy,
        "loader_saturated": loader_busy >= 0.9,
        "copies_per_page": copies as f64 / shared.pages.load(Ordering::Relaxed).max(1) as f64,
        "rss_kib_before": rss_before,
        "rss_kib_logged_in": rss_logged_in,
        "rss_kib_joined": rss_joined,
        "rss_kib_after": rss_after,
        "sent": sent,
        "acknowledged": acked,
        "sends_skipped": shared.skipped.load(Ordering::Relaxed),
        "expected_copies": expected,
        "received_copies": received,
        "missing_copies": expected.saturating_sub(received),
        "duplicate_copies": shared.duplicates.load(Ordering::Relaxed),
        "foreign_metas": shared.foreign.load(Ordering::Relaxed),
        "room_events": shared.events.load(Ordering::Relaxed),
        "drain_secs": drain_secs,
        "sessions_lost": shared.lost.load(Ordering::Relaxed),
    });
    // Two literals: one would pass `json!`'s recursion limit.
    if let (Some(all), serde_json::Value::Object(more)) =
        (figures.as_object_mut(), messages_figures)
    {
        all.extend(more);
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_spread_over_the_members_from_the_owner_on() {
        assert_eq!(sender_indices(10_000, 100)[..3], [0, 100, 200]);
        assert_eq!(sender_indices(10, 3), [0, 3, 6]);
        assert_eq!(sender_indices(2, 2), [0, 1]);
    }

    #[test]
    fn a_page_is_read_lightly_as_the_full_types_wrote_it() {
        let body = pb::MessageBody {
            r#type: Some(3),
            contents: vec![pb::message_body::Content {
                r#type: Some(0),
                text: Some("7 1234".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let meta = pb::Meta {
            id: Some(1),
            ns: Some(NS_CHAT),
            payload: Some(body.encode_to_vec().into()),
            ..Default::default()
        };
        let page = pb::CommSyncDl {
            metas: vec![meta],
            is_last: Some(true),
            queue: Some(pb::Jid::default()),
            ..Default::default()
        };
        let lite = LiteSyncDl::decode(Bytes::from(page.encode_to_vec())).unwrap();
        assert_eq!(lite.is_last, Some(true));
        assert_eq!(lite.metas.len(), 1);
        let meta = LiteMeta::decode(lite.metas[0].clone()).unwrap();
        assert_eq!(meta.ns, Some(NS_CHAT));
        assert_eq!(read_text(meta.payload.unwrap()).unwrap(), Some((7, 1234)));
        assert_eq!(parse_text("7 x"), None);
    }
}
