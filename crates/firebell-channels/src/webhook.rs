//! Webhooks: the built-in `webhook` channel (Firebell's JSON to a contact's
//! URL) and `[[channels]]` of kind `webhook` with a body preset (Firebell,
//! Slack, Microsoft Teams, Mattermost) and an optional HMAC-SHA256 signature.
//!
//! The signature header is `Firebell-Signature: t=<unix seconds>,v1=<hex>`,
//! where the hex is HMAC-SHA256 with the channel's secret over
//! `"<t>.<body>"` — the timestamp, a dot, and the exact body bytes. A
//! receiver recomputes it, compares in constant time, and rejects stale `t`.

use crate::{classify, describe};
use firebell_core::alert::{Alert, AlertStatus};
use firebell_core::channels::{WebhookPreset, WebhookSettings};
use firebell_core::config::Config;
use firebell_core::event::Severity;
use firebell_core::links::action_links;
use firebell_core::notification::{Delivery, Notification, NotificationKind};
use firebell_core::render;
use firebell_core::templates::Templates;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "Firebell-Signature";

/// Slack rejects a section block's text over 3,000 characters.
const SLACK_SECTION_MAX: usize = 3000;

/// Posts a rendered body to a URL.
#[derive(Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
}

impl WebhookChannel {
    pub fn new(timeout: Duration) -> Self {
        Self {
            client: crate::http_client(timeout),
        }
    }

    /// One attempt: render the body for `settings.preset`, sign it when a
    /// secret is set, POST it to `n.address` (the contact's or channel's URL).
    /// `now` is the attempt's time by the engine's clock (the signature's `t`).
    #[allow(clippy::too_many_arguments)]
    pub async fn deliver(
        &self,
        settings: &WebhookSettings,
        dry_run: bool,
        config: &Config,
        templates: &Templates,
        alert: &Alert,
        n: &Notification,
        now: jiff::Timestamp,
    ) -> Delivery {
        let (body, note) = match body(settings.preset, config, templates, alert, n) {
            Ok(b) => b,
            Err(error) => return Delivery::Permanent { error },
        };
        let note = note.map(|s| format!("; {s}")).unwrap_or_default();
        if dry_run {
            return Delivery::Delivered {
                detail: format!(
                    "dry run: would POST {} bytes of {} JSON to {}{}{note}",
                    body.len(),
                    settings.preset.as_str(),
                    crate::redact_address("webhook", &n.address),
                    if settings.secret.is_some() {
                        ", signed"
                    } else {
                        ""
                    },
                ),
            };
        }
        let mut request = self
            .client
            .post(&n.address)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", format!("firebell-{}", n.id));
        if let Some(secret) = &settings.secret {
            let t = now.as_second();
            request = request.header(
                SIGNATURE_HEADER,
                signature(secret.expose_secret().as_bytes(), t, &body),
            );
        }
        match request.body(body).send().await {
            Ok(resp) => match classify(resp.status().as_u16()) {
                Delivery::Delivered { detail } => Delivery::Delivered {
                    detail: format!("{detail}{note}"),
                },
                other => other,
            },
            // reqwest errors name the URL, which may hold a secret: drop it.
            Err(e) => Delivery::Retryable {
                error: describe(&e.without_url()),
            },
        }
    }
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return format!("t={t},v1="),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// The body bytes for `preset`, and a note when a service template failed
/// and the built-in one was used.
pub fn body(
    preset: WebhookPreset,
    config: &Config,
    templates: &Templates,
    alert: &Alert,
    n: &Notification,
) -> Result<(Vec<u8>, Option<String>), String> {
    let (value, note) = match preset {
        WebhookPreset::Firebell => {
            let mut body = render::webhook_body(alert, n);
            // A page lists the runbook actions the alert offers, each with
            // the API address that runs it (admin token).
            let offered = config.actions.for_alert(alert);
            if n.kind == NotificationKind::Notify && alert.id > 0 && !offered.is_empty() {
                let public = config.server.public_url.trim_end_matches('/');
                body["actions"] = serde_json::Value::Array(
                    offered
                        .iter()
                        .map(|a| {
                            serde_json::json!({
                                "id": a.id,
                                "label": a.label_for(alert),
                                "key": a.key.to_string(),
                                "url": format!("{public}/api/v1/alerts/{}/actions/{}", alert.id, a.id),
                            })
                        })
                        .collect(),
                );
            }
            (body, None)
        }
        chat => {
            let ctx = firebell_core::render::template_context(config, alert, n);
            let (text, note) = templates
                .render(&alert.service, chat.as_str(), &ctx)
                .map_err(|e| format!("template {}: {e}", chat.as_str()))?;
            let facts = Facts::new(config, alert, n);
            let value = match chat {
                WebhookPreset::Slack => slack_body(&text, &facts),
                WebhookPreset::Teams => teams_body(&text, &facts),
                _ => mattermost_body(&text),
            };
            (value, note)
        }
    };
    let bytes = serde_json::to_vec(&value).map_err(|e| format!("cannot encode the body: {e}"))?;
    Ok((bytes, note))
}

/// What chat messages show besides the templated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub alert_id: i64,
    pub service_name: String,
    pub severity: Severity,
    pub status: AlertStatus,
    pub count: i64,
    pub ack_url: Option<String>,
    pub resolve_url: Option<String>,
}

