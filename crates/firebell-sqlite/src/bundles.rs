//! Grouping, bundling and rate limits: the store side (schema version 9).

use crate::SqliteStore;
use crate::error::Result;
use crate::ops::{Line, add_lines, encode_json};
use crate::rows::{self, alert_cols, notification_cols};
use firebell_core::alert::{Alert, AlertId, TimelineEntry};
use firebell_core::clock::{from_millis, to_millis};
use firebell_core::notification::NotificationId;
use firebell_store::BundleStore;
use firebell_store::backend::{bundled_detail, floor_millis, lease_end, time_of};
use firebell_store::{BundleScope, BundledPage, Claimed, Finish};
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, params};
use std::collections::HashMap;

pub(crate) fn count_sends(
    conn: &Connection,
    rate_key: &str,
    page: Option<NotificationId>,
    after: i64,
) -> Result<Vec<i64>> {
    if let Some(id) = page {
        conn.prepare_cached("UPDATE notifications SET rate_key = ?2 WHERE id = ?1")?
            .execute(params![id, rate_key])?;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT sent_at FROM notifications WHERE rate_key = ?1 AND sent_at > ?2 ORDER BY sent_at",
    )?;
    let rows = stmt.query_map(params![rate_key, after], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn first_held(
    conn: &Connection,
    rate_key: &str,
    except: NotificationId,
) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM notifications \
             WHERE rate_key = ?1 AND status = 'pending' AND held_back = 1 AND id <> ?2",
        )?
        .query_row(params![rate_key, except], |r| r.get(0))?)
}

pub(crate) struct PreparedHold {
    pub(crate) id: NotificationId,
    pub(crate) until: i64,
    pub(crate) held_back: bool,
    pub(crate) timeline: Vec<Line>,
    pub(crate) alert_id: Option<AlertId>,
    pub(crate) now: i64,
}

impl PreparedHold {
    pub(crate) fn encode(
        id: NotificationId,
        until: jiff::Timestamp,
        held_back: bool,
        timeline: &[TimelineEntry],
        alert_id: Option<AlertId>,
    ) -> Result<Self> {
        let now = time_of(timeline);
        Ok(PreparedHold {
            id,
            until: firebell_core::clock::to_millis(until),
            held_back,
            timeline: Line::encode_all(timeline)?,
            alert_id,
            now: firebell_core::clock::to_millis(now),
        })
    }
}

pub(crate) fn hold(conn: &Connection, h: &PreparedHold) -> Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE notifications SET status = 'pending', next_attempt_at = ?2, \
             held_back = MAX(held_back, ?3), lease_until = NULL, updated_at = ?4 \
             WHERE id = ?1 AND status = 'sending'",
        )?
        .execute(params![h.id, h.until, h.held_back, h.now])?;
    if changed > 0
        && let Some(alert_id) = h.alert_id
    {
        add_lines(conn, alert_id, &h.timeline)?;
    }
    Ok(changed > 0)
}

/// Marks one page `sending` under a lease and reads it back with its alert.
pub(crate) fn take(
    conn: &Connection,
    id: NotificationId,
    now: i64,
    lease_until: i64,
    alerts: &mut HashMap<AlertId, Alert>,
) -> Result<Claimed> {
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
            Some(a) => a.clone(),
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
    Ok(Claimed {
        notification,
        alert,
        held,
    })
}

pub(crate) struct PreparedScope {
    address: String,
    channels: String,
    user: Option<String>,
    service: Option<String>,
    except: String,
}

impl PreparedScope {
    pub(crate) fn encode(scope: BundleScope, except: &[NotificationId]) -> Result<Self> {
        Ok(PreparedScope {
            channels: encode_json(&scope.channels)?,
            address: scope.address,
            user: scope.user,
            service: scope.service,
            except: encode_json(&except)?,
        })
    }
}

