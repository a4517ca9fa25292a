//! The published contract of `/api/v1`: an OpenAPI 3.1 document served at
//! `GET /api/v1/openapi.json`, derived (utoipa) from the types the handlers
//! serialise and the `#[utoipa::path]` notes on the handlers themselves, so
//! the two cannot drift apart; CI runs schemathesis against a live server
//! to check every answer against it.
//!
//! The answers' types live here; handlers build them instead of free-form
//! JSON.

use firebell_core::alert::{Alert, AlertStatus, TimelineEntry};
use firebell_core::change::Change;
use firebell_core::escalation::{Phase, TargetState};
use firebell_core::notification::{NotificationKind, NotificationStatus};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error: what was wrong, and for bad input the fields.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    /// `{"field": …, "message": …}` per bad field (or, for a batch, one
    /// message per refused item).
    pub details: Vec<serde_json::Value>,
}

/// What recording one event did.
#[derive(Serialize, ToSchema)]
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
    pub action: Option<&'static str>,
}

/// `202`: the events are recorded durably.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// Always `"accepted"`.
    pub status: &'static str,
    pub alerts: Vec<EventOutcome>,
}

impl Accepted {
    pub fn new(alerts: Vec<EventOutcome>) -> Self {
        Self {
            status: "accepted",
            alerts,
        }
    }
}

/// A page of alerts, newest first.
#[derive(Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
    /// Pass as `before` for the next page; `null` on the last one.
    pub next_before: Option<i64>,
}

/// Where an alert's escalation stands (steps and rounds count from 1).
#[derive(Serialize, ToSchema)]
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
#[derive(Serialize, ToSchema)]
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
#[derive(Serialize, ToSchema)]
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
#[derive(Serialize, ToSchema)]
pub struct ChangeList {
    pub changes: Vec<Change>,
    pub next_before: Option<i64>,
}

/// A silence as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct SilenceView {
    pub id: String,
    /// `pending`, `active` or `expired`.
    pub state: &'static str,
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

#[derive(Serialize, ToSchema)]
pub struct SilenceList {
    pub silences: Vec<SilenceView>,
}

#[derive(Serialize, ToSchema)]
pub struct OneSilence {
    pub silence: SilenceView,
}

#[derive(Serialize, ToSchema)]
pub struct SilenceCreated {
    pub silence: SilenceView,
    /// E.g. that the matchers match no open alert now.
    pub warnings: Vec<String>,
}

/// A maintenance window.
#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
pub struct WindowList {
    pub windows: Vec<WindowView>,
}

#[derive(Serialize, ToSchema)]
pub struct OneWindow {
    pub window: WindowView,
}

/// Who is on call in one schedule.
#[derive(Serialize, ToSchema)]
pub struct ScheduleOnCall {
    pub schedule: String,
    /// User ids, in the schedule's order; empty when nobody is.
    pub users: Vec<String>,
}

/// `GET /api/v1/oncall`.
#[derive(Serialize, ToSchema)]
pub struct OnCallNow {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub oncall: Vec<ScheduleOnCall>,
}

/// `GET /api/v1/schedules/{id}/oncall`.
#[derive(Serialize, ToSchema)]
pub struct OnCallAt {
    pub schedule: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub users: Vec<String>,
}

/// One final shift (layers and overrides applied).
#[derive(Serialize, ToSchema)]
pub struct ShiftView {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub users: Vec<String>,
}

/// `GET /api/v1/schedules/{id}/shifts`.
#[derive(Serialize, ToSchema)]
pub struct ShiftList {
    pub schedule: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub shifts: Vec<ShiftView>,
}

/// A schedule and its calendar feed.
#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: String,
    pub timezone: String,
    /// How many layers it has.
    pub layers: usize,
    /// The iCalendar feed (a secret URL); `null` without an admin token.
    pub feed_url: Option<String>,
}

/// A person's own calendar feed.
#[derive(Serialize, ToSchema)]
pub struct UserFeed {
    pub id: String,
    pub feed_url: Option<String>,
}

/// `GET /api/v1/schedules`.
#[derive(Serialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleView>,
    pub user_feeds: Vec<UserFeed>,
}

/// A schedule override as stored.
#[derive(Serialize, ToSchema)]
pub struct OverrideView {
    pub id: i64,
    pub schedule: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// `add` or `remove` (with `user`), `replace` (with `from` and `to`).
    pub kind: &'static str,
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

#[derive(Serialize, ToSchema)]
pub struct OneOverride {
    #[serde(rename = "override")]
    pub override_: OverrideView,
}

#[derive(Serialize, ToSchema)]
pub struct OverrideList {
    pub overrides: Vec<OverrideView>,
}

/// A heartbeat ping taken.
#[derive(Serialize, ToSchema)]
pub struct HeartbeatPing {
    /// Always `"ok"`.
    pub status: &'static str,
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
#[derive(Serialize, ToSchema)]
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
#[derive(Serialize, ToSchema)]
pub struct TestAnswer {
    /// Every page was delivered.
    pub ok: bool,
    pub results: Vec<TestResult>,
}

/// A node sharing the database.
#[derive(Serialize, ToSchema)]
pub struct NodeView {
    pub name: String,
    pub version: String,
    pub started_at: String,
    pub last_seen: String,
    pub config_digest: String,
    /// `up`, or `lost` when it stopped writing its heartbeat.
    pub status: &'static str,
    pub same_config: bool,
    pub this_node: bool,
}

#[derive(Serialize, ToSchema)]
pub struct NodeList {
    pub nodes: Vec<NodeView>,
}

/// Request bodies, as documentation: the handlers read them field by field
/// (every bad field is named in a 400).
pub mod bodies {
    use serde::Deserialize;
    use utoipa::ToSchema;

