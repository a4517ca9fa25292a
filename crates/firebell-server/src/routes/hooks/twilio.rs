//! Twilio's callbacks: `POST /hooks/twilio/{channel}/…`.
//!
//! - `voice/{nid}` (`?round=2`): the call was answered; speak the alert and
//!   gather one digit (1 take it, 2 pass). A machine answering, or no key
//!   twice (`noinput/{nid}`), counts as not reached.
//! - `gather/{nid}`: the key pressed.
//! - `status/{nid}`: a call's or a text's status; one timeline line per
//!   distinct status; busy/no-answer/failed/canceled calls, a call completed
//!   without an answer, and failed/undelivered texts count as not reached.
//! - `sms`: an inbound text: `42a`/`42d`/`42r`, `ack`, `resolve`.
//!
//! Every request must carry a valid `X-Twilio-Signature` (made with the
//! channel's auth token over `public_url` + the path and query as received +
//! the sorted POST parameters), else 403 and nothing changes. Each callback
//! acts once: a receipt is recorded first ([`Store::record_receipt`]), and a
//! repeat answers the same way without changing anything. "Not reached" is
//! recorded once per page (receipt `outcome:{nid}`), whichever callback
//! says it first; a key press records it too, so a call that ends after one
//! is not counted again.

use super::answers::{
    Taken, actor, engine_err, first, no_longer_needed, plain, redact_number, sms_reply, store_err,
    user_by_number,
};
use crate::Shared;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebell_core::alert::{Alert, AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::channels::{ChannelKind, TwilioSettings};
use firebell_core::config::Config;
use firebell_core::escalation::Response as Answer;
use firebell_core::notification::Notification;
use firebell_core::twilio::{self, Twiml};
use firebell_engine::actions::{ActionOutcome, Asker};
use firebell_store::Store;
use jiff::Timestamp;
use serde_json::json;

/// Seconds Twilio waits for a key.
const GATHER_TIMEOUT: u32 = 8;

/// A verified callback: its channel's settings and its POST parameters.
pub(super) struct Callback {
    settings: TwilioSettings,
    params: Vec<(String, String)>,
}

impl Callback {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn twiml(t: Twiml) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        t.render(),
    )
        .into_response()
}

/// Finds the channel and checks the signature; the error is the answer.
fn verify<S: Store>(
    state: &Shared<S>,
    channel: &str,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Callback, (StatusCode, &'static str)> {
    let config = state.engine.config();
    let settings = match config.channels.get(channel).map(|c| &c.kind) {
        Some(ChannelKind::Twilio(s)) => s.clone(),
        _ => {
            tracing::warn!(channel, "twilio callback for an unknown channel");
            return Err((StatusCode::NOT_FOUND, "no such twilio channel"));
        }
    };
    let body = body.map_err(|_| (StatusCode::BAD_REQUEST, "unreadable body"))?;
    let params: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let path = uri
        .0
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| uri.0.path());
    let url = format!("{}{path}", config.server.public_url);
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    match given {
        Some(sig) if twilio::verify_for(&settings, &url, &params, sig) => {
            Ok(Callback { settings, params })
        }
        Some(_) => {
            tracing::warn!(channel, path = ?uri.0.path(), "twilio callback with a wrong signature refused");
            Err((StatusCode::FORBIDDEN, "bad X-Twilio-Signature"))
        }
        None => {
            tracing::warn!(channel, path = ?uri.0.path(), "twilio callback without a signature refused");
            Err((StatusCode::FORBIDDEN, "missing X-Twilio-Signature"))
        }
    }
}

