//! Firebell's own JSON event format (`POST /api/v1/events`): one event object
//! or an array of them.
//!
//! ```json
//! {"action": "trigger", "dedup_key": "disk-web1", "summary": "Disk full",
//!  "severity": "critical", "source": "web1", "labels": {"host": "web1"},
//!  "details": {"free": "0%"}, "occurred_at": "2026-01-01T00:00:00Z"}
//! ```

use crate::IngestError;
use firebell_core::event::{
    self, DedupKey, Event, EventAction, FieldError, MAX_SOURCE_CHARS, MAX_SUMMARY_CHARS, Severity,
};
use jiff::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most events in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;

/// The severity of a trigger that names none.
pub const DEFAULT_SEVERITY: Severity = Severity::Error;

const FIELDS: [&str; 8] = [
    "action",
    "dedup_key",
    "summary",
    "severity",
    "source",
    "labels",
    "details",
    "occurred_at",
];

/// Parses a request body for `service`, received at `now`.
pub fn parse(body: &[u8], service: &str, now: Timestamp) -> Result<Vec<Event>, IngestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| IngestError::Malformed(e.to_string()))?;
    let (items, array) = match value {
        Value::Array(items) => (items, true),
        obj @ Value::Object(_) => (vec![obj], false),
        _ => {
            return Err(IngestError::Invalid(vec![FieldError::new(
                "body",
                "must be an event object or an array of events",
            )]));
        }
    };
    if items.is_empty() {
        return Err(IngestError::Invalid(vec![FieldError::new(
            "body",
            "the array holds no events",
        )]));
    }
    if items.len() > MAX_EVENTS_PER_REQUEST {
        return Err(IngestError::Invalid(vec![FieldError::new(
            "body",
            format!("more than {MAX_EVENTS_PER_REQUEST} events in one request"),
        )]));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match parse_one(item, service, now) {
            Ok(e) => events.push(e),
            Err(errs) => errors.extend(errs.into_iter().map(|e| {
                if array {
                    FieldError::new(format!("[{i}].{}", e.field), e.message)
                } else {
                    e
                }
            })),
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(IngestError::Invalid(errors))
    }
}

