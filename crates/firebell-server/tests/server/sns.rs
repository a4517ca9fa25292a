//! AWS SNS at /hooks/sns/{key}: moto's SNS server (driven with boto3)
//! publishing CloudWatch alarms to Firebell, and messages signed here with a
//! key and certificate made for the test, served by a stand-in for AWS.

use crate::support::*;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use rsa::signature::{SignatureEncoding, Signer as _};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SNS_KEY: &str = "sns-key-0123456789abcdef";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:alarms";
const OTHER_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:elsewhere";
const CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-local.pem";

const SNS: &str = concat!(
    server_section!(),
    r#"max_body_bytes = 65536

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "aws"
policy = "p"
integrations = [
  { kind = "sns", key = "sns-key-0123456789abcdef", topics = ["arn:aws:sns:eu-west-1:123456789012:alarms"], test_endpoint_url = "{AWS}" },
  { kind = "generic", key = "test-integration-key" },
]
"#
);

async fn spawn_sns_app(aws: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text = render_config(SNS, &data, "").replace("{AWS}", aws);
    // Certificates are checked against the engine's clock: start it at the
    // real time, as the certificates (moto's and ours) are made now.
    let app = spawn_app_at(&text, &data, Timestamp::now(), None).await;
    (app, dir)
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// POSTs a body the way SNS does (text/plain, the type in a header).
async fn post_sns(app: &TestApp, key: &str, body: &str, kind: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}/hooks/sns/{key}", app.url))
        .header("content-type", "text/plain; charset=UTF-8")
        .body(body.to_string());
    if let Some(k) = kind {
        req = req.header("x-amz-sns-message-type", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn alarm(name: &str, state: &str) -> String {
    json!({
        "AlarmName": name,
        "AlarmDescription": "CPU above 90% on the web tier",
        "AWSAccountId": "123456789012",
        "NewStateValue": state,
        "NewStateReason": format!("Threshold Crossed: 1 datapoint [97.5] was greater than or equal to the threshold (90.0). ({state})"),
        "StateChangeTime": "2026-06-01T11:59:57.000+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"),
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": "CPUUtilization", "Namespace": "AWS/EC2", "Statistic": "AVERAGE",
            "Dimensions": [{"value": "i-0abc123", "name": "InstanceId"}],
            "Period": 60, "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 90.0
        }
    })
    .to_string()
}

fn find<'a>(alerts: &'a [Value], key: &str) -> &'a Value {
    alerts
        .iter()
        .find(|a| a["dedup_key"] == key)
        .unwrap_or_else(|| panic!("no alert {key} in {alerts:#?}"))
}

// ---------------------------------------------------------------------------
// moto
// ---------------------------------------------------------------------------

/// Runs `tests/python/sns_moto.py`; returns the value printed after `word`.
async fn moto(python: &std::path::Path, moto_url: &str, args: &[&str], word: &str) -> String {
    let out = tokio::process::Command::new(python)
        .arg(python_script("sns_moto.py"))
        .arg(moto_url)
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sns_moto.py {args:?}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{word} ")))
        .unwrap_or_else(|| panic!("no {word:?} line in {stdout}"))
        .to_string()
}

