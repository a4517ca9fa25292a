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
//! The loop still decides every step the shortcut leaves alone: when
//! anything could hold paging (a maintenance window in force, a silence not
//! yet ended, any inhibit rule, whose sources may arrive in the same batch),
//! when the policy is gone, and when the step would exhaust the policy (the
//! loop raises that self-alert).

use crate::{Engine, Result};
use firebell_core::escalation::{self, Phase, Transition};
use firebell_store::{FirstStep, Store};
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
        if !self.active_windows(now).await?.is_empty() || !self.silence_set(now).await?.is_empty() {
            return Ok(None);
        }
        let overrides = self.active_overrides(now).await?;
        let node = self.node_name().to_string();
        let fired = fired.clone();
        Ok(Some(FirstStep(Arc::new(move |esc, severity| {
            let policy = config.policies.get(&esc.policy)?;
            let on_call = |schedule: &str| -> Vec<String> {
                let ovs = overrides.get(schedule).map(Vec::as_slice).unwrap_or(&[]);
                config
                    .schedules
                    .get(schedule)
                    .map(|s| s.on_call(now, ovs))
                    .unwrap_or_default()
            };
            let t = escalation::on_due(esc, policy, &config.users, &on_call, severity, now);
            if t.escalation.phase == Phase::Exhausted {
                return None;
            }
            fired.steps.fetch_add(1, Ordering::Relaxed);
            fired
                .pages
                .fetch_add(t.notifications.len() as u64, Ordering::Relaxed);
            Some(stamp_node(t, &node))
        }))))
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
