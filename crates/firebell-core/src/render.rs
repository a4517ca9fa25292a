//! How a page reads: the console line and the webhook JSON body.

use crate::alert::Alert;
use crate::config::Config;
use crate::notification::Notification;
use minijinja::Value;
use serde_json::json;

/// The webhook payload format version.
pub const WEBHOOK_VERSION: &str = "1";

/// One readable line per page, for the console channel.
pub fn console_line(alert: &Alert, n: &Notification) -> String {
    let test = if n.kind == crate::notification::NotificationKind::Test {
        " TEST"
    } else {
        ""
    };
    if let Some(message) = n
        .alert_id
        .is_none()
        .then_some(n.message.as_deref())
        .flatten()
    {
        return format!(
            "[firebell]{test} NOTICE {user}: {message} (notification {nid})",
            user = n.user,
            message = one_line(message),
            nid = n.id,
        );
    }
    format!(
        "[firebell]{test} PAGE {user}: {service} alert #{id} [{severity}] {summary} (count {count}, step {step}, round {round}, notification {nid})",
        user = n.user,
        service = alert.service,
        id = alert.id,
        severity = alert.severity.as_str().to_uppercase(),
        summary = one_line(&alert.summary),
        count = alert.count,
        step = n.step + 1,
        round = n.loop_ + 1,
        nid = n.id,
    )
}

/// The JSON body the webhook channel POSTs.
pub fn webhook_body(alert: &Alert, n: &Notification) -> serde_json::Value {
    let mut body = json!({
        "version": WEBHOOK_VERSION,
        "kind": n.kind.as_str(),
        "alert": {
            "id": alert.id,
            "service": alert.service,
            "dedup_key": alert.dedup_key,
            "summary": alert.summary,
            "severity": alert.severity,
            "status": alert.status,
            "labels": alert.labels,
            "details": alert.details,
            "count": alert.count,
            "created_at": alert.created_at,
        },
        "recipient": n.user,
        "step": n.step + 1,
        "loop": n.loop_ + 1,
        "notification_id": n.id,
    });
    // An action's run: its id, label, arguments and who asked (`recipient`).
    if n.kind == crate::notification::NotificationKind::Action
        && let Some(action) = n
            .message
            .as_deref()
            .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
    {
        body["action"] = action;
    }
    body
}

/// Control characters (tabs, newlines) become spaces, so a page is one line.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The template context for one page: the alert, the page, the service's
/// name, its one-click links and the server's public URL.
pub fn template_context(config: &Config, alert: &Alert, n: &Notification) -> Value {
    let service_name = config
        .services
        .get(&alert.service)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| alert.service.clone());
    let links = crate::links::action_links(config, alert.id, &n.user, n.created_at);
    let public_url = config.server.public_url.trim_end_matches('/');
    let alert_url = if alert.id > 0 {
        format!("{public_url}/api/v1/alerts/{}", alert.id)
    } else {
        String::new()
    };
    let actions = if n.kind == crate::notification::NotificationKind::Notify {
        crate::links::run_links(config, alert, &n.user, n.created_at)
    } else {
        Vec::new()
    };
    crate::templates::build(
        alert,
        n,
        &service_name,
        crate::templates::PageLinks {
            ack_url: links.as_ref().map(|l| l.acknowledge.as_str()).unwrap_or(""),
            resolve_url: links.as_ref().map(|l| l.resolve.as_str()).unwrap_or(""),
            alert_url: &alert_url,
            actions: &actions,
        },
        public_url,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertStatus;
    use crate::event::{DedupKey, Severity};
    use crate::notification::{NotificationKind, NotificationStatus};

    fn sample() -> (Alert, Notification) {
        let t: jiff::Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let alert = Alert {
            id: 42,
            service: "checkout".into(),
            dedup_key: DedupKey::parse("disk-web1").unwrap(),
            status: AlertStatus::Triggered,
            summary: "Disk full\ton web1".into(),
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
            loop_: 1,
            status: NotificationStatus::Sending,
            attempts: 0,
            next_attempt_at: t,
            last_error: None,
            detail: None,
            created_at: t,
        };
        (alert, n)
    }

    #[test]
    fn console_line_reads_well() {
        let (a, n) = sample();
        insta::assert_snapshot!(console_line(&a, &n), @"[firebell] PAGE alice: checkout alert #42 [CRITICAL] Disk full on web1 (count 3, step 1, round 2, notification 7)");
    }

    #[test]
    fn a_notice_reads_as_its_message() {
        let (_, mut n) = sample();
        n.alert_id = None;
        n.kind = NotificationKind::Handoff;
        n.message =
            Some("Your on-call shift on schedule \"ops\" starts Mon 2 Mar 09:00 GMT.".into());
        let alert = crate::notification::notice_alert(&n);
        insta::assert_snapshot!(console_line(&alert, &n), @r#"[firebell] NOTICE alice: Your on-call shift on schedule "ops" starts Mon 2 Mar 09:00 GMT. (notification 7)"#);
    }

    #[test]
    fn webhook_body_has_the_documented_shape() {
        let (a, n) = sample();
        insta::assert_json_snapshot!(webhook_body(&a, &n), @r#"
        {
          "alert": {
            "count": 3,
            "created_at": "2026-03-01T12:00:00Z",
            "dedup_key": "disk-web1",
            "details": {},
            "id": 42,
            "labels": {
              "host": "web1"
            },
            "service": "checkout",
            "severity": "critical",
            "status": "triggered",
            "summary": "Disk full\ton web1"
          },
          "kind": "alert.notify",
          "loop": 2,
          "notification_id": 7,
          "recipient": "alice",
          "step": 1,
          "version": "1"
        }
        "#);
    }
}
