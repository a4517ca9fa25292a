//! Escalation records: what is due, and decisions written under a version check.

use crate::SqliteStore;
use crate::error::Result as R;
use crate::ops::{Line, add_lines, cancel_pages, encode_json};
use crate::rows::{self, escalation_cols};
use firebell_core::alert::{AlertId, AlertStatus};
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::escalation::{Escalation, Transition};
use firebell_core::notification::{NewNotification, NotificationId};

use firebell_store::{CommitResult, EscalationStore, Result};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) struct PreparedCommit {
    expected_version: i64,
    escalation: Escalation,
    targets: String,
    notifications: Vec<NewNotification>,
    timeline: Vec<Line>,
    alert_status: Option<AlertStatus>,
    settles: Option<NotificationId>,
    now: i64,
    /// Pages due at once are written claimed until then (a first step
    /// decided with a claiming `FirstStep`).
    lease_until: Option<i64>,
}

impl PreparedCommit {
    pub(crate) fn encode(expected_version: i64, t: Transition, now: jiff::Timestamp) -> R<Self> {
        Ok(PreparedCommit {
            expected_version,
            targets: encode_json(&t.escalation.targets)?,
            escalation: t.escalation,
            notifications: t.notifications,
            timeline: Line::encode_all(&t.timeline)?,
            alert_status: t.alert_status,
            settles: t.settles,
            now: to_millis(now),
            lease_until: None,
        })
    }

    /// Claim the pages due at once for the caller until `lease_until`.
    pub(crate) fn claiming(mut self, lease_until: Option<Timestamp>) -> Self {
        self.lease_until = lease_until.map(to_millis);
        self
    }

    /// The pages, for the caller to keep.
    pub(crate) fn into_notifications(self) -> Vec<NewNotification> {
        self.notifications
    }
}

pub(crate) fn commit(conn: &Connection, c: &PreparedCommit) -> R<CommitResult> {
    let esc = &c.escalation;
    // A follow-up is written once: if another writer settled the failed page
    // already, this decision is stale. Checked first, so a refusal writes nothing.
    if let Some(id) = c.settles {
        let waiting: Option<bool> = conn
            .prepare_cached("SELECT follow_up FROM notifications WHERE id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?;
        if waiting != Some(true) {
            return Ok(CommitResult::Conflict);
        }
    }
    let changed = conn
        .prepare_cached(
            "UPDATE escalations SET policy = ?3, phase = ?4, step = ?5, loop = ?6, due_at = ?7, \
             targets = ?8, held = ?9, version = version + 1 \
             WHERE alert_id = ?1 AND version = ?2",
        )?
        .execute(params![
            esc.alert_id,
            c.expected_version,
            esc.policy,
            esc.phase.as_str(),
            esc.step,
            esc.loop_,
            esc.due_at.map(to_millis),
            c.targets,
            esc.held
        ])?;
    if changed == 0 {
        return Ok(CommitResult::Conflict);
    }
    if let Some(id) = c.settles {
        conn.prepare_cached("UPDATE notifications SET follow_up = 0 WHERE id = ?1")?
            .execute(params![id])?;
    }
    apply(conn, c)?;
    Ok(CommitResult::Applied)
}

/// A new alert's escalation with its first step already decided (see
/// `firebell_store::FirstStep`): the row is written in the state the
/// transition leaves it, at the version [`commit`] would give it, and the
/// transition's pages and lines go with it. Returns the pages claimed with
/// it (see [`PreparedCommit::claiming`]): their ids and places in
/// [`PreparedCommit::notifications`].
pub(crate) fn insert_decided(
    conn: &Connection,
    c: &PreparedCommit,
) -> R<Vec<(NotificationId, usize)>> {
    insert_row(conn, &c.escalation, &c.targets, c.expected_version + 1)?;
    apply(conn, c)
}

/// One escalation row, its targets encoded, at `version`.
pub(crate) fn insert_row(
    conn: &Connection,
    esc: &Escalation,
    targets: &str,
    version: i64,
) -> R<()> {
    conn.prepare_cached(
        "INSERT INTO escalations (alert_id, policy, phase, step, loop, due_at, targets, version, \
         held) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        esc.alert_id,
        esc.policy,
        esc.phase.as_str(),
        esc.step,
        esc.loop_,
        esc.due_at.map(to_millis),
        targets,
        version,
        esc.held
    ])?;
    Ok(())
}

