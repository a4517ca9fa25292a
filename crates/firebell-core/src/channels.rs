//! Named delivery channels: the `[[channels]]` tables of the configuration.
//!
//! A channel is a configured backend (a webhook with a preset and a signing
//! secret, an SMTP server, a local program); a contact names what reaches the
//! person and, optionally, the channel that delivers it. The built-in channels
//! `console` and `webhook` need no table.

use crate::config::{Errors, SecretSource, parse_duration, resolve_secret};
use jiff::SignedDuration;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Names of the channels that exist without a `[[channels]]` table.
pub const BUILTIN_CHANNELS: [&str; 2] = ["console", "webhook"];

/// How long a program may run before it is killed, unless configured.
pub const DEFAULT_PROGRAM_TIMEOUT: SignedDuration = SignedDuration::from_secs(10);

// ---------------------------------------------------------------------------
// Raw shape, as written in the file.
// ---------------------------------------------------------------------------

/// One `[[channels]]` table as written. Every kind's keys are here; keys that
/// do not belong to the table's kind are reported by [`validate`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChannel {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    dry_run: Option<bool>,
    // kind = "webhook"
    url: Option<String>,
    preset: Option<String>,
    secret: Option<String>,
    // kind = "program"
    path: Option<PathBuf>,
    args: Option<Args>,
    eventtype: Option<String>,
    timeout: Option<String>,
    verbose: Option<bool>,
    // kind = "smtp"
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    from: Option<String>,
    ca_file: Option<String>,
    // kind = "http_sms" (also url, username, password, from, eventtype)
    method: Option<String>,
    encoding: Option<String>,
    auth: Option<String>,
    token: Option<String>,
    fields: Option<Args>,
    number_format: Option<String>,
    success: Option<crate::http_sms::RawSuccess>,
    message_id: Option<crate::http_sms::RawMessageId>,
    retryable_status: Option<Vec<u16>>,
    per_recipient: Option<crate::http_sms::RawPerRecipient>,
    // kind = "twilio" (also from)
    account_sid: Option<String>,
    auth_token: Option<String>,
    base_url: Option<String>,
    machine_detection: Option<bool>,
    voicemail: Option<String>,
    // SMS channels (http_sms, twilio)
    max_segments: Option<i64>,
    // any kind: provider fail-over
    fallback: Option<String>,
    fallback_after: Option<i64>,
}

/// Named arguments in the order they are written (`args = { a = "1", b = 2 }`).
/// Strings, integers, floats and booleans are accepted; each becomes text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Args(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of named arguments, e.g. { destination = \"+447700900123\" }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Args, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, ArgValue>()? {
                    out.push((k, v.0));
                }
                Ok(Args(out))
            }
        }
        d.deserialize_map(V)
    }
}

struct ArgValue(String);

impl<'de> Deserialize<'de> for ArgValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ArgValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ArgValue, E> {
                Ok(ArgValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ArgValue, E> {
                Ok(ArgValue(if v { "1" } else { "0" }.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Validated shape.
// ---------------------------------------------------------------------------

/// A configured channel.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub name: String,
    /// Render and validate, write "would send …" on the timeline, call nobody.
    pub dry_run: bool,
    pub kind: ChannelKind,
    /// SMS channels (`http_sms`, `twilio`): the most segments a text may
    /// take; longer texts lose details (see [`crate::sms::text`]).
    pub max_segments: u8,
    /// Provider fail-over: where pages go after this channel failed with
    /// retryable errors `after` times in a row.
    pub fallback: Option<Fallback>,
}

/// `fallback = "gateway"`, `fallback_after = 3` on a `[[channels]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// Another `[[channels]]` table that can carry the same addresses.
    pub channel: String,
    /// Retryable failures in a row (the page's attempts) before switching.
    pub after: u32,
}

/// Segments an SMS may take unless `max_segments` says otherwise.
pub const DEFAULT_MAX_SEGMENTS: u8 = crate::sms::DEFAULT_MAX_SEGMENTS;
/// Retryable failures before a channel's `fallback` is used, unless set.
pub const DEFAULT_FALLBACK_AFTER: u32 = 3;
/// Twilio's REST API, unless `base_url` says otherwise.
pub const TWILIO_API: &str = "https://api.twilio.com";

/// The channel that makes attempt number `attempts + 1` of a page first
/// meant for `channel`: the channel itself, or — after `fallback_after`
/// retryable failures in a row — its fallback (and that one's, further on).
/// Unknown channels are returned as they are.
pub fn route<'c>(
    channels: &'c BTreeMap<String, ChannelConfig>,
    channel: &'c str,
    attempts: u32,
) -> &'c str {
    let mut name = channel;
    let mut left = attempts;
    // Cycles are refused at load; the bound keeps a bad map from looping.
    for _ in 0..=channels.len() {
        match channels.get(name).and_then(|c| c.fallback.as_ref()) {
            Some(f) if left >= f.after => {
                left -= f.after;
                name = &f.channel;
            }
            _ => break,
        }
    }
    name
}

#[derive(Debug, Clone)]
pub enum ChannelKind {
    Webhook(WebhookSettings),
    Smtp(SmtpSettings),
    Program(ProgramSettings),
    /// `kind = "http_sms"`: see [`crate::http_sms`].
    HttpSms(Box<crate::http_sms::HttpSmsSettings>),
    /// `kind = "twilio"`: SMS and voice calls through Twilio's REST API.
    Twilio(TwilioSettings),
}

impl ChannelKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelKind::Webhook(_) => "webhook",
            ChannelKind::Smtp(_) => "smtp",
            ChannelKind::Program(_) => "program",
            ChannelKind::HttpSms(_) => "http_sms",
            ChannelKind::Twilio(_) => "twilio",
        }
    }

    /// Whether pages through this channel go to phone numbers.
    pub fn is_phone(&self) -> bool {
        SMS_CHANNEL_KINDS.contains(&self.as_str())
    }
}

/// `kind = "twilio"`: the account pages are sent from. Twilio calls back to
/// `<public_url>/hooks/twilio/<channel>/...`.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// `AC` and 32 hex digits.
    pub account_sid: String,
    /// The account's auth token: HTTP basic password, and the key callbacks
    /// are signed with.
    pub auth_token: SecretString,
    /// The Twilio number texts and calls come from, in E.164.
    pub from: String,
    /// `https://api.twilio.com` unless set (tests point it at a mock); no
    /// trailing slash.
    pub base_url: String,
    /// Ask Twilio to tell people from answering machines (`MachineDetection=Enable`).
    pub machine_detection: bool,
    /// Left on an answering machine; `None` hangs up.
    pub voicemail: Option<String>,
}

/// `kind = "webhook"`: where and in which shape to POST, and how to sign.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Used when the contact gives no url of its own.
    pub url: Option<String>,
    pub preset: WebhookPreset,
    /// Signs each body: header `Firebell-Signature: t=<unix>,v1=<hex>`.
    pub secret: Option<SecretString>,
}

