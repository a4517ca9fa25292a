//! Self-alerts: Firebell's own troubles as alerts on the built-in service
//! `firebell` (`[self_alerts]`), paged through its policy like any other.
//! Each trouble has a stable dedup key, so a repeat lands on the open alert
//! (counted, not paged again) and the recovery resolves it.

use crate::{Engine, Result};
use firebell_core::alert::AlertStatus;
use firebell_core::config::SELF_SERVICE;
use firebell_core::event::{DedupKey, Event, EventAction, Severity};
use firebell_store::{Finish, Store};
use jiff::SignedDuration;
use std::collections::BTreeMap;

/// The name of an exhausted alert's trouble, before its id.
const EXHAUSTED: &str = "exhausted:";

/// How far ahead a schedule must have someone on call.
pub const COVERAGE_HORIZON: SignedDuration = SignedDuration::from_hours(24);

/// One of Firebell's troubles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// A configuration reload was refused (the running one kept).
    ReloadRefused,
    /// This schedule has nobody on call somewhere in the next 24 hours.
    ScheduleGap(String),
    /// This channel's pages failed for good N times in a row.
    ChannelFailing(String),
    /// This alert's escalation ran out with nobody taking it.
    Exhausted(i64),
    /// This twilio channel's account balance is under the threshold.
    TwilioBalance(String),
    /// This channel's pages go out through its fallback channel.
    FallbackUsed(String),
    /// A node sharing the store has not been seen for a while.
    NodeLost(String),
    /// This node's configuration differs from another live node's.
    ConfigMismatch,
}

impl Trouble {
    /// The stable name (the `self_alert` label; the dedup key's tail).
    pub fn name(&self) -> String {
        match self {
            Trouble::ReloadRefused => "config-reload-refused".to_string(),
            Trouble::ScheduleGap(id) => format!("schedule-gap:{id}"),
            Trouble::ChannelFailing(name) => format!("channel-failing:{name}"),
            Trouble::Exhausted(id) => format!("{EXHAUSTED}{id}"),
            Trouble::TwilioBalance(name) => format!("twilio-balance:{name}"),
            Trouble::FallbackUsed(name) => format!("fallback-used:{name}"),
            Trouble::NodeLost(name) => format!("node-lost:{name}"),
            Trouble::ConfigMismatch => "config-mismatch".to_string(),
        }
    }

    /// The dedup key of its alert: `firebell:<name>`.
    pub fn dedup_key(&self) -> String {
        format!("{SELF_SERVICE}:{}", self.name())
    }
}

