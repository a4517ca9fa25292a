//! The `ack_timeout` / `auto_resolve` candidates and conditional writes.

use crate::SqliteStore;
use crate::error::Result as R;
use crate::ops::{self, Line};
use crate::rows::{self, alert_cols};
use firebell_core::alert::{Alert, AlertId, TimelineEntry};
use firebell_core::clock::to_millis;
use firebell_store::backend::floor_millis;

use firebell_store::{Result, TimeoutStore};
use jiff::Timestamp;
use rusqlite::{Connection, params};

pub(crate) fn acknowledged_before(
    conn: &Connection,
    service: &str,
    by: i64,
    limit: u32,
) -> R<Vec<Alert>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        alert_cols!(),
        " FROM alerts WHERE status = 'acknowledged' AND service = ?1 AND acknowledged_at <= ?2 \
         ORDER BY acknowledged_at LIMIT ?3"
    ))?;
    rows::collect(&mut stmt, params![service, by, limit], rows::alert)
}

pub(crate) fn open_not_updated_since(
    conn: &Connection,
    service: &str,
    by: i64,
    limit: u32,
) -> R<Vec<Alert>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        alert_cols!(),
        " FROM alerts WHERE status != 'resolved' AND service = ?1 AND updated_at <= ?2 \
         ORDER BY updated_at LIMIT ?3"
    ))?;
    rows::collect(&mut stmt, params![service, by, limit], rows::alert)
}

pub(crate) fn expired(conn: &Connection, by: i64, limit: u32) -> R<Vec<Alert>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        alert_cols!(),
        " FROM alerts WHERE expires_at IS NOT NULL AND status != 'resolved' AND expires_at <= ?1 \
         ORDER BY expires_at LIMIT ?2"
    ))?;
    rows::collect(&mut stmt, params![by, limit], rows::alert)
}

pub(crate) fn retrigger(
    conn: &Connection,
    alert_id: AlertId,
    acknowledged_at: i64,
    line: &Line,
    now: i64,
) -> R<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE alerts SET status = 'triggered', acknowledged_at = NULL, updated_at = ?3 \
             WHERE id = ?1 AND status = 'acknowledged' AND acknowledged_at = ?2",
        )?
        .execute(params![alert_id, acknowledged_at, now])?;
    if n == 0 {
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE escalations SET phase = 'pending', step = 0, loop = 0, due_at = ?2, \
         targets = '[]', held = NULL, retriggered = retriggered + 1, version = version + 1 \
         WHERE alert_id = ?1",
    )?
    .execute(params![alert_id, now])?;
    ops::add_lines(conn, alert_id, std::slice::from_ref(line))?;
    Ok(true)
}

pub(crate) fn resolve_if_unchanged(
    conn: &Connection,
    alert_id: AlertId,
    updated_at: i64,
    line: &Line,
    now: i64,
) -> R<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE alerts SET status = 'resolved', resolved_at = ?3, updated_at = ?3 \
             WHERE id = ?1 AND status != 'resolved' AND updated_at = ?2",
        )?
        .execute(params![alert_id, updated_at, now])?;
    if n == 0 {
        return Ok(false);
    }
    ops::stop_alert(conn, alert_id, now)?;
    ops::add_lines(conn, alert_id, std::slice::from_ref(line))?;
    Ok(true)
}

/// The alerts `prune_resolved` may delete: resolved before `before`, with
/// nothing still to send.
pub(crate) fn prune_resolved(conn: &Connection, before: i64, limit: u32) -> R<u64> {
    let ids: Vec<AlertId> = {
        // INDEXED BY: without statistics the planner takes alerts_by_status
        // and sorts every resolved alert still kept, each batch.
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM alerts a INDEXED BY alerts_resolved \
             WHERE status = 'resolved' AND resolved_at < ?1 \
             AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.alert_id = a.id \
                             AND n.status IN ('pending', 'sending')) \
             ORDER BY resolved_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![before, limit], |r| r.get(0))?;
        rows.collect::<std::result::Result<_, _>>()?
    };
    if ids.is_empty() {
        return Ok(0);
    }
    let list = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    for table in ["timeline", "notifications", "escalations"] {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE alert_id IN (SELECT value FROM json_each(?1))"
        ))?
        .execute(params![list])?;
    }
    let n = conn
        .prepare_cached("DELETE FROM alerts WHERE id IN (SELECT value FROM json_each(?1))")?
        .execute(params![list])?;
    Ok(n as u64)
}

impl TimeoutStore for SqliteStore {
    async fn acknowledged_before(
        &self,
        service: String,
        acknowledged_by: Timestamp,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let by = floor_millis(acknowledged_by);
        self.read(move |conn| acknowledged_before(conn, &service, by, limit))
            .await
    }

    async fn open_not_updated_since(
        &self,
        service: String,
        updated_by: Timestamp,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let by = floor_millis(updated_by);
        self.read(move |conn| open_not_updated_since(conn, &service, by, limit))
            .await
    }

    async fn expired(&self, by: Timestamp, limit: u32) -> Result<Vec<Alert>> {
        let by = floor_millis(by);
        self.read(move |conn| expired(conn, by, limit)).await
    }

    async fn prune_resolved(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let before = to_millis(before);
        self.write(move |conn| prune_resolved(conn, before, limit))
            .await
    }

    async fn retrigger(
        &self,
        alert_id: AlertId,
        acknowledged_at: Timestamp,
        line: TimelineEntry,
        now: Timestamp,
    ) -> Result<bool> {
        let line = Line::encode(&line)?;
        let (at, now) = (to_millis(acknowledged_at), to_millis(now));
        self.write(move |conn| retrigger(conn, alert_id, at, &line, now))
            .await
    }

    async fn resolve_if_unchanged(
        &self,
        alert_id: AlertId,
        updated_at: Timestamp,
        line: TimelineEntry,
        now: Timestamp,
    ) -> Result<bool> {
        let line = Line::encode(&line)?;
        let (at, now) = (to_millis(updated_at), to_millis(now));
        self.write(move |conn| resolve_if_unchanged(conn, alert_id, at, &line, now))
            .await
    }
}
