//! The Twilio channel, outbound: an alert pages alice by voice call and bob
//! by SMS through Twilio's REST API.
//!
//! - Against the project's own mock (`support::twilio_mock`): the exact
//!   fields, basic auth, retries on 5xx, Twilio's error code and message on a
//!   permanent failure followed by the person's next contact method, dry run,
//!   and provider fail-over to an HTTP SMS gateway after three 503s.
//! - Against Stoplight Prism serving Twilio's published API description
//!   (`../shared/specs/twilio_api_v2010.json`): the same requests are valid,
//!   and a request Prism rejects (no credentials) is seen as failed.

use crate::support::twilio_mock::{Answer, TwilioMock};
use crate::support::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-secret";
const PUBLIC: &str = "https://pager.example.com";

/// alice: a voice call, then the console; bob: SMS through the twilio
/// channel. `{PHONE_EXTRA}` adds keys to the twilio channel, `{TARGETS}`
/// says who the one step pages.
const CONFIG: &str = concat!(
    server_section!(),
    r#"public_url = "https://pager.example.com"
default_region = "GB"

[delivery]
max_attempts = 6
retry_initial = "10s"
retry_max = "1m"

[[channels]]
name = "phone"
kind = "twilio"
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "twilio-auth-token-secret"
from = "+15005550006"
base_url = "{TWILIO}"
{PHONE_EXTRA}

[[channels]]
name = "gateway"
kind = "http_sms"
method = "POST"
encoding = "json"
url = "{SINK}"
fields = { to = "{{ to }}", text = "{{ body }}" }

[[users]]
id = "alice"
contacts = [ { kind = "voice", number = "07700 900123" }, { kind = "console" } ]
[[users]]
id = "bob"
contacts = [ { kind = "sms", number = "+44 7700 900456", channel = "phone" } ]

[[policies]]
id = "outage"
steps = [ { targets = [{TARGETS}], wait = "10m" } ]

[[services]]
id = "web"
name = "Web front end"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

const BOTH: &str = r#""user:alice", "user:bob""#;

async fn start(base_url: &str, extra: &str, targets: &str) -> (TestApp, tempfile::TempDir, Sink) {
    let text = CONFIG
        .replace("{TWILIO}", base_url)
        .replace("{PHONE_EXTRA}", extra)
        .replace("{TARGETS}", targets);
    spawn_app(&text).await
}

/// (kind, message) of every timeline entry about delivery; the auth token
/// is nowhere in the alert as the API shows it.
async fn deliveries(app: &TestApp, id: i64) -> Vec<(String, String)> {
    let alert = app.alert(id).await;
    let text = alert.to_string();
    assert!(!text.contains(TOKEN), "the auth token in the API: {text}");
    alert["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            ["delivered", "failed", "retrying", "not_reached"]
                .contains(&e["kind"].as_str().unwrap())
        })
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn find<'a>(lines: &'a [(String, String)], kind: &str, needle: &str) -> &'a str {
    lines
        .iter()
        .find(|(k, m)| k == kind && m.contains(needle))
        .map(|(_, m)| m.as_str())
        .unwrap_or_else(|| panic!("no {kind} line with {needle:?} in {lines:#?}"))
}

