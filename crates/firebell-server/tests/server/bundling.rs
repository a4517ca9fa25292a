//! Grouping and bundling: alerts of a service with `group_window` page as one
//! bundled page per person, delivered over a real webhook to a local
//! receiver; each alert's timeline says it was included.

use crate::support::*;
use jiff::SignedDuration;
use serde_json::Value;

const GROUPED: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "webhook", url = "{SINK}" } ]
[[users]]
id = "bob"
contacts = [ { kind = "webhook", url = "{SINK}" } ]

[[policies]]
id = "outage"
repeat = 1
steps = [ { targets = ["user:alice", "user:bob"], wait = "30m" } ]

[[services]]
id = "checkout"
name = "Checkout web"
policy = "outage"
group_window = "10s"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

fn timeline_messages(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

/// A grouped alert's pages are written waiting out the window with the
/// alert itself: pending (no node holds them), their line already there.
#[tokio::test]
async fn a_grouped_alerts_pages_are_written_waiting_for_the_window() {
    let (app, _dir, sink) = spawn_app(GROUPED).await;
    let id = app.trigger("disk-0", "Disk full on web0").await;
    let view = app.alert(id).await;
    let pages = view["notifications"].as_array().unwrap();
    assert_eq!(pages.len(), 2, "{view:#}");
    for n in pages {
        assert_eq!(n["status"], "pending", "{n}");
    }
    let until = (t0() + SignedDuration::from_secs(10)).to_string();
    let lines = timeline_messages(&view);
    for who in ["alice", "bob"] {
        let waits = format!(
            "page to {who} via webhook waits until {until} for more alerts of Checkout web (group window 10s)"
        );
        assert_eq!(
            lines.iter().filter(|l| **l == waits).count(),
            1,
            "{lines:#?}"
        );
    }
    app.settle().await;
    assert_eq!(
        timeline_messages(&app.alert(id).await),
        lines,
        "settling adds nothing"
    );
    assert!(sink.bodies().is_empty());
}

#[tokio::test]
async fn fifty_alerts_in_ten_seconds_page_each_person_once() {
    let (app, _dir, sink) = spawn_app(GROUPED).await;
    let mut ids = Vec::new();
    for i in 0..50 {
        app.clock.set(t0() + SignedDuration::from_millis(200 * i));
        ids.push(
            app.trigger(&format!("disk-{i}"), &format!("Disk full on web{i}"))
                .await,
        );
        app.settle().await;
    }
    assert!(
        sink.bodies().is_empty(),
        "nothing is sent inside the group window"
    );
    let first = timeline_messages(&app.alert(ids[0]).await);
    let until = (t0() + SignedDuration::from_secs(10)).to_string();
    let waits = format!(
        "page to alice via webhook waits until {until} for more alerts of Checkout web (group window 10s)"
    );
    assert!(first.contains(&waits), "{first:#?}");

    app.run_until(t0() + SignedDuration::from_secs(30)).await;
    let bodies = sink.bodies();
    assert_eq!(bodies.len(), 2, "one bundled page per person: {bodies:#?}");
    let mut recipients: Vec<_> = bodies
        .iter()
        .map(|b| b["recipient"].as_str().unwrap())
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["alice", "bob"]);
    for b in &bodies {
        let a = &b["alert"];
        assert_eq!(
            a["summary"], "Checkout web: 50 alerts, newest: Disk full on web49",
            "{b}"
        );
        let listed = a["details"]["alerts"].as_array().unwrap();
        assert_eq!(listed.len(), 50);
        // Newest first, oldest last, each with its id and summary.
        assert_eq!(listed[0]["id"], ids[49]);
        assert_eq!(listed[49]["id"], ids[0]);
        assert_eq!(listed[49]["summary"], "Disk full on web0");
    }
    // Every alert's timeline says it went out in a bundle, to both people.
    for id in &ids {
        let view = app.alert(*id).await;
        let lines = timeline_messages(&view);
        for who in ["alice", "bob"] {
            assert!(
                lines.iter().any(|l| l.contains("bundled page #")
                    && l.contains(&format!("to {who}"))
                    && l.contains("50 alerts")),
                "alert {id}: {lines:#?}"
            );
        }
        for n in view["notifications"].as_array().unwrap() {
            assert_eq!(n["status"], "delivered", "alert {id}: {n}");
        }
    }

    // One more alert after the bundle: exactly one follow-up page each.
    let later = app.trigger("cpu-web1", "CPU hot on web1").await;
    app.advance(SignedDuration::from_secs(5)).await;
    assert_eq!(sink.bodies().len(), 2, "the follow-up waits out its window");
    app.advance(SignedDuration::from_mins(5)).await;
    let bodies = sink.bodies();
    assert_eq!(bodies.len(), 4, "{bodies:#?}");
    for b in &bodies[2..] {
        assert_eq!(b["alert"]["id"], later);
        assert_eq!(b["alert"]["summary"], "CPU hot on web1");
    }
}

