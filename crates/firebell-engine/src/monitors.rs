//! Firebell's own monitors, for people with no monitoring system: heartbeats
//! (a job pings; silence triggers) and probes (the server checks a URL or a
//! TCP port). Both only produce events, through [`Engine::accept`] like every
//! other source.
//!
//! A heartbeat's last ping and whether it is overdue live in the store
//! ([`firebell_store::HeartbeatStore`]), so a ping that reached any node
//! counts on every node, and of the nodes that find it overdue exactly one
//! triggers. A node starting to watch a heartbeat (a start, or a reload that
//! adds one) counts as a ping, so a restart never triggers falsely; the ping
//! that ends an overdue spell resolves its alert, even across restarts.
//!
//! Probes are checked once per interval across the nodes (a node claims
//! each run in the store), and their run of failures/successes and what
//! they are known to be (up, down) live in the store too, so thresholds
//! count every check whoever ran it, and one node sends each trigger and
//! resolve. The first good check of a probe the store never saw sends a
//! resolve, so an alert left open from before still closes.

use crate::probe_check::{self, Clients};
use crate::{Engine, Result};
use firebell_core::config::{Config, HeartbeatTiming};
use firebell_core::event::{DedupKey, Event, EventAction, Severity};
use firebell_core::probe::{Probe, ProbeTarget};
use firebell_store::{ProbeStatus, Store};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

struct Beat {
    timing: HeartbeatTiming,
    /// This node has told the store it watches the heartbeat.
    watched: bool,
    /// The last ping and overdue flag this node read or wrote, for
    /// [`Engine::next_monitor_due`]; the store is asked before acting.
    last_ping: Timestamp,
    overdue: bool,
    /// A ping reached this node since it started watching.
    pinged: bool,
}

/// A probe as this node knows it; its run of failures and successes and
/// what it is known to be live in the store ([`firebell_store::ProbeStore`]).
struct ProbeState {
    probe: Probe,
    clients: std::result::Result<Arc<Clients>, String>,
    /// When this node next asks the store whether the check is its to run.
    next_run: Timestamp,
    next_cert_check: Timestamp,
}

#[derive(Default)]
pub(crate) struct MonitorState {
    /// By (service, heartbeat name).
    heartbeats: HashMap<(String, String), Beat>,
    /// By probe name.
    probes: HashMap<String, ProbeState>,
}

/// How often a certificate is looked at, at most.
const CERT_CHECK_EVERY: SignedDuration = SignedDuration::from_hours(1);

/// What a ping did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping {
    /// The heartbeat's name.
    pub name: String,
    /// When it becomes overdue if no other ping comes.
    pub overdue_at: Timestamp,
    /// True when the ping closed an open "no heartbeat" alert.
    pub resolved: bool,
}

fn rounded(d: SignedDuration) -> SignedDuration {
    SignedDuration::from_secs(d.as_secs())
}

/// Brings the state in line with the configuration: new monitors start now
/// (a start counts as a ping), removed ones are forgotten, changed probes
/// start over.
fn sync(state: &mut MonitorState, config: &Config, now: Timestamp) {
    let mut seen = HashSet::new();
    for s in config.services.values() {
        for i in &s.integrations {
            if let Some(timing) = i.heartbeat {
                let k = (s.id.to_string(), i.name.clone());
                state
                    .heartbeats
                    .entry(k.clone())
                    .and_modify(|b| b.timing = timing)
                    .or_insert(Beat {
                        timing,
                        watched: false,
                        last_ping: now,
                        overdue: false,
                        pinged: false,
                    });
                seen.insert(k);
            }
        }
    }
    state.heartbeats.retain(|k, _| seen.contains(k));

    for p in &config.probes {
        if state.probes.get(&p.name).is_some_and(|s| s.probe == *p) {
            continue;
        }
        state.probes.insert(
            p.name.clone(),
            ProbeState {
                probe: p.clone(),
                clients: Clients::new(p).map(Arc::new),
                next_run: now,
                next_cert_check: now,
            },
        );
    }
    let names: HashSet<&str> = config.probes.iter().map(|p| p.name.as_str()).collect();
    state.probes.retain(|k, _| names.contains(k.as_str()));
}

