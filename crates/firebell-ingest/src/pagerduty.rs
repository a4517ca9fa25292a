//! PagerDuty Events API v2 (`POST /v2/enqueue`), so any tool that can page
//! PagerDuty can page Firebell by changing one URL. The integration key is the
//! `routing_key` in the body.
//!
//! Mapping: `payload.summary/source/severity` → the event's fields;
//! `payload.component/group/class` → labels of those names;
//! `payload.custom_details` → details (a non-object value is kept under
//! `details.custom_details`); `links`, `images`, `client`, `client_url` and
//! `payload.timestamp` → details of those names.

use crate::IngestError;
use firebell_core::change::NewChange;
use firebell_core::event::{
    self, DedupKey, Event, EventAction, FieldError, MAX_SOURCE_CHARS, MAX_SUMMARY_CHARS, Severity,
};
use jiff::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// An enqueue request, authenticated by its routing key.
#[derive(Debug)]
pub struct Enqueue {
    pub routing_key: String,
    pub event: Event,
}

/// Why PagerDuty would refuse the event: each message is one of the
/// `errors` strings of PagerDuty's `400 invalid event` answer.
fn invalid(errors: Vec<String>) -> IngestError {
    IngestError::Invalid(
        errors
            .into_iter()
            .map(|m| FieldError::new("event", m))
            .collect(),
    )
}

const TOP: [&str; 8] = [
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "images",
    "links",
    "client",
    "client_url",
];

fn text<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<&'a str> {
    match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            errors.push(format!("'{path}' must be a string"));
            None
        }
    }
}

/// PagerDuty's length limits on `payload.summary` and `payload.source`.
fn check_lengths(summary: &str, source: &str, errors: &mut Vec<String>) {
    for (field, value, max) in [
        ("payload.summary", summary, MAX_SUMMARY_CHARS),
        ("payload.source", source, MAX_SOURCE_CHARS),
    ] {
        if let Err(e) = event::check_text(field, value, max) {
            errors.push(format!("'{}' {}", e.field, e.message));
        }
    }
}

/// `payload.custom_details` (a non-object kept under `custom_details`),
/// with `links` and `images` beside them.
fn details_of(
    obj: &Map<String, Value>,
    payload: &Map<String, Value>,
    errors: &mut Vec<String>,
) -> Map<String, Value> {
    let mut details = Map::new();
    match payload.get("custom_details") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => details.extend(m.clone()),
        Some(other) => {
            details.insert("custom_details".into(), other.clone());
        }
    }
    for name in ["links", "images"] {
        match obj.get(name) {
            None | Some(Value::Null) => {}
            Some(v @ Value::Array(_)) => {
                details.insert(name.into(), v.clone());
            }
            Some(_) => errors.push(format!("'{name}' must be an array")),
        }
    }
    details
}

/// Reads the routing key only, so a request can be authenticated before its
/// event is judged.
pub fn routing_key(body: &Value) -> Option<&str> {
    body.get("routing_key").and_then(Value::as_str)
}

