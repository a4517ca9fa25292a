//! Self-alerts (`[self_alerts]`): Firebell's own troubles are alerts on the
//! built-in service `firebell`, paged through the configured policy once,
//! counted when they repeat, resolved when they end.

use crate::support::*;

const WITH_SELF_ALERTS: &str = concat!(
    server_section!(),
    r#"
[self_alerts]
policy = "ops"

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users]]
id = "bob"
contacts = [ { kind = "console" } ]

[[policies]]
id = "ops"
steps = [ { targets = ["user:alice"], wait = "30m" } ]
[[policies]]
id = "outage"
steps = [ { targets = ["user:bob"], wait = "30m" } ]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

async fn self_alerts(app: &TestApp) -> Vec<serde_json::Value> {
    app.all_alerts()
        .await
        .into_iter()
        .filter(|a| a["service"] == "firebell")
        .collect()
}

#[tokio::test]
async fn a_refused_reload_pages_the_self_alert_policy_once_and_the_next_good_one_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = dir.path().join("firebell.toml");
    let good = render_config(WITH_SELF_ALERTS, &data, "unused");
    std::fs::write(&path, &good).unwrap();
    let app = spawn_app_at(&good, &data, t0(), Some(path.clone())).await;

    // A typo'd policy: refused, and Firebell says so by paging alice.
    std::fs::write(
        &path,
        good.replace("policy = \"outage\"", "policy = \"outgae\""),
    )
    .unwrap();
    let (status, body) = app.api_post("/-/reload", serde_json::json!({})).await;
    assert_eq!(status, 400, "{body}");
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["status"], "triggered");
    assert_eq!(a["dedup_key"], "firebell:config-reload-refused");
    assert!(
        a["summary"]
            .as_str()
            .unwrap()
            .starts_with("configuration reload refused (1 error(s))"),
        "{a}"
    );
    let errors = a["details"]["errors"].to_string();
    assert!(
        errors.contains("services[0].policy") && errors.contains("outgae"),
        "{errors}"
    );
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);

    // Refused again: the same alert counts it; nobody is paged again.
    let (status, _) = app.api_post("/-/reload", serde_json::json!({})).await;
    assert_eq!(status, 400);
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["count"], 2);
    assert_eq!(app.pages().len(), 1);

    // Fixed: the reload loads and the self-alert resolves.
    std::fs::write(&path, &good).unwrap();
    let (status, body) = app.api_post("/-/reload", serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["status"], "resolved");
    assert_eq!(app.pages().len(), 1, "nobody is paged about the recovery");
}

#[tokio::test]
async fn without_self_alerts_a_refused_reload_opens_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = dir.path().join("firebell.toml");
    let good = render_config(
        &WITH_SELF_ALERTS.replace("[self_alerts]\npolicy = \"ops\"\n", ""),
        &data,
        "unused",
    );
    assert!(!good.contains("self_alerts"));
    std::fs::write(&path, &good).unwrap();
    let app = spawn_app_at(&good, &data, t0(), Some(path.clone())).await;
    std::fs::write(
        &path,
        good.replace("policy = \"outage\"", "policy = \"nope\""),
    )
    .unwrap();
    let (status, _) = app.api_post("/-/reload", serde_json::json!({})).await;
    assert_eq!(status, 400);
    app.settle().await;
    assert!(app.all_alerts().await.is_empty());
    assert!(app.pages().is_empty());
}

#[test]
fn self_alerts_name_a_policy_that_exists_and_reserve_the_firebell_service() {
    let text = render_config(WITH_SELF_ALERTS, std::path::Path::new("/tmp/x"), "unused");
    let config = parse_config(&text);
    let firebell = &config.services["firebell"];
    assert_eq!(firebell.policy, "ops");
    assert!(firebell.integrations.is_empty());

    let unknown = text.replace(
        "policy = \"ops\"\n\n[[users]]",
        "policy = \"opz\"\n\n[[users]]",
    );
    let errors = try_parse_config(&unknown).unwrap_err();
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.path == "self_alerts.policy" && e.message.contains("opz")),
        "{errors}"
    );

    let taken = text.replace("id = \"checkout\"", "id = \"firebell\"");
    let errors = try_parse_config(&taken).unwrap_err();
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.path == "services[0].id" && e.message.contains("built-in")),
        "{errors}"
    );
}

