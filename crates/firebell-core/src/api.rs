//! The types of `/api/v1`'s answers and request bodies: the server
//! serialises them (and documents them in its OpenAPI document), the CLI
//! reads and sends them, so a changed field breaks the build, not a user.

use crate::alert::{Alert, AlertStatus, TimelineEntry};
use crate::change::Change;
use crate::escalation::{Phase, TargetState};
use crate::notification::{NotificationKind, NotificationStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error: what was wrong, and for bad input the fields.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    /// `{"field": …, "message": …}` per bad field (or, for a batch, one
    /// message per refused item).
    pub details: Vec<serde_json::Value>,
}

/// What recording one event did.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventOutcome {
    /// The alert the event landed on; `null` for an acknowledge or resolve
    /// that found no open alert.
    pub id: Option<i64>,
    pub dedup_key: String,
    pub status: Option<AlertStatus>,
    /// The alert was already open: the trigger was counted on it.
    pub duplicate: bool,
    /// Traffic-manager events only: what the event's level made of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `202`: the events are recorded durably.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// Always `"accepted"`.
    pub status: String,
    pub alerts: Vec<EventOutcome>,
}

impl Accepted {
    pub fn new(alerts: Vec<EventOutcome>) -> Self {
        Self {
            status: "accepted".to_string(),
            alerts,
        }
    }
}

/// A page of alerts, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
    /// Pass as `before` for the next page; `null` on the last one.
    pub next_before: Option<i64>,
}

/// Where an alert's escalation stands (steps and rounds count from 1).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EscalationView {
    pub policy: String,
    pub phase: Phase,
    pub step: u32,
    #[serde(rename = "loop")]
    pub loop_: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    pub targets: Vec<TargetState>,
    pub retriggered: u32,
}

/// One page of an alert (addresses shown with their secrets cut).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub user: String,
    pub channel: String,
    pub address: String,
    pub kind: NotificationKind,
    pub status: NotificationStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub step: u32,
    #[serde(rename = "loop")]
    pub loop_: u32,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// An alert with its escalation, pages and the newest timeline lines.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub alert: Alert,
    pub escalation: Option<EscalationView>,
    /// The newest lines (at most `timeline_limit`), oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Pass as `timeline_before` for older lines; `null` when none are left.
    pub timeline_next_before: Option<i64>,
    pub notifications: Vec<NotificationView>,
}

/// A page of change events, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangeList {
    pub changes: Vec<Change>,
    pub next_before: Option<i64>,
}

/// A silence as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SilenceView {
    pub id: String,
    /// `pending`, `active` or `expired`.
    pub state: String,
    pub matchers: Vec<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
    pub updated_at: String,
    pub expire_on_resolve: bool,
    /// Set for silences made through a service's Alertmanager key.
    pub service: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SilenceList {
    pub silences: Vec<SilenceView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OneSilence {
    pub silence: SilenceView,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SilenceCreated {
    pub silence: SilenceView,
    /// E.g. that the matchers match no open alert now.
    pub warnings: Vec<String>,
}

/// A maintenance window.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WindowView {
    pub id: i64,
    pub service: String,
    pub start: String,
    pub end: String,
    pub active: bool,
    pub created_by: String,
    pub comment: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WindowList {
    pub windows: Vec<WindowView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OneWindow {
    pub window: WindowView,
}

/// Who is on call in one schedule.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduleOnCall {
    pub schedule: String,
    /// User ids, in the schedule's order; empty when nobody is.
    pub users: Vec<String>,
}

/// `GET /api/v1/oncall`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OnCallNow {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub oncall: Vec<ScheduleOnCall>,
}

/// `GET /api/v1/schedules/{id}/oncall`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OnCallAt {
    pub schedule: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub users: Vec<String>,
}

/// One final shift (layers and overrides applied).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftView {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub users: Vec<String>,
}

/// `GET /api/v1/schedules/{id}/shifts`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftList {
    pub schedule: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub shifts: Vec<ShiftView>,
}

/// A schedule and its calendar feed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    pub id: String,
    pub timezone: String,
    /// How many layers it has.
    pub layers: usize,
    /// The iCalendar feed (a secret URL); `null` without an admin token.
    pub feed_url: Option<String>,
}

/// A person's own calendar feed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserFeed {
    pub id: String,
    pub feed_url: Option<String>,
}

/// `GET /api/v1/schedules`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleView>,
    pub user_feeds: Vec<UserFeed>,
}

/// A schedule override as stored.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OverrideView {
    pub id: i64,
    pub schedule: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// `add` or `remove` (with `user`), `replace` (with `from` and `to`).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OneOverride {
    #[serde(rename = "override")]
    pub override_: OverrideView,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OverrideList {
    pub overrides: Vec<OverrideView>,
}

