//! SQLite-specific behaviour: durability across reopen, group commit under
//! concurrency, settings, and an ignored throughput measurement.

use firebell_core::alert::{AlertStatus, TimelineEntry, TimelineKind};
use firebell_core::escalation::Phase;
use firebell_core::event::EventAction;
use firebell_core::notification::{NewNotification, NotificationKind, NotificationStatus};
use firebell_core::schedule::OverrideKind;
use firebell_sqlite::SqliteStore;
use firebell_store::contract::{at, item, override_};
use firebell_store::prelude::*;
use firebell_store::{AlertFilter, CommitResult, Finish, IngestItem, StoreError};
use jiff::SignedDuration;
use std::time::Instant;

fn all() -> AlertFilter {
    AlertFilter {
        limit: 100_000,
        ..Default::default()
    }
}

fn triggers(prefix: &str, n: usize) -> Vec<IngestItem> {
    (0..n)
        .map(|i| item(EventAction::Trigger, &format!("{prefix}-{i}"), i as i64))
        .collect()
}

#[tokio::test]
async fn reopening_sees_everything_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("nested/data")).unwrap();
    let out = store.ingest(triggers("k", 3)).await.unwrap();
    let id = out[0].alert_id.unwrap();
    store
        .ingest(vec![item(EventAction::Trigger, "k-0", 5)])
        .await
        .unwrap();
    store
        .ingest(vec![item(EventAction::Resolve, "k-2", 6)])
        .await
        .unwrap();

    let esc = store.escalation(id).await.unwrap().unwrap();
    let mut next = esc.clone();
    next.phase = Phase::Waiting;
    next.due_at = Some(at(60));
    let pages = ["alice", "bob"].map(|user| NewNotification {
        idem_key: format!("{id}:0:0:{user}:0"),
        alert_id: Some(id),
        message: None,
        user: user.into(),
        contact_index: 0,
        channel: "console".into(),
        address: "stdout".into(),
        kind: NotificationKind::Notify,
        step: 0,
        loop_: 0,
        due_at: at(0),
    });
    let t = firebell_core::escalation::Transition {
        escalation: next,
        notifications: pages.to_vec(),
        timeline: vec![
            TimelineEntry::new(at(0), TimelineKind::Notified, "paging alice")
                .with_data(serde_json::json!({ "user": "alice", "step": 1 })),
        ],
        alert_status: None,
        settles: None,
    };
    assert_eq!(
        store.commit(esc.version, t, at(0)).await.unwrap(),
        CommitResult::Applied
    );
    let claimed = store
        .claim_notifications(at(1), SignedDuration::from_secs(30), 1)
        .await
        .unwrap();
    store
        .finish_notification(
            claimed[0].notification.id,
            Finish::Retry {
                at: at(10),
                error: "busy".into(),
            },
            vec![TimelineEntry::new(
                at(2),
                TimelineKind::Retrying,
                "retrying",
            )],
            Some(id),
        )
        .await
        .unwrap();

    let alerts = store.list_alerts(all()).await.unwrap();
    let mut timelines = Vec::new();
    let mut escalations = Vec::new();
    let mut notifications = Vec::new();
    for a in &alerts {
        timelines.push(store.timeline(a.id).await.unwrap());
        escalations.push(store.escalation(a.id).await.unwrap());
        notifications.push(store.notifications(a.id).await.unwrap());
    }
    assert_eq!(alerts.len(), 3);
    assert_eq!(notifications.iter().map(Vec::len).sum::<usize>(), 2);
    drop(store);

    let store = SqliteStore::open(&dir.path().join("nested/data")).unwrap();
    assert_eq!(store.list_alerts(all()).await.unwrap(), alerts);
    for (i, a) in alerts.iter().enumerate() {
        assert_eq!(store.timeline(a.id).await.unwrap(), timelines[i]);
        assert_eq!(store.escalation(a.id).await.unwrap(), escalations[i]);
        assert_eq!(store.notifications(a.id).await.unwrap(), notifications[i]);
    }
    let n = store.notifications(id).await.unwrap();
    assert_eq!(n[0].status, NotificationStatus::Pending);
    assert_eq!(n[0].last_error.as_deref(), Some("busy"));
    assert_eq!(n[1].status, NotificationStatus::Pending);
    let tl = store.timeline(id).await.unwrap();
    assert_eq!(tl[2].data["user"], "alice");
    // The open alert still collapses repeats after the restart.
    let again = store
        .ingest(vec![item(EventAction::Trigger, "k-0", 7)])
        .await
        .unwrap();
    assert_eq!(again[0].alert_id, Some(id));
    assert!(again[0].duplicate);
    assert_eq!(store.get_alert(id).await.unwrap().unwrap().count, 3);
    // New ids keep going up.
    let fresh = store
        .ingest(vec![item(EventAction::Trigger, "new", 8)])
        .await
        .unwrap();
    assert!(fresh[0].alert_id.unwrap() > alerts[0].id);
    store.ping().await.unwrap();
}

