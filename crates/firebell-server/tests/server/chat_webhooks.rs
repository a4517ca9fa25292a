//! Named webhook channels end to end: Slack, Teams and Mattermost presets,
//! the HMAC signature checked by an independent implementation (Python's
//! hmac), service template overrides, dry runs, and URLs kept off the API.

use crate::support::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use firebell_core::clock::Clock;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

/// A chat service stand-in that keeps raw bodies and headers.
struct Receiver {
    base: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let app = Router::new()
            .route(
                "/{*path}",
                post(
                    |State(got): State<Arc<Mutex<Vec<Received>>>>,
                     uri: axum::http::Uri,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        got.lock().unwrap().push(Received {
                            path: uri.path().to_string(),
                            headers,
                            body,
                        });
                        "ok"
                    },
                ),
            )
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            base: format!("http://{addr}"),
            got,
        }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

const SECRET: &str = "whsec-test-0123456789abcdef";

fn config(receiver: &str, channels: &str, contacts: &str, templates: &str) -> String {
    config_for(receiver, channels, &[("alice", contacts)], templates)
}

/// Everyone in `people` (id, contacts) is paged in the one step.
fn config_for(receiver: &str, channels: &str, people: &[(&str, &str)], templates: &str) -> String {
    let users: String = people
        .iter()
        .map(|(id, contacts)| format!("[[users]]\nid = \"{id}\"\ncontacts = {contacts}\n"))
        .collect();
    let targets: Vec<String> = people
        .iter()
        .map(|(id, _)| format!("\"user:{id}\""))
        .collect();
    let targets = targets.join(", ");
    format!(
        r#"
[server]
data_dir = "{{DATA_DIR}}"
admin_token = "test-admin-token"
public_url = "https://pager.example.com"
link_secret = "test-link-secret-0123456789"

[delivery]
max_attempts = 1

{channels}

{users}
[[policies]]
id = "outage"
steps = [ {{ targets = [{targets}], wait = "5m" }} ]

[[services]]
id = "checkout"
name = "Checkout web"
policy = "outage"
integrations = [ {{ kind = "generic", key = "test-integration-key" }} ]
templates = {templates}
"#
    )
    .replace("{RECEIVER}", receiver)
}

const DISK_FULL: &str = r#"{"action":"trigger","dedup_key":"disk-web1","summary":"Disk full on web1 <!channel>","severity":"critical","source":"web1","labels":{"host":"web1"}}"#;

async fn trigger(app: &TestApp, body: &str) -> i64 {
    let (status, resp) = app.post_events(body).await;
    assert_eq!(status, 202, "{resp}");
    resp["alerts"][0]["id"].as_i64().unwrap()
}

/// Runs `verify_signature.py` with the venv's Python: `Some(stdout)`.
/// Python's verdict on a signature, checked at `now` (unix seconds): the
/// receiver lives in the test's world, where time is the manual clock's.
fn python_verify(secret: &str, header: &str, body: &[u8], now: i64) -> Option<(bool, String)> {
    let python = python_with(&["hmac", "hashlib"])?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, body).unwrap();
    let out = std::process::Command::new(python)
        .arg(python_script("verify_signature.py"))
        .args([secret, header])
        .arg(&file)
        .arg(now.to_string())
        .output()
        .unwrap();
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