/// How a finished attempt counts for its channel's failure streak:
/// delivered (`Some(None)`), failed for good (`Some(Some(error))`), or not
/// at all (`None`: a retry, the page has not ended).
pub(crate) fn page_end(finish: &Finish) -> Option<Option<String>> {
    match finish {
        Finish::Delivered { .. } => Some(None),
        Finish::Failed { error } => Some(Some(error.clone())),
        Finish::Retry { .. } => None,
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
        let name = trouble.name();
        let Ok(dedup_key) = DedupKey::parse(trouble.dedup_key()) else {
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
            labels: BTreeMap::from([("self_alert".to_string(), name)]),
            details,
            occurred_at: self.now(),
            expires_at: None,
        };
        self.accept(vec![event]).await?;
        Ok(())
    }

    /// A page of `primary`'s was delivered: through its fallback channel
    /// (`via`), which raises the channel's self-alert the first time in a
    /// row, or through `primary` itself, which resolves it. Kept per node
    /// in memory, like the failure streak.
    pub(crate) async fn fallback_seen(&self, primary: &str, via: Option<&str>) -> Result<()> {
        if self.config().self_alerts.is_none() {
            return Ok(());
        }
        let changed = {
            let mut set = self
                .inner
                .fallen_back
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match via {
                Some(_) => set.insert(primary.to_string()),
                None => set.remove(primary),
            }
        };
        if !changed {
            return Ok(());
        }
        let trouble = Trouble::FallbackUsed(primary.to_string());
        match via {
            Some(fallback) => {
                let summary = format!(
                    "channel {primary:?} keeps failing: pages go out through its fallback {fallback:?}"
                );
                let mut details = serde_json::Map::new();
                details.insert("channel".into(), primary.into());
                details.insert("fallback".into(), fallback.into());
                self.self_alert(trouble, Some((summary, details))).await
            }
            None => self.self_alert(trouble, None).await,
        }
    }

    /// Counts a page's end on `channel`: delivered (`error` `None`) or
    /// failed for good. The `channel_failures`-th failure in a row raises
    /// the channel's self-alert (later ones count on it); the next delivery
    /// resolves it.
    pub(crate) async fn channel_streak(&self, channel: &str, error: Option<&str>) -> Result<()> {
        let Some(threshold) = self
            .config()
            .self_alerts
            .as_ref()
            .map(|s| s.channel_failures)
        else {
            return Ok(());
        };
        let (before, after) = {
            let mut map = self
                .inner
                .channel_health
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let h = map.entry(channel.to_string()).or_default();
            let before = h.failed_in_a_row;
            h.failed_in_a_row = match error {
                None => 0,
                Some(_) => before.saturating_add(1),
            };
            (before, h.failed_in_a_row)
        };
        let trouble = Trouble::ChannelFailing(channel.to_string());
        match error {
            Some(error) if after >= threshold => {
                let summary = format!(
                    "channel {channel:?}: {after} pages in a row failed for good; the last: {error}"
                );
                let mut details = serde_json::Map::new();
                details.insert("channel".into(), channel.into());
                details.insert("failed_in_a_row".into(), after.into());
                details.insert("last_error".into(), error.into());
                self.self_alert(trouble, Some((summary, details))).await
            }
            None if before >= threshold => self.self_alert(trouble, None).await,
            _ => Ok(()),
        }
    }

    /// An escalation just ran out with nobody taking its alert: raises that
    /// alert's self-alert (not for a self-alert's own escalation, which
    /// would page about itself). [`Engine::run_self_checks_once`] resolves
    /// it once the alert is acknowledged or resolved.
    pub(crate) async fn on_exhausted(&self, alert_id: i64, policy: &str) -> Result<()> {
        if self.config().self_alerts.is_none() {
            return Ok(());
        }
        let Some(alert) = self.inner.store.get_alert(alert_id).await? else {
            return Ok(());
        };
        if alert.service == SELF_SERVICE {
            return Ok(());
        }
        let summary = format!(
            "nobody took alert #{alert_id} on {}: {:?} (policy {policy:?} ran out)",
            alert.service, alert.summary
        );
        let mut details = serde_json::Map::new();
        details.insert("alert_id".into(), alert_id.into());
        details.insert("service".into(), alert.service.clone().into());
        details.insert("policy".into(), policy.into());
        self.self_alert(Trouble::Exhausted(alert_id), Some((summary, details)))
            .await
    }

    /// The dedup keys of the open self-alerts.
    async fn open_self_alerts(&self) -> Result<Vec<String>> {
        let open = self
            .inner
            .store
            .list_alerts(firebell_store::AlertFilter {
                open: true,
                service: Some(SELF_SERVICE.to_string()),
                limit: 1000,
                ..Default::default()
            })
            .await?;
        Ok(open
            .into_iter()
            .map(|a| a.dedup_key.as_str().to_string())
            .collect())
    }

    /// Resolves the self-alerts (among `open`) of exhausted alerts that
    /// someone has since acknowledged or resolved.
    async fn resolve_taken_exhaustions(&self, open: &[String]) -> Result<()> {
        let prefix = format!("{SELF_SERVICE}:{EXHAUSTED}");
        for key in open {
            let Some(id) = key
                .strip_prefix(&prefix)
                .and_then(|id| id.parse::<i64>().ok())
            else {
                continue;
            };
            let taken = match self.inner.store.get_alert(id).await? {
                Some(original) => original.status != AlertStatus::Triggered,
                None => true,
            };
            if taken {
                self.self_alert(Trouble::Exhausted(id), None).await?;
            }
        }
        Ok(())
    }

    /// One pass of the checks that watch Firebell over time: exhausted
    /// alerts since taken resolve their self-alerts, and each schedule must
    /// have someone on call throughout the next [`COVERAGE_HORIZON`]
    /// (overrides counted), one self-alert per schedule. Returns how many
    /// schedules have a gap.
    pub async fn run_self_checks_once(&self) -> Result<usize> {
        let config = self.config();
        if config.self_alerts.is_none() {
            return Ok(0);
        }
        let open = self.open_self_alerts().await?;
        self.resolve_taken_exhaustions(&open).await?;
        self.check_balances(&open).await?;
        self.check_nodes(&open).await?;
        let now = self.now();
        let end = now.checked_add(COVERAGE_HORIZON).unwrap_or(now);
        let mut gapped = 0;
        for (id, schedule) in &config.schedules {
            let overrides = self.schedule_overrides(id, now, end).await?;
            let gaps: Vec<String> = schedule
                .shifts(now, end, &overrides)
                .into_iter()
                .filter(|s| s.users.is_empty())
                .map(|s| format!("{} → {}", s.start, s.end))
                .collect();
            let trouble = Trouble::ScheduleGap(id.clone());
            if gaps.is_empty() {
                // Resolve only what is open: no resolve event per schedule
                // every minute.
                if open.contains(&trouble.dedup_key()) {
                    self.self_alert(trouble, None).await?;
                }
                continue;
            }
            gapped += 1;
            let summary = format!(
                "schedule {id:?} has nobody on call in the next 24 hours: {}{}",
                gaps[0],
                match gaps.len() {
                    1 => String::new(),
                    n => format!(" and {} more span(s)", n - 1),
                }
            );
            let mut details = serde_json::Map::new();
            details.insert("schedule".into(), id.clone().into());
            details.insert("gaps".into(), gaps.into());
            self.self_alert(trouble, Some((summary, details))).await?;
        }
        Ok(gapped)
    }
}

