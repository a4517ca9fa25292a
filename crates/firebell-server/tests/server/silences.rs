//! Silences through Firebell's own API: a silenced alert exists and keeps its
//! timeline but pages no one; a silence made mid-escalation holds the next
//! step; expiring it (or its end passing) pages at once; a silence that
//! matches nothing is answered with a warning; `expire_on_resolve` ends a
//! silence when its alerts have resolved; bad input is refused with the
//! field named and nothing stored.

use crate::support::*;
use firebell_store::prelude::*;
use serde_json::{Value, json};

async fn create(app: &TestApp, body: Value) -> (u16, Value) {
    app.api_post("/api/v1/silences", body).await
}

async fn expire(app: &TestApp, id: &str) -> (u16, Value) {
    let resp = app
        .client
        .delete(format!("{}/api/v1/silences/{id}", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
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

fn users(app: &TestApp) -> Vec<String> {
    app.pages().iter().map(|p| p.user.clone()).collect()
}

#[tokio::test]
async fn a_silence_made_mid_escalation_holds_the_next_step_until_it_is_expired() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let id = app.trigger("db-down", "Database down").await;
    app.settle().await;
    assert_eq!(users(&app), ["alice"]);

    let (status, body) = create(
        &app,
        json!({
            "matchers": ["alertname=\"db-down\""],
            "duration": "2h",
            "comment": "failover drill",
            "created_by": "ops",
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let sid = body["silence"]["id"].as_str().unwrap().to_string();
    assert_eq!(sid.len(), 36, "a UUID: {sid}");
    assert_eq!(body["silence"]["state"], "active");
    assert_eq!(body["warnings"], json!([]), "it matches the open alert");

    // Bob's step (due at minute 1) is held; nobody else is paged.
    app.advance(mins(30)).await;
    assert_eq!(users(&app), ["alice"], "the silence holds the next step");
    let lines = timeline(&app, id).await;
    let held: Vec<&String> = lines.iter().filter(|l| l.starts_with("held:")).collect();
    assert_eq!(
        held.len(),
        1,
        "one held line, not one per recheck: {lines:?}"
    );
    assert!(
        held[0].contains(&format!(
            "silenced by silence {sid} (failover drill, until "
        )),
        "{lines:?}"
    );
    // The alert is still there, still triggered.
    assert_eq!(app.alert(id).await["alert"]["status"], "triggered");

    // Expiring it pages the next step at once.
    let (status, body) = expire(&app, &sid).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["silence"]["state"], "expired");
    app.settle().await;
    assert_eq!(users(&app), ["alice", "bob"]);
    let lines = timeline(&app, id).await;
    assert!(
        lines.iter().any(|l| l.starts_with("released:")),
        "{lines:?}"
    );
    // Unknown ids are 404.
    let (status, _) = expire(&app, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(status, 404);
    let (status, _) = app
        .api_get("/api/v1/silences/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_silenced_new_alert_pages_when_the_silence_ends() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let (status, body) = create(
        &app,
        json!({"matchers": ["service=\"checkout\"", "severity=~\"crit.*\""],
               "duration": "10m", "comment": "deploy"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["warnings"], json!(["matches no open alert"]));
    let id = app.trigger("disk-full", "Disk full").await;
    app.advance(mins(9)).await;
    assert!(app.pages().is_empty(), "silenced");
    assert_eq!(app.alert(id).await["alert"]["status"], "triggered");
    // The silence ends at minute 10: alice (the first step) is paged then.
    app.advance(mins(1)).await;
    assert_eq!(app.page_log(), [("alice".to_string(), 10)]);
    app.advance(mins(1)).await;
    assert_eq!(users(&app), ["alice", "bob"], "and the escalation goes on");
    let (_, list) = app.api_get("/api/v1/silences?state=expired").await;
    assert_eq!(list["silences"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn expire_on_resolve_ends_the_silence_once_its_alerts_resolved() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let (status, body) = create(
        &app,
        json!({"matchers": ["alertname=~\"web-.*\""], "duration": "4h",
               "comment": "rack move", "expire_on_resolve": true}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    app.trigger("web-1", "web 1 down").await;
    app.trigger("web-2", "web 2 down").await;
    let sid = body["silence"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["silence"]["expire_on_resolve"], true);
    app.settle().await;
    assert!(app.pages().is_empty());

    let resolve = |key: &'static str| {
        let app = &app;
        async move {
            let (s, b) = app
                .post_events(&format!(r#"{{"action":"resolve","dedup_key":"{key}"}}"#))
                .await;
            assert_eq!(s, 202, "{b}");
        }
    };
    resolve("web-1").await;
    let (_, s) = app.api_get(&format!("/api/v1/silences/{sid}")).await;
    assert_eq!(s["silence"]["state"], "active", "web-2 is still open");
    resolve("web-2").await;
    let (_, s) = app.api_get(&format!("/api/v1/silences/{sid}")).await;
    assert_eq!(s["silence"]["state"], "expired", "{s}");

    // A new web alert pages: the silence is gone.
    app.trigger("web-3", "web 3 down").await;
    app.settle().await;
    assert_eq!(users(&app), ["alice"]);
}

#[tokio::test]
async fn bad_silences_are_refused_with_the_field_and_nothing_is_stored() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let cases = [
        (
            json!({"matchers": ["service=\"checkout\"", "host=~\"(\""], "duration": "1h", "comment": "x"}),
            "matchers[1]",
        ),
        (
            json!({"matchers": ["service checkout"], "duration": "1h", "comment": "x"}),
            "matchers[0]",
        ),
        (
            json!({"matchers": [], "duration": "1h", "comment": "x"}),
            "matchers",
        ),
        (
            json!({"matchers": ["host=~\".*\""], "duration": "1h", "comment": "x"}),
            "matchers",
        ),
        (json!({"matchers": ["a=b"], "duration": "1h"}), "comment"),
        (json!({"matchers": ["a=b"], "comment": "x"}), "ends_at"),
        (
            json!({"matchers": ["a=b"], "ends_at": "2020-01-01T00:00:00Z", "comment": "x"}),
            "ends_at",
        ),
        (
            json!({"matchers": ["a=b"], "duration": "soon", "comment": "x"}),
            "duration",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = create(&app, body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field)
                || answer["details"][0]["field"] == field,
            "{body} → {answer}"
        );
        assert_eq!(answer["details"][0]["field"], field, "{body} → {answer}");
    }
    let (status, list) = app.api_get("/api/v1/silences").await;
    assert_eq!(status, 200);
    assert_eq!(list["silences"], json!([]), "nothing stored");
    // Without the admin token: 401.
    let resp = app
        .client
        .post(format!("{}/api/v1/silences", app.url))
        .bearer_auth(KEY)
        .json(&json!({"matchers": ["a=b"], "duration": "1h", "comment": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

/// `9999-12-31T23:59:59Z`, the end of the calendar that Go clients write for
/// "never", is a valid end (kept as the latest instant Firebell can hold).
#[tokio::test]
async fn a_silence_can_end_at_the_end_of_the_calendar() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let (status, answer) = create(
        &app,
        json!({"matchers": ["a=b"], "ends_at": "9999-12-31T23:59:59Z", "comment": "forever"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert!(
        answer["silence"]["ends_at"]
            .as_str()
            .unwrap()
            .starts_with("9999-12-30"),
        "{answer}"
    );
    // A time that is not one is still refused.
    let (status, answer) = create(
        &app,
        json!({"matchers": ["a=b"], "ends_at": "9999-12-32T00:00:00Z", "comment": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
}
