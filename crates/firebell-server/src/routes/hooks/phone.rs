//! The on-call line (`[[phone_lines]]`): Twilio's voice webhook of the
//! line's number is `POST /hooks/twilio/{channel}/inbound/{line}`.
//!
//! - `inbound/{line}`: a call comes in. The caller hears the greeting; an
//!   alert opens on the line's service ("Inbound call from +44…", recorded
//!   without paging: the call itself rings people); the call is put through
//!   (`<Dial>`) to the people of the first step of the service's policy who
//!   can take a call now, ringing for the step's wait (5 s to 10 min).
//! - `answered/{line}?alert=&user=`: Twilio asks this (`<Number url>`) when
//!   one of them picks up: the alert is acknowledged by that person and the
//!   timeline says so; they hear which line and alert it is, then the caller.
//! - `dial/{line}?alert=&step=`: the `<Dial>` ended. Put through: the
//!   timeline says for how long, and the call ends. Not answered (busy, no
//!   answer, failed): the next step's people are rung, as the escalation
//!   would page them; after the last step the caller is told the alert is
//!   open.
//!
//! Signed like every Twilio callback (the caller of `twilio.rs` checked it);
//! each callback acts once (receipts); callers need not be users, and each
//! may call a line at most `calls_per_caller` times per window (then hears
//! so and is hung up on, and nothing opens).

use super::answers::{Taken, engine_err, first, redact_number};
use super::twilio::{Callback, twiml};
use crate::Shared;
use axum::extract::OriginalUri;
use axum::response::Response;
use firebell_core::alert::AlertId;
use firebell_core::config::{Config, PhoneLine};
use firebell_core::escalation::Response as Answer;
use firebell_core::twilio::Twiml;
use firebell_engine::phone_lines::Ring;
use firebell_store::Store;
use jiff::Timestamp;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;

/// The most (line, caller) pairs remembered for rate limiting.
const MAX_CALLERS: usize = 10_000;

/// Recent calls per (line, caller), on this node.
#[derive(Default)]
pub struct CallerLimits(Mutex<HashMap<(String, String), Vec<Timestamp>>>);

impl CallerLimits {
    /// Counts a call; false when the caller is over the line's limit.
    fn take(&self, line: &PhoneLine, caller: &str, now: Timestamp) -> bool {
        let window = line.calls_per_caller.per;
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_CALLERS {
            map.retain(|_, calls| calls.iter().any(|t| now.duration_since(*t) < window));
        }
        let calls = map
            .entry((line.id.clone(), caller.to_string()))
            .or_default();
        calls.retain(|t| now.duration_since(*t) < window);
        if calls.len() >= line.calls_per_caller.events as usize {
            return false;
        }
        calls.push(now);
        true
    }
}

fn hook(config: &Config, line: &PhoneLine, what: &str, query: &str) -> String {
    format!(
        "{}/hooks/twilio/{}/{what}/{}?{query}",
        config.server.public_url, line.channel, line.id
    )
}