fn heartbeat_event(
    service: &str,
    name: &str,
    action: EventAction,
    summary: String,
    details: Map<String, Value>,
    now: Timestamp,
) -> Result<Event> {
    let dedup_key = DedupKey::parse(format!("heartbeat:{service}:{name}"))
        .map_err(|e| crate::EngineError::Internal(e.to_string()))?;
    let labels = BTreeMap::from([
        ("monitor".to_string(), "heartbeat".to_string()),
        ("heartbeat".to_string(), name.to_string()),
    ]);
    Ok(Event {
        service: service.to_string(),
        action,
        dedup_key,
        summary,
        severity: Severity::Error,
        source: "firebell-heartbeat".to_string(),
        labels,
        details,
        occurred_at: now,
        expires_at: None,
    })
}

fn probe_event(
    probe: &Probe,
    action: EventAction,
    dedup_key: String,
    summary: String,
    severity: Severity,
    details: Map<String, Value>,
    now: Timestamp,
) -> Result<Event> {
    let dedup_key =
        DedupKey::parse(dedup_key).map_err(|e| crate::EngineError::Internal(e.to_string()))?;
    let labels = BTreeMap::from([
        ("monitor".to_string(), "probe".to_string()),
        ("probe".to_string(), probe.name.clone()),
        ("kind".to_string(), probe.kind().to_string()),
    ]);
    Ok(Event {
        service: probe.service.clone(),
        action,
        dedup_key,
        summary,
        severity,
        source: probe.what().to_string(),
        labels,
        details,
        occurred_at: now,
        expires_at: None,
    })
}

/// One probe's results from a pass.
struct Outcome {
    name: String,
    result: std::result::Result<(), String>,
    cert: Option<std::result::Result<Timestamp, String>>,
}

impl<S: Store> Engine<S> {
    /// A heartbeat integration of `service` (its index among the service's
    /// integrations) pinged now.
    pub async fn heartbeat(&self, service: &str, index: usize) -> Result<Ping> {
        let config = self.config();
        let integration = config
            .services
            .get(service)
            .and_then(|s| s.integrations.get(index))
            .filter(|i| i.heartbeat.is_some())
            .ok_or_else(|| {
                crate::EngineError::Internal(format!(
                    "service {service:?} has no heartbeat integration {index}"
                ))
            })?;
        let name = integration.name.clone();
        let mut state = self.inner.monitors.lock().await;
        let now = self.now();
        sync(&mut state, &config, now);
        self.watch_heartbeats(&mut state, now).await?;
        let key = (service.to_string(), name.clone());
        let Some(beat) = state.heartbeats.get_mut(&key) else {
            return Err(crate::EngineError::Internal(format!(
                "heartbeat {name:?} is not known"
            )));
        };
        let store = &self.inner.store;
        let was_overdue = store
            .heartbeat_pinged(service.to_string(), name.clone(), now)
            .await?;
        beat.last_ping = beat.last_ping.max(now);
        beat.overdue = false;
        // The first ping this node sees resolves too: an alert opened before
        // a restart (or before the store kept heartbeats) still closes.
        let first = !std::mem::replace(&mut beat.pinged, true);
        let overdue_at = now.checked_add(beat.timing.deadline()).unwrap_or(now);
        let mut resolved = false;
        if was_overdue || first {
            let event = heartbeat_event(
                service,
                &name,
                EventAction::Resolve,
                format!("Heartbeat from {name} received again"),
                Map::new(),
                now,
            )?;
            match self.accept(vec![event]).await {
                Ok(outcomes) => {
                    resolved = outcomes
                        .iter()
                        .any(|o| o.alert_id.is_some() && !o.duplicate);
                    if resolved {
                        tracing::info!(service, heartbeat = %name, "heartbeat back; alert resolved");
                    }
                }
                Err(e) => {
                    // Overdue again, so the next ping resolves the alert.
                    let _ = store
                        .heartbeat_overdue(service.to_string(), name.clone(), now)
                        .await;
                    return Err(e);
                }
            }
        }
        Ok(Ping {
            name,
            overdue_at,
            resolved,
        })
    }

    /// Tells the store about heartbeats this node has not watched yet (a
    /// start counts as a ping).
    async fn watch_heartbeats(&self, state: &mut MonitorState, now: Timestamp) -> Result<()> {
        for ((service, name), beat) in state.heartbeats.iter_mut() {
            if !beat.watched {
                self.inner
                    .store
                    .heartbeat_watched(service.clone(), name.clone(), now)
                    .await?;
                beat.watched = true;
            }
        }
        Ok(())
    }

