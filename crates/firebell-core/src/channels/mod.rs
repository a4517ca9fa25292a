//! Named delivery channels: the `[[channels]]` tables of the configuration.
//!
//! A channel is a configured backend (a webhook with a preset and a signing
//! secret, an SMTP server, a local program, an SMS gateway, Twilio); a
//! contact names what reaches the person and, optionally, the channel that
//! delivers it. The built-in channels `console` and `webhook` need no table.
//!
//! One file per kind (`webhook.rs`, `program.rs`, `smtp.rs`, `http_sms.rs`,
//! `twilio.rs`): its settings, its own keys (a `deny_unknown_fields` struct)
//! and their validation. This module reads the keys every kind has (`name`,
//! `kind`, `dry_run`, `fallback`, `fallback_after`, `max_segments`) and hands
//! the rest to the kind named by `kind`; `contact.rs` holds the address rules.

mod common;
pub(crate) mod contact;
pub mod http_sms;
mod program;
pub mod sms_inbound;
mod smtp;
mod twilio;
mod webhook;

pub use crate::contacts::{decode_args, encode_args};
pub(crate) use common::Args;
pub use common::{valid_arg_name, valid_name};
pub use http_sms::HttpSmsSettings;
pub use program::{DEFAULT_PROGRAM_TIMEOUT, ProgramSettings};
pub use smtp::{SmtpSettings, SmtpTls};
pub use twilio::{TWILIO_API, TwilioSettings};
pub use webhook::{WebhookPreset, WebhookSettings};

use crate::config::diag::{Errors, SecretSource};
use common::problem;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Every `[[channels]]` kind, listed once: the `ChannelKind` variant and the
/// kind's module. Delivery (`firebell-channels`) generates its modules and
/// dispatch from this list, so a new kind is a line here, this module's
/// `mod` and `ChannelKind` arms, and the kind's two files.
#[macro_export]
macro_rules! channel_kinds {
    ($callback:ident) => {
        $callback! {
            Webhook webhook,
            Smtp smtp,
            Program program,
            HttpSms http_sms,
            Twilio twilio,
        }
    };
}

/// Names of the channels that exist without a `[[channels]]` table.
pub const BUILTIN_CHANNELS: [&str; 2] = ["console", "webhook"];

/// The kinds a `[[channels]]` table may name, for hints.
const KINDS: &str = "\"webhook\", \"smtp\", \"program\", \"http_sms\" and \"twilio\"";

/// One `[[channels]]` table as written: the keys every kind has, and the
/// kind's own keys (`rest`), read by the kind's module.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawChannel {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    dry_run: Option<bool>,
    // Provider fail-over, any kind.
    fallback: Option<String>,
    fallback_after: Option<i64>,
    #[serde(flatten)]
    rest: toml::Table,
}

/// Channel kinds that send text messages.
pub const SMS_CHANNEL_KINDS: &[&str] = &["http_sms", "twilio"];

/// Channel kinds that make phone calls.
pub const VOICE_CHANNEL_KINDS: &[&str] = &["twilio"];

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
    /// `kind = "http_sms"`: see [`http_sms`].
    HttpSms(Box<HttpSmsSettings>),
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
        check_name(c, &path, errors);
        let mut rest = c.rest.clone();
        // `max_segments` belongs to the kinds that send texts; for any other
        // kind it stays in `rest` and is reported as not applying.
        let segments = if SMS_CHANNEL_KINDS.contains(&c.kind.as_str()) {
            rest.remove("max_segments")
        } else {
            None
        };
        let kind = match c.kind.as_str() {
            "webhook" => webhook::parse(rest, &path, secrets, errors).map(ChannelKind::Webhook),
            "program" => program::parse(rest, &path, secrets, errors).map(ChannelKind::Program),
            "smtp" => smtp::parse(rest, &path, secrets, errors).map(ChannelKind::Smtp),
            "http_sms" => http_sms::parse(rest, &path, secrets, errors)
                .map(|s| ChannelKind::HttpSms(Box::new(s))),
            "twilio" => twilio::parse(rest, &path, secrets, errors).map(ChannelKind::Twilio),
            "" => {
                problem(
                    errors,
                    format!("{path}.kind"),
                    "missing",
                    Some(&format!("kind = one of {KINDS}")),
                );
                continue;
            }
            other => {
                problem(
                    errors,
                    format!("{path}.kind"),
                    format!("unknown channel kind {other:?}"),
                    Some(&format!("this version supports {KINDS}")),
                );
                continue;
            }
        };
        let max_segments = max_segments(segments, &path, errors);
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

