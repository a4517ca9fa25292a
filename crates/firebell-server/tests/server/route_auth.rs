//! Every route of the router refuses a request without credentials, except
//! the short, commented list of public ones (`firebell_server::PUBLIC`),
//! which answer exactly as that list says. Keys are scoped: an integration
//! key opens no admin route, and a wrong token opens nothing.

use crate::support::*;
use firebell_server::{PUBLIC, routes};
use firebell_sqlite::SqliteStore;
use std::collections::HashMap;

/// A configuration with a schedule, a Twilio channel (its callbacks check
/// signatures) and an SNS integration, so every route reaches its own
/// credential check rather than a "no such thing" answer.
const EVERYTHING: &str = concat!(
    server_section!(),
    r#"public_url = "https://firebell.example.com"

[[channels]]
name = "phone"
kind = "twilio"
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "twilio-auth-token-for-tests"
from = "+15005550006"
base_url = "http://127.0.0.1:9"

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]

[[schedules]]
id = "ops"
timezone = "UTC"
layers = [ { participants = ["alice"], shift = "1w", first_handoff = "2026-02-23T09:00" } ]

[[policies]]
id = "outage"
steps = [ { targets = ["user:alice"], wait = "5m" } ]

[[services]]
id = "checkout"
policy = "outage"
integrations = [
  { kind = "generic", key = "test-integration-key" },
  { kind = "alertmanager", key = "test-alertmanager-key" },
  { kind = "vtm", key = "test-vtm-key-0001" },
]
"#
);

/// A concrete path for a route pattern.
fn fill(pattern: &str) -> String {
    let action = if pattern.starts_with("/hooks/twilio") {
        "voice"
    } else {
        "acknowledge"
    };
    pattern
        .replace("{id}", "1")
        .replace("{key}", "no-such-key")
        .replace("{channel}", "phone")
        .replace("{action}", action)
        .replace("{nid}", "1")
        .replace("{name}", "ops")
        .replace("{file}", "firebell.css")
}

