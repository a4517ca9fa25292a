//! What a person's answer through a provider means, whichever provider
//! carried it (Twilio, or an http_sms gateway): the reply codes of a text,
//! who already took an alert, and the receipts that make a provider's
//! repeated callback act once.

use crate::Shared;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebell_core::alert::{Alert, AlertId, AlertStatus, TimelineKind};
use firebell_core::channels::sms_inbound::number_digits;
use firebell_core::config::{Config, Contact};
use firebell_core::escalation::Response as Answer;
use firebell_core::notification::NotificationKind;
use firebell_core::twilio::{self, Reply};
use firebell_engine::EngineError;
use firebell_engine::actions::{ActionOutcome, Asker};
use firebell_store::Store;

pub(super) fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

pub(super) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "provider callback failed");
    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

pub(super) fn store_err(e: firebell_store::StoreError) -> Response {
    internal(e)
}

pub(super) fn engine_err(e: EngineError) -> Response {
    internal(e)
}

/// Who acknowledged (or resolved) an alert, from its timeline.
pub(super) async fn actor<S: Store>(
    state: &Shared<S>,
    alert_id: AlertId,
    kind: TimelineKind,
) -> Result<Option<String>, Response> {
    let lines = state
        .engine
        .store()
        .timeline(alert_id)
        .await
        .map_err(store_err)?;
    Ok(lines
        .iter()
        .rev()
        .find(|l| l.kind == kind)
        .and_then(|l| l.data.get("user"))
        .and_then(|u| u.as_str())
        .map(str::to_string))
}

/// What to say about an alert that no longer needs anyone.
pub(super) async fn no_longer_needed<S: Store>(
    state: &Shared<S>,
    alert: &Alert,
) -> Result<String, Response> {
    Ok(match alert.status {
        AlertStatus::Resolved => format!("Alert {} is already resolved.", alert.id),
        _ => match actor(state, alert.id, TimelineKind::Acknowledged).await? {
            Some(who) => format!("Alert {} is already taken by {who}.", alert.id),
            None => format!("Alert {} is already acknowledged.", alert.id),
        },
    })
}

/// The receipts one request recorded: forgotten again when the request
/// fails after them, so the provider's retry acts.
#[derive(Default)]
pub(super) struct Taken(std::sync::Mutex<Vec<String>>);

impl Taken {
    pub(super) async fn release<S: Store>(&self, state: &Shared<S>) {
        let keys = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        for key in keys {
            if let Err(e) = state.engine.store().forget_receipt(key).await {
                tracing::error!(error = %e, "could not forget a twilio callback receipt");
            }
        }
    }
}

/// Records a receipt; true the first time.
pub(super) async fn first<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    key: String,
) -> Result<bool, Response> {
    let fresh = state
        .engine
        .store()
        .record_receipt(key.clone(), state.engine.now())
        .await
        .map_err(store_err)?;
    if fresh {
        taken.0.lock().unwrap_or_else(|p| p.into_inner()).push(key);
    }
    Ok(fresh)
}

/// The user whose sms or voice contact has this number.
/// Numbers compare as digits: gateways send `447700900123` for
/// `+447700900123`.
pub(super) fn user_by_number(config: &Config, number: &str) -> Option<String> {
    let wanted = number_digits(number);
    if wanted.is_empty() {
        return None;
    }
    config.users.values().find_map(|u| {
        u.contacts
            .iter()
            .any(|c| match c {
                Contact::Sms { number: n, .. } | Contact::Voice { number: n, .. } => {
                    number_digits(n) == wanted
                }
                _ => false,
            })
            .then(|| u.id.to_string())
    })
}

/// The last four digits, for logs.
pub(super) fn redact_number(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("…{tail}")
}

