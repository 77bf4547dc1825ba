//! Group chat: `load seed-groups` (groups over REST with an app token), and the scenarios
//! `group` (every member online, one sender at a steady rate: copies/s, send-to-receipt
//! latency, server CPU per copy) and `group-offline` (the members offline while the sender
//! sends, then all log in: how long until every member has every message). Confab only.
//!
//! A group of size S is the users `{prefix}0..S`, owned (and sent to) by `{prefix}0`; every
//! message is owed as a copy to the other S − 1 members. Each member is one session that
//! behaves as the SDK (`SdkQueues`): it pulls the queues UNREAD names, pulls a queue on NOTICE,
//! takes a page that comes unasked like the answer to a pull and acknowledges every page with
//! `key = nextKey`. The text of a message is `"{seq} {sent_us}"` (the sender's count, its send
//! time on the loader's clock): a member's latency is read at receipt, and a seq not above the
//! last one it saw is a duplicate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use confab_proto::pb;
use prost::Message as _;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::Bytes;

use crate::http::HttpConn;
use crate::msync::{classify, ConfabTarget, Downlink, MsyncConn};
use crate::multidevice::SdkQueues;
use crate::stats::{bounded, micros_since_start, percentile, ProcessProbe, Recorder};

/// Namespace of chat messages in `Meta.ns`; the group's MUC events (joins, the creation) are
/// in its queue too, in another namespace, and are only counted.
const NS_CHAT: i32 = 1;
/// Users one invitation may name (the server's `max_users_per_call`).
const INVITE_CHUNK: usize = 60;
/// Messages the sender leaves unacknowledged at most; a send due beyond it is skipped and
/// counted (the server holds 64 replies per session before it stops reading).
const MAX_UNACKED: usize = 1000;
/// After the run: how long the sessions get to close.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// The resource of `user`'s one device (as `MsyncConn::login`).
fn resource(user: &str) -> String {
    format!("webim_bench_{user}")
}

/// An app token for REST: what the app's own server would hold.
fn app_token(target: &ConfabTarget) -> anyhow::Result<String> {
    let issued = u32::try_from(std::time::UNIX_EPOCH.elapsed()?.as_secs())?;
    Ok(confab_token::build_app_token(
        &target.app_id,
        &target.app_certificate,
        issued,
        24 * 3600,
    ))
}

/// Creates a group of each size in `sizes` over REST (app token): the owner `{prefix}0` with
/// the first 60 others as `members`, then invitations of 60 (members join at once: no
/// confirmation). `maxusers` is the size. Returns `(size, group id, time it took)`.
pub(crate) async fn seed(
    target: &ConfabTarget,
    prefix: &str,
    sizes: &[usize],
) -> anyhow::Result<Vec<(usize, String, Duration)>> {
    let (org, app) = target
        .app_key
        .split_once('#')
        .context("the app key must be org#app")?;
    let token = app_token(target)?;
    let mut http = HttpConn::connect(&target.addr, 0).await?;
    let mut seeded = Vec::new();
    for &size in sizes {
        if size < 2 {
            bail!("seed-groups: a group of at least 2 (the owner and one member)");
        }
        let started = std::time::Instant::now();
        let names: Vec<String> = (1..size).map(|index| format!("{prefix}{index}")).collect();
        let mut chunks = names.chunks(INVITE_CHUNK);
        let body = json!({
            "owner": format!("{prefix}0"),
            "groupname": format!("bench {prefix} {size}"),
            "desc": "bench/run.sh",
            "members": chunks.next().unwrap_or_default(),
            "public": false,
            "maxusers": size,
        });
        let path = format!("/{org}/{app}/chatgroups");
        let answer = http.post_json(&path, &token, &body.to_string()).await?;
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        if answer.status != 200 {
            bail!("create a group of {size}: HTTP {}: {text}", answer.status);
        }
        let created: serde_json::Value = serde_json::from_str(&text)?;
        let id = created["data"]["groupid"]
            .as_str()
            .with_context(|| format!("no data.groupid in {text}"))?
            .to_owned();
        let path = format!("/{org}/{app}/chatgroups/{id}/invite");
        for chunk in chunks {
            let body = json!({ "usernames": chunk }).to_string();
            let answer = http.post_json(&path, &token, &body).await?;
            if answer.status != 200 {
                bail!(
                    "invite {} users into the group of {size}: HTTP {}: {}",
                    chunk.len(),
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                );
            }
        }
        seeded.push((size, id, started.elapsed()));
    }
    Ok(seeded)
}

