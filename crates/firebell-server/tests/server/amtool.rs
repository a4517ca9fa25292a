//! The read side of Alertmanager's API v2, driven by the real `amtool` 0.25
//! (Debian's prometheus-alertmanager): `amtool alert add` creates Firebell
//! alerts, `amtool alert query` lists and filters them, `amtool config
//! routes` draws Firebell's services from `/api/v2/status`; keys limit what
//! a caller sees; bad filters get Alertmanager's answers.

use crate::support::amtool::*;
use crate::support::*;
use serde_json::{Value, json};
use std::path::PathBuf;

const INFRA_KEY: &str = "infra-alertmanager-key";
const WEB_KEY: &str = "web-alertmanager-key";
const WEB_GENERIC_KEY: &str = "web-generic-key";

const CONFIG: &str = concat!(
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
integrations = [ { kind = "alertmanager", key = "infra-alertmanager-key" } ]

[[services]]
id = "web"
policy = "p"
integrations = [
  { kind = "alertmanager", key = "web-alertmanager-key" },
  { kind = "generic", key = "web-generic-key" },
]
"#
);

async fn spawn() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text = render_config(CONFIG, &data, "unused");
    let app = spawn_app_at(&text, &data, jiff::Timestamp::now(), None).await;
    (app, dir)
}

