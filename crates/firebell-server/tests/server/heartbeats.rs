//! Heartbeats (`/api/v1/heartbeat`) and the traffic-manager endpoint
//! (`/api/v1/vtm`): silence triggers, the next ping resolves, a restart does
//! not trigger, and bad requests change nothing.

use crate::support::*;
use serde_json::{Value, json};

const HB_KEY: &str = "heartbeat-key-nightly";
const VTM_KEY: &str = "vtm-key-for-tm-cluster";

const CONFIG: &str = concat!(
    server_section!(),
    r#"max_body_bytes = 4096

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "backup"
policy = "p"
integrations = [
  { kind = "heartbeat", key = "heartbeat-key-nightly", name = "nightly-backup", interval = "1h", grace = "5m" },
  { kind = "generic", key = "test-integration-key" },
]

[[services]]
id = "web"
policy = "p"
integrations = [ { kind = "vtm", key = "vtm-key-for-tm-cluster" } ]
"#
);

async fn ping_get(app: &TestApp, key: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}/api/v1/heartbeat/{key}", app.url))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post_raw(app: &TestApp, path: &str, key: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn silence_past_interval_and_grace_triggers_once_and_the_next_ping_resolves() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    app.settle().await; // the start counts as a ping, at t0

    app.advance(mins(64)).await;
    assert!(app.all_alerts().await.is_empty(), "not late yet");

    // A ping at t0+64m moves the deadline to t0+64m+1h5m.
    let (status, body) = ping_get(&app, HB_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["heartbeat"], "nightly-backup");
    assert_eq!(body["overdue_at"], "2026-03-01T11:09:00Z");
    assert_eq!(body["resolved"], false);

    app.advance(mins(64)).await;
    assert!(app.all_alerts().await.is_empty(), "the ping counted");
    app.advance(mins(2)).await;
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["service"], "backup");
    assert_eq!(a["status"], "triggered");
    assert_eq!(a["dedup_key"], "heartbeat:backup:nightly-backup");
    assert_eq!(a["summary"], "No heartbeat from nightly-backup for 1h 5m");
    assert_eq!(a["severity"], "error");
    assert!(
        app.pages().iter().any(|p| p.user == "alice"),
        "somebody is paged: {:?}",
        app.pages()
    );

    // Hours of silence: still the one alert, raised once.
    app.advance(mins(300)).await;
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["count"], 1);

    // The job runs again (POST with the key as a bearer token): resolved.
    let (status, body) = post_raw(&app, "/api/v1/heartbeat", Some(HB_KEY), Vec::new()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resolved"], true);
    let alerts = app.all_alerts().await;
    assert_eq!(alerts[0]["status"], "resolved");

    // And late again later: a new alert.
    app.advance(mins(66)).await;
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["status"], "triggered");
}

#[tokio::test]
async fn a_restart_counts_as_a_ping_and_a_ping_after_it_resolves_what_was_open() {
    let (app, dir, _sink) = spawn_app(CONFIG).await;
    app.settle().await;
    app.advance(mins(70)).await;
    assert_eq!(app.all_alerts().await.len(), 1, "late: triggered");
    let data = app.data_dir.clone();
    app.stop().await;

    // Restarted a day later: no ping for a day, but that is the restart's
    // doing, not the job's; no new trigger until interval + grace from now.
    let text = render_config(CONFIG, &data, "http://127.0.0.1:9/hook");
    let later = t0() + mins(24 * 60);
    let app = spawn_app_at(&text, &data, later, None).await;
    app.settle().await;
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["count"], 1, "no false trigger on restart");

    // The first ping after the restart closes the alert left open.
    let (status, body) = ping_get(&app, HB_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resolved"], true);
    assert_eq!(app.all_alerts().await[0]["status"], "resolved");
    drop(dir);
}

