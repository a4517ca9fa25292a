//! `kind = "twilio"`: SMS and voice calls through Twilio's REST API.

use super::common::{has_host, is_http_url, problem, read_kind};
use crate::config::diag::{Errors, SecretSource, resolve_secret};
use secrecy::SecretString;
use serde::Deserialize;

/// Twilio's REST API, unless `base_url` says otherwise.
pub const TWILIO_API: &str = "https://api.twilio.com";

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

/// A twilio channel's own keys (and `max_segments`, read with the common keys).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTwilio {
    account_sid: Option<String>,
    auth_token: Option<String>,
    from: Option<String>,
    base_url: Option<String>,
    machine_detection: Option<bool>,
    voicemail: Option<String>,
}

pub(crate) fn parse(
    table: toml::Table,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<TwilioSettings> {
    let c = &read_kind::<RawTwilio>(errors, path, "twilio", table)?;
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
