//! The HTTP listeners' own accept loop on hyper (in place of `axum::serve`, which has no
//! timeouts): a cap on connections per source address, an accept that backs off on errors such
//! as EMFILE, a watchdog per connection for the request head and keep-alive idleness, a floor
//! on the rate of request bodies, and a shutdown that lets requests in flight finish until a
//! deadline and then drops what is left.
//!
//! A WebSocket upgrade ends the HTTP connection's task: the upgraded stream leaves every HTTP
//! timeout behind (the gateway has its own idle timer), and carries its per-address slot
//! along, so it counts against the cap until it closes. Nothing here runs per frame.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::ListenerService;

/// The `[http]` limits, as the accept loop uses them.
#[derive(Debug, Clone)]
pub(crate) struct HttpLimits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) tls_handshake_timeout: Duration,
    pub(crate) body_min_bytes: u64,
    pub(crate) body_window: Duration,
    pub(crate) max_connections_per_ip: usize,
}

/// What every connection of every listener shares.
pub(crate) struct Connections {
    pub(crate) limits: HttpLimits,
    per_ip: Arc<PerIpConnections>,
    /// Cancelled when shutdown starts: accept loops stop, connections finish what they serve.
    stop: CancellationToken,
    /// Cancelled at the shutdown deadline: connections still open are dropped.
    force: CancellationToken,
    tracker: TaskTracker,
}

impl Connections {
    pub(crate) fn new(limits: HttpLimits, stop: CancellationToken) -> Arc<Connections> {
        Arc::new(Connections {
            per_ip: Arc::new(PerIpConnections::new(limits.max_connections_per_ip)),
            limits,
            stop,
            force: CancellationToken::new(),
            tracker: TaskTracker::new(),
        })
    }

    /// After `stop`: waits up to `deadline` for the connections to finish their requests, then
    /// drops the rest. Returns whether all finished in time.
    pub(crate) async fn drain(&self, deadline: Duration) -> bool {
        self.tracker.close();
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
        {
            return true;
        }
        self.force.cancel();
        self.tracker.wait().await;
        false
    }
}

/// Serves `listener` until `stop`: each connection in its own task, over TLS when `tls` is set
/// (the handshake then runs in that task, bounded by `tls_handshake_timeout`).
pub(crate) async fn serve(
    listener: TcpListener,
    service: ListenerService,
    tls: Option<TlsAcceptor>,
    connections: Arc<Connections>,
) {
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            biased;
            () = connections.stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(connection) => connection,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                let pause = backoff.failed();
                if pause == AcceptBackoff::FIRST {
                    tracing::error!(%error, "accept failed; backing off until it works again");
                }
                tokio::select! {
                    () = connections.stop.cancelled() => return,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        if backoff.succeeded() {
            tracing::info!("accepting connections again");
        }
        let Some(slot) = connections.per_ip.try_acquire(peer.ip()) else {
            tracing::debug!(%peer, "too many connections from this address; closed");
            continue;
        };
        // Small frames must not wait for the peer's delayed ACK (Nagle): up to 40 ms each.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %peer, "TCP_NODELAY not set");
        }
        let task = connection(
            stream,
            peer,
            slot,
            service.clone(),
            tls.clone(),
            connections.clone(),
        );
        connections.tracker.spawn(task);
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: IpSlot,
    service: ListenerService,
    tls: Option<TlsAcceptor>,
    connections: Arc<Connections>,
) {
    let Some(acceptor) = tls else {
        return serve_connection(stream, peer, slot, service, &connections).await;
    };
    let handshake = tokio::time::timeout(
        connections.limits.tls_handshake_timeout,
        acceptor.accept(stream),
    );
    let result = tokio::select! {
        () = connections.stop.cancelled() => return,
        result = handshake => result,
    };
    match result {
        Ok(Ok(stream)) => serve_connection(stream, peer, slot, service, &connections).await,
        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// One HTTP/1.1 connection (HTTP/2 is not built; WebSocket upgrades need HTTP/1.1 anyway).
async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    slot: IpSlot,
    service: ListenerService,
    connections: &Connections,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(WatchedIo {
        inner: stream,
        activity: activity.clone(),
        _slot: slot,
    });
    let limits = connections.limits.clone();
    let request_activity = activity.clone();
    let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
        handle(
            request,
            peer,
            service.clone(),
            limits.clone(),
            request_activity.clone(),
        )
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(io, handler)
        .with_upgrades();
    tokio::pin!(served);
    let mut watchdog = Watchdog::new(&connections.limits, Instant::now());
    let tick = watchdog.tick();
    let mut draining = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "HTTP connection ended with an error");
                }
                return;
            }
            () = connections.stop.cancelled(), if !draining => {
                // Idle connections close now; one serving a request closes after its response.
                served.as_mut().graceful_shutdown();
                draining = true;
            }
            () = connections.force.cancelled() => {
                tracing::debug!(%peer, "HTTP connection dropped at the shutdown deadline");
                return;
            }
            () = tokio::time::sleep(tick) => {
                if let Some(reason) = watchdog.check(&activity, Instant::now()) {
                    tracing::debug!(%peer, reason, "HTTP connection closed");
                    return;
                }
            }
        }
    }
}