/// A heartbeat ping taken.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatPing {
    /// Always `"ok"`.
    pub status: String,
    pub service: String,
    /// The heartbeat's name.
    pub heartbeat: String,
    /// When it is overdue unless pinged again.
    #[schema(value_type = String, format = DateTime)]
    pub overdue_at: Timestamp,
    /// This ping resolved an overdue alert.
    pub resolved: bool,
}

/// One test page's result.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    pub notification_id: i64,
    pub user: String,
    /// The contact's number in the user's list, from 1.
    pub contact: u32,
    pub channel: String,
    pub address: String,
    pub status: NotificationStatus,
    /// The provider's answer when delivered, the error otherwise.
    pub answer: Option<String>,
}

/// `POST /api/v1/channels/{name}/test` and `/api/v1/users/{id}/test`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TestAnswer {
    /// Every page was delivered.
    pub ok: bool,
    pub results: Vec<TestResult>,
}

/// `POST /api/v1/alerts/{id}/actions/{action}`: the run is queued; its
/// outcome comes on the alert's timeline.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionStarted {
    pub alert_id: i64,
    pub action: String,
    /// What was started, e.g. `Running "Drain web1 from pool web" on alert 42.`
    pub message: String,
}

/// A node sharing the database.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    pub name: String,
    pub version: String,
    pub started_at: String,
    pub last_seen: String,
    pub config_digest: String,
    /// `up`, or `lost` when it stopped writing its heartbeat.
    pub status: String,
    pub same_config: bool,
    pub this_node: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeList {
    pub nodes: Vec<NodeView>,
}

/// Request bodies: the server reads them field by field (every bad field
/// is named in a 400); the CLI sends them.
pub mod bodies {
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    /// One event for `POST /api/v1/events` (or an array of them).
    #[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
    pub struct Event {
        pub action: crate::event::EventAction,
        /// Repeats with the same key land on one alert. A trigger without
        /// one gets a key derived from its service, summary, source and
        /// labels; acknowledge and resolve need it.
        #[schema(min_length = 1, max_length = 255)]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub dedup_key: Option<String>,
        /// Required for a trigger.
        #[schema(min_length = 1, max_length = 1024)]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub summary: Option<String>,
        /// Triggers; default error.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub severity: Option<crate::event::Severity>,
        #[schema(max_length = 255)]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub source: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub labels: Option<std::collections::BTreeMap<String, String>>,
        #[schema(value_type = Option<Object>)]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub details: Option<serde_json::Value>,
        /// RFC 3339.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub occurred_at: Option<String>,
    }

    /// A traffic manager's event as `firebell vtm-action` posts it.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
    pub struct VtmEvent {
        /// The action's event type (`--eventtype=`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub eventtype: Option<String>,
        /// The action's other arguments; secrets (key, token, password…)
        /// are never shown again.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub args: Option<std::collections::BTreeMap<String, String>>,
        /// LEVEL<TAB>object<TAB>tag<TAB>text.
        pub line: String,
        /// The traffic manager's host name.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub host: Option<String>,
    }

    /// `POST /api/v1/schedules/{id}/overrides`.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
    pub struct NewOverride {
        /// RFC 3339.
        pub start: String,
        /// RFC 3339, after `start`.
        pub end: String,
        /// `add`, `remove` (with `user`) or `replace` (with `from`, `to`).
        pub kind: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub user: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub from: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub to: Option<String>,
        /// A user id; default `api`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub created_by: Option<String>,
    }

    /// `POST /api/v1/channels/{name}/test`.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
    pub struct ChannelTest {
        /// Where to send: a URL, an email address, a phone number.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub to: Option<String>,
    }

    /// `POST /api/v1/alerts/{id}/{action}`.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
    pub struct Answer {
        /// Who answers (a user id); required to decline.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub user: Option<String>,
    }

    /// `POST /api/v1/silences`: matchers, an end (`ends_at` or `duration`)
    /// and a comment.
    #[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewSilence {
        /// Alertmanager-style matchers (`name="value"`, `=~`, `!=`, `!~`);
        /// every one must match.
        #[serde(default)]
        pub matchers: Vec<String>,
        /// RFC 3339; default now.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub starts_at: Option<String>,
        /// RFC 3339 (or give `duration`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub ends_at: Option<String>,
        /// E.g. `2h`.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub duration: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub comment: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub created_by: Option<String>,
        /// End the silence once every alert it matched has resolved.
        #[serde(default)]
        pub expire_on_resolve: bool,
    }

    /// `POST /api/v1/maintenance`: a service, a start (default now) and an
    /// end (`end`, or `duration`).
    #[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct NewWindow {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub service: Option<String>,
        /// RFC 3339; default now.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub start: Option<String>,
        /// RFC 3339 (or give `duration`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub end: Option<String>,
        /// E.g. `2h` (at most 7 days).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub duration: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub comment: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub created_by: Option<String>,
    }
}
