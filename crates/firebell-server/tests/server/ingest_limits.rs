//! Per-integration ingest limits (`rate_limit = "N/WINDOW"`): a request
//! over the allowance is refused whole with 429 and `Retry-After` (in each
//! format's own shape), records nothing, and the allowance refills.

use crate::support::*;
use jiff::SignedDuration;
use serde_json::{Value, json};

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
id = "checkout"
policy = "p"
integrations = [
  { kind = "generic", key = "test-integration-key", rate_limit = "5/1m" },
  { kind = "pagerduty", key = "pd-routing-key-01", rate_limit = "2/1m" },
  { kind = "alertmanager", key = "am-key-0123456789", rate_limit = "3/1m" },
]

[[services]]
id = "other"
policy = "p"
integrations = [ { kind = "generic", key = "other-key-0123456789" } ]
"#
);

fn triggers(prefix: &str, n: usize) -> String {
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"action": "trigger", "dedup_key": format!("{prefix}-{i}"), "summary": "x"}))
        .collect();
    Value::Array(events).to_string()
}

#[tokio::test]
async fn an_integration_over_its_rate_limit_gets_429_and_nothing_is_recorded() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    let (status, _) = app.post_events(&triggers("a", 3)).await;
    assert_eq!(status, 202);
    // 3 of 5 used: a request of 3 does not fit, and is refused whole.
    let r = app
        .client
        .post(format!("{}/api/v1/events", app.url))
        .bearer_auth(KEY)
        .body(triggers("b", 3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("5 events per 1m"),
        "{body}"
    );
    assert_eq!(
        app.all_alerts().await.len(),
        3,
        "nothing of the refused request"
    );
    // Another service's integration has its own allowance (none here).
    let (status, _) = app
        .post_events_with_key(&triggers("o", 20), Some("other-key-0123456789"))
        .await;
    assert_eq!(status, 202);
    // The allowance refills with time: a minute later all of it.
    app.clock.advance(SignedDuration::from_mins(1));
    let (status, _) = app.post_events(&triggers("c", 5)).await;
    assert_eq!(status, 202);

    // PagerDuty's Events API: its own 429 answer.
    let pd = |i: usize| {
        json!({"routing_key": "pd-routing-key-01", "event_action": "trigger",
               "payload": {"summary": format!("pd {i}"), "source": "web1", "severity": "critical"}})
    };
    for i in 0..2 {
        let r = app
            .client
            .post(format!("{}/v2/enqueue", app.url))
            .json(&pd(i))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let r = app
        .client
        .post(format!("{}/v2/enqueue", app.url))
        .json(&pd(2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "throttle event");

    // Alertmanager's API: a JSON string, as Alertmanager answers errors.
    let am: Vec<Value> = (0..4)
        .map(|i| json!({"labels": {"alertname": format!("A{i}")}}))
        .collect();
    let r = app
        .client
        .post(format!("{}/api/v2/alerts", app.url))
        .bearer_auth("am-key-0123456789")
        .json(&am[..3])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(format!("{}/api/v2/alerts", app.url))
        .bearer_auth("am-key-0123456789")
        .json(&am[3..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.json::<Value>().await.unwrap().is_string());
    app.stop().await;
}

#[tokio::test]
async fn a_rate_limit_that_does_not_parse_is_a_config_error_naming_it() {
    let bad = CONFIG.replace("\"5/1m\"", "\"lots\"");
    let errors = firebell_core::config::parse(
        &bad.replace("{DATA_DIR}", "/tmp/x"),
        &firebell_core::config::MapSecrets::default(),
    )
    .unwrap_err();
    let text = errors
        .0
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("services[0].integrations[0].rate_limit"),
        "{text}"
    );
}
