//! What only many nodes on one database do: several stores (one per node,
//! each with its own pool) racing on the same rows.

use crate::contract::fresh_url;
use firebell_core::event::EventAction;
use firebell_postgres::PgStore;
use firebell_store::contract::item;
use firebell_store::prelude::*;
use firebell_store::{AlertFilter, IngestOutcome};

async fn three_nodes() -> Option<Vec<PgStore>> {
    Some(three_nodes_on().await?.1)
}

/// The database's name and three stores on it.
async fn three_nodes_on() -> Option<(String, Vec<PgStore>)> {
    let url = fresh_url().await?;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(PgStore::connect(&url, 8).await.unwrap());
    }
    let db = url.rsplit('/').next().unwrap().to_string();
    Some((db, stores))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_new_alert_from_every_node_at_once_is_one_alert() {
    let Some(nodes) = three_nodes().await else {
        return;
    };
    for round in 0..20 {
        let key = format!("pooldied-{round}");
        // Four senders per node, all at once, about one alert not yet open.
        let mut tasks = tokio::task::JoinSet::new();
        for store in &nodes {
            for _ in 0..4 {
                let (store, key) = (store.clone(), key.clone());
                tasks.spawn(async move {
                    store
                        .ingest(vec![item(EventAction::Trigger, &key, round)])
                        .await
                });
            }
        }
        let outcomes: Vec<IngestOutcome> = tasks
            .join_all()
            .await
            .into_iter()
            .map(|r| r.expect("no sender may be refused").remove(0))
            .collect();
        let ids: std::collections::BTreeSet<_> = outcomes.iter().map(|o| o.alert_id).collect();
        assert_eq!(ids.len(), 1, "round {round}: {outcomes:#?}");
        assert_eq!(
            outcomes.iter().filter(|o| !o.duplicate).count(),
            1,
            "exactly one sender opened it: {outcomes:#?}"
        );
        let alert = nodes[0]
            .get_alert(outcomes[0].alert_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(alert.count, 12, "round {round}");
    }
    let all = nodes[2]
        .list_alerts(AlertFilter {
            limit: 100,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_due_page_is_claimed_by_one_node_only() {
    let Some(nodes) = three_nodes().await else {
        return;
    };
    use firebell_store::contract::at;
    // Twenty alerts, each with one page due now.
    for i in 0..20 {
        let out = nodes[0]
            .ingest(vec![item(EventAction::Trigger, &format!("k{i}"), 0)])
            .await
            .unwrap();
        let id = out[0].alert_id.unwrap();
        firebell_store::contract::queue_one_page(&nodes[0], id).await;
    }
    // Every node claims at once, over and over.
    let mut tasks = tokio::task::JoinSet::new();
    for store in &nodes {
        for _ in 0..3 {
            let store = store.clone();
            tasks.spawn(async move {
                let mut got = Vec::new();
                for _ in 0..5 {
                    let claimed = store
                        .claim_notifications(at(60), jiff::SignedDuration::from_mins(5), 3)
                        .await
                        .unwrap();
                    got.extend(claimed.into_iter().map(|c| c.notification.id));
                }
                got
            });
        }
    }
    let mut all: Vec<i64> = tasks.join_all().await.into_iter().flatten().collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a page was handed to two claimers");
    assert_eq!(n, 20, "every due page was claimed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_held_on_one_node_makes_the_others_wait_until_it_lets_go_or_dies() {
    let Some((db, nodes)) = three_nodes_on().await else {
        return;
    };
    use std::time::Duration;
    let lane = "sms:+447700900123".to_string();
    let held = nodes[0].lock_lane(lane.clone()).await.unwrap();
    let waiter = {
        let (store, lane) = (nodes[1].clone(), lane.clone());
        tokio::spawn(async move { store.lock_lane(lane).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "node 2 waits while node 1 holds the lane"
    );
    drop(held);
    let second = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("released")
        .unwrap();
    // Node 2's connection ends while it holds the lane (its machine died):
    // the lane frees.
    let third = {
        let (store, lane) = (nodes[2].clone(), lane.clone());
        tokio::spawn(async move { store.lock_lane(lane).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished());
    std::mem::forget(second);
    let server = firebell_postgres::testing::shared().unwrap();
    let ended = server.psql(
        "postgres",
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' \
             AND granted AND database = (SELECT oid FROM pg_database WHERE datname = '{db}')"
        ),
    );
    assert_eq!(ended, "1", "one session held the lane");
    tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("a dead holder lets go")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_queued_on_one_node_wakes_the_others_at_once() {
    let Some(nodes) = three_nodes().await else {
        return;
    };
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    let woken = Arc::new(AtomicUsize::new(0));
    let w = Arc::clone(&woken);
    nodes[1].on_wake(Arc::new(move || {
        w.fetch_add(1, Ordering::SeqCst);
    }));
    // The listener connects in the background: give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A read changes nothing and wakes nobody.
    let _ = nodes[0]
        .due_escalations(firebell_store::contract::at(0), 10)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    // Node 1 opens an alert (its escalation is due now): node 2 hears of it.
    let sent = Instant::now();
    nodes[0]
        .ingest(vec![item(EventAction::Trigger, "wake", 0)])
        .await
        .unwrap();
    while woken.load(Ordering::SeqCst) == 0 {
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "node 2 was not woken by node 1's new alert"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A repeat of it is not news.
    let before = woken.load(Ordering::SeqCst);
    nodes[0]
        .ingest(vec![item(EventAction::Trigger, "wake", 1)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(woken.load(Ordering::SeqCst), before);
}
