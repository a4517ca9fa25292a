//! The write operations, run on the writer thread inside a batch's transaction.
//!
//! Everything that can be computed without the database (JSON encoding,
//! messages, timestamps) is computed by the caller before the operation is
//! queued, in a `Prepared*` value, so the single writer thread does as little
//! as possible per row.

use crate::error::{Error, Result};
use crate::rows::{self, alert_cols, notification_cols};
use firebell_core::alert::{AlertId, AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::change::{Change, NewChange};
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::escalation::{Escalation, Transition};
use firebell_core::event::{DedupKey, EventAction};
use firebell_core::notification::{NewNotification, NotificationId};
use firebell_core::schedule::{Override, OverrideKind};
use firebell_store::{Claimed, CommitResult, Finish, IngestItem, IngestOutcome, StoredOverride};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// A timeline line, encoded.
pub(crate) struct Line {
    at: i64,
    kind: &'static str,
    message: String,
    data: Option<String>,
}

impl Line {
    pub(crate) fn encode(e: &TimelineEntry) -> Result<Self> {
        Ok(Line {
            at: to_millis(e.at),
            kind: e.kind.as_str(),
            message: e.message.clone(),
            data: if e.data.is_null() {
                None
            } else {
                Some(encode_json(&e.data)?)
            },
        })
    }
}

fn encode_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Other(format!("could not encode JSON: {e}")))
}

fn add_line(
    conn: &Connection,
    alert_id: AlertId,
    at: i64,
    kind: &str,
    message: &str,
    data: Option<&str>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO timeline (alert_id, at, kind, message, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![alert_id, at, kind, message, data])?;
    Ok(())
}

pub(crate) fn add_lines(conn: &Connection, alert_id: AlertId, lines: &[Line]) -> Result<()> {
    for l in lines {
        add_line(conn, alert_id, l.at, l.kind, &l.message, l.data.as_deref())?;
    }
    Ok(())
}

/// Stops an alert's escalation (bumping its version) and cancels its
/// outstanding pages: what acknowledging or resolving does.
pub(crate) fn stop_alert(conn: &Connection, alert_id: AlertId, now: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE escalations SET phase = 'stopped', due_at = NULL, version = version + 1 \
         WHERE alert_id = ?1",
    )?
    .execute(params![alert_id])?;
    cancel_pages(conn, alert_id, now)
}

fn cancel_pages(conn: &Connection, alert_id: AlertId, now: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE notifications SET status = 'cancelled', lease_until = NULL, updated_at = ?2 \
         WHERE alert_id = ?1 AND (status = 'pending' OR status = 'sending')",
    )?
    .execute(params![alert_id, now])?;
    Ok(())
}

// ---------------------------------------------------------------------------
// ingest

/// The columns of a new alert, encoded.
struct NewAlert {
    summary: String,
    severity: &'static str,
    source: String,
    labels: String,
    details: String,
    /// The `received` line.
    message: String,
}

pub(crate) struct PreparedEvent {
    action: EventAction,
    service: String,
    dedup_key: DedupKey,
    received_at: i64,
    policy: Option<String>,
    /// Set for triggers only.
    new_alert: Option<NewAlert>,
}

impl PreparedEvent {
    pub(crate) fn encode(item: IngestItem) -> Result<Self> {
        let IngestItem {
            event,
            policy,
            received_at,
        } = item;
        let new_alert = match event.action {
            EventAction::Trigger => Some(NewAlert {
                message: if event.source.is_empty() {
                    format!("triggered: {}", event.summary)
                } else {
                    format!("triggered by {}: {}", event.source, event.summary)
                },
                labels: encode_json(&event.labels)?,
                details: encode_json(&event.details)?,
                summary: event.summary,
                severity: event.severity.as_str(),
                source: event.source,
            }),
            EventAction::Acknowledge | EventAction::Resolve => None,
        };
        Ok(PreparedEvent {
            action: event.action,
            service: event.service,
            dedup_key: event.dedup_key,
            received_at: to_millis(received_at),
            policy,
            new_alert,
        })
    }
}