fn query_of(uri: &OriginalUri) -> HashMap<String, String> {
    uri.0
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Seconds Twilio rings: the step's wait, within Twilio's 5 to 600.
fn ring_secs(r: &Ring) -> u32 {
    r.wait.as_secs().clamp(5, 600) as u32
}

fn names(r: &Ring) -> String {
    r.people
        .iter()
        .map(|(u, _)| u.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `<Dial>` for one step.
fn dial(t: Twiml, config: &Config, line: &PhoneLine, alert: AlertId, r: &Ring) -> Twiml {
    let numbers: Vec<(String, String)> = r
        .people
        .iter()
        .map(|(user, number)| {
            (
                number.clone(),
                hook(
                    config,
                    line,
                    "answered",
                    &format!("alert={alert}&user={user}"),
                ),
            )
        })
        .collect();
    t.dial(
        &hook(
            config,
            line,
            "dial",
            &format!("alert={alert}&step={}", r.step),
        ),
        ring_secs(r),
        &line.number,
        &numbers,
    )
}

/// Handles `inbound`, `answered` and `dial` for line `line_id` of `channel`.
pub(super) async fn handle<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    cb: &Callback,
    channel: &str,
    action: &str,
    line_id: &str,
    uri: &OriginalUri,
) -> Result<Response, Response> {
    let config = state.engine.config();
    let Some(line) = config
        .phone_lines
        .get(line_id)
        .filter(|l| l.channel == channel)
    else {
        tracing::warn!(
            channel,
            line = line_id,
            "call to a phone line Firebell does not know"
        );
        return Ok(twiml(
            Twiml::new()
                .say("This number is not in service. Goodbye.")
                .hangup(),
        ));
    };
    let q = query_of(uri);
    let alert = q.get("alert").and_then(|a| a.parse::<AlertId>().ok());
    match (action, alert) {
        ("inbound", _) => inbound(state, taken, cb, &config, line).await,
        ("answered", Some(alert)) => {
            let user = q.get("user").cloned().unwrap_or_default();
            answered(state, taken, cb, line, alert, &user).await
        }
        ("dial", Some(alert)) => {
            let step = q.get("step").and_then(|s| s.parse().ok()).unwrap_or(0);
            dialled(state, taken, cb, &config, line, alert, step).await
        }
        _ => Ok(twiml(Twiml::new().hangup())),
    }
}

async fn inbound<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    cb: &Callback,
    config: &Config,
    line: &PhoneLine,
) -> Result<Response, Response> {
    let caller = cb.get("From").unwrap_or("an unknown number").to_string();
    let sid = cb.get("CallSid").unwrap_or("").to_string();
    let fresh = first(state, taken, format!("line:{sid}")).await?;
    if fresh && !state.caller_limits.take(line, &caller, state.engine.now()) {
        tracing::warn!(line = %line.id, caller = %redact_number(&caller), "on-call line: too many calls from one caller");
        return Ok(twiml(
            Twiml::new()
                .say("You have called this line too often. Please try again later. Goodbye.")
                .hangup(),
        ));
    }
    let alert = state
        .engine
        .open_call_alert(line, &caller, &sid)
        .await
        .map_err(engine_err)?;
    let ring = state.engine.ring_from(line, 0).await.map_err(engine_err)?;
    let greeting = Twiml::new().say(&line.greeting);
    let Some(ring) = ring else {
        if fresh {
            state
                .engine
                .note_call(
                    alert,
                    format!("call from {caller}: nobody can take a call now"),
                    json!({ "caller": caller, "line": line.id }),
                )
                .await
                .map_err(engine_err)?;
        }
        return Ok(twiml(
            greeting
                .say(&format!(
                    "Nobody can take your call now. Your call is recorded as alert {alert}. Goodbye."
                ))
                .hangup(),
        ));
    };
    if fresh {
        state
            .engine
            .note_call(
                alert,
                format!(
                    "call from {caller} on the {} line: ringing {} (step {}) for {} s",
                    line.id,
                    names(&ring),
                    ring.step + 1,
                    ring_secs(&ring)
                ),
                json!({ "caller": caller, "line": line.id, "step": ring.step + 1, "ringing": names(&ring) }),
            )
            .await
            .map_err(engine_err)?;
    }
    Ok(twiml(dial(
        greeting.say("Connecting you to the person on call."),
        config,
        line,
        alert,
        &ring,
    )))
}

/// Someone picked up: they take the alert, and hear what the call is.
async fn answered<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    cb: &Callback,
    line: &PhoneLine,
    alert: AlertId,
    user: &str,
) -> Result<Response, Response> {
    let config = state.engine.config();
    if !config.users.contains_key(user) {
        return Ok(twiml(Twiml::new()));
    }
    let sid = cb.get("CallSid").unwrap_or("");
    if first(state, taken, format!("line-answered:{sid}")).await? {
        state
            .engine
            .note_call(
                alert,
                format!("{user} answered the call on the {} line", line.id),
                json!({ "user": user, "line": line.id }),
            )
            .await
            .map_err(engine_err)?;
        match state.engine.respond(alert, user, Answer::Accept).await {
            Ok(_) | Err(firebell_engine::EngineError::Conflict(_)) => {}
            Err(e) => return Err(engine_err(e)),
        }
    }
    Ok(twiml(Twiml::new().say(&format!(
        "A call on the {} on-call line, alert {alert}. Connecting you now.",
        line.id
    ))))
}

/// The `<Dial>` of step `step` ended.
async fn dialled<S: Store>(
    state: &Shared<S>,
    taken: &Taken,
    cb: &Callback,
    config: &Config,
    line: &PhoneLine,
    alert: AlertId,
    step: usize,
) -> Result<Response, Response> {
    let status = cb.get("DialCallStatus").unwrap_or("").to_string();
    let sid = cb.get("CallSid").unwrap_or("");
    let fresh = first(state, taken, format!("line-dial:{sid}:{step}")).await?;
    if status == "completed" || status == "answered" {
        if fresh {
            let secs = cb.get("DialCallDuration").unwrap_or("0");
            state
                .engine
                .note_call(
                    alert,
                    format!(
                        "the call on the {} line was put through and lasted {secs} s",
                        line.id
                    ),
                    json!({ "line": line.id, "duration_secs": secs.parse::<u64>().ok() }),
                )
                .await
                .map_err(engine_err)?;
        }
        return Ok(twiml(Twiml::new().hangup()));
    }
    let next = state
        .engine
        .ring_from(line, step + 1)
        .await
        .map_err(engine_err)?;
    let status = if status.is_empty() {
        "no answer".to_string()
    } else {
        status
    };
    if fresh {
        let then = match &next {
            Some(r) => format!("; ringing {} (step {})", names(r), r.step + 1),
            None => "; nobody else to ring".to_string(),
        };
        state
            .engine
            .note_call(
                alert,
                format!("step {} did not take the call ({status}){then}", step + 1),
                json!({ "line": line.id, "step": step + 1, "status": status }),
            )
            .await
            .map_err(engine_err)?;
    }
    Ok(twiml(match next {
        Some(r) => dial(
            Twiml::new().say("Nobody answered. Trying the next person."),
            config,
            line,
            alert,
            &r,
        ),
        None => Twiml::new()
            .say(&format!(
                "Nobody could take your call. It is recorded as alert {alert}. Goodbye."
            ))
            .hangup(),
    }))
}
