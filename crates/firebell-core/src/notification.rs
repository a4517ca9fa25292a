//! Notifications: one outbound message to one contact method about one alert.

use crate::alert::{Alert, AlertId, AlertStatus};
use crate::event::{DedupKey, Severity};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

pub type NotificationId = i64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum NotificationKind {
    /// A page about a real alert.
    #[serde(rename = "alert.notify")]
    Notify,
    /// A test page: marked as such, pages nobody else.
    #[serde(rename = "alert.test")]
    Test,
    /// Tells the incoming person that their on-call shift starts.
    #[serde(rename = "schedule.handoff")]
    Handoff,
    /// Runs a runbook action about an alert through a program or webhook
    /// channel; `message` holds the action's id and `user` who ran it.
    #[serde(rename = "alert.action")]
    Action,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Notify => "alert.notify",
            NotificationKind::Test => "alert.test",
            NotificationKind::Handoff => "schedule.handoff",
            NotificationKind::Action => "alert.action",
        }
    }
}

impl FromStr for NotificationKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "alert.notify" => Ok(NotificationKind::Notify),
            "alert.test" => Ok(NotificationKind::Test),
            "schedule.handoff" => Ok(NotificationKind::Handoff),
            "alert.action" => Ok(NotificationKind::Action),
            other => Err(format!("unknown notification kind {other:?}")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Claimed by a dispatcher under a lease.
    Sending,
    Delivered,
    /// Failed for good.
    Failed,
    /// No longer needed (the alert was acknowledged or resolved).
    Cancelled,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sending => "sending",
            NotificationStatus::Delivered => "delivered",
            NotificationStatus::Failed => "failed",
            NotificationStatus::Cancelled => "cancelled",
        }
    }
}

impl FromStr for NotificationStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(NotificationStatus::Pending),
            "sending" => Ok(NotificationStatus::Sending),
            "delivered" => Ok(NotificationStatus::Delivered),
            "failed" => Ok(NotificationStatus::Failed),
            "cancelled" => Ok(NotificationStatus::Cancelled),
            other => Err(format!("unknown notification status {other:?}")),
        }
    }
}

/// A page to queue in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNotification {
    /// Unique per (alert, round, step, user, contact): queuing it twice is a no-op.
    pub idem_key: String,
    /// The alert a page is about; `None` for a notice (a test page, a shift
    /// handoff) that is about no alert.
    pub alert_id: Option<AlertId>,
    /// A notice's text; `None` for pages about an alert.
    #[serde(default)]
    pub message: Option<String>,
    pub user: String,
    pub contact_index: u32,
    pub channel: String,
    pub address: String,
    pub kind: NotificationKind,
    pub step: u32,
    #[serde(rename = "loop")]
    pub loop_: u32,
    /// When the first attempt is due.
    pub due_at: Timestamp,
}

/// A page in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: NotificationId,
    /// See [`NewNotification::idem_key`].
    #[serde(default)]
    pub idem_key: String,
    /// `None` for a notice (see [`NewNotification::alert_id`]).
    pub alert_id: Option<AlertId>,
    pub message: Option<String>,
    pub user: String,
    pub contact_index: u32,
    pub channel: String,
    pub address: String,
    pub kind: NotificationKind,
    pub step: u32,
    #[serde(rename = "loop")]
    pub loop_: u32,
    pub status: NotificationStatus,
    /// Attempts made so far (before the current one, when claimed).
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    /// What the provider or program answered when it was delivered.
    pub detail: Option<String>,
    pub created_at: Timestamp,
    /// Failed for good, and what follows (the person's next contact method,
    /// or "not reached") is not yet written. Set in the same write that
    /// records the failure and cleared in the one that records what follows,
    /// so a crash between the two leaves a marker a later pass acts on.
    #[serde(default)]
    pub follow_up: bool,
}

/// What one delivery attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Delivered {
        detail: String,
    },
    /// Worth trying again (timeout, connection error, 5xx, 429).
    Retryable {
        error: String,
    },
    /// Trying again will not help (4xx, bad address).
    Permanent {
        error: String,
    },
}

/// The stand-in alert a notice is rendered as: its summary is the notice's
/// text, so every channel and template can show a notice like a page.
pub fn notice_alert(n: &Notification) -> Alert {
    let dedup_key = DedupKey::parse(format!("notice-{}", n.id))
        .unwrap_or_else(|_| DedupKey::derive("firebell", n.kind.as_str(), "", &Default::default()));
    Alert {
        id: 0,
        service: "firebell".to_string(),
        dedup_key,
        status: AlertStatus::Triggered,
        summary: n.message.clone().unwrap_or_default(),
        severity: Severity::Info,
        source: "firebell".to_string(),
        labels: [("kind".to_string(), n.kind.as_str().to_string())].into(),
        details: serde_json::Map::new(),
        count: 1,
        created_at: n.created_at,
        updated_at: n.created_at,
        acknowledged_at: None,
        resolved_at: None,
        expires_at: None,
    }
}