/// An amtool HTTP client configuration that sends `key` as a bearer token.
/// The first column (Alertname) of amtool's simple output, header skipped.
fn alertnames(table: &str) -> Vec<String> {
    let mut names: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_adds_queries_and_filters_alerts() {
    let Some(bin) = program("amtool") else {
        return;
    };
    let (app, dir) = spawn().await;
    let infra = http_config(dir.path(), "infra.yml", INFRA_KEY);
    let url = app.url.clone();
    let am = |args: &'static [&'static str]| {
        let (bin, url, infra) = (bin.clone(), url.clone(), infra.clone());
        async move { amtool(&bin, &url, Some(&infra), args).await }
    };

    // `amtool alert add` posts without startsAt/endsAt: a new alert now.
    must(
        am(&[
            "alert",
            "add",
            "alertname=DiskFull",
            "severity=critical",
            "instance=db1",
            "--annotation=summary=Disk full on db1",
        ])
        .await,
        "amtool alert add DiskFull",
    );
    must(
        am(&["alert", "add", "alertname=Latency", "severity=warning"]).await,
        "amtool alert add Latency",
    );
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let disk = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "DiskFull")
        .unwrap();
    assert_eq!(disk["service"], "infra");
    assert_eq!(disk["summary"], "Disk full on db1");
    assert_eq!(disk["severity"], "critical");
    assert_eq!(disk["source"], "db1");
    assert_eq!(disk["status"], "triggered");

    // The simple table: both alerts, with the summary annotation.
    let r = must(am(&["alert", "query"]).await, "amtool alert query");
    assert_eq!(
        alertnames(&r.stdout),
        ["DiskFull", "Latency"],
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Disk full on db1"), "{}", r.stdout);
    assert!(r.stdout.contains("active"), "{}", r.stdout);

    // Matchers filter, as amtool sends them (a bare word is an alertname).
    let r = must(
        am(&["alert", "query", "alertname=Nope"]).await,
        "query Nope",
    );
    assert!(alertnames(&r.stdout).is_empty(), "{}", r.stdout);
    let r = must(am(&["alert", "query", "Latency"]).await, "query Latency");
    assert_eq!(alertnames(&r.stdout), ["Latency"], "{}", r.stdout);
    let r = must(
        am(&["alert", "query", "severity=~crit.*"]).await,
        "query severity=~crit.*",
    );
    assert_eq!(alertnames(&r.stdout), ["DiskFull"], "{}", r.stdout);
    let r = must(
        am(&["alert", "query", "severity!=critical", "alertname!~Disk.*"]).await,
        "query with negative matchers",
    );
    assert_eq!(alertnames(&r.stdout), ["Latency"], "{}", r.stdout);

    // JSON: Alertmanager's fingerprint is Firebell's dedup key.
    let r = must(
        am(&["-o", "json", "alert", "query", "alertname=DiskFull"]).await,
        "query -o json",
    );
    let got: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    let g = &got[0];
    assert_eq!(g["fingerprint"], disk["dedup_key"]);
    assert_eq!(
        g["labels"],
        json!({"alertname": "DiskFull", "severity": "critical", "instance": "db1"})
    );
    assert_eq!(g["annotations"], json!({"summary": "Disk full on db1"}));
    assert_eq!(g["receivers"], json!([{"name": "infra"}]));
    assert_eq!(g["status"]["state"], "active");

    // Acknowledged is still listed (active); resolved is gone.
    let id = disk["id"].as_i64().unwrap();
    let (s, _) = app
        .api_post(&format!("/api/v1/alerts/{id}/acknowledge"), json!({}))
        .await;
    assert_eq!(s, 200);
    let r = must(am(&["alert", "query"]).await, "query after ack");
    assert_eq!(
        alertnames(&r.stdout),
        ["DiskFull", "Latency"],
        "{}",
        r.stdout
    );
    // Equality matchers are answered from the label index, with the other
    // matchers applied to what it found.
    let r = must(
        am(&["alert", "query", "instance=db1"]).await,
        "query instance=db1",
    );
    assert_eq!(alertnames(&r.stdout), ["DiskFull"], "{}", r.stdout);
    let r = must(
        am(&["alert", "query", "severity=warning", "alertname=~Lat.*"]).await,
        "query severity=warning alertname=~Lat.*",
    );
    assert_eq!(alertnames(&r.stdout), ["Latency"], "{}", r.stdout);
    let r = must(
        am(&["alert", "query", "severity=critical", "instance=db2"]).await,
        "query severity=critical instance=db2",
    );
    assert!(alertnames(&r.stdout).is_empty(), "{}", r.stdout);
    let (s, _) = app
        .api_post(&format!("/api/v1/alerts/{id}/resolve"), json!({}))
        .await;
    assert_eq!(s, 200);
    let r = must(am(&["alert", "query"]).await, "query after resolve");
    assert_eq!(alertnames(&r.stdout), ["Latency"], "{}", r.stdout);
    let r = must(
        am(&["alert", "query", "instance=db1"]).await,
        "query instance=db1 after resolve",
    );
    assert!(alertnames(&r.stdout).is_empty(), "{}", r.stdout);

    // `--end` in the past resolves, as Alertmanager would end it.
    must(
        am(&[
            "alert",
            "add",
            "alertname=Latency",
            "severity=warning",
            "--start=2020-01-01T00:00:00Z",
            "--end=2020-01-01T00:10:00Z",
        ])
        .await,
        "amtool alert add --end",
    );
    let r = must(am(&["alert", "query"]).await, "query after --end");
    assert!(alertnames(&r.stdout).is_empty(), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_limit_what_amtool_sees_and_a_wrong_key_fails() {
    let Some(bin) = program("amtool") else {
        return;
    };
    let (app, dir) = spawn().await;
    let infra = http_config(dir.path(), "infra.yml", INFRA_KEY);
    let web = http_config(dir.path(), "web.yml", WEB_KEY);
    let admin = http_config(dir.path(), "admin.yml", ADMIN);
    let wrong = http_config(dir.path(), "wrong.yml", "not-a-key-at-all");
    let generic = http_config(dir.path(), "generic.yml", WEB_GENERIC_KEY);
    let url = app.url.as_str();

    must(
        amtool(
            &bin,
            url,
            Some(&infra),
            &["alert", "add", "alertname=InfraDown"],
        )
        .await,
        "add with the infra key",
    );
    must(
        amtool(
            &bin,
            url,
            Some(&web),
            &["alert", "add", "alertname=WebDown"],
        )
        .await,
        "add with the web key",
    );
    // An alert from the web service's generic integration.
    let (s, body) = app
        .post_events_with_key(
            r#"{"action":"trigger","dedup_key":"checkout-slow","summary":"Checkout is slow","labels":{"team":"shop"}}"#,
            Some(WEB_GENERIC_KEY),
        )
        .await;
    assert_eq!(s, 202, "{body}");

    // Each alertmanager key sees its own service; the admin token sees all.
    let q = |http: PathBuf| {
        let bin = bin.clone();
        async move { amtool(&bin, url, Some(&http), &["alert", "query"]).await }
    };
    assert_eq!(
        alertnames(&must(q(infra.clone()).await, "infra").stdout),
        ["InfraDown"]
    );
    assert_eq!(
        alertnames(&must(q(web.clone()).await, "web").stdout),
        ["WebDown", "checkout-slow"]
    );
    let all = must(q(admin.clone()).await, "admin");
    assert_eq!(
        alertnames(&all.stdout),
        ["InfraDown", "WebDown", "checkout-slow"]
    );
    // The generic alert's summary is its summary annotation.
    assert!(all.stdout.contains("Checkout is slow"), "{}", all.stdout);
    let r = must(
        amtool(&bin, url, Some(&admin), &["alert", "query", "team=shop"]).await,
        "admin team=shop",
    );
    assert_eq!(alertnames(&r.stdout), ["checkout-slow"]);

    // Basic auth with the key as the password works too (amtool takes it
    // from the URL).
    let port = url.rsplit(':').next().unwrap();
    let basic = format!("http://amtool:{INFRA_KEY}@127.0.0.1:{port}");
    let r = must(
        amtool(&bin, &basic, None, &["alert", "query"]).await,
        "basic",
    );
    assert_eq!(alertnames(&r.stdout), ["InfraDown"]);

    // A wrong key, a key of another kind and no key at all: amtool fails,
    // and nothing is added.
    for (http, what) in [
        (Some(&wrong), "wrong key"),
        (Some(&generic), "generic key"),
        (None, "no key"),
    ] {
        let r = amtool(&bin, url, http.map(PathBuf::as_path), &["alert", "query"]).await;
        assert!(!r.ok, "{what}: query succeeded: {}", r.stdout);
        assert!(r.stderr.contains("401"), "{what}: {}", r.stderr);
        let r = amtool(
            &bin,
            url,
            http.map(PathBuf::as_path),
            &["alert", "add", "alertname=Sneaky"],
        )
        .await;
        assert!(!r.ok, "{what}: add succeeded");
    }
    assert_eq!(app.all_alerts().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_draws_the_routing_from_status() {
    let Some(bin) = program("amtool") else {
        return;
    };
    let (app, dir) = spawn().await;
    let admin = http_config(dir.path(), "admin.yml", ADMIN);
    let infra = http_config(dir.path(), "infra.yml", INFRA_KEY);
    let url = app.url.as_str();

    // `config routes` parses config.original with Alertmanager's own loader.
    let r = must(
        amtool(&bin, url, Some(&admin), &["config", "routes"]).await,
        "config routes",
    );
    assert!(
        r.stdout.contains("receiver: firebell:default"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(r#"{firebell_service="infra"}  receiver: infra"#),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(r#"{firebell_service="web"}  receiver: web"#),
        "{}",
        r.stdout
    );
    // `config routes test` routes a label set through that tree.
    let r = must(
        amtool(
            &bin,
            url,
            Some(&admin),
            &["config", "routes", "test", "firebell_service=web"],
        )
        .await,
        "config routes test",
    );
    assert_eq!(r.stdout.trim(), "web");

    // A service's key shows only its own service.
    let r = must(
        amtool(&bin, url, Some(&infra), &["config", "show"]).await,
        "config show",
    );
    assert!(r.stdout.contains("- name: \"infra\""), "{}", r.stdout);
    assert!(!r.stdout.contains("web"), "{}", r.stdout);

    // The version check read /api/v2/status and found Firebell, not 0.25.
    assert!(
        r.stderr.contains(&format!(
            "alertmanager version ({})",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        r.stderr
    );
}

async fn get(app: &TestApp, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = app.client.get(format!("{}{path}", app.url));
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
async fn the_read_api_answers_and_refuses_like_alertmanager() {
    let (app, _dir) = spawn().await;
    let resp = app
        .client
        .post(format!("{}/api/v2/alerts", app.url))
        .bearer_auth(INFRA_KEY)
        .json(&json!([
            {"labels": {"alertname": "A", "severity": "critical"}, "annotations": {"summary": "a"},
             "generatorURL": "http://prom:9090/graph", "startsAt": "2026-01-01T00:00:00Z"},
            {"labels": {"alertname": "B"}}
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let (s, alerts) = get(&app, "/api/v2/alerts", Some(INFRA_KEY)).await;
    assert_eq!(s, 200, "{alerts}");
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    let fps: Vec<&str> = alerts
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap())
        .collect();
    assert!(
        fps.is_sorted(),
        "sorted by fingerprint like Alertmanager: {fps:?}"
    );
    let a = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "A")
        .unwrap();
    assert_eq!(a["generatorURL"], "http://prom:9090/graph");
    assert_eq!(a["startsAt"], "2026-01-01T00:00:00.000Z");
    for field in ["endsAt", "updatedAt", "receivers", "status", "annotations"] {
        assert!(a.get(field).is_some(), "{field} missing: {a}");
    }

    // Equality matchers are answered from the label index; an alert from
    // another source is found by the alertname it is shown with (its dedup key).
    let (s, body) = app
        .post_events_with_key(
            r#"{"action": "trigger", "dedup_key": "disk-web1", "summary": "disk", "labels": {"team": "web"}}"#,
            Some(WEB_GENERIC_KEY),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    let (s, found) = get(
        &app,
        "/api/v2/alerts?filter=alertname%3D%22disk-web1%22",
        Some(WEB_KEY),
    )
    .await;
    assert_eq!(s, 200, "{found}");
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0]["labels"],
        json!({"alertname": "disk-web1", "team": "web"})
    );
    let (_, found) = get(
        &app,
        "/api/v2/alerts?filter=team%3D%22web%22&filter=alertname%3D~%22disk.*%22",
        Some(WEB_KEY),
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    // A key bound to another service does not see it, whatever the matcher.
    let (_, found) = get(
        &app,
        "/api/v2/alerts?filter=team%3D%22web%22",
        Some(INFRA_KEY),
    )
    .await;
    assert_eq!(found, json!([]));
    let (_, found) = get(
        &app,
        "/api/v2/alerts?filter=alertname%3D%22B%22",
        Some(INFRA_KEY),
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    // Resolved, it leaves the index.
    let (s, body) = app
        .post_events_with_key(
            r#"{"action": "resolve", "dedup_key": "disk-web1"}"#,
            Some(WEB_GENERIC_KEY),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    let (_, found) = get(
        &app,
        "/api/v2/alerts?filter=team%3D%22web%22",
        Some(WEB_KEY),
    )
    .await;
    assert_eq!(found, json!([]));

    // Malformed input: 400 with Alertmanager's message as a JSON string.
    for (query, msg) in [
        ("filter=bad", "bad matcher format: bad"),
        (
            "filter=a%3D%22b",
            "matcher value contains unescaped double quote: \"b",
        ),
        ("receiver=(", "failed to parse receiver param: "),
        ("filter=a%3D~%22(%22", "invalid regular expression \"(\""),
        ("active=maybe", "active: expected true or false"),
    ] {
        for path in ["/api/v2/alerts", "/api/v2/alerts/groups"] {
            let (s, body) = get(&app, &format!("{path}?{query}"), Some(INFRA_KEY)).await;
            assert_eq!(s, 400, "{path}?{query}: {body}");
            let text = body
                .as_str()
                .unwrap_or_else(|| panic!("not a string: {body}"));
            assert!(
                text.starts_with(msg) || text.contains(msg),
                "{query}: {text}"
            );
        }
    }

    // Groups: one per receiver (service), no group labels.
    let (s, groups) = get(&app, "/api/v2/alerts/groups", Some(ADMIN)).await;
    assert_eq!(s, 200);
    assert_eq!(groups.as_array().unwrap().len(), 1, "{groups}");
    assert_eq!(groups[0]["receiver"], json!({"name": "infra"}));
    assert_eq!(groups[0]["labels"], json!({}));
    assert_eq!(groups[0]["alerts"].as_array().unwrap().len(), 2);
    let (_, groups) = get(
        &app,
        "/api/v2/alerts/groups?filter=alertname%3DB",
        Some(ADMIN),
    )
    .await;
    assert_eq!(groups[0]["alerts"].as_array().unwrap().len(), 1);
    let (_, groups) = get(&app, "/api/v2/alerts/groups?receiver=web", Some(ADMIN)).await;
    assert_eq!(groups, json!([]));

    // Receivers: one per service the caller sees.
    let (_, r) = get(&app, "/api/v2/receivers", Some(ADMIN)).await;
    assert_eq!(r, json!([{"name": "infra"}, {"name": "web"}]));
    let (_, r) = get(&app, "/api/v2/receivers", Some(WEB_KEY)).await;
    assert_eq!(r, json!([{"name": "web"}]));

    // Status: no cluster, the uptime is when the server started.
    let (s, st) = get(&app, "/api/v2/status", Some(ADMIN)).await;
    assert_eq!(s, 200);
    assert_eq!(st["cluster"], json!({"status": "disabled", "peers": []}));
    assert_eq!(st["versionInfo"]["version"], env!("CARGO_PKG_VERSION"));
    let up: jiff::Timestamp = st["uptime"].as_str().unwrap().parse().unwrap();
    assert!(up <= app.engine.now());
    assert!(
        st["config"]["original"]
            .as_str()
            .unwrap()
            .contains("firebell_service=\\\"web\\\"")
    );

    // No key, a wrong one, another kind's: 401, and no secret in the answer.
    for key in [None, Some("wrong-key"), Some(WEB_GENERIC_KEY)] {
        for path in [
            "/api/v2/alerts",
            "/api/v2/alerts/groups",
            "/api/v2/status",
            "/api/v2/receivers",
        ] {
            let (s, body) = get(&app, path, key).await;
            assert_eq!(s, 401, "{path} with {key:?}: {body}");
            assert!(!body.to_string().contains(WEB_GENERIC_KEY));
        }
    }
}
