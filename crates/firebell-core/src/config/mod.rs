//! The configuration file: a typed tree read from TOML, then validated as a
//! whole so that every mistake is reported at once with its path and a hint.
//!
//! Reading secrets (`env:NAME`, `file:PATH`) is the one thing that touches the
//! outside world; it goes through the [`SecretSource`] trait so this module
//! stays pure.

mod database;
mod delivery;
pub mod diag;
mod policies;
mod schedules;
mod server;
mod services;
mod users;

pub mod phone_lines;
pub use database::{DEFAULT_POOL_SIZE, DatabaseConfig};
pub use delivery::DeliveryConfig;
pub use phone_lines::PhoneLine;
pub use schedules::MAX_HANDOFF_LEAD;
pub use server::{DEFAULT_LINK_TTL, DEFAULT_MAX_BODY_BYTES, ServerConfig};
pub use services::{
    DEFAULT_HEARTBEAT_GRACE, HeartbeatTiming, IngestRateLimit, InsufficientData, Integration,
    IntegrationKind, IntegrationRef, Service, SnsSettings,
};

pub use diag::{ConfigError, ConfigErrors, MapSecrets, SecretSource};
use diag::{Errors, key_hash};

pub use crate::contacts::{Contact, User};
pub use crate::escalation::{Policy, Step};

use crate::schedule::{Schedule, ScheduleSpec};
use jiff::SignedDuration;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

// ---------------------------------------------------------------------------
// Raw shape, as written in the file.
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: server::RawServer,
    #[serde(default)]
    database: database::RawDatabase,
    #[serde(default)]
    delivery: delivery::RawDelivery,
    #[serde(default)]
    users: Vec<users::RawUser>,
    #[serde(default)]
    schedules: Vec<ScheduleSpec>,
    #[serde(default)]
    policies: Vec<policies::RawPolicy>,
    #[serde(default)]
    services: Vec<services::RawService>,
    #[serde(default)]
    probes: Vec<crate::probe::ProbeSpec>,
    #[serde(default)]
    channels: Vec<crate::channels::RawChannel>,
    /// `[[rules]]`, read entry by entry by [`crate::rules`] so a wrong key is
    /// reported with the rule's path.
    #[serde(default)]
    rules: Vec<toml::Value>,
    /// `[[actions]]`: runbook actions every service offers (see
    /// [`crate::actions`]).
    #[serde(default)]
    actions: Vec<toml::Value>,
    /// `[[inhibit_rules]]` (see [`crate::silence`]).
    #[serde(default)]
    inhibit_rules: Vec<crate::silence::RawInhibitRule>,
    /// `[[phone_lines]]` (see [`phone_lines`]).
    #[serde(default)]
    phone_lines: Vec<phone_lines::RawPhoneLine>,
    #[serde(default)]
    self_alerts: Option<RawSelfAlerts>,
}

/// `[self_alerts]`: Firebell pages about its own troubles.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelfAlerts {
    policy: String,
    channel_failures: Option<u32>,
    watchdog_url: Option<String>,
    watchdog_interval: Option<String>,
    twilio_balance_below: Option<f64>,
    twilio_balance_interval: Option<String>,
}

/// The built-in service self-alerts are opened on (see [`SelfAlerts`]).
pub const SELF_SERVICE: &str = "firebell";

/// `[self_alerts]`: Firebell raises alerts about itself (a refused reload,
/// …) on the built-in service [`SELF_SERVICE`], paged through `policy`.
/// Off when the table is absent.
#[derive(Debug, Clone)]
pub struct SelfAlerts {
    pub policy: String,
    /// A channel whose pages fail for good this many times in a row is a
    /// trouble (default 3).
    pub channel_failures: u32,
    /// The dead man's switch: requested (GET) every `watchdog_interval`
    /// while Firebell is healthy, so an outside service notices when it is
    /// not. A secret (such URLs carry their check's token): never shown.
    pub watchdog_url: Option<secrecy::SecretString>,
    pub watchdog_interval: SignedDuration,
    /// A twilio channel whose account balance is under this is a trouble.
    pub twilio_balance_below: Option<f64>,
    /// How often balances are read (default 1h).
    pub twilio_balance_interval: SignedDuration,
}

