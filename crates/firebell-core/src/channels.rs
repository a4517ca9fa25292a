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
}

#[derive(Debug, Clone)]
pub enum ChannelKind {
    Webhook(WebhookSettings),
    Smtp(SmtpSettings),
    Program(ProgramSettings),
    /// `kind = "http_sms"`: see [`crate::http_sms`].
    HttpSms(Box<crate::http_sms::HttpSmsSettings>),
}

impl ChannelKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelKind::Webhook(_) => "webhook",
            ChannelKind::Smtp(_) => "smtp",
            ChannelKind::Program(_) => "program",
            ChannelKind::HttpSms(_) => "http_sms",
        }
    }
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

/// Validates every `[[channels]]` table. Problems are returned in file order.
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
            ],
            "" => {
                problem(
                    errors,
                    format!("{path}.kind"),
                    "missing",
                    Some("kind = \"webhook\", \"smtp\", \"program\" or \"http_sms\""),
                );
                continue;
            }
            other => {
                problem(
                    errors,
                    format!("{path}.kind"),
                    format!("unknown channel kind {other:?}"),
                    Some(
                        "this version supports \"webhook\", \"smtp\", \"program\" and \"http_sms\"",
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
            _ => smtp(c, &path, secrets, errors).map(ChannelKind::Smtp),
        };
        if let Some(kind) = kind {
            let config = ChannelConfig {
                name: c.name.clone(),
                dry_run: c.dry_run.unwrap_or(false),
                kind,
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
    out
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
        "sms" => &["number", "channel"],
        other => {
            errors.hint(
                format!("{path}.kind"),
                format!("unknown contact kind {other:?}"),
                "this version supports \"console\", \"webhook\", \"email\", \"program\" and \"sms\"",
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
        "sms" => sms_contact(c, path, channels, errors),
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
pub const SMS_CHANNEL_KINDS: &[&str] = &["http_sms"];

/// An sms contact: its number in E.164, and the SMS channel that texts it
/// (the named one, else the only one).
fn sms_contact(
    c: &RawContactRef<'_>,
    path: &str,
    channels: &BTreeMap<String, ChannelConfig>,
    errors: &mut Errors,
) -> Option<crate::config::Contact> {
    let known = || {
        let names: Vec<&str> = channels
            .values()
            .filter(|c| SMS_CHANNEL_KINDS.contains(&c.kind.as_str()))
            .map(|c| c.name.as_str())
            .collect();
        if names.is_empty() {
            "no SMS channel is defined; add a [[channels]] table with kind = \"http_sms\""
                .to_string()
        } else {
            format!("SMS channels: {}", names.join(", "))
        }
    };
    let number = match c.number {
        None => {
            errors.hint(
                format!("{path}.number"),
                "missing; sms contacts need a phone number",
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
            Some(ch) if SMS_CHANNEL_KINDS.contains(&ch.kind.as_str()) => ch.name.clone(),
            Some(ch) => {
                errors.hint(
                    format!("{path}.channel"),
                    format!(
                        "channel {name:?} is a {} channel, which cannot send SMS",
                        ch.kind.as_str()
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
            let sms: Vec<&ChannelConfig> = channels
                .values()
                .filter(|c| SMS_CHANNEL_KINDS.contains(&c.kind.as_str()))
                .collect();
            match sms.as_slice() {
                [only] => only.name.clone(),
                [] => {
                    errors.hint(
                        format!("{path}.channel"),
                        "no SMS channel delivers this sms contact",
                        known(),
                    );
                    return None;
                }
                _ => {
                    errors.hint(
                        format!("{path}.channel"),
                        "missing; there are several SMS channels",
                        known(),
                    );
                    return None;
                }
            }
        }
    };
    Some(crate::config::Contact::Sms { number, channel })
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
