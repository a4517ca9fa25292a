//! The HTTP SMS gateway channel (`kind = "http_sms"`): any provider that
//! takes one HTTP request per text, described by configuration — method,
//! URL, encoding, auth, templated fields, number format, what a success
//! answer looks like, where the message id is, and per-recipient results for
//! gateways that answer per number (`+447700900123:1,+447700900456:3`).
//!
//! Everything here is pure: validation at load, building the request from a
//! number and a text, and classifying the answer. `firebell-channels` sends.

use super::common::{Args, is_http_url, read_kind};
use super::sms_inbound::{self, Inbound, RawInbound};
use crate::config::diag::{Errors, SecretSource, resolve_secret};
use crate::notification::Delivery;
use minijinja::{Environment, UndefinedBehavior, context};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Variables a field template may use.
pub const VARIABLES: [&str; 6] = ["to", "to_digits", "to_e164", "body", "reference", "from"];

/// Answers retried unless `retryable_status` says otherwise.
pub const DEFAULT_RETRYABLE: [u16; 7] = [408, 425, 429, 500, 502, 503, 504];

/// Longest part of a gateway's answer quoted in an error.
const EXCERPT_CHARS: usize = 200;

// ---------------------------------------------------------------------------
// Raw shape (keys of the `[[channels]]` table).
// ---------------------------------------------------------------------------

/// `success = { status = [200], body_contains = "OK", json_pointer = "/status", json_equals = "0" }`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSuccess {
    status: Option<Vec<u16>>,
    body_contains: Option<String>,
    json_pointer: Option<String>,
    json_equals: Option<String>,
}

/// `message_id = { json_pointer = "/messages/0/message-id" }` or `{ regex = "id=(\\w+)" }`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessageId {
    json_pointer: Option<String>,
    regex: Option<String>,
}

/// `per_recipient = { pattern = "(?<number>\\+?\\d+):(?<code>\\d+)", success = ["1"], retryable = [] }`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPerRecipient {
    pattern: Option<String>,
    success: Option<Vec<String>>,
    #[serde(default)]
    retryable: Vec<String>,
}

/// An http_sms channel's own keys, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpSmsTable {
    url: Option<String>,
    method: Option<String>,
    encoding: Option<String>,
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
    from: Option<String>,
    eventtype: Option<String>,
    fields: Option<Args>,
    number_format: Option<String>,
    success: Option<RawSuccess>,
    message_id: Option<RawMessageId>,
    retryable_status: Option<Vec<u16>>,
    per_recipient: Option<RawPerRecipient>,
    inbound: Option<RawInbound>,
}

/// Reads and validates an http_sms channel's own keys.
pub(crate) fn parse(
    table: toml::Table,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<HttpSmsSettings> {
    let c = read_kind::<RawHttpSmsTable>(errors, path, "http_sms", table)?;
    let raw = RawHttpSms {
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
        inbound: c.inbound.as_ref(),
    };
    validate(&raw, path, secrets, errors)
}

/// The keys an http_sms channel reads, borrowed.
pub(crate) struct RawHttpSms<'a> {
    pub url: Option<&'a str>,
    pub method: Option<&'a str>,
    pub encoding: Option<&'a str>,
    pub auth: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub token: Option<&'a str>,
    pub from: Option<&'a str>,
    pub eventtype: Option<&'a str>,
    pub fields: Option<&'a Args>,
    pub number_format: Option<&'a str>,
    pub success: Option<&'a RawSuccess>,
    pub message_id: Option<&'a RawMessageId>,
    pub retryable_status: Option<&'a [u16]>,
    pub per_recipient: Option<&'a RawPerRecipient>,
    pub inbound: Option<&'a RawInbound>,
}

// ---------------------------------------------------------------------------
// Validated shape.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct HttpSmsSettings {
    pub method: Method,
    pub url: String,
    pub encoding: Encoding,
    pub auth: Auth,
    /// In file order: name and value (a template, or a resolved secret).
    pub fields: Vec<(String, FieldValue)>,
    /// The `from` variable (sender id or number); "Firebell" by default.
    pub from: String,
    pub number_format: NumberFormat,
    /// First line of the text; the service's name when unset.
    pub eventtype: Option<String>,
    pub success: Success,
    pub message_id: Option<MessageId>,
    pub retryable_status: Vec<u16>,
    pub per_recipient: Option<PerRecipient>,
    /// Replies: where the gateway forwards texts sent to its number.
    pub inbound: Option<Box<Inbound>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Where the fields go: the URL's query, a form body or a JSON object body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Query,
    Form,
    Json,
}

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic {
        username: String,
        password: SecretString,
    },
    Bearer {
        token: SecretString,
    },
}