#[tokio::test]
async fn alerts_of_another_service_are_not_bundled_in() {
    let config = GROUPED.to_string()
        + r#"
[[services]]
id = "billing"
name = "Billing"
policy = "outage"
integrations = [ { kind = "generic", key = "billing-integration-key" } ]
"#;
    let (app, _dir, sink) = spawn_app(&config).await;
    let a = app.trigger("disk-1", "Disk full on web1").await;
    let b = app.trigger("disk-2", "Disk full on web2").await;
    let (status, body) = app
        .post_events_with_key(
            r#"{"action":"trigger","dedup_key":"inv","summary":"Invoices stuck","severity":"critical"}"#,
            Some("billing-integration-key"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // billing has no group window: its pages go out at once, alone.
    app.settle().await;
    let bodies = sink.bodies();
    assert_eq!(bodies.len(), 2);
    assert!(
        bodies
            .iter()
            .all(|x| x["alert"]["summary"] == "Invoices stuck")
    );
    app.advance(SignedDuration::from_secs(15)).await;
    let bodies = sink.bodies();
    assert_eq!(bodies.len(), 4, "{bodies:#?}");
    for x in &bodies[2..] {
        assert_eq!(
            x["alert"]["summary"],
            format!("Checkout web: 2 alerts, newest: Disk full on web2 (#{b} #{a})")
        );
    }
}

#[tokio::test]
async fn an_acknowledged_alert_is_left_out_of_the_bundle() {
    let (app, _dir, sink) = spawn_app(GROUPED).await;
    let a = app.trigger("disk-1", "Disk full on web1").await;
    let b = app.trigger("disk-2", "Disk full on web2").await;
    let c = app.trigger("disk-3", "Disk full on web3").await;
    app.settle().await;
    let (status, body) = app
        .api_post(
            &format!("/api/v1/alerts/{b}/acknowledge"),
            serde_json::json!({"user": "alice"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.advance(SignedDuration::from_secs(15)).await;
    let bodies = sink.bodies();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    for x in &bodies {
        assert_eq!(
            x["alert"]["summary"],
            format!("Checkout web: 2 alerts, newest: Disk full on web3 (#{c} #{a})")
        );
    }
    let view = app.alert(b).await;
    assert!(
        !timeline_messages(&view)
            .iter()
            .any(|l| l.contains("bundled page"))
    );
}

const FALLBACK: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "webhook", url = "{SINK}" }, { kind = "console" } ]

[[policies]]
id = "outage"
repeat = 1
steps = [ { targets = ["user:alice"], wait = "30m" } ]

[[services]]
id = "checkout"
name = "Checkout web"
policy = "outage"
group_window = "10s"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

#[tokio::test]
async fn a_failed_bundle_moves_every_alert_to_the_next_contact_method() {
    let (app, _dir, sink) = spawn_app(FALLBACK).await;
    sink.set_status(400);
    let ids = [
        app.trigger("disk-1", "Disk full on web1").await,
        app.trigger("disk-2", "Disk full on web2").await,
        app.trigger("disk-3", "Disk full on web3").await,
    ];
    app.advance(SignedDuration::from_secs(11)).await;
    assert_eq!(sink.bodies().len(), 1, "one bundled attempt");
    for id in ids {
        let view = app.alert(id).await;
        let lines = timeline_messages(&view);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("bundled page #") && l.contains("failed for good")),
            "alert {id}: {lines:#?}"
        );
        assert_eq!(view["notifications"][0]["status"], "failed");
    }
    // Each alert moved on to alice's console; those pages are grouped too.
    app.advance(SignedDuration::from_secs(30)).await;
    let pages = app.pages();
    assert_eq!(pages.len(), 1, "{pages:#?}");
    assert!(pages[0].line.contains("3 alerts"), "{}", pages[0].line);
    for id in ids {
        let view = app.alert(id).await;
        let ns = view["notifications"].as_array().unwrap();
        assert_eq!(ns.len(), 2);
        assert_eq!(ns[1]["status"], "delivered", "alert {id}: {view}");
    }
}
