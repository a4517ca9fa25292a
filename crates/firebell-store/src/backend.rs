//! Rules every backend applies the same way, so that SQLite and PostgreSQL
//! store the same values: instants in whole milliseconds, lease ends,
//! the text of repeat lines.

use firebell_core::alert::TimelineEntry;

/// The columns an alert is read from, in the order both backends' row
/// decoders expect (a macro, so queries stay `&'static str` with `concat!`).
#[macro_export]
macro_rules! alert_cols {
    () => {
        "id, service, dedup_key, status, summary, severity, source, labels, details, \
         count, created_at, updated_at, acknowledged_at, resolved_at, expires_at"
    };
}

/// The columns an escalation is read from.
#[macro_export]
macro_rules! escalation_cols {
    () => {
        "alert_id, policy, phase, step, loop, due_at, targets, version, held, retriggered"
    };
}

/// The columns a notification is read from.
#[macro_export]
macro_rules! notification_cols {
    () => {
        "id, alert_id, user_id, contact_index, channel, address, kind, step, loop, \
         status, attempts, next_attempt_at, last_error, created_at, message, detail, \
         idem_key, follow_up"
    };
}

/// The columns a schedule override is read from.
#[macro_export]
macro_rules! override_cols {
    () => {
        "id, schedule, start_at, end_at, kind, user_id, replacement, created_by, created_at"
    };
}
use jiff::{SignedDuration, Timestamp};

/// `t` in whole milliseconds, rounded down (`clock::to_millis` truncates
/// toward zero).
pub fn floor_millis(t: Timestamp) -> i64 {
    // Any Timestamp's millisecond count fits an i64.
    t.as_nanosecond().div_euclid(1_000_000) as i64
}

/// `t` in whole milliseconds, rounded up.
pub fn ceil_millis(t: Timestamp) -> i64 {
    -((-t.as_nanosecond()).div_euclid(1_000_000)) as i64
}

/// When a lease taken at `now` ends (saturating at the ends of time).
pub fn lease_end(now: Timestamp, lease: SignedDuration) -> Timestamp {
    now.checked_add(lease).unwrap_or(if lease.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The row's bookkeeping `updated_at` for a write whose trait method passes
/// no "now": the time of its newest timeline line, else the clock.
pub fn time_of(timeline: &[TimelineEntry]) -> Timestamp {
    timeline
        .iter()
        .map(|e| e.at)
        .max()
        .unwrap_or_else(Timestamp::now)
}

/// How long one `deduplicated` line gathers repeats before the next one
/// starts (see [`crate::AlertStore::ingest`]).
pub const REPEAT_WINDOW_MS: i64 = 60 * 60 * 1000;

/// The text and data of a `deduplicated` line: `repeats` repeats since
/// `since` (ms), the alert's count now `count`.
pub fn repeat_line(repeats: i64, since: i64, count: i64) -> (String, serde_json::Value) {
    let message = if repeats == 1 {
        format!("repeat trigger (count {count})")
    } else {
        let since = firebell_core::clock::from_millis(since);
        format!("repeated {repeats}× since {since} (count {count})")
    };
    (
        message,
        serde_json::json!({ "repeats": repeats, "count": count }),
    )
}

/// How many repeats a `deduplicated` line's data says it holds.
pub fn repeats_in(data: Option<&str>) -> i64 {
    data.and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|v| v.get("repeats").and_then(serde_json::Value::as_i64))
        .unwrap_or(1)
}

/// A new alert's `received` line.
pub fn received_message(source: &str, summary: &str) -> String {
    if source.is_empty() {
        format!("triggered: {summary}")
    } else {
        format!("triggered by {source}: {summary}")
    }
}

/// The detail of a page carried by bundled page `leader`.
pub fn bundled_detail(leader: i64) -> String {
    format!("in bundled page #{leader}")
}

/// JSON as stored (TEXT on every backend).
pub fn encode_json<T: serde::Serialize>(v: &T) -> crate::Result<String> {
    serde_json::to_string(v)
        .map_err(|e| crate::StoreError::Backend(format!("could not encode JSON: {e}")))
}

/// A timeline line, encoded as stored.
#[derive(Clone, Debug)]
pub struct Line {
    pub at: i64,
    pub kind: &'static str,
    pub message: String,
    /// JSON; `None` when the line has no data.
    pub data: Option<String>,
}

impl Line {
    pub fn encode(e: &TimelineEntry) -> crate::Result<Self> {
        Ok(Line {
            at: firebell_core::clock::to_millis(e.at),
            kind: e.kind.as_str(),
            message: e.message.clone(),
            data: if e.data.is_null() {
                None
            } else {
                Some(encode_json(&e.data)?)
            },
        })
    }

    pub fn encode_all(lines: &[TimelineEntry]) -> crate::Result<Vec<Self>> {
        lines.iter().map(Line::encode).collect()
    }
}

/// The columns of a new alert, encoded.
#[derive(Clone, Debug)]
pub struct NewAlertRow {
    pub summary: String,
    pub severity: &'static str,
    pub source: String,
    /// JSON object.
    pub labels: String,
    /// JSON object.
    pub details: String,
    /// The `received` line.
    pub message: String,
    /// The labels as received: what the label index gets (see
    /// [`NewAlertRow::index_pairs`]), and the labels of pages claimed with
    /// the alert (see [`crate::FirstStep::claiming`]).
    pub label_map: std::collections::BTreeMap<String, String>,
    /// The details as received, kept only where a page may be claimed with
    /// the alert.
    pub detail_map: serde_json::Map<String, serde_json::Value>,
}

impl NewAlertRow {
    /// What the label index gets for this alert with `dedup_key`
    /// ([`firebell_core::labels::index_pairs`]).
    pub fn index_pairs<'a>(
        &'a self,
        dedup_key: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        firebell_core::labels::index_pairs(&self.label_map, dedup_key)
    }
}