/// The body a webhook channel posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookPreset {
    /// Firebell's own JSON (`render::webhook_body`).
    Firebell,
    /// Slack incoming webhook: `text` and `blocks`.
    Slack,
    /// Microsoft Teams incoming webhook / workflow: an Adaptive Card message.
    Teams,
    /// Mattermost incoming webhook: `text` (Markdown).
    Mattermost,
}

impl WebhookPreset {
    pub const ALL: [WebhookPreset; 4] = [
        WebhookPreset::Firebell,
        WebhookPreset::Slack,
        WebhookPreset::Teams,
        WebhookPreset::Mattermost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookPreset::Firebell => "firebell",
            WebhookPreset::Slack => "slack",
            WebhookPreset::Teams => "teams",
            WebhookPreset::Mattermost => "mattermost",
        }
    }
}

/// `kind = "smtp"`: the mail server pages are sent through.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The From header, e.g. `Firebell <pager@example.com>` (parses as a
    /// `lettre::message::Mailbox`: checked at load).
    pub from: String,
    /// PEM certificates trusted besides the public roots (`ca_file`): a
    /// relay with a private CA. Read at load.
    pub ca_pem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a local relay).
    None,
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `kind = "program"`: a local executable run directly (never via a shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSettings {
    pub path: PathBuf,
    /// Passed as `--name=value`, in file order, before the contact's own.
    pub args: Vec<(String, String)>,
    /// Passed as `--eventtype=…`.
    pub eventtype: String,
    /// Killed when it runs longer.
    pub timeout: SignedDuration,
    /// Put stdout and stderr on the alert's timeline.
    pub verbose: bool,
}

// ---------------------------------------------------------------------------
// Validation.
// ---------------------------------------------------------------------------

fn problem(errors: &mut Errors, path: String, message: impl Into<String>, hint: Option<&str>) {
    match hint {
        Some(h) => errors.hint(path, message, h),
        None => errors.push(path, message),
    }
}

/// True for a valid channel name: 1-64 of `a-z`, `0-9`, `-`, `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// True for a valid argument name: what may stand between `--` and `=`.
pub fn valid_arg_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Checks argument names (`--name=value`); `eventtype` is set by the channel.
pub(crate) fn check_args(errors: &mut Errors, path: &str, args: &[(String, String)]) {
    for (name, value) in args {
        if !valid_arg_name(name) {
            problem(
                errors,
                format!("{path}.{name}"),
                format!("{name:?} is not a valid argument name"),
                Some("use letters, digits, '-', '_' or '.', starting with a letter or digit"),
            );
        } else if name == "eventtype" {
            problem(
                errors,
                format!("{path}.{name}"),
                "eventtype is set by the channel's own `eventtype` key",
                Some("write eventtype = \"...\" in the [[channels]] table"),
            );
        }
        if value.contains('\0') {
            problem(
                errors,
                format!("{path}.{name}"),
                "contains a NUL character, which cannot be passed to a program",
                None,
            );
        }
    }
}

/// Validates every `[[channels]]` table. Problems are returned in file order
/// (fail-over problems last, since they look across tables).
pub(crate) fn validate(
    raw: &[RawChannel],
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> BTreeMap<String, ChannelConfig> {
    let mut out = BTreeMap::new();
    for (i, c) in raw.iter().enumerate() {
        let path = format!("channels[{i}]");
        if c.name.is_empty() {
            problem(
                errors,
                format!("{path}.name"),
                "missing",
                Some("every channel has a name that contacts refer to, e.g. name = \"ops-slack\""),
            );
        } else if !valid_name(&c.name) {
            problem(
                errors,
                format!("{path}.name"),
                format!("{:?} is not a valid channel name", c.name),
                Some("use 1-64 lowercase letters, digits, '-' or '_'"),
            );
        } else if BUILTIN_CHANNELS.contains(&c.name.as_str()) {
            problem(
                errors,
                format!("{path}.name"),
                format!("{:?} is the name of a built-in channel", c.name),
                Some("choose another name, e.g. \"ops-hook\""),
            );
        }
        let allowed: &[&str] = match c.kind.as_str() {
            "webhook" => &["url", "preset", "secret"],
            "program" => &["path", "args", "eventtype", "timeout", "verbose"],
            "smtp" => &[
                "host", "port", "tls", "username", "password", "from", "ca_file",
            ],
            "http_sms" => &[
                "url",
                "method",
                "encoding",
                "auth",
                "username",
                "password",
                "token",
                "from",
                "eventtype",
                "fields",
                "number_format",
                "success",
                "message_id",
                "retryable_status",
                "per_recipient",
                "max_segments",
            ],
            "twilio" => &[
                "account_sid",
                "auth_token",
                "from",
                "base_url",
                "machine_detection",
                "voicemail",
                "max_segments",
            ],
            "" => {
                problem(
                    errors,
                    format!("{path}.kind"),
                    "missing",
                    Some("kind = \"webhook\", \"smtp\", \"program\", \"http_sms\" or \"twilio\""),
                );
                continue;
            }
            other => {
                problem(
                    errors,
                    format!("{path}.kind"),
                    format!("unknown channel kind {other:?}"),
                    Some(
                        "this version supports \"webhook\", \"smtp\", \"program\", \"http_sms\" and \"twilio\"",
                    ),
                );
                continue;
            }
        };
        for key in c.present_keys() {
            if !allowed.contains(&key) {
                problem(
                    errors,
                    format!("{path}.{key}"),
                    format!("does not apply to a {} channel", c.kind),
                    Some(&format!("{} channels take: {}", c.kind, allowed.join(", "))),
                );
            }
        }
        let kind = match c.kind.as_str() {
            "webhook" => webhook(c, &path, secrets, errors).map(ChannelKind::Webhook),
            "program" => program(c, &path, secrets, errors).map(ChannelKind::Program),
            "http_sms" => http_sms(c, &path, secrets, errors),
            "twilio" => twilio(c, &path, secrets, errors).map(ChannelKind::Twilio),
            _ => smtp(c, &path, secrets, errors).map(ChannelKind::Smtp),
        };
        let max_segments = match c.max_segments {
            None => DEFAULT_MAX_SEGMENTS,
            Some(n @ 1..=10) => n as u8,
            Some(n) => {
                problem(
                    errors,
                    format!("{path}.max_segments"),
                    format!("{n} is out of range"),
                    Some(
                        "1 to 10 segments (3 by default); each holds 153 GSM-7 or 67 UCS-2 characters",
                    ),
                );
                DEFAULT_MAX_SEGMENTS
            }
        };
        let fallback_after = match c.fallback_after {
            None => DEFAULT_FALLBACK_AFTER,
            Some(n @ 1..=20) => n as u32,
            Some(n) => {
                problem(
                    errors,
                    format!("{path}.fallback_after"),
                    format!("{n} is out of range"),
                    Some("1 to 20 retryable failures in a row (3 by default)"),
                );
                DEFAULT_FALLBACK_AFTER
            }
        };
        if c.fallback.is_none() && c.fallback_after.is_some() {
            problem(
                errors,
                format!("{path}.fallback_after"),
                "applies only with fallback",
                Some("fallback = \"<another channel's name>\""),
            );
        }
        if let Some(kind) = kind {
            let config = ChannelConfig {
                name: c.name.clone(),
                dry_run: c.dry_run.unwrap_or(false),
                kind,
                max_segments,
                fallback: c.fallback.clone().map(|channel| Fallback {
                    channel,
                    after: fallback_after,
                }),
            };
            if out.insert(c.name.clone(), config).is_some() {
                problem(
                    errors,
                    format!("{path}.name"),
                    format!("duplicate channel name {:?}", c.name),
                    None,
                );
            }
        }
    }
    check_fallbacks(raw, &out, errors);
    out
}

/// Which addresses a kind of channel delivers to: channels of one class can
/// stand in for each other.
fn address_class(kind: &ChannelKind) -> &'static str {
    match kind {
        ChannelKind::HttpSms(_) | ChannelKind::Twilio(_) => "phone number",
        ChannelKind::Webhook(_) => "URL",
        ChannelKind::Smtp(_) => "email address",
        ChannelKind::Program(_) => "program arguments",
    }
}

/// `fallback` names another channel that carries the same addresses, and
/// following fallbacks never comes back to where it started.
fn check_fallbacks(
    raw: &[RawChannel],
    channels: &BTreeMap<String, ChannelConfig>,
    errors: &mut Errors,
) {
    let index = |name: &str| raw.iter().position(|c| c.name == name);
    for (i, c) in raw.iter().enumerate() {
        let Some(target) = c.fallback.as_deref() else {
            continue;
        };
        let path = format!("channels[{i}].fallback");
        if target == c.name {
            problem(
                errors,
                path,
                "a channel cannot be its own fallback",
                Some("name another [[channels]] table"),
            );
            continue;
        }
        let Some(to) = channels.get(target) else {
            // A table that is there but invalid has its own errors.
            if index(target).is_none() {
                let hint = if BUILTIN_CHANNELS.contains(&target) {
                    "a fallback is a [[channels]] table, not a built-in channel".to_string()
                } else {
                    let names: Vec<&str> = channels.keys().map(String::as_str).collect();
                    format!("channels: {}", names.join(", "))
                };
                problem(
                    errors,
                    path,
                    format!("no channel named {target:?}"),
                    Some(&hint),
                );
            }
            continue;
        };
        if let Some(from) = channels.get(&c.name) {
            let (have, need) = (address_class(&to.kind), address_class(&from.kind));
            if have != need {
                problem(
                    errors,
                    path.clone(),
                    format!(
                        "channel {target:?} is a {} channel, which cannot deliver to a {need}",
                        to.kind.as_str()
                    ),
                    Some(match need {
                        "phone number" => "an SMS channel: kind = \"http_sms\" or \"twilio\"",
                        _ => "a channel of the same kind",
                    }),
                );
            }
        }
        // Follow the chain; report a cycle once, at its first table in file order.
        let mut seen = vec![c.name.as_str()];
        let mut next = Some(target);
        while let Some(name) = next {
            if name == c.name {
                let first = seen.iter().filter_map(|n| index(n)).min();
                if first == Some(i) {
                    seen.push(name);
                    problem(
                        errors,
                        path.clone(),
                        format!("fallbacks go round in a circle: {}", seen.join(" → ")),
                        Some("one channel of the circle must have no fallback"),
                    );
                }
                break;
            }
            if seen.contains(&name) {
                break; // a circle further on, reported from its own tables
            }
            seen.push(name);
            next = raw
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| r.fallback.as_deref());
        }
    }
}