impl Facts {
    pub fn new(config: &Config, alert: &Alert, n: &Notification) -> Self {
        let links = action_links(config, alert.id, &n.user, n.created_at);
        Self {
            alert_id: alert.id,
            service_name: config
                .services
                .get(&alert.service)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| alert.service.clone()),
            severity: alert.severity,
            status: alert.status,
            count: alert.count,
            ack_url: links.as_ref().map(|l| l.acknowledge.clone()),
            resolve_url: links.map(|l| l.resolve),
        }
    }

    /// One line under the message: "Alert #42 · Checkout web · seen 3 times".
    fn context_line(&self) -> String {
        if self.alert_id <= 0 {
            return "Firebell".to_string();
        }
        let seen = if self.count == 1 {
            "seen once".to_string()
        } else {
            format!("seen {} times", self.count)
        };
        format!(
            "Alert #{} · {} · {} · {seen}",
            self.alert_id,
            self.service_name,
            self.status.as_str()
        )
    }

    fn actions(&self) -> Vec<(&'static str, &str)> {
        if self.status == AlertStatus::Resolved {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.status == AlertStatus::Triggered
            && let Some(u) = &self.ack_url
        {
            out.push(("Acknowledge", u.as_str()));
        }
        if let Some(u) = &self.resolve_url {
            out.push(("Resolve", u.as_str()));
        }
        out
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A Slack incoming-webhook message: `text` (notifications and fallback)
/// and Block Kit `blocks` — a section with the text, a context line, and
/// link buttons when the page carries action links.
pub fn slack_body(text: &str, facts: &Facts) -> Value {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut blocks = vec![
        json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": truncate(text, SLACK_SECTION_MAX) },
        }),
        json!({
            "type": "context",
            "elements": [ { "type": "mrkdwn", "text": escape(&facts.context_line()) } ],
        }),
    ];
    let actions = facts.actions();
    if !actions.is_empty() {
        let buttons: Vec<Value> = actions
            .iter()
            .map(|(label, url)| {
                let mut b = json!({
                    "type": "button",
                    "text": { "type": "plain_text", "text": label },
                    "url": url,
                });
                if *label == "Acknowledge" {
                    b["style"] = json!("primary");
                }
                b
            })
            .collect();
        blocks.push(json!({ "type": "actions", "elements": buttons }));
    }
    json!({ "text": text, "blocks": blocks })
}

/// A Microsoft Teams message with one Adaptive Card (what Teams incoming
/// webhooks and Workflows "post to a channel when a webhook request is
/// received" accept): the text, a fact set, and Action.OpenUrl buttons.
pub fn teams_body(text: &str, facts: &Facts) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": text,
        "wrap": true,
        "size": "Medium",
    })];
    if facts.alert_id > 0 {
        body.push(json!({
            "type": "FactSet",
            "facts": [
                { "title": "Service", "value": facts.service_name },
                { "title": "Severity", "value": facts.severity.as_str() },
                { "title": "Status", "value": facts.status.as_str() },
                { "title": "Alert", "value": format!("#{} (seen {} times)", facts.alert_id, facts.count) },
            ],
        }));
    }
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    let actions: Vec<Value> = facts
        .actions()
        .iter()
        .map(|(label, url)| json!({ "type": "Action.OpenUrl", "title": label, "url": url }))
        .collect();
    if !actions.is_empty() {
        content["actions"] = Value::Array(actions);
    }
    json!({
        "type": "message",
        "attachments": [ {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content,
        } ],
    })
}

/// A Mattermost incoming-webhook message: Markdown `text` (the built-in
/// template puts the action links in it).
pub fn mattermost_body(text: &str) -> Value {
    json!({ "text": text })
}

/// A `[[channels]]` webhook table, as the dispatcher builds it (see
/// `crate::Backend`).
pub(crate) struct Channel {
    http: WebhookChannel,
    settings: WebhookSettings,
    dry_run: bool,
}

impl Channel {
    pub(crate) fn new(b: &crate::Build<'_>, settings: &WebhookSettings) -> Self {
        Self {
            http: b.http.clone(),
            settings: settings.clone(),
            dry_run: b.channel.dry_run,
        }
    }

