//! Alertmanager's silence API, driven by the real `amtool` 0.25 (Debian's
//! prometheus-alertmanager): `amtool silence add` makes a silence, `query`
//! shows it (table and JSON), a matching alert is created and visible
//! (suppressed) but pages no one, and `amtool silence expire` starts its
//! escalation at once. Keys scope silences to their service.

use crate::support::amtool::*;
use crate::support::*;
use firebell_store::prelude::*;
use serde_json::Value;

const INFRA_KEY: &str = "infra-alertmanager-key";
const WEB_KEY: &str = "web-alertmanager-key";

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
integrations = [ { kind = "alertmanager", key = "web-alertmanager-key" } ]
"#
);

/// `GET /api/v2/alerts` as `key` sees it.
async fn v2_alerts(app: &TestApp, key: &str) -> Vec<Value> {
    let resp = app
        .client
        .get(format!("{}/api/v2/alerts", app.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_silences_hold_paging_and_expiring_starts_the_escalation() {
    let Some(bin) = program("amtool") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = spawn_app_at(
        &render_config(CONFIG, &data, "unused"),
        &data,
        jiff::Timestamp::now(),
        None,
    )
    .await;
    let infra = http_config(dir.path(), "infra.yml", INFRA_KEY);
    let web = http_config(dir.path(), "web.yml", WEB_KEY);
    let url = app.url.clone();

    let r = must(
        amtool(
            &bin,
            &url,
            Some(&infra),
            &[
                "silence",
                "add",
                "alertname=DiskFull",
                "instance=~\"db.*\"",
                "--comment=replacing disks",
                "--author=tester",
                "--duration=2h",
            ],
        )
        .await,
        "amtool silence add",
    );
    let sid = r.stdout.trim().to_string();
    assert_eq!(sid.len(), 36, "a UUID: {:?}", r.stdout);
    // amtool stamps startsAt with the wall clock; bring the manual clock up.
    app.clock.set(jiff::Timestamp::now());

    // query: the table and JSON.
    let r = must(
        amtool(&bin, &url, Some(&infra), &["silence", "query"]).await,
        "amtool silence query",
    );
    assert!(r.stdout.contains(&sid), "{}", r.stdout);
    assert!(r.stdout.contains("replacing disks"), "{}", r.stdout);
    assert!(r.stdout.contains("tester"), "{}", r.stdout);
    let r = must(
        amtool(
            &bin,
            &url,
            Some(&infra),
            &["-o", "json", "silence", "query", "alertname=DiskFull"],
        )
        .await,
        "amtool -o json silence query",
    );
    let got: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(got.len(), 1, "{}", r.stdout);
    assert_eq!(got[0]["id"], sid.as_str());
    assert_eq!(got[0]["status"]["state"], "active");
    assert_eq!(got[0]["createdBy"], "tester");
    let ms = got[0]["matchers"].as_array().unwrap();
    assert!(
        ms.iter().any(|m| m["name"] == "instance"
            && m["value"] == "db.*"
            && m["isRegex"] == true
            && m["isEqual"] == true),
        "{ms:?}"
    );
    // Another service's key does not see it.
    let r = must(
        amtool(&bin, &url, Some(&web), &["-o", "json", "silence", "query"]).await,
        "query with the web key",
    );
    assert_eq!(
        serde_json::from_str::<Value>(&r.stdout).unwrap(),
        serde_json::json!([])
    );

    // A matching alert: created, visible, suppressed, pages no one.
    must(
        amtool(
            &bin,
            &url,
            Some(&infra),
            &[
                "alert",
                "add",
                "alertname=DiskFull",
                "instance=db1",
                "severity=critical",
            ],
        )
        .await,
        "amtool alert add",
    );
    app.settle().await;
    assert!(app.pages().is_empty(), "silenced: {:?}", app.page_log());
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["status"], "triggered");
    let id = alerts[0]["id"].as_i64().unwrap();
    let v2 = v2_alerts(&app, INFRA_KEY).await;
    assert_eq!(v2.len(), 1);
    assert_eq!(v2[0]["status"]["state"], "suppressed");
    assert_eq!(v2[0]["status"]["silencedBy"], serde_json::json!([sid]));
    // amtool hides silenced alerts unless asked, like Alertmanager.
    let r = must(
        amtool(&bin, &url, Some(&infra), &["alert", "query"]).await,
        "alert query",
    );
    assert!(!r.stdout.contains("DiskFull"), "{}", r.stdout);
    let r = must(
        amtool(&bin, &url, Some(&infra), &["alert", "query", "--silenced"]).await,
        "alert query --silenced",
    );
    assert!(r.stdout.contains("DiskFull"), "{}", r.stdout);
    assert!(r.stdout.contains("suppressed"), "{}", r.stdout);

    // The web key cannot expire infra's silence.
    let r = amtool(&bin, &url, Some(&web), &["silence", "expire", &sid]).await;
    assert!(!r.ok, "{}", r.stdout);

    // Expire: the escalation starts at once.
    must(
        amtool(&bin, &url, Some(&infra), &["silence", "expire", &sid]).await,
        "amtool silence expire",
    );
    app.settle().await;
    let users: Vec<String> = app.pages().iter().map(|p| p.user.clone()).collect();
    assert_eq!(users, ["alice"]);
    let kinds: Vec<String> = app
        .engine
        .store()
        .timeline(id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind.as_str().to_string())
        .collect();
    let held = kinds.iter().position(|k| k == "held").expect("held");
    let released = kinds
        .iter()
        .position(|k| k == "released")
        .expect("released");
    let notified = kinds
        .iter()
        .position(|k| k == "notified")
        .expect("notified");
    assert!(held < released && released < notified, "{kinds:?}");
    assert_eq!(
        v2_alerts(&app, INFRA_KEY).await[0]["status"]["state"],
        "active"
    );

    // Expired silences are shown only with --expired.
    let r = must(
        amtool(&bin, &url, Some(&infra), &["silence", "query"]).await,
        "query",
    );
    assert!(!r.stdout.contains(&sid), "{}", r.stdout);
    let r = must(
        amtool(&bin, &url, Some(&infra), &["silence", "query", "--expired"]).await,
        "query --expired",
    );
    assert!(r.stdout.contains(&sid), "{}", r.stdout);

    // A bad matcher is refused and nothing is stored.
    let resp = app
        .client
        .post(format!("{}/api/v2/silences", app.url))
        .bearer_auth(INFRA_KEY)
        .json(&serde_json::json!({
            "matchers": [{"name": "instance", "value": "(", "isRegex": true}],
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "t", "comment": "c"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let msg: Value = resp.json().await.unwrap();
    assert!(msg.as_str().unwrap().starts_with("matchers[0]: "), "{msg}");
    let resp = app
        .client
        .get(format!(
            "{}/api/v2/silence/00000000-0000-4000-8000-000000000000",
            app.url
        ))
        .bearer_auth(INFRA_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let r = must(
        amtool(
            &bin,
            &url,
            Some(&infra),
            &["-o", "json", "silence", "query", "--expired"],
        )
        .await,
        "query all",
    );
    let all: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(all.len(), 1, "the bad one was not stored: {all:?}");
}
