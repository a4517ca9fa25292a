//! The configuration file: a typed tree read from TOML, then validated as a
//! whole so that every mistake is reported at once with its path and a hint.
//!
//! Reading secrets (`env:NAME`, `file:PATH`) is the one thing that touches the
//! outside world; it goes through the [`SecretSource`] trait so this module
//! stays pure.

use crate::escalation::Target;
use crate::schedule::{Schedule, ScheduleSpec};
use jiff::SignedDuration;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    admin_token: Option<String>,
    feed_secret: Option<String>,
    max_body_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    webhook_timeout: Option<String>,
    max_attempts: Option<u32>,
    retry_initial: Option<String>,
    retry_max: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    id: String,
    name: Option<String>,
    timezone: Option<String>,
    #[serde(default)]
    contacts: Vec<RawContact>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    kind: String,
    url: Option<String>,
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegration {
    kind: String,
    key: String,
    name: Option<String>,
}

// ---------------------------------------------------------------------------
// Validated shape, as the program uses it.
// ---------------------------------------------------------------------------

/// The longest `schedules[].handoff_notice` lead.
pub const MAX_HANDOFF_LEAD: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Default maximum request body, in bytes.
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
    pub max_body_bytes: usize,
}

/// How notifications are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    pub webhook_timeout: SignedDuration,
    /// Attempts before a retryable failure is treated as permanent.
    pub max_attempts: u32,
    pub retry_initial: SignedDuration,
    pub retry_max: SignedDuration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            webhook_timeout: SignedDuration::from_secs(10),
            max_attempts: 8,
            retry_initial: SignedDuration::from_secs(2),
            retry_max: SignedDuration::from_mins(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub timezone: String,
    /// Tried in order: the next one is used when the one before fails for good.
    pub contacts: Vec<Contact>,
}

/// One way to reach a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Console,
    Webhook { url: String },
}

impl Contact {
    /// The channel that delivers to this contact.
    pub fn channel(&self) -> &'static str {
        match self {
            Contact::Console => "console",
            Contact::Webhook { .. } => "webhook",
        }
    }

    /// Where a page goes, as stored on the notification.
    pub fn address(&self) -> String {
        match self {
            Contact::Console => "stdout".to_string(),
            Contact::Webhook { url } => url.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    /// How many times the step list runs in total.
    pub repeat: u32,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub targets: Vec<Target>,
    pub wait: SignedDuration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub policy: String,
    pub integrations: Vec<Integration>,
}

#[derive(Debug, Clone)]
pub struct Integration {
    pub kind: IntegrationKind,
    pub name: String,
    pub key: SecretString,
}

impl PartialEq for Integration {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.name == other.name
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
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Generic => "generic",
            IntegrationKind::Pagerduty => "pagerduty",
            IntegrationKind::Alertmanager => "alertmanager",
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
// Errors.
// ---------------------------------------------------------------------------

/// One problem in the configuration, with where it is and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Where `env:NAME` and `file:PATH` secret values are looked up.
pub trait SecretSource {
    fn env(&self, name: &str) -> Option<String>;
    fn file(&self, path: &str) -> Result<String, String>;
}

struct Errors(Vec<ConfigError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
            hint: None,
        });
    }
    fn hint(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
            hint: Some(hint.into()),
        });
    }
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

fn parse_duration(
    errors: &mut Errors,
    path: &str,
    value: Option<&str>,
    default: Option<SignedDuration>,
) -> SignedDuration {
    match value {
        None => match default {
            Some(d) => d,
            None => {
                errors.hint(
                    path,
                    "missing",
                    "write a duration such as \"5m\" or \"30s\"",
                );
                SignedDuration::ZERO
            }
        },
        Some(s) => match s.parse::<SignedDuration>() {
            Ok(d) if d.is_positive() => d,
            Ok(_) => {
                errors.hint(
                    path,
                    format!("{s:?} is not a positive duration"),
                    "such as \"5m\"",
                );
                SignedDuration::ZERO
            }
            Err(_) => {
                errors.hint(
                    path,
                    format!("{s:?} is not a duration"),
                    "write it like \"30s\", \"5m\" or \"1h 30m\"",
                );
                SignedDuration::ZERO
            }
        },
    }
}

