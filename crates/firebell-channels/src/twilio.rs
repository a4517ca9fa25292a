//! The Twilio channel (`kind = "twilio"`), outbound: one request to Twilio's
//! REST API (2010-04-01) per attempt.
//!
//! - An `sms` contact gets a text through the Messages API (`To`, `From`,
//!   `Body`, `StatusCallback`); the body is [`crate::http_sms::page_text`]
//!   with the reply footer (`Reply 12a to take it, …`), cut to the channel's
//!   `max_segments`.
//! - A `voice` contact gets a call through the Calls API: Twilio fetches what
//!   to say from `<public_url>/hooks/twilio/<channel>/voice/<notification>`
//!   and reports progress to `…/status/<notification>` (each event named in
//!   its own `StatusCallbackEvent` parameter, as the API description says),
//!   with answering-machine detection unless turned off.
//!
//! Answers: 2xx is delivered (Twilio's `sid` and `status` on the timeline);
//! 429, 5xx, timeouts and connection failures are retried; any other 4xx
//! fails for good with Twilio's error `code` and `message`. The auth token is
//! sent only as the basic-auth password and never appears in an error.

use crate::describe;
use firebell_core::alert::Alert;
use firebell_core::channels::TwilioSettings;
use firebell_core::config::{Config, Contact};
use firebell_core::notification::{Delivery, Notification, NotificationKind};
use firebell_core::sms;
use secrecy::ExposeSecret;
use std::time::Duration;

/// Longest answer read from Twilio, in bytes.
const ANSWER_LIMIT: usize = 64 * 1024;

/// Seconds a call rings before Twilio gives up (`no-answer`).
pub const RING_SECONDS: u32 = 30;

/// The call progress events Firebell asks to hear about.
pub const CALL_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// One configured Twilio account.
#[derive(Clone, Debug)]
pub struct TwilioChannel {
    pub name: String,
    pub settings: TwilioSettings,
    pub dry_run: bool,
    pub max_segments: u8,
    client: reqwest::Client,
}

/// What a page through Twilio is: a text or a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwilioPage {
    Sms,
    Call,
}

/// One request to Twilio's API, ready to send (or to show in a dry run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioRequest {
    pub page: TwilioPage,
    /// `{base_url}/2010-04-01/Accounts/{sid}/Messages.json` or `…/Calls.json`.
    pub url: String,
    /// Form fields in order; `StatusCallbackEvent` repeats.
    pub form: Vec<(String, String)>,
}

impl TwilioRequest {
    /// The first value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether `n` is a call: it is about an alert and its contact (by user and
/// index) is a `voice` contact for the same number. Anything else through
/// Twilio is a text: notices (a test page, a shift handoff, the details
/// texted after someone took an alert by phone) and a page that fell back
/// to Twilio from an SMS gateway.
pub fn page_kind(config: &Config, n: &Notification) -> TwilioPage {
    if n.alert_id.is_none() || n.message.is_some() {
        return TwilioPage::Sms;
    }
    let contact = config
        .users
        .get(&n.user)
        .and_then(|u| u.contacts.get(n.contact_index as usize));
    match contact {
        Some(Contact::Voice { number, .. }) if *number == n.address => TwilioPage::Call,
        _ => TwilioPage::Sms,
    }
}

/// `<public_url>/hooks/twilio/<channel>/<what>/<notification id>`: where
/// Twilio calls back about one page.
pub fn hook_url(public_url: &str, channel: &str, what: &str, n: &Notification) -> String {
    format!(
        "{}/hooks/twilio/{channel}/{what}/{}",
        public_url.trim_end_matches('/'),
        n.id
    )
}

/// An account's balance as Twilio's Balance resource
/// (`GET /2010-04-01/Accounts/{sid}/Balance.json`) says it: the amount and
/// its currency. The error says what went wrong, never the token.
pub async fn fetch_balance(settings: &TwilioSettings) -> Result<(f64, String), String> {
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Balance.json",
        settings.base_url, settings.account_sid
    );
    let resp = crate::http_client(std::time::Duration::from_secs(10))
        .get(&url)
        .basic_auth(
            &settings.account_sid,
            Some(settings.auth_token.expose_secret()),
        )
        .send()
        .await
        .map_err(|e| format!("Twilio's Balance request failed: {}", describe(&e)))?;
    let status = resp.status().as_u16();
    let answer = read_limited(resp)
        .await
        .map_err(|e| format!("reading Twilio's Balance answer: {}", describe(&e)))?;
    if status != 200 {
        return Err(format!("Twilio's Balance answered HTTP {status}"));
    }
    let v: serde_json::Value = serde_json::from_str(&answer)
        .map_err(|_| "Twilio's Balance answer is not JSON".to_string())?;
    let balance = v["balance"]
        .as_str()
        .and_then(|b| b.trim().parse::<f64>().ok())
        .ok_or_else(|| "Twilio's Balance answer has no balance".to_string())?;
    let currency = v["currency"].as_str().unwrap_or("").to_string();
    Ok((balance, currency))
}

