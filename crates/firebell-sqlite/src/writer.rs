//! Group commit: one thread owns the write connection and runs every write.
//!
//! Callers queue a boxed operation with a oneshot for the reply. The writer
//! blocks for the first operation, drains whatever else is queued (up to
//! [`MAX_BATCH`]), and runs them all in one `BEGIN IMMEDIATE ... COMMIT`, each
//! inside its own savepoint so a failing operation rolls back only itself. Only
//! after `COMMIT` returned (synced, with `synchronous = FULL`) does any caller
//! hear back, so concurrent callers share one fsync and an `Ok` is durable.

use crate::error::{Error, Result};
use crate::open_index::OpenIndex;
use firebell_store::StoreError;
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most operations sharing one transaction.
pub(crate) const MAX_BATCH: usize = 1024;

/// One queued write: run inside the batch, answered after it ends.
pub(crate) trait Pending: Send {
    /// Runs the operation's statements; returns whether it succeeded. May be
    /// called twice: after a first run whose transaction was rolled back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller. `batch` is `Err(reason)` when the batch did not
    /// commit, and then nothing of this operation was written.
    fn reply(self: Box<Self>, batch: std::result::Result<(), &str>);
}

pub(crate) type Job = Box<dyn Pending>;

/// A write operation and the channel its caller waits on.
struct Op<T, F> {
    f: F,
    out: Option<Result<T>>,
    reply: oneshot::Sender<std::result::Result<T, StoreError>>,
}

/// Where a caller waits for its operation's answer.
pub(crate) type Reply<T> = oneshot::Receiver<std::result::Result<T, StoreError>>;

/// Wraps a write operation as a job for the writer, with its reply channel.
pub(crate) fn job<T, F>(f: F) -> (Job, Reply<T>)
where
    T: Send + 'static,
    F: Fn(&Connection) -> Result<T> + Send + 'static,
{
    let (reply, rx) = oneshot::channel();
    let op = Op {
        f,
        out: None,
        reply,
    };
    (Box::new(op), rx)
}

impl<T, F> Pending for Op<T, F>
where
    T: Send + 'static,
    F: Fn(&Connection) -> Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        // A bug in one operation must not take the writer (and so every later
        // write) down with it: a panic fails that operation only.
        let f = &self.f;
        let out = catch_unwind(AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| Err(Error::Other("a write operation panicked".into())));
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn reply(self: Box<Self>, batch: std::result::Result<(), &str>) {
        let Op { f, out, reply } = *self;
        // What the operation holds goes before the answer: a caller that
        // shared data with it gets it back unshared.
        drop(f);
        let answer = match (batch, out) {
            (Ok(()), Some(out)) => out.map_err(StoreError::from),
            // Its own error says more than the batch's.
            (Err(_), Some(Err(e))) => Err(e.into()),
            (Err(reason), _) => Err(StoreError::Backend(reason.to_string())),
            (Ok(()), None) => Err(StoreError::Backend("the write was not run".into())),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = reply.send(answer);
    }
}

/// Under load, how long the writer waits for more work before committing
/// a small batch: every commit costs an fsync and the kernel's work for it,
/// whatever it carries, so gathering the writes that arrive within this
/// window into one commit saves CPU at the cost of at most this much latency.
const GATHER: Duration = Duration::from_millis(1);
/// "Under load": the previous commit ended less than [`BUSY`] ago and carried
/// at least [`BUSY_JOBS`] writes. A trickle of single writes never waits.
const BUSY: Duration = Duration::from_millis(5);
const BUSY_JOBS: usize = 4;
/// A batch this large is committed at once.
const GATHER_ENOUGH: usize = 64;

/// The writer thread's body: runs until every sender is gone.
pub(crate) fn run(conn: Connection, index: &OpenIndex, rx: Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(64);
    let mut last_commit: Option<(Instant, usize)> = None;
    while let Ok(first) = rx.recv() {
        batch.push(first);
        let busy = last_commit.is_some_and(|(t, jobs)| jobs >= BUSY_JOBS && t.elapsed() < BUSY);
        let deadline = Instant::now() + GATHER;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if !busy || batch.len() >= GATHER_ENOUGH || now >= deadline {
                        break;
                    }
                    match rx.recv_timeout(deadline - now) {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
            }
        }
        let jobs = batch.len();
        run_batch(&conn, index, &mut batch);
        last_commit = Some((Instant::now(), jobs));
    }
    tracing::debug!("sqlite writer stopped");
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `batch` in one transaction and answers every caller; leaves it empty.
///
/// The usual case, where every operation succeeds, runs them back to back.
/// Only when one fails is the transaction rolled back and the batch run again
/// with a savepoint around each operation, so the failure is its own; per-op
/// savepoints on every batch would copy each touched page into the
/// sub-journal.
///
/// The in-memory index of open alerts ([`OpenIndex`]) takes the batch's
/// changes when it commits and drops them when anything rolls back.
pub(crate) fn run_batch(conn: &Connection, index: &OpenIndex, batch: &mut Vec<Job>) {
    if fast_pass(conn, batch) {
        finish_batch(conn, index, batch);
        return;
    }
    index.discard();
    run_isolated(conn, index, batch);
}

/// Runs every operation in one transaction without savepoints. Returns true
/// with the transaction still open when all succeeded; otherwise rolls back
/// and returns false.
fn fast_pass(conn: &Connection, batch: &mut [Job]) -> bool {
    if exec(conn, "BEGIN IMMEDIATE").is_err() {
        return false;
    }
    for job in batch.iter_mut() {
        if !job.run(conn) || conn.is_autocommit() {
            if !conn.is_autocommit() {
                let _ = exec(conn, "ROLLBACK");
            }
            return false;
        }
    }
    true
}

/// Commits the open transaction and answers every caller.
fn finish_batch(conn: &Connection, index: &OpenIndex, batch: &mut Vec<Job>) {
    match exec(conn, "COMMIT") {
        Ok(()) => {
            index.commit();
            for job in batch.drain(..) {
                job.reply(Ok(()));
            }
        }
        Err(e) => fail_all(conn, index, batch, &format!("commit failed: {e}")),
    }
}

/// Runs the batch with a savepoint around each operation.
fn run_isolated(conn: &Connection, index: &OpenIndex, batch: &mut Vec<Job>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        fail_all(
            conn,
            index,
            batch,
            &format!("could not start a transaction: {e}"),
        );
        return;
    }
    for job in batch.iter_mut() {
        if let Err(e) = exec(conn, "SAVEPOINT op") {
            fail_all(
                conn,
                index,
                batch,
                &format!("could not set a savepoint: {e}"),
            );
            return;
        }
        let mark = index.mark();
        let ok = job.run(conn);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error):
            // nothing of the batch so far survives.
            fail_all(
                conn,
                index,
                batch,
                "the transaction was rolled back by the database",
            );
            return;
        }
        let end = if ok {
            exec(conn, "RELEASE op")
        } else {
            index.rollback_to(mark);
            exec(conn, "ROLLBACK TO op").and_then(|()| exec(conn, "RELEASE op"))
        };
        if let Err(e) = end {
            fail_all(
                conn,
                index,
                batch,
                &format!("could not end a savepoint: {e}"),
            );
            return;
        }
    }
    finish_batch(conn, index, batch);
}

/// Rolls back whatever is open and fails every operation of the batch.
fn fail_all(conn: &Connection, index: &OpenIndex, batch: &mut Vec<Job>, reason: &str) {
    tracing::error!(ops = batch.len(), "sqlite write batch failed: {reason}");
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    index.discard();
    for job in batch.drain(..) {
        job.reply(Err(reason));
    }
}