/// How the `group` scenario runs.
pub(crate) struct OnlinePlan {
    /// The group's id (`seed-groups`).
    pub(crate) group: String,
    /// Its members, the owner (the sender) first.
    pub(crate) users: Vec<String>,
    pub(crate) tokens: Vec<String>,
    pub(crate) msgs_per_sec: f64,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
    /// After the window, how long the members wait for the copies still owed.
    pub(crate) drain: Duration,
    /// After the logins, at most this long for every member to have pulled what was waiting.
    pub(crate) settle: Duration,
    pub(crate) login_concurrency: usize,
    pub(crate) login_timeout: Duration,
}

/// What the sessions share.
#[derive(Default)]
struct Shared {
    /// A copy: a member's first sight of a message; its latency from the send.
    copies: Recorder,
    /// The sender's acks; their latency from the send.
    acks: Recorder,
    /// Over the whole run.
    received: AtomicU64,
    duplicates: AtomicU64,
    /// Chat metas whose text is not the loader's.
    foreign: AtomicU64,
    /// Metas of other namespaces (the group's MUC events).
    other_metas: AtomicU64,
    /// Pages with copies while measuring (one frame each).
    pages: AtomicU64,
    /// Members that pulled everything waiting at their login.
    settled: AtomicUsize,
    /// Members that have every message (`group-offline`), and when each did (the loader's
    /// clock).
    complete: AtomicUsize,
    completed_us: std::sync::Mutex<Vec<u64>>,
    /// Sessions that ended before the run did (the first one's error is on stderr).
    lost: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    skipped: AtomicU64,
}

/// What the main task tells the sessions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Settling,
    /// The sender's schedule starts then.
    Sending(Instant),
    Stop,
}

/// One member's session.
struct Member {
    conn: MsyncConn,
    queues: SdkQueues,
    last_seq: Option<u64>,
    /// Distinct messages seen; complete at `want` (`group-offline`).
    seen: u64,
    want: Option<u64>,
    settled: bool,
    shared: Arc<Shared>,
}

