//! The configuration file: a typed tree read from TOML, then validated as a
//! whole so that every mistake is reported at once with its path and a hint.
//!
//! Reading secrets (`env:NAME`, `file:PATH`) is the one thing that touches the
//! outside world; it goes through the [`SecretSource`] trait so this module
//! stays pure.

pub mod diag;

pub use diag::{ConfigError, ConfigErrors, MapSecrets, SecretSource, parse_long_duration};
pub(crate) use diag::{
    Errors, bounded_duration, check_id, known_list, parse_duration, resolve_secret,
};

pub use crate::contacts::{Contact, User};
pub use crate::escalation::{Policy, Step};

use crate::escalation::Target;
use crate::schedule::{Schedule, ScheduleSpec};
use jiff::SignedDuration;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;

// ---------------------------------------------------------------------------
// Raw shape, as written in the file.
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    schedules: Vec<ScheduleSpec>,
    #[serde(default)]
    policies: Vec<RawPolicy>,
    #[serde(default)]
    services: Vec<RawService>,
    #[serde(default)]
    probes: Vec<crate::probe::ProbeSpec>,
    #[serde(default)]
    channels: Vec<crate::channels::RawChannel>,
    /// `[[rules]]`, read entry by entry by [`crate::rules`] so a wrong key is
    /// reported with the rule's path.
    #[serde(default)]
    rules: Vec<toml::Value>,
    /// `[[inhibit_rules]]` (see [`crate::silence`]).
    #[serde(default)]
    inhibit_rules: Vec<crate::silence::RawInhibitRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    admin_token: Option<String>,
    feed_secret: Option<String>,
    link_secret: Option<String>,
    link_ttl: Option<String>,
    max_body_bytes: Option<usize>,
    /// Region (ISO 3166 code) of phone numbers written without a country code.
    default_region: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    webhook_timeout: Option<String>,
    max_attempts: Option<u32>,
    retry_initial: Option<String>,
    retry_max: Option<String>,
    /// Per contact kind, per address (see [`crate::bundling`]).
    #[serde(default)]
    rate_limits: crate::bundling::RawRateLimits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    id: String,
    name: Option<String>,
    timezone: Option<String>,
    /// Region of this user's national phone numbers (else the server's).
    region: Option<String>,
    #[serde(default)]
    contacts: Vec<RawContact>,
    /// Which contacts a page uses, by severity and local time.
    #[serde(default)]
    notification_rules: Vec<crate::notify_rules::RawNotificationRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    kind: String,
    url: Option<String>,
    /// The `[[channels]]` entry that delivers to this contact.
    channel: Option<String>,
    /// An email contact's address.
    address: Option<String>,
    /// A program contact's arguments, after the channel's.
    args: Option<crate::channels::Args>,
    /// An sms contact's phone number.
    number: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    id: String,
    repeat: Option<i64>,
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    targets: Vec<String>,
    wait: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    id: String,
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
    rules: Vec<toml::Value>,
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
}

// ---------------------------------------------------------------------------
// Validated shape, as the program uses it.
// ---------------------------------------------------------------------------

/// The longest `schedules[].handoff_notice` lead.
pub const MAX_HANDOFF_LEAD: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Default maximum request body, in bytes.
/// How long a one-click link works, unless `server.link_ttl` says otherwise.
pub const DEFAULT_LINK_TTL: SignedDuration = SignedDuration::from_hours(24);

pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub delivery: DeliveryConfig,
    pub users: BTreeMap<String, User>,
    pub schedules: BTreeMap<String, Schedule>,
    /// Schedules that tell the incoming person their shift starts: schedule id
    /// → how long before the handoff.
    pub handoff_notices: BTreeMap<String, SignedDuration>,
    pub policies: BTreeMap<String, Policy>,
    pub services: BTreeMap<String, Service>,
    /// `[[probes]]`: HTTP and TCP checks the server runs itself.
    pub probes: Vec<crate::probe::Probe>,
    /// `[[channels]]`, by name (the built-ins `console` and `webhook` are not here).
    pub channels: BTreeMap<String, crate::channels::ChannelConfig>,
    /// `[[rules]]` and each service's `rules`, compiled.
    pub rules: crate::rules::RuleSet,
    /// `[[inhibit_rules]]`, compiled.
    pub inhibit_rules: Vec<crate::silence::InhibitRule>,
    /// SHA-256 of each integration key → the integration it opens.
    integrations_by_key: HashMap<[u8; 32], IntegrationRef>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub admin_token: Option<SecretString>,
    /// Signs calendar feed URLs; without it they derive from the admin token.
    pub feed_secret: Option<SecretString>,
    /// Signs the one-click acknowledge/resolve links in pages; without it
    /// they derive from the admin token (see [`crate::links`]).
    pub link_secret: Option<SecretString>,
    /// How long such a link works after its page was queued.
    pub link_ttl: SignedDuration,
    pub max_body_bytes: usize,
    /// Region (e.g. `GB`) for phone numbers without a country code.
    pub default_region: Option<String>,
}

/// How notifications are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    pub webhook_timeout: SignedDuration,
    /// Attempts before a retryable failure is treated as permanent.
    pub max_attempts: u32,
    pub retry_initial: SignedDuration,
    pub retry_max: SignedDuration,
    /// `[delivery.rate_limits]`: messages per window per contact kind and address.
    pub rate_limits: crate::bundling::RateLimits,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            webhook_timeout: SignedDuration::from_secs(10),
            max_attempts: 8,
            retry_initial: SignedDuration::from_secs(2),
            retry_max: SignedDuration::from_mins(10),
            rate_limits: crate::bundling::RateLimits::default(),
        }
    }
}

impl Config {
    /// Every message template, compiled: the built-ins and each service's
    /// overrides.
    pub fn templates(&self) -> crate::templates::Templates {
        crate::templates::Templates::new(
            self.services
                .iter()
                .map(|(id, s)| (id.as_str(), &s.templates)),
        )
    }

    /// Whether any user has notification rules (pages then depend on the
    /// alert's severity).
    pub fn has_notification_rules(&self) -> bool {
        self.users
            .values()
            .any(|u| !u.notification_rules.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: String,
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

impl Config {
    /// The integration whose key is `key`, if any. Compares hashes, so the
    /// time taken says nothing about how much of a wrong key was right.
    pub fn integration_for_key(&self, key: &str) -> Option<&IntegrationRef> {
        self.integrations_by_key.get(&key_hash(key))
    }

    /// True when `token` is the admin token. Constant-time in the token.
    pub fn is_admin_token(&self, token: &str) -> bool {
        match &self.server.admin_token {
            Some(expected) => {
                let a = key_hash(expected.expose_secret());
                let b = key_hash(token);
                a.iter()
                    .zip(b.iter())
                    .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                    == 0
            }
            None => false,
        }
    }

    pub fn policy_for_service(&self, service: &str) -> Option<&Policy> {
        self.services
            .get(service)
            .and_then(|s| self.policies.get(&s.policy))
    }

    /// A one-paragraph description, for `check-config`.
    pub fn summary(&self) -> String {
        let integrations: usize = self.services.values().map(|s| s.integrations.len()).sum();
        format!(
            "listen {}; data_dir {}; {} user(s), {} schedule(s), {} policy(ies), {} service(s), {} integration(s); admin token {}",
            self.server.listen,
            self.server.data_dir.display(),
            self.users.len(),
            self.schedules.len(),
            self.policies.len(),
            self.services.len(),
            integrations,
            if self.server.admin_token.is_some() {
                "set"
            } else {
                "not set (the API is closed)"
            },
        )
    }
}

impl Config {
    /// The secret token in a calendar feed's URL (`feed` is e.g.
    /// `schedule:ops` or `user:alice`), or `None` when neither
    /// `server.feed_secret` nor `server.admin_token` is set.
    pub fn feed_token(&self, feed: &str) -> Option<String> {
        let secret = self
            .server
            .feed_secret
            .as_ref()
            .or(self.server.admin_token.as_ref())?;
        let mut h = Sha256::new();
        h.update(b"firebell-feed\0");
        h.update(secret.expose_secret().as_bytes());
        h.update([0]);
        h.update(feed.as_bytes());
        let digest = h.finalize();
        Some(digest[..20].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// True when `token` opens `feed`. Constant-time in the token.
    pub fn feed_token_ok(&self, feed: &str, token: &str) -> bool {
        self.feed_token(feed)
            .is_some_and(|expected| constant_time_eq(expected.as_bytes(), token.as_bytes()))
    }

    /// Warnings that do not stop the configuration from loading: spans in
    /// `[now, now + horizon)` when a schedule has nobody on call.
    pub fn warnings(&self, now: jiff::Timestamp, horizon: SignedDuration) -> Vec<String> {
        let mut out = Vec::new();
        let end = now.checked_add(horizon).unwrap_or(now);
        let span = if horizon.as_secs() % 86_400 == 0 {
            format!("{} days", horizon.as_secs() / 86_400)
        } else {
            format!("{horizon}")
        };
        for (id, schedule) in &self.schedules {
            let gaps: Vec<String> = schedule
                .shifts(now, end, &[])
                .into_iter()
                .filter(|s| s.users.is_empty())
                .map(|s| format!("{} → {}", s.start, s.end))
                .collect();
            if !gaps.is_empty() {
                let shown = gaps.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
                let more = if gaps.len() > 5 {
                    format!(" and {} more", gaps.len() - 5)
                } else {
                    String::new()
                };
                out.push(format!(
                    "schedule {id:?} has nobody on call in {} span(s) in the next {span}: {shown}{more}",
                    gaps.len(),
                ));
            }
        }
        out
    }
}

/// Equal contents, compared without an early exit (lengths are not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

// ---------------------------------------------------------------------------
// Parsing and validation.
// ---------------------------------------------------------------------------

/// Parses and validates a whole configuration file.
pub fn parse(text: &str, secrets: &dyn SecretSource) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().to_string();
        let path = match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}")
            }
            None => "file".to_string(),
        };
        ConfigErrors(vec![ConfigError {
            path,
            message,
            hint: Some("see docs/configuration.md for every key".into()),
        }])
    })?;
    validate(raw, secrets)
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

