//! Event rules, end to end: the first seed's "SMS Events" selection fed real
//! traffic-manager lines through `POST /api/v1/vtm` pages exactly for its four
//! events; everything else is recorded and pages no one; a drop rule records
//! nothing and counts; a route hands an event to another service's policy.

use crate::support::*;
use serde_json::{Value, json};

const VTM_KEY: &str = "vtm-key-for-tm-cluster";

const CONFIG: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users]]
id = "sam"
contacts = [ { kind = "console" } ]

[[policies]]
id = "web-oncall"
steps = [ { targets = ["user:alice"], wait = "5m" } ]
[[policies]]
id = "security"
steps = [ { targets = ["user:sam"], wait = "5m" } ]

[[services]]
id = "web"
policy = "web-oncall"
integrations = [ { kind = "vtm", key = "vtm-key-for-tm-cluster" } ]

[[services]]
id = "ssl"
policy = "security"

# Configuration edits are noise: counted, never recorded.
[[rules]]
name = "config noise"
match.all = [ { field = "labels.section", equals = "config" } ]
drop = true

# The seed's "SMS Events": these four page (SSL hardware pages security).
[[rules]]
name = "sms: ssl hardware"
# The whole section, so a recovery (sslhwstart) follows the failure.
match.all = [ { field = "labels.section", equals = "sslhw" } ]
route = "ssl"
severity = "critical"

[[rules]]
name = "sms events"
match.any = [
  { field = "labels.tag", equals = "pooldied" },
  { field = "labels.tag", equals = "expiresoon" },
  { field = "labels.tag", equals = "slmfallenbelowserious" },
]
severity = "critical"

[[rules]]
name = "record only"
suppress = true
"#
);

/// The seed's four selected events, as a traffic manager writes them.
const PAGING: [&str; 4] = [
    "SERIOUS\tpools/web-pool\tpooldied\tPool has no back-end nodes responding",
    "WARN\tlicensekeys/cluster.license\texpiresoon\tLicense key expires within 4 days",
    "SERIOUS\tslm/gold\tslmfallenbelowserious\tSLM has fallen below serious threshold",
    "SERIOUS\tsslhw/ncipher\tsslhwfail\tSSL hardware support failed",
];

/// The seed's example line and a dozen more that must not page.
const QUIET: [&str; 13] = [
    "INFO vservers/Olympus vsstart Virtual server started on port 80",
    "SERIOUS\tpools/web-pool/10.0.0.5:80\tnodefail\tNode 10.0.0.5:80 has failed",
    "SERIOUS\tmonitors/http-check\tmonitorfail\tMonitor has detected a failure",
    "INFO\tvservers/Olympus\tvsstop\tVirtual server stopped",
    "WARN\tslm/gold\tslmfallenbelowwarn\tSLM has fallen below warning threshold",
    "SERIOUS\tfaulttolerance/tm2\tmachinefail\tRemote machine has failed",
    "WARN\tfaulttolerance/tm1\tpingbackendfail\tFailed to ping back-end nodes",
    "SERIOUS\tcloudcredentials/aws\tusedcredsdeleted\tCredentials in use were deleted",
    "WARN\tpools/api-pool\tpoolnonodes\tPool configuration contains no valid back-end nodes",
    "WARN\tvservers/Olympus\tvssslcerttoexpire\tCertificate will expire soon",
    "SERIOUS\tvservers/Olympus\tconnfail\tFailed to connect to back-end node",
    "WARN\tvservers/Olympus\tvslogwritefail\tFailed to write log file",
    "SERIOUS\tjava/servlet\tjavadied\tJava runner died",
];

