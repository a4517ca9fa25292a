//! Bad input changes nothing and says what was wrong.

use crate::support::*;
use serde_json::Value;

async fn assert_nothing_stored(app: &TestApp) {
    assert!(app.all_alerts().await.is_empty());
    app.settle().await;
    assert!(app.pages().is_empty());
}

fn fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let (status, body) = app.post_events(r#"{"action":"trigger","summary":"#).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON"),
        "{body}"
    );
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_missing_or_unknown_key_is_a_401() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let event = r#"{"action":"trigger","summary":"x"}"#;
    let (status, body) = app.post_events_with_key(event, None).await;
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("missing"),
        "{body}"
    );
    let (status, body) = app.post_events_with_key(event, Some("not-the-key")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unknown integration key");
    // The admin token is not an integration key, and vice versa.
    let (status, _) = app.post_events_with_key(event, Some(ADMIN)).await;
    assert_eq!(status, 401);
    let resp = app
        .client
        .get(format!("{}/api/v1/alerts", app.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn an_unknown_action_or_missing_summary_names_the_field() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let (status, body) = app
        .post_events(r#"{"action":"explode","summary":"x"}"#)
        .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), vec!["action"]);
    assert!(body["error"].as_str().unwrap().contains("action"), "{body}");

    let (status, body) = app.post_events(r#"{"action":"trigger"}"#).await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), vec!["summary"]);

    // One bad event in a batch refuses the whole batch.
    let (status, body) = app
        .post_events(
            r#"[{"action":"trigger","summary":"fine"},{"action":"trigger","summary":"x","severity":"apocalyptic"}]"#,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), vec!["[1].severity"]);
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let (app, _dir, _sink) = spawn_app(&THREE_STEPS.replace(
        "admin_token = \"test-admin-token\"",
        "admin_token = \"test-admin-token\"\nmax_body_bytes = 4096",
    ))
    .await;
    let big = format!(
        r#"{{"action":"trigger","summary":"big","details":{{"blob":"{}"}}}}"#,
        "x".repeat(5000)
    );
    let (status, body) = app.post_events(&big).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    assert_nothing_stored(&app).await;
    // Just under the limit is fine.
    let ok = format!(
        r#"{{"action":"trigger","summary":"ok","details":{{"blob":"{}"}}}}"#,
        "x".repeat(3000)
    );
    assert_eq!(app.post_events(&ok).await.0, 202);
}

#[tokio::test]
async fn an_invalid_config_reload_keeps_the_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = dir.path().join("firebell.toml");
    let good = render_config(THREE_STEPS, &data, "unused");
    std::fs::write(&path, &good).unwrap();
    let app = spawn_app_at(&good, &data, t0(), Some(path.clone())).await;

    // Broken: a typo'd policy and a new key; neither may take effect.
    let bad = good
        .replace("policy = \"outage\"", "policy = \"outgae\"")
        .replace("test-integration-key", "new-integration-key");
    std::fs::write(&path, &bad).unwrap();
    let (status, body) = app.api_post("/-/reload", serde_json::json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(fields(&body), vec!["services[0].policy"]);
    assert!(body.to_string().contains("outgae"));
    // Still running on the old configuration.
    assert_eq!(app.trigger("k", "still works").await, 1);
    let (status, _) = app
        .post_events_with_key(
            r#"{"action":"trigger","summary":"x"}"#,
            Some("new-integration-key"),
        )
        .await;
    assert_eq!(status, 401);

    // A valid change takes effect.
    std::fs::write(
        &path,
        good.replace("test-integration-key", "new-integration-key"),
    )
    .unwrap();
    let (status, body) = app.api_post("/-/reload", serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app
        .post_events_with_key(
            r#"{"action":"trigger","summary":"x"}"#,
            Some("new-integration-key"),
        )
        .await;
    assert_eq!(status, 202);
    // Reload needs the admin token.
    let resp = app
        .client
        .post(format!("{}/-/reload", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    app.trigger("k", "Checkout down").await;
    app.settle().await;
    let get = |p: &str| app.client.get(format!("{}{p}", app.url)).send();
    assert_eq!(get("/-/healthy").await.unwrap().status().as_u16(), 200);
    assert_eq!(get("/-/ready").await.unwrap().status().as_u16(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for needle in [
        "firebell_events_received_total{action=\"trigger\"} 1",
        "firebell_alerts_open{status=\"triggered\"} 1",
        "firebell_notifications_sent_total{channel=\"console\"} 1",
        "firebell_ingest_commit_seconds_count 1",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    assert!(!metrics.contains(KEY));
    // Unknown list filters are a 400 naming the field.
    let (status, body) = app.api_get("/api/v1/alerts?status=sleeping").await;
    assert_eq!(status, 400);
    assert_eq!(fields(&body), vec!["status"]);
}

/// `label=name=value` filters the alert list through the label index: open
/// alerts only, newest first, paged like the rest; a malformed label or a
/// label filter on resolved alerts is a 400 naming `label`.
#[tokio::test]
async fn alerts_are_listed_by_label() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    for (key, team) in [("a", "db"), ("b", "db"), ("c", "web")] {
        let (s, body) = app
            .post_events(&format!(
                r#"{{"action": "trigger", "dedup_key": "{key}", "summary": "s", "labels": {{"team": "{team}"}}}}"#
            ))
            .await;
        assert_eq!(s, 202, "{body}");
    }
    let keys = |v: &Value| -> Vec<String> {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["dedup_key"].as_str().unwrap().to_string())
            .collect()
    };
    let (s, v) = app.api_get("/api/v1/alerts?label=team%3Ddb").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(keys(&v), ["b", "a"], "newest first");
    let (_, v) = app
        .api_get("/api/v1/alerts?label=team%3Ddb&label=alertname%3Da")
        .await;
    assert_eq!(
        keys(&v),
        ["a"],
        "every label; alertname is the dedup key here"
    );
    let (_, v) = app.api_get("/api/v1/alerts?label=team%3Ddb&limit=1").await;
    assert_eq!(keys(&v), ["b"]);
    let next = v["next_before"].as_i64().expect("a next page");
    let (_, v) = app
        .api_get(&format!(
            "/api/v1/alerts?label=team%3Ddb&limit=1&before={next}"
        ))
        .await;
    assert_eq!(keys(&v), ["a"]);
    let (_, v) = app
        .api_get("/api/v1/alerts?label=team%3Ddb&service=nowhere")
        .await;
    assert_eq!(keys(&v), Vec::<String>::new());

    // Resolved, an alert leaves the label filter (and stays in the plain list).
    let (s, _) = app
        .post_events(r#"{"action": "resolve", "dedup_key": "b"}"#)
        .await;
    assert_eq!(s, 202);
    let (_, v) = app.api_get("/api/v1/alerts?label=team%3Ddb").await;
    assert_eq!(keys(&v), ["a"]);
    let (_, v) = app.api_get("/api/v1/alerts?status=resolved").await;
    assert_eq!(keys(&v), ["b"]);

    for bad in [
        "/api/v1/alerts?label=team",
        "/api/v1/alerts?label=%3Ddb",
        "/api/v1/alerts?label=team%3D",
        "/api/v1/alerts?label=team%3Ddb&status=resolved",
    ] {
        let (s, body) = app.api_get(bad).await;
        assert_eq!(s, 400, "{bad}: {body}");
        assert_eq!(fields(&body), vec!["label"], "{bad}");
    }
    let (s, body) = app
        .api_get("/api/v1/alerts?label=team%3Ddb&colour=red")
        .await;
    assert_eq!(s, 400, "unknown parameters are still refused: {body}");
}

/// Every error the API gives is JSON, with what was wrong: a query string
/// that does not parse, a method a path does not take (with `Allow`), an
/// Alertmanager filter that is not a matcher (it used to match every
/// alert).
#[tokio::test]
async fn every_refusal_is_json_and_says_why() {
    let (app, _dir, _sink) = spawn_app(THREE_STEPS).await;
    let get = |path: &str| {
        app.client
            .get(format!("{}{path}", app.url))
            .bearer_auth(ADMIN)
            .send()
    };
    let r = get("/api/v1/oncall?at=2026-01-01T00:00:00Z&at=twice")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("bad query string"),
        "{body}"
    );
    let r = get("/api/v1/silences?state=active&bogus=1").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.is_ok(), "JSON");

    let r = app
        .client
        .put(format!("{}/api/v1/events", app.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("allow"));
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("method"), "{body}");

    for filter in ["%7B", "%7B%7D"] {
        let r = get(&format!("/api/v2/alerts?filter={filter}"))
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "filter={filter}");
    }

    // A request target or headers too large: JSON too, naming the limit.
    let long = "a".repeat(9 * 1024);
    let r = app
        .client
        .post(format!("{}/api/v1/events?{long}", app.url))
        .bearer_auth(KEY)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 414);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("8192 bytes"),
        "{body}"
    );
    let mut req = app
        .client
        .post(format!("{}/api/v1/events", app.url))
        .bearer_auth(KEY)
        .body("{}");
    for i in 0..70 {
        req = req.header(format!("x-extra-{i}"), "1");
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 431);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("header"), "{body}");
    let r = app
        .client
        .get(format!("{}/api/v1/alerts", app.url))
        .bearer_auth(ADMIN)
        .header("x-big", "b".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert!(r.json::<Value>().await.is_ok(), "JSON");

    assert_nothing_stored(&app).await;
}
