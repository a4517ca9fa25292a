//! The core promises, end to end over HTTP and a real SQLite database with a
//! fast-forwarded clock: dedup, escalation order and timing, early advance,
//! stop on acknowledge/resolve, restart mid-escalation.

use crate::support::*;
use firebell_store::prelude::*;
use serde_json::json;

fn users(log: &[(String, i64)]) -> Vec<&str> {
    log.iter().map(|(u, _)| u.as_str()).collect()
}

#[tokio::test]
async fn hundred_identical_triggers_make_one_alert_and_one_page() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let body = r#"{"action":"trigger","dedup_key":"disk-web1","summary":"Disk full on web1","severity":"critical"}"#;
    // 100 concurrent requests: they also share group commits.
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/events", app.url);
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(KEY)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    app.advance(mins(0)).await;
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["count"], 100);
    assert_eq!(alerts[0]["status"], "triggered");
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);
    let id = alerts[0]["id"].as_i64().unwrap();
    let kinds = app.timeline_kinds(id).await;
    // 99 repeats make one line that counts them, not 99 rows.
    assert_eq!(kinds.iter().filter(|k| *k == "deduplicated").count(), 1);
    let timeline = app.engine.store().timeline(id).await.unwrap();
    let line = timeline
        .iter()
        .find(|e| e.kind.as_str() == "deduplicated")
        .unwrap();
    assert!(
        line.message.starts_with("repeated 99× since "),
        "{}",
        line.message
    );
    assert_eq!(line.data["repeats"], 99);
    assert_eq!(kinds.iter().filter(|k| *k == "received").count(), 1);
}

#[tokio::test]
async fn nobody_answers_nine_pages_in_order_then_exhausted() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let id = app.trigger("db-down", "Database down").await;
    app.run_until(t0() + mins(120)).await;
    let expected: Vec<(String, i64)> = [
        ("alice", 0),
        ("bob", 1),
        ("carol", 3),
        ("alice", 6),
        ("bob", 7),
        ("carol", 9),
        ("alice", 12),
        ("bob", 13),
        ("carol", 15),
    ]
    .iter()
    .map(|(u, m)| (u.to_string(), *m))
    .collect();
    assert_eq!(app.page_log(), expected);
    let view = app.alert(id).await;
    assert_eq!(view["escalation"]["phase"], "exhausted");
    let exhausted = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "exhausted")
        .expect("an exhausted line");
    assert_eq!(exhausted["at"], json!((t0() + mins(18)).to_string()));
    // Still open: nobody took it.
    assert_eq!(view["alert"]["status"], "triggered");
}

const PAIR_FIRST: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users]]
id = "bob"
contacts = [ { kind = "console" } ]
[[users]]
id = "carol"
contacts = [ { kind = "console" } ]

[[policies]]
id = "outage"
repeat = 1
steps = [
  { targets = ["user:bob", "user:carol"], wait = "10m" },
  { targets = ["user:alice"], wait = "10m" },
]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

