//! Delivery backends. A channel only delivers: it renders the page, makes one
//! attempt with a timeout, and classifies the result as delivered, retryable or
//! permanent. Retrying, recording and deciding what happens next belong to the
//! engine's outbox dispatcher.
#![forbid(unsafe_code)]

use firebell_core::alert::Alert;
use firebell_core::channels::{ChannelConfig, ChannelKind, WebhookPreset, WebhookSettings};
use firebell_core::config::Config;
use firebell_core::notification::{Delivery, Notification};
use firebell_core::render;
use firebell_core::templates::Templates;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use webhook::WebhookChannel;

/// The HTTP client of the channels that call out (webhooks, SMS gateways,
/// Twilio): `timeout` per attempt, connecting within at most 5 s, Firebell's
/// user agent, redirects not followed (a redirect is an answer, not a place
/// to send a page).
pub(crate) fn http_client(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .user_agent(concat!("firebell/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        // Building a client only fails when the TLS backend cannot start,
        // which is a broken build, not a runtime condition.
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Where console pages go: stdout by default, a capture in tests.
pub type ConsoleSink = Arc<dyn Fn(&str) + Send + Sync>;

/// A console sink that prints to stdout.
pub fn stdout_sink() -> ConsoleSink {
    Arc::new(|line: &str| println!("{line}"))
}

/// What building one `[[channels]]` table's backend may use.
pub(crate) struct Build<'a> {
    pub channel: &'a ChannelConfig,
    /// `[delivery] webhook_timeout`: each network step's limit.
    pub timeout: std::time::Duration,
    /// The webhook client every webhook channel shares (one connection pool).
    pub http: &'a WebhookChannel,
}

/// What one delivery attempt may use.
pub(crate) struct Attempt<'a> {
    pub config: &'a Config,
    pub templates: &'a Templates,
    pub alert: &'a Alert,
    pub n: &'a Notification,
    /// The engine's clock at the attempt (webhook signatures carry it).
    pub now: Timestamp,
}

/// The backend of every channel kind, generated from the one list of kinds
/// in `firebell_core::channels` ([`firebell_core::channel_kinds`]): each kind
/// is a module of this crate (`<kind>.rs`) with a `Channel` that has
/// `new(&Build, &Settings)`, `deliver(&Attempt)` and
/// `longest_attempt(webhook_timeout)`. Adding a kind adds no line here.
macro_rules! backends {
    ($($variant:ident $module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// A configured channel, ready to deliver.
        enum Backend {
            $($variant($module::Channel),)*
        }

        impl Backend {
            fn new(
                channel: &ChannelConfig,
                timeout: std::time::Duration,
                http: &WebhookChannel,
            ) -> Backend {
                let b = Build { channel, timeout, http };
                match &channel.kind {
                    $(ChannelKind::$variant(s) => Backend::$variant($module::Channel::new(&b, s)),)*
                }
            }

            async fn deliver(&self, a: &Attempt<'_>) -> Delivery {
                match self {
                    $(Backend::$variant(c) => c.deliver(a).await,)*
                }
            }

            fn longest_attempt(&self, webhook: std::time::Duration) -> std::time::Duration {
                match self {
                    $(Backend::$variant(c) => c.longest_attempt(webhook),)*
                }
            }
        }
    };
}

firebell_core::channel_kinds!(backends);

/// Every channel of one configuration, by name: the built-ins `console`
/// and `webhook`, and each `[[channels]]` table. Built again on reload.
#[derive(Clone)]
pub struct Channels {
    inner: Arc<Inner>,
}

struct Inner {
    console: ConsoleSink,
    http: WebhookChannel,
    config: Arc<Config>,
    templates: Templates,
    named: BTreeMap<String, Backend>,
}

/// The built-in `webhook` channel: Firebell JSON, unsigned.
const BUILTIN_WEBHOOK: WebhookSettings = WebhookSettings {
    url: None,
    preset: WebhookPreset::Firebell,
    secret: None,
};

impl Channels {
    pub fn new(config: &Config, console: ConsoleSink) -> Self {
        let timeout = config.delivery.webhook_timeout.unsigned_abs();
        let http = WebhookChannel::new(timeout);
        let named = config
            .channels
            .values()
            .map(|c| (c.name.clone(), Backend::new(c, timeout, &http)))
            .collect();
        Self {
            inner: Arc::new(Inner {
                console,
                http,
                config: Arc::new(config.clone()),
                templates: config.templates(),
                named,
            }),
        }
    }

    /// The longest one attempt can take on any channel: the engine's claim
    /// on a page (its lease) must outlast it, or a page could be sent twice.
    pub fn longest_attempt(&self) -> std::time::Duration {
        let i = &*self.inner;
        let webhook = i.config.delivery.webhook_timeout.unsigned_abs();
        i.named
            .values()
            .map(|b| b.longest_attempt(webhook))
            .fold(webhook, std::time::Duration::max)
    }

    /// One delivery attempt of `n` about `alert`, through the channel
    /// `n.channel` names, at `now` (the engine's clock: webhook signatures
    /// carry it).
    pub async fn deliver(&self, alert: &Alert, n: &Notification, now: Timestamp) -> Delivery {
        let i = &*self.inner;
        match n.channel.as_str() {
            "console" => {
                (i.console)(&render::console_line(alert, n));
                Delivery::Delivered {
                    detail: "printed".into(),
                }
            }
            "webhook" => {
                i.http
                    .deliver(
                        &BUILTIN_WEBHOOK,
                        false,
                        &i.config,
                        &i.templates,
                        alert,
                        n,
                        now,
                    )
                    .await
            }
            name => match i.named.get(name) {
                Some(backend) => {
                    let attempt = Attempt {
                        config: &i.config,
                        templates: &i.templates,
                        alert,
                        n,
                        now,
                    };
                    backend.deliver(&attempt).await
                }
                None => Delivery::Permanent {
                    error: format!("no channel named {name:?} in the configuration"),
                },
            },
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        // Say which step failed (the chain's texts hold no URL): the name
        // lookup, or the connection itself.
        let mut source = std::error::Error::source(e);
        let mut io_kind = None;
        while let Some(s) = source {
            if s.to_string().starts_with("dns error") {
                return "connection failed: the host name did not resolve (DNS)".to_string();
            }
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                io_kind = Some(io.kind());
            }
            source = s.source();
        }
        match io_kind {
            Some(std::io::ErrorKind::ConnectionRefused) => "connection failed: refused".to_string(),
            Some(std::io::ErrorKind::TimedOut) => "connection failed: timed out".to_string(),
            _ => "connection failed".to_string(),
        }
    } else {
        e.to_string()
    }
}

/// Timeouts, 408, 429 and 5xx are worth retrying; other non-2xx answers are not.
pub fn classify(status: u16) -> Delivery {
    match status {
        200..=299 => Delivery::Delivered {
            detail: format!("HTTP {status}"),
        },
        408 | 425 | 429 | 500..=599 => Delivery::Retryable {
            error: format!("HTTP {status}"),
        },
        _ => Delivery::Permanent {
            error: format!("HTTP {status}"),
        },
    }
}

/// The address as it may be shown: a URL keeps only scheme, host and port,
/// since its path or query may carry a secret (as chat webhooks' do).
/// Any channel's address that is a URL is treated so (named webhook channels
/// included). A program contact's arguments show with the values of names
/// containing key, secret, token, password or pass hidden; other addresses
/// (email addresses, numbers) show as they are.
pub fn redact_address(channel: &str, address: &str) -> String {
    // A program contact's arguments: values of secret-looking names hidden.
    if let Some(args) = firebell_core::channels::decode_args(address) {
        let shown: Vec<String> = args.iter().map(|a| redact_arg(a)).collect();
        return serde_json::to_string(&shown).unwrap_or_else(|_| "[]".to_string());
    }
    redact_url(channel, address)
}

/// Names whose values are never shown (as `firebell vtm-action` hides them).
const SECRET_NAMES: [&str; 5] = ["key", "secret", "token", "password", "pass"];

/// `--api_key=abc` → `--api_key=***`; other arguments as they are.
fn redact_arg(arg: &str) -> String {
    match arg.strip_prefix("--").and_then(|a| a.split_once('=')) {
        Some((name, _))
            if SECRET_NAMES
                .iter()
                .any(|s| name.to_ascii_lowercase().contains(s)) =>
        {
            format!("--{name}=***")
        }
        _ => arg.to_string(),
    }
}

fn redact_url(channel: &str, address: &str) -> String {
    let is_url = address.starts_with("http://") || address.starts_with("https://");
    if channel != "webhook" && !is_url {
        return address.to_string();
    }
    match reqwest::Url::parse(address) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("?");
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if url.path() == "/" && url.query().is_none() {
                ""
            } else {
                "/…"
            };
            format!("{}://{host}{port}{rest}", url.scheme())
        }
        Err(_) => "(invalid url)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert!(matches!(classify(204), Delivery::Delivered { .. }));
        assert!(matches!(classify(503), Delivery::Retryable { .. }));
        assert!(matches!(classify(429), Delivery::Retryable { .. }));
        assert!(matches!(classify(404), Delivery::Permanent { .. }));
        assert!(matches!(classify(301), Delivery::Permanent { .. }));
    }

    #[test]
    fn addresses_are_redacted() {
        assert_eq!(
            redact_address("webhook", "https://hooks.example.com/services/T0/B0/SECRET"),
            "https://hooks.example.com/…"
        );
        assert_eq!(
            redact_address("webhook", "http://127.0.0.1:9999/"),
            "http://127.0.0.1:9999"
        );
        assert_eq!(redact_address("console", "stdout"), "stdout");
        assert_eq!(
            redact_address("ops-slack", "https://hooks.slack.com/services/T0/B0/SECRET"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact_address("mail", "alice@example.com"),
            "alice@example.com"
        );
        let args = firebell_core::channels::encode_args(&[
            ("destination".into(), "+447700900123".into()),
            ("api_key".into(), "sk-live-123".into()),
            ("Password".into(), "hunter2".into()),
            ("passenger".into(), "x".into()),
        ]);
        let shown = redact_address("sms-gateway", &args);
        assert_eq!(
            shown,
            r#"["--destination=+447700900123","--api_key=***","--Password=***","--passenger=***"]"#
        );
    }
}
