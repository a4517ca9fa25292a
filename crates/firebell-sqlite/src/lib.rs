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

mod bundles;
mod error;
mod maintenance;
mod ops;
mod rows;
mod schema;
mod silences;
mod writer;

use crate::error::Result as R;
use crate::rows::{alert_cols, escalation_cols, notification_cols, override_cols};
use firebell_core::alert::{Alert, AlertId, TimelineEntry};
use firebell_core::change::{Change, NewChange};
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::escalation::{Escalation, Transition};
use firebell_core::notification::{NewNotification, Notification, NotificationId};
use firebell_core::schedule::Override;
use firebell_store::{
    AlertCounts, AlertFilter, Claimed, CommitResult, Finish, IngestItem, IngestOutcome, Result,
    Store, StoreError, StoredOverride,
};
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "firebell.db";

/// Idle read-only connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;

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
    readers: Mutex<Vec<Connection>>,
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
        // Readers first, so the writer's connection is the last one and
        // checkpoints the WAL as it closes.
        self.readers
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
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

impl SqliteStore {
    /// Opens (creating if needed) `data_dir/firebell.db` and brings its schema
    /// up to date.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DB_FILE);
        let conn = schema::open_writer(&path).map_err(|e| match StoreError::from(e) {
            StoreError::Backend(m) => StoreError::Backend(format!("{}: {m}", path.display())),
            other => other,
        })?;
        // One reader up front: a path that cannot be read fails here, not later.
        let reader = schema::open_reader(&path)?;
        let (jobs, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("firebell-sqlite-writer".into())
            .spawn(move || writer::run(conn, rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                jobs: Some(jobs),
                writer: Some(writer),
                readers: Mutex::new(vec![reader]),
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
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

fn get_alert(conn: &Connection, id: AlertId) -> R<Option<Alert>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        alert_cols!(),
        " FROM alerts WHERE id = ?1"
    ))?
    .query_row(params![id], |r| Ok(rows::alert(r)))
    .optional()?
    .transpose()
}

fn list_alerts(conn: &Connection, f: &AlertFilter) -> R<Vec<Alert>> {
    if f.limit == 0 {
        return Ok(Vec::new());
    }
    let before = f.before.unwrap_or(i64::MAX);
    let status = f.status.map(|s| s.as_str());
    macro_rules! select {
        ($where:literal) => {
            concat!(
                "SELECT ",
                alert_cols!(),
                " FROM alerts WHERE id < ?1",
                $where,
                " ORDER BY id DESC LIMIT ?2"
            )
        };
    }
    let mut stmt = match (status, &f.service) {
        (None, None) => conn.prepare_cached(select!(""))?,
        (Some(_), None) => conn.prepare_cached(select!(" AND status = ?3"))?,
        (None, Some(_)) => conn.prepare_cached(select!(" AND service = ?3"))?,
        (Some(_), Some(_)) => conn.prepare_cached(select!(" AND status = ?3 AND service = ?4"))?,
    };
    match (status, &f.service) {
        (None, None) => rows::collect(&mut stmt, params![before, f.limit], rows::alert),
        (Some(s), None) => rows::collect(&mut stmt, params![before, f.limit, s], rows::alert),
        (None, Some(svc)) => rows::collect(&mut stmt, params![before, f.limit, svc], rows::alert),
        (Some(s), Some(svc)) => {
            rows::collect(&mut stmt, params![before, f.limit, s, svc], rows::alert)
        }
    }
}

fn lease_end(now: Timestamp, lease: SignedDuration) -> Timestamp {
    now.checked_add(lease).unwrap_or(if lease.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// `t` in whole milliseconds, rounded down (`to_millis` truncates toward zero).
fn floor_millis(t: Timestamp) -> i64 {
    // Any Timestamp's millisecond count fits an i64.
    t.as_nanosecond().div_euclid(1_000_000) as i64
}

/// `t` in whole milliseconds, rounded up.
fn ceil_millis(t: Timestamp) -> i64 {
    -((-t.as_nanosecond()).div_euclid(1_000_000)) as i64
}

fn overrides(
    conn: &Connection,
    schedule: Option<&str>,
    from: i64,
    to: i64,
) -> R<Vec<StoredOverride>> {
    match schedule {
        Some(schedule) => {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                override_cols!(),
                " FROM schedule_overrides \
                 WHERE schedule = ?3 AND end_at > ?1 AND start_at < ?2 ORDER BY id"
            ))?;
            rows::collect(
                &mut stmt,
                params![from, to, schedule],
                rows::stored_override,
            )
        }
        None => {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                override_cols!(),
                " FROM schedule_overrides WHERE end_at > ?1 AND start_at < ?2 ORDER BY id"
            ))?;
            rows::collect(&mut stmt, params![from, to], rows::stored_override)
        }
    }
}

