//! The `ack_timeout` / `auto_resolve` candidates and conditional writes.

use crate::alerts::{add_lines, stop_alert};
use crate::rows::{self, alert_cols};
use crate::sql::exec;
use crate::{PgStore, in_tx};
use firebell_core::alert::{Alert, AlertId, TimelineEntry};
use firebell_core::clock::to_millis;
use firebell_store::backend::{Line, floor_millis};
use firebell_store::{Result, TimeoutStore};
use jiff::Timestamp;

impl TimeoutStore for PgStore {
    async fn acknowledged_before(
        &self,
        service: String,
        acknowledged_by: Timestamp,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let by = floor_millis(acknowledged_by);
        self.read_all(
            concat!(
                "SELECT ",
                alert_cols!(),
                " FROM alerts WHERE status = 'acknowledged' AND service = $1 \
                         AND acknowledged_at <= $2 ORDER BY acknowledged_at LIMIT $3"
            ),
            &[&service, &by, &i64::from(limit)],
            rows::alert,
        )
        .await
    }

    async fn open_not_updated_since(
        &self,
        service: String,
        updated_by: Timestamp,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let by = floor_millis(updated_by);
        self.read_all(
            concat!(
                "SELECT ",
                alert_cols!(),
                " FROM alerts WHERE status <> 'resolved' AND service = $1 \
                         AND updated_at <= $2 ORDER BY updated_at LIMIT $3"
            ),
            &[&service, &by, &i64::from(limit)],
            rows::alert,
        )
        .await
    }

    async fn expired(&self, by: Timestamp, limit: u32) -> Result<Vec<Alert>> {
        let by = floor_millis(by);
        self.read_all(
            concat!(
                "SELECT ",
                alert_cols!(),
                " FROM alerts WHERE expires_at IS NOT NULL AND status <> 'resolved' \
                         AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
            ),
            &[&by, &i64::from(limit)],
            rows::alert,
        )
        .await
    }

    async fn prune_resolved(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let before = to_millis(before);
        in_tx!(self, |tx| {
            // SKIP LOCKED: nodes pruning at once take different alerts.
            let ids: Vec<AlertId> = crate::sql::query(
                &tx,
                "SELECT id FROM alerts a WHERE status = 'resolved' AND resolved_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.alert_id = a.id \
                                 AND n.status IN ('pending', 'sending')) \
                 ORDER BY resolved_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&before, &i64::from(limit)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
            if ids.is_empty() {
                return Ok(0);
            }
            for table in ["timeline", "notifications", "escalations"] {
                exec(
                    &tx,
                    &format!("DELETE FROM {table} WHERE alert_id = ANY($1)"),
                    &[&ids],
                )
                .await?;
            }
            let n = exec(&tx, "DELETE FROM alerts WHERE id = ANY($1)", &[&ids]).await?;
            Ok(n)
        })
    }

    async fn retrigger(
        &self,
        alert_id: AlertId,
        acknowledged_at: Timestamp,
        line: TimelineEntry,
        now: Timestamp,
    ) -> Result<bool> {
        let line = [Line::encode(&line)?];
        let (at, now) = (to_millis(acknowledged_at), to_millis(now));
        in_tx!(self, |tx| {
            let n = exec(
                &tx,
                "UPDATE alerts SET status = 'triggered', acknowledged_at = NULL, updated_at = $3 \
                 WHERE id = $1 AND status = 'acknowledged' AND acknowledged_at = $2",
                &[&alert_id, &at, &now],
            )
            .await?;
            if n == 0 {
                return Ok(false);
            }
            exec(
                &tx,
                "UPDATE escalations SET phase = 'pending', step = 0, loop = 0, due_at = $2, \
                 targets = '[]', held = NULL, retriggered = retriggered + 1, \
                 version = version + 1 WHERE alert_id = $1",
                &[&alert_id, &now],
            )
            .await?;
            add_lines(&tx, alert_id, &line).await?;
            Ok(true)
        })
    }

    async fn resolve_if_unchanged(
        &self,
        alert_id: AlertId,
        updated_at: Timestamp,
        line: TimelineEntry,
        now: Timestamp,
    ) -> Result<bool> {
        let line = [Line::encode(&line)?];
        let (at, now) = (to_millis(updated_at), to_millis(now));
        in_tx!(self, |tx| {
            let n = exec(
                &tx,
                "UPDATE alerts SET status = 'resolved', resolved_at = $3, updated_at = $3 \
                 WHERE id = $1 AND status <> 'resolved' AND updated_at = $2",
                &[&alert_id, &at, &now],
            )
            .await?;
            if n == 0 {
                return Ok(false);
            }
            stop_alert(&tx, alert_id, now).await?;
            add_lines(&tx, alert_id, &line).await?;
            Ok(true)
        })
    }
}
