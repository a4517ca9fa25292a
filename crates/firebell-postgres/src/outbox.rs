//! The outbox: pages claimed under a lease (rows locked with `SKIP LOCKED`,
//! so two nodes never take one page), attempts finished once, notices,
//! failed pages' follow-up markers.

use crate::alerts::{add_lines, alerts_by_id};
use crate::error::Result as R;
use crate::rows::{self, notification_cols};
use crate::sql::{collect, exec, query, query_one};
use crate::{PgStore, in_tx, with_client};
use deadpool_postgres::GenericClient;
use firebell_core::alert::{AlertId, TimelineEntry};
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::notification::{NewNotification, Notification, NotificationId};
use firebell_store::backend::{Line, alert_ids, attach_alerts, lease_end, time_of};
use firebell_store::{Claimed, Finish, OutboxCounts, OutboxStore, PageEnd, Result, StoreError};
use jiff::{SignedDuration, Timestamp};

/// Leases the pages due at `now` (pending, or sending with an expired lease),
/// earliest first: the rows are locked, skipping any another node holds, and
/// marked `sending` in one statement.
async fn claim<C: GenericClient>(
    c: &C,
    now: i64,
    until: i64,
    limit: u32,
) -> R<Vec<(Notification, bool)>> {
    let rows = query(
        c,
        concat!(
            "WITH p AS (SELECT id, next_attempt_at AS due FROM notifications \
                 WHERE status = 'pending' AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED), \
             s AS (SELECT id, lease_until AS due FROM notifications \
                 WHERE status = 'sending' AND lease_until <= $1 \
                 ORDER BY lease_until, id LIMIT $3 FOR UPDATE SKIP LOCKED), \
             picked AS (SELECT id AS pid, due AS pdue FROM \
                 (SELECT id, due FROM p UNION ALL SELECT id, due FROM s) u \
                 ORDER BY due, id LIMIT $3) \
             UPDATE notifications SET status = 'sending', lease_until = $2, updated_at = $1 \
             FROM picked WHERE id = picked.pid RETURNING ",
            notification_cols!(),
            ", held_back, picked.pdue"
        ),
        &[&now, &until, &i64::from(limit)],
    )
    .await?;
    rows::leased(&rows)
}

/// Each claimed page with its alert as it is now.
pub(crate) async fn with_alerts<C: GenericClient>(
    c: &C,
    leased: Vec<(Notification, bool)>,
) -> R<Vec<Claimed>> {
    let ids = alert_ids(&leased);
    let alerts = if ids.is_empty() {
        Vec::new()
    } else {
        alerts_by_id(c, &ids).await?
    };
    Ok(attach_alerts(leased, alerts)?)
}

async fn finish<C: GenericClient>(
    c: &C,
    id: NotificationId,
    finish: &Finish,
    timeline: &[Line],
    alert_id: Option<AlertId>,
    now: i64,
) -> R<bool> {
    let changed = match finish {
        Finish::Delivered { detail } => {
            exec(
                c,
                "UPDATE notifications SET status = 'delivered', attempts = attempts + 1, \
                 detail = $3, lease_until = NULL, updated_at = $2, sent_at = $2 \
                 WHERE id = $1 AND status = 'sending'",
                &[&id, &now, detail],
            )
            .await?
        }
        Finish::Retry { at, error } => {
            exec(
                c,
                "UPDATE notifications SET status = 'pending', attempts = attempts + 1, \
                 next_attempt_at = $3, last_error = $4, lease_until = NULL, updated_at = $2 \
                 WHERE id = $1 AND status = 'sending'",
                &[&id, &now, &to_millis(*at), error],
            )
            .await?
        }
        // A page about an alert gets the follow-up marker in the same write.
        Finish::Failed { error } => {
            exec(
                c,
                "UPDATE notifications SET status = 'failed', attempts = attempts + 1, \
                 last_error = $3, lease_until = NULL, updated_at = $2, \
                 follow_up = (kind = 'alert.notify' AND alert_id IS NOT NULL) \
                 WHERE id = $1 AND status = 'sending'",
                &[&id, &now, error],
            )
            .await?
        }
    };
    if let Some(alert_id) = alert_id {
        add_lines(c, alert_id, timeline).await?;
    }
    Ok(changed > 0)
}

