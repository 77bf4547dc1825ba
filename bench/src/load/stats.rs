//! Figures: one-way latencies, delivered counts, and the server process as /proc sees it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The loader's clock origin: message bodies carry microseconds since it, so sender and
/// receiver (both in this process) agree without wall-clock skew.
pub(crate) fn micros_since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let micros = START.get_or_init(Instant::now).elapsed().as_micros();
    u64::try_from(micros).unwrap_or(u64::MAX)
}

/// Deliveries and latencies, counted only while `measuring` is on (after the warm-up).
#[derive(Default)]
pub(crate) struct Recorder {
    measuring: AtomicBool,
    delivered: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

impl Recorder {
    pub(crate) fn start_measuring(&self) {
        self.measuring.store(true, Ordering::SeqCst);
    }

    pub(crate) fn stop_measuring(&self) {
        self.measuring.store(false, Ordering::SeqCst);
    }

    pub(crate) fn is_measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    /// A message sent at `sent_us` (see `micros_since_start`) arrived now.
    pub(crate) fn delivered(&self, sent_us: u64) {
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let latency = micros_since_start().saturating_sub(sent_us);
        if let Ok(mut latencies) = self.latencies_us.lock() {
            latencies.push(u32::try_from(latency).unwrap_or(u32::MAX));
        }
    }

    /// `delivered` for each of `sent_us`, arrived now, under one lock (a page of copies).
    pub(crate) fn delivered_all(&self, sent_us: &[u64]) {
        if sent_us.is_empty() || !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        self.delivered
            .fetch_add(sent_us.len() as u64, Ordering::Relaxed);
        let now = micros_since_start();
        if let Ok(mut latencies) = self.latencies_us.lock() {
            latencies.extend(
                sent_us
                    .iter()
                    .map(|sent| u32::try_from(now.saturating_sub(*sent)).unwrap_or(u32::MAX)),
            );
        }
    }

    pub(crate) fn delivered_count(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// p50, p99, p99.9 in milliseconds.
    pub(crate) fn percentiles_ms(&self) -> [f64; 3] {
        let mut latencies = self
            .latencies_us
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        latencies.sort_unstable();
        [0.50, 0.99, 0.999].map(|q| percentile(&latencies, q) as f64 / 1000.0)
    }
}

/// The value at quantile `q` of `sorted` (nearest rank); the default when it is empty.
pub(crate) fn percentile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A process as /proc/PID shows it: the server under test, or the loader itself.
pub(crate) struct ProcessProbe {
    pid: u32,
}

/// Linux reports CPU time in clock ticks of 1/100 s on every architecture we run on.
const CLOCK_TICKS_PER_SEC: u64 = 100;

impl ProcessProbe {
    pub(crate) fn new(pid: u32) -> ProcessProbe {
        ProcessProbe { pid }
    }

    pub(crate) fn this_process() -> ProcessProbe {
        ProcessProbe::new(std::process::id())
    }

    /// Resident set size in KiB.
    pub(crate) fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{}/status", self.pid))
    }

    /// User + system CPU time consumed so far, in microseconds.
    pub(crate) fn cpu_us(&self) -> anyhow::Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow::anyhow!("malformed /proc/{}/stat", self.pid))?;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |index: usize| -> anyhow::Result<u64> {
            Ok(fields
                .get(index)
                .ok_or_else(|| anyhow::anyhow!("short /proc/{}/stat", self.pid))?
                .parse()?)
        };
        // `after_name` starts at field 3 (state), so field N is at index N - 3.
        Ok((ticks(11)? + ticks(12)?) * 1_000_000 / CLOCK_TICKS_PER_SEC)
    }
}

/// Runs `tasks` futures with at most `concurrency` in flight; returns the elapsed time.
pub(crate) async fn bounded<F, Fut, T>(
    count: usize,
    concurrency: usize,
    make: F,
) -> anyhow::Result<(Vec<T>, Duration)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let started = Instant::now();
    let results: Vec<T> = stream::iter((0..count).map(make))
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok((results, started.elapsed()))
}
