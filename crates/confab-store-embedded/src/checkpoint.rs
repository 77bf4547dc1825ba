//! Copies the WAL back into the database file beside the writer, so that no batch of sends
//! waits for a checkpoint inside its commit. A passive checkpoint never blocks the writer: it
//! copies what is committed and leaves the rest for the next round.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is copied back; under load it grows by a few MiB per interval at most.
const INTERVAL: Duration = Duration::from_millis(250);

/// Starts the checkpoint thread; it stops after a last checkpoint once `stop` is dropped.
pub(crate) fn spawn(connection: Connection) -> std::io::Result<mpsc::Sender<()>> {
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("confab-store-checkpoint".into())
        .spawn(move || run(&connection, &stopped))?;
    Ok(stop)
}

fn run(connection: &Connection, stopped: &mpsc::Receiver<()>) {
    loop {
        let last = matches!(
            stopped.recv_timeout(INTERVAL),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        let result = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if let Err(error) = result {
            tracing::warn!(%error, "checkpoint failed");
        }
        if last {
            break;
        }
    }
    tracing::debug!("checkpoint thread stopped");
}
