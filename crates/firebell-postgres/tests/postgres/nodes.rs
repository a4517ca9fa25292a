//! What only many nodes on one database do: several stores (one per node,
//! each with its own pool) racing on the same rows.

use crate::contract::fresh_url;
use firebell_core::event::EventAction;
use firebell_postgres::PgStore;
use firebell_store::contract::item;
use firebell_store::prelude::*;
use firebell_store::{AlertFilter, IngestOutcome};

async fn three_nodes() -> Option<Vec<PgStore>> {
    let url = fresh_url().await?;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(PgStore::connect(&url, 8).await.unwrap());
    }
    Some(stores)
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
