//! `ack_timeout` and `auto_resolve`, end to end over HTTP with a real SQLite
//! database, a real webhook receiver and a fast-forwarded clock.

use crate::support::*;
use serde_json::{Value, json};

const CONFIG: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "webhook", url = "{SINK}" } ]
[[users]]
id = "bob"
contacts = [ { kind = "console" } ]

[[policies]]
id = "outage"
repeat = 1
steps = [
  { targets = ["user:alice"], wait = "5m" },
  { targets = ["user:bob"], wait = "5m" },
]

[[services]]
id = "checkout"
policy = "outage"
ack_timeout = "30m"
auto_resolve = "4h"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

const TIMED_OUT: &str = "acknowledgement timed out after 30m; escalating again from the first step";
const AUTO_RESOLVED: &str = "resolved automatically: no new trigger for 4h";

fn lines(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

fn line_at(view: &Value, message: &str) -> Option<String> {
    view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["message"] == message)
        .map(|e| e["at"].as_str().unwrap().to_string())
}

/// Pages alice's webhook received, as alert ids.
fn webhook_pages(sink: &Sink) -> usize {
    sink.bodies().len()
}

async fn acknowledge(app: &TestApp, id: i64, user: &str) {
    let (status, body) = app
        .api_post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            json!({ "user": user }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["status"], "acknowledged");
}

#[tokio::test]
async fn an_acknowledgement_that_times_out_pages_the_first_step_again() {
    let (app, _dir, sink) = spawn_app(CONFIG).await;
    let id = app.trigger("db-down", "Database down").await;
    app.settle().await;
    assert_eq!(webhook_pages(&sink), 1, "alice is paged at once");
    app.advance(mins(2)).await;
    acknowledge(&app, id, "alice").await;

    // Just before the timeout: still acknowledged, nobody paged.
    app.advance(mins(29)).await;
    let view = app.alert(id).await;
    assert_eq!(view["alert"]["status"], "acknowledged");
    assert_eq!(webhook_pages(&sink), 1);

    // 30 minutes after the acknowledgement: triggered again, step 1 pages
    // alice's receiver a second time, one line says why.
    app.advance(mins(1)).await;
    let view = app.alert(id).await;
    assert_eq!(view["alert"]["status"], "triggered");
    assert_eq!(view["alert"]["acknowledged_at"], Value::Null);
    assert_eq!(view["escalation"]["step"], 1);
    assert_eq!(view["escalation"]["loop"], 1);
    assert_eq!(view["escalation"]["retriggered"], 1);
    assert_eq!(webhook_pages(&sink), 2, "a second page to alice's webhook");
    let second = &sink.bodies()[1];
    assert_eq!(second["alert"]["id"], json!(id), "{second}");
    assert_eq!(
        line_at(&view, TIMED_OUT),
        Some((t0() + mins(32)).to_string()),
        "the line is written when the timeout passes"
    );
    assert_eq!(lines(&view).iter().filter(|l| *l == TIMED_OUT).count(), 1);
    // The re-run's page comes after the line, as step 1 of round 1.
    let msgs = lines(&view);
    let after = msgs.iter().position(|l| l == TIMED_OUT).unwrap();
    assert!(
        msgs[after..]
            .iter()
            .any(|l| l == "paging alice via webhook (step 1, round 1)"),
        "{msgs:?}"
    );

    // The escalation runs on as before: step 2 pages bob 5 minutes later.
    assert!(app.page_log().is_empty());
    app.advance(mins(5)).await;
    assert_eq!(app.page_log(), vec![("bob".to_string(), 37)]);

    // Acknowledged again and resolved in time: no third run.
    acknowledge(&app, id, "bob").await;
    let (status, _) = app
        .api_post(
            &format!("/api/v1/alerts/{id}/resolve"),
            json!({"user": "bob"}),
        )
        .await;
    assert_eq!(status, 200);
    app.advance(mins(120)).await;
    let view = app.alert(id).await;
    assert_eq!(view["alert"]["status"], "resolved");
    assert_eq!(lines(&view).iter().filter(|l| *l == TIMED_OUT).count(), 1);
    assert_eq!(webhook_pages(&sink), 2);
    assert_eq!(app.page_log().len(), 1);
}

