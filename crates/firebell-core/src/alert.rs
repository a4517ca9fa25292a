//! Alerts and their timelines.

use crate::event::{DedupKey, Severity};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub type AlertId = i64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Triggered => "triggered",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }
    pub fn is_open(self) -> bool {
        self != AlertStatus::Resolved
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "triggered" => Ok(AlertStatus::Triggered),
            "acknowledged" => Ok(AlertStatus::Acknowledged),
            "resolved" => Ok(AlertStatus::Resolved),
            other => Err(format!(
                "unknown status {other:?}; expected triggered, acknowledged or resolved"
            )),
        }
    }
}

/// The durable record of one problem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: AlertId,
    pub service: String,
    pub dedup_key: DedupKey,
    pub status: AlertStatus,
    pub summary: String,
    pub severity: Severity,
    pub source: String,
    pub labels: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// How many triggers this alert has absorbed (1 for a fresh alert).
    pub count: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    /// The open alert resolves at this instant unless triggered again (the
    /// latest trigger's [`crate::event::Event::expires_at`]).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

/// What kind of line a timeline entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Received,
    Deduplicated,
    Notified,
    Delivered,
    Retrying,
    Failed,
    Answered,
    Escalated,
    Exhausted,
    Acknowledged,
    Resolved,
    Cancelled,
    /// Paging held back: silenced, in maintenance, inhibited.
    Held,
    /// A hold ended; escalation goes on.
    Released,
    /// A runbook action was asked for, ran, or was refused.
    Action,
}

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Received => "received",
            TimelineKind::Deduplicated => "deduplicated",
            TimelineKind::Notified => "notified",
            TimelineKind::Delivered => "delivered",
            TimelineKind::Retrying => "retrying",
            TimelineKind::Failed => "failed",
            TimelineKind::Answered => "answered",
            TimelineKind::Escalated => "escalated",
            TimelineKind::Exhausted => "exhausted",
            TimelineKind::Acknowledged => "acknowledged",
            TimelineKind::Resolved => "resolved",
            TimelineKind::Cancelled => "cancelled",
            TimelineKind::Held => "held",
            TimelineKind::Released => "released",
            TimelineKind::Action => "action",
        }
    }
}

impl FromStr for TimelineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use TimelineKind::*;
        [
            Received,
            Deduplicated,
            Notified,
            Delivered,
            Retrying,
            Failed,
            Answered,
            Escalated,
            Exhausted,
            Acknowledged,
            Resolved,
            Cancelled,
            Held,
            Released,
            Action,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown timeline kind {s:?}"))
    }
}

/// One line of an alert's timeline, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub kind: TimelineKind,
    pub message: String,
    /// Structured facts (notification id, user, channel, step, loop, attempt).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl TimelineEntry {
    pub fn new(at: Timestamp, kind: TimelineKind, message: impl Into<String>) -> Self {
        Self {
            at,
            kind,
            message: message.into(),
            data: serde_json::Value::Null,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}
