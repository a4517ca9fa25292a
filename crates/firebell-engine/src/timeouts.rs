//! Per-service clocks on open alerts: `ack_timeout` and `auto_resolve`.
//!
//! - An acknowledged alert not resolved within the service's `ack_timeout`
//!   of its acknowledgement is triggered again and its escalation starts over
//!   from the first step of the first round (new pages: the run is part of
//!   their keys).
//! - An open alert with no new trigger (its `updated_at`) for the service's
//!   `auto_resolve` resolves itself; its pages are cancelled.
//!
//! - An open alert whose announced end (`expires_at`, Prometheus' `endsAt`)
//!   passed without a newer trigger resolves, as Alertmanager resolves it.
//!
//! All are conditional writes in the store (the alert must still be as it
//! was read), so two nodes running the pass at once act once. The pass runs
//! from [`Engine::run_until_idle`] and, with a real clock, every second in
//! the background.

use crate::{Engine, Result};
use firebell_core::alert::{TimelineEntry, TimelineKind};
use firebell_store::Store;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::time::Duration;
use tokio::sync::watch;

/// Alerts read per store query.
const BATCH: u32 = 256;
/// How often the background pass runs.
const EVERY: Duration = Duration::from_secs(1);

/// A duration as people write it in the config ("30m", "4h", "1h 30m").
pub fn human(d: SignedDuration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = Vec::new();
    if h > 0 {
        out.push(format!("{h}h"));
    }
    if m > 0 {
        out.push(format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push(format!("{s}s"));
    }
    out.join(" ")
}

impl<S: Store> Engine<S> {
    /// One pass over every service with an `ack_timeout` or `auto_resolve`.
    /// Returns how many alerts it changed.
    pub async fn run_timeouts_once(&self) -> Result<usize> {
        let config = self.config();
        let mut changed = self.expiries().await?;
        for service in config.services.values() {
            if let Some(timeout) = service.ack_timeout {
                changed += self.ack_timeouts(&service.id, timeout).await?;
            }
            if let Some(after) = service.auto_resolve {
                changed += self.auto_resolves(&service.id, after).await?;
            }
        }
        if changed > 0 {
            self.inner.wake_escalations.notify_one();
            self.inner.wake_dispatch.notify_one();
        }
        Ok(changed)
    }

    async fn ack_timeouts(&self, service: &str, timeout: SignedDuration) -> Result<usize> {
        let mut changed = 0;
        loop {
            let now = self.now();
            let Ok(by) = now.checked_sub(timeout) else {
                return Ok(changed);
            };
            let due = self
                .inner
                .store
                .acknowledged_before(service.to_string(), by, BATCH)
                .await?;
            let n = due.len();
            let mut acted = 0;
            for alert in due {
                let Some(acked_at) = alert.acknowledged_at else {
                    continue;
                };
                let line = TimelineEntry::new(
                    now,
                    TimelineKind::Escalated,
                    format!(
                        "acknowledgement timed out after {}; escalating again from the first step",
                        human(timeout)
                    ),
                )
                .with_data(json!({ "ack_timeout_secs": timeout.as_secs(), "acknowledged_at": acked_at.to_string() }));
                if self
                    .inner
                    .store
                    .retrigger(alert.id, acked_at, line, now)
                    .await?
                {
                    tracing::info!(
                        alert_id = alert.id,
                        service,
                        "acknowledgement timed out; escalating again"
                    );
                    acted += 1;
                }
            }
            changed += acted;
            // A full batch in which something changed: there may be more.
            if n < BATCH as usize || acted == 0 {
                return Ok(changed);
            }
        }
    }

    async fn auto_resolves(&self, service: &str, after: SignedDuration) -> Result<usize> {
        let mut changed = 0;
        loop {
            let now = self.now();
            let Ok(by) = now.checked_sub(after) else {
                return Ok(changed);
            };
            let stale = self
                .inner
                .store
                .open_not_updated_since(service.to_string(), by, BATCH)
                .await?;
            let n = stale.len();
            let mut acted = 0;
            let mut resolved = Vec::new();
            for alert in stale {
                let line = TimelineEntry::new(
                    now,
                    TimelineKind::Resolved,
                    format!(
                        "resolved automatically: no new trigger for {}",
                        human(after)
                    ),
                )
                .with_data(json!({ "auto_resolve_secs": after.as_secs() }));
                if self
                    .inner
                    .store
                    .resolve_if_unchanged(alert.id, alert.updated_at, line, now)
                    .await?
                {
                    tracing::info!(alert_id = alert.id, service, "resolved automatically");
                    acted += 1;
                    resolved.push(alert.id);
                }
            }
            // Like any resolve: expire_on_resolve silences, released inhibitions.
            if !resolved.is_empty() {
                self.on_resolved(&resolved).await;
            }
            changed += acted;
            if n < BATCH as usize || acted == 0 {
                return Ok(changed);
            }
        }
    }

    /// Resolves open alerts whose announced end passed without a newer
    /// trigger (conditional on `updated_at`, so a send racing the pass wins).
    async fn expiries(&self) -> Result<usize> {
        let mut changed = 0;
        loop {
            let now = self.now();
            let due = self.inner.store.expired(now, BATCH).await?;
            let n = due.len();
            let mut resolved = Vec::new();
            for alert in due {
                let Some(ends_at) = alert.expires_at else {
                    continue;
                };
                let line = TimelineEntry::new(
                    now,
                    TimelineKind::Resolved,
                    format!(
                        "resolved: Prometheus stopped sending it; endsAt {} passed",
                        ends_at.strftime("%Y-%m-%d %H:%M:%S UTC")
                    ),
                )
                .with_data(json!({ "ends_at": ends_at.to_string() }));
                if self
                    .inner
                    .store
                    .resolve_if_unchanged(alert.id, alert.updated_at, line, now)
                    .await?
                {
                    tracing::info!(alert_id = alert.id, service = %alert.service, %ends_at, "resolved: endsAt passed without a newer send");
                    resolved.push(alert.id);
                }
            }
            let acted = resolved.len();
            if !resolved.is_empty() {
                self.on_resolved(&resolved).await;
            }
            changed += acted;
            if n < BATCH as usize || acted == 0 {
                return Ok(changed);
            }
        }
    }

    /// The earliest instant an `ack_timeout`, `auto_resolve` or announced end
    /// comes due (one indexed read per configured service and clock), if any.
    pub async fn next_timeout_due(&self) -> Result<Option<jiff::Timestamp>> {
        let config = self.config();
        let far = jiff::Timestamp::MAX;
        let mut next: Option<jiff::Timestamp> = self
            .inner
            .store
            .expired(far, 1)
            .await?
            .first()
            .and_then(|a| a.expires_at);
        for service in config.services.values() {
            if let Some(timeout) = service.ack_timeout {
                let first = self
                    .inner
                    .store
                    .acknowledged_before(service.id.to_string(), far, 1)
                    .await?;
                let at = first
                    .first()
                    .and_then(|a| a.acknowledged_at)
                    .and_then(|t| t.checked_add(timeout).ok());
                next = next.into_iter().chain(at).min();
            }
            if let Some(after) = service.auto_resolve {
                let first = self
                    .inner
                    .store
                    .open_not_updated_since(service.id.to_string(), far, 1)
                    .await?;
                let at = first
                    .first()
                    .and_then(|a| a.updated_at.checked_add(after).ok());
                next = next.into_iter().chain(at).min();
            }
        }
        Ok(next)
    }

    /// The background pass (real clock).
    pub(crate) async fn timeouts_loop(&self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.run_timeouts_once().await {
                tracing::error!(error = %e, "ack_timeout/auto_resolve/expiry pass failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Alerts deleted per write when pruning: small enough that ingest waits
/// little for the writer behind one batch.
const PRUNE_BATCH: u32 = 250;
/// The most batches one pass deletes (a backlog is worked off over passes).
const PRUNE_BATCHES_PER_PASS: u32 = 2_000;
/// The pause between two batches of a pass: the writer takes what queued
/// meanwhile (ingest first), so a pass never holds it for long.
const PRUNE_PAUSE: Duration = Duration::from_millis(10);

impl<S: Store> Engine<S> {
    /// `[database] keep_resolved`: deletes the alerts resolved longer ago
    /// than that, in batches, until none is left or the pass has done its
    /// share. Returns how many were deleted.
    pub async fn prune_resolved_once(&self) -> Result<u64> {
        let Some(keep) = self.config().database.keep_resolved else {
            return Ok(0);
        };
        let before = self.now().checked_sub(keep).unwrap_or(Timestamp::MIN);
        let mut total = 0;
        for _ in 0..PRUNE_BATCHES_PER_PASS {
            let n = self.inner.store.prune_resolved(before, PRUNE_BATCH).await?;
            total += n;
            if n < u64::from(PRUNE_BATCH) {
                break;
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
        if total > 0 {
            tracing::info!(alerts = total, "pruned resolved alerts past keep_resolved");
            self.inner.metrics.alerts_pruned.inc_by(total);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::human;
    use jiff::SignedDuration;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(human(SignedDuration::from_mins(30)), "30m");
        assert_eq!(human(SignedDuration::from_hours(4)), "4h");
        assert_eq!(human(SignedDuration::from_secs(5400)), "1h 30m");
        assert_eq!(human(SignedDuration::from_secs(90)), "1m 30s");
    }
}