/// The database holds webhook URLs with secrets in their paths: only its
/// owner may read it (directory 0700, database and WAL 0600).
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = SqliteStore::open(&data).unwrap();
    store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join(firebell_sqlite::DB_FILE)), 0o600);
    let wal = data.join(format!("{}-wal", firebell_sqlite::DB_FILE));
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600);
    // A database left readable by an older version is made private on open.
    drop(store);
    let db = data.join(firebell_sqlite::DB_FILE);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::open(&data).unwrap();
    assert_eq!(mode(&db), 0o600);
    assert_eq!(store.get_alert(1).await.unwrap().unwrap().count, 1);
}

/// Coalesced repeats are exact after the store is closed and opened again:
/// every trigger answered Ok is counted, on one timeline line.
#[tokio::test]
async fn coalesced_repeats_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let id = store
        .ingest(vec![item(EventAction::Trigger, "k", 0)])
        .await
        .unwrap()[0]
        .alert_id
        .unwrap();
    for i in 1..=5 {
        store
            .ingest(vec![item(EventAction::Trigger, "k", i)])
            .await
            .unwrap();
    }
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.get_alert(id).await.unwrap().unwrap().count, 6);
    let tl = store.timeline(id).await.unwrap();
    assert_eq!(tl.len(), 2, "{tl:?}");
    assert_eq!(tl[1].data["repeats"], 5);
    assert_eq!(tl[1].data["count"], 6);
}

#[tokio::test]
async fn overrides_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let kinds = [
        OverrideKind::Add { user: "a".into() },
        OverrideKind::Remove { user: "b".into() },
        OverrideKind::Replace {
            from: "c".into(),
            to: "d".into(),
        },
    ];
    let mut added = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let i = i as i64;
        let o = store
            .add_override(
                format!("s{i}"),
                override_(i * 100, i * 100 + 50, kind),
                "admin".into(),
                at(i),
            )
            .await
            .unwrap();
        added.push(o);
    }
    let deleted = added.remove(1);
    assert!(store.delete_override(deleted.override_.id).await.unwrap());
    drop(store);

    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store.overrides(None, at(0), at(1_000)).await.unwrap(),
        added
    );
    for o in &added {
        assert_eq!(
            store.get_override(o.override_.id).await.unwrap().as_ref(),
            Some(o)
        );
    }
    assert!(
        store
            .get_override(deleted.override_.id)
            .await
            .unwrap()
            .is_none()
    );
    // Ids keep going up after the restart.
    let next = store
        .add_override(
            "s0".into(),
            override_(0, 10, OverrideKind::Add { user: "e".into() }),
            "admin".into(),
            at(9),
        )
        .await
        .unwrap();
    assert!(next.override_.id > added[1].override_.id);
}

