//! Maintenance windows as stored, and the alert candidates of the
//! `ack_timeout` / `auto_resolve` passes.

use jiff::Timestamp;

/// A maintenance window to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMaintenance {
    pub service: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: Option<String>,
}

/// A stored maintenance window. Ended early, `ends_at` is when it was ended
/// (equal to `starts_at` for one ended before it began).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Assigned on insert, increasing, never reused.
    pub id: i64,
    pub service: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: Option<String>,
    pub created_at: Timestamp,
}

impl MaintenanceWindow {
    /// In force at `now`: started, not ended.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// Which windows [`crate::Store::maintenance_windows`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceFilter {
    pub service: Option<String>,
    /// Only windows in force at this instant.
    pub active_at: Option<Timestamp>,
    /// At most this many, newest first.
    pub limit: u32,
}