fn string_field(
    obj: &Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

fn parse_one(item: Value, service: &str, now: Timestamp) -> Result<Event, Vec<FieldError>> {
    let Value::Object(obj) = item else {
        return Err(vec![FieldError::new("event", "must be an object")]);
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                key.as_str(),
                format!("unknown field; expected one of {}", FIELDS.join(", ")),
            ));
        }
    }

    let action = match string_field(&obj, "action", &mut errors) {
        Some(a) => match a.parse::<EventAction>() {
            Ok(a) => Some(a),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        None => {
            if !matches!(obj.get("action"), Some(v) if !v.is_null()) {
                errors.push(FieldError::new(
                    "action",
                    "missing; expected trigger, acknowledge or resolve",
                ));
            }
            None
        }
    };

    let summary = string_field(&obj, "summary", &mut errors);
    if let Some(s) = &summary
        && let Err(e) = event::check_text("summary", s, MAX_SUMMARY_CHARS)
    {
        errors.push(e);
    }
    if action == Some(EventAction::Trigger)
        && summary.as_deref().is_none_or(|s| s.trim().is_empty())
        && !matches!(obj.get("summary"), Some(v) if !v.is_null() && !v.is_string())
    {
        errors.push(FieldError::new(
            "summary",
            "missing; a trigger needs a summary",
        ));
    }

    let severity = match string_field(&obj, "severity", &mut errors) {
        Some(s) => s.parse::<Severity>().map_err(|e| errors.push(e)).ok(),
        None => Some(DEFAULT_SEVERITY),
    };

    let source = string_field(&obj, "source", &mut errors).unwrap_or_default();
    if let Err(e) = event::check_text("source", &source, MAX_SOURCE_CHARS) {
        errors.push(e);
    }

    let mut labels = BTreeMap::new();
    match obj.get("labels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(s) => {
                        labels.insert(k.clone(), s.clone());
                    }
                    _ => errors.push(FieldError::new(
                        format!("labels.{k}"),
                        "label values must be strings",
                    )),
                }
            }
            if let Err(e) = event::check_labels(&labels) {
                errors.push(e);
            }
        }
        Some(_) => errors.push(FieldError::new("labels", "must be an object of strings")),
    }

    let details = match obj.get("details") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            errors.push(FieldError::new("details", "must be an object"));
            Map::new()
        }
    };
    if let Err(e) = event::check_details("details", &details) {
        errors.push(e);
    }

    let occurred_at = match string_field(&obj, "occurred_at", &mut errors) {
        Some(s) => match firebell_core::clock::parse_timestamp(&s) {
            Ok(t) => t,
            Err(_) => {
                errors.push(FieldError::new(
                    "occurred_at",
                    format!("{s:?} is not an RFC 3339 time such as 2026-01-01T12:00:00Z"),
                ));
                now
            }
        },
        None => now,
    };

    let dedup_key = match string_field(&obj, "dedup_key", &mut errors) {
        Some(k) => DedupKey::parse(k).map_err(|e| errors.push(e)).ok(),
        None => match action {
            Some(EventAction::Trigger) => Some(DedupKey::derive(
                service,
                summary.as_deref().unwrap_or(""),
                &source,
                &labels,
            )),
            Some(_) => {
                if !obj.contains_key("dedup_key") || obj["dedup_key"].is_null() {
                    errors.push(FieldError::new(
                        "dedup_key",
                        "missing; acknowledge and resolve name the alert by its dedup_key",
                    ));
                }
                None
            }
            None => None,
        },
    };

    match (action, dedup_key, severity) {
        (Some(action), Some(dedup_key), Some(severity)) if errors.is_empty() => Ok(Event {
            service: service.to_string(),
            action,
            dedup_key,
            summary: summary.unwrap_or_default(),
            severity,
            source,
            labels,
            details,
            occurred_at,
            expires_at: None,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn fields(r: Result<Vec<Event>, IngestError>) -> Vec<String> {
        match r {
            Err(IngestError::Invalid(v)) => v.into_iter().map(|e| e.field).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn one_event_or_many() {
        let one = parse(
            br#"{"action":"trigger","summary":"x","dedup_key":"k"}"#,
            "s",
            now(),
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].severity, DEFAULT_SEVERITY);
        assert_eq!(one[0].occurred_at, now());
        let many = parse(
            br#"[{"action":"trigger","summary":"x"},{"action":"resolve","dedup_key":"k","labels":{"a":"b"}}]"#,
            "s",
            now(),
        )
        .unwrap();
        assert_eq!(many.len(), 2);
        assert!(many[0].dedup_key.as_str().starts_with("auto-"));
        assert_eq!(many[1].action, EventAction::Resolve);
    }

    #[test]
    fn every_wrong_field_is_named() {
        assert!(matches!(
            parse(b"{nope", "s", now()),
            Err(IngestError::Malformed(_))
        ));
        assert_eq!(
            fields(parse(br#"{"action":"explode"}"#, "s", now())),
            vec!["action"]
        );
        assert_eq!(
            fields(parse(br#"{"action":"trigger"}"#, "s", now())),
            vec!["summary"]
        );
        assert_eq!(
            fields(parse(br#"{"summary":"x"}"#, "s", now())),
            vec!["action"]
        );
        assert_eq!(
            fields(parse(br#"{"action":"resolve"}"#, "s", now())),
            vec!["dedup_key"]
        );
        assert_eq!(
            fields(parse(
                br#"[{"action":"trigger","summary":"ok"},{"action":"trigger","summary":"x","severity":"loud","sumary":"y","labels":{"n":1}}]"#,
                "s",
                now()
            )),
            vec!["[1].sumary", "[1].severity", "[1].labels.n"]
        );
        assert_eq!(fields(parse(b"[]", "s", now())), vec!["body"]);
        assert_eq!(fields(parse(b"42", "s", now())), vec!["body"]);
        assert_eq!(
            fields(parse(
                br#"{"action":"trigger","summary":"x","occurred_at":"yesterday"}"#,
                "s",
                now()
            )),
            vec!["occurred_at"]
        );
    }
}
