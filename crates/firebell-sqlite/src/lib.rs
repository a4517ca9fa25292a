//! Firebell's embedded store: [`firebell_store::Store`] on SQLite.
//!
//! - One database file, `firebell.db`, in the data directory; WAL mode,
//!   `synchronous = FULL`, so a write that returned `Ok` survives `kill -9` and
//!   power loss.
//! - Writes go through one writer thread that owns the only read-write
//!   connection and commits whatever callers have queued together ("group
//!   commit", see [`writer`]): concurrent ingest requests share one fsync.
//! - Reads run on a small pool of read-only connections in
//!   `spawn_blocking`; WAL lets them proceed while the writer commits.
#![forbid(unsafe_code)]

mod accounts;
mod alerts;
mod bundles;
mod changes;
mod checkpoint;
mod error;
mod escalations;
mod heartbeats;
mod maintenance;
mod nodes;
mod open_index;
mod ops;
mod outbox;
mod overrides;
mod probes;
mod receipts;
mod rows;
mod schema;
mod silences;
mod timeouts;
mod writer;

use crate::error::Result as R;
use firebell_store::{Result, StoreError};
use rusqlite::Connection;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "firebell.db";

/// Idle read-only connections kept for reuse, and the most reads run at once
/// (more wait for a turn: without a bound, reads queued behind a busy disk
/// each took a blocking thread of their own, a hundred and more, and a fresh
/// connection).
const MAX_READERS: usize = 8;

/// The SQLite store. Cheap to clone; the last clone dropped stops the writer.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// `None` only while dropping.
    jobs: Option<mpsc::Sender<writer::Job>>,
    writer: Option<JoinHandle<()>>,
    checkpointer: checkpoint::Checkpointer,
    readers: Mutex<Vec<Connection>>,
    /// One per read running; [`MAX_READERS`] of them.
    read_turns: tokio::sync::Semaphore,
    /// Delivery lanes held (see `BundleStore::lock_lane`).
    lanes: nodes::Lanes,
    /// The open alerts by key and by label (see [`open_index`]).
    index: Arc<open_index::OpenIndex>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Readers and the checkpointer first, so the writer's connection is
        // the last one and checkpoints the WAL as it closes.
        self.readers
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.checkpointer.stop();
        // Closing the channel ends the writer's loop once it has answered what
        // is queued; waiting for it closes the write connection before we return.
        self.jobs.take();
        if let Some(handle) = self.writer.take()
            && handle.join().is_err()
        {
            tracing::error!("the sqlite writer thread panicked");
        }
    }
}

/// Registers on `conn` the SQL functions Firebell's migrations and
/// triggers call, so that a connection of its own (a repair by hand while
/// the server is stopped, a test) may change alerts. The server's index
/// of open alerts is rebuilt from the database when it starts.
pub fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    schema::register_key(conn)?;
    open_index::register_detached(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) `data_dir/firebell.db` and brings its schema
    /// up to date.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        let path = data_dir.join(DB_FILE);
        private_files(data_dir, &path)?;
        let conn = schema::open_writer(&path).map_err(|e| match StoreError::from(e) {
            StoreError::Backend(m) => StoreError::Backend(format!("{}: {m}", path.display())),
            other => other,
        })?;
        // One reader up front: a path that cannot be read fails here, not later.
        let reader = schema::open_reader(&path)?;
        let index = open_index::OpenIndex::attach(&conn)?;
        let checkpointer = checkpoint::Checkpointer::start(&path)?;
        let (jobs, rx) = mpsc::channel();
        let writes_index = Arc::clone(&index);
        let writer = std::thread::Builder::new()
            .name("firebell-sqlite-writer".into())
            .spawn(move || writer::run(conn, &writes_index, rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                jobs: Some(jobs),
                writer: Some(writer),
                checkpointer,
                readers: Mutex::new(vec![reader]),
                read_turns: tokio::sync::Semaphore::new(MAX_READERS),
                lanes: nodes::Lanes::default(),
                index,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Queues a write on the writer thread and waits until its batch committed.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> R<T> + Send + 'static,
    {
        let (job, rx) = writer::job(f);
        self.inner
            .jobs
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on a pooled read-only connection, off the async threads.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> R<T> + Send + 'static,
    {
        let _turn = self
            .inner
            .read_turns
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner.take_reader()?;
            let out = f(&conn);
            inner.put_reader(conn);
            out.map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a read task failed: {e}")))?
    }
}

/// The database holds webhook URLs, addresses and timelines: its directory is
/// created `0700` and the database file is made `0600` (SQLite creates its
/// `-wal` and `-shm` files with the database's mode). An existing directory
/// others can read is left as it is, with a warning.
fn private_files(data_dir: &Path, db: &Path) -> Result<()> {
    let cannot = |what: &Path, e: std::io::Error| {
        StoreError::Backend(format!("cannot create {}: {e}", what.display()))
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        if !data_dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .map_err(|e| cannot(data_dir, e))?;
        } else if let Ok(meta) = std::fs::metadata(data_dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                data_dir = %data_dir.display(),
                "the data directory can be read by other users; chmod 700 it"
            );
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(db)
            .map_err(|e| cannot(db, e))?;
        std::fs::set_permissions(db, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| cannot(db, e))?;
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(data_dir).map_err(|e| cannot(data_dir, e))?;
        let _ = db;
    }
    Ok(())
}

impl Inner {
    fn take_reader(&self) -> Result<Connection> {
        let idle = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => Ok(schema::open_reader(&self.path)?),
        }
    }

    fn put_reader(&self, conn: Connection) {
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_READERS {
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests;