fn validate(raw: RawConfig, secrets: &dyn SecretSource) -> Result<Config, ConfigErrors> {
    let mut errors = Errors(Vec::new());

    // [server]
    let listen_text = raw.server.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|_| {
        errors.hint(
            "server.listen",
            format!("{listen_text:?} is not an address"),
            "write host:port, e.g. \"127.0.0.1:8080\"",
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let public_url = raw
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"));
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        errors.hint(
            "server.public_url",
            format!("{public_url:?} is not an http(s) URL"),
            "the address people and providers reach this server at",
        );
    }
    let admin_token = raw
        .server
        .admin_token
        .as_deref()
        .and_then(|v| resolve_secret(&mut errors, "server.admin_token", v, secrets));
    let feed_secret = raw
        .server
        .feed_secret
        .as_deref()
        .and_then(|v| resolve_secret(&mut errors, "server.feed_secret", v, secrets));
    let link_secret = raw
        .server
        .link_secret
        .as_deref()
        .and_then(|v| resolve_secret(&mut errors, "server.link_secret", v, secrets));
    if link_secret
        .as_ref()
        .is_some_and(|s| s.expose_secret().len() < 16)
    {
        errors.hint(
            "server.link_secret",
            "shorter than 16 characters",
            "it signs links that act on alerts: use a long random value",
        );
    }
    let link_ttl = parse_duration(
        &mut errors,
        "server.link_ttl",
        raw.server.link_ttl.as_deref(),
        Some(DEFAULT_LINK_TTL),
    );
    let max_body_bytes = raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        errors.push("server.max_body_bytes", "must be at least 1024");
    }
    let server = ServerConfig {
        listen,
        public_url: public_url.trim_end_matches('/').to_string(),
        data_dir: raw
            .server
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./firebell-data")),
        admin_token,
        feed_secret,
        link_secret,
        link_ttl,
        max_body_bytes,
        default_region: raw.server.default_region.as_deref().and_then(|r| {
            crate::sms::parse_region(r)
                .map_err(|e| errors.push("server.default_region", e))
                .ok()
        }),
    };

    // [delivery]
    let defaults = DeliveryConfig::default();
    let delivery = DeliveryConfig {
        webhook_timeout: parse_duration(
            &mut errors,
            "delivery.webhook_timeout",
            raw.delivery.webhook_timeout.as_deref(),
            Some(defaults.webhook_timeout),
        ),
        max_attempts: match raw.delivery.max_attempts {
            Some(0) => {
                errors.push("delivery.max_attempts", "must be at least 1");
                1
            }
            Some(n) => n,
            None => defaults.max_attempts,
        },
        retry_initial: parse_duration(
            &mut errors,
            "delivery.retry_initial",
            raw.delivery.retry_initial.as_deref(),
            Some(defaults.retry_initial),
        ),
        retry_max: parse_duration(
            &mut errors,
            "delivery.retry_max",
            raw.delivery.retry_max.as_deref(),
            Some(defaults.retry_max),
        ),
        rate_limits: crate::bundling::rate_limits(&mut errors, &raw.delivery.rate_limits),
    };

    // [[channels]]
    let channels = crate::channels::validate(&raw.channels, secrets, &mut errors);
    crate::channels::check_fallback_room(
        &raw.channels,
        &channels,
        delivery.max_attempts,
        &mut errors,
    );
    if raw.server.public_url.is_none()
        && let Some(t) = channels
            .values()
            .find(|c| matches!(c.kind, crate::channels::ChannelKind::Twilio(_)))
    {
        errors.hint(
            "server.public_url",
            format!("missing; twilio channel {:?} needs the address Twilio calls back", t.name),
            "public_url = \"https://pager.example.com\"; Twilio posts to <public_url>/hooks/twilio/<channel>/...",
        );
    }

    // [[users]]
    let mut users = BTreeMap::new();
    for (i, u) in raw.users.iter().enumerate() {
        let path = format!("users[{i}]");
        check_id(&mut errors, &format!("{path}.id"), &u.id);
        let timezone = u.timezone.clone().unwrap_or_else(|| "UTC".to_string());
        if jiff::tz::TimeZone::get(&timezone).is_err() {
            errors.hint(
                format!("{path}.timezone"),
                format!("unknown time zone {timezone:?}"),
                "use an IANA name such as \"Europe/London\"",
            );
        }
        let region = match u.region.as_deref() {
            Some(r) => crate::sms::parse_region(r)
                .map_err(|e| errors.push(format!("{path}.region"), e))
                .ok(),
            None => server.default_region.clone(),
        };
        let mut contacts = Vec::new();
        for (j, c) in u.contacts.iter().enumerate() {
            let cpath = format!("{path}.contacts[{j}]");
            let raw_contact = crate::channels::contact::RawContactRef {
                kind: &c.kind,
                url: c.url.as_deref(),
                channel: c.channel.as_deref(),
                address: c.address.as_deref(),
                args: c.args.as_ref(),
                number: c.number.as_deref(),
                region: region.as_deref(),
            };
            if let Some(contact) =
                crate::channels::contact::contact(&raw_contact, &cpath, &channels, &mut errors)
            {
                contacts.push(contact);
            }
        }
        if u.contacts.is_empty() {
            errors.hint(
                format!("{path}.contacts"),
                "no contact methods: this user can never be paged",
                "add e.g. { kind = \"console\" }",
            );
        }
        let notification_rules = if contacts.len() == u.contacts.len() {
            crate::notify_rules::validate(
                &u.notification_rules,
                &contacts.iter().map(Contact::kind).collect::<Vec<_>>(),
                &format!("{path}.notification_rules"),
                &mut errors,
            )
        } else {
            Vec::new() // a contact is invalid: its error is reported already
        };
        let user = User {
            id: u.id.clone(),
            name: u.name.clone().unwrap_or_else(|| u.id.clone()),
            timezone,
            contacts,
            notification_rules,
        };
        if users.insert(u.id.clone(), user).is_some() {
            errors.push(
                format!("{path}.id"),
                format!("duplicate user id {:?}", u.id),
            );
        }
    }

    // [[schedules]]
    let mut schedules = BTreeMap::new();
    let mut handoff_notices = BTreeMap::new();
    for (i, spec) in raw.schedules.iter().enumerate() {
        let path = format!("schedules[{i}]");
        if let Some(lead) = &spec.handoff_notice {
            let lead_path = format!("{path}.handoff_notice");
            match lead.parse::<SignedDuration>() {
                Ok(d) if !d.is_negative() && d <= MAX_HANDOFF_LEAD => {
                    handoff_notices.insert(spec.id.clone(), d);
                }
                _ => errors.hint(
                    lead_path,
                    format!("{lead:?} is not a duration from 0s to 7d"),
                    "how long before a shift starts to tell the incoming person, such as \"15m\" (or \"0s\" at the start)",
                ),
            }
        }
        if !spec.id.is_empty() {
            check_id(&mut errors, &format!("{path}.id"), &spec.id);
        }
        for (j, layer) in spec.layers.iter().enumerate() {
            for (k, p) in layer.participants.iter().enumerate() {
                if !p.is_empty() && !users.contains_key(p) {
                    errors.hint(
                        format!("{path}.layers[{j}].participants[{k}]"),
                        format!("no user named {p:?}"),
                        known_list(users.keys()),
                    );
                }
            }
        }
        match spec.build() {
            Ok(schedule) => {
                if schedules.insert(spec.id.clone(), schedule).is_some() {
                    errors.push(
                        format!("{path}.id"),
                        format!("duplicate schedule id {:?}", spec.id),
                    );
                }
            }
            Err(errs) => {
                for e in errs {
                    let e = e.within(&path);
                    errors.push(e.field, e.message);
                }
            }
        }
    }

    // [[policies]]
    let mut policies = BTreeMap::new();
    for (i, p) in raw.policies.iter().enumerate() {
        let path = format!("policies[{i}]");
        check_id(&mut errors, &format!("{path}.id"), &p.id);
        let repeat = match p.repeat {
            None => 1,
            Some(n) if (1..=100).contains(&n) => n as u32,
            Some(n) => {
                errors.hint(
                    format!("{path}.repeat"),
                    format!("{n} is out of range"),
                    "the step list runs 1 to 100 times",
                );
                1
            }
        };
        if p.steps.is_empty() {
            errors.hint(
                format!("{path}.steps"),
                "a policy needs at least one step",
                "steps = [ { targets = [\"user:alice\"], wait = \"5m\" } ]",
            );
        }
        let mut steps = Vec::new();
        for (j, s) in p.steps.iter().enumerate() {
            let spath = format!("{path}.steps[{j}]");
            let wait = parse_duration(
                &mut errors,
                &format!("{spath}.wait"),
                s.wait.as_deref(),
                None,
            );
            if s.targets.is_empty() {
                errors.hint(
                    format!("{spath}.targets"),
                    "a step needs at least one target",
                    "targets = [\"user:alice\"]",
                );
            }
            let mut targets = Vec::new();
            for (k, t) in s.targets.iter().enumerate() {
                let tpath = format!("{spath}.targets[{k}]");
                match t.parse::<Target>() {
                    Ok(target) => {
                        let (what, id, defined): (&str, &String, Vec<&String>) = match &target {
                            Target::User(id) => {
                                ("user", id, raw.users.iter().map(|u| &u.id).collect())
                            }
                            Target::Schedule(id) => (
                                "schedule",
                                id,
                                raw.schedules.iter().map(|s| &s.id).collect(),
                            ),
                        };
                        if !defined.contains(&id) {
                            errors.hint(
                                tpath,
                                format!("no {what} named {id:?}"),
                                known_list(defined.into_iter()),
                            );
                        }
                        targets.push(target);
                    }
                    Err(e) => {
                        errors.hint(tpath, e, "write targets as \"user:ID\" or \"schedule:ID\"")
                    }
                }
            }
            steps.push(Step { targets, wait });
        }
        let policy = Policy {
            id: p.id.clone(),
            repeat,
            steps,
        };
        if policies.insert(p.id.clone(), policy).is_some() {
            errors.push(
                format!("{path}.id"),
                format!("duplicate policy id {:?}", p.id),
            );
        }
    }

    // [[services]]
    let mut services = BTreeMap::new();
    let mut integrations_by_key = HashMap::new();
    for (i, s) in raw.services.iter().enumerate() {
        let path = format!("services[{i}]");
        check_id(&mut errors, &format!("{path}.id"), &s.id);
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
            let heartbeat =
                heartbeat_timing(&mut errors, &ipath, integ, kind, &mut heartbeat_names);
            let sns = sns_settings(&mut errors, &ipath, integ, kind);
            let key = resolve_secret(&mut errors, &format!("{ipath}.key"), &integ.key, secrets);
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
                });
            }
        }
        for (name, source) in &s.templates {
            if let Err(e) = crate::templates::check(name, source) {
                errors.hint(format!("{path}.templates.{name}"), e.to_string(), e.hint);
            }
        }
        let service = Service {
            id: s.id.clone(),
            name: s.name.clone().unwrap_or_else(|| s.id.clone()),
            policy,
            integrations,
            templates: s.templates.clone(),
            group_window: crate::bundling::group_window(
                &mut errors,
                &format!("{path}.group_window"),
                s.group_window.as_deref(),
            ),
            ack_timeout: bounded_duration(
                &mut errors,
                &format!("{path}.ack_timeout"),
                s.ack_timeout.as_deref(),
                (
                    SignedDuration::from_mins(1),
                    SignedDuration::from_hours(7 * 24),
                ),
                "between \"1m\" and \"7d\" (168h)",
            ),
            auto_resolve: bounded_duration(
                &mut errors,
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

    // [[rules]] and [[services]] rules
    let mut rules = crate::rules::RuleSet {
        global: crate::rules::compile_list(&mut errors, "rules", &raw.rules),
        services: BTreeMap::new(),
    };
    for (i, s) in raw.services.iter().enumerate() {
        let path = format!("services[{i}].rules");
        let list = crate::rules::compile_list(&mut errors, &path, &s.rules);
        if !list.is_empty() {
            rules.services.insert(s.id.clone(), list);
        }
    }
    crate::rules::check_routes(&mut errors, &rules, &services.keys().cloned().collect());
    let inhibit_rules = crate::silence::compile_inhibit_rules(&mut errors, &raw.inhibit_rules);

    // [[probes]]
    let service_ids = raw.services.iter().map(|s| s.id.clone()).collect();
    let probes = crate::probe::build(&raw.probes, &service_ids).unwrap_or_else(|e| {
        errors.0.extend(e);
        Vec::new()
    });

    if !errors.0.is_empty() {
        return Err(ConfigErrors(errors.0));
    }
    Ok(Config {
        server,
        delivery,
        users,
        schedules,
        policies,
        services,
        probes,
        channels,
        handoff_notices,
        rules,
        inhibit_rules,
        integrations_by_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeSecrets;
    impl SecretSource for FakeSecrets {
        fn env(&self, name: &str) -> Option<String> {
            match name {
                "FIREBELL_ADMIN_TOKEN" => Some("admin-secret".into()),
                "CHECKOUT_KEY" => Some("checkout-key-123".into()),
                _ => None,
            }
        }
        fn file(&self, path: &str) -> Result<String, String> {
            if path == "/run/key" {
                Ok("from-file-key\n".into())
            } else {
                Err("No such file or directory".into())
            }
        }
        fn executable(&self, _: &std::path::Path) -> Result<(), String> {
            Ok(())
        }
    }

    const EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
data_dir = "./firebell-data"
admin_token = "env:FIREBELL_ADMIN_TOKEN"

[[users]]
id = "alice"
name = "Alice Example"
timezone = "Europe/London"
contacts = [
  { kind = "console" },
  { kind = "webhook", url = "http://127.0.0.1:9999/hook" },
]

[[users]]
id = "bob"
contacts = [ { kind = "console" } ]

[[users]]
id = "carol"
contacts = [ { kind = "console" } ]

[[policies]]
id = "outage"
repeat = 3
steps = [
  { targets = ["user:alice"], wait = "2m" },
  { targets = ["user:bob", "user:carol"], wait = "5m" },
]

[[services]]
id = "checkout"
name = "Checkout web"
policy = "outage"
integrations = [ { kind = "generic", key = "env:CHECKOUT_KEY" } ]
"#;

    #[test]
    fn the_documented_example_loads() {
        let c = parse(EXAMPLE, &FakeSecrets).unwrap();
        assert_eq!(c.policies["outage"].repeat, 3);
        assert_eq!(
            c.policies["outage"].steps[1].wait,
            SignedDuration::from_mins(5)
        );
        assert_eq!(c.users["alice"].contacts.len(), 2);
        let r = c.integration_for_key("checkout-key-123").unwrap();
        assert_eq!(r.service, "checkout");
        assert!(c.integration_for_key("wrong").is_none());
        assert!(c.is_admin_token("admin-secret"));
        assert!(!c.is_admin_token("admin-secreT"));
    }

    #[test]
    fn every_error_is_reported_at_once_with_its_path() {
        let text = r#"
[server]
listen = "nowhere"
admin_token = "env:MISSING_TOKEN"

[[users]]
id = "alice"
timezone = "Mars/Olympus"
contacts = [ { kind = "pigeon" }, { kind = "webhook" } ]

[[policies]]
id = "outage"
repeat = 0
steps = [ { targets = ["user:bob", "team:ops"], wait = "soon" } ]

[[services]]
id = "checkout"
policy = "outgae"
integrations = [ { kind = "generic", key = "file:/nope" } ]
"#;
        let errs = parse(text, &FakeSecrets).unwrap_err();
        let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "server.listen",
                "server.admin_token",
                "users[0].timezone",
                "users[0].contacts[0].kind",
                "users[0].contacts[1].url",
                "policies[0].repeat",
                "policies[0].steps[0].wait",
                "policies[0].steps[0].targets[0]",
                "policies[0].steps[0].targets[1]",
                "services[0].policy",
                "services[0].integrations[0].key",
            ],
            "{errs}"
        );
        let text = errs.to_string();
        assert!(text.contains("no user named \"bob\""), "{text}");
        assert!(text.contains("no policy named \"outgae\""), "{text}");
        assert!(text.contains("known: outage"), "{text}");
        assert!(text.contains("MISSING_TOKEN is not set"), "{text}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_a_line() {
        let errs = parse(
            "[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n",
            &FakeSecrets,
        )
        .unwrap_err();
        assert_eq!(errs.0.len(), 1);
        assert_eq!(errs.0[0].path, "line 3");
        assert!(errs.0[0].message.contains("listen_port"), "{errs}");
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        let text = r#"
[[users]]
id = "a"
contacts = [ { kind = "console" } ]
[[policies]]
id = "p"
steps = [ { targets = ["user:a"], wait = "1m" } ]
[[services]]
id = "s"
policy = "p"
integrations = [ { kind = "generic", key = "file:/run/key" } ]
"#;
        let c = parse(text, &FakeSecrets).unwrap();
        assert!(c.integration_for_key("from-file-key").is_some());
        let debug = format!("{c:?}");
        assert!(!debug.contains("from-file-key"), "{debug}");
    }

    #[test]
    fn schedule_mistakes_are_config_errors_with_their_path() {
        let text = r#"
[[users]]
id = "a"
contacts = [ { kind = "console" } ]
[[schedules]]
id = "ops"
timezone = "Mars/Olympus"
layers = [ { participants = ["a", "ghost"], shift = "0h", first_handoff = "2026-01-05T09:00" } ]
[[policies]]
id = "p"
steps = [ { targets = ["schedule:ops", "schedule:nope"], wait = "1m" } ]
"#;
        let errs = parse(text, &FakeSecrets).unwrap_err();
        let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "schedules[0].layers[0].participants[1]",
                "schedules[0].layers[0].shift",
                "schedules[0].timezone",
                "policies[0].steps[0].targets[1]",
            ],
            "{errs}"
        );
        assert!(
            errs.to_string().contains("no schedule named \"nope\""),
            "{errs}"
        );
    }

    #[test]
    fn gaps_in_the_next_weeks_are_warnings() {
        let text = r#"
[[users]]
id = "a"
contacts = [ { kind = "console" } ]
[[schedules]]
id = "weekdays"
timezone = "UTC"
layers = [ { participants = ["a"], shift = "1d", first_handoff = "2026-01-05T00:00",
             restrictions = [ { days = ["mon", "tue", "wed", "thu", "fri"], start = "00:00", end = "23:59" } ] } ]
"#;
        let c = parse(text, &FakeSecrets).unwrap();
        let now: jiff::Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
        let w = c.warnings(now, SignedDuration::from_hours(24 * 7));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("\"weekdays\""), "{w:?}");
        assert!(w[0].contains("in the next 7 days"), "{w:?}");
        assert!(
            w[0].contains("2026-01-09T23:59:00Z → 2026-01-12T00:00:00Z"),
            "{w:?}"
        );
        let token = c.feed_token("schedule:weekdays");
        assert!(token.is_none(), "no secret configured: no feeds");
    }

    #[test]
    fn duplicate_keys_and_ids_are_errors() {
        let text = r#"
[[users]]
id = "a"
contacts = [ { kind = "console" } ]
[[users]]
id = "a"
contacts = [ { kind = "console" } ]
[[policies]]
id = "p"
steps = [ { targets = ["user:a"], wait = "1m" } ]
[[services]]
id = "s"
policy = "p"
integrations = [ { kind = "generic", key = "same-key-123" }, { kind = "generic", key = "same-key-123" } ]
"#;
        let errs = parse(text, &FakeSecrets).unwrap_err();
        let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec!["users[1].id", "services[0].integrations[1].key"]
        );
    }

    #[test]
    fn sns_integrations_need_topic_arns_and_keep_their_fields_to_themselves() {
        let base = r#"
[[users]]
id = "a"
contacts = [ { kind = "console" } ]
[[policies]]
id = "p"
steps = [ { targets = ["user:a"], wait = "1m" } ]
[[services]]
id = "s"
policy = "p"
"#;
        let good = format!(
            "{base}integrations = [ {{ kind = \"sns\", key = \"sns-key-123\", topics = [\"arn:aws:sns:eu-west-1:123456789012:alarms\", \"arn:aws-cn:sns:cn-north-1:123456789012:ops.fifo\"], insufficient_data = \"resolve\", test_endpoint_url = \"http://127.0.0.1:4566/\" }} ]\n"
        );
        let c = parse(&good, &FakeSecrets).unwrap();
        let r = c.integration_for_key("sns-key-123").unwrap();
        assert_eq!(r.kind, IntegrationKind::Sns);
        let sns = c.services["s"].integrations[0].sns.clone().unwrap();
        assert_eq!(sns.topics.len(), 2);
        assert_eq!(sns.insufficient_data, InsufficientData::Resolve);
        assert_eq!(
            sns.test_endpoint_url.as_deref(),
            Some("http://127.0.0.1:4566")
        );

        let bad = format!(
            "{base}integrations = [
  {{ kind = \"sns\", key = \"sns-key-123\", topics = [\"alarms\", \"arn:aws:sqs:eu-west-1:123456789012:q\"], insufficient_data = \"page\", test_endpoint_url = \"https://sns.eu-west-1.amazonaws.com\" }},
  {{ kind = \"sns\", key = \"sns-key-456\" }},
  {{ kind = \"generic\", key = \"generic-key-1\", topics = [], test_endpoint_url = \"http://127.0.0.1:1\" }},
]\n"
        );
        let errs = parse(&bad, &FakeSecrets).unwrap_err();
        let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "services[0].integrations[0].topics[0]",
                "services[0].integrations[0].topics[1]",
                "services[0].integrations[0].insufficient_data",
                "services[0].integrations[0].test_endpoint_url",
                "services[0].integrations[1].topics",
                "services[0].integrations[2].topics",
                "services[0].integrations[2].test_endpoint_url",
            ],
            "{errs}"
        );
        let text = errs.to_string();
        assert!(
            text.contains("\"alarms\" is not an SNS topic ARN"),
            "{text}"
        );
        assert!(text.contains("not a loopback origin"), "{text}");
        assert!(text.contains("only sns integrations have topics"), "{text}");
    }
}
