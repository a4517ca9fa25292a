//! Prometheus Alertmanager formats: the API v2 `POST /api/v2/alerts` body
//! (what Prometheus sends to an Alertmanager) and the webhook receiver payload
//! (version 4, what an Alertmanager forwards).
//!
//! An alert's dedup key is Alertmanager's fingerprint of its label set, so the
//! ids match what people see in Alertmanager. A firing alert triggers; one
//! whose `endsAt` has passed resolves, and one posted to the API v2 with an
//! `endsAt` still ahead resolves then unless sent again (Prometheus re-sends
//! firing alerts; the integration's `resolve_on_ends_at = false` turns this
//! off). Mapping: `annotations.summary` (else
//! `description`, else the `alertname` label) → summary; the `severity` label →
//! severity (`critical`/`page` → critical, `error` → error, `warning`/`warn` →
//! warning, `info`/`none` → info, anything else → error); the `instance` label
//! (else `job`) → source; labels → labels; annotations, `generatorURL` and
//! `startsAt` → details.

use crate::IngestError;
use firebell_core::event::{DedupKey, Event, EventAction, MAX_SUMMARY_CHARS, Severity};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Alertmanager's fingerprint of a label set (kept in core, where silences
/// and the API v2 view use it too).
pub use firebell_core::labels::fingerprint;

/// Alertmanager's zero time, which means "unset".
fn parse_time(v: Option<&Value>) -> Result<Option<Timestamp>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time_text(s),
        Some(_) => Err("must be a string".into()),
    }
}

/// [`parse_time`] of a string: empty, the zero time and anything before
/// the epoch mean unset.
fn parse_time_text(s: &str) -> Result<Option<Timestamp>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let t = firebell_core::clock::parse_timestamp(s)
        .map_err(|_| format!("{s:?} is not an RFC 3339 time"))?;
    // 0001-01-01T00:00:00Z and anything before the epoch mean unset.
    Ok((t.as_second() > 0).then_some(t))
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn string_map(v: Option<&Value>, what: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(s) => {
                        out.insert(k.clone(), s.clone());
                    }
                    _ => return Err(format!("{what} {k:?} must have a string value")),
                }
            }
        }
        Some(_) => return Err(format!("{what} must be an object")),
    }
    Ok(out)
}

fn severity(labels: &BTreeMap<String, String>) -> Severity {
    match labels
        .get("severity")
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        Some("critical" | "page" | "fatal") => Severity::Critical,
        Some("warning" | "warn") => Severity::Warning,
        Some("info" | "none" | "informational") => Severity::Info,
        _ => Severity::Error,
    }
}

/// One Alertmanager alert, as both formats carry it.
fn to_event(
    alert: &Value,
    status: Option<&str>,
    service: &str,
    now: Timestamp,
) -> Result<Event, String> {
    let Value::Object(obj) = alert else {
        return Err("an alert must be an object".into());
    };
    let labels = string_map(obj.get("labels"), "label")?;
    check_label_set(&labels)?;
    let annotations = string_map(obj.get("annotations"), "annotation")?;
    let starts_at = parse_time(obj.get("startsAt")).map_err(|e| format!("startsAt: {e}"))?;
    let ends_at = parse_time(obj.get("endsAt")).map_err(|e| format!("endsAt: {e}"))?;
    let generator_url = match obj.get("generatorURL") {
        Some(Value::String(u)) => Some(u.clone()),
        _ => None,
    };
    build_event(
        Parts {
            labels,
            annotations,
            starts_at,
            ends_at,
            generator_url,
        },
        status,
        service,
        now,
    )
}

/// What [`to_event`] checks of a label set, in its order.
fn check_label_set(labels: &BTreeMap<String, String>) -> Result<(), String> {
    if labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    if let Some(bad) = labels.keys().find(|k| !valid_label_name(k)) {
        return Err(format!("invalid label set: invalid name {bad:?}"));
    }
    if labels.values().any(|v| v.is_empty()) {
        return Err("invalid label set: a label has an empty value".into());
    }
    firebell_core::event::check_labels(labels).map_err(|e| format!("{}: {}", e.field, e.message))
}

/// An alert's fields once read, whichever way.
struct Parts {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at: Option<Timestamp>,
    ends_at: Option<Timestamp>,
    generator_url: Option<String>,
}