#[derive(Debug, Clone)]
pub enum FieldValue {
    /// A minijinja template over [`VARIABLES`], checked at load.
    Template(String),
    /// An `env:`/`file:` value (credentials as fields), never templated.
    Secret(SecretString),
}

/// How the recipient's number is written in the `to` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberFormat {
    /// `+447700900123`
    E164,
    /// `447700900123`
    Digits,
}

/// What a successful answer looks like. Every rule given must hold.
#[derive(Debug, Clone, Default)]
pub struct Success {
    /// Empty: any 2xx.
    pub status: Vec<u16>,
    pub body_contains: Option<String>,
    /// A JSON pointer (RFC 6901) into the answer and the text its value
    /// must equal (a number or string, compared as text).
    pub json: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum MessageId {
    JsonPointer(String),
    /// The first capture group (or the whole match without one).
    Regex(regex::Regex),
}

/// A gateway that answers per number: each match of `pattern` gives a
/// `number` and a `code`.
#[derive(Debug, Clone)]
pub struct PerRecipient {
    pub pattern: regex::Regex,
    pub success: Vec<String>,
    pub retryable: Vec<String>,
}

// ---------------------------------------------------------------------------
// Validation.
// ---------------------------------------------------------------------------

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

fn sample_vars() -> minijinja::Value {
    context! {
        to => "+447700900123",
        to_digits => "447700900123",
        to_e164 => "+447700900123",
        body => "Web:\nFATAL\nservices/web\nDisk full on web1",
        reference => "1",
        from => "Firebell",
    }
}

/// Checks one field template: it compiles, reads only [`VARIABLES`] and
/// renders.
fn check_template(source: &str) -> Result<(), String> {
    let mut env = environment();
    env.add_template_owned("field", source.to_string())
        .map_err(|e| e.to_string())?;
    let t = env.get_template("field").map_err(|e| e.to_string())?;
    let mut unknown: Vec<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !VARIABLES.contains(&v.as_str()))
        .collect();
    unknown.sort();
    if let Some(v) = unknown.first() {
        return Err(format!(
            "unknown variable {v:?} (fields may use {})",
            VARIABLES.join(", ")
        ));
    }
    t.render(sample_vars())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn one_of<T: Copy>(
    errors: &mut Errors,
    path: String,
    value: Option<&str>,
    default: T,
    options: &[(&str, T)],
) -> T {
    let Some(v) = value else { return default };
    match options.iter().find(|(name, _)| *name == v) {
        Some((_, t)) => *t,
        None => {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
            errors.hint(
                path,
                format!("unknown value {v:?}"),
                format!("one of {}", names.join(", ")),
            );
            default
        }
    }
}

fn compile(errors: &mut Errors, path: String, pattern: &str) -> Option<regex::Regex> {
    match regex::Regex::new(pattern) {
        Ok(r) => Some(r),
        Err(e) => {
            errors.push(path, format!("not a valid regular expression: {e}"));
            None
        }
    }
}

fn check_pointer(errors: &mut Errors, path: String, pointer: &str) {
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        errors.hint(
            path,
            format!("{pointer:?} is not a JSON pointer"),
            "a JSON pointer starts with '/', e.g. \"/messages/0/status\"",
        );
    }
}