/// Parses an enqueue body. `service` is the service its routing key opened.
pub fn parse(body: &Value, service: &str, now: Timestamp) -> Result<Enqueue, IngestError> {
    let mut errors = Vec::new();
    let Value::Object(obj) = body else {
        return Err(invalid(vec!["Event object must be a JSON object".into()]));
    };
    for key in obj.keys() {
        if !TOP.contains(&key.as_str()) {
            errors.push(format!("'{key}' is not a recognized field"));
        }
    }
    let routing_key = text(obj, "routing_key", "routing_key", &mut errors)
        .unwrap_or_default()
        .to_string();
    if routing_key.is_empty() {
        errors.push("'routing_key' is missing or blank".into());
    }
    let action = match text(obj, "event_action", "event_action", &mut errors) {
        Some(a) => match a.parse::<EventAction>() {
            Ok(a) => Some(a),
            Err(_) => {
                errors.push(format!(
                    "'event_action' must be one of trigger, acknowledge or resolve, not {a:?}"
                ));
                None
            }
        },
        None => {
            errors.push("'event_action' is missing or blank".into());
            None
        }
    };
    let dedup = text(obj, "dedup_key", "dedup_key", &mut errors).map(str::to_string);

    let empty = Map::new();
    let payload = match obj.get("payload") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => &empty,
        Some(_) => {
            errors.push("'payload' must be an object".into());
            &empty
        }
    };
    let trigger = action == Some(EventAction::Trigger);
    let summary = text(payload, "summary", "payload.summary", &mut errors).unwrap_or("");
    let source = text(payload, "source", "payload.source", &mut errors).unwrap_or("");
    let severity_text = text(payload, "severity", "payload.severity", &mut errors);
    if trigger {
        if obj.get("payload").is_none() {
            errors.push("'payload' is missing".into());
        } else {
            if summary.trim().is_empty() {
                errors.push("'payload.summary' is missing or blank".into());
            }
            if source.trim().is_empty() {
                errors.push("'payload.source' is missing or blank".into());
            }
            if severity_text.is_none() {
                errors.push("'payload.severity' is missing or blank".into());
            }
        }
    }
    let severity = match severity_text {
        Some(s) => match s.parse::<Severity>() {
            Ok(s) => s,
            Err(_) => {
                errors.push(format!(
                    "'payload.severity' must be one of critical, error, warning or info, not {s:?}"
                ));
                Severity::Error
            }
        },
        None => Severity::Error,
    };
    check_lengths(summary, source, &mut errors);

    let mut labels = BTreeMap::new();
    for name in ["component", "group", "class"] {
        if let Some(v) = text(payload, name, &format!("payload.{name}"), &mut errors) {
            labels.insert(name.to_string(), v.to_string());
        }
    }
    let mut details = details_of(obj, payload, &mut errors);
    for name in ["client", "client_url"] {
        if let Some(v) = text(obj, name, name, &mut errors) {
            details.insert(name.into(), Value::String(v.to_string()));
        }
    }
    if let Err(e) = event::check_details("payload.custom_details", &details) {
        errors.push(format!("{}: {}", e.field, e.message));
    }
    if let Err(e) = event::check_labels(&labels) {
        errors.push(format!("{}: {}", e.field, e.message));
    }
    let occurred_at = match text(payload, "timestamp", "payload.timestamp", &mut errors) {
        Some(t) => match firebell_core::clock::parse_timestamp(t) {
            Ok(t) => t,
            Err(_) => {
                errors.push(format!(
                    "'payload.timestamp' is not an ISO 8601 time: {t:?}"
                ));
                now
            }
        },
        None => now,
    };

    let dedup_key = match (dedup, action) {
        (Some(k), _) => match DedupKey::parse(k) {
            Ok(k) => Some(k),
            Err(FieldError { message, .. }) => {
                errors.push(format!("'dedup_key' {message}"));
                None
            }
        },
        (None, Some(EventAction::Trigger)) => {
            Some(DedupKey::derive(service, summary, source, &labels))
        }
        (None, Some(_)) => {
            errors.push("'dedup_key' is missing or blank".into());
            None
        }
        (None, None) => None,
    };

    match (action, dedup_key) {
        (Some(action), Some(dedup_key)) if errors.is_empty() => Ok(Enqueue {
            routing_key,
            event: Event {
                service: service.to_string(),
                action,
                dedup_key,
                summary: summary.to_string(),
                severity,
                source: source.to_string(),
                labels,
                details,
                occurred_at,
                expires_at: None,
            },
        }),
        _ => Err(invalid(errors)),
    }
}

const CHANGE_TOP: [&str; 4] = ["routing_key", "payload", "links", "images"];
const CHANGE_PAYLOAD: [&str; 4] = ["summary", "source", "timestamp", "custom_details"];

