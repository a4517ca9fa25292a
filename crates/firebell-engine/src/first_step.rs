//! A new alert's first escalation step, decided while the alert is recorded.
//!
//! Most new alerts page at once: their policy's first step has nothing to
//! wait for. Deciding that step in the escalation loop cost a second
//! transaction per alert (read the due escalation, commit the step) and one
//! more fsync between the alert and its page. Instead `accept` hands the
//! store a [`FirstStep`]: the same pure `escalation::on_due` the loop runs,
//! with what it needs (configuration, schedule overrides, the clock) loaded
//! before the write, so the alert, its escalation in its after-step state,
//! its pages and its lines are one commit.
//!
//! Pages due at once are written already claimed by this node and go
//! straight to its dispatcher ([`Ready`]): no claim, no read of the alert.
//! A service's group window is waited out the same way: its pages are
//! written waiting until the window closes (`bundles::hold_first_pages`),
//! as the dispatcher would hold them.
//!
//! The loop still decides every step the shortcut leaves alone: when
//! anything could hold paging (a maintenance window in force, a silence not
//! yet ended, any inhibit rule, whose sources may arrive in the same batch),
//! when the policy is gone, and when the step would exhaust the policy (the
//! loop raises that self-alert).

use crate::{Engine, Result};
use firebell_core::escalation::{self, Phase, Transition};
use firebell_store::{Claimed, FirstStep, Store};
use jiff::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the shortcut did during one `accept`, for the metrics once the
/// write is durable.
#[derive(Default)]
pub(crate) struct Fired {
    pub(crate) steps: AtomicU64,
    pub(crate) pages: AtomicU64,
}

impl Fired {
    pub(crate) fn steps(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }

    pub(crate) fn pages(&self) -> u64 {
        self.pages.load(Ordering::Relaxed)
    }
}

impl<S: Store> Engine<S> {
    /// The first-step decision for a batch accepted at `now`, or `None` when
    /// the escalation loop must decide (something could hold paging).
    pub(crate) async fn first_step(
        &self,
        now: Timestamp,
        fired: &Arc<Fired>,
    ) -> Result<Option<FirstStep>> {
        let config = self.config();
        if !config.inhibit_rules.is_empty() {
            return Ok(None);
        }
        if !self.quiet_context(now).await?.is_empty() {
            return Ok(None);
        }
        let overrides = self.active_overrides(now).await?;
        let node = self.node_name().to_string();
        let fired = fired.clone();
        let step = FirstStep::new(move |esc, severity, service| {
            let policy = config.policies.get(&esc.policy)?;
            let on_call = on_call(&config, &overrides, now);
            let mut t = escalation::on_due(esc, policy, &config.users, &on_call, severity, now);
            if t.escalation.phase == Phase::Exhausted {
                return None;
            }
            if let Some(s) = config.services.get(service)
                && let Some(w) = s.group_window
            {
                crate::bundles::hold_first_pages(&mut t, &s.name, w, now);
            }
            fired.steps.fetch_add(1, Ordering::Relaxed);
            fired
                .pages
                .fetch_add(t.notifications.len() as u64, Ordering::Relaxed);
            Some(stamp_node(t, &node))
        });
        Ok(Some(if self.inner.ready.has_room() {
            step.claiming(now.checked_add(self.lease()).unwrap_or(now))
        } else {
            step
        }))
    }

    /// Up to `n` pages claimed with their alerts, without those cancelled
    /// since (the alert acknowledged or resolved, on any node): one read for
    /// the lot. If that read fails they are left to their leases.
    pub(crate) async fn take_ready(&self, n: usize) -> Vec<Claimed> {
        let pages = self.inner.ready.take(n, self.now());
        if pages.is_empty() {
            return pages;
        }
        let ids = pages.iter().map(|c| c.notification.id).collect();
        match self.inner.store.still_sending(ids).await {
            Ok(live) => {
                let live: std::collections::HashSet<_> = live.into_iter().collect();
                pages
                    .into_iter()
                    .filter(|c| live.contains(&c.notification.id))
                    .collect()
            }
            Err(err) => {
                tracing::error!(error = %err, pages = pages.len(), "checking pages claimed with their alerts failed; they are claimed again when their leases end");
                Vec::new()
            }
        }
    }
}

/// Who is on call in a schedule at `now`, with the overrides in force.
pub(crate) fn on_call<'a>(
    config: &'a firebell_core::config::Config,
    overrides: &'a std::collections::HashMap<String, Vec<firebell_core::schedule::Override>>,
    now: Timestamp,
) -> impl Fn(&str) -> Vec<String> + 'a {
    move |schedule| {
        let ovs = overrides.get(schedule).map(Vec::as_slice).unwrap_or(&[]);
        config
            .schedules
            .get(schedule)
            .map(|s| s.on_call(now, ovs))
            .unwrap_or_default()
    }
}

/// Marks each of a transition's lines with the node that decided it.
pub(crate) fn stamp_node(mut t: Transition, node: &str) -> Transition {
    for line in &mut t.timeline {
        match &mut line.data {
            serde_json::Value::Object(m) => {
                m.insert("node".into(), node.into());
            }
            serde_json::Value::Null => {
                line.data = serde_json::json!({ "node": node });
            }
            _ => {}
        }
    }
    t
}