async fn enqueue<C: GenericClient>(
    c: &C,
    notices: &[NewNotification],
    now: i64,
) -> R<Vec<NotificationId>> {
    let mut ids = Vec::with_capacity(notices.len());
    for n in notices {
        exec(
            c,
            "INSERT INTO notifications (alert_id, message, idem_key, user_id, contact_index, \
             channel, address, kind, step, loop, status, attempts, next_attempt_at, created_at, \
             updated_at) \
             VALUES (NULL, $1, $2, $3, $4, $5, $6, $7, 0, 0, 'pending', 0, $8, $9, $9) \
             ON CONFLICT (idem_key) DO NOTHING",
            &[
                &n.message,
                &n.idem_key,
                &n.user,
                &i64::from(n.contact_index),
                &n.channel,
                &n.address,
                &n.kind.as_str(),
                &to_millis(n.due_at),
                &now,
            ],
        )
        .await?;
        let id: NotificationId = query_one(
            c,
            "SELECT id FROM notifications WHERE idem_key = $1",
            &[&n.idem_key],
        )
        .await?
        .get(0);
        ids.push(id);
    }
    if !notices.is_empty() {
        crate::wake::notify(c).await?;
    }
    Ok(ids)
}

impl OutboxStore for PgStore {
    fn on_wake(&self, wake: std::sync::Arc<dyn Fn() + Send + Sync>) {
        self.add_waker(wake);
    }

    async fn claim_notifications(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = to_millis(lease_end(now, lease));
        let now = to_millis(now);
        let leased = in_tx!(self, |tx| claim(&tx, now, until, limit).await)?;
        with_client!(self, |c| with_alerts(&c, leased).await)
    }

