//! The `multidevice` scenario: users with several devices each (one msync session per device,
//! each with its own resource), paired, playing pingpong. Every message is owed as a copy to
//! each of the recipient's devices and to each of the sender's other devices (multi-device
//! sync); the loader counts the copies that arrive and the ones that never do.
//!
//! Each device behaves as the SDK does, so that the server sees the frames an SDK would send:
//! it keeps the SDK's list of queues to pull (`SdkQueues`), takes a page that comes unasked as
//! the answer to a pull, acknowledges every page with `key = nextKey`, and sees a meta once
//! (by its server id). A message the user sent from another device (`from` is the device's own
//! user) is a copy like any other.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use confab_proto::pb;
use prost::Message as _;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::Bytes;

use crate::msync::{classify, ConfabTarget, Downlink, MsyncConn};
use crate::stats::{bounded, micros_since_start, ProcessProbe, Recorder};

/// Namespace of chat messages in `Meta.ns`.
const NS_CHAT: i32 = 1;

/// How the scenario runs.
pub(crate) struct Plan {
    /// Names of the users, paired in order: 0 with 1, 2 with 3, …
    pub(crate) users: Vec<String>,
    /// A token per user, in the same order.
    pub(crate) tokens: Vec<String>,
    /// Sessions per user, each with its own resource.
    pub(crate) devices: usize,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
    /// After the measured window, how long the devices wait for the copies still owed; the
    /// ones that have not come by then are `missing_copies`.
    pub(crate) drain: Duration,
    pub(crate) login_concurrency: usize,
    /// For all the logins together.
    pub(crate) login_timeout: Duration,
}

/// How long past the drain the devices get to close; a device still busy then (a write the
/// server does not read) fails the run instead of holding it.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Logs every device in, plays, and returns the scenario's JSON line.
pub(crate) async fn run(
    target: &ConfabTarget,
    plan: &Plan,
    server: ProcessProbe,
) -> anyhow::Result<serde_json::Value> {
    let (n_users, devices) = (plan.users.len(), plan.devices);
    if n_users < 2 || n_users % 2 != 0 {
        bail!("multidevice: an even number of users, at least 2 (got {n_users})");
    }
    if devices == 0 {
        bail!("multidevice: at least one device per user");
    }
    if plan.tokens.len() != n_users {
        bail!("multidevice: one token per user");
    }
    let logins = bounded(n_users * devices, plan.login_concurrency, |index| {
        let (user, device) = (index / devices, index % devices);
        let name = plan.users[user].clone();
        let token = plan.tokens[user].clone();
        async move {
            MsyncConn::login_device(target, &name, &token, index, resource(&name, device)).await
        }
    });
    let (conns, _) = tokio::time::timeout(plan.login_timeout, logins)
        .await
        .map_err(|_| anyhow!("the logins took more than {:?}", plan.login_timeout))??;

    let shared = Arc::new(Shared::new(n_users, devices));
    let started = Instant::now();
    let stop_at = started + plan.warmup + plan.measure;
    let deadline = stop_at + plan.drain;
    let mut tasks = tokio::task::JoinSet::new();
    let mut conns = conns.into_iter();
    for user in 0..n_users {
        // Each device answers the ball of its own index, whichever of its user's devices
        // received the message first: the others hand the answer over on these channels.
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..devices).map(|_| mpsc::channel::<u64>(4)).unzip();
        for (device, replies) in receivers.into_iter().enumerate() {
            let conn = conns.next().context("a connection per device")?;
            let device = Device {
                queues: SdkQueues::new(conn.user().to_owned(), resource(conn.user(), device)),
                conn,
                user,
                device,
                peer: plan.users[user ^ 1].clone(),
                seen: HashSet::new(),
                in_flight: HashMap::new(),
                replies,
                answerers: senders.clone(),
                shared: shared.clone(),
            };
            // The even user of each pair serves one ball from each of its devices.
            let serves = user % 2 == 0;
            tasks.spawn(device.play(serves, deadline));
        }
    }

    let loader = ProcessProbe::this_process();
    tokio::time::sleep_until(started + plan.warmup).await;
    let cpu_before = server.cpu_us()?;
    let loader_cpu_before = loader.cpu_us()?;
    shared.copies.start_measuring();
    shared.acks.start_measuring();
    tokio::time::sleep_until(stop_at).await;
    shared.copies.stop_measuring();
    shared.acks.stop_measuring();
    let cpu_after = server.cpu_us()?;
    let loader_cpu_after = loader.cpu_us()?;
    shared.stop_sending();
    // Dropping the set on a timeout aborts the devices still running.
    while let Some(result) = timeout_at(deadline + CLOSE_GRACE, tasks.join_next())
        .await
        .map_err(|_| anyhow!("devices still busy {CLOSE_GRACE:?} after the drain"))?
    {
        result??;
    }

    let acked_measured = shared.acks.delivered_count();
    if acked_measured == 0 {
        bail!("no message was acknowledged while measuring");
    }
    let tally = shared.tally();
    let expected = tally.sent * shared.copies_per_message;
    let expected_by_recipients = tally.sent * devices as u64;
    let recipient_copies = tally.copies - tally.sender_copies;
    let [p50, p99, p999] = shared.copies.percentiles_ms();
    let [_, ack_p99, _] = shared.acks.percentiles_ms();
    let measure_secs = plan.measure.as_secs_f64();
    Ok(json!({
        "scenario": "multidevice",
        "server": "confab",
        "users": n_users,
        "devices": devices,
        "in_flight": n_users / 2 * devices,
        "msgs_per_sec": acked_measured as f64 / measure_secs,
        "copies_per_sec": shared.copies.delivered_count() as f64 / measure_secs,
        "copy_latency_ms_p50": p50,
        "copy_latency_ms_p99": p99,
        "copy_latency_ms_p999": p999,
        "ack_latency_ms_p99": ack_p99,
        "server_cpu_us_per_message":
            cpu_after.saturating_sub(cpu_before) as f64 / acked_measured as f64,
        "loader_busy": loader_cpu_after.saturating_sub(loader_cpu_before) as f64
            / plan.measure.as_micros() as f64,
        "sent": tally.sent,
        "acknowledged": tally.acked,
        "expected_copies": expected,
        "received_copies": tally.copies,
        "missing_copies": expected.saturating_sub(tally.copies),
        // Of them, owed to the recipient's devices; the rest to the sender's other devices.
        "missing_recipient_copies": expected_by_recipients.saturating_sub(recipient_copies),
        "missing_sender_copies": (expected - expected_by_recipients)
            .saturating_sub(tally.sender_copies),
        "duplicate_copies": tally.duplicates,
        "copies_to_sending_device": tally.to_sending_device,
    }))
}