/// moto serves a message's certificate only to a request that looks like an
/// SNS API call (its routing reads the SigV4 credential scope); this stands
/// in for the DNS name `sns.eu-west-1.amazonaws.com` and adds that header.
async fn moto_cert_proxy(moto_url: String) -> String {
    let client = reqwest::Client::new();
    let app = Router::new().fallback(move |uri: axum::http::Uri| {
        let (client, moto_url) = (client.clone(), moto_url.clone());
        async move {
            let resp = client
                .get(format!("{moto_url}{}", uri.path()))
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/sns/aws4_request, SignedHeaders=host, Signature=0",
                )
                .send()
                .await
                .unwrap();
            let status = axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap();
            (status, resp.bytes().await.unwrap())
        }
    });
    serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_publishes_cloudwatch_alarms_that_trigger_and_resolve() {
    let Some(python) = python_with(&["moto", "boto3", "flask"]) else {
        return;
    };
    let port = free_port();
    let _moto = ChildGuard(
        std::process::Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let moto_url = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::new();
    eventually(30, "moto's server to answer", || {
        let (probe, url) = (probe.clone(), format!("{moto_url}/moto-api/"));
        async move { probe.get(url).send().await.ok().map(|_| ()) }
    })
    .await;
    let proxy = moto_cert_proxy(moto_url.clone()).await;
    let (app, _dir) = spawn_sns_app(&proxy).await;
    let hook = format!("{}/hooks/sns/{SNS_KEY}", app.url);

    let topic = moto(&python, &moto_url, &["topic", "alarms"], "topic").await;
    assert_eq!(topic, TOPIC);
    let other = moto(&python, &moto_url, &["topic", "elsewhere"], "topic").await;
    for t in [&topic, &other] {
        moto(&python, &moto_url, &["subscribe", t, &hook], "subscription").await;
    }

    // moto delivers before Publish returns, signed with a certificate it
    // makes at that moment and dates from then: the manual clock is put a
    // little ahead of the real one.
    let publish = |t: String, m: String| {
        let (python, moto_url, clock) = (python.clone(), moto_url.clone(), app.clock.clone());
        async move {
            clock.set(Timestamp::now() + SignedDuration::from_secs(30));
            moto(&python, &moto_url, &["publish", &t, &m], "message-id").await
        }
    };
    publish(topic.clone(), alarm("HighCPU", "ALARM")).await;
    let arn = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:HighCPU";
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = find(&alerts, arn);
    assert_eq!(a["status"], "triggered");
    assert_eq!(a["service"], "aws");
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["source"], "i-0abc123");
    assert!(
        a["summary"]
            .as_str()
            .unwrap()
            .starts_with("HighCPU: Threshold Crossed"),
        "{a}"
    );
    assert_eq!(a["details"]["metric_name"], "CPUUtilization");
    assert_eq!(a["details"]["namespace"], "AWS/EC2");
    assert_eq!(a["details"]["threshold"], 90.0);
    assert_eq!(a["details"]["region"], "EU (Ireland)");
    assert_eq!(a["details"]["dimensions"]["InstanceId"], "i-0abc123");

    // INSUFFICIENT_DATA is ignored by default; OK resolves.
    publish(topic.clone(), alarm("HighCPU", "INSUFFICIENT_DATA")).await;
    assert_eq!(find(&app.all_alerts().await, arn)["status"], "triggered");
    publish(topic.clone(), alarm("HighCPU", "OK")).await;
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(find(&alerts, arn)["status"], "resolved");

    // Anything else is a generic alert named by its first line.
    publish(
        topic.clone(),
        "Backup failed\nvolume vol-0123 at 03:00".into(),
    )
    .await;
    let alerts = app.all_alerts().await;
    let generic = alerts.iter().find(|a| a["summary"] == "Backup failed");
    let generic = generic.unwrap_or_else(|| panic!("{alerts:#?}"));
    assert_eq!(generic["status"], "triggered");
    assert_eq!(generic["source"], "alarms");

    // A topic the integration does not list is refused: nothing new.
    publish(other, alarm("Elsewhere", "ALARM")).await;
    assert_eq!(app.all_alerts().await.len(), 2);
}

// ---------------------------------------------------------------------------
// Messages signed here
// ---------------------------------------------------------------------------

/// A key and a self-signed certificate made for the test (the `rsa` crate
/// signs; Firebell checks with ring).
struct LocalSigner {
    key: rsa::RsaPrivateKey,
    cert_pem: String,
    valid_until: Timestamp,
}

