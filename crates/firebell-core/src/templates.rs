//! Message templates (minijinja): how a page reads in each channel kind.
//!
//! Every template has a built-in default; a service may override any of them
//! (`[[services]] templates = { slack = "…" }`). Undefined variables are errors
//! ([`UndefinedBehavior::Strict`]), and every template is checked when the
//! configuration loads — compiled, its variables checked against the context
//! below, and rendered against sample pages — so a broken template is a
//! configuration error with its path and line, not a failed page at 3 a.m.
//! Should an override still fail at send time (a label it reads is missing
//! on that alert), the built-in template is used and the delivery says so.
//!
//! The context:
//! - `alert`: `id`, `service`, `service_name`, `summary`, `severity`,
//!   `status`, `source`, `labels` (map), `details` (map), `count`,
//!   `created_at`, `dedup_key`;
//! - `notification`: `id`, `recipient`, `step`, `round`, `kind`, `is_test`;
//! - `links`: `ack_url`, `resolve_url`, `alert_url` (empty strings when they
//!   cannot be made, e.g. without a link secret, or for a test page), and
//!   `actions`: the alert's runbook actions as `{label, url}` (signed links);
//! - `firebell`: `public_url`.

use crate::alert::{Alert, AlertStatus};
use crate::event::{DedupKey, Severity};
use crate::notification::{Notification, NotificationKind, NotificationStatus};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde_json::json;
use std::collections::BTreeMap;

/// Every template name a service may override, with its built-in source.
pub const BUILTIN: &[(&str, &str)] = &[
    ("email_subject", EMAIL_SUBJECT),
    ("email_text", EMAIL_TEXT),
    ("email_html", EMAIL_HTML),
    ("slack", SLACK),
    ("teams", TEAMS),
    ("mattermost", MATTERMOST),
    ("program", PROGRAM),
];

// Email: a page reads the same in text and HTML. Pages about no alert
// (test pages, shift handoffs: alert id 0) say only their text.
const EMAIL_SUBJECT: &str = "{% if notification.is_test %}[TEST] {% endif %}[firebell] {% if alert.id %}{{ alert.service_name }} {{ alert.severity|upper }}: {% endif %}{{ alert.summary }}";

const EMAIL_TEXT: &str = "\
{% if alert.id -%}
{{ alert.severity|upper }} alert #{{ alert.id }} on {{ alert.service_name }}

{{ alert.summary }}

Status:    {{ alert.status }}
Source:    {{ alert.source }}
Opened:    {{ alert.created_at }}
Count:     {{ alert.count }}
Dedup key: {{ alert.dedup_key }}
{% for name, value in alert.labels|items %}Label:     {{ name }}={{ value }}
{% endfor %}
{%- if links.ack_url %}
Acknowledge: {{ links.ack_url }}
Resolve:     {{ links.resolve_url }}
{%- for a in links.actions %}
{{ a.label }}: {{ a.url }}
{%- endfor %}

The links act on this alert only, without logging in, and expire.
{%- endif %}
{%- else -%}
{{ alert.summary }}
{%- endif %}

--
Sent by Firebell to {{ notification.recipient }}{% if notification.is_test %} as a test{% endif %}{% if alert.id %} (escalation step {{ notification.step }}, round {{ notification.round }}){% endif %}.
";