pub(crate) fn ingest(conn: &Connection, events: &[PreparedEvent]) -> Result<Vec<IngestOutcome>> {
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        out.push(ingest_one(conn, ev)?);
    }
    Ok(out)
}

fn ingest_one(conn: &Connection, ev: &PreparedEvent) -> Result<IngestOutcome> {
    let open: Option<(AlertId, String, i64)> = conn
        .prepare_cached(
            "SELECT id, status, count FROM alerts \
             WHERE service = ?1 AND dedup_key = ?2 AND status != 'resolved'",
        )?
        .query_row(params![ev.service, ev.dedup_key.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let open = match open {
        Some((id, status, count)) => Some((
            id,
            status
                .parse::<AlertStatus>()
                .map_err(|e| crate::error::corrupt("alert status", e))?,
            count,
        )),
        None => None,
    };
    let now = ev.received_at;
    let outcome = |alert_id, status, duplicate| IngestOutcome {
        alert_id,
        dedup_key: ev.dedup_key.clone(),
        status,
        duplicate,
    };

    match (ev.action, open) {
        (EventAction::Trigger, Some((id, status, count))) => {
            conn.prepare_cached(
                "UPDATE alerts SET count = count + 1, updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![id, now])?;
            let message = format!("repeat trigger (count {})", count + 1);
            add_line(
                conn,
                id,
                now,
                TimelineKind::Deduplicated.as_str(),
                &message,
                None,
            )?;
            Ok(outcome(Some(id), Some(status), true))
        }
        (EventAction::Trigger, None) => {
            let Some(a) = &ev.new_alert else {
                return Err(Error::Other("a trigger without alert fields".into()));
            };
            conn.prepare_cached(
                "INSERT INTO alerts (service, dedup_key, status, summary, severity, source, \
                 labels, details, count, created_at, updated_at) \
                 VALUES (?1, ?2, 'triggered', ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)",
            )?
            .execute(params![
                ev.service,
                ev.dedup_key.as_str(),
                a.summary,
                a.severity,
                a.source,
                a.labels,
                a.details,
                now
            ])?;
            let id = conn.last_insert_rowid();
            add_line(
                conn,
                id,
                now,
                TimelineKind::Received.as_str(),
                &a.message,
                None,
            )?;
            if let Some(policy) = &ev.policy {
                let esc = Escalation::start(id, policy, firebell_core::clock::from_millis(now));
                insert_escalation(conn, &esc)?;
            }
            Ok(outcome(Some(id), Some(AlertStatus::Triggered), false))
        }
        (EventAction::Acknowledge | EventAction::Resolve, None) => Ok(outcome(None, None, false)),
        (EventAction::Acknowledge, Some((id, AlertStatus::Acknowledged, _))) => {
            Ok(outcome(Some(id), Some(AlertStatus::Acknowledged), true))
        }
        (EventAction::Acknowledge, Some((id, _, _))) => {
            conn.prepare_cached(
                "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?2, updated_at = ?2 \
                 WHERE id = ?1",
            )?
            .execute(params![id, now])?;
            stop_alert(conn, id, now)?;
            add_line(
                conn,
                id,
                now,
                TimelineKind::Acknowledged.as_str(),
                "acknowledged by the source",
                None,
            )?;
            Ok(outcome(Some(id), Some(AlertStatus::Acknowledged), false))
        }
        (EventAction::Resolve, Some((id, _, _))) => {
            conn.prepare_cached(
                "UPDATE alerts SET status = 'resolved', resolved_at = ?2, updated_at = ?2 \
                 WHERE id = ?1",
            )?
            .execute(params![id, now])?;
            stop_alert(conn, id, now)?;
            add_line(
                conn,
                id,
                now,
                TimelineKind::Resolved.as_str(),
                "resolved by the source",
                None,
            )?;
            Ok(outcome(Some(id), Some(AlertStatus::Resolved), false))
        }
    }
}

fn insert_escalation(conn: &Connection, esc: &Escalation) -> Result<()> {
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
        encode_json(&esc.targets)?,
        esc.version,
        esc.held
    ])?;
    Ok(())
}

// ---------------------------------------------------------------------------
// commit

pub(crate) struct PreparedCommit {
    expected_version: i64,
    escalation: Escalation,
    targets: String,
    notifications: Vec<NewNotification>,
    timeline: Vec<Line>,
    alert_status: Option<AlertStatus>,
    now: i64,
}

impl PreparedCommit {
    pub(crate) fn encode(
        expected_version: i64,
        t: Transition,
        now: jiff::Timestamp,
    ) -> Result<Self> {
        Ok(PreparedCommit {
            expected_version,
            targets: encode_json(&t.escalation.targets)?,
            escalation: t.escalation,
            notifications: t.notifications,
            timeline: t.timeline.iter().map(Line::encode).collect::<Result<_>>()?,
            alert_status: t.alert_status,
            now: to_millis(now),
        })
    }
}

pub(crate) fn commit(conn: &Connection, c: &PreparedCommit) -> Result<CommitResult> {
    let esc = &c.escalation;
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
    for n in &c.notifications {
        let due = to_millis(n.due_at);
        conn.prepare_cached(
            "INSERT INTO notifications (alert_id, idem_key, user_id, contact_index, channel, \
             address, kind, step, loop, status, attempts, next_attempt_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', 0, ?10, ?11, ?11) \
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
            now
        ])?;
    }
    add_lines(conn, esc.alert_id, &c.timeline)?;
    Ok(CommitResult::Applied)
}