/// A new alert's fields a claimed page carries.
struct AlertFields {
    summary: String,
    source: String,
    labels: std::collections::BTreeMap<String, String>,
    details: serde_json::Map<String, serde_json::Value>,
}

/// An event to record, encoded (see [`crate::AlertStore::ingest`]).
#[derive(Clone, Debug)]
pub struct EncodedEvent {
    pub action: firebell_core::event::EventAction,
    pub service: String,
    pub dedup_key: firebell_core::event::DedupKey,
    /// Milliseconds.
    pub received_at: i64,
    pub policy: Option<String>,
    /// Set for triggers only.
    pub new_alert: Option<NewAlertRow>,
    /// Milliseconds; the trigger's [`firebell_core::event::Event::expires_at`].
    pub expires_at: Option<i64>,
    pub severity: firebell_core::event::Severity,
    pub first_step: Option<crate::FirstStep>,
}

impl EncodedEvent {
    /// A page the first step queued and claimed with this event's new alert
    /// (see [`crate::FirstStep::claiming`]): the notification as a claim
    /// would return it, and the alert as it was written.
    pub fn claimed_page(
        &self,
        alert_id: firebell_core::alert::AlertId,
        status: firebell_core::alert::AlertStatus,
        id: firebell_core::notification::NotificationId,
        n: &firebell_core::notification::NewNotification,
    ) -> Option<crate::Claimed> {
        let a = self.new_alert.as_ref()?;
        let fields = AlertFields {
            summary: a.summary.clone(),
            source: a.source.clone(),
            labels: a.label_map.clone(),
            details: a.detail_map.clone(),
        };
        Some(self.claim_with(alert_id, status, id, n, fields))
    }

    /// [`EncodedEvent::claimed_page`] for the event's last such page: the
    /// alert's fields are moved into it, not copied, and the event keeps
    /// none.
    pub fn take_claimed_page(
        &mut self,
        alert_id: firebell_core::alert::AlertId,
        status: firebell_core::alert::AlertStatus,
        id: firebell_core::notification::NotificationId,
        n: &firebell_core::notification::NewNotification,
    ) -> Option<crate::Claimed> {
        let a = self.new_alert.take()?;
        let fields = AlertFields {
            summary: a.summary,
            source: a.source,
            labels: a.label_map,
            details: a.detail_map,
        };
        Some(self.claim_with(alert_id, status, id, n, fields))
    }

    fn claim_with(
        &self,
        alert_id: firebell_core::alert::AlertId,
        status: firebell_core::alert::AlertStatus,
        id: firebell_core::notification::NotificationId,
        n: &firebell_core::notification::NewNotification,
        a: AlertFields,
    ) -> crate::Claimed {
        let at = firebell_core::clock::from_millis(self.received_at);
        crate::Claimed {
            notification: firebell_core::notification::Notification {
                id,
                idem_key: n.idem_key.clone(),
                alert_id: Some(alert_id),
                message: n.message.clone(),
                user: n.user.clone(),
                contact_index: n.contact_index,
                channel: n.channel.clone(),
                address: n.address.clone(),
                kind: n.kind,
                step: n.step,
                loop_: n.loop_,
                status: firebell_core::notification::NotificationStatus::Sending,
                attempts: 0,
                next_attempt_at: n.due_at,
                last_error: None,
                detail: None,
                created_at: at,
                follow_up: false,
            },
            alert: Some(firebell_core::alert::Alert {
                id: alert_id,
                service: self.service.clone(),
                dedup_key: self.dedup_key.clone(),
                status,
                summary: a.summary,
                severity: self.severity,
                source: a.source,
                labels: a.labels,
                details: a.details,
                count: 1,
                created_at: at,
                updated_at: at,
                acknowledged_at: None,
                resolved_at: None,
                expires_at: self.expires_at.map(firebell_core::clock::from_millis),
            }),
            held: false,
        }
    }

