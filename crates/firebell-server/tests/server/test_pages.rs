//! "Update and Test": a test message through the real delivery path, with the
//! provider's answer shown truthfully; a user test pages each contact method,
//! marked as a test, and opens nothing.

use crate::support::*;
use serde_json::{Value, json};

const CONFIG: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
name = "Alice Smith"
contacts = [ { kind = "console" }, { kind = "webhook", url = "{SINK}" } ]

[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "web"
policy = "p"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

async fn test_channel(app: &TestApp, name: &str, body: Value) -> (u16, Value) {
    app.api_post(&format!("/api/v1/channels/{name}/test"), body)
        .await
}

#[tokio::test]
async fn a_channel_test_goes_through_the_real_path_and_reports_the_answer() {
    let (app, _dir, sink) = spawn_app(CONFIG).await;
    let (status, body) = test_channel(&app, "webhook", json!({"to": sink.url})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["results"][0]["status"], "delivered");
    assert_eq!(body["results"][0]["answer"], "HTTP 200");
    let got = sink.bodies();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["kind"], "alert.test");
    assert_eq!(
        got[0]["alert"]["summary"],
        "Test message for channel webhook"
    );

    // The receiver fails: the answer says so, and the test is not retried.
    sink.set_status(500);
    let (status, body) = test_channel(&app, "webhook", json!({"to": sink.url})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    assert_eq!(body["results"][0]["status"], "failed");
    assert_eq!(body["results"][0]["answer"], "HTTP 500");
    app.advance(mins(30)).await;
    assert_eq!(sink.bodies().len(), 2, "a failed test is not retried");

    let (status, body) = test_channel(&app, "console", json!({})).await;
    assert_eq!(body["ok"], true, "{status} {body}");
    assert!(
        app.pages().iter().any(|p| p
            .line
            .contains("TEST NOTICE test: Test message for channel console")),
        "{:?}",
        app.pages()
    );
    assert!(app.all_alerts().await.is_empty(), "tests open no alert");
}

#[tokio::test]
async fn a_user_test_pages_each_contact_method_and_nobody_else() {
    let (app, _dir, sink) = spawn_app(CONFIG).await;
    let (status, body) = app.api_post("/api/v1/users/alice/test", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["channel"], "console");
    assert_eq!(results[1]["channel"], "webhook");
    assert!(
        results
            .iter()
            .all(|r| r["status"] == "delivered" && r["user"] == "alice")
    );
    let pages = app.pages();
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0]
            .line
            .contains("TEST NOTICE alice: Test page for Alice Smith (contact 1 of 2, via console)"),
        "{}",
        pages[0].line
    );
    let hooks = sink.bodies();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["kind"], "alert.test");
    assert_eq!(hooks[0]["recipient"], "alice");
    assert!(
        app.all_alerts().await.is_empty(),
        "a test leaves no open alert"
    );
}

#[tokio::test]
async fn bad_test_requests_name_the_problem_and_send_nothing() {
    let (app, _dir, sink) = spawn_app(CONFIG).await;
    let (status, body) = test_channel(&app, "nope", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("known: console, webhook"),
        "{body}"
    );
    let (status, body) = test_channel(&app, "webhook", json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("to"), "{body}");
    let (status, body) = test_channel(&app, "console", json!({"to": "x"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = test_channel(&app, "webhook", json!({"to": sink.url, "extra": 1})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app.api_post("/api/v1/users/bob/test", json!({})).await;
    assert_eq!(status, 404, "{body}");
    let resp = app
        .client
        .post(format!("{}/api/v1/users/alice/test", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(sink.bodies().is_empty());
    assert!(app.pages().is_empty());
}