const SCHEDULES: &str = concat!(
    server_section!(),
    r#"
[self_alerts]
policy = "ops"

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users]]
id = "carol"
contacts = [ { kind = "console" } ]

[[schedules]]
id = "day"
timezone = "Europe/London"
layers = [ { participants = ["alice"], shift = "1w", first_handoff = "2026-02-23T09:00" } ]

[[schedules]]
id = "night"
timezone = "Europe/London"
layers = [
  { participants = ["carol"], shift = "1d", first_handoff = "2026-02-23T00:00",
    restrictions = [ { days = ["sat"], start = "00:00", end = "01:00" } ] },
]

[[policies]]
id = "ops"
steps = [ { targets = ["user:alice"], wait = "30m" } ]

[[services]]
id = "checkout"
policy = "ops"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

#[tokio::test]
async fn a_schedule_with_nobody_on_call_in_the_next_day_pages_once_and_an_override_resolves_it() {
    let (app, _dir, _sink) = spawn_app(SCHEDULES).await;
    // "night" has carol on Saturdays 00:00-01:00 only; "day" is always covered.
    assert_eq!(app.engine.run_self_checks_once().await.unwrap(), 1);
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["dedup_key"], "firebell:schedule-gap:night");
    assert_eq!(a["labels"]["self_alert"], "schedule-gap:night");
    assert!(
        a["summary"]
            .as_str()
            .unwrap()
            .starts_with("schedule \"night\" has nobody on call in the next 24 hours: 2026-03-01T09:00:00Z → 2026-03-02T09:00:00Z"),
        "{a}"
    );
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);

    // The next pass finds the same gap: counted, nobody paged again.
    app.advance(jiff::SignedDuration::from_mins(1)).await;
    assert_eq!(app.engine.run_self_checks_once().await.unwrap(), 1);
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!((alerts.len(), alerts[0]["count"].as_i64()), (1, Some(2)));
    assert_eq!(app.pages().len(), 1);

    // carol covers the next two days: the gap is gone, the alert resolves.
    let (status, body) = app
        .api_post(
            "/api/v1/schedules/night/overrides",
            serde_json::json!({
                "kind": "add", "user": "carol",
                "start": "2026-03-01T09:00:00Z", "end": "2026-03-03T09:00:00Z"
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.engine.run_self_checks_once().await.unwrap(), 0);
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["status"], "resolved");
    assert_eq!(app.pages().len(), 1);
}

const FAILING_CHANNEL: &str = concat!(
    server_section!(),
    r#"
[self_alerts]
policy = "ops"
channel_failures = 2

[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
[[users]]
id = "bob"
contacts = [ { kind = "webhook", url = "{SINK}" }, { kind = "console" } ]

[[policies]]
id = "ops"
steps = [ { targets = ["user:alice"], wait = "30m" } ]
[[policies]]
id = "outage"
steps = [ { targets = ["user:bob"], wait = "30m" } ]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

#[tokio::test]
async fn a_channel_failing_for_good_n_times_in_a_row_pages_once_and_its_next_delivery_resolves_it()
{
    let (app, _dir, sink) = spawn_app(FAILING_CHANNEL).await;
    // Bob is reached on the console after his webhook fails, so no
    // escalation runs out: the channel is the only trouble.
    let alice_pages = |app: &TestApp| app.pages().iter().filter(|p| p.user == "alice").count();
    // 400: the webhook refuses for good (no retry).
    sink.set_status(400);
    app.trigger("a1", "first").await;
    app.settle().await;
    assert!(
        self_alerts(&app).await.is_empty(),
        "one failure is no trouble yet"
    );
    app.trigger("a2", "second").await;
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["dedup_key"], "firebell:channel-failing:webhook");
    assert!(
        a["summary"]
            .as_str()
            .unwrap()
            .starts_with("channel \"webhook\": 2 pages in a row failed for good; the last: "),
        "{a}"
    );
    assert_eq!(a["details"]["failed_in_a_row"], 2);
    // The webhook's URL (it could hold a secret) is not in the alert.
    assert!(!a.to_string().contains(&sink.url), "{a}");
    assert_eq!(alice_pages(&app), 1);

    // A third failure counts on the same alert; alice is not paged again.
    app.trigger("a3", "third").await;
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!((alerts.len(), alerts[0]["count"].as_i64()), (1, Some(2)));
    assert_eq!(alice_pages(&app), 1);

    // The webhook works again: its next delivery resolves the self-alert.
    sink.set_status(200);
    app.trigger("a4", "fourth").await;
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts[0]["status"], "resolved");
    assert_eq!(sink.bodies().len(), 4);
    assert_eq!(alice_pages(&app), 1);
}