#[tokio::test]
async fn a_version_1_database_migrates_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(firebell_sqlite::DB_FILE);
    {
        // A database as the first release left it: schema 1, with an alert.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../../migrations/0001_init.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO alerts (service, dedup_key, status, summary, severity, source, labels, \
             details, count, created_at, updated_at) \
             VALUES ('svc', 'k', 'triggered', 'down', 'critical', 'test', '{}', '{}', 1, 0, 0)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO notifications (id, alert_id, idem_key, user_id, contact_index, channel, \
             address, kind, step, loop, status, attempts, next_attempt_at, created_at, updated_at) \
             VALUES (5, 1, '1:0:0:alice:0', 'alice', 0, 'console', 'stdout', 'alert.notify', \
             0, 0, 'delivered', 1, 0, 0, 0)",
            [],
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    // Every migration ran: the version is the number of migration files.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(version, migrations as i64);
    let alerts = store.list_alerts(all()).await.unwrap();
    // Pages sent before the upgrade are still there, and ids carry on.
    let pages = store.notifications(alerts[0].id).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!((pages[0].id, pages[0].alert_id), (5, Some(alerts[0].id)));
    assert_eq!(pages[0].status, NotificationStatus::Delivered);
    let notice = NewNotification {
        idem_key: "test:1".into(),
        alert_id: None,
        message: Some("Test message".into()),
        user: "alice".into(),
        contact_index: 0,
        channel: "console".into(),
        address: "stdout".into(),
        kind: NotificationKind::Test,
        step: 0,
        loop_: 0,
        due_at: at(0),
    };
    let ids = store.enqueue_notices(vec![notice], at(0)).await.unwrap();
    assert!(ids[0] > 5);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].summary, "down");
    let o = store
        .add_override(
            "primary".into(),
            override_(0, 60, OverrideKind::Add { user: "a".into() }),
            "admin".into(),
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(store.overrides(None, at(0), at(60)).await.unwrap(), vec![o]);
    // The alert table is untouched: its ids carry on.
    let out = store
        .ingest(vec![item(EventAction::Trigger, "new", 0)])
        .await
        .unwrap();
    assert!(out[0].alert_id.unwrap() > alerts[0].id);
}

#[tokio::test]
async fn overrides_are_kept_to_the_millisecond() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let micros = |us: i64| at(0) + SignedDuration::from_micros(us);
    let mut o = override_(0, 1, OverrideKind::Add { user: "a".into() });
    o.start = micros(1_500);
    o.end = micros(3_700);
    let stored = store
        .add_override("s".into(), o, "admin".into(), micros(2_500))
        .await
        .unwrap();
    assert_eq!(stored.override_.start, micros(1_000));
    assert_eq!(stored.override_.end, micros(3_000));
    assert_eq!(stored.created_at, micros(2_000));
    assert_eq!(
        store
            .get_override(stored.override_.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&stored)
    );
    // The window is compared exactly with what is stored, [1ms, 3ms).
    let window = |from: i64, to: i64| store.overrides(None, micros(from), micros(to));
    assert_eq!(window(2_999, 4_000).await.unwrap().len(), 1);
    assert!(window(3_000, 4_000).await.unwrap().is_empty());
    assert_eq!(window(0, 1_001).await.unwrap().len(), 1);
    assert!(window(0, 1_000).await.unwrap().is_empty());
    // Valid to the nanosecond, empty to the millisecond: refused, not stored
    // as a row that could not be read back.
    let mut o = override_(0, 1, OverrideKind::Add { user: "a".into() });
    o.start = micros(5_100);
    o.end = micros(5_900);
    assert!(
        store
            .add_override("s".into(), o, "admin".into(), at(0))
            .await
            .is_err()
    );
    assert_eq!(window(0, 10_000).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreadable_override_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let o = store
        .add_override(
            "s".into(),
            override_(0, 60, OverrideKind::Add { user: "a".into() }),
            "admin".into(),
            at(0),
        )
        .await
        .unwrap();
    // Passes the table's CHECKs, but `Override::new` refuses an empty user.
    rusqlite::Connection::open(store.path())
        .unwrap()
        .execute("UPDATE schedule_overrides SET user_id = ' '", [])
        .unwrap();
    let err = store.get_override(o.override_.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("user")),
        "{err:?}"
    );
    assert!(matches!(
        store.overrides(None, at(0), at(60)).await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn the_database_is_durable_by_settings() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.path(), dir.path().join("firebell.db"));
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ingests_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move { store.ingest(triggers(&format!("t{t}"), 100)).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        let out = task.await.unwrap().unwrap();
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|o| !o.duplicate));
        ids.extend(out.iter().map(|o| o.alert_id.unwrap()));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5_000);
    assert_eq!(store.list_alerts(all()).await.unwrap().len(), 5_000);
    assert_eq!(store.alert_counts().await.unwrap().triggered, 5_000);
    assert_eq!(
        store.due_escalations(at(1000), 10_000).await.unwrap().len(),
        5_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_triggers_of_one_key_make_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .ingest(vec![item(EventAction::Trigger, "same", 0); 10])
                    .await
            })
        })
        .collect();
    let mut new = 0;
    for task in tasks {
        new += task
            .await
            .unwrap()
            .unwrap()
            .iter()
            .filter(|o| !o.duplicate)
            .count();
    }
    assert_eq!(new, 1);
    let alerts = store.list_alerts(all()).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].count, 200);
    assert_eq!(alerts[0].status, AlertStatus::Triggered);
    // One `received` line and one line counting the 199 repeats.
    let tl = store.timeline(alerts[0].id).await.unwrap();
    assert_eq!(tl.len(), 2, "{tl:?}");
    assert_eq!(tl[1].data["repeats"], 199);
}

