//! Alerts and their timelines: recording events (one transaction per batch)
//! and reading alerts.

use crate::error::{Error, Result as R, corrupt};
use crate::rows::{self, alert_cols};
use crate::sql::{collect, exec, query, query_one, query_opt};
use crate::{PgStore, in_tx, with_client};
use deadpool_postgres::GenericClient;
use firebell_core::alert::{Alert, AlertId, AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::escalation::Escalation;
use firebell_core::event::EventAction;
use firebell_store::backend::{
    EncodedEvent, Line, REPEAT_WINDOW_MS, encode_json, repeat_line, repeats_in,
};
use firebell_store::{
    AlertCounts, AlertFilter, AlertStore, IngestItem, IngestOutcome, Result, TimelinePage,
};
use std::collections::HashMap;

/// Repeats of one alert within a batch, written once at its end (or before
/// an acknowledge or resolve of the same alert in the batch).
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
    async fn write<C: GenericClient>(&self, c: &C) -> R<()> {
        if self.n == 0 {
            return Ok(());
        }
        // The row lock this takes orders concurrent batches' repeats of one
        // alert, so the timeline line below is read after the other's write.
        let count: i64 = query_one(
            c,
            "UPDATE alerts SET count = count + $2, updated_at = GREATEST(updated_at, $3), \
             expires_at = CASE WHEN $3 >= updated_at THEN $4 ELSE expires_at END \
             WHERE id = $1 RETURNING count",
            &[&self.alert_id, &self.n, &self.last, &self.expires_at],
        )
        .await?
        .get(0);
        note_repeats(c, self.alert_id, self.first, self.n, count).await
    }
}

