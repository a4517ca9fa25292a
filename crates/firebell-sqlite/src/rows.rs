//! Reading rows back into domain values. Column lists are macros so the SQL
//! strings stay `&'static str` (and so hit the prepared-statement cache).

use crate::error::{Result, corrupt};
use firebell_core::alert::{Alert, AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::change::{Change, NewChange};
use firebell_core::clock::from_millis;
use firebell_core::escalation::{Escalation, Phase, TargetState};
use firebell_core::event::{DedupKey, Severity};
use firebell_core::notification::{Notification, NotificationKind, NotificationStatus};
use firebell_core::schedule::{Override, OverrideKind};
use firebell_store::StoredOverride;
use rusqlite::Row;

pub(crate) use firebell_store::{alert_cols, escalation_cols, notification_cols, override_cols};

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

fn u32_col(row: &Row, idx: usize, what: &str) -> Result<u32> {
    let v: i64 = row.get(idx)?;
    u32::try_from(v).map_err(|e| corrupt(what, e))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

/// A row selected with [`alert_cols`].
pub(crate) fn alert(row: &Row) -> Result<Alert> {
    let status: String = row.get(3)?;
    let severity: String = row.get(5)?;
    let labels: String = row.get(7)?;
    let details: String = row.get(8)?;
    Ok(Alert {
        id: row.get(0)?,
        service: row.get(1)?,
        dedup_key: DedupKey::parse(row.get::<_, String>(2)?)
            .map_err(|e| corrupt("alert dedup_key", e))?,
        status: parse::<AlertStatus>("alert status", &status)?,
        summary: row.get(4)?,
        severity: parse::<Severity>("alert severity", &severity)?,
        source: row.get(6)?,
        labels: json("alert labels", &labels)?,
        details: json("alert details", &details)?,
        count: row.get(9)?,
        created_at: from_millis(row.get(10)?),
        updated_at: from_millis(row.get(11)?),
        acknowledged_at: row.get::<_, Option<i64>>(12)?.map(from_millis),
        resolved_at: row.get::<_, Option<i64>>(13)?.map(from_millis),
        expires_at: row.get::<_, Option<i64>>(14)?.map(from_millis),
    })
}

/// A row selected as `at, kind, message, data`.
pub(crate) fn timeline(row: &Row) -> Result<TimelineEntry> {
    let kind: String = row.get(1)?;
    let data: Option<String> = row.get(3)?;
    Ok(TimelineEntry {
        at: from_millis(row.get(0)?),
        kind: parse::<TimelineKind>("timeline kind", &kind)?,
        message: row.get(2)?,
        data: match data {
            Some(s) => json("timeline data", &s)?,
            None => serde_json::Value::Null,
        },
    })
}

/// A row selected with [`escalation_cols`].
pub(crate) fn escalation(row: &Row) -> Result<Escalation> {
    let phase: String = row.get(2)?;
    let targets: String = row.get(6)?;
    Ok(Escalation {
        alert_id: row.get(0)?,
        policy: row.get(1)?,
        phase: parse::<Phase>("escalation phase", &phase)?,
        step: u32_col(row, 3, "escalation step")?,
        loop_: u32_col(row, 4, "escalation loop")?,
        due_at: row.get::<_, Option<i64>>(5)?.map(from_millis),
        targets: json::<Vec<TargetState>>("escalation targets", &targets)?,
        version: row.get(7)?,
        held: row.get(8)?,
        retriggered: u32_col(row, 9, "escalation retriggered")?,
    })
}

/// A row selected with [`notification_cols`].
pub(crate) fn notification(row: &Row) -> Result<Notification> {
    let kind: String = row.get(6)?;
    let status: String = row.get(9)?;
    Ok(Notification {
        id: row.get(0)?,
        alert_id: row.get(1)?,
        user: row.get(2)?,
        contact_index: u32_col(row, 3, "notification contact_index")?,
        channel: row.get(4)?,
        address: row.get(5)?,
        kind: parse::<NotificationKind>("notification kind", &kind)?,
        step: u32_col(row, 7, "notification step")?,
        loop_: u32_col(row, 8, "notification loop")?,
        status: parse::<NotificationStatus>("notification status", &status)?,
        attempts: u32_col(row, 10, "notification attempts")?,
        next_attempt_at: from_millis(row.get(11)?),
        last_error: row.get(12)?,
        created_at: from_millis(row.get(13)?),
        message: row.get(14)?,
        detail: row.get(15)?,
        idem_key: row.get(16)?,
        follow_up: row.get(17)?,
    })
}

/// A row selected with [`override_cols`], checked by [`Override::new`].
pub(crate) fn stored_override(row: &Row) -> Result<StoredOverride> {
    let id: i64 = row.get(0)?;
    let kind: String = row.get(4)?;
    let user: String = row.get(5)?;
    let replacement: Option<String> = row.get(6)?;
    let kind = match (kind.as_str(), replacement) {
        ("add", None) => OverrideKind::Add { user },
        ("remove", None) => OverrideKind::Remove { user },
        ("replace", Some(to)) => OverrideKind::Replace { from: user, to },
        (kind, replacement) => {
            return Err(corrupt(
                "override kind",
                format!("{kind:?} with replacement {replacement:?} (override {id})"),
            ));
        }
    };
    let override_ = Override::new(id, from_millis(row.get(2)?), from_millis(row.get(3)?), kind)
        .map_err(|e| {
            corrupt(
                &format!("override {id}"),
                firebell_store::backend::override_errors(&e),
            )
        })?;
    Ok(StoredOverride {
        schedule: row.get(1)?,
        override_,
        created_by: row.get(7)?,
        created_at: from_millis(row.get(8)?),
    })
}

/// Runs a prepared query and converts every row.
pub(crate) fn collect<T>(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
    convert: impl Fn(&Row) -> Result<T>,
) -> Result<Vec<T>> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(convert(row)?);
    }
    Ok(out)
}

/// A row selected as `id, service, summary, source, occurred_at, received_at, details`.
pub(crate) fn change(row: &Row) -> Result<Change> {
    let details: String = row.get(6)?;
    Ok(Change {
        id: row.get(0)?,
        change: NewChange {
            service: row.get(1)?,
            summary: row.get(2)?,
            source: row.get(3)?,
            occurred_at: from_millis(row.get(4)?),
            received_at: from_millis(row.get(5)?),
            details: json("change details", &details)?,
        },
    })
}