#[tokio::test]
async fn a_decline_from_every_target_advances_at_once() {
    let (app, _dir, _sink) = spawn_app(PAIR_FIRST).await;
    let id = app.trigger("k", "Checkout down").await;
    app.advance(mins(1)).await;
    assert_eq!(users(&app.page_log()), vec!["bob", "carol"]);

    let (status, _) = app
        .api_post(
            &format!("/api/v1/alerts/{id}/decline"),
            json!({"user": "bob"}),
        )
        .await;
    assert_eq!(status, 200);
    app.settle().await;
    assert_eq!(app.pages().len(), 2, "one decline of two is not enough");

    let (status, body) = app
        .api_post(
            &format!("/api/v1/alerts/{id}/decline"),
            json!({"user": "carol"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.settle().await;
    // Alice is paged at once, at minute 1, not at minute 10.
    assert_eq!(
        app.page_log(),
        vec![
            ("bob".to_string(), 0),
            ("carol".to_string(), 0),
            ("alice".to_string(), 1)
        ]
    );
    let kinds = app.timeline_kinds(id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "answered").count(), 2);

    // A decline needs to say who passes.
    let (status, body) = app
        .api_post(&format!("/api/v1/alerts/{id}/decline"), json!({}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["details"][0]["field"], "user");
}

#[tokio::test]
async fn an_acknowledge_stops_all_further_pages() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let id = app.trigger("k", "Checkout down").await;
    app.advance(mins(2)).await;
    assert_eq!(users(&app.page_log()), vec!["alice", "bob"]);

    let (status, body) = app
        .api_post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            json!({"user": "bob"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["status"], "acknowledged");
    app.advance(mins(180)).await;
    assert_eq!(users(&app.page_log()), vec!["alice", "bob"]);
    let view = app.alert(id).await;
    assert_eq!(view["escalation"]["phase"], "stopped");
    assert!(
        view["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"] == "acknowledged by bob")
    );
    // Acknowledging twice is harmless; acknowledging an unknown alert is a 404.
    let (status, _) = app
        .api_post(&format!("/api/v1/alerts/{id}/acknowledge"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .api_post("/api/v1/alerts/99999/acknowledge", json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_acknowledge_from_the_source_stops_pages_too() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    app.trigger("k", "Checkout down").await;
    app.advance(mins(0)).await;
    let (status, body) = app
        .post_events(r#"{"action":"acknowledge","dedup_key":"k"}"#)
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["alerts"][0]["status"], "acknowledged");
    app.advance(mins(60)).await;
    assert_eq!(users(&app.page_log()), vec!["alice"]);
}

#[tokio::test]
async fn a_resolve_from_the_source_stops_pages_and_a_new_trigger_opens_a_new_alert() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let first = app.trigger("k", "Checkout down").await;
    app.advance(mins(1)).await;
    assert_eq!(users(&app.page_log()), vec!["alice", "bob"]);
    let (status, body) = app
        .post_events(r#"{"action":"resolve","dedup_key":"k"}"#)
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["alerts"][0]["id"], first);
    assert_eq!(body["alerts"][0]["status"], "resolved");
    app.advance(mins(60)).await;
    assert_eq!(users(&app.page_log()), vec!["alice", "bob"]);

    let second = app.trigger("k", "Checkout down again").await;
    assert_ne!(second, first);
    app.advance(mins(0)).await;
    assert_eq!(users(&app.page_log()), vec!["alice", "bob", "alice"]);
    // Resolving what is not open answers, and changes nothing.
    let (status, body) = app
        .post_events(r#"{"action":"resolve","dedup_key":"never-seen"}"#)
        .await;
    assert_eq!(status, 202);
    assert!(body["alerts"][0]["id"].is_null());
}

#[tokio::test]
async fn a_restart_mid_escalation_keeps_the_original_due_time_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = render_config(THREE_STEPS, &data, "unused");

    let app = spawn_app_at(&config, &data, t0(), None).await;
    let id = app.trigger("k", "Checkout down").await;
    app.run_until(t0() + mins(1) + jiff::SignedDuration::from_secs(30))
        .await;
    assert_eq!(app.page_log(), vec![("alice".into(), 0), ("bob".into(), 1)]);
    app.stop().await;

    // Start again on the same data, 30 s later: nothing is sent again...
    let app = spawn_app_at(&config, &data, t0() + mins(2), None).await;
    app.settle().await;
    assert!(app.pages().is_empty(), "{:?}", app.page_log());
    // ...and carol is paged at bob's step end, minute 3, not earlier or later.
    app.run_until(t0() + mins(3) - jiff::SignedDuration::from_secs(1))
        .await;
    assert!(app.pages().is_empty());
    app.run_until(t0() + mins(3)).await;
    assert_eq!(app.page_log(), vec![("carol".into(), 3)]);
    app.stop().await;

    // Down for long: the overdue step fires at once on start, once.
    let app = spawn_app_at(&config, &data, t0() + mins(30), None).await;
    app.settle().await;
    assert_eq!(app.page_log(), vec![("alice".into(), 30)]);
    let view = app.alert(id).await;
    assert_eq!(view["escalation"]["loop"], 2);
    assert_eq!(view["escalation"]["step"], 1);
    let delivered = view["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "delivered")
        .count();
    assert_eq!(delivered, 4, "alice, bob, carol, alice: each once");
}

/// An alert's answer carries a bounded timeline: the newest 100 lines and a
/// cursor to page back; acknowledging answers with the same bounded view;
/// a bad limit is refused naming the field.
#[tokio::test]
async fn a_long_timeline_is_answered_a_page_at_a_time() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let id = app.trigger("k", "Checkout down").await;
    let lines: Vec<firebell_core::alert::TimelineEntry> = (0..300)
        .map(|i| {
            firebell_core::alert::TimelineEntry::new(
                t0(),
                firebell_core::alert::TimelineKind::Delivered,
                format!("provider line {i}"),
            )
        })
        .collect();
    app.engine.store().add_timeline(id, lines).await.unwrap();

    let view = app.alert(id).await;
    let tl = view["timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 100);
    assert_eq!(tl[99]["message"], "provider line 299", "newest last");
    assert_eq!(tl[0]["message"], "provider line 200");
    let mut before = view["timeline_next_before"].as_i64().unwrap();
    let mut seen = tl.len();
    loop {
        let (status, page) = app
            .api_get(&format!(
                "/api/v1/alerts/{id}?timeline_before={before}&timeline_limit=1000"
            ))
            .await;
        assert_eq!(status, 200);
        seen += page["timeline"].as_array().unwrap().len();
        match page["timeline_next_before"].as_i64() {
            Some(b) => before = b,
            None => break,
        }
    }
    assert_eq!(seen, 302, "every line once: received, notified + 300");

    let (status, answer) = app
        .api_post(&format!("/api/v1/alerts/{id}/acknowledge"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["timeline"].as_array().unwrap().len(), 100);
    assert_eq!(answer["alert"]["status"], "acknowledged");

    for bad in ["0", "1001", "x"] {
        let (status, body) = app
            .api_get(&format!("/api/v1/alerts/{id}?timeline_limit={bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.to_string().contains("timeline_limit"), "{body}");
    }
    app.stop().await;
}

/// `on_exhausted = "policy:ID"`: a policy that runs out hands the alert to
/// another, from its first step, instead of ending; the managers' policy
/// runs out for good (and only then is the escalation exhausted).
const HANDED_ON: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users]]
id = "bob"
contacts = [ { kind = "console" } ]
[[users]]
id = "carol"
contacts = [ { kind = "console" } ]

[[policies]]
id = "team"
repeat = 2
on_exhausted = "policy:managers"
steps = [ { targets = ["user:alice"], wait = "5m" } ]
[[policies]]
id = "managers"
steps = [ { targets = ["user:bob"], wait = "5m" }, { targets = ["user:carol"], wait = "5m" } ]

[[services]]
id = "checkout"
policy = "team"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

#[tokio::test]
async fn a_policy_that_runs_out_hands_the_alert_to_the_next_policy() {
    let (app, _dir, _sink) = spawn_app(HANDED_ON).await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.advance(mins(30)).await;
    assert_eq!(
        app.page_log(),
        vec![
            ("alice".to_string(), 0),
            ("alice".to_string(), 5),
            ("bob".to_string(), 10),
            ("carol".to_string(), 15),
        ]
    );
    let timeline = app.engine.store().timeline(id).await.unwrap();
    let messages: Vec<&str> = timeline.iter().map(|e| e.message.as_str()).collect();
    assert!(
        messages.contains(
            &"policy team ran 2 time(s) and nobody accepted: escalating to policy managers"
        ),
        "{messages:#?}"
    );
    let esc = app.engine.store().escalation(id).await.unwrap().unwrap();
    assert_eq!(esc.policy, "managers");
    assert_eq!(esc.phase.as_str(), "exhausted");
}

#[test]
fn on_exhausted_names_a_policy_and_never_loops() {
    let bad = HANDED_ON.replace(
        "id = \"managers\"\n",
        "id = \"managers\"\non_exhausted = \"policy:team\"\n",
    );
    let errs = try_parse_config(&render_config(&bad, std::path::Path::new("/tmp/x"), ""))
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains(
            "policies[0].on_exhausted: escalating on runs in a circle: team → managers → team"
        ),
        "{errs}"
    );
    for (value, want) in [
        (
            "policy:nobody",
            "policies[0].on_exhausted: no policy named \"nobody\"",
        ),
        (
            "managers",
            "policies[0].on_exhausted: \"managers\" is not a policy to escalate to",
        ),
    ] {
        let bad = HANDED_ON.replace("policy:managers", value);
        let errs = try_parse_config(&render_config(&bad, std::path::Path::new("/tmp/x"), ""))
            .unwrap_err()
            .to_string();
        assert!(errs.contains(want), "{want:?} not in {errs}");
    }
}

/// `[database] keep_resolved`: an alert resolved longer ago than that is
/// gone (API 404) after the minute's pass; an open one and a recent one stay.
#[tokio::test]
async fn resolved_alerts_older_than_keep_resolved_are_deleted() {
    let config = THREE_STEPS.replace(
        "admin_token = \"test-admin-token\"\n",
        "admin_token = \"test-admin-token\"\n\n[database]\nkeep_resolved = \"1h\"\n",
    );
    let (app, _dir, _sink) = spawn_app(&config).await;
    let old = app.trigger("old", "Disk full on web1").await;
    let open = app.trigger("open", "Disk full on web2").await;
    let (status, _) = app
        .api_post(&format!("/api/v1/alerts/{old}/resolve"), json!({}))
        .await;
    assert_eq!(status, 200);
    app.advance(mins(30)).await;
    let recent = app.trigger("recent", "Disk full on web3").await;
    app.api_post(&format!("/api/v1/alerts/{recent}/resolve"), json!({}))
        .await;
    assert_eq!(app.engine.prune_resolved_once().await.unwrap(), 0);
    app.advance(mins(40)).await;
    assert_eq!(app.engine.prune_resolved_once().await.unwrap(), 1);
    let (status, _) = app.api_get(&format!("/api/v1/alerts/{old}")).await;
    assert_eq!(status, 404);
    for id in [open, recent] {
        let (status, _) = app.api_get(&format!("/api/v1/alerts/{id}")).await;
        assert_eq!(status, 200, "alert {id}");
    }
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("firebell_alerts_pruned_total 1"),
        "{metrics}"
    );
}