// ---------------------------------------------------------------------------
// notifications

pub(crate) fn claim(
    conn: &Connection,
    now: i64,
    lease_until: i64,
    limit: u32,
) -> Result<Vec<Claimed>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let ids: Vec<NotificationId> = {
        let mut stmt = conn.prepare_cached(
            "SELECT id, due FROM ( \
                 SELECT id, next_attempt_at AS due FROM notifications \
                 WHERE status = 'pending' AND next_attempt_at <= ?1 \
                 UNION ALL \
                 SELECT id, lease_until AS due FROM notifications \
                 WHERE status = 'sending' AND lease_until <= ?1 \
             ) ORDER BY due, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut alerts = HashMap::new();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let (notification, held) = conn
            .prepare_cached(concat!(
                "UPDATE notifications SET status = 'sending', lease_until = ?2, updated_at = ?3 \
                 WHERE id = ?1 RETURNING ",
                notification_cols!(),
                ", held_back"
            ))?
            .query_row(params![id, lease_until, now], |r| {
                Ok((rows::notification(r), r.get::<_, bool>("held_back")?))
            })?;
        let notification = notification?;
        let alert = match notification.alert_id {
            None => None,
            Some(alert_id) => Some(match alerts.get(&alert_id) {
                Some(a) => Clone::clone(a),
                None => {
                    let a = conn
                        .prepare_cached(concat!(
                            "SELECT ",
                            alert_cols!(),
                            " FROM alerts WHERE id = ?1"
                        ))?
                        .query_row(params![alert_id], |r| Ok(rows::alert(r)))??;
                    alerts.insert(alert_id, a.clone());
                    a
                }
            }),
        };
        out.push(Claimed {
            notification,
            alert,
            held,
        });
    }
    Ok(out)
}

pub(crate) struct PreparedFinish {
    id: NotificationId,
    finish: Finish,
    timeline: Vec<Line>,
    alert_id: Option<AlertId>,
    now: i64,
}

impl PreparedFinish {
    pub(crate) fn encode(
        id: NotificationId,
        finish: Finish,
        timeline: Vec<TimelineEntry>,
        alert_id: Option<AlertId>,
    ) -> Result<Self> {
        // The trait passes no "now"; the row's bookkeeping `updated_at` takes
        // the time of the attempt's timeline line when there is one.
        let now = timeline
            .iter()
            .map(|e| e.at)
            .max()
            .unwrap_or_else(jiff::Timestamp::now);
        Ok(PreparedFinish {
            id,
            finish,
            timeline: timeline.iter().map(Line::encode).collect::<Result<_>>()?,
            alert_id,
            now: to_millis(now),
        })
    }
}