/// The resource of device `device` of `user`.
fn resource(user: &str, device: usize) -> String {
    format!("webim_bench_{user}_d{device}")
}

/// What every device task shares.
struct Shared {
    /// `2 × devices − 1`: the recipient's devices and the sender's other devices.
    copies_per_message: u64,
    devices: usize,
    /// Each copy's latency, from the send to its arrival on one device.
    copies: Recorder,
    /// Each ack's latency, from the send to the ack.
    acks: Recorder,
    /// Per user and ball (`user × devices + ball`): the highest hop the user has sent or
    /// handed to a device to send, so that the first of its devices to receive a hop answers.
    claimed_hops: Vec<AtomicU64>,
    tally: Mutex<Tally>,
    /// Set once sending has stopped and every copy owed has arrived: the devices stop waiting.
    done: watch::Sender<bool>,
}

/// Counts over the whole run, warm-up and drain included.
#[derive(Clone, Copy, Default)]
struct Tally {
    /// No message is sent any more.
    stopped: bool,
    sent: u64,
    acked: u64,
    /// Distinct copies (server id × device) of the loader's messages.
    copies: u64,
    /// Of them, copies on the sender's other devices.
    sender_copies: u64,
    /// A meta a device had seen already (the SDK would drop it).
    duplicates: u64,
    /// A message that came back to the device that sent it: not a copy owed.
    to_sending_device: u64,
}

impl Shared {
    fn new(n_users: usize, devices: usize) -> Shared {
        Shared {
            copies_per_message: 2 * devices as u64 - 1,
            devices,
            copies: Recorder::default(),
            acks: Recorder::default(),
            claimed_hops: (0..n_users * devices).map(|_| AtomicU64::new(0)).collect(),
            tally: Mutex::new(Tally::default()),
            done: watch::Sender::new(false),
        }
    }

    fn tally(&self) -> Tally {
        *self.lock()
    }

    /// Counts a send about to happen; false once sending has stopped.
    fn may_send(&self) -> bool {
        let mut tally = self.lock();
        if tally.stopped {
            return false;
        }
        tally.sent += 1;
        true
    }

    fn stop_sending(&self) {
        self.update(|tally| tally.stopped = true);
    }