async fn post_line(app: &TestApp, line: &str) -> Value {
    let r = app
        .client
        .post(format!("{}/api/v1/vtm", app.url))
        .bearer_auth(VTM_KEY)
        .json(&json!({
            "eventtype": "All Events",
            "args": {},
            "line": line,
            "host": "tm1",
        }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 202, "{line}: {body}");
    body
}

#[tokio::test]
async fn the_seed_selection_pages_exactly_for_its_four_events() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    for line in QUIET.iter().chain(PAGING.iter()) {
        post_line(&app, line).await;
    }
    app.settle().await;

    let mut paged: Vec<String> = app.pages().iter().map(|p| p.line.clone()).collect();
    paged.sort();
    assert_eq!(paged.len(), 4, "{paged:#?}");
    for (text, user) in [
        ("Pool has no back-end nodes responding", "alice"),
        ("License key expires within 4 days", "alice"),
        ("SLM has fallen below serious threshold", "alice"),
        ("SSL hardware support failed", "sam"),
    ] {
        let page = app
            .pages()
            .into_iter()
            .find(|p| p.line.contains(text))
            .unwrap_or_else(|| panic!("no page for {text:?}: {paged:#?}"));
        assert_eq!(page.user, user, "{}", page.line);
    }

    // Every event is an alert anyone can see; the quiet ones say which rule
    // kept them quiet, and the routed one sits on the ssl service.
    let alerts = app.all_alerts().await;
    assert_eq!(alerts.len(), QUIET.len() + PAGING.len());
    for a in &alerts {
        let tag = a["labels"]["tag"].as_str().unwrap();
        let selected = [
            "pooldied",
            "expiresoon",
            "slmfallenbelowserious",
            "sslhwfail",
        ]
        .contains(&tag);
        if selected {
            assert_eq!(a["severity"], "critical", "{a}");
            assert!(a["labels"].get("suppressed_by").is_none(), "{a}");
        } else {
            assert_eq!(a["labels"]["suppressed_by"], "record only", "{a}");
        }
        let service = if tag == "sslhwfail" { "ssl" } else { "web" };
        assert_eq!(a["service"], service, "{a}");
    }

    // A quiet alert pages nobody, but a person may still take it and resolve
    // it; passing it on has nowhere to go.
    let quiet = alerts
        .iter()
        .find(|a| a["labels"].get("suppressed_by").is_some())
        .unwrap();
    let qid = quiet["id"].as_i64().unwrap();
    for (action, status, want) in [
        ("acknowledge", 200, "acknowledged"),
        ("decline", 409, "acknowledged"),
        ("resolve", 200, "resolved"),
    ] {
        let (code, body) = app
            .api_post(
                &format!("/api/v1/alerts/{qid}/{action}"),
                serde_json::json!({"user": "alice"}),
            )
            .await;
        assert_eq!(code, status, "{action}: {body}");
        assert_eq!(app.alert(qid).await["alert"]["status"], want, "{action}");
    }
    let lines = app.alert(qid).await["timeline"].to_string();
    assert!(
        lines.contains("acknowledged by alice") && lines.contains("resolved by alice"),
        "{lines}"
    );

    // The recovery follows the routed failure to the ssl service and resolves it.
    let body = post_line(
        &app,
        "INFO\tsslhw/ncipher\tsslhwstart\tSSL hardware support started",
    )
    .await;
    let id = body["alerts"][0]["id"].as_i64().unwrap();
    let alert = app.alert(id).await["alert"].clone();
    assert_eq!(alert["service"], "ssl", "{alert}");
    assert_eq!(alert["status"], "resolved", "{alert}");

    // Time passes: whatever pages (repeats included) is one of the four.
    app.advance(mins(30)).await;
    for p in app.pages() {
        assert!(
            PAGING
                .iter()
                .any(|l| p.line.contains(l.rsplit('\t').next().unwrap())),
            "paged for a quiet event: {}",
            p.line
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_dropped_event_is_not_recorded_but_counted() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    let body = post_line(
        &app,
        "INFO\tconfig/pools/web-pool\tconfmod\tConfiguration file modified",
    )
    .await;
    assert_eq!(body["alerts"][0]["id"], Value::Null, "{body}");
    app.settle().await;
    assert!(app.all_alerts().await.is_empty());
    assert!(app.pages().is_empty());
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("firebell_events_dropped_total{rule=\"config noise\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

#[test]
fn bad_rules_are_config_errors_with_the_rules_path() {
    let text = r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[policies]]
id = "p"
steps = [ { targets = ["user:alice"], wait = "5m" } ]
[[services]]
id = "a"
policy = "p"
rules = [ { route = "b" } ]
[[services]]
id = "b"
policy = "p"
rules = [ { match.all = [ { field = "labels.tag", equals = "x" } ] }, { route = "a" } ]

[[rules]]
name = "fine"
[[rules]]
match.all = [ { field = "source", regex = "tm[" } ]
[[rules]]
match.any = [ { field = "source", equals = "tm1", on = "yes" } ]
[[rules]]
route = "nowhere"
"#;
    let errs = try_parse_config(text).unwrap_err();
    let shown = errs.to_string();
    let paths: Vec<&str> = errs.0.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "rules[1].match.all[0].regex",
        "rules[2].match.any[0].on",
        "rules[3].route",
        "services[1].rules[1].route",
    ] {
        assert!(paths.contains(&want), "{want} missing from:\n{shown}");
    }
    assert!(
        shown.contains("invalid regular expression \"tm[\""),
        "{shown}"
    );
    assert!(shown.contains("unknown field `on`"), "{shown}");
    assert!(shown.contains("unknown service \"nowhere\""), "{shown}");
    assert!(shown.contains("routes form a cycle: a → b → a"), "{shown}");
}