#[tokio::test]
async fn slack_preset_posts_a_signed_slack_message_with_action_buttons() {
    let rx = Receiver::start().await;
    let channels = format!(
        r#"[[channels]]
name = "ops-slack"
kind = "webhook"
preset = "slack"
url = "{{RECEIVER}}/services/T000/B000/XXXXSECRET"
secret = "{SECRET}""#
    );
    let (app, _dir, _sink) = spawn_app(&config(
        &rx.base,
        &channels,
        r#"[ { kind = "webhook", channel = "ops-slack" } ]"#,
        "{}",
    ))
    .await;
    let id = trigger(&app, DISK_FULL).await;
    app.settle().await;

    let got = rx.got();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.path, "/services/T000/B000/XXXXSECRET");
    assert_eq!(
        req.header("content-type").as_deref(),
        Some("application/json")
    );
    let body = req.json();
    // Slack's mrkdwn: the alert's text cannot ping the channel.
    let text = "*CRITICAL* Checkout web: Disk full on web1 &lt;!channel&gt;";
    assert_eq!(body["text"], text);
    assert_eq!(body["blocks"][0]["type"], "section");
    assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");
    assert_eq!(body["blocks"][0]["text"]["text"], text);
    assert_eq!(
        body["blocks"][1]["elements"][0]["text"],
        format!("Alert #{id} · Checkout web · triggered · seen once")
    );
    let buttons = body["blocks"][2]["elements"].as_array().unwrap();
    assert_eq!(buttons.len(), 2, "{body}");
    assert_eq!(buttons[0]["text"]["text"], "Acknowledge");
    let ack = buttons[0]["url"].as_str().unwrap();
    assert!(
        ack.starts_with(&format!(
            "https://pager.example.com/links/alerts/{id}/acknowledge?token="
        )),
        "{ack}"
    );
    assert_eq!(buttons[1]["text"]["text"], "Resolve");

    // The signature, checked by Python's hmac over the exact bytes received.
    let header = req.header("firebell-signature").unwrap();
    let t: i64 = header
        .strip_prefix("t=")
        .and_then(|r| r.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    // Signed at the engine's clock (the test's manual one), not the wall
    // clock: the timestamp is the attempt's time.
    assert_eq!(t, app.clock.now().as_second(), "{header}");
    let now = app.clock.now().as_second();
    if let Some((ok, said)) = python_verify(SECRET, &header, &req.body, now) {
        assert!(ok, "Python says {said:?} for {header}");
        // And it is a real check: another secret, a changed body or a
        // replay ten minutes later fails.
        let (ok, said) = python_verify("another-secret", &header, &req.body, now).unwrap();
        assert!(!ok && said == "signature mismatch", "{said}");
        let mut tampered = req.body.to_vec();
        tampered[10] ^= 1;
        let (ok, _) = python_verify(SECRET, &header, &tampered, now).unwrap();
        assert!(!ok);
        let (ok, said) = python_verify(SECRET, &header, &req.body, now + 600).unwrap();
        assert!(!ok && said == "stale timestamp", "{said}");
    }

    // The API shows the page went out, without the URL's secret path.
    let view = app.alert(id).await;
    let n = &view["notifications"][0];
    assert_eq!(n["channel"], "ops-slack");
    assert_eq!(n["status"], "delivered");
    assert_eq!(n["address"], format!("{}/…", rx.base));
    assert!(!view.to_string().contains("XXXXSECRET"), "{view}");
}