/// Acts on a reply (when `acts`) and says what happened. A repeat
/// (`acts` false) describes the same outcome without changing anything.
pub(super) async fn sms_reply<S: Store>(
    state: &Shared<S>,
    user: &str,
    body: &str,
    acts: bool,
) -> Result<String, Response> {
    let store = state.engine.store();
    let (alert_id, answer) = match twilio::parse_reply(body) {
        Reply::Help => return Ok(twilio::help_text()),
        Reply::Action { alert_id, key } => {
            return action_reply(state, user, alert_id, key, "text", acts).await;
        }
        Reply::Code { alert_id, response } => {
            let paged = store
                .notifications(alert_id)
                .await
                .map_err(store_err)?
                .iter()
                .any(|n| n.user == user && n.kind == NotificationKind::Notify);
            if !paged {
                return Ok(format!(
                    "Alert {alert_id} is not one you were paged for. {}",
                    twilio::help_text()
                ));
            }
            (alert_id, response)
        }
        Reply::Latest(response) => match store
            .latest_open_alert_paged(user.to_string())
            .await
            .map_err(store_err)?
        {
            Some(id) => (id, response),
            None => return Ok("No open alert was paged to you.".to_string()),
        },
    };
    let Some(alert) = store.get_alert(alert_id).await.map_err(store_err)? else {
        return Ok(format!("There is no alert {alert_id}."));
    };
    let summary = firebell_core::render::one_line(&alert.summary);
    match (answer, alert.status) {
        (Answer::Accept, AlertStatus::Triggered) => {
            if acts {
                state
                    .engine
                    .respond(alert_id, user, Answer::Accept)
                    .await
                    .map_err(engine_err)?;
            }
            Ok(format!("You have taken alert {alert_id}: {summary}"))
        }
        (Answer::Accept, AlertStatus::Acknowledged)
            if !acts
                && actor(state, alert_id, TimelineKind::Acknowledged)
                    .await?
                    .as_deref()
                    == Some(user) =>
        {
            Ok(format!("You have taken alert {alert_id}: {summary}"))
        }
        (Answer::Resolve, AlertStatus::Resolved)
            if !acts
                && actor(state, alert_id, TimelineKind::Resolved)
                    .await?
                    .as_deref()
                    == Some(user) =>
        {
            Ok(format!("Alert {alert_id} is resolved."))
        }
        (Answer::Decline, AlertStatus::Triggered) => {
            if acts {
                state
                    .engine
                    .respond(alert_id, user, Answer::Decline)
                    .await
                    .map_err(engine_err)?;
            }
            Ok(format!("Passing alert {alert_id} on."))
        }
        (Answer::Resolve, AlertStatus::Triggered | AlertStatus::Acknowledged) => {
            if acts {
                state
                    .engine
                    .respond(alert_id, user, Answer::Resolve)
                    .await
                    .map_err(engine_err)?;
            }
            Ok(format!("Alert {alert_id} is resolved."))
        }
        _ => no_longer_needed(state, &alert).await,
    }
}

/// Seconds of the window a confirmation must come in (the ask's window or
/// the next: 10 to 20 minutes).
const CONFIRM_WINDOW_SECS: i64 = 600;

/// What asking for an action by key came to.
pub(super) enum Asked {
    /// It needs a second press or reply first; the action's label.
    Confirm(String),
    /// It was started or refused; what to tell the person.
    Done(ActionOutcome),
}

/// A person asked for the action on `key` of alert `alert_id` (a text
/// `42x3`, a key press on a call). An action with `confirm = true` runs at
/// the second ask; the first is remembered (a receipt) and answered with
/// the request to confirm. `acts` false (a provider's repeat of the same
/// request) changes nothing.
pub(super) async fn ask_action<S: Store>(
    state: &Shared<S>,
    user: &str,
    alert_id: AlertId,
    key: char,
    via: &str,
    acts: bool,
) -> Result<Asked, Response> {
    let engine = &state.engine;
    let Some((action, label)) = engine
        .action_on_key(alert_id, key)
        .await
        .map_err(engine_err)?
    else {
        return Ok(Asked::Done(ActionOutcome::Refused(format!(
            "Alert {alert_id} has no action on {key}."
        ))));
    };
    let asker = Asker {
        user,
        via,
        responder: false,
    };
    if let Err(why) = engine
        .check_action(alert_id, &action.id, asker)
        .await
        .map_err(engine_err)?
    {
        return Ok(Asked::Done(ActionOutcome::Refused(why)));
    }
    if !acts {
        return Ok(Asked::Confirm(label));
    }
    // The first ask is a receipt in this 10-minute window; a second ask in
    // it or the next confirms.
    let window = engine.now().as_second().div_euclid(CONFIRM_WINDOW_SECS);
    let pending = |w: i64| format!("confirm:{alert_id}:{}:{user}:{w}", action.id);
    if action.confirm {
        let store = engine.store();
        let now = engine.now();
        let fresh = store
            .record_receipt(pending(window), now)
            .await
            .map_err(store_err)?;
        let earlier = !store
            .record_receipt(pending(window - 1), now)
            .await
            .map_err(store_err)?;
        if !earlier {
            store
                .forget_receipt(pending(window - 1))
                .await
                .map_err(store_err)?;
        }
        if fresh && !earlier {
            return Ok(Asked::Confirm(label));
        }
    }
    let outcome = engine
        .run_action(alert_id, &action.id, asker)
        .await
        .map_err(engine_err)?;
    if action.confirm {
        // The next run (of a repeatable action) is confirmed again.
        for w in [window, window - 1] {
            engine
                .store()
                .forget_receipt(pending(w))
                .await
                .map_err(store_err)?;
        }
    }
    Ok(Asked::Done(outcome))
}

async fn action_reply<S: Store>(
    state: &Shared<S>,
    user: &str,
    alert_id: AlertId,
    key: char,
    via: &str,
    acts: bool,
) -> Result<String, Response> {
    Ok(
        match ask_action(state, user, alert_id, key, via, acts).await? {
            Asked::Confirm(label) => {
                format!("Reply {alert_id}x{key} again to confirm: {label}.")
            }
            Asked::Done(outcome) => outcome.message().to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_logs_keep_four_digits() {
        assert_eq!(redact_number("+447700900123"), "…0123");
        assert_eq!(redact_number("12"), "…12");
        assert_eq!(redact_number(""), "…");
    }
}
