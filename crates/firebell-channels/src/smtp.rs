//! Email through an SMTP server (`kind = "smtp"` channels), with `lettre`.
//!
//! One message per page: multipart/alternative with a text and an HTML body
//! from the `email_subject`, `email_text` and `email_html` templates, which
//! carry the signed acknowledge/resolve links. Headers: From, To, Subject,
//! Date, a Message-ID stable per notification (a retried page keeps its id,
//! so the receiving server can drop the duplicate; the time the page was
//! queued is part of it, so a fresh database never reuses an old id, which
//! some providers would drop as a duplicate), References to one id per
//! alert (mail clients thread every page about an alert), `Auto-Submitted:
//! auto-generated` and `X-Auto-Response-Suppress` (no vacation replies), and
//! `X-Firebell-Alert-Id` / `X-Firebell-Notification-Id` for mail filters.
//!
//! A 5xx answer (unknown mailbox, refused login) is permanent; a 4xx, a
//! timeout or a broken connection is worth retrying.

use firebell_core::alert::Alert;
use firebell_core::channels::{SmtpSettings, SmtpTls};
use firebell_core::config::Config;
use firebell_core::notification::{Delivery, Notification};
use firebell_core::render::one_line;
use firebell_core::templates::Templates;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use std::time::Duration;

/// Longest subject line sent; longer summaries are cut (with "…").
const MAX_SUBJECT_CHARS: usize = 200;

/// What one page says by email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Service templates that failed at send time (the built-in was used).
    pub notes: Vec<String>,
}

/// Renders the three email templates for a page (the service's overrides,
/// else the built-ins).
pub fn render(
    config: &Config,
    templates: &Templates,
    alert: &Alert,
    n: &Notification,
) -> Result<EmailContent, String> {
    let ctx = firebell_core::render::template_context(config, alert, n);
    let mut notes = Vec::new();
    let mut one = |name: &str| -> Result<String, String> {
        let (text, note) = templates
            .render(&alert.service, name, &ctx)
            .map_err(|e| format!("template {name}: {e}"))?;
        notes.extend(note);
        Ok(text)
    };
    let subject = one("email_subject")?;
    let text = one("email_text")?;
    let html = one("email_html")?;
    Ok(EmailContent {
        subject: subject_line(&subject),
        text,
        html,
        notes,
    })
}

/// One line, trimmed, at most [`MAX_SUBJECT_CHARS`] characters.
fn subject_line(s: &str) -> String {
    let line = one_line(s);
    let line = line.trim();
    if line.chars().count() <= MAX_SUBJECT_CHARS {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(MAX_SUBJECT_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// A header lettre has no type for.
fn raw(name: &'static str, value: impl Into<String>) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.into())
}

/// The message for one page to `to` (a bare address; `display_name` is the
/// person's name from the configuration).
pub fn message(
    from: &Mailbox,
    to: &str,
    display_name: Option<&str>,
    content: &EmailContent,
    alert: &Alert,
    n: &Notification,
) -> Result<Message, String> {
    let address: Address = to
        .parse()
        .map_err(|e| format!("{to:?} is not an email address: {e}"))?;
    let to = Mailbox::new(display_name.map(str::to_string), address);
    let domain = from.email.domain();
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(content.subject.clone())
        .date_now()
        .message_id(Some(format!(
            "<firebell.{}.{}.{}@{domain}>",
            alert.id,
            n.id,
            n.created_at.as_second()
        )))
        .user_agent(concat!("firebell/", env!("CARGO_PKG_VERSION")).to_string())
        .raw_header(raw("Auto-Submitted", "auto-generated"))
        .raw_header(raw("X-Auto-Response-Suppress", "All"))
        .raw_header(raw("X-Firebell-Notification-Id", n.id.to_string()));
    if alert.id > 0 {
        builder = builder
            .references(format!(
                "<firebell.alert.{}.{}@{domain}>",
                alert.id,
                alert.created_at.as_second()
            ))
            .raw_header(raw("X-Firebell-Alert-Id", alert.id.to_string()));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            content.text.clone(),
            content.html.clone(),
        ))
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// An SMTP server pages are sent through.
#[derive(Clone)]
pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Bounds a whole attempt (lettre's own timeout is per command).
    attempt_timeout: Duration,
}

impl SmtpChannel {
    /// A channel for `settings`; `timeout` bounds each network step. Fails
    /// only on settings the configuration check lets through by mistake
    /// (a `from` that is not a mailbox, a CA file lettre cannot read).
    pub fn new(settings: &SmtpSettings, timeout: Duration) -> Result<Self, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format!("from {:?}: {e}", settings.from))?;
        let tls_parameters = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(settings.host.clone());
            if let Some(pem) = &settings.ca_pem {
                let cert =
                    Certificate::from_pem(pem.as_bytes()).map_err(|e| format!("ca_file: {e}"))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| format!("TLS: {e}"))
        };
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        };
        // `builder_dangerous` only means "no TLS unless told": `tls` is set
        // explicitly right after, from the configuration.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_string(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            attempt_timeout: timeout.saturating_mul(4),
        })
    }

    /// One attempt to email page `n` about `alert` to `n.address`.
    pub async fn deliver(
        &self,
        config: &Config,
        templates: &Templates,
        alert: &Alert,
        n: &Notification,
    ) -> Delivery {
        let content = match render(config, templates, alert, n) {
            Ok(c) => c,
            Err(error) => return Delivery::Permanent { error },
        };
        let name = config.users.get(&n.user).map(|u| u.name.as_str());
        let message = match message(&self.from, &n.address, name, &content, alert, n) {
            Ok(m) => m,
            Err(error) => return Delivery::Permanent { error },
        };
        let mut delivery = self.send(message).await;
        if let Delivery::Delivered { detail } = &mut delivery {
            for note in &content.notes {
                detail.push_str("; ");
                detail.push_str(note);
            }
        }
        delivery
    }

    /// Sends a built message; the server's answer is the detail or error.
    pub async fn send(&self, message: Message) -> Delivery {
        match tokio::time::timeout(self.attempt_timeout, self.transport.send(message)).await {
            Err(_) => Delivery::Retryable {
                error: "SMTP: timed out".to_string(),
            },
            Ok(Ok(response)) => Delivery::Delivered {
                detail: format!(
                    "SMTP {} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )
                .trim_end()
                .to_string(),
            },
            Ok(Err(e)) => classify(&e),
        }
    }
}