pub(crate) fn validate(
    c: &RawHttpSms<'_>,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<HttpSmsSettings> {
    let url = match c.url {
        Some(u) if is_http_url(u) => u.to_string(),
        Some(u) => {
            errors.hint(
                format!("{path}.url"),
                format!("{u:?} is not an http(s) URL"),
                "the gateway's endpoint, e.g. \"https://rest.nexmo.com/sms/json\"",
            );
            String::new()
        }
        None => {
            errors.hint(
                format!("{path}.url"),
                "missing",
                "the gateway's endpoint, e.g. \"https://rest.nexmo.com/sms/json\"",
            );
            String::new()
        }
    };
    let method = one_of(
        errors,
        format!("{path}.method"),
        c.method,
        Method::Post,
        &[("GET", Method::Get), ("POST", Method::Post)],
    );
    let default_encoding = if method == Method::Get {
        Encoding::Query
    } else {
        Encoding::Form
    };
    let encoding = one_of(
        errors,
        format!("{path}.encoding"),
        c.encoding,
        default_encoding,
        &[
            ("query", Encoding::Query),
            ("form", Encoding::Form),
            ("json", Encoding::Json),
        ],
    );
    if method == Method::Get && encoding != Encoding::Query {
        errors.hint(
            format!("{path}.encoding"),
            "a GET request has no body",
            "use encoding = \"query\" with method = \"GET\"",
        );
    }
    let secret = |errors: &mut Errors, key: &str, v: Option<&str>| {
        v.and_then(|v| resolve_secret(errors, &format!("{path}.{key}"), v, secrets))
    };
    let auth = match c.auth.unwrap_or("none") {
        "none" => {
            for (key, v) in [
                ("username", c.username),
                ("password", c.password),
                ("token", c.token),
            ] {
                if v.is_some() {
                    errors.hint(
                        format!("{path}.{key}"),
                        "is set but auth is \"none\"",
                        "set auth = \"basic\" (username, password) or \"bearer\" (token)",
                    );
                }
            }
            Auth::None
        }
        "basic" => {
            let username = c.username.map(str::to_string).unwrap_or_else(|| {
                errors.push(
                    format!("{path}.username"),
                    "missing; auth = \"basic\" needs it",
                );
                String::new()
            });
            if c.password.is_none() {
                errors.hint(
                    format!("{path}.password"),
                    "missing; auth = \"basic\" needs it",
                    "password = \"env:SMS_PASSWORD\"",
                );
            }
            let password = secret(errors, "password", c.password);
            match password {
                Some(password) => Auth::Basic { username, password },
                None => Auth::None,
            }
        }
        "bearer" => {
            if c.token.is_none() {
                errors.hint(
                    format!("{path}.token"),
                    "missing; auth = \"bearer\" needs it",
                    "token = \"env:SMS_TOKEN\"",
                );
            }
            match secret(errors, "token", c.token) {
                Some(token) => Auth::Bearer { token },
                None => Auth::None,
            }
        }
        other => {
            errors.hint(
                format!("{path}.auth"),
                format!("unknown value {other:?}"),
                "one of \"none\", \"basic\", \"bearer\"; credentials the gateway takes as fields go in fields",
            );
            Auth::None
        }
    };
    let mut fields = Vec::new();
    match c.fields {
        None => errors.hint(
            format!("{path}.fields"),
            "missing",
            "the request's fields, e.g. fields = { to = \"{{ to }}\", text = \"{{ body }}\" }",
        ),
        Some(args) => {
            for (name, value) in &args.0 {
                let fpath = format!("{path}.fields.{name}");
                if value.starts_with("env:") || value.starts_with("file:") {
                    if let Some(s) = resolve_secret(errors, &fpath, value, secrets) {
                        fields.push((name.clone(), FieldValue::Secret(s)));
                    }
                } else if let Err(e) = check_template(value) {
                    errors.push(fpath, format!("template: {e}"));
                } else {
                    fields.push((name.clone(), FieldValue::Template(value.clone())));
                }
            }
            if !args
                .0
                .iter()
                .any(|(_, v)| v.contains("{{ to") || v.contains("{{to"))
            {
                errors.hint(
                    format!("{path}.fields"),
                    "no field uses the recipient's number",
                    "add e.g. to = \"{{ to }}\"",
                );
            }
        }
    }
    let number_format = one_of(
        errors,
        format!("{path}.number_format"),
        c.number_format,
        NumberFormat::E164,
        &[
            ("e164", NumberFormat::E164),
            ("digits", NumberFormat::Digits),
        ],
    );
    let mut success = Success::default();
    if let Some(s) = c.success {
        success.status = s.status.clone().unwrap_or_default();
        for st in &success.status {
            if !(100..=599).contains(st) {
                errors.push(
                    format!("{path}.success.status"),
                    format!("{st} is not an HTTP status"),
                );
            }
        }
        success.body_contains = s.body_contains.clone();
        match (&s.json_pointer, &s.json_equals) {
            (Some(p), Some(v)) => {
                check_pointer(errors, format!("{path}.success.json_pointer"), p);
                success.json = Some((p.clone(), v.clone()));
            }
            (None, None) => {}
            (Some(_), None) => errors.push(
                format!("{path}.success.json_equals"),
                "missing; json_pointer needs the value it must equal",
            ),
            (None, Some(_)) => errors.push(
                format!("{path}.success.json_pointer"),
                "missing; json_equals needs the pointer it applies to",
            ),
        }
    }
    let message_id = match c.message_id {
        None => None,
        Some(RawMessageId {
            json_pointer: Some(p),
            regex: None,
        }) => {
            check_pointer(errors, format!("{path}.message_id.json_pointer"), p);
            Some(MessageId::JsonPointer(p.clone()))
        }
        Some(RawMessageId {
            json_pointer: None,
            regex: Some(r),
        }) => compile(errors, format!("{path}.message_id.regex"), r).map(MessageId::Regex),
        Some(_) => {
            errors.hint(
                format!("{path}.message_id"),
                "give exactly one of json_pointer and regex",
                "message_id = { json_pointer = \"/messages/0/message-id\" }",
            );
            None
        }
    };
    let retryable_status = c
        .retryable_status
        .map(<[u16]>::to_vec)
        .unwrap_or_else(|| DEFAULT_RETRYABLE.to_vec());
    let per_recipient = c.per_recipient.and_then(|p| {
        let ppath = format!("{path}.per_recipient");
        let Some(pattern) = &p.pattern else {
            errors.hint(
                format!("{ppath}.pattern"),
                "missing",
                "a regex with groups number and code, e.g. \"(?<number>\\\\+?\\\\d+):(?<code>\\\\d+)\"",
            );
            return None;
        };
        let re = compile(errors, format!("{ppath}.pattern"), pattern)?;
        let names: Vec<&str> = re.capture_names().flatten().collect();
        if !(names.contains(&"number") && names.contains(&"code")) {
            errors.hint(
                format!("{ppath}.pattern"),
                "needs the named groups number and code",
                "e.g. \"(?<number>\\\\+?\\\\d+):(?<code>\\\\d+)\"",
            );
            return None;
        }
        let Some(ok) = &p.success else {
            errors.hint(
                format!("{ppath}.success"),
                "missing",
                "the codes that mean sent, e.g. success = [\"1\"]",
            );
            return None;
        };
        Some(PerRecipient {
            pattern: re,
            success: ok.clone(),
            retryable: p.retryable.clone(),
        })
    });
    let inbound = c
        .inbound
        .and_then(|raw| sms_inbound::validate(raw, &format!("{path}.inbound"), secrets, errors))
        .map(Box::new);
    Some(HttpSmsSettings {
        inbound,
        method,
        url,
        encoding,
        auth,
        fields,
        from: c.from.unwrap_or("Firebell").to_string(),
        number_format,
        eventtype: c.eventtype.map(str::to_string),
        success,
        message_id,
        retryable_status,
        per_recipient,
    })
}