    /// Triggers overdue heartbeats and runs the probes that are due. Returns
    /// how many heartbeats triggered plus how many probes ran.
    pub async fn run_monitors_once(&self) -> Result<usize> {
        let config = self.config();
        let mut state = self.inner.monitors.lock().await;
        let now = self.now();
        sync(&mut state, &config, now);

        // Heartbeats: the store says when each was last pinged, on any node.
        self.watch_heartbeats(&mut state, now).await?;
        let mut events = Vec::new();
        let mut flipped = Vec::new();
        if !state.heartbeats.is_empty() {
            let recorded: HashMap<(String, String), (Timestamp, bool)> = self
                .inner
                .store
                .heartbeats()
                .await?
                .into_iter()
                .map(|r| ((r.service, r.name), (r.last_ping, r.overdue)))
                .collect();
            for ((service, name), beat) in state.heartbeats.iter_mut() {
                let Some(&(last_ping, overdue)) = recorded.get(&(service.clone(), name.clone()))
                else {
                    continue;
                };
                beat.last_ping = last_ping;
                beat.overdue = overdue;
                let due = last_ping.checked_add(beat.timing.deadline()).unwrap_or(now);
                if overdue || now < due {
                    continue;
                }
                // Exactly one node marks it, and only if no ping came since.
                if !self
                    .inner
                    .store
                    .heartbeat_overdue(service.clone(), name.clone(), last_ping)
                    .await?
                {
                    continue;
                }
                beat.overdue = true;
                let silent = rounded(now.duration_since(last_ping));
                let mut details = Map::new();
                details.insert("last_ping".into(), json!(last_ping));
                details.insert(
                    "interval".into(),
                    json!(format!("{:#}", beat.timing.interval)),
                );
                details.insert("grace".into(), json!(format!("{:#}", beat.timing.grace)));
                events.push(heartbeat_event(
                    service,
                    name,
                    EventAction::Trigger,
                    format!("No heartbeat from {name} for {silent:#}"),
                    details,
                    now,
                )?);
                flipped.push((service.clone(), name.clone(), last_ping));
                tracing::warn!(service = %service, heartbeat = %name, %silent, "heartbeat overdue");
            }
        }
        let triggered = events.len();
        if !events.is_empty()
            && let Err(e) = self.accept(events).await
        {
            // Not overdue after all, so a later pass triggers again.
            for (service, name, last_ping) in flipped {
                let _ = self
                    .inner
                    .store
                    .heartbeat_pinged(service.clone(), name.clone(), last_ping)
                    .await;
                if let Some(b) = state.heartbeats.get_mut(&(service, name)) {
                    b.overdue = false;
                }
            }
            return Err(e);
        }

        // Probes due now: take what they need, run them without the lock.
        let mut due = Vec::new();
        for ps in state.probes.values_mut() {
            if ps.next_run > now {
                continue;
            }
            ps.next_run = now.checked_add(ps.probe.interval).unwrap_or(now);
            // Another node may have run it this interval: the store says.
            if !self
                .inner
                .store
                .claim_probe_run(ps.probe.name.clone(), now, ps.next_run)
                .await?
            {
                continue;
            }
            let check_cert = ps.next_cert_check <= now;
            if check_cert {
                ps.next_cert_check = now
                    .checked_add(CERT_CHECK_EVERY.max(ps.probe.interval))
                    .unwrap_or(now);
            }
            due.push((ps.probe.clone(), ps.clients.clone(), check_cert));
        }
        drop(state);
        if due.is_empty() {
            return Ok(triggered);
        }
        let ran = due.len();
        let outcomes = futures::future::join_all(due.into_iter().map(
            |(probe, clients, check_cert)| async move {
                let (result, cert) = match &clients {
                    Err(e) => (Err(e.clone()), None),
                    Ok(c) => {
                        let result = probe_check::check(&probe, c).await;
                        let cert = if check_cert {
                            probe_check::cert_not_after(&probe, c).await
                        } else {
                            None
                        };
                        (result, cert)
                    }
                };
                Outcome {
                    name: probe.name.clone(),
                    result,
                    cert,
                }
            },
        ))
        .await;
        self.apply_probe_outcomes(outcomes).await?;
        Ok(triggered + ran)
    }

