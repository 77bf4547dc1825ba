//! The `presence` scenario: N users online (one msync session each, UNREAD answered, as the
//! SDK), each subscribed to K others (written into the store by `load seed-presence`), and
//! publishes at a fixed rate over REST. Every publish is owed to the publisher's K subscribers
//! as a NOTIFY meta on a page their session did not ask for; the loader counts those metas
//! (deliveries), the time from each publish to each of them, and the server's CPU per delivery.
//!
//! A publish carries its send time in `ext` (`t{run}.{micros}`, the loader's clock); `run`
//! tells this loader's publishes from the ones an earlier run left in the store, which the
//! notice of a login repeats (a login changes a device's status, not the description).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use confab_proto::pb::{self, m_sync::Command, meta::NameSpace};
use prost::Message as _;
use serde_json::json;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::Bytes;

use crate::http::HttpConn;
use crate::msync::{ConfabTarget, MsyncConn};
use crate::stats::{bounded, micros_since_start, ProcessProbe, Recorder};

/// How the scenario runs.
pub(crate) struct Plan {
    /// Names of the users, as seeded: each is subscribed to by `subscriptions_per_user` others.
    pub(crate) users: Vec<String>,
    /// A token per user, in the same order: for the login and for REST.
    pub(crate) tokens: Vec<String>,
    /// As seeded; only reported, beside the deliveries per publish it should about equal.
    pub(crate) subscriptions_per_user: usize,
    pub(crate) publishes_per_sec: u32,
    /// Keep-alive REST connections the publishes share.
    pub(crate) http_connections: usize,
    pub(crate) warmup: Duration,
    pub(crate) measure: Duration,
    /// After the logins, at most this long for their notices to stop coming.
    pub(crate) settle: Duration,
    pub(crate) login_concurrency: usize,
    /// For all the logins together.
    pub(crate) login_timeout: Duration,
}

/// The notices of the logins have stopped once none came for this long.
const QUIET: Duration = Duration::from_millis(500);
/// After the window: how long the publishes in flight, then the sessions, get to finish.
const FINISH_GRACE: Duration = Duration::from_secs(10);

