//! Silences and inhibition rules: what keeps an alert from paging anyone
//! while it still exists, updates and keeps its timeline.
//!
//! A [`Silence`] is modelled on Alertmanager's: label matchers, a time span,
//! a creator and a comment, with a state (pending, active, expired) that
//! follows from the time. Firebell adds `expire_on_resolve` (the silence
//! ends once the alerts it matched have resolved) and an optional service
//! scope (a silence made with an alertmanager integration key holds only
//! that service's alerts). Matching follows Alertmanager's silences: a
//! missing label is the empty string, and at least one matcher must not
//! match the empty string, so a silence cannot match everything by mistake.
//!
//! An [`InhibitRule`] is Alertmanager's `inhibit_rules` entry: while an open
//! alert matches `source_matchers`, alerts matching `target_matchers` with
//! the same values for the `equal` labels page no one.
//!
//! Both match the label set of [`crate::labels::match_labels`].

use crate::config::diag::Errors;
use crate::matcher::{MatchOp, Matcher};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A silence's state at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl fmt::Display for SilenceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A matcher in Alertmanager's API shape (`isRegex`, `isEqual`), also how
/// silences store theirs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatcherSpec {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    /// Alertmanager 0.22+; absent means `true`.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl MatcherSpec {
    pub fn from_matcher(m: &Matcher) -> Self {
        MatcherSpec {
            name: m.name().to_string(),
            value: m.value().to_string(),
            is_regex: matches!(m.op(), MatchOp::Regex | MatchOp::NotRegex),
            is_equal: !m.op().is_negative(),
        }
    }

    pub fn to_matcher(&self) -> Result<Matcher, crate::matcher::MatcherError> {
        let op = match (self.is_regex, self.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Matcher::new(self.name.clone(), op, self.value.clone())
    }
}

/// One silence.
#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    /// A UUID (Alertmanager's ids are UUIDs; `amtool` passes it in the path).
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
    pub updated_at: Timestamp,
    /// End the silence once every alert it matched has resolved.
    pub expire_on_resolve: bool,
    /// Only this service's alerts (made with an alertmanager integration
    /// key); `None` for every service (made with the admin token).
    pub service: Option<String>,
}

/// Which field of a silence is wrong, named per API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilenceField {
    Matchers,
    StartsAt,
    EndsAt,
    CreatedBy,
    Comment,
}

impl SilenceField {
    /// The name in Firebell's own API.
    pub fn name(self) -> &'static str {
        match self {
            SilenceField::Matchers => "matchers",
            SilenceField::StartsAt => "starts_at",
            SilenceField::EndsAt => "ends_at",
            SilenceField::CreatedBy => "created_by",
            SilenceField::Comment => "comment",
        }
    }

    /// The name in Alertmanager's API.
    pub fn am_name(self) -> &'static str {
        match self {
            SilenceField::Matchers => "matchers",
            SilenceField::StartsAt => "startsAt",
            SilenceField::EndsAt => "endsAt",
            SilenceField::CreatedBy => "createdBy",
            SilenceField::Comment => "comment",
        }
    }
}

/// Why a silence was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilenceError {
    pub field: SilenceField,
    pub message: String,
}

impl SilenceError {
    fn new(field: SilenceField, message: impl Into<String>) -> Self {
        SilenceError {
            field,
            message: message.into(),
        }
    }
}