// ---------------------------------------------------------------------------
// Validated shape, as the program uses it.
// ---------------------------------------------------------------------------

/// Default maximum request body, in bytes.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
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
    /// `[[actions]]` and each service's `actions`.
    pub actions: crate::actions::Actions,
    /// `[[phone_lines]]`, by id.
    pub phone_lines: BTreeMap<String, phone_lines::PhoneLine>,
    /// `[self_alerts]`; when set, `services` holds the built-in
    /// [`SELF_SERVICE`] too.
    pub self_alerts: Option<SelfAlerts>,
    /// SHA-256 of each integration key → the integration it opens.
    integrations_by_key: HashMap<[u8; 32], IntegrationRef>,
    /// SHA-256 (hex) of the configuration nodes sharing a database must
    /// agree on: the file without its `[server]` and `[database]` tables.
    pub digest: String,
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
                constant_time_eq(&a, &b)
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
            "listen {}; data_dir {}; database {}; {} user(s), {} schedule(s), {} policy(ies), {} service(s), {} integration(s); admin token {}",
            self.server.listen,
            self.server.data_dir.display(),
            self.database.describe(),
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
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

// ---------------------------------------------------------------------------
// Parsing and validation.
// ---------------------------------------------------------------------------

/// Parses and validates a whole configuration file.
pub fn parse(text: &str, secrets: &dyn SecretSource) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let message = without_values(e.message());
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
    let mut config = validate(raw, secrets)?;
    config.digest = shared_digest(text);
    Ok(config)
}