pub(crate) fn claim_bundle(
    conn: &Connection,
    s: &PreparedScope,
    now: i64,
    lease_until: i64,
    limit: u32,
) -> Result<Vec<Claimed>> {
    let ids: Vec<NotificationId> = {
        let mut stmt = conn.prepare_cached(
            "SELECT n.id FROM notifications n JOIN alerts a ON a.id = n.alert_id \
             WHERE n.status = 'pending' AND n.kind = 'alert.notify' AND n.address = ?1 \
             AND n.channel IN (SELECT value FROM json_each(?2)) \
             AND (?3 IS NULL OR n.user_id = ?3) AND (?4 IS NULL OR a.service = ?4) \
             AND n.id NOT IN (SELECT value FROM json_each(?5)) \
             ORDER BY n.next_attempt_at, n.id LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![s.address, s.channels, s.user, s.service, s.except, limit],
            |r| r.get(0),
        )?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut alerts = HashMap::new();
    ids.into_iter()
        .map(|id| take(conn, id, now, lease_until, &mut alerts))
        .collect()
}

pub(crate) struct PreparedBundled {
    leader: NotificationId,
    pages: Vec<(NotificationId, AlertId, Vec<Line>)>,
    finish: Finish,
    now: i64,
}

impl PreparedBundled {
    pub(crate) fn encode(
        leader: NotificationId,
        pages: Vec<BundledPage>,
        finish: Finish,
        now: jiff::Timestamp,
    ) -> Result<Self> {
        Ok(PreparedBundled {
            leader,
            pages: pages
                .into_iter()
                .map(|p| {
                    let lines = Line::encode_all(&p.timeline)?;
                    Ok((p.id, p.alert_id, lines))
                })
                .collect::<Result<_>>()?,
            finish,
            now: firebell_core::clock::to_millis(now),
        })
    }
}

pub(crate) fn finish_bundled(
    conn: &Connection,
    b: &PreparedBundled,
) -> Result<Vec<NotificationId>> {
    let mut changed_ids = Vec::new();
    let detail = bundled_detail(b.leader);
    for (id, alert_id, lines) in &b.pages {
        let changed = match &b.finish {
            Finish::Delivered { .. } => conn
                .prepare_cached(
                    "UPDATE notifications SET status = 'delivered', detail = ?3, \
                     bundled_into = ?4, lease_until = NULL, updated_at = ?2 \
                     WHERE id = ?1 AND status = 'sending'",
                )?
                .execute(params![id, b.now, detail, b.leader])?,
            Finish::Retry { at, .. } => conn
                .prepare_cached(
                    "UPDATE notifications SET status = 'pending', \
                     next_attempt_at = MAX(next_attempt_at, ?3), lease_until = NULL, \
                     updated_at = ?2 WHERE id = ?1 AND status = 'sending'",
                )?
                .execute(params![id, b.now, firebell_core::clock::to_millis(*at)])?,
            Finish::Failed { error } => conn
                .prepare_cached(
                    "UPDATE notifications SET status = 'failed', attempts = attempts + 1, \
                     last_error = ?3, bundled_into = ?4, lease_until = NULL, updated_at = ?2, \
                     follow_up = (kind = 'alert.notify' AND alert_id IS NOT NULL) \
                     WHERE id = ?1 AND status = 'sending'",
                )?
                .execute(params![id, b.now, error, b.leader])?,
        };
        if changed > 0 {
            add_lines(conn, *alert_id, lines)?;
            changed_ids.push(*id);
        }
    }
    Ok(changed_ids)
}

impl BundleStore for SqliteStore {
    async fn count_sends(
        &self,
        rate_key: String,
        page: Option<NotificationId>,
        after: Timestamp,
    ) -> firebell_store::Result<Vec<Timestamp>> {
        let after = floor_millis(after);
        let sends = self
            .write(move |conn| count_sends(conn, &rate_key, page, after))
            .await?;
        Ok(sends.into_iter().map(from_millis).collect())
    }

    async fn first_held(
        &self,
        rate_key: String,
        except: NotificationId,
    ) -> firebell_store::Result<Option<Timestamp>> {
        let first = self
            .read(move |conn| first_held(conn, &rate_key, except))
            .await?;
        Ok(first.map(from_millis))
    }

    async fn hold_notification(
        &self,
        id: NotificationId,
        until: Timestamp,
        held_back: bool,
        timeline: Vec<TimelineEntry>,
        alert_id: Option<AlertId>,
    ) -> firebell_store::Result<bool> {
        let h = PreparedHold::encode(id, until, held_back, &timeline, alert_id)?;
        self.write(move |conn| hold(conn, &h)).await
    }

    async fn claim_bundle(
        &self,
        scope: firebell_store::BundleScope,
        except: Vec<NotificationId>,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> firebell_store::Result<Vec<Claimed>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let s = PreparedScope::encode(scope, &except)?;
        let until = to_millis(lease_end(now, lease));
        let now = to_millis(now);
        self.write(move |conn| claim_bundle(conn, &s, now, until, limit))
            .await
    }

    async fn finish_bundled(
        &self,
        leader: NotificationId,
        pages: Vec<firebell_store::BundledPage>,
        finish: Finish,
        now: Timestamp,
    ) -> firebell_store::Result<Vec<NotificationId>> {
        if pages.is_empty() {
            return Ok(Vec::new());
        }
        let b = PreparedBundled::encode(leader, pages, finish, now)?;
        self.write(move |conn| finish_bundled(conn, &b)).await
    }

    async fn lock_lane(&self, key: String) -> firebell_store::Result<firebell_store::LaneLock> {
        Ok(self.inner.lanes.lock(&key).await)
    }
}
