//! Checkpoints of the WAL on a thread of their own, so copying pages into
//! the database file and syncing it never holds up the writer.
//!
//! Every [`EVERY`] the checkpointer copies what the WAL holds into the
//! database (`PRAGMA wal_checkpoint(PASSIVE)`: it takes no lock the writer
//! needs and stops short of pages a reader still uses); the writer then
//! starts the WAL over. The writer's own automatic checkpoint stays as a
//! backstop at a length this thread keeps the WAL well under.

use crate::error::Result;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the WAL is copied into the database.
const EVERY: Duration = Duration::from_millis(500);

/// The running checkpointer; [`Checkpointer::stop`] ends it.
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on a connection of its own to `path` (which the
    /// writer has already created and migrated).
    pub(crate) fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("firebell-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| {
                crate::error::Error::Other(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Ends the thread and closes its connection, waiting for both.
    pub(crate) fn stop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the sqlite checkpoint thread panicked");
        }
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        // A partial copy (a reader still on older pages) is finished by a
        // later round.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpointing the sqlite WAL failed; trying again shortly");
        }
    }
}