#[tokio::test]
async fn an_alert_resolved_before_the_timeout_does_not_retrigger() {
    let (app, _dir, sink) = spawn_app(CONFIG).await;
    let id = app.trigger("db-down", "Database down").await;
    app.advance(mins(1)).await;
    acknowledge(&app, id, "alice").await;
    app.advance(mins(20)).await;
    let (status, body) = app
        .post_events(r#"{"action":"resolve","dedup_key":"db-down"}"#)
        .await;
    assert_eq!(status, 202, "{body}");
    app.advance(mins(180)).await;
    let view = app.alert(id).await;
    assert_eq!(view["alert"]["status"], "resolved");
    assert!(!lines(&view).iter().any(|l| l == TIMED_OUT));
    assert_eq!(webhook_pages(&sink), 1, "only the first page");
    assert!(app.page_log().is_empty(), "bob never paged");
}

#[tokio::test]
async fn an_alert_with_no_new_trigger_resolves_itself_and_a_repeat_pushes_it_back() {
    let (app, _dir, sink) = spawn_app(CONFIG).await;
    let quiet = app.trigger("disk-web1", "Disk full on web1").await;
    let noisy = app.trigger("disk-web2", "Disk full on web2").await;
    app.settle().await;
    assert_eq!(webhook_pages(&sink), 2);
    // Both escalations run out after 10 minutes; keep them quiet from there.
    app.advance(mins(3 * 60)).await;
    // web2 fires again three hours in: its four hours start over.
    assert_eq!(app.trigger("disk-web2", "Disk full on web2").await, noisy);

    app.advance(mins(60)).await;
    let view = app.alert(quiet).await;
    assert_eq!(view["alert"]["status"], "resolved");
    assert_eq!(
        line_at(&view, AUTO_RESOLVED),
        Some((t0() + mins(240)).to_string())
    );
    assert_eq!(
        view["alert"]["resolved_at"],
        json!((t0() + mins(240)).to_string())
    );
    let view = app.alert(noisy).await;
    assert_eq!(
        view["alert"]["status"], "triggered",
        "the repeat pushed it back"
    );
    assert!(line_at(&view, AUTO_RESOLVED).is_none());

    // Acknowledged alerts resolve the same way.
    acknowledge(&app, noisy, "alice").await;
    app.advance(mins(4 * 60 + 31)).await;
    let view = app.alert(noisy).await;
    assert_eq!(view["alert"]["status"], "resolved");
    assert_eq!(
        lines(&view).iter().filter(|l| *l == AUTO_RESOLVED).count(),
        1
    );
    // Acknowledged at 4h: its ack_timeout (30m) re-triggered it first, and
    // that counts as a trigger; it resolved 4h after that.
    assert_eq!(
        line_at(&view, AUTO_RESOLVED),
        Some((t0() + mins(240 + 30 + 240)).to_string())
    );
}

/// Two nodes over one database run the pass at the same moment: the alert is
/// re-triggered once, one line, one new page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_retrigger_an_alert_once() {
    let (app, dir, sink) = spawn_app(CONFIG).await;
    let id = app.trigger("db-down", "Database down").await;
    app.settle().await;
    acknowledge(&app, id, "alice").await;

    let text = render_config(CONFIG, &dir.path().join("data"), &sink.url);
    let other = firebell_engine::Engine::new(
        firebell_sqlite::SqliteStore::open(&dir.path().join("data")).unwrap(),
        try_parse_config(&text).unwrap(),
        app.clock.clone(),
        std::sync::Arc::new(|_: &str| {}),
    );
    app.clock.set(t0() + mins(30));
    let (a, b) = tokio::join!(app.engine.run_timeouts_once(), other.run_timeouts_once());
    assert_eq!(a.unwrap() + b.unwrap(), 1, "one of the nodes acted");
    app.settle().await;
    other.run_until_idle().await.unwrap();
    let view = app.alert(id).await;
    assert_eq!(view["alert"]["status"], "triggered");
    assert_eq!(view["escalation"]["retriggered"], 1);
    assert_eq!(lines(&view).iter().filter(|l| *l == TIMED_OUT).count(), 1);
    assert_eq!(webhook_pages(&sink), 2, "the new run pages alice once");
}

#[test]
fn out_of_range_timeouts_are_config_errors_naming_the_field() {
    let text = CONFIG
        .replace("ack_timeout = \"30m\"", "ack_timeout = \"10s\"")
        .replace("auto_resolve = \"4h\"", "auto_resolve = \"soon\"")
        .replace("{DATA_DIR}", "/tmp/x")
        .replace("{SINK}", "http://127.0.0.1:9/hook");
    let err = try_parse_config(&text).unwrap_err().to_string();
    assert!(err.contains("services[0].ack_timeout"), "{err}");
    assert!(err.contains("\"10s\" is out of range"), "{err}");
    assert!(err.contains("services[0].auto_resolve"), "{err}");
    assert!(err.contains("\"soon\" is not a positive duration"), "{err}");
    let text = CONFIG
        .replace("ack_timeout = \"30m\"", "ack_timeout = \"8d\"")
        .replace("auto_resolve = \"4h\"", "auto_resolve = \"30d\"")
        .replace("{DATA_DIR}", "/tmp/x")
        .replace("{SINK}", "http://127.0.0.1:9/hook");
    let err = try_parse_config(&text).unwrap_err().to_string();
    assert!(err.contains("services[0].ack_timeout"), "{err}");
    assert!(err.contains("\"8d\" is out of range"), "{err}");
    assert!(!err.contains("auto_resolve"), "30 days is allowed: {err}");
    let text = CONFIG
        .replace("ack_timeout = \"30m\"", "ack_timeout = \"7d\"")
        .replace("{DATA_DIR}", "/tmp/x")
        .replace("{SINK}", "http://127.0.0.1:9/hook");
    let config = try_parse_config(&text).unwrap();
    assert_eq!(
        config.services["checkout"].ack_timeout,
        Some(jiff::SignedDuration::from_hours(7 * 24))
    );
}
