//! Runbook actions: the first seed's unbuilt idea end to end. A traffic
//! manager reports a pool down; Firebell texts the operator through the HTTP
//! gateway (the `http_sms.rs` mock playing TextAnywhere); the operator
//! replies `42x3` (twice: the action asks to be confirmed) on the gateway's
//! inbound endpoint; Firebell runs the `drain-node` program with the node
//! and pool from the event, which drains the node through a small fake of
//! the traffic manager's REST API; the timeline says who did what. And on a
//! call: pressing 3, then 3 again.

use crate::http_sms::Gateway;
use crate::support::twilio_phone::*;
use crate::support::*;
use axum::Router;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const TA_TOKEN: &str = "ta-inbound-0123456789abcdef0123456789";
const ALICE: &str = "+447700900123";
const BOB: &str = "+447700900456";

/// The traffic manager's REST API, as far as draining goes:
/// `PUT /api/tm/8.3/config/active/pools/{pool}` with the pool's draining
/// nodes. Records each body.
#[derive(Clone, Default)]
struct TrafficManager {
    puts: Arc<Mutex<Vec<(String, Value)>>>,
}

impl TrafficManager {
    async fn start(&self) -> String {
        let app = Router::new()
            .route(
                "/api/tm/8.3/config/active/pools/{pool}",
                axum::routing::put(
                    |State(tm): State<TrafficManager>,
                     Path(pool): Path<String>,
                     axum::Json(body): axum::Json<Value>| async move {
                        tm.puts.lock().unwrap().push((pool, body.clone()));
                        axum::Json(body)
                    },
                ),
            )
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn puts(&self) -> Vec<(String, Value)> {
        self.puts.lock().unwrap().clone()
    }
}

/// The drain program an operator would write: takes `--tm=`, `--node=` and
/// `--pool=` and PUTs the pool's draining list through the REST API.
const DRAIN: &str = r#"#!/usr/bin/env python3
import json, sys, urllib.request
args = dict(a[2:].split("=", 1) for a in sys.argv[1:-1] if a.startswith("--"))
body = json.dumps({"properties": {"basic": {"draining": [args["node"]]}}}).encode()
req = urllib.request.Request(
    args["tm"] + "/api/tm/8.3/config/active/pools/" + args["pool"],
    data=body, method="PUT", headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5).read()
print("drained %s from pool %s" % (args["node"], args["pool"]))
"#;

fn write_program(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("drain-node");
    std::fs::write(&path, DRAIN).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The drain-node channel and the vtm service's action; `{PROGRAM}` and
/// `{TM}` are filled in.
const ACTION: &str = r#"
[[channels]]
name = "drain-node"
kind = "program"
path = "{PROGRAM}"
args = { tm = "{TM}" }
verbose = true

[[policies]]
id = "lb"
repeat = 1
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "vtm"
name = "Traffic managers"
policy = "lb"
integrations = [ { kind = "vtm", key = "test-vtm-key-0001" } ]

[[services.actions]]
id = "drain"
label = "Drain {{ labels.node }} from pool {{ labels.pool }}"
key = "3"
run = { channel = "drain-node", args = { node = "{{ labels.node }}", pool = "{{ labels.pool }}" } }
confirm = true
when = 'pool=~".+", node=~".+"'
"#;

/// The first seed's TextAnywhere gateway, taking replies with a URL token.
const GATEWAY: &str = r#"
[[channels]]
name = "textanywhere"
kind = "http_sms"
method = "GET"
url = "{GW}/HTTPRelay/SendSMS.aspx"
eventtype = "SMS Events"
from = "Stingray"
fields = { Client_ID = "AB1234567", Client_Pass = "ta-password", Originator = "{{ from }}", DestinationEx = "{{ to }}", Body = "{{ body }}", Reply_Type = "1" }
per_recipient = { pattern = '(?<number>\+?\d+):(?<code>\d+)', success = ["1"] }
inbound = { preset = "textanywhere", token = "ta-inbound-0123456789abcdef0123456789" }

[[users]]
id = "alice"
contacts = [ { kind = "sms", number = "+447700900123" } ]
[[users]]
id = "bob"
contacts = [ { kind = "sms", number = "+447700900456" } ]
"#;

/// The pool-down line, naming the pool and the node that failed last.
const POOLDIED: &str =
    "SERIOUS\tpools/web\tnodes/10.0.0.5:80\tpooldied\tPool has no back-end nodes responding";

async fn timeline(app: &TestApp, id: i64) -> Vec<(String, String)> {
    app.alert(id).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_first_seeds_reply_drains_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let program = write_program(dir.path());
    let tm = TrafficManager::default();
    let tm_url = tm.start().await;
    let gw = Gateway::start(&[(200, "+447700900123:1,+447700900456:1")]).await;
    let config = format!(
        "{}{GATEWAY}{ACTION}",
        concat!(
            server_section!(),
            "public_url = \"https://pager.example.com\"\n"
        )
    )
    .replace("{GW}", &gw.url)
    .replace("{PROGRAM}", program.to_str().unwrap())
    .replace("{TM}", &tm_url);
    let (app, _data, _sink) = spawn_app(&config).await;

    // The traffic manager's action program reports the pool down.
    let body = json!({"eventtype": "SMS Events", "args": {}, "line": POOLDIED, "host": "tm1"});
    let resp = app
        .client
        .post(format!("{}/api/v1/vtm", app.url))
        .bearer_auth("test-vtm-key-0001")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["alerts"][0]["id"]
        .as_i64()
        .unwrap();
    app.settle().await;

    // alice's text ends with the reply codes and the action.
    let texts: Vec<String> = gw
        .received()
        .iter()
        .filter_map(|r| {
            let to = r.query.iter().find(|(k, _)| k == "DestinationEx")?;
            (to.1 == ALICE).then(|| r.query.iter().find(|(k, _)| k == "Body").unwrap().1.clone())
        })
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].ends_with(&format!(
            "Reply {id}a to take it, {id}d to pass, {id}r to resolve; {id}x3: Drain 10.0.0.5:80 from pool web"
        )),
        "{}",
        texts[0]
    );