/// FNV-1a, 64 bits: a stable hash of (service, dedup key) for the advisory
/// lock, the same on every node and every version.
fn key_lock(service: &str, key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in service.bytes().chain([0]).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// Records a batch in order, as the SQLite backend does. First every
/// (service, dedup key) of the batch is locked (transaction-scoped advisory
/// locks, in one order), so a batch racing another node's batch about the
/// same alert waits for it: one alert is opened, and the second sees it.
pub(crate) async fn ingest<C: GenericClient>(
    c: &C,
    events: &[EncodedEvent],
) -> R<Vec<IngestOutcome>> {
    let mut locks: Vec<i64> = events
        .iter()
        .map(|e| key_lock(&e.service, e.dedup_key.as_str()))
        .collect();
    locks.sort_unstable();
    locks.dedup();
    exec(
        c,
        "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS t(k)",
        &[&locks],
    )
    .await?;

    let mut out = Vec::with_capacity(events.len());
    let mut repeats: HashMap<(&str, &str), Repeats> = HashMap::new();
    for ev in events {
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
            r.write(c).await?;
        }
        let outcome = ingest_one(c, ev).await?;
        if ev.action == EventAction::Trigger
            && let Some(alert_id) = outcome.alert_id
        {
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
        r.write(c).await?;
    }
    // A new alert's escalation is due now.
    if events
        .iter()
        .zip(&out)
        .any(|(e, o)| e.policy.is_some() && e.action == EventAction::Trigger && !o.duplicate)
    {
        crate::wake::notify(c).await?;
    }
    Ok(out)
}

async fn ingest_one<C: GenericClient>(c: &C, ev: &EncodedEvent) -> R<IngestOutcome> {
    let open = query_opt(
        c,
        "SELECT id, status FROM alerts \
         WHERE service = $1 AND dedup_key = $2 AND status <> 'resolved'",
        &[&ev.service, &ev.dedup_key.as_str()],
    )
    .await?;
    let open: Option<(AlertId, AlertStatus)> = match open {
        Some(row) => Some((
            row.get(0),
            row.get::<_, &str>(1)
                .parse::<AlertStatus>()
                .map_err(|e| corrupt("alert status", e))?,
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
            let id: AlertId = query_one(
                c,
                "INSERT INTO alerts (service, dedup_key, status, summary, severity, source, \
                 labels, details, count, created_at, updated_at, expires_at) \
                 VALUES ($1, $2, 'triggered', $3, $4, $5, $6, $7, 1, $8, $8, $9) RETURNING id",
                &[
                    &ev.service,
                    &ev.dedup_key.as_str(),
                    &a.summary,
                    &a.severity,
                    &a.source,
                    &a.labels,
                    &a.details,
                    &now,
                    &ev.expires_at,
                ],
            )
            .await?
            .get(0);
            let (names, values): (Vec<&str>, Vec<&str>) =
                a.index_pairs(ev.dedup_key.as_str()).unzip();
            exec(
                c,
                "INSERT INTO alert_labels (name, value, alert_id) \
                 SELECT n, v, $3 FROM unnest($1::text[], $2::text[]) AS t(n, v) \
                 ON CONFLICT DO NOTHING",
                &[&names, &values, &id],
            )
            .await?;
            add_line(
                c,
                id,
                now,
                TimelineKind::Received.as_str(),
                &a.message,
                None,
            )
            .await?;
            if let Some(policy) = &ev.policy {
                let esc = Escalation::start(id, policy, firebell_core::clock::from_millis(now));
                insert_escalation(c, &esc).await?;
                if let Some(t) = ev.first_step(&esc)
                    && t.escalation.alert_id == id
                    && t.settles.is_none()
                {
                    let status = t.alert_status.unwrap_or(AlertStatus::Triggered);
                    let lease = ev
                        .first_step
                        .as_ref()
                        .and_then(|f| f.lease_until())
                        .filter(|_| t.alert_status.is_none())
                        .map(firebell_core::clock::to_millis);
                    let claimed = crate::escalations::commit_first_step(c, &t, now, lease)
                        .await?
                        .into_iter()
                        .filter_map(|(nid, i)| {
                            ev.claimed_page(id, status, nid, &t.notifications[i])
                        })
                        .collect();
                    let mut out = outcome(Some(id), Some(status), false);
                    out.claimed = claimed;
                    return Ok(out);
                }
            }
            Ok(outcome(Some(id), Some(AlertStatus::Triggered), false))
        }
        (EventAction::Acknowledge | EventAction::Resolve, None) => Ok(outcome(None, None, false)),
        (EventAction::Acknowledge, Some((id, AlertStatus::Acknowledged))) => {
            Ok(outcome(Some(id), Some(AlertStatus::Acknowledged), true))
        }
        (EventAction::Acknowledge, Some((id, _))) => {
            exec(
                c,
                "UPDATE alerts SET status = 'acknowledged', acknowledged_at = $2, updated_at = $2 \
                 WHERE id = $1",
                &[&id, &now],
            )
            .await?;
            stop_alert(c, id, now).await?;
            add_line(
                c,
                id,
                now,
                TimelineKind::Acknowledged.as_str(),
                "acknowledged by the source",
                None,
            )
            .await?;
            Ok(outcome(Some(id), Some(AlertStatus::Acknowledged), false))
        }
        (EventAction::Resolve, Some((id, _))) => {
            exec(
                c,
                "UPDATE alerts SET status = 'resolved', resolved_at = $2, updated_at = $2 \
                 WHERE id = $1",
                &[&id, &now],
            )
            .await?;
            stop_alert(c, id, now).await?;
            add_line(
                c,
                id,
                now,
                TimelineKind::Resolved.as_str(),
                "resolved by the source",
                None,
            )
            .await?;
            Ok(outcome(Some(id), Some(AlertStatus::Resolved), false))
        }
    }
}

pub(crate) async fn insert_escalation<C: GenericClient>(c: &C, esc: &Escalation) -> R<()> {
    let targets = encode_json(&esc.targets)?;
    exec(
        c,
        "INSERT INTO escalations (alert_id, policy, phase, step, loop, due_at, targets, version, \
         held, retriggered) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &esc.alert_id,
            &esc.policy,
            &esc.phase.as_str(),
            &i64::from(esc.step),
            &i64::from(esc.loop_),
            &esc.due_at.map(firebell_core::clock::to_millis),
            &targets,
            &esc.version,
            &esc.held,
            &i64::from(esc.retriggered),
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn add_line<C: GenericClient>(
    c: &C,
    alert_id: AlertId,
    at: i64,
    kind: &str,
    message: &str,
    data: Option<&str>,
) -> R<()> {
    exec(
        c,
        "INSERT INTO timeline (alert_id, at, kind, message, data) VALUES ($1, $2, $3, $4, $5)",
        &[&alert_id, &at, &kind, &message, &data],
    )
    .await?;
    Ok(())
}

/// Appends lines in one statement.
pub(crate) async fn add_lines<C: GenericClient>(c: &C, alert_id: AlertId, lines: &[Line]) -> R<()> {
    match lines {
        [] => Ok(()),
        [l] => add_line(c, alert_id, l.at, l.kind, &l.message, l.data.as_deref()).await,
        _ => {
            let at: Vec<i64> = lines.iter().map(|l| l.at).collect();
            let kind: Vec<&str> = lines.iter().map(|l| l.kind).collect();
            let message: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
            let data: Vec<Option<&str>> = lines.iter().map(|l| l.data.as_deref()).collect();
            exec(
                c,
                "INSERT INTO timeline (alert_id, at, kind, message, data) \
                 SELECT $1, a, k, m, d FROM unnest($2::bigint[], $3::text[], $4::text[], \
                 $5::text[]) WITH ORDINALITY AS t(a, k, m, d, i) ORDER BY i",
                &[&alert_id, &at, &kind, &message, &data],
            )
            .await?;
            Ok(())
        }
    }
}

/// Stops an alert's escalation (bumping its version) and cancels its
/// outstanding pages: what acknowledging or resolving does.
pub(crate) async fn stop_alert<C: GenericClient>(c: &C, alert_id: AlertId, now: i64) -> R<()> {
    exec(
        c,
        "UPDATE escalations SET phase = 'stopped', due_at = NULL, version = version + 1 \
         WHERE alert_id = $1",
        &[&alert_id],
    )
    .await?;
    cancel_pages(c, alert_id, now).await
}

pub(crate) async fn cancel_pages<C: GenericClient>(c: &C, alert_id: AlertId, now: i64) -> R<()> {
    exec(
        c,
        "UPDATE notifications SET status = 'cancelled', lease_until = NULL, updated_at = $2 \
         WHERE alert_id = $1 AND status IN ('pending', 'sending') AND kind != 'alert.action'",
        &[&alert_id, &now],
    )
    .await?;
    Ok(())
}

/// Records `n` repeated triggers, the first at `first`, without a row per
/// repeat (see `AlertStore::ingest`).
async fn note_repeats<C: GenericClient>(
    c: &C,
    alert_id: AlertId,
    first: i64,
    n: i64,
    count: i64,
) -> R<()> {
    let latest = query_opt(
        c,
        "SELECT id, kind, at, data FROM timeline WHERE alert_id = $1 ORDER BY id DESC LIMIT 1",
        &[&alert_id],
    )
    .await?;
    let kind = TimelineKind::Deduplicated.as_str();
    if let Some(row) = latest {
        let (line, k, since, data): (i64, &str, i64, Option<&str>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if k == kind && first.saturating_sub(since) < REPEAT_WINDOW_MS {
            let (message, data) = repeat_line(repeats_in(data) + n, since, count);
            exec(
                c,
                "UPDATE timeline SET message = $2, data = $3 WHERE id = $1",
                &[&line, &message, &encode_json(&data)?],
            )
            .await?;
            return Ok(());
        }
    }
    let (message, data) = repeat_line(n, first, count);
    add_line(
        c,
        alert_id,
        first,
        kind,
        &message,
        Some(&encode_json(&data)?),
    )
    .await
}

/// See the SQLite backend: the pair with the fewest alerts is read, counted
/// with a growing bound, and every pair is checked on what it found.
const LABEL_PROBE_FIRST: i64 = 64;
const LABEL_PROBE_MAX: i64 = 65_536;

async fn open_alerts_labelled<C: GenericClient>(
    c: &C,
    labels: &[(String, String)],
) -> R<Vec<Alert>> {
    let mut bound = LABEL_PROBE_FIRST;
    let (n, (name, value)) = loop {
        let mut best: Option<(i64, &(String, String))> = None;
        for pair in labels {
            let n: i64 = query_one(
                c,
                "SELECT count(*) FROM (SELECT 1 FROM alert_labels \
                 WHERE name = $1 AND value = $2 LIMIT $3) x",
                &[&pair.0, &pair.1, &bound],
            )
            .await?
            .get(0);
            if best.is_none_or(|(m, _)| n < m) {
                best = Some((n, pair));
            }
            if n == 0 {
                break;
            }
        }
        let Some((n, pair)) = best else {
            return Ok(Vec::new());
        };
        if n < bound || bound >= LABEL_PROBE_MAX {
            break (n, pair);
        }
        bound *= 16;
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    let found = collect(
        query(
            c,
            concat!(
                "SELECT ",
                alert_cols!(),
                " FROM alerts WHERE id IN \
                 (SELECT alert_id FROM alert_labels WHERE name = $1 AND value = $2) \
                 AND status <> 'resolved' ORDER BY id"
            ),
            &[name, value],
        )
        .await?,
        rows::alert,
    )?;
    Ok(found
        .into_iter()
        .filter(|a| {
            labels
                .iter()
                .all(|(k, v)| firebell_core::labels::indexed_label(a, k).is_some_and(|x| x == v))
        })
        .collect())
}

pub(crate) async fn alerts_by_id<C: GenericClient>(c: &C, ids: &[AlertId]) -> R<Vec<Alert>> {
    collect(
        query(
            c,
            concat!(
                "SELECT ",
                alert_cols!(),
                " FROM alerts WHERE id = ANY($1) ORDER BY id"
            ),
            &[&ids],
        )
        .await?,
        rows::alert,
    )
}

async fn list_alerts<C: GenericClient>(c: &C, f: &AlertFilter) -> R<Vec<Alert>> {
    if f.limit == 0 {
        return Ok(Vec::new());
    }
    let before = f.before.unwrap_or(i64::MAX);
    let status = f.status.map(|s| s.as_str());
    let severity = f.severity.map(|s| s.as_str());
    let text = f
        .text
        .as_ref()
        .filter(|t| !t.is_empty())
        .map(|t| firebell_store::backend::contains_pattern(t));
    let rows = query(
        c,
        concat!(
            "SELECT ",
            alert_cols!(),
            " FROM alerts WHERE id < $1 AND ($3::text IS NULL OR status = $3) \
             AND ($4::text IS NULL OR service = $4) AND ($5::bool = false OR status <> 'resolved') \
             AND ($6::text IS NULL OR severity = $6) \
             AND ($7::text IS NULL OR summary ILIKE $7 OR labels ILIKE $7) \
             ORDER BY id DESC LIMIT $2"
        ),
        &[
            &before,
            &i64::from(f.limit),
            &status,
            &f.service,
            &f.open,
            &severity,
            &text,
        ],
    )
    .await?;
    collect(rows, rows::alert)
}

/// One ingest call waiting to share a transaction (see [`Gatherer`]).
pub(crate) struct Pending {
    events: Vec<EncodedEvent>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<IngestOutcome>>>,
}

/// Group commit: concurrent ingest calls on this node share transactions.
/// [`GATHER_WORKERS`] workers each take every call queued when they are
/// free (up to [`GATHER_MAX_EVENTS`] events) and record them in one
/// transaction, so a burst costs a few commits, not one each, while several
/// transactions still run at once. If a shared transaction fails, each call
/// in it is run on its own, so one bad call fails alone.
#[derive(Clone)]
pub(crate) struct Gatherer {
    queue: tokio::sync::mpsc::UnboundedSender<Pending>,
}

const GATHER_WORKERS: usize = 4;
const GATHER_MAX_EVENTS: usize = 4096;

impl Gatherer {
    pub(crate) fn start(store: PgStore) -> Gatherer {
        let (queue, rx) = tokio::sync::mpsc::unbounded_channel::<Pending>();
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..GATHER_WORKERS {
            let (rx, store) = (rx.clone(), store.clone());
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else {
                            return; // every store handle is gone
                        };
                        let mut n = first.events.len();
                        let mut batch = vec![first];
                        while n < GATHER_MAX_EVENTS {
                            match rx.try_recv() {
                                Ok(p) => {
                                    n += p.events.len();
                                    batch.push(p);
                                }
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    store.ingest_together(batch).await;
                }
            });
        }
        Gatherer { queue }
    }
}

impl PgStore {
    async fn ingest_together(&self, batch: Vec<Pending>) {
        // The calls' events, moved (not copied) into one list; each call's
        // share is a range of it.
        let mut all: Vec<EncodedEvent> = Vec::new();
        let mut calls = Vec::with_capacity(batch.len());
        for p in batch {
            let start = all.len();
            all.extend(p.events);
            calls.push((start..all.len(), p.reply));
        }
        if calls.len() > 1
            && let Ok(outcomes) = self.ingest_now(&all).await
        {
            for (range, reply) in calls {
                let _ = reply.send(Ok(outcomes[range].to_vec()));
            }
            return;
        }
        for (range, reply) in calls {
            let _ = reply.send(self.ingest_now(&all[range]).await);
        }
    }

    async fn ingest_now(&self, events: &[EncodedEvent]) -> Result<Vec<IngestOutcome>> {
        in_tx!(self, |tx| ingest(&tx, events).await)
    }
}

impl PgStore {
    pub(crate) fn add_waker(&self, wake: std::sync::Arc<dyn Fn() + Send + Sync>) {
        self.wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(wake);
    }
}

impl AlertStore for PgStore {
    async fn ingest(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let events = items
            .into_iter()
            .map(EncodedEvent::encode)
            .collect::<Result<Vec<_>>>()?;
        let Some(gatherer) = self.gatherer.get() else {
            return self.ingest_now(&events).await;
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        gatherer
            .queue
            .send(Pending { events, reply })
            .map_err(|_| firebell_store::StoreError::Closed)?;
        answer
            .await
            .map_err(|_| firebell_store::StoreError::Closed)?
    }

    async fn get_alert(&self, id: AlertId) -> Result<Option<Alert>> {
        self.read_opt(
            concat!("SELECT ", alert_cols!(), " FROM alerts WHERE id = $1"),
            &[&id],
            rows::alert,
        )
        .await
    }

    async fn get_alerts(&self, ids: Vec<AlertId>) -> Result<Vec<Alert>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        with_client!(self, |c| alerts_by_id(&c, &ids).await)
    }

    async fn list_alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>> {
        with_client!(self, |c| list_alerts(&c, &filter).await)
    }

    async fn open_alerts_labelled(&self, labels: Vec<(String, String)>) -> Result<Vec<Alert>> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        with_client!(self, |c| open_alerts_labelled(&c, &labels).await)
    }

    async fn timeline(&self, id: AlertId) -> Result<Vec<TimelineEntry>> {
        self.read_all(
            "SELECT at, kind, message, data FROM timeline WHERE alert_id = $1 ORDER BY id",
            &[&id],
            rows::timeline,
        )
        .await
    }

    async fn timeline_page(
        &self,
        id: AlertId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<TimelinePage> {
        let before = before.unwrap_or(i64::MAX);
        with_client!(self, |c| {
            // One more than asked: whether an older page exists.
            let found = query(
                &c,
                "SELECT at, kind, message, data, id FROM timeline \
                 WHERE alert_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                &[&id, &before, &(i64::from(limit) + 1)],
            )
            .await?;
            let mut lines = found
                .iter()
                .map(|r| Ok((rows::get::<i64>(r, 4)?, rows::timeline(r)?)))
                .collect::<R<Vec<_>>>()?;
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
    }

    async fn add_timeline(&self, alert_id: AlertId, lines: Vec<TimelineEntry>) -> Result<()> {
        let lines = Line::encode_all(&lines)?;
        in_tx!(self, |tx| add_lines(&tx, alert_id, &lines).await)
    }

    async fn alert_counts(&self) -> Result<AlertCounts> {
        with_client!(self, |c| {
            let mut counts = AlertCounts::default();
            for row in query(
                &c,
                "SELECT status, count(*) FROM alerts \
                 WHERE status IN ('triggered', 'acknowledged') GROUP BY status",
                &[],
            )
            .await?
            {
                match row.get::<_, &str>(0) {
                    "triggered" => counts.triggered = row.get(1),
                    "acknowledged" => counts.acknowledged = row.get(1),
                    _ => {}
                }
            }
            Ok(counts)
        })
    }

    async fn latest_open_alert_paged(&self, user: String) -> Result<Option<AlertId>> {
        with_client!(self, |c| {
            Ok(query_opt(
                &c,
                "SELECT alert_id FROM notifications \
                 WHERE user_id = $1 AND kind = 'alert.notify' AND alert_id IN \
                 (SELECT id FROM alerts WHERE status <> 'resolved') \
                 ORDER BY alert_id DESC LIMIT 1",
                &[&user],
            )
            .await?
            .map(|r| r.get::<_, AlertId>(0)))
        })
    }

    async fn ping(&self) -> Result<()> {
        with_client!(self, |c| {
            c.simple_query("SELECT 1").await?;
            Ok(())
        })
    }
}
