//! Delivery backends. A channel only delivers: it renders the page, makes one
//! attempt with a timeout, and classifies the result as delivered, retryable or
//! permanent. Retrying, recording and deciding what happens next belong to the
//! engine's outbox dispatcher.
#![forbid(unsafe_code)]

use firebell_core::alert::Alert;
use firebell_core::notification::{Delivery, Notification};
use firebell_core::render;
use std::sync::Arc;
use std::time::Duration;

/// Where console pages go: stdout by default, a capture in tests.
pub type ConsoleSink = Arc<dyn Fn(&str) + Send + Sync>;

/// A console sink that prints to stdout.
pub fn stdout_sink() -> ConsoleSink {
    Arc::new(|line: &str| println!("{line}"))
}

/// All channels, by kind.
#[derive(Clone)]
pub struct Channels {
    console: ConsoleSink,
    webhook: WebhookChannel,
}

impl Channels {
    pub fn new(console: ConsoleSink, webhook_timeout: Duration) -> Self {
        Self {
            console,
            webhook: WebhookChannel::new(webhook_timeout),
        }
    }

    /// One delivery attempt of `n` about `alert`.
    pub async fn deliver(&self, alert: &Alert, n: &Notification) -> Delivery {
        match n.channel.as_str() {
            "console" => {
                (self.console)(&render::console_line(alert, n));
                Delivery::Delivered {
                    detail: "printed".into(),
                }
            }
            "webhook" => self.webhook.deliver(alert, n).await,
            other => Delivery::Permanent {
                error: format!("no channel of kind {other:?} in this version"),
            },
        }
    }
}

/// Posts Firebell's JSON to a URL.
#[derive(Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
}

impl WebhookChannel {
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("firebell/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // Building a client only fails when the TLS backend cannot start,
            // which is a broken build, not a runtime condition.
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { client }
    }

    pub async fn deliver(&self, alert: &Alert, n: &Notification) -> Delivery {
        let body = render::webhook_body(alert, n);
        let result = self
            .client
            .post(&n.address)
            .header("Idempotency-Key", format!("firebell-{}", n.id))
            .json(&body)
            .send()
            .await;
        match result {
            Ok(resp) => classify(resp.status().as_u16()),
            // reqwest errors name the URL, which may hold a secret: drop it.
            Err(e) => Delivery::Retryable {
                error: describe(&e.without_url()),
            },
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
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
pub fn redact_address(channel: &str, address: &str) -> String {
    if channel != "webhook" {
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
    }
}