#[tokio::test]
async fn a_dropped_store_releases_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let copy = store.clone();
    store.ingest(triggers("a", 10)).await.unwrap();
    drop(store);
    // Another clone keeps it working.
    copy.ingest(triggers("b", 10)).await.unwrap();
    drop(copy);
    // The writer has stopped and closed its connection: the WAL was
    // checkpointed and removed, which SQLite does when the last connection closes.
    assert!(!dir.path().join("firebell.db-wal").exists());
}

/// Throughput of the ingest path. Run with
/// `cargo test --release -p firebell-sqlite --test backend -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn ingest_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    const BATCHES: usize = 100;
    const SIZE: usize = 100;

    // One caller: every batch is its own commit (and fsync).
    let start = Instant::now();
    for b in 0..BATCHES {
        store
            .ingest(triggers(&format!("s{b}"), SIZE))
            .await
            .unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sequential: {BATCHES} batches of {SIZE} new alerts in {secs:.3}s = {:.0} events/s",
        (BATCHES * SIZE) as f64 / secs
    );

    // Repeats of open alerts (the dedup path).
    let start = Instant::now();
    for b in 0..BATCHES {
        store
            .ingest(triggers(&format!("s{b}"), SIZE))
            .await
            .unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sequential repeats: {:.0} events/s",
        (BATCHES * SIZE) as f64 / secs
    );

    // Single events: sequential calls pay one commit each; concurrent calls
    // share them.
    const SINGLES: usize = 2_000;
    let start = Instant::now();
    for i in 0..SINGLES {
        store.ingest(triggers(&format!("one{i}"), 1)).await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sequential single events: {:.0} commits/s",
        SINGLES as f64 / secs
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..SINGLES)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.ingest(triggers(&format!("many{i}"), 1)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{SINGLES} concurrent single events: {:.0} events/s",
        SINGLES as f64 / secs
    );

    // Many callers: batches share commits.
    for callers in [8, 32] {
        let start = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|c| {
                let store = store.clone();
                tokio::spawn(async move {
                    for b in 0..BATCHES {
                        store
                            .ingest(triggers(&format!("c{callers}-{c}-{b}"), SIZE))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{callers} concurrent callers: {} events in {secs:.3}s = {:.0} events/s",
            callers * BATCHES * SIZE,
            (callers * BATCHES * SIZE) as f64 / secs
        );
    }
}

/// CPU time this process has used (user + system), from /proc/self/stat.
fn cpu_now() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    std::time::Duration::from_millis(ticks * 10)
}

/// Alert `k` of a measurement: Prometheus-shaped, six labels, a
/// fingerprint-like dedup key.
fn bench_alert(k: usize) -> IngestItem {
    let mut it = item(
        EventAction::Trigger,
        &format!("{:016x}", (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        0,
    );
    it.event.labels = [
        ("alertname", "FirebellBench".to_string()),
        ("key", format!("new-{k}")),
        ("team", format!("t{}", k % 50)),
        ("severity", "critical".to_string()),
        ("instance", format!("bench-{}:9100", k % 97)),
        ("job", "bench".to_string()),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b))
    .collect();
    it
}

/// What the store spends on each new alert's whole life, as the engine drives
/// it: ingest (8 callers, batches of 100 Prometheus-shaped alerts), the first
/// step's commit (one page, one timeline line), the claim, the delivered
/// finish. Prints process CPU per alert for each phase. A measurement, not a
/// test: `cargo test --release -p firebell-sqlite --test sqlite -- lifecycle_cost --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn lifecycle_cost() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    const CALLERS: usize = 8;
    const BATCHES: usize = 40;
    const SIZE: usize = 100;
    let n = CALLERS * BATCHES * SIZE;
    let labelled = |c: usize, b: usize, i: usize| bench_alert((c * BATCHES + b) * SIZE + i);
    let cpu = cpu_now();
    let start = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|c| {
            let store = store.clone();
            let batches: Vec<Vec<IngestItem>> = (0..BATCHES)
                .map(|b| (0..SIZE).map(|i| labelled(c, b, i)).collect())
                .collect();
            tokio::spawn(async move {
                for batch in batches {
                    store.ingest(batch).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let report = |what: &str, cpu0: std::time::Duration, start: Instant| {
        let used = cpu_now().saturating_sub(cpu0);
        println!(
            "{what}: {:.1} µs CPU per alert ({:.2} s CPU, {:.2} s wall for {n})",
            used.as_secs_f64() * 1e6 / n as f64,
            used.as_secs_f64(),
            start.elapsed().as_secs_f64()
        );
    };
    report("ingest", cpu, start);

    let (cpu, start) = (cpu_now(), Instant::now());
    loop {
        let due = store.due_escalations(at(1), 500).await.unwrap();
        if due.is_empty() {
            break;
        }
        let commits: Vec<_> = due
            .into_iter()
            .map(|esc| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut next = esc.clone();
                    next.phase = Phase::Waiting;
                    next.due_at = Some(at(1800));
                    let page = NewNotification {
                        idem_key: format!(
                            "{}:0:0:bench:webhook:http://127.0.0.1:1/hook",
                            esc.alert_id
                        ),
                        alert_id: Some(esc.alert_id),
                        message: None,
                        user: "bench".into(),
                        contact_index: 0,
                        channel: "webhook".into(),
                        address: "http://127.0.0.1:1/hook".into(),
                        kind: NotificationKind::Notify,
                        step: 0,
                        loop_: 0,
                        due_at: at(1),
                    };
                    let t = firebell_core::escalation::Transition {
                        escalation: next,
                        notifications: vec![page],
                        timeline: vec![TimelineEntry::new(
                            at(1),
                            TimelineKind::Escalated,
                            "step 1: paging bench",
                        )],
                        alert_status: None,
                        settles: None,
                    };
                    store.commit(esc.version, t, at(1)).await.unwrap()
                })
            })
            .collect();
        for c in commits {
            assert_eq!(c.await.unwrap(), CommitResult::Applied);
        }
    }
    report("first step", cpu, start);

    let (cpu, start) = (cpu_now(), Instant::now());
    let mut claimed = Vec::new();
    loop {
        let c = store
            .claim_notifications(at(2), SignedDuration::from_secs(30), 64)
            .await
            .unwrap();
        if c.is_empty() {
            break;
        }
        claimed.extend(c.into_iter().map(|c| c.notification.id));
    }
    assert_eq!(claimed.len(), n);
    report("claim", cpu, start);

    let (cpu, start) = (cpu_now(), Instant::now());
    for chunk in claimed.chunks(64) {
        let finishes: Vec<_> = chunk
            .iter()
            .map(|id| {
                let (store, id) = (store.clone(), *id);
                tokio::spawn(async move {
                    store
                        .finish_notification(
                            id,
                            Finish::Delivered {
                                detail: "HTTP 204".into(),
                            },
                            vec![TimelineEntry::new(
                                at(2),
                                TimelineKind::Delivered,
                                "delivered to bench via webhook (HTTP 204)",
                            )],
                            None,
                        )
                        .await
                        .unwrap()
                })
            })
            .collect();
        for f in finishes {
            assert!(f.await.unwrap());
        }
    }
    report("finish", cpu, start);
}

/// The open alerts' lookup and label index live in memory (migration
/// 0020): rebuilt from the database when the store opens, with what was
/// changed by a connection of one's own while the server was stopped.
#[tokio::test]
async fn the_open_alerts_index_is_rebuilt_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let out = store.ingest(triggers("k", 2000)).await.unwrap();
    let stopped_by_hand = out[1500].alert_id.unwrap();
    store
        .ingest(vec![item(EventAction::Resolve, "k-1000", 10)])
        .await
        .unwrap();
    drop(store);
    {
        let conn = rusqlite::Connection::open(dir.path().join("firebell.db")).unwrap();
        firebell_sqlite::register_functions(&conn).unwrap();
        conn.execute(
            "UPDATE alerts SET status = 'resolved' WHERE id = ?1",
            [stopped_by_hand],
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let named = |key: &str| vec![("alertname".to_string(), key.to_string())];
    let again = store
        .ingest(vec![
            item(EventAction::Trigger, "k-5", 20),
            item(EventAction::Trigger, "k-1000", 20),
            item(EventAction::Trigger, "k-1500", 20),
        ])
        .await
        .unwrap();
    assert!(again[0].duplicate, "an open alert is found after a restart");
    assert_eq!(again[0].alert_id, out[5].alert_id);
    for (o, was) in [(&again[1], &out[1000]), (&again[2], &out[1500])] {
        assert!(!o.duplicate, "a resolved alert's key opens a new alert");
        assert_ne!(o.alert_id, was.alert_id);
    }
    for key in ["k-5", "k-1000", "k-1500"] {
        let found = store.open_alerts_labelled(named(key)).await.unwrap();
        assert_eq!(found.len(), 1, "{key}: one open alert");
        assert_eq!(found[0].dedup_key.as_str(), key);
        assert_eq!(found[0].status, AlertStatus::Triggered);
    }
    let found = store.open_alerts_labelled(named("k-1999")).await.unwrap();
    assert_eq!(found[0].id, out[1999].alert_id.unwrap());
}

/// What opening a store costs with 1,000,000 open alerts, now that it
/// indexes them in memory (see `open_index.rs`). Prints the time to open.
/// A measurement, not a test:
/// `cargo test --release -p firebell-sqlite --test sqlite -- opening_cost --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn opening_cost() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    const N: usize = 1_000_000;
    for b in 0..N / 1000 {
        let batch = (0..1000)
            .map(|i| {
                let mut it = bench_alert(b * 1000 + i);
                it.policy = None;
                it
            })
            .collect();
        store.ingest(batch).await.unwrap();
    }
    drop(store);
    let cpu = cpu_now();
    let start = Instant::now();
    let store = SqliteStore::open(dir.path()).unwrap();
    println!(
        "opening with {N} open alerts: {:.2} s wall, {:.2} s CPU",
        start.elapsed().as_secs_f64(),
        cpu_now().saturating_sub(cpu).as_secs_f64()
    );
    let found = store
        .open_alerts_labelled(vec![("key".into(), "new-123456".into())])
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "the index answers after opening");
}