    /// One event for `POST /api/v1/events` (or an array of them).
    #[allow(dead_code)]
    #[derive(Deserialize, ToSchema)]
    pub struct Event {
        pub action: firebell_core::event::EventAction,
        /// Repeats with the same key land on one alert.
        #[schema(min_length = 1, max_length = 255)]
        pub dedup_key: String,
        /// Required for a trigger.
        #[schema(min_length = 1, max_length = 1024)]
        pub summary: Option<String>,
        /// Triggers; default error.
        pub severity: Option<firebell_core::event::Severity>,
        #[schema(max_length = 255)]
        pub source: Option<String>,
        pub labels: Option<std::collections::BTreeMap<String, String>>,
        #[schema(value_type = Option<Object>)]
        pub details: Option<serde_json::Value>,
        /// RFC 3339.
        pub occurred_at: Option<String>,
    }

    /// A traffic manager's event as `firebell vtm-action` posts it.
    #[allow(dead_code)]
    #[derive(Deserialize, ToSchema)]
    pub struct VtmEvent {
        /// The action's event type (`--eventtype=`).
        pub eventtype: Option<String>,
        /// The action's other arguments; secrets (key, token, password…)
        /// are never shown again.
        pub args: Option<std::collections::BTreeMap<String, String>>,
        /// LEVEL<TAB>object<TAB>tag<TAB>text.
        pub line: String,
        /// The traffic manager's host name.
        pub host: Option<String>,
    }

    /// `POST /api/v1/schedules/{id}/overrides`.
    #[allow(dead_code)]
    #[derive(Deserialize, ToSchema)]
    pub struct NewOverride {
        /// RFC 3339.
        pub start: String,
        /// RFC 3339, after `start`.
        pub end: String,
        /// `add`, `remove` (with `user`) or `replace` (with `from`, `to`).
        pub kind: String,
        pub user: Option<String>,
        pub from: Option<String>,
        pub to: Option<String>,
        /// A user id; default `api`.
        pub created_by: Option<String>,
    }

    /// `POST /api/v1/channels/{name}/test`.
    #[allow(dead_code)]
    #[derive(Deserialize, ToSchema)]
    pub struct ChannelTest {
        /// Where to send: a URL, an email address, a phone number.
        pub to: Option<String>,
    }

    /// `POST /api/v1/alerts/{id}/{action}`.
    #[allow(dead_code)]
    #[derive(Deserialize, ToSchema)]
    pub struct Answer {
        /// Who answers (a user id); required to decline.
        pub user: Option<String>,
    }
}

/// The admin token (or, for ingest, an integration key) as a bearer token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "integration_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Firebell API",
        description = "Firebell's own HTTP API (/api/v1). Errors are JSON: {\"error\", \"details\"}.",
        license(name = "Apache-2.0 OR MIT")
    ),
    paths(
        crate::routes::ingest::generic::post_events,
        crate::routes::alerts::list,
        crate::routes::alerts::get_one,
        crate::routes::alerts::answer,
        crate::routes::changes::list,
        crate::routes::silences::list,
        crate::routes::silences::create,
        crate::routes::silences::get_one,
        crate::routes::silences::expire,
        crate::routes::maintenance::list,
        crate::routes::maintenance::create,
        crate::routes::maintenance::end,
        crate::routes::ops::nodes,
        crate::routes::schedules::oncall_all,
        crate::routes::schedules::oncall_one,
        crate::routes::schedules::shifts,
        crate::routes::schedules::list,
        crate::routes::schedules::add_override,
        crate::routes::schedules::list_overrides,
        crate::routes::schedules::delete_override,
        crate::routes::ingest::vtm::post_event,
        crate::routes::ingest::heartbeat::ping_bearer,
        crate::routes::ingest::heartbeat::ping_path_get,
        crate::routes::ingest::heartbeat::ping_path,
        crate::routes::test_pages::channel,
        crate::routes::test_pages::user,
        openapi_json,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Events from monitoring"),
        (name = "alerts", description = "Alerts and answers"),
        (name = "silences", description = "Silences and maintenance windows"),
        (name = "schedules", description = "On-call schedules"),
        (name = "operations", description = "The running service")
    )
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
}

/// `GET /api/v1/openapi.json`: this document (no credentials needed).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of /api/v1", content_type = "application/json"))
)]
pub(crate) async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}
