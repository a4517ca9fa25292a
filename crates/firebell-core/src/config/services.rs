//! `[[services]]`: what gets paged for, by which policy, through which
//! integrations (each with its key, and a heartbeat's timing or an SNS
//! integration's topics), with which templates, grouping and timeouts.

use super::diag::{
    Errors, SecretSource, bounded_duration, check_id, key_hash, known_list, parse_duration,
    resolve_secret,
};
use crate::escalation::Policy;
use jiff::SignedDuration;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) id: String,
    name: Option<String>,
    policy: Option<String>,
    #[serde(default)]
    integrations: Vec<RawIntegration>,
    /// Message template overrides, by name (see `templates`).
    #[serde(default)]
    templates: BTreeMap<String, String>,
    /// Alerts within this window page as one bundled page (see [`crate::bundling`]).
    group_window: Option<String>,
    /// An acknowledged alert not resolved within this re-triggers.
    ack_timeout: Option<String>,
    /// An open alert with no new trigger for this resolves itself.
    auto_resolve: Option<String>,
    /// This service's own rules (see [`crate::rules`]).
    #[serde(default)]
    pub(super) rules: Vec<toml::Value>,
    /// This service's runbook actions (see [`crate::actions`]).
    #[serde(default)]
    pub(super) actions: Vec<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegration {
    kind: String,
    key: String,
    name: Option<String>,
    /// Heartbeat integrations: the longest expected gap between pings.
    interval: Option<String>,
    /// Heartbeat integrations: extra time allowed after the interval.
    grace: Option<String>,
    /// SNS integrations: the topic ARNs accepted.
    topics: Option<Vec<String>>,
    /// SNS integrations: what a CloudWatch `INSUFFICIENT_DATA` state does.
    insufficient_data: Option<String>,
    /// SNS integrations, tests only: a loopback origin that certificates and
    /// confirmations are fetched from instead of AWS.
    test_endpoint_url: Option<String>,
    /// At most this many events per window through this integration, e.g.
    /// "600/1m"; more are answered 429.
    rate_limit: Option<String>,
    /// Alertmanager integrations: resolve an alert whose `endsAt` passed
    /// without a newer send (default true, as Alertmanager does).
    resolve_on_ends_at: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: crate::id::Id,
    pub name: String,
    pub policy: String,
    pub integrations: Vec<Integration>,
    /// Message template overrides by name (`slack`, `email_subject`, …),
    /// each checked at load by [`crate::templates::check`].
    pub templates: BTreeMap<String, String>,
    /// Alerts of this service within this window page as one bundled page;
    /// `None`: no grouping.
    pub group_window: Option<SignedDuration>,
    /// An acknowledged alert not resolved this long after its acknowledgement
    /// is triggered again and escalates from the first step (1m..7d).
    pub ack_timeout: Option<SignedDuration>,
    /// An open alert with no new trigger for this long resolves itself (1m..30d).
    pub auto_resolve: Option<SignedDuration>,
}

#[derive(Debug, Clone)]
pub struct Integration {
    pub kind: IntegrationKind,
    pub name: String,
    pub key: SecretString,
    /// Set for `heartbeat` integrations only.
    pub heartbeat: Option<HeartbeatTiming>,
    /// Set for `sns` integrations only.
    pub sns: Option<SnsSettings>,
    /// Events this integration may send per window (per node).
    pub rate_limit: Option<IngestRateLimit>,
    /// Alertmanager integrations: an alert posted to the API v2 resolves
    /// when its `endsAt` passes without a newer send (true unless turned off).
    pub resolve_on_ends_at: bool,
}

/// `rate_limit = "600/1m"`: at most `events` per `per`, as a token bucket
/// (bursts up to `events`, refilled evenly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestRateLimit {
    pub events: u32,
    pub per: SignedDuration,
}

impl IngestRateLimit {
    /// Reads `"N/DURATION"` (N from 1 to 1,000,000, the window 1s to 1h).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (n, per) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not EVENTS/WINDOW such as \"600/1m\""))?;
        let events: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| format!("{n:?} is not a number of events from 1 to 1000000"))?;
        let per = crate::clock::parse_duration(per.trim())
            .filter(|d| *d >= SignedDuration::from_secs(1) && *d <= SignedDuration::from_hours(1))
            .ok_or_else(|| format!("{per:?} is not a window from 1s to 1h"))?;
        Ok(IngestRateLimit { events, per })
    }
}