impl TwilioChannel {
    /// The channel of one `[[channels]]` table (see `crate::Backend`).
    pub(crate) fn new(b: &crate::Build<'_>, settings: &TwilioSettings) -> Self {
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

    /// The text of a page sent by SMS: the service, the event, the reply
    /// footer for a page about an alert.
    pub fn text(&self, config: &Config, alert: &Alert, n: &Notification) -> String {
        let footer = match (n.kind, alert.id) {
            (NotificationKind::Test, _) => Some("Test page".to_string()),
            (NotificationKind::Notify, id) if id > 0 => {
                Some(firebell_core::twilio::page_footer(config, alert))
            }
            (_, id) if id > 0 => Some(format!("Alert #{id}")),
            _ => None,
        };
        crate::http_sms::page_text(config, alert, n, None, footer.as_deref(), self.max_segments)
    }

    /// The request one attempt makes.
    pub fn request(
        &self,
        config: &Config,
        alert: &Alert,
        n: &Notification,
        to: &str,
    ) -> TwilioRequest {
        let s = &self.settings;
        let public = &config.server.public_url;
        let page = page_kind(config, n);
        let resource = match page {
            TwilioPage::Sms => "Messages",
            TwilioPage::Call => "Calls",
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            s.base_url, s.account_sid
        );
        let status = hook_url(public, &self.name, "status", n);
        let mut form: Vec<(String, String)> = vec![
            ("To".into(), to.to_string()),
            ("From".into(), s.from.clone()),
        ];
        match page {
            TwilioPage::Sms => {
                form.push(("Body".into(), self.text(config, alert, n)));
                form.push(("StatusCallback".into(), status));
            }
            TwilioPage::Call => {
                form.push(("Url".into(), hook_url(public, &self.name, "voice", n)));
                form.push(("Method".into(), "POST".into()));
                form.push(("StatusCallback".into(), status));
                form.push(("StatusCallbackMethod".into(), "POST".into()));
                for event in CALL_EVENTS {
                    form.push(("StatusCallbackEvent".into(), event.into()));
                }
                if s.machine_detection {
                    form.push(("MachineDetection".into(), "Enable".into()));
                }
                form.push(("Timeout".into(), RING_SECONDS.to_string()));
            }
        }
        TwilioRequest { page, url, form }
    }

    /// One attempt to text or call `n.address` about `alert`.
    pub(crate) async fn deliver(&self, a: &crate::Attempt<'_>) -> Delivery {
        let (config, alert, n) = (a.config, a.alert, a.n);
        let to = match sms::parse_number(&n.address, None) {
            Ok(number) => number,
            Err(e) => {
                return Delivery::Permanent {
                    error: format!("cannot reach this contact through Twilio: {e}"),
                };
            }
        };
        let req = self.request(config, alert, n, &to);
        if self.dry_run {
            let detail = match req.page {
                TwilioPage::Call => format!(
                    "dry run: would call {to} from {} via Twilio",
                    self.settings.from
                ),
                TwilioPage::Sms => format!(
                    "dry run: would text {to} from {} via Twilio: {:?}",
                    self.settings.from,
                    req.field("Body").unwrap_or_default()
                ),
            };
            return Delivery::Delivered { detail };
        }
        let sent = self
            .client
            .post(&req.url)
            .basic_auth(
                &self.settings.account_sid,
                Some(self.settings.auth_token.expose_secret()),
            )
            .form(&req.form)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return Delivery::Retryable {
                    error: format!("Twilio request failed: {}", describe(&e)),
                };
            }
        };
        let status = resp.status().as_u16();
        let answer = match read_limited(resp).await {
            Ok(a) => a,
            Err(e) => {
                return Delivery::Retryable {
                    error: format!("reading Twilio's answer (HTTP {status}): {}", describe(&e)),
                };
            }
        };
        classify(req.page, status, &answer)
    }
}