    /// Counts failures and successes in the store and sends the triggers
    /// and resolves they call for (each flip a conditional write, so one
    /// node sends it).
    async fn apply_probe_outcomes(&self, outcomes: Vec<Outcome>) -> Result<()> {
        let probes: HashMap<String, Probe> = {
            let state = self.inner.monitors.lock().await;
            state
                .probes
                .iter()
                .map(|(k, ps)| (k.clone(), ps.probe.clone()))
                .collect()
        };
        let store = &self.inner.store;
        let now = self.now();
        let mut events = Vec::new();
        // (probe, cert, from, to): what to undo if the events cannot be recorded.
        let mut flips: Vec<(String, bool, ProbeStatus, ProbeStatus)> = Vec::new();
        for o in outcomes {
            let Some(p) = probes.get(&o.name) else {
                continue; // removed by a reload meanwhile
            };
            let rec = store
                .probe_checked(o.name.clone(), o.result.is_ok())
                .await?;
            match o.result {
                Ok(()) => {
                    let back = match rec.status {
                        ProbeStatus::Unknown => true,
                        ProbeStatus::Down => rec.successes >= p.recoveries,
                        ProbeStatus::Up => false,
                    };
                    if back
                        && store
                            .set_probe_status(o.name.clone(), false, rec.status, ProbeStatus::Up)
                            .await?
                    {
                        if rec.status == ProbeStatus::Down {
                            tracing::info!(probe = %p.name, "probe recovered");
                        }
                        flips.push((o.name.clone(), false, rec.status, ProbeStatus::Up));
                        events.push(probe_event(
                            p,
                            EventAction::Resolve,
                            p.dedup_key(),
                            format!("{} is up again", p.name),
                            p.severity,
                            Map::new(),
                            now,
                        )?);
                    }
                }
                Err(error) => {
                    tracing::debug!(probe = %p.name, failures = rec.failures, %error, "probe check failed");
                    if rec.status != ProbeStatus::Down
                        && rec.failures >= p.failures
                        && store
                            .set_probe_status(o.name.clone(), false, rec.status, ProbeStatus::Down)
                            .await?
                    {
                        tracing::warn!(probe = %p.name, %error, "probe down");
                        flips.push((o.name.clone(), false, rec.status, ProbeStatus::Down));
                        let mut details = Map::new();
                        details.insert("error".into(), json!(error));
                        details.insert("target".into(), json!(p.what()));
                        details.insert("failed_checks".into(), json!(rec.failures));
                        events.push(probe_event(
                            p,
                            EventAction::Trigger,
                            p.dedup_key(),
                            format!(
                                "{} is down: {error} ({} failed checks in a row)",
                                p.name, rec.failures
                            ),
                            p.severity,
                            details,
                            now,
                        )?);
                    }
                }
            }
            if let (
                Some(Ok(not_after)),
                ProbeTarget::Http {
                    cert_expiry_warning: Some(window),
                    url,
                    ..
                },
            ) = (o.cert, &p.target)
            {
                let left = not_after.duration_since(now);
                let cert = rec.cert_status;
                if left < *window {
                    if cert != ProbeStatus::Down
                        && store
                            .set_probe_status(o.name.clone(), true, cert, ProbeStatus::Down)
                            .await?
                    {
                        flips.push((o.name.clone(), true, cert, ProbeStatus::Down));
                        let days = left.as_secs().max(0) / 86_400;
                        let mut details = Map::new();
                        details.insert("not_after".into(), json!(not_after));
                        details.insert("warning".into(), json!(format!("{window:#}")));
                        events.push(probe_event(
                            p,
                            EventAction::Trigger,
                            p.cert_dedup_key(),
                            if left.is_negative() {
                                format!("The TLS certificate of {url} expired at {not_after}")
                            } else {
                                format!(
                                    "The TLS certificate of {url} expires in {days} day(s), at {not_after}"
                                )
                            },
                            Severity::Warning,
                            details,
                            now,
                        )?);
                    }
                } else if cert != ProbeStatus::Up
                    && store
                        .set_probe_status(o.name.clone(), true, cert, ProbeStatus::Up)
                        .await?
                {
                    flips.push((o.name.clone(), true, cert, ProbeStatus::Up));
                    events.push(probe_event(
                        p,
                        EventAction::Resolve,
                        p.cert_dedup_key(),
                        format!("The TLS certificate of {url} was renewed"),
                        Severity::Warning,
                        Map::new(),
                        now,
                    )?);
                }
            }
        }
        if !events.is_empty()
            && let Err(e) = self.accept(events).await
        {
            for (name, cert, from, to) in flips {
                let _ = store.set_probe_status(name, cert, to, from).await;
            }
            return Err(e);
        }
        Ok(())
    }

    /// The next instant a monitor needs looking at: a heartbeat's deadline or
    /// a probe's next run.
    pub async fn next_monitor_due(&self) -> Option<Timestamp> {
        let state = self.inner.monitors.lock().await;
        let beats = state
            .heartbeats
            .values()
            .filter(|b| !b.overdue)
            .filter_map(|b| b.last_ping.checked_add(b.timing.deadline()).ok());
        let probes = state.probes.values().map(|p| p.next_run);
        beats.chain(probes).min()
    }
}