#[tokio::test]
async fn an_escalation_that_runs_out_pages_the_self_alert_policy_and_resolves_once_someone_takes_the_alert()
 {
    let config = WITH_SELF_ALERTS.replace(
        "[[policies]]\nid = \"outage\"\nsteps = [ { targets = [\"user:bob\"], wait = \"30m\" } ]",
        "[[policies]]\nid = \"outage\"\nrepeat = 1\nsteps = [ { targets = [\"user:bob\"], wait = \"5m\" } ]",
    );
    assert!(config.contains("wait = \"5m\""));
    let (app, _dir, _sink) = spawn_app(&config).await;
    let id = app.trigger("db", "Database down").await;
    app.settle().await;
    assert_eq!(app.page_log(), vec![("bob".to_string(), 0)]);
    // Bob does not answer; the policy runs out after 5 minutes.
    app.advance(jiff::SignedDuration::from_mins(6)).await;
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["dedup_key"], format!("firebell:exhausted:{id}"));
    assert_eq!(
        a["summary"],
        format!(
            "nobody took alert #{id} on checkout: \"Database down\" (policy \"outage\" ran out)"
        )
    );
    assert_eq!(a["details"]["alert_id"], id);
    assert_eq!(
        app.page_log(),
        vec![("bob".to_string(), 0), ("alice".to_string(), 5)]
    );
    // Still untaken: the check leaves it open.
    app.engine.run_self_checks_once().await.unwrap();
    assert_eq!(self_alerts(&app).await[0]["status"], "triggered");

    // Bob takes it after all: the self-alert resolves at the next check.
    let (status, body) = app
        .api_post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            serde_json::json!({"user": "bob"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.engine.run_self_checks_once().await.unwrap();
    app.settle().await;
    assert_eq!(self_alerts(&app).await[0]["status"], "resolved");
    assert_eq!(app.pages().len(), 2);
}

/// A watchdog service: counts the pings it gets on `/ping/{token}`.
async fn watchdog_service() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let pings = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = pings.clone();
    let app = axum::Router::new().route(
        "/ping/{token}",
        axum::routing::get(
            move |axum::extract::Path(token): axum::extract::Path<String>| {
                let counter = counter.clone();
                async move {
                    assert_eq!(token, "check-token-0123");
                    counter.fetch_add(1, Ordering::SeqCst);
                    "OK"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/ping/check-token-0123"), pings)
}

#[tokio::test]
async fn the_watchdog_is_pinged_while_the_store_answers_and_not_when_it_does_not() {
    use std::sync::atomic::Ordering;
    let (url, pings) = watchdog_service().await;
    let config = WITH_SELF_ALERTS.replace(
        "[self_alerts]\npolicy = \"ops\"\n",
        &format!("[self_alerts]\npolicy = \"ops\"\nwatchdog_url = \"{url}\"\nwatchdog_interval = \"30s\"\n"),
    );
    let (app, _dir, _sink) = spawn_app(&config).await;
    assert!(app.engine.watchdog_once().await);
    assert!(app.engine.watchdog_once().await);
    assert_eq!(pings.load(Ordering::SeqCst), 2);

    // The store stops answering (its alerts table gone): no ping, so the
    // outside service notices.
    let db = rusqlite::Connection::open(app.data_dir.join(firebell_sqlite::DB_FILE)).unwrap();
    db.execute_batch("ALTER TABLE alerts RENAME TO alerts_away")
        .unwrap();
    assert!(!app.engine.watchdog_once().await);
    assert_eq!(pings.load(Ordering::SeqCst), 2);
    // Back: pinged again.
    db.execute_batch("ALTER TABLE alerts_away RENAME TO alerts")
        .unwrap();
    assert!(app.engine.watchdog_once().await);
    assert_eq!(pings.load(Ordering::SeqCst), 3);
}

#[test]
fn a_bad_watchdog_setting_is_named_and_its_url_not_repeated() {
    let text = render_config(WITH_SELF_ALERTS, std::path::Path::new("/tmp/x"), "unused");
    let with = |extra: &str| {
        text.replace(
            "[self_alerts]\npolicy = \"ops\"\n",
            &format!("[self_alerts]\npolicy = \"ops\"\n{extra}\n"),
        )
    };
    let errors = try_parse_config(&with("watchdog_url = \"ftp://hc/secret-uuid\"")).unwrap_err();
    let e = errors
        .0
        .iter()
        .find(|e| e.path == "self_alerts.watchdog_url")
        .unwrap_or_else(|| panic!("{errors}"));
    assert!(!e.to_string().contains("secret-uuid"), "{e}");
    let errors = try_parse_config(&with("watchdog_interval = \"2h\"")).unwrap_err();
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.path == "self_alerts.watchdog_interval"),
        "{errors}"
    );
    let ok = parse_config(&with(
        "watchdog_url = \"https://hc.example/ping/abc\"\nwatchdog_interval = \"5m\"",
    ));
    let sa = ok.self_alerts.unwrap();
    assert_eq!(sa.watchdog_interval, jiff::SignedDuration::from_mins(5));
}

/// A Twilio account running low: the balance (read from the mock's Balance
/// resource, as Twilio's description has it) under the threshold pages
/// once; topped up, the next read resolves it.
#[tokio::test]
async fn a_twilio_balance_under_the_threshold_pages_once_and_a_top_up_resolves_it() {
    use crate::support::twilio_mock::{Answer, TwilioMock};
    let twilio = TwilioMock::start().await;
    let balance = |amount: &str| Answer::Raw {
        status: 200,
        body: serde_json::json!({
            "account_sid": "AC0123456789abcdef0123456789abcdef",
            "balance": amount,
            "currency": "GBP"
        })
        .to_string(),
    };
    twilio.set_answer(balance("3.20"));
    let config = WITH_SELF_ALERTS
        .replace(
            "admin_token = \"test-admin-token\"\n",
            "admin_token = \"test-admin-token\"\npublic_url = \"https://pager.example.com\"\n",
        )
        .replace(
            "[self_alerts]\npolicy = \"ops\"\n",
            &format!(
                "[self_alerts]\npolicy = \"ops\"\ntwilio_balance_below = 5\ntwilio_balance_interval = \"1h\"\n\n\
                 [[channels]]\nname = \"tw\"\nkind = \"twilio\"\n\
                 account_sid = \"AC0123456789abcdef0123456789abcdef\"\n\
                 auth_token = \"twilio-test-token\"\nfrom = \"+15005550006\"\nbase_url = \"{}\"\n",
                twilio.base_url
            ),
        );
    let (app, _dir, _sink) = spawn_app(&config).await;

    app.engine.run_self_checks_once().await.unwrap();
    app.settle().await;
    let reads: Vec<_> = twilio
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/Balance.json"))
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].method, "GET");
    assert_eq!(
        reads[0].path,
        "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Balance.json"
    );
    assert_eq!(
        reads[0].auth,
        Some((
            "AC0123456789abcdef0123456789abcdef".to_string(),
            "twilio-test-token".to_string()
        ))
    );
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["dedup_key"], "firebell:twilio-balance:tw");
    assert_eq!(
        alerts[0]["summary"],
        "Twilio balance of channel \"tw\" is 3.20 GBP, under 5.00: calls and texts stop when it runs out"
    );
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);

    // Within the interval the balance is not read again.
    app.advance(jiff::SignedDuration::from_mins(30)).await;
    app.engine.run_self_checks_once().await.unwrap();
    let reads = || {
        twilio
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/Balance.json"))
            .count()
    };
    assert_eq!(reads(), 1);

    // An hour on, still low: counted on the same alert, nobody paged again.
    app.advance(jiff::SignedDuration::from_mins(30)).await;
    app.engine.run_self_checks_once().await.unwrap();
    app.settle().await;
    assert_eq!(reads(), 2);
    let alerts = self_alerts(&app).await;
    assert_eq!((alerts.len(), alerts[0]["count"].as_i64()), (1, Some(2)));
    assert_eq!(app.page_log().len(), 1);

    // Topped up: the next read resolves it.
    twilio.set_answer(balance("25.00"));
    app.advance(jiff::SignedDuration::from_hours(1)).await;
    app.engine.run_self_checks_once().await.unwrap();
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert_eq!(alerts[0]["status"], "resolved");
    assert_eq!(app.page_log().len(), 1);
    app.stop().await;
}

