//! The HTTP SMS gateway channel (`kind = "http_sms"`): one HTTP request per
//! text, shaped by the channel's settings (see `firebell_core::http_sms`),
//! the way the first seed's Perl program drove TextAnywhere.
//!
//! The text is [`firebell_core::sms::text`]: the channel's `eventtype` (else
//! the service's name) on the first line, then the traffic-manager event
//! line's level, object and message on their own lines (its tag left out, as
//! the seed's program did), then `Alert #N`. With `dry_run = true` the
//! request is rendered and checked but not sent, and the timeline says
//! "dry run: would send …".

use crate::{describe, redact_address};
use firebell_core::alert::Alert;
use firebell_core::config::Config;
use firebell_core::http_sms::{self, Auth, Encoding, HttpSmsSettings, Method};
use firebell_core::notification::{Delivery, Notification, NotificationKind};
use firebell_core::sms;
use secrecy::ExposeSecret;
use std::time::Duration;

/// Longest gateway answer read, in bytes.
const ANSWER_LIMIT: usize = 64 * 1024;

/// One configured gateway.
#[derive(Clone, Debug)]
pub struct HttpSmsChannel {
    pub name: String,
    pub settings: HttpSmsSettings,
    pub dry_run: bool,
    /// The most segments a text may take (`max_segments`).
    pub max_segments: u8,
    client: reqwest::Client,
}

impl HttpSmsChannel {
    /// The channel of one `[[channels]]` table (see `crate::Backend`).
    pub(crate) fn new(b: &crate::Build<'_>, settings: &HttpSmsSettings) -> Self {
        let c = b.channel;
        Self {
            name: c.name.clone(),
            settings: settings.clone(),
            dry_run: c.dry_run,
            max_segments: c.max_segments,
            client: crate::http_client(b.timeout),
        }
    }

    pub(crate) fn longest_attempt(&self, webhook: Duration) -> Duration {
        webhook
    }

    /// The text of a page, as the phone shows it. A page through a gateway
    /// that forwards replies (`inbound`) ends with the reply codes, as a
    /// Twilio text does.
    pub fn text(&self, config: &Config, alert: &Alert, n: &Notification) -> String {
        let footer = match (n.kind, alert.id) {
            (NotificationKind::Test, _) => Some("Test page".to_string()),
            (NotificationKind::Notify, id) if id > 0 && self.settings.inbound.is_some() => {
                Some(firebell_core::twilio::page_footer(config, alert))
            }
            (_, id) if id > 0 => Some(format!("Alert #{id}")),
            _ => None,
        };
        page_text(
            config,
            alert,
            n,
            self.settings.eventtype.as_deref(),
            footer.as_deref(),
            self.max_segments,
        )
    }

    /// One attempt to text `n.address` about `alert`.
    pub(crate) async fn deliver(&self, a: &crate::Attempt<'_>) -> Delivery {
        let (config, alert, n) = (a.config, a.alert, a.n);
        let number = match sms::parse_number(&n.address, None) {
            Ok(number) => number,
            Err(e) => {
                return Delivery::Permanent {
                    error: format!("cannot text this contact: {e}"),
                };
            }
        };
        let body = self.text(config, alert, n);
        let s = &self.settings;
        let fields = match http_sms::render_fields(s, &number, &body, &n.id.to_string()) {
            Ok(f) => f.0,
            Err(error) => return Delivery::Permanent { error },
        };
        let mut url = match reqwest::Url::parse(&s.url) {
            Ok(u) => u,
            Err(e) => {
                return Delivery::Permanent {
                    error: format!("channel url: {e}"),
                };
            }
        };
        if self.dry_run {
            return Delivery::Delivered {
                detail: format!(
                    "dry run: would send {} {} to {number}: {body:?}",
                    s.method.as_str(),
                    redact_address(&self.name, &s.url),
                ),
            };
        }
        if s.encoding == Encoding::Query {
            url.query_pairs_mut().extend_pairs(fields.iter());
        }
        let mut req = match s.method {
            Method::Get => self.client.get(url),
            Method::Post => self.client.post(url),
        };
        req = match s.encoding {
            Encoding::Query => req,
            Encoding::Form => req.form(&fields),
            Encoding::Json => {
                let object: serde_json::Map<String, serde_json::Value> = fields
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                req.json(&object)
            }
        };
        req = match &s.auth {
            Auth::None => req,
            Auth::Basic { username, password } => {
                req.basic_auth(username, Some(password.expose_secret()))
            }
            Auth::Bearer { token } => req.bearer_auth(token.expose_secret()),
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Delivery::Retryable {
                    error: format!("gateway request failed: {}", describe(&e)),
                };
            }
        };
        let status = resp.status().as_u16();
        let answer = match read_limited(resp).await {
            Ok(a) => a,
            Err(e) => {
                return Delivery::Retryable {
                    error: format!(
                        "reading the gateway's answer (HTTP {status}): {}",
                        describe(&e)
                    ),
                };
            }
        };
        http_sms::classify(s, status, &answer, &number)
    }
}

/// A page as an SMS: `eventtype` (else the service's name) on the first
/// line, then the event line's level, object and message (its tag is for
/// programs, not people), then `footer`, cut to `max_segments`. A notice is
/// `eventtype` (else "Firebell") and its message.
pub fn page_text(
    config: &Config,
    alert: &Alert,
    n: &Notification,
    eventtype: Option<&str>,
    footer: Option<&str>,
    max_segments: u8,
) -> String {
    // A notice (a handoff, a test, the details after someone took an alert
    // by phone) is its own text: no event line around it.
    if n.alert_id.is_none()
        && let Some(message) = &n.message
    {
        return sms::text(
            eventtype.unwrap_or("Firebell"),
            message,
            footer,
            max_segments,
        );
    }
    let header = eventtype.map(str::to_string).unwrap_or_else(|| {
        config
            .services
            .get(&alert.service)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "Firebell".to_string())
    });
    let line = crate::program::event_line(alert, n, &alert.summary);
    let shown: Vec<&str> = line
        .split('\t')
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, p)| p)
        .collect();
    sms::text(&header, &shown.join("\t"), footer, max_segments)
}

/// The answer's first [`ANSWER_LIMIT`] bytes, as text.
async fn read_limited(mut resp: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = ANSWER_LIMIT.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= ANSWER_LIMIT {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The dispatcher's name for this kind's channel (see `crate::Backend`).
pub(crate) type Channel = HttpSmsChannel;