// ---------------------------------------------------------------------------
// Requests and answers.
// ---------------------------------------------------------------------------

/// The fields of one request, rendered. Holds secrets: not `Debug`, never
/// logged.
pub struct Fields(pub Vec<(String, String)>);

/// The recipient as the gateway wants it.
pub fn format_number(settings: &HttpSmsSettings, e164: &str) -> String {
    match settings.number_format {
        NumberFormat::E164 => e164.to_string(),
        NumberFormat::Digits => e164.trim_start_matches('+').to_string(),
    }
}

/// Renders every field for one text to `e164`.
pub fn render_fields(
    settings: &HttpSmsSettings,
    e164: &str,
    body: &str,
    reference: &str,
) -> Result<Fields, String> {
    let env = environment();
    let digits = e164.trim_start_matches('+');
    let vars = context! {
        to => format_number(settings, e164),
        to_digits => digits,
        to_e164 => e164,
        body => body,
        reference => reference,
        from => &settings.from,
    };
    let mut out = Vec::new();
    for (name, value) in &settings.fields {
        let v = match value {
            FieldValue::Secret(s) => s.expose_secret().to_string(),
            FieldValue::Template(t) => env
                .render_str(t, &vars)
                .map_err(|e| format!("field {name}: {e}"))?,
        };
        out.push((name.clone(), v));
    }
    Ok(Fields(out))
}