/// SHA-256 (hex) of what every node sharing a database must agree on: the
/// file without `[server]` and `[database]`, which are each node's own
/// (where it listens, its name, how it reaches the database).
fn shared_digest(text: &str) -> String {
    let shared = match toml::from_str::<toml::Table>(text) {
        Ok(mut t) => {
            t.remove("server");
            t.remove("database");
            toml::to_string(&t).unwrap_or_default()
        }
        Err(_) => text.to_string(),
    };
    let hash = Sha256::digest(shared.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// A parse error's message without the values it quotes (serde writes
/// ``invalid type: integer `123…`, expected a string``): the value may be a
/// secret written in the wrong type, and errors reach the log and the
/// `/-/reload` answer. The line number says where it is.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some((before, after)) = rest.split_once(": ") {
        out.push_str(before);
        out.push_str(": ");
        rest = after;
        // `invalid type: integer `…`` / `invalid value: string "…"`
        let kinds = [
            "integer `",
            "float `",
            "string \"",
            "boolean `",
            "character `",
        ];
        if let Some(k) = kinds.iter().find(|k| rest.starts_with(**k)) {
            let close = if k.ends_with('"') { '"' } else { '`' };
            let body = &rest[k.len()..];
            if let Some(end) = body.find(close) {
                out.push_str(k[..k.len() - 1].trim_end());
                rest = &body[end + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn validate(raw: RawConfig, secrets: &dyn SecretSource) -> Result<Config, ConfigErrors> {
    let mut errors = Errors(Vec::new());

    let server = server::validate(&raw.server, secrets, &mut errors);
    let database = database::validate(&raw.database, secrets, &mut errors);
    let delivery = delivery::validate(&raw.delivery, &mut errors);

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

    let users = users::validate(
        &raw.users,
        &channels,
        server.default_region.as_deref(),
        &mut errors,
    );

    let (schedules, handoff_notices) = schedules::validate(&raw.schedules, &users, &mut errors);

    let policies = policies::validate(
        &raw.policies,
        &raw.users.iter().map(|u| &u.id).collect::<Vec<_>>(),
        &raw.schedules.iter().map(|s| &s.id).collect::<Vec<_>>(),
        &mut errors,
    );

    let (mut services, integrations_by_key) =
        services::validate(&raw.services, &policies, secrets, &mut errors);

    // [self_alerts]: the built-in service `firebell`, paged through its policy.
    let self_alerts = raw.self_alerts.as_ref().map(|sa| {
        let watchdog_url = sa.watchdog_url.as_deref().map(str::trim);
        let web_url = |u: &str| {
            ["https://", "http://"]
                .iter()
                .any(|scheme| u.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()))
                && !u.contains(char::is_whitespace)
        };
        if let Some(u) = watchdog_url
            && !web_url(u)
        {
            // The value is not repeated: it may hold a token.
            errors.push(
                "self_alerts.watchdog_url",
                "is not an http:// or https:// URL",
            );
        }
        let watchdog_interval = diag::parse_duration(
            &mut errors,
            "self_alerts.watchdog_interval",
            sa.watchdog_interval.as_deref(),
            Some(SignedDuration::from_mins(1)),
        );
        if watchdog_interval < SignedDuration::from_secs(1)
            || watchdog_interval > SignedDuration::from_hours(1)
        {
            errors.push("self_alerts.watchdog_interval", "must be between 1s and 1h");
        }
        if sa
            .twilio_balance_below
            .is_some_and(|b| !b.is_finite() || b <= 0.0)
        {
            errors.push(
                "self_alerts.twilio_balance_below",
                "must be a positive amount, in the account's currency",
            );
        }
        let twilio_balance_interval = diag::parse_duration(
            &mut errors,
            "self_alerts.twilio_balance_interval",
            sa.twilio_balance_interval.as_deref(),
            Some(SignedDuration::from_hours(1)),
        );
        if twilio_balance_interval < SignedDuration::from_mins(1)
            || twilio_balance_interval > SignedDuration::from_hours(24)
        {
            errors.push(
                "self_alerts.twilio_balance_interval",
                "must be between 1m and 24h",
            );
        }
        SelfAlerts {
            policy: sa.policy.clone(),
            channel_failures: sa.channel_failures.unwrap_or(3),
            watchdog_url: watchdog_url.map(|u| secrecy::SecretString::from(u.to_string())),
            watchdog_interval,
            twilio_balance_below: sa.twilio_balance_below,
            twilio_balance_interval,
        }
    });
    if let Some(sa) = &self_alerts {
        if !(1..=1000).contains(&sa.channel_failures) {
            errors.push("self_alerts.channel_failures", "must be between 1 and 1000");
        }
        if !policies.contains_key(&sa.policy) {
            errors.hint(
                "self_alerts.policy",
                format!("no policy named {:?}", sa.policy),
                diag::known_list(policies.keys()),
            );
        }
        if let Some(i) = raw.services.iter().position(|s| s.id == SELF_SERVICE) {
            errors.push(
                format!("services[{i}].id"),
                format!(
                    "{SELF_SERVICE:?} is the built-in service of [self_alerts]: choose another id"
                ),
            );
        }
        if let Ok(id) = crate::id::Id::parse(SELF_SERVICE) {
            services.insert(
                SELF_SERVICE.to_string(),
                Service {
                    id,
                    name: "Firebell itself".to_string(),
                    policy: sa.policy.clone(),
                    integrations: Vec::new(),
                    templates: BTreeMap::new(),
                    group_window: None,
                    ack_timeout: None,
                    auto_resolve: None,
                },
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

    // [[actions]] and [[services.actions]]
    let mut actions = crate::actions::Actions {
        global: crate::actions::compile_list(&mut errors, "actions", &raw.actions, &channels, &[]),
        services: BTreeMap::new(),
    };
    for (i, s) in raw.services.iter().enumerate() {
        let path = format!("services[{i}].actions");
        let list = crate::actions::compile_list(
            &mut errors,
            &path,
            &s.actions,
            &channels,
            &actions.global,
        );
        if !list.is_empty() {
            actions.services.insert(s.id.clone(), list);
        }
    }

    // [[phone_lines]]
    let phone_lines = phone_lines::compile(
        &mut errors,
        &raw.phone_lines,
        &channels,
        &services,
        &policies,
        server.default_region.as_deref(),
    );

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
        database,
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
        actions,
        phone_lines,
        self_alerts,
        integrations_by_key,
        digest: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeSecrets;
    impl SecretSource for FakeSecrets {
        fn env(&self, name: &str) -> Option<String> {
            match name {
                "FIREBELL_ADMIN_TOKEN" => Some("admin-secret-0123456789".into()),
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
        assert!(c.is_admin_token("admin-secret-0123456789"));
        assert!(!c.is_admin_token("admin-secreT"));
    }

    #[test]
    fn nodes_agree_on_everything_but_their_own_server_and_database_tables() {
        let node = |listen: &str, name: &str, policy_wait: &str| {
            format!(
                "[server]\nlisten = \"{listen}\"\nnode_name = \"{name}\"\n\
                 [[users]]\nid = \"alice\"\ncontacts = [ {{ kind = \"console\" }} ]\n\
                 [[policies]]\nid = \"p\"\nsteps = [ {{ targets = [\"user:alice\"], wait = \"{policy_wait}\" }} ]\n"
            )
        };
        let a = parse(&node("127.0.0.1:1", "a", "5m"), &MapSecrets::default()).unwrap();
        let b = parse(&node("127.0.0.1:2", "b", "5m"), &MapSecrets::default()).unwrap();
        let c = parse(&node("127.0.0.1:3", "c", "10m"), &MapSecrets::default()).unwrap();
        assert_eq!(a.digest.len(), 64);
        assert_eq!(a.digest, b.digest, "only [server] differs");
        assert_ne!(a.digest, c.digest, "a policy differs");
    }

    #[test]
    fn the_database_url_is_a_secret_that_is_never_echoed() {
        // Absent: the embedded SQLite.
        let c = parse("", &MapSecrets::default()).unwrap();
        assert!(c.database.url.is_none());
        assert_eq!(c.database.describe(), "sqlite");
        // From the environment; described without user or password.
        let secrets = MapSecrets::default().with_env(
            "FIREBELL_DATABASE_URL",
            "postgres://firebell:hunter2-secret@db1:5432,db2/firebell?target_session_attrs=read-write",
        );
        let c = parse(
            "[database]\nurl = \"env:FIREBELL_DATABASE_URL\"\npool_size = 8\n[server]\nnode_name = \"pager-1\"\n",
            &secrets,
        )
        .unwrap();
        assert_eq!(c.database.pool_size, 8);
        assert_eq!(c.server.node_name.as_deref(), Some("pager-1"));
        assert_eq!(c.database.describe(), "postgres db1:5432,db2/firebell");
        assert!(!c.summary().contains("hunter2"), "{}", c.summary());
        // Not a PostgreSQL URL: named, not echoed; and a bad node name.
        let errs = parse(
            "[database]\nurl = \"mysql://root:hunter2-secret@db/x\"\npool_size = 1\n[server]\nnode_name = \"a b\"\n",
            &MapSecrets::default(),
        )
        .unwrap_err();
        let text = errs.to_string();
        assert!(
            text.contains("database.url: is not a PostgreSQL URL"),
            "{text}"
        );
        assert!(text.contains("database.pool_size"), "{text}");
        assert!(text.contains("server.node_name"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        // Unset variable: named.
        let errs = parse(
            "[database]\nurl = \"env:NOPE_NOT_SET\"\n",
            &MapSecrets::default(),
        )
        .unwrap_err();
        assert!(
            errs.to_string()
                .contains("database.url: environment variable NOPE_NOT_SET is not set")
        );
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_not_echoed() {
        let errs = parse(
            "[server]\nadmin_token = 98765432109876543\n",
            &MapSecrets::default(),
        )
        .unwrap_err();
        let text = errs.to_string();
        assert!(!text.contains("98765432109876543"), "{text}");
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("invalid type: integer"), "{text}");
        assert_eq!(
            without_values("invalid value: string \"hunter2\", expected one of `a`"),
            "invalid value: string, expected one of `a`"
        );
    }

    #[test]
    fn an_admin_token_shorter_than_16_characters_is_refused() {
        let text = |t: &str| format!("[server]\nadmin_token = \"{t}\"\n");
        let errs = parse(&text("fifteen-chars-x"), &MapSecrets::default()).unwrap_err();
        assert_eq!(errs.0.len(), 1);
        assert_eq!(errs.0[0].path, "server.admin_token");
        assert!(errs.0[0].message.contains("shorter than 16"), "{errs}");
        assert!(
            !errs.to_string().contains("fifteen-chars-x"),
            "never echo the token"
        );
        assert!(parse(&text("sixteen-chars-xx"), &MapSecrets::default()).is_ok());
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