const EMAIL_HTML: &str = "\
<!DOCTYPE html>
<html><head><meta charset=\"utf-8\"><title>{{ alert.summary }}</title></head>
<body style=\"font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222\">
{% if alert.id -%}
<p style=\"font-size:13px;color:#666\">{{ alert.severity|upper }} alert #{{ alert.id }} on {{ alert.service_name }}</p>
<h1 style=\"font-size:20px\">{{ alert.summary }}</h1>
<table cellpadding=\"3\" style=\"border-collapse:collapse\">
<tr><td>Status</td><td>{{ alert.status }}</td></tr>
<tr><td>Source</td><td>{{ alert.source }}</td></tr>
<tr><td>Opened</td><td>{{ alert.created_at }}</td></tr>
<tr><td>Count</td><td>{{ alert.count }}</td></tr>
<tr><td>Dedup key</td><td>{{ alert.dedup_key }}</td></tr>
{% for name, value in alert.labels|items %}<tr><td>{{ name }}</td><td>{{ value }}</td></tr>
{% endfor %}</table>
{% if links.ack_url -%}
<p><a href=\"{{ links.ack_url }}\" style=\"display:inline-block;padding:8px 16px;background:#b00020;color:#fff;text-decoration:none;border-radius:4px\">Acknowledge</a>
&nbsp; <a href=\"{{ links.resolve_url }}\" style=\"display:inline-block;padding:8px 16px;background:#1b5e20;color:#fff;text-decoration:none;border-radius:4px\">Resolve</a></p>
{% for a in links.actions %}<p><a href=\"{{ a.url }}\" style=\"display:inline-block;padding:8px 16px;background:#37474f;color:#fff;text-decoration:none;border-radius:4px\">{{ a.label }}</a></p>
{% endfor -%}
<p style=\"font-size:12px;color:#666\">The links act on this alert only, without logging in, and expire.</p>
{% endif -%}
{% else -%}
<p>{{ alert.summary }}</p>
{% endif -%}
<p style=\"font-size:12px;color:#666\">Sent by Firebell to {{ notification.recipient }}{% if notification.is_test %} as a test{% endif %}{% if alert.id %} (escalation step {{ notification.step }}, round {{ notification.round }}){% endif %}.</p>
</body></html>
";

const SLACK: &str = "{% if notification.is_test %}*[TEST]* {% endif %}*{{ alert.severity|upper }}* {{ alert.service_name|slack_escape }}: {{ alert.summary|slack_escape }}{% if alert.status != \"triggered\" %} ({{ alert.status }}){% endif %}";

const TEAMS: &str = "{% if notification.is_test %}**[TEST]** {% endif %}**{{ alert.severity|upper }}** {{ alert.service_name }}: {{ alert.summary }}{% if alert.status != \"triggered\" %} ({{ alert.status }}){% endif %}";

const MATTERMOST: &str = "{% if notification.is_test %}**[TEST]** {% endif %}**{{ alert.severity|upper }}** {{ alert.service_name }}: {{ alert.summary }}{% if alert.status != \"triggered\" %} ({{ alert.status }}){% endif %}{% if links.ack_url %}
[Acknowledge]({{ links.ack_url }}) · [Resolve]({{ links.resolve_url }}){% endif %}";

const PROGRAM: &str = "{{ alert.summary }}";

/// The built-in source of `name`.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Every name [`BUILTIN`] knows, for hints.
pub fn names() -> String {
    BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fields of each context object; `labels` and `details` take any key.
const FIELDS: &[(&str, &[&str])] = &[
    (
        "alert",
        &[
            "id",
            "service",
            "service_name",
            "summary",
            "severity",
            "status",
            "source",
            "labels",
            "details",
            "count",
            "created_at",
            "dedup_key",
        ],
    ),
    (
        "notification",
        &["id", "recipient", "step", "round", "kind", "is_test"],
    ),
    ("links", &["ack_url", "resolve_url", "alert_url", "actions"]),
    ("firebell", &["public_url"]),
];

/// Global functions minijinja brings; a template may use them.
const GLOBALS: &[&str] = &["range", "dict", "namespace", "debug", "loop"];

/// A broken template: what is wrong, on which line of it, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub line: Option<usize>,
    pub message: String,
    pub hint: String,
}

const HINT_VARIABLES: &str = "the context has alert, notification, links and firebell; see the template variables in docs/configuration.md";
const HINT_SYNTAX: &str =
    "templates use Jinja syntax: {{ alert.summary }}, {% if … %}…{% endif %}, {# comment #}";