/// A fallback is used from attempt `fallback_after + 1` on, so
/// `[delivery] max_attempts` must leave room for it.
pub(crate) fn check_fallback_room(
    raw: &[RawChannel],
    channels: &BTreeMap<String, ChannelConfig>,
    max_attempts: u32,
    errors: &mut Errors,
) {
    for (i, c) in raw.iter().enumerate() {
        let Some(f) = channels.get(&c.name).and_then(|c| c.fallback.as_ref()) else {
            continue;
        };
        if f.after >= max_attempts {
            problem(
                errors,
                format!("channels[{i}].fallback_after"),
                format!(
                    "{} leaves no attempt for the fallback: [delivery] max_attempts is {max_attempts}",
                    f.after
                ),
                Some("make fallback_after smaller than max_attempts, e.g. 3 with max_attempts = 8"),
            );
        }
    }
}

fn twilio(
    c: &RawChannel,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<TwilioSettings> {
    let account_sid = match c.account_sid.as_deref().map(str::trim) {
        Some(sid)
            if sid.len() == 34
                && sid.starts_with("AC")
                && sid[2..].chars().all(|ch| ch.is_ascii_hexdigit()) =>
        {
            sid.to_string()
        }
        Some(sid) => {
            problem(
                errors,
                format!("{path}.account_sid"),
                format!("{sid:?} is not a Twilio account SID"),
                Some("\"AC\" and 32 hex digits, from the Twilio console"),
            );
            String::new()
        }
        None => {
            problem(
                errors,
                format!("{path}.account_sid"),
                "missing",
                Some("account_sid = \"AC...\" from the Twilio console"),
            );
            String::new()
        }
    };
    let auth_token = match c.auth_token.as_deref() {
        Some(t) => resolve_secret(errors, &format!("{path}.auth_token"), t, secrets),
        None => {
            problem(
                errors,
                format!("{path}.auth_token"),
                "missing",
                Some("auth_token = \"env:TWILIO_AUTH_TOKEN\" (or file:PATH)"),
            );
            None
        }
    };
    let from = match c.from.as_deref() {
        Some(f) => match crate::sms::parse_number(f, None) {
            Ok(n) => n,
            Err(e) => {
                problem(
                    errors,
                    format!("{path}.from"),
                    e,
                    Some("your Twilio number with its country code, e.g. \"+15005550006\""),
                );
                String::new()
            }
        },
        None => {
            problem(
                errors,
                format!("{path}.from"),
                "missing",
                Some("your Twilio number with its country code, e.g. \"+15005550006\""),
            );
            String::new()
        }
    };
    let base_url = match c.base_url.as_deref().map(str::trim) {
        None => TWILIO_API.to_string(),
        Some(u) if is_http_url(u) && has_host(u) => u.trim_end_matches('/').to_string(),
        Some(u) => {
            problem(
                errors,
                format!("{path}.base_url"),
                format!("{u:?} is not an http(s) URL"),
                Some("leave it out for Twilio itself (https://api.twilio.com)"),
            );
            String::new()
        }
    };
    let voicemail = match c.voicemail.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            problem(
                errors,
                format!("{path}.voicemail"),
                "is empty",
                Some("leave it out to hang up on answering machines"),
            );
            None
        }
        Some(v) if v.chars().count() > 500 => {
            problem(
                errors,
                format!("{path}.voicemail"),
                "is longer than 500 characters",
                Some("a short message: who called and where to look"),
            );
            None
        }
        Some(v) => Some(v.to_string()),
    };
    Some(TwilioSettings {
        account_sid,
        // Missing or unreadable: reported above; the config will not load.
        auth_token: auth_token.unwrap_or_else(|| SecretString::from(String::new())),
        from,
        base_url,
        machine_detection: c.machine_detection.unwrap_or(true),
        voicemail,
    })
}