impl Silence {
    /// The state at `now`: pending before `starts_at`, expired from `ends_at`.
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now >= self.ends_at {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether the silence covers an alert of `service` with `labels`
    /// (whatever the time).
    pub fn matches(&self, service: &str, labels: &BTreeMap<String, String>) -> bool {
        self.service.as_deref().is_none_or(|s| s == service)
            && self
                .matchers
                .iter()
                .all(|m| m.matches(labels.get(m.name()).map_or("", String::as_str)))
    }

    /// Checks a silence about to be stored at `now` (Alertmanager's rules,
    /// plus: a creator and a comment are required, the end is in the future).
    pub fn check(&self, now: Timestamp) -> Result<(), SilenceError> {
        if self.matchers.is_empty() {
            return Err(SilenceError::new(
                SilenceField::Matchers,
                "at least one matcher required",
            ));
        }
        if self.matchers.iter().all(|m| m.matches("")) {
            return Err(SilenceError::new(
                SilenceField::Matchers,
                "at least one matcher must not match the empty string",
            ));
        }
        if self.ends_at <= self.starts_at {
            return Err(SilenceError::new(
                SilenceField::EndsAt,
                "must be after the start",
            ));
        }
        if self.ends_at <= now {
            return Err(SilenceError::new(SilenceField::EndsAt, "is in the past"));
        }
        if self.created_by.trim().is_empty() {
            return Err(SilenceError::new(SilenceField::CreatedBy, "is required"));
        }
        if self.comment.trim().is_empty() {
            return Err(SilenceError::new(SilenceField::Comment, "is required"));
        }
        Ok(())
    }

    /// The matchers as Alertmanager writes them: `{a="b", c=~"d"}`.
    pub fn matchers_text(&self) -> String {
        let parts: Vec<String> = self.matchers.iter().map(|m| m.to_string()).collect();
        format!("{{{}}}", parts.join(", "))
    }

    /// The timeline reason of a hold by this silence.
    pub fn hold_reason(&self) -> String {
        format!(
            "silenced by silence {} ({}, until {})",
            self.id,
            self.comment,
            self.ends_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// Parses matchers given as strings (one matcher, or a braced list, per
/// entry); the error names the entry: `matchers[1]: bad matcher format: …`.
pub fn parse_matchers(field: &str, items: &[String]) -> Result<Vec<Matcher>, (String, String)> {
    let mut out = Vec::new();
    for (i, s) in items.iter().enumerate() {
        let ms = Matcher::parse_filter(s).map_err(|e| (format!("{field}[{i}]"), e.to_string()))?;
        out.extend(ms);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Inhibition
// ---------------------------------------------------------------------------

/// `[[inhibit_rules]]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInhibitRule {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    equal: Vec<String>,
}

/// One compiled inhibition rule.
#[derive(Clone, Debug)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    /// Labels whose values must be equal on source and target (absent on
    /// both counts as equal).
    pub equal: Vec<String>,
}

fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(m.name()).map_or("", String::as_str)))
}

impl InhibitRule {
    pub fn source_matches(&self, labels: &BTreeMap<String, String>) -> bool {
        all_match(&self.source, labels)
    }

    pub fn target_matches(&self, labels: &BTreeMap<String, String>) -> bool {
        all_match(&self.target, labels)
    }