/// The event for an alert's checked labels and read fields.
fn build_event(
    parts: Parts,
    status: Option<&str>,
    service: &str,
    now: Timestamp,
) -> Result<Event, String> {
    let Parts {
        labels,
        annotations,
        starts_at,
        ends_at,
        generator_url,
    } = parts;
    if let (Some(s), Some(e)) = (starts_at, ends_at)
        && e < s
    {
        return Err("start time must be before end time".into());
    }
    let resolved = match status {
        Some("resolved") => true,
        Some(_) => false,
        None => ends_at.is_some_and(|e| e <= now),
    };
    let summary: String = annotations
        .get("summary")
        .or_else(|| annotations.get("description"))
        .or_else(|| labels.get("alertname"))
        .map_or("alert from Alertmanager", String::as_str)
        .chars()
        .take(MAX_SUMMARY_CHARS)
        .collect();
    let source = labels
        .get("instance")
        .or_else(|| labels.get("job"))
        .cloned()
        .unwrap_or_default();
    let mut details = Map::new();
    if !annotations.is_empty() {
        details.insert(
            "annotations".into(),
            Value::Object(
                annotations
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
        );
    }
    if let Some(u) = generator_url.filter(|u| !u.is_empty()) {
        details.insert("generatorURL".into(), Value::String(u));
    }
    if let Some(s) = starts_at {
        details.insert("startsAt".into(), Value::String(s.to_string()));
    }
    firebell_core::event::check_details("annotations", &details)
        .map_err(|e| format!("{}: {}", e.field, e.message))?;
    let fp = fingerprint(&labels);
    Ok(Event {
        service: service.to_string(),
        action: if resolved {
            EventAction::Resolve
        } else {
            EventAction::Trigger
        },
        // A fingerprint is 16 hex digits: always a valid key.
        dedup_key: DedupKey::parse(fp).map_err(|e| e.to_string())?,
        summary,
        severity: severity(&labels),
        source,
        labels,
        details,
        occurred_at: if resolved {
            ends_at.unwrap_or(now)
        } else {
            starts_at.unwrap_or(now)
        },
        // What Prometheus sends (no status): a firing alert it stops
        // re-sending resolves when its endsAt passes. Webhook payloads come
        // from an Alertmanager that sends the resolve itself.
        expires_at: if resolved || status.is_some() {
            None
        } else {
            ends_at
        },
    })
}

/// A body Alertmanager would take in part: the valid alerts, and one message
/// per invalid one (Alertmanager keeps the valid ones and answers 400).
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Event>,
    pub errors: Vec<String>,
}

/// Parses `POST /api/v2/alerts`: an array of postable alerts.
pub fn parse_v2(body: &Value, service: &str, now: Timestamp) -> Result<Batch, IngestError> {
    let Value::Array(items) = body else {
        return Err(IngestError::body("the body must be an array of alerts"));
    };
    let mut batch = Batch {
        events: Vec::new(),
        errors: Vec::new(),
    };
    for item in items {
        match to_event(item, None, service, now) {
            Ok(e) => batch.events.push(e),
            Err(e) => batch.errors.push(e),
        }
    }
    Ok(batch)
}

/// One postable alert of the usual shape, read in one pass: string maps,
/// string times, no other field. An alert of any other shape is read again
/// by [`to_event`], which names what is wrong with it. Other fields go that
/// way too: serde skips a field it does not know without the value
/// reading's nesting limit, which must refuse the body as before.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Postable<'a> {
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default, borrow)]
    starts_at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    ends_at: Option<Cow<'a, str>>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

impl Postable<'_> {
    fn into_event(self, service: &str, now: Timestamp) -> Result<Event, String> {
        let labels = self.labels.unwrap_or_default();
        check_label_set(&labels)?;
        let read = |t: Option<Cow<'_, str>>| t.as_deref().map_or(Ok(None), parse_time_text);
        let starts_at = read(self.starts_at).map_err(|e| format!("startsAt: {e}"))?;
        let ends_at = read(self.ends_at).map_err(|e| format!("endsAt: {e}"))?;
        build_event(
            Parts {
                labels,
                annotations: self.annotations.unwrap_or_default(),
                starts_at,
                ends_at,
                generator_url: self.generator_url,
            },
            None,
            service,
            now,
        )
    }
}