/// A URL with something after the scheme.
fn has_host(u: &str) -> bool {
    u.split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'))
}

impl RawChannel {
    fn present_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut add = |present: bool, key: &'static str| {
            if present {
                keys.push(key);
            }
        };
        add(self.url.is_some(), "url");
        add(self.preset.is_some(), "preset");
        add(self.secret.is_some(), "secret");
        add(self.path.is_some(), "path");
        add(self.args.is_some(), "args");
        add(self.eventtype.is_some(), "eventtype");
        add(self.timeout.is_some(), "timeout");
        add(self.verbose.is_some(), "verbose");
        add(self.host.is_some(), "host");
        add(self.port.is_some(), "port");
        add(self.tls.is_some(), "tls");
        add(self.username.is_some(), "username");
        add(self.password.is_some(), "password");
        add(self.from.is_some(), "from");
        add(self.ca_file.is_some(), "ca_file");
        add(self.method.is_some(), "method");
        add(self.encoding.is_some(), "encoding");
        add(self.auth.is_some(), "auth");
        add(self.token.is_some(), "token");
        add(self.fields.is_some(), "fields");
        add(self.number_format.is_some(), "number_format");
        add(self.success.is_some(), "success");
        add(self.message_id.is_some(), "message_id");
        add(self.retryable_status.is_some(), "retryable_status");
        add(self.per_recipient.is_some(), "per_recipient");
        add(self.account_sid.is_some(), "account_sid");
        add(self.auth_token.is_some(), "auth_token");
        add(self.base_url.is_some(), "base_url");
        add(self.machine_detection.is_some(), "machine_detection");
        add(self.voicemail.is_some(), "voicemail");
        add(self.max_segments.is_some(), "max_segments");
        keys
    }
}

pub(crate) fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

