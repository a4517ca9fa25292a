//! Prometheus and Alertmanager talking to Firebell: the real Prometheus 2.42
//! sends to /api/v2/alerts; fingerprints equal the real Alertmanager's; the
//! webhook receiver; Alertmanager-style answers to bad input.

use crate::support::*;
use firebell_store::AlertStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

const KEY: &str = "alertmanager-integration-key";

const AM_CONFIG: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "infra"
policy = "p"
integrations = [ { kind = "alertmanager", key = "alertmanager-integration-key" } ]
"#
);

async fn spawn_now() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text = render_config(AM_CONFIG, &data, "unused");
    // Prometheus stamps alerts with real time; the manual clock starts there.
    let app = spawn_app_at(&text, &data, jiff::Timestamp::now(), None).await;
    (app, dir)
}

fn write_rules(path: &std::path::Path, firing: bool) {
    let expr = if firing { "vector(1)" } else { "vector(1) > 2" };
    std::fs::write(
        path,
        format!(
            "groups:\n- name: firebell-test\n  interval: 1s\n  rules:\n  - alert: AlwaysFiring\n    expr: {expr}\n    labels:\n      severity: critical\n    annotations:\n      summary: Always firing\n"
        ),
    )
    .unwrap();
}

/// The real Prometheus, evaluating `rules` (written firing) every second and
/// sending to `app` through its Alertmanager API v2 with the integration
/// key, re-sending every 2 s.
fn start_prometheus(
    prometheus: &std::path::Path,
    app: &TestApp,
    dir: &std::path::Path,
    rules: &std::path::Path,
) -> ChildGuard {
    let port = app.url.rsplit(':').next().unwrap().to_string();
    write_rules(rules, true);
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n- {}\nalerting:\n  alertmanagers:\n  - api_version: v2\n    authorization:\n      credentials: {KEY}\n    static_configs:\n    - targets: ['127.0.0.1:{port}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let prom_port = free_port();
    ChildGuard(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--rules.alert.resend-delay=2s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_alerts_create_one_alert_and_resolve_it() {
    let Some(prometheus) = program("prometheus") else {
        return;
    };
    let (app, dir) = spawn_now().await;
    let rules = dir.path().join("rules.yml");
    let prom = start_prometheus(&prometheus, &app, dir.path(), &rules);

    let alert = eventually(60, "Prometheus's alert", || async {
        app.all_alerts().await.into_iter().next()
    })
    .await;
    assert_eq!(alert["labels"]["alertname"], "AlwaysFiring");
    assert_eq!(alert["summary"], "Always firing");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["status"], "triggered");
    let labels: BTreeMap<String, String> = serde_json::from_value(alert["labels"].clone()).unwrap();
    assert_eq!(
        alert["dedup_key"],
        firebell_ingest::alertmanager::fingerprint(&labels)
    );
    // Resends (every 2 s) land on the same alert.
    eventually(30, "a resend", || async {
        let a = app.all_alerts().await;
        (a[0]["count"].as_i64().unwrap() >= 2).then_some(())
    })
    .await;
    assert_eq!(app.all_alerts().await.len(), 1);

    // The rule stops firing: Prometheus sends it resolved.
    write_rules(&rules, false);
    let pid = prom.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    eventually(60, "the resolve", || async {
        // The manual clock stands in for the real one here: keep it current,
        // since "endsAt has passed" is judged against it.
        app.clock.set(jiff::Timestamp::now());
        let a = app.all_alerts().await;
        (a.len() == 1 && a[0]["status"] == "resolved").then_some(())
    })
    .await;
    drop(prom);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprints_equal_the_real_alertmanagers() {
    let Some(alertmanager) = program("prometheus-alertmanager") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("am.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: none\nreceivers:\n- name: none\n",
    )
    .unwrap();
    let port = free_port();
    let _am = ChildGuard(
        Command::new(alertmanager)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let sets = [
        json!({"alertname": "HostDown"}),
        json!({"alertname": "DiskFull", "instance": "db1:9100", "severity": "critical"}),
        json!({"job": "api", "alertname": "Latency", "le": "0.5", "zone": "eu-west-1a"}),
        json!({"alertname": "Unicode", "team": "équipe-π", "x": "a\u{00ff}b"}),
    ];
    let body: Vec<Value> = sets.iter().map(|l| json!({"labels": l})).collect();
    eventually(30, "Alertmanager to start", || async {
        let r = client
            .post(format!("{url}/api/v2/alerts"))
            .json(&body)
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let got: Vec<Value> = client
        .get(format!("{url}/api/v2/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got.len(), sets.len());
    for a in got {
        let labels: BTreeMap<String, String> = serde_json::from_value(a["labels"].clone()).unwrap();
        assert_eq!(
            a["fingerprint"].as_str().unwrap(),
            firebell_ingest::alertmanager::fingerprint(&labels),
            "labels {labels:?}"
        );
    }
}

async fn post(app: &TestApp, path: &str, key: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn bad_alertmanager_input_is_refused_like_alertmanager_does() {
    let (app, _dir) = spawn_now().await;
    let good = r#"[{"labels":{"alertname":"A"}}]"#;
    assert_eq!(post(&app, "/api/v2/alerts", None, good).await.0, 401);
    assert_eq!(
        post(&app, "/api/v2/alerts", Some("wrong-key-123"), good)
            .await
            .0,
        401
    );
    let (status, body) = post(&app, "/api/v2/alerts", Some(KEY), "[{").await;
    assert_eq!(status, 400);
    assert!(
        body.is_string(),
        "Alertmanager answers errors as a JSON string: {body}"
    );
    let (status, _) = post(&app, "/api/v2/alerts", Some(KEY), r#"{"labels":{}}"#).await;
    assert_eq!(status, 400);
    assert!(app.all_alerts().await.is_empty());

    // Best effort: the valid alert is kept, the invalid one reported.
    let (status, body) = post(
        &app,
        "/api/v2/alerts",
        Some(KEY),
        r#"[{"labels":{"alertname":"Kept"}},{"labels":{}}]"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.as_str().unwrap().contains("at least one label pair"),
        "{body}"
    );
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["summary"], "Kept");

    // Basic auth with the key as the password works too.
    let resp = app
        .client
        .post(format!("{}/api/v2/alerts", app.url))
        .basic_auth("prometheus", Some(KEY))
        .json(&json!([{"labels": {"alertname": "Basic"}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn the_webhook_receiver_triggers_and_resolves_by_fingerprint() {
    let (app, _dir) = spawn_now().await;
    let firing = json!({"version": "4", "status": "firing", "receiver": "firebell", "groupKey": "{}:{}",
        "alerts": [{"status": "firing", "labels": {"alertname": "QueueStuck", "queue": "mail"},
                    "annotations": {"description": "mail queue stuck"},
                    "startsAt": "2026-01-01T00:00:00Z", "fingerprint": "ignored"}]});
    let (status, body) = post(&app, "/hooks/alertmanager", Some(KEY), &firing.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["summary"], "mail queue stuck");
    let mut resolved = firing.clone();
    resolved["alerts"][0]["status"] = json!("resolved");
    resolved["alerts"][0]["endsAt"] = json!("2026-01-01T00:10:00Z");
    let (status, _) = post(
        &app,
        "/hooks/alertmanager",
        Some(KEY),
        &resolved.to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.all_alerts().await[0]["status"], "resolved");
    let (status, _) = post(
        &app,
        "/hooks/alertmanager",
        Some(KEY),
        r#"{"version":"3","alerts":[]}"#,
    )
    .await;
    assert_eq!(status, 400);
}

/// The Alertmanager endpoints take the limits every ingest format shares:
/// at most 64 labels, label values of at most 4,096 characters, and
/// annotations of at most 64 KiB (10,001 labels or a 900 KB annotation
/// used to be accepted, and then broke every program page).
#[tokio::test]
async fn alertmanager_alerts_share_the_ingest_limits() {
    let (app, _dir) = spawn_now().await;
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), json!("Many"));
    for i in 0..64 {
        labels.insert(format!("l{i}"), json!("v"));
    }
    let too_many = json!([{ "labels": labels }]).to_string();
    let (status, body) = post(&app, "/api/v2/alerts", Some(KEY), &too_many).await;
    assert_eq!(status, 400);
    assert!(
        body.as_str().unwrap().contains("more than 64 labels"),
        "{body}"
    );
    let long_value = json!([{ "labels": { "alertname": "Long", "blob": "x".repeat(4097) } }]);
    let (status, body) = post(&app, "/api/v2/alerts", Some(KEY), &long_value.to_string()).await;
    assert_eq!(status, 400);
    assert!(body.as_str().unwrap().contains("labels.blob"), "{body}");
    let big_note = json!([{ "labels": { "alertname": "Big" },
        "annotations": { "description": "y".repeat(70 * 1024) } }]);
    let (status, body) = post(&app, "/api/v2/alerts", Some(KEY), &big_note.to_string()).await;
    assert_eq!(status, 400);
    assert!(body.as_str().unwrap().contains("annotations"), "{body}");
    let webhook = json!({"version": "4", "status": "firing", "receiver": "firebell", "groupKey": "{}:{}",
        "alerts": [{"status": "firing", "labels": { "alertname": "Big" },
                    "annotations": { "description": "y".repeat(70 * 1024) }}]});
    let (status, _) = post(&app, "/hooks/alertmanager", Some(KEY), &webhook.to_string()).await;
    assert_eq!(status, 400);
    // A webhook alert is "firing" or "resolved"; anything else is refused,
    // not paged for as firing.
    for bad in ["RESOLVED", "bogus"] {
        let webhook = json!({"version": "4", "status": "firing", "receiver": "firebell", "groupKey": "{}:{}",
            "alerts": [{"status": bad, "labels": { "alertname": "Odd" }}]});
        let (status, body) =
            post(&app, "/hooks/alertmanager", Some(KEY), &webhook.to_string()).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body.to_string().contains("firing"), "{body}");
    }
    assert!(app.all_alerts().await.is_empty(), "nothing was recorded");
}

/// Prometheus' rule is deleted: it stops sending, and the alert resolves once
/// the last send's `endsAt` passes (what Alertmanager does), not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_prometheus_stops_sending_resolves_when_its_ends_at_passes() {
    let Some(prometheus) = program("prometheus") else {
        return;
    };
    let (app, dir) = spawn_now().await;
    let rules = dir.path().join("rules.yml");
    let prom = start_prometheus(&prometheus, &app, dir.path(), &rules);
    eventually(60, "a resend of Prometheus's alert", || async {
        let a = app.all_alerts().await;
        (a.len() == 1 && a[0]["count"].as_i64().unwrap() >= 2).then_some(())
    })
    .await;
    // Alertmanager's own API shows the announced end, as Alertmanager would.
    let resp = app
        .client
        .get(format!("{}/api/v2/alerts", app.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let v2: Value = resp.json().await.unwrap();
    let ends_at: jiff::Timestamp = v2[0]["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(
        ends_at > jiff::Timestamp::now(),
        "endsAt {ends_at} is ahead"
    );

    // The rule is deleted: Prometheus reloads and sends nothing more.
    std::fs::write(&rules, "groups: []\n").unwrap();
    let pid = prom.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut last = app.all_alerts().await[0]["count"].as_i64().unwrap();
    for tries in 0.. {
        assert!(
            tries < 12,
            "Prometheus kept sending the deleted rule's alert"
        );
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let now = app.all_alerts().await[0]["count"].as_i64().unwrap();
        if now == last {
            break;
        }
        last = now;
    }
    drop(prom);

    // Before its endsAt (the manual clock still stands where the test began):
    // open.
    app.settle().await;
    let alert = app.all_alerts().await.remove(0);
    assert_eq!(alert["status"], "triggered");
    // After it: resolved, and the timeline says why.
    app.clock
        .set(jiff::Timestamp::now() + jiff::SignedDuration::from_mins(1));
    app.settle().await;
    let id = alert["id"].as_i64().unwrap();
    assert_eq!(app.alert(id).await["alert"]["status"], "resolved");
    let lines = app.engine.store().timeline(id).await.unwrap();
    let last = lines.last().unwrap();
    assert_eq!(last.kind.as_str(), "resolved");
    assert!(
        last.message
            .starts_with("resolved: Prometheus stopped sending it; endsAt "),
        "{}",
        last.message
    );
}

/// A newer send moves the end; an integration with `resolve_on_ends_at =
/// false` keeps its alerts open; the setting belongs to Alertmanager
/// integrations only.
#[tokio::test]
async fn a_newer_send_moves_the_end_and_the_resolve_can_be_turned_off() {
    let text = AM_CONFIG.replace(
        r#"integrations = [ { kind = "alertmanager", key = "alertmanager-integration-key" } ]"#,
        r#"integrations = [
  { kind = "alertmanager", key = "alertmanager-integration-key" },
  { kind = "alertmanager", name = "keep", key = "keep-them-open-key", resolve_on_ends_at = false },
]"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let start: jiff::Timestamp = "2026-12-06T10:00:00Z".parse().unwrap();
    let app = spawn_app_at(&render_config(&text, &data, "unused"), &data, start, None).await;
    let at = |mins: i64| (start + jiff::SignedDuration::from_mins(mins)).to_string();
    let send = |key: &'static str, name: &'static str, ends: String| {
        let app = &app;
        async move {
            let body = json!([{ "labels": { "alertname": name }, "endsAt": ends }]);
            let (status, body) = post(app, "/api/v2/alerts", Some(key), &body.to_string()).await;
            assert_eq!(status, 200, "{body}");
        }
    };
    send(KEY, "Moves", at(5)).await;
    send(KEY, "Moves", at(10)).await;
    send("keep-them-open-key", "Kept", at(5)).await;
    let by_name = |alerts: &[Value], name: &str| {
        alerts
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .unwrap()["status"]
            .clone()
    };
    app.run_until(start + jiff::SignedDuration::from_mins(7))
        .await;
    let alerts = app.all_alerts().await;
    assert_eq!(
        by_name(&alerts, "Moves"),
        "triggered",
        "the newer send's end counts"
    );
    app.run_until(start + jiff::SignedDuration::from_mins(11))
        .await;
    let alerts = app.all_alerts().await;
    assert_eq!(by_name(&alerts, "Moves"), "resolved");
    app.run_until(start + jiff::SignedDuration::from_hours(2))
        .await;
    assert_eq!(by_name(&app.all_alerts().await, "Kept"), "triggered");

    let bad = text.replace(
        r#"integrations = [
  { kind = "alertmanager", key"#,
        r#"integrations = [
  { kind = "generic", key = "generic-key-123", resolve_on_ends_at = true },
  { kind = "alertmanager", key"#,
    );
    let errors = try_parse_config(&render_config(&bad, &data, "unused")).unwrap_err();
    assert!(
        errors
            .to_string()
            .contains("services[0].integrations[0].resolve_on_ends_at"),
        "{errors}"
    );
}
