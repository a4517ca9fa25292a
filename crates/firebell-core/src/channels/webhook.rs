//! `kind = "webhook"`: chat and generic webhooks — where to POST, in which shape, signed how.

use super::common::{is_http_url, problem, read_kind};
use crate::config::diag::{Errors, SecretSource, resolve_secret};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

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

/// A webhook channel's own keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    url: Option<String>,
    preset: Option<String>,
    secret: Option<String>,
}

pub(crate) fn parse(
    table: toml::Table,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<WebhookSettings> {
    let c = &read_kind::<RawWebhook>(errors, path, "webhook", table)?;
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