impl<S: Store> Engine<S> {
    /// The nodes sharing the store: one not seen for [`crate::nodes::LOST_AFTER`]
    /// (and seen since this node started) raises its self-alert (once: an open one is left as it is) and
    /// resolves when it is seen again; a configuration that differs from a
    /// live node's (see [`Engine::node_beat`]) raises `config-mismatch`
    /// until the nodes agree.
    async fn check_nodes(&self, open: &[String]) -> Result<()> {
        let started = self.inner.identity.started_at;
        for n in self.nodes().await? {
            // A node last seen before this one started is a predecessor (a
            // restart under a new name, a container's new host name), not a
            // peer that went away while this one watched.
            if n.this_node || n.record.last_seen < started {
                continue;
            }
            let trouble = Trouble::NodeLost(n.record.name.clone());
            let is_open = open.contains(&trouble.dedup_key());
            if n.lost && !is_open {
                let summary = format!(
                    "node {:?} has not been seen since {}: it is down or cannot reach the database",
                    n.record.name, n.record.last_seen
                );
                let mut details = serde_json::Map::new();
                details.insert("node".into(), n.record.name.clone().into());
                details.insert("last_seen".into(), n.record.last_seen.to_string().into());
                details.insert("version".into(), n.record.version.clone().into());
                self.self_alert(trouble, Some((summary, details))).await?;
            } else if !n.lost && is_open {
                self.self_alert(trouble, None).await?;
            }
        }
        let trouble = Trouble::ConfigMismatch;
        let is_open = open.contains(&trouble.dedup_key());
        match self.config_mismatch() {
            Some(verdict) if !is_open => {
                let summary = format!(
                    "{verdict} (node {}): reload the same file on every node",
                    self.node_name()
                );
                self.self_alert(trouble, Some((summary, serde_json::Map::new())))
                    .await?;
            }
            None if is_open => self.self_alert(trouble, None).await?,
            _ => {}
        }
        Ok(())
    }

    /// Reads each twilio channel's balance (at most once per
    /// `twilio_balance_interval`, the first pass reads at once) when
    /// `[self_alerts] twilio_balance_below` is set: a balance under it
    /// raises the channel's self-alert, one at or over it resolves an open
    /// one. A balance that cannot be read is logged and changes nothing.
    async fn check_balances(&self, open: &[String]) -> Result<()> {
        let config = self.config();
        let Some(sa) = config.self_alerts.as_ref() else {
            return Ok(());
        };
        let Some(below) = sa.twilio_balance_below else {
            return Ok(());
        };
        let now = self.now();
        {
            let mut last = self
                .inner
                .balance_checked
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| now.duration_since(t) < sa.twilio_balance_interval) {
                return Ok(());
            }
            *last = Some(now);
        }
        for (name, c) in &config.channels {
            let firebell_core::channels::ChannelKind::Twilio(settings) = &c.kind else {
                continue;
            };
            if c.dry_run {
                continue;
            }
            let (balance, currency) = match firebell_channels::twilio::fetch_balance(settings).await
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(channel = %name, error = %e, "cannot read the Twilio balance");
                    continue;
                }
            };
            let trouble = Trouble::TwilioBalance(name.clone());
            if balance < below {
                let summary = format!(
                    "Twilio balance of channel {name:?} is {balance:.2} {currency}, under {below:.2}: calls and texts stop when it runs out"
                );
                let mut details = serde_json::Map::new();
                details.insert("channel".into(), name.clone().into());
                details.insert("balance".into(), balance.into());
                details.insert("currency".into(), currency.into());
                details.insert("threshold".into(), below.into());
                self.self_alert(trouble, Some((summary, details))).await?;
            } else if open.contains(&trouble.dedup_key()) {
                self.self_alert(trouble, None).await?;
            }
        }
        Ok(())
    }

    /// One beat of the dead man's switch: when `[self_alerts] watchdog_url`
    /// is set and the store answers, requests it (GET, 10 s timeout).
    /// Returns whether it was requested and answered 2xx. Never logs the
    /// URL (it carries the check's token).
    pub async fn watchdog_once(&self) -> bool {
        let config = self.config();
        let Some(url) = config
            .self_alerts
            .as_ref()
            .and_then(|s| s.watchdog_url.as_ref())
        else {
            return false;
        };
        if let Err(e) = self.inner.store.alert_counts().await {
            tracing::warn!(error = %e, "watchdog: the store does not answer; not pinging, so the watchdog will notice");
            return false;
        }
        // One client (and its connection pool) for every beat.
        static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        let client = CLIENT.get_or_init(reqwest::Client::new);
        use secrecy::ExposeSecret;
        let request = client
            .get(url.expose_secret())
            .timeout(std::time::Duration::from_secs(10));
        match request.send().await {
            Ok(r) if r.status().is_success() => true,
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    "watchdog: the ping was refused"
                );
                false
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "watchdog: the ping failed");
                false
            }
        }
    }

    /// Pings the watchdog every `watchdog_interval` (re-read after each
    /// beat, so a reload applies) until `shutdown` turns true.
    pub(crate) async fn watchdog_loop(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            self.watchdog_once().await;
            let every = self
                .config()
                .self_alerts
                .as_ref()
                .map_or(std::time::Duration::from_secs(60), |s| {
                    s.watchdog_interval.unsigned_abs()
                });
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