/// [`parse_v2`] from the request's bytes, the same answers in one pass for
/// alerts of the usual shape (the body is not built as a [`Value`] first).
/// Bytes that are not JSON are [`IngestError::Malformed`].
pub fn parse_v2_bytes(body: &[u8], service: &str, now: Timestamp) -> Result<Batch, IngestError> {
    // The value reading of the whole body: what anything but an array of
    // well-formed alerts gets, so that its answer is the same.
    let by_value = || {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| IngestError::Malformed(e.to_string()))?;
        parse_v2(&value, service, now)
    };
    let Ok(items) = serde_json::from_slice::<Vec<&RawValue>>(body) else {
        return by_value();
    };
    let mut batch = Batch {
        events: Vec::with_capacity(items.len()),
        errors: Vec::new(),
    };
    for item in items {
        // A struct reads from an array too: only objects take the one pass.
        let typed = if item.get().starts_with('{') {
            serde_json::from_str::<Postable<'_>>(item.get()).ok()
        } else {
            None
        };
        let read = match typed {
            Some(alert) => alert.into_event(service, now),
            // Another shape (a label that is not a string, a repeated
            // field): read as a value, for the same event or error.
            None => match serde_json::from_str::<Value>(item.get()) {
                Ok(v) => to_event(&v, None, service, now),
                // JSON the value reading refuses (nested too deep, a bad
                // escape): so is the whole body, and nothing is recorded.
                Err(_) => return by_value(),
            },
        };
        match read {
            Ok(e) => batch.events.push(e),
            Err(e) => batch.errors.push(e),
        }
    }
    Ok(batch)
}

