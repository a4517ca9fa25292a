//! The escalation engine and the notification outbox dispatcher.
//!
//! - [`Engine::accept`] is the one place events are recorded (rules, silences
//!   and de-duplication hang here).
//! - The escalation loop fires due escalation timers: it reads the stored
//!   escalation, asks `firebell_core::escalation` what to do, and writes the
//!   decision back under a version check. Nothing lives only in memory.
//! - The dispatcher claims due pages from the outbox under a lease, delivers
//!   each through its channel, and records the result: delivered, retry later
//!   (exponential backoff with jitter), or failed for good, which moves on to the
//!   person's next contact method or counts them as not reached.
//!
//! Time comes from the injected clock. With a manual clock nothing runs in the
//! background; tests call [`Engine::run_until_idle`] after moving the clock.
#![forbid(unsafe_code)]

pub mod actions;
pub mod answers;
mod bundles;
mod fallback;
mod first_step;
pub mod handoff;
pub mod hold;
pub mod maintenance;
pub mod metrics;
pub mod monitors;
pub mod nodes;
pub mod phone_lines;
mod probe_check;
pub mod quiet;
pub mod self_alerts;
pub mod silences;
pub mod test_pages;
pub mod timeouts;

use arc_swap::ArcSwap;
use firebell_channels::{Channels, ConsoleSink, redact_address};
use firebell_core::alert::{Alert, AlertId, AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::clock::Clock;
use firebell_core::config::Config;
use firebell_core::escalation::{self, Escalation, FailedPage, Phase, Response, Transition};
use firebell_core::event::{Event, EventAction, Severity};
use firebell_core::notification::{self, Delivery, Notification, NotificationId, NotificationKind};
use firebell_core::schedule::Override;
use firebell_store::{Claimed, CommitResult, Finish, IngestItem, IngestOutcome, Store, StoreError};
use futures::{StreamExt, stream::FuturesUnordered};
use jiff::{SignedDuration, Timestamp};
use metrics::{ActionLabel, ChannelLabel, Metrics, RuleLabel};
use rand::Rng;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

/// How many times a decision is retried when the escalation changed under it.
const MAX_CONFLICT_RETRIES: usize = 8;
/// Escalations fired per store read.
const ESCALATION_BATCH: u32 = 512;
/// Pages delivered at once.
const DELIVERY_CONCURRENCY: usize = 256;
/// Turns back that wake a dispatcher waiting with none free.
const TURNS_TO_LOOK_AGAIN: u32 = (DELIVERY_CONCURRENCY / 4) as u32;
/// Pages sent whose outcome is still being recorded, at most. A page gives
/// its sending turn to the next as soon as its channel has answered, so a
/// busy writer slows the records, not the sends; past this many, sends wait.
const RECORDING_MAX: usize = 16 * DELIVERY_CONCURRENCY;
/// Failed pages followed up per store read in the recovery pass.
const FOLLOW_UP_BATCH: u32 = 256;
/// Longest a background loop sleeps without looking at the store.
const MAX_IDLE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no alert with id {0}")]
    NotFound(AlertId),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, EngineError>;

struct Inner<S> {
    store: S,
    clock: Arc<dyn Clock>,
    /// The configuration and the channels built from it, swapped together
    /// on reload: no delivery ever sees one without the other.
    current: ArcSwap<Current>,
    console: ConsoleSink,
    wake_escalations: Notify,
    wake_dispatch: Notify,
    metrics: Metrics,
    /// Heartbeat and probe state (see [`monitors`]).
    monitors: tokio::sync::Mutex<monitors::MonitorState>,
    /// Silences not yet ended, in memory (see [`silences`]).
    silences: silences::SilenceCache,
    /// This node among those sharing the store (see [`nodes`]).
    identity: nodes::Identity,
    /// How this node's configuration differs from the live nodes', if it does.
    config_mismatch: std::sync::Mutex<Option<String>>,
    /// Each channel's last delivery and last failure on this node.
    channel_health: std::sync::Mutex<std::collections::BTreeMap<String, ChannelHealth>>,
    /// Channels whose pages this node last delivered through their
    /// fallback (self-alerts).
    fallen_back: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// When this node last read the Twilio balances (self-alerts).
    balance_checked: std::sync::Mutex<Option<Timestamp>>,
    /// Pages claimed with their alerts, for the dispatcher (see [`first_step`]).
    ready: first_step::Ready,
    /// Alerts last seen open, to skip first-step work for repeats.
    open_keys: first_step::OpenKeys,
    /// Turns for pages sent and being recorded ([`RECORDING_MAX`]).
    recording: Arc<Semaphore>,
}

/// A channel's last delivery and last failure, as this node saw them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelHealth {
    pub last_success: Option<Timestamp>,
    pub last_failure: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Pages that failed for good since the last one delivered.
    pub failed_in_a_row: u32,
}

/// One configuration and its channels.
struct Current {
    config: Arc<Config>,
    channels: Arc<Channels>,
}

impl Current {
    fn new(config: Config, console: &ConsoleSink) -> Self {
        let channels = Channels::new(&config, console.clone());
        Self {
            config: Arc::new(config),
            channels: Arc::new(channels),
        }
    }
}

/// Cheap to clone: all clones share one engine.
pub struct Engine<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

fn std_duration(d: SignedDuration) -> Duration {
    d.unsigned_abs()
}

