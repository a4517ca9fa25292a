//! Contract tests: change events.

use super::*;
use crate::{AlertFilter, Store};

fn change(service: &str, summary: &str, secs: i64) -> firebell_core::change::NewChange {
    let mut details = serde_json::Map::new();
    details.insert("build".into(), serde_json::json!({"number": 2}));
    firebell_core::change::NewChange {
        service: service.into(),
        summary: summary.into(),
        source: "ci".into(),
        occurred_at: at(secs),
        received_at: at(secs + 1),
        details,
    }
}

pub async fn changes_are_kept_per_service_newest_first<S: Store>(store: S) {
    let a = store
        .add_change(change("web", "deploy 1", 0))
        .await
        .unwrap();
    let b = store.add_change(change("db", "vacuum", 5)).await.unwrap();
    let c = store
        .add_change(change("web", "deploy 2", 10))
        .await
        .unwrap();
    assert!(a.id < b.id && b.id < c.id);
    assert_eq!(c.change, change("web", "deploy 2", 10));
    let web = store.changes(Some("web".into()), None, 10).await.unwrap();
    assert_eq!(web, vec![c.clone(), a.clone()]);
    let all = store.changes(None, None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(store.changes(None, Some(c.id), 1).await.unwrap(), vec![b]);
    // A change pages no one and opens no alert.
    assert!(
        store
            .list_alerts(AlertFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_notification_due().await.unwrap(), None);
}