#[tokio::test]
async fn teams_and_mattermost_presets_and_a_service_template_override() {
    let rx = Receiver::start().await;
    let channels = r#"[[channels]]
name = "ops-teams"
kind = "webhook"
preset = "teams"
url = "{RECEIVER}/teams"

[[channels]]
name = "ops-mm"
kind = "webhook"
preset = "mattermost"
url = "{RECEIVER}/mattermost""#;
    let (app, _dir, _sink) = spawn_app(&config_for(
        &rx.base,
        channels,
        &[
            ("alice", r#"[ { kind = "webhook", channel = "ops-teams" } ]"#),
            ("bob", r#"[ { kind = "webhook", channel = "ops-mm" } ]"#),
        ],
        // The override reads a label, with a default for alerts without it.
        r#"{ mattermost = "> **{{ alert.summary }}**\nhost {{ alert.labels.host | default('?') }} · [ack]({{ links.ack_url }})" }"#,
    ))
    .await;
    let id = trigger(
        &app,
        r#"{"action":"trigger","dedup_key":"cpu","summary":"CPU hot","severity":"warning","source":"web2"}"#,
    )
    .await;
    app.settle().await;
    let got = rx.got();
    assert_eq!(got.len(), 2, "{got:?}");
    let by_path = |p: &str| got.iter().find(|r| r.path == p).unwrap().clone();

    let teams = by_path("/teams");
    assert!(
        teams.header("firebell-signature").is_none(),
        "no secret, no signature"
    );
    let teams = teams.json();
    assert_eq!(teams["type"], "message");
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["version"], "1.4");
    assert_eq!(
        card["content"]["body"][0]["text"],
        "**WARNING** Checkout web: CPU hot"
    );
    assert_eq!(
        card["content"]["body"][1]["facts"][0]["value"],
        "Checkout web"
    );
    let actions = card["content"]["actions"].as_array().unwrap();
    assert_eq!(actions[0]["type"], "Action.OpenUrl");
    assert_eq!(actions[0]["title"], "Acknowledge");
    assert!(
        actions[0]["url"]
            .as_str()
            .unwrap()
            .contains(&format!("/links/alerts/{id}/acknowledge?token=")),
        "{card}"
    );

    // Bob's Mattermost page comes from the service's template.
    let mm = by_path("/mattermost").json();
    let text = mm["text"].as_str().unwrap();
    assert!(
        text.starts_with("> **CPU hot**\nhost ? · [ack](https://pager.example.com/links/alerts/"),
        "{text}"
    );
    assert!(
        text.contains(&format!("/links/alerts/{id}/acknowledge?token=")),
        "{text}"
    );
}

#[tokio::test]
async fn a_template_that_fails_at_send_time_falls_back_to_the_built_in_one() {
    let rx = Receiver::start().await;
    let channels = r#"[[channels]]
name = "ops-slack"
kind = "webhook"
preset = "slack"
url = "{RECEIVER}/slack""#;
    // Passes the load check (the samples come from web1), but an alert from
    // web2 has no "team" label.
    let (app, _dir, _sink) = spawn_app(&config(
        &rx.base,
        channels,
        r#"[ { kind = "webhook", channel = "ops-slack" } ]"#,
        r#"{ slack = "{% if alert.source == 'web2' %}{{ alert.labels.team }}{% endif %}{{ alert.summary }}" }"#,
    ))
    .await;
    let id = trigger(
        &app,
        r#"{"action":"trigger","dedup_key":"cpu","summary":"CPU hot","severity":"warning","source":"web2"}"#,
    )
    .await;
    app.settle().await;
    let got = rx.got();
    assert_eq!(got.len(), 1, "the page still went out");
    assert_eq!(got[0].json()["text"], "*WARNING* Checkout web: CPU hot");
    let view = app.alert(id).await;
    let delivered = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "delivered")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        delivered.contains("template services.checkout.templates.slack failed")
            && delivered.contains("used the built-in one"),
        "{delivered}"
    );
}

#[tokio::test]
async fn a_dry_run_renders_and_records_but_sends_nothing() {
    let rx = Receiver::start().await;
    let channels = format!(
        r#"[[channels]]
name = "ops-slack"
kind = "webhook"
preset = "slack"
dry_run = true
url = "{{RECEIVER}}/services/T000/B000/XXXXSECRET"
secret = "{SECRET}""#
    );
    let (app, _dir, _sink) = spawn_app(&config(
        &rx.base,
        &channels,
        r#"[ { kind = "webhook", channel = "ops-slack" } ]"#,
        "{}",
    ))
    .await;
    let id = trigger(&app, DISK_FULL).await;
    app.settle().await;
    assert!(rx.got().is_empty(), "nothing was posted");
    let view = app.alert(id).await;
    let delivered = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "delivered")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        delivered.contains("dry run: would POST")
            && delivered.contains("bytes of slack JSON to")
            && delivered.contains(", signed"),
        "{delivered}"
    );
    assert!(!view.to_string().contains("XXXXSECRET"), "{view}");
    assert!(!view.to_string().contains(SECRET), "{view}");
}

#[tokio::test]
async fn a_contact_url_overrides_the_channels_and_the_firebell_body_is_signed() {
    let rx = Receiver::start().await;
    let channels = r#"[[channels]]
name = "signed"
kind = "webhook"
url = "{RECEIVER}/channel-default"
secret = "whsec-test-0123456789abcdef""#;
    let (app, _dir, _sink) = spawn_app(&config(
        &rx.base,
        channels,
        r#"[ { kind = "webhook", channel = "signed", url = "{RECEIVER}/alice-own" } ]"#,
        "{}",
    ))
    .await;
    trigger(&app, DISK_FULL).await;
    app.settle().await;
    let got = rx.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/alice-own");
    // The firebell preset is the documented Firebell JSON, now signed.
    let body = got[0].json();
    assert_eq!(body["version"], "1");
    assert_eq!(body["alert"]["summary"], "Disk full on web1 <!channel>");
    assert!(got[0].header("firebell-signature").is_some());
}
