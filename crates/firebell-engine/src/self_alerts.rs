//! Self-alerts: Firebell's own troubles as alerts on the built-in service
//! `firebell` (`[self_alerts]`), paged through its policy like any other.
//! Each trouble has a stable dedup key, so a repeat lands on the open alert
//! (counted, not paged again) and the recovery resolves it.

use crate::{Engine, Result};
use firebell_core::config::SELF_SERVICE;
use firebell_core::event::{DedupKey, Event, EventAction, Severity};
use firebell_store::Store;
use std::collections::BTreeMap;

/// One of Firebell's troubles, by its stable name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// A configuration reload was refused (the running one kept).
    ReloadRefused,
}

impl Trouble {
    pub fn as_str(self) -> &'static str {
        match self {
            Trouble::ReloadRefused => "config-reload-refused",
        }
    }
}

impl<S: Store> Engine<S> {
    /// Raises `trouble` (a trigger with `summary` and `details`), or with
    /// `None` says it ended (a resolve). Does nothing without
    /// `[self_alerts]`. A repeat of an open trouble counts on its alert.
    pub async fn self_alert(
        &self,
        trouble: Trouble,
        raise: Option<(String, serde_json::Map<String, serde_json::Value>)>,
    ) -> Result<()> {
        if self.config().self_alerts.is_none() {
            return Ok(());
        }
        let Ok(dedup_key) = DedupKey::parse(format!("{SELF_SERVICE}:{}", trouble.as_str())) else {
            return Ok(());
        };
        let (action, summary, details) = match raise {
            Some((summary, details)) => (EventAction::Trigger, summary, details),
            None => (EventAction::Resolve, String::new(), serde_json::Map::new()),
        };
        let event = Event {
            service: SELF_SERVICE.to_string(),
            action,
            dedup_key,
            summary,
            severity: Severity::Error,
            source: "firebell".to_string(),
            labels: BTreeMap::from([("self_alert".to_string(), trouble.as_str().to_string())]),
            details,
            occurred_at: self.now(),
            expires_at: None,
        };
        self.accept(vec![event]).await?;
        Ok(())
    }
}