impl LocalSigner {
    fn new() -> Self {
        use rsa::pkcs8::EncodePrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(
            &key.to_pkcs8_pem(Default::default()).unwrap(),
            &rcgen::PKCS_RSA_SHA256,
        )
        .unwrap();
        let day = |t: Timestamp| {
            let d = t.to_zoned(jiff::tz::TimeZone::UTC).date();
            rcgen::date_time_ymd(i32::from(d.year()), d.month() as u8, d.day() as u8)
        };
        let now = Timestamp::now();
        let valid_until = now + SignedDuration::from_hours(24 * 30);
        let mut params = rcgen::CertificateParams::new(vec!["sns.amazonaws.com".into()]).unwrap();
        params.not_before = day(now - SignedDuration::from_hours(48));
        params.not_after = day(valid_until);
        let cert_pem = params.self_signed(&kp).unwrap().pem();
        Self {
            key,
            cert_pem,
            valid_until,
        }
    }

    /// Adds `SignatureVersion` and `Signature` to an SNS message, signing the
    /// documented string to sign (built here, not by Firebell's code).
    fn sign(&self, mut msg: Value, version: &str) -> Value {
        let keys: &[&str] = if msg["Type"] == "Notification" {
            &[
                "Message",
                "MessageId",
                "Subject",
                "Timestamp",
                "TopicArn",
                "Type",
            ]
        } else {
            &[
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            ]
        };
        let text: String = keys
            .iter()
            .filter_map(|k| {
                msg.get(*k)
                    .and_then(Value::as_str)
                    .map(|v| format!("{k}\n{v}\n"))
            })
            .collect();
        let sig = if version == "1" {
            rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(self.key.clone())
                .sign(text.as_bytes())
                .to_vec()
        } else {
            rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(self.key.clone())
                .sign(text.as_bytes())
                .to_vec()
        };
        msg["SignatureVersion"] = json!(version);
        msg["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(sig));
        msg
    }
}

/// A stand-in for AWS: serves the certificate (counting fetches) and records
/// subscription confirmations.
#[derive(Clone)]
struct FakeAws {
    url: String,
    cert_fetches: Arc<AtomicUsize>,
    confirmations: Arc<Mutex<Vec<String>>>,
}

type FakeAwsState = (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>);

impl FakeAws {
    async fn start(cert_pem: String) -> Self {
        let cert_fetches = Arc::new(AtomicUsize::new(0));
        let confirmations = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(
                "/SimpleNotificationService-local.pem",
                get(|State((pem, n, _)): State<FakeAwsState>| async move {
                    n.fetch_add(1, Ordering::SeqCst);
                    pem
                }),
            )
            .route(
                "/",
                get(
                    |State((_, _, seen)): State<FakeAwsState>, RawQuery(q): RawQuery| async move {
                        seen.lock().unwrap().push(q.unwrap_or_default());
                        "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:eu-west-1:123456789012:alarms:1</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
                    },
                ),
            )
            .with_state((cert_pem, cert_fetches.clone(), confirmations.clone()));
        Self {
            url: serve(app).await,
            cert_fetches,
            confirmations,
        }
    }
}

/// SNS's time format: `2026-06-01T11:59:58.123Z`.
fn sns_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A notification sent now, with a message id of its own.
fn notification(topic: &str, message: &str) -> Value {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    json!({
        "Type": "Notification",
        "MessageId": format!("22b80b92-fdea-4c2c-8f9d-{n:012}"),
        "TopicArn": topic,
        "Subject": "ALARM: \"DiskFull\" in EU (Ireland)",
        "Message": message,
        "Timestamp": sns_time(Timestamp::now()),
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    })
}

fn confirmation(subscribe_url: &str) -> Value {
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "tok-2336412f37",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic. To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url,
        "Timestamp": "2026-06-01T11:00:00.000Z",
        "SigningCertURL": CERT_URL,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locally_signed_messages_verify_and_tampered_ones_are_refused() {
    let signer = LocalSigner::new();
    let aws = FakeAws::start(signer.cert_pem.clone()).await;
    let (app, _dir) = spawn_sns_app(&aws.url).await;

    // A subscription confirmation (SHA1withRSA) is confirmed by fetching its
    // SubscribeURL (at the test endpoint, same path and query).
    let subscribe = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:alarms&Token=tok-2336412f37";
    let c = signer.sign(confirmation(subscribe), "1");
    let (status, body) = post_sns(
        &app,
        SNS_KEY,
        &c.to_string(),
        Some("SubscriptionConfirmation"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "confirmed");
    let seen = aws.confirmations.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("Action=ConfirmSubscription"), "{seen:?}");
    assert!(seen[0].contains("Token=tok-2336412f37"), "{seen:?}");

    // A notification (SHA256withRSA, with a Subject) triggers.
    let n = signer.sign(notification(TOPIC, &alarm("DiskFull", "ALARM")), "2");
    let (status, body) = post_sns(&app, SNS_KEY, &n.to_string(), Some("Notification")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "accepted");
    let arn = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:DiskFull";
    assert_eq!(body["alerts"][0]["dedup_key"], arn);
    // The certificate was fetched once and then served from the cache.
    assert_eq!(aws.cert_fetches.load(Ordering::SeqCst), 1);

    // Tampered: the message changed after signing.
    let mut tampered = n.clone();
    tampered["Message"] = json!(alarm("DiskFull", "OK"));
    let (status, body) = post_sns(&app, SNS_KEY, &tampered.to_string(), None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("signature does not match"),
        "{body}"
    );
    // Tampered: the subject dropped.
    let mut no_subject = n.clone();
    no_subject.as_object_mut().unwrap().remove("Subject");
    assert_eq!(
        post_sns(&app, SNS_KEY, &no_subject.to_string(), None)
            .await
            .0,
        403
    );

    // A correctly signed message from a topic the integration does not list.
    let other = signer.sign(notification(OTHER_TOPIC, &alarm("X", "ALARM")), "2");
    let (status, body) = post_sns(&app, SNS_KEY, &other.to_string(), None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not one of this integration's topics"),
        "{body}"
    );

    // Certificate URLs off AWS's rules are refused before anything is fetched,
    // even with the test endpoint set.
    for bad in [
        format!("{}/SimpleNotificationService-local.pem", aws.url),
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-local.pem".to_string(),
        "https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-local.pem"
            .to_string(),
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-local.txt".to_string(),
    ] {
        let mut m = notification(TOPIC, &alarm("Y", "ALARM"));
        m["SigningCertURL"] = json!(bad);
        let m = signer.sign(m, "2");
        let (status, body) = post_sns(&app, SNS_KEY, &m.to_string(), None).await;
        assert_eq!(status, 403, "{bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("SigningCertURL"),
            "{body}"
        );
    }
    assert_eq!(aws.cert_fetches.load(Ordering::SeqCst), 1);

    // A SubscribeURL off AWS's hosts is never fetched.
    let evil = signer.sign(confirmation("https://evil.example.com/?Token=x"), "2");
    let (status, body) = post_sns(&app, SNS_KEY, &evil.to_string(), None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("SubscribeURL"),
        "{body}"
    );
    assert_eq!(aws.confirmations.lock().unwrap().len(), 1);

    // After the certificate expires its signatures are refused.
    app.clock
        .set(signer.valid_until + SignedDuration::from_hours(72));
    let late = signer.sign(notification(TOPIC, &alarm("Late", "ALARM")), "2");
    let (status, body) = post_sns(&app, SNS_KEY, &late.to_string(), None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("valid from"),
        "{body}"
    );

    // Only the one alarm was recorded, and it is still open.
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(find(&alerts, arn)["status"], "triggered");
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_store_nothing() {
    let signer = LocalSigner::new();
    let aws = FakeAws::start(signer.cert_pem.clone()).await;
    let (app, _dir) = spawn_sns_app(&aws.url).await;
    let good = signer.sign(notification(TOPIC, &alarm("DiskFull", "ALARM")), "2");

    // Wrong keys: unknown, or another kind's.
    for key in ["not-the-key-at-all", KEY] {
        let (status, body) = post_sns(&app, key, &good.to_string(), None).await;
        assert_eq!(status, 404, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("no sns integration"),
            "{body}"
        );
        assert!(!body.to_string().contains(key));
    }

    let (status, body) = post_sns(&app, SNS_KEY, "{not json", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("malformed JSON"),
        "{body}"
    );

    let (status, body) = post_sns(
        &app,
        SNS_KEY,
        r#"{"Type":"Notification","TopicArn":"arn:aws:sns:eu-west-1:123456789012:alarms","Message":"x","SignatureVersion":"9"}"#,
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let fields: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "MessageId",
            "Timestamp",
            "SignatureVersion",
            "Signature",
            "SigningCertURL"
        ],
        "{body}"
    );

    // The header and the body disagree.
    let (status, body) = post_sns(
        &app,
        SNS_KEY,
        &good.to_string(),
        Some("SubscriptionConfirmation"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("x-amz-sns-message-type"),
        "{body}"
    );

    // Over server.max_body_bytes (64 KiB here).
    let mut big = notification(TOPIC, &"x".repeat(70_000));
    big = signer.sign(big, "2");
    let (status, body) = post_sns(&app, SNS_KEY, &big.to_string(), None).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("max_body_bytes"),
        "{body}"
    );

    // An alarm state CloudWatch does not have.
    let weird = signer.sign(notification(TOPIC, &alarm("DiskFull", "MAYBE")), "2");
    let (status, body) = post_sns(&app, SNS_KEY, &weird.to_string(), None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["details"][0]["field"], "Message.NewStateValue",
        "{body}"
    );

    assert!(app.all_alerts().await.is_empty());
    // Nothing needed the certificate except the one well-formed message.
    assert_eq!(aws.cert_fetches.load(Ordering::SeqCst), 1);
}

/// A validly signed message acts once: the same message again (SNS's
/// retry, or someone who captured it) changes nothing, and one sent more
/// than an hour ago — an old ALARM replayed after the OK — is refused and
/// opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_repeated_messages_are_not_acted_on() {
    let signer = LocalSigner::new();
    let aws = FakeAws::start(signer.cert_pem.clone()).await;
    let (app, _dir) = spawn_sns_app(&aws.url).await;
    let alarm_msg = signer.sign(notification(TOPIC, &alarm("DiskFull", "ALARM")), "2");
    let (status, body) =
        post_sns(&app, SNS_KEY, &alarm_msg.to_string(), Some("Notification")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "accepted");
    let (status, body) =
        post_sns(&app, SNS_KEY, &alarm_msg.to_string(), Some("Notification")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "duplicate");
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["count"], 1, "the repeat was not counted");

