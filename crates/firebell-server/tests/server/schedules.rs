//! Schedules end to end: a policy step that targets a schedule pages whoever
//! is on call (and an override changes who), the on-call and shifts API,
//! overrides API and its bad input, and calendar feeds read by an independent
//! iCalendar parser.

use crate::support::*;
use serde_json::{Value, json};

/// Weekly Monday 09:00 London rotation alice → bob; at t0 (Sunday 1 March
/// 2026, 09:00 UTC) alice is on call. An empty "night" schedule.
const SCHEDULED: &str = concat!(
    server_section!(),
    r#"public_url = "http://firebell.test"

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users]]
id = "bob"
contacts = [ { kind = "console" } ]
[[users]]
id = "carol"
contacts = [ { kind = "console" } ]

[[schedules]]
id = "ops"
timezone = "Europe/London"
layers = [
  { name = "weekly", participants = ["alice", "bob"], shift = "1w", first_handoff = "2026-02-23T09:00" },
]

[[schedules]]
id = "night"
timezone = "Europe/London"
layers = [
  { participants = ["carol"], shift = "1d", first_handoff = "2026-02-23T00:00",
    restrictions = [ { days = ["sat"], start = "00:00", end = "01:00" } ] },
]

[[policies]]
id = "oncall"
repeat = 1
steps = [
  { targets = ["schedule:ops"], wait = "10m" },
  { targets = ["user:carol"], wait = "10m" },
]

[[policies]]
id = "nightly"
repeat = 1
steps = [
  { targets = ["schedule:night"], wait = "10m" },
  { targets = ["user:bob"], wait = "10m" },
]

[[services]]
id = "web"
policy = "oncall"
integrations = [ { kind = "generic", key = "test-integration-key" } ]

[[services]]
id = "batch"
policy = "nightly"
integrations = [ { kind = "generic", key = "batch-integration-key" } ]
"#
);