impl Member {
    /// Logs in as `user` and starts pulling what UNREAD names.
    async fn login(
        target: &ConfabTarget,
        user: &str,
        token: &str,
        index: usize,
        want: Option<u64>,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Member> {
        let (conn, unread) =
            MsyncConn::login_unread(target, user, token, index, resource(user)).await?;
        let mut member = Member {
            conn,
            queues: SdkQueues::new(user.to_owned(), resource(user)),
            last_seq: None,
            seen: 0,
            want,
            settled: false,
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

    /// A frame; returns the `Meta.id` of a send it acknowledges.
    async fn on_frame(&mut self, command: i32, payload: Bytes) -> anyhow::Result<Option<u64>> {
        match classify(command, payload)? {
            Downlink::Notice(queue) => {
                if let Some((queue, key)) = self.queues.on_notice(queue) {
                    self.conn.pull(queue, key).await?;
                }
            }
            Downlink::Page(page) => {
                let copies = self.on_metas(&page.metas)?;
                if copies > 0 && self.shared.copies.is_measuring() {
                    self.shared.pages.fetch_add(1, Ordering::Relaxed);
                }
                if let Some((queue, key)) = self.queues.on_page(&page) {
                    self.conn.pull(queue, key).await?;
                }
                self.check_settled();
            }
            Downlink::SendAck(meta_id) => return Ok(Some(meta_id)),
            Downlink::Other => {}
        }
        Ok(None)
    }

    /// The metas of a page: returns the copies among them.
    fn on_metas(&mut self, metas: &[pb::Meta]) -> anyhow::Result<u64> {
        let mut copies = 0;
        for meta in metas {
            if meta.ns != Some(NS_CHAT) {
                self.shared.other_metas.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let body = pb::MessageBody::decode(meta.payload.clone().unwrap_or_default())?;
            let Some((seq, sent_us)) = body
                .contents
                .first()
                .and_then(|content| content.text.as_deref())
                .and_then(parse_text)
            else {
                self.shared.foreign.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if self.last_seq.is_some_and(|last| seq <= last) {
                self.shared.duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.last_seq = Some(seq);
            self.seen += 1;
            copies += 1;
            self.shared.received.fetch_add(1, Ordering::Relaxed);
            self.shared.copies.delivered(sent_us);
            if self.want == Some(self.seen) {
                if let Ok(mut completed) = self.shared.completed_us.lock() {
                    completed.push(micros_since_start());
                }
                self.shared.complete.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(copies)
    }

    /// Reads (and, as the sender, sends on its schedule) until told to stop.
    async fn serve(
        mut self,
        mut sender: Option<Sender>,
        mut phase: watch::Receiver<Phase>,
    ) -> anyhow::Result<()> {
        let user = self.conn.user().to_owned();
        let served = self.serve_inner(&mut sender, &mut phase).await;
        if let Err(error) = &served {
            if self.shared.lost.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("group: {user}: {error:#}");
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
        loop {
            let current = *phase.borrow_and_update();
            if current == Phase::Stop {
                return Ok(());
            }
            if let (Some(sender), Phase::Sending(at)) = (sender.as_mut(), current) {
                sender.started.get_or_insert(at);
            }
            let next_send = sender.as_ref().and_then(Sender::next_at);
            tokio::select! {
                changed = phase.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                _ = sleep_until(next_send.unwrap_or(far)), if next_send.is_some() => {
                    if let Some(sender) = sender.as_mut() {
                        sender.send_due(&mut self.conn, &self.shared).await?;
                    }
                }
                frame = self.conn.next_frame() => {
                    let (command, payload) = frame?;
                    if let Some(meta_id) = self.on_frame(command, payload).await? {
                        let sender = sender.as_mut().ok_or_else(|| anyhow!("an ack of a message not sent"))?;
                        sender.acked(meta_id, &self.shared)?;
                    }
                }
            }
        }
    }
}

/// The sender's schedule: message `k` is due at `started + k × interval`, until `stop_at`.
struct Sender {
    group: String,
    interval: Duration,
    /// From how far past the start the schedule ends.
    length: Duration,
    started: Option<Instant>,
    next_k: u64,
    /// `Meta.id` → send time, of the sends not yet acknowledged.
    in_flight: HashMap<u64, u64>,
}

impl Sender {
    fn next_at(&self) -> Option<Instant> {
        let started = self.started?;
        let at = started + self.interval.mul_f64(self.next_k as f64);
        (at < started + self.length).then_some(at)
    }

    /// Sends every message due by now (a loader that fell behind catches up in a burst).
    async fn send_due(&mut self, conn: &mut MsyncConn, shared: &Shared) -> anyhow::Result<()> {
        let now = Instant::now();
        let mut fed = false;
        while self.next_at().is_some_and(|at| at <= now) {
            let seq = self.next_k;
            self.next_k += 1;
            if self.in_flight.len() >= MAX_UNACKED {
                shared.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let sent_us = micros_since_start();
            let meta_id = conn
                .feed_group_message(&self.group, format!("{seq} {sent_us}"))
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

/// `"{seq} {sent_us}"`.
fn parse_text(text: &str) -> Option<(u64, u64)> {
    let (seq, sent_us) = text.split_once(' ')?;
    Some((seq.parse().ok()?, sent_us.parse().ok()?))
}

/// Logs `users` in (`login_concurrency` at a time), each session served from its login on;
/// returns the tasks in the users' order and the time the logins took. `sender`: the first
/// user's schedule.
#[allow(clippy::too_many_arguments)]
async fn log_in(
    target: &ConfabTarget,
    users: &[String],
    tokens: &[String],
    want: Option<u64>,
    sender: Option<Sender>,
    shared: &Arc<Shared>,
    phase: &watch::Sender<Phase>,
    (concurrency, limit): (usize, Duration),
) -> anyhow::Result<(Vec<tokio::task::JoinHandle<anyhow::Result<()>>>, Duration)> {
    let sender = std::sync::Mutex::new(sender);
    let logins = bounded(users.len(), concurrency, |index| {
        let (user, token) = (&users[index], &tokens[index]);
        let (shared, phase) = (shared.clone(), phase.subscribe());
        let sender = if index == 0 {
            sender.lock().map(|mut s| s.take()).unwrap_or(None)
        } else {
            None
        };
        async move {
            let member = Member::login(target, user, token, index, want, shared).await?;
            Ok(tokio::spawn(member.serve(sender, phase)))
        }
    });
    timeout(limit, logins)
        .await
        .map_err(|_| anyhow!("the logins took more than {limit:?}"))?
}

/// Waits until every one of `count` members has pulled what waited at its login.
async fn settle(shared: &Shared, count: usize, limit: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    while shared.settled.load(Ordering::Relaxed) < count {
        if started.elapsed() >= limit {
            bail!(
                "{} of {count} members still pulling {limit:?} after the logins",
                count - shared.settled.load(Ordering::Relaxed)
            );
        }
        if shared.lost.load(Ordering::Relaxed) > 0 {
            bail!("a session ended while settling");
        }
        sleep(Duration::from_millis(10)).await;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Stops the sessions and waits for them.
async fn finish(
    phase: &watch::Sender<Phase>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
) -> anyhow::Result<()> {
    phase.send_replace(Phase::Stop);
    let by = Instant::now() + CLOSE_GRACE;
    for task in tasks {
        timeout_at(by, task)
            .await
            .map_err(|_| anyhow!("sessions still busy {CLOSE_GRACE:?} after the run"))???;
    }
    Ok(())
}

/// The `group` scenario; returns its JSON line.
pub(crate) async fn run_online(
    target: &ConfabTarget,
    plan: OnlinePlan,
    server: ProcessProbe,
) -> anyhow::Result<serde_json::Value> {
    let members = plan.users.len();
    if members < 2 || plan.tokens.len() != members {
        bail!("group: at least 2 members, one token each");
    }
    if !plan.msgs_per_sec.is_finite() || plan.msgs_per_sec <= 0.0 {
        bail!("group: a positive rate");
    }
    let shared = Arc::new(Shared::default());
    let (phase, _) = watch::channel(Phase::Settling);
    let sender = Sender {
        group: plan.group.clone(),
        interval: Duration::from_secs_f64(1.0 / plan.msgs_per_sec),
        length: plan.warmup + plan.measure,
        started: None,
        next_k: 0,
        in_flight: HashMap::new(),
    };
    let (tasks, login_elapsed) = log_in(
        target,
        &plan.users,
        &plan.tokens,
        None,
        Some(sender),
        &shared,
        &phase,
        (plan.login_concurrency, plan.login_timeout),
    )
    .await?;
    let settle_secs = settle(&shared, members, plan.settle).await?;
    let settle_metas = shared.other_metas.load(Ordering::Relaxed);

    let started = Instant::now();
    let stop_at = started + plan.warmup + plan.measure;
    phase.send_replace(Phase::Sending(started));
    let loader = ProcessProbe::this_process();
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
    // drain ends.
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
    finish(&phase, tasks).await?;

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
    let measure_us = plan.measure.as_micros() as f64;
    let server_cpu = cpu_after.saturating_sub(cpu_before) as f64;
    let loader_busy = loader_cpu_after.saturating_sub(loader_cpu_before) as f64 / measure_us;
    Ok(json!({
        "scenario": "group",
        "server": "confab",
        "members": members,
        "target_msgs_per_sec": plan.msgs_per_sec,
        "target_copies_per_sec": plan.msgs_per_sec * owed_per_message as f64,
        "logins_per_sec": members as f64 / login_elapsed.as_secs_f64(),
        "settle_secs": settle_secs,
        "settle_metas": settle_metas,
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
        "sent": sent,
        "acknowledged": acked,
        "sends_skipped": shared.skipped.load(Ordering::Relaxed),
        "expected_copies": expected,
        "received_copies": received,
        "missing_copies": expected.saturating_sub(received),
        "duplicate_copies": shared.duplicates.load(Ordering::Relaxed),
        "foreign_metas": shared.foreign.load(Ordering::Relaxed),
        "drain_secs": drain_secs,
        "sessions_lost": shared.lost.load(Ordering::Relaxed),
    }))
}

/// How the `group-offline` scenario runs.
pub(crate) struct OfflinePlan {
    pub(crate) group: String,
    /// Its members, the owner (the sender) first.
    pub(crate) users: Vec<String>,
    pub(crate) tokens: Vec<String>,
    pub(crate) messages: u64,
    /// Sends the sender leaves unacknowledged at most.
    pub(crate) in_flight: u64,
    pub(crate) login_concurrency: usize,
    /// For the first logins, and for the catch-up.
    pub(crate) timeout: Duration,
}

/// The `group-offline` scenario; returns its JSON line.
///
/// 1. Every member logs in once and pulls what waits (the seeding's MUC events), then leaves:
///    the devices are known, with their place in the group's queue.
/// 2. The owner sends `messages` to the group, `in_flight` unacknowledged at most.
/// 3. The other members log in (`login_concurrency` at a time), each pulling as the SDK does
///    from its login on: the catch-up ends when each has every message.
pub(crate) async fn run_offline(
    target: &ConfabTarget,
    plan: OfflinePlan,
    server: ProcessProbe,
) -> anyhow::Result<serde_json::Value> {
    let members = plan.users.len();
    if members < 2 || plan.tokens.len() != members || plan.messages == 0 {
        bail!("group-offline: at least 2 members, one token each, and a message");
    }
    let limits = (plan.login_concurrency, plan.timeout);

    // 1. Known devices, nothing waiting.
    let shared = Arc::new(Shared::default());
    let (phase, _) = watch::channel(Phase::Settling);
    let (tasks, _) = log_in(
        target,
        &plan.users,
        &plan.tokens,
        None,
        None,
        &shared,
        &phase,
        limits,
    )
    .await?;
    settle(&shared, members, plan.timeout).await?;
    finish(&phase, tasks).await?;
    let prime_metas = shared.other_metas.load(Ordering::Relaxed);
    // The server ends the sessions on the close frames; a notice to one still ending would
    // be a push, not a loss, but the catch-up is cleaner from devices the server knows offline.
    sleep(Duration::from_secs(1)).await;

    // 2. The messages, stored while everyone else is offline.
    let (mut conn, _) = MsyncConn::login_unread(
        target,
        &plan.users[0],
        &plan.tokens[0],
        0,
        resource(&plan.users[0]),
    )
    .await?;
    let store_cpu_before = server.cpu_us()?;
    let started = Instant::now();
    let (mut sent, mut acked) = (0u64, 0u64);
    while acked < plan.messages {
        while sent < plan.messages && sent - acked < plan.in_flight {
            conn.feed_group_message(&plan.group, format!("{sent} {}", micros_since_start()))
                .await?;
            sent += 1;
        }
        conn.flush().await?;
        let (command, payload) = timeout(plan.timeout, conn.next_frame())
            .await
            .map_err(|_| anyhow!("no ack for {:?}", plan.timeout))??;
        if let Downlink::SendAck(_) = classify(command, payload)? {
            acked += 1;
        }
    }
    let stored_secs = started.elapsed().as_secs_f64();
    let store_cpu = server.cpu_us()?.saturating_sub(store_cpu_before) as f64;

    // 3. The catch-up.
    let receivers = &plan.users[1..];
    let shared = Arc::new(Shared::default());
    let (phase, _) = watch::channel(Phase::Settling);
    let loader = ProcessProbe::this_process();
    let cpu_before = server.cpu_us()?;
    let loader_cpu_before = loader.cpu_us()?;
    let started_us = micros_since_start();
    let started = Instant::now();
    let (tasks, login_elapsed) = log_in(
        target,
        receivers,
        &plan.tokens[1..],
        Some(plan.messages),
        None,
        &shared,
        &phase,
        limits,
    )
    .await?;
    let deadline = started + plan.timeout;
    while shared.complete.load(Ordering::Relaxed) < receivers.len()
        && Instant::now() < deadline
        && shared.lost.load(Ordering::Relaxed) == 0
    {
        sleep(Duration::from_millis(5)).await;
    }
    let cpu_after = server.cpu_us()?;
    let loader_cpu_after = loader.cpu_us()?;
    let complete = shared.complete.load(Ordering::Relaxed);
    let elapsed_us = started.elapsed().as_micros() as f64;
    let mut completed: Vec<u64> = shared
        .completed_us
        .lock()
        .map(|completed| {
            completed
                .iter()
                .map(|at| at.saturating_sub(started_us))
                .collect()
        })
        .unwrap_or_default();
    completed.sort_unstable();
    let catch_up_us = completed.last().copied().unwrap_or(0);
    let [p50, p99] = [0.5, 0.99].map(|q| percentile(&completed, q) as f64 / 1000.0);
    finish(&phase, tasks).await?;
    conn.close().await;

    let received = shared.received.load(Ordering::Relaxed);
    let expected = plan.messages * receivers.len() as u64;
    if complete < receivers.len() {
        eprintln!(
            "group-offline: {} of {} members lack messages after {:?} ({received} of {expected} copies)",
            receivers.len() - complete,
            receivers.len(),
            plan.timeout
        );
    }
    let catch_up_secs = catch_up_us as f64 / 1e6;
    let server_cpu = cpu_after.saturating_sub(cpu_before) as f64;
    Ok(json!({
        "scenario": "group_offline",
        "server": "confab",
        "members": members,
        "receivers": receivers.len(),
        "messages": plan.messages,
        "in_flight": plan.in_flight,
        "prime_metas": prime_metas,
        "stored_per_sec": plan.messages as f64 / stored_secs,
        "store_server_cpu_us_per_message": store_cpu / plan.messages as f64,
        "store_server_busy": store_cpu / (stored_secs * 1e6),
        "catch_up_secs": if complete == receivers.len() { json!(catch_up_secs) } else { json!(null) },
        "copies_per_sec": received as f64 * 1e6 / elapsed_us,
        "logins_per_sec": receivers.len() as f64 / login_elapsed.as_secs_f64(),
        "member_catch_up_ms_p50": p50,
        "member_catch_up_ms_p99": p99,
        "server_cpu_us_per_copy": server_cpu / received.max(1) as f64,
        "server_busy": server_cpu / elapsed_us,
        "loader_busy": loader_cpu_after.saturating_sub(loader_cpu_before) as f64 / elapsed_us,
        "expected_copies": expected,
        "received_copies": received,
        "missing_copies": expected.saturating_sub(received),
        "duplicate_copies": shared.duplicates.load(Ordering::Relaxed),
        "foreign_metas": shared.foreign.load(Ordering::Relaxed),
        "other_metas": shared.other_metas.load(Ordering::Relaxed),
        "sessions_lost": shared.lost.load(Ordering::Relaxed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_parses_and_anything_else_is_refused() {
        assert_eq!(parse_text("7 1234"), Some((7, 1234)));
        for text in ["", "7", "7 x", "x 7", "7 1 2"] {
            assert_eq!(parse_text(text), None, "{text:?}");
        }
    }
}