impl Store for SqliteStore {
    async fn ingest(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let events = items
            .into_iter()
            .map(ops::PreparedEvent::encode)
            .collect::<R<Vec<_>>>()?;
        self.write(move |conn| ops::ingest(conn, &events)).await
    }

    async fn get_alert(&self, id: AlertId) -> Result<Option<Alert>> {
        self.read(move |conn| get_alert(conn, id)).await
    }

    async fn list_alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>> {
        self.read(move |conn| list_alerts(conn, &filter)).await
    }

    async fn timeline(&self, id: AlertId) -> Result<Vec<TimelineEntry>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at, kind, message, data FROM timeline WHERE alert_id = ?1 ORDER BY id",
            )?;
            rows::collect(&mut stmt, params![id], rows::timeline)
        })
        .await
    }

    async fn alert_counts(&self) -> Result<AlertCounts> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT status, COUNT(*) FROM alerts WHERE status IN ('triggered', 'acknowledged') \
                 GROUP BY status",
            )?;
            let mut counts = AlertCounts::default();
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let status: String = row.get(0)?;
                let n: i64 = row.get(1)?;
                match status.as_str() {
                    "triggered" => counts.triggered = n,
                    "acknowledged" => counts.acknowledged = n,
                    _ => {}
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn escalation(&self, id: AlertId) -> Result<Option<Escalation>> {
        self.read(move |conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                escalation_cols!(),
                " FROM escalations WHERE alert_id = ?1"
            ))?
            .query_row(params![id], |r| Ok(rows::escalation(r)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn due_escalations(&self, now: Timestamp, limit: u32) -> Result<Vec<Escalation>> {
        let now = to_millis(now);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                escalation_cols!(),
                " FROM escalations WHERE phase IN ('pending', 'waiting') AND due_at <= ?1 \
                 ORDER BY due_at, alert_id LIMIT ?2"
            ))?;
            rows::collect(&mut stmt, params![now, limit], rows::escalation)
        })
        .await
    }

    async fn next_escalation_due(&self) -> Result<Option<Timestamp>> {
        self.read(|conn| {
            let due: Option<i64> = conn
                .prepare_cached(
                    "SELECT MIN(due_at) FROM escalations WHERE phase IN ('pending', 'waiting')",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(due.map(from_millis))
        })
        .await
    }

    async fn commit(
        &self,
        expected_version: i64,
        transition: Transition,
        now: Timestamp,
    ) -> Result<CommitResult> {
        let c = ops::PreparedCommit::encode(expected_version, transition, now)?;
        self.write(move |conn| ops::commit(conn, &c)).await
    }

    async fn claim_notifications(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        let until = to_millis(lease_end(now, lease));
        let now = to_millis(now);
        self.write(move |conn| ops::claim(conn, now, until, limit))
            .await
    }

    async fn next_notification_due(&self) -> Result<Option<Timestamp>> {
        self.read(|conn| {
            let due: Option<i64> = conn
                .prepare_cached(
                    "SELECT MIN(due) FROM ( \
                         SELECT MIN(next_attempt_at) AS due FROM notifications \
                         WHERE status = 'pending' \
                         UNION ALL \
                         SELECT MIN(lease_until) AS due FROM notifications \
                         WHERE status = 'sending')",
                )?
                .query_row([], |r| r.get(0))?;
            Ok(due.map(from_millis))
        })
        .await
    }

    async fn finish_notification(
        &self,
        id: NotificationId,
        finish: Finish,
        timeline: Vec<TimelineEntry>,
        alert_id: Option<AlertId>,
    ) -> Result<bool> {
        let f = ops::PreparedFinish::encode(id, finish, timeline, alert_id)?;
        self.write(move |conn| ops::finish(conn, &f)).await
    }

    async fn enqueue_notices(
        &self,
        notices: Vec<NewNotification>,
        now: Timestamp,
    ) -> Result<Vec<NotificationId>> {
        let notices = ops::PreparedNotices::encode(notices, now)?;
        self.write(move |conn| ops::enqueue_notices(conn, &notices))
            .await
    }

    async fn get_notification(&self, id: NotificationId) -> Result<Option<Notification>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                notification_cols!(),
                " FROM notifications WHERE id = ?1"
            ))?;
            Ok(rows::collect(&mut stmt, params![id], rows::notification)?
                .into_iter()
                .next())
        })
        .await
    }

    async fn notifications(&self, alert_id: AlertId) -> Result<Vec<Notification>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                notification_cols!(),
                " FROM notifications WHERE alert_id = ?1 ORDER BY id"
            ))?;
            rows::collect(&mut stmt, params![alert_id], rows::notification)
        })
        .await
    }

    async fn add_override(
        &self,
        schedule: String,
        override_: Override,
        created_by: String,
        now: Timestamp,
    ) -> Result<StoredOverride> {
        let o = ops::PreparedOverride::encode(schedule, override_, created_by, now)?;
        self.write(move |conn| ops::add_override(conn, &o)).await
    }

    async fn overrides(
        &self,
        schedule: Option<String>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredOverride>> {
        if from >= to {
            return Ok(Vec::new());
        }
        // Stored instants are whole milliseconds: `end > from` and
        // `start < to` hold exactly when they do against `from` rounded down
        // and `to` rounded up.
        let (from, to) = (floor_millis(from), ceil_millis(to));
        self.read(move |conn| overrides(conn, schedule.as_deref(), from, to))
            .await
    }

    async fn get_override(&self, id: i64) -> Result<Option<StoredOverride>> {
        self.read(move |conn| {
            conn.prepare_cached(concat!(
                "SELECT ",
                override_cols!(),
                " FROM schedule_overrides WHERE id = ?1"
            ))?
            .query_row(params![id], |r| Ok(rows::stored_override(r)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn release_held(&self, now: Timestamp) -> Result<u64> {
        let now = to_millis(now);
        self.write(move |conn| ops::release_held(conn, now)).await
    }

    async fn delete_override(&self, id: i64) -> Result<bool> {
        self.write(move |conn| ops::delete_override(conn, id)).await
    }

    async fn add_change(&self, change: NewChange) -> Result<Change> {
        let prepared = ops::PreparedChange::encode(change)?;
        self.write(move |conn| ops::add_change(conn, &prepared))
            .await
    }

    async fn changes(
        &self,
        service: Option<String>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Change>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, service, summary, source, occurred_at, received_at, details \
                 FROM changes WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR id < ?2) \
                 ORDER BY id DESC LIMIT ?3",
            )?;
            rows::collect(&mut stmt, params![service, before, limit], rows::change)
        })
        .await
    }

    async fn record_receipt(&self, key: String, now: Timestamp) -> Result<bool> {
        let now = to_millis(now);
        self.write(move |conn| ops::record_receipt(conn, &key, now))
            .await
    }

    async fn forget_receipt(&self, key: String) -> Result<()> {
        self.write(move |conn| ops::forget_receipt(conn, &key))
            .await
    }

    async fn add_timeline(&self, alert_id: AlertId, lines: Vec<TimelineEntry>) -> Result<()> {
        let lines = lines.iter().map(ops::Line::encode).collect::<R<Vec<_>>>()?;
        self.write(move |conn| ops::add_timeline(conn, alert_id, &lines))
            .await
    }

    async fn latest_open_alert_paged(&self, user: String) -> Result<Option<AlertId>> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT alert_id FROM notifications \
                     WHERE user_id = ?1 AND kind = 'alert.notify' AND alert_id IN \
                     (SELECT id FROM alerts WHERE status != 'resolved') \
                     ORDER BY alert_id DESC LIMIT 1",
                )?
                .query_row(params![user], |r| r.get::<_, AlertId>(0))
                .optional()?)
        })
        .await
    }

    async fn count_sends(
        &self,
        rate_key: String,
        page: Option<NotificationId>,
        after: Timestamp,
    ) -> Result<Vec<Timestamp>> {
        let after = floor_millis(after);
        let sends = self
            .write(move |conn| bundles::count_sends(conn, &rate_key, page, after))
            .await?;
        Ok(sends.into_iter().map(from_millis).collect())
    }

    async fn hold_notification(
        &self,
        id: NotificationId,
        until: Timestamp,
        held_back: bool,
        timeline: Vec<TimelineEntry>,
        alert_id: Option<AlertId>,
    ) -> Result<bool> {
        let h = bundles::PreparedHold::encode(id, until, held_back, &timeline, alert_id)?;
        self.write(move |conn| bundles::hold(conn, &h)).await
    }

    async fn claim_bundle(
        &self,
        scope: firebell_store::BundleScope,
        except: Vec<NotificationId>,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let s = bundles::PreparedScope::encode(scope, &except)?;
        let until = to_millis(lease_end(now, lease));
        let now = to_millis(now);
        self.write(move |conn| bundles::claim_bundle(conn, &s, now, until, limit))
            .await
    }

    async fn finish_bundled(
        &self,
        leader: NotificationId,
        pages: Vec<firebell_store::BundledPage>,
        finish: Finish,
        now: Timestamp,
    ) -> Result<Vec<NotificationId>> {
        if pages.is_empty() {
            return Ok(Vec::new());
        }
        let b = bundles::PreparedBundled::encode(leader, pages, finish, now)?;
        self.write(move |conn| bundles::finish_bundled(conn, &b))
            .await
    }

    async fn add_maintenance(
        &self,
        window: firebell_store::NewMaintenance,
        now: Timestamp,
    ) -> Result<firebell_store::MaintenanceWindow> {
        let p = maintenance::PreparedMaintenance::encode(window, now)?;
        self.write(move |conn| maintenance::add(conn, &p)).await
    }

    async fn maintenance_windows(
        &self,
        filter: firebell_store::MaintenanceFilter,
    ) -> Result<Vec<firebell_store::MaintenanceWindow>> {
        self.read(move |conn| maintenance::list(conn, &filter))
            .await
    }

    async fn get_maintenance(&self, id: i64) -> Result<Option<firebell_store::MaintenanceWindow>> {
        self.read(move |conn| maintenance::get(conn, id)).await
    }

    async fn end_maintenance(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<firebell_store::MaintenanceWindow>> {
        let now = to_millis(now);
        self.write(move |conn| maintenance::end(conn, id, now))
            .await
    }

    async fn acknowledged_before(
        &self,
        service: String,
        acknowledged_by: Timestamp,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let by = floor_millis(acknowledged_by);
        self.read(move |conn| maintenance::acknowledged_before(conn, &service, by, limit))
            .await
    }

    async fn open_not_updated_since(
        &self,
        service: String,
        updated_by: Timestamp,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let by = floor_millis(updated_by);
        self.read(move |conn| maintenance::open_not_updated_since(conn, &service, by, limit))
            .await
    }

    async fn retrigger(
        &self,
        alert_id: AlertId,
        acknowledged_at: Timestamp,
        line: TimelineEntry,
        now: Timestamp,
    ) -> Result<bool> {
        let line = ops::Line::encode(&line)?;
        let (at, now) = (to_millis(acknowledged_at), to_millis(now));
        self.write(move |conn| maintenance::retrigger(conn, alert_id, at, &line, now))
            .await
    }

    async fn resolve_if_unchanged(
        &self,
        alert_id: AlertId,
        updated_at: Timestamp,
        line: TimelineEntry,
        now: Timestamp,
    ) -> Result<bool> {
        let line = ops::Line::encode(&line)?;
        let (at, now) = (to_millis(updated_at), to_millis(now));
        self.write(move |conn| maintenance::resolve_if_unchanged(conn, alert_id, at, &line, now))
            .await
    }

    async fn add_silence(
        &self,
        silence: firebell_core::silence::Silence,
        replaces: Option<String>,
        now: Timestamp,
    ) -> Result<()> {
        let p = silences::PreparedSilence::encode(silence, replaces, now)?;
        self.write(move |conn| silences::add(conn, &p)).await
    }

    async fn get_alerts(&self, ids: Vec<AlertId>) -> Result<Vec<Alert>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |conn| silences::alerts_by_id(conn, &ids))
            .await
    }

    async fn get_silence(&self, id: String) -> Result<Option<firebell_core::silence::Silence>> {
        self.read(move |conn| silences::get(conn, &id)).await
    }

    async fn silences(
        &self,
        ending_after: Option<Timestamp>,
    ) -> Result<Vec<firebell_core::silence::Silence>> {
        let ending_after = ending_after.map(floor_millis);
        self.read(move |conn| silences::list(conn, ending_after))
            .await
    }

    async fn expire_silence(&self, id: String, now: Timestamp) -> Result<bool> {
        let now = to_millis(now);
        self.write(move |conn| silences::expire(conn, &id, now))
            .await
    }

    async fn ping(&self) -> Result<()> {
        if self.inner.writer.as_ref().is_none_or(|w| w.is_finished()) {
            return Err(StoreError::Closed);
        }
        self.read(|conn| {
            conn.prepare_cached("SELECT 1")?
                .query_row([], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
