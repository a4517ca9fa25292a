//! Replies through an http_sms gateway: Firebell texts a page through the
//! gateway (the local mock of `http_sms.rs`), the person answers, and the
//! test plays the gateway forwarding the answer to `/hooks/sms/{channel}`,
//! signed by the gateway's own library (Vonage's `vonage_http_client`,
//! Plivo's `plivo.utils.signature_v3`, via tests/python/sms_sign.py) or
//! carrying the channel's token. Replies act as Twilio replies do; a bad
//! signature or token, a stale one, or a stranger changes nothing.

use crate::http_sms::Gateway;
use crate::support::*;
use serde_json::{Value, json};

const PUBLIC_URL: &str = "https://pager.example.com";
const VONAGE_SECRET: &str = "vonage-signature-secret-0123";
const PLIVO_TOKEN: &str = "plivo-auth-token-0123";
const TA_TOKEN: &str = "ta-inbound-0123456789abcdef0123456789";

const ALICE: &str = "447700900123";
const BOB: &str = "447700900456";

/// alice then bob on the web service; both texted through `{CHANNEL}`
/// (named "gw"), whose `inbound` table is `{INBOUND}`.
const CONFIG: &str = concat!(
    server_section!(),
    r#"public_url = "https://pager.example.com"
default_region = "GB"

{CHANNEL}
inbound = {INBOUND}

[[users]]
id = "alice"
contacts = [ { kind = "sms", number = "07700 900123", channel = "gw" } ]
[[users]]
id = "bob"
contacts = [ { kind = "sms", number = "+44 7700 900456", channel = "gw" } ]

[[policies]]
id = "outage"
repeat = 1
steps = [
  { targets = ["user:alice"], wait = "5m" },
  { targets = ["user:bob"], wait = "5m" },
]

[[services]]
id = "web"
name = "Web front end"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

/// Vonage's SMS API (form POST; JSON status).
const VONAGE: &str = r#"
[[channels]]
name = "gw"
kind = "http_sms"
method = "POST"
encoding = "form"
url = "{GW}/sms/json"
number_format = "digits"
fields = { api_key = "abcd1234", api_secret = "vonage-secret", from = "{{ from }}", to = "{{ to }}", text = "{{ body }}" }
success = { status = [200], json_pointer = "/messages/0/status", json_equals = "0" }"#;
const VONAGE_OK: &str = r#"{"message-count":"1","messages":[{"message-id":"0A01","status":"0"}]}"#;

/// The first seed's TextAnywhere (GET, per-recipient answers).
const TEXTANYWHERE: &str = r#"
[[channels]]
name = "gw"
kind = "http_sms"
method = "GET"
url = "{GW}/HTTPRelay/SendSMS.aspx"
from = "Stingray"
fields = { Client_ID = "AB1234567", Client_Pass = "ta-password", Originator = "{{ from }}", DestinationEx = "{{ to }}", Body = "{{ body }}", Reply_Type = "1" }
per_recipient = { pattern = '(?<number>\+?\d+):(?<code>\d+)', success = ["1"] }"#;

/// Plivo's Message API (JSON, 202).
const PLIVO: &str = r#"
[[channels]]
name = "gw"
kind = "http_sms"
method = "POST"
encoding = "json"
url = "{GW}/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/"
auth = "basic"
username = "MAXXXXXXXXXXXXXXXXXX"
password = "plivo-token"
from = "+14155550100"
fields = { src = "{{ from }}", dst = "{{ to_digits }}", text = "{{ body }}" }
success = { status = [202] }"#;

struct World {
    app: TestApp,
    gw: Gateway,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

async fn world(channel: &str, inbound: &str, answer: &'static str) -> World {
    let gw = Gateway::start(&[(if channel == PLIVO { 202 } else { 200 }, answer)]).await;
    let config = CONFIG
        .replace("{CHANNEL}", &channel.replace("{GW}", &gw.url))
        .replace("{INBOUND}", inbound);
    let (app, dir, _sink) = spawn_app(&config).await;
    World {
        app,
        gw,
        _dir: dir,
        client: reqwest::Client::new(),
    }
}

/// The gateway libraries' signatures for `cases` (see sms_sign.py).
fn library_signatures(cases: Vec<Value>) -> Option<Vec<String>> {
    let python = python_with(&["plivo", "vonage_http_client"])?;
    let mut child = std::process::Command::new(&python)
        .arg(python_script("sms_sign.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let input = json!({ "cases": cases }).to_string();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sms_sign.py failed");
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl World {
    async fn trigger(&self, key: &str, summary: &str) -> i64 {
        let body = json!({"action": "trigger", "dedup_key": key, "summary": summary, "severity": "critical", "source": "web1"});
        let (status, resp) = self.app.post_events(&body.to_string()).await;
        assert_eq!(status, 202, "{resp}");
        self.app.settle().await;
        resp["alerts"][0]["id"].as_i64().unwrap()
    }

    /// Texts the gateway was asked to send to `digits`, oldest first.
    fn texts_to(&self, digits: &str) -> Vec<String> {
        self.gw
            .received()
            .iter()
            .filter_map(|r| {
                let fields: Vec<(String, String)> = match r.method.as_str() {
                    "GET" => r.query.clone(),
                    _ if r.content_type.starts_with("application/json") => {
                        let v: Value = serde_json::from_str(&r.body).unwrap();
                        v.as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    }
                    _ => r.form(),
                };
                let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let to = get("to").or(get("dst")).or(get("DestinationEx"))?;
                (to.trim_start_matches('+') == digits)
                    .then(|| get("text").or(get("Body")).unwrap_or_default())
            })
            .collect()
    }

    async fn status(&self, id: i64) -> String {
        self.app.alert(id).await["alert"]["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Posts a form to `/hooks/sms/gw` (plus `query`) with `headers`.
    async fn post(
        &self,
        query: &str,
        form: &[(String, String)],
        headers: &[(&str, String)],
    ) -> (u16, String) {
        let mut req = self
            .client
            .post(format!("{}/hooks/sms/gw{query}", self.app.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form.iter())
                    .finish(),
            );
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        self.app.settle().await;
        (status, text)
    }

    /// A Vonage inbound text, signed by Vonage's library (`sig` = `None`),
    /// or carrying the given `sig`.
    async fn vonage(&self, id: &str, from: &str, text: &str, timestamp: i64) -> (u16, String) {
        let form = pairs(&[
            ("msisdn", from),
            ("to", "447700900000"),
            ("messageId", id),
            ("text", text),
            ("type", "text"),
            ("keyword", text),
            ("message-timestamp", "2026-03-01 09:00:00"),
            ("timestamp", &timestamp.to_string()),
        ]);
        let Some(sig) = library_signatures(vec![json!({
            "kind": "vonage", "secret": VONAGE_SECRET, "method": "sha256", "params": form,
        })]) else {
            eprintln!("SKIPPED: Vonage's Python library is not installed (.venv)");
            return (0, String::new());
        };
        let mut signed = form.clone();
        signed.push(("sig".into(), sig[0].clone()));
        self.post("", &signed, &[]).await
    }

    fn now(&self) -> i64 {
        self.app.engine.now().as_second()
    }
}

/// Vonage: `Nd` passes the alert on, `Na` takes it, `Nr` resolves it, each
/// answered by a text through the gateway; a repeated delivery acts once; a
/// bad or stale signature and a stranger change nothing.
#[tokio::test]
async fn vonage_replies_pass_take_and_resolve() {
    let w = world(
        VONAGE,
        r#"{ preset = "vonage", signature_secret = "vonage-signature-secret-0123", signature_method = "sha256" }"#,
        VONAGE_OK,
    )
    .await;
    let id = w.trigger("disk-web1", "Disk full on web1").await;
    let to_alice = w.texts_to(ALICE);
    assert_eq!(to_alice.len(), 1, "{to_alice:?}");
    assert!(
        to_alice[0].ends_with(&format!(
            "Reply {id}a to take it, {id}d to pass, {id}r to resolve"
        )),
        "{to_alice:?}"
    );
    let now = w.now();
    if w.vonage("m-0", ALICE, "help", now).await.0 == 0 {
        return;
    }

    // A bad signature: 403, nothing changes, nobody is answered.
    let mut forged = pairs(&[
        ("msisdn", ALICE),
        ("messageId", "m-forged"),
        ("text", &format!("{id}r")),
        ("timestamp", &now.to_string()),
    ]);
    forged.push(("sig".into(), "0".repeat(64)));
    assert_eq!(w.post("", &forged, &[]).await.0, 403);
    forged.pop();
    let (status, why) = w.post("", &forged, &[]).await;
    assert_eq!((status, why.as_str()), (403, "missing the sig parameter"));
    // Signed, but an hour old: a replay.
    let (status, why) = w
        .vonage("m-old", ALICE, &format!("{id}r"), now - 3600)
        .await;
    assert_eq!(
        (status, why.as_str()),
        (403, "the signed timestamp is too far from now")
    );
    // A stranger: ignored.
    let (status, body) = w
        .vonage("m-x", "447700900999", &format!("{id}r"), now)
        .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "ignored: not a known number")
    );
    assert_eq!(w.status(id).await, "triggered");

    // alice passes it: bob is paged; alice is told.
    let (status, answer) = w.vonage("m-1", ALICE, &format!("{id}d"), now).await;
    assert_eq!(
        (status, answer.as_str()),
        (200, format!("Passing alert {id} on.").as_str())
    );
    assert!(
        w.texts_to(ALICE)
            .last()
            .unwrap()
            .ends_with(&format!("\nPassing alert {id} on."))
    );
    let to_bob = w.texts_to(BOB);
    assert_eq!(to_bob.len(), 1, "bob is paged: {to_bob:?}");

    // Vonage delivering alice's text again: same answer, no second text.
    let before = w.gw.received().len();
    let (status, again) = w.vonage("m-1", ALICE, &format!("{id}d"), now).await;
    assert_eq!((status, again), (200, answer));
    assert_eq!(w.gw.received().len(), before, "a repeat sends nothing");

    // bob takes it, then resolves it.
    let (_, answer) = w.vonage("m-2", BOB, &format!("{id}a"), now).await;
    assert_eq!(
        answer,
        format!("You have taken alert {id}: Disk full on web1")
    );
    assert_eq!(w.status(id).await, "acknowledged");
    let (_, answer) = w.vonage("m-3", BOB, &format!("{id}R"), now).await;
    assert_eq!(answer, format!("Alert {id} is resolved."));
    assert_eq!(w.status(id).await, "resolved");
    assert_eq!(
        w.texts_to(BOB).last().unwrap(),
        &format!("Firebell:\n{answer}")
    );

    let alert = w.app.alert(id).await;
    let timeline = alert["timeline"].to_string();
    assert!(timeline.contains("bob"), "{timeline}");
    assert!(!timeline.contains(VONAGE_SECRET), "{timeline}");
    w.app.stop().await;
}

/// Plivo: a reply signed with Plivo's V3 signature (its own library) takes
/// the alert; a wrong signature or nonce is 403 and changes nothing.
#[tokio::test]
async fn plivo_replies_are_checked_by_their_v3_signature() {
    let w = world(
        PLIVO,
        r#"{ preset = "plivo", auth_token = "plivo-auth-token-0123" }"#,
        r#"{"api_id":"a","message":"message(s) queued","message_uuid":["db3ce55a"]}"#,
    )
    .await;
    let id = w.trigger("disk-web1", "Disk full on web1").await;
    assert_eq!(w.texts_to(ALICE).len(), 1);
    let form = pairs(&[
        ("From", ALICE),
        ("To", "14155550100"),
        ("Text", &format!("{id}a")),
        ("Type", "sms"),
        ("MessageUUID", "2d55ecd0-0000-4000-8000-000000000001"),
    ]);
    let url = format!("{PUBLIC_URL}/hooks/sms/gw");
    let Some(sig) = library_signatures(vec![json!({
        "kind": "plivo", "token": PLIVO_TOKEN, "url": url, "params": form, "nonce": "31415926",
    })]) else {
        eprintln!("SKIPPED: Plivo's Python library is not installed (.venv)");
        return;
    };
    let headers = |sig: &str, nonce: &str| {
        vec![
            ("X-Plivo-Signature-V3", sig.to_string()),
            ("X-Plivo-Signature-V3-Nonce", nonce.to_string()),
        ]
    };
    // The signature over another nonce, and a signature of another text.
    assert_eq!(
        w.post("", &form, &headers(&sig[0], "27182818")).await.0,
        403
    );
    let mut other = form.clone();
    other[2].1 = format!("{id}r");
    let (status, why) = w.post("", &other, &headers(&sig[0], "31415926")).await;
    assert_eq!((status, why.as_str()), (403, "bad X-Plivo-Signature-V3"));
    assert_eq!(w.status(id).await, "triggered");

    let (status, answer) = w.post("", &form, &headers(&sig[0], "31415926")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        format!("You have taken alert {id}: Disk full on web1")
    );
    assert_eq!(w.status(id).await, "acknowledged");
    assert_eq!(
        w.texts_to(ALICE).last().unwrap(),
        &format!("Firebell:\n{answer}")
    );
    w.app.stop().await;
}

/// TextAnywhere (the first seed's gateway) forwards replies by GET and does
/// not sign: the channel's long token in the URL authenticates them.
#[tokio::test]
async fn a_gateway_without_signatures_is_checked_by_the_url_token() {
    let w = world(
        TEXTANYWHERE,
        r#"{ preset = "textanywhere", token = "ta-inbound-0123456789abcdef0123456789" }"#,
        "+447700900123:1,+447700900456:1",
    )
    .await;
    let id = w
        .trigger("pool-web", "Pool web has no back-end nodes")
        .await;
    assert_eq!(w.texts_to(ALICE).len(), 1);
    let get = |token: Option<&str>, from: &str, body: String| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("Originator", from)
            .append_pair("Destination", "80010_FIREBELL")
            .append_pair("Body", &body)
            .append_pair("Date", "01/03/2026")
            .append_pair("Time", "09:00:05");
        if let Some(t) = token {
            q.append_pair("token", t);
        }
        let url = format!("{}/hooks/sms/gw?{}", w.app.url, q.finish());
        let client = w.client.clone();
        async move {
            let resp = client.get(url).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, why) = get(None, "+447700900123", format!("{id}a")).await;
    assert_eq!((status, why.as_str()), (403, "missing ?token="));
    let wrong = TA_TOKEN.replace('0', "1");
    let (status, why) = get(Some(&wrong), "+447700900123", format!("{id}a")).await;
    assert_eq!((status, why.as_str()), (403, "wrong token"));
    w.app.settle().await;
    assert_eq!(w.status(id).await, "triggered");
    assert_eq!(w.texts_to(ALICE).len(), 1, "nothing was answered");

    let (status, answer) = get(Some(TA_TOKEN), "+447700900123", "ack".into()).await;
    assert_eq!(status, 200, "{answer}");
    w.app.settle().await;
    assert_eq!(
        answer,
        format!("You have taken alert {id}: Pool web has no back-end nodes")
    );
    assert_eq!(w.status(id).await, "acknowledged");
    assert_eq!(
        w.texts_to(ALICE).last().unwrap(),
        &format!("Firebell:\n{answer}")
    );
    w.app.stop().await;
}
