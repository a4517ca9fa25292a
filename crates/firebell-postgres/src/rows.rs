//! Reading rows back into domain values. Column lists are macros so the SQL
//! strings stay `&'static str` (one prepared statement each).

use crate::error::{Result, corrupt};
use firebell_core::alert::{Alert, AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::change::{Change, NewChange};
use firebell_core::clock::from_millis;
use firebell_core::escalation::{Escalation, Phase, TargetState};
use firebell_core::event::{DedupKey, Severity};
use firebell_core::notification::{Notification, NotificationKind, NotificationStatus};
use firebell_core::schedule::{Override, OverrideKind};
use firebell_store::StoredOverride;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

pub(crate) use firebell_store::{alert_cols, escalation_cols, notification_cols, override_cols};

/// Column `idx`, or a corrupt-data error naming it.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    row.try_get(idx)
        .map_err(|e| corrupt(&format!("column {}", row.columns()[idx].name()), e))
}

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

fn u32_col(row: &Row, idx: usize, what: &str) -> Result<u32> {
    let v: i64 = get(row, idx)?;
    u32::try_from(v).map_err(|e| corrupt(what, e))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

fn ms(row: &Row, idx: usize) -> Result<jiff::Timestamp> {
    Ok(from_millis(get(row, idx)?))
}

fn opt_ms(row: &Row, idx: usize) -> Result<Option<jiff::Timestamp>> {
    Ok(get::<Option<i64>>(row, idx)?.map(from_millis))
}

/// A row selected with [`alert_cols`].
pub(crate) fn alert(row: &Row) -> Result<Alert> {
    Ok(Alert {
        id: get(row, 0)?,
        service: get(row, 1)?,
        dedup_key: DedupKey::parse(get::<String>(row, 2)?)
            .map_err(|e| corrupt("alert dedup_key", e))?,
        status: parse::<AlertStatus>("alert status", get(row, 3)?)?,
        summary: get(row, 4)?,
        severity: parse::<Severity>("alert severity", get(row, 5)?)?,
        source: get(row, 6)?,
        labels: json("alert labels", get(row, 7)?)?,
        details: json("alert details", get(row, 8)?)?,
        count: get(row, 9)?,
        created_at: ms(row, 10)?,
        updated_at: ms(row, 11)?,
        acknowledged_at: opt_ms(row, 12)?,
        resolved_at: opt_ms(row, 13)?,
        expires_at: opt_ms(row, 14)?,
    })
}

/// A row selected as `at, kind, message, data`.
pub(crate) fn timeline(row: &Row) -> Result<TimelineEntry> {
    Ok(TimelineEntry {
        at: ms(row, 0)?,
        kind: parse::<TimelineKind>("timeline kind", get(row, 1)?)?,
        message: get(row, 2)?,
        data: match get::<Option<&str>>(row, 3)? {
            Some(s) => json("timeline data", s)?,
            None => serde_json::Value::Null,
        },
    })
}

/// A row selected with [`escalation_cols`].
pub(crate) fn escalation(row: &Row) -> Result<Escalation> {
    Ok(Escalation {
        alert_id: get(row, 0)?,
        policy: get(row, 1)?,
        phase: parse::<Phase>("escalation phase", get(row, 2)?)?,
        step: u32_col(row, 3, "escalation step")?,
        loop_: u32_col(row, 4, "escalation loop")?,
        due_at: opt_ms(row, 5)?,
        targets: json::<Vec<TargetState>>("escalation targets", get(row, 6)?)?,
        version: get(row, 7)?,
        held: get(row, 8)?,
        retriggered: u32_col(row, 9, "escalation retriggered")?,
    })
}

/// A row selected with [`notification_cols`].
pub(crate) fn notification(row: &Row) -> Result<Notification> {
    Ok(Notification {
        id: get(row, 0)?,
        alert_id: get(row, 1)?,
        user: get(row, 2)?,
        contact_index: u32_col(row, 3, "notification contact_index")?,
        channel: get(row, 4)?,
        address: get(row, 5)?,
        kind: parse::<NotificationKind>("notification kind", get(row, 6)?)?,
        step: u32_col(row, 7, "notification step")?,
        loop_: u32_col(row, 8, "notification loop")?,
        status: parse::<NotificationStatus>("notification status", get(row, 9)?)?,
        attempts: u32_col(row, 10, "notification attempts")?,
        next_attempt_at: ms(row, 11)?,
        last_error: get(row, 12)?,
        created_at: ms(row, 13)?,
        message: get(row, 14)?,
        detail: get(row, 15)?,
        idem_key: get(row, 16)?,
        follow_up: get(row, 17)?,
    })
}

/// A row selected with [`override_cols`], checked by [`Override::new`].
pub(crate) fn stored_override(row: &Row) -> Result<StoredOverride> {
    let id: i64 = get(row, 0)?;
    let user: String = get(row, 5)?;
    let kind = match (get::<&str>(row, 4)?, get::<Option<String>>(row, 6)?) {
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
    let override_ = Override::new(id, ms(row, 2)?, ms(row, 3)?, kind).map_err(|e| {
        corrupt(
            &format!("override {id}"),
            firebell_store::backend::override_errors(&e),
        )
    })?;
    Ok(StoredOverride {
        schedule: get(row, 1)?,
        override_,
        created_by: get(row, 7)?,
        created_at: ms(row, 8)?,
    })
}

/// A row selected as `id, service, summary, source, occurred_at, received_at, details`.
pub(crate) fn change(row: &Row) -> Result<Change> {
    Ok(Change {
        id: get(row, 0)?,
        change: NewChange {
            service: get(row, 1)?,
            summary: get(row, 2)?,
            source: get(row, 3)?,
            occurred_at: ms(row, 4)?,
            received_at: ms(row, 5)?,
            details: json("change details", get(row, 6)?)?,
        },
    })
}

/// Rows a claim returned (`notification_cols`, then `held_back` and the due
/// time it was claimed at), as (page, held before), earliest due first.
pub(crate) fn leased(rows: &[Row]) -> Result<Vec<(Notification, bool)>> {
    let mut out = rows
        .iter()
        .map(|r| Ok((get::<i64>(r, 19)?, notification(r)?, get::<bool>(r, 18)?)))
        .collect::<Result<Vec<_>>>()?;
    out.sort_by_key(|(due, n, _)| (*due, n.id));
    Ok(out.into_iter().map(|(_, n, held)| (n, held)).collect())
}