const HINT_UNDEFINED: &str = "a label or detail that some alerts lack needs a default, e.g. {{ alert.labels.team | default(\"none\") }}";

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line} of the template: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn from_minijinja(e: &minijinja::Error) -> TemplateError {
    let message = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    let hint = match e.kind() {
        minijinja::ErrorKind::SyntaxError => HINT_SYNTAX,
        minijinja::ErrorKind::UndefinedError => HINT_UNDEFINED,
        _ => HINT_VARIABLES,
    };
    TemplateError {
        line: e.line(),
        message,
        hint: hint.to_string(),
    }
}

/// `&`, `<` and `>` as Slack's mrkdwn wants them, so an alert's text cannot
/// mention `@channel` or forge a link.
fn slack_escape(s: String) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with("email_html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_recursion_limit(64);
    env.add_filter("slack_escape", slack_escape);
    env
}

/// Every template, compiled: the built-ins and each service's overrides.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles the built-ins and every service's overrides. An override that
    /// does not compile (impossible after [`check`] passed at load) is left
    /// out, so the built-in is used.
    /// `overrides`: each service's id and its templates by name (see
    /// `Config::templates`).
    pub fn new<'a>(
        overrides: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
    ) -> Self {
        let mut env = environment();
        for (name, source) in BUILTIN {
            // The built-ins are tested to compile.
            let _ = env.add_template_owned(format!("builtin/{name}"), *source);
        }
        for (id, templates) in overrides {
            for (name, source) in templates {
                let _ = env.add_template_owned(format!("{id}/{name}"), source.clone());
            }
        }
        Self { env }
    }

    /// Renders template `name` for `service`: the service's override when it
    /// has one, else the built-in. When an override fails, the built-in is
    /// used and the second value says why.
    pub fn render(
        &self,
        service: &str,
        name: &str,
        ctx: &Value,
    ) -> Result<(String, Option<String>), TemplateError> {
        let mut fallback = None;
        if let Ok(t) = self.env.get_template(&format!("{service}/{name}")) {
            match t.render(ctx) {
                Ok(s) => return Ok((s, None)),
                Err(e) => {
                    fallback = Some(format!(
                        "template services.{service}.templates.{name} failed ({}); used the built-in one",
                        from_minijinja(&e)
                    ))
                }
            }
        }
        let t = self
            .env
            .get_template(&format!("builtin/{name}"))
            .map_err(|e| from_minijinja(&e))?;
        let s = t.render(ctx).map_err(|e| from_minijinja(&e))?;
        Ok((s, fallback))
    }
}

/// Checks one service override: its name is known, it compiles, every
/// variable it reads exists, and it renders against sample pages.
pub fn check(name: &str, source: &str) -> Result<(), TemplateError> {
    if builtin(name).is_none() {
        return Err(TemplateError {
            line: None,
            message: format!("unknown template {name:?}"),
            hint: format!("templates are: {}", names()),
        });
    }
    let mut env = environment();
    env.add_template_owned(format!("check/{name}"), source.to_string())
        .map_err(|e| from_minijinja(&e))?;
    let t = env
        .get_template(&format!("check/{name}"))
        .map_err(|e| from_minijinja(&e))?;
    let variables = t.undeclared_variables(true);
    let mut unknown: Vec<&String> = variables.iter().filter(|v| !known_variable(v)).collect();
    unknown.sort();
    if let Some(v) = unknown.first() {
        return Err(TemplateError {
            line: line_of(source, v),
            message: format!("unknown variable {v:?}"),
            hint: HINT_VARIABLES.to_string(),
        });
    }
    for (alert, n) in samples() {
        let ctx = sample_context(&alert, &n);
        if let Err(e) = t.render(&ctx) {
            let mut err = from_minijinja(&e);
            // Name the label or detail some alerts lack, when one on that
            // line can be.
            if e.kind() == minijinja::ErrorKind::UndefinedError {
                let mut missing: Vec<&String> = variables
                    .iter()
                    .filter(|v| v.starts_with("alert.labels.") || v.starts_with("alert.details."))
                    .filter(|v| err.line.is_none() || line_of(source, v) == err.line)
                    .collect();
                missing.sort();
                if !missing.is_empty() {
                    let names: Vec<String> = missing.iter().map(|v| v.to_string()).collect();
                    err.message = format!(
                        "{} ({} is missing on some alerts)",
                        err.message,
                        names.join(" or ")
                    );
                }
            }
            return Err(err);
        }
    }
    Ok(())
}