#[tokio::test]
async fn calls_and_texts_carry_exactly_the_documented_fields() {
    let twilio = TwilioMock::start().await;
    let (app, _dir, _sink) = start(&twilio.base_url, "", BOTH).await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.settle().await;

    let calls = twilio.calls();
    let messages = twilio.messages();
    assert_eq!(
        (calls.len(), messages.len()),
        (1, 1),
        "{:#?}",
        twilio.requests()
    );
    let call = &calls[0];
    let text = &messages[0];
    for r in [call, text] {
        assert_eq!(r.method, "POST");
        assert_eq!(r.auth, Some((SID.to_string(), TOKEN.to_string())));
    }
    assert_eq!(call.path, format!("/2010-04-01/Accounts/{SID}/Calls.json"));
    assert_eq!(
        text.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );

    // The call: alice's number as E.164, Twilio fetches what to say from the
    // voice hook and reports every progress event to the status hook.
    let (n_call, n_text) = (
        call.field("Url")
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string(),
        text.field("StatusCallback")
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string(),
    );
    let owned = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    assert_eq!(
        call.form,
        owned(&[
            ("To", "+447700900123".into()),
            ("From", "+15005550006".into()),
            ("Url", format!("{PUBLIC}/hooks/twilio/phone/voice/{n_call}")),
            ("Method", "POST".into()),
            (
                "StatusCallback",
                format!("{PUBLIC}/hooks/twilio/phone/status/{n_call}")
            ),
            ("StatusCallbackMethod", "POST".into()),
            ("StatusCallbackEvent", "initiated".into()),
            ("StatusCallbackEvent", "ringing".into()),
            ("StatusCallbackEvent", "answered".into()),
            ("StatusCallbackEvent", "completed".into()),
            ("MachineDetection", "Enable".into()),
            ("Timeout", "30".into()),
        ])
    );
    // The text: bob's number, the service and what happened, and how to answer.
    assert_eq!(text.field("To"), Some("+447700900456"));
    assert_eq!(text.field("From"), Some("+15005550006"));
    assert_eq!(
        text.field("StatusCallback").unwrap(),
        format!("{PUBLIC}/hooks/twilio/phone/status/{n_text}")
    );
    let body = text.field("Body").unwrap();
    assert_eq!(
        body,
        format!(
            "Web front end:\nFATAL\nservices/web\nDisk full on web1\nReply {id}a to take it, {id}d to pass, {id}r to resolve"
        )
    );
    assert_eq!(text.form.len(), 4, "{:?}", text.form);

    let lines = deliveries(&app, id).await;
    find(
        &lines,
        "delivered",
        "delivered to alice via phone (Twilio call CA",
    );
    find(
        &lines,
        "delivered",
        "delivered to bob via phone (Twilio message SM",
    );
    assert!(
        lines
            .iter()
            .all(|(_, m)| !m.contains("queued") || m.contains(" queued)")),
        "{lines:#?}"
    );
    assert!(app.pages().is_empty(), "the console was not needed");
}

#[tokio::test]
async fn server_errors_are_retried_and_client_errors_fail_for_good() {
    let twilio = TwilioMock::start().await;
    twilio.set_answers(vec![Answer::status(500), Answer::Created]);
    let (app, _dir, _sink) = start(
        &twilio.base_url,
        "machine_detection = false",
        r#""user:alice""#,
    )
    .await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.advance(mins(2)).await;

    let calls = twilio.calls();
    assert_eq!(calls.len(), 2, "one failure, one retry: {calls:#?}");
    assert_eq!(calls[0].form, calls[1].form, "the retry is the same call");
    assert_eq!(calls[0].field("MachineDetection"), None);
    let lines = deliveries(&app, id).await;
    find(
        &lines,
        "retrying",
        "attempt 1 to alice via phone failed (Twilio 20500: Internal Server Error (HTTP 500))",
    );
    find(
        &lines,
        "delivered",
        "delivered to alice via phone (Twilio call CA",
    );
    assert!(app.pages().is_empty());

    // A 400 with Twilio's error: failed for good at once, with Twilio's code
    // and message; alice's next contact method (the console) is paged.
    twilio.set_answer(Answer::Error {
        status: 400,
        code: 21211,
        message: "The 'To' number +447700900123 is not a valid phone number.".into(),
    });
    let id = app.trigger("disk-web2", "Disk full on web2").await;
    app.advance(mins(2)).await;
    assert_eq!(twilio.calls().len(), 3, "a client error is not retried");
    let lines = deliveries(&app, id).await;
    find(
        &lines,
        "failed",
        "page to alice via phone failed for good after 1 attempt(s): Twilio 21211: The 'To' number +447700900123 is not a valid phone number. (HTTP 400)",
    );
    find(&lines, "delivered", "delivered to alice via console");
    let pages = app.pages();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(pages[0].line.contains("Disk full on web2"), "{pages:?}");
}