/// Parses an Alertmanager webhook notification (payload version 4).
pub fn parse_webhook(body: &Value, service: &str, now: Timestamp) -> Result<Batch, IngestError> {
    let Value::Object(obj) = body else {
        return Err(IngestError::body(
            "the body must be an Alertmanager webhook object",
        ));
    };
    match obj.get("version").and_then(Value::as_str) {
        Some("4") => {}
        Some(v) => {
            return Err(IngestError::body(format!(
                "unsupported webhook payload version {v:?}; expected \"4\""
            )));
        }
        None => {
            return Err(IngestError::body(
                "missing \"version\"; expected an Alertmanager webhook payload",
            ));
        }
    }
    let Some(Value::Array(alerts)) = obj.get("alerts") else {
        return Err(IngestError::body("missing \"alerts\" array"));
    };
    let mut batch = Batch {
        events: Vec::new(),
        errors: Vec::new(),
    };
    for a in alerts {
        // Alertmanager sends exactly "firing" or "resolved"; anything else
        // is a mistake to refuse, not a firing alert to page for.
        let status = match a.get("status") {
            None | Some(Value::Null) => "firing",
            Some(Value::String(s)) if s == "firing" || s == "resolved" => s.as_str(),
            Some(other) => {
                batch
                    .errors
                    .push(format!("status: {other} is not \"firing\" or \"resolved\""));
                continue;
            }
        };
        match to_event(a, Some(status), service, now) {
            Ok(e) => batch.events.push(e),
            Err(e) => batch.errors.push(e),
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprints_are_fnv1a_over_sorted_pairs() {
        // The empty label set hashes to the FNV-1a offset basis.
        assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
        let a = fingerprint(&labels(&[("alertname", "Up"), ("job", "node")]));
        let b = fingerprint(&labels(&[("job", "node"), ("alertname", "Up")]));
        assert_eq!(a, b);
        assert_eq!(a.len(), 16);
        assert_ne!(
            a,
            fingerprint(&labels(&[("alertname", "Up"), ("job", "nodes")]))
        );
    }

    fn now() -> Timestamp {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn firing_resolved_and_zero_times() {
        let body = json!([
            {"labels": {"alertname": "DiskFull", "severity": "page", "instance": "db1"},
             "annotations": {"summary": "Disk full on db1"},
             "startsAt": "2026-01-01T11:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prom/graph"},
            {"labels": {"alertname": "Old"}, "endsAt": "2026-01-01T11:59:00Z"},
            {"labels": {"alertname": "Later"}, "endsAt": "2026-01-01T13:00:00Z"},
            {"labels": {}},
            {"labels": {"0bad": "x"}},
        ]);
        let b = parse_v2(&body, "svc", now()).unwrap();
        assert_eq!(b.events.len(), 3);
        assert_eq!(b.errors.len(), 2);
        let e = &b.events[0];
        assert_eq!(e.action, EventAction::Trigger);
        assert_eq!(e.summary, "Disk full on db1");
        assert_eq!(e.severity, Severity::Critical);
        assert_eq!(e.source, "db1");
        assert_eq!(e.dedup_key.as_str(), fingerprint(&e.labels));
        assert_eq!(e.details["generatorURL"], "http://prom/graph");
        assert_eq!(b.events[1].action, EventAction::Resolve);
        assert_eq!(b.events[1].summary, "Old");
        assert_eq!(b.events[2].action, EventAction::Trigger);
    }

    /// Reading the bytes in one pass gives what reading a value gives:
    /// the same events and the same errors, in order, for every shape.
    #[test]
    fn one_pass_reading_answers_as_the_value_reading_does() {
        let bodies: [&str; _] = [
            r#"[{"labels": {"alertname": "A\u00e9\n", "instance": "db\"1"},
                 "annotations": {"summary": "s\\", "runbook": "r"},
                 "startsAt": "2026-01-01T11:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                 "generatorURL": "http://prom/graph", "status": "ignored"}]"#,
            r#"[{"labels": {"alertname": "Old"}, "endsAt": "2026-01-01T11:59:00Z"},
                {"labels": {"alertname": "Later"}, "endsAt": "2026-01-01T13:00:00Z"},
                {"labels": {"alertname": "Empty"}, "startsAt": "", "endsAt": null,
                 "annotations": null, "generatorURL": ""}]"#,
            r#"[{"labels": {}}, {"labels": null}, {}, {"labels": {"0bad": "x"}},
                {"labels": {"a": ""}}, {"labels": {"a": 1}}, {"labels": {"a": "x"},
                "annotations": {"n": 2}}, {"labels": {"a": "x"}, "annotations": []},
                {"labels": "a"}, 7, "alert", null, [], {"labels": {"a": "x"},
                "startsAt": 5}, {"labels": {"a": "x"}, "endsAt": "yesterday"},
                {"labels": {"a": "x"}, "startsAt": "2026-01-01T11:00:00Z",
                 "endsAt": "2026-01-01T10:00:00Z"}, {"labels": {"a": "x"},
                 "generatorURL": 3}]"#,
            r#"[{"labels": {"a": "x"}, "labels": {"b": "y"}},
                {"labels": {"a": "x", "a": "z"}}]"#,
            "[]",
            r#"[{"labels": {"alertname": "Kept"}}, {"labels": {"a": "\ud800"}}]"#,
            &format!(
                r#"[{{"labels": {{"alertname": "Kept"}}}}, {{"labels": {{"a": "x"}}, "annotations": {}{}}}]"#,
                "[".repeat(200),
                "]".repeat(200)
            ),
            &format!(
                r#"[{{"labels": {{"alertname": "Kept"}}}}, {{"labels": {{"a": "x"}}, "extra": {}{}}}]"#,
                "[".repeat(200),
                "]".repeat(200)
            ),
            r#"{"labels": {"a": "x"}}"#,
            "\"alerts\"",
            "[{\"labels\": ",
            "not json",
        ];
        for body in bodies {
            let by_value = serde_json::from_str::<Value>(body)
                .map_err(|e| IngestError::Malformed(e.to_string()))
                .and_then(|v| parse_v2(&v, "svc", now()));
            let by_bytes = parse_v2_bytes(body.as_bytes(), "svc", now());
            match (by_value, by_bytes) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.events, b.events, "{body}");
                    assert_eq!(a.errors, b.errors, "{body}");
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{body}"),
                (a, b) => panic!("{body}: {a:?} and {b:?}"),
            }
        }
        let first = parse_v2_bytes(bodies[0].as_bytes(), "svc", now()).unwrap();
        assert_eq!(first.events[0].labels["alertname"], "A\u{e9}\n");
        assert_eq!(first.events[0].summary, "s\\");
        let mixed = parse_v2_bytes(bodies[2].as_bytes(), "svc", now()).unwrap();
        assert_eq!(mixed.events.len(), 1, "{:?}", mixed.events);
        assert_eq!(mixed.errors.len(), 16, "{:?}", mixed.errors);
    }

    #[test]
    fn a_webhook_status_other_than_firing_or_resolved_is_refused() {
        for status in ["RESOLVED", "bogus", "Firing"] {
            let body = json!({"version": "4", "status": "firing", "receiver": "firebell",
              "alerts": [{"status": status, "labels": {"alertname": "A"}}]});
            let batch = parse_webhook(&body, "svc", Timestamp::UNIX_EPOCH).unwrap();
            assert!(batch.events.is_empty(), "{status}");
            assert!(
                batch.errors[0].contains("is not \"firing\" or \"resolved\""),
                "{status}"
            );
        }
    }

    #[test]
    fn webhook_payloads_follow_status() {
        let body = json!({"version": "4", "status": "firing", "receiver": "firebell",
        "alerts": [
          {"status": "firing", "labels": {"alertname": "A"}, "startsAt": "2026-01-01T11:00:00Z"},
          {"status": "resolved", "labels": {"alertname": "B"}, "endsAt": "2026-01-01T11:30:00Z"}
        ]});
        let b = parse_webhook(&body, "svc", now()).unwrap();
        assert_eq!(b.events[0].action, EventAction::Trigger);
        assert_eq!(b.events[1].action, EventAction::Resolve);
        assert!(parse_webhook(&json!({"version": "3", "alerts": []}), "svc", now()).is_err());
    }
}