fn known_variable(v: &str) -> bool {
    let mut parts = v.split('.');
    let top = parts.next().unwrap_or_default();
    if GLOBALS.contains(&top) {
        return true;
    }
    let Some((_, fields)) = FIELDS.iter().find(|(name, _)| *name == top) else {
        return false;
    };
    // Deeper parts are methods or a label's or detail's key.
    parts.next().is_none_or(|field| fields.contains(&field))
}

/// The first line of `source` that mentions `name`.
fn line_of(source: &str, name: &str) -> Option<usize> {
    source.lines().position(|l| l.contains(name)).map(|i| i + 1)
}

/// The template context from its parts (see `render::template_context`).
/// The `links` of a template's context.
pub(crate) struct PageLinks<'a> {
    pub ack_url: &'a str,
    pub resolve_url: &'a str,
    pub alert_url: &'a str,
    /// Each runbook action's label and signed link.
    pub actions: &'a [(String, String)],
}

pub(crate) fn build(
    alert: &Alert,
    n: &Notification,
    service_name: &str,
    links: PageLinks<'_>,
    public_url: &str,
) -> Value {
    let PageLinks {
        ack_url,
        resolve_url,
        alert_url,
        actions,
    } = links;
    Value::from_serialize(json!({
        "alert": {
            "id": alert.id,
            "service": alert.service,
            "service_name": service_name,
            "summary": alert.summary,
            "severity": alert.severity,
            "status": alert.status,
            "source": alert.source,
            "labels": alert.labels,
            "details": alert.details,
            "count": alert.count,
            "created_at": alert.created_at.to_string(),
            "dedup_key": alert.dedup_key,
        },
        "notification": {
            "id": n.id,
            "recipient": n.user,
            "step": n.step + 1,
            "round": n.loop_ + 1,
            "kind": n.kind.as_str(),
            "is_test": n.kind == NotificationKind::Test,
        },
        "links": {
            "ack_url": ack_url,
            "resolve_url": resolve_url,
            "alert_url": alert_url,
            "actions": actions
                .iter()
                .map(|(label, url)| json!({ "label": label, "url": url }))
                .collect::<Vec<_>>(),
        },
        "firebell": { "public_url": public_url },
    }))
}

fn sample_context(alert: &Alert, n: &Notification) -> Value {
    let with_links = n.kind == NotificationKind::Notify;
    let url = |path: &str| {
        if with_links {
            format!("https://firebell.example.com{path}")
        } else {
            String::new()
        }
    };
    let actions = if with_links {
        vec![(
            "Drain web1 from pool web".to_string(),
            url("/links/alerts/42/run-drain?token=x"),
        )]
    } else {
        Vec::new()
    };
    build(
        alert,
        n,
        "Checkout web",
        PageLinks {
            ack_url: &url("/links/alerts/42/acknowledge?token=x"),
            resolve_url: &url("/links/alerts/42/resolve?token=x"),
            alert_url: &url("/api/v1/alerts/42"),
            actions: &actions,
        },
        "https://firebell.example.com",
    )
}

