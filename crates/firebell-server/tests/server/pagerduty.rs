//! PagerDuty Events API v2 at /v2/enqueue, driven by PagerDuty's own Python
//! clients (`pagerduty` v7 and `pdpyras`), and its error answers.

use crate::support::*;
use serde_json::{Value, json};

const PD: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "db"
policy = "p"
integrations = [
  { kind = "pagerduty", key = "R0123456789abcdef0123456789abcde" },
  { kind = "generic", key = "test-integration-key" },
]
"#
);

const ROUTING_KEY: &str = "R0123456789abcdef0123456789abcde";

/// Runs a script of PagerDuty's clients against the app; its stdout, once it
/// succeeded.
async fn run_clients(python: &std::path::Path, script: &str, app: &TestApp) -> String {
    let out = tokio::process::Command::new(python)
        .arg(python_script(script))
        .arg(&app.url)
        .arg(ROUTING_KEY)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn status_of(app: &TestApp, key: &str) -> String {
    let alerts = app.all_alerts().await;
    let a = alerts
        .iter()
        .find(|a| a["dedup_key"] == key)
        .unwrap_or_else(|| panic!("no alert {key} in {alerts:?}"));
    a["status"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_python_clients_trigger_acknowledge_and_resolve() {
    let Some(python) = python_with(&["pagerduty", "pdpyras"]) else {
        return;
    };
    let (app, _dir, _sink) = spawn_app(PD).await;
    let stdout = run_clients(&python, "pagerduty_clients.py", &app).await;
    assert!(stdout.contains("refused 400"), "{stdout}");
    let generated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("v7-generated "))
        .unwrap()
        .to_string();
    assert_eq!(status_of(&app, "pd-v7").await, "acknowledged");
    assert_eq!(status_of(&app, "pd-pdpyras").await, "resolved");
    assert_eq!(status_of(&app, &generated).await, "resolved");
    assert_eq!(
        app.all_alerts().await.len(),
        3,
        "the refused event stored nothing"
    );

    let alerts = app.all_alerts().await;
    let v7 = alerts.iter().find(|a| a["dedup_key"] == "pd-v7").unwrap();
    assert_eq!(v7["severity"], "critical");
    assert_eq!(v7["source"], "srv01");
    assert_eq!(v7["details"]["free"], "0%");
    assert_eq!(v7["details"]["links"][0]["text"], "runbook");
    assert_eq!(v7["service"], "db");
    app.settle().await;
    let id = v7["id"].as_i64().unwrap();
    // The first step queued its page with the alert; the acknowledgement
    // came before it went out and cancelled it: nobody was paged.
    assert_eq!(
        app.timeline_kinds(id).await,
        vec!["received", "notified", "acknowledged"]
    );
    assert!(app.pages().is_empty());
    let view = app.alert(id).await;
    let statuses: Vec<&str> = view["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["cancelled"], "{view}");
}

async fn enqueue(app: &TestApp, body: &str) -> (u16, Value) {
    let resp = app
        .client
        .post(format!("{}/v2/enqueue", app.url))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn refused_events_answer_like_pagerduty_and_store_nothing() {
    let (app, _dir, _sink) = spawn_app(PD).await;
    let (status, body) = enqueue(&app, "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "invalid event");
    assert_eq!(body["message"], "Event object is invalid");

    // A generic key is not a routing key.
    let (status, body) = enqueue(
        &app,
        &json!({"routing_key": "test-integration-key", "event_action": "trigger",
                "payload": {"summary": "x", "source": "y", "severity": "info"}})
        .to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["errors"][0].as_str().unwrap().contains("routing key"));

    let (status, body) = enqueue(
        &app,
        &json!({"routing_key": ROUTING_KEY, "event_action": "trigger",
                "payload": {"summary": "x", "source": "y", "severity": "catastrophic"}})
        .to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("payload.severity"),
        "{body}"
    );

    let (status, body) = enqueue(
        &app,
        &json!({"routing_key": ROUTING_KEY, "event_action": "trigger", "bogus": 1,
                "payload": {"summary": "x", "source": "y", "severity": "info"}})
        .to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0].as_str().unwrap().contains("bogus"),
        "{body}"
    );
    assert!(app.all_alerts().await.is_empty());

    // And a good one answers exactly as PagerDuty does.
    let (status, body) = enqueue(
        &app,
        &json!({"routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "k1",
                "payload": {"summary": "x", "source": "y", "severity": "info"}})
        .to_string(),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        body,
        json!({"status": "success", "message": "Event processed", "dedup_key": "k1"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_events_from_pagerduty_clients_go_on_the_service_timeline_and_page_no_one() {
    let Some(python) = python_with(&["pagerduty", "pdpyras"]) else {
        return;
    };
    let (app, _dir, _sink) = spawn_app(PD).await;
    let stdout = run_clients(&python, "pagerduty_changes.py", &app).await;
    assert!(stdout.contains("refused 400"), "{stdout}");
    app.settle().await;
    let (status, body) = app.api_get("/api/v1/changes?service=db").await;
    assert_eq!(status, 200, "{body}");
    let changes = body["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "the refused one stored nothing: {body}");
    // Newest first.
    assert_eq!(changes[0]["summary"], "Config push: raise pool size");
    assert_eq!(changes[0]["source"], "ansible");
    assert_eq!(changes[0]["details"]["pool"], 40);
    assert_eq!(changes[1]["summary"], "Deploy web 1.2.3");
    assert_eq!(changes[1]["occurred_at"], "2026-03-01T08:55:00Z");
    assert_eq!(changes[1]["details"]["links"][0]["text"], "build 7");
    assert_eq!(changes[1]["service"], "db");
    assert!(app.all_alerts().await.is_empty(), "a change opens no alert");
    assert!(app.pages().is_empty(), "a change pages no one");
}

async fn change_enqueue(app: &TestApp, body: &str) -> (u16, Value) {
    let resp = app
        .client
        .post(format!("{}/v2/change/enqueue", app.url))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn refused_change_events_answer_like_pagerduty_and_store_nothing() {
    let (app, _dir, _sink) = spawn_app(PD).await;
    for (body, expect) in [
        ("{not json".to_string(), "malformed JSON"),
        (
            json!({"routing_key": "nope", "payload": {"summary": "x"}}).to_string(),
            "routing key",
        ),
        (
            json!({"routing_key": "test-integration-key", "payload": {"summary": "x"}}).to_string(),
            "routing key",
        ),
        (
            json!({"routing_key": ROUTING_KEY, "payload": {"summary": "x"}, "event_action": "trigger"})
                .to_string(),
            "'event_action' is not a recognized field",
        ),
        (
            json!({"routing_key": ROUTING_KEY, "payload": {"source": "x"}}).to_string(),
            "'payload.summary' is missing or blank",
        ),
        (
            json!({"routing_key": ROUTING_KEY, "payload": {"summary": "x".repeat(1025)}})
                .to_string(),
            "payload.summary",
        ),
    ] {
        let (status, answer) = change_enqueue(&app, &body).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["status"], "invalid event");
        assert!(
            answer["errors"][0].as_str().unwrap().contains(expect),
            "{body} → {answer}"
        );
    }
    let huge = json!({"routing_key": ROUTING_KEY, "payload": {"summary": "x", "custom_details": {"blob": "y".repeat(2 * 1024 * 1024)}}});
    let (status, _) = change_enqueue(&app, &huge.to_string()).await;
    assert_eq!(status, 413);
    let (_, body) = app.api_get("/api/v1/changes").await;
    assert_eq!(body["changes"], json!([]));
    let (status, body) = app.api_get("/api/v1/changes?service=nope").await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = change_enqueue(
        &app,
        &json!({"routing_key": ROUTING_KEY, "payload": {"summary": "deploy"}}).to_string(),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        body,
        json!({"status": "success", "message": "Change event processed"})
    );
}
