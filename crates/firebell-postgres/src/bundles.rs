//! Grouping, bundling and rate limits: the store side.

use crate::alerts::add_lines;
use crate::error::Result as R;
use crate::outbox::with_alerts;
use crate::rows::{self, notification_cols};
use crate::sql::{exec, query, query_one};
use crate::{PgStore, in_tx, with_client};
use deadpool_postgres::GenericClient;
use firebell_core::alert::{AlertId, TimelineEntry};
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::notification::NotificationId;
use firebell_store::backend::{Line, bundled_detail, floor_millis, lease_end, time_of};
use firebell_store::{BundleScope, BundleStore, BundledPage, Claimed, Finish, Result};
use jiff::{SignedDuration, Timestamp};

async fn count_sends<C: GenericClient>(
    c: &C,
    rate_key: &str,
    page: Option<NotificationId>,
    after: i64,
) -> R<Vec<i64>> {
    if let Some(id) = page {
        exec(
            c,
            "UPDATE notifications SET rate_key = $2 WHERE id = $1",
            &[&id, &rate_key],
        )
        .await?;
    }
    Ok(query(
        c,
        "SELECT sent_at FROM notifications WHERE rate_key = $1 AND sent_at > $2 ORDER BY sent_at",
        &[&rate_key, &after],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

async fn hold<C: GenericClient>(
    c: &C,
    id: NotificationId,
    until: i64,
    held_back: bool,
    timeline: &[Line],
    alert_id: Option<AlertId>,
    now: i64,
) -> R<bool> {
    let changed = exec(
        c,
        "UPDATE notifications SET status = 'pending', next_attempt_at = $2, \
         held_back = held_back OR $3, lease_until = NULL, updated_at = $4 \
         WHERE id = $1 AND status = 'sending'",
        &[&id, &until, &held_back, &now],
    )
    .await?;
    if changed > 0
        && let Some(alert_id) = alert_id
    {
        add_lines(c, alert_id, timeline).await?;
    }
    Ok(changed > 0)
}

async fn claim_bundle<C: GenericClient>(
    c: &C,
    s: &BundleScope,
    except: &[NotificationId],
    now: i64,
    until: i64,
    limit: u32,
) -> R<Vec<Claimed>> {
    let rows = query(
        c,
        concat!(
            "WITH picked AS (SELECT n.id AS pid, n.next_attempt_at AS pdue \
                 FROM notifications n JOIN alerts a ON a.id = n.alert_id \
                 WHERE n.status = 'pending' AND n.kind = 'alert.notify' AND n.address = $1 \
                 AND n.channel = ANY($2) AND ($3::text IS NULL OR n.user_id = $3) \
                 AND ($4::text IS NULL OR a.service = $4) AND NOT (n.id = ANY($5)) \
                 ORDER BY n.next_attempt_at, n.id LIMIT $6 FOR UPDATE OF n SKIP LOCKED) \
             UPDATE notifications SET status = 'sending', lease_until = $7, updated_at = $8 \
             FROM picked WHERE id = picked.pid RETURNING ",
            notification_cols!(),
            ", held_back, picked.pdue"
        ),
        &[
            &s.address,
            &s.channels,
            &s.user,
            &s.service,
            &except,
            &i64::from(limit),
            &until,
            &now,
        ],
    )
    .await?;
    with_alerts(c, rows::leased(&rows)?).await
}

async fn finish_bundled<C: GenericClient>(
    c: &C,
    leader: NotificationId,
    pages: &[(NotificationId, AlertId, Vec<Line>)],
    finish: &Finish,
    now: i64,
) -> R<Vec<NotificationId>> {
    let mut changed_ids = Vec::new();
    let detail = bundled_detail(leader);
    for (id, alert_id, lines) in pages {
        let changed = match finish {
            Finish::Delivered { .. } => {
                exec(
                    c,
                    "UPDATE notifications SET status = 'delivered', detail = $3, \
                     bundled_into = $4, lease_until = NULL, updated_at = $2 \
                     WHERE id = $1 AND status = 'sending'",
                    &[id, &now, &detail, &leader],
                )
                .await?
            }
            Finish::Retry { at, .. } => {
                exec(
                    c,
                    "UPDATE notifications SET status = 'pending', \
                     next_attempt_at = GREATEST(next_attempt_at, $3), lease_until = NULL, \
                     updated_at = $2 WHERE id = $1 AND status = 'sending'",
                    &[id, &now, &to_millis(*at)],
                )
                .await?
            }
            Finish::Failed { error } => {
                exec(
                    c,
                    "UPDATE notifications SET status = 'failed', attempts = attempts + 1, \
                     last_error = $3, bundled_into = $4, lease_until = NULL, updated_at = $2, \
                     follow_up = (kind = 'alert.notify' AND alert_id IS NOT NULL) \
                     WHERE id = $1 AND status = 'sending'",
                    &[id, &now, error, &leader],
                )
                .await?
            }
        };
        if changed > 0 {
            add_lines(c, *alert_id, lines).await?;
            changed_ids.push(*id);
        }
    }
    Ok(changed_ids)
}

impl BundleStore for PgStore {
    async fn count_sends(
        &self,
        rate_key: String,
        page: Option<NotificationId>,
        after: Timestamp,
    ) -> Result<Vec<Timestamp>> {
        let after = floor_millis(after);
        let sends = in_tx!(self, |tx| count_sends(&tx, &rate_key, page, after).await)?;
        Ok(sends.into_iter().map(from_millis).collect())
    }

    async fn first_held(
        &self,
        rate_key: String,
        except: NotificationId,
    ) -> Result<Option<Timestamp>> {
        let first: Option<i64> = with_client!(self, |c| {
            query_one(
                &c,
                "SELECT MIN(next_attempt_at) FROM notifications \
                 WHERE rate_key = $1 AND status = 'pending' AND held_back AND id <> $2",
                &[&rate_key, &except],
            )
            .await
            .map(|r| r.get(0))
        })?;
        Ok(first.map(from_millis))
    }

    async fn hold_notification(
        &self,
        id: NotificationId,
        until: Timestamp,
        held_back: bool,
        timeline: Vec<TimelineEntry>,
        alert_id: Option<AlertId>,
    ) -> Result<bool> {
        let now = to_millis(time_of(&timeline));
        let until = to_millis(until);
        let lines = Line::encode_all(&timeline)?;
        in_tx!(self, |tx| hold(
            &tx, id, until, held_back, &lines, alert_id, now
        )
        .await)
    }

    async fn claim_bundle(
        &self,
        scope: BundleScope,
        except: Vec<NotificationId>,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = to_millis(lease_end(now, lease));
        let now = to_millis(now);
        in_tx!(self, |tx| claim_bundle(
            &tx, &scope, &except, now, until, limit
        )
        .await)
    }

    async fn finish_bundled(
        &self,
        leader: NotificationId,
        pages: Vec<BundledPage>,
        finish: Finish,
        now: Timestamp,
    ) -> Result<Vec<NotificationId>> {
        if pages.is_empty() {
            return Ok(Vec::new());
        }
        let pages = pages
            .into_iter()
            .map(|p| Ok((p.id, p.alert_id, Line::encode_all(&p.timeline)?)))
            .collect::<Result<Vec<_>>>()?;
        let now = to_millis(now);
        in_tx!(self, |tx| finish_bundled(&tx, leader, &pages, &finish, now)
            .await)
    }

    async fn lock_lane(&self, key: String) -> Result<firebell_store::LaneLock> {
        self.lane(&key).await
    }
}