/// What an `sns` integration accepts, and how it reads CloudWatch alarms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsSettings {
    /// Topic ARNs whose messages are accepted; any other topic is refused.
    pub topics: Vec<String>,
    pub insufficient_data: InsufficientData,
    /// Tests only: a loopback origin (`http://127.0.0.1:PORT`). Certificate
    /// and subscription URLs are still checked against AWS's rules, then
    /// fetched from this origin (same path and query) instead of AWS.
    pub test_endpoint_url: Option<String>,
}

/// What a CloudWatch alarm entering `INSUFFICIENT_DATA` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InsufficientData {
    /// Nothing: the message is acknowledged and dropped.
    #[default]
    Ignore,
    /// Triggers the alarm's alert (as a warning).
    Trigger,
    /// Resolves the alarm's alert.
    Resolve,
}

/// When a heartbeat is late: no ping for `interval + grace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatTiming {
    pub interval: SignedDuration,
    pub grace: SignedDuration,
}

impl HeartbeatTiming {
    /// How long after a ping the heartbeat is overdue.
    pub fn deadline(&self) -> SignedDuration {
        self.interval.saturating_add(self.grace)
    }
}

/// Grace of a heartbeat that names none.
pub const DEFAULT_HEARTBEAT_GRACE: SignedDuration = SignedDuration::from_secs(60);

impl PartialEq for Integration {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.name == other.name
            && self.heartbeat == other.heartbeat
            && self.sns == other.sns
            && self.rate_limit == other.rate_limit
            && self.resolve_on_ends_at == other.resolve_on_ends_at
            && self.key.expose_secret() == other.key.expose_secret()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrationKind {
    /// Firebell's own JSON: `POST /api/v1/events`.
    Generic,
    /// PagerDuty Events API v2: `POST /v2/enqueue`, the key is the routing key.
    Pagerduty,
    /// Prometheus Alertmanager: API v2 `POST /api/v2/alerts` (what Prometheus
    /// sends) and the webhook receiver `POST /hooks/alertmanager`; the key is a
    /// bearer token or a basic-auth password.
    Alertmanager,
    /// Traffic managers (Stingray/Zeus/vTM): `POST /api/v1/vtm`, what
    /// `firebell vtm-action` sends; the key is a bearer token.
    Vtm,
    /// A job that pings `POST /api/v1/heartbeat/{key}`; silence for longer
    /// than its interval plus grace triggers an alert.
    Heartbeat,
    /// AWS SNS HTTP(S) subscriptions (CloudWatch alarms and other messages):
    /// `POST /hooks/sns/{key}`, the key in the URL because SNS sends no
    /// secret headers; messages are authenticated by their signature.
    Sns,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Generic => "generic",
            IntegrationKind::Pagerduty => "pagerduty",
            IntegrationKind::Alertmanager => "alertmanager",
            IntegrationKind::Vtm => "vtm",
            IntegrationKind::Heartbeat => "heartbeat",
            IntegrationKind::Sns => "sns",
        }
    }
}

/// The integration an ingest key opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationRef {
    pub service: String,
    pub kind: IntegrationKind,
    pub index: usize,
}

/// A heartbeat integration's interval and grace (and a unique, id-like name);
/// for any other kind, an error for each of those fields that is set.
fn heartbeat_timing<'a>(
    errors: &mut Errors,
    ipath: &str,
    integ: &'a RawIntegration,
    kind: Option<IntegrationKind>,
    names: &mut std::collections::HashSet<&'a str>,
) -> Option<HeartbeatTiming> {
    if kind != Some(IntegrationKind::Heartbeat) {
        for (field, value) in [("interval", &integ.interval), ("grace", &integ.grace)] {
            if value.is_some() {
                errors.hint(
                    format!("{ipath}.{field}"),
                    format!("only heartbeat integrations have a {field}"),
                    "remove it, or set kind = \"heartbeat\"",
                );
            }
        }
        return None;
    }
    let interval = parse_duration(
        errors,
        &format!("{ipath}.interval"),
        integ.interval.as_deref(),
        None,
    );
    let grace = parse_duration(
        errors,
        &format!("{ipath}.grace"),
        integ.grace.as_deref(),
        Some(DEFAULT_HEARTBEAT_GRACE),
    );
    let name = integ.name.as_deref().unwrap_or("heartbeat");
    check_id(errors, &format!("{ipath}.name"), name);
    if !names.insert(name) {
        errors.hint(
            format!("{ipath}.name"),
            format!("another heartbeat of this service is named {name:?}"),
            "give each heartbeat its own name; it is part of the alert's dedup key",
        );
    }
    Some(HeartbeatTiming { interval, grace })
}