    let ok = signer.sign(notification(TOPIC, &alarm("DiskFull", "OK")), "2");
    let (status, _) = post_sns(&app, SNS_KEY, &ok.to_string(), Some("Notification")).await;
    assert_eq!(status, 200);
    assert_eq!(app.all_alerts().await[0]["status"], "resolved");

    // The same ALARM, signed, but sent two hours ago (a new message id, so
    // only its age gives it away).
    let mut old = notification(TOPIC, &alarm("DiskFull", "ALARM"));
    old["Timestamp"] = json!(sns_time(Timestamp::now() - SignedDuration::from_hours(2)));
    let old = signer.sign(old, "2");
    let (status, body) = post_sns(&app, SNS_KEY, &old.to_string(), Some("Notification")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("Timestamp"), "{body}");
    let mut ahead = notification(TOPIC, &alarm("DiskFull", "ALARM"));
    ahead["Timestamp"] = json!(sns_time(Timestamp::now() + SignedDuration::from_mins(30)));
    let ahead = signer.sign(ahead, "2");
    let (status, _) = post_sns(&app, SNS_KEY, &ahead.to_string(), Some("Notification")).await;
    assert_eq!(status, 400);
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), 1, "no alert opened");
    assert_eq!(alerts[0]["status"], "resolved");
}