/// Logs every user in, waits for the logins' notices to stop, publishes, and returns the
/// scenario's JSON line.
pub(crate) async fn run(
    target: &ConfabTarget,
    plan: Plan,
    server: ProcessProbe,
) -> anyhow::Result<serde_json::Value> {
    let n_users = plan.users.len();
    if n_users < 2 || plan.tokens.len() != n_users {
        bail!("presence: at least 2 users, one token each");
    }
    if plan.publishes_per_sec == 0 || plan.http_connections == 0 {
        bail!("presence: a positive publish rate and at least one HTTP connection");
    }
    let run_id = std::time::UNIX_EPOCH.elapsed()?.as_millis();
    let stamp = format!("t{run_id}.");
    let listening = Arc::new(Listening::new(stamp.clone()));
    let (stop, stopped) = watch::channel(false);

    let logins = bounded(n_users, plan.login_concurrency, |index| {
        let (user, token) = (&plan.users[index], &plan.tokens[index]);
        let (listening, stopped) = (listening.clone(), stopped.clone());
        async move {
            let conn = MsyncConn::login_device(target, user, token, index, resource(user)).await?;
            // Read from now on: the logins after this one notify it meanwhile.
            Ok(tokio::spawn(listen(conn, listening, stopped)))
        }
    });
    let (listeners, login_elapsed) = timeout(plan.login_timeout, logins)
        .await
        .map_err(|_| anyhow!("the logins took more than {:?}", plan.login_timeout))??;

    // Each login is a change the user's online subscribers are told of (about K × N notices
    // in all); publishing starts once they have stopped coming.
    listening
        .last_notice_us
        .fetch_max(micros_since_start(), Ordering::Relaxed);
    let settle_started = Instant::now();
    loop {
        let last = listening.last_notice_us.load(Ordering::Relaxed);
        if micros_since_start().saturating_sub(last) >= QUIET.as_micros() as u64 {
            break;
        }
        if settle_started.elapsed() >= plan.settle {
            eprintln!(
                "presence: the logins' notices still come after {:?}; publishing anyway",
                plan.settle
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settle_secs = settle_started.elapsed().as_secs_f64();
    let login_notices = listening.notices.load(Ordering::Relaxed);

    let (org, app) = target
        .app_key
        .split_once('#')
        .context("the app key must be org#app")?;
    let publishing = Arc::new(Publishing {
        users_path: format!("/{org}/{app}/users/"),
        stamp,
        stride: stride(n_users),
        rest: Recorder::default(),
        skipped: AtomicU64::new(0),
        users: plan.users,
        tokens: plan.tokens,
    });
    let mut http = Vec::with_capacity(plan.http_connections);
    for index in 0..plan.http_connections {
        http.push(HttpConn::connect(&target.addr, n_users + index).await?);
    }

    let started = Instant::now();
    let stop_at = started + plan.warmup + plan.measure;
    // Due publishes wait here for a free connection; when all are busy and this is full, a
    // publish is skipped (and counted): the rate is the loader's, not the server's answers'.
    let (due, queue) = mpsc::channel::<u64>(plan.http_connections);
    let queue = Arc::new(Mutex::new(queue));
    let mut publishers = tokio::task::JoinSet::new();
    for conn in http {
        publishers.spawn(publish_from(publishing.clone(), conn, queue.clone()));
    }
    let interval = Duration::from_secs_f64(1.0 / f64::from(plan.publishes_per_sec));
    let schedule = {
        let publishing = publishing.clone();
        tokio::spawn(async move {
            let mut k = 0u64;
            loop {
                let at = started + interval.mul_f64(k as f64);
                if at >= stop_at {
                    break;
                }
                // Late ticks return at once: a loader that fell behind catches up in a burst.
                sleep_until(at).await;
                match due.try_send(k) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        if publishing.rest.is_measuring() {
                            publishing.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
                k += 1;
            }
        })
    };

    let loader = ProcessProbe::this_process();
    sleep_until(started + plan.warmup).await;
    let cpu_before = server.cpu_us()?;
    let loader_cpu_before = loader.cpu_us()?;
    listening.deliveries.start_measuring();
    publishing.rest.start_measuring();
    sleep_until(stop_at).await;
    listening.deliveries.stop_measuring();
    publishing.rest.stop_measuring();
    let cpu_after = server.cpu_us()?;
    let loader_cpu_after = loader.cpu_us()?;

    schedule.await?;
    // Dropping the set on a timeout aborts the publishes still waiting for an answer.
    while let Some(result) = timeout(FINISH_GRACE, publishers.join_next())
        .await
        .map_err(|_| anyhow!("publishes still unanswered {FINISH_GRACE:?} after the window"))?
    {
        result??;
    }
    // The sessions are dropped, not closed: the offline notices that follow are not measured.
    stop.send_replace(true);
    let finish_by = Instant::now() + FINISH_GRACE;
    for listener in listeners {
        tokio::time::timeout_at(finish_by, listener)
            .await
            .map_err(|_| anyhow!("sessions still busy {FINISH_GRACE:?} after the window"))??;
    }

    let deliveries = listening.deliveries.delivered_count();
    let publishes = publishing.rest.delivered_count();
    if deliveries == 0 || publishes == 0 {
        bail!("nothing was published and delivered while measuring ({publishes} publishes, {deliveries} deliveries)");
    }
    let [p50, p99, p999] = listening.deliveries.percentiles_ms();
    let [_, publish_p99, _] = publishing.rest.percentiles_ms();
    let measure_us = plan.measure.as_micros() as f64;
    let server_cpu = cpu_after.saturating_sub(cpu_before) as f64;
    let loader_busy = loader_cpu_after.saturating_sub(loader_cpu_before) as f64 / measure_us;
    Ok(json!({
        "scenario": "presence",
        "server": "confab",
        "users": n_users,
        "subscriptions_per_user": plan.subscriptions_per_user,
        "target_publishes_per_sec": plan.publishes_per_sec,
        "http_connections": plan.http_connections,
        "logins_per_sec": n_users as f64 / login_elapsed.as_secs_f64(),
        "login_notices": login_notices,
        "settle_secs": settle_secs,
        "publishes_per_sec": publishes as f64 * 1e6 / measure_us,
        "publishes_skipped": publishing.skipped.load(Ordering::Relaxed),
        "publish_latency_ms_p99": publish_p99,
        "deliveries_per_sec": deliveries as f64 * 1e6 / measure_us,
        "deliveries_per_publish": deliveries as f64 / publishes as f64,
        "deliveries_per_page": deliveries as f64
            / listening.pages.load(Ordering::Relaxed).max(1) as f64,
        "latency_ms_p50": p50,
        "latency_ms_p99": p99,
        "latency_ms_p999": p999,
        "server_cpu_us_per_delivery": server_cpu / deliveries as f64,
        "server_cpu_us_per_publish": server_cpu / publishes as f64,
        "server_busy": server_cpu / measure_us,
        "loader_busy": loader_busy,
        // Near a whole core, the loader's own queue is part of every latency it measures,
        // and the deliveries it counts may be what it could read rather than what was sent.
        "loader_saturated": loader_busy >= 0.9,
        "unstamped_notices": listening.unstamped.load(Ordering::Relaxed),
        "sessions_lost": listening.lost.load(Ordering::Relaxed),
    }))
}

/// The resource of `user`'s one device: its session logs in on it and it publishes on it.
fn resource(user: &str) -> String {
    format!("webim_bench_{user}")
}

/// A step through the users that is coprime with their count, near the golden ratio of it:
/// publisher `k` is user `k × stride mod N`, so every user publishes once per N publishes and
/// consecutive publishers (and so each subscriber's notices) are spread over the users.
fn stride(n_users: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let mut stride = ((n_users as f64 * 0.618) as usize).max(1);
    while gcd(stride, n_users) != 1 {
        stride += 1;
    }
    stride
}

/// What the sessions share: the deliveries and their latencies.
struct Listening {
    /// The `ext` prefix of this run's publishes.
    stamp: String,
    deliveries: Recorder,
    /// Presence metas while measuring whose `ext` is not one of this run's publishes: a
    /// login's or an earlier run's description, in a notice that was late.
    unstamped: AtomicU64,
    /// Pages with presence metas while measuring: one frame, one write, however many metas.
    pages: AtomicU64,
    /// Presence metas over the whole run.
    notices: AtomicU64,
    /// When the last came, on the loader's clock.
    last_notice_us: AtomicU64,
    /// Sessions that ended before the run did (the first one's error is on stderr).
    lost: AtomicU64,
}

impl Listening {
    fn new(stamp: String) -> Listening {
        Listening {
            stamp,
            deliveries: Recorder::default(),
            unstamped: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            notices: AtomicU64::new(0),
            last_notice_us: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }

    fn on_frame(&self, command: i32, payload: Bytes) -> anyhow::Result<()> {
        if command != Command::Sync as i32 {
            return Ok(());
        }
        let page = pb::CommSyncDl::decode(payload)?;
        if let Some(status) = page
            .status
            .as_ref()
            .filter(|s| s.error_code.unwrap_or(0) != 0)
        {
            bail!("the server sent an error: {:?}", status.reason);
        }
        let notify = Some(NameSpace::Notify as i32);
        let mut notices = page
            .metas
            .iter()
            .filter(|meta| meta.ns == notify)
            .peekable();
        if notices.peek().is_some() && self.deliveries.is_measuring() {
            self.pages.fetch_add(1, Ordering::Relaxed);
        }
        for meta in notices {
            self.on_notify(meta.payload.as_deref().unwrap_or_default())?;
        }
        Ok(())
    }

    /// One NOTIFY meta: `{"type":"presence","data":{"values":[{…, "ext": …}]}}`.
    fn on_notify(&self, payload: &[u8]) -> anyhow::Result<()> {
        let now_us = micros_since_start();
        let notice: serde_json::Value = serde_json::from_slice(payload)?;
        if notice["type"] != "presence" {
            return Ok(());
        }
        let values = notice["data"]["values"]
            .as_array()
            .context("a presence notice without values")?;
        for value in values {
            self.notices.fetch_add(1, Ordering::Relaxed);
            self.last_notice_us.fetch_max(now_us, Ordering::Relaxed);
            let sent_us = value["ext"]
                .as_str()
                .and_then(|ext| ext.strip_prefix(self.stamp.as_str()))
                .and_then(|micros| micros.parse::<u64>().ok());
            match sent_us {
                Some(sent_us) => self.deliveries.delivered(sent_us),
                None if self.deliveries.is_measuring() => {
                    self.unstamped.fetch_add(1, Ordering::Relaxed);
                }
                None => {}
            }
        }
        Ok(())
    }
}

/// One session: reads until told to stop. Only NOTIFY pages come (the users exchange no
/// messages), and they need no answer: their queue is the server, which the SDK never pulls.
async fn listen(mut conn: MsyncConn, listening: Arc<Listening>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            biased;
            // The `Ref` the wait returns holds a lock: dropped before anything else runs.
            _ = async { drop(stop.wait_for(|stop| *stop).await) } => return,
            frame = conn.next_frame() => {
                let handled = frame.and_then(|(command, payload)| listening.on_frame(command, payload));
                if let Err(error) = handled {
                    if listening.lost.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("presence: {}: {error:#}", conn.user());
                    }
                    return;
                }
            }
        }
    }
}

/// What the publishing connections share.
struct Publishing {
    /// `/{org}/{app}/users/`
    users_path: String,
    stamp: String,
    stride: usize,
    users: Vec<String>,
    tokens: Vec<String>,
    /// Each publish's REST latency; counts the publishes answered while measuring.
    rest: Recorder,
    /// Publishes due while measuring that found every connection busy and the queue full.
    skipped: AtomicU64,
}

impl Publishing {
    fn publisher(&self, k: u64) -> usize {
        let n = self.users.len() as u64;
        ((k % n) * self.stride as u64 % n) as usize
    }
}

/// One keep-alive REST connection: publishes the due publishes it takes from `queue`, one at a
/// time, as the publisher's device (the SDK's status `1`, `ext` the send time).
async fn publish_from(
    publishing: Arc<Publishing>,
    mut conn: HttpConn,
    queue: Arc<Mutex<mpsc::Receiver<u64>>>,
) -> anyhow::Result<()> {
    loop {
        let next = queue.lock().await.recv().await;
        let Some(k) = next else {
            return Ok(());
        };
        let user = publishing.publisher(k);
        let name = &publishing.users[user];
        let path = format!(
            "{}{name}/presence/{}/1",
            publishing.users_path,
            resource(name)
        );
        let sent_us = micros_since_start();
        let body = json!({ "ext": format!("{}{sent_us}", publishing.stamp) }).to_string();
        let answer = conn
            .post_json(&path, &publishing.tokens[user], &body)
            .await?;
        if answer.status != 200 {
            bail!(
                "publish as {name}: HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
        publishing.rest.delivered(sent_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stride_visits_every_user_once_per_round() {
        for n in [2, 3, 10, 2000, 10_000] {
            let stride = stride(n);
            let mut seen: Vec<usize> = (0..n).map(|k| k * stride % n).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), n, "{n} users, stride {stride}");
        }
    }

    #[test]
    fn a_stamped_ext_is_a_delivery_and_anything_else_is_not() {
        let listening = Listening::new("t7.".into());
        listening.deliveries.start_measuring();
        let notice = |ext: &str| {
            json!({"type": "presence", "data": {"values": [{"uid": "s1", "ext": ext}]}}).to_string()
        };
        listening.on_notify(notice("t7.0").as_bytes()).unwrap();
        listening.on_notify(notice("t6.0").as_bytes()).unwrap();
        listening.on_notify(notice("").as_bytes()).unwrap();
        assert_eq!(listening.deliveries.delivered_count(), 1);
        assert_eq!(listening.unstamped.load(Ordering::Relaxed), 2);
        assert_eq!(listening.notices.load(Ordering::Relaxed), 3);
    }
}
