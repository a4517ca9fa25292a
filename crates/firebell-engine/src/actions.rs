//! Running a runbook action ([`firebell_core::actions`]) for a person: the
//! checks every way in shares (the call's menu, a text reply, an email link,
//! the UI, the API), then one queued run through the action's program or
//! webhook channel, recorded on the alert's timeline with who asked.
//!
//! A run is a notification of kind `alert.action` about the alert: the
//! dispatcher delivers it like a page (a program run with the action's
//! arguments, or a webhook POST with them in the body) and writes its
//! outcome on the timeline, but never retries it (an action may not be safe
//! to run twice) and never escalates on its failure. A run that failed for
//! good does not count against a non-repeatable action: it may be asked for
//! again.

use crate::{Engine, Result};
use firebell_core::actions::Action;
use firebell_core::alert::{AlertId, AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::channels::{ChannelKind, encode_args};
use firebell_core::escalation::Response;
use firebell_core::notification::{
    NewNotification, Notification, NotificationKind, NotificationStatus,
};
use firebell_store::Store;
use serde_json::json;

/// What asking for an action came to; each carries the sentence to tell
/// the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// Queued to run.
    Started(String),
    /// Nothing changed, and why.
    Refused(String),
}

impl ActionOutcome {
    pub fn message(&self) -> &str {
        match self {
            ActionOutcome::Started(m) | ActionOutcome::Refused(m) => m,
        }
    }
}

/// Who asks, and how.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub user: &'a str,
    /// "call", "text", "email", "ui", "api": on the timeline.
    pub via: &'a str,
    /// May act on any alert (the UI's responder role, the admin token);
    /// otherwise only a person paged for the alert may.
    pub responder: bool,
}

/// The action id a run notification carries.
pub fn run_action_id(n: &Notification) -> Option<String> {
    let m = n.message.as_deref()?;
    let v: serde_json::Value = serde_json::from_str(m).ok()?;
    v.get("action")?.as_str().map(str::to_string)
}

impl<S: Store> Engine<S> {
    /// The action on `key` for alert `alert_id`, if it offers one: its id,
    /// its label for the alert and whether it needs confirming.
    pub async fn action_on_key(
        &self,
        alert_id: AlertId,
        key: char,
    ) -> Result<Option<(Action, String)>> {
        let Some(alert) = self.inner.store.get_alert(alert_id).await? else {
            return Ok(None);
        };
        let config = self.config();
        Ok(config
            .actions
            .by_key(&alert, key)
            .map(|a| (a.clone(), a.label_for(&alert))))
    }

    /// The checks before running action `action_id` on alert `alert_id` for
    /// `asker`: the alert offers it and is open, the asker was paged for it
    /// (or is a responder), a non-repeatable action has not run (and is not
    /// running) already, and its arguments render. The error is why not.
    pub async fn check_action(
        &self,
        alert_id: AlertId,
        action_id: &str,
        asker: Asker<'_>,
    ) -> Result<std::result::Result<Checked, String>> {
        let store = &self.inner.store;
        let Some(alert) = store.get_alert(alert_id).await? else {
            return Ok(Err(format!("There is no alert {alert_id}.")));
        };
        let config = self.config();
        let Some(action) = config.actions.find(&alert, action_id).cloned() else {
            return Ok(Err(format!(
                "Alert {alert_id} offers no action {action_id:?}."
            )));
        };
        let label = action.label_for(&alert);
        if alert.status == AlertStatus::Resolved {
            return Ok(Err(format!(
                "Alert {alert_id} is resolved: \"{label}\" was not run."
            )));
        }
        let pages = store.notifications(alert_id).await?;
        let paged = pages
            .iter()
            .any(|n| n.user == asker.user && n.kind == NotificationKind::Notify);
        if !(paged || asker.responder) {
            return Ok(Err(format!(
                "Only a person paged for alert {alert_id} may run its actions: \"{label}\" was not run."
            )));
        }
        let runs: Vec<&Notification> = pages
            .iter()
            .filter(|n| {
                n.kind == NotificationKind::Action && run_action_id(n).as_deref() == Some(action_id)
            })
            .collect();
        if !action.repeatable
            && let Some(done) = runs.iter().find(|n| n.status != NotificationStatus::Failed)
        {
            return Ok(Err(format!(
                "\"{label}\" already ran on alert {alert_id} (asked by {}); it runs once.",
                done.user
            )));
        }
        let args = match action.args_for(&alert) {
            Ok(a) => a,
            Err(e) => return Ok(Err(format!("\"{label}\" cannot run: {e}."))),
        };
        let address = match config.channels.get(&action.channel).map(|c| &c.kind) {
            Some(ChannelKind::Program(_)) => encode_args(&args),
            Some(ChannelKind::Webhook(w)) => w.url.clone().unwrap_or_default(),
            _ => {
                return Ok(Err(format!(
                    "\"{label}\" cannot run: its channel {:?} is gone.",
                    action.channel
                )));
            }
        };
        Ok(Ok(Checked {
            alert_id,
            acknowledges: action.acknowledges && alert.status == AlertStatus::Triggered,
            action,
            label,
            args,
            address,
            runs: runs.len(),
        }))
    }