fn http_sms(
    c: &RawChannel,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<ChannelKind> {
    let raw = crate::http_sms::RawHttpSms {
        url: c.url.as_deref(),
        method: c.method.as_deref(),
        encoding: c.encoding.as_deref(),
        auth: c.auth.as_deref(),
        username: c.username.as_deref(),
        password: c.password.as_deref(),
        token: c.token.as_deref(),
        from: c.from.as_deref(),
        eventtype: c.eventtype.as_deref(),
        fields: c.fields.as_ref(),
        number_format: c.number_format.as_deref(),
        success: c.success.as_ref(),
        message_id: c.message_id.as_ref(),
        retryable_status: c.retryable_status.as_deref(),
        per_recipient: c.per_recipient.as_ref(),
    };
    crate::http_sms::validate(&raw, path, secrets, errors)
        .map(|s| ChannelKind::HttpSms(Box::new(s)))
}

fn webhook(
    c: &RawChannel,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<WebhookSettings> {
    // Chat webhook URLs carry their secret in the path: `env:` and `file:`
    // work here as for secrets.
    // A url that is written but wrong is reported here once; the empty
    // stand-in keeps contacts from also reporting "no url" (the errors stop
    // the configuration from loading either way).
    let url = c.url.as_deref().map(|u| {
        let resolved = if u.starts_with("env:") || u.starts_with("file:") {
            match resolve_secret(errors, &format!("{path}.url"), u, secrets) {
                Some(v) => v.expose_secret().trim().to_string(),
                None => return String::new(),
            }
        } else {
            u.to_string()
        };
        if !is_http_url(&resolved) {
            problem(
                errors,
                format!("{path}.url"),
                "is not an http(s) URL",
                Some("such as \"https://hooks.slack.com/services/...\", or env:NAME / file:PATH holding one"),
            );
            return String::new();
        }
        resolved
    });
    let preset = match c.preset.as_deref() {
        None => WebhookPreset::Firebell,
        Some(p) => match WebhookPreset::ALL.into_iter().find(|x| x.as_str() == p) {
            Some(x) => x,
            None => {
                problem(
                    errors,
                    format!("{path}.preset"),
                    format!("unknown preset {p:?}"),
                    Some("one of \"firebell\", \"slack\", \"teams\", \"mattermost\""),
                );
                WebhookPreset::Firebell
            }
        },
    };
    let secret = c
        .secret
        .as_deref()
        .and_then(|s| resolve_secret(errors, &format!("{path}.secret"), s, secrets));
    Some(WebhookSettings {
        url,
        preset,
        secret,
    })
}

fn program(
    c: &RawChannel,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<ProgramSettings> {
    let program_path = match &c.path {
        None => {
            problem(
                errors,
                format!("{path}.path"),
                "missing",
                Some("the absolute path of the executable, e.g. \"/usr/local/bin/sendsms\""),
            );
            PathBuf::new()
        }
        Some(p) if !p.is_absolute() => {
            problem(
                errors,
                format!("{path}.path"),
                format!("{} is not an absolute path", p.display()),
                Some("write the full path; programs are not looked up in PATH"),
            );
            p.clone()
        }
        Some(p) => {
            if let Err(e) = secrets.executable(p) {
                problem(
                    errors,
                    format!("{path}.path"),
                    format!("{}: {e}", p.display()),
                    Some("the program must exist and be executable by the user Firebell runs as"),
                );
            }
            p.clone()
        }
    };
    let args = c.args.clone().unwrap_or_default().0;
    check_args(errors, &format!("{path}.args"), &args);
    let eventtype = c
        .eventtype
        .clone()
        .unwrap_or_else(|| "Firebell".to_string());
    if eventtype.contains('\0') {
        problem(
            errors,
            format!("{path}.eventtype"),
            "contains a NUL character",
            None,
        );
    }
    let timeout = parse_duration(
        errors,
        &format!("{path}.timeout"),
        c.timeout.as_deref(),
        Some(DEFAULT_PROGRAM_TIMEOUT),
    );
    Some(ProgramSettings {
        path: program_path,
        args,
        eventtype,
        timeout,
        verbose: c.verbose.unwrap_or(false),
    })
}

fn smtp(
    c: &RawChannel,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<SmtpSettings> {
    let host = match c.host.as_deref() {
        Some(h) if !h.trim().is_empty() => h.trim().to_string(),
        _ => {
            problem(
                errors,
                format!("{path}.host"),
                "missing",
                Some("the mail server's host name, e.g. host = \"smtp.example.com\""),
            );
            String::new()
        }
    };
    let tls = match c.tls.as_deref() {
        None | Some("starttls") => SmtpTls::Starttls,
        Some("tls") => SmtpTls::Tls,
        Some("none") => SmtpTls::None,
        Some(other) => {
            problem(
                errors,
                format!("{path}.tls"),
                format!("unknown TLS mode {other:?}"),
                Some("one of \"none\", \"starttls\" (the default) or \"tls\""),
            );
            SmtpTls::Starttls
        }
    };
    let port = c.port.unwrap_or(match tls {
        SmtpTls::None => 25,
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
    });
    if port == 0 {
        problem(errors, format!("{path}.port"), "must not be 0", None);
    }
    let password = c
        .password
        .as_deref()
        .and_then(|p| resolve_secret(errors, &format!("{path}.password"), p, secrets));
    if c.password.is_some() && c.username.is_none() {
        problem(
            errors,
            format!("{path}.username"),
            "missing; a password is set",
            Some("give both username and password, or neither"),
        );
    }
    if c.username.is_some() && c.password.is_none() {
        problem(
            errors,
            format!("{path}.password"),
            "missing; a username is set",
            Some("password = \"env:SMTP_PASSWORD\""),
        );
    }
    let from = match c.from.as_deref() {
        Some(f) if f.parse::<lettre::message::Mailbox>().is_ok() => f.to_string(),
        Some(f) => {
            problem(
                errors,
                format!("{path}.from"),
                format!("{f:?} is not an email address"),
                Some("such as \"Firebell <pager@example.com>\""),
            );
            String::new()
        }
        None => {
            problem(
                errors,
                format!("{path}.from"),
                "missing",
                Some("such as \"Firebell <pager@example.com>\""),
            );
            String::new()
        }
    };
    let ca_pem = c.ca_file.as_deref().and_then(|file| {
        let cpath = format!("{path}.ca_file");
        if tls == SmtpTls::None {
            problem(errors, cpath, "applies only with tls = \"starttls\" or \"tls\"", None);
            return None;
        }
        match secrets.file(file) {
            Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Some(pem),
            Ok(_) => {
                problem(
                    errors,
                    cpath,
                    format!("{file} holds no PEM certificate"),
                    Some("the CA certificate(s) that signed the server's, in PEM (-----BEGIN CERTIFICATE-----)"),
                );
                None
            }
            Err(e) => {
                problem(errors, cpath, format!("cannot read {file}: {e}"), None);
                None
            }
        }
    });
    Some(SmtpSettings {
        host,
        port,
        tls,
        username: c.username.clone(),
        password,
        from,
        ca_pem,
    })
}

/// The checks a program path gets at load (used by [`SecretSource::executable`]).
pub fn check_executable(path: &std::path::Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => e.to_string(),
    })?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err("not executable (chmod +x it)".into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Contacts: which channel delivers, and to where.
// ---------------------------------------------------------------------------

/// A contact as written, borrowed from the user's table.
pub(crate) struct RawContactRef<'a> {
    pub kind: &'a str,
    pub url: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub address: Option<&'a str>,
    pub args: Option<&'a Args>,
    /// An sms contact's number, and the region national numbers are in.
    pub number: Option<&'a str>,
    pub region: Option<&'a str>,
}

fn known_channels(channels: &BTreeMap<String, ChannelConfig>, kind: &str) -> String {
    let names: Vec<&str> = channels
        .values()
        .filter(|c| c.kind.as_str() == kind)
        .map(|c| c.name.as_str())
        .collect();
    if names.is_empty() {
        format!("no {kind} channel is defined; add a [[channels]] table with kind = \"{kind}\"")
    } else {
        format!("{kind} channels: {}", names.join(", "))
    }
}

/// Looks up the named channel and checks it is of `kind`.
fn named<'c>(
    channels: &'c BTreeMap<String, ChannelConfig>,
    name: &str,
    kind: &str,
    path: String,
    errors: &mut Errors,
) -> Option<&'c ChannelConfig> {
    match channels.get(name) {
        Some(c) if c.kind.as_str() == kind => Some(c),
        Some(c) => {
            errors.hint(
                path,
                format!(
                    "channel {name:?} is a {} channel, not {kind}",
                    c.kind.as_str()
                ),
                known_channels(channels, kind),
            );
            None
        }
        None => {
            errors.hint(
                path,
                format!("no channel named {name:?}"),
                known_channels(channels, kind),
            );
            None
        }
    }
}

/// Validates one contact against the configured channels.
pub(crate) fn contact(
    c: &RawContactRef<'_>,
    path: &str,
    channels: &BTreeMap<String, ChannelConfig>,
    errors: &mut Errors,
) -> Option<crate::config::Contact> {
    use crate::config::Contact;
    let allowed: &[&str] = match c.kind {
        "console" => &[],
        "webhook" => &["url", "channel"],
        "email" => &["address", "channel"],
        "program" => &["channel", "args"],
        "sms" | "voice" => &["number", "channel"],
        other => {
            errors.hint(
                format!("{path}.kind"),
                format!("unknown contact kind {other:?}"),
                "this version supports \"console\", \"webhook\", \"email\", \"program\", \"sms\" and \"voice\"",
            );
            return None;
        }
    };
    let present = [
        ("url", c.url.is_some()),
        ("channel", c.channel.is_some()),
        ("address", c.address.is_some()),
        ("args", c.args.is_some()),
        ("number", c.number.is_some()),
    ];
    let mut misplaced = false;
    for (key, is_present) in present {
        if is_present && !allowed.contains(&key) {
            misplaced = true;
            errors.push(
                format!("{path}.{key}"),
                format!("{} contacts take no {key}", c.kind),
            );
        }
    }
    if misplaced {
        return None;
    }
    match c.kind {
        "console" => Some(Contact::Console),
        "webhook" => {
            let channel = c.channel.unwrap_or("webhook");
            let channel_url = if channel == "webhook" {
                None
            } else {
                let cfg = named(
                    channels,
                    channel,
                    "webhook",
                    format!("{path}.channel"),
                    errors,
                )?;
                match &cfg.kind {
                    ChannelKind::Webhook(w) => w.url.clone(),
                    _ => None,
                }
            };
            let url = match (c.url, channel_url) {
                (Some(url), _) if is_http_url(url) => url.to_string(),
                (Some(url), _) => {
                    errors.hint(
                        format!("{path}.url"),
                        format!("{url:?} is not an http(s) URL"),
                        "such as \"https://example.com/hook\"",
                    );
                    return None;
                }
                (None, Some(url)) => url,
                (None, None) if channel == "webhook" => {
                    errors.push(
                        format!("{path}.url"),
                        "missing; webhook contacts need a url",
                    );
                    return None;
                }
                (None, None) => {
                    errors.hint(
                        format!("{path}.url"),
                        format!("missing, and channel {channel:?} has no url either"),
                        "give the contact a url, or the channel one",
                    );
                    return None;
                }
            };
            Some(Contact::Webhook {
                url,
                channel: channel.to_string(),
            })
        }
        "email" => {
            let address = match c.address.map(str::trim) {
                Some(a) if valid_email(a) => a.to_string(),
                Some(a) => {
                    errors.hint(
                        format!("{path}.address"),
                        format!("{a:?} is not an email address"),
                        "one address such as \"alice@example.com\"",
                    );
                    return None;
                }
                None => {
                    errors.hint(
                        format!("{path}.address"),
                        "missing; email contacts need an address",
                        "address = \"alice@example.com\"",
                    );
                    return None;
                }
            };
            let channel = match c.channel {
                Some(name) => named(channels, name, "smtp", format!("{path}.channel"), errors)?
                    .name
                    .clone(),
                None => {
                    let smtp: Vec<&ChannelConfig> = channels
                        .values()
                        .filter(|c| matches!(c.kind, ChannelKind::Smtp(_)))
                        .collect();
                    match smtp.as_slice() {
                        [only] => only.name.clone(),
                        [] => {
                            errors.hint(
                                format!("{path}.channel"),
                                "no smtp channel delivers this email contact",
                                "add a [[channels]] table with kind = \"smtp\"",
                            );
                            return None;
                        }
                        _ => {
                            errors.hint(
                                format!("{path}.channel"),
                                "missing; there are several smtp channels",
                                known_channels(channels, "smtp"),
                            );
                            return None;
                        }
                    }
                }
            };
            Some(Contact::Email { address, channel })
        }
        "sms" => phone_contact(c, path, channels, PhoneKind::Sms, errors),
        "voice" => phone_contact(c, path, channels, PhoneKind::Voice, errors),
        _ => {
            let Some(name) = c.channel else {
                errors.hint(
                    format!("{path}.channel"),
                    "missing; program contacts name the program channel that runs",
                    known_channels(channels, "program"),
                );
                return None;
            };
            let channel = named(channels, name, "program", format!("{path}.channel"), errors)?;
            let args = c.args.cloned().unwrap_or_default().0;
            check_args(errors, &format!("{path}.args"), &args);
            Some(Contact::Program {
                channel: channel.name.clone(),
                args,
            })
        }
    }
}

/// Channel kinds that send text messages.
pub const SMS_CHANNEL_KINDS: &[&str] = &["http_sms", "twilio"];

/// Channel kinds that make phone calls.
pub const VOICE_CHANNEL_KINDS: &[&str] = &["twilio"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum PhoneKind {
    Sms,
    Voice,
}

/// An sms or voice contact: its number in E.164, and the channel that texts
/// or calls it (the named one, else the only one that can).
fn phone_contact(
    c: &RawContactRef<'_>,
    path: &str,
    channels: &BTreeMap<String, ChannelConfig>,
    phone: PhoneKind,
    errors: &mut Errors,
) -> Option<crate::config::Contact> {
    let (kinds, what, add) = match phone {
        PhoneKind::Sms => (SMS_CHANNEL_KINDS, "SMS", "\"http_sms\" or \"twilio\""),
        PhoneKind::Voice => (VOICE_CHANNEL_KINDS, "voice", "\"twilio\""),
    };
    let known = || {
        let names: Vec<&str> = channels
            .values()
            .filter(|c| kinds.contains(&c.kind.as_str()))
            .map(|c| c.name.as_str())
            .collect();
        if names.is_empty() {
            format!("no {what} channel is defined; add a [[channels]] table with kind = {add}")
        } else {
            format!("{what} channels: {}", names.join(", "))
        }
    };
    let number = match c.number {
        None => {
            errors.hint(
                format!("{path}.number"),
                format!("missing; {} contacts need a phone number", c.kind),
                "number = \"+447700900123\" (or a national number with region set)",
            );
            return None;
        }
        Some(n) => match crate::sms::parse_number(n, c.region) {
            Ok(e164) => e164,
            Err(e) => {
                errors.hint(
                    format!("{path}.number"),
                    e,
                    "write it with its country code (+44 7700 900123), or set region on the user or [server] default_region",
                );
                return None;
            }
        },
    };
    let channel = match c.channel {
        Some(name) => match channels.get(name) {
            Some(ch) if kinds.contains(&ch.kind.as_str()) => ch.name.clone(),
            Some(ch) => {
                errors.hint(
                    format!("{path}.channel"),
                    format!(
                        "channel {name:?} is a {} channel, which cannot {}",
                        ch.kind.as_str(),
                        match phone {
                            PhoneKind::Sms => "send SMS",
                            PhoneKind::Voice => "make calls",
                        }
                    ),
                    known(),
                );
                return None;
            }
            None => {
                errors.hint(
                    format!("{path}.channel"),
                    format!("no channel named {name:?}"),
                    known(),
                );
                return None;
            }
        },
        None => {
            let able: Vec<&ChannelConfig> = channels
                .values()
                .filter(|c| kinds.contains(&c.kind.as_str()))
                .collect();
            match able.as_slice() {
                [only] => only.name.clone(),
                [] => {
                    errors.hint(
                        format!("{path}.channel"),
                        format!("no {what} channel delivers this {} contact", c.kind),
                        known(),
                    );
                    return None;
                }
                _ => {
                    errors.hint(
                        format!("{path}.channel"),
                        format!("missing; there are several {what} channels"),
                        known(),
                    );
                    return None;
                }
            }
        }
    };
    Some(match phone {
        PhoneKind::Sms => crate::config::Contact::Sms { number, channel },
        PhoneKind::Voice => crate::config::Contact::Voice { number, channel },
    })
}

/// One plain address (no display name), as the SMTP sender will parse it:
/// what loads is what can be sent to.
fn valid_email(a: &str) -> bool {
    a.parse::<lettre::Address>().is_ok()
}

/// A program contact's arguments as stored in the notification's `address`:
/// a JSON array of `--name=value` strings.
pub fn encode_args(args: &[(String, String)]) -> String {
    let v: Vec<String> = args.iter().map(|(k, v)| format!("--{k}={v}")).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_string())
}

/// The arguments [`encode_args`] stored; `None` when `address` is not such
/// an array.
pub fn decode_args(address: &str) -> Option<Vec<String>> {
    serde_json::from_str(address).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Contact};

    struct Secrets;
    impl SecretSource for Secrets {
        fn env(&self, name: &str) -> Option<String> {
            match name {
                "SLACK_URL" => Some("https://hooks.slack.com/services/T0/B0/SECRETPATH".into()),
                "SIGNING" => Some("whsec-signing-secret".into()),
                _ => None,
            }
        }
        fn file(&self, _: &str) -> Result<String, String> {
            Err("no files here".into())
        }
        fn executable(&self, path: &std::path::Path) -> Result<(), String> {
            if path.starts_with("/opt/ok") {
                Ok(())
            } else {
                Err("no such file".into())
            }
        }
    }

    fn parse(channels: &str, contacts: &str) -> Result<config::Config, config::ConfigErrors> {
        config::parse(
            &format!("{channels}\n[[users]]\nid = \"alice\"\ncontacts = {contacts}\n"),
            &Secrets,
        )
    }

    #[test]
    fn program_args_keep_file_order_and_become_text() {
        let c = parse(
            r#"[[channels]]
name = "sms"
kind = "program"
path = "/opt/ok/sendsms"
args = { zeta = "z", alpha = 1, debug = true, ratio = 0.5 }"#,
            r#"[ { kind = "program", channel = "sms", args = { destination = "+447700900123", b = "2", a = "1" } } ]"#,
        )
        .unwrap();
        let ChannelKind::Program(p) = &c.channels["sms"].kind else {
            panic!("not a program channel");
        };
        let args: Vec<(&str, &str)> = p
            .args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            args,
            vec![
                ("zeta", "z"),
                ("alpha", "1"),
                ("debug", "1"),
                ("ratio", "0.5")
            ]
        );
        assert_eq!(p.eventtype, "Firebell");
        assert_eq!(p.timeout, DEFAULT_PROGRAM_TIMEOUT);
        let contact = &c.users["alice"].contacts[0];
        assert_eq!(contact.channel(), "sms");
        let stored = contact.address();
        assert_eq!(
            decode_args(&stored).unwrap(),
            vec!["--destination=+447700900123", "--b=2", "--a=1"]
        );
    }

    #[test]
    fn webhook_contacts_take_the_channels_url_unless_they_have_their_own() {
        let c = parse(
            r#"[[channels]]
name = "ops-slack"
kind = "webhook"
preset = "slack"
url = "env:SLACK_URL"
secret = "env:SIGNING""#,
            r#"[ { kind = "webhook", channel = "ops-slack" }, { kind = "webhook", channel = "ops-slack", url = "https://other.example.com/x" }, { kind = "webhook", url = "https://plain.example.com/" } ]"#,
        )
        .unwrap();
        let contacts = &c.users["alice"].contacts;
        assert_eq!(
            contacts[0],
            Contact::Webhook {
                url: "https://hooks.slack.com/services/T0/B0/SECRETPATH".into(),
                channel: "ops-slack".into()
            }
        );
        assert_eq!(contacts[1].address(), "https://other.example.com/x");
        assert_eq!(contacts[2].channel(), "webhook");
        let ChannelKind::Webhook(w) = &c.channels["ops-slack"].kind else {
            panic!("not a webhook channel");
        };
        assert_eq!(w.preset, WebhookPreset::Slack);
        assert_eq!(
            w.secret
                .as_ref()
                .map(|s| s.expose_secret().to_string())
                .as_deref(),
            Some("whsec-signing-secret")
        );
        let debug = format!("{:?}", c.channels);
        assert!(!debug.contains("whsec-signing-secret"), "{debug}");
    }

    #[test]
    fn channel_and_contact_mistakes_name_their_path() {
        let errs = parse(
            r#"[[channels]]
name = "Ops Slack"
kind = "webhook"
path = "/opt/ok/x"

[[channels]]
name = "hook"
kind = "webhook"

[[channels]]
name = "sms"
kind = "program"
path = "relative/sendsms"
args = { eventtype = "x", "bad name" = "y" }

[[channels]]
name = "pager"
kind = "carrier-pigeon"

[[channels]]
name = "sms"
kind = "program"
path = "/usr/bin/missing""#,
            r#"[ { kind = "webhook", channel = "hook" }, { kind = "program" }, { kind = "program", channel = "hook" }, { kind = "console", channel = "sms" } ]"#,
        )
        .unwrap_err();
        let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "channels[0].name",
                "channels[0].path",
                "channels[2].path",
                "channels[2].args.eventtype",
                "channels[2].args.bad name",
                "channels[3].kind",
                "channels[4].path",
                "channels[4].name",
                "users[0].contacts[0].url",
                "users[0].contacts[1].channel",
                "users[0].contacts[2].channel",
                "users[0].contacts[3].channel",
            ],
            "{errs}"
        );
        let text = errs.to_string();
        assert!(text.contains("duplicate channel name \"sms\""), "{text}");
        assert!(
            text.contains("channel \"hook\" is a webhook channel, not program"),
            "{text}"
        );
        assert!(text.contains("program channels: sms"), "{text}");
        assert!(
            text.contains("missing, and channel \"hook\" has no url either"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod twilio_tests {
    use super::*;
    use crate::config::{self, Contact};

    struct Secrets;
    impl SecretSource for Secrets {
        fn env(&self, name: &str) -> Option<String> {
            (name == "TWILIO_TOKEN").then(|| "tw-auth-token-0123456789".to_string())
        }
        fn file(&self, _: &str) -> Result<String, String> {
            Err("no files here".into())
        }
    }

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn parse(rest: &str) -> Result<config::Config, Vec<String>> {
        config::parse(
            &format!("[server]\npublic_url = \"https://pager.example.com\"\ndefault_region = \"GB\"\n{rest}"),
            &Secrets,
        )
        .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
    }

    fn twilio(name: &str, extra: &str) -> String {
        format!(
            "[[channels]]\nname = \"{name}\"\nkind = \"twilio\"\naccount_sid = \"{SID}\"\nauth_token = \"env:TWILIO_TOKEN\"\nfrom = \"+15005550006\"\n{extra}\n"
        )
    }

    const GATEWAY: &str = "[[channels]]\nname = \"gateway\"\nkind = \"http_sms\"\nurl = \"http://127.0.0.1:9/send\"\nfields = { to = \"{{ to }}\", text = \"{{ body }}\" }\n";

    #[test]
    fn twilio_channels_voice_contacts_and_defaults() {
        let c = parse(&format!(
            "{}{GATEWAY}[[users]]\nid = \"alice\"\ncontacts = [ {{ kind = \"voice\", number = \"07700 900123\" }}, {{ kind = \"sms\", number = \"+447700900123\", channel = \"phone\" }} ]\n",
            twilio("phone", "max_segments = 2\nfallback = \"gateway\"")
        ))
        .unwrap();
        let ch = &c.channels["phone"];
        let ChannelKind::Twilio(t) = &ch.kind else {
            panic!("not a twilio channel");
        };
        assert_eq!(t.account_sid, SID);
        assert_eq!(t.auth_token.expose_secret(), "tw-auth-token-0123456789");
        assert_eq!(t.from, "+15005550006");
        assert_eq!(t.base_url, TWILIO_API);
        assert!(t.machine_detection);
        assert_eq!(t.voicemail, None);
        assert_eq!(ch.max_segments, 2);
        assert_eq!(
            ch.fallback,
            Some(Fallback {
                channel: "gateway".into(),
                after: DEFAULT_FALLBACK_AFTER
            })
        );
        assert_eq!(c.channels["gateway"].max_segments, DEFAULT_MAX_SEGMENTS);
        assert_eq!(
            c.users["alice"].contacts,
            vec![
                Contact::Voice {
                    number: "+447700900123".into(),
                    channel: "phone".into()
                },
                Contact::Sms {
                    number: "+447700900123".into(),
                    channel: "phone".into()
                }
            ]
        );
        assert_eq!(c.users["alice"].contacts[0].address(), "+447700900123");
        // The token never shows in Debug output.
        let debug = format!("{:?}", c.channels);
        assert!(!debug.contains("tw-auth-token"), "{debug}");
        // Routing: attempts 1-3 through twilio, then the gateway.
        assert_eq!(route(&c.channels, "phone", 0), "phone");
        assert_eq!(route(&c.channels, "phone", 2), "phone");
        assert_eq!(route(&c.channels, "phone", 3), "gateway");
        assert_eq!(route(&c.channels, "phone", 9), "gateway");
        assert_eq!(route(&c.channels, "console", 9), "console");
    }

    #[test]
    fn twilio_settings_mistakes_name_their_field() {
        let errs = parse(
            "[[channels]]\nname = \"phone\"\nkind = \"twilio\"\naccount_sid = \"SK123\"\nfrom = \"0800 nope\"\nbase_url = \"ftp://mock\"\nvoicemail = \"\"\nmax_segments = 11\nurl = \"http://x\"\n",
        )
        .unwrap_err();
        let text = errs.join("\n");
        for want in [
            "channels[0].url: does not apply to a twilio channel",
            "channels[0].account_sid: \"SK123\" is not a Twilio account SID",
            "channels[0].auth_token: missing",
            "channels[0].from: \"0800 nope\" has no country code",
            "channels[0].base_url: \"ftp://mock\" is not an http(s) URL",
            "channels[0].voicemail: is empty",
            "channels[0].max_segments: 11 is out of range",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        let errs = parse(&format!("{GATEWAY}max_segments = 0\n")).unwrap_err();
        assert!(
            errs[0].starts_with("channels[0].max_segments: 0 is out of range"),
            "{errs:?}"
        );
        // Twilio must be able to reach this server.
        let errs = config::parse(&twilio("phone", ""), &Secrets).unwrap_err();
        assert!(
            errs.to_string()
                .contains("server.public_url: missing; twilio channel \"phone\" needs the address Twilio calls back"),
            "{errs}"
        );
    }

    #[test]
    fn voice_contacts_need_a_twilio_channel_and_a_good_number() {
        let errs = parse(&format!(
            "{GATEWAY}[[users]]\nid = \"alice\"\ncontacts = [ {{ kind = \"voice\", number = \"+447700900123\" }}, {{ kind = \"voice\", number = \"+447700900123\", channel = \"gateway\" }} ]\n"
        ))
        .unwrap_err()
        .join("\n");
        for want in [
            "users[0].contacts[0].channel: no voice channel delivers this voice contact (hint: no voice channel is defined; add a [[channels]] table with kind = \"twilio\")",
            "users[0].contacts[1].channel: channel \"gateway\" is a http_sms channel, which cannot make calls",
        ] {
            assert!(errs.contains(want), "{want:?} not in\n{errs}");
        }
        let errs = parse(&format!(
            "{}{}[[users]]\nid = \"bob\"\ncontacts = [ {{ kind = \"voice\", number = \"12\" }}, {{ kind = \"voice\", number = \"+447700900123\" }}, {{ kind = \"voice\", address = \"x\" }} ]\n",
            twilio("one", ""),
            twilio("two", "")
        ))
        .unwrap_err()
        .join("\n");
        for want in [
            "users[0].contacts[0].number: \"12\" is not a valid phone number for region GB",
            "users[0].contacts[1].channel: missing; there are several voice channels (hint: voice channels: one, two)",
            "users[0].contacts[2].address: voice contacts take no address",
        ] {
            assert!(errs.contains(want), "{want:?} not in\n{errs}");
        }
    }

    #[test]
    fn fallbacks_chain_in_order() {
        let c = parse(&format!(
            "{}{}{}",
            twilio("a", "fallback = \"b\"\nfallback_after = 2"),
            twilio("b", "fallback = \"c\"\nfallback_after = 1"),
            twilio("c", "")
        ))
        .unwrap();
        let via: Vec<&str> = (0..5).map(|n| route(&c.channels, "a", n)).collect();
        assert_eq!(via, ["a", "a", "b", "c", "c"]);
    }

    #[test]
    fn fallback_mistakes_name_their_path() {
        let errs = parse(&format!(
            "{}{}{}[[channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://example.com/h\"\nfallback = \"hook\"\n{}",
            twilio("a", "fallback = \"b\"\nfallback_after = 0"),
            twilio("b", "fallback = \"a\""),
            twilio("c", "fallback = \"hook\""),
            "[[channels]]\nname = \"d\"\nkind = \"webhook\"\nfallback = \"nowhere\"\n[[channels]]\nname = \"e\"\nkind = \"webhook\"\nfallback_after = 2\n[[channels]]\nname = \"f\"\nkind = \"webhook\"\nfallback = \"console\"\n"
        ))
        .unwrap_err()
        .join("\n");
        for want in [
            "channels[0].fallback_after: 0 is out of range",
            "channels[0].fallback: fallbacks go round in a circle: a → b → a",
            "channels[2].fallback: channel \"hook\" is a webhook channel, which cannot deliver to a phone number",
            "channels[3].fallback: a channel cannot be its own fallback",
            "channels[4].fallback: no channel named \"nowhere\"",
            "channels[5].fallback_after: applies only with fallback",
            "channels[6].fallback: no channel named \"console\" (hint: a fallback is a [[channels]] table, not a built-in channel)",
        ] {
            assert!(errs.contains(want), "{want:?} not in\n{errs}");
        }
        // The circle is reported once, not again from b.
        assert!(!errs.contains("channels[1].fallback"), "{errs}");
        // The fallback needs attempts left after fallback_after.
        let errs = parse(&format!(
            "[delivery]\nmax_attempts = 3\n{GATEWAY}{}",
            twilio("phone", "fallback = \"gateway\"")
        ))
        .unwrap_err()
        .join("\n");
        assert!(
            errs.contains("channels[1].fallback_after: 3 leaves no attempt for the fallback: [delivery] max_attempts is 3"),
            "{errs}"
        );
    }
}