    /// The values of the `equal` labels ("" when absent), in rule order.
    pub fn equal_values(&self, labels: &BTreeMap<String, String>) -> Vec<String> {
        self.equal
            .iter()
            .map(|n| labels.get(n).cloned().unwrap_or_default())
            .collect()
    }
}

/// Compiles `[[inhibit_rules]]`, reporting every bad entry with its path.
pub(crate) fn compile_inhibit_rules(
    errors: &mut Errors,
    raw: &[RawInhibitRule],
) -> Vec<InhibitRule> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let path = format!("inhibit_rules[{i}]");
        let mut ok = true;
        let mut list = |name: &str, items: &[String]| -> Vec<Matcher> {
            let mut ms = Vec::new();
            for (j, s) in items.iter().enumerate() {
                match Matcher::parse_list(s) {
                    Ok(m) => ms.extend(m),
                    Err(e) => {
                        ok = false;
                        errors.push(format!("{path}.{name}[{j}]"), e.to_string());
                    }
                }
            }
            ms
        };
        let source = list("source_matchers", &r.source_matchers);
        let target = list("target_matchers", &r.target_matchers);
        if r.source_matchers.is_empty() {
            ok = false;
            errors.push(
                format!("{path}.source_matchers"),
                "at least one matcher required",
            );
        }
        if r.target_matchers.is_empty() {
            ok = false;
            errors.push(
                format!("{path}.target_matchers"),
                "at least one matcher required",
            );
        }
        for (j, n) in r.equal.iter().enumerate() {
            if Matcher::new(n.clone(), MatchOp::Equal, "").is_err() {
                ok = false;
                errors.push(
                    format!("{path}.equal[{j}]"),
                    format!("invalid label name {n:?}"),
                );
            }
        }
        if ok {
            out.push(InhibitRule {
                source,
                target,
                equal: r.equal.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn silence(matchers: &[&str]) -> Silence {
        Silence {
            id: "6f6c0d6e-0000-4000-8000-000000000001".into(),
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_at: ts("2026-01-01T10:00:00Z"),
            ends_at: ts("2026-01-01T12:00:00Z"),
            created_by: "alice".into(),
            comment: "deploy".into(),
            updated_at: ts("2026-01-01T10:00:00Z"),
            expire_on_resolve: false,
            service: None,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn state_follows_time() {
        let s = silence(&["a=b"]);
        assert_eq!(s.state(ts("2026-01-01T09:59:59Z")), SilenceState::Pending);
        assert_eq!(s.state(ts("2026-01-01T10:00:00Z")), SilenceState::Active);
        assert_eq!(s.state(ts("2026-01-01T12:00:00Z")), SilenceState::Expired);
    }

    #[test]
    fn matching_treats_missing_labels_as_empty_and_respects_the_scope() {
        let mut s = silence(&["service=\"checkout\"", "host=~\"web.*\"", "env!=\"dev\""]);
        assert!(s.matches("x", &labels(&[("service", "checkout"), ("host", "web1")])));
        assert!(!s.matches("x", &labels(&[("service", "checkout"), ("host", "db1")])));
        assert!(!s.matches(
            "x",
            &labels(&[("service", "checkout"), ("host", "web1"), ("env", "dev")])
        ));
        s.service = Some("payments".into());
        assert!(!s.matches("x", &labels(&[("service", "checkout"), ("host", "web1")])));
        assert!(s.matches(
            "payments",
            &labels(&[("service", "checkout"), ("host", "web1")])
        ));
    }

    #[test]
    fn check_refuses_what_alertmanager_refuses() {
        let now = ts("2026-01-01T10:30:00Z");
        assert_eq!(silence(&["a=b"]).check(now), Ok(()));
        let e = silence(&[]).check(now).unwrap_err();
        assert_eq!(e.field, SilenceField::Matchers);
        let e = silence(&["a=~\".*\"", "b=\"\""]).check(now).unwrap_err();
        assert_eq!(
            e.message,
            "at least one matcher must not match the empty string"
        );
        let mut s = silence(&["a=b"]);
        s.ends_at = s.starts_at;
        assert_eq!(s.check(now).unwrap_err().field, SilenceField::EndsAt);
        let e = silence(&["a=b"])
            .check(ts("2026-01-01T13:00:00Z"))
            .unwrap_err();
        assert_eq!(
            (e.field, e.message.as_str()),
            (SilenceField::EndsAt, "is in the past")
        );
        let mut s = silence(&["a=b"]);
        s.comment = " ".into();
        assert_eq!(s.check(now).unwrap_err().field, SilenceField::Comment);
    }

    #[test]
    fn matcher_specs_round_trip_every_operator() {
        for m in ["a=\"b\"", "a!=\"b\"", "a=~\"b.*\"", "a!~\"b.*\""] {
            let m = Matcher::parse(m).unwrap();
            assert_eq!(MatcherSpec::from_matcher(&m).to_matcher().unwrap(), m);
        }
        let spec: MatcherSpec =
            serde_json::from_str(r#"{"name":"a","value":"b","isRegex":false}"#).unwrap();
        assert!(spec.is_equal);
        let bad = MatcherSpec {
            name: "a".into(),
            value: "(".into(),
            is_regex: true,
            is_equal: true,
        };
        assert!(bad.to_matcher().is_err());
    }

    #[test]
    fn parse_matchers_names_the_bad_entry() {
        let ok = parse_matchers("matchers", &["a=b".into(), "{c=\"d\",e=~\"f\"}".into()]).unwrap();
        assert_eq!(ok.len(), 3);
        let (field, msg) = parse_matchers("matchers", &["a=b".into(), "nope".into()]).unwrap_err();
        assert_eq!(field, "matchers[1]");
        assert_eq!(msg, "bad matcher format: nope");
    }

    #[test]
    fn inhibit_rules_compile_with_paths() {
        let raw: Vec<RawInhibitRule> = vec![
            RawInhibitRule {
                source_matchers: vec!["severity=\"critical\"".into()],
                target_matchers: vec!["severity=\"warning\"".into()],
                equal: vec!["host".into()],
            },
            RawInhibitRule {
                source_matchers: vec!["severity=~\"(\"".into()],
                target_matchers: vec![],
                equal: vec!["bad-name".into()],
            },
        ];
        let mut errors = Errors(Vec::new());
        let rules = compile_inhibit_rules(&mut errors, &raw);
        assert_eq!(rules.len(), 1);
        let paths: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "inhibit_rules[1].source_matchers[0]",
                "inhibit_rules[1].target_matchers",
                "inhibit_rules[1].equal[0]"
            ]
        );
        let r = &rules[0];
        let src = labels(&[("severity", "critical"), ("host", "a")]);
        let tgt = labels(&[("severity", "warning"), ("host", "a")]);
        assert!(r.source_matches(&src) && r.target_matches(&tgt));
        assert_eq!(r.equal_values(&src), r.equal_values(&tgt));
        assert_ne!(r.equal_values(&src), r.equal_values(&labels(&[])));
    }
}