#[tokio::test]
async fn a_schedule_step_pages_whoever_is_on_call_and_an_override_changes_who() {
    let (app, _dir, _sink) = spawn_app(SCHEDULED).await;
    let first = app.trigger("a", "First").await;
    app.settle().await;
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);
    let tl = app.alert(first).await["timeline"].clone();
    assert!(
        tl.as_array().unwrap().iter().any(|e| e["message"]
            .as_str()
            .unwrap()
            .contains("(on call in schedule:ops)")),
        "{tl}"
    );

    // Four minutes in, bob takes over for an hour; a minute later a new alert.
    app.advance(mins(4)).await;
    let (status, body) = app
        .api_post(
            "/api/v1/schedules/ops/overrides",
            json!({"start": (t0() + mins(4)).to_string(), "end": (t0() + mins(64)).to_string(),
                   "kind": "replace", "from": "alice", "to": "bob", "created_by": "alice"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.advance(mins(1)).await;
    app.trigger("b", "Second").await;
    app.settle().await;
    assert_eq!(
        app.page_log(),
        vec![("alice".to_string(), 0), ("bob".to_string(), 5)]
    );
    let (_, now) = app.api_get("/api/v1/schedules/ops/oncall").await;
    assert_eq!(now["users"], json!(["bob"]));
    let (_, later) = app
        .api_get(&format!(
            "/api/v1/schedules/ops/oncall?at={}",
            t0() + mins(90)
        ))
        .await;
    assert_eq!(later["users"], json!(["alice"]));
    // After Monday's 09:00 London handoff (GMT in early March: 09:00 UTC) it is bob's week.
    let (_, monday) = app
        .api_get("/api/v1/schedules/ops/oncall?at=2026-03-02T09:00:00Z")
        .await;
    assert_eq!(monday["users"], json!(["bob"]));
    let (_, all) = app.api_get("/api/v1/oncall").await;
    assert_eq!(
        all["oncall"],
        json!([{"schedule": "night", "users": []}, {"schedule": "ops", "users": ["bob"]}])
    );
}

#[tokio::test]
async fn an_empty_schedule_counts_as_not_reached_and_escalation_moves_on() {
    let (app, _dir, _sink) = spawn_app(SCHEDULED).await;
    let (status, body) = app
        .post_events_with_key(
            r#"{"action":"trigger","summary":"Batch failed"}"#,
            Some("batch-integration-key"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["alerts"][0]["id"].as_i64().unwrap();
    app.settle().await;
    // Nobody in "night" on a Sunday morning: bob (step 2) is paged at once.
    assert_eq!(app.page_log(), vec![("bob".to_string(), 0)]);
    let view = app.alert(id).await;
    assert!(
        view["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"] == "schedule:night has nobody on call: not reached"),
        "{view}"
    );
}

#[tokio::test]
async fn override_bad_input_names_the_field_and_stores_nothing() {
    let (app, _dir, _sink) = spawn_app(SCHEDULED).await;
    let start = t0().to_string();
    let cases = [
        (
            json!({"start": start, "end": (t0() - mins(1)).to_string(), "kind": "add", "user": "bob"}),
            "end",
        ),
        (
            json!({"start": start, "end": start, "kind": "add", "user": "bob"}),
            "end",
        ),
        (
            json!({"start": start, "end": (t0() + mins(60)).to_string(), "kind": "add", "user": "zed"}),
            "user",
        ),
        (
            json!({"start": start, "end": (t0() + mins(60)).to_string(), "kind": "replace", "from": "alice", "to": "zed"}),
            "to",
        ),
        (
            json!({"start": "tuesday", "end": (t0() + mins(60)).to_string(), "kind": "add", "user": "bob"}),
            "start",
        ),
        (
            json!({"start": start, "end": (t0() + mins(60)).to_string(), "kind": "swap", "user": "bob"}),
            "kind",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = app
            .api_post("/api/v1/schedules/ops/overrides", body.clone())
            .await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["details"][0]["field"], field, "{body} → {answer}");
    }
    let (status, _) = app
        .api_post(
            "/api/v1/schedules/nope/overrides",
            json!({"start": start, "end": (t0() + mins(60)).to_string(), "kind": "add", "user": "bob"}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = app.api_get("/api/v1/schedules/ops/overrides").await;
    assert_eq!(list["overrides"], json!([]));
    let (status, _) = app
        .api_get("/api/v1/schedules/ops/shifts?from=2026-03-01T00:00:00Z&to=2026-02-01T00:00:00Z")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn overrides_can_be_listed_and_deleted() {
    let (app, _dir, _sink) = spawn_app(SCHEDULED).await;
    let (status, body) = app
        .api_post(
            "/api/v1/schedules/ops/overrides",
            json!({"start": t0().to_string(), "end": (t0() + mins(60)).to_string(), "kind": "add", "user": "carol"}),
        )
        .await;
    assert_eq!(status, 201);
    let id = body["override"]["id"].as_i64().unwrap();
    let (_, list) = app.api_get("/api/v1/schedules/ops/overrides").await;
    assert_eq!(list["overrides"][0]["user"], "carol");
    let (_, now) = app.api_get("/api/v1/schedules/ops/oncall").await;
    assert_eq!(now["users"], json!(["alice", "carol"]));
    let resp = app
        .client
        .delete(format!("{}/api/v1/overrides/{id}", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (_, now) = app.api_get("/api/v1/schedules/ops/oncall").await;
    assert_eq!(now["users"], json!(["alice"]));
    let resp = app
        .client
        .delete(format!("{}/api/v1/overrides/{id}", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_feeds_parse_with_icalendar_and_equal_the_shifts_api() {
    let Some(python) = python_with(&["icalendar"]) else {
        return;
    };
    let (app, dir, _sink) = spawn_app(SCHEDULED).await;
    let (status, _) = app
        .api_post(
            "/api/v1/schedules/ops/overrides",
            json!({"start": "2026-03-04T12:00:00Z", "end": "2026-03-05T12:00:00Z",
                   "kind": "replace", "from": "bob", "to": "carol"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, listing) = app.api_get("/api/v1/schedules").await;
    let feed_url = listing["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "ops")
        .unwrap()["feed_url"]
        .as_str()
        .unwrap()
        .to_string();
    let path_and_query = feed_url.strip_prefix("http://firebell.test").unwrap();
    let window = "from=2026-02-20T00:00:00Z&to=2026-04-20T00:00:00Z";
    let resp = app
        .client
        .get(format!("{}{path_and_query}&{window}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = resp.text().await.unwrap();
    let file = dir.path().join("ops.ics");
    std::fs::write(&file, &ics).unwrap();
    let out = tokio::process::Command::new(&python)
        .arg(python_script("ics_events.py"))
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();

    let (_, shifts) = app
        .api_get(&format!("/api/v1/schedules/ops/shifts?{window}"))
        .await;
    let expected: Vec<(String, String, String)> = shifts["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["users"].as_array().unwrap().is_empty())
        .map(|s| {
            let users: Vec<&str> = s["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap())
                .collect();
            (
                s["start"].as_str().unwrap().to_string(),
                s["end"].as_str().unwrap().to_string(),
                format!("On call (ops): {}", users.join(", ")),
            )
        })
        .collect();
    let got: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["start"].as_str().unwrap().to_string(),
                e["end"].as_str().unwrap().to_string(),
                e["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(expected.len() >= 9, "{expected:?}");
    assert_eq!(got, expected);
    assert!(
        got.iter().any(|(_, _, s)| s == "On call (ops): carol"),
        "the override is in the feed"
    );

    // Handoffs stay at 09:00 London: 09:00 UTC in winter, 08:00 UTC after 29 March.
    assert!(got.iter().any(|(s, _, _)| s == "2026-03-30T08:00:00Z"));
    // The person's own feed: alice's weeks.
    let alice = listing["user_feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "alice")
        .unwrap()["feed_url"]
        .as_str()
        .unwrap()
        .strip_prefix("http://firebell.test")
        .unwrap()
        .to_string();
    let ics = app
        .client
        .get(format!("{}{alice}&{window}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(&file, &ics).unwrap();
    let out = tokio::process::Command::new(&python)
        .arg(python_script("ics_events.py"))
        .arg(&file)
        .output()
        .await
        .unwrap();
    let mine: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let alice_spans: Vec<(String, String)> = expected
        .iter()
        .filter(|(_, _, s)| s.ends_with(": alice"))
        .map(|(a, b, _)| (a.clone(), b.clone()))
        .collect();
    let got: Vec<(String, String)> = mine
        .iter()
        .map(|e| {
            (
                e["start"].as_str().unwrap().to_string(),
                e["end"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, alice_spans);

    // A wrong token opens nothing.
    let resp = app
        .client
        .get(format!("{}/feeds/schedules/ops.ics?token=0000", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

/// The weekly rotation with a handoff notice ten minutes before each shift.
fn with_handoff_notice() -> String {
    SCHEDULED.replacen(
        "id = \"ops\"\ntimezone = \"Europe/London\"\n",
        "id = \"ops\"\ntimezone = \"Europe/London\"\nhandoff_notice = \"10m\"\n",
        1,
    )
}

#[tokio::test]
async fn the_incoming_person_is_told_their_shift_starts_once_and_an_override_changes_who() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text = render_config(&with_handoff_notice(), &data, "unused");
    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    // Bob's week starts Monday 2 March at 09:00 London (GMT).
    let app = spawn_app_at(&text, &data, at("2026-03-02T08:45:00Z"), None).await;
    assert_eq!(app.engine.run_handoffs_once().await.unwrap(), 1);
    app.settle().await;
    assert!(app.pages().is_empty(), "due ten minutes before, not yet");
    app.run_until(at("2026-03-02T08:51:00Z")).await;
    let pages = app.pages();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(pages[0].user, "bob");
    assert_eq!(pages[0].at, at("2026-03-02T08:50:00Z"));
    assert!(
        pages[0].line.contains(
            "NOTICE bob: Your on-call shift on schedule \"ops\" starts Mon 2 Mar 09:00 GMT and runs until Mon 9 Mar 09:00 GMT."
        ),
        "{}",
        pages[0].line
    );
    // Later passes (and a restart, another node) do not tell bob twice.
    app.engine.run_handoffs_once().await.unwrap();
    app.run_until(at("2026-03-02T09:30:00Z")).await;
    assert_eq!(app.pages().len(), 1);

    // Alice's week would start on the 9th; carol takes her first day.
    let (status, body) = app
        .api_post(
            "/api/v1/schedules/ops/overrides",
            json!({"start": "2026-03-09T09:00:00Z", "end": "2026-03-10T09:00:00Z",
                   "kind": "replace", "from": "alice", "to": "carol", "created_by": "alice"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.clock.set(at("2026-03-09T08:45:00Z"));
    app.engine.run_handoffs_once().await.unwrap();
    app.run_until(at("2026-03-09T09:30:00Z")).await;
    let pages = app.pages();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(pages[1].user, "carol");
    assert!(
        pages[1].line.contains("runs until Tue 10 Mar 09:00 GMT"),
        "{}",
        pages[1].line
    );
    // No alert was opened for any of this.
    assert!(app.all_alerts().await.is_empty());
}

#[test]
fn a_bad_handoff_notice_is_a_config_error_naming_the_field() {
    let text = with_handoff_notice().replace("\"10m\"", "\"soon\"");
    let err = try_parse_config(&text).unwrap_err().to_string();
    assert!(
        err.contains("schedules[0].handoff_notice: \"soon\" is not a duration from 0s to 7d"),
        "{err}"
    );
}
