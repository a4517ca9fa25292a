//! A page that fails for good is followed by the person's next contact
//! method exactly once — across a crash between the two writes, and across a
//! reload that reorders the person's contacts while the page is in flight.

use crate::support::*;
use firebell_store::Finish;
use firebell_store::prelude::*;
use jiff::SignedDuration;

/// alice: a webhook first (the sink), the console second.
const WEBHOOK_THEN_CONSOLE: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "webhook", url = "{SINK}" }, { kind = "console" } ]

[[policies]]
id = "outage"
steps = [ { targets = ["user:alice"], wait = "10m" } ]

[[services]]
id = "checkout"
policy = "outage"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#
);

#[tokio::test]
async fn a_crash_between_the_failure_and_the_next_contact_still_pages_the_next_contact() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Sink::start().await;
    let config = render_config(WEBHOOK_THEN_CONSOLE, &data, &sink.url);

    let app = spawn_app_at(&config, &data, t0(), None).await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.engine.run_escalations_once().await.unwrap();
    // The dispatcher's first write for a page that fails for good — the
    // attempt and its failure — and then the process dies before the second
    // (the next contact method, or "not reached").
    // The page was claimed for this process with the alert (the first step
    // is written with it).
    let store = app.engine.store().clone();
    let pages = store.notifications(id).await.unwrap();
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_eq!(
        page.status,
        firebell_core::notification::NotificationStatus::Sending
    );
    assert_eq!(page.channel, "webhook");
    let changed = store
        .finish_notification(
            page.id,
            Finish::Failed {
                error: "HTTP 404".into(),
            },
            vec![],
            Some(id),
        )
        .await
        .unwrap();
    assert!(changed);
    app.stop().await;
    drop(store);

    // After the restart, alice's console is paged, once, with the line
    // saying why; nothing else is sent.
    let app = spawn_app_at(&config, &data, t0() + SignedDuration::from_secs(5), None).await;
    app.settle().await;
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);
    assert!(app.pages()[0].line.contains("Disk full on web1"));
    let timeline = app.engine.store().timeline(id).await.unwrap();
    let text: Vec<String> = timeline.iter().map(|e| e.message.clone()).collect();
    assert_eq!(
        text.iter()
            .filter(|l| l.contains("paging alice via console")
                && l.contains("previous contact method failed"))
            .count(),
        1,
        "{text:#?}"
    );
    assert!(sink.bodies().is_empty(), "the webhook was never reached");
    // Another pass (or another node) finds nothing left to do.
    app.settle().await;
    app.advance(SignedDuration::from_mins(1)).await;
    assert_eq!(app.pages().len(), 1);
    assert_eq!(app.engine.store().notifications(id).await.unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_reload_that_reorders_contacts_mid_escalation_pages_the_untried_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Sink::start().await;
    sink.set_status(404);
    let config = render_config(WEBHOOK_THEN_CONSOLE, &data, &sink.url);
    let app = spawn_app_at(&config, &data, t0(), None).await;
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.engine.run_escalations_once().await.unwrap();

    // While the webhook page is queued, a reload puts the console first.
    let reordered = config.replace(
        r#"contacts = [ { kind = "webhook", url = "SINK" }, { kind = "console" } ]"#
            .replace("SINK", &sink.url)
            .as_str(),
        r#"contacts = [ { kind = "console" }, { kind = "webhook", url = "SINK" } ]"#
            .replace("SINK", &sink.url)
            .as_str(),
    );
    assert_ne!(reordered, config);
    app.engine.reload(parse_config(&reordered));

    // The webhook answers 404 (fails for good): the next contact is the one
    // not yet tried, the console — not the webhook again by position.
    app.settle().await;
    assert_eq!(sink.bodies().len(), 1, "the failing webhook was tried once");
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);
    let view = app.alert(id).await;
    let channels: Vec<&str> = view["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, vec!["webhook", "console"]);
    // Both tried: a second failure would make alice "not reached", never a
    // third page; the step waits for its timer.
    app.advance(SignedDuration::from_mins(5)).await;
    assert_eq!(sink.bodies().len(), 1);
    assert_eq!(app.pages().len(), 1);
    app.stop().await;
}

/// A store error at the worst moment, through the real dispatcher: a trigger
/// in the database fails the write that follows up a failed page (the next
/// contact method). The failure itself stays recorded, nothing is paged yet;
/// after a restart with a healthy database the next contact is paged once.
#[tokio::test]
async fn a_store_error_on_the_follow_up_is_repaired_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Sink::start().await;
    sink.set_status(404);
    let config = render_config(WEBHOOK_THEN_CONSOLE, &data, &sink.url);
    let app = spawn_app_at(&config, &data, t0(), None).await;
    let db = rusqlite::Connection::open(data.join(firebell_sqlite::DB_FILE)).unwrap();
    db.execute_batch(
        "CREATE TRIGGER fail_follow_up BEFORE UPDATE OF follow_up ON notifications \
         WHEN NEW.follow_up = 0 BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
    )
    .unwrap();
    let id = app.trigger("disk-web1", "Disk full on web1").await;
    app.engine.run_escalations_once().await.unwrap();
    // The webhook answers 404: failed for good; the follow-up's write fails.
    let err = app.engine.dispatch_once().await;
    assert!(err.is_err(), "the injected fault reaches the dispatcher");
    assert_eq!(sink.bodies().len(), 1);
    assert!(app.pages().is_empty(), "nobody else paged yet");
    let store = app.engine.store().clone();
    let waiting = store.failed_pages_to_follow_up(10).await.unwrap();
    assert_eq!(waiting.len(), 1, "the failure is recorded with its marker");
    app.stop().await;
    drop(store);

    db.execute_batch("DROP TRIGGER fail_follow_up").unwrap();
    drop(db);
    let app = spawn_app_at(&config, &data, t0() + SignedDuration::from_secs(5), None).await;
    app.settle().await;
    assert_eq!(app.page_log(), vec![("alice".to_string(), 0)]);
    assert_eq!(
        sink.bodies().len(),
        1,
        "the failing webhook is not tried again"
    );
    let store = app.engine.store();
    assert!(
        store
            .failed_pages_to_follow_up(10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.notifications(id).await.unwrap().len(), 2);
    app.advance(SignedDuration::from_mins(1)).await;
    assert_eq!(app.pages().len(), 1);
    app.stop().await;
}