#[tokio::test]
async fn wrong_keys_and_oversize_pings_are_refused_and_do_not_count() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    app.settle().await;

    let (status, body) = ping_get(&app, "no-such-heartbeat-key").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "no heartbeat has this key");
    // A real key of another kind does not open a heartbeat either.
    let (status, _) = ping_get(&app, KEY).await;
    assert_eq!(status, 404);
    let (status, body) = post_raw(&app, "/api/v1/heartbeat", Some(VTM_KEY), vec![]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("another kind"));
    let (status, _) = post_raw(&app, "/api/v1/heartbeat", None, vec![]).await;
    assert_eq!(status, 401);

    // A body over server.max_body_bytes: 413, and the ping does not count.
    app.advance(mins(60)).await;
    let (status, body) = post_raw(
        &app,
        &format!("/api/v1/heartbeat/{HB_KEY}"),
        None,
        vec![b'x'; 10_000],
    )
    .await;
    assert_eq!(status, 413, "{body}");
    app.advance(mins(6)).await;
    assert_eq!(
        app.all_alerts().await.len(),
        1,
        "refused pings do not hold off the alert"
    );
}

#[test]
fn heartbeat_settings_are_checked_with_their_path() {
    let text = r#"
[[users]]
id = "a"
contacts = [ { kind = "console" } ]
[[policies]]
id = "p"
steps = [ { targets = ["user:a"], wait = "1m" } ]
[[services]]
id = "s"
policy = "p"
integrations = [
  { kind = "heartbeat", key = "heartbeat-key-1", name = "job" },
  { kind = "heartbeat", key = "heartbeat-key-2", name = "job", interval = "soon" },
  { kind = "generic", key = "generic-key-123", interval = "1h" },
  { kind = "vtm", key = "vtm-key-12345" },
]
"#;
    let errs = try_parse_config(text).unwrap_err();
    let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "services[0].integrations[0].interval",
            "services[0].integrations[1].interval",
            "services[0].integrations[1].name",
            "services[0].integrations[2].interval",
        ],
        "{errs}"
    );
}

#[tokio::test]
async fn the_vtm_endpoint_refuses_bad_requests_and_stores_nothing() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    let good = json!({"eventtype": "SMS Events", "line": "SERIOUS\tpools/web\tpooldied\tPool has no back-end nodes responding"});
    let good = serde_json::to_vec(&good).unwrap();

    let (status, body) = post_raw(&app, "/api/v1/vtm", None, good.clone()).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = post_raw(&app, "/api/v1/vtm", Some("wrong-key-wrong"), good.clone()).await;
    assert_eq!(status, 401);
    let (status, body) = post_raw(&app, "/api/v1/vtm", Some(KEY), good.clone()).await;
    assert_eq!(status, 401, "a generic key is not a vtm key: {body}");
    let (status, body) = post_raw(
        &app,
        "/api/v1/vtm",
        Some(VTM_KEY),
        b"SERIOUS\tpools/web".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{body}"
    );
    let (status, body) = post_raw(
        &app,
        "/api/v1/vtm",
        Some(VTM_KEY),
        br#"{"eventtype":"x"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["details"][0]["field"], "line", "{body}");
    let (status, body) = post_raw(
        &app,
        "/api/v1/vtm",
        Some(VTM_KEY),
        br#"{"line":"SERIOUS pools/web"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("LEVEL<TAB>"),
        "{body}"
    );
    let big = serde_json::to_vec(&json!({"line": format!("INFO\ta/b\tt\t{}", "x".repeat(5000))}))
        .unwrap();
    let (status, _) = post_raw(&app, "/api/v1/vtm", Some(VTM_KEY), big).await;
    assert_eq!(status, 413);
    assert!(app.all_alerts().await.is_empty());

    let (status, body) = post_raw(&app, "/api/v1/vtm", Some(VTM_KEY), good).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["alerts"][0]["action"], "trigger");
    assert_eq!(body["alerts"][0]["dedup_key"], "vtm:pools/web:pooldied");
    assert_eq!(app.all_alerts().await.len(), 1);
}
