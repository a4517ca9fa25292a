//! The webhook channel against a local receiver: the documented body, retries
//! with backoff on 5xx, a permanent failure on other 4xx that moves on to the
//! next contact method or counts the person as not reached.

use crate::support::*;

const WEBHOOK_USERS: &str = concat!(
    server_section!(),
    r#"
[delivery]
retry_initial = "10s"
retry_max = "1m"
max_attempts = 4

[[users]]
id = "alice"
contacts = [ { kind = "webhook", url = "{SINK}" }, { kind = "console" } ]
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
name = "Checkout web"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

const WEBHOOK_ONLY: &str = concat!(
    server_section!(),
    r#"
[delivery]
retry_initial = "10s"
retry_max = "1m"
max_attempts = 4

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
  { targets = ["user:alice"], wait = "30m" },
  { targets = ["user:bob"], wait = "30m" },
]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

#[tokio::test]
async fn the_webhook_body_has_the_documented_shape() {
    let (app, _dir, sink) = spawn_app(WEBHOOK_USERS).await;
    let (status, _) = app
        .post_events(
            r#"{"action":"trigger","dedup_key":"disk-web1","summary":"Disk full","severity":"warning","source":"web1","labels":{"host":"web1"},"details":{"free":"0%"}}"#,
        )
        .await;
    assert_eq!(status, 202);
    app.settle().await;
    let bodies = sink.bodies();
    assert_eq!(bodies.len(), 1);
    let b = &bodies[0];
    assert_eq!(b["version"], "1");
    assert_eq!(b["kind"], "alert.notify");
    assert_eq!(b["recipient"], "alice");
    assert_eq!(b["step"], 1);
    assert_eq!(b["loop"], 1);
    assert!(b["notification_id"].is_i64());
    let a = &b["alert"];
    assert_eq!(a["service"], "checkout");
    assert_eq!(a["dedup_key"], "disk-web1");
    assert_eq!(a["summary"], "Disk full");
    assert_eq!(a["severity"], "warning");
    assert_eq!(a["status"], "triggered");
    assert_eq!(a["labels"]["host"], "web1");
    assert_eq!(a["details"]["free"], "0%");
    assert_eq!(a["count"], 1);
    assert_eq!(a["created_at"], t0().to_string());
    assert!(a["id"].is_i64());
    // Delivered: the console fallback was not used.
    assert!(app.pages().is_empty());
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_until_delivered() {
    let (app, _dir, sink) = spawn_app(WEBHOOK_USERS).await;
    sink.set_status(503);
    let id = app.trigger("k", "Checkout down").await;
    app.settle().await;
    assert_eq!(sink.bodies().len(), 1);
    // Backoff: the second attempt is 5-10 s later, not at once.
    app.advance(jiff::SignedDuration::from_secs(4)).await;
    assert_eq!(sink.bodies().len(), 1);
    app.advance(jiff::SignedDuration::from_secs(6)).await;
    assert_eq!(sink.bodies().len(), 2);
    sink.set_status(200);
    app.advance(jiff::SignedDuration::from_secs(20)).await;
    assert_eq!(sink.bodies().len(), 3);
    app.advance(mins(5)).await;
    assert_eq!(sink.bodies().len(), 3, "delivered: no more attempts");
    let view = app.alert(id).await;
    let tl = view["timeline"].as_array().unwrap();
    assert_eq!(tl.iter().filter(|e| e["kind"] == "retrying").count(), 2);
    assert_eq!(tl.iter().filter(|e| e["kind"] == "delivered").count(), 1);
    let n = &view["notifications"][0];
    assert_eq!(n["status"], "delivered");
    assert_eq!(n["attempts"], 3);
    // The same notification id every time: receivers can de-duplicate.
    let ids: Vec<_> = sink
        .bodies()
        .iter()
        .map(|b| b["notification_id"].clone())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    assert!(app.pages().is_empty(), "no fallback while retries succeed");
}

#[tokio::test]
async fn a_client_error_fails_for_good_and_falls_back_to_the_next_contact() {
    let (app, _dir, sink) = spawn_app(WEBHOOK_USERS).await;
    sink.set_status(404);
    let id = app.trigger("k", "Checkout down").await;
    app.settle().await;
    assert_eq!(sink.bodies().len(), 1, "a 404 is not retried");
    // Alice's next contact method, the console, is paged at once.
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);
    let view = app.alert(id).await;
    let tl = view["timeline"].as_array().unwrap();
    let failed = tl.iter().find(|e| e["kind"] == "failed").unwrap();
    assert!(
        failed["message"].as_str().unwrap().contains("HTTP 404"),
        "{failed}"
    );
    // The URL's path is never shown.
    assert!(!view.to_string().contains("/hook"), "{view}");
}

#[tokio::test]
async fn a_person_nobody_can_reach_counts_as_not_reached_and_the_step_moves_on() {
    let (app, _dir, sink) = spawn_app(WEBHOOK_ONLY).await;
    sink.set_status(500);
    let id = app.trigger("k", "Checkout down").await;
    // Four attempts within about two minutes, then failed for good: bob is
    // paged then, long before the 30-minute wait is over.
    app.advance(mins(3)).await;
    assert_eq!(sink.bodies().len(), 4);
    let log = app.page_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, "bob");
    assert!(log[0].1 < 3);
    let kinds = app.timeline_kinds(id).await;
    assert!(kinds.contains(&"failed".to_string()));
    assert_eq!(kinds.iter().filter(|k| *k == "retrying").count(), 3);
}
