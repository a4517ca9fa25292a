//! The HTTP SMS gateway channel end to end: an alert pages a person whose
//! contact is an sms number, Firebell texts it through a gateway described
//! only by configuration, and the timeline says what the gateway answered.
//! The gateway is a local axum server playing TextAnywhere (GET, answers per
//! recipient), Vonage (POST form, JSON status) and Plivo (POST JSON, basic
//! auth, 202). The three channel tables are the documented examples of
//! docs/configuration.md.

use crate::support::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One request as the gateway received it.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub method: String,
    pub path: String,
    /// Query pairs, in order.
    pub query: Vec<(String, String)>,
    pub content_type: String,
    pub authorization: String,
    pub body: String,
}

impl Received {
    /// The body's form pairs, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        pairs(&self.body)
    }
}

fn pairs(encoded: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{encoded}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[derive(Clone, Default)]
struct GatewayState {
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers given in turn; the last one is repeated.
    answers: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
}

pub(crate) struct Gateway {
    pub url: String,
    state: GatewayState,
}

impl Gateway {
    pub async fn start(answers: &[(u16, &'static str)]) -> Gateway {
        let state = GatewayState::default();
        state
            .answers
            .lock()
            .unwrap()
            .extend(answers.iter().copied());
        let app = Router::new()
            .fallback(
                |State(st): State<GatewayState>,
                 method: Method,
                 uri: Uri,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    st.received.lock().unwrap().push(Received {
                        method: method.to_string(),
                        path: uri.path().to_string(),
                        query: pairs(uri.query().unwrap_or_default()),
                        content_type: header("content-type"),
                        authorization: header("authorization"),
                        body: String::from_utf8(body.to_vec()).unwrap(),
                    });
                    let mut answers = st.answers.lock().unwrap();
                    let (status, body) = if answers.len() > 1 {
                        answers.pop_front().unwrap()
                    } else {
                        *answers.front().unwrap()
                    };
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        body.to_string(),
                    )
                },
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Gateway {
            url: format!("http://{addr}"),
            state,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

/// alice, texted at her UK number written nationally; the region comes from
/// `[server] default_region`.
const CONFIG: &str = concat!(
    server_section!(),
    r#"default_region = "GB"

[delivery]
max_attempts = 3
retry_initial = "10s"
retry_max = "1m"

{CHANNEL}

[[users]]
id = "alice"
contacts = [ { kind = "sms", number = "07700 900123" } ]

[[policies]]
id = "outage"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "web"
name = "Web front end"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

/// TextAnywhere's HTTP interface, as the first seed's program used it.
const TEXTANYWHERE: &str = r#"
[[channels]]
name = "textanywhere"
kind = "http_sms"
{DRY_RUN}
method = "GET"
url = "{GW}/HTTPRelay/SendSMS.aspx"
eventtype = "SMS Events"
from = "Stingray"
fields = { Client_ID = "AB1234567", Client_Pass = "ta-password", Client_Ref = "{{ reference }}", Billing_Ref = "firebell", Connection = "2", Originator = "{{ from }}", OType = "1", DestinationEx = "{{ to }}", Body = "{{ body }}", SMS_Type = "0", Reply_Type = "0" }
per_recipient = { pattern = '(?<number>\+?\d+):(?<code>\d+)', success = ["1"] }
"#;

/// Vonage (Nexmo) SMS API: a form POST to /sms/json, credentials as fields.
const VONAGE: &str = r#"
[[channels]]
name = "vonage"
kind = "http_sms"
method = "POST"
encoding = "form"
url = "{GW}/sms/json"
from = "Firebell"
number_format = "digits"
fields = { api_key = "abcd1234", api_secret = "vonage-secret", from = "{{ from }}", to = "{{ to }}", text = "{{ body }}", client-ref = "{{ reference }}" }
success = { status = [200], json_pointer = "/messages/0/status", json_equals = "0" }
message_id = { json_pointer = "/messages/0/message-id" }
"#;

/// Plivo Message API: JSON with basic auth (auth id and token), 202 Accepted.
const PLIVO: &str = r#"
[[channels]]
name = "plivo"
kind = "http_sms"
method = "POST"
encoding = "json"
url = "{GW}/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/"
auth = "basic"
username = "MAXXXXXXXXXXXXXXXXXX"
password = "plivo-token"
from = "+14155550100"
fields = { src = "{{ from }}", dst = "{{ to_digits }}", text = "{{ body }}" }
success = { status = [202] }
message_id = { json_pointer = "/message_uuid/0" }
"#;

/// The first seed's event: "INFO vservers/Olympus vsstart Virtual server
/// started on port 80".
const SEED_EVENT: &str = r#"{"action":"trigger","dedup_key":"olympus-start","summary":"Virtual server started on port 80","severity":"info","source":"vtm1","labels":{"object":"vservers/Olympus","tag":"vsstart"}}"#;

const DISK_EVENT: &str = r#"{"action":"trigger","dedup_key":"disk-web1","summary":"Disk full on web1","severity":"critical","source":"web1"}"#;

async fn start(channel: &str, gw: &Gateway, dry_run: bool) -> (TestApp, tempfile::TempDir) {
    let channel = channel
        .replace("{GW}", &gw.url)
        .replace("{DRY_RUN}", if dry_run { "dry_run = true" } else { "" });
    let (app, dir, _sink) = spawn_app(&CONFIG.replace("{CHANNEL}", &channel)).await;
    (app, dir)
}

async fn trigger(app: &TestApp, body: &str) -> i64 {
    let (status, resp) = app.post_events(body).await;
    assert_eq!(status, 202, "{resp}");
    resp["alerts"][0]["id"].as_i64().unwrap()
}

/// (kind, message) of every timeline entry about delivery.
async fn deliveries(app: &TestApp, id: i64) -> Vec<(String, String)> {
    let alert = app.alert(id).await;
    let text = alert.to_string();
    for secret in ["ta-password", "vonage-secret", "plivo-token"] {
        assert!(!text.contains(secret), "a secret in the API: {text}");
    }
    alert["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| ["delivered", "failed", "retrying"].contains(&e["kind"].as_str().unwrap()))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn textanywhere_gets_the_seeds_request_and_answers_per_recipient() {
    let gw = Gateway::start(&[(200, "+447700900123:1")]).await;
    let (app, _dir) = start(TEXTANYWHERE, &gw, false).await;
    let id = trigger(&app, SEED_EVENT).await;
    app.settle().await;

    let got = gw.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    let r = &got[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/HTTPRelay/SendSMS.aspx");
    assert_eq!(r.authorization, "");
    let reference = r.query[2].1.clone();
    assert!(reference.parse::<i64>().is_ok(), "{reference}");
    assert_eq!(
        r.query,
        owned(&[
            ("Client_ID", "AB1234567"),
            ("Client_Pass", "ta-password"),
            ("Client_Ref", &reference),
            ("Billing_Ref", "firebell"),
            ("Connection", "2"),
            ("Originator", "Stingray"),
            ("OType", "1"),
            ("DestinationEx", "+447700900123"),
            (
                "Body",
                "SMS Events:\nINFO\nvservers/Olympus\nVirtual server started on port 80\nAlert #1"
            ),
            ("SMS_Type", "0"),
            ("Reply_Type", "0"),
        ])
    );
    let d = deliveries(&app, id).await;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].0, "delivered");
    assert!(
        d[0].1.contains("sent to +447700900123 (HTTP 200)"),
        "{d:#?}"
    );
}

#[tokio::test]
async fn a_per_recipient_failure_is_reported_and_not_retried() {
    let gw = Gateway::start(&[(200, "+447700900123:3,+447700900999:1")]).await;
    let (app, _dir) = start(TEXTANYWHERE, &gw, false).await;
    let id = trigger(&app, DISK_EVENT).await;
    app.settle().await;
    app.advance(mins(3)).await;

    assert_eq!(gw.received().len(), 1, "a permanent failure is not retried");
    let d = deliveries(&app, id).await;
    assert_eq!(d.len(), 2, "{d:#?}");
    assert_eq!(d[0].0, "failed");
    assert!(
        d[0].1.contains("failed for good after 1 attempt(s)"),
        "{d:#?}"
    );
    assert!(d[1].1.contains("alice could not be reached"), "{d:#?}");
    assert!(
        d[0].1.contains("gateway reported code 3 for +447700900123"),
        "{d:#?}"
    );
}

#[tokio::test]
async fn vonage_gets_a_form_post_and_the_message_id_is_on_the_timeline() {
    let gw = Gateway::start(&[(
        200,
        r#"{"message-count":"1","messages":[{"to":"447700900123","message-id":"0A0000000123ABCD1","status":"0","remaining-balance":"3.14","message-price":"0.03","network":"23410"}]}"#,
    )])
    .await;
    let (app, _dir) = start(VONAGE, &gw, false).await;
    let id = trigger(&app, DISK_EVENT).await;
    app.settle().await;

    let got = gw.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/sms/json"));
    assert_eq!(r.content_type, "application/x-www-form-urlencoded");
    let form = r.form();
    let reference = form[5].1.clone();
    assert_eq!(
        form,
        owned(&[
            ("api_key", "abcd1234"),
            ("api_secret", "vonage-secret"),
            ("from", "Firebell"),
            ("to", "447700900123"),
            (
                "text",
                "Web front end:\nFATAL\nservices/web\nDisk full on web1\nAlert #1"
            ),
            ("client-ref", &reference),
        ])
    );
    let d = deliveries(&app, id).await;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].0, "delivered");
    assert!(d[0].1.contains("message id 0A0000000123ABCD1"), "{d:#?}");
}

#[tokio::test]
async fn vonage_status_in_the_body_fails_the_page() {
    let gw = Gateway::start(&[(
        200,
        r#"{"message-count":"1","messages":[{"status":"4","error-text":"Bad Credentials"}]}"#,
    )])
    .await;
    let (app, _dir) = start(VONAGE, &gw, false).await;
    let id = trigger(&app, DISK_EVENT).await;
    app.settle().await;
    let d = deliveries(&app, id).await;
    assert_eq!(d[0].0, "failed", "{d:#?}");
    assert!(d[0].1.contains("\"4\" at /messages/0/status"), "{d:#?}");
    assert!(d[0].1.contains("Bad Credentials"), "{d:#?}");
}

#[tokio::test]
async fn a_503_is_retried_and_then_delivered() {
    let ok = r#"{"messages":[{"status":"0","message-id":"0A0000000123ABCD2"}]}"#;
    let gw = Gateway::start(&[(503, "try later"), (503, "try later"), (200, ok)]).await;
    let (app, _dir) = start(VONAGE, &gw, false).await;
    let id = trigger(&app, DISK_EVENT).await;
    app.settle().await;
    assert_eq!(gw.received().len(), 1);
    app.advance(mins(2)).await;

    assert_eq!(gw.received().len(), 3, "two retries");
    let d = deliveries(&app, id).await;
    let kinds: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["retrying", "retrying", "delivered"], "{d:#?}");
    assert!(d[0].1.contains("HTTP 503"), "{d:#?}");
    assert!(d[2].1.contains("message id 0A0000000123ABCD2"), "{d:#?}");
}

#[tokio::test]
async fn a_400_is_permanent_and_not_retried() {
    let gw = Gateway::start(&[(400, "missing parameter")]).await;
    let (app, _dir) = start(VONAGE, &gw, false).await;
    let id = trigger(&app, DISK_EVENT).await;
    app.settle().await;
    app.advance(mins(3)).await;

    assert_eq!(gw.received().len(), 1, "not retried");
    let d = deliveries(&app, id).await;
    assert_eq!(d.len(), 2, "{d:#?}");
    assert_eq!(d[0].0, "failed");
    assert!(
        d[0].1.contains("failed for good after 1 attempt(s)"),
        "{d:#?}"
    );
    assert!(d[1].1.contains("alice could not be reached"), "{d:#?}");
    assert!(
        d[0].1
            .contains("gateway answered HTTP 400: missing parameter"),
        "{d:#?}"
    );
}

#[tokio::test]
async fn plivo_gets_json_with_basic_auth_and_202_is_delivered() {
    let gw = Gateway::start(&[(
        202,
        r#"{"api_id":"4e1f954c-baf3-11ec-bafe-0242ac110003","message":"message(s) queued","message_uuid":["db3ce55a-7f1d-11e1-8ea7-1231380bc196"]}"#,
    )])
    .await;
    let (app, _dir) = start(PLIVO, &gw, false).await;
    let id = trigger(&app, DISK_EVENT).await;
    app.settle().await;

    let got = gw.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    let r = &got[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/")
    );
    assert_eq!(r.content_type, "application/json");
    // base64("MAXXXXXXXXXXXXXXXXXX:plivo-token")
    assert_eq!(
        r.authorization,
        "Basic TUFYWFhYWFhYWFhYWFhYWFhYWFg6cGxpdm8tdG9rZW4="
    );
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "src": "+14155550100",
            "dst": "447700900123",
            "text": "Web front end:\nFATAL\nservices/web\nDisk full on web1\nAlert #1",
        })
    );
    let d = deliveries(&app, id).await;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].0, "delivered");
    assert!(
        d[0].1
            .contains("message id db3ce55a-7f1d-11e1-8ea7-1231380bc196"),
        "{d:#?}"
    );
}