fn resolve_secret(
    errors: &mut Errors,
    path: &str,
    value: &str,
    secrets: &dyn SecretSource,
) -> Option<SecretString> {
    let resolved = if let Some(name) = value.strip_prefix("env:") {
        match secrets.env(name) {
            Some(v) => v,
            None => {
                errors.hint(
                    path,
                    format!("environment variable {name} is not set"),
                    format!("export {name}=... before starting, or write the value inline"),
                );
                return None;
            }
        }
    } else if let Some(file) = value.strip_prefix("file:") {
        match secrets.file(file) {
            Ok(v) => v.trim_end_matches(['\n', '\r']).to_string(),
            Err(e) => {
                errors.push(path, format!("cannot read secret file {file}: {e}"));
                return None;
            }
        }
    } else {
        value.to_string()
    };
    if resolved.is_empty() {
        errors.push(path, "is empty");
        return None;
    }
    Some(SecretString::from(resolved))
}

fn check_id(errors: &mut Errors, path: &str, id: &str) {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        errors.hint(
            path,
            format!("{id:?} is not a valid id"),
            "use 1-64 letters, digits, '-', '_' or '.'",
        );
    }
}

fn known_list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "none are defined".to_string()
    } else {
        format!("known: {}", v.join(", "))
    }
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
        max_body_bytes,
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
    };

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
        let mut contacts = Vec::new();
        for (j, c) in u.contacts.iter().enumerate() {
            let cpath = format!("{path}.contacts[{j}]");
            match c.kind.as_str() {
                "console" => {
                    if c.url.is_some() {
                        errors.push(format!("{cpath}.url"), "console contacts take no url");
                    }
                    contacts.push(Contact::Console);
                }
                "webhook" => match c.url.as_deref() {
                    Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                        contacts.push(Contact::Webhook {
                            url: url.to_string(),
                        })
                    }
                    Some(url) => errors.hint(
                        format!("{cpath}.url"),
                        format!("{url:?} is not an http(s) URL"),
                        "such as \"https://example.com/hook\"",
                    ),
                    None => errors.push(
                        format!("{cpath}.url"),
                        "missing; webhook contacts need a url",
                    ),
                },
                other => errors.hint(
                    format!("{cpath}.kind"),
                    format!("unknown contact kind {other:?}"),
                    "this version supports \"console\" and \"webhook\"",
                ),
            }
        }
        if u.contacts.is_empty() {
            errors.hint(
                format!("{path}.contacts"),
                "no contact methods: this user can never be paged",
                "add e.g. { kind = \"console\" }",
            );
        }
        let user = User {
            id: u.id.clone(),
            name: u.name.clone().unwrap_or_else(|| u.id.clone()),
            timezone,
            contacts,
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
        for (j, integ) in s.integrations.iter().enumerate() {
            let ipath = format!("{path}.integrations[{j}]");
            let kind = match integ.kind.as_str() {
                "generic" => Some(IntegrationKind::Generic),
                "pagerduty" => Some(IntegrationKind::Pagerduty),
                "alertmanager" => Some(IntegrationKind::Alertmanager),
                other => {
                    errors.hint(
                        format!("{ipath}.kind"),
                        format!("unknown integration kind {other:?}"),
                        "this version supports \"generic\", \"pagerduty\" and \"alertmanager\"",
                    );
                    None
                }
            };
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
                });
            }
        }
        let service = Service {
            id: s.id.clone(),
            name: s.name.clone().unwrap_or_else(|| s.id.clone()),
            policy,
            integrations,
        };
        if services.insert(s.id.clone(), service).is_some() {
            errors.push(
                format!("{path}.id"),
                format!("duplicate service id {:?}", s.id),
            );
        }
    }

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
        handoff_notices,
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
}
