//! Maintenance windows, end to end over HTTP with a real SQLite database and
//! a fast-forwarded clock: alerts are recorded and nobody is paged while a
//! window is in force; what is still open when it ends (or is ended early)
//! pages then; a window in the future holds nothing yet; bad input is a 400
//! naming the field, with nothing stored.

use crate::support::*;
use serde_json::{Value, json};

const CONFIG: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users]]
id = "bob"
contacts = [ { kind = "console" } ]

[[policies]]
id = "outage"
repeat = 1
steps = [
  { targets = ["user:alice"], wait = "5m" },
  { targets = ["user:bob"], wait = "5m" },
]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]

[[services]]
id = "search"
policy = "outage"
integrations = [ { kind = "generic", key = "search-key" } ]
"#
);

fn messages(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

async fn start_window(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.api_post("/api/v1/maintenance", body).await;
    assert_eq!(status, 201, "{body}");
    body["window"].clone()
}

async fn delete(app: &TestApp, path: &str) -> (u16, Value) {
    let resp = app
        .client
        .delete(format!("{}{path}", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_window_records_alerts_pages_no_one_and_pages_what_is_open_at_its_end() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    let w = start_window(
        &app,
        json!({"service": "checkout", "duration": "1h", "comment": "database upgrade"}),
    )
    .await;
    let wid = w["id"].as_i64().unwrap();
    assert_eq!(w["active"], true);
    assert_eq!(w["start"], json!(t0().to_string()));
    assert_eq!(w["end"], json!((t0() + mins(60)).to_string()));
    assert_eq!(w["comment"], "database upgrade");

    let open = app.trigger("db-down", "Database down").await;
    let fixed = app.trigger("disk-web1", "Disk full on web1").await;
    // Another service is not in maintenance: it pages at once.
    let (status, body) = app
        .post_events_with_key(
            r#"{"action":"trigger","dedup_key":"slow","summary":"Search is slow"}"#,
            Some("search-key"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    app.settle().await;
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);
    assert!(app.pages()[0].line.contains("Search is slow"));

    // The held alerts are visible, with the reason on their timelines.
    let held = format!(
        "paging held: service checkout is in maintenance until {} (window {wid})",
        t0() + mins(60)
    );
    for id in [open, fixed] {
        let view = app.alert(id).await;
        assert_eq!(view["alert"]["status"], "triggered");
        assert_eq!(
            messages(&view).iter().filter(|m| **m == held).count(),
            1,
            "{:?}",
            messages(&view)
        );
    }
    // One resolves during the window; the other is still open at its end.
    app.advance(mins(20)).await;
    let (status, _) = app
        .post_events(r#"{"action":"resolve","dedup_key":"disk-web1"}"#)
        .await;
    assert_eq!(status, 202);
    let checkout_pages = || -> Vec<Page> {
        app.pages()
            .into_iter()
            .filter(|p| p.line.contains("Database down") || p.line.contains("Disk full"))
            .collect()
    };
    app.advance(mins(39)).await;
    assert!(
        checkout_pages().is_empty(),
        "nobody paged for checkout during the window"
    );

    app.advance(mins(1)).await;
    let checkout = checkout_pages();
    assert_eq!(checkout.len(), 1, "{checkout:?}");
    assert_eq!(checkout[0].user, "alice");
    assert_eq!(checkout[0].at, t0() + mins(60));
    assert!(checkout[0].line.contains("Database down"));
    let view = app.alert(open).await;
    assert!(
        messages(&view)
            .iter()
            .any(|m| m
                .starts_with("paging resumed: no longer held (service checkout is in maintenance")),
        "{:?}",
        messages(&view)
    );
    let view = app.alert(fixed).await;
    assert_eq!(view["alert"]["status"], "resolved");
    assert!(
        !messages(&view)
            .iter()
            .any(|m| m.starts_with("paging alice"))
    );
    // The escalation goes on as usual after the window.
    app.advance(mins(5)).await;
    let bob: Vec<_> = checkout_pages()
        .into_iter()
        .filter(|p| p.user == "bob")
        .collect();
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].at, t0() + mins(65));
}

#[tokio::test]
async fn a_scheduled_window_holds_nothing_before_it_starts() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    let w = start_window(
        &app,
        json!({
            "service": "checkout",
            "start": (t0() + mins(60)).to_string(),
            "end": (t0() + mins(120)).to_string(),
        }),
    )
    .await;
    assert_eq!(w["active"], false);
    let (_, list) = app.api_get("/api/v1/maintenance?active=true").await;
    assert_eq!(list["windows"], json!([]));
    let (_, list) = app.api_get("/api/v1/maintenance?service=checkout").await;
    assert_eq!(list["windows"].as_array().unwrap().len(), 1);

    app.trigger("before", "Before the window").await;
    app.settle().await;
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);

    app.advance(mins(70)).await;
    let (_, list) = app.api_get("/api/v1/maintenance?active=true").await;
    assert_eq!(list["windows"][0]["id"], w["id"]);
    let during = app.trigger("during", "During the window").await;
    app.advance(mins(49)).await;
    assert!(
        !app.pages()
            .iter()
            .any(|p| p.line.contains("During the window")),
        "held while the window is in force"
    );
    app.advance(mins(1)).await;
    let paged: Vec<_> = app
        .pages()
        .into_iter()
        .filter(|p| p.line.contains("During the window"))
        .collect();
    assert_eq!(paged.len(), 1);
    assert_eq!(
        (paged[0].user.as_str(), paged[0].at),
        ("alice", t0() + mins(120))
    );
    assert_eq!(app.alert(during).await["alert"]["status"], "triggered");
}

#[tokio::test]
async fn ending_a_window_early_pages_at_once_and_keeps_the_record() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    let w = start_window(&app, json!({"service": "checkout", "duration": "2h"})).await;
    let wid = w["id"].as_i64().unwrap();
    let id = app.trigger("db-down", "Database down").await;
    app.advance(mins(10)).await;
    assert!(app.page_log().is_empty());

    let (status, body) = delete(&app, &format!("/api/v1/maintenance/{wid}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["window"]["end"], json!((t0() + mins(10)).to_string()));
    assert_eq!(body["window"]["active"], false);
    app.settle().await;
    assert_eq!(app.page_log(), vec![("alice".to_string(), 10)]);
    assert_eq!(app.alert(id).await["escalation"]["step"], 1);

    // Kept, with its new end; no longer in force.
    let (_, list) = app.api_get("/api/v1/maintenance").await;
    let windows = list["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0]["end"], json!((t0() + mins(10)).to_string()));
    let (_, list) = app.api_get("/api/v1/maintenance?active=true").await;
    assert_eq!(list["windows"], json!([]));
    let (status, _) = delete(&app, "/api/v1/maintenance/9999").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_windows_are_refused_naming_the_field_and_nothing_is_stored() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    let cases = [
        (json!({"service": "nope", "duration": "1h"}), "service"),
        (json!({"duration": "1h"}), "service"),
        (
            json!({"service": "checkout", "start": (t0() + mins(60)).to_string(),
                   "end": (t0() + mins(30)).to_string()}),
            "end",
        ),
        (
            json!({"service": "checkout", "duration": "169h"}),
            "duration",
        ),
        (json!({"service": "checkout", "duration": "8d"}), "duration"),
        (
            json!({"service": "checkout", "end": (t0() + mins(8 * 24 * 60)).to_string()}),
            "end",
        ),
        (
            json!({"service": "checkout", "duration": "-1h"}),
            "duration",
        ),
        (
            json!({"service": "checkout", "duration": "soon"}),
            "duration",
        ),
        (json!({"service": "checkout"}), "end"),
        (
            json!({"service": "checkout", "duration": "1h", "end": (t0() + mins(60)).to_string()}),
            "duration",
        ),
        (
            json!({"service": "checkout", "start": "tomorrow", "duration": "1h"}),
            "start",
        ),
        (
            json!({"service": "checkout", "end": (t0() - mins(1)).to_string()}),
            "end",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = app.api_post("/api/v1/maintenance", body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["details"][0]["field"], field, "{body} → {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    // Without the admin token: refused.
    let resp = app
        .client
        .post(format!("{}/api/v1/maintenance", app.url))
        .json(&json!({"service": "checkout", "duration": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (status, list) = app.api_get("/api/v1/maintenance").await;
    assert_eq!(status, 200);
    assert_eq!(list["windows"], json!([]), "nothing stored");
    let (status, answer) = app.api_get("/api/v1/maintenance?service=nope").await;
    assert_eq!(status, 400);
    assert_eq!(answer["details"][0]["field"], "service");

    // And nothing holds paging.
    app.trigger("db-down", "Database down").await;
    app.settle().await;
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);
}