/// An sns integration's topics, `insufficient_data` and test endpoint; for
/// any other kind, an error for each of those fields that is set.
fn sns_settings(
    errors: &mut Errors,
    ipath: &str,
    integ: &RawIntegration,
    kind: Option<IntegrationKind>,
) -> Option<SnsSettings> {
    if kind != Some(IntegrationKind::Sns) {
        for (field, set) in [
            ("topics", integ.topics.is_some()),
            ("insufficient_data", integ.insufficient_data.is_some()),
            ("test_endpoint_url", integ.test_endpoint_url.is_some()),
        ] {
            if set {
                errors.hint(
                    format!("{ipath}.{field}"),
                    format!("only sns integrations have {field}"),
                    "remove it, or set kind = \"sns\"",
                );
            }
        }
        return None;
    }
    let topics = integ.topics.clone().unwrap_or_default();
    if topics.is_empty() {
        errors.hint(
            format!("{ipath}.topics"),
            "an sns integration needs at least one topic ARN",
            "topics = [\"arn:aws:sns:eu-west-1:123456789012:alarms\"]; messages from other topics are refused",
        );
    }
    for (k, t) in topics.iter().enumerate() {
        if !is_sns_topic_arn(t) {
            errors.hint(
                format!("{ipath}.topics[{k}]"),
                format!("{t:?} is not an SNS topic ARN"),
                "such as \"arn:aws:sns:eu-west-1:123456789012:alarms\"",
            );
        }
    }
    let insufficient_data = match integ.insufficient_data.as_deref() {
        None | Some("ignore") => InsufficientData::Ignore,
        Some("trigger") => InsufficientData::Trigger,
        Some("resolve") => InsufficientData::Resolve,
        Some(other) => {
            errors.hint(
                format!("{ipath}.insufficient_data"),
                format!("unknown value {other:?}"),
                "one of \"ignore\" (the default), \"trigger\", \"resolve\"",
            );
            InsufficientData::Ignore
        }
    };
    let test_endpoint_url = integ.test_endpoint_url.as_deref().and_then(|u| {
        let origin = loopback_origin(u);
        if origin.is_none() {
            errors.hint(
                format!("{ipath}.test_endpoint_url"),
                format!("{u:?} is not a loopback origin"),
                "for tests only: \"http://127.0.0.1:PORT\" (no path); leave it out in production",
            );
        }
        origin
    });
    Some(SnsSettings {
        topics,
        insufficient_data,
        test_endpoint_url,
    })
}

/// `arn:PARTITION:sns:REGION:ACCOUNT:NAME`, with a 12-digit account and a
/// topic name of letters, digits, `-` and `_` (and `.fifo` at the end).
fn is_sns_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [scheme, partition, service, region, account, name] = parts.as_slice() else {
        return false;
    };
    let name = name.strip_suffix(".fifo").unwrap_or(name);
    *scheme == "arn"
        && (*partition == "aws" || partition.starts_with("aws-"))
        && partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-')
        && *service == "sns"
        && !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `http(s)://HOST[:PORT]` with HOST `127.0.0.1`, `localhost` or `[::1]`,
/// without a trailing slash; `None` for anything else.
fn loopback_origin(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            if !after.is_empty() && !after.starts_with(':') {
                return None;
            }
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    (matches!(host, "127.0.0.1" | "localhost" | "::1") && port_ok)
        .then(|| url.trim_end_matches('/').to_string())
}