    /// Runs action `action_id` on alert `alert_id` for `asker` when
    /// [`Engine::check_action`] allows it.
    pub async fn run_action(
        &self,
        alert_id: AlertId,
        action_id: &str,
        asker: Asker<'_>,
    ) -> Result<ActionOutcome> {
        match self.check_action(alert_id, action_id, asker).await? {
            Ok(checked) => self.start_action(checked, asker).await,
            Err(why) => {
                tracing::info!(alert_id, action = action_id, user = asker.user, via = asker.via, why = %why, "action refused");
                Ok(ActionOutcome::Refused(why))
            }
        }
    }

    async fn start_action(&self, c: Checked, asker: Asker<'_>) -> Result<ActionOutcome> {
        let Checked {
            alert_id,
            action,
            label,
            args,
            address,
            runs,
            acknowledges,
        } = c;
        let action_id = action.id.as_str();
        let now = self.now();
        let arg_map: serde_json::Map<String, serde_json::Value> =
            args.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let run = NewNotification {
            // The number of runs before this one: two asking at once make
            // the same key, and one of them wins.
            idem_key: format!("action:{alert_id}:{action_id}:{runs}"),
            alert_id: Some(alert_id),
            message: Some(
                json!({ "action": action_id, "label": label, "args": arg_map, "via": asker.via })
                    .to_string(),
            ),
            user: asker.user.to_string(),
            contact_index: 0,
            channel: action.channel.clone(),
            address,
            kind: NotificationKind::Action,
            step: 0,
            loop_: 0,
            due_at: now,
        };
        let line = TimelineEntry::new(
            now,
            TimelineKind::Action,
            ran_line(&asker, &label, &action.channel),
        )
        .with_data(json!({
            "user": asker.user,
            "action": action_id,
            "args": arg_map,
            "via": asker.via,
            "channel": action.channel,
        }));
        let Some(id) = self
            .inner
            .store
            .enqueue_action(run, vec![line], now)
            .await?
        else {
            return Ok(ActionOutcome::Refused(format!(
                "\"{label}\" is already running on alert {alert_id}."
            )));
        };
        tracing::info!(
            alert_id,
            action = action_id,
            user = asker.user,
            via = asker.via,
            notification_id = id,
            "action queued"
        );
        self.inner.wake_dispatch.notify_one();
        if acknowledges {
            self.respond(alert_id, asker.user, Response::Accept).await?;
        }
        Ok(ActionOutcome::Started(format!(
            "Running \"{label}\" on alert {alert_id}."
        )))
    }
}

/// An action that may run now, rendered for its alert.
#[derive(Debug, Clone)]
pub struct Checked {
    pub alert_id: AlertId,
    pub action: Action,
    /// The label, rendered from the alert.
    pub label: String,
    args: Vec<(String, String)>,
    address: String,
    runs: usize,
    acknowledges: bool,
}

/// The timeline's line for an action asked: who, what, how they asked and
/// through which channel ("alice ran \"Drain web-3\" (by text) via drain").
fn ran_line(asker: &Asker<'_>, label: &str, channel: &str) -> String {
    if asker.user == asker.via {
        // The admin API asks as "api": "api ran … (by api)" would say it twice.
        format!("{} ran \"{label}\" via {channel}", asker.user)
    } else {
        format!(
            "{} ran \"{label}\" (by {}) via {channel}",
            asker.user, asker.via
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Asker, ran_line};

    #[test]
    fn the_run_line_names_who_asked_and_how_once() {
        let asker = |user, via| Asker {
            user,
            via,
            responder: false,
        };
        assert_eq!(
            ran_line(&asker("alice", "text"), "Drain web-3", "drain"),
            "alice ran \"Drain web-3\" (by text) via drain"
        );
        assert_eq!(
            ran_line(&asker("api", "api"), "Drain web-3", "drain"),
            "api ran \"Drain web-3\" via drain"
        );
    }
}
