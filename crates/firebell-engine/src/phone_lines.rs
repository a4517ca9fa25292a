//! The on-call line's state changes ([`firebell_core::phone_lines`]): an
//! inbound call opens an alert on the line's service without paging (the
//! call itself rings people), and the people to ring are found step by step
//! as the service's policy would page them now. The TwiML is the server's.

use crate::{Engine, EngineError, Result};
use firebell_core::alert::{AlertId, TimelineEntry, TimelineKind};
use firebell_core::config::Contact;
use firebell_core::config::PhoneLine;
use firebell_core::event::{DedupKey, Event, EventAction, Severity};
use firebell_store::{IngestItem, Store};
use jiff::SignedDuration;
use serde_json::json;
use std::collections::BTreeMap;

/// The people one step of the line's policy rings, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// Step index (0-based) in the policy.
    pub step: usize,
    /// User id and voice number, in target order; never empty.
    pub people: Vec<(String, String)>,
    /// The step's wait: how long the phones ring.
    pub wait: SignedDuration,
}

impl<S: Store> Engine<S> {
    /// Opens the alert of an inbound call to `line` from `caller` (call
    /// `call_sid`), recorded without paging. A repeat of the same call is
    /// the same alert.
    pub async fn open_call_alert(
        &self,
        line: &PhoneLine,
        caller: &str,
        call_sid: &str,
    ) -> Result<AlertId> {
        let now = self.now();
        let key = DedupKey::parse(format!("phone:{}:{call_sid}", line.id))
            .map_err(|e| EngineError::Internal(format!("call dedup key: {}", e.message)))?;
        let mut labels = BTreeMap::new();
        labels.insert("phone_line".to_string(), line.id.clone());
        labels.insert("caller".to_string(), caller.to_string());
        let event = Event {
            service: line.service.clone(),
            action: EventAction::Trigger,
            dedup_key: key,
            summary: format!("Inbound call from {caller} on the {} line", line.id),
            severity: Severity::Critical,
            source: "phone".to_string(),
            labels,
            details: serde_json::Map::from_iter([("call_sid".to_string(), json!(call_sid))]),
            occurred_at: now,
            expires_at: None,
        };
        let outcome = self
            .inner
            .store
            .ingest(vec![IngestItem {
                event,
                policy: None,
                received_at: now,
                first_step: None,
            }])
            .await?
            .into_iter()
            .next()
            .and_then(|o| o.alert_id)
            .ok_or_else(|| EngineError::Internal("the call's alert was not recorded".into()))?;
        Ok(outcome)
    }

    /// The first step at or after `from` of the line's service's policy that
    /// has someone to ring now (a user with a voice contact, or whoever is
    /// on call in a schedule target); `None` when no step has.
    pub async fn ring_from(&self, line: &PhoneLine, from: usize) -> Result<Option<Ring>> {
        let config = self.config();
        let Some(policy) = config
            .services
            .get(&line.service)
            .and_then(|s| config.policies.get(&s.policy))
        else {
            return Ok(None);
        };
        let now = self.now();
        let overrides = self.active_overrides(now).await?;
        let on_call = crate::first_step::on_call(&config, &overrides, now);
        for (step, s) in policy.steps.iter().enumerate().skip(from) {
            let mut people: Vec<(String, String)> = Vec::new();
            for target in &s.targets {
                let users = match target {
                    firebell_core::escalation::Target::User(u) => vec![u.clone()],
                    firebell_core::escalation::Target::Schedule(id) => on_call(id),
                };
                for u in users {
                    let number = config.users.get(&u).and_then(|user| {
                        user.contacts.iter().find_map(|c| match c {
                            Contact::Voice { number, .. } => Some(number.to_string()),
                            _ => None,
                        })
                    });
                    if let Some(number) = number
                        && !people.iter().any(|(p, _)| *p == u)
                    {
                        people.push((u, number));
                    }
                }
            }
            if !people.is_empty() {
                return Ok(Some(Ring {
                    step,
                    people,
                    wait: s.wait,
                }));
            }
        }
        Ok(None)
    }

    /// Writes a line about the call on its alert's timeline.
    pub async fn note_call(
        &self,
        alert_id: AlertId,
        message: String,
        data: serde_json::Value,
    ) -> Result<()> {
        let line = TimelineEntry::new(self.now(), TimelineKind::Answered, message).with_data(data);
        self.inner.store.add_timeline(alert_id, vec![line]).await?;
        Ok(())
    }
}
