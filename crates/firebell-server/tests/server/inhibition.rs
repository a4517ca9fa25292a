//! `[[inhibit_rules]]`: while a critical alert is open for a host, warnings
//! for the same host page no one (their timeline says which alert inhibits
//! them, and `GET /api/v2/alerts` shows them suppressed); other hosts page;
//! when the critical alert resolves, the held warning pages at once. A bad
//! matcher is a config error with its path.

use crate::support::*;
use firebell_store::prelude::*;
use serde_json::{Value, json};

fn config() -> String {
    format!(
        "{THREE_STEPS}\n{}",
        r#"
[[inhibit_rules]]
source_matchers = ['severity="critical"']
target_matchers = ['severity="warning"']
equal = ["host"]
"#
    )
}

async fn event(app: &TestApp, action: &str, key: &str, severity: &str, host: &str) -> i64 {
    let (status, body) = app
        .post_events(
            &json!({
                "action": action, "dedup_key": key, "summary": format!("{key} on {host}"),
                "severity": severity, "source": host, "labels": {"host": host},
            })
            .to_string(),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["alerts"][0]["id"].as_i64().unwrap_or(0)
}

async fn timeline(app: &TestApp, id: i64) -> Vec<String> {
    app.engine
        .store()
        .timeline(id)
        .await
        .unwrap()
        .iter()
        .map(|e| format!("{}: {}", e.kind.as_str(), e.message))
        .collect()
}

fn paged_for(app: &TestApp) -> Vec<String> {
    app.pages()
        .iter()
        .filter(|p| p.user == "alice")
        .map(|p| p.line.clone())
        .collect()
}

#[tokio::test]
async fn a_critical_alert_inhibits_warnings_for_its_host_until_it_resolves() {
    let (app, _dir, _sink) = spawn_app(&config()).await;
    let critical = event(&app, "trigger", "db-down", "critical", "db1").await;
    app.settle().await;
    assert_eq!(paged_for(&app).len(), 1, "the critical alert pages");

    let warning = event(&app, "trigger", "db-slow", "warning", "db1").await;
    let other_host = event(&app, "trigger", "web-slow", "warning", "web1").await;
    app.settle().await;
    let pages = paged_for(&app);
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages[1].contains("web-slow"),
        "another host pages: {pages:?}"
    );
    let lines = timeline(&app, warning).await;
    assert!(
        lines.contains(&format!(
            "held: paging held: inhibited by alert {critical} (db-down on db1)"
        )),
        "{lines:?}"
    );
    assert!(
        !timeline(&app, other_host)
            .await
            .iter()
            .any(|l| l.starts_with("held:"))
    );

    // The Alertmanager view: suppressed, inhibited by the critical alert.
    let resp = app
        .client
        .get(format!("{}/api/v2/alerts", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let v2: Vec<Value> = resp.json().await.unwrap();
    let slow = v2
        .iter()
        .find(|a| a["labels"]["alertname"] == "db-slow")
        .unwrap();
    let down = v2
        .iter()
        .find(|a| a["labels"]["alertname"] == "db-down")
        .unwrap();
    assert_eq!(slow["status"]["state"], "suppressed");
    assert_eq!(slow["status"]["inhibitedBy"], json!([down["fingerprint"]]));
    assert_eq!(down["status"]["state"], "active");

    // Still held ten minutes on (rechecked every 30 s, one timeline line).
    app.advance(mins(10)).await;
    assert!(!paged_for(&app).iter().any(|l| l.contains("db-slow")));
    let held = timeline(&app, warning)
        .await
        .iter()
        .filter(|l| l.starts_with("held:"))
        .count();
    assert_eq!(held, 1);

    // The critical alert resolves: the warning pages at once.
    let before = app.pages().len();
    event(&app, "resolve", "db-down", "critical", "db1").await;
    app.settle().await;
    let new: Vec<String> = app.pages()[before..]
        .iter()
        .map(|p| p.line.clone())
        .collect();
    assert!(
        new.iter().any(|l| l.contains("db-slow")),
        "the warning pages after the source resolved: {new:?}"
    );
    assert!(
        timeline(&app, warning)
            .await
            .iter()
            .any(|l| l.starts_with("released:")),
    );
}

#[test]
fn a_bad_inhibit_matcher_is_a_config_error_with_its_path() {
    let text = render_config(THREE_STEPS, std::path::Path::new("/tmp/x"), "")
        + "\n[[inhibit_rules]]\nsource_matchers = ['severity=~\"(\"']\ntarget_matchers = ['severity=\"warning\"']\n";
    let errors = try_parse_config(&text).unwrap_err();
    let e = &errors.0[0];
    assert_eq!(e.path, "inhibit_rules[0].source_matchers[0]");
    assert!(e.message.contains("invalid regular expression"), "{e}");
}
