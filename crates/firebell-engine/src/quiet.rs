//! What holds paging back: silences, maintenance windows, inhibition.
//!
//! An alert that is quiet still exists, updates and keeps its timeline; its
//! escalation is *held*: the due step does not fire, one `held` line says
//! why, and the engine looks again when the reason may have ended (at the
//! latest every [`RECHECK`]). When nothing holds it any more the step fires
//! (`escalation::on_due` writes the `released` line), so what is still open
//! when a silence expires or a maintenance window ends pages then.
//!
//! The context is loaded once per escalation pass, so an alert costs an
//! extra read only while there is anything that could hold it.

pub use crate::hold::{Hold, RECHECK, recheck_at};
use crate::{Engine, Result};
use firebell_core::alert::Alert;
use firebell_core::config::Config;
use firebell_store::Store;
use jiff::Timestamp;

/// Everything that can hold paging, as of one escalation pass.
#[derive(Debug, Default)]
pub struct QuietContext {
    /// Maintenance windows in force (see [`crate::maintenance`]).
    pub(crate) maintenance: crate::maintenance::ActiveWindows,
    /// Silences not yet ended (see [`crate::silences`]).
    pub(crate) silences: std::sync::Arc<crate::silences::SilenceSet>,
    /// Open alerts that inhibit others, by rule.
    pub(crate) inhibitions: crate::silences::Inhibitions,
    /// The alerts of the pass's due escalations, read in one batch.
    pub(crate) alerts: std::collections::HashMap<firebell_core::alert::AlertId, Alert>,
}

impl QuietContext {
    /// True when nothing can hold any alert: the pass reads no alerts.
    pub fn is_empty(&self) -> bool {
        self.maintenance.is_empty() && self.silences.is_empty() && self.inhibitions.is_empty()
    }

    /// The first reason that holds `alert`'s paging at `now`, if any.
    pub fn check(&self, alert: &Alert, config: &Config, now: Timestamp) -> Option<Hold> {
        if let Some(hold) = self.maintenance.check(alert, now) {
            return Some(hold);
        }
        if let Some(hold) = crate::silences::check(&self.silences, &self.inhibitions, alert, now) {
            return Some(hold);
        }
        let _ = (alert, config, now);
        None
    }
}

impl<S: Store> Engine<S> {
    /// Loads what can hold paging, once per escalation pass.
    pub(crate) async fn quiet_context(&self, now: Timestamp) -> Result<QuietContext> {
        Ok(QuietContext {
            maintenance: self.active_windows(now).await?,
            silences: self.silence_set(now).await?,
            inhibitions: self.inhibitions().await?,
            alerts: Default::default(),
        })
    }

    /// Makes held escalations look again now (a silence expired, a window
    /// ended early) and wakes the escalation loop.
    pub async fn release_held(&self) -> Result<u64> {
        let n = self.inner.store.release_held(self.now()).await?;
        if n > 0 {
            self.inner.wake_escalations.notify_one();
        }
        Ok(n)
    }
}

impl QuietContext {
    /// The alert of a due escalation, if the pass read it.
    pub(crate) fn alert(&self, id: firebell_core::alert::AlertId) -> Option<&Alert> {
        self.alerts.get(&id)
    }
}

impl<S: Store> Engine<S> {
    /// Reads the alerts of a batch of due escalations in one go when the
    /// pass will need them (something can hold paging, or a user's
    /// notification rules depend on severity), instead of one read each.
    pub(crate) async fn prefetch_alerts(
        &self,
        quiet: &mut QuietContext,
        due: &[firebell_core::escalation::Escalation],
    ) -> Result<()> {
        if quiet.is_empty() && !self.config().has_notification_rules() {
            return Ok(());
        }
        let ids = due.iter().map(|e| e.alert_id).collect();
        quiet.alerts = self
            .inner
            .store
            .get_alerts(ids)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        Ok(())
    }
}