/// Validates every `[[services]]` table against the policies defined;
/// problems go to `errors` as `services[N].<key>`. Returns the services
/// and, by the SHA-256 of each key, the integration it opens.
pub(super) fn validate(
    raw: &[RawService],
    policies: &BTreeMap<String, Policy>,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> (BTreeMap<String, Service>, HashMap<[u8; 32], IntegrationRef>) {
    let mut services = BTreeMap::new();
    let mut integrations_by_key = HashMap::new();
    for (i, s) in raw.iter().enumerate() {
        let path = format!("services[{i}]");
        let id = check_id(errors, &format!("{path}.id"), &s.id);
        let policy = match s.policy.as_deref() {
            Some(p) if policies.contains_key(p) => p.to_string(),
            Some(p) => {
                errors.hint(
                    format!("{path}.policy"),
                    format!("no policy named {p:?}"),
                    known_list(policies.keys()),
                );
                p.to_string()
            }
            None => {
                errors.hint(
                    format!("{path}.policy"),
                    "missing",
                    "every service names the escalation policy that pages for it",
                );
                String::new()
            }
        };
        let mut integrations = Vec::new();
        let mut heartbeat_names = std::collections::HashSet::new();
        for (j, integ) in s.integrations.iter().enumerate() {
            let ipath = format!("{path}.integrations[{j}]");
            let kind = match integ.kind.as_str() {
                "generic" => Some(IntegrationKind::Generic),
                "pagerduty" => Some(IntegrationKind::Pagerduty),
                "alertmanager" => Some(IntegrationKind::Alertmanager),
                "vtm" => Some(IntegrationKind::Vtm),
                "heartbeat" => Some(IntegrationKind::Heartbeat),
                "sns" => Some(IntegrationKind::Sns),
                other => {
                    errors.hint(
                        format!("{ipath}.kind"),
                        format!("unknown integration kind {other:?}"),
                        "this version supports \"generic\", \"pagerduty\", \"alertmanager\", \"vtm\", \"heartbeat\" and \"sns\"",
                    );
                    None
                }
            };
            let heartbeat = heartbeat_timing(errors, &ipath, integ, kind, &mut heartbeat_names);
            let rate_limit = match integ.rate_limit.as_deref().map(IngestRateLimit::parse) {
                None => None,
                Some(Ok(l)) => Some(l),
                Some(Err(e)) => {
                    errors.hint(
                        format!("{ipath}.rate_limit"),
                        e,
                        "events per window, such as \"600/1m\"",
                    );
                    None
                }
            };
            let sns = sns_settings(errors, &ipath, integ, kind);
            if integ.resolve_on_ends_at.is_some()
                && kind.is_some_and(|k| k != IntegrationKind::Alertmanager)
            {
                errors.hint(
                    format!("{ipath}.resolve_on_ends_at"),
                    "only alertmanager integrations have it",
                    "Prometheus' endsAt arrives only through the Alertmanager API",
                );
            }
            let key = resolve_secret(errors, &format!("{ipath}.key"), &integ.key, secrets);
            if let (Some(kind), Some(key)) = (kind, key) {
                if key.expose_secret().len() < 8 {
                    errors.hint(
                        format!("{ipath}.key"),
                        "shorter than 8 characters",
                        "integration keys are passwords: use a long random value",
                    );
                }
                let r = IntegrationRef {
                    service: s.id.clone(),
                    kind,
                    index: j,
                };
                if integrations_by_key
                    .insert(key_hash(key.expose_secret()), r)
                    .is_some()
                {
                    errors.push(
                        format!("{ipath}.key"),
                        "the same key is used by another integration; each key must be unique",
                    );
                }
                integrations.push(Integration {
                    kind,
                    name: integ
                        .name
                        .clone()
                        .unwrap_or_else(|| kind.as_str().to_string()),
                    key,
                    heartbeat,
                    sns,
                    rate_limit,
                    resolve_on_ends_at: integ.resolve_on_ends_at.unwrap_or(true),
                });
            }
        }
        for (name, source) in &s.templates {
            if let Err(e) = crate::templates::check(name, source) {
                errors.hint(format!("{path}.templates.{name}"), e.to_string(), e.hint);
            }
        }
        // An invalid id is reported above; the configuration will not load.
        let Some(id) = id else { continue };
        let service = Service {
            id,
            name: s.name.clone().unwrap_or_else(|| s.id.clone()),
            policy,
            integrations,
            templates: s.templates.clone(),
            group_window: crate::bundling::group_window(
                errors,
                &format!("{path}.group_window"),
                s.group_window.as_deref(),
            ),
            ack_timeout: bounded_duration(
                errors,
                &format!("{path}.ack_timeout"),
                s.ack_timeout.as_deref(),
                (
                    SignedDuration::from_mins(1),
                    SignedDuration::from_hours(7 * 24),
                ),
                "between \"1m\" and \"7d\" (168h)",
            ),
            auto_resolve: bounded_duration(
                errors,
                &format!("{path}.auto_resolve"),
                s.auto_resolve.as_deref(),
                (
                    SignedDuration::from_mins(1),
                    SignedDuration::from_hours(30 * 24),
                ),
                "between \"1m\" and \"30d\" (720h)",
            ),
        };
        if services.insert(s.id.clone(), service).is_some() {
            errors.push(
                format!("{path}.id"),
                format!("duplicate service id {:?}", s.id),
            );
        }
    }
    (services, integrations_by_key)
}