    /// The transition a new alert's first step writes with it, if its
    /// [`crate::FirstStep`] decides one for `esc` (the escalation as
    /// [`firebell_core::escalation::Escalation::start`] made it).
    pub fn first_step(
        &self,
        esc: &firebell_core::escalation::Escalation,
    ) -> Option<firebell_core::escalation::Transition> {
        self.first_step
            .as_ref()?
            .decide(esc, self.severity, &self.service)
    }
}

impl EncodedEvent {
    pub fn encode(item: crate::IngestItem) -> crate::Result<Self> {
        use firebell_core::event::EventAction;
        let crate::IngestItem {
            event,
            policy,
            received_at,
            first_step,
        } = item;
        let claiming = first_step
            .as_ref()
            .is_some_and(|f| f.lease_until().is_some());
        let new_alert = match event.action {
            EventAction::Trigger => Some(NewAlertRow {
                message: received_message(&event.source, &event.summary),
                labels: encode_json(&event.labels)?,
                details: encode_json(&event.details)?,
                label_map: event.labels,
                detail_map: if claiming {
                    event.details
                } else {
                    Default::default()
                },
                summary: event.summary,
                severity: event.severity.as_str(),
                source: event.source,
            }),
            EventAction::Acknowledge | EventAction::Resolve => None,
        };
        Ok(EncodedEvent {
            action: event.action,
            service: event.service,
            dedup_key: event.dedup_key,
            received_at: firebell_core::clock::to_millis(received_at),
            policy,
            new_alert,
            expires_at: event.expires_at.map(firebell_core::clock::to_millis),
            severity: event.severity,
            first_step,
        })
    }
}

/// The alerts claimed pages are about, each once, by id.
pub fn alert_ids(leased: &[(firebell_core::notification::Notification, bool)]) -> Vec<i64> {
    let mut ids: Vec<i64> = leased.iter().filter_map(|(n, _)| n.alert_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Claimed pages (with whether a rate limit held them before) joined with
/// their alerts as read after the claim; a page about a missing alert is an
/// error.
pub fn attach_alerts(
    leased: Vec<(firebell_core::notification::Notification, bool)>,
    alerts: Vec<firebell_core::alert::Alert>,
) -> crate::Result<Vec<crate::Claimed>> {
    let alerts: std::collections::HashMap<i64, firebell_core::alert::Alert> =
        alerts.into_iter().map(|a| (a.id, a)).collect();
    leased
        .into_iter()
        .map(|(notification, held)| {
            let alert = match notification.alert_id {
                None => None,
                Some(id) => Some(alerts.get(&id).cloned().ok_or_else(|| {
                    crate::StoreError::Backend(format!(
                        "notification {} is about alert {id}, which does not exist",
                        notification.id
                    ))
                })?),
            };
            Ok(crate::Claimed {
                notification,
                alert,
                held,
            })
        })
        .collect()
}

/// The problems [`firebell_core::schedule::Override::new`] found, as one message.
pub fn override_errors(errors: &[firebell_core::schedule::ScheduleError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A new override, encoded and checked as it will be stored: instants in
/// whole milliseconds, checked by `Override::new` so no row is written that
/// could not be read back.
#[derive(Clone, Debug)]
pub struct OverrideRow {
    /// What the insert returns, once the assigned id is filled in.
    pub stored: crate::StoredOverride,
    pub start_at: i64,
    pub end_at: i64,
    pub kind: &'static str,
    /// add/remove: the user; replace: `from`.
    pub user_id: String,
    /// replace: `to`.
    pub replacement: Option<String>,
    pub created_at: i64,
}

impl OverrideRow {
    pub fn encode(
        schedule: String,
        o: firebell_core::schedule::Override,
        created_by: String,
        now: Timestamp,
    ) -> crate::Result<Self> {
        use firebell_core::clock::{from_millis, to_millis};
        use firebell_core::schedule::{Override, OverrideKind};
        let (start_at, end_at, created_at) = (to_millis(o.start), to_millis(o.end), to_millis(now));
        let (kind, user_id, replacement) = match &o.kind {
            OverrideKind::Add { user } => ("add", user.clone(), None),
            OverrideKind::Remove { user } => ("remove", user.clone(), None),
            OverrideKind::Replace { from, to } => ("replace", from.clone(), Some(to.clone())),
        };
        let override_ = Override::new(0, from_millis(start_at), from_millis(end_at), o.kind)
            .map_err(|e| {
                crate::StoreError::Backend(format!(
                    "invalid override of schedule {schedule:?}: {}",
                    override_errors(&e)
                ))
            })?;
        Ok(OverrideRow {
            stored: crate::StoredOverride {
                schedule,
                override_,
                created_by,
                created_at: from_millis(created_at),
            },
            start_at,
            end_at,
            kind,
            user_id,
            replacement,
            created_at,
        })
    }

    /// The stored override with its assigned id.
    pub fn with_id(&self, id: i64) -> crate::StoredOverride {
        let mut stored = self.stored.clone();
        stored.override_.id = id;
        stored
    }
}

/// The `LIKE` pattern (escape character `\`) that finds `text` anywhere:
/// `%`, `_` and `\` in what a person typed mean themselves.
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}