#[tokio::test]
async fn after_three_503s_pages_go_through_the_fallback_gateway() {
    let twilio = TwilioMock::start().await;
    twilio.set_answer(Answer::Error {
        status: 503,
        code: 20503,
        message: "Service Unavailable".into(),
    });
    let (app, _dir, sink) = start(
        &twilio.base_url,
        "fallback = \"gateway\"\nfallback_after = 3",
        BOTH,
    )
    .await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.advance(mins(5)).await;

    // Three calls to alice and three texts to bob, then nothing more to Twilio.
    assert_eq!(twilio.calls().len(), 3, "{:#?}", twilio.requests());
    assert_eq!(twilio.messages().len(), 3, "{:#?}", twilio.requests());
    // The gateway texted both numbers once.
    let mut got: Vec<(String, String)> = sink
        .bodies()
        .iter()
        .map(|b| {
            (
                b["to"].as_str().unwrap().to_string(),
                b["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].0, "+447700900123");
    assert_eq!(got[1].0, "+447700900456");
    assert!(got[0].1.starts_with("Web front end:\nFATAL"), "{got:#?}");

    let lines = deliveries(&app, id).await;
    for user in ["alice", "bob"] {
        find(
            &lines,
            "retrying",
            &format!(
                "attempt 3 to {user} via phone failed (Twilio 20503: Service Unavailable (HTTP 503))"
            ),
        );
        find(
            &lines,
            "delivered",
            &format!(
                "phone failed 3 times in a row; sending via fallback channel gateway: delivered to {user} via gateway"
            ),
        );
    }
    assert!(app.pages().is_empty(), "alice's console was not needed");
}

/// With `[self_alerts]`, pages going out through the fallback are a
/// trouble (carol is paged once); the channel delivering again ends it.
#[tokio::test]
async fn the_fallback_in_use_is_a_self_alert_until_the_channel_delivers_again() {
    let twilio = TwilioMock::start().await;
    twilio.set_answer(Answer::Error {
        status: 503,
        code: 20503,
        message: "Service Unavailable".into(),
    });
    let text = CONFIG
        .replace("{TWILIO}", &twilio.base_url)
        .replace("{PHONE_EXTRA}", "fallback = \"gateway\"\nfallback_after = 3")
        .replace("{TARGETS}", r#""user:bob""#)
        .replace(
            "[[services]]",
            "[self_alerts]\npolicy = \"ops\"\n\n[[users]]\nid = \"carol\"\ncontacts = [ { kind = \"console\" } ]\n\n\
             [[policies]]\nid = \"ops\"\nsteps = [ { targets = [\"user:carol\"], wait = \"10m\" } ]\n\n[[services]]",
        );
    let (app, _dir, sink) = spawn_app(&text).await;
    let self_alerts = || async {
        app.all_alerts()
            .await
            .into_iter()
            .filter(|a| a["dedup_key"] == "firebell:fallback-used:phone")
            .collect::<Vec<_>>()
    };
    app.trigger("disk-web1", "Disk full on web1").await;
    app.advance(mins(5)).await;
    assert_eq!(sink.bodies().len(), 1, "bob was texted through the gateway");
    let alerts = self_alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["dedup_key"], "firebell:fallback-used:phone");
    assert_eq!(
        alerts[0]["summary"],
        "channel \"phone\" keeps failing: pages go out through its fallback \"gateway\""
    );
    // carol is paged about it once (the exhausted escalations of these
    // test alerts page her too; they are not counted here).
    let paged = || {
        app.pages()
            .into_iter()
            .filter(|p| p.line.contains("keeps failing"))
            .map(|p| p.user)
            .collect::<Vec<_>>()
    };
    assert_eq!(paged(), ["carol"]);

    // A second page through the fallback: the same trouble, nobody paged again.
    app.trigger("disk-web2", "Disk full on web2").await;
    app.advance(mins(5)).await;
    assert_eq!(sink.bodies().len(), 2);
    assert_eq!(self_alerts().await.len(), 1);
    assert_eq!(paged().len(), 1);

    // Twilio is back: the next page goes through it and the trouble ends.
    twilio.set_answer(Answer::Created);
    app.trigger("disk-web3", "Disk full on web3").await;
    app.advance(mins(1)).await;
    let alerts = self_alerts().await;
    assert_eq!(alerts[0]["status"], "resolved", "{alerts:#?}");
    assert_eq!(paged().len(), 1);
}

#[tokio::test]
async fn a_fallback_that_fails_for_good_moves_on_to_the_next_contact() {
    // Twilio is down and the gateway refuses the text: both show on the
    // timeline, then alice's next contact method (the console) is paged.
    let twilio = TwilioMock::start().await;
    twilio.set_answer(Answer::status(503));
    let (app, _dir, sink) = start(
        &twilio.base_url,
        "fallback = \"gateway\"\nfallback_after = 2",
        r#""user:alice""#,
    )
    .await;
    sink.set_status(400);
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.advance(mins(5)).await;

    assert_eq!(twilio.calls().len(), 2);
    assert_eq!(
        sink.bodies().len(),
        1,
        "a 400 from the gateway is not retried"
    );
    let lines = deliveries(&app, id).await;
    let kinds: Vec<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["retrying", "retrying", "failed", "delivered"],
        "{lines:#?}"
    );
    find(&lines, "retrying", "attempt 2 to alice via phone failed");
    find(
        &lines,
        "failed",
        "phone failed 2 times in a row; sending via fallback channel gateway: page to alice via gateway failed for good after 3 attempt(s)",
    );
    find(&lines, "delivered", "delivered to alice via console");
    assert_eq!(app.pages().len(), 1);
}

#[tokio::test]
async fn dry_run_renders_but_calls_nobody() {
    let twilio = TwilioMock::start().await;
    let (app, _dir, _sink) = start(&twilio.base_url, "dry_run = true", BOTH).await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.settle().await;
    assert!(twilio.requests().is_empty(), "{:#?}", twilio.requests());
    let lines = deliveries(&app, id).await;
    find(
        &lines,
        "delivered",
        "delivered to alice via phone (dry run: would call +447700900123 from +15005550006 via Twilio)",
    );
    find(
        &lines,
        "delivered",
        &format!(
            "delivered to bob via phone (dry run: would text +447700900456 from +15005550006 via Twilio: \"Web front end:\\nFATAL\\nservices/web\\nDisk full on web1\\nReply {id}a to take it"
        ),
    );
}

// ---------------------------------------------------------------------------
// Against Twilio's API description, served by Prism.
// ---------------------------------------------------------------------------

/// `tests/node/node_modules/.bin/prism` (installed by `npm ci --prefix
/// tests/node`). `None` means skip: allowed only outside CI.
fn prism() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join("tests/node/node_modules/.bin/prism");
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "{} is missing (run .ci/run, or npm ci --prefix tests/node)",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
    None
}

fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs/twilio_api_v2010.json")
}

/// Starts `prism mock` on the spec (static examples) and waits until it
/// listens. Loading the 1.8 MB description takes a few seconds.
async fn start_prism(prism: &Path) -> (ChildGuard, String) {
    assert!(
        spec().is_file(),
        "Twilio's API description is missing: {}",
        spec().display()
    );
    let port = free_port();
    let child = std::process::Command::new(prism)
        .arg("mock")
        .arg(spec())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(child);
    let started = std::time::Instant::now();
    eventually(120, "prism to listen", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    eprintln!("prism listening after {:?}", started.elapsed());
    (guard, format!("http://127.0.0.1:{port}"))
}

/// Form fields the description types as arrays. Twilio takes one parameter
/// per value (`StatusCallbackEvent=initiated&StatusCallbackEvent=ringing`,
/// OpenAPI's default `explode` for form bodies), but Prism 5 keeps only the
/// last of repeated keys and then reports "must be array"
/// (stoplightio/prism#2473); it reads the `Name[]` spelling instead.
const ARRAY_FIELDS: [&str; 1] = ["StatusCallbackEvent"];

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    /// Drop the Authorization header (the negative check).
    strip_auth: Arc<AtomicBool>,
    /// (path, status, answer) of each request forwarded.
    seen: Arc<Mutex<Vec<(String, u16, String)>>>,
}

/// A loopback proxy in front of Prism: forwards each request as it came,
/// spelling array fields the way Prism reads them.
async fn start_proxy(upstream: &str) -> ProxyState {
    let state = ProxyState {
        upstream: upstream.to_string(),
        client: reqwest::Client::new(),
        strip_auth: Arc::new(AtomicBool::new(false)),
        seen: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .fallback(
            |State(st): State<ProxyState>,
             method: Method,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                let form: Vec<(String, String)> = form_urlencoded::parse(&body)
                    .map(|(k, v)| {
                        let k = if ARRAY_FIELDS.contains(&k.as_ref()) {
                            format!("{k}[]")
                        } else {
                            k.into_owned()
                        };
                        (k, v.into_owned())
                    })
                    .collect();
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish();
                let mut req = st
                    .client
                    .request(method, format!("{}{}", st.upstream, uri.path()))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
                if let Some(auth) = headers.get("authorization")
                    && !st.strip_auth.load(Ordering::SeqCst)
                {
                    req = req.header("authorization", auth);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let answer = resp.text().await.unwrap();
                st.seen
                    .lock()
                    .unwrap()
                    .push((uri.path().to_string(), status, answer.clone()));
                (StatusCode::from_u16(status).unwrap(), answer)
            },
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    ProxyState {
        upstream: format!("http://{addr}"),
        ..state
    }
}

#[tokio::test]
async fn requests_are_valid_against_twilios_api_description() {
    let Some(prism) = prism() else { return };
    let (_prism, prism_url) = start_prism(&prism).await;
    let proxy = start_proxy(&prism_url).await;
    let (app, _dir, _sink) = start(
        &proxy.upstream,
        "voicemail = \"Firebell: an alert needs you.\"",
        BOTH,
    )
    .await;

    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.settle().await;
    let seen = proxy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    for (path, status, answer) in &seen {
        assert_eq!(*status, 201, "Prism refused {path}: {answer}");
    }
    let lines = deliveries(&app, id).await;
    // Prism answers with the description's examples.
    find(
        &lines,
        "delivered",
        "delivered to alice via phone (Twilio call CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    );
    find(
        &lines,
        "delivered",
        "delivered to bob via phone (Twilio message SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    );

    // Prism does validate: without credentials both requests are refused,
    // the call falls to alice's console, bob is not reached.
    proxy.strip_auth.store(true, Ordering::SeqCst);
    let id = app.trigger("disk-web2", "Disk full on web2").await;
    app.settle().await;
    let seen = proxy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:#?}");
    assert!(seen[2..].iter().all(|(_, s, _)| *s == 401), "{seen:#?}");
    let lines = deliveries(&app, id).await;
    let failed = find(&lines, "failed", "page to alice via phone failed for good");
    assert!(failed.contains("HTTP 401"), "{failed}");
    assert!(failed.contains("Invalid security scheme used"), "{failed}");
    find(&lines, "failed", "page to bob via phone failed for good");
    find(&lines, "delivered", "delivered to alice via console");
}

#[tokio::test]
async fn prism_reports_what_is_wrong_with_a_bad_call() {
    // The check above is only worth something if Prism looks at the fields:
    // a call without a Url (and an unknown Method) is refused with the
    // violations listed.
    let Some(prism) = prism() else { return };
    let (_prism, prism_url) = start_prism(&prism).await;
    let resp = reqwest::Client::new()
        .post(format!("{prism_url}/2010-04-01/Accounts/{SID}/Calls.json"))
        .basic_auth(SID, Some(TOKEN))
        .form(&[
            ("To", "+447700900123"),
            ("From", "+15005550006"),
            ("Url", "not a url"),
            ("Method", "PUT"),
            ("Timeout", "soon"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().await.unwrap();
    let fields: Vec<&str> = body["validation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["location"][1].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["Method", "Timeout", "Url"], "{body}");

    // The balance read of the self-alerts: the description's Balance
    // resource takes it (its example says 0.05 USD); without the right
    // credentials it is refused, and the read says so.
    let mut settings = firebell_core::channels::TwilioSettings {
        account_sid: SID.to_string(),
        auth_token: secrecy::SecretString::from(TOKEN.to_string()),
        from: "+15005550006".to_string(),
        base_url: prism_url.clone(),
        machine_detection: false,
        voicemail: None,
    };
    assert_eq!(
        firebell_channels::twilio::fetch_balance(&settings).await,
        Ok((0.05, "USD".to_string()))
    );
    settings.account_sid = "not-an-account".to_string();
    let err = firebell_channels::twilio::fetch_balance(&settings)
        .await
        .unwrap_err();
    assert!(err.starts_with("Twilio's Balance answered HTTP 4"), "{err}");
    assert!(!err.contains(TOKEN));
}