/// 5xx answers are permanent; everything else (4xx, timeouts, connection
/// and TLS trouble) may pass.
fn classify(e: &lettre::transport::smtp::Error) -> Delivery {
    let error = format!("SMTP: {e}");
    if e.is_permanent() {
        Delivery::Permanent { error }
    } else {
        Delivery::Retryable { error }
    }
}

/// A `[[channels]]` smtp table, as the dispatcher builds it. A channel
/// that could not be set up fails each page with why.
pub(crate) struct Channel {
    channel: Result<SmtpChannel, String>,
    dry_run: bool,
}

impl Channel {
    pub(crate) fn new(b: &crate::Build<'_>, settings: &SmtpSettings) -> Self {
        Self {
            channel: SmtpChannel::new(settings, b.timeout),
            dry_run: b.channel.dry_run,
        }
    }

    pub(crate) async fn deliver(&self, a: &crate::Attempt<'_>) -> Delivery {
        match &self.channel {
            Err(error) => Delivery::Permanent {
                error: error.clone(),
            },
            Ok(_) if self.dry_run => match render(a.config, a.templates, a.alert, a.n) {
                Ok(c) => Delivery::Delivered {
                    detail: format!(
                        "dry run: would email {} with subject {:?}",
                        a.n.address, c.subject
                    ),
                },
                Err(error) => Delivery::Permanent { error },
            },
            Ok(smtp) => smtp.deliver(a.config, a.templates, a.alert, a.n).await,
        }
    }

