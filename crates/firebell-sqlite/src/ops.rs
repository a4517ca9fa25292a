//! The write operations, run on the writer thread inside a batch's transaction.
//!
//! Everything that can be computed without the database (JSON encoding,
//! messages, timestamps) is computed by the caller before the operation is
//! queued, in a `Prepared*` value, so the single writer thread does as little
//! as possible per row.

use crate::error::Result;
use firebell_core::alert::AlertId;
use rusqlite::{Connection, params};

pub(crate) use firebell_store::backend::{Line, encode_json};

pub(crate) fn add_line(
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

/// Cancels an alert's pages still to go; an action's run goes on (the
/// person asked for it).
pub(crate) fn cancel_pages(conn: &Connection, alert_id: AlertId, now: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE notifications SET status = 'cancelled', lease_until = NULL, updated_at = ?2 \
         WHERE alert_id = ?1 AND (status = 'pending' OR status = 'sending') \
         AND kind != 'alert.action'",
    )?
    .execute(params![alert_id, now])?;
    Ok(())
}