    async fn still_sending(&self, ids: Vec<NotificationId>) -> Result<Vec<NotificationId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        with_client!(self, |c| {
            let rows = crate::sql::query(
                &c,
                "SELECT id FROM notifications WHERE id = ANY($1) AND status = 'sending'",
                &[&ids],
            )
            .await?;
            Ok(rows.iter().map(|r| r.get::<_, i64>(0)).collect())
        })
    }

    async fn next_notification_due(&self) -> Result<Option<Timestamp>> {
        with_client!(self, |c| {
            let due: Option<i64> = query_one(
                &c,
                "SELECT LEAST( \
                     (SELECT min(next_attempt_at) FROM notifications WHERE status = 'pending'), \
                     (SELECT min(lease_until) FROM notifications WHERE status = 'sending'))",
                &[],
            )
            .await?
            .get(0);
            Ok(due.map(from_millis))
        })
    }

    async fn finish_notifications(&self, ends: Vec<PageEnd>) -> Result<Vec<bool>> {
        if ends.is_empty() {
            return Ok(Vec::new());
        }
        let ends = ends
            .into_iter()
            .map(|e| {
                Ok((
                    to_millis(time_of(&e.timeline)),
                    Line::encode_all(&e.timeline)?,
                    e,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        in_tx!(self, |tx| {
            let mut changed = Vec::with_capacity(ends.len());
            for (now, lines, e) in &ends {
                changed.push(self::finish(&tx, e.id, &e.finish, lines, e.alert_id, *now).await?);
            }
            Ok(changed)
        })
    }

    async fn settle_failed(&self, id: NotificationId) -> Result<bool> {
        in_tx!(self, |tx| {
            Ok(exec(
                &tx,
                "UPDATE notifications SET follow_up = false WHERE id = $1 AND follow_up",
                &[&id],
            )
            .await?
                > 0)
        })
    }

    async fn failed_pages_to_follow_up(&self, limit: u32) -> Result<Vec<Notification>> {
        self.read_all(
            concat!(
                "SELECT ",
                notification_cols!(),
                " FROM notifications WHERE follow_up ORDER BY id LIMIT $1"
            ),
            &[&i64::from(limit)],
            rows::notification,
        )
        .await
    }

    async fn enqueue_notices(
        &self,
        notices: Vec<NewNotification>,
        now: Timestamp,
    ) -> Result<Vec<NotificationId>> {
        if let Some(n) = notices
            .iter()
            .find(|n| n.alert_id.is_some() || n.message.is_none())
        {
            return Err(StoreError::Backend(format!(
                "notice {:?} must have a message and no alert",
                n.idem_key
            )));
        }
        let now = to_millis(now);
        in_tx!(self, |tx| enqueue(&tx, &notices, now).await)
    }

    async fn enqueue_action(
        &self,
        run: NewNotification,
        lines: Vec<TimelineEntry>,
        now: Timestamp,
    ) -> Result<Option<NotificationId>> {
        let Some(alert_id) = run.alert_id else {
            return Err(StoreError::Backend(format!(
                "action run {:?} names no alert",
                run.idem_key
            )));
        };
        let lines = Line::encode_all(&lines)?;
        let now = to_millis(now);
        in_tx!(self, |tx| {
            let row = query(
                &tx,
                "INSERT INTO notifications (alert_id, message, idem_key, user_id, contact_index, \
                 channel, address, kind, step, loop, status, attempts, next_attempt_at, \
                 created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, 'pending', 0, $9, $10, $10) \
                 ON CONFLICT (idem_key) DO NOTHING RETURNING id",
                &[
                    &alert_id,
                    &run.message,
                    &run.idem_key,
                    &run.user,
                    &i64::from(run.contact_index),
                    &run.channel,
                    &run.address,
                    &run.kind.as_str(),
                    &to_millis(run.due_at),
                    &now,
                ],
            )
            .await?;
            let Some(row) = row.first() else {
                return Ok(None);
            };
            let id: NotificationId = row.get(0);
            add_lines(&tx, alert_id, &lines).await?;
            crate::wake::notify(&tx).await?;
            Ok(Some(id))
        })
    }

    async fn get_notification(&self, id: NotificationId) -> Result<Option<Notification>> {
        with_client!(self, |c| {
            Ok(collect(
                query(
                    &c,
                    concat!(
                        "SELECT ",
                        notification_cols!(),
                        " FROM notifications WHERE id = $1"
                    ),
                    &[&id],
                )
                .await?,
                rows::notification,
            )?
            .into_iter()
            .next())
        })
    }

    async fn notifications(&self, alert_id: AlertId) -> Result<Vec<Notification>> {
        self.read_all(
            concat!(
                "SELECT ",
                notification_cols!(),
                " FROM notifications WHERE alert_id = $1 ORDER BY id"
            ),
            &[&alert_id],
            rows::notification,
        )
        .await
    }

    async fn outbox_counts(&self, now: Timestamp) -> Result<OutboxCounts> {
        let now = to_millis(now);
        with_client!(self, |c| {
            let row = query_one(
                &c,
                "SELECT count(*) FILTER (WHERE status = 'pending' AND NOT held_back \
                                          AND next_attempt_at <= $1), \
                        count(*) FILTER (WHERE status = 'pending' AND NOT held_back \
                                          AND next_attempt_at > $1), \
                        count(*) FILTER (WHERE status = 'pending' AND held_back), \
                        count(*) FILTER (WHERE status = 'sending') \
                 FROM notifications WHERE status IN ('pending', 'sending')",
                &[&now],
            )
            .await?;
            Ok(OutboxCounts {
                due: row.get(0),
                waiting: row.get(1),
                held: row.get(2),
                sending: row.get(3),
            })
        })
    }
}
