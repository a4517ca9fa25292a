//! Events: what a source tells Firebell. Every ingest format is translated into
//! an [`Event`] before anything else happens.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Longest summary accepted, in characters (PagerDuty's limit).
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Longest dedup key accepted, in characters (PagerDuty's limit).
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// Longest source accepted, in characters.
pub const MAX_SOURCE_CHARS: usize = 255;
/// Most labels on one event.
pub const MAX_LABELS: usize = 64;
/// Longest label name, in characters.
pub const MAX_LABEL_NAME_CHARS: usize = 256;
/// Longest label value, in characters.
pub const MAX_LABEL_VALUE_CHARS: usize = 4096;
/// Largest details object (annotations, custom details), as JSON bytes.
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;

/// How bad it is.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    "severity",
                    format!(
                        "unknown severity {s:?}; expected one of critical, error, warning, info"
                    ),
                )
            })
    }
}

/// What the source says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventAction {
    Trigger,
    Acknowledge,
    Resolve,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Trigger => "trigger",
            EventAction::Acknowledge => "acknowledge",
            EventAction::Resolve => "resolve",
        }
    }
}

impl FromStr for EventAction {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trigger" => Ok(EventAction::Trigger),
            "acknowledge" => Ok(EventAction::Acknowledge),
            "resolve" => Ok(EventAction::Resolve),
            other => Err(FieldError::new(
                "action",
                format!("unknown action {other:?}; expected one of trigger, acknowledge, resolve"),
            )),
        }
    }
}

/// One wrong field of an input, named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, its field put under `prefix` (`events[3]`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

/// The key that makes repeated events about one problem collapse into one alert.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct DedupKey(String);

impl DedupKey {
    pub fn parse(s: impl Into<String>) -> Result<Self, FieldError> {
        let s = s.into();
        if s.is_empty() {
            return Err(FieldError::new("dedup_key", "must not be empty"));
        }
        if s.chars().count() > MAX_DEDUP_KEY_CHARS {
            return Err(FieldError::new(
                "dedup_key",
                format!("longer than {MAX_DEDUP_KEY_CHARS} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                "dedup_key",
                "must not contain control characters",
            ));
        }
        Ok(Self(s))
    }

    /// A key derived from what the event says, for triggers sent without one:
    /// the same summary, source and labels on the same service always give the
    /// same key, so repeats still collapse.
    pub fn derive(
        service: &str,
        summary: &str,
        source: &str,
        labels: &BTreeMap<String, String>,
    ) -> Self {
        let mut h = Sha256::new();
        for part in [service, summary, source] {
            h.update(part.as_bytes());
            h.update([0xff]);
        }
        for (k, v) in labels {
            h.update(k.as_bytes());
            h.update([0xfe]);
            h.update(v.as_bytes());
            h.update([0xff]);
        }
        let digest = h.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("auto-{hex}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DedupKey {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DedupKey::parse(s)
    }
}

impl From<DedupKey> for String {
    fn from(k: DedupKey) -> String {
        k.0
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One validated message from a source, bound to a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub service: String,
    pub action: EventAction,
    pub dedup_key: DedupKey,
    /// Empty only for acknowledge/resolve events that carried none.
    pub summary: String,
    pub severity: Severity,
    pub source: String,
    pub labels: BTreeMap<String, String>,
    pub details: serde_json::Map<String, serde_json::Value>,
    pub occurred_at: Timestamp,
    /// A trigger that carries it resolves its alert at this instant unless a
    /// newer trigger arrives first (Prometheus' `endsAt`: it stops sending
    /// an alert whose rule is gone, and Alertmanager then resolves it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Checks the free-text fields shared by every ingest format.
pub fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), FieldError> {
    if value.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("longer than {max_chars} characters"),
        ));
    }
    Ok(())
}

/// Checks a label set: bounded count and sizes, non-empty names. Every
/// ingest format applies the same limits.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), FieldError> {
    if labels.len() > MAX_LABELS {
        return Err(FieldError::new(
            "labels",
            format!("more than {MAX_LABELS} labels"),
        ));
    }
    if labels.keys().any(|k| k.is_empty()) {
        return Err(FieldError::new("labels", "a label name is empty"));
    }
    for (k, v) in labels {
        if k.chars().count() > MAX_LABEL_NAME_CHARS {
            return Err(FieldError::new(
                "labels",
                format!("a label name is longer than {MAX_LABEL_NAME_CHARS} characters"),
            ));
        }
        if v.chars().count() > MAX_LABEL_VALUE_CHARS {
            return Err(FieldError::new(
                format!("labels.{}", k.chars().take(64).collect::<String>()),
                format!("longer than {MAX_LABEL_VALUE_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

/// Checks the details (annotations, custom details) are at most
/// [`MAX_DETAILS_BYTES`] as JSON; `field` names them in the error.
pub fn check_details(
    field: &str,
    details: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), FieldError> {
    // Counted as written, not built: this runs for every event ingested.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let size = serde_json::to_writer(&mut count, details).map_or(usize::MAX, |()| count.0);
    if size > MAX_DETAILS_BYTES {
        return Err(FieldError::new(
            field,
            format!("larger than {} KiB as JSON", MAX_DETAILS_BYTES / 1024),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_details_are_bounded_in_count_and_size() {
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(check_labels(&one("a", &"x".repeat(MAX_LABEL_VALUE_CHARS))).is_ok());
        let e = check_labels(&one("big", &"x".repeat(MAX_LABEL_VALUE_CHARS + 1))).unwrap_err();
        assert_eq!(e.field, "labels.big");
        assert!(check_labels(&one(&"n".repeat(MAX_LABEL_NAME_CHARS + 1), "v")).is_err());
        let many: BTreeMap<String, String> = (0..=MAX_LABELS)
            .map(|i| (format!("l{i}"), "v".into()))
            .collect();
        assert!(check_labels(&many).is_err());
        let mut details = serde_json::Map::new();
        details.insert("note".into(), "y".repeat(MAX_DETAILS_BYTES).into());
        let e = check_details("annotations", &details).unwrap_err();
        assert_eq!(e.field, "annotations");
        details.insert("note".into(), "y".repeat(1000).into());
        assert!(check_details("details", &details).is_ok());
    }

    #[test]
    fn derived_keys_collapse_repeats_and_separate_differences() {
        let mut labels = BTreeMap::new();
        labels.insert("host".to_string(), "web1".to_string());
        let a = DedupKey::derive("checkout", "disk full", "web1", &labels);
        let b = DedupKey::derive("checkout", "disk full", "web1", &labels);
        assert_eq!(a, b);
        let c = DedupKey::derive("checkout", "disk full", "web2", &labels);
        assert_ne!(a, c);
        // field boundaries matter: ("ab","c") differs from ("a","bc")
        let d = DedupKey::derive("checkout", "ab", "c", &BTreeMap::new());
        let e = DedupKey::derive("checkout", "a", "bc", &BTreeMap::new());
        assert_ne!(d, e);
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!("loud".parse::<Severity>().unwrap_err().field, "severity");
        assert_eq!("fire".parse::<EventAction>().unwrap_err().field, "action");
        assert_eq!(DedupKey::parse("").unwrap_err().field, "dedup_key");
        assert!(DedupKey::parse("x".repeat(256)).is_err());
        assert!(DedupKey::parse("x".repeat(255)).is_ok());
    }
}