/// Pages claimed with their alerts' first step, waiting for this node's
/// dispatcher (which takes them before it claims from the store).
///
/// Bounded, so that a page never waits here long: when it is full, new
/// first steps queue their pages unclaimed for any node. A page that waited
/// here more than a sixth of its lease is left alone: its lease runs out and
/// it is claimed from the store like any page whose claimer went away. So a
/// page taken from here has at least five sixths of its lease left (the
/// lease is three times the slowest channel's attempt), as much as a page
/// just claimed from the store, and is never sent by two holders at once.
#[derive(Default)]
pub(crate) struct Ready(std::sync::Mutex<std::collections::VecDeque<Waiting>>);

struct Waiting {
    page: Claimed,
    /// Past this instant the page waited too long (see [`Ready`]).
    use_by: Timestamp,
}

/// About this many pages at most wait in [`Ready`] (concurrent `accept`s may
/// each add a batch past it): sixteen dispatcher passes. A page that finds
/// it full is written unclaimed and costs a claim and an alert read later,
/// so it holds a burst's pages while the dispatcher catches up; at the
/// dispatcher's pace they wait well under a second, and a waiting page
/// (with its alert's labels) takes a kilobyte or two.
const READY_MAX: usize = 16 * crate::DELIVERY_CONCURRENCY;

impl Ready {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Waiting>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn has_room(&self) -> bool {
        self.lock().len() < READY_MAX
    }

    pub(crate) fn push(&self, pages: Vec<Claimed>, claimed_at: Timestamp, lease_until: Timestamp) {
        if pages.is_empty() {
            return;
        }
        let wait = claimed_at.duration_until(lease_until) / 6;
        let use_by = claimed_at.checked_add(wait).unwrap_or(claimed_at);
        self.lock()
            .extend(pages.into_iter().map(|page| Waiting { page, use_by }));
    }

    /// Up to `n` waiting pages still well within their lease at `now`.
    pub(crate) fn take(&self, n: usize, now: Timestamp) -> Vec<Claimed> {
        let mut q = self.lock();
        let mut out = Vec::new();
        while out.len() < n {
            let Some(w) = q.pop_front() else { break };
            if now <= w.use_by {
                out.push(w.page);
            } else {
                tracing::warn!(
                    notification_id = w.page.notification.id,
                    "a page claimed with its alert waited too long here; it is claimed again when its lease ends"
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebell_core::notification::{Notification, NotificationKind, NotificationStatus};
    use jiff::SignedDuration;

    fn page(id: i64, at: Timestamp) -> Claimed {
        Claimed {
            notification: Notification {
                id,
                idem_key: format!("{id}:0:0:alice:console"),
                alert_id: Some(id),
                message: None,
                user: "alice".into(),
                contact_index: 0,
                channel: "console".into(),
                address: "stdout".into(),
                kind: NotificationKind::Notify,
                step: 0,
                loop_: 0,
                status: NotificationStatus::Sending,
                attempts: 0,
                next_attempt_at: at,
                last_error: None,
                detail: None,
                created_at: at,
                follow_up: false,
            },
            alert: None,
            held: false,
        }
    }

    /// A page claimed with its alert is sent from the queue only while at
    /// least five sixths of its lease are left; later it is left to its
    /// lease (and claimed again from the store), never sent twice.
    #[test]
    fn a_page_that_waited_too_long_is_left_to_its_lease() {
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let lease = t + SignedDuration::from_secs(30);
        let ready = Ready::default();
        ready.push(vec![page(1, t), page(2, t), page(3, t)], t, lease);
        let ids = |v: Vec<Claimed>| v.into_iter().map(|c| c.notification.id).collect::<Vec<_>>();
        assert_eq!(ids(ready.take(2, t + SignedDuration::from_secs(5))), [1, 2]);
        assert!(ready.take(2, t + SignedDuration::from_secs(6)).is_empty());
        assert!(
            ready.take(2, t).is_empty(),
            "the late page is gone from the queue"
        );
        assert!(ready.has_room());
        ready.push(
            (0..READY_MAX as i64).map(|i| page(i, t)).collect(),
            t,
            lease,
        );
        assert!(!ready.has_room());
    }
}

/// The (service, dedup key) of alerts this node last saw open, hashed: a
/// batch whose every trigger is among them is almost surely all repeats
/// (Prometheus re-sending what fires), so `accept` skips loading what a
/// first step needs. Only a shortcut: a trigger it wrongly takes for a
/// repeat (the alert was resolved elsewhere meanwhile) opens an alert whose
/// first step the escalation loop decides, as it would without the
/// shortcut. Bounded: when full it starts again empty.
#[derive(Default)]
pub(crate) struct OpenKeys(std::sync::Mutex<std::collections::HashSet<u64>>);

/// About 2 MiB at most.
const OPEN_KEYS_MAX: usize = 1 << 17;

impl OpenKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<u64>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn key(service: &str, dedup_key: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (service, dedup_key).hash(&mut h);
        h.finish()
    }

    /// True when every key is known open (so also for none).
    pub(crate) fn all_open(&self, mut keys: impl Iterator<Item = u64>) -> bool {
        let set = self.lock();
        keys.all(|k| set.contains(&k))
    }

    /// Notes what a batch left open (`true`) or closed.
    pub(crate) fn note(&self, seen: impl IntoIterator<Item = (u64, bool)>) {
        let mut set = self.lock();
        for (k, open) in seen {
            if open {
                if set.len() >= OPEN_KEYS_MAX {
                    set.clear();
                }
                set.insert(k);
            } else {
                set.remove(&k);
            }
        }
    }
}