/// Twilio's answer, classified.
pub fn classify(page: TwilioPage, status: u16, answer: &str) -> Delivery {
    let json: Option<serde_json::Value> = serde_json::from_str(answer).ok();
    let text = |key: &str| {
        json.as_ref()
            .and_then(|j| j.get(key))
            .and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    };
    let what = match page {
        TwilioPage::Sms => "message",
        TwilioPage::Call => "call",
    };
    match status {
        200..=299 => {
            let detail = match (text("sid"), text("status")) {
                (Some(sid), Some(st)) => format!("Twilio {what} {sid} {st}"),
                (Some(sid), None) => format!("Twilio {what} {sid}"),
                _ => format!("Twilio accepted the {what} (HTTP {status})"),
            };
            Delivery::Delivered { detail }
        }
        _ => {
            let error = match (text("code"), text("message")) {
                (Some(code), Some(message)) => {
                    format!("Twilio {code}: {} (HTTP {status})", excerpt(&message))
                }
                (None, Some(message)) => format!("Twilio: {} (HTTP {status})", excerpt(&message)),
                _ if answer.trim().is_empty() => format!("Twilio answered HTTP {status}"),
                _ => format!("Twilio answered HTTP {status}: {}", excerpt(answer)),
            };
            if status == 429 || status >= 500 {
                Delivery::Retryable { error }
            } else {
                Delivery::Permanent { error }
            }
        }
    }
}

/// At most 300 characters of `s` on one line.
fn excerpt(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one = one.trim();
    if one.chars().count() > 300 {
        format!("{}…", one.chars().take(300).collect::<String>())
    } else {
        one.to_string()
    }
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
pub(crate) type Channel = TwilioChannel;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_with_twilios_code_and_message() {
        let created = r#"{"sid":"SM0123","status":"queued"}"#;
        assert_eq!(
            classify(TwilioPage::Sms, 201, created),
            Delivery::Delivered {
                detail: "Twilio message SM0123 queued".into()
            }
        );
        let bad = r#"{"code":21211,"message":"The 'To' number +1555 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;
        assert_eq!(
            classify(TwilioPage::Call, 400, bad),
            Delivery::Permanent {
                error:
                    "Twilio 21211: The 'To' number +1555 is not a valid phone number. (HTTP 400)"
                        .into()
            }
        );
        assert!(matches!(
            classify(
                TwilioPage::Call,
                429,
                r#"{"code":20429,"message":"Too Many Requests"}"#
            ),
            Delivery::Retryable { .. }
        ));
        assert_eq!(
            classify(TwilioPage::Sms, 503, ""),
            Delivery::Retryable {
                error: "Twilio answered HTTP 503".into()
            }
        );
        assert!(matches!(
            classify(TwilioPage::Sms, 401, "Unauthorized"),
            Delivery::Permanent { .. }
        ));
    }
}