/// One request: the peer address for handlers (`ConnectInfo`), the body-rate floor, and the
/// bookkeeping the watchdog reads (a request counts as in flight until its response body ends).
async fn handle(
    mut request: Request<Incoming>,
    peer: SocketAddr,
    service: ListenerService,
    limits: HttpLimits,
    activity: Arc<Activity>,
) -> Result<Response, Infallible> {
    let in_flight = InFlight::start(activity);
    request.extensions_mut().insert(ConnectInfo(peer));
    let cut_off = Arc::new(AtomicBool::new(false));
    let request = if request.body().is_end_stream() {
        request.map(Body::new)
    } else {
        let cut_off = cut_off.clone();
        request.map(|body| Body::new(RateFloorBody::new(body, &limits, cut_off)))
    };
    let Ok(response) = service.oneshot(request).await;
    let response = if cut_off.load(Ordering::Relaxed) {
        let mut response = confab_rest::error_response(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body arrived too slowly",
        );
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    } else {
        response
    };
    Ok(response.map(|body| {
        Body::new(TrackedBody {
            inner: body,
            _in_flight: in_flight,
        })
    }))
}

/// Shared by a connection's stream, its requests and its watchdog.
#[derive(Default)]
struct Activity {
    /// Requests started / whose responses ended (or were dropped).
    started: AtomicU64,
    finished: AtomicU64,
    /// Bytes arrived since the watchdog last cleared it (at accept and after each response).
    read_since_idle: AtomicBool,
}

struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> InFlight {
        activity.started.fetch_add(1, Ordering::Relaxed);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request in flight until hyper has written or dropped it.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's stream with the two things the HTTP layer needs of it: whether bytes
/// arrived (one relaxed load per read once set) and the per-address slot, which stays with
/// an upgraded WebSocket until it closes.
struct WatchedIo<S> {
    inner: S,
    activity: Arc<Activity>,
    _slot: IpSlot,
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && !self.activity.read_since_idle.load(Ordering::Relaxed) {
            self.activity.read_since_idle.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Decides, a few times per timeout, whether a connection that is not serving a request has
/// waited too long: for the rest of a request head once its first byte came (or for any byte
/// of a first request), or idle between requests. (hyper's own `header_read_timeout` also
/// starts on idle keep-alive connections, so it cannot give the two their own limits.)
struct Watchdog {
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
    /// Since when the connection waits for a request (accept, or the end of the last response).
    waiting_since: Instant,
    /// When the watchdog first saw bytes of the next request head.
    head_started: Option<Instant>,
    finished_seen: u64,
}

impl Watchdog {
    fn new(limits: &HttpLimits, now: Instant) -> Watchdog {
        Watchdog {
            header_read_timeout: limits.header_read_timeout,
            keep_alive_timeout: limits.keep_alive_timeout,
            waiting_since: now,
            head_started: None,
            finished_seen: 0,
        }
    }

    fn tick(&self) -> Duration {
        (self.header_read_timeout.min(self.keep_alive_timeout) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    /// Why the connection should close now, if it should.
    fn check(&mut self, activity: &Activity, now: Instant) -> Option<&'static str> {
        let finished = activity.finished.load(Ordering::Relaxed);
        if activity.started.load(Ordering::Relaxed) > finished {
            // Serving: the body-rate floor and the handlers bound that.
            self.head_started = None;
            return None;
        }
        if finished != self.finished_seen {
            // A response ended since the last look: the wait for the next request starts.
            self.finished_seen = finished;
            self.waiting_since = now;
            self.head_started = None;
            activity.read_since_idle.store(false, Ordering::Relaxed);
            return None;
        }
        if activity.read_since_idle.load(Ordering::Relaxed) {
            let started = *self.head_started.get_or_insert(now);
            return (now.duration_since(started) >= self.header_read_timeout)
                .then_some("request head not complete in time");
        }
        // A connection that never sent a request gets the head's time, not the keep-alive's.
        let limit = if finished == 0 {
            self.header_read_timeout
        } else {
            self.keep_alive_timeout
        };
        (now.duration_since(self.waiting_since) >= limit).then_some("idle")
    }
}

/// A request body that must deliver `min_bytes` per `window` once its reader starts, or it
/// ends with an error (and `cut_off` set, so the response becomes a 408).
struct RateFloorBody {
    inner: Incoming,
    min_bytes: u64,
    window: Duration,
    received_in_window: u64,
    /// The end of the current window; created at the first poll.
    deadline: Option<Pin<Box<Sleep>>>,
    cut_off: Arc<AtomicBool>,
}

impl RateFloorBody {
    fn new(inner: Incoming, limits: &HttpLimits, cut_off: Arc<AtomicBool>) -> RateFloorBody {
        RateFloorBody {
            inner,
            min_bytes: limits.body_min_bytes,
            window: limits.body_window,
            received_in_window: 0,
            deadline: None,
            cut_off,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error(transparent)]
    Read(#[from] hyper::Error),
    #[error("the request body arrived too slowly")]
    TooSlow,
}

impl HttpBody for RateFloorBody {
    type Data = axum::body::Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let window = this.window;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(window)));
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received_in_window += data.len() as u64;
                    if this.received_in_window >= this.min_bytes {
                        this.received_in_window = 0;
                        deadline.as_mut().reset(Instant::now() + window);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.cut_off.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(BodyError::TooSlow)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Open connections per source address.
struct PerIpConnections {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection of an address; frees its place when dropped.
struct IpSlot {
    connections: Arc<PerIpConnections>,
    ip: IpAddr,
}

impl PerIpConnections {
    fn new(limit: usize) -> PerIpConnections {
        PerIpConnections {
            limit,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = lock(&self.open);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            connections: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.connections.open);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// std `Mutex`, never held across an await; a poisoned one is still a valid count.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Errors of one incoming connection, not of the listener: the next accept may well work.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Pauses after accept errors (such as EMFILE, out of file descriptors): 10 ms, doubling up to
/// 1 s, back to the start after a successful accept. Without it the loop would spin.
#[derive(Debug, Default)]
struct AcceptBackoff {
    next: Option<Duration>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// The pause before the next accept.
    fn failed(&mut self) -> Duration {
        let pause = self.next.unwrap_or(Self::FIRST);
        self.next = Some((pause * 2).min(Self::MAX));
        pause
    }

    /// Whether the loop was backing off until now.
    fn succeeded(&mut self) -> bool {
        self.next.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backs_off_exponentially_up_to_a_second_and_resets() {
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<u64> = (0..10)
            .map(|_| backoff.failed().as_millis() as u64)
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert!(backoff.succeeded());
        assert!(!backoff.succeeded());
        assert_eq!(backoff.failed(), AcceptBackoff::FIRST);
    }

    #[test]
    fn per_ip_slots_are_capped_and_freed() {
        let connections = Arc::new(PerIpConnections::new(2));
        let ip: IpAddr = [10, 0, 0, 1].into();
        let first = connections.try_acquire(ip);
        let second = connections.try_acquire(ip);
        assert!(first.is_some() && second.is_some());
        assert!(connections.try_acquire(ip).is_none());
        assert!(connections.try_acquire([10, 0, 0, 2].into()).is_some());
        drop(first);
        assert!(connections.try_acquire(ip).is_some());
        drop(second);
        assert!(lock(&connections.open).is_empty());
    }

    fn limits() -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            body_min_bytes: 1024,
            body_window: Duration::from_secs(10),
            max_connections_per_ip: 256,
        }
    }

    #[test]
    fn watchdog_gives_heads_and_idle_connections_their_own_limits() {
        let start = Instant::now();
        let secs = |n| start + Duration::from_secs(n);
        let activity = Activity::default();
        let mut watchdog = Watchdog::new(&limits(), start);
        // Silent since accept: the head's limit.
        assert_eq!(watchdog.check(&activity, secs(9)), None);
        assert_eq!(watchdog.check(&activity, secs(10)), Some("idle"));

        // A request served, then idle: the keep-alive limit from the end of the response.
        let mut watchdog = Watchdog::new(&limits(), start);
        activity.read_since_idle.store(true, Ordering::Relaxed);
        activity.started.store(1, Ordering::Relaxed);
        assert_eq!(watchdog.check(&activity, secs(5)), None);
        activity.finished.store(1, Ordering::Relaxed);
        assert_eq!(watchdog.check(&activity, secs(6)), None);
        assert_eq!(watchdog.check(&activity, secs(65)), None);
        assert_eq!(watchdog.check(&activity, secs(66)), Some("idle"));

        // Bytes of a next head: its limit from when they were first seen.
        let mut watchdog = Watchdog::new(&limits(), start);
        activity.finished.store(1, Ordering::Relaxed);
        assert_eq!(watchdog.check(&activity, secs(1)), None);
        activity.read_since_idle.store(true, Ordering::Relaxed);
        assert_eq!(watchdog.check(&activity, secs(30)), None);
        assert_eq!(
            watchdog.check(&activity, secs(40)),
            Some("request head not complete in time")
        );
    }
}
