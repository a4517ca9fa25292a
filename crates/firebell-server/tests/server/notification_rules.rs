//! A user's notification rules: the alert's severity and the user's local
//! time pick which contact methods a page uses ("critical: every method;
//! warning: the webhook in working hours, the console otherwise").

use crate::support::*;
use jiff::Timestamp;

const RULES: &str = concat!(
    server_section!(),
    r#"
[delivery]
retry_initial = "10s"
retry_max = "1m"
max_attempts = 2

[[users]]
id = "alice"
timezone = "Europe/London"
contacts = [ { kind = "webhook", url = "{SINK}" }, { kind = "console" } ]

[[users.notification_rules]]
severity = ["critical"]
contacts = ["webhook", "console"]

[[users.notification_rules]]
severity = ["warning", "error"]
days = ["mon", "tue", "wed", "thu", "fri"]
hours = "09:00-18:00"
contacts = ["webhook"]

[[users.notification_rules]]
contacts = ["console"]

[[users]]
id = "bob"
contacts = [ { kind = "console" } ]

[[policies]]
id = "outage"
repeat = 1
steps = [
  { targets = ["user:alice"], wait = "30m" },
  { targets = ["user:bob"], wait = "30m" },
]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

/// Triggers an alert, lets it page, then resolves it so later clock jumps
/// do not escalate it further.
async fn fire(app: &TestApp, key: &str, severity: &str) -> i64 {
    let (status, body) = app
        .post_events(&format!(
            r#"{{"action":"trigger","dedup_key":"{key}","summary":"{key} broke","severity":"{severity}","source":"test"}}"#
        ))
        .await;
    assert_eq!(status, 202, "{body}");
    app.settle().await;
    let id = body["alerts"][0]["id"].as_i64().unwrap();
    let (status, body) = app
        .api_post(
            &format!("/api/v1/alerts/{id}/resolve"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    id
}

fn webhook_alerts(sink: &Sink) -> Vec<String> {
    sink.bodies()
        .iter()
        .map(|b| b["alert"]["dedup_key"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn console_users(app: &TestApp) -> Vec<String> {
    app.pages().iter().map(|p| p.user.clone()).collect()
}

#[tokio::test]
async fn severity_and_local_time_pick_the_contact_method() {
    // t0 is Sunday 1 March 2026, 09:00 in London.
    let (app, _dir, sink) = spawn_app(RULES).await;

    // Critical: the first method of the critical rule, the webhook.
    fire(&app, "critical-sunday", "critical").await;
    assert_eq!(webhook_alerts(&sink), vec!["critical-sunday"]);
    assert!(console_users(&app).is_empty());

    // A warning on Sunday: outside working days, so the console.
    fire(&app, "warning-sunday", "warning").await;
    assert_eq!(
        webhook_alerts(&sink).len(),
        1,
        "no webhook for a weekend warning"
    );
    assert_eq!(console_users(&app), vec!["alice"]);

    // Monday 10:00 London: working hours, so the webhook.
    let monday_10: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
    app.clock.set(monday_10);
    fire(&app, "warning-monday", "warning").await;
    assert_eq!(
        webhook_alerts(&sink),
        vec!["critical-sunday", "warning-monday"]
    );

    // Monday 19:00: after hours again, the console.
    app.clock.set("2026-03-02T19:00:00Z".parse().unwrap());
    fire(&app, "error-monday-evening", "error").await;
    assert_eq!(webhook_alerts(&sink).len(), 2);
    assert_eq!(console_users(&app), vec!["alice", "alice"]);
}

#[tokio::test]
async fn a_failed_method_falls_back_only_within_the_rules_chain() {
    let (app, _dir, sink) = spawn_app(RULES).await;
    sink.set_status(404); // the webhook fails for good

    // Critical: webhook, then the console.
    let critical = fire(&app, "critical", "critical").await;
    assert_eq!(console_users(&app), vec!["alice"]);
    let kinds = app.timeline_kinds(critical).await;
    assert!(kinds.contains(&"failed".to_string()), "{kinds:?}");

    // A working-hours warning uses the webhook only: when it fails alice is
    // not reached and the step moves on to bob at once.
    app.clock.set("2026-03-02T10:00:00Z".parse().unwrap());
    let warning = fire(&app, "warning", "warning").await;
    assert_eq!(console_users(&app), vec!["alice", "bob"]);
    let text = app.alert(warning).await["timeline"].to_string();
    assert!(
        text.contains("alice could not be reached on any contact method"),
        "{text}"
    );
}