    /// True for the first caller for `hop` of `ball` of `user`.
    fn claim(&self, user: usize, ball: usize, hop: u64) -> bool {
        self.claimed_hops[user * self.devices + ball].fetch_max(hop, Ordering::Relaxed) < hop
    }

    fn update(&self, change: impl FnOnce(&mut Tally)) {
        let mut tally = self.lock();
        change(&mut tally);
        if tally.stopped
            && tally.acked == tally.sent
            && tally.copies >= tally.sent * self.copies_per_message
        {
            self.done.send_replace(true);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tally> {
        // A device that panicked while holding it left counts only; keep them.
        self.tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One logged-in session of a user.
struct Device {
    conn: MsyncConn,
    user: usize,
    /// The device's index among its user's devices, and the ball it sends.
    device: usize,
    peer: String,
    queues: SdkQueues,
    /// Server ids of the metas this device has seen.
    seen: HashSet<u64>,
    /// Sends not yet acknowledged: `Meta.id` → send time.
    in_flight: HashMap<u64, u64>,
    /// Hops of this device's ball to send, handed over by the user's other devices.
    replies: mpsc::Receiver<u64>,
    /// The user's devices by index, for handing them a hop to send.
    answerers: Vec<mpsc::Sender<u64>>,
    shared: Arc<Shared>,
}

impl Device {
    /// Plays until every copy owed has arrived after sending stopped, or until `deadline`.
    async fn play(mut self, serves: bool, deadline: Instant) -> anyhow::Result<()> {
        let mut done = self.shared.done.subscribe();
        if serves && self.shared.claim(self.user, self.device, 1) {
            self.feed_send(1).await?;
            self.conn.flush().await?;
        }
        loop {
            tokio::select! {
                // The `Ref` the wait returns holds a lock: dropped before anything else runs.
                _ = async { drop(done.wait_for(|done| *done).await) } => break,
                Some(hop) = self.replies.recv() => {
                    self.feed_send(hop).await?;
                    self.conn.flush().await?;
                }
                frame = timeout_at(deadline, self.conn.next_frame()) => {
                    let Ok(frame) = frame else { break };
                    let (command, payload) = frame?;
                    self.on_frame(command, payload).await?;
                }
            }
        }
        // A server that does not read cannot hold the close up: the run's deadline ends it.
        self.conn.close().await;
        Ok(())
    }

    async fn on_frame(&mut self, command: i32, payload: Bytes) -> anyhow::Result<()> {
        match classify(command, payload)? {
            Downlink::Notice(queue) => {
                if let Some((queue, key)) = self.queues.on_notice(queue) {
                    self.conn.pull(queue, key).await?;
                }
            }
            Downlink::Page(page) => {
                // As in the SDK, the app's handlers (here: the answer) run on the page's
                // metas before the pull that acknowledges them.
                let mut fed = false;
                for meta in &page.metas {
                    fed |= self.on_meta(meta).await?;
                }
                match self.queues.on_page(&page) {
                    Some((queue, key)) => self.conn.pull(queue, key).await?,
                    None if fed => self.conn.flush().await?,
                    None => {}
                }
            }
            Downlink::SendAck(meta_id) => {
                let sent_us = self
                    .in_flight
                    .remove(&meta_id)
                    .ok_or_else(|| anyhow!("an ack of a message not sent: {meta_id}"))?;
                self.shared.acks.delivered(sent_us);
                self.shared.update(|tally| tally.acked += 1);
            }
            Downlink::Other => {}
        }
        Ok(())
    }

    /// One meta of a page; true when it fed an answer.
    async fn on_meta(&mut self, meta: &pb::Meta) -> anyhow::Result<bool> {
        if meta.ns != Some(NS_CHAT) {
            return Ok(false);
        }
        let server_id = meta.id.context("a meta without an id")?;
        if !self.seen.insert(server_id) {
            self.shared.update(|tally| tally.duplicates += 1);
            return Ok(false);
        }
        let body = pb::MessageBody::decode(meta.payload.clone().unwrap_or_default())?;
        let from = body.from.and_then(|jid| jid.name).unwrap_or_default();
        let text = body.contents.first().and_then(|c| c.text.as_deref());
        let sent = text
            .and_then(Sent::parse)
            .ok_or_else(|| anyhow!("a message without the loader's text: {text:?}"))?;
        if sent.ball >= self.shared.devices {
            bail!(
                "a message of ball {} with {} devices",
                sent.ball,
                self.shared.devices
            );
        }
        if from == self.conn.user() {
            if sent.ball == self.device {
                self.shared.update(|tally| tally.to_sending_device += 1);
                return Ok(false);
            }
            self.copy(sent.sent_us, true);
            return Ok(false);
        }
        if from != self.peer {
            bail!("{}: a message from {from:?}", self.conn.user());
        }
        self.copy(sent.sent_us, false);
        let hop = sent.hop + 1;
        if !self.shared.claim(self.user, sent.ball, hop) {
            return Ok(false);
        }
        if sent.ball == self.device {
            return self.feed_send(hop).await;
        }
        match self.answerers[sent.ball].try_send(hop) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Full(_)) => bail!("more than one hop of a ball queued"),
        }
    }

    /// A copy arrived: of a message of the device's own user when `own`.
    fn copy(&self, sent_us: u64, own: bool) {
        self.shared.copies.delivered(sent_us);
        self.shared.update(|tally| {
            tally.copies += 1;
            tally.sender_copies += u64::from(own);
        });
    }

    /// Queues `hop` of this device's ball, unless sending has stopped; true when queued.
    async fn feed_send(&mut self, hop: u64) -> anyhow::Result<bool> {
        if !self.shared.may_send() {
            return Ok(false);
        }
        let sent_us = micros_since_start();
        let text = Sent {
            sent_us,
            ball: self.device,
            hop,
        }
        .text();
        let meta_id = self.conn.feed_message(&self.peer, text).await?;
        self.in_flight.insert(meta_id, sent_us);
        Ok(true)
    }
}

/// The text of a loader message: `"{sent_us} {ball} {hop}"`. The ball is the index of the
/// device pair that plays it (the sending device's index); hops count from 1.
#[derive(Debug, PartialEq, Eq)]
struct Sent {
    sent_us: u64,
    ball: usize,
    hop: u64,
}

impl Sent {
    fn text(&self) -> String {
        format!("{} {} {}", self.sent_us, self.ball, self.hop)
    }

    fn parse(text: &str) -> Option<Sent> {
        let mut fields = text.split(' ');
        let sent = Sent {
            sent_us: fields.next()?.parse().ok()?,
            ball: fields.next()?.parse().ok()?,
            hop: fields.next()?.parse().ok()?,
        };
        fields.next().is_none().then_some(sent)
    }
}

/// A pull to make: the queue, and the key that acknowledges what came before.
pub(crate) type Pull = (pb::Jid, Option<u64>);

/// The SDK's pull bookkeeping, as agora-chat 1.4.0 does it (`Agora-chat.js`: the NOTICE handler
/// and the CommSyncDL handler; PROTOCOL.md §4.4, §4.5). The SDK lists the queues to pull and
/// pulls the head of its list; a NOTICE for a queue already listed (by name), or for the
/// device's own resource, is dropped. A page with metas and `nextKey` is acknowledged by a pull
/// with that key, unless the same key came for the same queue just before: then the SDK drops
/// the queue. An empty page with `isLast` takes its queue off the list; with metas and `isLast`
/// the SDK looks the queue up by a field pages do not have and removes nothing. Either way it
/// then pulls the head of its list, if any. A page that came unasked is handled the same way.
pub(crate) struct SdkQueues {
    own_name: String,
    own_resource: String,
    listed: Vec<pb::Jid>,
    /// The SDK's `nexKey` and `currentQueue`: the last key it pulled with, and that queue's name.
    last_key: Option<(u64, Option<String>)>,
}

impl SdkQueues {
    pub(crate) fn new(own_name: String, own_resource: String) -> SdkQueues {
        SdkQueues {
            own_name,
            own_resource,
            listed: Vec::new(),
            last_key: None,
        }
    }

    pub(crate) fn on_notice(&mut self, queue: pb::Jid) -> Option<Pull> {
        if self.listed.iter().any(|listed| listed.name == queue.name) {
            return None;
        }
        if queue.client_resource.as_deref() == Some(self.own_resource.as_str())
            && queue.name.as_deref() == Some(self.own_name.as_str())
        {
            return None;
        }
        self.listed.push(queue.clone());
        (self.listed.len() == 1).then_some((queue, None))
    }

    pub(crate) fn on_page(&mut self, page: &pb::CommSyncDl) -> Option<Pull> {
        self.on_page_parts(
            page.queue.as_ref(),
            page.metas.is_empty(),
            page.next_key,
            page.is_last == Some(true),
        )
    }

    /// `on_page` for a page read in parts (the room scenario decodes pages lightly).
    pub(crate) fn on_page_parts(
        &mut self,
        queue: Option<&pb::Jid>,
        empty: bool,
        next_key: Option<u64>,
        is_last: bool,
    ) -> Option<Pull> {
        let queue = queue?.clone();
        if is_last {
            if empty {
                self.unlist(&queue.name);
            }
            return self.head();
        }
        let next_key = next_key?;
        let last_key = Some((next_key, queue.name.clone()));
        if self.last_key != last_key {
            self.last_key = last_key;
            Some((queue, Some(next_key)))
        } else {
            self.unlist(&queue.name);
            self.head()
        }
    }

    fn unlist(&mut self, name: &Option<String>) {
        if let Some(index) = self.listed.iter().position(|listed| &listed.name == name) {
            self.listed.remove(index);
        }
    }

    /// Nothing listed: the SDK pulls nothing.
    pub(crate) fn is_idle(&self) -> bool {
        self.listed.is_empty()
    }

    fn head(&self) -> Option<Pull> {
        self.listed.first().map(|queue| (queue.clone(), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(name: &str) -> pb::Jid {
        pb::Jid {
            name: Some(name.into()),
            domain: Some("easemob.com".into()),
            ..Default::default()
        }
    }

    fn page(name: &str, metas: usize, next_key: Option<u64>, is_last: bool) -> pb::CommSyncDl {
        pb::CommSyncDl {
            queue: Some(queue(name)),
            metas: vec![pb::Meta::default(); metas],
            next_key,
            is_last: is_last.then_some(true),
            ..Default::default()
        }
    }

    fn sdk() -> SdkQueues {
        SdkQueues::new("leo".into(), "webim_bench_leo_d0".into())
    }

    #[test]
    fn a_notice_is_pulled_at_once_when_nothing_is_listed_and_a_listed_queue_is_not_noticed_twice() {
        let mut sdk = sdk();
        assert_eq!(sdk.on_notice(queue("roy")), Some((queue("roy"), None)));
        assert_eq!(sdk.on_notice(queue("roy")), None);
        assert_eq!(sdk.on_notice(queue("ada")), None, "listed behind roy");
        assert_eq!(
            sdk.on_page(&page("roy", 2, Some(7), false)),
            Some((queue("roy"), Some(7)))
        );
        assert_eq!(
            sdk.on_page(&page("roy", 0, None, true)),
            Some((queue("ada"), None)),
            "roy is drained: ada's turn"
        );
        assert_eq!(sdk.on_page(&page("ada", 0, None, true)), None);
        assert_eq!(sdk.on_notice(queue("roy")), Some((queue("roy"), None)));
    }

    #[test]
    fn a_notice_of_the_devices_own_resource_is_dropped_and_other_resources_are_pulled() {
        let mut sdk = sdk();
        let own = pb::Jid {
            client_resource: Some("webim_bench_leo_d0".into()),
            ..queue("leo")
        };
        assert_eq!(sdk.on_notice(own), None);
        let other = pb::Jid {
            client_resource: Some("webim_bench_leo_d1".into()),
            ..queue("leo")
        };
        assert_eq!(sdk.on_notice(other.clone()), Some((other, None)));
    }

    #[test]
    fn a_page_that_came_unasked_is_acknowledged_and_its_last_page_pulls_nothing_more() {
        let mut sdk = sdk();
        assert_eq!(
            sdk.on_page(&page("roy", 1, Some(3), false)),
            Some((queue("roy"), Some(3)))
        );
        assert_eq!(sdk.on_page(&page("roy", 0, None, true)), None);
    }

    #[test]
    fn the_same_key_twice_for_the_same_queue_drops_it_and_metas_with_is_last_remove_nothing() {
        let mut sdk = sdk();
        sdk.on_notice(queue("roy"));
        sdk.on_notice(queue("ada"));
        assert_eq!(
            sdk.on_page(&page("roy", 1, Some(3), false)),
            Some((queue("roy"), Some(3)))
        );
        assert_eq!(
            sdk.on_page(&page("roy", 1, Some(3), false)),
            Some((queue("ada"), None))
        );
        assert_eq!(
            sdk.on_page(&page("ada", 1, None, true)),
            Some((queue("ada"), None)),
            "still listed"
        );
    }

    #[test]
    fn the_text_round_trips_and_anything_else_is_refused() {
        let sent = Sent {
            sent_us: 12,
            ball: 2,
            hop: 5,
        };
        assert_eq!(Sent::parse(&sent.text()), Some(sent));
        for text in ["", "12", "12 2", "12 2 5 1", "12 x 5", "-1 2 5"] {
            assert_eq!(Sent::parse(text), None, "{text:?}");
        }
    }
}