/// One request; the (manual) clock moves a second first, so the failures of
/// a whole walk never reach the per-address limit within its window.
async fn status_of(
    app: &TestApp,
    method: &reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> u16 {
    app.clock.advance(jiff::SignedDuration::from_secs(1));
    let mut req = app
        .client
        .request(method.clone(), format!("{}{}", app.url, fill(path)))
        .header("content-type", "application/json")
        .body("{}");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn only_the_public_list_answers_without_credentials() {
    let (app, _dir, _sink) = spawn_app(EVERYTHING).await;
    let all = routes::<SqliteStore>();
    assert!(all.len() >= 45, "the router lists {} routes", all.len());
    let public: HashMap<(&str, &str), u16> = PUBLIC
        .iter()
        .map(|p| ((p.method, p.path), p.unauthenticated))
        .collect();
    // The list is short, each entry says why, and each names a real route
    // (18: the OpenAPI document joined it; 20: SMS gateways' replies, GET
    // and POST; a new entry needs a reason).
    assert!(PUBLIC.len() <= 20, "{} public routes", PUBLIC.len());
    for p in PUBLIC {
        assert!(!p.why.is_empty());
        assert!(
            all.iter()
                .any(|r| r.method.as_str() == p.method && r.path == p.path),
            "PUBLIC names {} {}, which the router does not have",
            p.method,
            p.path
        );
    }
    let mut wrong = Vec::new();
    for r in &all {
        // A web UI page sends a signed-out browser to the sign-in page; a
        // form post is refused.
        let signed_out = if r.ui && r.method == reqwest::Method::GET {
            303
        } else {
            401
        };
        let expected = public
            .get(&(r.method.as_str(), r.path))
            .copied()
            .unwrap_or(signed_out);
        for token in [None, Some("wrong-token"), Some("")] {
            let got = status_of(&app, &r.method, r.path, token).await;
            // A public route answers the same whatever bogus token comes.
            if got != expected {
                wrong.push(format!(
                    "{} {} with {token:?}: {got}, expected {expected}",
                    r.method, r.path
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    app.stop().await;
}

#[tokio::test]
async fn keys_open_only_their_own_routes() {
    let (app, _dir, _sink) = spawn_app(EVERYTHING).await;
    let public: Vec<(&str, &str)> = PUBLIC.iter().map(|p| (p.method, p.path)).collect();
    // What each key may open besides the public routes.
    let generic = [("POST", "/api/v1/events")];
    let vtm = [("POST", "/api/v1/vtm")];
    let alertmanager = [
        ("POST", "/api/v2/alerts"),
        ("POST", "/hooks/alertmanager"),
        ("GET", "/api/v2/alerts"),
        ("GET", "/api/v2/alerts/groups"),
        ("GET", "/api/v2/status"),
        ("GET", "/api/v2/receivers"),
        ("GET", "/api/v2/silences"),
        ("POST", "/api/v2/silences"),
        ("GET", "/api/v2/silence/{id}"),
        ("DELETE", "/api/v2/silence/{id}"),
    ];
    let mut wrong = Vec::new();
    for (key, allowed) in [
        ("test-integration-key", &generic[..]),
        ("test-alertmanager-key", &alertmanager[..]),
        ("test-vtm-key-0001", &vtm[..]),
    ] {
        for r in routes::<SqliteStore>() {
            let m = (r.method.as_str(), r.path);
            if public.contains(&m) {
                continue;
            }
            let got = status_of(&app, &r.method, r.path, Some(key)).await;
            let opens = allowed.contains(&m);
            // A web UI page takes a session, never a key: a GET is sent
            // to the sign-in page.
            let refused = got == 401 || (r.ui && got == 303);
            if opens == refused {
                wrong.push(format!("{} {} with {key}: {got}", r.method, r.path));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // The admin token opens every other route (not 401); the ingest routes
    // take only their integration's key.
    let key_only = [
        ("POST", "/api/v1/events"),
        ("POST", "/api/v1/vtm"),
        ("POST", "/api/v1/heartbeat"),
        ("POST", "/api/v2/alerts"),
        ("POST", "/hooks/alertmanager"),
    ];
    for r in routes::<SqliteStore>() {
        let m = (r.method.as_str(), r.path);
        if public.contains(&m) {
            continue;
        }
        let got = status_of(&app, &r.method, r.path, Some(ADMIN)).await;
        if r.ui {
            // The admin token is for scripts; a page wants a person.
            assert!(
                got == 401 || got == 303,
                "{} {} took the admin token: {got}",
                r.method,
                r.path
            );
            continue;
        }
        if key_only.contains(&m) {
            assert_eq!(got, 401, "{} {} took the admin token", r.method, r.path);
            continue;
        }
        assert_ne!(got, 401, "{} {} refused the admin token", r.method, r.path);
    }
    app.stop().await;
}

/// Guessing is limited: after 100 failures within a minute an address gets
/// 429 with Retry-After on every authenticated route — even with the right
/// token — while another address is unaffected; after the window it works.
#[tokio::test]
async fn failed_authentication_is_limited_per_address() {
    let (app, _dir, _sink) = spawn_app(EVERYTHING).await;
    let url = format!("{}/api/v1/alerts", app.url);
    for i in 0..firebell_server::auth_limits::MAX_FAILURES {
        let r = app
            .client
            .get(&url)
            .bearer_auth(format!("guess-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "guess {i}");
    }
    let r = app
        .client
        .get(&url)
        .bearer_auth("guess-last")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("too many failed"),
        "{body}"
    );
    // Blocked means blocked: the right token too, and an ingest key.
    let r = app
        .client
        .get(&url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let (status, _) = app
        .post_events_with_key(r#"{"summary":"x"}"#, Some(KEY))
        .await;
    assert_eq!(status, 429);
    // Another address on this machine is not.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let r = other.get(&url).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Public routes still answer.
    let r = app
        .client
        .get(format!("{}/-/healthy", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A minute later the address may try again.
    app.clock.advance(jiff::SignedDuration::from_secs(61));
    let r = app
        .client
        .get(&url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    app.stop().await;
}

/// The OpenAPI document describes every `/api/v1` route the router has,
/// with its method, and nothing the router does not have.
#[test]
fn the_openapi_document_lists_every_api_route() {
    let doc: serde_json::Value =
        serde_json::from_str(firebell_server::openapi::document()).unwrap();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut routed: Vec<(String, String)> = routes::<SqliteStore>()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    routed.sort();
    routed.dedup();
    assert_eq!(documented, routed);
}