/// `POST /hooks/twilio/{channel}/{action}/{nid}`.
pub(crate) async fn call_hook<S: Store>(
    State(state): State<Shared<S>>,
    Path((channel, action, nid)): Path<(String, String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !matches!(
        action.as_str(),
        "voice" | "gather" | "noinput" | "status" | "inbound" | "answered" | "dial"
    ) {
        return plain(StatusCode::NOT_FOUND, "no such endpoint");
    }
    let cb = match verify(&state, &channel, &uri, &headers, body) {
        Ok(cb) => cb,
        Err((status, text)) => return plain(status, text),
    };
    let taken = Taken::default();
    // The on-call line: `{nid}` is the line's id.
    if matches!(action.as_str(), "inbound" | "answered" | "dial") {
        return match super::phone::handle(&state, &taken, &cb, &channel, &action, &nid, &uri).await
        {
            Ok(r) => r,
            Err(r) => {
                taken.release(&state).await;
                r
            }
        };
    }
    let page = match nid.parse::<i64>() {
        Ok(id) => state
            .engine
            .store()
            .get_notification(id)
            .await
            .map_err(store_err),
        Err(_) => Ok(None),
    };
    let page = match page {
        Ok(Some(n)) if n.channel == channel => Some(n),
        Ok(_) => None,
        Err(r) => return r,
    };
    let result = match (action.as_str(), page) {
        ("status", Some(n)) => status(&state, &taken, &cb, n).await,
        ("status", None) => {
            tracing::warn!(channel, notification = ?nid, "twilio status for a page Firebell does not know; ignored");
            Ok(twiml(Twiml::new()))
        }
        (_, None) => {
            tracing::warn!(channel, notification = ?nid, "twilio call for a page Firebell does not know; hanging up");
            Ok(twiml(
                Twiml::new()
                    .say("This call is not known to Firebell. Goodbye.")
                    .hangup(),
            ))
        }
        (_, Some(n)) => {
            let alert = match n.alert_id {
                Some(id) => state.engine.store().get_alert(id).await.map_err(store_err),
                None => Ok(None),
            };
            match alert {
                Err(r) => Err(r),
                Ok(None) => {
                    tracing::warn!(channel, notification = ?nid, "twilio call for a page about no alert; hanging up");
                    Ok(twiml(Twiml::new().say("Goodbye.").hangup()))
                }
                Ok(Some(alert)) => {
                    let round2 = uri.0.query().is_some_and(|q| {
                        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "round" && v == "2")
                    });
                    match action.as_str() {
                        "voice" => voice(&state, &taken, &cb, &channel, n, alert, round2).await,
                        "gather" => gather(&state, &taken, &cb, &channel, &uri, n, alert).await,
                        _ => noinput(&state, &taken, &cb, n).await,
                    }
                }
            }
        }
    };
    match result {
        Ok(r) => r,
        Err(r) => {
            taken.release(&state).await;
            r
        }
    }
}

fn hook_url(config: &Config, channel: &str, action: &str, nid: i64) -> String {
    format!(
        "{}/hooks/twilio/{channel}/{action}/{nid}",
        config.server.public_url
    )
}

/// "3 minutes", "2 hours 5 minutes", "less than a minute".
fn ago(since: Timestamp, now: Timestamp) -> String {
    let secs = now.duration_since(since).as_secs().max(0);
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    if mins == 0 {
        "less than a minute ago".to_string()
    } else if hours == 0 {
        format!("{} ago", plural(mins, "minute"))
    } else if days < 2 {
        match mins % 60 {
            0 => format!("{} ago", plural(hours, "hour")),
            m => format!("{} {} ago", plural(hours, "hour"), plural(m, "minute")),
        }
    } else {
        format!("{} ago", plural(days, "day"))
    }
}

fn service_name(config: &Config, alert: &Alert) -> String {
    config
        .services
        .get(&alert.service)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| alert.service.clone())
}

/// The call's menu: the alert, then 1 and 2, then each runbook action the
/// alert offers, by its label rendered from the alert.
fn prompt(config: &Config, alert: &Alert, now: Timestamp) -> String {
    let mut text = format!(
        "Firebell alert for service {}: {}. Triggered {}. Press 1 to take it, 2 to pass.",
        service_name(config, alert),
        alert.summary.trim_end_matches('.'),
        ago(alert.created_at, now)
    );
    for a in config.actions.for_alert(alert) {
        text.push_str(&format!(
            " Press {} to {}.",
            a.key,
            a.label_for(alert).trim_end_matches('.')
        ));
    }
    text
}