pub(crate) fn finish(conn: &Connection, f: &PreparedFinish) -> Result<bool> {
    let changed = match &f.finish {
        Finish::Delivered { detail } => conn
            .prepare_cached(
                "UPDATE notifications SET status = 'delivered', attempts = attempts + 1, \
                 detail = ?3, lease_until = NULL, updated_at = ?2, sent_at = ?2 \
                 WHERE id = ?1 AND status = 'sending'",
            )?
            .execute(params![f.id, f.now, detail])?,
        Finish::Retry { at, error } => conn
            .prepare_cached(
                "UPDATE notifications SET status = 'pending', attempts = attempts + 1, \
                 next_attempt_at = ?3, last_error = ?4, lease_until = NULL, updated_at = ?2 \
                 WHERE id = ?1 AND status = 'sending'",
            )?
            .execute(params![f.id, f.now, to_millis(*at), error])?,
        Finish::Failed { error } => conn
            .prepare_cached(
                "UPDATE notifications SET status = 'failed', attempts = attempts + 1, \
                 last_error = ?3, lease_until = NULL, updated_at = ?2 \
                 WHERE id = ?1 AND status = 'sending'",
            )?
            .execute(params![f.id, f.now, error])?,
    };
    if let Some(alert_id) = f.alert_id {
        add_lines(conn, alert_id, &f.timeline)?;
    }
    Ok(changed > 0)
}

/// Notices to queue, checked as they will be stored.
pub(crate) struct PreparedNotices {
    notices: Vec<NewNotification>,
    now: i64,
}

impl PreparedNotices {
    pub(crate) fn encode(notices: Vec<NewNotification>, now: jiff::Timestamp) -> Result<Self> {
        if let Some(n) = notices
            .iter()
            .find(|n| n.alert_id.is_some() || n.message.is_none())
        {
            return Err(Error::Other(format!(
                "notice {:?} must have a message and no alert",
                n.idem_key
            )));
        }
        Ok(PreparedNotices {
            notices,
            now: to_millis(now),
        })
    }
}

pub(crate) fn enqueue_notices(
    conn: &Connection,
    p: &PreparedNotices,
) -> Result<Vec<NotificationId>> {
    let mut ids = Vec::with_capacity(p.notices.len());
    for n in &p.notices {
        conn.prepare_cached(
            "INSERT INTO notifications (alert_id, message, idem_key, user_id, contact_index, \
             channel, address, kind, step, loop, status, attempts, next_attempt_at, created_at, \
             updated_at) \
             VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, 'pending', 0, ?8, ?9, ?9) \
             ON CONFLICT (idem_key) DO NOTHING",
        )?
        .execute(params![
            n.message,
            n.idem_key,
            n.user,
            n.contact_index,
            n.channel,
            n.address,
            n.kind.as_str(),
            to_millis(n.due_at),
            p.now
        ])?;
        let id: NotificationId = conn
            .prepare_cached("SELECT id FROM notifications WHERE idem_key = ?1")?
            .query_row(params![n.idem_key], |r| r.get(0))?;
        ids.push(id);
    }
    Ok(ids)
}

// ---------------------------------------------------------------------------
// schedule overrides

/// A new override, encoded and checked as it will be stored.
pub(crate) struct PreparedOverride {
    /// What the insert returns, with the assigned id filled in.
    stored: StoredOverride,
    start_at: i64,
    end_at: i64,
    kind: &'static str,
    user_id: String,
    replacement: Option<String>,
    created_at: i64,
}

