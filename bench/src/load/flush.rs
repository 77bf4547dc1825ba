//! The disk's floor for a durable ack, with no server at all: what the pingpong's p99 could be
//! if storing cost no CPU. A server that acks a message only once it is stored must wait for a
//! flush (`fdatasync`) that began after the message arrived. The best it can do is group
//! commit with a flush always in progress; this runs exactly that, back-to-back appends each
//! followed by `fdatasync`, and then asks, for arrivals spread evenly over the run, how long
//! each waits for the end of the first flush that began after it.
//!
//! Every write lands in a file filled and synced beforehand, so a flush carries data only, no
//! file-size change: the most favourable case for the disk.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::stats::percentile;

/// The file the appends go round in.
const FILE_BYTES: u64 = 64 << 20;
/// Bounds the run in count as well as in time.
const MAX_FLUSHES: usize = 1_000_000;
/// Arrivals sampled over the run.
const ARRIVALS: usize = 100_000;

/// One flush: when it began and ended, from the start of the run.
struct Flush {
    began: Duration,
    ended: Duration,
}

pub(crate) fn floor(dir: &Path, write_kib: usize, run_for: Duration) -> anyhow::Result<Value> {
    let path = dir.join("flush-floor.dat");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let flushes = fill_then_flush(&file, write_kib, run_for);
    drop(file);
    std::fs::remove_file(&path)?;
    let flushes = flushes?;
    let last = flushes.last().context("no flush completed")?;

    let mut durations: Vec<f64> = flushes
        .iter()
        .map(|flush| ms(flush.ended - flush.began))
        .collect();
    let span = last.began;
    let mut waits: Vec<f64> = (0..ARRIVALS)
        .filter_map(|index| {
            let arrival = span.mul_f64(index as f64 / ARRIVALS as f64);
            // The first flush that began at or after the arrival covers it.
            let covering = flushes.partition_point(|flush| flush.began < arrival);
            flushes.get(covering).map(|flush| ms(flush.ended - arrival))
        })
        .collect();
    let [flush_p50, flush_p99, flush_p999] = percentiles(&mut durations);
    let [wait_p50, wait_p99, wait_p999] = percentiles(&mut waits);
    Ok(json!({
        "scenario": "flush_floor",
        "server": "disk",
        "write_kib": write_kib,
        "flushes_per_sec": flushes.len() as f64 / last.ended.as_secs_f64(),
        "flush_ms_p50": flush_p50,
        "flush_ms_p99": flush_p99,
        "flush_ms_p999": flush_p999,
        "floor_ms_p50": wait_p50,
        "floor_ms_p99": wait_p99,
        "floor_ms_p999": wait_p999,
    }))
}

fn fill_then_flush(file: &File, write_kib: usize, run_for: Duration) -> anyhow::Result<Vec<Flush>> {
    let chunk = vec![0u8; 1 << 20];
    for offset in (0..FILE_BYTES).step_by(chunk.len()) {
        file.write_all_at(&chunk, offset)?;
    }
    file.sync_all()?;

    let write = vec![0x5a_u8; write_kib.clamp(1, 1024) * 1024];
    let slots = FILE_BYTES / write.len() as u64;
    let mut flushes = Vec::new();
    let start = Instant::now();
    while flushes.len() < MAX_FLUSHES && start.elapsed() < run_for {
        let offset = (flushes.len() as u64 % slots) * write.len() as u64;
        let began = start.elapsed();
        file.write_all_at(&write, offset)?;
        file.sync_data()?;
        flushes.push(Flush {
            began,
            ended: start.elapsed(),
        });
    }
    Ok(flushes)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// p50, p99 and p99.9 of `values` (sorted here).
fn percentiles(values: &mut [f64]) -> [f64; 3] {
    values.sort_by(f64::total_cmp);
    [0.50, 0.99, 0.999].map(|q| percentile(values, q))
}