/// Sample pages a template must render: a fresh critical page with links,
/// and a resolved test page without them.
pub fn samples() -> Vec<(Alert, Notification)> {
    let t: jiff::Timestamp = jiff::Timestamp::from_second(1_772_366_400).unwrap_or_default();
    let alert = Alert {
        id: 42,
        service: "checkout".into(),
        dedup_key: DedupKey::derive("checkout", "disk-web1", "", &BTreeMap::new()),
        status: AlertStatus::Triggered,
        summary: "Disk full on web1".into(),
        severity: Severity::Critical,
        source: "web1".into(),
        labels: [("host".to_string(), "web1".to_string())].into(),
        details: serde_json::Map::new(),
        count: 3,
        created_at: t,
        updated_at: t,
        acknowledged_at: None,
        resolved_at: None,
        expires_at: None,
    };
    let n = Notification {
        idem_key: String::new(),
        follow_up: false,
        id: 7,
        alert_id: Some(42),
        message: None,
        user: "alice".into(),
        contact_index: 0,
        channel: "console".into(),
        address: "stdout".into(),
        kind: NotificationKind::Notify,
        step: 0,
        loop_: 0,
        status: NotificationStatus::Sending,
        attempts: 0,
        next_attempt_at: t,
        last_error: None,
        detail: None,
        created_at: t,
    };
    let mut resolved = alert.clone();
    resolved.status = AlertStatus::Resolved;
    resolved.severity = Severity::Info;
    resolved.labels.clear();
    let mut test = n.clone();
    test.kind = NotificationKind::Test;
    vec![(alert, n), (resolved, test)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_pass_their_own_check() {
        for (name, source) in BUILTIN {
            check(name, source).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn an_unknown_variable_is_reported_with_its_line() {
        let e = check("slack", "Alert\n{{ alert.sumary }}\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("alert.sumary"), "{e}");
        let e = check("program", "{{ user }}").unwrap_err();
        assert!(e.message.contains("\"user\""), "{e}");
    }

    #[test]
    fn a_syntax_error_is_reported_with_its_line() {
        let e = check("email_text", "one\ntwo\n{% if alert.count > 1 %}many\n").unwrap_err();
        assert!(e.line.is_some_and(|l| l >= 3), "{e:?}");
        assert!(e.message.contains("syntax error"), "{e}");
    }

    #[test]
    fn missing_labels_are_caught_at_load_unless_defaulted() {
        check("slack", "{{ alert.summary|upper }} {{ alert.details }}").unwrap();
        // One sample has no labels: a template that needs one without a
        // default fails at load, not on the alert that lacks it.
        let e = check("slack", "{{ alert.summary }}\n{{ alert.labels.host }}").unwrap_err();
        assert_eq!(e.line, Some(2), "{e:?}");
        assert_eq!(
            e.message,
            "undefined value (alert.labels.host is missing on some alerts)"
        );
        check(
            "slack",
            "{{ alert.labels.team | default('none') }}{% if 'team' in alert.labels %}x{% endif %}",
        )
        .unwrap();
    }

    #[test]
    fn unknown_template_names_are_rejected() {
        let e = check("sms", "x").unwrap_err();
        assert!(e.message.contains("unknown template"), "{e}");
    }

    #[test]
    fn email_html_escapes_and_slack_escapes_markup() {
        let (mut alert, n) = samples().remove(0);
        alert.summary = "<b>&</b> <!channel>".into();
        let ctx = sample_context(&alert, &n);
        let mut env = environment();
        env.add_template_owned("x/email_html", "{{ alert.summary }}")
            .unwrap();
        let html = env
            .get_template("x/email_html")
            .unwrap()
            .render(&ctx)
            .unwrap();
        assert_eq!(html, "&lt;b&gt;&amp;&lt;&#x2f;b&gt; &lt;!channel&gt;");
        env.add_template_owned("x/slack", SLACK).unwrap();
        let slack = env.get_template("x/slack").unwrap().render(&ctx).unwrap();
        assert_eq!(
            slack,
            "*CRITICAL* Checkout web: &lt;b&gt;&amp;&lt;/b&gt; &lt;!channel&gt;"
        );
    }

    #[test]
    fn emails_carry_a_link_per_runbook_action() {
        let (alert, n) = samples().remove(0);
        let ctx = sample_context(&alert, &n);
        let t = Templates::new(std::iter::empty());
        let (text, _) = t.render("x", "email_text", &ctx).unwrap();
        assert!(
            text.contains("Resolve:     https://firebell.example.com/links/alerts/42/resolve?token=x\nDrain web1 from pool web: https://firebell.example.com/links/alerts/42/run-drain?token=x\n"),
            "{text}"
        );
        let (html, _) = t.render("x", "email_html", &ctx).unwrap();
        assert!(html.contains(">Drain web1 from pool web</a>"), "{html}");
    }
}
