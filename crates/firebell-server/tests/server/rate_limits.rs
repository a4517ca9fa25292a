//! Rate limits per contact method: an http_sms channel to a local gateway,
//! sms limited to 5 per 15 minutes. What is held back goes out as one
//! bundled text once the window frees; nothing is lost, and the timelines
//! say what happened.

use crate::support::*;
use axum::Router;
use axum::extract::State;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// A Plivo-like gateway: POST JSON, 202; records every text.
#[derive(Clone, Default)]
struct Gateway(Arc<Mutex<Vec<Value>>>);

impl Gateway {
    async fn start() -> (Gateway, String) {
        let gw = Gateway::default();
        let app = Router::new()
            .fallback(
                |State(gw): State<Gateway>, axum::Json(v): axum::Json<Value>| async move {
                    gw.0.lock().unwrap().push(v);
                    (
                        axum::http::StatusCode::ACCEPTED,
                        r#"{"message_uuid":["m-1"]}"#,
                    )
                },
            )
            .with_state(gw.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (gw, format!("http://{addr}"))
    }

    fn texts(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["text"].as_str().unwrap().to_string())
            .collect()
    }
}

const CONFIG: &str = concat!(
    server_section!(),
    r#"
[delivery.rate_limits]
sms = "5/15m"

[[channels]]
name = "gateway"
kind = "http_sms"
method = "POST"
encoding = "json"
url = "{GW}/v1/Message/"
from = "+14155550100"
fields = { src = "{{ from }}", dst = "{{ to }}", text = "{{ body }}" }
success = { status = [202] }

[[users]]
id = "alice"
contacts = [ { kind = "sms", number = "+447700900123" } ]

[[policies]]
id = "outage"
repeat = 1
steps = [ { targets = ["user:alice"], wait = "1h" } ]

[[services]]
id = "web"
name = "Web"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

fn lines(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn held_back_texts_go_out_as_one_bundle_after_the_window() {
    let (gw, url) = Gateway::start().await;
    let (app, _dir, _sink) = spawn_app(&CONFIG.replace("{GW}", &url)).await;
    let mut ids = Vec::new();
    for i in 1..=8 {
        ids.push(
            app.trigger(&format!("disk-{i}"), &format!("Disk full on web{i}"))
                .await,
        );
    }
    app.settle().await;
    assert_eq!(
        gw.texts().len(),
        5,
        "5 texts in the window: {:#?}",
        gw.texts()
    );
    // The first five alerts got their own text; the last three were held,
    // the second and third to go with the first.
    let until = (t0() + mins(15)).to_string();
    for (i, id) in ids.iter().enumerate() {
        let view = app.alert(*id).await;
        let line = format!(
            "held back: sms to …0123 is rate limited (5 per 15m); will be sent at {until}{}",
            if i > 5 {
                " with the pages held before it"
            } else {
                ""
            }
        );
        let held = lines(&view).contains(&line);
        assert_eq!(held, i >= 5, "alert {id}: {:#?}", lines(&view));
    }

    // Still within the window: nothing more.
    app.advance(mins(14)).await;
    assert_eq!(gw.texts().len(), 5);
    app.advance(mins(2)).await;
    let texts = gw.texts();
    assert_eq!(texts.len(), 6, "exactly one more text: {texts:#?}");
    let bundle = &texts[5];
    assert!(bundle.contains("3 alerts"), "{bundle}");
    for id in &ids[5..] {
        assert!(
            bundle.contains(&format!("#{id}")),
            "alert {id} missing from {bundle}"
        );
    }
    // None lost: every alert's page was delivered, the held ones in the bundle.
    for (i, id) in ids.iter().enumerate() {
        let view = app.alert(*id).await;
        let ns = view["notifications"].as_array().unwrap();
        assert_eq!(ns.len(), 1);
        assert_eq!(ns[0]["status"], "delivered", "alert {id}: {view}");
        let l = lines(&view);
        if i >= 5 {
            assert!(
                l.iter()
                    .any(|m| m.contains("bundled page #") && m.contains("3 alerts")),
                "alert {id}: {l:#?}"
            );
        } else {
            assert!(
                !l.iter().any(|m| m.contains("bundled page")),
                "alert {id}: {l:#?}"
            );
        }
    }
    // The bundle counts as one text: a new alert now is sent at once.
    let next = app.trigger("disk-9", "Disk full on web9").await;
    app.settle().await;
    let texts = gw.texts();
    assert_eq!(texts.len(), 7, "{texts:#?}");
    assert!(texts[6].contains("Disk full on web9"));
    assert_eq!(
        app.alert(next).await["notifications"][0]["status"],
        "delivered"
    );
}

#[tokio::test]
async fn off_disables_the_limit() {
    let (gw, url) = Gateway::start().await;
    let config = CONFIG
        .replace("{GW}", &url)
        .replace(r#"sms = "5/15m""#, r#"sms = "off""#);
    let (app, _dir, _sink) = spawn_app(&config).await;
    for i in 1..=8 {
        app.trigger(&format!("disk-{i}"), &format!("Disk full on web{i}"))
            .await;
    }
    app.settle().await;
    assert_eq!(gw.texts().len(), 8);
}

#[test]
fn bad_limits_and_windows_are_config_errors_naming_the_field() {
    let base = CONFIG
        .replace("{GW}", "http://127.0.0.1:9")
        .replace("{DATA_DIR}", "/tmp/x");
    for (bad, path) in [
        (r#"sms = "5 per 15m""#, "delivery.rate_limits.sms"),
        (r#"sms = "0/15m""#, "delivery.rate_limits.sms"),
        (r#"sms = "5/forever""#, "delivery.rate_limits.sms"),
        (r#"voice = "3""#, "delivery.rate_limits.voice"),
        (r#"email = "x/1h""#, "delivery.rate_limits.email"),
    ] {
        let text = base.replace(r#"sms = "5/15m""#, bad);
        let err = try_parse_config(&text).unwrap_err().to_string();
        assert!(err.contains(path), "{bad}: {err}");
    }
    let unknown = base.replace(r#"sms = "5/15m""#, r#"pager = "1/1m""#);
    let err = try_parse_config(&unknown).unwrap_err().to_string();
    assert!(err.contains("pager"), "{err}");
    for (window, ok) in [
        ("10s", true),
        ("1h", true),
        ("0s", false),
        ("2h", false),
        ("soon", false),
    ] {
        let text = base.replace(
            "policy = \"outage\"\nintegrations",
            &format!("policy = \"outage\"\ngroup_window = \"{window}\"\nintegrations"),
        );
        match try_parse_config(&text) {
            Ok(c) => assert!(
                ok,
                "{window} accepted: {:?}",
                c.services["web"].group_window
            ),
            Err(e) => {
                assert!(!ok, "{window}: {e}");
                assert!(e.to_string().contains("services[0].group_window"), "{e}");
            }
        }
    }
    // Defaults: 3 calls and 5 texts per 15 minutes per number.
    let no_limits = base.replace("[delivery.rate_limits]\nsms = \"5/15m\"\n", "");
    let c = try_parse_config(&no_limits).unwrap();
    assert_eq!(c.delivery.rate_limits.sms.unwrap().to_string(), "5 per 15m");
    assert_eq!(
        c.delivery.rate_limits.voice.unwrap().to_string(),
        "3 per 15m"
    );
    assert_eq!(c.delivery.rate_limits.email, None);
}

#[tokio::test]
async fn held_texts_survive_a_restart() {
    let (gw, url) = Gateway::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = render_config(&CONFIG.replace("{GW}", &url), &data, "unused");
    let app = spawn_app_at(&config, &data, t0(), None).await;
    let mut ids = Vec::new();
    for i in 1..=7 {
        ids.push(
            app.trigger(&format!("disk-{i}"), &format!("Disk full on web{i}"))
                .await,
        );
    }
    app.settle().await;
    assert_eq!(gw.texts().len(), 5);
    app.stop().await;

    // Back after the window: the two held pages go out as one text, once.
    let app = spawn_app_at(&config, &data, t0() + mins(16), None).await;
    app.settle().await;
    let texts = gw.texts();
    assert_eq!(texts.len(), 6, "{texts:#?}");
    assert!(texts[5].contains("2 alerts"), "{}", texts[5]);
    for id in &ids[5..] {
        assert!(texts[5].contains(&format!("#{id}")), "{}", texts[5]);
        assert_eq!(
            app.alert(*id).await["notifications"][0]["status"],
            "delivered"
        );
    }
    app.advance(mins(30)).await;
    assert_eq!(gw.texts().len(), 6, "nothing sent twice");
}