#[tokio::test]
async fn dry_run_sends_nothing_and_says_what_it_would_send() {
    let gw = Gateway::start(&[(200, "+447700900123:1")]).await;
    let (app, _dir) = start(TEXTANYWHERE, &gw, true).await;
    let id = trigger(&app, SEED_EVENT).await;
    app.settle().await;

    assert!(gw.received().is_empty(), "{:#?}", gw.received());
    let d = deliveries(&app, id).await;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].0, "delivered");
    let port = gw.url.rsplit(':').next().unwrap();
    assert!(
        d[0].1.contains(&format!(
            "dry run: would send GET http://127.0.0.1:{port}/… to +447700900123: \"SMS Events:\\nINFO\\nvservers/Olympus\\nVirtual server started on port 80\\nAlert #1\""
        )),
        "{d:#?}"
    );
}

#[tokio::test]
async fn a_channel_test_texts_the_number_given_and_refuses_a_bad_one() {
    let ok = r#"{"messages":[{"status":"0","message-id":"0A0000000123ABCD3"}]}"#;
    let gw = Gateway::start(&[(200, ok)]).await;
    let (app, _dir) = start(VONAGE, &gw, false).await;

    let (status, body) = app
        .api_post(
            "/api/v1/channels/vonage/test",
            serde_json::json!({"to": "12"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("to"), "{body}");
    assert!(gw.received().is_empty(), "nothing sent for a bad number");

    let (status, body) = app
        .api_post(
            "/api/v1/channels/vonage/test",
            serde_json::json!({"to": "07700 900123"}),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    app.settle().await;
    let got = gw.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    let form = got[0].form();
    assert!(
        form.contains(&("to".to_string(), "447700900123".to_string())),
        "{form:?}"
    );
    let text = &form.iter().find(|(k, _)| k == "text").unwrap().1;
    assert!(text.ends_with("Test page"), "{text}");
}