/// Many nodes: a node not seen for a while is a trouble until it is seen
/// again; a node whose configuration differs is one until they agree. The
/// other nodes are played by writing their records into the shared store.
#[tokio::test]
async fn a_lost_node_and_a_configuration_that_differs_page_once_and_resolve() {
    use firebell_store::{NodeRecord, NodeStore};
    let (app, _dir, _sink) = spawn_app(WITH_SELF_ALERTS).await;
    let store = app.engine.store();
    let now = app.engine.now();
    let other = |name: &str, seen: jiff::Timestamp, digest: &str| NodeRecord {
        name: name.to_string(),
        version: "0.1.0".to_string(),
        started_at: now - jiff::SignedDuration::from_hours(1),
        last_seen: seen,
        config_digest: digest.to_string(),
    };
    let digest = app.engine.config().digest.clone();
    // node-a stopped before this node started (a predecessor, not a peer).
    store
        .node_seen(other(
            "node-a",
            now - jiff::SignedDuration::from_hours(2),
            &digest,
        ))
        .await
        .unwrap();
    // node-b beat while this node ran, then stopped two minutes ago; node-c
    // is live with another file.
    store
        .node_seen(other("node-b", now, &digest))
        .await
        .unwrap();
    app.advance(jiff::SignedDuration::from_mins(2)).await;
    let now = app.engine.now();
    store
        .node_seen(other("node-c", now, "another-digest"))
        .await
        .unwrap();
    app.engine.node_beat().await.unwrap();
    app.engine.run_self_checks_once().await.unwrap();
    app.settle().await;
    let mut alerts = self_alerts(&app).await;
    alerts.sort_by_key(|a| a["dedup_key"].as_str().unwrap().to_string());
    let keys: Vec<&str> = alerts
        .iter()
        .map(|a| a["dedup_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["firebell:config-mismatch", "firebell:node-lost:node-b"]
    );
    assert!(
        alerts[1]["summary"]
            .as_str()
            .unwrap()
            .starts_with("node \"node-b\" has not been seen since 2026-03-01T09:00:00Z"),
        "{}",
        alerts[1]
    );
    assert!(
        alerts[0]["summary"]
            .as_str()
            .unwrap()
            .contains("configuration differs from that of node-c"),
        "{}",
        alerts[0]
    );
    assert_eq!(app.page_log().len(), 2);

    // A minute on, nothing has changed (node-c still beats): no more
    // alerts, no more pages.
    app.advance(jiff::SignedDuration::from_mins(1)).await;
    store
        .node_seen(other("node-c", app.engine.now(), "another-digest"))
        .await
        .unwrap();
    app.engine.node_beat().await.unwrap();
    app.engine.run_self_checks_once().await.unwrap();
    app.settle().await;
    assert_eq!(self_alerts(&app).await.len(), 2);
    assert_eq!(app.page_log().len(), 2);

    // node-b is back and node-c reloaded the same file: both resolve.
    let now = app.engine.now();
    store
        .node_seen(other("node-b", now, &digest))
        .await
        .unwrap();
    store
        .node_seen(other("node-c", now, &digest))
        .await
        .unwrap();
    app.engine.node_beat().await.unwrap();
    app.engine.run_self_checks_once().await.unwrap();
    app.settle().await;
    let alerts = self_alerts(&app).await;
    assert!(
        alerts.iter().all(|a| a["status"] == "resolved"),
        "{alerts:#?}"
    );
    assert_eq!(app.page_log().len(), 2);
    app.stop().await;
}