/// The details heard after pressing 1 and sent by text.
fn details(config: &Config, alert: &Alert, now: Timestamp) -> String {
    format!(
        "{}. Service {}, severity {}, source {}, triggered {}.",
        alert.summary.trim_end_matches('.'),
        service_name(config, alert),
        alert.severity.as_str(),
        alert.source,
        ago(alert.created_at, now)
    )
}

fn call_sid(cb: &Callback) -> &str {
    cb.get("CallSid").unwrap_or("")
}

/// The person was not reached: once per page, with a line saying why.
async fn count_not_reached<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    n: &Notification,
    why: String,
) -> Result<(), Response> {
    if !first(state, taken, format!("outcome:{}", n.id)).await? {
        return Ok(());
    }
    if let Some(alert_id) = n.alert_id {
        let line = TimelineEntry::new(state.engine.now(), TimelineKind::Failed, why)
            .with_data(json!({ "notification_id": n.id, "user": n.user, "channel": n.channel }));
        state
            .engine
            .note(alert_id, vec![line])
            .await
            .map_err(engine_err)?;
    }
    state.engine.not_reached(n).await.map_err(engine_err)
}

async fn voice<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    cb: &Callback,
    channel: &str,
    n: Notification,
    alert: Alert,
    round2: bool,
) -> Result<Response, Response> {
    let config = state.engine.config();
    if let Some(by) = cb
        .get("AnsweredBy")
        .filter(|a| twilio::answered_by_machine(a))
    {
        count_not_reached(
            state,
            taken,
            &n,
            format!(
                "call to {}: answered by a machine ({by}); not reached",
                n.user
            ),
        )
        .await?;
        let mut t = Twiml::new();
        if let Some(text) = &cb.settings.voicemail {
            t = t.say(text);
        }
        return Ok(twiml(t.hangup()));
    }
    if alert.status != AlertStatus::Triggered {
        let said = no_longer_needed(state, &alert).await?;
        return Ok(twiml(
            Twiml::new()
                .say(&format!("{said} Nothing to do. Goodbye."))
                .hangup(),
        ));
    }
    let next = if round2 {
        hook_url(&config, channel, "noinput", n.id)
    } else {
        format!("{}?round=2", hook_url(&config, channel, "voice", n.id))
    };
    Ok(twiml(
        Twiml::new()
            .gather_digit(
                &hook_url(&config, channel, "gather", n.id),
                GATHER_TIMEOUT,
                &prompt(&config, &alert, state.engine.now()),
            )
            .redirect(&next),
    ))
}

async fn gather<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    cb: &Callback,
    channel: &str,
    uri: &OriginalUri,
    n: Notification,
    alert: Alert,
) -> Result<Response, Response> {
    let config = state.engine.config();
    let now = state.engine.now();
    let digits = cb.get("Digits").unwrap_or("").trim();
    let answer = match digits {
        "1" => Answer::Accept,
        "2" => Answer::Decline,
        d if d.len() == 1
            && firebell_core::actions::KEYS.contains(d)
            && config
                .actions
                .by_key(&alert, d.chars().next().unwrap_or('0'))
                .is_some() =>
        {
            let confirmed = uri.0.query().is_some_and(|q| {
                form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "confirm" && v == d)
            });
            return call_action(state, taken, cb, channel, &n, &alert, d, confirmed).await;
        }
        _ => {
            return Ok(twiml(
                Twiml::new()
                    .say("Sorry, that is not an option.")
                    .gather_digit(
                        &hook_url(&config, channel, "gather", n.id),
                        GATHER_TIMEOUT,
                        &prompt(&config, &alert, now),
                    )
                    .redirect(&hook_url(&config, channel, "noinput", n.id)),
            ));
        }
    };
    let fresh = first(state, taken, format!("gather:{}:{}", call_sid(cb), n.id)).await?;
    let taken_by_them = || async {
        actor(state, alert.id, TimelineKind::Acknowledged)
            .await
            .map(|who| who.as_deref() == Some(n.user.as_str()))
    };
    // A repeat answers as the first did; it changes nothing.
    let acts = fresh && alert.status == AlertStatus::Triggered;
    let ok = match answer {
        Answer::Accept => {
            alert.status == AlertStatus::Triggered
                || (alert.status == AlertStatus::Acknowledged && taken_by_them().await?)
        }
        _ => alert.status == AlertStatus::Triggered || !fresh,
    };
    if !ok {
        let said = no_longer_needed(state, &alert).await?;
        return Ok(twiml(
            Twiml::new().say(&format!("{said} Goodbye.")).hangup(),
        ));
    }
    if acts {
        // The person answered: a call ending now is not "not reached".
        first(state, taken, format!("outcome:{}", n.id)).await?;
        state
            .engine
            .respond(alert.id, &n.user, answer)
            .await
            .map_err(engine_err)?;
    }
    match answer {
        Answer::Accept => {
            let text = details(&config, &alert, now);
            if acts {
                let sms = format!("Alert {} taken by you: {text}", alert.id);
                state
                    .engine
                    .send_details(&n, &alert, sms)
                    .await
                    .map_err(engine_err)?;
            }
            Ok(twiml(
                Twiml::new()
                    .say(&format!(
                        "You have taken it. {text} The details also come to you by text. Goodbye."
                    ))
                    .hangup(),
            ))
        }
        _ => Ok(twiml(Twiml::new().say("Passing it on. Goodbye.").hangup())),
    }
}