    /// A whole SMTP attempt is bounded at four network steps.
    pub(crate) fn longest_attempt(&self, webhook: Duration) -> Duration {
        webhook.saturating_mul(4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_config() -> Config {
        firebell_core::config::parse(
            r#"
[server]
public_url = "https://pager.example.com"
link_secret = "0123456789abcdef0123456789abcdef"
[[users]]
id = "alice"
name = "Alice Example"
contacts = [ { kind = "console" } ]
[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]
[[services]]
id = "checkout"
name = "Checkout web"
policy = "p"
"#,
            &firebell_core::config::MapSecrets::default(),
        )
        .unwrap()
    }

    #[test]
    fn the_built_in_email_reads_well() {
        let config = sample_config();
        let templates = config.templates();
        let (alert, n) = firebell_core::templates::samples().remove(0);
        let c = render(&config, &templates, &alert, &n).unwrap();
        insta::assert_snapshot!(c.subject, @"[firebell] Checkout web CRITICAL: Disk full on web1");
        insta::assert_snapshot!(c.text, @r#"
            CRITICAL alert #42 on Checkout web

            Disk full on web1

            Status:    triggered
            Source:    web1
            Opened:    2026-03-01T12:00:00Z
            Count:     3
            Dedup key: auto-018e911f63bddcc92e443ba4ccaf1397
            Label:     host=web1

            Acknowledge: https://pager.example.com/links/alerts/42/acknowledge?token=NDIKYWNrbm93bGVkZ2UKMTc3MjQ1MjgwMAphbGljZQ.gyUENhPQOv3qZXE4AmbWICNXMxz-9Fcs6wSnoJ7CvAY
            Resolve:     https://pager.example.com/links/alerts/42/resolve?token=NDIKcmVzb2x2ZQoxNzcyNDUyODAwCmFsaWNl.xJ5hHspAMuJG2NNtBaHLRMZauPT62aBEAPS8qG-ddWU

            The links act on this alert only, without logging in, and expire.

            --
            Sent by Firebell to alice (escalation step 1, round 1).
            "#);
        insta::assert_snapshot!(c.html, @r#"
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>Disk full on web1</title></head>
            <body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222">
            <p style="font-size:13px;color:#666">CRITICAL alert #42 on Checkout web</p>
            <h1 style="font-size:20px">Disk full on web1</h1>
            <table cellpadding="3" style="border-collapse:collapse">
            <tr><td>Status</td><td>triggered</td></tr>
            <tr><td>Source</td><td>web1</td></tr>
            <tr><td>Opened</td><td>2026-03-01T12:00:00Z</td></tr>
            <tr><td>Count</td><td>3</td></tr>
            <tr><td>Dedup key</td><td>auto-018e911f63bddcc92e443ba4ccaf1397</td></tr>
            <tr><td>host</td><td>web1</td></tr>
            </table>
            <p><a href="https:&#x2f;&#x2f;pager.example.com&#x2f;links&#x2f;alerts&#x2f;42&#x2f;acknowledge?token=NDIKYWNrbm93bGVkZ2UKMTc3MjQ1MjgwMAphbGljZQ.gyUENhPQOv3qZXE4AmbWICNXMxz-9Fcs6wSnoJ7CvAY" style="display:inline-block;padding:8px 16px;background:#b00020;color:#fff;text-decoration:none;border-radius:4px">Acknowledge</a>
            &nbsp; <a href="https:&#x2f;&#x2f;pager.example.com&#x2f;links&#x2f;alerts&#x2f;42&#x2f;resolve?token=NDIKcmVzb2x2ZQoxNzcyNDUyODAwCmFsaWNl.xJ5hHspAMuJG2NNtBaHLRMZauPT62aBEAPS8qG-ddWU" style="display:inline-block;padding:8px 16px;background:#1b5e20;color:#fff;text-decoration:none;border-radius:4px">Resolve</a></p>
            <p style="font-size:12px;color:#666">The links act on this alert only, without logging in, and expire.</p>
            <p style="font-size:12px;color:#666">Sent by Firebell to alice (escalation step 1, round 1).</p>
            </body></html>
            "#);
        assert!(c.notes.is_empty());
    }

    #[test]
    fn a_test_page_says_only_its_text() {
        let config = sample_config();
        let templates = config.templates();
        let (_, mut n) = firebell_core::templates::samples().remove(0);
        n.kind = firebell_core::notification::NotificationKind::Test;
        n.alert_id = None;
        n.message = Some("Test message for channel mail".into());
        let alert = firebell_core::notification::notice_alert(&n);
        let c = render(&config, &templates, &alert, &n).unwrap();
        insta::assert_snapshot!(c.subject, @"[TEST] [firebell] Test message for channel mail");
        insta::assert_snapshot!(c.text, @r#"
            Test message for channel mail

            --
            Sent by Firebell to alice as a test.
            "#);
        assert!(!c.html.contains("Acknowledge"), "{}", c.html);
    }

    #[test]
    fn subjects_are_one_bounded_line() {
        assert_eq!(subject_line(" a\nb\tc "), "a b c");
        let long = "x".repeat(500);
        let s = subject_line(&long);
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn a_bad_address_is_a_permanent_failure_not_a_panic() {
        let (alert, n) = firebell_core::templates::samples().remove(0);
        let content = EmailContent {
            subject: "s".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            notes: vec![],
        };
        let from: Mailbox = "Firebell <pager@example.com>".parse().unwrap();
        let e = message(&from, "not an address", None, &content, &alert, &n).unwrap_err();
        assert!(e.contains("not an email address"), "{e}");
        let m = message(
            &from,
            "alice@example.com",
            Some("Alice Example"),
            &content,
            &alert,
            &n,
        )
        .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(
            text.contains("To: \"Alice Example\" <alice@example.com>"),
            "{text}"
        );
        assert!(
            text.contains("Message-ID: <firebell.42.7.1772366400@example.com>"),
            "{text}"
        );
        assert!(
            text.contains("References: <firebell.alert.42.1772366400@example.com>"),
            "{text}"
        );
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        assert!(text.contains("X-Firebell-Alert-Id: 42"), "{text}");
    }
}