/// What a transition writes besides the escalation row: the alert's new
/// status (cancelling its queued pages), the pages it queues, its lines.
/// Returns the pages written claimed.
fn apply(conn: &Connection, c: &PreparedCommit) -> R<Vec<(NotificationId, usize)>> {
    let esc = &c.escalation;
    let now = c.now;
    if let Some(status) = c.alert_status {
        // The guards keep an alert from moving backwards (a resolved alert
        // re-acknowledged); the version check already refuses stale decisions.
        let sql = match status {
            AlertStatus::Acknowledged => {
                "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?2, updated_at = ?2 \
                 WHERE id = ?1 AND status = 'triggered'"
            }
            AlertStatus::Resolved => {
                "UPDATE alerts SET status = 'resolved', resolved_at = ?2, updated_at = ?2 \
                 WHERE id = ?1 AND status != 'resolved'"
            }
            AlertStatus::Triggered => {
                "UPDATE alerts SET status = 'triggered', updated_at = ?2 \
                 WHERE id = ?1 AND status = 'acknowledged'"
            }
        };
        conn.prepare_cached(sql)?
            .execute(params![esc.alert_id, now])?;
        if status != AlertStatus::Triggered {
            // Before queueing this transition's own pages, which stay queued.
            cancel_pages(conn, esc.alert_id, now)?;
        }
    }
    let mut claimed = Vec::new();
    for (i, n) in c.notifications.iter().enumerate() {
        let due = to_millis(n.due_at);
        // Due at once and claiming: written `sending` under the lease.
        let lease = c.lease_until.filter(|_| due <= now);
        // Not `RETURNING id`: SQLite runs RETURNING as a trigger, and a
        // statement with one copies every page it changes into a statement
        // journal; a page the insert skipped (a key already queued) leaves
        // `changes()` at 0.
        let inserted = conn
            .prepare_cached(
                "INSERT INTO notifications (alert_id, idem_key, user_id, contact_index, channel, \
                 address, kind, step, loop, status, attempts, next_attempt_at, lease_until, \
                 created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
                 CASE WHEN ?11 IS NULL THEN 'pending' ELSE 'sending' END, 0, ?10, ?11, ?12, ?12) \
                 ON CONFLICT (idem_key) DO NOTHING",
            )?
            .execute(params![
                esc.alert_id,
                n.idem_key,
                n.user,
                n.contact_index,
                n.channel,
                n.address,
                n.kind.as_str(),
                n.step,
                n.loop_,
                due,
                lease,
                now
            ])?;
        let id: Option<NotificationId> = (inserted == 1).then(|| conn.last_insert_rowid());
        if lease.is_some() {
            claimed.extend(id.map(|id| (id, i)));
        }
    }
    add_lines(conn, esc.alert_id, &c.timeline)?;
    Ok(claimed)
}

/// Makes held active escalations due at `now` (see `Store::release_held`).
pub(crate) fn release_held(conn: &Connection, now: i64) -> R<u64> {
    let n = conn
        .prepare_cached(
            "UPDATE escalations SET due_at = ?1, version = version + 1 \
             WHERE held IS NOT NULL AND (phase = 'pending' OR phase = 'waiting')",
        )?
        .execute(params![now])?;
    Ok(n as u64)
}

impl EscalationStore for SqliteStore {
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
        let c = PreparedCommit::encode(expected_version, transition, now)?;
        self.write(move |conn| commit(conn, &c)).await
    }

    async fn release_held(&self, now: Timestamp) -> Result<u64> {
        let now = to_millis(now);
        self.write(move |conn| release_held(conn, now)).await
    }
}
