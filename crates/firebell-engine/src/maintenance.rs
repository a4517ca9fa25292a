//! Maintenance windows: while one is in force for a service, its alerts are
//! recorded as usual but nobody is paged; the escalation is held until the
//! window's end (the quiet context asks these windows). What is still open
//! when the window ends pages then; ending a window early releases held
//! escalations at once.

use crate::{Engine, Result};
use firebell_core::alert::Alert;
use firebell_store::{MaintenanceFilter, MaintenanceWindow, NewMaintenance, Store};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;

/// The longest window that can be made.
pub const MAX_WINDOW: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Windows in force read per escalation pass; more than this at once is not
/// a maintenance plan.
const MAX_ACTIVE: u32 = 10_000;

/// The windows in force at one instant, by service.
#[derive(Debug, Default)]
pub struct ActiveWindows {
    /// Per service, the window in force that ends last.
    by_service: HashMap<String, MaintenanceWindow>,
}

impl ActiveWindows {
    pub fn new(windows: Vec<MaintenanceWindow>) -> Self {
        let mut by_service: HashMap<String, MaintenanceWindow> = HashMap::new();
        for w in windows {
            match by_service.get(&w.service) {
                Some(have) if have.ends_at >= w.ends_at => {}
                _ => {
                    by_service.insert(w.service.clone(), w);
                }
            }
        }
        Self { by_service }
    }

    pub fn is_empty(&self) -> bool {
        self.by_service.is_empty()
    }

    /// The hold for `alert` if its service is in maintenance at `now`.
    pub fn check(&self, alert: &Alert, now: Timestamp) -> Option<crate::hold::Hold> {
        let w = self.by_service.get(&alert.service)?;
        if !w.is_active(now) {
            return None;
        }
        Some(crate::hold::Hold {
            reason: format!(
                "service {} is in maintenance until {} (window {})",
                w.service, w.ends_at, w.id
            ),
            until: Some(w.ends_at),
        })
    }
}

/// Why a window was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidWindow {
    pub field: &'static str,
    pub message: String,
}

impl<S: Store> Engine<S> {
    /// The windows in force at `now` (for the quiet context).
    pub(crate) async fn active_windows(&self, now: Timestamp) -> Result<ActiveWindows> {
        let windows = self
            .inner
            .store
            .maintenance_windows(MaintenanceFilter {
                service: None,
                active_at: Some(now),
                limit: MAX_ACTIVE,
            })
            .await?;
        Ok(ActiveWindows::new(windows))
    }

    /// Checks and stores a window. `Ok(Err(_))` names the field at fault;
    /// nothing is stored then.
    pub async fn start_maintenance(
        &self,
        window: NewMaintenance,
    ) -> Result<std::result::Result<MaintenanceWindow, InvalidWindow>> {
        let now = self.now();
        if !self.config().services.contains_key(&window.service) {
            return Ok(Err(InvalidWindow {
                field: "service",
                message: format!("unknown service {:?}", window.service),
            }));
        }
        if window.ends_at <= window.starts_at {
            return Ok(Err(InvalidWindow {
                field: "end",
                message: format!("the window must end after it starts ({})", window.starts_at),
            }));
        }
        if window.ends_at <= now {
            return Ok(Err(InvalidWindow {
                field: "end",
                message: format!("the window would already be over (it is now {now})"),
            }));
        }
        if window.ends_at.duration_since(window.starts_at) > MAX_WINDOW {
            return Ok(Err(InvalidWindow {
                field: "end",
                message: "a window can last at most 7 days (168h)".into(),
            }));
        }
        let stored = self.inner.store.add_maintenance(window, now).await?;
        tracing::info!(
            window = stored.id,
            service = %stored.service,
            starts_at = %stored.starts_at,
            ends_at = %stored.ends_at,
            created_by = %stored.created_by,
            "maintenance window created"
        );
        // Nothing to release: a window only holds escalations from their
        // next due time on.
        Ok(Ok(stored))
    }

    /// Ends a window now (the record is kept) and lets what it held page.
    /// `None` when there is no such window.
    pub async fn end_maintenance(&self, id: i64) -> Result<Option<MaintenanceWindow>> {
        let now = self.now();
        let Some(w) = self.inner.store.end_maintenance(id, now).await? else {
            return Ok(None);
        };
        tracing::info!(window = w.id, service = %w.service, "maintenance window ended");
        self.release_held().await?;
        Ok(Some(w))
    }
}