    let reply = |from: &'static str, text: String, n: u32| {
        let url = format!(
            "{}/hooks/sms/textanywhere?{}",
            app.url,
            form_urlencoded::Serializer::new(String::new())
                .append_pair("Originator", from)
                .append_pair("Destination", "80010_FIREBELL")
                .append_pair("Body", &text)
                .append_pair("Date", "01/03/2026")
                .append_pair("Time", &format!("09:0{n}:00"))
                .append_pair("token", TA_TOKEN)
                .finish()
        );
        let client = app.client.clone();
        async move {
            let resp = client.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        }
    };
    let label = "Drain 10.0.0.5:80 from pool web";

    // A stranger, and bob (a user, but not paged for it): nothing runs.
    assert_eq!(
        reply("+447700900999", format!("{id}x3"), 1).await,
        "ignored: not a known number"
    );
    assert_eq!(
        reply(BOB, format!("{id}x3"), 2).await,
        format!("Only a person paged for alert {id} may run its actions: \"{label}\" was not run.")
    );
    // alice asks: it wants confirming, and nothing runs yet.
    assert_eq!(
        reply(ALICE, format!("{id}x3"), 3).await,
        format!("Reply {id}x3 again to confirm: {label}.")
    );
    app.settle().await;
    assert!(tm.puts().is_empty(), "an unconfirmed action ran");

    // alice confirms: the program drains the node.
    assert_eq!(
        reply(ALICE, format!("{id}x3"), 4).await,
        format!("Running \"{label}\" on alert {id}.")
    );
    app.settle().await;
    assert_eq!(
        tm.puts(),
        vec![(
            "web".to_string(),
            json!({"properties": {"basic": {"draining": ["10.0.0.5:80"]}}})
        )]
    );
    // A second run of a non-repeatable action: refused, nothing runs.
    assert_eq!(
        reply(ALICE, format!("{id}x3"), 5).await,
        format!("\"{label}\" already ran on alert {id} (asked by alice); it runs once.")
    );
    app.settle().await;
    assert_eq!(tm.puts().len(), 1);

    // The timeline: who asked, and what the program said.
    let lines = timeline(&app, id).await;
    let actions: Vec<&(String, String)> = lines.iter().filter(|(k, _)| k == "action").collect();
    assert_eq!(actions.len(), 2, "{lines:#?}");
    assert_eq!(
        actions[0].1,
        format!("alice ran \"{label}\" (by text) via drain-node")
    );
    assert!(
        actions[1]
            .1
            .starts_with("action drain asked by alice ran via drain-node: exit status 0")
            && actions[1].1.contains("drained 10.0.0.5:80 from pool web"),
        "{lines:#?}"
    );
    // Running it did not take the alert.
    assert_eq!(app.alert(id).await["alert"]["status"], "triggered");

    // The API: the admin token may ask too; the same rules hold.
    let (status, body) = app
        .api_post(
            &format!("/api/v1/alerts/{id}/actions/drain"),
            json!({"user": "alice"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("already ran"),
        "{body}"
    );
    let (status, _) = app
        .api_post(&format!("/api/v1/alerts/{id}/actions/restart"), json!({}))
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// The voice channel's config for the call test: op1 paged by voice; the
/// action on key 3 is a repeatable restart that needs confirming.
const VOICE: &str = r#"
[[channels]]
name = "restart-job"
kind = "program"
path = "{PROGRAM}"
args = { tm = "{TM}" }

[[users]]
id = "op1"
contacts = [ { kind = "voice", number = "+447700900001", channel = "tw" } ]

[[policies]]
id = "night"
repeat = 1
steps = [ { targets = ["user:op1"], wait = "5m" } ]

[[services]]
id = "checkout"
name = "Checkout web"
policy = "night"
integrations = [ { kind = "generic", key = "test-integration-key" } ]

[[services.actions]]
id = "drain"
label = "drain {{ labels.node }} from pool {{ labels.pool }}"
key = "3"
run = { channel = "restart-job", args = { node = "{{ labels.node }}", pool = "{{ labels.pool }}" } }
confirm = true

[[services.actions]]
id = "restart"
label = "restart the pool's nodes and take the alert"
key = "4"
run = { channel = "restart-job", args = { node = "all", pool = "{{ labels.pool }}" } }
repeatable = true
acknowledges = true
"#;

#[tokio::test]
async fn pressing_3_then_3_on_a_call_runs_the_action_once() {
    let dir = tempfile::tempdir().unwrap();
    let program = write_program(dir.path());
    let tm = TrafficManager::default();
    let tm_url = tm.start().await;
    let config = format!("{SERVER_AND_CHANNEL}{VOICE}")
        .replace("{PROGRAM}", program.to_str().unwrap())
        .replace("{TM}", &tm_url);
    let w = World::start(&config).await;
    let (status, body) = w
        .app
        .post_events(
            r#"{"action":"trigger","dedup_key":"web-pool","summary":"Pool web is failing","severity":"critical","source":"tm1","labels":{"pool":"web","node":"10.0.0.7:80"}}"#,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["alerts"][0]["id"].as_i64().unwrap();
    w.app.settle().await;
    let c = calls(&w.twilio).pop().expect("op1 is called");

    // The menu names the action by its label, rendered from the alert.
    let (_, twiml) = w
        .phone
        .post(
            &c.url,
            &call_params(
                &c,
                &[("CallStatus", "in-progress"), ("AnsweredBy", "human")],
            ),
        )
        .await;
    let menu = said(&twiml).join(" ");
    assert!(
        menu.ends_with(
            "Press 1 to take it, 2 to pass. Press 3 to drain 10.0.0.7:80 from pool web. \
             Press 4 to restart the pool's nodes and take the alert."
        ),
        "{menu}"
    );
    // 3: asked to confirm; nothing runs.
    let (_, twiml) = w
        .phone
        .post(
            &gather_action(&twiml),
            &call_params(&c, &[("CallStatus", "in-progress"), ("Digits", "3")]),
        )
        .await;
    assert_eq!(
        said(&twiml),
        vec!["You chose: drain 10.0.0.7:80 from pool web. Press 3 again to confirm."]
    );
    let confirm = gather_action(&twiml);
    assert!(confirm.ends_with("?confirm=3"), "{confirm}");
    w.app.settle().await;
    assert!(tm.puts().is_empty());
    // 3 again: it runs; Twilio repeating that callback runs nothing more.
    let press = call_params(&c, &[("CallStatus", "in-progress"), ("Digits", "3")]);
    let (_, first) = w.phone.post(&confirm, &press).await;
    let (_, again) = w.phone.post(&confirm, &press).await;
    let said_first = said(&first);
    assert_eq!(
        said_first[0],
        format!("Running \"drain 10.0.0.7:80 from pool web\" on alert {id}.")
    );
    assert_eq!(said(&again)[0], said_first[0]);
    // The menu follows: the alert is still to be taken.
    assert!(said_first[1].starts_with("Firebell alert for service Checkout web"));
    w.app.settle().await;
    assert_eq!(tm.puts().len(), 1, "{:?}", tm.puts());
    assert_eq!(tm.puts()[0].0, "web");
    let lines = w.lines(id).await;
    assert!(
        lines.contains(
            &"op1 ran \"drain 10.0.0.7:80 from pool web\" (by call) via restart-job".to_string()
        ),
        "{lines:#?}"
    );
    // Running an action leaves the alert to be taken...
    assert_eq!(w.app.alert(id).await["alert"]["status"], "triggered");
    // ...unless it says `acknowledges = true`: 4 runs at once (no confirm)
    // and takes the alert as op1.
    let (_, twiml) = w
        .phone
        .post(
            &gather_action(&first),
            &call_params(&c, &[("CallStatus", "in-progress"), ("Digits", "4")]),
        )
        .await;
    assert_eq!(
        said(&twiml)[0],
        format!("Running \"restart the pool's nodes and take the alert\" on alert {id}.")
    );
    w.app.settle().await;
    assert_eq!(tm.puts().len(), 2);
    assert_eq!(tm.puts()[1].1["properties"]["basic"]["draining"][0], "all");
    let alert = w.app.alert(id).await;
    assert_eq!(alert["alert"]["status"], "acknowledged");
    assert!(alert["timeline"].to_string().contains("op1"), "{alert}");
    w.app.stop().await;
}

/// A webhook action: alice is paged by webhook (her page lists the actions
/// with their API addresses); her email's signed run link opens a
/// confirmation page and its button runs the action; in the UI an observer
/// may not run it, a responder must tick "I mean it".
const WEBHOOK: &str = concat!(
    server_section!(),
    r#"public_url = "https://pager.example.com"
link_secret = "link-secret-0123456789abcdef0123"

[[channels]]
name = "failover"
kind = "webhook"
url = "{SINK}"

[[users]]
id = "alice"
contacts = [ { kind = "webhook", url = "{SINK}" } ]
[[users]]
id = "bob"
contacts = [ { kind = "console" } ]
[[users]]
id = "carol"
role = "observer"
contacts = [ { kind = "console" } ]

[[policies]]
id = "db"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "db"
name = "Database"
policy = "db"
integrations = [ { kind = "generic", key = "test-integration-key" } ]

[[actions]]
id = "failover"
label = "Fail {{ labels.cluster }} over to its replica"
key = "4"
run = { channel = "failover", args = { cluster = "{{ labels.cluster }}" } }
confirm = true
when = 'cluster=~".+"'
"#
);

async fn ui_login(app: &TestApp, user: &str) -> (String, String) {
    let hash = firebell_server::passwords::hash_password("a long password").unwrap();
    use firebell_store::AccountStore;
    app.engine
        .store()
        .set_password(user.into(), hash, app.engine.now())
        .await
        .unwrap();
    let r = app
        .client
        .post(format!("{}/login", app.url))
        .form(&[
            ("user", user),
            ("password", "a long password"),
            ("next", "/alerts"),
        ])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = app
        .client
        .get(format!("{}/profile", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

#[tokio::test]
async fn links_the_ui_and_webhooks_offer_actions_with_the_same_rules() {
    let (app, _dir, sink) = spawn_app(WEBHOOK).await;
    let (status, body) = app
        .post_events(
            r#"{"action":"trigger","dedup_key":"db-main","summary":"Primary db-main is down","severity":"critical","source":"db1","labels":{"cluster":"db-main"}}"#,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["alerts"][0]["id"].as_i64().unwrap();
    app.settle().await;
    let label = "Fail db-main over to its replica";

    // alice's page lists the action and where the API runs it.
    let pages = sink.bodies();
    assert_eq!(pages.len(), 1, "{pages:#?}");
    assert_eq!(
        pages[0]["actions"],
        json!([{"id": "failover", "label": label, "key": "4",
                "url": format!("https://pager.example.com/api/v1/alerts/{id}/actions/failover")}])
    );

    // The UI: the observer is refused; the responder must confirm.
    let form = |cookie: &str, csrf: &str, confirm: bool| {
        let mut fields = vec![("csrf", csrf.to_string())];
        if confirm {
            fields.push(("confirm", "yes".to_string()));
        }
        app.client
            .post(format!("{}/alerts/{id}/actions/failover", app.url))
            .header("cookie", cookie)
            .header("origin", &app.url)
            .form(&fields)
            .send()
    };
    let (carol, carol_csrf) = ui_login(&app, "carol").await;
    let r = form(&carol, &carol_csrf, true).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("responder"));
    let (bob, bob_csrf) = ui_login(&app, "bob").await;
    let page = app
        .client
        .get(format!("{}/alerts/{id}", app.url))
        .header("cookie", &bob)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Runbook actions") && page.contains(label),
        "{page}"
    );
    let r = form(&bob, &bob_csrf, false).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("confirm: tick"));
    app.settle().await;
    assert!(
        sink.bodies().iter().all(|b| b.get("action").is_none()),
        "nothing ran yet"
    );

    // alice's run link: GET shows the question, POST runs it.
    let config = app.engine.config();
    use firebell_store::AlertStore;
    let alert = app.engine.store().get_alert(id).await.unwrap().unwrap();
    let links = firebell_core::links::run_links(&config, &alert, "alice", app.engine.now());
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].0, label);
    let path = links[0]
        .1
        .strip_prefix("https://pager.example.com")
        .unwrap()
        .to_string();
    assert!(path.starts_with(&format!("/links/alerts/{id}/run-failover?token=")));
    let r = app
        .client
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(&format!("Run &quot;{label}&quot; on alert #{id}?")),
        "{text}"
    );
    // A link to another action of the same alert does not verify.
    let forged = path.replace("run-failover", "run-restart");
    let r = app
        .client
        .post(format!("{}{forged}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(&format!("Running &quot;{label}&quot; on alert {id}."))
    );
    app.settle().await;
    let runs: Vec<Value> = sink
        .bodies()
        .into_iter()
        .filter(|b| b.get("action").is_some())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["kind"], "alert.action");
    assert_eq!(runs[0]["recipient"], "alice");
    assert_eq!(runs[0]["action"]["action"], "failover");
    assert_eq!(runs[0]["action"]["args"], json!({"cluster": "db-main"}));
    assert_eq!(runs[0]["action"]["via"], "email");

    // Again, by link or in the UI: it ran already; nothing more runs.
    let r = app
        .client
        .post(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = form(&bob, &bob_csrf, true).await.unwrap();
    assert_eq!(r.status(), 303);
    app.settle().await;
    assert_eq!(
        sink.bodies()
            .iter()
            .filter(|b| b.get("action").is_some())
            .count(),
        1
    );
    let lines = timeline(&app, id).await;
    assert!(
        lines.iter().any(|(k, m)| k == "action"
            && m == &format!("alice ran \"{label}\" (by email) via failover")),
        "{lines:#?}"
    );
    app.stop().await;
}