/// A key of a runbook action pressed on a call. With `confirm = true` the
/// first press asks for the same key again (a gather whose URL says
/// `?confirm=KEY`); then the action runs, once per call and page, and the
/// menu is said again (the alert is still to be taken).
#[allow(clippy::too_many_arguments)]
async fn call_action<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    cb: &Callback,
    channel: &str,
    n: &Notification,
    alert: &Alert,
    key: &str,
    confirmed: bool,
) -> Result<Response, Response> {
    let config = state.engine.config();
    let now = state.engine.now();
    let gather = hook_url(&config, channel, "gather", n.id);
    let menu = |t: Twiml| {
        t.gather_digit(&gather, GATHER_TIMEOUT, &prompt(&config, alert, now))
            .redirect(&hook_url(&config, channel, "noinput", n.id))
    };
    let Some(action) = config
        .actions
        .by_key(alert, key.chars().next().unwrap_or('0'))
    else {
        return Ok(twiml(menu(
            Twiml::new().say("Sorry, that is not an option."),
        )));
    };
    let label = action.label_for(alert);
    let asker = Asker {
        user: &n.user,
        via: "call",
        responder: false,
    };
    if action.confirm && !confirmed {
        if let Err(why) = state
            .engine
            .check_action(alert.id, &action.id, asker)
            .await
            .map_err(engine_err)?
        {
            return Ok(twiml(menu(Twiml::new().say(&why))));
        }
        return Ok(twiml(
            Twiml::new()
                .gather_digit(
                    &format!("{gather}?confirm={key}"),
                    GATHER_TIMEOUT,
                    &format!(
                        "You chose: {}. Press {key} again to confirm.",
                        label.trim_end_matches('.')
                    ),
                )
                .redirect(&hook_url(&config, channel, "noinput", n.id)),
        ));
    }
    // Twilio repeating this callback runs nothing more.
    if !first(
        state,
        taken,
        format!("action:{}:{}:{key}", call_sid(cb), n.id),
    )
    .await?
    {
        let said = format!("Running \"{label}\" on alert {}.", alert.id);
        return Ok(twiml(menu(Twiml::new().say(&said))));
    }
    // The person answered: a call ending now is not "not reached".
    first(state, taken, format!("outcome:{}", n.id)).await?;
    let outcome = state
        .engine
        .run_action(alert.id, &action.id, asker)
        .await
        .map_err(engine_err)?;
    if let ActionOutcome::Refused(_) = outcome {
        // Nothing happened: a repeat is told the same again.
        taken.release(state).await;
    }
    Ok(twiml(menu(Twiml::new().say(outcome.message()))))
}

async fn noinput<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    cb: &Callback,
    n: Notification,
) -> Result<Response, Response> {
    if first(state, taken, format!("noinput:{}:{}", call_sid(cb), n.id)).await? {
        count_not_reached(
            state,
            taken,
            &n,
            format!("call to {}: no key pressed; not reached", n.user),
        )
        .await?;
    }
    Ok(twiml(Twiml::new().say("Goodbye.").hangup()))
}