fn excerpt(body: &str) -> String {
    let one: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(EXCERPT_CHARS)
        .collect();
    let one = one.trim().to_string();
    if body.chars().count() > EXCERPT_CHARS {
        format!("{one}…")
    } else {
        one
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn digits(s: &str) -> String {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    d.strip_prefix("00").map(str::to_string).unwrap_or(d)
}

/// Classifies the gateway's answer to a text sent to `e164`.
pub fn classify(settings: &HttpSmsSettings, status: u16, body: &str, e164: &str) -> Delivery {
    let s = &settings.success;
    let status_ok = if s.status.is_empty() {
        (200..=299).contains(&status)
    } else {
        s.status.contains(&status)
    };
    if !status_ok {
        let error = format!("gateway answered HTTP {status}: {}", excerpt(body));
        return if settings.retryable_status.contains(&status) {
            Delivery::Retryable { error }
        } else {
            Delivery::Permanent { error }
        };
    }
    if let Some(needle) = &s.body_contains
        && !body.contains(needle.as_str())
    {
        return Delivery::Permanent {
            error: format!(
                "gateway answer (HTTP {status}) lacks {needle:?}: {}",
                excerpt(body)
            ),
        };
    }
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    if let Some((pointer, want)) = &s.json {
        let got = json
            .as_ref()
            .and_then(|j| j.pointer(pointer))
            .map(json_text);
        if got.as_deref() != Some(want.as_str()) {
            let got = got.map_or("nothing".to_string(), |g| format!("{g:?}"));
            return Delivery::Permanent {
                error: format!(
                    "gateway answer has {got} at {pointer} (success is {want:?}): {}",
                    excerpt(body)
                ),
            };
        }
    }
    if let Some(pr) = &settings.per_recipient {
        let want = digits(e164);
        let code = pr
            .pattern
            .captures_iter(body)
            .find(|c| c.name("number").is_some_and(|n| digits(n.as_str()) == want))
            .and_then(|c| c.name("code").map(|m| m.as_str().to_string()));
        match code {
            None => {
                return Delivery::Permanent {
                    error: format!("gateway answer has no result for {e164}: {}", excerpt(body)),
                };
            }
            Some(code) if pr.success.contains(&code) => {}
            Some(code) if pr.retryable.contains(&code) => {
                return Delivery::Retryable {
                    error: format!("gateway reported code {code} for {e164}"),
                };
            }
            Some(code) => {
                return Delivery::Permanent {
                    error: format!("gateway reported code {code} for {e164}"),
                };
            }
        }
    }
    let id = match &settings.message_id {
        None => None,
        Some(MessageId::JsonPointer(p)) => json.as_ref().and_then(|j| j.pointer(p)).map(json_text),
        Some(MessageId::Regex(re)) => re.captures(body).and_then(|c| {
            c.get(1)
                .or_else(|| c.get(0))
                .map(|m| m.as_str().to_string())
        }),
    };
    let detail = match id {
        Some(id) => format!("sent to {e164} (HTTP {status}, message id {id})"),
        None => format!("sent to {e164} (HTTP {status})"),
    };
    Delivery::Delivered { detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &str) -> Result<HttpSmsSettings, Vec<String>> {
        let text = format!(
            "[[channels]]\nname = \"sms\"\nkind = \"http_sms\"\nurl = \"http://127.0.0.1/send\"\n{extra}\n\
             [[users]]\nid = \"a\"\ncontacts = [ {{ kind = \"console\" }} ]\n"
        );
        let secrets = crate::config::MapSecrets::default().with_env("SMS_PASS", "hunter2");
        match crate::config::parse(&text, &secrets) {
            Ok(c) => match c.channels.get("sms").map(|c| &c.kind) {
                Some(crate::channels::ChannelKind::HttpSms(s)) => Ok((**s).clone()),
                _ => Err(vec!["not an http_sms channel".into()]),
            },
            Err(e) => Err(e.0.iter().map(|e| e.to_string()).collect()),
        }
    }

    const TEXTANYWHERE: &str = r#"
method = "GET"
fields = { Client_ID = "AB1234567", Client_Pass = "env:SMS_PASS", DestinationEx = "{{ to }}", Body = "{{ body }}", Client_Ref = "{{ reference }}" }
per_recipient = { pattern = '(?<number>\+?\d+):(?<code>\d+)', success = ["1"] }
"#;

    #[test]
    fn fields_render_with_secrets_and_number_format() {
        let s = settings(TEXTANYWHERE).unwrap();
        assert_eq!(s.method, Method::Get);
        assert_eq!(s.encoding, Encoding::Query);
        let f = render_fields(&s, "+447700900123", "Hi:\nthere", "42").unwrap();
        assert_eq!(
            f.0,
            vec![
                ("Client_ID".to_string(), "AB1234567".to_string()),
                ("Client_Pass".to_string(), "hunter2".to_string()),
                ("DestinationEx".to_string(), "+447700900123".to_string()),
                ("Body".to_string(), "Hi:\nthere".to_string()),
                ("Client_Ref".to_string(), "42".to_string()),
            ]
        );
        let s = settings(
            "number_format = \"digits\"\nfields = { to = \"{{ to }}\", e = \"{{ to_e164 }}\" }",
        )
        .unwrap();
        let f = render_fields(&s, "+447700900123", "x", "1").unwrap();
        assert_eq!(f.0[0].1, "447700900123");
        assert_eq!(f.0[1].1, "+447700900123");
        // Secrets never show in the settings' Debug form.
        assert!(!format!("{:?}", settings(TEXTANYWHERE).unwrap()).contains("hunter2"));
    }

    #[test]
    fn bad_settings_name_the_field() {
        let errs = settings(
            "method = \"PUT\"\nfields = { to = \"{{ number }}\" }\nauth = \"basic\"\n\
             per_recipient = { pattern = '(\\d+):(\\d+)', success = [\"1\"] }\n\
             message_id = { json_pointer = \"id\" }",
        )
        .unwrap_err();
        let text = errs.join("\n");
        for want in [
            "channels[0].method: unknown value \"PUT\"",
            "channels[0].fields.to: template: unknown variable \"number\"",
            "channels[0].username: missing",
            "channels[0].password: missing",
            "channels[0].per_recipient.pattern: needs the named groups number and code",
            "channels[0].message_id.json_pointer: \"id\" is not a JSON pointer",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        let errs =
            settings("method = \"GET\"\nencoding = \"json\"\nfields = { to = \"{{ to }}\" }")
                .unwrap_err();
        assert!(
            errs[0].starts_with("channels[0].encoding: a GET request has no body"),
            "{errs:?}"
        );
    }

    #[test]
    fn per_recipient_answers_are_classified() {
        let s = settings(TEXTANYWHERE).unwrap();
        let body = "+447700900123:1,+447700900456:3";
        assert!(matches!(
            classify(&s, 200, body, "+447700900123"),
            Delivery::Delivered { .. }
        ));
        match classify(&s, 200, body, "+447700900456") {
            Delivery::Permanent { error } => {
                assert_eq!(error, "gateway reported code 3 for +447700900456")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(&s, 200, body, "+447700900999"),
            Delivery::Permanent { .. }
        ));
        assert!(matches!(
            classify(&s, 503, "busy", "+447700900123"),
            Delivery::Retryable { .. }
        ));
        assert!(matches!(
            classify(&s, 400, "bad", "+447700900123"),
            Delivery::Permanent { .. }
        ));
    }

    #[test]
    fn json_answers_are_checked_and_ids_extracted() {
        let s = settings(
            "fields = { to = \"{{ to_digits }}\", text = \"{{ body }}\" }\n\
             success = { json_pointer = \"/messages/0/status\", json_equals = \"0\" }\n\
             message_id = { json_pointer = \"/messages/0/message-id\" }",
        )
        .unwrap();
        let ok = r#"{"messages":[{"status":"0","message-id":"0A00000012345678"}]}"#;
        match classify(&s, 200, ok, "+447700900123") {
            Delivery::Delivered { detail } => assert_eq!(
                detail,
                "sent to +447700900123 (HTTP 200, message id 0A00000012345678)"
            ),
            other => panic!("{other:?}"),
        }
        let bad = r#"{"messages":[{"status":"2","error-text":"Missing to param"}]}"#;
        match classify(&s, 200, bad, "+447700900123") {
            Delivery::Permanent { error } => {
                assert!(error.contains("\"2\" at /messages/0/status"), "{error}");
                assert!(error.contains("Missing to param"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
}