fn check_name(c: &RawChannel, path: &str, errors: &mut Errors) {
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
}

/// An SMS channel's `max_segments`: 1 to 10, 3 unless set.
fn max_segments(value: Option<toml::Value>, path: &str, errors: &mut Errors) -> u8 {
    let hint = "1 to 10 segments (3 by default); each holds 153 GSM-7 or 67 UCS-2 characters";
    match value {
        None => DEFAULT_MAX_SEGMENTS,
        Some(toml::Value::Integer(n @ 1..=10)) => n as u8,
        Some(toml::Value::Integer(n)) => {
            problem(
                errors,
                format!("{path}.max_segments"),
                format!("{n} is out of range"),
                Some(hint),
            );
            DEFAULT_MAX_SEGMENTS
        }
        Some(other) => {
            problem(
                errors,
                format!("{path}.max_segments"),
                format!("{other} is not a number"),
                Some(hint),
            );
            DEFAULT_MAX_SEGMENTS
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Contact};
    use secrecy::ExposeSecret;

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
    use secrecy::ExposeSecret;

    struct Secrets;
    impl SecretSource for Secrets {
        fn env(&self, name: &str) -> Option<String> {
            (name == "TWILIO_TOKEN").then(|| "tw-auth-token-0123456789".to_string())
        }
        fn file(&self, _: &str) -> Result<String, String> {
            Err("no files here".into())
        }
        fn executable(&self, _: &std::path::Path) -> Result<(), String> {
            Ok(())
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
                    number: crate::contacts::E164Number::parse("+447700900123", None).unwrap(),
                    channel: "phone".into()
                },
                Contact::Sms {
                    number: crate::contacts::E164Number::parse("+447700900123", None).unwrap(),
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

    #[test]
    fn gateway_replies_name_their_fields_and_one_way_to_authenticate() {
        let with = |inbound: &str| parse(&format!("{GATEWAY}inbound = {inbound}\n"));
        let c = with(
            "{ preset = \"vonage\", signature_secret = \"s3cret\", signature_method = \"sha256\" }",
        )
        .unwrap();
        let ChannelKind::HttpSms(s) = &c.channels["gateway"].kind else {
            panic!("not an http_sms channel");
        };
        let inbound = s.inbound.as_ref().unwrap();
        assert_eq!(
            (
                inbound.from_field.as_str(),
                inbound.text_field.as_str(),
                inbound.id_field.as_deref()
            ),
            ("msisdn", "text", Some("messageId"))
        );
        assert!(matches!(
            inbound.auth,
            sms_inbound::InboundAuth::Vonage {
                method: sms_inbound::VonageMethod::HmacSha256,
                ..
            }
        ));
        for (inbound, want) in [
            (
                "{ preset = \"vonage\" }",
                "channels[0].inbound: says nothing to authenticate the gateway's requests",
            ),
            (
                "{ preset = \"plivo\", auth_token = \"a\", token = \"b\" }",
                "channels[0].inbound: gives token and auth_token ways to authenticate; give one",
            ),
            (
                "{ preset = \"nexmo\", token = \"b\" }",
                "channels[0].inbound.preset: unknown preset \"nexmo\" (hint: one of \"vonage\", \"plivo\", \"textanywhere\")",
            ),
            (
                "{ text_field = \"body\", token = \"0123456789abcdef0123456789abcdef\" }",
                "channels[0].inbound.from_field: missing",
            ),
            (
                "{ preset = \"textanywhere\", token = \"short\" }",
                "channels[0].inbound.token: must be at least 32 characters",
            ),
            (
                "{ preset = \"vonage\", signature_secret = \"s\", signature_method = \"sha3\" }",
                "channels[0].inbound.signature_method: unknown value \"sha3\"",
            ),
            (
                "{ preset = \"plivo\", auth_token = \"env:NOT_SET_ANYWHERE\" }",
                "channels[0].inbound.auth_token: environment variable NOT_SET_ANYWHERE is not set",
            ),
            (
                "{ preset = \"plivo\", auth_token = \"a\", from = \"x\" }",
                "channels[0].inbound.from",
            ),
        ] {
            let errs = with(inbound).unwrap_err().join("\n");
            assert!(errs.contains(want), "{want:?} not in\n{errs}");
        }
    }
}