impl PreparedOverride {
    /// Truncates the instants to milliseconds and checks the result with
    /// [`Override::new`], so that no row is written that could not be read back.
    pub(crate) fn encode(
        schedule: String,
        o: Override,
        created_by: String,
        now: jiff::Timestamp,
    ) -> Result<Self> {
        let (start_at, end_at, created_at) = (to_millis(o.start), to_millis(o.end), to_millis(now));
        let (kind, user_id, replacement) = match &o.kind {
            OverrideKind::Add { user } => ("add", user.clone(), None),
            OverrideKind::Remove { user } => ("remove", user.clone(), None),
            OverrideKind::Replace { from, to } => ("replace", from.clone(), Some(to.clone())),
        };
        let override_ = Override::new(0, from_millis(start_at), from_millis(end_at), o.kind)
            .map_err(|e| {
                Error::Other(format!(
                    "invalid override of schedule {schedule:?}: {}",
                    rows::override_errors(&e)
                ))
            })?;
        Ok(PreparedOverride {
            stored: StoredOverride {
                schedule,
                override_,
                created_by,
                created_at: from_millis(created_at),
            },
            start_at,
            end_at,
            kind,
            user_id,
            replacement,
            created_at,
        })
    }
}

pub(crate) fn add_override(conn: &Connection, o: &PreparedOverride) -> Result<StoredOverride> {
    let id = conn
        .prepare_cached(
            "INSERT INTO schedule_overrides \
             (schedule, start_at, end_at, kind, user_id, replacement, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )?
        .query_row(
            params![
                o.stored.schedule,
                o.start_at,
                o.end_at,
                o.kind,
                o.user_id,
                o.replacement,
                o.stored.created_by,
                o.created_at
            ],
            |r| r.get::<_, i64>(0),
        )?;
    let mut stored = o.stored.clone();
    stored.override_.id = id;
    Ok(stored)
}

/// Makes held active escalations due at `now` (see `Store::release_held`).
pub(crate) fn release_held(conn: &Connection, now: i64) -> Result<u64> {
    let n = conn
        .prepare_cached(
            "UPDATE escalations SET due_at = ?1, version = version + 1 \
             WHERE held IS NOT NULL AND (phase = 'pending' OR phase = 'waiting')",
        )?
        .execute(params![now])?;
    Ok(n as u64)
}

pub(crate) fn delete_override(conn: &Connection, id: i64) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM schedule_overrides WHERE id = ?1")?
        .execute(params![id])?;
    Ok(n > 0)
}

// ---------------------------------------------------------------------------
// change events

/// A change, encoded as it will be stored.
pub(crate) struct PreparedChange {
    change: NewChange,
    details: String,
}

impl PreparedChange {
    pub(crate) fn encode(change: NewChange) -> Result<Self> {
        Ok(PreparedChange {
            details: encode_json(&change.details)?,
            change,
        })
    }
}

pub(crate) fn add_change(conn: &Connection, p: &PreparedChange) -> Result<Change> {
    let c = &p.change;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO changes (service, summary, source, occurred_at, received_at, details) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )?
        .query_row(
            params![
                c.service,
                c.summary,
                c.source,
                to_millis(c.occurred_at),
                to_millis(c.received_at),
                p.details
            ],
            |r| r.get(0),
        )?;
    // As read back: instants to the millisecond.
    let mut change = c.clone();
    change.occurred_at = from_millis(to_millis(c.occurred_at));
    change.received_at = from_millis(to_millis(c.received_at));
    Ok(Change { id, change })
}

// ---------------------------------------------------------------------------
// provider callbacks

/// Notes a callback's key; true when it was not there before.
pub(crate) fn record_receipt(conn: &Connection, key: &str, now: i64) -> Result<bool> {
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO receipts (key, received_at) VALUES (?1, ?2)")?
        .execute(params![key, now])?;
    Ok(n > 0)
}

pub(crate) fn forget_receipt(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM receipts WHERE key = ?1")?
        .execute(params![key])?;
    Ok(())
}

pub(crate) fn add_timeline(conn: &Connection, alert_id: AlertId, lines: &[Line]) -> Result<()> {
    add_lines(conn, alert_id, lines)
}