/// Parses a change event (`POST /v2/change/enqueue`): `payload.summary`
/// (required), `source`, `timestamp`, `custom_details`, and `links`/`images`.
/// `service` is the service its routing key opened.
pub fn parse_change(body: &Value, service: &str, now: Timestamp) -> Result<NewChange, IngestError> {
    let mut errors = Vec::new();
    let Value::Object(obj) = body else {
        return Err(invalid(vec!["Event object must be a JSON object".into()]));
    };
    for key in obj.keys() {
        if !CHANGE_TOP.contains(&key.as_str()) {
            errors.push(format!("'{key}' is not a recognized field"));
        }
    }
    let empty = Map::new();
    let payload = match obj.get("payload") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => {
            errors.push("'payload' is missing".into());
            &empty
        }
        Some(_) => {
            errors.push("'payload' must be an object".into());
            &empty
        }
    };
    for key in payload.keys() {
        if !CHANGE_PAYLOAD.contains(&key.as_str()) {
            errors.push(format!("'payload.{key}' is not a recognized field"));
        }
    }
    let summary = text(payload, "summary", "payload.summary", &mut errors).unwrap_or("");
    let source = text(payload, "source", "payload.source", &mut errors).unwrap_or("");
    if obj.get("payload").is_some() && summary.trim().is_empty() {
        errors.push("'payload.summary' is missing or blank".into());
    }
    check_lengths(summary, source, &mut errors);
    let details = details_of(obj, payload, &mut errors);
    let occurred_at = match text(payload, "timestamp", "payload.timestamp", &mut errors) {
        Some(t) => firebell_core::clock::parse_timestamp(t).unwrap_or_else(|_| {
            errors.push(format!(
                "'payload.timestamp' is not an ISO 8601 time: {t:?}"
            ));
            now
        }),
        None => now,
    };
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    Ok(NewChange {
        service: service.to_string(),
        summary: summary.to_string(),
        source: source.to_string(),
        occurred_at,
        received_at: now,
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_event_keeps_what_pagerduty_documents() {
        let body = json!({
            "routing_key": "samplekeyhere",
            "payload": {
                "summary": "Build Success: Increase snapshot create timeout to 30 seconds",
                "timestamp": "2020-07-17T08:42:58.315+0000",
                "source": "acme-build-pipeline-tool-default-i-9999",
                "custom_details": {"build_state": "passed", "build_number": "2", "run_time": "1236s"}
            },
            "links": [{"href": "https://acme.pagerduty.dev/build/2", "text": "View more details in Acme!"}]
        });
        let c = parse_change(&body, "web", now()).unwrap();
        assert_eq!(c.service, "web");
        assert_eq!(c.source, "acme-build-pipeline-tool-default-i-9999");
        assert_eq!(
            c.occurred_at,
            "2020-07-17T08:42:58.315Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(c.received_at, now());
        assert_eq!(c.details["build_number"], "2");
        assert_eq!(
            c.details["links"][0]["href"],
            "https://acme.pagerduty.dev/build/2"
        );
    }

    #[test]
    fn a_bad_change_event_names_each_field() {
        let errs = parse_change(
            &json!({"routing_key": "k", "event_action": "trigger", "payload": {"summary": " ", "severity": "info", "timestamp": "yesterday"}}),
            "svc",
            now(),
        )
        .unwrap_err()
        .messages();
        assert_eq!(
            errs,
            vec![
                "'event_action' is not a recognized field",
                "'payload.severity' is not a recognized field",
                "'payload.summary' is missing or blank",
                "'payload.timestamp' is not an ISO 8601 time: \"yesterday\"",
            ]
        );
        let errs = parse_change(&json!({"routing_key": "k"}), "svc", now())
            .unwrap_err()
            .messages();
        assert_eq!(errs, vec!["'payload' is missing"]);
    }

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_full_trigger_maps_every_field() {
        let body = json!({
            "routing_key": "R0123456789abcdef0123456789abcde",
            "event_action": "trigger",
            "dedup_key": "srv01/disk",
            "payload": {
                "summary": "Disk full on srv01", "source": "srv01", "severity": "warning",
                "timestamp": "2026-01-01T10:00:00Z", "component": "disk", "group": "prod",
                "class": "storage", "custom_details": {"free": "0%"}
            },
            "links": [{"href": "https://example.com", "text": "runbook"}],
            "client": "Nagios", "client_url": "https://nagios.example.com"
        });
        let e = parse(&body, "svc", now()).unwrap().event;
        assert_eq!(e.dedup_key.as_str(), "srv01/disk");
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.labels["component"], "disk");
        assert_eq!(e.labels["class"], "storage");
        assert_eq!(e.details["free"], "0%");
        assert_eq!(e.details["client"], "Nagios");
        assert_eq!(e.details["links"][0]["text"], "runbook");
        assert_eq!(
            e.occurred_at,
            "2026-01-01T10:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn pagerduty_style_errors() {
        let errs = parse(
            &json!({"routing_key": "k", "event_action": "trigger", "payload": {"summary": ""}}),
            "svc",
            now(),
        )
        .unwrap_err()
        .messages();
        assert_eq!(
            errs,
            vec![
                "'payload.summary' is missing or blank",
                "'payload.source' is missing or blank",
                "'payload.severity' is missing or blank"
            ]
        );
        let errs = parse(
            &json!({"routing_key": "k", "event_action": "resolve"}),
            "svc",
            now(),
        )
        .unwrap_err()
        .messages();
        assert_eq!(errs, vec!["'dedup_key' is missing or blank"]);
        let errs = parse(
            &json!({"routing_key": "k", "event_action": "explode", "dedup_key": "x"}),
            "svc",
            now(),
        )
        .unwrap_err()
        .messages();
        assert!(errs[0].starts_with("'event_action' must be one of"));
    }
}