async fn status<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    cb: &Callback,
    n: Notification,
) -> Result<Response, Response> {
    let (what, sid, status) = match (cb.get("CallSid"), cb.get("CallStatus")) {
        (Some(sid), Some(st)) if cb.get("MessageSid").is_none() => ("call", sid, st),
        _ => (
            "text",
            cb.get("MessageSid").or(cb.get("SmsSid")).unwrap_or(""),
            cb.get("MessageStatus")
                .or(cb.get("SmsStatus"))
                .unwrap_or(""),
        ),
    };
    if status.is_empty() {
        tracing::warn!(
            notification = n.id,
            "twilio status callback without a status; ignored"
        );
        return Ok(twiml(Twiml::new()));
    }
    if !first(state, taken, format!("status:{sid}:{status}")).await? {
        return Ok(twiml(Twiml::new()));
    }
    let error = cb.get("ErrorCode").filter(|c| !c.is_empty());
    let mut message = format!("{what} to {}: {status}", n.user);
    if let Some(code) = error {
        message.push_str(&format!(" (Twilio error {code})"));
    }
    let failed = match what {
        "call" => twilio::call_not_reached(status),
        _ => twilio::message_not_delivered(status),
    };
    tracing::info!(notification = n.id, user = %n.user, what, status, "twilio status");
    if let Some(alert_id) = n.alert_id {
        let kind = if failed {
            TimelineKind::Failed
        } else {
            TimelineKind::Delivered
        };
        let line = TimelineEntry::new(state.engine.now(), kind, message.clone()).with_data(
            json!({ "notification_id": n.id, "user": n.user, "channel": n.channel, "status": status, "error_code": error }),
        );
        state
            .engine
            .note(alert_id, vec![line])
            .await
            .map_err(engine_err)?;
    }
    if failed {
        count_not_reached(state, taken, &n, format!("{message}; not reached")).await?;
    } else if what == "call" && status == "completed" {
        count_not_reached(
            state,
            taken,
            &n,
            format!("call to {}: ended without a key press; not reached", n.user),
        )
        .await?;
    }
    Ok(twiml(Twiml::new()))
}

/// `POST /hooks/twilio/{channel}/sms`: an inbound text.
pub(crate) async fn sms_hook<S: Store>(
    State(state): State<Shared<S>>,
    Path(channel): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let cb = match verify(&state, &channel, &uri, &headers, body) {
        Ok(cb) => cb,
        Err((status, text)) => return plain(status, text),
    };
    let config = state.engine.config();
    let from = cb.get("From").unwrap_or("");
    let Some(user) = user_by_number(&config, from) else {
        tracing::warn!(channel, from = %redact_number(from), "text from a number that is no user's; ignored");
        return twiml(Twiml::new());
    };
    let taken = Taken::default();
    let fresh = match cb.get("MessageSid").or(cb.get("SmsSid")) {
        Some(sid) => match first(&state, &taken, format!("sms:{sid}")).await {
            Ok(f) => f,
            Err(r) => return r,
        },
        None => true,
    };
    match sms_reply(&state, &user, cb.get("Body").unwrap_or(""), fresh).await {
        Ok(text) => twiml(Twiml::new().message(&text)),
        Err(r) => {
            taken.release(&state).await;
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_long_ago_reads_well() {
        let t: Timestamp = "2026-03-01T09:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let at = |secs: i64| t + jiff::SignedDuration::from_secs(secs);
        assert_eq!(ago(t, at(30)), "less than a minute ago");
        assert_eq!(ago(t, at(60)), "1 minute ago");
        assert_eq!(ago(t, at(3 * 60 + 59)), "3 minutes ago");
        assert_eq!(ago(t, at(3600)), "1 hour ago");
        assert_eq!(ago(t, at(2 * 3600 + 5 * 60)), "2 hours 5 minutes ago");
        assert_eq!(ago(t, at(3 * 86_400)), "3 days ago");
        // A clock behind the alert says "less than a minute", not a negative.
        assert_eq!(ago(at(10), t), "less than a minute ago");
    }
}
