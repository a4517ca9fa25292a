//! Alerts and their timelines: recording events (one transaction per batch, group commit) and reading alerts.

use crate::SqliteStore;
use crate::error::{Error, Result as R};
use crate::escalations::{PreparedCommit, insert_decided};
use crate::open_index::OpenIndex;
use crate::ops::{Line, add_line, add_lines, encode_json, stop_alert};
use crate::rows::{self, alert_cols};
use crate::schema::pair_key;
use firebell_core::alert::{Alert, AlertId, AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::escalation::Escalation;
use firebell_core::event::EventAction;
use firebell_core::notification::{NewNotification, NotificationId};
use firebell_store::backend::{EncodedEvent, REPEAT_WINDOW_MS, repeat_line, repeats_in};

use firebell_store::{
    AlertCounts, AlertFilter, AlertStore, IngestItem, IngestOutcome, Result, StoreError,
    TimelinePage,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::sync::Arc;

/// Repeats of one alert within a batch, written once at the end of it (or
/// before an acknowledge or resolve of the same alert in the batch).
struct Repeats {
    alert_id: AlertId,
    status: Option<AlertStatus>,
    /// Triggers not yet written.
    n: i64,
    first: i64,
    last: i64,
    /// The latest trigger's announced end.
    expires_at: Option<i64>,
}

impl Repeats {
    fn write(&self, conn: &Connection) -> R<()> {
        if self.n == 0 {
            return Ok(());
        }
        // Not `RETURNING count`: a statement with RETURNING copies the
        // pages it changes into a statement journal (see escalations.rs).
        conn.prepare_cached(
            "UPDATE alerts SET count = count + ?2, updated_at = ?3, expires_at = ?4 WHERE id = ?1",
        )?
        .execute(params![self.alert_id, self.n, self.last, self.expires_at])?;
        let count: i64 = conn
            .prepare_cached("SELECT count FROM alerts WHERE id = ?1")?
            .query_row(params![self.alert_id], |r| r.get(0))?;
        note_repeats(conn, self.alert_id, self.first, self.n, count)
    }
}

/// Records a batch in order. A trigger of an alert that is already open only
/// raises a counter here: each alert's repeats in the batch are written as
/// one update (count, last seen, one timeline line) in the same transaction,
/// so what was answered 2xx is exact after a crash.
pub(crate) fn ingest(conn: &Connection, index: &OpenIndex, events: &[EncodedEvent]) -> R<Ingested> {
    let mut out = Vec::with_capacity(events.len());
    let mut claims = Vec::new();
    let mut repeats: HashMap<(&str, &str), Repeats> = HashMap::new();
    for (i, ev) in events.iter().enumerate() {
        let key = (ev.service.as_str(), ev.dedup_key.as_str());
        if ev.action == EventAction::Trigger {
            if let Some(r) = repeats.get_mut(&key) {
                r.n += 1;
                if r.n == 1 {
                    r.first = ev.received_at;
                }
                r.last = ev.received_at;
                r.expires_at = ev.expires_at;
                out.push(IngestOutcome {
                    alert_id: Some(r.alert_id),
                    dedup_key: ev.dedup_key.clone(),
                    status: r.status,
                    duplicate: true,
                    claimed: Vec::new(),
                });
                continue;
            }
        } else if let Some(r) = repeats.remove(&key) {
            r.write(conn)?;
        }
        let outcome = ingest_one(conn, index, ev, i, &mut claims)?;
        if ev.action == EventAction::Trigger
            && let Some(alert_id) = outcome.alert_id
        {
            // A new alert has no repeats yet; an open one has this one.
            repeats.insert(
                key,
                Repeats {
                    alert_id,
                    status: outcome.status,
                    n: i64::from(outcome.duplicate),
                    first: ev.received_at,
                    last: ev.received_at,
                    expires_at: ev.expires_at,
                },
            );
        }
        out.push(outcome);
    }
    for r in repeats.values() {
        r.write(conn)?;
    }
    Ok(Ingested {
        outcomes: out,
        claims,
    })
}

/// What a batch recorded: an outcome per event, and the pages claimed with
/// new alerts, joined to their alerts by [`Ingested::outcomes`] after the
/// write, off the writer thread (copies of the alerts there, and freeing
/// the batch's events, had an eighth of the writer's time).
pub(crate) struct Ingested {
    outcomes: Vec<IngestOutcome>,
    claims: Vec<Claim>,
}

/// A page claimed with a new alert: event `event` of the batch.
struct Claim {
    event: usize,
    alert_id: AlertId,
    status: AlertStatus,
    id: NotificationId,
    page: NewNotification,
}

impl Ingested {
    /// The outcomes, each with the pages claimed with its alert: the
    /// alert's fields move into the last page claimed with it, and are
    /// copied only for the others.
    pub(crate) fn outcomes(self, mut events: Vec<EncodedEvent>) -> Vec<IngestOutcome> {
        let mut last = vec![usize::MAX; events.len()];
        for (i, c) in self.claims.iter().enumerate() {
            last[c.event] = i;
        }
        let mut outcomes = self.outcomes;
        for (i, c) in self.claims.into_iter().enumerate() {
            let ev = &mut events[c.event];
            let claimed = if last[c.event] == i {
                ev.take_claimed_page(c.alert_id, c.status, c.id, &c.page)
            } else {
                ev.claimed_page(c.alert_id, c.status, c.id, &c.page)
            };
            if let (Some(claimed), Some(o)) = (claimed, outcomes.get_mut(c.event)) {
                o.claimed.push(claimed);
            }
        }
        outcomes
    }
}

/// One event whose alert no earlier event of the batch touched. A trigger of
/// an open alert writes nothing here: it is answered as a duplicate and
/// [`ingest`] counts it with the batch's other repeats of that alert.
fn ingest_one(
    conn: &Connection,
    index: &OpenIndex,
    ev: &EncodedEvent,
    event: usize,
    claims: &mut Vec<Claim>,
) -> R<IngestOutcome> {
    let open_key = pair_key(&ev.service, ev.dedup_key.as_str());
    let open = find_open(conn, index, open_key, ev)?;
    let open = match open {
        Some((id, status)) => Some((
            id,
            status
                .parse::<AlertStatus>()
                .map_err(|e| crate::error::corrupt("alert status", e))?,
        )),
        None => None,
    };
    let now = ev.received_at;
    let outcome = |alert_id, status, duplicate| IngestOutcome {
        alert_id,
        dedup_key: ev.dedup_key.clone(),
        status,
        duplicate,
        claimed: Vec::new(),
    };

    match (ev.action, open) {
        (EventAction::Trigger, Some((id, status))) => Ok(outcome(Some(id), Some(status), true)),
        (EventAction::Trigger, None) => {
            let Some(a) = &ev.new_alert else {
                return Err(Error::Other("a trigger without alert fields".into()));
            };
            conn.prepare_cached(
                "INSERT INTO alerts (service, dedup_key, status, summary, severity, source, \
                 labels, details, count, created_at, updated_at, expires_at) \
                 VALUES (?1, ?2, 'triggered', ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8, ?9)",
            )?
            .execute(params![
                ev.service,
                ev.dedup_key.as_str(),
                a.summary,
                a.severity,
                a.source,
                a.labels,
                a.details,
                now,
                ev.expires_at
            ])?;
            let id = conn.last_insert_rowid();
            index.change(
                id,
                true,
                open_key,
                a.index_pairs(ev.dedup_key.as_str())
                    .map(|(k, v)| pair_key(k, v))
                    .collect(),
            );
            add_line(
                conn,
                id,
                now,
                TimelineKind::Received.as_str(),
                &a.message,
                None,
            )?;
            if let Some(policy) = &ev.policy {
                let at = firebell_core::clock::from_millis(now);
                let esc = Escalation::start(id, policy, at);
                match ev.first_step(&esc) {
                    Some(t) if t.escalation.alert_id == id && t.settles.is_none() => {
                        let status = t.alert_status.unwrap_or(AlertStatus::Triggered);
                        let lease = ev
                            .first_step
                            .as_ref()
                            .and_then(|f| f.lease_until())
                            .filter(|_| t.alert_status.is_none());
                        let c = PreparedCommit::encode(0, t, at)?.claiming(lease);
                        let mut claimed = insert_decided(conn, &c)?.into_iter().peekable();
                        for (i, page) in c.into_notifications().into_iter().enumerate() {
                            if let Some((nid, _)) = claimed.next_if(|&(_, at)| at == i) {
                                claims.push(Claim {
                                    event,
                                    alert_id: id,
                                    status,
                                    id: nid,
                                    page,
                                });
                            }
                        }
                        return Ok(outcome(Some(id), Some(status), false));
                    }
                    _ => insert_escalation(conn, &esc)?,
                }
            }
            Ok(outcome(Some(id), Some(AlertStatus::Triggered), false))
        }
        (EventAction::Acknowledge | EventAction::Resolve, None) => Ok(outcome(None, None, false)),
        (EventAction::Acknowledge, Some((id, AlertStatus::Acknowledged))) => {
            Ok(outcome(Some(id), Some(AlertStatus::Acknowledged), true))
        }
        (EventAction::Acknowledge, Some((id, _))) => {
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
        (EventAction::Resolve, Some((id, _))) => {
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

/// The open alert with this event's service and dedup key, if any: the
/// index's candidates, each checked on its row.
fn find_open(
    conn: &Connection,
    index: &OpenIndex,
    open_key: i64,
    ev: &EncodedEvent,
) -> R<Option<(AlertId, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT status FROM alerts \
         WHERE id = ?1 AND status != 'resolved' AND service = ?2 AND dedup_key = ?3",
    )?;
    for id in index.open_candidates(open_key) {
        let status: Option<String> = stmt
            .query_row(params![id, ev.service, ev.dedup_key.as_str()], |r| r.get(0))
            .optional()?;
        if let Some(status) = status {
            return Ok(Some((id, status)));
        }
    }
    Ok(None)
}

pub(crate) fn insert_escalation(conn: &Connection, esc: &Escalation) -> R<()> {
    crate::escalations::insert_row(conn, esc, &encode_json(&esc.targets)?, esc.version)
}

pub(crate) fn add_timeline(conn: &Connection, alert_id: AlertId, lines: &[Line]) -> R<()> {
    add_lines(conn, alert_id, lines)
}

pub(crate) fn get_alert(conn: &Connection, id: AlertId) -> R<Option<Alert>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        alert_cols!(),
        " FROM alerts WHERE id = ?1"
    ))?
    .query_row(params![id], |r| Ok(rows::alert(r)))
    .optional()?
    .transpose()
}

pub(crate) fn list_alerts(conn: &Connection, f: &AlertFilter) -> R<Vec<Alert>> {
    if f.limit == 0 {
        return Ok(Vec::new());
    }
    // The statement depends on which filters are set; each shape is
    // prepared once and cached by its text.
    let mut sql = String::from(concat!(
        "SELECT ",
        alert_cols!(),
        " FROM alerts WHERE id < ?"
    ));
    let mut args: Vec<rusqlite::types::Value> = vec![f.before.unwrap_or(i64::MAX).into()];
    if let Some(s) = f.status {
        sql.push_str(" AND status = ?");
        args.push(s.as_str().to_string().into());
    }
    if f.open {
        sql.push_str(" AND status != 'resolved'");
    }
    if let Some(svc) = &f.service {
        sql.push_str(" AND service = ?");
        args.push(svc.clone().into());
    }
    if let Some(sev) = f.severity {
        sql.push_str(" AND severity = ?");
        args.push(sev.as_str().to_string().into());
    }
    if let Some(text) = f.text.as_ref().filter(|t| !t.is_empty()) {
        // LIKE ignores ASCII case without lowering a copy of every row.
        sql.push_str(" AND (summary LIKE ? ESCAPE '\\' OR labels LIKE ? ESCAPE '\\')");
        let p = firebell_store::backend::contains_pattern(text);
        args.push(p.clone().into());
        args.push(p.into());
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(i64::from(f.limit).into());
    let mut stmt = conn.prepare_cached(&sql)?;
    rows::collect(&mut stmt, rusqlite::params_from_iter(args), rows::alert)
}

/// The open alerts carrying every one of `labels` (as the label index
/// holds them, see `firebell_core::labels::index_pairs`), oldest first: the
/// in-memory index intersects its sets, fewest first, and each alert found
/// is read and its labels checked.
pub(crate) fn open_alerts_labelled(
    conn: &Connection,
    index: &OpenIndex,
    labels: &[(String, String)],
) -> R<Vec<Alert>> {
    let keys: Vec<i64> = labels.iter().map(|(k, v)| pair_key(k, v)).collect();
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        alert_cols!(),
        " FROM alerts WHERE id = ?1 AND status != 'resolved'"
    ))?;
    let mut found = Vec::new();
    for id in index.labelled(&keys) {
        let Some(alert) = stmt
            .query_row(params![id], |r| Ok(rows::alert(r)))
            .optional()?
            .transpose()?
        else {
            continue;
        };
        if labels
            .iter()
            .all(|(k, v)| firebell_core::labels::indexed_label(&alert, k).is_some_and(|x| x == v))
        {
            found.push(alert);
        }
    }
    Ok(found)
}

/// Records `n` repeated triggers, the first at `first`, on the timeline
/// without a row per repeat: the alert's latest line, if it is a
/// `deduplicated` line started less than [`REPEAT_WINDOW_MS`] before `first`,
/// is updated ("repeated 60× since …"); otherwise one such line is added.
/// `count` is the alert's count after them.
fn note_repeats(conn: &Connection, alert_id: AlertId, first: i64, n: i64, count: i64) -> R<()> {
    let latest: Option<(i64, String, i64, Option<String>)> = conn
        .prepare_cached(
            "SELECT id, kind, at, data FROM timeline WHERE alert_id = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![alert_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let kind = TimelineKind::Deduplicated.as_str();
    if let Some((line, k, since, data)) = latest
        && k == kind
        && first.saturating_sub(since) < REPEAT_WINDOW_MS
    {
        let (message, data) = repeat_line(repeats_in(data.as_deref()) + n, since, count);
        let data = encode_json(&data)?;
        conn.prepare_cached("UPDATE timeline SET message = ?2, data = ?3 WHERE id = ?1")?
            .execute(params![line, message, data])?;
        return Ok(());
    }
    let (message, data) = repeat_line(n, first, count);
    add_line(
        conn,
        alert_id,
        first,
        kind,
        &message,
        Some(&encode_json(&data)?),
    )
}

impl AlertStore for SqliteStore {
    async fn ingest(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let events = items
            .into_iter()
            .map(EncodedEvent::encode)
            .collect::<Result<Vec<_>>>()?;
        let index = Arc::clone(&self.inner.index);
        // Shared with the write, so the events are freed here, not on the
        // writer thread.
        let events = Arc::new(events);
        let writing = Arc::clone(&events);
        let ingested = self
            .write(move |conn| ingest(conn, &index, &writing))
            .await?;
        // The writer lets go of its share before it answers, so this takes
        // the events back without a copy.
        Ok(ingested.outcomes(Arc::unwrap_or_clone(events)))
    }

    async fn get_alert(&self, id: AlertId) -> Result<Option<Alert>> {
        self.read(move |conn| get_alert(conn, id)).await
    }

    async fn list_alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>> {
        self.read(move |conn| list_alerts(conn, &filter)).await
    }

    async fn open_alerts_labelled(&self, labels: Vec<(String, String)>) -> Result<Vec<Alert>> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let index = Arc::clone(&self.inner.index);
        self.read(move |conn| open_alerts_labelled(conn, &index, &labels))
            .await
    }

    async fn timeline(&self, id: AlertId) -> Result<Vec<TimelineEntry>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at, kind, message, data FROM timeline WHERE alert_id = ?1 ORDER BY id",
            )?;
            rows::collect(&mut stmt, params![id], rows::timeline)
        })
        .await
    }

    async fn timeline_page(
        &self,
        id: AlertId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<TimelinePage> {
        let before = before.unwrap_or(i64::MAX);
        self.read(move |conn| {
            // One more than asked: whether an older page exists.
            let mut stmt = conn.prepare_cached(
                "SELECT at, kind, message, data, id FROM timeline \
                 WHERE alert_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let mut rows = stmt.query(params![id, before, i64::from(limit) + 1])?;
            let mut lines: Vec<(i64, TimelineEntry)> = Vec::new();
            while let Some(row) = rows.next()? {
                lines.push((row.get(4)?, rows::timeline(row)?));
            }
            let more = lines.len() > limit as usize;
            lines.truncate(limit as usize);
            let next_before = if more {
                lines.last().map(|(line_id, _)| *line_id)
            } else {
                None
            };
            lines.reverse();
            Ok(TimelinePage {
                entries: lines.into_iter().map(|(_, e)| e).collect(),
                next_before,
            })
        })
        .await
    }

    async fn alert_counts(&self) -> Result<AlertCounts> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT status, COUNT(*) FROM alerts WHERE status IN ('triggered', 'acknowledged') \
                 GROUP BY status",
            )?;
            let mut counts = AlertCounts::default();
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let status: String = row.get(0)?;
                let n: i64 = row.get(1)?;
                match status.as_str() {
                    "triggered" => counts.triggered = n,
                    "acknowledged" => counts.acknowledged = n,
                    _ => {}
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn add_timeline(&self, alert_id: AlertId, lines: Vec<TimelineEntry>) -> Result<()> {
        let lines = Line::encode_all(&lines)?;
        self.write(move |conn| add_timeline(conn, alert_id, &lines))
            .await
    }

    async fn latest_open_alert_paged(&self, user: String) -> Result<Option<AlertId>> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT alert_id FROM notifications \
                     WHERE user_id = ?1 AND kind = 'alert.notify' AND alert_id IN \
                     (SELECT id FROM alerts WHERE status != 'resolved') \
                     ORDER BY alert_id DESC LIMIT 1",
                )?
                .query_row(params![user], |r| r.get::<_, AlertId>(0))
                .optional()?)
        })
        .await
    }

    async fn get_alerts(&self, ids: Vec<AlertId>) -> Result<Vec<Alert>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |conn| crate::silences::alerts_by_id(conn, &ids))
            .await
    }

    async fn ping(&self) -> Result<()> {
        if self.inner.writer.as_ref().is_none_or(|w| w.is_finished()) {
            return Err(StoreError::Closed);
        }
        self.read(|conn| {
            conn.prepare_cached("SELECT 1")?
                .query_row([], |r| r.get::<_, i64>(0))?;
            Ok(())
        })
        .await
    }
}
