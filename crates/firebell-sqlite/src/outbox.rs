//! The outbox: claiming pages under a lease, finishing attempts, notices, failed pages' follow-up markers.

use crate::SqliteStore;
use crate::error::{Error, Result as R};
use crate::ops::{Line, add_lines, encode_json};
use crate::rows::{self, notification_cols};
use firebell_core::alert::{AlertId, TimelineEntry};
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::notification::{NewNotification, Notification, NotificationId};

use firebell_store::backend::{alert_ids, attach_alerts, lease_end, time_of};
use firebell_store::{Claimed, Finish, OutboxCounts, OutboxStore, PageEnd, Result};
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, params};
use std::collections::HashMap;

/// Leases the pages due at `now` (pending, or sending with an expired lease),
/// earliest first, in two statements whatever their number: the ids, then
/// one `UPDATE … RETURNING`. The alerts they are about are read afterwards on
/// a reader connection (see [`OutboxStore::claim_notifications`]), so the one
/// writer spends nothing on decoding them.
pub(crate) fn claim(
    conn: &Connection,
    now: i64,
    lease_until: i64,
    limit: u32,
) -> R<Vec<(Notification, bool)>> {
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
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let encoded = encode_json(&ids)?;
    let mut stmt = conn.prepare_cached(concat!(
        "UPDATE notifications SET status = 'sending', lease_until = ?2, updated_at = ?3 \
         WHERE id IN (SELECT value FROM json_each(?1)) RETURNING ",
        notification_cols!(),
        ", held_back"
    ))?;
    let mut rows = stmt.query(params![encoded, lease_until, now])?;
    let mut by_id: HashMap<NotificationId, (Notification, bool)> =
        HashMap::with_capacity(ids.len());
    while let Some(r) = rows.next()? {
        let n = rows::notification(r)?;
        let held = r.get::<_, bool>("held_back")?;
        by_id.insert(n.id, (n, held));
    }
    // In the order they were due.
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

pub(crate) struct PreparedFinish {
    id: NotificationId,
    finish: Finish,
    timeline: Vec<Line>,
    alert_id: Option<AlertId>,
    now: i64,
}

impl PreparedFinish {
    pub(crate) fn encode(end: PageEnd) -> R<Self> {
        // The trait passes no "now"; the row's bookkeeping `updated_at` takes
        // the time of the attempt's timeline line when there is one.
        let now = time_of(&end.timeline);
        Ok(PreparedFinish {
            id: end.id,
            finish: end.finish,
            timeline: Line::encode_all(&end.timeline)?,
            alert_id: end.alert_id,
            now: to_millis(now),
        })
    }
}

pub(crate) fn finish(conn: &Connection, f: &PreparedFinish) -> R<bool> {
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
        // A page about an alert gets the follow-up marker in the same write.
        Finish::Failed { error } => conn
            .prepare_cached(
                "UPDATE notifications SET status = 'failed', attempts = attempts + 1, \
                 last_error = ?3, lease_until = NULL, updated_at = ?2, \
                 follow_up = (kind = 'alert.notify' AND alert_id IS NOT NULL) \
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
    pub(crate) fn encode(notices: Vec<NewNotification>, now: jiff::Timestamp) -> R<Self> {
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

pub(crate) fn enqueue_notices(conn: &Connection, p: &PreparedNotices) -> R<Vec<NotificationId>> {
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

pub(crate) fn enqueue_action(
    conn: &Connection,
    run: &NewNotification,
    alert_id: AlertId,
    lines: &[Line],
    now: i64,
) -> R<Option<NotificationId>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO notifications (alert_id, message, idem_key, user_id, contact_index, \
             channel, address, kind, step, loop, status, attempts, next_attempt_at, created_at, \
             updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, 'pending', 0, ?9, ?10, ?10) \
             ON CONFLICT (idem_key) DO NOTHING",
        )?
        .execute(params![
            alert_id,
            run.message,
            run.idem_key,
            run.user,
            run.contact_index,
            run.channel,
            run.address,
            run.kind.as_str(),
            to_millis(run.due_at),
            now
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = conn.last_insert_rowid();
    crate::alerts::add_timeline(conn, alert_id, lines)?;
    Ok(Some(id))
}

/// Clears a failed page's follow-up marker (nothing followed, or the
/// follow-up was written elsewhere); true when it was set.
pub(crate) fn settle_failed(conn: &Connection, id: NotificationId) -> R<bool> {
    let cleared = conn
        .prepare_cached("UPDATE notifications SET follow_up = 0 WHERE id = ?1 AND follow_up = 1")?
        .execute(params![id])?;
    Ok(cleared > 0)
}

impl OutboxStore for SqliteStore {
    async fn claim_notifications(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        let until = to_millis(lease_end(now, lease));
        let now = to_millis(now);
        let leased = self
            .write(move |conn| claim(conn, now, until, limit))
            .await?;
        let ids = alert_ids(&leased);
        let alerts = if ids.is_empty() {
            Vec::new()
        } else {
            self.read(move |conn| crate::silences::alerts_by_id(conn, &ids))
                .await?
        };
        attach_alerts(leased, alerts)
    }

    async fn still_sending(&self, ids: Vec<NotificationId>) -> Result<Vec<NotificationId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = encode_json(&ids)?;
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM notifications \
                 WHERE id IN (SELECT value FROM json_each(?1)) AND status = 'sending'",
            )?;
            let rows = stmt.query_map(params![ids], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
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

    async fn finish_notifications(&self, ends: Vec<PageEnd>) -> Result<Vec<bool>> {
        if ends.is_empty() {
            return Ok(Vec::new());
        }
        let ends = ends
            .into_iter()
            .map(PreparedFinish::encode)
            .collect::<R<Vec<_>>>()?;
        self.write(move |conn| ends.iter().map(|f| self::finish(conn, f)).collect())
            .await
    }

    async fn settle_failed(&self, id: NotificationId) -> Result<bool> {
        self.write(move |conn| settle_failed(conn, id)).await
    }

    async fn failed_pages_to_follow_up(&self, limit: u32) -> Result<Vec<Notification>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(concat!(
                "SELECT ",
                notification_cols!(),
                " FROM notifications WHERE follow_up = 1 ORDER BY id LIMIT ?1"
            ))?;
            rows::collect(&mut stmt, params![limit], rows::notification)
        })
        .await
    }

    async fn enqueue_notices(
        &self,
        notices: Vec<NewNotification>,
        now: Timestamp,
    ) -> Result<Vec<NotificationId>> {
        let notices = PreparedNotices::encode(notices, now)?;
        self.write(move |conn| enqueue_notices(conn, &notices))
            .await
    }

    async fn enqueue_action(
        &self,
        run: NewNotification,
        lines: Vec<TimelineEntry>,
        now: Timestamp,
    ) -> Result<Option<NotificationId>> {
        let Some(alert_id) = run.alert_id else {
            return Err(
                Error::Other(format!("action run {:?} names no alert", run.idem_key)).into(),
            );
        };
        let lines = Line::encode_all(&lines)?;
        let now = to_millis(now);
        self.write(move |conn| enqueue_action(conn, &run, alert_id, &lines, now))
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

    async fn outbox_counts(&self, now: Timestamp) -> Result<OutboxCounts> {
        let now = to_millis(now);
        self.read(move |conn| {
            // Two statements, so each reads only its partial index's rows.
            let (due, waiting, held) = conn
                .prepare_cached(
                    "SELECT COALESCE(SUM(NOT held_back AND next_attempt_at <= ?1), 0), \
                            COALESCE(SUM(NOT held_back AND next_attempt_at > ?1), 0), \
                            COALESCE(SUM(held_back), 0) \
                     FROM notifications WHERE status = 'pending'",
                )?
                .query_row(params![now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let sending = conn
                .prepare_cached("SELECT COUNT(*) FROM notifications WHERE status = 'sending'")?
                .query_row([], |r| r.get(0))?;
            Ok(OutboxCounts {
                due,
                waiting,
                held,
                sending,
            })
        })
        .await
    }
}