impl<S: Store> Engine<S> {
    pub fn new(store: S, config: Config, clock: Arc<dyn Clock>, console: ConsoleSink) -> Self {
        let identity = nodes::Identity::new(config.server.node_name.as_deref(), clock.now());
        let engine = Self {
            inner: Arc::new(Inner {
                identity,
                config_mismatch: std::sync::Mutex::new(None),
                channel_health: std::sync::Mutex::new(std::collections::BTreeMap::new()),
                balance_checked: std::sync::Mutex::new(None),
                fallen_back: std::sync::Mutex::new(std::collections::BTreeSet::new()),
                store,
                clock,
                current: ArcSwap::from_pointee(Current::new(config, &console)),
                console,
                wake_escalations: Notify::new(),
                wake_dispatch: Notify::new(),
                metrics: Metrics::default(),
                monitors: tokio::sync::Mutex::new(monitors::MonitorState::default()),
                silences: silences::SilenceCache::default(),
                ready: first_step::Ready::default(),
                open_keys: first_step::OpenKeys::default(),
                recording: Arc::new(Semaphore::new(RECORDING_MAX)),
            }),
        };
        // Work another node queued wakes this one's loops at once.
        let weak = Arc::downgrade(&engine.inner);
        engine.inner.store.on_wake(Arc::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.wake_escalations.notify_one();
                inner.wake_dispatch.notify_one();
            }
        }));
        engine
    }

    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Names this node in the data of a decision's timeline lines, so an
    /// alert's timeline says which node paged (many nodes share a store).
    fn stamp_node(&self, t: Transition) -> Transition {
        first_step::stamp_node(t, self.node_name())
    }

    pub fn config(&self) -> Arc<Config> {
        self.inner.current.load().config.clone()
    }

    /// The channels built from [`Engine::config`].
    fn channels(&self) -> Arc<Channels> {
        self.inner.current.load().channels.clone()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Swaps in a new (already validated) configuration. Running escalations
    /// continue with the new policies and users from their current step.
    pub fn reload(&self, config: Config) {
        // One swap: the new channels and the config they belong to together.
        self.inner
            .current
            .store(Arc::new(Current::new(config, &self.inner.console)));
        self.inner.wake_escalations.notify_one();
        self.inner.wake_dispatch.notify_one();
    }

    /// Records events durably and starts escalation for new alerts. The one
    /// path every ingest adapter takes.
    pub async fn accept(&self, events: Vec<Event>) -> Result<Vec<IngestOutcome>> {
        let config = self.config();
        let now = self.now();
        let fired = Arc::new(first_step::Fired::default());
        // A batch with no trigger, or only repeats of open alerts (what
        // Prometheus re-sends), needs no first step: nothing is loaded for it.
        // Keys are of the events as sent, before rules route them.
        let keys: Vec<u64> = events
            .iter()
            .map(|e| first_step::OpenKeys::key(&e.service, e.dedup_key.as_str()))
            .collect();
        let triggers = events
            .iter()
            .zip(&keys)
            .filter(|(e, _)| e.action == EventAction::Trigger)
            .map(|(_, k)| *k);
        let first_step = if !self.inner.open_keys.all_open(triggers) {
            self.first_step(now, &fired).await?
        } else {
            None
        };
        let items_first_step_lease = first_step.as_ref().and_then(|f| f.lease_until());
        let mut actions = Vec::with_capacity(events.len());
        let mut items = Vec::with_capacity(events.len());
        let mut recorded_keys = Vec::with_capacity(events.len());
        // One slot per event: `Err` holds a dropped event's dedup key.
        let mut slots = Vec::with_capacity(events.len());
        for (event, key) in events.into_iter().zip(keys) {
            let d = if config.rules.is_empty() {
                firebell_core::rules::Decision {
                    event,
                    matched: Vec::new(),
                    suppressed_by: None,
                    dropped_by: None,
                }
            } else {
                firebell_core::rules::apply(&config.rules, event)
            };
            if let Some(rule) = d.dropped_by {
                self.inner
                    .metrics
                    .events_dropped
                    .get_or_create(&RuleLabel { rule })
                    .inc();
                slots.push(Err(d.event.dedup_key));
                continue;
            }
            actions.push(d.event.action);
            slots.push(Ok(()));
            let mut event = d.event;
            let policy = match d.suppressed_by {
                Some(rule) => {
                    event.labels.insert("suppressed_by".to_string(), rule);
                    None
                }
                None => config
                    .services
                    .get(&event.service)
                    .map(|s| s.policy.clone()),
            };
            recorded_keys.push(key);
            items.push(IngestItem {
                first_step: policy.as_ref().and(first_step.clone()),
                policy,
                event,
                received_at: now,
            });
        }
        let started = Instant::now();
        let items_len = items.len();
        let mut recorded = if items.is_empty() {
            Vec::new()
        } else {
            self.inner.store.ingest(items).await?
        };
        if recorded.len() != items_len {
            // Every event must be answered for: never drop one silently.
            tracing::error!(
                events = items_len,
                outcomes = recorded.len(),
                "the store answered for a different number of events than it was given"
            );
            return Err(EngineError::Internal(format!(
                "the store recorded {} outcomes for {items_len} events",
                recorded.len()
            )));
        }
        self.inner.open_keys.note(
            recorded_keys
                .into_iter()
                .zip(&recorded)
                .filter(|(_, o)| o.alert_id.is_some())
                .map(|(k, o)| (k, o.status.is_some_and(|s| s != AlertStatus::Resolved))),
        );
        // Pages claimed with their alerts go to this node's dispatcher.
        let claimed: Vec<Claimed> = recorded
            .iter_mut()
            .flat_map(|o| std::mem::take(&mut o.claimed))
            .collect();
        if let Some(lease_until) = items_first_step_lease {
            self.inner.ready.push(claimed, now, lease_until);
        }
        let mut recorded = recorded.into_iter();
        let outcomes: Vec<IngestOutcome> = slots
            .into_iter()
            .filter_map(|slot| match slot {
                Ok(()) => recorded.next(),
                Err(dedup_key) => Some(IngestOutcome {
                    alert_id: None,
                    dedup_key,
                    status: None,
                    duplicate: false,
                    claimed: Vec::new(),
                }),
            })
            .collect();
        self.inner
            .metrics
            .ingest_commit_seconds
            .observe(started.elapsed().as_secs_f64());
        for a in actions {
            self.inner
                .metrics
                .events_received
                .get_or_create(&ActionLabel {
                    action: a.as_str().to_string(),
                })
                .inc();
        }
        for o in outcomes.iter().filter(|o| !o.duplicate) {
            if let Some(alert_id) = o.alert_id {
                tracing::debug!(alert_id, dedup_key = ?o.dedup_key.as_str(), status = ?o.status, "event recorded");
            }
        }
        // Steps decided with the write (see `first_step`) queued their pages.
        if fired.steps() > 0 {
            self.inner.metrics.pages_queued.inc_by(fired.pages());
            for _ in 0..fired.steps() {
                self.inner.metrics.escalation_lag_seconds.observe(0.0);
            }
            self.inner.wake_dispatch.notify_one();
        }
        if outcomes.iter().filter(|o| !o.duplicate).count() as u64 > fired.steps() {
            self.inner.wake_escalations.notify_one();
        }
        let resolved: Vec<AlertId> = outcomes
            .iter()
            .filter(|o| !o.duplicate && o.status == Some(AlertStatus::Resolved))
            .filter_map(|o| o.alert_id)
            .collect();
        if !resolved.is_empty() {
            self.on_resolved(&resolved).await;
        }
        Ok(outcomes)
    }

    /// A person (or the API) answers for an alert.
    pub async fn respond(&self, alert_id: AlertId, who: &str, response: Response) -> Result<Alert> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let alert = self
                .inner
                .store
                .get_alert(alert_id)
                .await?
                .ok_or(EngineError::NotFound(alert_id))?;
            if alert.status == AlertStatus::Resolved && response != Response::Resolve {
                return Err(EngineError::Conflict(format!(
                    "alert {alert_id} is already resolved"
                )));
            }
            let esc = match self.inner.store.escalation(alert_id).await? {
                Some(e) => e,
                // Recorded without paging (a rule's suppress, a call to an
                // on-call line): taking or resolving it is a status change.
                None => return self.respond_unpaged(alert, who, response).await,
            };
            let now = self.now();
            let t = escalation::on_response(&esc, alert.status, who, response, now);
            if t.timeline.is_empty() && t.alert_status.is_none() {
                return Ok(alert); // nothing to do: already in that state
            }
            match self.inner.store.commit(esc.version, t, now).await? {
                CommitResult::Applied => {
                    self.inner.wake_escalations.notify_one();
                    if response == Response::Resolve {
                        self.on_resolved(&[alert_id]).await;
                    }
                    return self
                        .inner
                        .store
                        .get_alert(alert_id)
                        .await?
                        .ok_or(EngineError::NotFound(alert_id));
                }
                CommitResult::Conflict => continue,
            }
        }
        Err(EngineError::Conflict(format!(
            "alert {alert_id} kept changing; try again"
        )))
    }

    /// An answer for an alert that has no escalation: acknowledge and
    /// resolve change its status as its source would (one write with the
    /// alert's line), then say who; anything else has nothing to act on.
    async fn respond_unpaged(&self, alert: Alert, who: &str, response: Response) -> Result<Alert> {
        let (action, kind, done) = match response {
            Response::Accept if alert.status == AlertStatus::Triggered => (
                firebell_core::event::EventAction::Acknowledge,
                TimelineKind::Acknowledged,
                "acknowledged",
            ),
            Response::Accept => return Ok(alert),
            Response::Resolve => (
                firebell_core::event::EventAction::Resolve,
                TimelineKind::Resolved,
                "resolved",
            ),
            _ => {
                return Err(EngineError::Conflict(format!(
                    "alert {} pages nobody: there is no escalation to {}",
                    alert.id,
                    if response == Response::Decline {
                        "pass on"
                    } else {
                        "move on"
                    }
                )));
            }
        };
        let now = self.now();
        let event = Event {
            service: alert.service.clone(),
            action,
            dedup_key: alert.dedup_key.clone(),
            summary: String::new(),
            severity: alert.severity,
            source: alert.source.clone(),
            labels: Default::default(),
            details: Default::default(),
            occurred_at: now,
            expires_at: None,
        };
        self.inner
            .store
            .ingest(vec![IngestItem {
                event,
                policy: None,
                received_at: now,
                first_step: None,
            }])
            .await?;
        let line = TimelineEntry::new(now, kind, format!("{done} by {who}"))
            .with_data(json!({ "user": who }));
        self.inner.store.add_timeline(alert.id, vec![line]).await?;
        if response == Response::Resolve {
            self.on_resolved(&[alert.id]).await;
        }
        self.inner
            .store
            .get_alert(alert.id)
            .await?
            .ok_or(EngineError::NotFound(alert.id))
    }

    /// Each channel's last delivery and failure on this node, by channel.
    pub fn channel_health(&self) -> std::collections::BTreeMap<String, ChannelHealth> {
        self.inner
            .channel_health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn record_channel(&self, channel: &str, at: Timestamp, error: Option<&String>) {
        let mut map = self
            .inner
            .channel_health
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let h = map.entry(channel.to_string()).or_default();
        match error {
            None => h.last_success = Some(at),
            Some(e) => {
                h.last_failure = Some(at);
                h.last_error = Some(e.clone());
            }
        }
    }

    /// Fires every escalation due now. Returns how many were advanced.
    pub async fn run_escalations_once(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let now = self.now();
            let due = self
                .inner
                .store
                .due_escalations(now, ESCALATION_BATCH)
                .await?;
            if due.is_empty() {
                return Ok(total);
            }
            let n = due.len();
            let overrides = self.active_overrides(now).await?;
            let mut quiet = self.quiet_context(now).await?;
            self.prefetch_alerts(&mut quiet, &due).await?;
            let results = futures::future::join_all(
                due.into_iter().map(|e| self.fire(e, &overrides, &quiet)),
            )
            .await;
            for r in results {
                r?;
            }
            total += n;
            self.inner.wake_dispatch.notify_one();
            if n < ESCALATION_BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Schedule overrides in force at `now`, by schedule.
    pub async fn active_overrides(&self, now: Timestamp) -> Result<HashMap<String, Vec<Override>>> {
        let mut by_schedule: HashMap<String, Vec<Override>> = HashMap::new();
        if self.config().schedules.is_empty() {
            return Ok(by_schedule);
        }
        let until = now
            .checked_add(SignedDuration::from_millis(1))
            .unwrap_or(now);
        for o in self.inner.store.overrides(None, now, until).await? {
            by_schedule.entry(o.schedule).or_default().push(o.override_);
        }
        Ok(by_schedule)
    }

    /// Applies `on_due` to one escalation, re-reading it on a conflict.
    async fn fire(
        &self,
        esc: Escalation,
        overrides: &HashMap<String, Vec<Override>>,
        quiet: &quiet::QuietContext,
    ) -> Result<()> {
        let span = tracing::info_span!("escalation", alert_id = esc.alert_id);
        self.fire_in_span(esc, overrides, quiet)
            .instrument(span)
            .await
    }

    async fn fire_in_span(
        &self,
        mut esc: Escalation,
        overrides: &HashMap<String, Vec<Override>>,
        quiet: &quiet::QuietContext,
    ) -> Result<()> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let now = self.now();
            if !esc.is_active() || esc.due_at.is_none_or(|d| d > now) {
                return Ok(());
            }
            let config = self.config();
            let on_call = first_step::on_call(&config, overrides, now);
            // The alert is read only when something needs it: a possible
            // hold, or a user's notification rules (by severity).
            let alert = if quiet.is_empty() && !config.has_notification_rules() {
                None
            } else {
                match quiet.alert(esc.alert_id) {
                    Some(a) => Some(a.clone()),
                    None => self.inner.store.get_alert(esc.alert_id).await?,
                }
            };
            let hold = match &alert {
                Some(a) if !quiet.is_empty() => quiet.check(a, &config, now),
                _ => None,
            };
            let severity = alert.as_ref().map_or(Severity::Critical, |a| a.severity);
            let t = match (hold, config.policies.get(&esc.policy)) {
                (Some(h), Some(_)) => {
                    escalation::hold(&esc, &h.reason, quiet::recheck_at(&h, now), now)
                }
                (None, Some(policy)) => {
                    escalation::on_due(&esc, policy, &config.users, &on_call, severity, now)
                }
                (_, None) => policy_gone(&esc, now),
            };
            let queued = t.notifications.len() as u64;
            let t = self.stamp_node(t);
            let due = esc.due_at;
            let exhausts = t.escalation.phase == Phase::Exhausted && esc.phase != Phase::Exhausted;
            match self.inner.store.commit(esc.version, t, now).await? {
                CommitResult::Applied => {
                    self.inner.metrics.pages_queued.inc_by(queued);
                    if exhausts {
                        self.on_exhausted(esc.alert_id, &esc.policy).await?;
                    }
                    if let Some(due) = due {
                        self.inner
                            .metrics
                            .escalation_lag_seconds
                            .observe(now.duration_since(due).as_secs_f64().max(0.0));
                    }
                    return Ok(());
                }
                CommitResult::Conflict => match self.inner.store.escalation(esc.alert_id).await? {
                    Some(e) => esc = e,
                    None => return Ok(()),
                },
            }
        }
        tracing::warn!(
            alert_id = esc.alert_id,
            "escalation kept changing; will retry"
        );
        Ok(())
    }

    /// Claims every page due now and delivers them, waiting for the results.
    /// Returns how many were attempted.
    pub async fn dispatch_once(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let mut claimed = self.take_ready(DELIVERY_CONCURRENCY).await;
            if claimed.is_empty() {
                claimed = self
                    .inner
                    .store
                    .claim_notifications(self.now(), self.lease(), DELIVERY_CONCURRENCY as u32)
                    .await?;
            }
            if claimed.is_empty() {
                return Ok(total);
            }
            total += claimed.len();
            self.deliver_batch(claimed).await?;
        }
    }

    /// Delivers claimed pages and waits for the results; grouped and
    /// rate-limited pages go by lane (see `bundles`).
    async fn deliver_batch(&self, claimed: Vec<Claimed>) -> Result<()> {
        let (plain, lanes) = self.split_batch(claimed);
        let lanes = futures::future::join_all(
            lanes
                .into_iter()
                .map(|(key, lane)| self.deliver_lane(key, lane)),
        );
        let plain = self.deliver_together(plain.into_iter().map(|c| (c, None)).collect());
        let (lanes, plain) = futures::future::join(lanes, plain).await;
        for r in lanes {
            r?;
        }
        plain
    }

    /// Runs escalations and deliveries until nothing more is due at the
    /// clock's current time. For tests with a manual clock.
    pub async fn run_until_idle(&self) -> Result<()> {
        for _ in 0..10_000 {
            let m = self.run_monitors_once().await?;
            let t = self.run_timeouts_once().await?;
            let f = self.run_follow_ups_once().await?;
            let a = self.run_escalations_once().await?;
            let b = self.dispatch_once().await?;
            if a == 0 && b == 0 && m == 0 && t == 0 && f == 0 {
                return Ok(());
            }
        }
        Err(EngineError::Internal("engine did not settle".into()))
    }

    /// The next instant anything is due, if any.
    pub async fn next_due(&self) -> Result<Option<Timestamp>> {
        let a = self.inner.store.next_escalation_due().await?;
        let b = self.inner.store.next_notification_due().await?;
        let m = self.next_monitor_due().await;
        let t = self.next_timeout_due().await?;
        Ok([a, b, m, t].into_iter().flatten().min())
    }

    fn lease(&self) -> SignedDuration {
        // Outlast the slowest channel's attempt (a program's timeout may be
        // longer than the webhook timeout), or a page could be sent twice.
        let longest = self.channels().longest_attempt();
        let longest = SignedDuration::try_from(longest).unwrap_or(SignedDuration::from_mins(10));
        (longest * 3).max(SignedDuration::from_secs(30))
    }

    fn backoff(&self, attempts: u32) -> SignedDuration {
        let d = &self.config().delivery;
        let base = d.retry_initial.as_millis_f64() * 2f64.powi(attempts.min(30) as i32);
        let capped = base.min(d.retry_max.as_millis_f64()).max(1.0);
        // Jitter: somewhere in the upper half, so retries from many pages spread out.
        let ms = rand::rng().random_range(capped / 2.0..=capped);
        SignedDuration::from_millis(ms as i64)
    }

    /// One delivery attempt and its record.
    async fn deliver(&self, c: Claimed) -> Result<()> {
        self.deliver_together(vec![(c, None)]).await
    }

    /// Sends pages claimed together, each holding its sending turn (if
    /// given) until its channel answers, and records them
    /// in as few writes as they finish together: one for a flood of pages
    /// to a local channel, one each for pages whose channels answer apart.
    /// A page whose record fails is left to its lease (sent again once the
    /// lease ends) and the others go on; the first failure is returned.
    async fn deliver_together(
        &self,
        pages: Vec<(Claimed, Option<OwnedSemaphorePermit>)>,
    ) -> Result<()> {
        let sending: FuturesUnordered<_> = pages
            .into_iter()
            .map(|(c, turn)| async move {
                let attempt = self.attempt(c).await;
                // Sent: the next page may send while this one is recorded.
                let recording = match turn {
                    Some(turn) => {
                        let recording = self.inner.recording.clone().acquire_owned().await.ok();
                        drop(turn);
                        recording
                    }
                    None => None,
                };
                (attempt, recording)
            })
            .collect();
        // Sends go on while what has been sent is written: the two run side
        // by side, so a slow write never holds a send (or its timeout) still.
        let (sent, mut to_record) = tokio::sync::mpsc::unbounded_channel();
        let send_all = async move {
            let mut sending = sending;
            while let Some(a) = sending.next().await {
                // The receiver is alive until every sender is done.
                let _ = sent.send(a);
            }
        };
        let record_all = async {
            let mut failed = None;
            while let Some(first) = to_record.recv().await {
                let mut done = vec![first];
                while let Ok(more) = to_record.try_recv() {
                    done.push(more);
                }
                if let Err(e) = self.record(done).await
                    && let Some(e) = keep_first(&mut failed, e)
                {
                    tracing::error!(error = %e, "recording a delivery failed; the lease will expire and it is retried");
                }
            }
            failed.map_or(Ok(()), Err)
        };
        let ((), recorded) = futures::future::join(send_all, record_all).await;
        recorded
    }

    /// One delivery attempt through the page's channel (or its fallback),
    /// and how it ended, to be recorded. What it logs is in the page's span,
    /// made for the line (see [`page_span`]).
    async fn attempt(&self, c: Claimed) -> Attempt {
        let Claimed {
            notification: n,
            alert,
            ..
        } = c;
        let channels = self.channels();
        // A notice is about no alert: channels render it as a stand-in alert
        // whose summary is the notice's text.
        let alert = alert.unwrap_or_else(|| notification::notice_alert(&n));
        let primary = n.channel.clone();
        let (n, fallback_note) = fallback::route(&self.config(), n);
        let started = Instant::now();
        let outcome = channels.deliver(&alert, &n, self.now()).await;
        drop(alert);
        let now = self.now();
        let attempt = n.attempts + 1;
        let label = ChannelLabel {
            channel: n.channel.clone(),
        };
        self.inner
            .metrics
            .delivery_seconds
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        let data = json!({
            "notification_id": n.id,
            "user": n.user,
            "channel": n.channel,
            "address": redact_address(&n.channel, &n.address),
            "attempt": attempt,
            "step": n.step + 1,
            "loop": n.loop_ + 1,
        });
        let max_attempts = self.config().delivery.max_attempts;
        let (finish, line) = match outcome {
            Delivery::Delivered { detail } => {
                self.inner
                    .metrics
                    .notifications_sent
                    .get_or_create(&label)
                    .inc();
                // Debug, as Alertmanager logs a notification sent: the timeline
                // and `firebell_notifications_sent_total` record every page, and
                // a line per page is most of a busy server's log.
                tracing::debug!(parent: &page_span(&n), user = %n.user, channel = %n.channel, attempt, "page delivered");
                self.record_channel(&n.channel, now, None);
                (
                    Finish::Delivered {
                        detail: detail.clone(),
                    },
                    match actions::run_action_id(&n).filter(|_| n.kind == NotificationKind::Action)
                    {
                        Some(action) => TimelineEntry::new(
                            now,
                            TimelineKind::Action,
                            format!(
                                "action {action} asked by {} ran via {}: {detail}",
                                n.user, n.channel
                            ),
                        ),
                        None => TimelineEntry::new(
                            now,
                            TimelineKind::Delivered,
                            format!("delivered to {} via {} ({detail})", n.user, n.channel),
                        ),
                    },
                )
            }
            // A test message is not retried: its first answer is the answer.
            // Nor is an action's run: running it twice may not be safe.
            Delivery::Retryable { error }
                if attempt < max_attempts
                    && n.kind != NotificationKind::Action
                    && !(n.kind == NotificationKind::Test && n.alert_id.is_none()) =>
            {
                self.inner
                    .metrics
                    .notifications_retried
                    .get_or_create(&label)
                    .inc();
                let at = now.checked_add(self.backoff(n.attempts)).unwrap_or(now);
                tracing::warn!(parent: &page_span(&n), channel = %n.channel, attempt, %error, "delivery failed; will retry");
                self.record_channel(&n.channel, now, Some(&error));
                (
                    Finish::Retry {
                        at,
                        error: error.clone(),
                    },
                    TimelineEntry::new(
                        now,
                        TimelineKind::Retrying,
                        format!(
                            "attempt {attempt} to {} via {} failed ({error}); retrying at {at}",
                            n.user, n.channel
                        ),
                    ),
                )
            }
            Delivery::Retryable { error } | Delivery::Permanent { error } => {
                self.inner
                    .metrics
                    .notifications_failed
                    .get_or_create(&label)
                    .inc();
                tracing::warn!(parent: &page_span(&n), channel = %n.channel, attempt, %error, "delivery failed for good");
                self.record_channel(&n.channel, now, Some(&error));
                (
                    Finish::Failed {
                        error: error.clone(),
                    },
                    match actions::run_action_id(&n).filter(|_| n.kind == NotificationKind::Action)
                    {
                        Some(action) => TimelineEntry::new(
                            now,
                            TimelineKind::Failed,
                            format!(
                                "action {action} asked by {} failed via {}: {error}",
                                n.user, n.channel
                            ),
                        ),
                        None => TimelineEntry::new(
                            now,
                            TimelineKind::Failed,
                            format!(
                                "page to {} via {} failed for good after {attempt} attempt(s): {error}",
                                n.user, n.channel
                            ),
                        ),
                    },
                )
            }
        };
        let line = fallback::annotate(line, fallback_note.as_deref()).with_data(data);
        let ended = crate::self_alerts::page_end(&finish);
        Attempt {
            end: firebell_store::PageEnd {
                id: n.id,
                finish,
                timeline: vec![line],
                alert_id: n.alert_id,
            },
            sent: Sent {
                ended,
                fallback_used: fallback_note.is_some(),
                primary,
                n,
            },
        }
    }

    /// Writes attempts' ends at once, then what follows each.
    async fn record(&self, done: Vec<(Attempt, Option<OwnedSemaphorePermit>)>) -> Result<()> {
        let (ends, sent): (Vec<_>, Vec<_>) = done
            .into_iter()
            .map(|(a, recording)| (a.end, (a.sent, recording)))
            .unzip();
        let changed = self.inner.store.finish_notifications(ends).await?;
        let mut failed = None;
        for ((s, _recording), changed) in sent.into_iter().zip(changed) {
            if let Err(e) = self.after_attempt(&s, changed).await
                && let Some(e) = keep_first(&mut failed, e)
            {
                tracing::error!(parent: &page_span(&s.n), error = %e, "following up a page's attempt failed");
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// What follows a recorded attempt, in the page's span: a page failed
    /// for good is followed up; the channel's streak (and fallback) feeds
    /// self-alerts. The span is made only for work to do: most pages have
    /// none, and a span costs more than the rest of their record.
    async fn after_attempt(&self, s: &Sent, changed: bool) -> Result<()> {
        let n = &s.n;
        let failed_for_good = matches!(s.ended, Some(Some(_)));
        if failed_for_good && changed && n.kind == NotificationKind::Notify && n.alert_id.is_some()
        {
            self.follow_up_failed(n.id).instrument(page_span(n)).await?;
        }
        if let Some(error) = &s.ended
            && n.kind != NotificationKind::Test
            && self.config().self_alerts.is_some()
        {
            async {
                self.channel_streak(&n.channel, error.as_deref()).await?;
                if error.is_none() {
                    let via = s.fallback_used.then_some(n.channel.as_str());
                    self.fallback_seen(&s.primary, via).await?;
                }
                Ok::<_, EngineError>(())
            }
            .instrument(page_span(n))
            .await?;
        }
        Ok(())
    }

    /// A page failed for good and carries the follow-up marker (the store set
    /// it with the failure): writes what follows — the person's next contact
    /// method, or "not reached" — and clears the marker in the same write. A
    /// crash or store error before that leaves the marker, and
    /// [`Engine::run_follow_ups_once`] finishes the job later.
    pub(crate) async fn follow_up_failed(&self, id: NotificationId) -> Result<()> {
        let span = tracing::info_span!("follow_up", notification_id = id);
        self.follow_up_in_span(id).instrument(span).await
    }

    async fn follow_up_in_span(&self, id: NotificationId) -> Result<()> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let Some(n) = self.inner.store.get_notification(id).await? else {
                return Ok(());
            };
            if !n.follow_up {
                return Ok(());
            }
            let Some(alert_id) = n.alert_id else {
                self.inner.store.settle_failed(id).await?;
                return Ok(());
            };
            let failed = FailedPage {
                user: &n.user,
                step: n.step,
                loop_: n.loop_,
                settles: Some(id),
            };
            if self.after_failure(alert_id, &failed).await? != CommitResult::Conflict {
                return Ok(());
            }
        }
        tracing::warn!(
            "the escalation kept changing while following up a failed page; a later pass finishes it"
        );
        Ok(())
    }

    /// A person was not reached through a page that went out (no answer, a
    /// machine answered, the text was undelivered): like a page that failed
    /// for good, their next contact method or "not reached".
    pub(crate) async fn not_reached_by(&self, n: &Notification) -> Result<()> {
        let Some(alert_id) = n.alert_id else {
            return Ok(());
        };
        let failed = FailedPage {
            user: &n.user,
            step: n.step,
            loop_: n.loop_,
            settles: None,
        };
        for _ in 0..MAX_CONFLICT_RETRIES {
            if self.after_failure(alert_id, &failed).await? != CommitResult::Conflict {
                return Ok(());
            }
        }
        Err(EngineError::Conflict(format!(
            "alert {alert_id} kept changing while recording that {} was not reached; try again",
            n.user
        )))
    }

    /// Decides and writes what follows a failed page, once. `Conflict` when
    /// the escalation (or the page's marker) changed under the decision.
    async fn after_failure(
        &self,
        alert_id: AlertId,
        failed: &FailedPage<'_>,
    ) -> Result<CommitResult> {
        let store = &self.inner.store;
        let (Some(alert), Some(esc)) = (
            store.get_alert(alert_id).await?,
            store.escalation(alert_id).await?,
        ) else {
            if let Some(id) = failed.settles {
                store.settle_failed(id).await?;
            }
            return Ok(CommitResult::Applied);
        };
        let paged: HashSet<String> = store
            .notifications(alert_id)
            .await?
            .into_iter()
            .map(|n| n.idem_key)
            .collect();
        let now = self.now();
        let config = self.config();
        let t = escalation::on_delivery_failed(
            &esc,
            alert.status,
            &config.users,
            alert.severity,
            failed,
            &paged,
            now,
        );
        if t.timeline.is_empty() && t.notifications.is_empty() {
            if let Some(id) = failed.settles {
                store.settle_failed(id).await?;
            }
            return Ok(CommitResult::Applied);
        }
        let queued = t.notifications.len() as u64;
        let t = self.stamp_node(t);
        let exhausts = t.escalation.phase == Phase::Exhausted && esc.phase != Phase::Exhausted;
        let result = store.commit(esc.version, t, now).await?;
        if result == CommitResult::Applied {
            self.inner.metrics.pages_queued.inc_by(queued);
            self.inner.wake_escalations.notify_one();
            self.inner.wake_dispatch.notify_one();
            if exhausts {
                self.on_exhausted(esc.alert_id, &esc.policy).await?;
            }
        }
        Ok(result)
    }

    /// Finishes the follow-ups of failed pages that a crash or an error left
    /// undone (their marker still set). Returns how many it looked at.
    pub async fn run_follow_ups_once(&self) -> Result<usize> {
        let waiting = self
            .inner
            .store
            .failed_pages_to_follow_up(FOLLOW_UP_BATCH)
            .await?;
        for n in &waiting {
            tracing::info!(
                alert_id = n.alert_id.unwrap_or_default(),
                notification_id = n.id,
                "following up a page that failed for good before a restart or an error"
            );
            self.follow_up_failed(n.id).await?;
        }
        Ok(waiting.len())
    }

    /// Refreshes the gauges that are read from the store.
    pub async fn refresh_gauges(&self) -> Result<()> {
        let counts = self.inner.store.alert_counts().await?;
        let outbox = self.inner.store.outbox_counts(self.now()).await?;
        let m = &self.inner.metrics;
        for (state, v) in [
            ("due", outbox.due),
            ("waiting", outbox.waiting),
            ("held", outbox.held),
            ("sending", outbox.sending),
        ] {
            m.outbox
                .get_or_create(&metrics::StateLabel {
                    state: state.to_string(),
                })
                .set(v);
        }
        for (status, v) in [
            ("triggered", counts.triggered),
            ("acknowledged", counts.acknowledged),
        ] {
            m.alerts_open
                .get_or_create(&metrics::StatusLabel {
                    status: status.to_string(),
                })
                .set(v);
        }
        Ok(())
    }

    /// Starts the background loops (real clock). They stop when `shutdown`
    /// turns true.
    pub fn spawn(&self, shutdown: watch::Receiver<bool>) -> JoinSet<()> {
        let mut set = JoinSet::new();
        let e = self.clone();
        let sd = shutdown.clone();
        set.spawn(async move { e.escalation_loop(sd).await });
        let e = self.clone();
        let sd = shutdown.clone();
        set.spawn(async move { e.dispatch_loop(sd).await });
        let e = self.clone();
        let sd = shutdown.clone();
        set.spawn(async move { e.handoff_loop(sd).await });
        let e = self.clone();
        let sd = shutdown.clone();
        set.spawn(async move { e.timeouts_loop(sd).await });
        let e = self.clone();
        let sd = shutdown.clone();
        set.spawn(async move { e.node_loop(sd).await });
        let e = self.clone();
        let sd = shutdown.clone();
        set.spawn(async move { e.watchdog_loop(sd).await });
        let e = self.clone();
        set.spawn(async move { e.monitor_loop(shutdown).await });
        set
    }

    async fn sleep_until_due(
        &self,
        next: Option<Timestamp>,
        wake: &Notify,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let now = self.now();
        let wait = match next {
            Some(t) if t <= now => Duration::ZERO,
            Some(t) => std_duration(t.duration_since(now)).min(MAX_IDLE),
            None => MAX_IDLE,
        };
        if wait.is_zero() {
            tokio::task::yield_now().await;
            return;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }

    /// Heartbeat deadlines and probe runs. Probes run in the pass, so a slow
    /// one delays the others by at most its timeout.
    async fn monitor_loop(&self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.run_monitors_once().await {
                tracing::error!(error = %e, "monitor pass failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let next = self.next_monitor_due().await;
            let now = self.now();
            let wait = match next {
                Some(t) if t <= now => Duration::ZERO,
                Some(t) => std_duration(t.duration_since(now)).min(MAX_IDLE),
                None => MAX_IDLE,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn escalation_loop(&self, mut shutdown: watch::Receiver<bool>) {
        // The follow-up pass runs at start (what a crash left) and then at
        // most once a second: normally there is nothing for it.
        let mut follow_ups_at = Instant::now();
        while !*shutdown.borrow() {
            if Instant::now() >= follow_ups_at {
                if let Err(e) = self.run_follow_ups_once().await {
                    tracing::error!(error = %e, "failed-page follow-up pass failed; retrying");
                }
                follow_ups_at = Instant::now() + MAX_IDLE;
            }
            if let Err(e) = self.run_escalations_once().await {
                tracing::error!(error = %e, "escalation pass failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let next = match self.inner.store.next_escalation_due().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "reading the next escalation due failed; looking again shortly");
                    None
                }
            };
            self.sleep_until_due(next, &self.inner.wake_escalations, &mut shutdown)
                .await;
        }
    }

    async fn dispatch_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(DELIVERY_CONCURRENCY));
        let mut running = JoinSet::new();
        while !*shutdown.borrow() {
            while running.try_join_next().is_some() {}
            let free = permits.available_permits();
            let ready = self.take_ready(free).await;
            // When the next page is due, if it was read on the way.
            let mut next_due = None;
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else if !ready.is_empty() {
                Ok(ready)
            } else {
                // The writer claims only when something is due: a reader
                // says when that is (most wakes find nothing to claim).
                match self.inner.store.next_notification_due().await {
                    Ok(Some(due)) if due <= self.now() => {
                        self.inner
                            .store
                            .claim_notifications(self.now(), self.lease(), free as u32)
                            .await
                    }
                    Ok(next) => {
                        next_due = Some(next);
                        Ok(Vec::new())
                    }
                    Err(e) => Err(e),
                }
            };
            match claimed {
                Ok(claimed) if !claimed.is_empty() => {
                    let (claimed, lanes) = self.split_batch(claimed);
                    for (key, lane) in lanes {
                        let n = u32::try_from(lane.len()).unwrap_or(u32::MAX);
                        let Ok(permit) = permits.clone().acquire_many_owned(n).await else {
                            return;
                        };
                        let e = self.clone();
                        // Boxed: a delivery's future is large, and the task
                        // would copy it whole as it starts and ends.
                        running.spawn(Box::pin(async move {
                            if let Err(err) = e.deliver_lane(key, lane).await {
                                tracing::error!(error = %err, "recording a delivery failed; the lease will expire and it is retried");
                            }
                            drop(permit);
                        }));
                    }
                    // One task for the plain pages claimed together, each
                    // holding a turn of its own while it is sent.
                    let mut pages = Vec::with_capacity(claimed.len());
                    for c in claimed {
                        let Ok(permit) = permits.clone().acquire_owned().await else {
                            return;
                        };
                        pages.push((c, Some(permit)));
                    }
                    if !pages.is_empty() {
                        let e = self.clone();
                        running.spawn(Box::pin(async move {
                            if let Err(err) = e.deliver_together(pages).await {
                                tracing::error!(error = %err, "recording a delivery failed; the lease will expire and it is retried");
                            }
                        }));
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "claiming pages failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
            let next = if free == 0 {
                None
            } else if let Some(next) = next_due {
                next
            } else {
                match self.inner.store.next_notification_due().await {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::error!(error = %e, "reading the next page due failed; looking again shortly");
                        None
                    }
                }
            };
            tokio::select! {
                _ = running.join_next(), if !running.is_empty() => {}
                // Every turn taken: look again once a quarter of them are
                // back (channels that answer at once give them back long
                // before their batch is recorded).
                _ = permits.acquire_many(TURNS_TO_LOOK_AGAIN), if free == 0 => {}
                _ = self.sleep_until_due(next, &self.inner.wake_dispatch, &mut shutdown) => {}
            }
        }
        // Let deliveries in flight finish and be recorded, and send what
        // was claimed with its alert and still waits.
        while running.join_next().await.is_some() {}
        let waiting = self.take_ready(usize::MAX).await;
        if let Err(err) = self.deliver_batch(waiting).await {
            tracing::error!(error = %err, "recording a delivery failed; the lease will expire and it is retried");
        }
    }
}

/// A page's delivery attempt, sent and waiting to be recorded.
struct Attempt {
    /// What the store records.
    end: firebell_store::PageEnd,
    /// What follows once it is recorded.
    sent: Sent,
}

/// A page sent, for what follows its record.
struct Sent {
    /// The page as sent (through its fallback, if routed there).
    n: Notification,
    /// The channel the page was for, before any fallback.
    primary: String,
    fallback_used: bool,
    /// How the page ended, if it did (see `self_alerts::page_end`): `Some(None)`
    /// delivered, `Some(Some(error))` failed for good, `None` to be retried.
    ended: Option<Option<String>>,
}

/// The first of several failures is kept for the caller to report; a later
/// one is handed back, to be logged where it happened.
fn keep_first(first: &mut Option<EngineError>, e: EngineError) -> Option<EngineError> {
    match first {
        None => {
            *first = Some(e);
            None
        }
        Some(_) => Some(e),
    }
}

/// The span of one page's delivery: `alert_id` (absent for a notice) and
/// `notification_id`, as plain values, on every line logged inside it.
/// Made as a line about the page is logged (`parent:`), not for every
/// page: with a log subscriber a span costs an allocation and the
/// formatting of its fields, and most pages log nothing at `info`.
pub(crate) fn page_span(n: &Notification) -> tracing::Span {
    // An `Option` records its value, or nothing: one recording, not two.
    tracing::info_span!("page", alert_id = n.alert_id, notification_id = n.id)
}

/// The escalation's policy vanished in a reload: stop with a clear line.
fn policy_gone(esc: &Escalation, now: Timestamp) -> Transition {
    let mut e = esc.clone();
    e.phase = Phase::Exhausted;
    e.due_at = None;
    Transition {
        escalation: e,
        notifications: Vec::new(),
        timeline: vec![TimelineEntry::new(
            now,
            TimelineKind::Exhausted,
            format!(
                "escalation stopped: policy {:?} no longer exists in the configuration",
                esc.policy
            ),
        )],
        alert_status: None,
        settles: None,
    }
}