    pub(crate) async fn deliver(&self, a: &crate::Attempt<'_>) -> Delivery {
        self.http
            .deliver(
                &self.settings,
                self.dry_run,
                a.config,
                a.templates,
                a.alert,
                a.n,
                a.now,
            )
            .await
    }

    pub(crate) fn longest_attempt(&self, webhook: Duration) -> Duration {
        webhook
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(links: bool) -> Facts {
        Facts {
            alert_id: 42,
            service_name: "Checkout web".into(),
            severity: Severity::Critical,
            status: AlertStatus::Triggered,
            count: 3,
            ack_url: links
                .then(|| "https://firebell.example.com/links/alerts/42/acknowledge?token=T".into()),
            resolve_url: links
                .then(|| "https://firebell.example.com/links/alerts/42/resolve?token=T".into()),
        }
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature(b"whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn slack_body_has_text_and_blocks() {
        let text = "*CRITICAL* Checkout web: Disk full on web1";
        insta::assert_json_snapshot!(slack_body(text, &facts(true)), @r#"
        {
          "blocks": [
            {
              "text": {
                "text": "*CRITICAL* Checkout web: Disk full on web1",
                "type": "mrkdwn"
              },
              "type": "section"
            },
            {
              "elements": [
                {
                  "text": "Alert #42 · Checkout web · triggered · seen 3 times",
                  "type": "mrkdwn"
                }
              ],
              "type": "context"
            },
            {
              "elements": [
                {
                  "style": "primary",
                  "text": {
                    "text": "Acknowledge",
                    "type": "plain_text"
                  },
                  "type": "button",
                  "url": "https://firebell.example.com/links/alerts/42/acknowledge?token=T"
                },
                {
                  "text": {
                    "text": "Resolve",
                    "type": "plain_text"
                  },
                  "type": "button",
                  "url": "https://firebell.example.com/links/alerts/42/resolve?token=T"
                }
              ],
              "type": "actions"
            }
          ],
          "text": "*CRITICAL* Checkout web: Disk full on web1"
        }
        "#);
    }

    #[test]
    fn teams_body_is_an_adaptive_card_message() {
        let text = "**CRITICAL** Checkout web: Disk full on web1";
        insta::assert_json_snapshot!(teams_body(text, &facts(true)), @r##"
        {
          "attachments": [
            {
              "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "actions": [
                  {
                    "title": "Acknowledge",
                    "type": "Action.OpenUrl",
                    "url": "https://firebell.example.com/links/alerts/42/acknowledge?token=T"
                  },
                  {
                    "title": "Resolve",
                    "type": "Action.OpenUrl",
                    "url": "https://firebell.example.com/links/alerts/42/resolve?token=T"
                  }
                ],
                "body": [
                  {
                    "size": "Medium",
                    "text": "**CRITICAL** Checkout web: Disk full on web1",
                    "type": "TextBlock",
                    "wrap": true
                  },
                  {
                    "facts": [
                      {
                        "title": "Service",
                        "value": "Checkout web"
                      },
                      {
                        "title": "Severity",
                        "value": "critical"
                      },
                      {
                        "title": "Status",
                        "value": "triggered"
                      },
                      {
                        "title": "Alert",
                        "value": "#42 (seen 3 times)"
                      }
                    ],
                    "type": "FactSet"
                  }
                ],
                "type": "AdaptiveCard",
                "version": "1.4"
              },
              "contentType": "application/vnd.microsoft.card.adaptive",
              "contentUrl": null
            }
          ],
          "type": "message"
        }
        "##);
    }

    #[test]
    fn mattermost_body_is_markdown_text() {
        let text = "**CRITICAL** Checkout web: Disk full on web1\n[Acknowledge](https://x/a) · [Resolve](https://x/r)";
        insta::assert_json_snapshot!(mattermost_body(text), @r#"
        {
          "text": "**CRITICAL** Checkout web: Disk full on web1\n[Acknowledge](https://x/a) · [Resolve](https://x/r)"
        }
        "#);
    }

    #[test]
    fn without_links_there_are_no_buttons_and_long_text_is_cut() {
        let long = "x".repeat(5000);
        let v = slack_body(&long, &facts(false));
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 2, "{v}");
        assert_eq!(
            blocks[0]["text"]["text"].as_str().unwrap().chars().count(),
            SLACK_SECTION_MAX
        );
        assert_eq!(v["text"].as_str().unwrap().len(), 5000);
        let t = teams_body("x", &facts(false));
        assert!(
            t["attachments"][0]["content"].get("actions").is_none(),
            "{t}"
        );
    }
}
