//! Copies the WAL back into the database file beside the writer, so that no batch of sends
//! waits for a checkpoint inside its commit. A passive checkpoint never blocks the writer: it
//! copies what is committed and leaves the rest for the next round.
//!
//! Copying is not enough to keep the WAL small. SQLite starts writing the WAL from its
//! beginning again only when a write transaction begins while every frame is copied back, and
//! under steady load a commit always lands while this thread copies: the WAL grew by ~30 MB a
//! second, past a gigabyte in a benchmark, and every read of a page that is not in it searched
//! the WAL's whole index first. So when the WAL holds more than `RESTART_FRAMES`, this thread
//! asks the writer (`WalRestart`) to copy the few frames committed since, itself, between two
//! of its transactions; the writer's next transaction then starts the WAL over.
//!
//! While the WAL grows, a pass runs every 20 ms. A pass ends with an fsync of the database
//! file, and the writer's next commit waits for the disk behind it: every 250 ms, a pass of
//! ~10 MB held a commit for ~4 ms, and every message in flight with it, about four times a
//! second (the pingpong p99). Small passes hold it up far less.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is copied back while it grows (a few hundred KiB per interval under
/// load), and while it does not (a pass then finds nothing to copy).
const BUSY_INTERVAL: Duration = Duration::from_millis(20);
const IDLE_INTERVAL: Duration = Duration::from_millis(250);
/// WAL frames (4 KiB pages) past which the writer is asked to let the WAL start over.
const RESTART_FRAMES: i64 = 16_384;

/// Set by the checkpoint thread, taken by the writer.
#[derive(Default)]
pub(crate) struct WalRestart(AtomicBool);

impl WalRestart {
    /// Whether the writer should copy the rest of the WAL back now (asked once per request).
    pub(crate) fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// Starts the checkpoint thread; it stops after a last checkpoint once `stop` is dropped.
pub(crate) fn spawn(
    connection: Connection,
    restart: Arc<WalRestart>,
) -> std::io::Result<mpsc::Sender<()>> {
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("confab-store-checkpoint".into())
        .spawn(move || run(&connection, &stopped, &restart))?;
    Ok(stop)
}

fn run(connection: &Connection, stopped: &mpsc::Receiver<()>, restart: &WalRestart) {
    let (mut interval, mut frames_before) = (IDLE_INTERVAL, -1);
    loop {
        let last = matches!(
            stopped.recv_timeout(interval),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        match checkpoint(connection) {
            Ok(frames) => {
                if frames > RESTART_FRAMES {
                    restart.0.store(true, Ordering::Release);
                }
                // Any change (a restart too) means commits are coming.
                interval = if frames == frames_before {
                    IDLE_INTERVAL
                } else {
                    BUSY_INTERVAL
                };
                frames_before = frames;
            }
            Err(error) => tracing::warn!(%error, "checkpoint failed"),
        }
        if last {
            break;
        }
    }
    tracing::debug!("checkpoint thread stopped");
}

/// A passive checkpoint: the frames the WAL holds (-1 when it is not in WAL mode).
pub(crate) fn checkpoint(connection: &Connection) -> rusqlite::Result<i64> {
    // Columns: busy (always 0 for a passive one), frames in the WAL, frames copied back.
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}
